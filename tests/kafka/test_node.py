"""The Kafka listener on real nodes (SPEC §8): one log for HTTP and Kafka, an idempotent producer
through a leader's `kill -9`, and clients that follow the leader (partition leader and group
coordinator) to another node by themselves. The tests that kill a node get a cluster of their own."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import OTHER_SERVER, PATIENCE, create_topic, start_server, wait_until

pytestmark = pytest.mark.skipif(bool(OTHER_SERVER), reason="needs jumpnet nodes (JUMPNET_KAFKA_SERVER is set)")


def http(node, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{node.api_port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture
def own_cluster(tmp_path):
    server = start_server(str(tmp_path))
    yield server
    server.stop()


def consume(bootstrap: str, topic: str, count: int, **conf) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + PATIENCE
    while len(got) < count and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m)
    c.close()
    assert len(got) == count, f"consumed {len(got)} of {count}"
    return got


def test_http_and_kafka_share_one_log(kafka, topic_name):
    create_topic(kafka.bootstrap, topic_name)
    follower = kafka.nodes[2]
    # HTTP → Kafka: key, headers, value and the timestamp the broker gave it.
    sent = http(follower, "POST", f"/v1/topics/{topic_name}/messages",
                {"messages": [{"value": "from http", "key": "k-http", "headers": {"origin": "http", "x": "1"}}]})
    assert sent["base_offset"] == 0
    stored = http(follower, "GET", f"/v1/topics/{topic_name}/messages?offset=0&consistency=strong")["messages"][0]
    [m] = consume(kafka.bootstrap, topic_name, 1)
    assert (m.key(), m.value(), m.offset()) == (b"k-http", b"from http", 0)
    assert sorted(m.headers()) == [("origin", b"http"), ("x", b"1")]
    assert m.timestamp()[1] == stored["timestamp_ms"]

    # Kafka → HTTP: the producer's own timestamp is kept (CreateTime), bytes values too.
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    p.produce(topic_name, value=b"\x00\xffbin", key=b"k-kafka", headers=[("origin", b"kafka")],
              timestamp=1_700_000_000_123)
    p.produce(topic_name, value=b"text", key=b"k2")
    assert p.flush(PATIENCE) == 0
    got = http(follower, "GET", f"/v1/topics/{topic_name}/messages?offset=1&encoding=base64&consistency=strong")["messages"]
    assert [g["offset"] for g in got] == [1, 2]
    assert got[0]["key"] == "k-kafka"
    assert got[0]["headers"] == {"origin": "kafka"}
    assert got[0]["timestamp_ms"] == 1_700_000_000_123
    assert got[0]["value_b64"] == "AP9iaW4="
    assert got[1]["key"] == "k2" and got[1]["value_b64"] == "dGV4dA=="
    assert got[0]["publisher"] is None, "auth is off: no publisher"


def test_idempotent_producer_through_a_leader_kill_stores_each_message_once(own_cluster, topic_name):
    server = own_cluster
    create_topic(server.bootstrap, topic_name)
    total = 3000
    reports: list = []
    p = Producer({"bootstrap.servers": server.bootstrap, "enable.idempotence": True, "acks": "all",
                  "max.in.flight.requests.per.connection": 5, "batch.num.messages": 20, "linger.ms": 2,
                  "message.timeout.ms": int(PATIENCE * 1000)})
    leader = server.leader()
    done = threading.Event()

    def produce_all():
        for i in range(total):
            while True:
                try:
                    p.produce(topic_name, value=f"m{i}".encode(), partition=0,
                              on_delivery=lambda e, m: reports.append((e, m)))
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        p.flush(PATIENCE)
        done.set()

    t = threading.Thread(target=produce_all, daemon=True)
    t.start()
    wait_until(lambda: len(reports) >= total // 5, timeout=PATIENCE, what="the first deliveries")
    leader.kill()
    t.join(PATIENCE * 2)
    assert done.is_set(), "the producer finished"
    errors = [e for e, _ in reports if e is not None]
    assert not errors, errors[:5]
    assert len(reports) == total
    got = consume(server.bootstrap, topic_name, total)
    assert [m.value() for m in got] == [f"m{i}".encode() for i in range(total)], "no duplicate, no gap, in order"
    assert [m.offset() for m in got] == list(range(total))


def test_clients_follow_the_leader_and_coordinator_to_another_node(own_cluster, topic_name):
    server = own_cluster
    create_topic(server.bootstrap, topic_name, partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    p = Producer({"bootstrap.servers": server.bootstrap, "acks": "all"})
    for i in range(20):
        p.produce(topic_name, value=f"before{i}".encode(), partition=i % 2)
    assert p.flush(PATIENCE) == 0
    c = Consumer({"bootstrap.servers": server.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic_name])
    seen: list[bytes] = []

    def poll_until(n: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while len(seen) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                seen.append(m.value())
        assert len(seen) >= n, f"consumed {len(seen)} of {n}"

    poll_until(20)
    c.commit(asynchronous=False)
    old = server.leader()
    old_id = server.node_id(old)
    old.kill()
    survivor = next(n for n in server.nodes if n.running())

    def moved():
        view = survivor.get("/v1/cluster")
        return view.get("leader_id") not in (None, old_id)
    wait_until(moved, timeout=PATIENCE, what="a new leader")

    # The producer and the consumer (its group coordinator was the old leader) carry on.
    for i in range(20):
        p.produce(topic_name, value=f"after{i}".encode(), partition=i % 2)
    assert p.flush(PATIENCE) == 0
    poll_until(40)

    parts = [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)]

    def committed_now():
        # A commit racing the group's rebalance after the move is refused (as Kafka does: an
        # exception here means "not yet"); the consumer rejoins by itself while it polls.
        m = c.poll(0.2)
        if m is not None and not m.error():
            seen.append(m.value())
        # A rebalance resumes from the last commit: poll on until the end again.
        if sum(tp.offset for tp in c.position(parts)) != 40:
            return False
        c.commit(asynchronous=False)
        return True
    wait_until(committed_now, timeout=PATIENCE, what="a commit on the new coordinator")
    # At least once across the rebalance: everything arrived (a redelivery after it is allowed).
    assert set(seen) == {f"before{i}".encode() for i in range(20)} | {f"after{i}".encode() for i in range(20)}
    c.close()
    # The commits made after the move are there, on the new coordinator.
    check = Consumer({"bootstrap.servers": server.bootstrap, "group.id": group})
    committed = check.committed([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)], timeout=PATIENCE)
    assert sum(tp.offset for tp in committed) == 40, committed
    check.close()


def test_kafka_is_served_over_tls_with_the_api_certificate(tmp_path, topic_name):
    from conftest import Pki

    pki = Pki(str(tmp_path / "pki"))
    server = start_server(str(tmp_path / "cluster"), tls=pki)
    try:
        tls = {"security.protocol": "SSL", "ssl.ca.location": pki.ca}
        create_topic(server.bootstrap, topic_name, **tls)
        p = Producer({"bootstrap.servers": server.bootstrap, **tls})
        for i in range(10):
            p.produce(topic_name, value=f"secret{i}".encode(), key=b"k")
        assert p.flush(PATIENCE) == 0
        got = consume(server.bootstrap, topic_name, 10, **tls)
        assert [m.value() for m in got] == [f"secret{i}".encode() for i in range(10)]
        # A plaintext client gets nowhere (and the listener keeps serving).
        reports = []
        plain = Producer({"bootstrap.servers": server.bootstrap, "message.timeout.ms": 3000})
        plain.produce(topic_name, value=b"in clear", on_delivery=lambda e, m: reports.append(e))
        plain.flush(PATIENCE)
        assert len(reports) == 1 and reports[0] is not None, reports
        assert server.alive()
        assert len(consume(server.bootstrap, topic_name, 10, **tls)) == 10
    finally:
        server.stop()


def test_kafka_over_tls_requires_client_certificates_with_tls_client_ca(tmp_path, topic_name):
    """`--tls-client-ca` holds for the Kafka listener too: confluent-kafka presenting a certificate from that CA
    (`ssl.certificate.location`, `ssl.key.location`) produces and consumes; without one it gets nowhere."""
    from conftest import Pki

    pki = Pki(str(tmp_path / "pki"), client_certs=True)
    server = start_server(str(tmp_path / "cluster"), tls=pki)
    try:
        tls = {"security.protocol": "SSL", "ssl.ca.location": pki.ca,
               "ssl.certificate.location": pki.client_cert, "ssl.key.location": pki.client_key}
        create_topic(server.bootstrap, topic_name, **tls)
        p = Producer({"bootstrap.servers": server.bootstrap, **tls})
        for i in range(5):
            p.produce(topic_name, value=f"mtls{i}".encode())
        assert p.flush(PATIENCE) == 0
        got = consume(server.bootstrap, topic_name, 5, **tls)
        assert [m.value() for m in got] == [f"mtls{i}".encode() for i in range(5)]
        # Without a client certificate: the handshake is refused, nothing is stored, the listener carries on.
        reports = []
        bare = Producer({"bootstrap.servers": server.bootstrap, "security.protocol": "SSL",
                         "ssl.ca.location": pki.ca, "message.timeout.ms": 3000})
        bare.produce(topic_name, value=b"no certificate", on_delivery=lambda e, m: reports.append(e))
        bare.flush(PATIENCE)
        assert len(reports) == 1 and reports[0] is not None, reports
        assert server.alive()
        assert len(consume(server.bootstrap, topic_name, 5, **tls)) == 5
    finally:
        server.stop()


def test_kcat_and_confluent_kafka_over_sasl_ssl(tmp_path, topic_name):
    """SASL/PLAIN inside TLS (SASL_SSL) with kcat (librdkafka 2.0) and confluent-kafka: the token is
    accepted, a wrong one refused, plaintext SASL on the TLS port gets nowhere."""
    import shutil
    import subprocess

    from conftest import READ_ONLY_TOKEN, TOKEN, Pki

    if not shutil.which("kcat"):
        pytest.fail("kcat is not installed: run scripts/install-deps.sh")
    pki = Pki(str(tmp_path / "pki"))
    auth = tmp_path / "tokens"
    auth.write_text(f"{TOKEN} app publish,consume,admin\n{READ_ONLY_TOKEN} reader consume\n")
    server = start_server(str(tmp_path / "cluster"), str(auth), tls=pki)

    def sasl_ssl(token: str) -> dict:
        return {"security.protocol": "SASL_SSL", "ssl.ca.location": pki.ca, "sasl.mechanism": "PLAIN",
                "sasl.username": "app", "sasl.password": token}

    def kcat(*args: str, token: str = TOKEN, input: str | None = None) -> subprocess.CompletedProcess:
        conf = [x for k, v in sasl_ssl(token).items() for x in ("-X", f"{k}={v}")]
        return subprocess.run(["kcat", "-b", server.bootstrap, *conf, *args], input=input, capture_output=True,
                              text=True, timeout=PATIENCE)

    try:
        create_topic(server.bootstrap, topic_name, **sasl_ssl(TOKEN))
        r = kcat("-P", "-t", topic_name, "-K", ":", input="k1:over sasl_ssl\nk2:second\n")
        assert r.returncode == 0, r.stderr
        r = kcat("-C", "-t", topic_name, "-o", "beginning", "-c", "2", "-e", "-f", "%k=%s\n", token=READ_ONLY_TOKEN)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["k1=over sasl_ssl", "k2=second"], r.stdout
        got = consume(server.bootstrap, topic_name, 2, **sasl_ssl(TOKEN))
        assert [m.value() for m in got] == [b"over sasl_ssl", b"second"]

        # A wrong token is refused in the SASL exchange (inside TLS): kcat gives up with an error.
        r = kcat("-L", "-m", "10", token="not-a-token")
        assert r.returncode != 0 and "uthentication" in r.stderr, (r.returncode, r.stderr)
        # SASL without TLS on the TLS port: no broker answers it.
        plain = {**sasl_ssl(TOKEN), "security.protocol": "SASL_PLAINTEXT"}
        reports = []
        p = Producer({"bootstrap.servers": server.bootstrap, "message.timeout.ms": 3000, **plain})
        p.produce(topic_name, value=b"in clear", on_delivery=lambda e, m: reports.append(e))
        p.flush(PATIENCE)
        assert len(reports) == 1 and reports[0] is not None, reports
        assert server.alive()
        assert len(consume(server.bootstrap, topic_name, 2, **sasl_ssl(TOKEN))) == 2
    finally:
        server.stop()
