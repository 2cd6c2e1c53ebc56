#!/usr/bin/env bash
# Where a publish's CPU goes, on a real 3-node cluster.
#
#   bench/profile.sh perf      [single|batched] [SECONDS=8]   # sampled profile + flamegraph of the leader
#   bench/profile.sh callgrind [single|batched] [COUNT]       # instruction counts per publish (leader, follower)
#
# single:  64 connections, one v1 single-message publish in flight each (the durable-publish load)
# batched: jumpnet bench --producers 4 --concurrency 16 --batch-size 100 (the batched load)
#
# perf: `perf record -e cpu-clock --call-graph dwarf` on the leader while the load runs (no hardware
# counters in this VM, so software-clock samples, kernel included), then the top functions (self and
# inclusive) and an inferno flamegraph (SVG). callgrind: the leader (node 1) and one follower each run under
# `valgrind --tool=callgrind` from start, with counters zeroed right before the load and dumped
# right after, so the counts cover exactly COUNT messages; instruction counts do not depend on the
# machine's other load, so they compare across runs and branches. Under valgrind the nodes are
# ~50x slower, so batches grow: the report gives messages per Raft entry next to the counts.
# Election timeouts are raised for the callgrind run (nodes that slow miss heartbeats otherwise).
#
# Output: bench/results/tmp-profile-MODE-LOAD-DATE/ (perf: top.txt, folded.txt, flame.svg; callgrind:
# summary.txt, categories-{leader,follower}.txt: self cost per message by category (cg_categories.py),
# annotate-*.txt: callgrind_annotate's top functions). Needs bench/install.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TOOL=${1:?perf or callgrind}
LOAD=${2:-single}
OUT=${BENCH_OUT:-$BENCH_DIR/results/tmp-profile-$TOOL-$LOAD-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
ensure_jumpnet
case $LOAD in
  single) load=(--producers 4 --concurrency 16 --batch-size 1) ;;
  batched) load=(--producers 4 --concurrency 16 --batch-size 100) ;;
  *) die "load: single or batched" ;;
esac

commit_index() { curl -sf "http://${JN_API[1]}/v1/cluster?local=true" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])'; }

if [[ $TOOL == perf ]]; then
  need perf inferno-collapse-perf inferno-flamegraph
  DUR=${3:-8}
  start_jumpnet3
  leader=$(jn_leader_api)
  for i in 1 2 3; do [[ ${JN_API[$i]} == "$leader" ]] && LPID=${JN_PIDS[$i]}; done
  # Warm up (topic created, connections open), then profile the leader under load.
  "$JUMPNET" bench --server "http://$leader" --topic prof "${load[@]}" --duration 2s >/dev/null
  "$JUMPNET" bench --server "http://$leader" --topic prof "${load[@]}" --duration "$((DUR + 2))s" \
    --json "$OUT/load.json" >"$OUT/load.txt" &
  BPID=$!
  sleep 1
  perf record -q -e cpu-clock -F 400 --call-graph dwarf,32768 -p "$LPID" -o "$OUT/perf.data" -- sleep "$DUR" 2>/dev/null
  wait "$BPID"
  # perf leaves the static-PIE binary's frames unresolved: perf_symbolize.py resolves them.
  perf script -i "$OUT/perf.data" 2>/dev/null | python3 "$BENCH_DIR/perf_symbolize.py" "$(readlink -f "$JUMPNET")" \
    | inferno-collapse-perf >"$OUT/folded.txt"
  python3 "$BENCH_DIR/perf_symbolize.py" --top "$OUT/folded.txt" 60 >"$OUT/top.txt"
  inferno-flamegraph --title "jumpnet leader, 3 nodes, $LOAD publish load" <"$OUT/folded.txt" >"$OUT/flame.svg"
  rm -f "$OUT/perf.data"
  cat "$OUT/load.txt" | head -2
  echo "top symbols: $OUT/top.txt"; head -25 "$OUT/top.txt"
  exit 0
fi

[[ $TOOL == callgrind ]] || die "tool: perf or callgrind"
need valgrind callgrind_control callgrind_annotate
COUNT=${3:-20000}
[[ $LOAD == batched && -z ${3:-} ]] && COUNT=200000
slow=(-election-timeout-ms 5000 -commit-timeout-ms 60000)
JN_API=("" "127.0.0.1:$((BASE + 11))" "127.0.0.1:$((BASE + 12))" "127.0.0.1:$((BASE + 13))")
vg() { exec valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$1.out" --dump-instr=no --collect-atstart=yes "${@:2}"; }
# Node 1 bootstraps and leads; node 2 is the follower measured; node 3 runs natively.
spawn vg leader "$JUMPNET" -state_dir "$WORK/jn1" -raft "127.0.0.1:$((BASE + 21))" -api "${JN_API[1]}" "${slow[@]}" >"$WORK/jn1.log" 2>&1
V1=$LAST_PID
wait_for 120 "node 1 under valgrind" curl -sf -o /dev/null "http://${JN_API[1]}/readyz"
spawn vg follower "$JUMPNET" -state_dir "$WORK/jn2" -raft "127.0.0.1:$((BASE + 22))" -api "${JN_API[2]}" -join "127.0.0.1:$((BASE + 21))" "${slow[@]}" >"$WORK/jn2.log" 2>&1
V2=$LAST_PID
spawn "$JUMPNET" -state_dir "$WORK/jn3" -raft "127.0.0.1:$((BASE + 23))" -api "${JN_API[3]}" -join "127.0.0.1:$((BASE + 21))" "${slow[@]}" >"$WORK/jn3.log" 2>&1
for i in 2 3; do wait_for 180 "node $i" curl -sf -o /dev/null "http://${JN_API[$i]}/readyz"; done
"$JUMPNET" bench --server "http://${JN_API[1]}" --topic prof "${load[@]}" --count 640 >/dev/null
before=$(commit_index)
# Zero both valgrind counters, run exactly COUNT messages, dump.
callgrind_control -z "$V1" >/dev/null && callgrind_control -z "$V2" >/dev/null || die "callgrind_control cannot reach the nodes"
"$JUMPNET" bench --server "http://${JN_API[1]}" --topic prof "${load[@]}" --count "$COUNT" --json "$OUT/load.json" >"$OUT/load.txt"
callgrind_control -d "$V1" >/dev/null; callgrind_control -d "$V2" >/dev/null
after=$(commit_index)
reap "$V1" "$V2"
entries=$((after - before))
{
  echo "load: $LOAD, $COUNT messages, $entries Raft entries ($(python3 -c "print(round($COUNT / max($entries, 1), 1))") messages per entry)"
  for who in leader follower; do
    f=$OUT/callgrind.$who.out.1   # the dump taken right after the load, not the at-exit rest
    ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}' || true)
    echo "$who: $ir instructions, $(python3 -c "print(round($ir / $COUNT))") per message, $(python3 -c "print(round($ir / max($entries,1)))") per entry"
    callgrind_annotate --inclusive=yes "$f" 2>/dev/null | sed -n 1,90p >"$OUT/annotate-$who-inclusive.txt" || true
    callgrind_annotate "$f" 2>/dev/null | sed -n 1,90p >"$OUT/annotate-$who.txt" || true
    python3 "$BENCH_DIR/cg_categories.py" "$f" "$COUNT" "$entries" >"$OUT/categories-$who.txt"
  done
} | tee "$OUT/summary.txt"
# BENCH_KEEP_CALLGRIND=1 keeps the raw profiles (callgrind_annotate --tree=caller ... on them).
[[ -n ${BENCH_KEEP_CALLGRIND:-} ]] || rm -f "$OUT"/callgrind.*.out*
