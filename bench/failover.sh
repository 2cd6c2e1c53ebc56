#!/usr/bin/env bash
# Failover time under load: leader kill -9, or leader cut off by a network partition.
#
#   bench/failover.sh kill      [--trials 20] [--json FILE] [-- EXTRA NODE FLAGS]
#   bench/failover.sh partition [--trials 20] [--json FILE] [-- EXTRA NODE FLAGS]
#   e.g. bench/failover.sh kill --trials 20 -- -election-timeout-ms 100
#
# kill runs bench/failover.py on loopback. partition (root) builds a private network first: a
# namespace per node (jnp-perf-n1..3, 10.77.0.1-3) and one for the client (jnp-perf-c) holding a
# bridge the nodes' veth pairs plug into; the nodes run inside their namespaces, failover.py inside
# the client's, and the cut is iptables DROP in the old leader's namespace (both directions, to and
# from its two peers). Everything is removed on exit, also on failure. See failover.py for what is
# measured.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../scripts/lib/common.sh"
MODE=${1:?kill or partition}; shift
[[ -x $JUMPNET_BIN ]] || die "no $JUMPNET_BIN: cargo build --release --target $CARGO_TARGET_TRIPLE -p jumpnet-broker"
if [[ $MODE == kill ]]; then
  exec python3 "$HERE/failover.py" kill --binary "$JUMPNET_BIN" "$@"
fi
[[ $MODE == partition ]] || die "mode: kill or partition"
[[ $(id -u) == 0 ]] || die "partition mode needs root (network namespaces, iptables)"
command -v iptables >/dev/null || die "missing iptables: bench/install.sh"

P=jnp-perf
NET=10.77.0
cleanup() {
  local ns
  for ns in $P-n1 $P-n2 $P-n3 $P-c; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
cleanup
ip netns add $P-c
ip -n $P-c link set lo up
ip -n $P-c link add br0 type bridge
ip -n $P-c addr add $NET.254/24 dev br0
ip -n $P-c link set br0 up
for i in 1 2 3; do
  ip netns add $P-n$i
  ip -n $P-n$i link set lo up
  ip -n $P-n$i link add eth0 type veth peer name n$i netns $P-c
  ip -n $P-n$i addr add $NET.$i/24 dev eth0
  ip -n $P-n$i link set eth0 up
  ip -n $P-c link set n$i master br0
  ip -n $P-c link set n$i up
done
# The bridge ports take a moment to forward: wait until node 1's address answers (refused = reached).
for _ in $(seq 50); do
  ip netns exec $P-c python3 -c "import socket; socket.create_connection(('$NET.1', 9), 1)" 2>&1 | grep -q refused && break
  sleep 0.1
done
ip netns exec $P-c python3 "$HERE/failover.py" partition --binary "$JUMPNET_BIN" \
  --hosts "$NET.1,$NET.2,$NET.3" --netns "$P-n1,$P-n2,$P-n3" --port-base 17000 "$@"
