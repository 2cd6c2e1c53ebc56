#!/usr/bin/env bash
# Quiet-machine measurements of session 28 (issue 18). Usage: measure28.sh OUTDIR
set -u
cd /work/main
OUT=${1:?outdir}; mkdir -p "$OUT"
export JUMPNET_BIN=${JUMPNET_BIN:-$PWD/target/x86_64-unknown-linux-musl/release/jumpnet}
log() { echo "== $(date +%T) load $(cut -d' ' -f1 /proc/loadavg) $*"; }
log start | tee "$OUT/times.log"
BENCH_OUT=$OUT/nats-c64 bench/compare-nats.sh 10 3 > "$OUT/nats.log" 2>&1; log nats done | tee -a "$OUT/times.log"
BENCH_OUT=$OUT/etcd-c64 bench/compare-etcd.sh 10 3 > "$OUT/etcd.log" 2>&1; log etcd done | tee -a "$OUT/times.log"
# batched, 3 nodes
D=$(mktemp -d); ( cd "$D" && setsid "$JUMPNET_BIN" dev --clean --api-port 39090 --raft-port 38080 --kafka-port 39192 > dev.log 2>&1 & )
for i in $(seq 1 100); do curl -sf localhost:39090/v1/cluster >/dev/null && break; sleep 0.2; done
sleep 3
"$JUMPNET_BIN" bench --server http://localhost:39090 --topic warm --producers 4 --concurrency 16 --batch-size 100 --duration 3s > /dev/null 2>&1
for r in 1 2 3; do
  "$JUMPNET_BIN" bench --server http://localhost:39090 --topic batched --producers 4 --concurrency 16 --batch-size 100 --duration 10s --json "$OUT/batched-r$r.json" 2>&1 | head -2 | tee -a "$OUT/batched.log"
  for p in 39090 39091 39092; do echo "rss $p: $(ps -o rss= -p $(ss -ltnp "sport = :$p" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2))" ; done >> "$OUT/batched.log"
done
for r in 1 2; do
  "$JUMPNET_BIN" bench --server http://localhost:39090 --kafka localhost:39192 --topic kbatched --producers 64 --concurrency 1 --batch-size 100 --duration 10s --json "$OUT/kafka64x1-r$r.json" 2>&1 | head -2 | tee -a "$OUT/kafka.log"
done
grep -h "append_entries" <(curl -s localhost:39090/metrics) >> "$OUT/batched.log"
pkill -f "$JUMPNET_BIN" ; sleep 3; rm -rf "$D"
log batched done | tee -a "$OUT/times.log"
BENCH_OUT=$OUT/ab-single bench/ab.sh /work/base-jumpnet-fa61cc4 4 8 1 > "$OUT/ab-single.log" 2>&1; log ab single done | tee -a "$OUT/times.log"
BENCH_OUT=$OUT/ab-batched bench/ab.sh /work/base-jumpnet-fa61cc4 4 8 100 > "$OUT/ab-batched.log" 2>&1; log ab batched done | tee -a "$OUT/times.log"
