"""The selector extractor finds metric names where PromQL puts them, and nothing else."""

from __future__ import annotations

import pytest

from promql import PromQLSyntaxError, analyze, substitute, variable_selector


@pytest.mark.parametrize(
    "expr,metrics",
    [
        ("up", ["up"]),
        ("jumpnet_topics", ["jumpnet_topics"]),
        ('sum by (route, code) (rate(jumpnet_http_requests_total{code=~"5.."}[5m]))', ["jumpnet_http_requests_total"]),
        (
            "histogram_quantile(0.99, sum by (le) "
            "(rate(jumpnet_publish_commit_duration_seconds_bucket[$__rate_interval])))",
            ["jumpnet_publish_commit_duration_seconds_bucket"],
        ),
        ('label_replace(jumpnet_raft_has_leader, "c", "$1", "pod", "(.+)-[0-9]+") == 0', ["jumpnet_raft_has_leader"]),
        (
            "a / b * on (namespace, pod) group_left () max by (namespace, pod) (c) and on (x) d unless e or f",
            ["a", "b", "c", "d", "e", "f"],
        ),
        ("rate(x[5m] offset 1h) > bool 3 and y @ start()", ["x", "y"]),
        ('{__name__="via_name", job="j"} + sum without (instance) (z)', ["via_name", "z"]),
        ("max_over_time(deriv(lag[10m:1m])[1h:]) > Inf or NaN < -1e3", ["lag"]),
        ("sum(rate(ns:recorded:rate5m[1m]))  # a comment naming not_a_metric", ["ns:recorded:rate5m"]),
        ('count_values("version", build) + topk(3, bytes)', ["build", "bytes"]),
        ("sum\n  by (pod)\n  (jumpnet_raft_term)", ["jumpnet_raft_term"]),
    ],
)
def test_metric_names_are_found(expr, metrics):
    assert analyze(expr).metrics == sorted(metrics)


def test_matchers_and_grouping_labels_are_reported():
    a = analyze('sum by (pod, state) (jumpnet_raft_state{namespace="$namespace", pod=~"$cluster-[0-9]+", state!="x"})')
    (sel,) = a.selectors
    assert sel.matchers == [("namespace", "=", "$namespace"), ("pod", "=~", "$cluster-[0-9]+"), ("state", "!=", "x")]
    assert a.grouping_labels == ["pod", "state"]
    assert a.functions == ["sum"]


def test_strings_with_braces_and_escapes_are_not_selectors():
    a = analyze(r'label_replace(m{a="x\"}{y"}, "dst", "$1", "src", "{(.*)}")')
    assert a.metrics == ["m"]
    assert a.selectors[0].matchers == [("a", "=", 'x"}{y')]


@pytest.mark.parametrize("bad", ['m{a="x"', "m[5m", 'm{a ~ "x"}', "m ? 1"])
def test_broken_expressions_raise(bad):
    with pytest.raises(PromQLSyntaxError):
        analyze(bad)


def test_grafana_variables_are_substituted():
    expr = 'rate(m{ns="$namespace", pod=~"${pod:regex}", c="[[cluster]]"}[$__rate_interval])'
    assert substitute(expr, {"namespace": "prod", "pod": ".*"}, "30s") == 'rate(m{ns="prod", pod=~".*", c="x"}[30s])'


def test_label_values_queries_split_into_selector_and_label():
    assert variable_selector('label_values(m{ns="a,b"}, pod)') == ('m{ns="a,b"}', "pod")
    assert variable_selector("label_values(namespace)") == ("", "namespace")
    assert variable_selector("query_result(up)") is None
