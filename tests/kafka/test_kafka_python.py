"""kafka-python (a pure-Python implementation): every codec, a consumer group committing offsets,
offsets by time, admin calls, SASL/PLAIN."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from conftest import PATIENCE, TOKEN, wait_until

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


def consume(bootstrap: str, topic: str, count: int, group: str | None = None, **conf) -> list:
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=int(PATIENCE * 1000), **conf)
    got = []
    for m in c:
        got.append(m)
        if len(got) == count:
            break
    if group:
        c.commit()
    c.close()
    assert len(got) == count, f"consumed {len(got)} of {count}"
    return got


@pytest.mark.parametrize("codec", CODECS, ids=[str(c) for c in CODECS])
def test_produce_consume_in_every_codec(kafka, topic_name, codec):
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])
    p = KafkaProducer(bootstrap_servers=kafka.bootstrap, compression_type=codec, linger_ms=5)
    for i in range(100):
        p.send(topic_name, key=f"k{i}".encode(), value=f"value-{i}".encode() * 10, headers=[("h", b"kp")])
    p.flush(timeout=PATIENCE)
    p.close()
    got = consume(kafka.bootstrap, topic_name, 100)
    assert [(m.offset, m.key, m.value) for m in got] == [(i, f"k{i}".encode(), f"value-{i}".encode() * 10) for i in range(100)]
    assert all(m.headers == [("h", b"kp")] for m in got)
    admin.close()


def test_group_commits_survive_a_new_consumer(kafka, topic_name):
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1)])
    p = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    for i in range(90):
        p.send(topic_name, value=f"m{i}".encode(), partition=i % 3)
    p.flush(timeout=PATIENCE)
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = consume(kafka.bootstrap, topic_name, 60, group=group)
    # A new member of the group resumes after the committed offsets: together they see all 90 once.
    rest = consume(kafka.bootstrap, topic_name, 30, group=group)
    assert sorted(m.value for m in first + rest) == sorted(f"m{i}".encode() for i in range(90))
    offsets = admin.list_group_offsets({group: None})[group]
    assert {tp.partition: o.offset for tp, o in offsets.items()} == {0: 30, 1: 30, 2: 30}
    listed = str(admin.list_groups())
    assert group in listed, listed
    admin.close()
    p.close()


def test_offsets_for_times_and_end_offsets(kafka, topic_name):
    p = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for i, ts in enumerate([10_000, 20_000, 30_000]):
        p.send(topic_name, value=b"x", timestamp_ms=ts, partition=0).get(timeout=PATIENCE)
    c = KafkaConsumer(bootstrap_servers=kafka.bootstrap)
    tp = TopicPartition(topic_name, 0)
    found = c.offsets_for_times({tp: 25_000})
    assert found[tp].offset == 2 and found[tp].timestamp == 30_000
    assert c.end_offsets([tp]) == {tp: 3}
    assert c.beginning_offsets([tp]) == {tp: 0}
    c.close()
    p.close()


def test_admin_calls(kafka, topic_name):
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1, topic_configs={"retention.bytes": "1048576"})])
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])
    admin.create_partitions({topic_name: NewPartitions(total_count=3)})
    [desc] = admin.describe_topics([topic_name])
    assert len(desc["partitions"]) == 3
    configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name)])
    text = str(configs)
    assert "retention.bytes" in text and "1048576" in text
    admin.delete_topics([topic_name])
    wait_until(lambda: topic_name not in admin.list_topics(), timeout=PATIENCE, what="topic deleted")
    admin.close()


def test_sasl_plain(kafka_auth, topic_name):
    conf = dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_plain_username="app")
    p = KafkaProducer(bootstrap_servers=kafka_auth.bootstrap, sasl_plain_password=TOKEN, **conf)
    p.send(topic_name, b"hello").get(timeout=PATIENCE)
    p.close()
    got = consume(kafka_auth.bootstrap, topic_name, 1, sasl_plain_password=TOKEN, **conf)
    assert got[0].value == b"hello"
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=kafka_auth.bootstrap, sasl_plain_password="wrong", **conf)
