#!/usr/bin/env bash
# Two builds side by side over Kafka Produce: a 3-node cluster of each (`--kafka` on every node),
# both up for the whole run, `jumpnet bench --kafka` against each leader's Kafka listener in turn
# (the order alternating per round), then once per side confluent-kafka's producer (one
# connection, acks=all) when it is installed.
#
#   JUMPNET_BIN=NEW bench/kafka_ab.sh OLD_BIN [ROUNDS=3] [SECONDS=10] [PRODUCERS=1] [CONCURRENCY=8] [BATCH=100]
#
# Prints msgs/s and p99 per run and the median ratio NEW/OLD; results in bench/results/tmp-kafka-ab-DATE/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OLD=${1:?old binary}
ROUNDS=${2:-3}
DUR=${3:-10}
PRODUCERS=${4:-1}
CONC=${5:-8}
BATCH=${6:-100}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-kafka-ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
NEW=$JUMPNET
PY=${JUMPNET_PYTHON:-python3}
declare -A LEADER LEADER_K
for side in old new; do
  [[ $side == old ]] && JUMPNET=$OLD || JUMPNET=$NEW
  BASE=$(pick_base)
  mkdir -p "$WORK/$side"
  WORK_SAVED=$WORK; WORK=$WORK/$side
  JN_API=("" "127.0.0.1:$((BASE + 11))" "127.0.0.1:$((BASE + 12))" "127.0.0.1:$((BASE + 13))")
  for i in 1 2 3; do
    jn_start "$i" --kafka "127.0.0.1:$((BASE + 70 + i))"
    [[ $i == 1 ]] && wait_http "http://${JN_API[1]}/readyz"
  done
  for i in 2 3; do wait_http "http://${JN_API[$i]}/readyz"; done
  LEADER[$side]=$(jn_leader_api)
  LEADER_K[$side]=$(curl -sf "http://${LEADER[$side]}/v1/cluster" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print([m["kafka_addr"] for m in v["members"] if m["id"] == v["leader_id"]][0])')
  WORK=$WORK_SAVED
done
JUMPNET=$NEW
args=(--topic kab --producers "$PRODUCERS" --concurrency "$CONC" --batch-size "$BATCH" --message-size "$VALUE_SIZE")
for side in old new; do   # warm-up: topic created, connections opened once
  "$JUMPNET" bench --kafka "${LEADER_K[$side]}" --server "http://${LEADER[$side]}" "${args[@]}" --duration 2s >/dev/null
done
for r in $(seq 1 "$ROUNDS"); do
  order="old new"; ((r % 2 == 0)) && order="new old"
  for side in $order; do
    "$JUMPNET" bench --kafka "${LEADER_K[$side]}" --server "http://${LEADER[$side]}" "${args[@]}" \
      --duration "${DUR}s" --json "$OUT/$side.r$r.json" >/dev/null
    python3 -c "import json,sys,os; p=json.load(open(sys.argv[1]))['phases'][0]; print(f\"round {sys.argv[2]} {sys.argv[3]:>3}: {p['throughput_msgs_per_s']:>9.0f} msgs/s  p50 {p['latency_ms']['p50']:.2f} ms  p99 {p['latency_ms']['p99']:.2f} ms  load {os.getloadavg()[0]:.1f}\")" "$OUT/$side.r$r.json" "$r" "$side"
  done
done | tee "$OUT/runs.txt"
python3 - "$OUT" <<'PYEOF' | tee "$OUT/summary.txt"
import glob, json, statistics, sys
out = sys.argv[1]
med = {}
for side in ("old", "new"):
    v = [json.load(open(f))["phases"][0]["throughput_msgs_per_s"] for f in sorted(glob.glob(f"{out}/{side}.r*.json"))]
    p99 = [json.load(open(f))["phases"][0]["latency_ms"]["p99"] for f in sorted(glob.glob(f"{out}/{side}.r*.json"))]
    med[side] = statistics.median(v)
    print(f"{side}: median {med[side]:.0f} msgs/s (range {min(v):.0f}-{max(v):.0f}), p99 median {statistics.median(p99):.2f} ms")
print(f"new/old: {med['new'] / med['old']:.2f}x")
PYEOF
if "$PY" -c 'import confluent_kafka' 2>/dev/null; then
  for side in old new; do
    printf 'confluent-kafka producer (one connection, acks=all, batch %s) %s: ' "$BATCH" "$side"
    "$PY" "$BENCH_DIR/kafka_client.py" produce "${LEADER_K[$side]}" "kab-confluent" --seconds "$DUR" --batch "$BATCH" \
      --message-size "$VALUE_SIZE" | tee "$OUT/confluent-$side.client.json"
  done
fi
