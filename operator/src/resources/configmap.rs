//! ConfigMap `NAME-config`: how clients reach the cluster (`envFrom` it to get `JUMPNET_SERVER`
//! for the `jumpnet` CLI) and the broker flags the pods run with, for review.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{broker_args, object_meta, Names};
use crate::crd::JumpnetCluster;

pub fn config_map(jc: &JumpnetCluster, names: &Names) -> ConfigMap {
    let data = BTreeMap::from([
        ("JUMPNET_SERVER".to_string(), names.client_url()),
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
    }
}
