#!/usr/bin/env bash
set -u
OUT=$1; J=$2; A=${3:-47090}; R=${4:-47080}; K=${5:-47192}
D=$(mktemp -d); ( cd "$D" && setsid "$J" dev --clean --api-port $A --raft-port $R --kafka-port $K > dev.log 2>&1 & )
for i in $(seq 1 100); do curl -sf localhost:$A/v1/cluster >/dev/null && break; sleep 0.2; done
sleep 3; cat $D/dev.log | head -3
"$J" bench --server http://localhost:$A --topic warm --producers 4 --concurrency 16 --batch-size 100 --duration 3s > /dev/null 2>&1
rss() { for p in $A $((A+1)) $((A+2)); do pid=$(ss -ltnpH "sport = :$p" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2); echo -n "rss $p: $(ps -o rss= -p $pid) kB; "; done; echo; }
for r in 1 2 3; do
  "$J" bench --server http://localhost:$A --topic batched --producers 4 --concurrency 16 --batch-size 100 --duration 10s --json "$OUT/batched-r$r.json" 2>&1 | head -2 | tee -a "$OUT/batched.log"
  rss | tee -a "$OUT/batched.log"
done
"$J" topics create kbatched --server http://localhost:$A >/dev/null 2>&1 || true
for r in 1 2; do
  "$J" bench --server http://localhost:$A --kafka localhost:$K --topic kbatched --producers 64 --concurrency 1 --batch-size 100 --duration 10s --json "$OUT/kafka64x1-r$r.json" 2>&1 | head -2 | tee -a "$OUT/kafka.log"
  rss | tee -a "$OUT/kafka.log"
done
sleep 5; echo "idle after load:" | tee -a "$OUT/batched.log"; rss | tee -a "$OUT/batched.log"
curl -s localhost:$A/metrics | grep -E "rpc_failures_total.*append" >> "$OUT/batched.log"
pkill -f "^$J (dev|serve)" ; sleep 3; rm -rf "$D"  # not the script itself: its own command line names $J
