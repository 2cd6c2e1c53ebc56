"""TLS (SPEC §10): the client trusts a private CA with ``cacert=`` / ``$JUMPNET_CACERT``, and a certificate
it cannot verify fails at once with :class:`jumpnet.TLSError`.

The node comes from ``jumpnet dev --tls --nodes 1``: a throwaway CA and a TLS node in one command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

import jumpnet
from cluster import broker_binary, free_ports


@pytest.fixture
def tls_node(tmp_path):
    raft, api = free_ports(2)
    proc = subprocess.Popen(
        [str(broker_binary()), "dev", "--tls", "--nodes", "1", "--dir", str(tmp_path / "dev"),
         "--raft-port", str(raft), "--api-port", str(api)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        welcome = ""
        for line in proc.stdout:  # the welcome ends with the Ctrl-C line once the node is ready
            welcome += line
            if "Ctrl-C" in line:
                break
        ca = tmp_path / "dev" / "tls" / "ca.pem"
        assert ca.exists() and f"--cacert {ca}" in welcome, welcome
        yield f"https://localhost:{api}", str(ca)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
