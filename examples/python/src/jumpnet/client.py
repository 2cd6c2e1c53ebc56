"""The whole HTTP API as methods: the v1 calls, the seed's calls, cluster status and health.

:class:`Producer` and :class:`Consumer` build on this; use :class:`Client` directly for admin-ish calls
(topics, cluster status) or when you want full control of offsets and sequences.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from . import sse
from .errors import JumpnetError, Timeout
from .models import (
    ClusterStatus,
    ConsumerPosition,
    FetchResult,
    GroupInfo,
    Message,
    PublishResult,
    RecordLike,
    TopicInfo,
    to_record,
)
from .transport import ClientCert, Server, Servers, Transport, connect, path_of


class Client:
    """A connection to a Jumpnet cluster through any of its nodes.

    ``servers`` is a list (or comma-separated string) of node API addresses, e.g.
    ``["127.0.0.1:9090", "127.0.0.1:9091"]``; default ``$JUMPNET_SERVER`` or ``http://127.0.0.1:9090``.
    ``token`` is sent as ``Authorization: Bearer`` (default ``$JUMPNET_TOKEN``).
    ``timeout`` bounds each network wait, ``retry_timeout`` a whole call across retries and nodes.
    ``cacert`` is a PEM file of CAs to trust for ``https://`` servers (default ``$JUMPNET_CACERT``), ``verify``
    an :class:`ssl.SSLContext` to use instead. ``cert`` is the client certificate for nodes that require one
    (``--tls-client-ca``), as in ``requests``: ``(certfile, keyfile)`` or one PEM file holding both (default
    ``$JUMPNET_CERT`` and ``$JUMPNET_CERT_KEY``).
    """

    def __init__(
        self,
        servers: Optional[Servers] = None,
        *,
        token: Optional[str] = None,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        transport: Optional[Transport] = None,
        cacert: Optional[str] = None,
        verify: Optional[ssl.SSLContext] = None,
        cert: Optional[ClientCert] = None,
    ) -> None:
        self.transport = transport or Transport(
            servers,
            token=token,
            timeout=timeout,
            retry_timeout=retry_timeout,
            cacert=cacert,
            verify=verify,
            cert=cert,
        )

    @property
    def servers(self) -> List[str]:
        return self.transport.servers

    # -- v1 messages -----------------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        messages: Iterable[RecordLike],
        *,
        producer_id: Optional[str] = None,
        sequence: Optional[int] = None,
        producer_epoch: Optional[int] = None,
        partition: Optional[int] = None,
    ) -> PublishResult:
        """Publish a batch atomically (``POST /v1/topics/{topic}/messages``) into one partition.

        ``partition``: that partition (:class:`BadRequest` ``invalid_partition`` when the topic has no such
        one); without it the first message's key picks it (Kafka's murmur2, as a Kafka producer would), else
        the producer id, else round-robin. ``result.partition`` says where the batch went.

        With ``producer_id`` and ``sequence`` the call is retried on other nodes after a lost answer or a 504,
        and the cluster stores the batch once; without them a lost answer raises :class:`Timeout`.
        ``producer_epoch`` (default 0): a higher epoch than the producer's last starts its sequences over; a
        lower one is refused with :class:`Conflict` (code ``producer_fenced``).
        """
        body: Dict[str, Any] = {"messages": [to_record(m).to_json() for m in messages]}
        if not body["messages"]:
            raise ValueError("publish needs at least one message")
        if (producer_id is None) != (sequence is None):
            raise ValueError("producer_id and sequence go together")
        if producer_epoch is not None and producer_id is None:
            raise ValueError("producer_epoch needs producer_id and sequence")
        if producer_id is not None:
            body["producer_id"] = producer_id
            body["sequence"] = int(sequence)  # type: ignore[arg-type]
        if producer_epoch is not None:
            body["producer_epoch"] = int(producer_epoch)
        if partition is not None:
            body["partition"] = int(partition)
        resp = self.transport.request(
            "POST", path_of("v1", "topics", topic, "messages"), body=body, idempotent=producer_id is not None
        )
        return PublishResult.from_json(resp.json())

    def fetch(
        self,
        topic: str,
        offset: int = 0,
        *,
        limit: Optional[int] = None,
        max_bytes: Optional[int] = None,
        wait_ms: Optional[int] = None,
        strong: bool = False,
        partition: Optional[int] = None,
    ) -> FetchResult:
        """Read from ``offset`` (``GET /v1/topics/{topic}/messages``); ``wait_ms`` long-polls for new data.

        ``partition``: the partition to read (default 0); offsets count per partition."""
        query = {
            "partition": partition,
            "offset": offset,
            "limit": limit,
            "max_bytes": max_bytes,
            "wait_ms": wait_ms,
            "consistency": "strong" if strong else None,
        }
        timeout = self.transport.timeout + (wait_ms or 0) / 1000.0
        resp = self.transport.request("GET", path_of("v1", "topics", topic, "messages"), query=query, timeout=timeout)
        return FetchResult.from_json(resp.json(), topic)

    def stream(
        self,
        topic: str,
        offset: int = 0,
        *,
        idle_timeout: float = 60.0,
        duration: Optional[float] = None,
        partition: Optional[int] = None,
    ) -> Iterator[Message]:
        """Follow a topic over SSE (``GET /v1/topics/{topic}/stream``) from ``offset``, forever.

        ``partition``: the partition to follow (default 0).

        On a dropped connection or a node failure it reconnects (to another node if needed) with
        ``Last-Event-ID`` set to the last offset received, so nothing is skipped or repeated.
        ``idle_timeout``: reconnect when the server sends nothing, not even a keep-alive, for that long.
        ``duration``: stop (return) after that many seconds, for scripts and tests.
        """
        deadline = None if duration is None else time.monotonic() + duration
        next_offset = offset
        path = path_of("v1", "topics", topic, "stream")
        while deadline is None or time.monotonic() < deadline:
            read_timeout = idle_timeout
            if deadline is not None:
                read_timeout = max(0.05, min(idle_timeout, deadline - time.monotonic()))
            headers = {"Last-Event-ID": str(next_offset - 1)} if next_offset > offset else {}
            try:
                conn, resp, _server = self.transport.open(
                    path,
                    query={"offset": next_offset, "partition": partition},
                    headers=headers,
                    timeout=self.transport.timeout,
                )
            except Timeout:
                continue
            try:
                conn.sock.settimeout(read_timeout)
                for event in sse.events(resp):
                    msg = _event_message(event, topic)
                    if msg is None:
                        continue
                    if msg.offset < next_offset:
                        continue  # already delivered before a reconnect
                    next_offset = msg.offset + 1
                    yield msg
                    if deadline is not None:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return
                        conn.sock.settimeout(max(0.05, min(idle_timeout, remaining)))
            except (OSError, socket.timeout, ValueError):
                pass  # dead or silent connection: reconnect from next_offset
            finally:
                conn.close()

    # -- topics ----------------------------------------------------------------------------------------

    def topics(self) -> List[str]:
        """Names of all topics (``GET /v1/topics``)."""
        doc = self.transport.request("GET", "/v1/topics").json()
        items = doc.get("topics", []) if isinstance(doc, dict) else doc or []
        return [t["name"] if isinstance(t, dict) else str(t) for t in items]

    def topic(self, topic: str) -> TopicInfo:
        """One topic's offsets, size and retention; raises :class:`NotFound` for an unknown topic."""
        return TopicInfo.from_json(self.transport.request("GET", path_of("v1", "topics", topic)).json())

    def create_topic(
        self, topic: str, retention: Optional[Mapping[str, int]] = None, *, partitions: Optional[int] = None
    ) -> TopicInfo:
        """Create a topic or change its retention (``max_messages``, ``max_bytes``, ``max_age_ms``).

        ``partitions``: the partition count of a new topic (default 1), or a higher count for an existing
        one (raise only: a lower one raises :class:`BadRequest` ``invalid_partitions``)."""
        body: Dict[str, Any] = {"retention": dict(retention)} if retention else {}
        if partitions is not None:
            body["partitions"] = int(partitions)
        doc = self.transport.request("PUT", path_of("v1", "topics", topic), body=body).json()
        if isinstance(doc, dict) and "high_watermark" in doc:
            return TopicInfo.from_json(doc)
        return self.topic(topic)

    def set_partitions(self, topic: str, partitions: int) -> TopicInfo:
        """Raise a topic's partition count (creating the topic if needed): ``PUT /v1/topics/{topic}``."""
        return self.create_topic(topic, partitions=partitions)

    def delete_topic(self, topic: str) -> None:
        self.transport.request("DELETE", path_of("v1", "topics", topic))

    # -- named consumers -------------------------------------------------------------------------------

    def position(self, consumer: str, topic: str, *, partition: Optional[int] = None) -> ConsumerPosition:
        """A named consumer's committed position on a topic (offset ``None`` when it never committed).

        Positions are per partition (``partition``, default 0)."""
        doc = self.transport.request(
            "GET", path_of("v1", "consumers", consumer, "topics", topic), query={"partition": partition}
        ).json()
        return ConsumerPosition.from_json(doc or {}, consumer, topic)

    def commit(
        self, consumer: str, topic: str, offset: int, *, partition: Optional[int] = None
    ) -> ConsumerPosition:
        """Store ``offset`` as the next offset ``consumer`` reads on ``topic`` (on ``partition``, default 0)."""
        doc = self.transport.request(
            "PUT",
            path_of("v1", "consumers", consumer, "topics", topic),
            body={"offset": int(offset)},
            query={"partition": partition},
        ).json()
        return ConsumerPosition.from_json(doc or {"offset": offset}, consumer, topic)

    # -- consumer groups (work sharing) ----------------------------------------------------------------

    def configure_group(
        self,
        topic: str,
        group: str,
        *,
        ack_wait_ms: Optional[int] = None,
        max_deliveries: Optional[int] = None,
        dead_letter_topic: Optional[str] = None,
        start: Union[str, int, None] = None,
    ) -> GroupInfo:
        """Create or configure a consumer group (``PUT /v1/topics/{topic}/groups/{group}``).

        A first fetch creates a group with the defaults (ack wait 30 s, 5 deliveries, no dead-letter topic,
        from the earliest message); ``start`` is ``"earliest"``, ``"latest"`` or an offset."""
        body: Dict[str, Any] = {}
        for k, v in (
            ("ack_wait_ms", ack_wait_ms),
            ("max_deliveries", max_deliveries),
            ("dead_letter_topic", dead_letter_topic),
            ("start", start),
        ):
            if v is not None:
                body[k] = v
        doc = self.transport.request("PUT", path_of("v1", "topics", topic, "groups", group), body=body).json()
        if isinstance(doc, dict) and "pending" in doc:
            return GroupInfo.from_json(doc, topic, group)
        return self.group(topic, group)

    def group_fetch(self, topic: str, group: str, *, max_messages: int = 100, wait_ms: int = 0) -> List[Message]:
        """Lease up to ``max_messages`` messages to this caller (``POST .../groups/{group}/fetch``).

        Concurrent fetches of a group get disjoint messages. Each must be acknowledged (:meth:`group_ack`)
        within the group's ack wait, or it is delivered again (``Message.delivery`` counts up). ``wait_ms``
        long-polls when nothing is available. Retried after a lost answer: the leases of a lost answer
        simply expire and come back to the group (at-least-once)."""
        body = {"max_messages": int(max_messages), "wait_ms": int(wait_ms)}
        timeout = self.transport.timeout + wait_ms / 1000.0
        doc = self.transport.request(
            "POST", path_of("v1", "topics", topic, "groups", group, "fetch"), body=body, timeout=timeout
        ).json()
        return [Message.from_json(m, topic) for m in (doc or {}).get("messages") or []]

    def group_ack(self, topic: str, group: str, messages: Iterable["Leased"]) -> None:
        """Acknowledge messages: they are done and never delivered again (``POST .../ack``, idempotent)."""
        body = {"messages": _positions(messages)}
        if body["messages"]:
            self.transport.request("POST", path_of("v1", "topics", topic, "groups", group, "ack"), body=body)

    def group_nack(
        self, topic: str, group: str, messages: Iterable["Leased"], *, delay_ms: Optional[int] = None
    ) -> None:
        """Give messages back to the group now, or after ``delay_ms`` (``POST .../nack``)."""
        body: Dict[str, Any] = {"messages": _positions(messages)}
        if delay_ms is not None:
            body["delay_ms"] = int(delay_ms)
        if body["messages"]:
            self.transport.request("POST", path_of("v1", "topics", topic, "groups", group, "nack"), body=body)

    def group(self, topic: str, group: str) -> GroupInfo:
        """A group's counts: pending, in flight, acknowledged floor, redelivered, dead-lettered, lag."""
        doc = self.transport.request("GET", path_of("v1", "topics", topic, "groups", group)).json()
        return GroupInfo.from_json(doc or {}, topic, group)

    def groups(self, topic: str) -> List[GroupInfo]:
        """Every consumer group of a topic (``GET /v1/topics/{topic}/groups``)."""
        doc = self.transport.request("GET", path_of("v1", "topics", topic, "groups")).json()
        items = doc.get("groups", []) if isinstance(doc, dict) else doc or []
        return [
            GroupInfo.from_json(g, topic, g.get("group", g.get("name", "")))
            if isinstance(g, dict)
            else GroupInfo(topic=topic, group=str(g))
            for g in items
        ]

    def delete_group(self, topic: str, group: str) -> None:
        """Remove a group and its leases (``DELETE /v1/topics/{topic}/groups/{group}``)."""
        self.transport.request("DELETE", path_of("v1", "topics", topic, "groups", group))

    # -- cluster ---------------------------------------------------------------------------------------

    def cluster(self, *, local: bool = False) -> ClusterStatus:
        """Members, roles, leader, term and commit index (``GET /v1/cluster``)."""
        query = {"local": "true"} if local else None
        return ClusterStatus.from_json(self.transport.request("GET", "/v1/cluster", query=query).json())

    def discover(self) -> List[str]:
        """Add every member's API address to the nodes this client fails over to; returns the full list."""
        status = self.cluster()
        # Members list host:port; they speak what the node that answered speaks (https on a TLS cluster).
        scheme = self.transport.current.split("://", 1)[0]
        self.transport.add_servers(
            m.api_addr if "://" in m.api_addr else f"{scheme}://{m.api_addr}" for m in status.members if m.api_addr
        )
        return self.servers

    def health(self, timeout: float = 2.0) -> Dict[str, Dict[str, Any]]:
        """``/livez`` and ``/readyz`` of every known node, without failover: ``{url: {"live", "ready"}}``."""
        out: Dict[str, Dict[str, Any]] = {}
        for url in self.servers:
            server = Server.parse(url)
            ctx = self.transport.ssl_context  # the client's CA and certificate, as every other call
            out[url] = {
                "live": _probe(server, "/livez", timeout, ctx),
                "ready": _probe(server, "/readyz", timeout, ctx),
            }
        return out

    # -- the seed's API --------------------------------------------------------------------------------

    def put(self, topic: str, value: str) -> PublishResult:
        """Seed publish: ``PUT /`` with ``{"Key": topic, "Value": value}``.

        Not idempotent: it is retried only when the node refused it (connection refused, 503).
        """
        doc = to_record(value).to_json()
        if "value" not in doc:
            raise TypeError("the seed API takes text only: publish bytes that are not UTF-8 with publish()")
        body = {"Key": topic, "Value": doc["value"]}
        doc = self.transport.request("PUT", "/", body=body, idempotent=False).json()
        offset = int(doc["offset"])
        return PublishResult(topic=doc.get("topic", topic), base_offset=offset, offsets=[offset])

    def latest(self, topic: str, *, limit: Optional[int] = None, consumer: Optional[str] = None) -> List[str]:
        """Seed read ``GET /<topic>``: the newest values, or with ``consumer`` the ones after its position.

        With ``consumer`` the read moves the position, so it is not retried after a lost answer.
        """
        doc = self.transport.request(
            "GET", path_of(topic), query={"limit": limit, "consumer": consumer}, idempotent=consumer is None
        ).json()
        return list(doc or [])

    def history(self, topic: str) -> List[str]:
        """Seed read ``GET /history/<topic>``: every retained value, oldest first."""
        return list(self.transport.request("GET", path_of("history", topic)).json() or [])


Leased = Union[Message, Tuple[int, int], int]
"""A message to acknowledge: the :class:`Message` a fetch returned, a ``(partition, offset)`` pair, or an
offset of partition 0."""


def _positions(messages: Iterable[Leased]) -> List[Dict[str, int]]:
    out: List[Dict[str, int]] = []
    for m in messages:
        if isinstance(m, Message):
            out.append({"partition": m.partition, "offset": m.offset})
        elif isinstance(m, tuple):
            out.append({"partition": int(m[0]), "offset": int(m[1])})
        else:
            out.append({"partition": 0, "offset": int(m)})
    return out


def _event_message(event: sse.Event, topic: str) -> Optional[Message]:
    if event.event not in ("message", "") or not event.data:
        return None
    try:
        doc = json.loads(event.data)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "offset" in doc:
        return Message.from_json(doc, topic)
    if event.id is None:
        return None
    # A bare value with the offset only in the event id.
    return Message(offset=int(event.id), value=event.data, topic=topic)


def _probe(server: Server, path: str, timeout: float, context: Optional[ssl.SSLContext] = None) -> Optional[bool]:
    """True on 200, False on another answer, None when the node cannot be reached."""
    try:
        conn = connect(server, timeout, context)
    except JumpnetError:
        return None
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except OSError:
        return None
    finally:
        conn.close()
