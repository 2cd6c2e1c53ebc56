"""Failover: the node the client talks to dies; the client carries on elsewhere, losing and repeating nothing.

Each test gets a fresh 3-node cluster because it kills nodes.
"""

from __future__ import annotations

import threading

import pytest

import jumpnet
from jumpnet import Consumer, Producer


def _ordered(cluster, first):
    """The cluster's URLs with ``first`` in front: the node the client will use."""
    return [first.url] + [n.url for n in cluster.nodes if n is not first]


def _stored(cluster, topic):
    survivor = cluster.running_nodes()[0]
    c = jumpnet.Client(survivor.url)
    cluster.wait_ready([survivor])
    return [m.value for m in Consumer(topic, client=c, offset="earliest").read_all()]


def test_producer_moves_on_when_its_follower_is_killed(fresh_cluster):
    topic = "follower-kill"
    victim = fresh_cluster.followers()[0]
    producer = Producer(_ordered(fresh_cluster, victim), timeout=3, retry_timeout=30)
    for i in range(10):
        producer.send(topic, f"m{i}")
    assert producer.client.transport.current == victim.url

    victim.kill()
    for i in range(10, 20):
        producer.send(topic, f"m{i}")

    assert producer.client.transport.current != victim.url
    assert _stored(fresh_cluster, topic) == [f"m{i}" for i in range(20)]


@pytest.mark.parametrize("victim_role", ["leader", "follower"])
def test_publishing_through_a_node_kill_loses_and_duplicates_nothing(fresh_cluster, victim_role):
    """A producer thread publishes without pause while the node it talks to is SIGKILLed mid-stream."""
    topic = f"kill-{victim_role}"
    victim = fresh_cluster.leader() if victim_role == "leader" else fresh_cluster.followers()[0]
    producer = Producer(_ordered(fresh_cluster, victim), timeout=3, retry_timeout=45)

    acked = []  # (value, offset) in the order the cluster acknowledged them
    errors = []
    progress = threading.Condition()
    stop = threading.Event()

    def produce():
        i = 0
        while not stop.is_set() and i < 2000:
            try:
                r = producer.send(topic, f"v{i}")
            except jumpnet.JumpnetError as e:  # a give-up would be a lost publish: the test fails on it
                errors.append(e)
                return
            with progress:
                acked.append((f"v{i}", r.offset))
                progress.notify_all()
            i += 1

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        with progress:
            assert progress.wait_for(lambda: len(acked) >= 30 or errors, timeout=30), "producer made no progress"
        victim.kill()
        killed_at = len(acked)
        with progress:
            assert progress.wait_for(lambda: len(acked) >= killed_at + 50 or errors, timeout=60), (
                f"producer stalled after the kill at {killed_at} acks"
            )
    finally:
        stop.set()
        t.join(timeout=60)
    assert not t.is_alive()
    assert errors == []

    stored = _stored(fresh_cluster, topic)
    values = [v for v, _ in acked]
    assert stored == values, "stored log differs from acknowledged publishes (lost, duplicated or reordered)"
    offsets = [o for _, o in acked]
    assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


def test_follow_continues_on_another_node_after_its_node_is_killed(fresh_cluster):
    topic = "follow-kill"
    victim = fresh_cluster.followers()[0]
    producer = Producer(fresh_cluster.urls, retry_timeout=30)
    producer.send_batch(topic, [f"a{i}" for i in range(5)])

    consumer = Consumer(topic, _ordered(fresh_cluster, victim), offset="earliest", timeout=3)
    stream = consumer.follow(duration=60, idle_timeout=3)
    got = [next(stream).value for _ in range(5)]
    assert got == [f"a{i}" for i in range(5)]
    assert consumer.client.transport.current == victim.url

    victim.kill()
    producer.send_batch(topic, [f"b{i}" for i in range(5)])
    got += [next(stream).value for _ in range(5)]
    stream.close()

    assert got == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]
    assert consumer.client.transport.current != victim.url


def test_killed_node_restarts_on_its_state_and_catches_up(fresh_cluster):
    topic = "restart"
    victim = fresh_cluster.followers()[0]
    producer = Producer(fresh_cluster.urls)
    base = producer.send_batch(topic, ["before-kill"]).base_offset
    victim.kill()
    producer.send_batch(topic, ["while-down"])

    victim.start()
    fresh_cluster.wait_ready([victim])
    page = jumpnet.Client(victim.url).fetch(topic, base, strong=True)
    assert [m.value for m in page.messages] == ["before-kill", "while-down"]
    assert len(fresh_cluster.wait_voters(3)["members"]) == 3


def test_publish_without_quorum_fails_with_a_typed_error(fresh_cluster):
    survivor, *others = fresh_cluster.running_nodes()
    for node in others:
        node.kill()
    producer = Producer([survivor.url], timeout=2, retry_timeout=4)
    with pytest.raises((jumpnet.Unavailable, jumpnet.Timeout)) as info:
        producer.send("no-quorum", "lost?")
    assert info.value.sequence == 0 and info.value.producer_id == producer.producer_id
