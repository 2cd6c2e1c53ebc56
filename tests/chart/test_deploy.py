"""deploy/: the plain manifests (`kubectl apply -f deploy/`), the example JumpnetClusters and kind files."""

from __future__ import annotations

import glob
import os
import subprocess

import pytest
import yaml

from jntest.k8s import ROOT, assert_restricted, find, kubernetes_validate, load_file, one, pod_specs, validate_cr

DEPLOY = os.path.join(ROOT, "deploy")
EXAMPLES = sorted(glob.glob(os.path.join(DEPLOY, "examples", "*.yaml")))


def crd() -> dict:
    path = os.path.join(DEPLOY, "crd.yaml")
    assert os.path.exists(path), "deploy/crd.yaml is missing (the operator team generates it)"
    return one(load_file(path), "CustomResourceDefinition")


def test_kubectl_apply_of_deploy_takes_exactly_the_crd_and_the_operator():
    # `kubectl apply -f deploy/` reads every .yaml/.yml/.json at the top level (not sub-folders).
    top = sorted(f for f in os.listdir(DEPLOY) if f.endswith((".yaml", ".yml", ".json")))
    assert top == ["crd.yaml", "operator.yaml"], top


@pytest.mark.parametrize("name", ["crd.yaml", "operator.yaml"])
def test_top_level_manifests_pass_kubernetes_validate_strict(name):
    path = os.path.join(DEPLOY, name)
    assert os.path.exists(path), f"deploy/{name} is missing"
    kubernetes_validate(path, "1.29.0", "1.31.0", "1.37.0")  # Chart.yaml kubeVersion: CEL quantity rules


def test_operator_manifest_installs_a_restricted_operator_in_its_own_namespace():
    docs = load_file(os.path.join(DEPLOY, "operator.yaml"))
    assert docs[0]["kind"] == "Namespace" and docs[0]["metadata"]["name"] == "jumpnet-system"
    assert docs[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for d in docs[1:]:
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == "jumpnet-system", d["metadata"]
        assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl"
        assert "helm.sh/chart" not in d["metadata"]["labels"]
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"):
        assert find(docs, kind), f"deploy/operator.yaml has no {kind}"
    assert not find(docs, "Pod"), "no helm test pod in plain manifests"
    for what, pod in pod_specs(docs):
        assert_restricted(what, pod)


def test_examples_are_valid_jumpnetclusters():
    assert EXAMPLES, "no deploy/examples/*.yaml"
    schema = crd()
    for path in EXAMPLES:
        for d in find(load_file(path), "JumpnetCluster"):
            validate_cr(schema, d)


def example(name: str) -> dict:
    return one(load_file(os.path.join(DEPLOY, "examples", f"jumpnetcluster-{name}.yaml")), "JumpnetCluster")


def test_dev_example_is_a_single_broker():
    spec = example("dev")["spec"]
    assert spec["replicas"] == 1
    assert not spec.get("auth", {}).get("enabled")


def test_prod_example_has_three_spread_brokers_auth_and_monitoring():
    jc = example("prod")
    spec = jc["spec"]
    assert spec["replicas"] == 3
    assert spec["auth"]["enabled"] is True
    assert spec["metrics"]["serviceMonitor"]["enabled"] is True
    anti = spec["podTemplate"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    # the anti-affinity must select this cluster's broker pods (the operator's pod labels)
    assert anti[0]["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "jumpnet", "app.kubernetes.io/instance": jc["metadata"]["name"]}
    assert spec["resources"]["limits"]["memory"]


def test_examples_other_objects_pass_kubernetes_validate_strict(tmp_path):
    for path in EXAMPLES:
        others = [d for d in load_file(path) if d["kind"] != "JumpnetCluster"]
        if others:
            p = tmp_path / os.path.basename(path)
            p.write_text(yaml.safe_dump_all(others))
            kubernetes_validate(str(p))


def test_kind_config_has_a_node_per_prod_broker():
    with open(os.path.join(DEPLOY, "kind", "kind-config.yaml")) as f:
        cfg = yaml.safe_load(f)
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    workers = [n for n in cfg["nodes"] if n["role"] == "worker"]
    assert len(workers) >= example("prod")["spec"]["replicas"]


def test_kind_e2e_script_runs_the_ci_suite():
    path = os.path.join(DEPLOY, "kind", "e2e.sh")
    assert os.access(path, os.X_OK)
    assert subprocess.run(["bash", "-n", path]).returncode == 0
    text = open(path).read()
    assert "tests/e2e/run.sh" in text and "kind load docker-image" in text
