#!/usr/bin/env bash
# Durable single-message writes, Jumpnet vs etcd, side by side on this machine.
#
#   bench/compare-etcd.sh [DURATION_SECONDS=10] [ROUNDS=3]
#   BENCH_CONNECTIONS="8 16 32 64 128" bench/compare-etcd.sh 5 3   # points for bench/plot
#   BENCH_WRK_CHECK=1 bench/compare-etcd.sh 10 1                 # + wrk on the same Jumpnet load
#
# Two 3-node clusters on loopback, both up for the whole run: etcd 3.4 (default durability: the
# leader and followers fsync the WAL before a put is answered) and Jumpnet (a publish is answered
# after a quorum fsynced it). The same load generator (bench/loadgen) drives both: 64 HTTP/1.1
# keep-alive connections, each with one request in flight, 100-byte values (etcd's JSON gateway
# carries them base64-encoded; the stored value is 100 bytes). Runs: etcd put (`/v3/kv/put`, to the
# leader... etcd's HTTP gateway forwards to its leader itself), Jumpnet `PUT /` to the leader and to a
# follower, Jumpnet v1 publish of one message to the leader. The runs alternate (the order rotates
# each round); the summary gives medians, the spread, and the ratios Jumpnet / etcd.
#
# Results: one JSON file per run (schema jumpnet-bench/1, bench/README.md) in $BENCH_OUT
# (default bench/results/tmp-etcd-DATE), and summary.json beside them. Needs: bench/install.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DUR=${1:-10}
ROUNDS=${2:-3}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-etcd-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
need etcd curl python3
ensure_jumpnet
ensure_loadgen

log "etcd: 3 members (clients on $((BASE + 31))-$((BASE + 33)))"
start_etcd3
log "Jumpnet: 3 nodes (APIs on $((BASE + 11))-$((BASE + 13)))"
start_jumpnet3
JN_LEADER=$(jn_leader_api)
JN_FOLLOWER=$(for a in "${JN_API[@]:1}"; do [[ $a != "$JN_LEADER" ]] && echo "$a" && break; done)
VALUE=$(printf 'x%.0s' $(seq 1 "$VALUE_SIZE"))
KEY=$(printf 'bench' | base64)
VAL64=$(printf '%s' "$VALUE" | base64 -w0)
curl -sf -X POST "http://$JN_LEADER/v1/topics/bench-v1/messages" -H 'content-type: application/json' \
  -d "{\"messages\":[{\"value\":\"$VALUE\"}]}" >/dev/null

shape=(--message-size "$VALUE_SIZE" --duration "$DUR" --note nodes=3)
run_etcd() { # run_etcd ROUND CONNECTIONS
  "$LOADGEN" http --url "http://$ETCD_CLIENT/v3/kv/put" --method POST --body "{\"key\":\"$KEY\",\"value\":\"$VAL64\"}" \
    "${shape[@]}" --connections "$2" --system etcd --label "etcd 3.4 put" --json "$OUT/etcd.c$2.r$1.json" \
    --note "durability=WAL fsynced on a quorum before the answer"
}
run_seed() {
  "$LOADGEN" http --url "http://$JN_LEADER/" --method PUT --body '{"Key":"bench","Value":"{VALUE}"}' \
    "${shape[@]}" --connections "$2" --system jumpnet --label "jumpnet PUT / (leader)" \
    --json "$OUT/jumpnet-seed.c$2.r$1.json" --note "durability=ack after a quorum fsynced it"
}
run_seed_follower() {
  "$LOADGEN" http --url "http://$JN_FOLLOWER/" --method PUT --body '{"Key":"bench","Value":"{VALUE}"}' \
    "${shape[@]}" --connections "$2" --system jumpnet --label "jumpnet PUT / (follower)" \
    --json "$OUT/jumpnet-seed-follower.c$2.r$1.json" --note "durability=ack after a quorum fsynced it"
}
run_v1() {
  "$LOADGEN" http --url "http://$JN_LEADER/v1/topics/bench-v1/messages" --method POST \
    --body '{"messages":[{"value":"{VALUE}"}]}' "${shape[@]}" --connections "$2" --system jumpnet \
    --label "jumpnet v1 publish, 1 message (leader)" --json "$OUT/jumpnet-v1.c$2.r$1.json" \
    --note "durability=ack after a quorum fsynced it"
}
order=(run_etcd run_seed run_v1 run_seed_follower)
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONNECTIONS_LIST; do
    log "round $r/$ROUNDS, $c connections (load average $(cut -d' ' -f1 /proc/loadavg))"
    for k in 0 1 2 3; do "${order[$(((k + r - 1) % 4))]}" "$r" "$c"; done
  done
done
# BENCH_WRK_CHECK=1: the same Jumpnet load from wrk (C, event-driven) right
# after, to show the Rust load generator is not what limits the figures.
if [[ ${BENCH_WRK_CHECK:-0} == 1 ]] && command -v wrk >/dev/null; then
  cat >"$WORK/put.lua" <<LUA
wrk.method = "PUT"
wrk.body = '{"Key":"bench","Value":"$VALUE"}'
wrk.headers["Content-Type"] = "application/json"
done = function(s, l, r) io.write(string.format("WRK %.0f %.2f %.2f %d\n", (s.requests - s.errors.status) / (s.duration / 1e6), l:percentile(50) / 1000, l:percentile(99) / 1000, s.errors.status)) end
LUA
  for c in $CONNECTIONS_LIST; do
    for k in 1 2; do
      run_seed wrkcheck "$c" | sed 's/^/loadgen: /'
      read -r _ rps p50 p99 errs < <(wrk -t2 -c"$c" -d"${DUR}s" --latency -s "$WORK/put.lua" "http://$JN_LEADER/" | grep '^WRK')
      printf 'wrk:     jumpnet PUT / (leader), %s connections: %s req/s   p50 %s ms   p99 %s ms   (%s non-2xx)\n' "$c" "$rps" "$p50" "$p99" "$errs"
    done
  done | tee "$OUT/wrk-check.txt"
  rm -f "$OUT"/jumpnet-seed.c*.rwrkcheck.json
fi
stop_etcd3
stop_jumpnet3

echo
summarize "$OUT" --ratio jumpnet --ratio etcd --json "$OUT/summary.json"
echo "results: $OUT"
