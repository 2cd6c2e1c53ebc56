#!/usr/bin/env bash
# Backlog read throughput: a 3-node cluster, a topic filled to N messages (100 bytes, batched
# publish through the leader), then drained from one follower by one reader: v1 paged reads, then
# Server-Sent Events; the node's RSS is sampled during each read (memory flat or not).
#
#   bench/backlog.sh [MESSAGES=10000000]
#
# Results: JSON per step (schema jumpnet-bench/1, phases fill/read with a memory object) in
# $BENCH_OUT (default bench/results/tmp-backlog-DATE).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N=${1:-10000000}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-backlog-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
start_jumpnet3
LEADER=$(jn_leader_api)
FOLLOWER=$(for a in "${JN_API[@]:1}"; do [[ $a != "$LEADER" ]] && echo "$a" && break; done)
log "filling $N messages through the leader $LEADER, reading from the leader once"
"$JUMPNET" bench --server "http://$LEADER" --topic backlog --backlog "$N" --producers 4 --concurrency 4 \
  --fill-batch-size 1000 --read v1 --label "backlog $N: fill + v1 read (leader)" --json "$OUT/fill-and-read-leader-v1.json"
for api in v1 sse; do
  log "reading all $N from the follower $FOLLOWER with $api"
  "$JUMPNET" bench --server "http://$FOLLOWER" --topic backlog --backlog "$N" --read "$api" \
    --label "backlog $N: $api read (follower)" --json "$OUT/read-follower-$api.json"
done
du -sh "$WORK/jn1" | sed 's/^/state dir of one node: /'
