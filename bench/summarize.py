#!/usr/bin/env python3
"""Medians of alternated runs: reads the jumpnet-bench/1 JSON files of a results directory (one per
run), groups them by label, prints the median throughput and latency of each label with the spread
across runs, and the ratios of the first --ratio label to the others.

    bench/summarize.py DIR [--ratio LABEL_SUBSTRING ...] [--json OUT]
"""
import argparse
import glob
import json
import os
import statistics
import sys


def load(directory):
    runs = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        if doc.get("schema") != "jumpnet-bench/1":
            continue
        runs.setdefault((doc["label"], doc["config"]["connections"]), []).append(doc)
    return runs


def publish_phase(doc):
    for p in doc["phases"]:
        if p["name"] == "publish":
            return p
    return doc["phases"][0]


def summary(docs):
    phases = [publish_phase(d) for d in docs]
    tput = [p["throughput_msgs_per_s"] for p in phases]
    lat = lambda q: statistics.median(p["latency_ms"][q] for p in phases)
    loads = [d.get("machine", {}).get("loadavg_1m") for d in docs]
    cpu = [d.get("client_cpu_s") / d["config"]["duration_s"] for d in docs if d.get("client_cpu_s")]
    return {
        "runs": len(docs),
        "system": docs[0].get("system"),
        "throughput_median": statistics.median(tput),
        "throughput_min": min(tput),
        "throughput_max": max(tput),
        "p50_ms": lat("p50"),
        "p90_ms": lat("p90"),
        "p99_ms": lat("p99"),
        "p999_ms": lat("p999"),
        "max_ms": max(p["latency_ms"]["max"] for p in phases),
        "errors": sum(p["errors"] for p in phases),
        "loadavg_1m": [l for l in loads if l is not None],
        "client_cores_median": statistics.median(cpu) if cpu else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir")
    ap.add_argument("--ratio", action="append", default=[], help="label substring; ratios are of the first to the rest")
    ap.add_argument("--json")
    a = ap.parse_args()
    runs = load(a.dir)
    if not runs:
        sys.exit(f"no results in {a.dir}")
    table = {key: summary(docs) for key, docs in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0]))}
    print(f"{'label':<44} {'conns':>5} {'runs':>4} {'median/s':>10} {'range':>17} {'p50 ms':>8} {'p99 ms':>8} {'p99.9':>8} {'max ms':>8} {'client':>6} {'errors':>6}")
    for (label, conns), s in table.items():
        client = f"{s['client_cores_median']:.2f}" if s["client_cores_median"] is not None else "-"
        print(f"{label:<44} {conns:>5} {s['runs']:>4} {s['throughput_median']:>10.0f} {s['throughput_min']:>8.0f}-{s['throughput_max']:<8.0f}"
              f" {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f} {s['p999_ms']:>8.2f} {s['max_ms']:>8.1f} {client:>6} {s['errors']:>6}")
    loads = [l for s in table.values() for l in s["loadavg_1m"]]
    if loads:
        print(f"machine load (1-min average) during the runs: {min(loads):.1f}-{max(loads):.1f} on {runs[next(iter(runs))][0]['machine']['cpus']} cores;"
              " 'client' = cores the load generator used")
    ratios = {}
    if len(a.ratio) >= 2:
        for conns in sorted({c for _, c in table}):
            for sub in a.ratio[1:]:
                others = [k for k in table if sub in k[0] and k[1] == conns]
                if not others:
                    continue
                other = others[0]
                for mine in [k for k in table if a.ratio[0] in k[0] and k[1] == conns]:
                    r = table[mine]["throughput_median"] / table[other]["throughput_median"]
                    name = f"{mine[0]} / {other[0]} @{conns}"
                    ratios[name] = r
                    print(f"{name}: {r:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"labels": [{"label": k[0], "connections": k[1], **v} for k, v in table.items()], "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
