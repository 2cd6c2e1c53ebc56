#!/usr/bin/env bash
# Long-running checks, too slow for every `scripts/test.sh` run. Each one is a cargo test whose
# bounded profile already runs in the cargo-test phase; here it runs at full size.
#
#   scripts/soak.sh snapshot     # H3: a node joins and catches up from a 3000 MB snapshot
#   scripts/soak.sh --list
#
# Env: JUMPNET_SOAK_SNAPSHOT_MB (default 3000). Needs about 5 x that in free disk under $TMPDIR
# (the leader's Raft log and segments, the received snapshot file and the joiner's segments).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$JUMPNET_ROOT"

SOAKS=(snapshot)
CARGO_FLAGS=(--release --locked --target "$CARGO_TARGET_TRIPLE")

soak_snapshot() {
  export JUMPNET_SOAK_SNAPSHOT_MB=${JUMPNET_SOAK_SNAPSHOT_MB:-3000}
  local need_kb=$((JUMPNET_SOAK_SNAPSHOT_MB * 5 * 1024)) free_kb
  free_kb=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $4 }')
  ((free_kb >= need_kb)) || die "soak snapshot: ${JUMPNET_SOAK_SNAPSHOT_MB} MB needs $((need_kb / 1024)) MB free under ${TMPDIR:-/tmp}, there are $((free_kb / 1024))"
  log "soak snapshot: ${JUMPNET_SOAK_SNAPSHOT_MB} MB"
  cargo test "${CARGO_FLAGS[@]}" -p jumpnet-broker --test cluster t31_big_snapshot -- --nocapture
}

if [[ ${1:-} == --list || $# -eq 0 ]]; then
  printf '%s\n' "${SOAKS[@]}"
  exit 0
fi
for s in "$@"; do
  [[ " ${SOAKS[*]} " == *" $s "* ]] || die "unknown soak: $s (scripts/soak.sh --list)"
  "soak_$s"
done
