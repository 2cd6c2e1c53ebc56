//! ConfigMap `NAME-config`: how clients reach the cluster (`envFrom` it to get `JUMPNET_SERVER`
//! for the `jumpnet` CLI) and the broker flags the pods run with, for review.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{api_scheme, broker_args, object_meta, Names};
use crate::crd::JumpnetCluster;

pub fn config_map(jc: &JumpnetCluster, names: &Names) -> ConfigMap {
    let mut data = BTreeMap::from([
        (
            "JUMPNET_SERVER".to_string(),
            names.client_url(api_scheme(jc)),
        ),
        (
            "JUMPNET_HEADLESS_SERVICE".to_string(),
            format!(
                "{}.{}.svc.{}",
                names.headless(),
                names.namespace,
                names.cluster_domain
            ),
        ),
        ("broker-args".to_string(), broker_args(jc, names).join("\n")),
    ]);
    if jc.spec.kafka.enabled {
        data.insert(
            "JUMPNET_KAFKA_BOOTSTRAP".to_string(),
            format!(
                "{}.{}.svc.{}:{}",
                names.name, names.namespace, names.cluster_domain, jc.spec.kafka.port
            ),
        );
    }
    ConfigMap {
        metadata: object_meta(jc, names, names.config()),
        data: Some(data),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;

    #[test]
    fn config_map_tells_clients_where_the_cluster_is() {
        let jc = cluster("");
        let cm = config_map(&jc, &Names::of(&jc, "cluster.local").unwrap());
        assert_eq!(cm.metadata.name.as_deref(), Some("demo-config"));
        let data = cm.data.unwrap();
        assert_eq!(
            data["JUMPNET_SERVER"],
            "http://demo.ns.svc.cluster.local:9090"
        );
        assert!(data["broker-args"].starts_with("serve\n--managed\n"));
        assert!(!data.contains_key("JUMPNET_KAFKA_BOOTSTRAP"));
    }

    #[test]
    fn with_tls_and_kafka_clients_are_told_https_and_the_kafka_bootstrap() {
        let jc = cluster("tls: {enabled: true, secretName: s}\nkafka: {enabled: true}");
        let data = config_map(&jc, &Names::of(&jc, "cluster.local").unwrap())
            .data
            .unwrap();
        assert_eq!(
            data["JUMPNET_SERVER"],
            "https://demo.ns.svc.cluster.local:9090"
        );
        assert_eq!(
            data["JUMPNET_KAFKA_BOOTSTRAP"],
            "demo.ns.svc.cluster.local:9093"
        );
    }
}
