"""Scenario 2: a 3-replica JumpnetCluster reaches Ready (3 voters, one leader, clusterId, conditions), the
objects it owns are there, and a message published through the client Service is read from every pod."""

from __future__ import annotations

from jntest.cluster import voters

from conftest import topic
from e2elib.kube import condition, core, group


def test_three_replicas_become_ready_voters_with_one_leader(cluster):
    cr = cluster.converged(3)
    assert cr, f"not converged:\n{cluster.describe()}"
    s = cr["status"]
    assert s.get("clusterId"), "status.clusterId must be recorded once bootstrapped"
    assert sorted((m["id"], m["pod"], m["role"]) for m in s["members"]) == \
        [(i, cluster.pod_name(i), "voter") for i in range(3)]
    assert s["leader"] in [cluster.pod_name(i) for i in range(3)]
    assert s["observedGeneration"] == cr["metadata"]["generation"]
    for type_, want in (("Ready", "True"), ("Progressing", "False"), ("Degraded", "False")):
        c = condition(cr, type_)
        assert c.get("status") == want, f"condition {type_}: {c}"
    assert condition(cr, "Ready").get("reason") == "ClusterReady"

    # What every broker says about itself (curl /v1/cluster?local=true on each pod).
    leader = cluster.ordinal(s["leader"])
    views = cluster.local_views(range(3))
    for i, v in views.items():
        assert isinstance(v, dict), f"pod {i}: {v}"
        assert v["cluster_id"] == s["clusterId"], f"pod {i} is in cluster {v['cluster_id']}"
        assert v["node_id"] == i and v["leader_id"] == leader, f"pod {i}: {v}"
    assert voters(views[leader]) == {0, 1, 2}, views[leader]


def test_owned_objects_exist_with_owner_references(kube, cluster):
    uid = cluster.cr()["metadata"]["uid"]
    ns, name = cluster.ns, cluster.name
    objects = {
        "StatefulSet": kube.get(group("apps/v1", ns, "statefulsets", name)),
        "Service": kube.get(core(ns, "services", name)),
        "Service headless": kube.get(core(ns, "services", f"{name}-headless")),
        "PodDisruptionBudget": kube.get(group("policy/v1", ns, "poddisruptionbudgets", name)),
        "ConfigMap": kube.get(core(ns, "configmaps", f"{name}-config")),
    }
    for what, obj in objects.items():
        assert obj, f"{what} missing"
        refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r["uid"] == uid]
        assert refs and refs[0].get("controller"), f"{what} is not owned by the JumpnetCluster: {obj['metadata']}"
    assert objects["Service headless"]["spec"].get("publishNotReadyAddresses") is True
    ports = {p["name"]: p for p in objects["Service"]["spec"]["ports"]}
    assert ports["http"]["port"] == 9090, ports
    assert objects["PodDisruptionBudget"]["spec"].get("maxUnavailable") == 1  # 3 voters: losing 1 keeps quorum
    # the Service's endpoints are the three ready brokers
    assert sorted(n for n, _ in cluster.access.service_addresses(ns, name)) == \
        [cluster.pod_name(i) for i in range(3)]


def test_publish_through_the_service_is_readable_from_every_pod(cluster, ledger):
    t = topic("hello")
    values = []
    backends = set()
    for i in range(6):  # rotating over the Service's endpoints: writes on followers are forwarded
        backend, node = cluster.via_service()
        v = f"hello-{i}"
        r = node.publish(t, [v])
        assert r.status_code == 200, f"publish via the Service ({backend}): {r.status_code} {r.text}"
        assert r.json()["offsets"] == [i], r.json()
        values.append(v)
        backends.add(backend)
    ledger[t] = values
    cluster.assert_data({t: values}, ordinals=range(3))
    # the seed's read of the same topic, on every pod
    for i in range(3):
        assert cluster.node(i).get_json(f"/history/{t}") == values
