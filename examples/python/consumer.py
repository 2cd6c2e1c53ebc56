#!/usr/bin/env python3
"""Read a Jumpnet topic — the Python half of the producer/consumer example.

    python examples/python/consumer.py greetings --from-beginning     # what is there, then exit
    python examples/python/consumer.py greetings --follow             # new messages as they arrive (SSE)
    python examples/python/consumer.py greetings --name billing --follow   # resume where "billing" stopped

Prints `offset<TAB>value` per message (`--output json`: one JSON object per line). Against `jumpnet dev`
(APIs on 9090-9092) it runs as is; --servers (or $JUMPNET_SERVER) points elsewhere. With --follow it keeps
going through the loss of the node it reads from, resuming at the next offset on another node.
"""

import argparse
import json
import os
import sys

try:
    import jumpnet
except ImportError:  # run from a checkout without `pip install ./examples/python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
    import jumpnet

DEV_SERVERS = "127.0.0.1:9090,127.0.0.1:9091,127.0.0.1:9092"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("topic")
    ap.add_argument("--servers", default=os.environ.get("JUMPNET_SERVER", DEV_SERVERS), help="comma-separated")
    ap.add_argument("--token", default=os.environ.get("JUMPNET_TOKEN"))
    ap.add_argument("--from-beginning", action="store_true", help="start at the oldest message (default: new ones)")
    ap.add_argument("--offset", type=int, help="start at this offset")
    ap.add_argument("--name", help="named consumer: start from and commit its position in the cluster")
    ap.add_argument("--follow", action="store_true", help="keep waiting for new messages until Ctrl-C")
    ap.add_argument("--output", choices=["text", "json"], default="text")
    args = ap.parse_args()

    if args.offset is not None:
        start = args.offset
    elif args.from_beginning:
        start = "earliest"
    elif args.name:
        start = None  # the committed position, else the beginning
    else:
        start = "latest" if args.follow else "earliest"
    consumer = jumpnet.Consumer(
        args.topic, args.servers, token=args.token, name=args.name, offset=start, reset="earliest"
    )

    def show(msg):
        if args.output == "json":
            doc = {
                "topic": args.topic,
                "offset": msg.offset,
                "value": msg.value,
                "key": msg.key,
                "headers": msg.headers,
                "timestamp_ms": msg.timestamp_ms,
                "publisher": msg.publisher,
            }
            print(json.dumps(doc), flush=True)
        else:
            print(f"{msg.offset}\t{msg.value}", flush=True)

    seen = 0
    try:
        messages = consumer.follow() if args.follow else consumer.read_all()
        for msg in messages:
            show(msg)
            seen += 1
            if args.name and seen % 100 == 0:
                consumer.commit()
    except KeyboardInterrupt:
        pass
    except jumpnet.JumpnetError as e:
        print(f"consumer: {e}", file=sys.stderr)
        return 1
    finally:
        if args.name and seen:
            try:
                consumer.commit()
            except jumpnet.JumpnetError as e:
                print(f"consumer: could not commit the position: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
