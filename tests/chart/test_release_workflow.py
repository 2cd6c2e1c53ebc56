""".github/workflows/release.yml: on a version tag it publishes the multi-arch image and the chart (OCI)
under the names the chart and the CRD default to. GitHub Actions cannot run here; the structure is
checked, and the version-check step is run for real with bash."""

from __future__ import annotations

import os
import re
import subprocess

import yaml

from jntest.k8s import ROOT

WORKFLOW = os.path.join(ROOT, ".github", "workflows", "release.yml")


def workflow() -> dict:
    with open(WORKFLOW) as f:
        return yaml.safe_load(f)


def version() -> str:
    with open(os.path.join(ROOT, "charts", "jumpnet-operator", "Chart.yaml")) as f:
        return yaml.safe_load(f)["appVersion"]


def test_runs_on_version_tags_only_and_may_push_packages():
    w = workflow()
    on = w.get("on") or w.get(True)  # YAML 1.1 reads the key `on` as true
    assert on == {"push": {"tags": ["v*.*.*"]}}
    assert w["permissions"] == {"contents": "read", "packages": "write"}


def test_builds_amd64_and_arm64_natively_from_the_dockerfile_and_joins_them():
    jobs = workflow()["jobs"]
    matrix = jobs["image"]["strategy"]["matrix"]["include"]
    assert {(m["platform"], m["target"]) for m in matrix} == {
        ("linux/amd64", "x86_64-unknown-linux-musl"), ("linux/arm64", "aarch64-unknown-linux-musl")}
    build = next(s for s in jobs["image"]["steps"] if s.get("id") == "build")["with"]
    assert build["file"] == "Dockerfile" and build["target"] == "image"
    assert "TARGET=${{ matrix.target }}" in build["build-args"]
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        dockerfile = f.read()
    assert re.search(r"^ARG TARGET=", dockerfile, re.M), "the Dockerfile must take the Rust target as TARGET"
    assert re.search(r"^FROM .* AS image$", dockerfile, re.M)
    assert "/jumpnet,push-by-digest=true" in build["outputs"]
    merge = " ".join(s.get("run", "") for s in jobs["manifest"]["steps"])
    assert "imagetools create" in merge


def test_the_image_and_chart_land_where_the_defaults_point():
    w = workflow()
    assert w["env"]["REGISTRY"] == "ghcr.io"
    with open(os.path.join(ROOT, "charts", "jumpnet-operator", "values.yaml")) as f:
        assert yaml.safe_load(f)["image"]["repository"] == "ghcr.io/jumpnet/jumpnet"
    chart = " ".join(s.get("run", "") for s in w["jobs"]["chart"]["steps"])
    assert "helm package charts/jumpnet-operator" in chart
    assert "helm push" in chart and "oci://${{ env.REGISTRY }}/${{ needs.version.outputs.owner }}/charts" in chart
    assert w["jobs"]["chart"]["needs"] == ["version", "manifest"], "the chart only once its image exists"


def run_version_step(tag: str, tmp_path) -> subprocess.CompletedProcess:
    step = next(s for s in workflow()["jobs"]["version"]["steps"] if s.get("id") == "v")
    out = tmp_path / "out"
    env = dict(os.environ, GITHUB_REF_NAME=tag, GITHUB_OUTPUT=str(out), GITHUB_REPOSITORY_OWNER="Jumpnet")
    p = subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    p.outputs = out.read_text() if out.exists() else ""
    return p


def test_the_tag_must_match_cargo_and_the_chart(tmp_path):
    p = run_version_step(f"v{version()}", tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"version={version()}" in p.outputs and "owner=jumpnet" in p.outputs
    p = run_version_step("v9.9.9", tmp_path / "bad")
    assert p.returncode != 0 and "9.9.9" in p.stdout
