"""Consumer groups over HTTP (SPEC §9) through the Python client: leases, acks, redelivery, dead letters,
and the worker-pool example with a worker that dies mid-message."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter

import jumpnet
import pytest
from cluster import REPO_ROOT


def wait_for(what, probe, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_concurrent_fetchers_on_every_node_get_disjoint_messages(cluster, topic):
    values = [f"m{i}" for i in range(300)]
    jumpnet.Client(cluster.urls).publish(topic, values)
    got = []
    lock = threading.Lock()

    def fetcher(url):
        c = jumpnet.Client([url], timeout=5, retry_timeout=20)
        while True:
            batch = c.group_fetch(topic, "g", max_messages=7, wait_ms=200)
            if not batch:
                return
            with lock:
                got.extend((m.offset, m.value, m.delivery) for m in batch)
            c.group_ack(topic, "g", batch)

    threads = [threading.Thread(target=fetcher, args=(url,)) for url in cluster.urls for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    offsets = [o for o, _, _ in got]
    assert sorted(offsets) == list(range(300)), "every message once, none twice"
    assert all(d == 1 for _, _, d in got)
    info = jumpnet.Client(cluster.urls).group(topic, "g")
    assert (info.pending, info.in_flight, info.acked_floor, info.lag) == (0, 0, 300, 0), info


def test_an_acked_message_never_comes_back_and_an_unacked_one_does(cluster, topic):
    c = jumpnet.Client(cluster.urls, timeout=5, retry_timeout=20)
    c.publish(topic, ["a", "b"])  # a group belongs to a topic that exists
    c.configure_group(topic, "g", ack_wait_ms=500)
    first = c.group_fetch(topic, "g", max_messages=10, wait_ms=2000)
    assert [m.value for m in first] == ["a", "b"] and [m.delivery for m in first] == [1, 1]
    c.group_ack(topic, "g", [first[0]])
    # "b" is not acknowledged: after the ack wait it is delivered again, with its delivery counted
    again = wait_for("b redelivered", lambda: c.group_fetch(topic, "g", max_messages=10, wait_ms=1000))
    assert [(m.value, m.delivery) for m in again] == [("b", 2)]
    c.group_ack(topic, "g", again)
    assert c.group_fetch(topic, "g", max_messages=10, wait_ms=1200) == [], "acknowledged messages stay acknowledged"
    info = c.group(topic, "g")
    assert info.redelivered >= 1 and info.in_flight == 0 and info.acked_floor == 2, info


def test_nack_gives_a_message_back_now_or_after_a_delay(cluster, topic):
    c = jumpnet.Client(cluster.urls, timeout=5, retry_timeout=20)
    c.publish(topic, ["x"])
    (m,) = c.group_fetch(topic, "g", max_messages=1, wait_ms=2000)
    c.group_nack(topic, "g", [m])
    (m2,) = c.group_fetch(topic, "g", max_messages=1, wait_ms=2000)
    assert (m2.offset, m2.delivery) == (m.offset, 2)
    c.group_nack(topic, "g", [m2], delay_ms=1500)
    started = time.monotonic()
    assert c.group_fetch(topic, "g", max_messages=1, wait_ms=300) == [], "not before the delay"
    (m3,) = wait_for("x after the delay", lambda: c.group_fetch(topic, "g", max_messages=1, wait_ms=1000))
    assert m3.delivery == 3 and time.monotonic() - started >= 1.0


def test_after_max_deliveries_a_message_goes_to_the_dead_letter_topic(cluster, topic):
    c = jumpnet.Client(cluster.urls, timeout=5, retry_timeout=20)
    dlq = topic + "-dead"
    c.publish(topic, [jumpnet.Record("poison", key="k1")])
    c.configure_group(topic, "g", ack_wait_ms=300, max_deliveries=2, dead_letter_topic=dlq)
    deliveries = []
    for _ in range(2):
        (m,) = wait_for("a delivery", lambda: c.group_fetch(topic, "g", max_messages=1, wait_ms=1000))
        deliveries.append(m.delivery)
        c.group_nack(topic, "g", [m])
    assert deliveries == [1, 2]
    # the third try finds it dead-lettered instead of delivered
    assert c.group_fetch(topic, "g", max_messages=1, wait_ms=500) == []
    dead = wait_for("the dead letter", lambda: c.fetch(dlq, 0, wait_ms=500).messages if dlq in c.topics() else None)
    assert [m.value for m in dead] == ["poison"]
    origin = " ".join(dead[0].headers.values())
    assert topic in origin and "g" in dead[0].headers.values(), dead[0].headers
    assert c.group(topic, "g").dead_lettered == 1


def test_groups_are_listed_and_deleted(cluster, topic):
    c = jumpnet.Client(cluster.urls, timeout=5, retry_timeout=20)
    c.publish(topic, ["a"])
    c.configure_group(topic, "one")
    c.configure_group(topic, "two", start="latest")
    assert sorted(g.group for g in c.groups(topic)) == ["one", "two"]
    assert c.group(topic, "one").lag == 1 and c.group(topic, "two").lag == 0
    c.delete_group(topic, "one")
    assert [g.group for g in c.groups(topic)] == ["two"]
    with pytest.raises(jumpnet.NotFound):
        c.group(topic, "one")


def test_worker_pool_shares_the_work_and_a_crashed_workers_message_goes_to_another(cluster, topic):
    values = [f"job-{i}" for i in range(60)]
    jumpnet.Client(cluster.urls).publish(topic, values)
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "python" / "worker_pool.py"), topic, "--group", "pool",
         "--servers", ",".join(cluster.urls), "--workers", "3", "--batch", "4", "--ack-wait-ms", "1500",
         "--crash-on", "job-7", "--until-done", "--timeout", "90"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    handled = Counter(line["value"] for line in lines)
    assert set(handled) == set(values), "every job handled"
    # at-least-once: a job is handled twice only when it came back (delivery > 1), never two first deliveries
    firsts = Counter(line["value"] for line in lines if line["delivery"] == 1)
    assert max(firsts.values()) == 1
    crashed = [line for line in lines if line["value"] == "job-7"]
    assert crashed and all(line["delivery"] >= 2 for line in crashed), crashed
    assert len({line["worker"] for line in lines}) >= 2, "the work was shared"
