#!/usr/bin/env python3
"""Raft-side histograms of one node between two /metrics scrapes (bench/tail.sh).

    raft_hist.py BEFORE AFTER

Per histogram: count, bucket-resolution quantiles (the upper bound of the bucket holding the
quantile), and how many observations exceeded 50 ms (openraft's AppendEntries timeout here);
then the counters of failed peer RPCs."""
import re, sys

LINE = re.compile(r'^([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)$')

def parse(path):
    out = {}
    for line in open(path):
        m = LINE.match(line.strip())
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out

before, after = parse(sys.argv[1]), parse(sys.argv[2])
delta = {k: v - before.get(k, 0.0) for k, v in after.items()}

hists = {}
for (name, labels), v in delta.items():
    if name.endswith("_bucket"):
        le = re.search(r'le="([^"]+)"', labels).group(1)
        rest = re.sub(r',?le="[^"]+"', "", labels).replace("{}", "")
        hists.setdefault((name[:-7], rest), []).append((float(le), v))

WANT = ("jumpnet_raft_append_entries_handle", "jumpnet_raft_peer_rpc_duration",
        "jumpnet_raft_log_fsync_duration", "jumpnet_publish_commit_duration")
for (name, labels), buckets in sorted(hists.items()):
    if not name.startswith(WANT):
        continue
    buckets.sort()
    total = buckets[-1][1]
    if total == 0:
        continue
    qs = []
    for q in (0.5, 0.9, 0.99, 0.999):
        le = next(le for le, c in buckets if c >= q * total)
        qs.append(f"p{q*100:g}<={le*1000:g}ms")
    over = total - max((c for le, c in buckets if le <= 0.0512), default=0)
    top = next(le for le, c in buckets if c >= total)
    print(f"  {name}{labels}: n={total:.0f} {' '.join(qs)} max<={top*1000:g}ms >51ms={over:.0f}")
for (name, labels), v in sorted(delta.items()):
    if name == "jumpnet_raft_peer_rpc_failures_total" and v:
        print(f"  rpc failures {labels}: {v:.0f}")
