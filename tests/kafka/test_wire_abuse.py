"""Malformed and truncated frames, absurd sizes and unknown API keys close that connection and
never take the server down: after each, a real client still gets metadata."""

from __future__ import annotations

import socket
import struct

import pytest

from confluent_kafka.admin import AdminClient



def frame(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


# (name, bytes sent)
CASES = [
    ("absurd size", struct.pack(">i", 0x7FFFFFFF) + b"tiny"),
    ("negative size", struct.pack(">i", -7)),
    ("unknown api key", struct.pack(">ihhih", 10, 999, 0, 1, -1)),
    ("truncated frame", struct.pack(">i", 100) + struct.pack(">hhi", 3, 1, 1)),
    ("garbage header", struct.pack(">i", 9) + b"\x00\x03\x00\x01\x00\x00\x00\x01\x00"),
    ("metadata with a huge topic count", frame(struct.pack(">hhihi", 3, 1, 1, -1, 0x7FFFFFFF))),
    ("produce with a huge partition count",
     frame(struct.pack(">hhihhhii", 0, 3, 1, -1, -1, 1, 1000, 1) + struct.pack(">h", 1) + b"t" + struct.pack(">i", 0x7FFFFFFF))),
    ("random bytes", struct.pack(">i", 64) + bytes(range(64))),
]


def closed(sock: socket.socket) -> bool:
    sock.settimeout(30)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("name,payload", CASES, ids=[c[0] for c in CASES])
def test_bad_input_closes_only_that_connection(kafka, name, payload):
    host, port = kafka.bootstrap.split(",")[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(payload)
        if name == "truncated frame":
            s.shutdown(socket.SHUT_WR)
        assert closed(s), f"{name}: the connection stayed open"
    assert kafka.alive(), "a server process died"
    md = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=30)
    assert md.brokers, "the server no longer answers"
