#!/usr/bin/env bash
# A bounded check (~20 s) that the bench tools still work against a real 3-node cluster:
# `jumpnet bench` publish (+ consume) and backlog (v1, SSE) with --json, the JSON shape
# (schema jumpnet-bench/1), exact message counts, ordered percentiles, memory samples, summarize.py,
# and bench/plot when matplotlib is installed. Exits non-zero on the first broken expectation.
#
#   bench/smoke.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_jumpnet
start_jumpnet3
S="http://${JN_API[2]},http://${JN_API[1]}"   # through a follower first: forwarding included
"$JUMPNET" bench --server "$S" --count 3000 --batch-size 10 --producers 2 --concurrency 4 --consumers 1 \
  --json "$WORK/publish.json" >/dev/null
"$JUMPNET" bench --server "$S" --topic smoke-backlog --backlog 20000 --fill-batch-size 500 --page-size 1000 \
  --json "$WORK/backlog-v1.json" >/dev/null
"$JUMPNET" bench --server "$S" --topic smoke-backlog --backlog 20000 --read sse --page-size 1000 \
  --json "$WORK/backlog-sse.json" >/dev/null
python3 - "$WORK" <<'PY'
import json, sys
d = sys.argv[1]
def load(n):
    doc = json.load(open(f"{d}/{n}.json"))
    assert doc["schema"] == "jumpnet-bench/1", doc
    for p in doc["phases"]:
        q = [p["latency_ms"][k] for k in ("p50", "p90", "p99", "p999", "max")]
        assert q[0] > 0 and q == sorted(q), (n, p["name"], q)
        assert sum(b["count"] for b in p["histogram"]) == p["requests"], (n, p["name"])
    return doc, {p["name"]: p for p in doc["phases"]}
doc, ph = load("publish")
assert ph["publish"]["messages"] == 3000 and ph["publish"]["requests"] == 300 and ph["publish"]["errors"] == 0, ph["publish"]
assert ph["consume"]["messages"] == 3000, ph["consume"]
assert doc["messages_sent"] == 3000 and doc["config"]["connections"] == 8, doc["config"]
doc, ph = load("backlog-v1")
assert ph["fill"]["messages"] == 20000 and ph["read"]["messages"] == 20000, ph
assert ph["read"]["requests"] == 20 and ph["read"]["memory"]["samples"] >= 1, ph["read"]
doc, ph = load("backlog-sse")
assert "fill" not in ph and ph["read"]["messages"] == 20000 and ph["read"]["requests"] == 20, ph
print("jumpnet bench JSON: ok")
PY
summarize "$WORK" >/dev/null
if "$JUMPNET_PYTHON" -c 'import matplotlib' 2>/dev/null; then
  "$BENCH_DIR/plot" "$WORK/plot.png" "$WORK" >/dev/null && [[ -s $WORK/plot.png ]] && echo "plot: ok"
fi
echo "bench smoke: ok"
