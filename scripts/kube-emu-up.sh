#!/usr/bin/env bash
# Starts a Kubernetes API for the end-to-end tests: ../shared/kube-emu's kube_emu.py (plain HTTP on
# 127.0.0.1 for kubectl/helm, HTTPS on the podman network's gateway for in-cluster clients such as the
# operator) and podman_kubelet.py (StatefulSets, Deployments, pods as podman containers).
#
# RBAC is enforced as on a real cluster: the kubelet runs without --token-file, so every pod gets a token
# of its own ServiceAccount and the emulator answers 403 to whatever its Roles do not grant (a rule
# missing from the chart fails the suite). The emulator logs every request (-v) to target/kube-emu/emu.log:
# the suite reads it to check how the operator restarted pods (evictions, not deletes).
#
#   scripts/kube-emu-up.sh && export KUBECONFIG=$PWD/target/kube-emu/kubeconfig
#   scripts/kube-emu-down.sh
#
# Idempotent: when both processes of an earlier run still answer, it only prints the KUBECONFIG line.
# Env: KUBE_EMU_PORT (16453), KUBE_EMU_TLS_PORT (16454), KUBE_EMU_NETWORK (jumpnet-kube-emu),
#      KUBE_EMU_NODE (jumpnet-kubelet). Not kube-emu's defaults, so another emulator on the same machine
#      (a developer's) neither collides with this one nor has its containers and volumes cleaned up by it.
# State, logs and pid files: target/kube-emu/.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

PORT=${KUBE_EMU_PORT:-16453}
TLS_PORT=${KUBE_EMU_TLS_PORT:-16454}
NET=${KUBE_EMU_NETWORK:-jumpnet-kube-emu}
NODE=${KUBE_EMU_NODE:-jumpnet-kubelet}
DIR=$JUMPNET_ROOT/target/kube-emu
export KUBECONFIG=$DIR/kubeconfig

alive() { [[ -f $DIR/$1.pid ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
api_up() { "$KUBECTL" --request-timeout=2s get --raw /readyz >/dev/null 2>&1; }
node_ready() {
  [[ $("$KUBECTL" get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

for f in kube_emu.py podman_kubelet.py; do
  [[ -f $KUBE_EMU_DIR/$f ]] || die "missing $KUBE_EMU_DIR/$f (shared/kube-emu beside the repo)"
done
[[ -x $JUMPNET_PYTHON && -x $KUBECTL ]] || die "run scripts/install-deps.sh first (venv, kubectl)"

if alive emu && alive kubelet && api_up && node_ready; then
  log "kube-emu already up"
  echo "export KUBECONFIG=$KUBECONFIG"
  exit 0
fi
"$JUMPNET_ROOT/scripts/kube-emu-down.sh" >/dev/null 2>&1 || true

mkdir -p "$DIR"
write_containers_conf
podman network exists "$NET" || podman network create "$NET" >/dev/null
GW=$(podman network inspect "$NET" --format '{{(index .Subnets 0).Gateway}}')
[[ -n $GW ]] || die "podman network $NET has no gateway"

# Pin the network bridge's MAC address. A Linux bridge whose address was never set takes the lowest MAC of its
# ports, so removing one pod's veth can change it; every other pod keeps the old address for the gateway in its
# ARP cache, and its answers to the host (the tests, the kube-emu API) go nowhere until that entry expires: a
# ConnectTimeout to a healthy pod while another pod restarts, which no real cluster's CNI does. netavark creates
# the bridge with its first container and deletes it with its last, so: start a throwaway pod to bring the bridge
# up, attach a veth of ours (keeps the bridge alive when no pod is left), set the bridge's address explicitly
# (the kernel then never recomputes it), and remove the throwaway pod. kube-emu-down.sh removes the veth.
PIN=jnemu-pin0
BR=$(podman network inspect "$NET" --format '{{.NetworkInterface}}')
[[ -n $BR ]] || die "podman network $NET names no bridge interface"
if [[ $(basename "$(readlink "/sys/class/net/$PIN/master" 2>/dev/null)") != "$BR" ]]; then
  ip link del "$PIN" 2>/dev/null || true
  podman pod rm -f -t 0 jnemu-bridge-up >/dev/null 2>&1 || true
  podman --runtime "$PODMAN_RUNTIME" pod create --name jnemu-bridge-up --network "$NET" >/dev/null \
    && podman --runtime "$PODMAN_RUNTIME" pod start jnemu-bridge-up >/dev/null \
    || die "could not start a pod on podman network $NET (to bring its bridge $BR up)"
  [[ -d /sys/class/net/$BR/bridge ]] || die "podman network $NET: no bridge $BR after a pod started"
  if ip link add "$PIN" type veth peer name jnemu-pin1 && ip link set "$PIN" master "$BR" \
    && ip link set "$PIN" up && ip link set jnemu-pin1 up \
    && ip link set dev "$BR" address "$(cat "/sys/class/net/$BR/address")"; then
    log "kube-emu: bridge $BR of network $NET pinned at $(cat "/sys/class/net/$BR/address")"
  else  # rootless podman: no bridge of ours to pin; requests may time out while a pod is replaced
    ip link del "$PIN" 2>/dev/null || true
    log "kube-emu: WARNING: could not pin the address of bridge $BR (needs root)"
  fi
  podman pod rm -f -t 0 jnemu-bridge-up >/dev/null 2>&1
fi

log "kube-emu: API on 127.0.0.1:$PORT (http) and $GW:$TLS_PORT (https)"
setsid "$JUMPNET_PYTHON" "$KUBE_EMU_DIR/kube_emu.py" --port "$PORT" --kubeconfig-out "$KUBECONFIG" \
  --tls-host "$GW" --tls-port "$TLS_PORT" --state-dir "$DIR/state" -v \
  </dev/null >"$DIR/emu.log" 2>&1 &
echo $! >"$DIR/emu.pid"
# The kubeconfig is written as the server starts: wait for both before anything talks to it.
wait_for 60 "the kube-emu API server (log: $DIR/emu.log)" bash -c "[[ -s '$KUBECONFIG' ]] && '$KUBECTL' --request-timeout=2s get --raw /readyz" \
  || { tail -20 "$DIR/emu.log" >&2; exit 1; }
[[ -s $DIR/state/ca.crt && -s $DIR/state/token ]] || die "kube-emu wrote no CA/token into $DIR/state"

# kube-emu's kubelet checks the certificate of an HTTPS probe against the CAs it trusts and the pod IP
# (podman_kubelet.py::probe, aiohttp's default context); a real kubelet does not verify it at all. So that
# a TLS cluster can turn Ready here, the kubelet trusts one more CA (besides the system's, through
# SSL_CERT_FILE, which Python's default context reads), and probe-ca/ holds that CA and the pod subnet:
# an e2e test playing cert-manager's issuer (tests/e2e/test_10_tls.py) signs with it and adds the
# subnet's addresses, which is all the emulator's check needs. Nothing else uses it; kind needs none.
PROBE_CA=$DIR/probe-ca
rm -rf "$PROBE_CA" && mkdir -p "$PROBE_CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=kube-emu probe CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$PROBE_CA/ca.key" -out "$PROBE_CA/ca.crt" 2>/dev/null || die "openssl: could not make the probe CA"
cat /etc/ssl/certs/ca-certificates.crt "$PROBE_CA/ca.crt" >"$PROBE_CA/bundle.pem" 2>/dev/null \
  || cp "$PROBE_CA/ca.crt" "$PROBE_CA/bundle.pem"
podman network inspect "$NET" --format '{{(index .Subnets 0).Subnet}}' >"$PROBE_CA/subnet"

# The kubelet runs through scripts/lib/kubelet_tombstones.py: kube-emu's podman_kubelet.py with one fix to its
# informer cache (the answer to its own final DELETE of a pod could bring the deleted pod back into the cache
# for good, and its StatefulSet controller then never recreated that pod; the file says how). Tested by
# tests/kube-emu/ (the e2e phase runs it first).
log "kube-emu: podman kubelet on network $NET"
SSL_CERT_FILE=$PROBE_CA/bundle.pem setsid "$JUMPNET_PYTHON" "$JUMPNET_ROOT/scripts/lib/kubelet_tombstones.py" "$KUBE_EMU_DIR" --kubeconfig "$KUBECONFIG" --node-name "$NODE" \
  --network "$NET" --runtime "$PODMAN_RUNTIME" --containers-conf "$CONTAINERS_CONF" \
  --state-dir "$DIR/kubelet" --api-host "$GW" --api-port "$TLS_PORT" \
  --ca-file "$DIR/state/ca.crt" --cleanup-on-exit -v \
  </dev/null >"$DIR/kubelet.log" 2>&1 &
echo $! >"$DIR/kubelet.pid"
wait_for 60 "node $NODE Ready (log: $DIR/kubelet.log)" node_ready || { tail -20 "$DIR/kubelet.log" >&2; exit 1; }
log "kube-emu up"
echo "export KUBECONFIG=$KUBECONFIG"
