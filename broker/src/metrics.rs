//! Prometheus metrics of a broker node (SPEC §7). One registry per node, so in-process test
//! clusters do not mix their numbers; `/metrics` renders it together with `process_*`.

use std::sync::Arc;

use prometheus::{
    exponential_buckets, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec,
    IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Sub-millisecond to tens of seconds: 50 µs × 2^k.
fn latency_buckets() -> Vec<f64> {
    exponential_buckets(0.00005, 2.0, 20).expect("valid buckets")
}

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

pub struct Inner {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_in_flight: IntGauge,
    pub publish_commit: Histogram,
    pub messages_published: IntCounter,
    pub messages_consumed: IntCounter,
    pub message_bytes: IntCounterVec,
    /// `message_bytes{direction="in"}` and `{direction="out"}`, looked up once.
    pub message_bytes_in: IntCounter,
    pub message_bytes_out: IntCounter,
    pub topics: IntGauge,
    pub storage_used: IntGauge,
    pub raft_has_leader: IntGauge,
    pub raft_state: IntGaugeVec,
    pub raft_term: IntGauge,
    pub raft_leader_changes: IntCounter,
    pub raft_last_log_index: IntGauge,
    pub raft_commit_index: IntGauge,
    pub raft_applied_index: IntGauge,
    pub raft_replication_lag: IntGaugeVec,
    pub raft_members: IntGaugeVec,
    pub fsync_duration: Histogram,
    pub peer_rpc_failures: IntCounterVec,
    /// Round trip of each answered Raft RPC this node sent, by RPC.
    pub peer_rpc_duration: HistogramVec,
    /// How long this node took to answer an AppendEntries (its Raft core, the log append, the fsync).
    pub append_entries_handle: Histogram,
    pub build_info: IntGaugeVec,
    pub topic_messages: IntGaugeVec,
    pub consumer_positions: IntGauge,
    pub consumer_lag_max: IntGauge,
    pub consumer_lag_sum: IntGauge,
    pub consumer_position_lag: IntGaugeVec,
    pub uptime: Gauge,
    /// Consumer groups, aggregated over all groups (SPEC §9).
    pub groups: GroupMetrics,
    /// Registered only when the API or the raft port serves TLS ([`Metrics::enable_tls`]);
    /// `listener` is `api` or `peer`.
    pub tls_handshake_failures: IntCounterVec,
    pub tls_cert_expiry: GaugeVec,
}

impl std::ops::Deref for Metrics {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
            r.register(Box::new(c.clone()))
                .expect("metric registers once");
            c
        }
        let message_bytes = reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "jumpnet_message_bytes_total",
                    "Message payload bytes, direction in (published) or out (delivered)",
                ),
                &["direction"],
            )
            .unwrap(),
        );
        let m = Inner {
            http_requests: reg(
                &r,
                IntCounterVec::new(Opts::new("jumpnet_http_requests_total", "HTTP requests answered, by method, route template and status code"), &[
                    "method", "route", "code",
                ])
                .unwrap(),
            ),
            http_duration: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new("jumpnet_http_request_duration_seconds", "HTTP request latency, by method and route template")
                        .buckets(latency_buckets()),
                    &["method", "route"],
                )
                .unwrap(),
            ),
            http_in_flight: reg(&r, IntGauge::new("jumpnet_http_requests_in_flight", "HTTP requests being answered right now").unwrap()),
            publish_commit: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new("jumpnet_publish_commit_duration_seconds", "Time from receiving a publish to its commit by a quorum")
                        .buckets(latency_buckets()),
                )
                .unwrap(),
            ),
            messages_published: reg(&r, IntCounter::new("jumpnet_messages_published_total", "Messages committed through this node").unwrap()),
            messages_consumed: reg(&r, IntCounter::new("jumpnet_messages_consumed_total", "Messages delivered to readers by this node").unwrap()),
            message_bytes_in: message_bytes.with_label_values(&["in"]),
            message_bytes_out: message_bytes.with_label_values(&["out"]),
            message_bytes,
            topics: reg(&r, IntGauge::new("jumpnet_topics", "Topics in the replicated log").unwrap()),
            storage_used: reg(&r, IntGauge::new("jumpnet_storage_used_bytes", "Bytes used on disk by the node's state dir").unwrap()),
            raft_has_leader: reg(&r, IntGauge::new("jumpnet_raft_has_leader", "1 when this node knows a leader").unwrap()),
            raft_state: reg(
                &r,
                IntGaugeVec::new(Opts::new("jumpnet_raft_state", "1 for the Raft state this node is in"), &["state"]).unwrap(),
            ),
            raft_term: reg(&r, IntGauge::new("jumpnet_raft_term", "Current Raft term").unwrap()),
            raft_leader_changes: reg(&r, IntCounter::new("jumpnet_raft_leader_changes_total", "Leader changes this node observed").unwrap()),
            raft_last_log_index: reg(&r, IntGauge::new("jumpnet_raft_last_log_index", "Index of the last entry in this node's log").unwrap()),
            raft_commit_index: reg(&r, IntGauge::new("jumpnet_raft_commit_index", "Highest log index this node knows is committed").unwrap()),
            raft_applied_index: reg(&r, IntGauge::new("jumpnet_raft_applied_index", "Highest log index applied to this node's state").unwrap()),
            raft_replication_lag: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("jumpnet_raft_replication_lag_entries", "On the leader: entries each peer is behind the leader's log"),
                    &["peer"],
                )
                .unwrap(),
            ),
            raft_members: reg(
                &r,
                IntGaugeVec::new(Opts::new("jumpnet_raft_members", "Cluster members by role, as this node sees the membership"), &["role"]).unwrap(),
            ),
            fsync_duration: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new("jumpnet_raft_log_fsync_duration_seconds", "Duration of one group-commit flush of the Raft log")
                        .buckets(latency_buckets()),
                )
                .unwrap(),
            ),
            peer_rpc_failures: reg(
                &r,
                IntCounterVec::new(Opts::new("jumpnet_raft_peer_rpc_failures_total", "Failed RPCs to peers, by peer id and RPC"), &["peer", "rpc"])
                    .unwrap(),
            ),
            peer_rpc_duration: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new("jumpnet_raft_peer_rpc_duration_seconds", "Round trip of the Raft RPCs this node sent and got an answer to, by RPC")
                        .buckets(latency_buckets()),
                    &["rpc"],
                )
                .unwrap(),
            ),
            append_entries_handle: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "jumpnet_raft_append_entries_handle_duration_seconds",
                        "Time this node took to answer an AppendEntries: its Raft core, the log append and the fsync",
                    )
                    .buckets(latency_buckets()),
                )
                .unwrap(),
            ),
            build_info: reg(&r, IntGaugeVec::new(Opts::new("jumpnet_build_info", "Build information; always 1"), &["version"]).unwrap()),
            topic_messages: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("jumpnet_topic_messages", "Retained messages per topic (only with --topic-metrics; capped number of topics)"),
                    &["topic"],
                )
                .unwrap(),
            ),
            consumer_positions: reg(&r, IntGauge::new("jumpnet_consumer_positions", "Named consumer positions held (every topic)").unwrap()),
            consumer_lag_max: reg(
                &r,
                IntGauge::new("jumpnet_consumer_lag_messages", "Largest lag of any named consumer position: messages between it and its topic's high watermark").unwrap(),
            ),
            consumer_lag_sum: reg(
                &r,
                IntGauge::new("jumpnet_consumer_lag_sum_messages", "Lag of every named consumer position added up (messages)").unwrap(),
            ),
            consumer_position_lag: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "jumpnet_consumer_position_lag_messages",
                        "Lag per named consumer position (only with --metrics-consumer-labels; capped, the rest added up in topic=\"other\",consumer=\"other\")",
                    ),
                    &["topic", "consumer"],
                )
                .unwrap(),
            ),
            uptime: reg(&r, Gauge::new("jumpnet_uptime_seconds", "Seconds since this node started").unwrap()),
            groups: GroupMetrics::register(&r),
            tls_handshake_failures: IntCounterVec::new(
                Opts::new(
                    "jumpnet_tls_handshake_failures_total",
                    "TLS handshakes that failed (bad or no client certificate, plain HTTP or bytes, timeouts), by listener: api or peer (the raft port)",
                ),
                &["listener"],
            )
            .unwrap(),
            tls_cert_expiry: GaugeVec::new(
                Opts::new(
                    "jumpnet_tls_certificate_expiry_seconds",
                    "Seconds until a listener's certificate expires (negative once expired), by listener: api or peer (the raft port)",
                ),
                &["listener"],
            )
            .unwrap(),
            registry: r,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for s in ["leader", "follower", "candidate", "learner", "shutdown"] {
            m.raft_state.with_label_values(&[s]).set(0);
        }
        for role in ["voter", "learner"] {
            m.raft_members.with_label_values(&[role]).set(0);
        }
        Metrics(Arc::new(m))
    }

    /// Export the TLS metrics of `listener` (`api` or `peer`; a node without TLS has none, so no
    /// expiry alert can fire for it). Registering twice (both listeners) is harmless.
    pub fn enable_tls(&self, listener: &str) {
        let _ = self
            .registry
            .register(Box::new(self.tls_handshake_failures.clone()));
        let _ = self
            .registry
            .register(Box::new(self.tls_cert_expiry.clone()));
        self.tls_handshake_failures
            .with_label_values(&[listener])
            .inc_by(0);
    }

    /// The text exposition of this node's metrics plus the process collector's.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(prometheus::gather());
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("prometheus text is utf-8")
    }
}

/// Consumer-group metrics: sums over every group of the node's applied state (no per-group
/// labels), sampled with the other storage gauges. The `_total` counters follow the replicated
/// counts (deleting a group does not take them back).
#[derive(Clone)]
pub struct GroupMetrics {
    pub in_flight: IntGauge,
    pub lag: IntGauge,
    pub redelivered: IntCounter,
    pub dead_lettered: IntCounter,
    pub dropped: IntCounter,
    /// Only with `--metrics-group-labels` (group names are user input; capped).
    pub lag_per_group: IntGaugeVec,
    pub in_flight_per_group: IntGaugeVec,
}

impl GroupMetrics {
    fn register(r: &Registry) -> GroupMetrics {
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).unwrap();
            r.register(Box::new(g.clone()))
                .expect("metric registers once");
            g
        };
        let vec = |name: &str, help: &str| {
            let v = IntGaugeVec::new(Opts::new(name, help), &["topic", "group"]).unwrap();
            r.register(Box::new(v.clone()))
                .expect("metric registers once");
            v
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).unwrap();
            r.register(Box::new(c.clone()))
                .expect("metric registers once");
            c
        };
        GroupMetrics {
            in_flight: gauge(
                "jumpnet_group_messages_in_flight",
                "Messages leased to consumer-group fetches and not acknowledged, over all groups",
            ),
            lag: gauge(
                "jumpnet_group_lag",
                "Messages consumer groups have not finished (pending + in flight), over all groups",
            ),
            redelivered: counter(
                "jumpnet_group_redelivered_total",
                "Consumer-group deliveries after the first",
            ),
            dead_lettered: counter(
                "jumpnet_group_dead_lettered_total",
                "Messages consumer groups moved to their dead-letter topic",
            ),
            dropped: counter(
                "jumpnet_group_dropped_total",
                "Messages consumer groups dropped after their last delivery (no dead-letter topic)",
            ),
            lag_per_group: vec(
                "jumpnet_group_lag_per_group",
                "Messages one consumer group has not finished (only with --metrics-group-labels; capped, the rest added up in topic=\"other\",group=\"other\")",
            ),
            in_flight_per_group: vec(
                "jumpnet_group_messages_in_flight_per_group",
                "Messages leased to one consumer group and not acknowledged (only with --metrics-group-labels; capped like jumpnet_group_lag_per_group)",
            ),
        }
    }

    /// Set from sums over the groups: (in flight, lag, redelivered, dead-lettered, dropped).
    pub fn set(&self, in_flight: u64, lag: u64, totals: [u64; 3]) {
        self.in_flight.set(in_flight as i64);
        self.lag.set(lag as i64);
        for (c, v) in [&self.redelivered, &self.dead_lettered, &self.dropped]
            .into_iter()
            .zip(totals)
        {
            c.inc_by(v.saturating_sub(c.get()));
        }
    }
}

/// Register the `process_*` collector in the default registry once per process.
pub fn register_process_collector() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            let _ = prometheus::register(Box::new(pc));
        }
    });
}
