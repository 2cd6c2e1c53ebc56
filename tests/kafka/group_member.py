"""One consumer-group member (confluent-kafka) as its own process, so a test can kill -9 it.

    group_member.py BOOTSTRAP GROUP TOPIC

Prints `ASSIGNED p,p,...` after every rebalance and `MSG partition offset value` for every message,
committing each message's offset synchronously right after printing it (at-least-once).
"""

import sys

from confluent_kafka import Consumer, KafkaException

bootstrap, group, topic = sys.argv[1:4]
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "partition.assignment.strategy": "range",
})


def on_assign(c, partitions):
    print("ASSIGNED " + ",".join(str(p.partition) for p in partitions), flush=True)


consumer.subscribe([topic], on_assign=on_assign, on_revoke=lambda c, p: print("REVOKED", flush=True))
try:
    while True:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            print(f"ERROR {msg.error()}", flush=True)
            continue
        print(f"MSG {msg.partition()} {msg.offset()} {msg.value().decode()}", flush=True)
        try:
            consumer.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            # A rebalance in between: the next owner re-reads from the last commit.
            print(f"COMMIT-FAILED {e}", flush=True)
except KeyboardInterrupt:
    pass
finally:
    consumer.close()
