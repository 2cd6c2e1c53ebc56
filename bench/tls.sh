#!/usr/bin/env bash
# TLS on and off: the same 3-node `jumpnet dev` cluster without and with `--tls` (HTTPS API and mutual
# TLS on the raft ports, throwaway CA), alternated ROUNDS times; each round runs a durable
# single-message publish at 64 connections and a batched publish (4 producers x 16, batches of 100).
#
#   bench/tls.sh [SECONDS=10] [ROUNDS=2]
#
# Results: one JSON per run (schema jumpnet-bench/1) in $BENCH_OUT (default bench/results/tmp-tls-DATE).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
ROUNDS=${2:-2}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-tls-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
API=$((BASE + 11))
servers() { echo "$1://127.0.0.1:$API,$1://127.0.0.1:$((API + 1)),$1://127.0.0.1:$((API + 2))"; }
for round in $(seq "$ROUNDS"); do
  for mode in plain tls; do
    dir="$WORK/dev-$mode" scheme=http flags=() trust=()
    if [[ $mode == tls ]]; then flags=(--tls); scheme=https; trust=(--cacert "$dir/tls/ca.pem"); fi
    spawn "$JUMPNET" dev --clean --dir "$dir" --raft-port $((BASE + 21)) --api-port "$API" --kafka-port 0 \
      "${flags[@]}" >"$WORK/dev-$mode-$round.log" 2>&1
    dev=$LAST_PID
    for i in 0 1 2; do
      wait_for 60 "node $i of the $mode cluster" curl -sf ${trust[@]:+"${trust[@]}"} -o /dev/null \
        "$scheme://127.0.0.1:$((API + i))/readyz"
    done
    log "round $round, $mode: single-message publish, 64 connections"
    "$JUMPNET" bench --server "$(servers "$scheme")" ${trust[@]:+"${trust[@]}"} --concurrency 64 \
      --duration "${SECS}s" --label "$mode single c64 r$round" --json "$OUT/$mode-single-r$round.json" | grep -E "^publish|p50"
    log "round $round, $mode: batched publish, 4 x 16 x 100"
    "$JUMPNET" bench --server "$(servers "$scheme")" ${trust[@]:+"${trust[@]}"} --producers 4 --concurrency 16 \
      --batch-size 100 --duration "${SECS}s" --label "$mode batched r$round" --json "$OUT/$mode-batched-r$round.json" | grep -E "^publish|p50"
    reap "$dev"
  done
done
log "results in $OUT"
