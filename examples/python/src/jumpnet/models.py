"""Plain data returned by the client: messages, publish results, cluster and topic views."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union


@dataclass(frozen=True)
class Message:
    """One stored message. ``offset`` is its position in the topic, dense and increasing.

    ``value`` is the value as text, or ``None`` when its bytes are not UTF-8; ``data`` always holds
    the bytes (the server sends those as ``value_b64``)."""

    offset: int
    value: Optional[str]
    key: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    timestamp_ms: Optional[int] = None
    publisher: Optional[str] = None
    topic: Optional[str] = None
    data: bytes = b""
    partition: int = 0
    delivery: Optional[int] = None
    """For a message leased to a consumer group: its delivery count (1 the first time)."""

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], topic: Optional[str] = None) -> "Message":
        value = doc.get("value")
        b64 = doc.get("value_b64")
        if b64 is not None:
            data = base64.b64decode(b64)
        else:
            data = (value or "").encode("utf-8")
        return cls(
            offset=int(doc["offset"]),
            value=value,
            key=doc.get("key"),
            headers=dict(doc.get("headers") or {}),
            timestamp_ms=doc.get("timestamp_ms"),
            publisher=doc.get("publisher"),
            topic=doc.get("topic", topic),
            data=data,
            partition=int(doc.get("partition") or 0),
            delivery=_int_or_none(doc.get("delivery")),
        )


@dataclass(frozen=True)
class Record:
    """A message to publish: a value (text, or any bytes) with an optional key and headers."""

    value: Union[str, bytes]
    key: Optional[str] = None
    headers: Optional[Dict[str, str]] = None

    def to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = _value(self.value)
        if self.key is not None:
            doc["key"] = _text(self.key, "key")
        if self.headers:
            doc["headers"] = {str(k): _text(v, f"header {k!r}") for k, v in self.headers.items()}
        return doc


RecordLike = Union[str, bytes, Record, Mapping[str, Any]]


def to_record(item: RecordLike) -> Record:
    """Accept a value, a :class:`Record`, or a ``{"value", "key", "headers"}`` mapping."""
    if isinstance(item, Record):
        return item
    if isinstance(item, Mapping):
        return Record(item["value"], item.get("key"), item.get("headers"))
    return Record(item)


def _value(v: Any) -> Dict[str, str]:
    """``{"value": text}``, or ``{"value_b64": ...}`` for bytes that are not UTF-8."""
    if isinstance(v, (bytes, bytearray)):
        try:
            return {"value": bytes(v).decode("utf-8")}
        except UnicodeDecodeError:
            return {"value_b64": base64.b64encode(bytes(v)).decode("ascii")}
    return {"value": _text(v, "value")}


def _text(v: Any, what: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8")
    raise TypeError(f"message {what} must be str or UTF-8 bytes, not {type(v).__name__}")


@dataclass(frozen=True)
class PublishResult:
    """Where a published batch landed: ``offsets[i]`` is the offset of the i-th message."""

    topic: str
    base_offset: int
    offsets: List[int]
    duplicate: bool = False
    """True when the cluster had already stored this producer id + sequence: the first answer, repeated."""
    partition: int = 0
    """The partition the batch went to (offsets count per partition)."""

    @property
    def offset(self) -> int:
        """The offset of a single published message (the first of a batch)."""
        return self.base_offset

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "PublishResult":
        base = int(doc["base_offset"])
        offsets = [int(o) for o in doc.get("offsets") or [base]]
        return cls(
            topic=doc.get("topic", ""),
            base_offset=base,
            offsets=offsets,
            duplicate=bool(doc.get("duplicate")),
            partition=int(doc.get("partition") or 0),
        )


@dataclass(frozen=True)
class FetchResult:
    """One page of a topic read: the messages plus where the log stands."""

    messages: List[Message]
    next_offset: int
    high_watermark: int
    log_start_offset: int

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], topic: Optional[str] = None) -> "FetchResult":
        return cls(
            messages=[Message.from_json(m, topic) for m in doc.get("messages") or []],
            next_offset=int(doc["next_offset"]),
            high_watermark=int(doc.get("high_watermark", 0)),
            log_start_offset=int(doc.get("log_start_offset", 0)),
        )


@dataclass(frozen=True)
class ConsumerPosition:
    """A named consumer's position on a topic: the next offset it reads, and how far behind it is.

    ``committed`` is False when the consumer never committed on this topic; ``offset`` is then ``None``.
    """

    consumer: str
    topic: str
    offset: Optional[int]
    lag: Optional[int]
    committed: bool = True
    high_watermark: Optional[int] = None
    log_start_offset: Optional[int] = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], consumer: str, topic: str) -> "ConsumerPosition":
        committed = bool(doc.get("committed", doc.get("offset") is not None))
        offset = doc.get("offset") if committed else None
        return cls(
            consumer=doc.get("consumer", consumer),
            topic=doc.get("topic", topic),
            offset=None if offset is None else int(offset),
            lag=_int_or_none(doc.get("lag")),
            committed=committed,
            high_watermark=_int_or_none(doc.get("high_watermark")),
            log_start_offset=_int_or_none(doc.get("log_start_offset")),
        )


def _int_or_none(v: Any) -> Optional[int]:
    return None if v is None else int(v)


@dataclass(frozen=True)
class Member:
    id: int
    raft_addr: str
    api_addr: str
    role: str
    matched_index: Optional[int] = None

    @property
    def is_voter(self) -> bool:
        return self.role == "voter"


@dataclass(frozen=True)
class ClusterStatus:
    """``GET /v1/cluster``: who is in the cluster, who leads, how far the log is."""

    cluster_id: Optional[str]
    leader_id: Optional[int]
    term: int
    commit_index: int
    members: List[Member]
    node_id: Optional[int] = None
    applied_index: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def leader(self) -> Optional[Member]:
        return next((m for m in self.members if m.id == self.leader_id), None)

    @property
    def voters(self) -> List[Member]:
        return [m for m in self.members if m.is_voter]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ClusterStatus":
        members = [
            Member(
                id=int(m["id"]),
                raft_addr=m.get("raft_addr", ""),
                api_addr=m.get("api_addr", ""),
                role=m.get("role", ""),
                matched_index=m.get("matched_index"),
            )
            for m in doc.get("members") or []
        ]
        return cls(
            cluster_id=doc.get("cluster_id"),
            leader_id=doc.get("leader_id"),
            term=int(doc.get("term") or 0),
            commit_index=int(doc.get("commit_index") or 0),
            members=members,
            node_id=doc.get("node_id"),
            applied_index=doc.get("applied_index"),
            raw=dict(doc),
        )


@dataclass(frozen=True)
class TopicInfo:
    """``GET /v1/topics/{topic}``: ``high_watermark`` and ``log_start_offset`` are partition 0's, ``messages``
    and ``bytes`` the whole topic's; ``partition_offsets`` has each partition's (dicts with ``partition``,
    ``high_watermark``, ``log_start_offset``, ``messages``, ``bytes``)."""

    name: str
    high_watermark: int
    log_start_offset: int
    messages: int
    bytes: int
    retention: Dict[str, Any]
    partitions: int = 1
    partition_offsets: List[Dict[str, int]] = field(default_factory=list)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "TopicInfo":
        return cls(
            name=doc.get("name", ""),
            high_watermark=int(doc.get("high_watermark") or 0),
            log_start_offset=int(doc.get("log_start_offset") or 0),
            messages=int(doc.get("messages") or 0),
            bytes=int(doc.get("bytes") or 0),
            retention=dict(doc.get("retention") or {}),
            partitions=int(doc.get("partitions") or 1),
            partition_offsets=[dict(p) for p in doc.get("partition_offsets") or []],
        )


@dataclass(frozen=True)
class GroupInfo:
    """A consumer group of a topic (``GET /v1/topics/{topic}/groups/{group}``).

    ``pending``: messages not yet leased; ``in_flight``: leased and not acknowledged; ``acked_floor``: every
    offset below it is acknowledged; ``lag``: messages the group has not acknowledged yet."""

    topic: str
    group: str
    pending: int = 0
    in_flight: int = 0
    acked_floor: int = 0
    redelivered: int = 0
    dead_lettered: int = 0
    lag: int = 0
    partitions: List[Dict[str, int]] = field(default_factory=list)
    """Each partition's numbers (``partition``, ``pending``, ``in_flight``, ``acked_floor``, ``lag``): a group
    spans every partition of its topic; the numbers above are their sums (``acked_floor``: partition 0's)."""
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], topic: str, group: str) -> "GroupInfo":
        def num(k: str) -> int:
            return int(doc.get(k) or 0)

        return cls(
            topic=doc.get("topic", topic),
            group=doc.get("group", doc.get("name", group)),
            pending=num("pending"),
            in_flight=num("in_flight"),
            acked_floor=num("acked_floor"),
            redelivered=num("redelivered"),
            dead_lettered=num("dead_lettered"),
            lag=num("lag"),
            partitions=[dict(p) for p in doc.get("partitions") or []],
            raw=dict(doc),
        )
