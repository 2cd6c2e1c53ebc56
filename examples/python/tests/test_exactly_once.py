"""Exactly-once publishing: a retry with the same producer id and sequence stores nothing twice."""

from __future__ import annotations

import uuid

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
