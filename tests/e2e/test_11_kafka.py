"""Scenario 11: a JumpnetCluster `kafka` of its own with `spec.kafka.enabled` (SPEC §8, issue 15).

The operator opens port `kafka` (9093) on the pods, the client Service and the headless Service, and
starts every broker with `--kafka` and `--advertise-kafka` set to the pod's stable name
`NAME-N.NAME-headless.NS.svc:9093`. A Kafka client that bootstraps from any broker learns exactly those
names as the cluster's brokers. Then a real Kafka client (kafka-python) produces with `acks=all` and a
consumer group reads everything back, and the same messages are read over HTTP: one log.

The host cannot resolve the cluster's DNS names (only pods can), so the client here resolves the
advertised names to the pods' IPs through the API server, which is what cluster DNS does for a pod.
That needs the pod network routed to the host (`direct` access: the emulator); with `port-forward`
access (kind) the scenario stops after the checks of the objects, saying why."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid

import pytest
import yaml
from jntest.report import report
from jntest.wait import wait_until

from conftest import IMAGE, topic
from e2elib.cluster import Cluster
from e2elib.kube import core

NAME = "kafka"
PORT = 9093


def manifest(ns: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "jumpnet.io/v1alpha1", "kind": "JumpnetCluster",
        "metadata": {"name": NAME, "namespace": ns},
        "spec": {"replicas": 3, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                 "storage": {"size": "64Mi", "deleteClaimOnScaleDown": True},
                 "kafka": {"enabled": True, "port": PORT}},
    })


@pytest.fixture(scope="module")
def kafka_cluster(kube, access, operator, namespace):
    kube.kubectl("apply", "-f", "-", input=manifest(namespace))
    c = Cluster(kube, access, namespace, NAME)
    yield c
    kube.kubectl("-n", namespace, "delete", "jn", NAME, "--wait=true", "--timeout=120s", check=False, timeout=150)


@contextlib.contextmanager
def cluster_dns(names: dict[str, str]):
    """Resolve these host names to these IPs in this process (what cluster DNS does inside a pod)."""
    real = socket.getaddrinfo

    def lookup(host, *args, **kw):
        return real(names.get(host, host), *args, **kw)

    socket.getaddrinfo = lookup
    try:
        yield
    finally:
        socket.getaddrinfo = real


def kafka_port(ports: list[dict]) -> dict | None:
    return next((p for p in ports or [] if p.get("name") == "kafka"), None)


def test_kafka_clients_bootstrap_from_any_broker_and_reach_every_advertised_one(kube, access, kafka_cluster):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    c = kafka_cluster
    t0 = time.monotonic()
    c.wait_converged(3, timeout=240)
    report("kafka: kubectl apply -> 3 voters Ready", f"{time.monotonic() - t0:.1f}s")

    # The objects: the port on the container, both Services, the flags.
    container = c.statefulset()["spec"]["template"]["spec"]["containers"][0]
    p = kafka_port(container.get("ports"))
    assert p is not None and p["containerPort"] == PORT, container.get("ports")
    args = container["args"]
    assert f"--kafka=0.0.0.0:{PORT}" in args, args
    assert any(a.startswith("--advertise-kafka=") for a in args), args
    for svc in (NAME, f"{NAME}-headless"):
        s = kube.get(core(c.ns, "services", svc))
        p = kafka_port(s["spec"]["ports"])
        assert p is not None and p["port"] == PORT, f"Service {svc}: {s['spec']['ports']}"

    pods = c.pods()
    ips = {i: p["status"]["podIP"] for i, p in pods.items()}
    if access.resolve_mode(ips[0]) != "direct":
        pytest.skip("the Kafka clients need the pod network (direct access): brokers advertise their cluster "
                    "DNS names, which port-forward cannot stand in for; the objects were checked")

    advertised = {f"{c.pod_name(i)}.{NAME}-headless.{c.ns}.svc": ip for i, ip in ips.items()}
    with cluster_dns(advertised):
        # Metadata from each broker names all three, by their stable names, as Kafka brokers.
        for i, ip in ips.items():
            admin = KafkaAdminClient(bootstrap_servers=f"{ip}:{PORT}", request_timeout_ms=10000,
                                     client_id=f"e2e-meta-{i}")
            try:
                brokers = {(b["host"], b["port"]) for b in admin.describe_cluster()["brokers"]}
            finally:
                admin.close()
            assert brokers == {(h, PORT) for h in advertised}, f"metadata from {c.pod_name(i)}: {brokers}"

        # Produce through the cluster (acks=all: answered after the quorum commit), consume as a group.
        t = topic("kafka")
        values = [f"k{n}".encode() for n in range(200)]
        producer = KafkaProducer(bootstrap_servers=f"{ips[1]}:{PORT}", acks="all", retries=5,
                                 request_timeout_ms=15000)
        try:
            futures = [producer.send(t, v) for v in values]
            producer.flush(timeout=60)
            offsets = sorted(f.get(timeout=30).offset for f in futures)
        finally:
            producer.close()
        assert offsets == list(range(len(values))), offsets[:10]
        report("kafka: 200 messages produced with acks=all", "ok")

        group = f"e2e-{uuid.uuid4().hex[:6]}"
        consumer = KafkaConsumer(t, bootstrap_servers=f"{ips[2]}:{PORT}", group_id=group,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=1000)
        got: list[bytes] = []
        try:
            def drained():
                got.extend(m.value for m in consumer)
                return len(got) >= len(values)

            wait_until(drained, timeout=60, what="the group consumer reads the 200 messages")
            consumer.commit()
        finally:
            consumer.close()
        assert got == values

    # One log: the same messages over HTTP, in order; the cluster view names the same Kafka addresses.
    node = c.node(0)
    assert node.read_all_values(t, strong=True) == [v.decode() for v in values]
    members = node.cluster()["members"]
    assert {m.get("kafka_addr") for m in members} == {f"{h}:{PORT}" for h in advertised}, members
    report("kafka: Kafka group consumer and HTTP read the same log", "ok")
