#!/usr/bin/env bash
# Durable single-message publish, Jumpnet vs NATS JetStream, side by side on this machine.
#
#   bench/compare-nats.sh [DURATION_SECONDS=10] [ROUNDS=3]
#   BENCH_CONNECTIONS="8 16 32 64 128" bench/compare-nats.sh 5 3   # points for bench/plot
#
# Two 3-node clusters on loopback, both up for the whole run: NATS 2.9 JetStream (file storage, an R3
# stream) and Jumpnet. One load generator (bench/loadgen, Rust) drives both the same way: 64
# connections, each with one publish in flight, 100-byte values. NATS: 64 client connections, each a
# synchronous publisher that waits for the stream's ack (async-nats, the client NATS maintains), to
# the stream leader's server. Jumpnet: 64 HTTP/1.1 keep-alive connections to the leader, the seed's
# `PUT /` and the v1 publish of one message. The runs alternate (the order rotates each round);
# the summary gives medians, the spread, and the ratios.
#
# Durability is not the same, and the figures say so: Jumpnet answers a publish after a quorum
# fsynced it; NATS 2.9 answers once a quorum has the message in its file store's buffers and fsyncs
# the blocks on a timer (2 minutes, not configurable before 2.10), so an ack survives a process crash
# but not a power loss of a quorum.
#
# Last: a client-ceiling run against an R1 in-memory stream (the cheapest JetStream publish there is)
# shows how fast the load generator can go on this machine; a ceiling far above the R3 figure means
# the client is not what limits it. Each result also records the cores the client itself used.
#
# Results: one JSON file per run (schema jumpnet-bench/1, bench/README.md) in $BENCH_OUT
# (default bench/results/tmp-nats-DATE), and summary.json beside them. Needs: bench/install.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DUR=${1:-10}
ROUNDS=${2:-3}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-nats-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
need nats-server curl python3
ensure_jumpnet
ensure_loadgen

log "NATS: 3 servers (ports $((BASE + 51))-$((BASE + 53)))"
start_nats3
NATS_LEADER=$(nats_stream --name BENCH --subjects 'bench.>' --replicas 3 --storage file)
log "NATS: stream BENCH (R3, file) led by $NATS_LEADER"
log "Jumpnet: 3 nodes (APIs ${BASE}+11..13)"
start_jumpnet3
JN_LEADER=$(jn_leader_api)
VALUE=$(printf 'x%.0s' $(seq 1 "$VALUE_SIZE"))
# Create the v1 topic before the runs (the first publish would create it).
curl -sf -X POST "http://$JN_LEADER/v1/topics/bench-v1/messages" -H 'content-type: application/json' \
  -d "{\"messages\":[{\"value\":\"$VALUE\"}]}" >/dev/null

shape=(--message-size "$VALUE_SIZE" --note nodes=3)
common=("${shape[@]}" --duration "$DUR")
run_nats() { # run_nats ROUND CONNECTIONS
  "$LOADGEN" nats --servers "$NATS_LEADER" --subject bench.publish "${common[@]}" --system nats \
    --label "nats jetstream R3 file (sync publishers)" --connections "$2" --json "$OUT/nats.c$2.r$1.json" \
    --note "durability=ack after a quorum buffered it; fsync every 2 min (nats-server 2.9 default)"
}
run_seed() {
  "$LOADGEN" http --url "http://$JN_LEADER/" --method PUT --body '{"Key":"bench","Value":"{VALUE}"}' \
    "${common[@]}" --system jumpnet --label "jumpnet PUT / (leader)" --connections "$2" --json "$OUT/jumpnet-seed.c$2.r$1.json" \
    --note "durability=ack after a quorum fsynced it"
}
run_v1() {
  "$LOADGEN" http --url "http://$JN_LEADER/v1/topics/bench-v1/messages" --method POST \
    --body '{"messages":[{"value":"{VALUE}"}]}' "${common[@]}" --system jumpnet \
    --label "jumpnet v1 publish, 1 message (leader)" --connections "$2" --json "$OUT/jumpnet-v1.c$2.r$1.json" \
    --note "durability=ack after a quorum fsynced it"
}
order=(run_nats run_seed run_v1)
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONNECTIONS_LIST; do
    log "round $r/$ROUNDS, $c connections (load average $(cut -d' ' -f1 /proc/loadavg))"
    for k in 0 1 2; do "${order[$(((k + r - 1) % 3))]}" "$r" "$c"; done
  done
done

log "client ceiling: the same load generator against an R1 in-memory stream"
CEIL=$(nats_stream --name CEILING --subjects 'ceiling.>' --replicas 1 --storage memory)
"$LOADGEN" nats --servers "$CEIL" --subject ceiling.publish "${shape[@]}" --connections 64 --duration "$(((DUR + 1) / 2))" \
  --system nats --label "client ceiling: nats R1 memory" --json "$OUT/ceiling.json"
stop_nats3
stop_jumpnet3

echo
summarize "$OUT" --ratio jumpnet --ratio "R3 file" --json "$OUT/summary.json"
echo "results: $OUT"
