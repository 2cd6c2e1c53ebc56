"""confluent-kafka (librdkafka bundled): every codec, idempotence, consumer groups with a member
killed, admin calls, SASL/PLAIN, and transactions refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from conftest import PATIENCE, READ_ONLY_TOKEN, TOKEN, Lines, create_topic, wait_until

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
HERE = os.path.dirname(__file__)


def produce(bootstrap: str, topic: str, messages, **conf) -> list:
    """Produces (key, value, partition|None) tuples; returns the delivery reports."""
    reports = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    for key, value, partition in messages:
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, value=value, key=key, headers=[("h", b"1")], on_delivery=lambda e, m: reports.append((e, m)), **kw)
    assert p.flush(PATIENCE) == 0, "every message delivered"
    assert all(e is None for e, _ in reports), [e for e, _ in reports if e]
    return [m for _, m in reports]


def consume_all(bootstrap: str, topic: str, count: int, **conf) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, **conf})
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


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_in_every_codec(kafka, topic_name, codec):
    create_topic(kafka.bootstrap, topic_name, partitions=2)
    sent = [(f"k{i}".encode(), f"v{i}-{codec}".encode() * 20, i % 2) for i in range(200)]
    produce(kafka.bootstrap, topic_name, sent, **{"compression.type": codec})
    got = consume_all(kafka.bootstrap, topic_name, 200)
    assert sorted((m.key(), m.value()) for m in got) == sorted((k, v) for k, v, _ in sent)
    assert all(m.headers() == [("h", b"1")] for m in got)
    for part in (0, 1):
        offsets = [m.offset() for m in got if m.partition() == part]
        assert offsets == list(range(100)), f"partition {part} offsets in order without gaps"


def test_idempotent_producer_stores_each_message_once_in_order(kafka, topic_name):
    create_topic(kafka.bootstrap, topic_name)
    sent = [(None, f"m{i}".encode(), 0) for i in range(2000)]
    produce(kafka.bootstrap, topic_name, sent, **{"enable.idempotence": True, "acks": "all",
                                                "max.in.flight.requests.per.connection": 5, "batch.num.messages": 50})
    got = consume_all(kafka.bootstrap, topic_name, 2000)
    assert [m.value() for m in got] == [v for _, v, _ in sent]
    assert [m.offset() for m in got] == list(range(2000))


def test_offsets_for_times(kafka, topic_name):
    create_topic(kafka.bootstrap, topic_name)
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    for i, ts in enumerate([1_000_000, 2_000_000, 3_000_000]):
        p.produce(topic_name, value=f"at{i}".encode(), timestamp=ts, partition=0)
    p.flush(PATIENCE)
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "times"})
    [found] = c.offsets_for_times([TopicPartition(topic_name, 0, 1_500_000)], timeout=PATIENCE)
    assert found.offset == 1
    low, high = c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=PATIENCE)
    assert (low, high) == (0, 3)
    c.close()


def test_transactions_are_refused_not_hung(kafka):
    p = Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": "tx-1"})
    started = time.monotonic()
    with pytest.raises(KafkaException) as e:
        p.init_transactions(PATIENCE)
    assert time.monotonic() - started < PATIENCE / 2, "refused, not timed out"
    err = e.value.args[0]
    assert err.code() in (KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KafkaError._FATAL), err


def test_admin_create_raise_describe_delete(kafka, topic_name):
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    fs = admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1, config={"retention.ms": "3600000"})])
    fs[topic_name].result(timeout=PATIENCE)
    with pytest.raises(KafkaException) as e:
        admin.create_topics([NewTopic(topic_name, num_partitions=2)])[topic_name].result(timeout=PATIENCE)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    admin.create_partitions([NewPartitions(topic_name, 4)])[topic_name].result(timeout=PATIENCE)
    assert len(admin.list_topics(topic_name, timeout=PATIENCE).topics[topic_name].partitions) == 4
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    configs = admin.describe_configs([res])[res].result(timeout=PATIENCE)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete"
    admin.delete_topics([topic_name])[topic_name].result(timeout=PATIENCE)
    wait_until(lambda: topic_name not in admin.list_topics(timeout=PATIENCE).topics, timeout=PATIENCE, what="topic gone")


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=PATIENCE)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def test_group_of_three_shares_six_partitions_and_survives_a_killed_member(kafka, topic_name):
    create_topic(kafka.bootstrap, topic_name, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    members = [subprocess.Popen([sys.executable, os.path.join(HERE, "group_member.py"), kafka.bootstrap, group, topic_name],
                                stdout=subprocess.PIPE, text=True) for _ in range(3)]
    out = [Lines(m) for m in members]
    try:
        def assignment(i: int) -> set[int]:
            lines = [line for line in out[i].snapshot() if line.startswith("ASSIGNED")]
            return {int(p) for p in lines[-1].split()[1].split(",") if p} if lines and lines[-1].split()[1:] else set()

        def shared(alive: list[int]) -> bool:
            sets = [assignment(i) for i in alive]
            return all(len(s) == 6 // len(alive) for s in sets) and set().union(*sets) == set(range(6))

        wait_until(lambda: shared([0, 1, 2]), timeout=PATIENCE, what="3 members own 2 partitions each",
                   describe=lambda: str([assignment(i) for i in range(3)]))

        def seen(indices) -> set[str]:
            return {line.split()[3] for i in indices for line in out[i].snapshot() if line.startswith("MSG")}

        produce(kafka.bootstrap, topic_name, [(f"k{i}".encode(), f"a{i}".encode(), i % 6) for i in range(300)])
        wait_until(lambda: len(seen(range(3))) == 300, timeout=PATIENCE, what="first 300 consumed")

        members[0].send_signal(signal.SIGKILL)
        members[0].wait()
        wait_until(lambda: shared([1, 2]), timeout=PATIENCE, what="2 survivors own 3 partitions each",
                   describe=lambda: str([assignment(i) for i in (1, 2)]))
        produce(kafka.bootstrap, topic_name, [(f"k{i}".encode(), f"b{i}".encode(), i % 6) for i in range(300)])
        wait_until(lambda: {f"b{i}" for i in range(300)} <= seen([1, 2]), timeout=PATIENCE, what="next 300 consumed by survivors")
        # Every partition's committed offset reaches its end: no commit was lost in the rebalance.
        wait_until(lambda: committed(kafka.bootstrap, group, topic_name, 6) == {p: 100 for p in range(6)},
                   timeout=PATIENCE, what="committed offsets at the end of every partition",
                   describe=lambda: str(committed(kafka.bootstrap, group, topic_name, 6)))
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        listed = admin.list_consumer_groups().result(timeout=PATIENCE)
        assert group in [g.group_id for g in listed.valid]
        described = admin.describe_consumer_groups([group])[group].result(timeout=PATIENCE)
        assert len(described.members) == 2, described
        assert sorted(p.partition for m in described.members for p in m.assignment.topic_partitions) == list(range(6))
    finally:
        for m in members:
            if m.poll() is None:
                m.send_signal(signal.SIGINT)
        for m in members:
            try:
                m.wait(timeout=30)
            except subprocess.TimeoutExpired:
                m.kill()


def sasl(token: str) -> dict:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "app", "sasl.password": token}


def test_sasl_plain_accepts_the_token_and_refuses_others(kafka_auth, topic_name):
    create_topic(kafka_auth.bootstrap, topic_name, **sasl(TOKEN))
    produce(kafka_auth.bootstrap, topic_name, [(None, b"authed", 0)], **sasl(TOKEN))
    got = consume_all(kafka_auth.bootstrap, topic_name, 1, **sasl(READ_ONLY_TOKEN))
    assert got[0].value() == b"authed"

    errors = []
    p = Producer({"bootstrap.servers": kafka_auth.bootstrap, "error_cb": errors.append, **sasl("wrong-token")})
    p.produce(topic_name, b"nope")
    wait_until(lambda: p.poll(0.2) is not None or any(e.code() == KafkaError._AUTHENTICATION for e in errors),
               timeout=PATIENCE, what="authentication failure reported", describe=lambda: str(errors))
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors

    reports = []
    ro = Producer({"bootstrap.servers": kafka_auth.bootstrap, **sasl(READ_ONLY_TOKEN)})
    ro.produce(topic_name, b"denied", on_delivery=lambda e, m: reports.append(e))
    ro.flush(PATIENCE)
    assert reports and reports[0] is not None and reports[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, reports
