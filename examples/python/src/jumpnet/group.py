"""GroupConsumer: one worker of a consumer group that shares a topic's messages with the others.

Every message is leased to one worker of the group at a time; an acknowledged message is never delivered
again, one that is not acknowledged within the group's ack wait (a crashed or stuck worker) goes to another
worker, with ``Message.delivery`` counting up. That is at-least-once: make the work idempotent, or check
``delivery > 1``.

    from jumpnet import GroupConsumer
    worker = GroupConsumer("jobs", "resizers", "127.0.0.1:9090,127.0.0.1:9091")
    worker.process(resize)          # forever: fetch, call resize(msg), ack; an exception nacks the message
"""

from __future__ import annotations

import time
from typing import Callable, Iterator, List, Optional

from .client import Client, Leased
from .models import GroupInfo, Message
from .transport import Servers


class GroupConsumer:
    """Fetches leased messages of ``group`` on ``topic`` and acknowledges them.

    ``max_messages``: how many messages one fetch leases at most; ``wait_ms``: how long a fetch waits when
    nothing is available. The group is created on the first fetch with the server's defaults; ``configure``
    (a dict of :meth:`Client.configure_group` arguments) creates or changes it first.
    """

    def __init__(
        self,
        topic: str,
        group: str,
        servers: Optional[Servers] = None,
        *,
        max_messages: int = 100,
        wait_ms: int = 1000,
        configure: Optional[dict] = None,
        token: Optional[str] = None,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        client: Optional[Client] = None,
    ) -> None:
        self.topic = topic
        self.group = group
        self.max_messages = max_messages
        self.wait_ms = wait_ms
        self.client = client or Client(servers, token=token, timeout=timeout, retry_timeout=retry_timeout)
        if configure:
            self.client.configure_group(topic, group, **configure)

    def fetch(self) -> List[Message]:
        """Lease the next messages (waits up to ``wait_ms`` when there are none; may return none)."""
        return self.client.group_fetch(self.topic, self.group, max_messages=self.max_messages, wait_ms=self.wait_ms)

    def ack(self, *messages: Leased) -> None:
        """Done with these messages: one call (one replicated entry) for all of them."""
        self.client.group_ack(self.topic, self.group, messages)

    def nack(self, *messages: Leased, delay_ms: Optional[int] = None) -> None:
        """Give messages back to the group now, or after ``delay_ms``."""
        self.client.group_nack(self.topic, self.group, messages, delay_ms=delay_ms)

    def info(self) -> GroupInfo:
        return self.client.group(self.topic, self.group)

    def messages(self, *, duration: Optional[float] = None) -> Iterator[Message]:
        """Leased messages one by one, fetching more as needed; the caller acknowledges each."""
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            yield from self.fetch()

    def process(
        self,
        handler: Callable[[Message], None],
        *,
        duration: Optional[float] = None,
        nack_delay_ms: Optional[int] = None,
    ) -> int:
        """Run ``handler`` on every leased message until ``duration`` runs out (forever without it).

        The messages ``handler`` returned from are acknowledged together after each fetched batch (one ack
        call per batch, not per message); a message whose handler raised is given back (nacked, after
        ``nack_delay_ms``) for another try. Returns how many messages were handled successfully.
        """
        done = 0
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            batch = self.fetch()
            ok: List[Message] = []
            failed: List[Message] = []
            for msg in batch:
                try:
                    handler(msg)
                except Exception:  # the message goes back to the group; the worker keeps going
                    failed.append(msg)
                else:
                    ok.append(msg)
            if ok:
                self.ack(*ok)
                done += len(ok)
            if failed:
                self.nack(*failed, delay_ms=nack_delay_ms)
        return done
