#!/usr/bin/env bash
# Kafka against HTTP, side by side, and a backlog drained through Kafka Fetch.
#
#  1. 3 nodes (`--kafka` on each), everything sent to the leader, ROUNDS alternated rounds (the order
#     rotates) of the same load, 100-byte values, batches of BATCH records, 64 requests in flight:
#       http       jumpnet bench, v1 batched publish, 4 producers x 16 in flight (the README figure)
#       kafka64x1  jumpnet bench --kafka, 64 connections x 1 Produce in flight, acks=all
#       kafka16x4  jumpnet bench --kafka, 16 connections x 4 Produces in flight (pipelined)
#     and once a real client: confluent-kafka's producer (acks=all, batch.num.messages=BATCH).
#  2. 1 node: a backlog of BACKLOG records filled over Kafka, then drained from the first offset by
#     jumpnet bench's Kafka Fetch reader (twice), by its v1 paged reader (the HTTP figure), and by
#     confluent-kafka's consumer and kcat (real clients: the cross-check).
#
#   bench/kafka.sh [SECONDS=10] [ROUNDS=3] [BACKLOG=1000000] [BATCH=100]
#
# Results: JSON per run (schema jumpnet-bench/1; the real clients' lines as *.client.json) in
# $BENCH_OUT (default bench/results/tmp-kafka-DATE); the summary table at the end (summarize.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
ROUNDS=${2:-3}
BACKLOG=${3:-1000000}
BATCH=${4:-100}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-kafka-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
need kcat
PY=${JUMPNET_PYTHON:-python3}
"$PY" -c 'import confluent_kafka' 2>/dev/null || die "no confluent-kafka in $PY: scripts/install-deps.sh"
KAFKA=("" "127.0.0.1:$((BASE + 71))" "127.0.0.1:$((BASE + 72))" "127.0.0.1:$((BASE + 73))")

# Node N with its Kafka listener (lib.sh's jn_start with --kafka).
kafka_start() { jn_start "$1" --kafka "${KAFKA[$1]}"; }
# The leader's Kafka address, as /v1/cluster names it.
leader_kafka() {
  curl -sf "http://${JN_API[1]}/v1/cluster" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print([m["kafka_addr"] for m in v["members"] if m["id"] == v["leader_id"]][0])'
}
run() { # run NAME LABEL ARGS...: one jumpnet bench run, its JSON in $OUT
  local name=$1 label=$2; shift 2
  "$JUMPNET" bench --label "$label" --json "$OUT/$name.json" "$@" | grep -E "^(publish|produce|fill|fetch|read)|p50"
}

JN_API=("" "127.0.0.1:$((BASE + 11))" "127.0.0.1:$((BASE + 12))" "127.0.0.1:$((BASE + 13))")
for i in 1 2 3; do kafka_start "$i"; [[ $i == 1 ]] && wait_http "http://${JN_API[1]}/readyz"; done
for i in 2 3; do wait_http "http://${JN_API[$i]}/readyz"; done
LEADER=$(jn_leader_api)
LEADER_K=$(leader_kafka)
log "3 nodes up; leader API $LEADER, Kafka $LEADER_K; ${SECS}s runs, $ROUNDS rounds, batches of $BATCH"
loads=(http kafka64x1 kafka16x4)
for round in $(seq "$ROUNDS"); do
  for k in 0 1 2; do
    load=${loads[$(((k + round - 1) % 3))]}
    log "round $round: $load"
    case $load in
      http) run "http-r$round" "http v1 batched 4x16" --server "http://$LEADER" --producers 4 --concurrency 16 \
              --batch-size "$BATCH" --message-size "$VALUE_SIZE" --duration "${SECS}s" ;;
      kafka64x1) run "kafka64x1-r$round" "kafka produce 64x1" --kafka "$LEADER_K" --server "http://$LEADER" \
              --producers 64 --concurrency 1 --batch-size "$BATCH" --message-size "$VALUE_SIZE" --duration "${SECS}s" ;;
      kafka16x4) run "kafka16x4-r$round" "kafka produce 16x4" --kafka "$LEADER_K" --server "http://$LEADER" \
              --producers 16 --concurrency 4 --batch-size "$BATCH" --message-size "$VALUE_SIZE" --duration "${SECS}s" ;;
    esac
  done
done
log "cross-check: confluent-kafka producer, ${SECS}s, acks=all"
"$PY" "$BENCH_DIR/kafka_client.py" produce "$LEADER_K" "bench-confluent" --seconds "$SECS" --batch "$BATCH" \
  --message-size "$VALUE_SIZE" | tee "$OUT/confluent-produce.client.json"
summarize "$OUT" --ratio "http v1" --ratio "kafka produce 64x1" --ratio "kafka produce 16x4" | tee "$OUT/summary-produce.txt"
stop_jumpnet3

log "1 node: backlog of $BACKLOG over Kafka, drained by Fetch, v1 pages, confluent-kafka, kcat"
rm -rf "$WORK/jn1"
JN_API=("" "127.0.0.1:$((BASE + 11))")
kafka_start 1
wait_http "http://${JN_API[1]}/readyz"
K=${KAFKA[1]} S=http://${JN_API[1]}
run backlog-fill-fetch "kafka backlog $BACKLOG: fill + fetch" --kafka "$K" --server "$S" --topic backlog \
  --backlog "$BACKLOG" --producers 4 --concurrency 4 --fill-batch-size 1000 --message-size "$VALUE_SIZE"
run backlog-fetch "kafka backlog $BACKLOG: fetch" --kafka "$K" --server "$S" --topic backlog --backlog "$BACKLOG" \
  --message-size "$VALUE_SIZE"
run backlog-v1 "http backlog $BACKLOG: v1 read" --server "$S" --topic backlog --backlog "$BACKLOG" --read v1 \
  --message-size "$VALUE_SIZE"
log "confluent-kafka consumer"
"$PY" "$BENCH_DIR/kafka_client.py" consume "$K" backlog --count "$BACKLOG" | tee "$OUT/confluent-consume.client.json"
log "kcat -C -e (prints offsets to a pipe)"
t0=$(date +%s.%N)
n=$(kcat -C -b "$K" -t backlog -p 0 -o beginning -e -q -f '%o\n' | wc -l)
t1=$(date +%s.%N)
python3 -c "import json; s=$t1-$t0; print(json.dumps({'client': 'kcat', 'op': 'consume', 'records': $n, 'seconds': s, 'msgs_per_s': $n / s}))" \
  | tee "$OUT/kcat-consume.client.json"
du -sh "$WORK/jn1" | sed 's/^/state dir: /'
log "results in $OUT"
