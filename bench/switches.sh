#!/usr/bin/env bash
# Context switches, syscalls and CPU time per durable single publish, on each node of a 3-node cluster.
#
#   bench/switches.sh [SECONDS=10]
#
# A 3-node cluster of $JUMPNET_BIN, the single-publish load of `bench/profile.sh` (64 in flight, one
# v1 message each) against the leader, and `perf stat` on each node for the load's duration: context
# switches, task-clock and syscalls (tracepoints: all, and the main kinds). A context switch is a
# thread going to sleep (a futex or epoll wait) or being preempted: per publish, it counts the thread
# hand-offs and wake-ups. Output: per node (leader first), per publish: switches, microseconds of CPU
# (user + kernel), syscalls and the main kinds; results in bench/results/tmp-switches-DATE/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DUR=${1:-10}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-switches-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
need perf
start_jumpnet3
leader=$(jn_leader_api)
load=(--producers 4 --concurrency 16 --batch-size 1)
"$JUMPNET" bench --server "http://$leader" --topic sw "${load[@]}" --duration 2s >/dev/null
roles=()
for i in 1 2 3; do
  [[ ${JN_API[$i]} == "$leader" ]] && roles[i]=leader || roles[i]=follower
done
"$JUMPNET" bench --server "http://$leader" --topic sw "${load[@]}" --duration "$((DUR + 1))s" \
  --json "$OUT/load.json" >"$OUT/load.txt" &
BPID=$!
sleep 0.5
KINDS=(futex epoll_pwait recvfrom sendto writev write read pwrite64 fdatasync)
EVENTS=context-switches,cpu-migrations,task-clock,raw_syscalls:sys_enter
for k in "${KINDS[@]}"; do EVENTS+=",syscalls:sys_enter_$k"; done
STATS=()
for i in 1 2 3; do
  perf stat -x, -e "$EVENTS" -p "${JN_PIDS[$i]}" -o "$OUT/perf-$i.csv" -- sleep "$DUR" &
  STATS+=($!)
done
wait "${STATS[@]}"
wait "$BPID"
python3 - "$OUT" "$DUR" "${roles[1]}" "${roles[2]}" "${roles[3]}" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
out, dur, roles = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
p = json.load(open(f"{out}/load.json"))["phases"][0]
rate = p["throughput_msgs_per_s"]
msgs = rate * dur
print(f"load: {rate:.0f} msgs/s, p99 {p['latency_ms']['p99']:.2f} ms; counts over {dur:.0f} s = {msgs:.0f} publishes")
rows = []
for i, role in enumerate(roles, 1):
    c = {}
    for line in open(f"{out}/perf-{i}.csv"):
        f = line.strip().split(",")
        if len(f) > 2 and f[0] and f[0][0].isdigit():
            c[f[2]] = float(f[0])
    rows.append((role != "leader", i, role, c))
for _, i, role, c in sorted(rows):
    kinds = " ".join(f"{k.split('sys_enter_')[1]} {v / msgs:.2f}" for k, v in c.items() if "sys_enter_" in k and v)
    print(f"node {i} {role:>8}: {c.get('context-switches', 0) / msgs:5.2f} switches, "
          f"{c.get('task-clock', 0) / msgs * 1000:5.1f} us CPU, "
          f"{c.get('raw_syscalls:sys_enter', 0) / msgs:5.2f} syscalls per publish ({kinds})")
EOF
