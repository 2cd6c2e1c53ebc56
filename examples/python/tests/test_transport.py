"""Client-side rules that a healthy cluster never exercises: scripted fake nodes on loopback.

Which failures are retried, on which node, and which are not (a lost answer to a call that is not
idempotent must surface, not be repeated).
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import jumpnet
from jumpnet import sse
from jumpnet.errors import error_from_response

from cluster import free_ports


class FakeNode:
    """An HTTP server answering from a script: each entry is (status, body, headers) or "drop"/"hang"."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                node.requests.append((self.command, self.path, dict(self.headers), body))
                step = node.script.pop(0) if len(node.script) > 1 else node.script[0]
                if step == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if step == "hang":
                    time.sleep(3)
                    return
                status, doc, headers = step
                data = json.dumps(doc).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    nodes = []

    def make(*script):
        n = FakeNode(script)
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.close()


OK_PUBLISH = (200, {"topic": "t", "base_offset": 5, "offsets": [5]}, {})
NO_LEADER = (503, {"error": {"code": "no_leader", "message": "no leader known"}}, {"Retry-After": "0"})


def test_503_is_retried_until_the_node_has_a_leader(fake):
    node = fake(NO_LEADER, NO_LEADER, OK_PUBLISH)
    result = jumpnet.Client(node.url, retry_timeout=5).publish("t", ["v"])
    assert result.offset == 5
    assert len(node.requests) == 3


def test_503_everywhere_surfaces_as_unavailable_after_the_retry_budget(fake):
    node = fake(NO_LEADER)
    started = time.monotonic()
    with pytest.raises(jumpnet.Unavailable) as info:
        jumpnet.Client(node.url, retry_timeout=0.5).publish("t", ["v"])
    assert info.value.code == "no_leader" and info.value.status == 503
    assert time.monotonic() - started < 3


def test_refused_connection_moves_to_the_next_node(fake):
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    node = fake(OK_PUBLISH)
    client = jumpnet.Client([dead, node.url], retry_timeout=5)
    assert client.publish("t", ["v"]).offset == 5
    assert client.transport.current == node.url


def test_no_reachable_node_is_connection_failed(fake):
    dead = [f"http://127.0.0.1:{p}" for p in free_ports(2)]
    with pytest.raises(jumpnet.ConnectionFailed):
        jumpnet.Client(dead, retry_timeout=0.3).fetch("t", 0)


def test_lost_answer_to_exactly_once_publish_is_resent_elsewhere_with_same_ids(fake):
    flaky, good = fake("drop"), fake(OK_PUBLISH)
    producer = jumpnet.Producer([flaky.url, good.url], retry_timeout=5)
    assert producer.send("t", "v").offset == 5
    (_, _, _, first), (_, _, _, second) = flaky.requests[0], good.requests[0]
    assert json.loads(first) == json.loads(second)
    assert json.loads(first)["sequence"] == 0 and json.loads(first)["producer_id"] == producer.producer_id


def test_lost_answer_to_seed_put_is_not_repeated(fake):
    flaky, good = fake("drop"), fake(OK_PUBLISH)
    with pytest.raises(jumpnet.Timeout):
        jumpnet.Client([flaky.url, good.url], retry_timeout=5).put("t", "v")
    assert len(flaky.requests) == 1 and good.requests == []


def test_silent_node_times_out(fake):
    node = fake("hang")
    started = time.monotonic()
    with pytest.raises(jumpnet.Timeout):
        jumpnet.Client(node.url, timeout=0.3, retry_timeout=0.5).fetch("t", 0)
    assert time.monotonic() - started < 2.5


def test_client_errors_are_not_retried(fake):
    node = fake((404, {"error": {"code": "topic_not_found", "message": "no topic t"}}, {}))
    with pytest.raises(jumpnet.NotFound):
        jumpnet.Client(node.url).fetch("t", 0)
    assert len(node.requests) == 1


def test_bearer_token_is_sent(fake):
    node = fake(OK_PUBLISH)
    jumpnet.Client(node.url, token="s3cret").publish("t", ["v"])
    assert node.requests[0][2]["Authorization"] == "Bearer s3cret"


def test_topic_names_are_percent_encoded(fake):
    node = fake((200, {"messages": [], "next_offset": 0, "high_watermark": 0, "log_start_offset": 0}, {}))
    jumpnet.Client(node.url).fetch("a/b c", 0)
    assert node.requests[0][1].startswith("/v1/topics/a%2Fb%20c/messages?")


@pytest.mark.parametrize(
    "status,cls",
    [
        (400, jumpnet.BadRequest),
        (401, jumpnet.Unauthorized),
        (403, jumpnet.Forbidden),
        (404, jumpnet.NotFound),
        (409, jumpnet.Conflict),
        (413, jumpnet.TooLarge),
        (416, jumpnet.OffsetOutOfRange),
        (500, jumpnet.ServerError),
        (503, jumpnet.Unavailable),
        (504, jumpnet.Timeout),
    ],
)
def test_status_maps_to_error_class(status, cls):
    err = error_from_response(status, b'{"error": {"code": "some_code", "message": "Some sentence."}}')
    assert type(err) is cls
    assert (err.status, err.code, err.message) == (status, "some_code", "Some sentence.")


def test_sse_parser_handles_comments_multiline_data_and_ids():
    raw = b': keep-alive\n\nid: 4\ndata: {"a":\ndata: 1}\n\nevent: other\ndata: x\n\nid: 5\r\ndata: y\r\n\r\n'
    got = list(sse.events(io.BytesIO(raw)))
    assert [(e.id, e.event, e.data) for e in got] == [
        ("4", "message", '{"a":\n1}'),
        ("4", "other", "x"),
        ("5", "message", "y"),
    ]


def test_server_addresses_accept_seed_forms():
    t = jumpnet.Transport(":9091,127.0.0.1:9092,http://localhost:9090/")
    assert t.servers == ["http://127.0.0.1:9091", "http://127.0.0.1:9092", "http://localhost:9090"]


def test_backoff_is_exponential_with_full_jitter_and_a_cap():
    import random

    from jumpnet.transport import backoff_pause

    rng = random.Random(7)
    first, cap = 0.05, 2.0
    for attempt in range(0, 80):
        ceiling = min(cap, first * 2**attempt)
        pauses = [backoff_pause(attempt, first, cap, rng) for _ in range(300)]
        assert all(0.0 <= p <= ceiling <= cap for p in pauses), attempt
        # Full jitter: spread over the whole range, not bunched near the ceiling (no lockstep).
        assert min(pauses) < ceiling / 4 and max(pauses) > ceiling * 3 / 4, attempt
    assert min(cap, first * 2**6) == cap  # the cap is reached after a few rounds
