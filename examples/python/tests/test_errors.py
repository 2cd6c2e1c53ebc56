"""Error answers of a real node come back as the typed exceptions, with the SPEC §3 code and message."""

from __future__ import annotations

import http.client
import re

import pytest

import jumpnet
from jumpnet.errors import error_from_response


def _assert_shape(err: jumpnet.JumpnetError, status: int):
    assert err.status == status
    assert err.code and re.fullmatch(r"[a-z][a-z0-9_]*", err.code), err.code
    assert err.message and not err.message.startswith("HTTP ")


def test_unknown_topic_is_not_found(client, topic):
    with pytest.raises(jumpnet.NotFound) as info:
        client.fetch(topic, 0)
    _assert_shape(info.value, 404)
    with pytest.raises(jumpnet.NotFound):
        client.topic(topic)


def test_offset_past_the_end_is_out_of_range(client, topic):
    end = client.publish(topic, ["one"]).offset + 1
    with pytest.raises(jumpnet.OffsetOutOfRange) as info:
        client.fetch(topic, end + 5)
    _assert_shape(info.value, 416)


def test_message_over_one_mib_is_too_large(client, topic):
    with pytest.raises(jumpnet.TooLarge) as info:
        client.publish(topic, ["x" * (1024 * 1024 + 1)])
    _assert_shape(info.value, 413)
    # Nothing was stored, and the topic still takes a normal message.
    assert client.history(topic) == []
    client.publish(topic, ["small"])
    assert client.history(topic) == ["small"]


def test_wrong_field_types_are_bad_request(client, topic):
    with pytest.raises(jumpnet.BadRequest) as info:
        client.transport.request("POST", f"/v1/topics/{topic}/messages", body={"messages": "not-a-list"})
    _assert_shape(info.value, 400)
    with pytest.raises(jumpnet.BadRequest):
        client.transport.request("PUT", "/", body={"Value": "no key"}, idempotent=False)
    with pytest.raises(jumpnet.BadRequest):
        client.transport.request("PUT", f"/v1/consumers/c/topics/{topic}", body={"offset": -1})


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/v1/topics/t/messages", b"{not json"),
        ("PUT", "/", b'{"Key": "t", "Value": '),
        ("PUT", "/v1/consumers/c/topics/t", b"[]"),
    ],
)
def test_malformed_json_is_bad_request_in_the_error_shape(cluster, method, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", cluster.nodes[1].api_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    err = error_from_response(resp.status, data)
    assert isinstance(err, jumpnet.BadRequest), (resp.status, data)
    _assert_shape(err, 400)
    # The node is fine afterwards.
    assert all(n.ready() for n in cluster.nodes)
