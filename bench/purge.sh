#!/usr/bin/env bash
# mimalloc's purge delay vs throughput and memory, on a 3-node cluster.
#
#   bench/purge.sh [ROUNDS=2] [DELAYS="0 10 50"]
#
# For each delay (MIMALLOC_PURGE_DELAY, ms; main.rs sets 0 unless the variable is set), alternated
# per round: a fresh 3-node cluster, the leader's RSS idle after start, then a batched load
# (4 x 16 x 100) and a single-message load (4 x 16 x 1), 8 s each, with the leader's RSS sampled
# every 200 ms, then its RSS after 5 s idle. Prints one line per run; results in
# bench/results/tmp-purge-DATE/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-2}
DELAYS=${2:-0 10 50}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-purge-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# sample PID FILE: the RSS every 200 ms until killed
sample() { while :; do rss_mb "$1" >>"$2"; echo >>"$2"; sleep 0.2; done; }
stats() { python3 -c "import sys; v=[float(x) for x in open(sys.argv[1]) if x.strip()]; print(f'{min(v):.1f}-{max(v):.1f}')" "$1"; }
thr() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['phases'][0]['throughput_msgs_per_s']))" "$1"; }

printf '%-6s %-6s %10s %12s %10s %12s %10s %10s\n' round delay idle_mb batched/s batched_mb single/s single_mb after_mb | tee "$OUT/summary.txt"
for r in $(seq 1 "$ROUNDS"); do
  for d in $DELAYS; do
    WORK_R=$WORK/r$r-d$d; mkdir -p "$WORK_R"
    export MIMALLOC_PURGE_DELAY=$d
    BASE=$(pick_base)
    start_jumpnet3
    leader=$(jn_leader_api)
    for i in 1 2 3; do [[ ${JN_API[$i]} == "$leader" ]] && LPID=${JN_PIDS[$i]}; done
    sleep 3
    idle=$(rss_mb "$LPID")
    run=()
    for load in batched single; do
      bs=100; [[ $load == single ]] && bs=1
      sample "$LPID" "$OUT/rss-r$r-d$d-$load.txt" & SPID=$!
      "$JUMPNET" bench --server "http://$leader" --topic "p$load" --producers 4 --concurrency 16 --batch-size "$bs" \
        --duration 8s --json "$OUT/r$r-d$d-$load.json" >/dev/null
      kill "$SPID"; wait "$SPID" 2>/dev/null || true
      run+=("$(thr "$OUT/r$r-d$d-$load.json")" "$(stats "$OUT/rss-r$r-d$d-$load.txt")")
    done
    sleep 5
    after=$(rss_mb "$LPID")
    printf '%-6s %-6s %10s %12s %10s %12s %10s %10s\n' "$r" "$d" "$idle" "${run[0]}" "${run[1]}" "${run[2]}" "${run[3]}" "$after" | tee -a "$OUT/summary.txt"
    stop_jumpnet3
    rm -rf "$WORK"/jn1 "$WORK"/jn2 "$WORK"/jn3
  done
done
unset MIMALLOC_PURGE_DELAY
