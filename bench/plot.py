"""bench/plot's renderer: jumpnet-bench/1 JSON files -> throughput vs connections PNG."""
import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"jumpnet": ["#1f77b4", "#2ca02c", "#17becf", "#9467bd"], "etcd": ["#ff7f0e"], "nats": ["#d62728", "#8c564b"]}


def files(args):
    for a in args:
        if os.path.isdir(a):
            yield from sorted(glob.glob(os.path.join(a, "*.json")))
        else:
            yield a


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: bench/plot OUT.png RESULTS_DIR_OR_JSON...")
    out, points = sys.argv[1], {}
    loads = []
    for path in files(sys.argv[2:]):
        with open(path) as f:
            try:
                doc = json.load(f)
            except ValueError:
                continue
        if not isinstance(doc, dict) or doc.get("schema") != "jumpnet-bench/1":
            continue
        phase = next((p for p in doc["phases"] if p["name"] == "publish"), None)
        if phase is None or "client ceiling" in doc["label"]:
            continue
        key = (doc.get("system", "?"), doc["label"])
        points.setdefault(key, {}).setdefault(doc["config"]["connections"], []).append(phase["throughput_msgs_per_s"])
        if doc.get("machine", {}).get("loadavg_1m") is not None:
            loads.append(doc["machine"]["loadavg_1m"])
    if not points:
        sys.exit("no jumpnet-bench/1 publish results found")
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    used = {}
    for (system, label), by_conns in sorted(points.items()):
        xs = sorted(by_conns)
        med = [statistics.median(by_conns[x]) for x in xs]
        lo = [min(by_conns[x]) for x in xs]
        hi = [max(by_conns[x]) for x in xs]
        palette = COLORS.get(system, ["#7f7f7f"])
        color = palette[used.get(system, 0) % len(palette)]
        used[system] = used.get(system, 0) + 1
        style = "--" if system == "nats" else "-"
        runs = max(len(v) for v in by_conns.values())
        ax.plot(xs, med, style, marker="o", color=color, label=f"{label} (median of {runs})")
        if runs > 1:
            ax.fill_between(xs, lo, hi, color=color, alpha=0.15)
    ax.set_xscale("log", base=2)
    allx = sorted({x for v in points.values() for x in v})
    ax.set_xticks(allx)
    ax.set_xticklabels([str(x) for x in allx])
    ax.set_xlabel("connections (one request in flight each)")
    ax.set_ylabel("messages/s (acknowledged)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    note = f"; machine load {min(loads):.1f}-{max(loads):.1f} on 2 cores" if loads else ""
    ax.set_title(f"Durable single-message publish, 3 nodes on loopback{note}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.text(0.01, 0.01, "NATS JetStream 2.9 (dashed) acks before fsync (fsync every 2 min); Jumpnet and etcd fsync on a quorum before the ack",
             fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
