#!/usr/bin/env python3
"""Symbolize `perf script` output for a static-PIE binary, then summarize the folded stacks.

perf 6.1 records the samples of the static-PIE musl `jumpnet` binary but leaves its frames as
`[unknown]`; addresses are the ELF's virtual addresses, so addr2line resolves them (with inlined
frames, from the line tables the release profile keeps).

    perf script | bench/perf_symbolize.py BINARY > symbolized.txt      # then inferno-collapse-perf
    bench/perf_symbolize.py --top FOLDED [N]                            # self and inclusive top N
"""
import collections
import re
import subprocess
import sys

FRAME = re.compile(r"^(\s+)([0-9a-f]+) \[unknown\] \((.+)\)$")


def symbolize(binary):
    lines = sys.stdin.read().splitlines()
    addrs = sorted({m.group(2) for l in lines if (m := FRAME.match(l)) and m.group(3) == binary})
    names = {}
    if addrs:
        out = subprocess.run(["addr2line", "-a", "-f", "-C", "-i", "-e", binary],
                             input="\n".join("0x" + a for a in addrs), capture_output=True, text=True, check=True).stdout
        cur = None
        it = iter(out.splitlines())
        for l in it:
            if l.startswith("0x"):
                cur = int(l, 16)
                names[cur] = []
                continue
            loc = next(it, "")
            names[cur].append(f"{l} [{loc.rsplit('/', 1)[-1]}]" if l != "??" else "??")
    for l in lines:
        m = FRAME.match(l)
        if m and m.group(3) == binary:
            for fn in names.get(int(m.group(2), 16), ["??"]):
                # inferno reads "ADDR SYMBOL (DSO)"; keep names free of parentheses' confusion
                print(f"{m.group(1)}{m.group(2)} {fn} ({binary})")
        else:
            print(l)


def top(folded, n):
    self_, incl, total = collections.Counter(), collections.Counter(), 0
    strip = re.compile(r" \[[^\]]*\]$")
    for line in open(folded):
        stack, _, count = line.rstrip().rpartition(" ")
        count = int(count)
        frames = [strip.sub("", f) for f in stack.split(";")]
        total += count
        self_[frames[-1]] += count
        for f in set(frames[1:]):
            incl[f] += count
    print(f"{total} samples")
    print("self:")
    for f, c in self_.most_common(n):
        print(f"  {100 * c / total:5.1f}%  {f[:150]}")
    print("inclusive:")
    for f, c in incl.most_common(n):
        print(f"  {100 * c / total:5.1f}%  {f[:150]}")


if __name__ == "__main__":
    if sys.argv[1] == "--top":
        top(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 40)
    else:
        symbolize(sys.argv[1])
