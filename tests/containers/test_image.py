"""The image built from the repo's Dockerfile (scripts/build-image.sh): its configuration, its files,
and a default `podman run` of it (a one-node cluster that keeps its state in the /data volume)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
import time

import pytest

from jntest import podman as pm
from jntest.http import Node
from jntest.report import report
from jntest.wait import wait_until

PREFIX = os.environ.get("JUMPNET_CT_PREFIX", "jumpnet-ct")


@pytest.fixture(scope="module")
def config(image):
    return pm.inspect("image", image)


@pytest.fixture(scope="module")
def files(image):
    """path -> TarInfo of the image's merged filesystem (the last layer that has a path wins)."""
    with tempfile.TemporaryDirectory() as d:
        pm.podman("save", "--format", "oci-dir", "-o", os.path.join(d, "img"), image)
        with open(os.path.join(d, "img", "index.json")) as f:
            manifest_digest = json.load(f)["manifests"][0]["digest"].split(":")[1]
        blob = lambda digest: os.path.join(d, "img", "blobs", "sha256", digest.split(":")[1])  # noqa: E731
        with open(blob("sha256:" + manifest_digest)) as f:
            manifest = json.load(f)
        merged: dict[str, tarfile.TarInfo] = {}
        for layer in manifest["layers"]:
            with open(blob(layer["digest"]), "rb") as f:
                with tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
                    for m in tar.getmembers():
                        merged[m.name.lstrip("./").rstrip("/")] = m
        return merged


def ready(name: str, net: str) -> bool:
    pm.ensure_running(name)
    return Node(f"http://{pm.container_ip(name, net)}:9090").readyz()


def test_runs_as_numeric_non_root_with_exec_form_entrypoint(config):
    cfg = config["Config"]
    assert cfg["User"] == "65532:65532"
    assert cfg["Entrypoint"] == ["/usr/local/bin/jumpnet"]
    assert cfg["Cmd"] == ["serve"]
    assert "/data" in (cfg.get("Volumes") or {})
    assert {"8080/tcp", "9090/tcp"} <= set(cfg.get("ExposedPorts") or {})


def test_holds_both_static_binaries_root_owned_and_a_data_dir_owned_by_65532(files):
    for b in ("usr/local/bin/jumpnet", "usr/local/bin/jumpnet-operator"):
        assert b in files, f"{b} missing from the image"
        assert (files[b].uid, files[b].gid) == (0, 0), f"{b} must not be writable by the runtime user"
        assert files[b].mode & 0o111
    assert files["data"].isdir() and (files["data"].uid, files["data"].gid) == (65532, 65532)


def test_both_binaries_run_in_the_image(image):
    # FROM scratch has no libc or loader: this runs only if both binaries are static.
    for entry, subcommand in (("/usr/local/bin/jumpnet", "serve"), ("/usr/local/bin/jumpnet-operator", "crd")):
        p = subprocess.run(["podman", "--runtime", os.environ.get("PODMAN_RUNTIME", "runc"), "run", "--rm",
                            "--network", "none", "--entrypoint", entry, image, "--help"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{entry} --help in the image: {p.returncode} {p.stderr}"
        assert subcommand in p.stdout, f"{entry} --help does not list `{subcommand}`: {p.stdout}"


def test_default_run_serves_a_one_node_cluster_and_keeps_state_in_the_volume(image, config):
    name, net, vol = f"{PREFIX}-single", f"{PREFIX}-single-net", f"{PREFIX}-single-data"
    pm.remove_containers(name)
    pm.remove_volumes(vol)
    pm.remove_networks(net)
    pm.podman("network", "create", "--disable-dns", net)
    try:
        t0 = time.monotonic()
        pm.podman("run", "-d", "--name", name, "--network", net, "-v", f"{vol}:/data", image)
        wait_until(lambda: ready(name, net), timeout=60, what="the default container to be ready",
                   describe=lambda: pm.logs(name, 20))
        node = Node(f"http://{pm.container_ip(name, net)}:9090")
        report("image size", f"{config['Size'] / 1048576:.1f} MiB ({config['Size']} bytes)")
        report("start-up, default run (podman run to /readyz, one node)", f"{time.monotonic() - t0:.2f}s")
        # (/readyz can answer 200 a moment before the bootstrap entry that records the id is applied)
        cluster_id = wait_until(lambda: node.cluster().get("cluster_id"), timeout=10,
                                what="the one-node cluster to have an id")
        node.publish_ok("image-check", ["kept"])

        pm.podman("restart", "-t", "10", name)
        wait_until(lambda: ready(name, net), timeout=60, what="the restarted container to be ready",
                   describe=lambda: pm.logs(name, 20))
        node = Node(f"http://{pm.container_ip(name, net)}:9090")
        assert node.cluster().get("cluster_id") == cluster_id, "state in /data did not survive a restart"
        assert node.read_all_values("image-check") == ["kept"]
    finally:
        pm.remove_containers(name)
        pm.remove_volumes(vol)
        pm.remove_networks(net)


def test_dockerfile_default_target_compiles_in_the_image_and_both_targets_pack_alike():
    """What users get from a plain `docker build .` is the last stage; CI builds `image-prebuilt`.
    Both must be the same instructions apart from the stage the binaries come from."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "Dockerfile")) as f:
        lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    stages: dict[str, list[str]] = {}
    order: list[str] = []
    current = None
    for ln in lines:
        if ln.upper().startswith("FROM "):
            current = ln.split()[-1] if " AS " in ln.upper() else f"stage{len(order)}"
            order.append(current)
            stages[current] = [ln]
        elif current:
            stages[current].append(ln)
    assert order[-1] == "image", f"the default (last) stage must be the in-image build, not {order[-1]}"
    assert stages["image"][0] == "FROM runtime AS image"
    assert stages["image-prebuilt"][0] == "FROM runtime AS image-prebuilt"
    assert [ln.replace("--from=build", "--from=X") for ln in stages["image"][1:]] == \
        [ln.replace("--from=prebuilt", "--from=X") for ln in stages["image-prebuilt"][1:]]
    assert any("cargo build --release --locked" in ln for ln in stages["build"])
