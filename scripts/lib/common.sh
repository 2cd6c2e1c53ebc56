# shellcheck shell=bash
# Shared settings for the scripts in scripts/: where the tools live, the podman settings this machine
# needs, and small helpers.  Source it; it changes nothing on the machine.

JUMPNET_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export JUMPNET_ROOT

# Tools installed by install-deps.sh (fixed paths, so every script and test agrees on them).
export JUMPNET_VENV=${JUMPNET_VENV:-/opt/jumpnet-venv}
export JUMPNET_PYTHON=${JUMPNET_PYTHON:-$JUMPNET_VENV/bin/python}
export K8STOOLS_DIR=${K8STOOLS_DIR:-/opt/k8stools}
export HELM=${HELM:-$K8STOOLS_DIR/helm}
export KUBECTL=${KUBECTL:-$K8STOOLS_DIR/kubectl}
# The Kubernetes API emulator is test infrastructure beside the repo, never copied into it.
# The emulator lives beside the checkout (../shared/kube-emu); a clone made elsewhere on the same
# machine (e.g. a fresh clone under /tmp) finds the machine's copy.
if [[ -z ${KUBE_EMU_DIR:-} ]]; then
  for d in "$JUMPNET_ROOT/../shared/kube-emu" "$JUMPNET_ROOT/../../shared/kube-emu" /work/shared/kube-emu; do
    if [[ -f $d/kube_emu.py ]]; then KUBE_EMU_DIR=$(cd "$d" && pwd); break; fi
  done
fi
export KUBE_EMU_DIR=${KUBE_EMU_DIR:-$JUMPNET_ROOT/../shared/kube-emu}

# The one cargo build every phase re-uses.
export CARGO_TARGET_TRIPLE=x86_64-unknown-linux-musl
export JUMPNET_BIN=${JUMPNET_BIN:-$JUMPNET_ROOT/target/$CARGO_TARGET_TRIPLE/release/jumpnet}
export JUMPNET_OPERATOR_BIN=${JUMPNET_OPERATOR_BIN:-$JUMPNET_ROOT/target/$CARGO_TARGET_TRIPLE/release/jumpnet-operator}
export JUMPNET_IMAGE=${JUMPNET_IMAGE:-localhost/jumpnet:dev}

# podman here: crun and podman's default ulimits fail in this sandbox, so every podman call runs with
# `--runtime runc` and this containers.conf (written by install-deps.sh).
export CONTAINERS_CONF=${CONTAINERS_CONF:-$JUMPNET_ROOT/target/containers.conf}
export PODMAN_RUNTIME=${PODMAN_RUNTIME:-runc}

export PATH=$K8STOOLS_DIR:$JUMPNET_VENV/bin:$HOME/.cargo/bin:$PATH

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds; fails loudly on time-out.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local end=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "timed out after ${timeout}s waiting for: $what"
      "$@" 2>&1 | tail -5 >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# Writes $CONTAINERS_CONF unless it exists (a caller may point CONTAINERS_CONF at a file of its own).
write_containers_conf() {
  [[ -f $CONTAINERS_CONF ]] && return 0
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
}
