"""A 3-broker cluster of a JumpnetCluster with `auth.enabled`: the Secret the operator generates is
mounted as in its StatefulSet (token file + cluster secret), the cluster is formed with the operator's
admin token, and clients need the client token (SPEC section 5)."""

from __future__ import annotations

import uuid

from jntest.cluster import error_code, voters
from jntest.wait import wait_until

N = 3


def test_cluster_forms_with_the_operator_token_and_peers_use_the_cluster_secret(auth_cluster):
    c, _ = auth_cluster
    view = c.node(0).cluster()
    assert voters(view) == set(range(N)), view
    for i in range(N):
        # probes stay open: the kubelet has no token
        wait_until(lambda i=i: c.anonymous(i).readyz(), timeout=60, what=f"node {i} ready")


def test_clients_need_a_token_and_each_token_only_its_roles(auth_cluster):
    c, tokens = auth_cluster
    t = f"auth-{uuid.uuid4().hex[:8]}"
    anonymous = c.anonymous(1)
    r = anonymous.publish(t, ["nope"])
    assert r.status_code == 401 and error_code(r), f"{r.status_code} {r.text}"
    for path in ("/livez", "/readyz", "/metrics"):
        assert anonymous.request("GET", path).status_code == 200, path

    client = c.node(1, token=tokens["client-token"])
    client.publish_ok(t, ["hello"])
    page = c.node(2, token=tokens["client-token"]).read(t, strong=True)
    assert [m["value"] for m in page["messages"]] == ["hello"]
    assert page["messages"][0]["publisher"] == "client", "messages must record the token's publisher id"

    r = client.request("POST", "/v1/cluster/members", json={"id": 7, "raft_addr": "x:8080", "api_addr": "x:9090"})
    assert r.status_code == 403 and error_code(r), f"a client token may not change membership: {r.status_code}"
    wrong = c.node(1, token="not-a-token")
    assert wrong.publish(t, ["nope"]).status_code == 401
