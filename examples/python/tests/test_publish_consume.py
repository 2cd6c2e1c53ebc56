"""Publish and read back through a 3-node cluster: v1 single and batch, the seed calls, named consumers."""

from __future__ import annotations

import threading
import time

import jumpnet
from jumpnet import Consumer, Producer, Record


def test_published_message_reads_back_at_its_offset(client, topic):
    producer = Producer(client=client)
    result = producer.send(topic, "hello", key="k1", headers={"h": "v"})
    assert result.topic == topic
    assert result.offsets == [result.offset]

    page = client.fetch(topic, result.offset, strong=True)
    msg = page.messages[0]
    assert (msg.offset, msg.value, msg.key, msg.headers) == (result.offset, "hello", "k1", {"h": "v"})
    assert msg.timestamp_ms and msg.timestamp_ms > 1_600_000_000_000
    assert page.next_offset == result.offset + 1
    assert page.high_watermark == result.offset + 1


def test_batch_lands_contiguously_and_in_order(client, topic):
    producer = Producer(client=client)
    first = producer.send_batch(topic, ["a", Record("b", key="kb"), {"value": "c", "headers": {"x": "1"}}])
    second = producer.send_batch(topic, ["d", "e"])
    assert first.offsets == [first.base_offset + i for i in range(3)]
    assert second.offsets == [first.offsets[-1] + 1, first.offsets[-1] + 2]

    msgs = Consumer(topic, client=client, offset="earliest").read_all()
    assert [m.value for m in msgs] == ["a", "b", "c", "d", "e"]
    assert [m.offset for m in msgs] == list(range(first.base_offset, first.base_offset + 5))
    assert msgs[1].key == "kb" and msgs[2].headers == {"x": "1"}


def test_binary_values_round_trip_as_bytes(client, topic):
    binary = bytes([0xFF, 0x00, 0xFE, 0x80]) + "é".encode()
    result = Producer(client=client).send_batch(topic, [binary, b"utf-8 bytes", "text"])
    msgs = client.fetch(topic, result.base_offset, strong=True).messages
    assert [m.data for m in msgs] == [binary, b"utf-8 bytes", b"text"]
    assert [m.value for m in msgs] == [None, "utf-8 bytes", "text"]
    followed = Consumer(topic, client=client, offset="earliest").read_all()
    assert [m.data for m in followed] == [binary, b"utf-8 bytes", b"text"]


def test_every_node_serves_what_any_node_accepted(cluster, topic):
    offsets = []
    for i, url in enumerate(cluster.urls):
        offsets.append(jumpnet.Client(url).publish(topic, [f"via-{i}"]).offset)
    assert offsets == sorted(offsets) and len(set(offsets)) == 3
    for url in cluster.urls:
        page = jumpnet.Client(url).fetch(topic, offsets[0], strong=True)
        assert [m.value for m in page.messages] == ["via-0", "via-1", "via-2"]


def test_seed_put_then_latest_and_history(client, topic):
    offsets = [client.put(topic, f"v{i}").offset for i in range(12)]
    assert offsets == list(range(offsets[0], offsets[0] + 12))
    assert client.history(topic) == [f"v{i}" for i in range(12)]
    assert client.latest(topic) == [f"v{i}" for i in range(2, 12)]  # default limit 10, oldest first
    assert client.latest(topic, limit=3) == ["v9", "v10", "v11"]


def test_seed_reads_of_missing_topic_are_empty(client, topic):
    assert client.latest(topic) == []
    assert client.history(topic) == []


def test_seed_producer_class_still_works(cluster, topic):
    status = jumpnet.JumpnetProducer(topic, cluster.urls[1]).send_message(42)
    assert status == 200
    assert jumpnet.Client(cluster.urls).history(topic) == ["42"]


def test_seed_consumer_position_advances(client, topic):
    for v in ["a", "b", "c"]:
        client.put(topic, v)
    assert client.latest(topic, consumer="seed-reader") == ["a", "b", "c"]
    assert client.latest(topic, consumer="seed-reader") == []
    client.put(topic, "d")
    assert client.latest(topic, consumer="seed-reader") == ["d"]


def test_long_poll_returns_as_soon_as_a_message_arrives(client, topic):
    first = client.publish(topic, ["first"]).offset
    got = {}

    def poll():
        started = time.monotonic()
        got["page"] = client.fetch(topic, first + 1, wait_ms=10_000)
        got["elapsed"] = time.monotonic() - started

    t = threading.Thread(target=poll)
    t.start()
    client.publish(topic, ["second"])
    t.join(timeout=15)
    assert not t.is_alive()
    assert [m.value for m in got["page"].messages] == ["second"]
    assert got["elapsed"] < 9


def test_long_poll_on_idle_topic_returns_empty_after_wait(client, topic):
    end = client.publish(topic, ["only"]).offset + 1
    started = time.monotonic()
    page = client.fetch(topic, end, wait_ms=300)
    elapsed = time.monotonic() - started
    assert page.messages == [] and page.next_offset == end
    assert 0.25 <= elapsed < 5


def test_named_consumer_resumes_from_committed_position(client, topic):
    base = Producer(client=client).send_batch(topic, [str(i) for i in range(6)]).base_offset

    first = Consumer(topic, client=client, name="resumer")
    assert first.committed() is None
    got = first.poll(max_messages=4, wait_ms=0)
    assert [m.value for m in got] == ["0", "1", "2", "3"]
    first.commit()
    assert first.committed() == base + 4
    pos = client.position("resumer", topic)
    assert pos.offset == base + 4 and pos.lag == 2

    second = Consumer(topic, client=client, name="resumer")
    assert second.position == base + 4
    assert [m.value for m in second.read_all()] == ["4", "5"]


def test_consumer_starts_at_latest_when_asked(client, topic):
    old = client.publish(topic, ["old"]).offset
    consumer = Consumer(topic, client=client, offset="latest")
    assert consumer.position == old + 1
    client.publish(topic, ["new"])
    assert [m.value for m in consumer.poll(wait_ms=5000)] == ["new"]


def test_topics_list_and_describe(client, topic):
    base = client.publish(topic, ["x", "yy"]).base_offset
    assert topic in client.topics()
    info = client.topic(topic)
    assert info.name == topic
    assert (info.log_start_offset, info.high_watermark, info.messages) == (base, base + 2, 2)
    assert info.bytes >= 3


def test_cluster_status_lists_three_voters_and_a_leader(client, cluster):
    status = client.cluster()
    assert len(status.voters) == 3
    assert status.leader is not None
    assert status.term >= 1 and status.commit_index >= 1
    assert sorted(m.api_addr for m in status.members) == sorted(n.api_addr for n in cluster.nodes)


def test_discover_learns_every_node_from_one(cluster):
    c = jumpnet.Client(cluster.urls[2])
    assert sorted(c.discover()) == sorted(cluster.urls)
    assert all(h["live"] and h["ready"] for h in c.health().values())
