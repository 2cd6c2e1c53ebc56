//! Metrics of the Kafka listener (SPEC §7 naming). They register into the registry they are
//! given, so the broker's `/metrics` page (broker/src/metrics.rs) includes them by passing its own
//! registry to [`KafkaMetrics::register`]; tests use a registry of their own.

use prometheus::{
    exponential_buckets, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
};

use super::versions;

#[derive(Clone)]
pub struct KafkaMetrics {
    /// `jumpnet_kafka_requests_total{api}`: requests answered (or dropped), by Kafka API name.
    pub requests: IntCounterVec,
    /// `jumpnet_kafka_request_duration_seconds{api}`: from the frame read to the response written.
    pub duration: HistogramVec,
    /// `jumpnet_kafka_connections`: open Kafka client connections.
    pub connections: IntGauge,
    /// `jumpnet_kafka_request_errors_total{api,error}`: responses carrying a Kafka error code, and
    /// connections closed for a bad request (`api="connection"`), by bounded error name.
    pub errors: IntCounterVec,
}

impl KafkaMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<KafkaMetrics> {
        let m = KafkaMetrics {
            requests: IntCounterVec::new(
                Opts::new("jumpnet_kafka_requests_total", "Kafka protocol requests handled, by API"),
                &["api"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "jumpnet_kafka_request_duration_seconds",
                    "Kafka protocol request latency (Fetch includes its long-poll wait), by API",
                )
                .buckets(exponential_buckets(0.00005, 2.0, 20)?),
                &["api"],
            )?,
            connections: IntGauge::new("jumpnet_kafka_connections", "Open Kafka protocol client connections")?,
            errors: IntCounterVec::new(
                Opts::new(
                    "jumpnet_kafka_request_errors_total",
                    "Kafka error codes answered (by API and error) and connections closed for bad requests",
                ),
                &["api", "error"],
            )?,
        };
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.connections.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        // Every served API shows up at zero, so dashboards and alerts see the series from the start.
        for &(api, _, _) in versions::SUPPORTED {
            m.requests.with_label_values(&[versions::name(api)]);
        }
        Ok(m)
    }

    /// Metrics in a registry of their own (tests, the in-memory test server).
    pub fn standalone() -> (KafkaMetrics, Registry) {
        let r = Registry::new();
        let m = KafkaMetrics::register(&r).expect("fresh registry");
        (m, r)
    }
}
