#!/usr/bin/env python3
"""Group a callgrind profile's self cost by what the code does, per message.

    bench/cg_categories.py CALLGRIND_OUT MESSAGES [ENTRIES]

Reads `callgrind_annotate --threshold=100 --auto=no` (self cost per function, with the source file),
sums it into categories by crate and file (HTTP, JSON, allocator, copies, Raft, storage, runtime,
logging, ...), and prints instructions per message (and per Raft entry). Rows above half the total
are callgrind's aggregates of recursion cycles (the tokio worker loop), not self cost: skipped.
"""
import re
import subprocess
import sys

CATEGORIES = [  # first match wins: (name, regex on "file:function [object]")
    ("copies (memcpy/memmove)", r"string/x86_64/mem(cpy|move)|memcpy|memmove|memset|/memcmp"),
    ("allocator (mimalloc)", r"mimalloc"),
    ("JSON (serde_json)", r"serde_json|serde_path_to_error"),
    ("HTTP (hyper, httparse, http, axum, tower)", r"/(hyper|hyper-util|httparse|http|http-body|http-body-util|axum|axum-core|tower|tower-http|matchit)-\d"),
    ("logging (tracing, ansi)", r"tracing|nu-ansi-term|nu_ansi_term"),
    ("metrics (prometheus)", r"prometheus"),
    ("formatting (core::fmt, float/int to text)", r"core/src/fmt|flt2dec|num/fmt|alloc/src/fmt|alloc/src/string"),
    ("UTF-8 validation", r"str/validations|from_utf8"),
    ("Raft (openraft)", r"openraft"),
    ("peer RPC encoding (bincode)", r"bincode"),
    ("sled", r"/sled-"),
    ("checksums (crc32fast)", r"crc32fast"),
    ("hashing (SipHash, HashMap)", r"hash/sip|hashbrown|std/src/collections/hash"),
    ("tokio (scheduler, timers, I/O driver, sync)", r"/tokio-\d|/tokio-util|/tokio-stream|mio-|parking_lot|futures-"),
    ("jumpnet broker code", r"(^|/)broker/src/"),
    ("Rust std/core/alloc (other)", r"/rustc/"),
    ("libc (musl)", r"musl"),
]


def main():
    path, messages = sys.argv[1], int(sys.argv[2])
    entries = int(sys.argv[3]) if len(sys.argv) > 3 else None
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", out).group(1).replace(",", ""))
    sums, rows = {}, re.findall(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.+)$", out, re.M)
    for ir, name in rows:
        ir = int(ir.replace(",", ""))
        if "PROGRAM TOTALS" in name or ir > total / 2:
            continue
        cat = next((c for c, rx in CATEGORIES if re.search(rx, name)), "other")
        sums[cat] = sums.get(cat, 0) + ir
    counted = sum(sums.values())
    print(f"{total:,} instructions for {messages:,} messages: {total / messages:,.0f} per message"
          + (f", {total / entries:,.0f} per Raft entry ({messages / entries:.1f} messages per entry)" if entries else ""))
    print(f"{'category':<46} {'per message':>12} {'share':>7}")
    for cat, ir in sorted(sums.items(), key=lambda kv: -kv[1]):
        print(f"{cat:<46} {ir / messages:>12,.0f} {100 * ir / total:>6.1f}%")
    if counted < total:
        print(f"{'(below the listing threshold)':<46} {(total - counted) / messages:>12,.0f} {100 * (total - counted) / total:>6.1f}%")


if __name__ == "__main__":
    main()
