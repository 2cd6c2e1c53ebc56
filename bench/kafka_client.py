#!/usr/bin/env python3
"""A Kafka client nobody here wrote (confluent-kafka, i.e. librdkafka) against Jumpnet's Kafka
listener: the cross-check of `jumpnet bench --kafka` in bench/kafka.sh. Prints one JSON line.

    kafka_client.py produce BOOTSTRAP TOPIC --seconds 10 [--batch 100] [--message-size 100]
        acks=all, no idempotence, partition 0, batch.num.messages=--batch, linger.ms=5;
        throughput = records acknowledged / (time to the last acknowledgement)
    kafka_client.py consume BOOTSTRAP TOPIC --count N
        partition 0 assigned from the beginning (no group rebalance, no commits) until N records
"""
import argparse
import json
import os
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def cpu():
    t = os.times()
    return t.user + t.system


def produce(a):
    p = Producer({
        "bootstrap.servers": a.bootstrap, "acks": "all", "enable.idempotence": False,
        "linger.ms": 5, "batch.num.messages": a.batch, "compression.type": "none",
        "queue.buffering.max.messages": 200000, "max.in.flight.requests.per.connection": 5,
    })
    value = b"x" * a.message_size
    done = {"ok": 0, "failed": 0}

    def delivered(err, _msg):
        done["ok" if err is None else "failed"] += 1

    c0, start = cpu(), time.monotonic()
    end = start + a.seconds
    while time.monotonic() < end:
        try:
            for _ in range(1000):
                p.produce(a.topic, value, partition=0, on_delivery=delivered)
        except BufferError:
            p.poll(0.005)
        p.poll(0)
    left = p.flush(60)
    secs = time.monotonic() - start
    return {"client": "confluent-kafka " + __import__("confluent_kafka").libversion()[0], "op": "produce",
            "acks": "all", "seconds": secs, "records": done["ok"], "failed": done["failed"], "unflushed": left,
            "msgs_per_s": done["ok"] / secs, "client_cpu_s": cpu() - c0}


def consume(a):
    c = Consumer({
        "bootstrap.servers": a.bootstrap, "group.id": "bench-kafka-sh", "enable.auto.commit": False,
        "enable.partition.eof": False,
    })
    c.assign([TopicPartition(a.topic, 0, OFFSET_BEGINNING)])
    got, errors = 0, 0
    c0, start = cpu(), time.monotonic()
    first = None
    while got < a.count:
        msgs = c.consume(num_messages=10000, timeout=5)
        if not msgs:
            if time.monotonic() - start > a.timeout:
                break
            continue
        if first is None:
            first = time.monotonic()
        bad = sum(1 for m in msgs if m.error() is not None)
        errors += bad
        got += len(msgs) - bad
    secs = time.monotonic() - start
    c.close()
    return {"client": "confluent-kafka " + __import__("confluent_kafka").libversion()[0], "op": "consume",
            "seconds": secs, "records": got, "errors": errors, "msgs_per_s": got / secs,
            "first_record_after_s": (first - start) if first else None, "client_cpu_s": cpu() - c0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("op", choices=["produce", "consume"])
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--message-size", type=int, default=100)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    print(json.dumps(produce(a) if a.op == "produce" else consume(a)))


if __name__ == "__main__":
    main()
