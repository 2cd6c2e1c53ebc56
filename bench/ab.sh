#!/usr/bin/env bash
# Two builds side by side: a 3-node cluster of each, both up for the whole run, durable
# single-message publishes (jumpnet bench, 4 producers x 16 in flight, batch 1) against each
# leader in turn, the order alternating per round.
#
#   JUMPNET_BIN=NEW bench/ab.sh OLD_BIN [ROUNDS=4] [SECONDS=8] [BATCH=1]
#
# Prints msgs/s and p99 per run and the median ratio NEW/OLD; results in bench/results/tmp-ab-DATE/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OLD=${1:?old binary}
ROUNDS=${2:-4}
DUR=${3:-8}
BATCH=${4:-1}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
NEW=$JUMPNET
declare -A LEADER NODES
for side in old new; do
  [[ $side == old ]] && JUMPNET=$OLD || JUMPNET=$NEW
  BASE=$(pick_base)
  mkdir -p "$WORK/$side"
  WORK_SAVED=$WORK; WORK=$WORK/$side
  start_jumpnet3
  LEADER[$side]=$(jn_leader_api)
  NODES[$side]="${JN_API[*]:1}"
  WORK=$WORK_SAVED
done
JUMPNET=$NEW
for side in old new; do   # warm-up: topic created, connections opened once
  "$JUMPNET" bench --server "http://${LEADER[$side]}" --topic ab --producers 4 --concurrency 16 --batch-size "$BATCH" --duration 2s >/dev/null
done
for r in $(seq 1 "$ROUNDS"); do
  order="old new"; ((r % 2 == 0)) && order="new old"
  for side in $order; do
    "$JUMPNET" bench --server "http://${LEADER[$side]}" --topic ab --producers 4 --concurrency 16 --batch-size "$BATCH" \
      --duration "${DUR}s" --json "$OUT/$side.r$r.json" >/dev/null
    python3 -c "import json,sys,os; p=json.load(open(sys.argv[1]))['phases'][0]; print(f\"round {sys.argv[2]} {sys.argv[3]:>3}: {p['throughput_msgs_per_s']:>9.0f} msgs/s  p50 {p['latency_ms']['p50']:.2f} ms  p99 {p['latency_ms']['p99']:.2f} ms  p99.9 {p['latency_ms']['p999']:.1f} ms  load {os.getloadavg()[0]:.1f}\")" "$OUT/$side.r$r.json" "$r" "$side"
  done
done | tee "$OUT/runs.txt"
for side in old new; do   # failed AppendEntries over the whole run (warm-up included), all nodes
  n=0
  for a in ${NODES[$side]}; do
    c=$(curl -sf "http://$a/metrics" | awk '/^jumpnet_raft_peer_rpc_failures_total\{.*append_entries/ {s += $2} END {print s + 0}')
    n=$((n + c))
  done
  echo "$side: $n failed AppendEntries"
done | tee "$OUT/rpc-failures.txt"
python3 - "$OUT" <<'EOF' | tee "$OUT/summary.txt"
import glob, json, statistics, sys
out = sys.argv[1]
med = {}
for side in ("old", "new"):
    v = [json.load(open(f))["phases"][0]["throughput_msgs_per_s"] for f in sorted(glob.glob(f"{out}/{side}.r*.json"))]
    p99 = [json.load(open(f))["phases"][0]["latency_ms"]["p99"] for f in sorted(glob.glob(f"{out}/{side}.r*.json"))]
    med[side] = statistics.median(v)
    p999 = [json.load(open(f))["phases"][0]["latency_ms"]["p999"] for f in sorted(glob.glob(f"{out}/{side}.r*.json"))]
    print(f"{side}: median {med[side]:.0f} msgs/s (range {min(v):.0f}-{max(v):.0f}), p99 median {statistics.median(p99):.2f} ms, p99.9 median {statistics.median(p999):.2f} ms (range {min(p999):.1f}-{max(p999):.1f})")
print(f"new/old: {med['new'] / med['old']:.2f}x")
EOF
