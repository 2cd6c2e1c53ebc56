#!/usr/bin/env python3
"""Writes the values table of charts/jumpnet-operator/README.md from values.yaml.

Every value carries a `# -- description` comment (continued on following `#` lines) right above it;
the table lists its full key, type, default and description between the README's
`<!-- values:start -->` and `<!-- values:end -->` markers.

    scripts/chart-readme.py           # rewrite the table
    scripts/chart-readme.py --check   # exit 1 when the README is stale or a value is undocumented
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "jumpnet-operator"
KEY = re.compile(r"^(\s*)([A-Za-z0-9_]+):(.*)$")
START, END = "<!-- values:start -->", "<!-- values:end -->"


def documented_values(text: str) -> list[tuple[str, str]]:
    """(dotted key, description) of every documented value, in file order."""
    out, stack, pending = [], [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = stripped[4:].strip()
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending += " " + stripped[1:].strip()
            continue
        m = KEY.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        if pending is not None:
            out.append((".".join(k for _, k in stack), pending))
            pending = None
    return out


def lookup(values: dict, dotted: str):
    v = values
    for k in dotted.split("."):
        v = v[k]
    return v


def leaves(values, prefix=""):
    """Every key whose value is not a non-empty map: what must be documented (or covered by a parent)."""
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from leaves(v, key + ".")
        else:
            yield key


def table(text: str) -> tuple[str, list[str]]:
    values = yaml.safe_load(text)
    docs = documented_values(text)
    documented = {k for k, _ in docs}
    missing = [leaf for leaf in leaves(values)
               if not any(leaf == d or leaf.startswith(d + ".") for d in documented)]
    rows = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for key, desc in docs:
        v = lookup(values, key)
        typ = {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}.get(type(v), "")
        default = json.dumps(v, separators=(", ", ": ")).replace("|", "\\|")
        desc = desc.replace("|", "\\|")
        rows.append(f"| `{key}` | {typ} | `{default}` | {desc} |")
    return "\n".join(rows), missing


def main() -> int:
    check = "--check" in sys.argv[1:]
    values_text = (CHART / "values.yaml").read_text()
    readme_path = CHART / "README.md"
    readme = readme_path.read_text()
    tbl, missing = table(values_text)
    if missing:
        print(f"values without a `# --` description in values.yaml: {', '.join(missing)}", file=sys.stderr)
        return 1
    if START not in readme or END not in readme:
        print(f"{readme_path} lacks the {START} / {END} markers", file=sys.stderr)
        return 1
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{tbl}\n{END}{tail}"
    if check:
        if new != readme:
            print(f"{readme_path} is stale: run scripts/chart-readme.py", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
