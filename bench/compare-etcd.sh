#!/usr/bin/env bash
# Durable single-message writes, Jumpnet vs etcd, side by side on this machine: two 3-node clusters
# on loopback (one at a time), the same load tool (wrk, 64 connections), the same payload size.
#
#   bench/compare-etcd.sh [DURATION_SECONDS]
#
# Needs: etcd (Debian etcd-server), wrk, and a release build of jumpnet (cargo build --release).
# Prints requests/s and latency for: etcd put (/v3/kv/put), Jumpnet seed publish (PUT /), and
# Jumpnet v1 publish of one message. Numbers are for comparing, on the same machine, in one run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${1:-10}
JUMPNET=${JUMPNET_BIN:-$ROOT/target/release/jumpnet}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for t in etcd wrk "$JUMPNET"; do command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }; done
VALUE=$(printf 'x%.0s' $(seq 1 100))   # 100-byte values everywhere

wait_http() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$@" && return 0; sleep 0.05; done; echo "not up: $*" >&2; exit 1; }

run_wrk() { # name url method body
  cat >"$WORK/req.lua" <<LUA
wrk.method = "$3"
wrk.body = '$4'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.0f %.2f %.2f %.2f\n", summary.requests - summary.errors.status,
    (summary.requests - summary.errors.status) / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status))
end
LUA
  local line
  line=$(wrk -t2 -c64 -d"${DUR}s" --latency -s "$WORK/req.lua" "$2" | grep '^RESULT')
  read -r _ n rps p50 p99 errors <<<"$line"
  printf '%-34s %10s req/s   p50 %7s ms   p99 %7s ms   (%s requests, %s non-2xx)\n' "$1" "$rps" "$p50" "$p99" "$n" "$errors"
  echo "$1 $rps" >>"$WORK/results"
}

# --- etcd: 3 members, default durability (fsync on every commit) ---
CLUSTER="e1=http://127.0.0.1:12380,e2=http://127.0.0.1:22380,e3=http://127.0.0.1:32380"
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$WORK/etcd$i" --listen-client-urls "http://127.0.0.1:${i}2379" \
    --advertise-client-urls "http://127.0.0.1:${i}2379" --listen-peer-urls "http://127.0.0.1:${i}2380" \
    --initial-advertise-peer-urls "http://127.0.0.1:${i}2380" --initial-cluster "$CLUSTER" \
    --initial-cluster-state new --log-level error >"$WORK/etcd$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 1 2 3; do wait_http "http://127.0.0.1:${i}2379/health"; done
KEY=$(printf 'bench' | base64); VAL=$(printf '%s' "$VALUE" | base64 -w0)
run_wrk "etcd 3.4 put (3 nodes)" "http://127.0.0.1:12379/v3/kv/put" POST "{\"key\":\"$KEY\",\"value\":\"$VAL\"}"
for p in "${PIDS[@]}"; do kill "$p"; done; wait 2>/dev/null || true; PIDS=()

# --- Jumpnet: 3 nodes, the seed's command lines ---
"$JUMPNET" -state_dir="$WORK/j1" -raft 127.0.0.1:18080 -api 127.0.0.1:19090 >"$WORK/j1.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:19090/readyz
for i in 2 3; do
  "$JUMPNET" -state_dir "$WORK/j$i" -raft "127.0.0.1:${i}8080" -api "127.0.0.1:${i}9090" -join 127.0.0.1:18080 >"$WORK/j$i.log" 2>&1 & PIDS+=($!)
done
for i in 2 3; do wait_http "http://127.0.0.1:${i}9090/readyz"; done
run_wrk "jumpnet PUT / (3 nodes, leader)" "http://127.0.0.1:19090/" PUT "{\"Key\":\"bench\",\"Value\":\"$VALUE\"}"
run_wrk "jumpnet PUT / (3 nodes, follower)" "http://127.0.0.1:29090/" PUT "{\"Key\":\"bench\",\"Value\":\"$VALUE\"}"
run_wrk "jumpnet v1 publish (3 nodes)" "http://127.0.0.1:19090/v1/topics/bench/messages" POST "{\"messages\":[{\"value\":\"$VALUE\"}]}"

etcd_rps=$(awk '/^etcd/ {print $NF}' "$WORK/results")
jn_rps=$(awk '/leader\)/ {print $NF}' "$WORK/results")
echo
awk -v a="$jn_rps" -v b="$etcd_rps" 'BEGIN { printf "jumpnet PUT / vs etcd put: %.1fx\n", a / b }'
