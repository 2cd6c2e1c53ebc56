"""TLS (SPEC §10): the client trusts a private CA with ``cacert=`` / ``$JUMPNET_CACERT``, and a certificate
it cannot verify fails at once with :class:`jumpnet.TLSError`. A node that requires client certificates
(``--tls-client-ca``) serves a client with ``cert=`` / ``$JUMPNET_CERT`` and refuses one without, at once.

The node comes from ``jumpnet dev --tls --nodes 1`` (``--mtls`` for client certificates): a throwaway CA and a
TLS node in one command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

import jumpnet
from cluster import broker_binary, free_ports


def _dev_node(tmp_path, flag):
    """``jumpnet dev FLAG --nodes 1``: yields (its https URL, the dev dir's tls/ path, the welcome text)."""
    raft, api = free_ports(2)
    proc = subprocess.Popen(
        [str(broker_binary()), "dev", flag, "--nodes", "1", "--dir", str(tmp_path / "dev"),
         "--raft-port", str(raft), "--api-port", str(api), "--kafka-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        welcome = ""
        for line in proc.stdout:  # the welcome ends with the Ctrl-C line once the node is ready
            welcome += line
            if "Ctrl-C" in line:
                break
        tls = tmp_path / "dev" / "tls"
        assert (tls / "ca.pem").exists() and f"--cacert {tls / 'ca.pem'}" in welcome, welcome
        yield f"https://localhost:{api}", tls, welcome
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def tls_node(tmp_path):
    for url, tls, _ in _dev_node(tmp_path, "--tls"):
        yield url, str(tls / "ca.pem")


@pytest.fixture
def mtls_node(tmp_path):
    """A node requiring client certificates: (URL, CA, client certificate, its key)."""
    for url, tls, welcome in _dev_node(tmp_path, "--mtls"):
        cert, key = tls / "client.pem", tls / "client-key.pem"
        assert f"--cert {cert} --cert-key {key}" in welcome, welcome
        yield url, str(tls / "ca.pem"), str(cert), str(key)


def test_client_with_the_ca_publishes_and_reads_over_https(tls_node, monkeypatch):
    url, ca = tls_node
    client = jumpnet.Client([url], cacert=ca, timeout=5, retry_timeout=20)
    sent = client.publish("tls-topic", ["hello"])
    assert sent.base_offset == 0
    assert [m.value for m in client.fetch("tls-topic", 0).messages] == ["hello"]
    # The same through the environment, as the CLI reads it.
    monkeypatch.setenv("JUMPNET_CACERT", ca)
    again = jumpnet.Client([url], timeout=5, retry_timeout=20)
    assert [m.value for m in again.fetch("tls-topic", 0).messages] == ["hello"]
    # Discovered members keep the scheme: https.
    assert all(u.startswith("https://") for u in again.discover())


def test_client_without_the_ca_fails_at_once_with_a_certificate_error(tls_node, monkeypatch):
    url, _ = tls_node
    monkeypatch.delenv("JUMPNET_CACERT", raising=False)
    client = jumpnet.Client([url], timeout=5, retry_timeout=20)
    started = time.monotonic()
    with pytest.raises(jumpnet.TLSError) as err:
        client.topics()
    assert "certificate" in str(err.value) and "cacert" in str(err.value)
    assert time.monotonic() - started < 5, "not retried for retry_timeout"


def test_client_with_a_client_certificate_publishes_and_reads_from_a_node_requiring_one(
    mtls_node, monkeypatch, tmp_path
):
    url, ca, cert, key = mtls_node
    monkeypatch.delenv("JUMPNET_CERT", raising=False)
    monkeypatch.delenv("JUMPNET_CERT_KEY", raising=False)
    client = jumpnet.Client([url], cacert=ca, cert=(cert, key), timeout=5, retry_timeout=20)
    assert client.publish("mtls-topic", ["hello"]).base_offset == 0
    assert [m.value for m in client.fetch("mtls-topic", 0).messages] == ["hello"]
    assert client.health()[url] == {"live": True, "ready": True}
    # One PEM file holding both, as requests takes it.
    both = tmp_path / "both.pem"
    both.write_text(open(cert).read() + open(key).read())
    single = jumpnet.Client([url], cacert=ca, cert=str(both), timeout=5, retry_timeout=20)
    assert single.publish("mtls-topic", ["again"]).base_offset == 1
    # The environment, as the CLI reads it; the SSE stream too.
    monkeypatch.setenv("JUMPNET_CERT", cert)
    monkeypatch.setenv("JUMPNET_CERT_KEY", key)
    from_env = jumpnet.Client([url], cacert=ca, timeout=5, retry_timeout=20)
    streamed = []
    for m in from_env.stream("mtls-topic", offset=0, duration=10):
        streamed.append(m.value)
        if len(streamed) == 2:
            break
    assert streamed == ["hello", "again"]


def test_client_without_a_client_certificate_fails_at_once(mtls_node, monkeypatch, tmp_path):
    url, ca, cert, _ = mtls_node
    monkeypatch.delenv("JUMPNET_CERT", raising=False)
    monkeypatch.delenv("JUMPNET_CERT_KEY", raising=False)
    client = jumpnet.Client([url], cacert=ca, timeout=5, retry_timeout=20)
    started = time.monotonic()
    with pytest.raises(jumpnet.TLSError) as err:
        client.topics()
    assert "client certificate" in str(err.value) and "cert=" in str(err.value), err.value
    assert time.monotonic() - started < 5, "not retried for retry_timeout"
    # A certificate without its key, or a key file that is not one: a clear error when the client is made.
    with pytest.raises(ValueError) as bad:
        jumpnet.Client([url], cacert=ca, cert=cert)
    assert "cert=" in str(bad.value) and cert in str(bad.value), bad.value
    monkeypatch.setenv("JUMPNET_CERT_KEY", cert)
    with pytest.raises(ValueError):
        jumpnet.Client([url], cacert=ca)
