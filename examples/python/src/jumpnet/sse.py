"""A Server-Sent Events reader (the parts of the WHATWG algorithm a message stream needs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator, List, Optional


@dataclass(frozen=True)
class Event:
    id: Optional[str]
    event: str
    data: str


def events(stream: BinaryIO) -> Iterator[Event]:
    """Yield events from a byte stream until it ends.

    Comment lines (``: keep-alive``) are skipped; ``retry:`` is ignored (the caller owns reconnects).
    Socket timeouts propagate so the caller can treat a silent connection as dead.
    """
    data: List[str] = []
    event_id: Optional[str] = None
    event_type = ""
    while True:
        raw = stream.readline()
        if not raw:
            return
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield Event(event_id, event_type or "message", "\n".join(data))
            data, event_type = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "id":
            if "\0" not in value:
                event_id = value
        elif name == "event":
            event_type = value
