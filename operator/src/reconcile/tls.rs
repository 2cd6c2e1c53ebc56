//! `spec.tls` before anything else: asks cert-manager for Certificate `NAME` (with
//! `issuerRef`), then reads the TLS Secret the pods will mount. A broker started without its
//! certificate files would only crash-loop, so until the Secret holds `tls.crt`, `tls.key` and
//! `ca.crt` the reconcile stops here: no pod is created or changed, and the status says
//! `Degraded`, reason `TLSNotReady`, with what is missing.
//!
//! ```text
//! issuerRef? ─▶ Certificate kind served? ─yes─▶ SSA Certificate NAME
//!            └─ no: the Secret may still be there (made by hand); else TLSNotReady
//! GET Secret (NAME-tls or secretName) ─▶ keys present, ca.crt is PEM ─▶ Ready(CA)
//! ```
//! Turning TLS off keeps the Certificate and its Secret (they go with the cluster), like the auth
//! Secret: turning it back on needs no new issuance.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use tracing::warn;

use super::Context;
use crate::crd::JumpnetCluster;
use crate::resources::{
    certificate, certificate_resource, tls_secret_name, Names, TlsTrust, CA_KEY, MANAGER,
    TLS_CERT_KEY, TLS_KEY_KEY,
};
use crate::{Error, Result};

/// The condition reason while the brokers' certificate is missing.
pub const TLS_NOT_READY: &str = "TLSNotReady";

/// Where `spec.tls` stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tls {
    Off,
    Ready(TlsTrust),
    /// Why the pods cannot get their certificate yet (the condition's message).
    NotReady(String),
}

/// Is the cert-manager Certificate kind served? (discovery, which needs no extra RBAC)
async fn certificates_served(ctx: &Context) -> Result<bool> {
    let ar = certificate_resource();
    match ctx.client.list_api_group_resources(&ar.api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == ar.plural)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(source) => Err(Error::Kube {
            action: format!("discover {}", ar.api_version),
            source,
        }),
    }
}

async fn apply_certificate(ctx: &Context, names: &Names, cert: &DynamicObject) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &names.namespace,
        &certificate_resource(),
    );
    api.patch(
        &names.name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(cert),
    )
    .await
    .map_err(Error::kube(format!("apply Certificate {}", names.name)))?;
    Ok(())
}

/// What a usable TLS Secret lacks, if anything; else the trust it gives.
pub fn check_secret(secret: &Secret) -> std::result::Result<TlsTrust, String> {
    let text = |key: &str| -> Option<String> {
        let bytes = secret.data.as_ref()?.get(key)?;
        let s = String::from_utf8(bytes.0.clone()).ok()?;
        (!s.trim().is_empty()).then_some(s)
    };
    let missing: Vec<&str> = [TLS_CERT_KEY, TLS_KEY_KEY, CA_KEY]
        .into_iter()
        .filter(|k| text(k).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!("has no {}", missing.join(", ")));
    }
    let ca_pem = text(CA_KEY).unwrap_or_default();
    match reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()) {
        Ok(certs) if !certs.is_empty() => Ok(TlsTrust { ca_pem }),
        _ => Err(format!("has a {CA_KEY} that is not a PEM certificate")),
    }
}

/// Applies the Certificate (when asked for and possible) and reads the TLS Secret.
pub async fn prepare(ctx: &Context, jc: &JumpnetCluster, names: &Names) -> Result<Tls> {
    if !jc.spec.tls.enabled {
        return Ok(Tls::Off);
    }
    let secret_name = tls_secret_name(jc, names);
    let mut cert_manager_missing = false;
    if let Some(cert) = certificate(jc, names) {
        if certificates_served(ctx).await? {
            apply_certificate(ctx, names, &cert).await?;
        } else {
            cert_manager_missing = true;
        }
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let secret = api
        .get_opt(&secret_name)
        .await
        .map_err(Error::kube(format!("get Secret {secret_name}")))?;
    let Some(secret) = secret else {
        let why = if cert_manager_missing {
            format!(
                "spec.tls.issuerRef needs cert-manager, but the Certificate kind (cert-manager.io/v1) is not served by this cluster, and Secret {secret_name} does not exist: install cert-manager, or create Secret {secret_name} with tls.crt, tls.key and ca.crt"
            )
        } else if jc.spec.tls.issuer_ref.is_some() {
            format!(
                "waiting for cert-manager to issue Certificate {} into Secret {secret_name} (kubectl describe certificate {})",
                names.name, names.name
            )
        } else {
            format!(
                "Secret {secret_name} (spec.tls.secretName) does not exist: create it with tls.crt, tls.key and ca.crt"
            )
        };
        return Ok(Tls::NotReady(why));
    };
    if cert_manager_missing {
        warn!(cluster = %names.name, secret = %secret_name, "spec.tls.issuerRef but cert-manager's Certificate kind is not served; using the Secret as it is");
    }
    Ok(match check_secret(&secret) {
        Ok(trust) => Tls::Ready(trust),
        Err(lack) => Tls::NotReady(format!("Secret {secret_name} {lack}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn a_tls_secret_needs_every_key_and_a_pem_ca() {
        let ca = crate::fixtures::test_ca_pem();
        let ok = secret(&[("tls.crt", "c"), ("tls.key", "k"), ("ca.crt", &ca)]);
        assert_eq!(check_secret(&ok), Ok(TlsTrust { ca_pem: ca.clone() }));
        assert_eq!(
            check_secret(&secret(&[("tls.crt", "c")])),
            Err("has no tls.key, ca.crt".into())
        );
        let err = check_secret(&secret(&[
            ("tls.crt", "c"),
            ("tls.key", "k"),
            ("ca.crt", "junk"),
        ]))
        .unwrap_err();
        assert!(err.contains("not a PEM"), "{err}");
    }
}
