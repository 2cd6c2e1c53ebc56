"""Exactly-once publishing: a retry with the same producer id and sequence stores nothing twice."""

from __future__ import annotations

import threading
import uuid

import pytest

import jumpnet
from jumpnet import Consumer, Producer


def test_same_producer_and_sequence_twice_returns_first_offsets_and_stores_once(client, topic):
    pid = uuid.uuid4().hex
    first = client.publish(topic, ["a", "b"], producer_id=pid, sequence=0)
    again = client.publish(topic, ["a", "b"], producer_id=pid, sequence=0)
    assert again.offsets == first.offsets
    assert (first.duplicate, again.duplicate) == (False, True)
    assert client.topic(topic).high_watermark == first.offsets[-1] + 1
    assert client.history(topic) == ["a", "b"]


def test_retry_through_another_node_is_deduplicated(cluster, topic):
    pid = uuid.uuid4().hex
    results = [jumpnet.Client(url).publish(topic, ["once"], producer_id=pid, sequence=7) for url in cluster.urls]
    assert {tuple(r.offsets) for r in results} == {tuple(results[0].offsets)}
    assert jumpnet.Client(cluster.urls).history(topic) == ["once"]


def test_next_sequence_is_stored_and_distinct_producers_do_not_collide(client, topic):
    p1, p2 = Producer(client=client), Producer(client=client)
    r1 = p1.send(topic, "p1-0")
    r2 = p2.send(topic, "p2-0")  # same sequence 0, other producer: a new message
    r3 = p1.send(topic, "p1-1")
    assert len({r1.offset, r2.offset, r3.offset}) == 3
    assert p1.next_sequence == 2 and p2.next_sequence == 1
    assert [m.value for m in Consumer(topic, client=client, offset="earliest").read_all()] == [
        "p1-0",
        "p2-0",
        "p1-1",
    ]


def test_producer_resumed_with_its_id_and_sequence_dedupes_a_resend(client, topic):
    first = Producer(client=client)
    sent = first.send_batch(topic, ["x", "y"])
    # A restarted process that does not know whether its last batch landed sends it again with the same ids.
    resumed = Producer(client=client, producer_id=first.producer_id, start_sequence=first.next_sequence - 1)
    resent = resumed.send_batch(topic, ["x", "y"])
    assert resent.offsets == sent.offsets
    assert resumed.send(topic, "z").offset == sent.offsets[-1] + 1
    assert client.history(topic) == ["x", "y", "z"]


def test_producer_restarted_with_the_next_epoch_starts_over_and_fences_the_old_one(client, topic):
    old = Producer(client=client)
    old.send_batch(topic, ["a"])
    old.send_batch(topic, ["b"])
    # A restart that lost its sequence keeps the id, bumps the epoch and starts at sequence 0.
    new = Producer(client=client, producer_id=old.producer_id, producer_epoch=1)
    assert new.send(topic, "c").duplicate is False
    with pytest.raises(jumpnet.Conflict) as refused:
        old.send(topic, "zombie")
    assert refused.value.code == "producer_fenced"
    assert new.send(topic, "d").offset == 3
    assert client.history(topic) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError):
        client.publish(topic, ["x"], producer_epoch=1)


def test_one_producer_shared_by_threads_stores_every_batch_once(client, topic):
    producer = Producer(client=client)
    errors = []

    def publish(worker):
        for i in range(10):
            try:
                producer.send(topic, f"w{worker}-{i}")
            except jumpnet.JumpnetError as e:  # e.g. 409 sequence_too_old if sequences overtook each other
                errors.append(e)

    threads = [threading.Thread(target=publish, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    stored = client.history(topic)
    assert sorted(stored) == sorted(f"w{w}-{i}" for w in range(4) for i in range(10))
    for w in range(4):  # each thread's messages in its order
        mine = [v for v in stored if v.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(10)]


def test_retrying_an_older_sequence_after_a_newer_one_is_a_conflict_unless_stored(client, topic):
    pid = uuid.uuid4().hex
    client.publish(topic, ["s5"], producer_id=pid, sequence=5)
    with pytest.raises(jumpnet.Conflict) as info:
        client.publish(topic, ["s4"], producer_id=pid, sequence=4)
    assert info.value.code == "sequence_too_old"
    assert client.publish(topic, ["s5"], producer_id=pid, sequence=5).duplicate
    assert client.history(topic) == ["s5"]
