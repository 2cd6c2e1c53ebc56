#!/usr/bin/env bash
# Where the batched publish's tail comes from: one 3-node cluster, the batched load
# (4 producers x 16 in flight, batches of 100), then per node the Raft histograms of the run
# (AppendEntries round trips on the leader, the time a follower takes to answer one, fsyncs,
# the commit of a publish) and the failed peer RPCs, from /metrics scraped before and after.
#
#   JUMPNET_BIN=BIN bench/tail.sh [SECONDS=10] [RUNS=1] [BATCH=100]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DUR=${1:-10}
RUNS=${2:-1}
BATCH=${3:-100}
ensure_jumpnet
start_jumpnet3
LEADER=$(jn_leader_api)
"$JUMPNET" bench --server "http://$LEADER" --topic tail --producers 4 --concurrency 16 --batch-size "$BATCH" --duration 2s >/dev/null
for r in $(seq 1 "$RUNS"); do
  for i in 1 2 3; do curl -sf "http://${JN_API[$i]}/metrics" >"$WORK/m$i.before"; done
  "$JUMPNET" bench --server "http://$LEADER" --topic tail --producers 4 --concurrency 16 --batch-size "$BATCH" \
    --duration "${DUR}s" --json "$WORK/run.json" >/dev/null
  for i in 1 2 3; do curl -sf "http://${JN_API[$i]}/metrics" >"$WORK/m$i.after"; done
  python3 -c "import json,sys,os; p=json.load(open(sys.argv[1]))['phases'][0]; l=p['latency_ms']; print(f\"run {sys.argv[2]}: {p['throughput_msgs_per_s']:.0f} msgs/s p50 {l['p50']:.1f} p99 {l['p99']:.1f} p99.9 {l['p999']:.1f} max {l['max']:.1f} ms load {os.getloadavg()[0]:.1f}\")" "$WORK/run.json" "$r"
  for i in 1 2 3; do
    role=follower; [[ ${JN_API[$i]} == "$LEADER" ]] && role=leader
    echo " node $i ($role)"
    python3 "$BENCH_DIR/raft_hist.py" "$WORK/m$i.before" "$WORK/m$i.after"
  done
done
for i in 1 2 3; do
  n=$(grep -c "append_entries\|AppendEntries" "$WORK/jn$i.log" || true)
  echo "node $i log lines naming AppendEntries: $n"
  grep -i "timeout\|timed out" "$WORK/jn$i.log" | tail -n 3 || true
done
[[ -n ${TAIL_KEEP:-} ]] && mkdir -p "$TAIL_KEEP" && cp "$WORK"/jn*.log "$TAIL_KEEP"/
exit 0
