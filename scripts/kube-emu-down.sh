#!/usr/bin/env bash
# shellcheck disable=SC2086 # $ids, $vols: lists of names, one argument each
# Stops what scripts/kube-emu-up.sh started (by the pids it recorded) and removes the kubelet's leftovers:
# its containers, podman pods, and the volumes of this emulator's PVCs and pods (looked up through its API
# before it stops: the machine may run other emulators whose volumes are not ours). Idempotent.
set -uo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

DIR=$JUMPNET_ROOT/target/kube-emu
NODE=${KUBE_EMU_NODE:-jumpnet-kubelet}

stop() {  # stop NAME: SIGTERM, wait up to 30 s, then SIGKILL
  local f=$DIR/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    local end=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$1 ($pid) ignored SIGTERM: killing"; kill -9 "$pid" 2>/dev/null; }
  fi
  rm -f "$f"
}

# What this emulator's kubelet made volumes for: PVCs (volume NS-CLAIM) and pods (label kube-emu.pod-uid).
pvc_volumes="" pod_uids=""
if [[ -f $DIR/kubeconfig ]] && KUBECONFIG=$DIR/kubeconfig "$KUBECTL" --request-timeout=3s get --raw /readyz >/dev/null 2>&1; then
  pvc_volumes=$(KUBECONFIG=$DIR/kubeconfig "$KUBECTL" get pvc -A \
    -o jsonpath='{range .items[*]}{.metadata.namespace}-{.metadata.name}{"\n"}{end}' 2>/dev/null)
  pod_uids=$(KUBECONFIG=$DIR/kubeconfig "$KUBECTL" get pods -A -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}' 2>/dev/null)
fi

# The kubelet first: with --cleanup-on-exit it removes its containers while the API is still there.
stop kubelet
stop emu
rm -rf "$DIR/probe-ca"  # the CA the kubelet trusted for HTTPS probes (kube-emu-up.sh)
if command -v podman >/dev/null; then
  write_containers_conf
  ids=$(podman ps -aq --filter "label=kube-emu.managed=$NODE" 2>/dev/null)
  [[ -n $ids ]] && podman rm -f -t 0 $ids >/dev/null 2>&1
  ids=$(podman pod ps -q --filter "label=kube-emu.managed=$NODE" 2>/dev/null)
  [[ -n $ids ]] && podman pod rm -f -t 0 $ids >/dev/null 2>&1
  vols=$pvc_volumes
  for uid in $pod_uids; do vols+=$'\n'$(podman volume ls -q --filter "label=kube-emu.pod-uid=$uid" 2>/dev/null); done
  vols=$(echo "$vols" | sed '/^$/d' | sort -u)
  [[ -n $vols ]] && podman volume rm -f $vols >/dev/null 2>&1
fi
# The veth that kube-emu-up.sh attached to the network's bridge (it kept the bridge and its address alive).
ip link del jnemu-pin0 2>/dev/null
log "kube-emu down"
exit 0
