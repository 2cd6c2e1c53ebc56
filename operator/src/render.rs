//! `jumpnet-operator render -f CLUSTER.yaml`: every object the operator would apply for the
//! JumpnetCluster(s) in a file, as YAML, with no cluster involved (review, GitOps diffs).
//!
//! Differences from a live apply, by necessity: owner references only appear when the input
//! carries `metadata.uid` (a live object has one); the StatefulSet has `spec.replicas` (the
//! operator may keep it higher while members are being removed); the PodDisruptionBudget is that
//! of the converged cluster, `spec.replicas` voters (live, it follows the current voters); auth
//! tokens are freshly generated (a live cluster keeps the ones in its Secret).

use serde::Deserialize;
use serde_json::Value;

use crate::crd::JumpnetCluster;
use crate::resources::{owned_objects, AuthTokens, BuildOptions};
use crate::{Error, Result};

fn yaml_doc<T: serde::Serialize>(obj: &T) -> Result<String> {
    serde_yaml::to_string(obj).map_err(|source| Error::Yaml { source })
}

/// Renders every JumpnetCluster in `input` (multi-document YAML; other kinds are ignored).
pub fn render(input: &str, cluster_domain: &str) -> Result<String> {
    let mut docs = Vec::new();
    let mut clusters = 0;
    for doc in serde_yaml::Deserializer::from_str(input) {
        let value = Value::deserialize(doc).map_err(|source| Error::Yaml { source })?;
        if value.is_null() || value.get("kind").and_then(Value::as_str) != Some("JumpnetCluster") {
            continue;
        }
        let mut jc: JumpnetCluster =
            serde_json::from_value(value).map_err(|source| Error::Json { source })?;
        clusters += 1;
        if jc.metadata.namespace.is_none() {
            jc.metadata.namespace = Some("default".into());
        }
        let name = jc.metadata.name.clone().ok_or(Error::MissingObjectKey {
            field: "metadata.name",
        })?;
        jc.spec.validate(&name)?;
        let opts = BuildOptions {
            cluster_domain: cluster_domain.to_string(),
            statefulset_replicas: None,
            auth: jc.spec.auth.enabled.then(AuthTokens::generate),
            // The budget of the converged cluster, every broker a voter (a new cluster starts at
            // 0 and follows its voters as they are promoted).
            protected_voters: jc.spec.replica_count(),
        };
        let o = owned_objects(&jc, &opts)?;
        if let Some(cert) = &o.certificate {
            docs.push(yaml_doc(cert)?);
        }
        if let Some(secret) = &o.auth_secret {
            docs.push(yaml_doc(secret)?);
        }
        docs.push(yaml_doc(&o.config_map)?);
        docs.push(yaml_doc(&o.headless_service)?);
        docs.push(yaml_doc(&o.client_service)?);
        docs.push(yaml_doc(&o.pdb)?);
        if let Some(sm) = &o.service_monitor {
            docs.push(yaml_doc(sm)?);
        }
        docs.push(yaml_doc(&o.statefulset)?);
    }
    if clusters == 0 {
        return Err(Error::InvalidSpec {
            name: "<input>".into(),
            reason: "no JumpnetCluster document found".into(),
        });
    }
    Ok(docs.iter().map(|d| format!("---\n{d}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: jumpnet.io/v1alpha1\nkind: JumpnetCluster\nmetadata: {name: demo, namespace: ns}\nspec:\n  replicas: 3\n  auth: {enabled: true}\n  metrics: {serviceMonitor: {enabled: true}}\n";

    #[test]
    fn render_prints_every_owned_object_in_apply_order() {
        let out = render(INPUT, "cluster.local").unwrap();
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&out)
            .map(|d| Value::deserialize(d).unwrap())
            .collect();
        let kinds: Vec<(String, String)> = docs
            .iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap().to_string(),
                    d["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected = [
            ("Secret", "demo-auth"),
            ("ConfigMap", "demo-config"),
            ("Service", "demo-headless"),
            ("Service", "demo"),
            ("PodDisruptionBudget", "demo"),
            ("ServiceMonitor", "demo"),
            ("StatefulSet", "demo"),
        ]
        .map(|(k, n)| (k.to_string(), n.to_string()));
        assert_eq!(kinds, expected);
        assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "ns"));
        assert!(
            docs.iter()
                .all(|d| d["metadata"].get("ownerReferences").is_none()),
            "no uid: no owner refs"
        );
        assert_eq!(docs[6]["spec"]["replicas"], 3);
    }

    #[test]
    fn render_shows_the_certificate_first_and_the_kafka_port() {
        let input = INPUT.replace(
            "  auth: {enabled: true}\n",
            "  tls: {enabled: true, issuerRef: {name: ca, kind: ClusterIssuer}}\n  kafka: {enabled: true}\n",
        );
        let out = render(&input, "cluster.local").unwrap();
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&out)
            .map(|d| Value::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs[0]["kind"], "Certificate");
        assert_eq!(docs[0]["spec"]["secretName"], "demo-tls");
        assert_eq!(docs[0]["spec"]["issuerRef"]["kind"], "ClusterIssuer");
        let sts = docs.iter().find(|d| d["kind"] == "StatefulSet").unwrap();
        let args = sts["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(
            args.contains("--peer-tls-ca=/etc/jumpnet/tls/ca.crt"),
            "{args}"
        );
        assert!(args.contains("--kafka=0.0.0.0:9093"), "{args}");
        let client = docs
            .iter()
            .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "demo")
            .unwrap();
        assert_eq!(client["spec"]["ports"][1]["name"], "kafka");
        let bad = input.replace(", issuerRef: {name: ca, kind: ClusterIssuer}", "");
        let err = render(&bad, "cluster.local").unwrap_err();
        assert!(err.to_string().contains("spec.tls"), "{err}");
    }

    #[test]
    fn render_rejects_invalid_or_missing_clusters() {
        assert!(render("kind: ConfigMap\n", "cluster.local").is_err());
        let bad = INPUT.replace("replicas: 3", "replicas: 12");
        let err = render(&bad, "cluster.local").unwrap_err();
        assert!(err.to_string().contains("spec.replicas"), "{err}");
    }
}
