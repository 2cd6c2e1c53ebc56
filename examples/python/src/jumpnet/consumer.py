"""Consumer: read a topic from an offset, long-poll for more, or follow it live over SSE.

The consumer keeps its own position (the next offset to read). Give it a ``name`` to keep that position in
the cluster as well: it starts from the committed position and :meth:`Consumer.commit` stores progress,
so another process with the same name carries on where this one stopped.
"""

from __future__ import annotations

import time
from typing import Iterator, List, Optional, Union

from .client import Client
from .errors import NotFound, OffsetOutOfRange
from .models import Message
from .transport import Servers

Start = Union[int, str, None]


class Consumer:
    """Reads one topic.

    ``offset``: an int, ``"earliest"`` (the oldest retained message) or ``"latest"`` (only new ones);
    ``None`` means the committed position of ``name`` if there is one, else ``reset``.
    ``reset``: where to go when the position is missing or no longer valid (trimmed by retention):
    ``"earliest"``, ``"latest"`` or ``"error"`` (raise :class:`OffsetOutOfRange`).
    ``wait_for_topic``: treat a topic that does not exist yet as empty instead of raising :class:`NotFound`.
    ``partition``: the partition to read (default 0); offsets and the named position are per partition.
    """

    def __init__(
        self,
        topic: str,
        servers: Optional[Servers] = None,
        *,
        name: Optional[str] = None,
        offset: Start = None,
        reset: str = "earliest",
        max_messages: int = 500,
        wait_ms: int = 1000,
        wait_for_topic: bool = True,
        token: Optional[str] = None,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        client: Optional[Client] = None,
        partition: int = 0,
    ) -> None:
        if reset not in ("earliest", "latest", "error"):
            raise ValueError("reset must be 'earliest', 'latest' or 'error'")
        self.topic = topic
        self.partition = int(partition)
        self.name = name
        self.reset = reset
        self.max_messages = max_messages
        self.wait_ms = wait_ms
        self.wait_for_topic = wait_for_topic
        self.client = client or Client(servers, token=token, timeout=timeout, retry_timeout=retry_timeout)
        self._start = offset
        self._offset: Optional[int] = None

    # -- position --------------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The next offset this consumer reads."""
        if self._offset is None:
            self._offset = self._resolve(self._start)
        return self._offset

    def seek(self, offset: Start) -> int:
        """Move to an offset, ``"earliest"`` or ``"latest"``; returns the new position."""
        self._offset = self._resolve(offset if offset is not None else self.reset)
        return self._offset

    def commit(self, offset: Optional[int] = None) -> None:
        """Store the position (or ``offset``) as this named consumer's committed position."""
        if not self.name:
            raise ValueError("commit needs a consumer name")
        self.client.commit(
            self.name, self.topic, self.position if offset is None else offset, partition=self._part()
        )

    def committed(self) -> Optional[int]:
        """The committed position of this named consumer, ``None`` when it has none."""
        if not self.name:
            raise ValueError("committed needs a consumer name")
        try:
            return self.client.position(self.name, self.topic, partition=self._part()).offset
        except NotFound:
            return None

    def lag(self) -> int:
        """Messages between the position and the end of the topic."""
        try:
            hwm = self._bounds()[1]
        except NotFound:
            return 0
        return max(0, hwm - self.position)

    def _part(self) -> Optional[int]:
        """The partition for a call: ``None`` (the server's default, 0) for partition 0."""
        return self.partition or None

    def _resolve(self, start: Start) -> int:
        if isinstance(start, int):
            if start < 0:
                raise ValueError("offset must be >= 0")
            return start
        if start is None:
            if self.name:
                committed = self.committed()
                if committed is not None:
                    return committed
            start = self.reset
            if start == "error":
                raise OffsetOutOfRange(f"consumer {self.name!r} has no position on {self.topic!r}")
        if start in ("earliest", "beginning"):
            return self._bounds()[0]
        if start in ("latest", "end"):
            return self._bounds()[1]
        raise ValueError(f"unknown start offset {start!r}")

    def _bounds(self) -> "tuple[int, int]":
        try:
            info = self.client.topic(self.topic)
        except NotFound:
            if not self.wait_for_topic:
                raise
            return 0, 0
        for p in info.partition_offsets:
            if int(p.get("partition", -1)) == self.partition:
                return int(p.get("log_start_offset") or 0), int(p.get("high_watermark") or 0)
        if self.partition:
            raise ValueError(
                f"topic {self.topic!r} has {info.partitions} partitions: there is no partition {self.partition}"
            )
        return info.log_start_offset, info.high_watermark

    # -- reading ---------------------------------------------------------------------------------------

    def poll(self, max_messages: Optional[int] = None, wait_ms: Optional[int] = None) -> List[Message]:
        """The next messages from the position, waiting up to ``wait_ms`` for the first one to exist."""
        wait_ms = self.wait_ms if wait_ms is None else wait_ms
        while True:
            offset = self.position
            try:
                page = self.client.fetch(
                    self.topic,
                    offset,
                    limit=max_messages or self.max_messages,
                    wait_ms=wait_ms or None,
                    partition=self._part(),
                )
            except NotFound:
                if not self.wait_for_topic:
                    raise
                # No long-poll on a topic that does not exist yet: wait once, bounded, then report nothing.
                time.sleep(min(wait_ms, 1000) / 1000.0)
                return []
            except OffsetOutOfRange:
                self._recover(offset)
                continue
            if page.messages:
                self._offset = page.messages[-1].offset + 1
            elif page.next_offset > offset:
                self._offset = page.next_offset  # skipped a trimmed gap
            return page.messages

    def _recover(self, offset: int) -> None:
        """The position fell outside the log: move per ``reset`` or raise."""
        start, end = self._bounds()
        if self.reset == "error":
            raise OffsetOutOfRange(f"offset {offset} is outside [{start}, {end}] on {self.topic!r}")
        if offset < start:
            self._offset = start if self.reset == "earliest" else end
        else:
            self._offset = end  # past the end: the topic was recreated or truncated

    def __iter__(self) -> Iterator[Message]:
        return self.messages()

    def messages(self, duration: Optional[float] = None) -> Iterator[Message]:
        """Every message from the position on, long-polling; forever, or for ``duration`` seconds."""
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            wait_ms = self.wait_ms
            if deadline is not None:
                wait_ms = max(0, min(wait_ms, int((deadline - time.monotonic()) * 1000)))
            for msg in self.poll(wait_ms=wait_ms):
                yield msg

    def follow(self, duration: Optional[float] = None, idle_timeout: float = 60.0) -> Iterator[Message]:
        """Every message from the position on, pushed by the server over SSE; resumes across failover."""
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                for msg in self.client.stream(
                    self.topic, self.position, idle_timeout=idle_timeout, duration=remaining, partition=self._part()
                ):
                    self._offset = msg.offset + 1
                    yield msg
                return
            except NotFound:
                if not self.wait_for_topic:
                    raise
                time.sleep(min(1.0, remaining if remaining is not None else 1.0))
            except OffsetOutOfRange:
                self._recover(self.position)

    def read_all(self) -> List[Message]:
        """Everything from the position to the current end of the topic (no waiting)."""
        out: List[Message] = []
        while True:
            batch = self.poll(wait_ms=0)
            if not batch:
                return out
            out.extend(batch)
