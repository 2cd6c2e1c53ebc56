"""Which metric names the dashboards and rules may use, and where each comes from.

* Jumpnet's own: SPEC §7 (broker and operator), checked against the text of ``../shared/SPEC.md`` when it is
  there; the live test then checks them against what a running broker really exports.
* Broker metrics beyond SPEC §7, each listed explicitly in ``BROKER_EXTRA`` with the change that added it (the
  SPEC check ignores them; the live test checks the always-present ones are exported).
* ``process_*``: the standard process collector the broker registers (SPEC §7 "plus process_*").
* External exporters, explicitly: kube-state-metrics, cAdvisor and kubelet series for pod CPU, memory, PVC
  usage and restarts, and Prometheus' own ``up``. Nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, Optional, Set

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO.parent / "shared" / "SPEC.md"

# SPEC §7, with each metric's Prometheus type.
BROKER: Dict[str, str] = {
    "jumpnet_http_requests_total": "counter",
    "jumpnet_http_request_duration_seconds": "histogram",
    "jumpnet_publish_commit_duration_seconds": "histogram",
    "jumpnet_messages_published_total": "counter",
    "jumpnet_messages_consumed_total": "counter",
    "jumpnet_message_bytes_total": "counter",
    "jumpnet_topics": "gauge",
    "jumpnet_storage_used_bytes": "gauge",
    "jumpnet_raft_has_leader": "gauge",
    "jumpnet_raft_state": "gauge",
    "jumpnet_raft_term": "gauge",
    "jumpnet_raft_leader_changes_total": "counter",
    "jumpnet_raft_last_log_index": "gauge",
    "jumpnet_raft_commit_index": "gauge",
    "jumpnet_raft_applied_index": "gauge",
    "jumpnet_raft_replication_lag_entries": "gauge",
    "jumpnet_raft_members": "gauge",
    "jumpnet_raft_log_fsync_duration_seconds": "histogram",
    "jumpnet_raft_peer_rpc_failures_total": "counter",
    "jumpnet_build_info": "gauge",
}

# SPEC §7 labels of the broker metrics (beyond these, only target labels like namespace/pod).
BROKER_LABELS: Dict[str, Set[str]] = {
    "jumpnet_http_requests_total": {"method", "route", "code"},
    "jumpnet_http_request_duration_seconds": {"method", "route"},
    "jumpnet_message_bytes_total": {"direction"},
    "jumpnet_raft_state": {"state"},
    "jumpnet_raft_replication_lag_entries": {"peer"},
    "jumpnet_raft_members": {"role"},
    "jumpnet_raft_peer_rpc_failures_total": {"peer", "rpc"},
    "jumpnet_build_info": {"version"},
}

# Beyond SPEC §7, allowed explicitly: issue 16 (consumer visibility), the named consumers' lag, computed
# on each scrape from the replicated positions. jumpnet_consumer_position_lag_messages exists only with
# --metrics-consumer-labels (capped; the rest in topic="other",consumer="other"), so dashboards and rules
# use only the aggregates.
BROKER_EXTRA: Dict[str, str] = {
    "jumpnet_consumer_positions": "gauge",
    "jumpnet_consumer_lag_messages": "gauge",
    "jumpnet_consumer_lag_sum_messages": "gauge",
    "jumpnet_consumer_position_lag_messages": "gauge",
    # issue 16 (consumer groups, SPEC §9): sums over every group, no per-group labels
    "jumpnet_group_messages_in_flight": "gauge",
    "jumpnet_group_lag": "gauge",
    "jumpnet_group_redelivered_total": "counter",
    "jumpnet_group_dead_lettered_total": "counter",
    "jumpnet_group_dropped_total": "counter",
    # only with --metrics-group-labels N (capped; the rest in topic="other",group="other")
    "jumpnet_group_lag_per_group": "gauge",
    "jumpnet_group_messages_in_flight_per_group": "gauge",
    # issue 18 (performance): the leader's round trip of each answered Raft RPC, and a follower's time to answer
    # an AppendEntries (bench/tail.sh reads them: where a replication stall comes from)
    "jumpnet_raft_peer_rpc_duration_seconds": "histogram",
    "jumpnet_raft_append_entries_handle_duration_seconds": "histogram",
}

BROKER_EXTRA_LABELS: Dict[str, Set[str]] = {
    "jumpnet_raft_peer_rpc_duration_seconds": {"rpc"},
    "jumpnet_consumer_position_lag_messages": {"topic", "consumer"},
    "jumpnet_group_lag_per_group": {"topic", "group"},
    "jumpnet_group_messages_in_flight_per_group": {"topic", "group"},
}

# BROKER_EXTRA series a broker exports only when asked for (a flag), not on every /metrics page.
BROKER_EXTRA_OPT_IN = {
    "jumpnet_consumer_position_lag_messages",
    "jumpnet_group_lag_per_group",
    "jumpnet_group_messages_in_flight_per_group",
}

# SPEC §10 (TLS, issue 17), not in §7: exported only by nodes whose API or raft port serves TLS, so allowed
# here by name (the live cluster runs without TLS; broker/tests/cluster/t76_tls.rs and t77_peer_tls.rs check
# these on TLS nodes). Not opt-in like BROKER_EXTRA_OPT_IN: every TLS node has them, and
# JumpnetCertificateExpiringSoon uses the gauge. `listener` is `api` (--tls-cert) or `peer` (--peer-tls-cert).
TLS: Dict[str, str] = {
    "jumpnet_tls_handshake_failures_total": "counter",
    "jumpnet_tls_certificate_expiry_seconds": "gauge",
}

TLS_LABELS: Dict[str, Set[str]] = {
    "jumpnet_tls_handshake_failures_total": {"listener"},
    "jumpnet_tls_certificate_expiry_seconds": {"listener"},
}

# Issue 15 (the Kafka listener, SPEC §8), not in §7: exported only by nodes started with `--kafka` (the live
# cluster here runs without it; broker/tests/cluster/t93_kafka_bench.rs checks them on a node that has it).
KAFKA: Dict[str, str] = {
    "jumpnet_kafka_requests_total": "counter",
    "jumpnet_kafka_request_duration_seconds": "histogram",
    "jumpnet_kafka_connections": "gauge",
    "jumpnet_kafka_request_errors_total": "counter",
}

KAFKA_LABELS: Dict[str, Set[str]] = {
    "jumpnet_kafka_requests_total": {"api"},
    "jumpnet_kafka_request_duration_seconds": {"api"},
    "jumpnet_kafka_request_errors_total": {"api", "error"},
}

OPERATOR: Dict[str, str] = {
    "jumpnet_operator_reconciliations_total": "counter",
    "jumpnet_operator_reconcile_duration_seconds": "histogram",
    "jumpnet_operator_reconcile_errors_total": "counter",
    "jumpnet_operator_clusters": "gauge",
}

# The Prometheus client's process collector on Linux.
PROCESS = {
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
}

# Not exported by Jumpnet: allowed by name, each with the exporter that provides it.
EXTERNAL: Dict[str, str] = {
    "up": "Prometheus (scrape health)",
    "container_cpu_usage_seconds_total": "cAdvisor (kubelet /metrics/cadvisor)",
    "container_memory_working_set_bytes": "cAdvisor (kubelet /metrics/cadvisor)",
    "kubelet_volume_stats_used_bytes": "kubelet",
    "kubelet_volume_stats_capacity_bytes": "kubelet",
    "kubelet_volume_stats_available_bytes": "kubelet",
    "kube_pod_container_status_restarts_total": "kube-state-metrics",
    "kube_pod_spec_volumes_persistentvolumeclaims_info": "kube-state-metrics",
    "kube_statefulset_replicas": "kube-state-metrics",
    "kube_statefulset_status_replicas_ready": "kube-state-metrics",
}

# Labels every scraped series may carry from service discovery (ServiceMonitor / kubernetes_sd).
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}


def series_names(families: Dict[str, str]) -> Set[str]:
    """The series names a set of metric families shows in PromQL (histograms as _bucket/_sum/_count)."""
    out: Set[str] = set()
    for name, kind in families.items():
        if kind == "histogram":
            out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            out.add(name)
    return out


def family_of(series: str, families: Iterable[str]) -> Optional[str]:
    fams = set(families)
    if series in fams:
        return series
    for suffix in ("_bucket", "_sum", "_count"):
        if series.endswith(suffix) and series[: -len(suffix)] in fams:
            return series[: -len(suffix)]
    return None


def spec_section7(path: Path = SPEC) -> Optional[Set[str]]:
    """Metric names written in backticks in SPEC §7, or None when the SPEC is not beside the repo."""
    if not path.exists():
        return None
    text = path.read_text()
    m = re.search(r"^## 7\..*?(?=^## |\Z)", text, re.S | re.M)
    if not m:
        return set()
    return {re.sub(r"\{.*", "", n) for n in re.findall(r"`(jumpnet_[a-z_]+(?:\{[^`]*\})?)`", m.group())}
