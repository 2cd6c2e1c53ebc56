//! TLS (SPEC §10, `spec.tls`): the cert-manager `Certificate` the operator asks for, the Secret
//! the brokers mount, and the names the certificate must carry.
//!
//! One certificate serves everything: the HTTPS API (clients reach it as the client Service, the
//! operator as each pod's headless name) and mutual TLS on the raft port (a dialler checks the
//! peer's advertised raft host, `NAME-i.NAME-headless.NS.svc.DOMAIN`), so it is made for both
//! `server auth` and `client auth`. Pod names are wildcards: scaling needs no new certificate.
//!
//! The Certificate is built as a dynamic object, so the operator needs neither cert-manager's
//! types nor its CRD to start; without the CRD it is simply not applied (see `reconcile/tls.rs`).

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::{object_meta, Names};
use crate::crd::JumpnetCluster;

/// Where the TLS Secret's files are mounted in the broker pods.
pub const TLS_MOUNT: &str = "/etc/jumpnet/tls";
/// The keys of a `kubernetes.io/tls` Secret as cert-manager writes it.
pub const TLS_CERT_KEY: &str = "tls.crt";
pub const TLS_KEY_KEY: &str = "tls.key";
pub const CA_KEY: &str = "ca.crt";
/// Pod annotation, with peer TLS on: brokers with and without it refuse each other, so turning
/// it on or off restarts every pod at once, like a cluster-secret change. A new CA needs no
/// restart: the brokers re-read `ca.crt` when it changes.
pub const PEER_TLS_ANNOTATION: &str = "jumpnet.io/peer-tls";
/// Its value.
pub const PEER_TLS_MUTUAL: &str = "mutual";
/// The cert-manager group, the default of `issuerRef.group`.
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";

/// The trust the operator and the pods get from the TLS Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsTrust {
    /// `ca.crt` of the Secret (PEM): what the operator verifies the brokers against.
    pub ca_pem: String,
}

/// `https` with `spec.tls.enabled`, else `http`.
pub fn api_scheme(jc: &JumpnetCluster) -> &'static str {
    if jc.spec.tls.enabled {
        "https"
    } else {
        "http"
    }
}

/// The Secret with `tls.crt`, `tls.key`, `ca.crt`: `spec.tls.secretName`, else `NAME-tls`.
pub fn tls_secret_name(jc: &JumpnetCluster, names: &Names) -> String {
    jc.spec
        .tls
        .secret_name
        .clone()
        .unwrap_or_else(|| names.tls())
}

pub fn certificate_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(CERT_MANAGER_GROUP, "v1", "Certificate"),
        "certificates",
    )
}

/// Every DNS name a client, a peer or the operator may use for the brokers.
pub fn dns_names(names: &Names) -> Vec<String> {
    let (name, ns, domain) = (&names.name, &names.namespace, &names.cluster_domain);
    let headless = names.headless();
    vec![
        name.clone(),
        format!("{name}.{ns}"),
        format!("{name}.{ns}.svc"),
        format!("{name}.{ns}.svc.{domain}"),
        format!("*.{headless}.{ns}.svc"),
        format!("*.{headless}.{ns}.svc.{domain}"),
        format!("{headless}.{ns}.svc"),
        format!("{headless}.{ns}.svc.{domain}"),
    ]
}

/// Certificate `NAME` for `spec.tls.issuerRef`; `None` when TLS is off or comes from the user's
/// own Secret.
pub fn certificate(jc: &JumpnetCluster, names: &Names) -> Option<DynamicObject> {
    let tls = &jc.spec.tls;
    let issuer = tls.issuer_ref.as_ref().filter(|_| tls.enabled)?;
    let mut obj = DynamicObject::new(&names.name, &certificate_resource());
    obj.metadata = object_meta(jc, names, names.name.clone());
    obj.data = json!({
        "spec": {
            "secretName": tls_secret_name(jc, names),
            "issuerRef": {
                "name": issuer.name,
                "kind": issuer.kind.as_str(),
                "group": issuer.group.as_deref().unwrap_or(CERT_MANAGER_GROUP),
            },
            "dnsNames": dns_names(names),
            "usages": ["server auth", "client auth", "digital signature", "key encipherment"],
            // PKCS#8 is what the broker reads for every key type; a fresh key on every renewal.
            "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
        }
    });
    Some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;

    #[test]
    fn the_certificate_names_the_client_service_and_every_pod_for_server_and_client_auth() {
        let jc = cluster("tls: {enabled: true, issuerRef: {name: ca, kind: ClusterIssuer}}");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let v = serde_json::to_value(certificate(&jc, &names).unwrap()).unwrap();
        assert_eq!(v["apiVersion"], "cert-manager.io/v1");
        assert_eq!(v["kind"], "Certificate");
        assert_eq!(v["metadata"]["name"], "demo");
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "uid-demo");
        assert_eq!(v["spec"]["secretName"], "demo-tls");
        assert_eq!(
            v["spec"]["issuerRef"],
            json!({"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
        );
        let dns: Vec<&str> = v["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        for want in [
            "demo",
            "demo.ns.svc",
            "demo.ns.svc.cluster.local",
            "*.demo-headless.ns.svc",
            "*.demo-headless.ns.svc.cluster.local",
        ] {
            assert!(dns.contains(&want), "{want} missing from {dns:?}");
        }
        // the advertised raft/API host of every pod matches a wildcard
        let host = names.pod_host(4);
        assert!(dns.contains(&format!("*.{}", host.split_once('.').unwrap().1).as_str()));
        let usages = &v["spec"]["usages"];
        assert!(usages.as_array().unwrap().contains(&json!("server auth")));
        assert!(usages.as_array().unwrap().contains(&json!("client auth")));
    }

    #[test]
    fn no_certificate_without_an_issuer_or_with_tls_off() {
        let own = cluster("tls: {enabled: true, secretName: mine}");
        let names = Names::of(&own, "cluster.local").unwrap();
        assert!(certificate(&own, &names).is_none());
        assert_eq!(tls_secret_name(&own, &names), "mine");
        let off = cluster("tls: {enabled: false, issuerRef: {name: ca}}");
        assert!(certificate(&off, &names).is_none());
        let issued_into = cluster("tls: {enabled: true, issuerRef: {name: ca}, secretName: x}");
        let v = serde_json::to_value(certificate(&issued_into, &names).unwrap()).unwrap();
        assert_eq!(v["spec"]["secretName"], "x");
        assert_eq!(v["spec"]["issuerRef"]["kind"], "Issuer");
    }
}
