//! Secret `NAME-auth` (only with `spec.auth.enabled`): the broker token file (SPEC §5, one
//! `<token> <publisher-id> <roles>` a line) and the cluster secret for the raft port.
//!
//! Tokens are generated once. [`AuthTokens::keep_or_generate`] starts from the live Secret and
//! only fills what is missing, so re-applying never rotates a token clients already use, and
//! lines users add to `tokens` survive.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

use super::{object_meta, Names};
use crate::crd::JumpnetCluster;

/// The broker's `--auth-file`.
pub const TOKENS_KEY: &str = "tokens";
/// The broker's `--cluster-secret-file`.
pub const CLUSTER_SECRET_KEY: &str = "cluster-secret";
/// The admin token the operator uses for the admin API.
pub const OPERATOR_TOKEN_KEY: &str = "operator-token";
/// A publish+consume token for applications (`secretKeyRef` it).
pub const CLIENT_TOKEN_KEY: &str = "client-token";

const OPERATOR_PUBLISHER: &str = "jumpnet-operator";
const CLIENT_PUBLISHER: &str = "client";

/// Contents of the auth Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthTokens {
    pub operator_token: String,
    pub client_token: String,
    pub cluster_secret: String,
    /// The whole token file; always contains an `admin` line for `operator_token`.
    pub tokens_file: String,
}

fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

impl AuthTokens {
    pub fn generate() -> Self {
        Self::keep_or_generate(None)
    }

    /// Keeps every value present in `existing` and generates the missing ones.
    pub fn keep_or_generate(existing: Option<&Secret>) -> Self {
        let get = |key: &str| -> Option<String> {
            let data = existing?.data.as_ref()?;
            let value = String::from_utf8(data.get(key)?.0.clone()).ok()?;
            (!value.trim().is_empty()).then_some(value)
        };
        let operator_token = get(OPERATOR_TOKEN_KEY).unwrap_or_else(random_token);
        let client_token = get(CLIENT_TOKEN_KEY).unwrap_or_else(random_token);
        let cluster_secret = get(CLUSTER_SECRET_KEY).unwrap_or_else(random_token);
        let mut tokens_file = get(TOKENS_KEY)
            .unwrap_or_else(|| format!("{client_token} {CLIENT_PUBLISHER} publish,consume\n"));
        let has_operator_line = tokens_file
            .lines()
            .any(|l| l.split_whitespace().next() == Some(operator_token.as_str()));
        if !has_operator_line {
            if !tokens_file.ends_with('\n') {
                tokens_file.push('\n');
            }
            tokens_file.push_str(&format!("{operator_token} {OPERATOR_PUBLISHER} admin\n"));
        }
        Self {
            operator_token,
            client_token,
            cluster_secret,
            tokens_file,
        }
    }

    /// Fingerprint of the cluster secret: pods with different ones cannot talk to each other.
    pub fn cluster_secret_fingerprint(&self) -> String {
        fingerprint(&self.cluster_secret)
    }

    /// Fingerprint of the token file: the brokers read it at start, so a change restarts them.
    pub fn tokens_fingerprint(&self) -> String {
        fingerprint(&self.tokens_file)
    }
}

/// A short, non-reversible fingerprint of a secret value, for pod template annotations: the
/// template changes (and pods restart) when the value changes, without showing the value.
///
/// Never change how it is computed: running pods carry the value an older operator wrote, and a
/// different one for the same secret restarts every broker of every cluster at once when the operator
/// is upgraded (a cluster-secret change). A golden test pins it.
fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

pub fn auth_secret(jc: &JumpnetCluster, names: &Names, tokens: &AuthTokens) -> Secret {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    Secret {
        metadata: object_meta(jc, names, names.auth()),
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([
            (TOKENS_KEY.to_string(), bytes(&tokens.tokens_file)),
            (
                CLUSTER_SECRET_KEY.to_string(),
                bytes(&tokens.cluster_secret),
            ),
            (
                OPERATOR_TOKEN_KEY.to_string(),
                bytes(&tokens.operator_token),
            ),
            (CLIENT_TOKEN_KEY.to_string(), bytes(&tokens.client_token)),
        ])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;

    fn text(secret: &Secret, key: &str) -> String {
        String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
    }

    #[test]
    fn generated_token_file_follows_spec_format_with_operator_admin() {
        let t = AuthTokens::generate();
        let lines: Vec<Vec<&str>> = t
            .tokens_file
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines.iter().all(|l| l.len() == 3),
            "<token> <publisher-id> <roles>"
        );
        assert!(lines.contains(&vec![
            t.operator_token.as_str(),
            "jumpnet-operator",
            "admin"
        ]));
        assert!(lines.contains(&vec![t.client_token.as_str(), "client", "publish,consume"]));
        assert_ne!(t.operator_token, t.client_token);
        assert!(t.operator_token.len() >= 32 && t.cluster_secret.len() >= 32);
    }

    #[test]
    fn existing_tokens_are_never_regenerated() {
        let jc = cluster("auth: {enabled: true}");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let first = AuthTokens::generate();
        let mut live = auth_secret(&jc, &names, &first);
        // a user added a token line
        let mut file = text(&live, TOKENS_KEY);
        file.push_str("usertok alice consume\n");
        live.data
            .as_mut()
            .unwrap()
            .insert(TOKENS_KEY.into(), ByteString(file.clone().into_bytes()));
        let again = AuthTokens::keep_or_generate(Some(&live));
        assert_eq!(again.operator_token, first.operator_token);
        assert_eq!(again.client_token, first.client_token);
        assert_eq!(again.cluster_secret, first.cluster_secret);
        assert_eq!(again.tokens_file, file);
    }

    #[test]
    fn missing_operator_token_is_added_to_an_existing_file() {
        let jc = cluster("auth: {enabled: true}");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let mut live = auth_secret(&jc, &names, &AuthTokens::generate());
        let data = live.data.as_mut().unwrap();
        data.remove(OPERATOR_TOKEN_KEY);
        data.insert(TOKENS_KEY.into(), ByteString(b"abc bob publish".to_vec()));
        let t = AuthTokens::keep_or_generate(Some(&live));
        assert!(t.tokens_file.starts_with("abc bob publish\n"));
        assert!(t
            .tokens_file
            .ends_with(&format!("{} jumpnet-operator admin\n", t.operator_token)));
        let secret = auth_secret(&jc, &names, &t);
        assert_eq!(text(&secret, OPERATOR_TOKEN_KEY), t.operator_token);
    }

    #[test]
    fn the_fingerprint_is_pinned_across_operator_versions() {
        // sha256("x") = 2d711642b726b044...: an upgrade must not see every pod's annotation as changed
        assert_eq!(fingerprint("x"), "sha256:2d711642b726b044");
    }

    #[test]
    fn fingerprints_follow_the_values_and_do_not_show_them() {
        let t = AuthTokens::generate();
        let fp = t.cluster_secret_fingerprint();
        assert!(fp.starts_with("sha256:") && fp.len() == "sha256:".len() + 16);
        assert!(!fp.contains(&t.cluster_secret));
        assert_eq!(fp, t.clone().cluster_secret_fingerprint(), "stable");
        let mut edited = t.clone();
        edited.tokens_file.push_str("usertok alice consume\n");
        assert_ne!(edited.tokens_fingerprint(), t.tokens_fingerprint());
        assert_eq!(edited.cluster_secret_fingerprint(), fp);
        edited.cluster_secret = "rotated".into();
        assert_ne!(edited.cluster_secret_fingerprint(), fp);
    }
}
