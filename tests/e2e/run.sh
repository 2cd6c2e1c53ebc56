#!/usr/bin/env bash
# The end-to-end suite against whatever cluster KUBECONFIG points at (kube-emu in CI through
# scripts/test.sh, kind through deploy/kind/e2e.sh): installs the operator with the chart as users do,
# runs the scenarios (tests/e2e/test_*.py, in name order), uninstalls, and prints the suite's time.
#
#   KUBECONFIG=... tests/e2e/run.sh [PYTEST ARGS...]     e.g. -k scale, -x
#
# Needs: KUBECONFIG (a reachable cluster), the image JUMPNET_IMAGE (default localhost/jumpnet:dev) where the
# cluster's nodes find it (podman storage for kube-emu, `kind load` for kind), helm, kubectl, the test venv.
# Env:
#   JUMPNET_IMAGE2      the same image under a second name, for the rolling update (default: IMAGE with
#                       "-b" appended to its tag, tagged here with podman, or docker + `kind load`)
#   E2E_RELEASE         helm release (jn-e2e); E2E_OPERATOR_NAMESPACE: its namespace (jumpnet-e2e)
#   E2E_HELM_ARGS       extra `helm install` arguments, split on spaces (e.g. "--set operator.logLevel=debug")
#   E2E_TEST_IMAGE      image of the chart's `helm test` pod (default: scripts/build-test-images.sh's local
#                       busybox where podman is the engine, else the chart's default)
#   E2E_ACCESS          how the host reaches brokers: auto (default) | direct (pod IPs) | port-forward
#   E2E_KEEP=1          leave the release and the test namespaces in place (for a look after a failure)
#   E2E_DUMP_DIR        also write each failed scenario's state dump to this directory
# Exit status: pytest's (non-zero on any failure), or 2 when a prerequisite is missing.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/e2e
# Tool paths and podman settings shared with scripts/ (it changes nothing on the machine).
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
cd "$ROOT" || exit 2

T0=$SECONDS
fail() { printf 'e2e: ERROR: %s\n' "$*" >&2; exit 2; }
say() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# -- tools: the fixed paths of install-deps.sh, else PATH (a laptop) ---------------------------
[[ -x $HELM ]] || HELM=$(command -v helm) || fail "helm not found (scripts/install-deps.sh installs it in $K8STOOLS_DIR)"
[[ -x $KUBECTL ]] || KUBECTL=$(command -v kubectl) || fail "kubectl not found"
PATH="$(dirname "$KUBECTL"):$PATH"
export HELM KUBECTL PATH
PY=$JUMPNET_PYTHON
[[ -x $PY ]] || PY=$(command -v python3) || fail "no python"
"$PY" -c 'import pytest, pytest_timeout, requests, yaml' 2>/dev/null \
  || fail "$PY lacks pytest/pytest-timeout/requests/pyyaml (scripts/install-deps.sh makes $JUMPNET_VENV)"

# -- the cluster -------------------------------------------------------------------------------
[[ -n ${KUBECONFIG:-} ]] || fail "KUBECONFIG is not set: point it at a cluster (scripts/test.sh e2e starts kube-emu; deploy/kind/e2e.sh uses kind)"
[[ -f ${KUBECONFIG%%:*} ]] || fail "KUBECONFIG=$KUBECONFIG: no such file"
"$KUBECTL" --request-timeout=10s get --raw /readyz >/dev/null 2>&1 \
  || fail "the cluster in KUBECONFIG=$KUBECONFIG does not answer: $("$KUBECTL" --request-timeout=10s get --raw /readyz 2>&1 | tail -1)"
CONTEXT=$("$KUBECTL" config current-context 2>/dev/null || true)

# -- the images --------------------------------------------------------------------------------
IMAGE=${JUMPNET_IMAGE:-localhost/jumpnet:dev}
case ${IMAGE##*/} in *:*) TAG=${IMAGE##*:}; REPO=${IMAGE%:*} ;; *) TAG=latest; REPO=$IMAGE ;; esac
IMAGE2=${JUMPNET_IMAGE2:-$REPO:$TAG-b}
created_image2=""
if command -v podman >/dev/null 2>&1 && podman image exists "$IMAGE" 2>/dev/null; then
  engine=podman
elif command -v docker >/dev/null 2>&1 && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  engine=docker
elif command -v podman >/dev/null 2>&1 || command -v docker >/dev/null 2>&1; then
  fail "image $IMAGE does not exist: build it (scripts/build-image.sh, or docker build -t $IMAGE .)"
else
  engine=""
  say "no podman or docker here: assuming the cluster's nodes have $IMAGE and $IMAGE2"
fi
if [[ -z ${JUMPNET_IMAGE2:-} && -n $engine ]]; then
  # The rolling update needs a spec.image that differs: the same image under a second name.
  if ! "$engine" image inspect "$IMAGE2" >/dev/null 2>&1; then created_image2=$IMAGE2; fi
  "$engine" tag "$IMAGE" "$IMAGE2" || fail "$engine tag $IMAGE $IMAGE2 failed"
  if [[ $CONTEXT == kind-* ]]; then
    command -v kind >/dev/null || fail "context $CONTEXT looks like kind, but there is no kind to load $IMAGE2"
    kind load docker-image "$IMAGE2" --name "${CONTEXT#kind-}" >/dev/null || fail "kind load docker-image $IMAGE2 failed"
  fi
fi
export JUMPNET_IMAGE=$IMAGE JUMPNET_IMAGE2=$IMAGE2
# The `helm test` pod's image (sh + wget): scripts/build-test-images.sh makes a local busybox where nothing
# can be pulled (podman, kube-emu); without it the chart's default (busybox from Docker Hub) is used.
if [[ -z ${E2E_TEST_IMAGE:-} && $engine == podman && -x scripts/build-test-images.sh ]]; then
  E2E_TEST_IMAGE=$(JUMPNET_IMAGE2=$IMAGE2 scripts/build-test-images.sh | sed -n 1p) || fail "scripts/build-test-images.sh failed"
fi
TEST_IMAGE_ARGS=()
if [[ -n ${E2E_TEST_IMAGE:-} ]]; then
  TEST_IMAGE_ARGS=(--set test.image.repository="${E2E_TEST_IMAGE%:*}" --set test.image.tag="${E2E_TEST_IMAGE##*:}"
    --set test.image.pullPolicy=IfNotPresent)
fi

# -- the operator, installed as users install it -------------------------------------------------
export E2E_RELEASE=${E2E_RELEASE:-jn-e2e}
export E2E_OPERATOR_NAMESPACE=${E2E_OPERATOR_NAMESPACE:-jumpnet-e2e}
REL=$E2E_RELEASE NS=$E2E_OPERATOR_NAMESPACE

cleanup() {
  local status=$?
  if [[ -n ${E2E_KEEP:-} && ${E2E_KEEP:-} != 0 ]]; then
    say "E2E_KEEP: leaving release $REL in $NS and the test namespaces (label jumpnet-e2e=true)"
  else
    say "uninstalling release $REL and removing the test namespaces"
    "$HELM" uninstall "$REL" -n "$NS" --wait --timeout 120s >/dev/null 2>&1 || true
    # Namespaces of an interrupted run (the suite deletes its own).
    "$KUBECTL" delete namespace -l jumpnet-e2e=true --wait=true --timeout=120s >/dev/null 2>&1 || true
    "$KUBECTL" delete namespace "$NS" --wait=true --timeout=120s >/dev/null 2>&1 || true
    [[ -n $created_image2 ]] && "$engine" rmi "$created_image2" >/dev/null 2>&1
  fi
  say "e2e suite: $((SECONDS - T0))s in all (exit status $status)"
}
trap cleanup EXIT

if "$HELM" status "$REL" -n "$NS" >/dev/null 2>&1; then
  say "release $REL exists from an earlier run: uninstalling it first"
  "$HELM" uninstall "$REL" -n "$NS" --wait --timeout 120s >/dev/null || fail "helm uninstall $REL failed"
fi
if "$KUBECTL" get crd jumpnetclusters.jumpnet.io >/dev/null 2>&1; then
  # helm installs crds/ only when the CRD is absent and never upgrades it (charts/jumpnet-operator/README.md):
  # on a reused cluster, bring it to this checkout's version first, as that README tells users to.
  say "CRD exists (a reused cluster): kubectl apply --server-side -f charts/jumpnet-operator/crds/"
  "$KUBECTL" apply --server-side --force-conflicts -f charts/jumpnet-operator/crds/ >/dev/null || fail "applying the CRD failed"
fi
say "helm install $REL charts/jumpnet-operator -n $NS (image $IMAGE)"
t=$SECONDS
# shellcheck disable=SC2086 # E2E_HELM_ARGS is split on spaces, as documented
if ! "$HELM" install "$REL" charts/jumpnet-operator -n "$NS" --create-namespace \
  --set image.repository="$REPO" --set image.tag="$TAG" --set image.pullPolicy=IfNotPresent \
  "${TEST_IMAGE_ARGS[@]}" ${E2E_HELM_ARGS:-} --wait --timeout 180s >/dev/null; then
  "$KUBECTL" -n "$NS" get deploy,pods -o wide >&2
  "$KUBECTL" -n "$NS" logs -l "app.kubernetes.io/instance=$REL" --tail=50 >&2
  exit 1
fi
say "operator installed in $((SECONDS - t))s"

# -- the scenarios -------------------------------------------------------------------------------
export PYTHONPATH=$ROOT/tests/lib${PYTHONPATH:+:$PYTHONPATH}
"$PY" -m pytest -p no:cacheprovider -c "$HERE/pytest.ini" --rootdir "$HERE" -v "$HERE" "$@"
