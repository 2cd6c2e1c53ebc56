#!/usr/bin/env python3
"""A pool of worker processes sharing one consumer group: each message is handled by one worker at a time.

    python examples/python/producer.py jobs job-1 job-2 job-3 ...        # or any publisher
    python examples/python/worker_pool.py jobs --group resizers --workers 4 --until-done
    python examples/python/worker_pool.py jobs --group resizers --workers 4 --crash-on job-7 --ack-wait-ms 2000

Each worker prints one JSON line per message it handled: ``{"worker", "offset", "value", "delivery"}``.
``--crash-on VALUE``: the worker that gets that message the first time dies on the spot (no ack), the way a
worker killed mid-message would; the group gives the message to another worker once its ack wait expired
(``delivery`` 2). ``--until-done``: stop when the group has nothing pending and nothing in flight.
Against `jumpnet dev` (APIs on 9090-9092) it runs as is; --servers (or $JUMPNET_SERVER) points elsewhere.
"""

import argparse
import json
import multiprocessing
import os
import sys
import time

try:
    import jumpnet
except ImportError:  # run from a checkout without `pip install ./examples/python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
    import jumpnet

DEV_SERVERS = "127.0.0.1:9090,127.0.0.1:9091,127.0.0.1:9092"


def work(args: argparse.Namespace, worker: int) -> None:
    group = jumpnet.GroupConsumer(
        args.topic, args.group, args.servers, token=args.token, max_messages=args.batch, wait_ms=1000
    )

    def handle(msg: jumpnet.Message) -> None:
        if args.crash_on is not None and msg.value == args.crash_on and msg.delivery == 1:
            os._exit(3)  # killed mid-message: no ack, no nack
        line = {"worker": worker, "offset": msg.offset, "value": msg.value, "delivery": msg.delivery}
        # One write per line: the workers share stdout, and print's separate writes of the text and
        # its newline interleave between processes.
        os.write(sys.stdout.fileno(), (json.dumps(line) + "\n").encode())

    group.process(handle)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("topic")
    ap.add_argument("--group", required=True)
    ap.add_argument("--servers", default=os.environ.get("JUMPNET_SERVER", DEV_SERVERS), help="comma-separated")
    ap.add_argument("--token", default=os.environ.get("JUMPNET_TOKEN"))
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=10, help="messages leased per fetch")
    ap.add_argument("--ack-wait-ms", type=int, help="configure the group's ack wait first")
    ap.add_argument("--crash-on", help="the worker that first gets this value dies without acknowledging it")
    ap.add_argument("--until-done", action="store_true", help="stop once nothing is pending or in flight")
    ap.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    args = ap.parse_args()

    client = jumpnet.Client(args.servers, token=args.token)
    if args.ack_wait_ms is not None:
        client.configure_group(args.topic, args.group, ack_wait_ms=args.ack_wait_ms)
    procs = [multiprocessing.Process(target=work, args=(args, i), daemon=True) for i in range(args.workers)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if args.until_done:
                try:
                    info = client.group(args.topic, args.group)
                except jumpnet.NotFound:  # no worker fetched yet: the first fetch creates the group
                    continue
                if info.pending == 0 and info.in_flight == 0:
                    return 0
            if not any(p.is_alive() for p in procs):
                print("every worker died", file=sys.stderr)
                return 1
        return 0 if not args.until_done else 2
    except KeyboardInterrupt:
        return 130
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)


if __name__ == "__main__":
    sys.exit(main())
