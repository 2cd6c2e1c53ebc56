#!/usr/bin/env python3
"""Generates jumpnet-broker.json and jumpnet-operator.json (Grafana dashboards) from this one source.

    python3 deploy/grafana/build_dashboards.py          # rewrite the JSON files
    python3 deploy/grafana/build_dashboards.py --check  # exit 1 when a committed file is stale

Edit the panels here, not in the JSON. Queries use only metric names of SPEC §7 (`jumpnet_*`), the
extra broker gauges tests/observability/known_metrics.py allows explicitly (BROKER_EXTRA), the broker's
`process_*`, Prometheus' `up`, and — in panels whose titles say so — cAdvisor
(`container_*`), kubelet (`kubelet_volume_stats_*`) and kube-state-metrics (`kube_*`) metrics.

Label conventions (what a prometheus-operator ServiceMonitor or a kubernetes_sd scrape job attaches):
`namespace` and `pod` on every scraped series. A JumpnetCluster NAME runs pods NAME-0..NAME-n-1, so the
`cluster` variable is derived from pod names and no extra relabelling is needed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent

# Broker series of the selected cluster (and pods).
SEL = 'namespace="$namespace", pod=~"$cluster-[0-9]+", pod=~"$pod"'
# Same, for cAdvisor container series (skip the pause container and pod-level aggregates).
CSEL = SEL + ', container!="", container!="POD"'
# PVCs of the StatefulSet's volumeClaimTemplates are named <template>-<cluster>-<ordinal>.
PVC = 'namespace="$namespace", persistentvolumeclaim=~".+-$cluster-[0-9]+"'
RATE = "$__rate_interval"


class Board:
    """Lays panels out on Grafana's 24-column grid, row by row."""

    def __init__(self) -> None:
        self.panels: List[Dict[str, Any]] = []
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def add(self, panel: Dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def _newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def _id(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Dict[str, Any]:
    t = {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "range": not instant,
        "instant": instant,
    }
    return t


def targets(*pairs) -> List[Dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def _panel(kind: str, title: str, description: str, tgts, unit: str, **extra) -> Dict[str, Any]:
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "targets": tgts,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    p.update(extra)
    return p


def timeseries(title, description, tgts, unit="short", stack=False, min0=True) -> Dict[str, Any]:
    p = _panel("timeseries", title, description, tgts, unit)
    custom = {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": False}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    p["fieldConfig"]["defaults"]["custom"] = custom
    if min0:
        p["fieldConfig"]["defaults"]["min"] = 0
    p["options"] = {
        "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return p


def stat(title, description, tgts, unit="short", mappings=None, thresholds=None, text_mode="value"):
    p = _panel("stat", title, description, tgts, unit)
    d = p["fieldConfig"]["defaults"]
    d["thresholds"] = thresholds or {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
    if mappings:
        d["mappings"] = mappings
    p["options"] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background" if mappings or thresholds else "value",
        "graphMode": "none",
        "textMode": text_mode,
        "justifyMode": "auto",
        "orientation": "auto",
    }
    return p


def yes_no(bad_is_zero: bool = True):
    return [
        {
            "type": "value",
            "options": {
                "0": {"text": "NO", "color": "red" if bad_is_zero else "green", "index": 0},
                "1": {"text": "YES", "color": "green" if bad_is_zero else "red", "index": 1},
            },
        }
    ]


def steps(*pairs):
    return {
        "mode": "absolute",
        "steps": [{"color": c, "value": v} for v, c in pairs],
    }


def datasource_var() -> Dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
    }


def query_var(
    name: str,
    label: str,
    query: str,
    *,
    regex: str = "",
    multi: bool = False,
    include_all: bool = False,
    all_value: Optional[str] = None,
) -> Dict[str, Any]:
    v = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": query,  # the string form: every Grafana version reads it (newer ones migrate it)
        "definition": query,
        "regex": regex,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {},
        "hide": 0,
        "options": [],
    }
    if all_value is not None:
        v["allValue"] = all_value
    return v


def dashboard(uid: str, title: str, description: str, variables, board: Board, tags) -> Dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [],
        "templating": {"list": variables},
        "panels": board.panels,
    }


CLUSTER_VARS = [
    datasource_var(),
    query_var("namespace", "Namespace", "label_values(jumpnet_build_info, namespace)"),
    query_var(
        "cluster",
        "Cluster",
        'label_values(jumpnet_build_info{namespace="$namespace"}, pod)',
        regex="/^(.+)-[0-9]+$/",
    ),
    query_var(
        "pod",
        "Pod",
        'label_values(jumpnet_build_info{namespace="$namespace", pod=~"$cluster-[0-9]+"}, pod)',
        multi=True,
        include_all=True,
        all_value=".*",
    ),
]


def broker() -> Dict[str, Any]:
    b = Board()

    b.row("Health")
    b.add(
        stat(
            "Members up",
            "Broker pods Prometheus scrapes successfully (`up`), next to the voters in the Raft membership "
            '(`jumpnet_raft_members{role="voter"}`, the largest count any pod reports).',
            targets(
                (f"sum(up{{{SEL}}})", "up"),
                (f'max(jumpnet_raft_members{{{SEL}, role="voter"}})', "voters"),
                (f'max(jumpnet_raft_members{{{SEL}, role="learner"}})', "learners"),
            ),
            text_mode="value_and_name",
        ),
        w=6,
        h=4,
    )
    b.add(
        stat(
            "Has leader",
            "YES when every selected pod knows a leader (`min(jumpnet_raft_has_leader)`). "
            "NO on any pod: that pod cannot serve writes; see the runbook for JumpnetNoLeader.",
            targets((f"min(jumpnet_raft_has_leader{{{SEL}}})", "")),
            mappings=yes_no(),
            thresholds=steps((None, "red"), (1, "green")),
        ),
        w=3,
        h=4,
    )
    b.add(
        stat(
            "Leader",
            'The pod in Raft state leader (`jumpnet_raft_state{state="leader"} == 1`).',
            targets((f'max by (pod) (jumpnet_raft_state{{{SEL}, state="leader"}}) == 1', "{{pod}}")),
            text_mode="name",
        ),
        w=4,
        h=4,
    )
    b.add(
        stat("Term", "Current Raft term (highest reported).", targets((f"max(jumpnet_raft_term{{{SEL}}})", ""))),
        w=3,
        h=4,
    )
    b.add(
        stat(
            "Leader changes (1h)",
            "Leader changes in the last hour, as the pod that saw most of them counts "
            "(`jumpnet_raft_leader_changes_total`). More than a few an hour means an unstable cluster.",
            targets((f"max(increase(jumpnet_raft_leader_changes_total{{{SEL}}}[1h]))", "")),
            thresholds=steps((None, "green"), (3, "orange"), (10, "red")),
        ),
        w=4,
        h=4,
    )
    b.add(
        stat(
            "Topics",
            "Topics in the replicated log (`jumpnet_topics`).",
            targets((f"max(jumpnet_topics{{{SEL}}})", "")),
        ),
        w=4,
        h=4,
    )
    b.add(
        _panel(
            "state-timeline",
            "Raft state by pod",
            "Which Raft state each pod is in over time (`jumpnet_raft_state`).",
            targets((f"max by (pod, state) (jumpnet_raft_state{{{SEL}}}) == 1", "{{pod}} {{state}}")),
            "short",
        ),
        w=12,
        h=6,
    )
    b.add(
        timeseries(
            "Leader changes and term",
            "Leader changes per pod (`increase(jumpnet_raft_leader_changes_total)`) and the term.",
            targets(
                (f"sum by (pod) (increase(jumpnet_raft_leader_changes_total{{{SEL}}}[{RATE}]))", "changes {{pod}}"),
                (f"max(jumpnet_raft_term{{{SEL}}})", "term"),
            ),
        ),
        w=12,
        h=6,
    )
    b.add(
        _panel(
            "table",
            "Versions",
            "Broker build per pod (`jumpnet_build_info{version}`).",
            [target(f"max by (pod, version) (jumpnet_build_info{{{SEL}}})", "", instant=True)],
            "short",
            transformations=[{"id": "labelsToFields", "options": {}}],
        ),
        w=24,
        h=4,
    )

    b.row("Requests")
    b.add(
        timeseries(
            "Request rate by route",
            "HTTP requests per second by method and route template (`jumpnet_http_requests_total`).",
            targets(
                (f"sum by (method, route) (rate(jumpnet_http_requests_total{{{SEL}}}[{RATE}]))", "{{method}} {{route}}")
            ),
            unit="reqps",
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Errors by route",
            "Requests answered 4xx or 5xx per second, by route and status (`jumpnet_http_requests_total`). "
            "5xx are the cluster's fault (503 no leader, 504 commit timeout); 4xx the clients'.",
            targets(
                (
                    f'sum by (route, code) (rate(jumpnet_http_requests_total{{{SEL}, code=~"[45].."}}[{RATE}]))',
                    "{{code}} {{route}}",
                )
            ),
            unit="reqps",
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Request latency p99 by route",
            "99th percentile of request duration by route (`jumpnet_http_request_duration_seconds`). "
            "Long-polls and streams last as long as the client asked to wait.",
            targets(
                (
                    "histogram_quantile(0.99, sum by (le, route) "
                    f"(rate(jumpnet_http_request_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "{{route}}",
                )
            ),
            unit="s",
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "5xx ratio",
            "Share of requests answered 5xx, per pod.",
            targets(
                (
                    f'sum by (pod) (rate(jumpnet_http_requests_total{{{SEL}, code=~"5.."}}[{RATE}])) '
                    f"/ sum by (pod) (rate(jumpnet_http_requests_total{{{SEL}}}[{RATE}]))",
                    "{{pod}}",
                )
            ),
            unit="percentunit",
        ),
        w=12,
        h=8,
    )

    b.row("Messages")
    b.add(
        timeseries(
            "Publish commit latency",
            "Time from receiving a publish to its commit by a quorum, p50 and p99 over the cluster "
            "(`jumpnet_publish_commit_duration_seconds`).",
            targets(
                (
                    "histogram_quantile(0.50, sum by (le) "
                    f"(rate(jumpnet_publish_commit_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "p50",
                ),
                (
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(jumpnet_publish_commit_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "p99",
                ),
            ),
            unit="s",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Messages in / out",
            "Messages committed through the cluster (`jumpnet_messages_published_total`) and delivered to "
            "readers (`jumpnet_messages_consumed_total`), per second.",
            targets(
                (f"sum(rate(jumpnet_messages_published_total{{{SEL}}}[{RATE}]))", "in (published)"),
                (f"sum(rate(jumpnet_messages_consumed_total{{{SEL}}}[{RATE}]))", "out (consumed)"),
            ),
            unit="short",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Bytes in / out",
            "Message payload bytes per second by direction (`jumpnet_message_bytes_total{direction}`).",
            targets((f"sum by (direction) (rate(jumpnet_message_bytes_total{{{SEL}}}[{RATE}]))", "{{direction}}")),
            unit="Bps",
        ),
        w=8,
        h=8,
    )

    b.add(
        timeseries(
            "Consumer lag",
            "Named consumers (`PUT /v1/consumers/{name}/topics/{topic}`, the seed's `GET /{topic}?consumer=`): "
            "the largest lag of any position (`jumpnet_consumer_lag_messages`) and every position's lag added "
            "up (`jumpnet_consumer_lag_sum_messages`), in messages behind the topic's high watermark. Every pod "
            "reports the same replicated positions; `jumpnet consumers` lists them one by one.",
            targets(
                (f"max(jumpnet_consumer_lag_messages{{{SEL}}})", "largest"),
                (f"max(jumpnet_consumer_lag_sum_messages{{{SEL}}})", "sum"),
            ),
        ),
        w=16,
        h=8,
    )
    b.add(
        timeseries(
            "Consumer positions",
            "Named consumer positions held, over every topic (`jumpnet_consumer_positions`); a topic holds at "
            "most `--max-consumers-per-topic` of them.",
            targets((f"max(jumpnet_consumer_positions{{{SEL}}})", "positions")),
        ),
        w=8,
        h=8,
    )

    b.add(
        timeseries(
            "Consumer groups",
            "Consumer groups (SPEC §9, work sharing): unfinished messages (`jumpnet_group_lag`: pending + in "
            "flight) and messages leased and not yet acknowledged (`jumpnet_group_messages_in_flight`), summed "
            "over every group; redeliveries, dead letters and drops per second. Growing redeliveries mean workers "
            "crash or exceed the ack wait.",
            targets(
                (f"max(jumpnet_group_lag{{{SEL}}})", "unfinished"),
                (f"max(jumpnet_group_messages_in_flight{{{SEL}}})", "in flight"),
                (f"max(rate(jumpnet_group_redelivered_total{{{SEL}}}[5m]))", "redelivered/s"),
                (f"max(rate(jumpnet_group_dead_lettered_total{{{SEL}}}[5m]))", "dead-lettered/s"),
                (f"max(rate(jumpnet_group_dropped_total{{{SEL}}}[5m]))", "dropped/s"),
            ),
        ),
        w=24,
        h=8,
    )

    b.row("Kafka")
    b.add(
        timeseries(
            "Kafka request rate by API",
            "Kafka wire-protocol requests per second by API (`jumpnet_kafka_requests_total{api}`), on nodes "
            "started with `--kafka`. Produce and Fetch carry the data; Metadata, Heartbeat and OffsetCommit are "
            "clients' housekeeping.",
            targets((f"sum by (api) (rate(jumpnet_kafka_requests_total{{{SEL}}}[{RATE}]))", "{{api}}")),
            unit="reqps",
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Kafka request latency p99 by API",
            "99th percentile of a Kafka request from its frame read to its response written, by API "
            "(`jumpnet_kafka_request_duration_seconds{api}`). Produce waits for the quorum commit (acks 1 and all); "
            "Fetch includes its long-poll (`max_wait_ms`, 500 ms by default in most clients), JoinGroup the "
            "rebalance.",
            targets(
                (
                    "histogram_quantile(0.99, sum by (le, api) "
                    f"(rate(jumpnet_kafka_request_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "{{api}}",
                )
            ),
            unit="s",
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Kafka errors by API",
            "Kafka error codes answered per second, by API and error name (`jumpnet_kafka_request_errors_total"
            "{api,error}`); `api=\"connection\"` counts connections closed for a bad request. NOT_LEADER_OR_FOLLOWER "
            "and NOT_COORDINATOR around a leader change are expected (clients refresh their metadata and retry).",
            targets(
                (
                    f"sum by (api, error) (rate(jumpnet_kafka_request_errors_total{{{SEL}}}[{RATE}]))",
                    "{{api}} {{error}}",
                )
            ),
            unit="reqps",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Kafka connections",
            "Open Kafka client connections per pod (`jumpnet_kafka_connections`).",
            targets((f"sum by (pod) (jumpnet_kafka_connections{{{SEL}}})", "{{pod}}")),
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Kafka consumer group lag",
            "A Kafka consumer group's committed offsets are the named consumer positions of the same name "
            "(`jumpnet consumers` lists them), so the named consumers' lag gauges cover Kafka groups: the largest "
            "lag of any position (`jumpnet_consumer_lag_messages`) and all of them added up "
            "(`jumpnet_consumer_lag_sum_messages`), in messages behind the partition's high watermark. Per group "
            "and topic: `--metrics-consumer-labels N` adds `jumpnet_consumer_position_lag_messages{topic,consumer}` "
            "(capped, opt-in).",
            targets(
                (f"max(jumpnet_consumer_lag_messages{{{SEL}}})", "largest"),
                (f"max(jumpnet_consumer_lag_sum_messages{{{SEL}}})", "sum"),
            ),
        ),
        w=8,
        h=8,
    )

    b.row("Raft")
    b.add(
        timeseries(
            "Log progress",
            "Last log index, commit index and applied index per pod (`jumpnet_raft_last_log_index`, "
            "`jumpnet_raft_commit_index`, `jumpnet_raft_applied_index`). Lines that part ways mean a pod falls "
            "behind.",
            targets(
                (f"max by (pod) (jumpnet_raft_last_log_index{{{SEL}}})", "last {{pod}}"),
                (f"max by (pod) (jumpnet_raft_commit_index{{{SEL}}})", "commit {{pod}}"),
                (f"max by (pod) (jumpnet_raft_applied_index{{{SEL}}})", "applied {{pod}}"),
            ),
            min0=False,
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Follower lag",
            "Entries each peer is behind the leader's log, as the leader sees it "
            "(`jumpnet_raft_replication_lag_entries{peer}`).",
            targets((f"max by (peer) (jumpnet_raft_replication_lag_entries{{{SEL}}})", "peer {{peer}}")),
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Log fsync latency",
            "Duration of one group-commit flush of the Raft log, p50 and p99 per pod "
            "(`jumpnet_raft_log_fsync_duration_seconds`). Slow disks show here first.",
            targets(
                (
                    "histogram_quantile(0.50, sum by (le, pod) "
                    f"(rate(jumpnet_raft_log_fsync_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "p50 {{pod}}",
                ),
                (
                    "histogram_quantile(0.99, sum by (le, pod) "
                    f"(rate(jumpnet_raft_log_fsync_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "p99 {{pod}}",
                ),
            ),
            unit="s",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Peer RPC failures",
            "Failed Raft RPCs per second by pod, peer and RPC (`jumpnet_raft_peer_rpc_failures_total`).",
            targets(
                (
                    f"sum by (pod, peer, rpc) (rate(jumpnet_raft_peer_rpc_failures_total{{{SEL}}}[{RATE}]))",
                    "{{pod}} → {{peer}} {{rpc}}",
                )
            ),
            unit="short",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Membership",
            "Members by role as the pods see the membership (`jumpnet_raft_members{role}`).",
            targets((f"max by (role) (jumpnet_raft_members{{{SEL}}})", "{{role}}")),
        ),
        w=8,
        h=8,
    )

    b.row("Resources")
    b.add(
        timeseries(
            "Pod CPU (cAdvisor)",
            "CPU cores used per pod: cAdvisor `container_cpu_usage_seconds_total` (needs the kubelet's cAdvisor "
            "scrape), and the broker's own `process_cpu_seconds_total`.",
            targets(
                (f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{CSEL}}}[{RATE}]))", "{{pod}} container"),
                (f"sum by (pod) (rate(process_cpu_seconds_total{{{SEL}}}[{RATE}]))", "{{pod}} process"),
            ),
            unit="short",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Pod memory (cAdvisor)",
            "Working set per pod: cAdvisor `container_memory_working_set_bytes`, and the broker's own "
            "`process_resident_memory_bytes`.",
            targets(
                (f"sum by (pod) (container_memory_working_set_bytes{{{CSEL}}})", "{{pod}} working set"),
                (f"max by (pod) (process_resident_memory_bytes{{{SEL}}})", "{{pod}} RSS"),
            ),
            unit="bytes",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "PVC usage (kubelet)",
            "Share of each data volume in use: kubelet `kubelet_volume_stats_used_bytes` / "
            "`kubelet_volume_stats_capacity_bytes` for the cluster's PVCs.",
            targets(
                (
                    f"max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{{{PVC}}}) "
                    f"/ max by (persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{{{PVC}}})",
                    "{{persistentvolumeclaim}}",
                )
            ),
            unit="percentunit",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Storage used by the broker",
            "Bytes in each node's state dir as the broker counts them (`jumpnet_storage_used_bytes`).",
            targets((f"max by (pod) (jumpnet_storage_used_bytes{{{SEL}}})", "{{pod}}")),
            unit="bytes",
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Open file descriptors",
            "`process_open_fds` against `process_max_fds` per pod.",
            targets(
                (f"max by (pod) (process_open_fds{{{SEL}}})", "{{pod}} open"),
                (f"max by (pod) (process_max_fds{{{SEL}}})", "{{pod}} max"),
            ),
        ),
        w=8,
        h=8,
    )
    b.add(
        timeseries(
            "Container restarts (kube-state-metrics)",
            "Restarts per pod in the window (kube-state-metrics `kube_pod_container_status_restarts_total`).",
            targets(
                (
                    f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{SEL}}}[{RATE}]))",
                    "{{pod}}",
                )
            ),
        ),
        w=8,
        h=8,
    )

    b.row("Operator")
    b.add(
        timeseries(
            "Reconciliations",
            "Operator reconciliations per second by result (`jumpnet_operator_reconciliations_total`), over "
            "every operator replica.",
            targets(("sum by (result) (rate(jumpnet_operator_reconciliations_total[$__rate_interval]))", "{{result}}")),
            unit="short",
        ),
        w=12,
        h=7,
    )
    b.add(
        timeseries(
            "Reconcile errors",
            "Operator reconcile errors per second by kind (`jumpnet_operator_reconcile_errors_total`).",
            targets(("sum by (error) (rate(jumpnet_operator_reconcile_errors_total[$__rate_interval]))", "{{error}}")),
            unit="short",
        ),
        w=12,
        h=7,
    )

    return dashboard(
        "jumpnet-broker",
        "Jumpnet / Broker",
        "A Jumpnet cluster: Raft health, requests, messages, log replication, disks and resources.",
        CLUSTER_VARS,
        b,
        ["jumpnet"],
    )


OPSEL = 'pod=~"$pod"'


def operator() -> Dict[str, Any]:
    b = Board()
    variables = [
        datasource_var(),
        query_var("namespace", "Cluster namespace", "label_values(jumpnet_build_info, namespace)"),
        query_var(
            "cluster",
            "Cluster",
            'label_values(jumpnet_build_info{namespace="$namespace"}, pod)',
            regex="/^(.+)-[0-9]+$/",
        ),
        # No custom "All" value: Grafana then sends the regex of the operator pods it found, so `up` and the
        # cAdvisor/kube-state-metrics panels select only operator pods.
        query_var(
            "pod",
            "Operator pod",
            "label_values(jumpnet_operator_clusters, pod)",
            multi=True,
            include_all=True,
        ),
    ]

    b.row("Operator")
    b.add(
        stat(
            "Clusters managed",
            "JumpnetClusters the operator manages (`jumpnet_operator_clusters`).",
            targets((f"max(jumpnet_operator_clusters{{{OPSEL}}})", "")),
        ),
        w=4,
        h=4,
    )
    b.add(
        stat(
            "Reconciliations (1h)",
            "Reconciliations in the last hour (`jumpnet_operator_reconciliations_total`).",
            targets((f"sum(increase(jumpnet_operator_reconciliations_total{{{OPSEL}}}[1h]))", "")),
        ),
        w=4,
        h=4,
    )
    b.add(
        stat(
            "Reconcile errors (1h)",
            "Reconcile errors in the last hour (`jumpnet_operator_reconcile_errors_total`); see the runbook for "
            "JumpnetOperatorReconcileErrors.",
            # The error counter has no series before the first error: show 0, not "No data".
            targets((f"sum(increase(jumpnet_operator_reconcile_errors_total{{{OPSEL}}}[1h])) or vector(0)", "")),
            thresholds=steps((None, "green"), (1, "orange"), (10, "red")),
        ),
        w=4,
        h=4,
    )
    b.add(
        stat(
            "Reconcile p99",
            "99th percentile of reconcile duration over the last hour (`jumpnet_operator_reconcile_duration_seconds`).",
            targets(
                (
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(jumpnet_operator_reconcile_duration_seconds_bucket{{{OPSEL}}}[1h])))",
                    "",
                )
            ),
            unit="s",
        ),
        w=4,
        h=4,
    )
    b.add(
        stat(
            "Operator pods up",
            "Operator pods Prometheus scrapes successfully (`up`).",
            targets((f"sum(up{{{OPSEL}}})", "")),
            thresholds=steps((None, "red"), (1, "green")),
        ),
        w=4,
        h=4,
    )
    b.add(
        stat(
            "Operator restarts (1h)",
            "Operator container restarts in the last hour (kube-state-metrics "
            "`kube_pod_container_status_restarts_total`).",
            targets((f"sum(increase(kube_pod_container_status_restarts_total{{{OPSEL}}}[1h]))", "")),
            thresholds=steps((None, "green"), (1, "orange")),
        ),
        w=4,
        h=4,
    )
    b.add(
        timeseries(
            "Reconciliations by result",
            "Reconciliations per second by result (`jumpnet_operator_reconciliations_total{result}`).",
            targets(
                (f"sum by (result) (rate(jumpnet_operator_reconciliations_total{{{OPSEL}}}[{RATE}]))", "{{result}}")
            ),
            stack=True,
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Reconcile errors by kind",
            "Errors per second by kind (`jumpnet_operator_reconcile_errors_total{error}`).",
            targets(
                (f"sum by (error) (rate(jumpnet_operator_reconcile_errors_total{{{OPSEL}}}[{RATE}]))", "{{error}}")
            ),
            stack=True,
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Reconcile duration",
            "p50 and p99 of reconcile duration (`jumpnet_operator_reconcile_duration_seconds`).",
            targets(
                (
                    "histogram_quantile(0.50, sum by (le) "
                    f"(rate(jumpnet_operator_reconcile_duration_seconds_bucket{{{OPSEL}}}[{RATE}])))",
                    "p50",
                ),
                (
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(jumpnet_operator_reconcile_duration_seconds_bucket{{{OPSEL}}}[{RATE}])))",
                    "p99",
                ),
            ),
            unit="s",
        ),
        w=12,
        h=8,
    )
    b.add(
        timeseries(
            "Operator CPU and memory (cAdvisor)",
            "The operator container: cAdvisor `container_cpu_usage_seconds_total` (cores) and "
            "`container_memory_working_set_bytes`.",
            targets(
                (
                    f'sum by (pod) (rate(container_cpu_usage_seconds_total{{{OPSEL}, container!="", '
                    f'container!="POD"}}[{RATE}]))',
                    "{{pod}} cpu",
                ),
                (
                    f'sum by (pod) (container_memory_working_set_bytes{{{OPSEL}, container!="", container!="POD"}})',
                    "{{pod}} memory",
                ),
            ),
        ),
        w=12,
        h=8,
    )

    b.row("Managed cluster $cluster")
    b.add(
        stat(
            "StatefulSet ready (kube-state-metrics)",
            "Ready replicas of StatefulSet $cluster out of the desired count (kube-state-metrics "
            "`kube_statefulset_status_replicas_ready`, `kube_statefulset_replicas`).",
            targets(
                (
                    'max(kube_statefulset_status_replicas_ready{namespace="$namespace", statefulset="$cluster"})',
                    "ready",
                ),
                ('max(kube_statefulset_replicas{namespace="$namespace", statefulset="$cluster"})', "desired"),
            ),
            text_mode="value_and_name",
        ),
        w=6,
        h=4,
    )
    csel = 'namespace="$namespace", pod=~"$cluster-[0-9]+"'
    b.add(
        stat(
            "Raft voters / learners",
            "Membership as the brokers report it (`jumpnet_raft_members{role}`): the operator adds learners and "
            "promotes them.",
            targets(
                (f'max(jumpnet_raft_members{{{csel}, role="voter"}})', "voters"),
                (f'max(jumpnet_raft_members{{{csel}, role="learner"}})', "learners"),
            ),
            text_mode="value_and_name",
        ),
        w=6,
        h=4,
    )
    b.add(
        stat(
            "Has leader",
            "YES when every broker pod of the cluster knows a leader (`jumpnet_raft_has_leader`).",
            targets((f"min(jumpnet_raft_has_leader{{{csel}}})", "")),
            mappings=yes_no(),
            thresholds=steps((None, "red"), (1, "green")),
        ),
        w=6,
        h=4,
    )
    b.add(
        stat(
            "Broker restarts (1h)",
            "Broker container restarts in the last hour (kube-state-metrics "
            "`kube_pod_container_status_restarts_total`).",
            targets((f"sum(increase(kube_pod_container_status_restarts_total{{{csel}}}[1h]))", "")),
            thresholds=steps((None, "green"), (1, "orange")),
        ),
        w=6,
        h=4,
    )
    b.add(
        timeseries(
            "Replicas over time (kube-state-metrics)",
            "Desired and ready replicas of the StatefulSet, next to Raft voters: scaling shows as the three lines "
            "moving together.",
            targets(
                ('max(kube_statefulset_replicas{namespace="$namespace", statefulset="$cluster"})', "desired"),
                (
                    'max(kube_statefulset_status_replicas_ready{namespace="$namespace", statefulset="$cluster"})',
                    "ready",
                ),
                (f'max(jumpnet_raft_members{{{csel}, role="voter"}})', "voters"),
            ),
        ),
        w=24,
        h=8,
    )

    return dashboard(
        "jumpnet-operator",
        "Jumpnet / Operator",
        "The Jumpnet operator: reconciliations, errors, latency, and the state of the cluster it manages.",
        variables,
        b,
        ["jumpnet"],
    )


def render(doc: Dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: List[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, build in (("jumpnet-broker.json", broker), ("jumpnet-operator.json", operator)):
        path = HERE / name
        text = render(build())
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)} (run python3 deploy/grafana/build_dashboards.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
