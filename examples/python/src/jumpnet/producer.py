"""Producer: publish with exactly-once retries.

Each producer has an id (a random UUID unless given) and numbers its batches 0, 1, 2, ... The cluster
remembers the answer to the latest ``(producer_id, sequence)``, so when an answer is lost — the node died
after the quorum stored the batch, a timeout, a 504 — the producer sends the same batch with the same
sequence to another node and gets the first answer back instead of a second copy.
"""

from __future__ import annotations

import threading
import uuid
from typing import Dict, Iterable, Optional

from .client import Client
from .errors import JumpnetError
from .models import PublishResult, RecordLike
from .transport import Servers


class Producer:
    """Publishes to any topic of a cluster.

    >>> p = Producer(["127.0.0.1:9090", "127.0.0.1:9091", "127.0.0.1:9092"])
    >>> p.send("orders", "order #1", key="customer-7").offset
    0

    ``producer_id``/``start_sequence``: give both to continue a sequence after a restart (sequences must
    keep increasing for an id). ``producer_epoch``: a restarted producer that kept only its id (and its
    last epoch) passes that epoch + 1 and starts at sequence 0; the cluster then refuses the older epochs
    (409 ``producer_fenced``, :class:`Conflict`), so a previous instance still running cannot publish. The producer is thread-safe. The cluster rejects a sequence older than the
    newest it stored for a producer and topic (409 ``sequence_too_old``), so one producer has one request
    in flight per topic: threads publishing to the same topic take turns. For parallel publishing to one
    topic, give each thread its own producer.
    """

    def __init__(
        self,
        servers: Optional[Servers] = None,
        *,
        token: Optional[str] = None,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        producer_id: Optional[str] = None,
        start_sequence: int = 0,
        producer_epoch: int = 0,
        client: Optional[Client] = None,
    ) -> None:
        self.client = client or Client(servers, token=token, timeout=timeout, retry_timeout=retry_timeout)
        self.producer_id = producer_id or uuid.uuid4().hex
        self.producer_epoch = producer_epoch
        self._next_sequence = start_sequence
        self._lock = threading.Lock()
        self._topic_locks: Dict[str, threading.Lock] = {}

    @property
    def next_sequence(self) -> int:
        return self._next_sequence

    def send(
        self,
        topic: str,
        value: RecordLike,
        *,
        key: Optional[str] = None,
        headers: Optional[dict] = None,
        partition: Optional[int] = None,
    ) -> PublishResult:
        """Publish one message; ``result.partition`` and ``result.offset`` are where it landed (``key`` picks
        the partition unless ``partition`` names one)."""
        if key is not None or headers:
            value = {"value": value, "key": key, "headers": headers}
        return self.send_batch(topic, [value], partition=partition)

    def send_batch(
        self,
        topic: str,
        messages: Iterable[RecordLike],
        *,
        sequence: Optional[int] = None,
        partition: Optional[int] = None,
    ) -> PublishResult:
        """Publish messages atomically, in order, with exactly-once retries.

        If it still fails after its retries, the exception carries ``producer_id`` and ``sequence``: calling
        ``send_batch(topic, same_messages, sequence=err.sequence)`` later cannot store the batch twice (the
        cluster answers with the first result if it had stored it). Do that before sending anything newer
        to the topic: a sequence older than the newest stored one is refused with :class:`Conflict`.
        """
        batch = list(messages)
        with self._lock:
            topic_lock = self._topic_locks.setdefault(topic, threading.Lock())
        # Allocate and send under the topic's lock: sequences reach the cluster in order.
        with topic_lock:
            if sequence is None:
                with self._lock:
                    sequence = self._next_sequence
                    self._next_sequence += 1
            try:
                return self.client.publish(
                    topic,
                    batch,
                    producer_id=self.producer_id,
                    sequence=sequence,
                    producer_epoch=self.producer_epoch or None,
                    partition=partition,
                )
            except JumpnetError as err:
                err.producer_id = self.producer_id  # type: ignore[attr-defined]
                err.sequence = sequence  # type: ignore[attr-defined]
                raise

    def put(self, topic: str, value: str) -> PublishResult:
        """Publish through the seed's ``PUT /`` (no exactly-once: retried only when refused)."""
        return self.client.put(topic, value)


class JumpnetProducer:
    """The seed's "gates" producer, kept for its users: ``JumpnetProducer(topic, url).send_message(msg)``."""

    def __init__(self, topic_name: str, server_URL: str, *, token: Optional[str] = None) -> None:  # noqa: N803
        self.topic_name = topic_name
        self.server_URL = server_URL
        self._client = Client(server_URL, token=token)

    def send_message(self, message) -> int:
        """Publish ``str(message)`` via ``PUT /publish``; returns the HTTP status, as the seed did."""
        self._client.transport.request(
            "PUT", "/publish", body={"Key": self.topic_name, "Value": str(message)}, idempotent=False
        )
        return 200
