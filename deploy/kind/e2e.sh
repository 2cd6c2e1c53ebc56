#!/usr/bin/env bash
# The end-to-end suite on a kind cluster (a laptop with Docker and kind): the same tests CI runs against
# the Kubernetes API emulator, pointed at kind through KUBECONFIG.
#
#   deploy/kind/e2e.sh            # create (or reuse) kind cluster `jumpnet`, build + load the image, run the suite
#   KEEP=1 deploy/kind/e2e.sh     # keep the cluster afterwards (it is kept anyway when it existed before)
#
# Needs: docker, kind, kubectl, helm, python3 (the suite's venv: scripts/install-deps.sh makes /opt/jumpnet-venv,
# or set JUMPNET_PYTHON). On failure the suite itself dumps CR status, events, operator logs and broker logs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=${KIND_CLUSTER:-jumpnet}
IMAGE=${JUMPNET_IMAGE:-localhost/jumpnet:dev}
# The same image under a second name: the suite's rolling-update scenario changes spec.image to it.
IMAGE2=${JUMPNET_IMAGE2:-${IMAGE%:*}:${IMAGE##*:}-b}
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "ERROR: $tool not found" >&2; exit 1; }
done
[[ -f $ROOT/tests/e2e/run.sh ]] || { echo "ERROR: tests/e2e/run.sh is not in this checkout" >&2; exit 1; }

created=0
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config "$ROOT/deploy/kind/kind-config.yaml" --wait 120s
  created=1
fi
KUBECONFIG=$(mktemp)
export KUBECONFIG
cleanup() {
  rm -f "$KUBECONFIG"
  if [[ $created == 1 && -z ${KEEP:-} ]]; then kind delete cluster --name "$CLUSTER"; fi
}
trap cleanup EXIT
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"

# The image users build: the Dockerfile's default target (`image`, the in-image build), not CI's prebuilt
# binaries; then loaded into the nodes, as the README's "Run on Kubernetes" tells users.
docker build -t "$IMAGE" "$ROOT"
docker tag "$IMAGE" "$IMAGE2"
kind load docker-image "$IMAGE" "$IMAGE2" --name "$CLUSTER"

export JUMPNET_IMAGE=$IMAGE JUMPNET_IMAGE2=$IMAGE2
bash "$ROOT/tests/e2e/run.sh"
