#!/usr/bin/env bash
# Backlog read throughput: a 3-node cluster, a topic filled to N messages (100 bytes, batched
# publish through the leader), then drained from one follower by one reader: v1 paged reads, then
# Server-Sent Events; the node's RSS is sampled during each read (memory flat or not).
#
#   bench/backlog.sh [MESSAGES=10000000]
#   BENCH_NODES=1 bench/backlog.sh     # one node: the fill without replication, the same reads
#
# On 3 nodes of a loaded 2-core machine the 10M fill can stall in an election storm (AppendEntries of
# 2 MiB entries miss openraft's 75 ms timeout; bench/README.md), which is a finding of its own; the
# read figures do not depend on how the topic was filled.
#
# Results: JSON per step (schema jumpnet-bench/1, phases fill/read with a memory object) in
# $BENCH_OUT (default bench/results/tmp-backlog-DATE).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N=${1:-10000000}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-backlog-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
if [[ ${BENCH_NODES:-3} == 1 ]]; then
  JN_API=("" "127.0.0.1:$((BASE + 11))")
  jn_start 1
  wait_http "http://${JN_API[1]}/readyz"
  LEADER=${JN_API[1]} FOLLOWER=${JN_API[1]}
else
  start_jumpnet3
  LEADER=$(jn_leader_api)
  FOLLOWER=$(for a in "${JN_API[@]:1}"; do [[ $a != "$LEADER" ]] && echo "$a" && break; done)
fi
log "filling $N messages through the leader $LEADER, reading from the leader once"
"$JUMPNET" bench --server "http://$LEADER" --topic backlog --backlog "$N" --producers 4 --concurrency 4 \
  --fill-batch-size 1000 --read v1 --label "backlog $N: fill + v1 read (leader)" --json "$OUT/fill-and-read-leader-v1.json"
for api in v1 sse; do
  log "reading all $N from $FOLLOWER with $api"
  "$JUMPNET" bench --server "http://$FOLLOWER" --topic backlog --backlog "$N" --read "$api" \
    --label "backlog $N: $api read (${BENCH_NODES:-3} nodes, from a follower when 3)" --json "$OUT/read-$api.json"
done
du -sh "$WORK/jn1" | sed 's/^/state dir of one node: /'
