"""Bearer tokens against a node started with --auth-file: 401/403 as typed errors, publisher recorded."""

from __future__ import annotations

import pytest

import jumpnet

from cluster import LocalCluster, http_get

TOKENS = """\
admin-token ops admin,publish,consume
pub-token shop-1 publish
con-token reader consume
"""


@pytest.fixture(scope="module")
def auth_node(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth-cluster")
    (root / "tokens").write_text(TOKENS)
    # Tokens need a cluster secret (the node refuses to start without one).
    extra = ["--auth-file", str(root / "tokens"), "--cluster-secret", "example-secret"]
    c = LocalCluster(root, size=1, extra_args=extra, token="admin-token")
    try:
        c.start()
        yield c.nodes[0]
    finally:
        c.stop()


def _client(node, token=None):
    return jumpnet.Client(node.url, token=token, retry_timeout=5)


def test_no_token_or_an_unknown_one_is_unauthorized(auth_node, topic):
    for token in (None, "not-a-token"):
        with pytest.raises(jumpnet.Unauthorized) as info:
            _client(auth_node, token).publish(topic, ["x"])
        assert info.value.status == 401 and info.value.code


def test_token_without_the_role_is_forbidden(auth_node, topic):
    _client(auth_node, "pub-token").publish(topic, ["x"])
    with pytest.raises(jumpnet.Forbidden) as info:
        _client(auth_node, "pub-token").fetch(topic, 0)
    assert info.value.status == 403 and info.value.code
    with pytest.raises(jumpnet.Forbidden):
        _client(auth_node, "con-token").publish(topic, ["y"])
    with pytest.raises(jumpnet.Forbidden):
        _client(auth_node, "con-token").transport.request("POST", "/v1/cluster/transfer-leader", body={"to": 1})


def test_publisher_of_the_token_is_recorded_on_each_message(auth_node, topic):
    producer = jumpnet.Producer(auth_node.url, token="pub-token")
    offset = producer.send(topic, "signed").offset
    msgs = jumpnet.Consumer(topic, auth_node.url, token="con-token", offset=offset).read_all()
    assert [(m.value, m.publisher) for m in msgs] == [("signed", "shop-1")]


def test_health_and_metrics_need_no_token(auth_node):
    for path in ("/livez", "/readyz", "/metrics"):
        status, _ = http_get(auth_node.api_port, path)
        assert status == 200, path
