"""The CRD refuses bad JumpnetClusters before the operator ever sees them: `kubectl apply` of a typo (an
unknown field, e.g. `imagePullSecret` or a field in the wrong place), a wrong type (`maxAgeMs: "7d"`) or
a value out of range fails with the field named, the way the API server's structural-schema validation
and kubectl's strict field validation answer. The storage transition rules (CEL) are in the installed
CRD; the emulator does not evaluate CEL, kind does (scenario 9 covers both)."""

from __future__ import annotations

import pytest
import yaml

from conftest import IMAGE


def manifest(ns: str, spec: dict) -> str:
    return yaml.safe_dump({"apiVersion": "jumpnet.io/v1alpha1", "kind": "JumpnetCluster",
                           "metadata": {"name": "typo", "namespace": ns},
                           "spec": {"replicas": 1, "image": IMAGE, **spec}})


@pytest.mark.parametrize("spec,field", [
    ({"podTemplate": {"imagePullSecret": [{"name": "regcred"}]}}, "imagePullSecret"),
    ({"imagePullSecrets": [{"name": "regcred"}]}, "imagePullSecrets"),
    ({"config": {"retention": {"maxAgeMs": "7d"}}}, "maxAgeMs"),
    ({"storage": {"size": "lots"}}, "size"),
    ({"rollout": {"readyTimeoutSeconds": 1}}, "readyTimeoutSeconds"),
    ({"replicas": 10}, "replicas"),
], ids=["unknown-field", "wrong-place", "wrong-type", "not-a-quantity", "below-minimum", "above-maximum"])
def test_kubectl_apply_refuses_typos_and_wrong_types(kube, namespace, spec, field):
    p = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest(namespace, spec), check=False)
    assert p.returncode != 0, f"accepted: {spec}\n{p.stdout}"
    assert field in p.stderr, p.stderr


def test_a_valid_cluster_passes_and_the_storage_rules_are_installed(kube, namespace):
    p = kube.kubectl("apply", "--dry-run=server", "-f", "-", check=False, input=manifest(namespace, {
        "podTemplate": {"imagePullSecrets": [{"name": "regcred"}], "env": [{"name": "JUMPNET_CACHE_MB", "value": "32"}]},
        "config": {"retention": {"maxAgeMs": 604800000}}, "rollout": {"readyTimeoutSeconds": 120}}))
    assert p.returncode == 0, p.stderr
    crd = kube.kubectl_json("get", "crd", "jumpnetclusters.jumpnet.io")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = schema["properties"]["spec"]["properties"]["storage"]["x-kubernetes-validations"]
    assert {r["fieldPath"] for r in rules} == {".size", ".storageClassName"}, rules
    assert any("oldSelf" in r["rule"] and "quantity" in r["rule"] for r in rules), rules
    assert schema["x-kubernetes-validations"][0]["rule"].startswith("self.metadata.name.size() <= 52")
