"""Following a topic over SSE: live delivery, resume with Last-Event-ID, no gaps or repeats."""

from __future__ import annotations

import http.client
import queue
import threading
from urllib.parse import quote

from jumpnet import Consumer, sse


def _follow_in_background(consumer: Consumer, duration: float):
    """Run ``consumer.follow`` in a thread; messages arrive on the returned queue, then ``None``."""
    out: "queue.Queue" = queue.Queue()

    def run():
        try:
            for msg in consumer.follow(duration=duration, idle_timeout=5):
                out.put(msg)
        except BaseException as e:  # surfaced to the test through the queue
            out.put(e)
        out.put(None)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return out, t


def _take(q: "queue.Queue", n: int, timeout: float = 15.0):
    got = []
    while len(got) < n:
        item = q.get(timeout=timeout)
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        got.append(item)
    return got


def test_follow_receives_messages_published_after_it_started(client, topic):
    client.publish(topic, ["before"])
    consumer = Consumer(topic, client=client, offset="earliest")
    q, t = _follow_in_background(consumer, duration=30)

    # The first message proves the stream is open; everything after it is published while following.
    assert [m.value for m in _take(q, 1)] == ["before"]
    for i in range(5):
        client.publish(topic, [f"live-{i}"])
    client.publish(topic, ["batch-a", "batch-b"])

    got = _take(q, 7)
    assert [m.value for m in got] == [f"live-{i}" for i in range(5)] + ["batch-a", "batch-b"]
    assert [m.offset for m in got] == list(range(got[0].offset, got[0].offset + 7))
    assert consumer.position == got[-1].offset + 1


def test_follow_of_topic_created_later_waits_for_it(client, topic):
    consumer = Consumer(topic, client=client, offset=0)
    q, t = _follow_in_background(consumer, duration=30)
    client.publish(topic, ["first-ever"])
    assert [m.value for m in _take(q, 1)] == ["first-ever"]


def test_stream_resumes_after_last_event_id(cluster, client, topic):
    base = client.publish(topic, [f"m{i}" for i in range(5)]).base_offset
    node = cluster.nodes[0]
    conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=10)
    try:
        conn.request(
            "GET",
            f"/v1/topics/{quote(topic, safe='')}/stream",
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(base + 2)},
        )
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type", "").startswith("text/event-stream")
        events = sse.events(resp)
        first, second = next(events), next(events)
    finally:
        conn.close()
    assert (first.id, second.id) == (str(base + 3), str(base + 4))
    assert '"m3"' in first.data and '"m4"' in second.data
