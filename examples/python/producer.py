#!/usr/bin/env python3
"""Publish messages to a Jumpnet topic — the Python half of the producer/consumer example.

    python examples/python/producer.py greetings hello world      # two messages
    seq 1 100 | python examples/python/producer.py numbers --batch 20
    python examples/python/producer.py orders --key customer-7 '{"item": 42}'

Against `jumpnet dev` (APIs on 9090-9092) it runs as is; --servers (or $JUMPNET_SERVER) points elsewhere.
Every batch carries this producer's id and a sequence number, so a retry after a node failure never
stores a message twice.
"""

import argparse
import os
import sys

try:
    import jumpnet
except ImportError:  # run from a checkout without `pip install ./examples/python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
    import jumpnet

DEV_SERVERS = "127.0.0.1:9090,127.0.0.1:9091,127.0.0.1:9092"


def batches(values, size):
    batch = []
    for v in values:
        batch.append(v)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("topic")
    ap.add_argument("messages", nargs="*", help="message values (default: one per line of stdin)")
    ap.add_argument("--servers", default=os.environ.get("JUMPNET_SERVER", DEV_SERVERS), help="comma-separated")
    ap.add_argument("--token", default=os.environ.get("JUMPNET_TOKEN"))
    ap.add_argument("--key", help="key for every message")
    ap.add_argument("--batch", type=int, default=1, help="messages per request (published atomically)")
    args = ap.parse_args()

    values = args.messages or (line.rstrip("\n") for line in sys.stdin)
    producer = jumpnet.Producer(args.servers, token=args.token)
    try:
        for batch in batches(values, max(1, args.batch)):
            records = [jumpnet.Record(v, key=args.key) for v in batch]
            result = producer.send_batch(args.topic, records)
            for value, offset in zip(batch, result.offsets):
                print(f"{args.topic}@{offset}\t{value}")
    except jumpnet.JumpnetError as e:
        print(f"producer: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
