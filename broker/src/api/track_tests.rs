//! The cached HTTP metric handles count what `with_label_values` per request counted.

use super::track::RouteMetrics;
use crate::metrics::Metrics;

#[test]
fn cached_handles_count_each_route_method_and_status_like_a_lookup_per_request() {
    let m = Metrics::new();
    let t = RouteMetrics::new(m.clone(), ["/v1/topics", "/v1/topics/{topic}"]);
    // GET (0) twice with 200, PUT (1) once with a status the table does not cache (418), once on
    // a route the table does not know, once unmatched.
    t.observe(0, "/v1/topics", 200, 0.001);
    t.observe(0, "/v1/topics", 200, 0.002);
    t.observe(1, "/v1/topics/{topic}", 418, 0.003);
    t.observe(2, "/not/in/the/table", 503, 0.004);
    t.observe(7, "unmatched", 404, 0.005);
    let count = |l: [&str; 3]| m.http_requests.with_label_values(&l).get();
    let seen = |l: [&str; 2]| m.http_duration.with_label_values(&l).get_sample_count();
    assert_eq!(count(["GET", "/v1/topics", "200"]), 2);
    assert_eq!(seen(["GET", "/v1/topics"]), 2);
    assert_eq!(count(["PUT", "/v1/topics/{topic}", "418"]), 1);
    assert_eq!(seen(["PUT", "/v1/topics/{topic}"]), 1);
    assert_eq!(count(["POST", "/not/in/the/table", "503"]), 1);
    assert_eq!(count(["OTHER", "unmatched", "404"]), 1);
    assert_eq!(seen(["OTHER", "unmatched"]), 1);
    // Nothing else: series appear only once a request was answered.
    let families = m.registry.gather();
    let requests = families
        .iter()
        .find(|f| f.name() == "jumpnet_http_requests_total")
        .unwrap();
    assert_eq!(requests.get_metric().len(), 4);
    let sum: f64 = m
        .http_duration
        .with_label_values(&["GET", "/v1/topics"])
        .get_sample_sum();
    assert!((sum - 0.003).abs() < 1e-9, "{sum}");
}
