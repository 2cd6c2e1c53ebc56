"""Just enough PromQL lexing to find every metric selector in an expression.

A real parser (promtool) checks syntax elsewhere; this module answers "which metric names and which label
matchers does this expression use", which promtool does not print. It understands strings and escapes,
comments, durations and subqueries in ``[...]``, label lists after ``by``/``without``/``on``/``ignoring``/
``group_left``/``group_right``, function and aggregation calls, ``offset``/``@`` modifiers, and Grafana
template variables (``$var``, ``${var}``, ``${var:fmt}``, ``[[var]]``, ``$__rate_interval``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
NUMBER_WORDS = {"inf", "nan"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<gvar>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_:.]+\]\])
  | (?P<bracket>\[)
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}@])
    """,
    re.VERBOSE,
)


class PromQLSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokens(expr: str) -> List[Token]:
    out: List[Token] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise PromQLSyntaxError(f"unexpected character {expr[pos]!r} at {pos} in {expr!r}")
        kind = m.lastgroup or ""
        if kind == "bracket":
            end = _closing_bracket(expr, pos)
            out.append(Token("range", expr[pos : end + 1], pos))
            pos = end + 1
            continue
        if kind not in ("ws", "comment"):
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    return out


def _closing_bracket(expr: str, start: int) -> int:
    """``[5m]``, ``[$__rate_interval]``, ``[1h:5m]``; also Grafana's ``[[var]]`` never reaches here."""
    end = expr.find("]", start)
    if end < 0:
        raise PromQLSyntaxError(f"unclosed [ at {start} in {expr!r}")
    return end


@dataclass
class Selector:
    """One vector selector: ``metric{label op "value", ...}`` (metric may be None for ``{...}``)."""

    metric: Optional[str]
    matchers: List[Tuple[str, str, str]] = field(default_factory=list)

    def labels(self) -> List[str]:
        return [m[0] for m in self.matchers]


@dataclass
class Analysis:
    selectors: List[Selector]
    grouping_labels: List[str]
    functions: List[str]

    @property
    def metrics(self) -> List[str]:
        return sorted({s.metric for s in self.selectors if s.metric})


def analyze(expr: str) -> Analysis:
    toks = tokens(expr)
    selectors: List[Selector] = []
    grouping: List[str] = []
    functions: List[str] = []
    i = 0
    n = len(toks)

    def peek(j: int) -> Optional[Token]:
        return toks[j] if j < n else None

    while i < n:
        t = toks[i]
        if t.kind == "ident":
            word = t.text
            low = word.lower()
            nxt = peek(i + 1)
            if low in LABEL_LIST_KEYWORDS:
                if nxt is not None and nxt.text == "(":
                    labels, i = _label_list(toks, i + 1)
                    grouping.extend(labels)
                else:
                    i += 1
                continue
            if low in KEYWORDS or low in NUMBER_WORDS:
                i += 1
                continue
            if nxt is not None and nxt.text == "(":
                functions.append(word)
                i += 1
                continue
            if _is_aggregation_with_modifier(word, nxt):
                functions.append(word)
                i += 1
                continue
            sel = Selector(word)
            i += 1
            if peek(i) is not None and toks[i].text == "{":
                sel.matchers, i = _matchers(toks, i)
            selectors.append(sel)
            continue
        if t.text == "{":
            matchers, i = _matchers(toks, i)
            name = next((v for (k, op, v) in matchers if k == "__name__" and op == "="), None)
            selectors.append(Selector(name, [m for m in matchers if m[0] != "__name__"]))
            continue
        i += 1
    return Analysis(selectors, grouping, functions)


AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip


def _is_aggregation_with_modifier(word: str, nxt: Optional[Token]) -> bool:
    """``sum by (x) (...)``: the aggregation's name is followed by its modifier, not a parenthesis."""
    return word in AGGREGATIONS and nxt is not None and nxt.kind == "ident" and nxt.text in ("by", "without")


def _label_list(toks: List[Token], i: int) -> Tuple[List[str], int]:
    """At ``(``: the label names up to the matching ``)``; returns them and the index after it."""
    assert toks[i].text == "("
    labels: List[str] = []
    i += 1
    while i < len(toks) and toks[i].text != ")":
        if toks[i].kind == "ident":
            labels.append(toks[i].text)
        elif toks[i].text != ",":
            raise PromQLSyntaxError(f"unexpected {toks[i].text!r} in label list")
        i += 1
    if i >= len(toks):
        raise PromQLSyntaxError("unclosed label list")
    return labels, i + 1


def _matchers(toks: List[Token], i: int) -> Tuple[List[Tuple[str, str, str]], int]:
    """At ``{``: the ``(label, op, value)`` matchers up to ``}``; returns them and the index after it."""
    assert toks[i].text == "{"
    out: List[Tuple[str, str, str]] = []
    i += 1
    while True:
        if i >= len(toks):
            raise PromQLSyntaxError("unclosed {")
        t = toks[i]
        if t.text == "}":
            return out, i + 1
        if t.text == ",":
            i += 1
            continue
        if t.kind == "string":  # Prometheus 3's {"metric.name"} form
            out.append(("__name__", "=", _unquote(t.text)))
            i += 1
            continue
        if t.kind != "ident" or i + 2 >= len(toks):
            raise PromQLSyntaxError(f"bad matcher at {t.text!r}")
        op, value = toks[i + 1], toks[i + 2]
        if op.text not in ("=", "!=", "=~", "!~") or value.kind not in ("string", "gvar"):
            raise PromQLSyntaxError(f"bad matcher {t.text}{op.text}{value.text}")
        out.append((t.text, op.text, _unquote(value.text) if value.kind == "string" else value.text))
        i += 3


def _unquote(s: str) -> str:
    if s[0] == "`":
        return s[1:-1]
    return bytes(s[1:-1], "utf-8").decode("unicode_escape")


# -- Grafana ------------------------------------------------------------------------------------------

GRAFANA_INTERVALS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms", "__range_ms"}
_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((?P<inner>.*)\)\s*$", re.S)


def substitute(expr: str, values: Dict[str, str], interval: str = "1m") -> str:
    """Replace Grafana variables: intervals by ``interval``, others by ``values`` (default ``x``)."""

    def repl(m: re.Match) -> str:
        raw = m.group()
        name = raw.strip("$[]{}").split(":")[0]
        if name in GRAFANA_INTERVALS:
            return interval
        return values.get(name, "x")

    return re.sub(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_:.]+\]\]", repl, expr)


def variable_selector(query: str) -> Optional[Tuple[str, Optional[str]]]:
    """``label_values(selector, label)`` → (selector, label); ``label_values(label)`` → ("", label)."""
    m = _LABEL_VALUES.match(query)
    if not m:
        return None
    inner = m.group("inner")
    depth = 0
    split = -1
    for j, ch in enumerate(inner):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == "," and depth == 0:
            split = j
    if split < 0:
        return "", inner.strip()
    return inner[:split].strip(), inner[split + 1 :].strip()


def walk_dashboard(doc) -> Iterator[Tuple[str, str, str]]:
    """(where, kind, query) for every panel target and template variable of a Grafana dashboard."""

    def panels(ps, path):
        for p in ps or []:
            title = p.get("title", "?")
            for t in p.get("targets") or []:
                if t.get("expr"):
                    yield f"{path}panel {title!r} target {t.get('refId')}", "expr", t["expr"]
            yield from panels(p.get("panels"), f"{path}{title} / ")

    yield from panels(doc.get("panels"), "")
    for v in (doc.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if q:
            yield f"variable ${v['name']}", "variable", q
