"""Partitions (SPEC §8) through the Python client: create and raise the count, publish by partition and
by key, read, follow and commit per partition, and a consumer group spanning every partition."""

from __future__ import annotations

import threading

import jumpnet
import pytest


def test_partitions_are_created_raised_published_to_and_read(cluster, topic):
    c = jumpnet.Client(cluster.urls)
    info = c.create_topic(topic, partitions=3)
    assert info.partitions == 3 and len(info.partition_offsets) == 3
    with pytest.raises(jumpnet.BadRequest) as e:
        c.set_partitions(topic, 2)
    assert e.value.code == "invalid_partitions"
    assert c.set_partitions(topic, 4).partitions == 4

    r = c.publish(topic, ["x", "y"], partition=2)
    assert (r.partition, r.offsets) == (2, [0, 1])
    with pytest.raises(jumpnet.BadRequest) as e:
        c.publish(topic, ["z"], partition=9)
    assert e.value.code == "invalid_partition"
    # A key picks its partition the way Kafka's partitioner does: the same one every time.
    keyed = [c.publish(topic, [{"value": f"k{i}", "key": "foobar"}]).partition for i in range(3)]
    assert len(set(keyed)) == 1
    want = (-790332482 & 0x7FFFFFFF) % 4
    assert keyed[0] == want
    p = jumpnet.Producer(client=c)
    assert p.send(topic, "w", partition=1).partition == 1

    page = c.fetch(topic, 0, partition=2)
    assert [(m.partition, m.value) for m in page.messages][:2] == [(2, "x"), (2, "y")]
    assert [m.value for m in c.fetch(topic, 0, partition=1).messages] == ["w"]
    streamed = list(c.stream(topic, 0, partition=2, duration=1.0))
    assert [m.value for m in streamed][:2] == ["x", "y"]

    # A named consumer's position is per partition.
    consumer = jumpnet.Consumer(topic, client=c, name="reader", partition=2, offset="earliest")
    assert [m.value for m in consumer.poll(wait_ms=0)][:2] == ["x", "y"]
    consumer.commit()
    assert c.position("reader", topic, partition=2).offset == consumer.position
    with pytest.raises(ValueError):
        jumpnet.Consumer(topic, client=c, partition=7, offset="earliest").poll(wait_ms=0)


def test_a_group_spans_every_partition(cluster, topic):
    c = jumpnet.Client(cluster.urls, timeout=5, retry_timeout=20)
    c.create_topic(topic, partitions=4)
    sent = set()
    for k in range(12):
        r = c.publish(topic, [{"value": f"v{k}-{i}", "key": f"key{k}"} for i in range(5)])
        sent.update((r.partition, o) for o in r.offsets)
    assert len({p for p, _ in sent}) >= 2
    got = []
    lock = threading.Lock()

    def fetcher(url):
        f = jumpnet.Client([url], timeout=5, retry_timeout=20)
        while True:
            batch = f.group_fetch(topic, "g", max_messages=7, wait_ms=200)
            if not batch:
                return
            with lock:
                got.extend((m.partition, m.offset) for m in batch)
            f.group_ack(topic, "g", batch)

    threads = [threading.Thread(target=fetcher, args=(url,)) for url in cluster.urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == sorted(sent), "every message of every partition once"
    info = c.group(topic, "g")
    assert (info.pending, info.in_flight, info.lag) == (0, 0, 0), info
    floors = {p["partition"]: p["acked_floor"] for p in info.partitions}
    assert floors == {p: sum(1 for q, _ in sent if q == p) for p in range(4)}
