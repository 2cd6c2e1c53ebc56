//! prometheus-operator ServiceMonitor `NAME`, built as a dynamic object so the operator does
//! not depend on that CRD's types. It selects only the headless Service, which lists every
//! broker (ready or not) exactly once. Its targets get `job="jumpnet-broker"`, the job name of
//! `deploy/prometheus/scrape-config.yaml`, so the alert rules select brokers the same way with or
//! without the prometheus-operator; `spec.metrics.serviceMonitor.labels` lets a Prometheus whose
//! `serviceMonitorSelector` wants a label (kube-prometheus-stack: `release`) pick it up.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::{object_meta, selector_labels, tls_secret_name, Names, CA_KEY, SERVICE_ROLE_LABEL};

/// The `job` label of broker targets (rules and dashboards select on it).
pub const BROKER_JOB: &str = "jumpnet-broker";
use crate::crd::JumpnetCluster;

pub fn service_monitor_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
        "servicemonitors",
    )
}

pub fn service_monitor(jc: &JumpnetCluster, names: &Names) -> DynamicObject {
    let mut match_labels = selector_labels(&names.name);
    match_labels.insert(SERVICE_ROLE_LABEL.into(), "headless".into());
    let spec = &jc.spec.metrics.service_monitor;
    let mut obj = DynamicObject::new(&names.name, &service_monitor_resource());
    obj.metadata = object_meta(jc, names, names.name.clone());
    if let Some(labels) = obj.metadata.labels.as_mut() {
        for (k, v) in &spec.labels {
            // the operator's own labels win: they are what it finds its objects by
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut endpoint = json!({
        "port": "http",
        "path": "/metrics",
        "interval": spec.interval,
        "relabelings": [{"action": "replace", "targetLabel": "job", "replacement": BROKER_JOB}],
    });
    if jc.spec.tls.enabled {
        // Targets are pod IPs: the certificate is checked against the client Service's name.
        endpoint["scheme"] = json!("https");
        endpoint["tlsConfig"] = json!({
            "ca": {"secret": {"name": tls_secret_name(jc, names), "key": CA_KEY}},
            "serverName": format!("{}.{}.svc", names.name, names.namespace),
        });
    }
    obj.data = json!({
        "spec": {
            "selector": {"matchLabels": match_labels},
            "endpoints": [endpoint],
        }
    });
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;

    #[test]
    fn service_monitor_carries_the_users_labels_and_the_broker_job() {
        let jc = cluster(
            "metrics: {serviceMonitor: {enabled: true, labels: {release: kps, app.kubernetes.io/instance: spoofed}}}",
        );
        let sm = service_monitor(&jc, &Names::of(&jc, "cluster.local").unwrap());
        let v = serde_json::to_value(&sm).unwrap();
        assert_eq!(v["metadata"]["labels"]["release"], "kps");
        assert_eq!(
            v["metadata"]["labels"]["app.kubernetes.io/instance"],
            "demo"
        );
        assert_eq!(
            v["spec"]["endpoints"][0]["relabelings"],
            json!([{"action": "replace", "targetLabel": "job", "replacement": "jumpnet-broker"}])
        );
    }

    #[test]
    fn with_tls_the_service_monitor_scrapes_https_trusting_the_secrets_ca() {
        let jc = cluster(
            "tls: {enabled: true, issuerRef: {name: ca}}\nmetrics: {serviceMonitor: {enabled: true}}",
        );
        let sm = service_monitor(&jc, &Names::of(&jc, "cluster.local").unwrap());
        let e = &serde_json::to_value(&sm).unwrap()["spec"]["endpoints"][0];
        assert_eq!(e["scheme"], "https");
        assert_eq!(
            e["tlsConfig"],
            json!({"ca": {"secret": {"name": "demo-tls", "key": "ca.crt"}}, "serverName": "demo.ns.svc"})
        );
        let plain = cluster("metrics: {serviceMonitor: {enabled: true}}");
        let sm = service_monitor(&plain, &Names::of(&plain, "cluster.local").unwrap());
        let e = &serde_json::to_value(&sm).unwrap()["spec"]["endpoints"][0];
        assert!(e.get("scheme").is_none() && e.get("tlsConfig").is_none());
    }

    #[test]
    fn service_monitor_scrapes_headless_http_port() {
        let jc = cluster("metrics: {serviceMonitor: {enabled: true, interval: 15s}}");
        let sm = service_monitor(&jc, &Names::of(&jc, "cluster.local").unwrap());
        let v = serde_json::to_value(&sm).unwrap();
        assert_eq!(v["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(v["kind"], "ServiceMonitor");
        assert_eq!(v["metadata"]["name"], "demo");
        assert_eq!(v["spec"]["endpoints"][0]["port"], "http");
        assert_eq!(v["spec"]["endpoints"][0]["interval"], "15s");
        assert_eq!(
            v["spec"]["selector"]["matchLabels"]["jumpnet.io/service"],
            "headless"
        );
    }
}
