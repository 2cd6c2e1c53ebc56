"""Python client for Jumpnet, a Raft-replicated message broker.

# Layout
- ``client.Client``: every HTTP call of the API (v1, the seed's ``PUT /`` reads, cluster status, health).
- ``producer.Producer``: publish one message or a batch, exactly-once across retries (producer id + sequence).
- ``consumer.Consumer``: read from an offset, long-poll, follow over SSE, named consumer positions.
- ``group.GroupConsumer``: one worker of a consumer group (leases, acks, redelivery: work sharing).
- ``transport.Transport``: several node addresses, failover, 503 retries with backoff, timeouts, bearer token.
- ``errors``: one exception class per error status of the API.

    from jumpnet import Producer, Consumer
    Producer("127.0.0.1:9090,127.0.0.1:9091").send("greetings", "hello")
    for msg in Consumer("greetings", "127.0.0.1:9090").follow():
        print(msg.offset, msg.value)
"""

from .client import Client
from .consumer import Consumer
from .errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    JumpnetError,
    NotFound,
    OffsetOutOfRange,
    ServerError,
    Timeout,
    TLSError,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from .group import GroupConsumer
from .models import (
    ClusterStatus,
    ConsumerPosition,
    FetchResult,
    GroupInfo,
    Member,
    Message,
    PublishResult,
    Record,
    TopicInfo,
)
from .producer import JumpnetProducer, Producer
from .transport import Transport

__version__ = "0.1.0"

__all__ = [
    "BadRequest",
    "Client",
    "ClusterStatus",
    "Conflict",
    "ConnectionFailed",
    "Consumer",
    "ConsumerPosition",
    "FetchResult",
    "Forbidden",
    "GroupConsumer",
    "GroupInfo",
    "JumpnetError",
    "JumpnetProducer",
    "Member",
    "Message",
    "NotFound",
    "OffsetOutOfRange",
    "Producer",
    "PublishResult",
    "Record",
    "ServerError",
    "Timeout",
    "TLSError",
    "TooLarge",
    "TopicInfo",
    "Transport",
    "Unauthorized",
    "Unavailable",
]
