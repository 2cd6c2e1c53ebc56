"""Fixtures for the container tests: the image, the broker pod spec, and a 3-node cluster on podman.

The cluster is what a 3-replica JumpnetCluster `jn` in namespace `default` looks like to the brokers:
containers with hostnames `jn-N` on one podman network with the headless-service DNS names
`jn-N.jn-headless.default.svc.cluster.local` as aliases, a named volume per pod at /data, the args and
env of the operator's StatefulSet, and the cluster formed through the admin API as the operator does it.

The test process reaches each container through a network of its own (`PREFIX-probe-N`, no DNS):
the kubelet's and a port-forward's path. Partitioning a node disconnects it from the cluster network
only, so the test can still ask the minority what it answers. All networks are isolated from each
other (podman would otherwise route between them), so the probe networks are no back door.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

from jntest import podman as pm  # noqa: E402
from jntest.cluster import Member, form_cluster, summarize  # noqa: E402
from jntest.http import Node  # noqa: E402
from jntest.podspec import from_render  # noqa: E402
from jntest.report import print_report, report  # noqa: E402
from jntest.wait import wait_until  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = os.environ.get("JUMPNET_IMAGE", "localhost/jumpnet:dev")
OPERATOR_BIN = os.environ.get(
    "JUMPNET_OPERATOR_BIN", os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/jumpnet-operator"))
PREFIX = os.environ.get("JUMPNET_CT_PREFIX", "jumpnet-ct")
REPLICAS = 3



def cluster_yaml(auth: bool = False) -> str:
    """The JumpnetCluster whose pods the containers reproduce: `jn` in `default`, 3 replicas."""
    return f"""\
apiVersion: jumpnet.io/v1alpha1
kind: JumpnetCluster
metadata:
  name: jn
  namespace: default
spec:
  replicas: {REPLICAS}
  image: {IMAGE}
  auth:
    enabled: {str(auth).lower()}
"""


def pytest_terminal_summary(terminalreporter):
    print_report(terminalreporter, "container measurements")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed scenario carries every broker's cluster view and last log lines in its report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    for value in (item.funcargs or {}).values():
        for c in value if isinstance(value, tuple) else (value,):
            if isinstance(c, ContainerCluster):
                rep.sections.append(("broker containers", c.dump()))


@pytest.fixture(scope="session")
def image() -> str:
    if not pm.available():
        pytest.fail("podman is not installed: run scripts/install-deps.sh")
    if not pm.image_exists(IMAGE):
        pytest.fail(f"image {IMAGE} does not exist: run scripts/build-image.sh")
    return IMAGE


def render_pod_spec(tmp_path_factory, auth: bool):
    """The broker pod of the StatefulSet `jumpnet-operator render` prints (what the operator applies)."""
    work = str(tmp_path_factory.mktemp("render"))
    try:
        return from_render(OPERATOR_BIN, cluster_yaml(auth), work)
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"cannot take the broker pod spec from the operator: {exc}")


class ContainerCluster:
    """Three broker containers on podman, addressed by ordinal."""

    def __init__(self, image: str, spec, workdir: str, token: str | None = None):
        self.token = token  # sent on every call of node(): the admin token when auth is on
        self.image = image
        self.spec = spec
        self.workdir = workdir
        self.net = f"{PREFIX}-net"
        self.api_port = spec.container_port("http", 9090)
        self.raft_port = spec.container_port("raft", 8080)
        self.names = [f"{PREFIX}-{spec.pod_name(i)}" for i in range(REPLICAS)]
        self.probe_nets = [f"{PREFIX}-probe-{i}" for i in range(REPLICAS)]
        self.volumes = [f"{PREFIX}-{c['metadata']['name']}-{spec.pod_name(i)}"
                        for i in range(REPLICAS) for c in spec.claim_templates]
        self.gateway = ""
        self.disconnected: set[int] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    def cleanup(self) -> None:
        pm.remove_containers(*self.names)
        pm.remove_volumes(*self.volumes)
        pm.remove_networks(self.net, *self.probe_nets)

    def create_networks(self) -> None:
        # isolate=true: podman routes between its bridge networks by default, so a node "disconnected"
        # from the cluster network could still reach its peers through its probe network. Isolated
        # networks only talk to the host, which makes a disconnect a real partition.
        pm.podman("network", "create", "--opt", "isolate=true", self.net)
        for n in self.probe_nets:
            pm.podman("network", "create", "--opt", "isolate=true", "--disable-dns", n)
        self.gateway = pm.inspect("network", self.net)["subnets"][0]["gateway"]

    def aliases(self, i: int) -> list[str]:
        pod, svc, ns = self.spec.pod_name(i), self.spec.headless_service, self.spec.namespace
        return [f"{pod}.{svc}.{ns}.svc.cluster.local", f"{pod}.{svc}.{ns}.svc", f"{pod}.{svc}.{ns}"]

    def cluster_network_arg(self, i: int) -> str:
        return self.net + ":" + ",".join(f"alias={a}" for a in self.aliases(i))

    def run(self, i: int) -> float:
        """Starts pod i as the kubelet would; returns seconds until it answered /livez."""
        opts = self.spec.podman_args(i, volume_prefix=f"{PREFIX}-", files_dir=self.workdir)
        _, args = self.spec.argv(i)
        t0 = time.monotonic()
        # --dns: the cluster network's resolver only, as a pod has only cluster DNS. With the host's
        # resolver listed too, musl asks both at once and the host's NXDOMAIN sometimes wins the race.
        pm.podman("run", "-d", "--name", self.names[i], "--network", self.cluster_network_arg(i),
                  "--network", self.probe_nets[i], "--dns", self.gateway, *opts, self.image, *args)
        return self._wait_live(i, t0)

    def _wait_live(self, i: int, t0: float) -> float:
        def live():
            pm.ensure_running(self.names[i])
            return self.node(i).livez()

        wait_until(live, timeout=60, what=f"{self.names[i]} /livez", describe=lambda: pm.logs(self.names[i], 20))
        return time.monotonic() - t0

    def kill(self, i: int) -> None:
        pm.podman("kill", "--signal", "KILL", self.names[i])
        wait_until(lambda: pm.inspect("container", self.names[i])["State"]["Status"] != "running",
                   timeout=30, what=f"{self.names[i]} to stop")

    def start(self, i: int) -> float:
        """Restarts a stopped pod on its volume; returns seconds until /livez."""
        t0 = time.monotonic()
        pm.podman("start", self.names[i])
        return self._wait_live(i, t0)

    def disconnect(self, i: int) -> None:
        pm.podman("network", "disconnect", self.net, self.names[i])
        self.disconnected.add(i)

    def reconnect(self, i: int) -> None:
        """Back on the cluster network (with a new IP), under its DNS names again."""
        cmd = ["network", "connect"]
        for a in self.aliases(i):
            cmd += ["--alias", a]
        pm.podman(*cmd, self.net, self.names[i])
        self.disconnected.discard(i)

    def restore(self) -> None:
        """Undo what an earlier (failed) scenario left behind: every node running, connected, ready."""
        for i in sorted(self.disconnected):
            self.reconnect(i)
        for i in range(REPLICAS):
            if pm.inspect("container", self.names[i])["State"]["Status"] != "running":
                self.start(i)
        for i in range(REPLICAS):
            wait_until(lambda i=i: self.node(i).readyz(), timeout=90, what=f"{self.names[i]} ready again")

    # -- addressing --------------------------------------------------------------------------
    def node(self, i: int, token: str | None = None) -> Node:
        ip = pm.container_ip(self.names[i], self.probe_nets[i])
        assert ip, f"{self.names[i]} has no address on {self.probe_nets[i]}"
        return Node(f"http://{ip}:{self.api_port}", token=token or self.token)

    def anonymous(self, i: int) -> Node:
        """Node i without any token (a probe, or a client that forgot it)."""
        n = self.node(i)
        n.session.headers.pop("Authorization", None)
        return n

    def member(self, i: int) -> Member:
        return Member(id=i, raft_addr=f"{self.aliases(i)[0]}:{self.raft_port}",
                      api_addr=f"{self.aliases(i)[0]}:{self.api_port}", node=self.node(i))

    def dump(self) -> str:
        out = []
        for i, n in enumerate(self.names):
            try:
                view = summarize(self.node(i).cluster(local=True))
            except Exception as exc:  # noqa: BLE001 - a dump must not fail
                view = f"(no view: {exc!r:.200})"
            out.append(f"----- {n}: {view}\n{pm.logs(n, 40)}")
        return "\n".join(out)


@contextlib.contextmanager
def start_cluster(image, spec, token=None):
    """Starts the containers (and removes them, their volumes and networks afterwards)."""
    workdir = tempfile.mkdtemp(prefix="jumpnet-ct-")
    c = ContainerCluster(image, spec, workdir, token=token)
    c.cleanup()  # leftovers of an interrupted run
    c.create_networks()
    try:
        for i in range(REPLICAS):
            report(f"start-up {c.names[i]} (run to /livez)", f"{c.run(i):.2f}s")
        yield c
    finally:
        c.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(image, tmp_path_factory):
    """Three brokers of a JumpnetCluster without auth, started, not yet formed."""
    spec = render_pod_spec(tmp_path_factory, auth=False)
    with start_cluster(image, spec) as c:
        yield c


@pytest.fixture(scope="module")
def formed_once(cluster):
    t0 = time.monotonic()
    view = form_cluster([cluster.member(i) for i in range(REPLICAS)])
    report("cluster formation (init, 2 learners, 2 promotions)", f"{time.monotonic() - t0:.2f}s")
    return cluster, view


@pytest.fixture
def formed(formed_once):
    """The formed cluster, healed from whatever an earlier scenario did to it."""
    cluster, view = formed_once
    cluster.restore()
    return cluster, view


@pytest.fixture(scope="module")
def auth_cluster(image, tmp_path_factory):
    """Three brokers of a JumpnetCluster with auth on, formed with the operator's admin token.

    Yields (cluster, tokens) with the tokens of the Secret the operator generates (`operator-token`,
    `client-token`); the brokers read the token file and the cluster secret from that Secret's volume.
    """
    spec = render_pod_spec(tmp_path_factory, auth=True)
    secret = spec.object_data("Secret", f"{spec.cluster}-auth")
    tokens = {k: v.decode().strip() for k, v in secret.items()}
    with start_cluster(image, spec, token=tokens["operator-token"]) as c:
        form_cluster([c.member(i) for i in range(REPLICAS)])
        yield c, tokens
