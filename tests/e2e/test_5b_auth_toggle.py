"""Scenario 5b: `spec.auth.enabled` turned on for a running cluster, then off again.

Brokers started with different cluster secrets refuse each other's Raft traffic, so a one-by-one roll
would stall with the first restarted pod. The operator restarts one canary pod first (proof that the new
template starts; the other two keep the quorum meanwhile), then every other pod together (a short outage;
the data stays on the volumes and the same Raft cluster comes back, never bootstrapped again).
With auth on, every call needs a token from Secret `NAME-auth` and messages record their publisher; with
it off again, the open API is back and nothing was lost."""

from __future__ import annotations

import base64
import json
import time

from jntest.http import Node
from jntest.report import report
from jntest.wait import wait_until

from conftest import topic
from e2elib.kube import core

STEPS = ("RestartAllPods", "RestartPod", "Bootstrap", "AddLearner", "RemoveMember", "PromoteLearner")


def set_auth(kube, cluster, enabled: bool) -> float:
    """Patch spec.auth.enabled and wait until every pod was replaced and the cluster is Ready again."""
    before = {i: p["metadata"]["uid"] for i, p in cluster.pods().items()}
    mark = cluster.events_mark()
    t0 = time.monotonic()
    kube.kubectl("-n", cluster.ns, "patch", "jn", cluster.name, "--type=merge",
                 "-p", json.dumps({"spec": {"auth": {"enabled": enabled}}}))

    def restarted():
        pods = cluster.pods()
        replaced = len(pods) == 3 and all(p["metadata"]["uid"] != before[i] for i, p in pods.items())
        return replaced and cluster.converged(3)

    wait_until(restarted, timeout=240, interval=0.5, what=f"auth {'on' if enabled else 'off'}: every pod "
               "restarted and the cluster Ready", describe=cluster.describe)
    took = time.monotonic() - t0
    steps = [(e.reason, e.note) for e in cluster.step_events(mark) if e.reason in STEPS]
    assert [r for r, _ in steps] == ["RestartPod", "RestartAllPods"], \
        f"a canary, then one restart of all the others, nothing else: {steps}"
    assert cluster.status()["clusterId"], cluster.describe()
    return took


def secret_value(kube, cluster, key: str) -> str:
    secret = kube.get(core(cluster.ns, "secrets", f"{cluster.name}-auth"))
    assert secret is not None, f"Secret {cluster.name}-auth missing with auth on"
    return base64.b64decode(secret["data"][key]).decode()


def test_turning_auth_on_and_off_restarts_all_pods_together_and_keeps_the_data(kube, cluster, ledger):
    cluster.wait_converged(3)
    cluster_id = cluster.status()["clusterId"]
    t = topic("auth")
    _, open_node = cluster.via_service()
    open_node.publish_ok(t, ["before-auth"])
    ledger[t] = ["before-auth"]

    took = set_auth(kube, cluster, True)
    report("auth turned on: kubectl patch -> all pods restarted together -> Ready", f"{took:.1f}s")
    assert cluster.status()["clusterId"] == cluster_id, "the same Raft cluster came back"
    client_token = secret_value(kube, cluster, "client-token")

    _, anon = cluster.via_service()
    r = anon.publish(t, ["anonymous"])
    assert r.status_code == 401, f"publish without a token: {r.status_code} {r.text}"
    assert r.json()["error"]["code"], r.text
    r = anon.request("GET", f"/v1/topics/{t}/messages")
    assert r.status_code == 401, f"read without a token: {r.status_code} {r.text}"

    authed = Node(anon.base_url, token=client_token)
    authed.publish_ok(t, ["with-token"])
    ledger[t].append("with-token")
    for i in range(3):
        pod = Node(cluster.node(i).base_url, token=client_token)
        wait_until(lambda pod=pod: pod.read_all_values(t) == ledger[t], timeout=60, interval=0.3,
                   what=f"{cluster.pod_name(i)} serves {ledger[t]} to a token holder")
    last = authed.read(t)["messages"][-1]
    assert (last["value"], last["publisher"]) == ("with-token", "client"), last

    took = set_auth(kube, cluster, False)
    report("auth turned off: kubectl patch -> all pods restarted together -> Ready", f"{took:.1f}s")
    assert cluster.status()["clusterId"] == cluster_id
    assert secret_value(kube, cluster, "client-token") == client_token, \
        "the auth Secret is kept while auth is off, so its tokens work again when it is turned back on"
    _, open_node = cluster.via_service()
    open_node.publish_ok(t, ["after-auth"])
    ledger[t].append("after-auth")
    cluster.assert_data(ledger, ordinals=range(3))
