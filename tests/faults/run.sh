#!/usr/bin/env bash
# The fault campaign on real jumpnet processes (tests/faults/README.md).
#
#   tests/faults/run.sh                 # the bounded CI profile (scripts/test.sh faults runs this)
#   tests/faults/run.sh --soak          # longer: more cuts, splits and crash points (JNF_SOAK=1)
#   tests/faults/run.sh -k partition    # any pytest arguments select scenarios
#   JNF_SEED=123 tests/faults/run.sh    # replay the random choices of an earlier run
#
# Needs root (network namespaces, iptables, tmpfs and FUSE mounts) and the release build
# (JUMPNET_BIN, JNF_FAULTFS_BIN). Results: the table at the end and target/faults/results.json;
# node logs and filesystem logs per scenario under target/faults/<test>/.
# Everything it makes is named jnf-...; the exit trap removes whatever a killed run left behind.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib/common.sh"
cd "$JUMPNET_ROOT"
export JNF_FAULTFS_BIN=${JNF_FAULTFS_BIN:-$JUMPNET_ROOT/target/$CARGO_TARGET_TRIPLE/release/jnf-faultfs}
export JNF_OUT=${JNF_OUT:-$JUMPNET_ROOT/target/faults}

[[ $EUID -eq 0 ]] || die "the fault campaign needs root (netns, iptables, mounts, FUSE)"
for b in "$JUMPNET_BIN" "$JNF_FAULTFS_BIN"; do
  [[ -x $b ]] || die "missing $b: run the build first (scripts/test.sh build)"
done
for t in ip iptables fusermount3; do command -v "$t" >/dev/null || die "missing $t: run scripts/install-deps.sh"; done
[[ -c /dev/fuse ]] || die "no /dev/fuse on this machine"

if [[ ${1:-} == --soak ]]; then
  shift
  export JNF_SOAK=1
fi

cleanup() {
  local ns pid m
  # processes still inside our namespaces (a killed run's nodes), by pid
  for ns in $(ip netns list 2>/dev/null | awk '/^jnf-/ {print $1}'); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  # our FUSE and tmpfs mounts under the output dir
  while read -r m; do umount -l "$m" 2>/dev/null; done < <(awk -v d="$JNF_OUT/" 'index($2, d) == 1 {print $2}' /proc/mounts)
}
trap cleanup EXIT

mkdir -p "$JNF_OUT"
PYTHONPATH=$JUMPNET_ROOT/tests/lib${PYTHONPATH:+:$PYTHONPATH} \
  "$JUMPNET_PYTHON" -m pytest -p no:cacheprovider -ra tests/faults "$@"
