"""charts/jumpnet-operator: lint, render with default and non-default values, check the objects."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import pytest
import yaml

from chart_env import CHART, NAMESPACE, RELEASE, VALUE_SETS, render
from jntest.k8s import ROOT, assert_restricted, find, helm, kubernetes_validate, load_all, load_file, one, \
    pod_specs, validate_cr

APP_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
              "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")
FULLNAME = "jn-jumpnet-operator"


def chart_meta() -> dict:
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        return yaml.safe_load(f)


def crd() -> dict:
    path = os.path.join(ROOT, "deploy", "crd.yaml")
    assert os.path.exists(path), "deploy/crd.yaml is missing (the operator team generates it)"
    return one(load_file(path), "CustomResourceDefinition")


def operator_container(docs) -> dict:
    dep = one(docs, "Deployment")
    return one_container(dep["spec"]["template"]["spec"], "operator")


def one_container(pod: dict, name: str) -> dict:
    cs = [c for c in pod["containers"] if c["name"] == name]
    assert len(cs) == 1, f"container {name} not found in {[c['name'] for c in pod['containers']]}"
    return cs[0]


# -- every values set ---------------------------------------------------------------------------------

@pytest.mark.parametrize("values", sorted(VALUE_SETS))
def test_helm_lint_strict(values):
    p = helm("lint", "--strict", CHART, *VALUE_SETS[values], check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_rendered_manifests_pass_kubernetes_validate_strict(rendered):
    _, path, _ = rendered
    # the chart's oldest supported Kubernetes (Chart.yaml kubeVersion), the emulator's, and the newest schemas
    kubernetes_validate(path, "1.29.0", "1.31.0", "1.37.0")


def test_every_object_carries_the_recommended_labels(rendered):
    name, _, docs = rendered
    for d in docs:
        labels = d["metadata"].get("labels") or {}
        missing = [k for k in APP_LABELS if k not in labels]
        assert not missing, f"[{name}] {d['kind']} {d['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/part-of"] == "jumpnet"


def test_every_pod_runs_under_the_restricted_pod_security_standard(rendered):
    name, _, docs = rendered
    pods = pod_specs(docs)
    assert pods, f"[{name}] no pods rendered"
    for what, pod in pods:
        assert_restricted(f"[{name}] {what}", pod)
        for c in pod["containers"]:
            assert (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is True, f"{what} {c['name']}"
            assert (c.get("resources") or {}).get("limits", {}).get("memory"), f"{what} {c['name']}: no memory limit"


def test_namespaced_objects_live_in_the_release_namespace(rendered):
    name, _, docs = rendered
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}
    for d in docs:
        ns = d["metadata"].get("namespace")
        if d["kind"] in cluster_scoped:
            assert ns is None, f"[{name}] cluster-scoped {d['kind']} with a namespace"
        elif d["kind"] in ("Role", "RoleBinding") or (d["kind"] == "ConfigMap" and "dashboard" in d["metadata"]["name"]):
            assert ns, f"[{name}] {d['kind']} {d['metadata']['name']} has no namespace"
        else:
            assert ns == NAMESPACE, f"[{name}] {d['kind']} {d['metadata']['name']} in {ns}"


# -- the operator Deployment --------------------------------------------------------------------------

def test_operator_deployment_runs_the_operator_binary_of_the_chart_image(default_docs):
    dep = one(default_docs, "Deployment", FULLNAME)
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    c = operator_container(default_docs)
    assert c["image"] == f"ghcr.io/jumpnet/jumpnet:{chart_meta()['appVersion']}"
    assert c["command"] == ["/usr/local/bin/jumpnet-operator"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
    assert port == 8080
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "metrics"}
    sa = one(default_docs, "ServiceAccount")
    assert pod["spec"]["serviceAccountName"] == sa["metadata"]["name"] == FULLNAME


def test_image_digest_wins_over_the_tag_and_values_reach_the_pod(everything_docs):
    dep = one(everything_docs, "Deployment", "jno")
    c = operator_container(everything_docs)
    assert c["image"] == ("registry.example.com/jumpnet@sha256:"
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert dep["spec"]["replicas"] == 2
    assert "--some-flag" in c["args"] and "--log-format=text" in c["args"]
    assert {"name": "EXTRA", "value": "1"} in c["env"]
    assert {"name": "RUST_LOG", "value": "debug"} in c["env"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "jumpnet-op"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert dep["spec"]["template"]["metadata"]["labels"]["team"] == "messaging"


# -- RBAC ---------------------------------------------------------------------------------------------

EXPECTED_RULES = {  # operator/README.md "RBAC needed", and nothing more
    ("jumpnet.io", "jumpnetclusters"): {"get", "list", "watch", "patch"},
    ("jumpnet.io", "jumpnetclusters/status"): {"get", "patch"},
    ("jumpnet.io", "jumpnetclusters/finalizers"): {"update"},
    ("apps", "statefulsets"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "services"): {"get", "list", "watch", "create", "patch"},
    ("", "configmaps"): {"get", "list", "watch", "create", "patch"},
    ("", "secrets"): {"get", "list", "watch", "create", "patch"},
    ("policy", "poddisruptionbudgets"): {"get", "list", "watch", "create", "patch"},
    ("", "pods"): {"get", "list", "watch", "delete"},
    ("", "pods/eviction"): {"create"},
    ("", "persistentvolumeclaims"): {"list", "patch", "delete"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("monitoring.coreos.com", "servicemonitors"): {"get", "create", "patch", "delete"},
    ("cert-manager.io", "certificates"): {"get", "list", "watch", "create", "patch", "delete"},
}


def flatten_rules(rules) -> dict:
    out: dict = {}
    for r in rules:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                out.setdefault((g, res), set()).update(r["verbs"])
    return out


def assert_least_privilege(rules) -> None:
    for r in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in r.get(field, []), f"wildcard in {field}: {r}"
        assert not r.get("nonResourceURLs"), r
    assert flatten_rules(rules) == EXPECTED_RULES


def test_cluster_scope_rbac_is_exactly_what_the_operator_needs(default_docs):
    role = one(default_docs, "ClusterRole", FULLNAME)
    assert_least_privilege(role["rules"])
    binding = one(default_docs, "ClusterRoleBinding", FULLNAME)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": FULLNAME}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert not find(default_docs, "Role", FULLNAME)


def test_users_get_jumpnetclusters_through_the_default_view_and_edit_roles(default_docs, namespaced_docs):
    view = one(default_docs, "ClusterRole", f"{FULLNAME}-view")
    edit = one(default_docs, "ClusterRole", f"{FULLNAME}-edit")
    for role, aggregates in ((view, ("view", "edit", "admin")), (edit, ("edit", "admin"))):
        for to in aggregates:
            assert role["metadata"]["labels"][f"rbac.authorization.k8s.io/aggregate-to-{to}"] == "true"
    assert flatten_rules(view["rules"]) == {
        ("jumpnet.io", r): {"get", "list", "watch"}
        for r in ("jumpnetclusters", "jumpnetclusters/status", "jumpnetclusters/scale")}
    assert flatten_rules(edit["rules"]) == {
        ("jumpnet.io", "jumpnetclusters"): {"create", "update", "patch", "delete", "deletecollection"},
        ("jumpnet.io", "jumpnetclusters/scale"): {"update", "patch"}}
    assert not [r for r in find(namespaced_docs, "ClusterRole")], "a namespaced install creates no ClusterRole"


def test_leader_election_may_only_touch_leases_in_the_operator_namespace(rendered):
    name, _, docs = rendered
    le = [d for d in find(docs, "Role") if d["metadata"]["name"].endswith("-leader-election")]
    assert len(le) == 1, f"[{name}] leader-election Role"
    assert le[0]["metadata"]["namespace"] == NAMESPACE
    assert flatten_rules(le[0]["rules"]) == {
        ("coordination.k8s.io", "leases"): {"get", "create", "update"}}


def test_namespace_scope_rbac_grants_only_the_listed_namespaces(namespaced_docs):
    assert not find(namespaced_docs, "ClusterRole") and not find(namespaced_docs, "ClusterRoleBinding")
    roles = [r for r in find(namespaced_docs, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for r in roles:
        assert_least_privilege(r["rules"])
    bindings = [b for b in find(namespaced_docs, "RoleBinding") if not b["metadata"]["name"].endswith("-leader-election")]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for b in bindings:
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "preexisting", "namespace": NAMESPACE}]
    assert not find(namespaced_docs, "ServiceAccount"), "serviceAccount.create=false must not create one"
    c = operator_container(namespaced_docs)
    assert "--namespaces=team-a,team-b" in c["args"]


# -- metrics, monitoring, dashboards ------------------------------------------------------------------

def test_metrics_service_selects_the_operator_pods_on_the_metrics_port(default_docs, namespaced_docs):
    svc = one(default_docs, "Service", f"{FULLNAME}-metrics")
    dep = one(default_docs, "Deployment")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert not find(namespaced_docs, "Service"), "metrics.service.enabled=false"


def test_servicemonitor_and_prometheusrule_only_when_enabled(default_docs, everything_docs):
    assert not find(default_docs, "ServiceMonitor") and not find(default_docs, "PrometheusRule")
    sm = one(everything_docs, "ServiceMonitor", "jno")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s",
                                        "scrapeTimeout": "10s",
                                        # the job the alert rules select, as in scrape-config.yaml
                                        "relabelings": [{"action": "replace", "targetLabel": "job",
                                                         "replacement": "jumpnet-operator"}]}]
    svc = one(everything_docs, "Service", "jno-metrics")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    rule = one(everything_docs, "PrometheusRule", "jno")
    src = load_file(os.path.join(ROOT, "deploy", "prometheus", "jumpnet-rules.yaml"))[0]
    groups = src.get("groups") or src["spec"]["groups"]
    assert rule["spec"]["groups"] == groups
    assert any(r.get("alert") for g in groups for r in g["rules"]), "no alerts in the rule groups"


def test_grafana_dashboards_ship_as_labelled_configmaps(default_docs, everything_docs):
    sources = sorted(glob.glob(os.path.join(ROOT, "deploy", "grafana", "*.json")))
    assert sources, "deploy/grafana/*.json: no dashboards to ship"
    for docs, ns in ((default_docs, NAMESPACE), (everything_docs, "monitoring")):
        cms = [d for d in find(docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
        assert len(cms) == len(sources)
        by_key = {k: (cm, v) for cm in cms for k, v in cm["data"].items()}
        for src in sources:
            cm, text = by_key[os.path.basename(src)]
            assert cm["metadata"]["namespace"] == ns
            with open(src) as f:
                assert json.loads(text) == json.load(f), f"{src} differs from its ConfigMap"
    folder = {cm["metadata"].get("annotations", {}).get("grafana_folder") for cm in find(everything_docs, "ConfigMap")}
    assert folder == {"Jumpnet"}


# -- the optional JumpnetCluster and helm test ----------------------------------------------------------

def test_jumpnetcluster_only_when_enabled_and_valid_against_the_crd(default_docs, everything_docs):
    assert not find(default_docs, "JumpnetCluster")
    jc = one(everything_docs, "JumpnetCluster", "events")
    validate_cr(crd(), jc)
    spec = jc["spec"]
    assert spec["replicas"] == 5 and spec["auth"] == {"enabled": True}
    assert spec["image"].startswith("registry.example.com/jumpnet@sha256:")
    assert spec["storage"] == {"size": "20Gi", "storageClassName": "fast-ssd", "deleteClaimOnScaleDown": True}
    assert spec["podTemplate"]["affinity"]["podAntiAffinity"]
    assert spec["podTemplate"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["podTemplate"]["serviceAccountName"] == "jumpnet-broker"
    assert spec["rollout"] == {"readyTimeoutSeconds": 600, "drainSeconds": 10}
    assert spec["metrics"]["serviceMonitor"]["labels"] == {"release": "kube-prometheus-stack"}
    assert spec["config"]["retention"]["maxMessages"] == 1000000


def test_helm_test_hook_publishes_and_reads_through_the_client_service(default_docs, everything_docs,
                                                                       namespaced_docs):
    assert not find(default_docs, "Pod"), "no cluster to test: no test pod"
    for docs, cluster in ((everything_docs, "events"), (namespaced_docs, "orders")):
        pod = one(docs, "Pod")
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert pod["spec"]["restartPolicy"] == "Never"
        c = pod["spec"]["containers"][0]
        env = {e["name"]: e for e in c["env"]}
        assert env["SERVER"]["value"] == f"http://{cluster}.{NAMESPACE}.svc:9090"
        ref = env["JUMPNET_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"{cluster}-auth", "key": "client-token", "optional": True}
        script = c["args"][0]
        assert "/v1/topics/$topic/messages" in script and "consistency=strong" in script
    c = one(everything_docs, "Pod")["spec"]["containers"][0]
    assert c["image"] == "localhost/busybox:test" and c["imagePullPolicy"] == "Never"


def test_chart_cluster_passes_tls_and_kafka_through_and_tests_over_https():
    p = helm("template", RELEASE, CHART, "--set", "cluster.enabled=true", "--set", "cluster.tls.enabled=true",
             "--set", "cluster.tls.issuerRef.name=ca", "--set", "cluster.tls.issuerRef.kind=ClusterIssuer",
             "--set", "cluster.kafka.enabled=true")
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    jc = one(docs, "JumpnetCluster")
    validate_cr(crd(), jc)
    assert jc["spec"]["tls"] == {"enabled": True, "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}
    assert jc["spec"]["kafka"] == {"enabled": True}
    env = {e["name"]: e for e in one(docs, "Pod")["spec"]["containers"][0]["env"]}
    assert env["SERVER"]["value"].startswith("https://"), env["SERVER"]


def test_helm_test_script_is_valid_sh(everything_docs):
    script = one(everything_docs, "Pod")["spec"]["containers"][0]["args"][0]
    p = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


# -- values schema, NOTES -----------------------------------------------------------------------------

@pytest.mark.parametrize("bad,complaint", [
    ("cluster.replicas=10", "cluster.replicas"),
    ("rbac.scope=everywhere", "rbac.scope"),
    ("operator.replicaz=1", "replicaz"),
    ("image.digest=latest", "image.digest"),
    ("metrics.serviceMonitor.interval=often", "interval"),
    # the cluster's settings are checked against the CRD's own schema: types ...
    ("cluster.config.retention.maxAgeMs=7d", "maxAgeMs"),
    ("cluster.rollout.readyTimeoutSeconds=5", "readyTimeoutSeconds"),
    ("cluster.service.type=Ingress", "type"),
    ("cluster.podTemplate.terminationGracePeriodSeconds=soon", "terminationGracePeriodSeconds"),
    # ... and typos or fields in the wrong place, which the API server would silently drop
    ("cluster.podTemplate.imagePullSecret[0].name=regcred", "imagePullSecret"),
    ("cluster.imagePullSecrets[0].name=regcred", "imagePullSecrets"),
    ("cluster.config.retention.maxAge=1", "maxAge"),
    ("cluster.podTemplate.affinity.podAntiAffinity.preferred=x", "preferred"),
    ("cluster.metrics.serviceMonitor.labels.release=1", "release"),
    ("cluster.tls.issuerRef.kind=Vault", "kind"),
    ("cluster.tls.issuer.name=ca", "issuer"),
    ("cluster.kafka.port=http", "port"),
])
def test_values_schema_rejects_bad_values(bad, complaint):
    # (--set reads `1` as a number: a label value must be a string)
    p = helm("template", RELEASE, CHART, "--set", bad, check=False)
    assert p.returncode != 0 and complaint in p.stderr, p.stderr


def test_values_schema_of_the_cluster_is_derived_from_the_crd():
    p = subprocess.run([os.path.join(ROOT, "scripts", "chart-values-schema.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    pod = schema["properties"]["cluster"]["properties"]["podTemplate"]
    assert pod["additionalProperties"] is False
    for field in ("imagePullSecrets", "serviceAccountName", "securityContext", "terminationGracePeriodSeconds",
                  "env", "affinity"):
        assert field in pod["properties"], field


def test_a_chart_cluster_the_namespaced_operator_cannot_see_is_refused():
    p = helm("template", RELEASE, CHART, "--namespace", "elsewhere", "-f", os.path.join(
        os.path.dirname(__file__), "values", "namespaced.yaml"), "--set", "cluster.enabled=true", check=False)
    assert p.returncode != 0 and "rbac.namespaces does not include" in p.stderr, p.stderr


def render_notes(tmp_path, *args: str) -> str:
    """NOTES.txt as `helm install` prints it. `helm install --dry-run` wants a reachable cluster, so the
    notes are rendered by `tpl` from a copy of the chart, through the same engine, values and helpers."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "files").mkdir(exist_ok=True)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "files" / "notes.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        'notes: |\n{{ tpl (.Files.Get "files/notes.txt") . | indent 2 }}\n')
    out = helm("template", RELEASE, str(chart), "--namespace", NAMESPACE, "--show-only", "templates/zz-notes.yaml",
               *args).stdout
    return yaml.safe_load(out)["notes"]


def test_notes_tell_the_user_what_to_do_next(tmp_path):
    notes = render_notes(tmp_path / "d")
    image = f"ghcr.io/jumpnet/jumpnet:{chart_meta()['appVersion']}"
    assert f"docker build -t {image} ." in notes
    assert f"kind load docker-image {image}" in notes
    assert "scripts/build-image.sh" in notes and "kind load image-archive" in notes
    notes = render_notes(tmp_path, *VALUE_SETS["everything"])
    assert "kubectl -n jumpnet-system get jn events" in notes
    assert "helm test jn -n jumpnet-system" in notes
    assert "events-auth" in notes and "client-token" in notes
    notes = render_notes(tmp_path / "n", *VALUE_SETS["namespaced"])
    assert "watching namespaces team-a, team-b" in notes and "kind: JumpnetCluster" in notes


# -- generated files ----------------------------------------------------------------------------------

def test_chart_copies_readme_and_deploy_manifests_are_current():
    p = subprocess.run([os.path.join(ROOT, "scripts", "sync-chart-files.sh"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_chart_crd_is_the_operator_crd():
    copy = os.path.join(CHART, "crds", "jumpnetclusters.jumpnet.io.yaml")
    assert os.path.exists(copy), "the chart has no CRD: run scripts/sync-chart-files.sh"
    c = one(load_file(copy), "CustomResourceDefinition")
    assert c["metadata"]["name"] == "jumpnetclusters.jumpnet.io"
    assert c["spec"]["names"]["shortNames"] == ["jn"]
    binary = os.environ.get("JUMPNET_OPERATOR_BIN",
                            os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/jumpnet-operator"))
    assert os.path.exists(binary), f"{binary} missing: build first"
    out = subprocess.run([binary, "crd"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert load_all(out.stdout) == [c], "`jumpnet-operator crd` differs from the chart's (and deploy/) CRD"



def test_chart_app_version_is_the_workspace_version():
    """The chart's default image tag (appVersion) is the version the operator defaults clusters to."""
    import tomllib

    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        version = tomllib.load(f)["workspace"]["package"]["version"]
    assert chart_meta()["appVersion"] == version
    for path in glob.glob(os.path.join(ROOT, "deploy", "examples", "*.yaml")):
        for d in find(load_file(path), "JumpnetCluster"):
            assert d["spec"]["image"] == f"ghcr.io/jumpnet/jumpnet:{version}", path


def test_no_selector_of_the_chart_matches_the_helm_test_pod(everything_docs, namespaced_docs):
    # A Deployment (or Service) whose selector matched the test pod would adopt (or route to) it.
    for docs in (everything_docs, namespaced_docs):
        labels = one(docs, "Pod")["metadata"]["labels"]
        for kind in ("Deployment", "Service"):
            for obj in find(docs, kind):
                sel = obj["spec"].get("selector") or {}
                sel = sel.get("matchLabels", sel) if kind == "Deployment" else sel
                assert sel, f"{kind} {obj['metadata']['name']} has no selector"
                matches = all(labels.get(k) == v for k, v in sel.items())
                assert not matches, f"{kind} {obj['metadata']['name']} selects the helm test pod ({sel})"
