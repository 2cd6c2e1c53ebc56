//! Client for the broker admin API (`docs/broker-contract.md`), behind the [`BrokerAdmin`] trait
//! so reconcile tests drive an in-process fake instead of real brokers.
//!
//! The operator only ever asks a node for its *own* view (`GET /v1/cluster?local=true`): the
//! leader's own view carries the matched indexes, and a follower's own view says whether it
//! holds data at all, which the membership logic needs to tell a fresh pod from one that lost
//! its volume. Expected refusals come back as values (`AlreadyInitialized`, `Lagging`), not
//! errors, because they are normal steps of a convergent loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Error, Result};

/// A node's answer to `GET /v1/cluster`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// `None` while the node belongs to no cluster (a fresh managed node).
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The answering node's own id.
    #[serde(default)]
    pub node_id: Option<u64>,
    #[serde(default)]
    pub leader_id: Option<u64>,
    #[serde(default)]
    pub term: u64,
    #[serde(default)]
    pub commit_index: u64,
    #[serde(default)]
    pub applied_index: u64,
    /// This node's last log index: who is the most up to date in a quorum-loss recovery.
    #[serde(default)]
    pub last_log_index: u64,
    /// On the leader: milliseconds since a quorum last acknowledged it (grows on a leader cut
    /// off from the majority).
    #[serde(default)]
    pub quorum_ack_ms: Option<u64>,
    /// Random id of this node's state dir, made when the dir was first initialised; a wiped
    /// volume comes back with another one (`docs/broker-contract.md`, needed by the operator).
    #[serde(default)]
    pub incarnation: Option<String>,
    #[serde(default)]
    pub members: Vec<Member>,
}

/// A leader no quorum acknowledged for this long may have lost it (the broker stops taking writes
/// after one election timeout). The broker's figure is only refreshed when its Raft state changes,
/// so on an idle cluster it can be old: it only counts together with the leader's pod not being
/// ready (its `/readyz` fails once it lost the majority).
pub const LEADER_LEASE_LOST_MS: u64 = 5_000;

impl ClusterView {
    /// True when this is the leader speaking about itself (its matched indexes are real).
    pub fn is_leader_view(&self) -> bool {
        self.node_id.is_some() && self.node_id == self.leader_id
    }

    /// The leader's own figure says no quorum acknowledged it for a while.
    pub fn lease_stale(&self) -> bool {
        self.quorum_ack_ms
            .is_some_and(|ms| ms >= LEADER_LEASE_LOST_MS)
    }

    /// Voters of this node's own membership configuration.
    pub fn voter_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == Role::Voter)
            .count()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    #[serde(default)]
    pub raft_addr: String,
    #[serde(default)]
    pub api_addr: String,
    pub role: Role,
    /// Last log index known replicated to this member; only the leader knows it.
    #[serde(default)]
    pub matched_index: Option<u64>,
    /// The incarnation (state-dir id) the member was added with; `None` when unknown.
    #[serde(default)]
    pub incarnation: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Voter,
    Learner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voter => "voter",
            Self::Learner => "learner",
        }
    }
}

/// One broker pod, addressed by the reconciler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub pod: String,
    /// `http://host:9090` (`https://` with TLS on), no trailing slash.
    pub base_url: String,
    /// Admin bearer token when auth is on.
    pub token: Option<String>,
    /// With TLS on: the only CA (PEM) the broker's certificate may chain to. The host of
    /// `base_url` must be among the certificate's names.
    pub ca_pem: Option<Arc<str>>,
    /// Connect here instead of resolving the host of `base_url` (pod-IP addressing with TLS:
    /// the certificate names the pod's DNS name, not its IP).
    pub connect_to: Option<SocketAddr>,
}

/// Body of `POST /v1/cluster/members`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewMember {
    pub id: u64,
    pub raft_addr: String,
    pub api_addr: String,
    /// The incarnation the pod reported: the member is bound to that state dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<String>,
    /// With `spec.kafka.enabled`: the pod's `--advertise-kafka`, what Kafka clients are told for it
    /// (omitted otherwise, so a broker without the field is never sent it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_addr: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitOutcome {
    Initialized {
        cluster_id: String,
    },
    /// `409 already_initialized`: the node already belongs to a cluster (adopt it, never re-init).
    AlreadyInitialized,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromoteOutcome {
    Promoted,
    /// `409 learner_lagging`: try again after the learner caught up.
    Lagging,
}

/// The admin calls the operator makes. Implemented over HTTP by [`HttpBroker`].
pub trait BrokerAdmin: Send + Sync {
    /// `GET /v1/cluster?local=true`.
    fn cluster<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<ClusterView>>;
    /// `POST /v1/cluster/init`, with `{"restore_from": URL}` to start from a backup.
    fn init<'a>(
        &'a self,
        target: &'a Target,
        restore_from: Option<&'a str>,
    ) -> BoxFuture<'a, Result<InitOutcome>>;
    /// `POST /v1/cluster/members`.
    fn add_learner<'a>(
        &'a self,
        target: &'a Target,
        member: &'a NewMember,
    ) -> BoxFuture<'a, Result<()>>;
    /// `POST /v1/cluster/members/{id}/promote`.
    fn promote<'a>(&'a self, target: &'a Target, id: u64) -> BoxFuture<'a, Result<PromoteOutcome>>;
    /// `DELETE /v1/cluster/members/{id}`.
    fn remove<'a>(&'a self, target: &'a Target, id: u64) -> BoxFuture<'a, Result<()>>;
    /// `POST /v1/cluster/transfer-leader`.
    fn transfer_leader<'a>(&'a self, target: &'a Target, to: u64) -> BoxFuture<'a, Result<()>>;
    /// `POST /v1/cluster/force-new-cluster`: the node makes itself the only voter (unsafe
    /// quorum-loss recovery, asked for by a human through an annotation).
    fn force_new_cluster<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<()>>;
}

/// Reading a view must be quick: it happens for every pod on every reconcile.
const VIEW_TIMEOUT: Duration = Duration::from_secs(3);
/// Promote waits up to 10 s on the broker side; leave room for forwarding.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Bootstrap from a backup downloads and loads it first.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(600);

/// HTTPS clients kept per (CA, connect address): a handful per cluster, rebuilt when over this.
const MAX_TLS_CLIENTS: usize = 256;

type TlsClients = HashMap<(Arc<str>, Option<SocketAddr>), reqwest::Client>;

/// [`BrokerAdmin`] over HTTP with reqwest.
#[derive(Clone, Debug)]
pub struct HttpBroker {
    http: reqwest::Client,
    /// Clients that trust one cluster's CA (and nothing else).
    tls: Arc<Mutex<TlsClients>>,
}

impl Default for HttpBroker {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct InitAnswer {
    cluster_id: String,
}

impl HttpBroker {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("a plain reqwest client always builds");
        Self {
            http,
            tls: Arc::default(),
        }
    }

    /// The client for `target`: the plain one, or one trusting only the target's CA.
    fn client(&self, target: &Target, op: &'static str) -> Result<reqwest::Client> {
        let Some(ca) = &target.ca_pem else {
            return Ok(self.http.clone());
        };
        let key = (ca.clone(), target.connect_to);
        let mut cache = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let bad_ca = |reason: String| Error::BrokerUnreachable {
            pod: target.pod.clone(),
            op,
            reason,
        };
        let certs = reqwest::Certificate::from_pem_bundle(ca.as_bytes())
            .map_err(|e| bad_ca(format!("the cluster's ca.crt does not load: {e}")))?;
        if certs.is_empty() {
            return Err(bad_ca(
                "the cluster's ca.crt holds no PEM certificate".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
        if let (Some(addr), Some(host)) = (
            target.connect_to,
            reqwest::Url::parse(&target.base_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string)),
        ) {
            builder = builder.resolve(&host, addr);
        }
        let client = builder
            .build()
            .map_err(|e| bad_ca(format!("no HTTPS client for the cluster's CA: {e}")))?;
        if cache.len() >= MAX_TLS_CLIENTS {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }

    async fn call(
        &self,
        target: &Target,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let mut req = self
            .client(target, op)?
            .request(method, format!("{}{path}", target.base_url))
            .timeout(timeout);
        if let Some(token) = &target.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let unreachable = |e: reqwest::Error| Error::BrokerUnreachable {
            pod: target.pod.clone(),
            op,
            reason: e.to_string(),
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => (
                "unknown".into(),
                String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            ),
        };
        Err(Error::BrokerApi {
            pod: target.pod.clone(),
            op,
            status: status.as_u16(),
            code,
            message,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    target: &Target,
    op: &'static str,
    body: &[u8],
) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::BrokerUnreachable {
        pod: target.pod.clone(),
        op,
        reason: format!("unexpected answer: {e}"),
    })
}

impl BrokerAdmin for HttpBroker {
    fn cluster<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<ClusterView>> {
        Box::pin(async move {
            let op = "cluster view";
            let body = self
                .call(
                    target,
                    op,
                    reqwest::Method::GET,
                    "/v1/cluster?local=true",
                    None,
                    VIEW_TIMEOUT,
                )
                .await?;
            parse(target, op, &body)
        })
    }

    fn init<'a>(
        &'a self,
        target: &'a Target,
        restore_from: Option<&'a str>,
    ) -> BoxFuture<'a, Result<InitOutcome>> {
        Box::pin(async move {
            let op = "init";
            let body = match restore_from {
                Some(url) => json!({ "restore_from": url }),
                None => json!({}),
            };
            // Loading a backup takes as long as its download: no short timeout then.
            let timeout = if restore_from.is_some() {
                RESTORE_TIMEOUT
            } else {
                ADMIN_TIMEOUT
            };
            match self
                .call(
                    target,
                    op,
                    reqwest::Method::POST,
                    "/v1/cluster/init",
                    Some(body),
                    timeout,
                )
                .await
            {
                Ok(body) => Ok(InitOutcome::Initialized {
                    cluster_id: parse::<InitAnswer>(target, op, &body)?.cluster_id,
                }),
                Err(e) if e.broker_code() == Some("already_initialized") => {
                    Ok(InitOutcome::AlreadyInitialized)
                }
                Err(e) => Err(e),
            }
        })
    }

    fn add_learner<'a>(
        &'a self,
        target: &'a Target,
        member: &'a NewMember,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let body = serde_json::to_value(member).map_err(|source| Error::Json { source })?;
            self.call(
                target,
                "add learner",
                reqwest::Method::POST,
                "/v1/cluster/members",
                Some(body),
                ADMIN_TIMEOUT,
            )
            .await
            .map(drop)
        })
    }

    fn promote<'a>(&'a self, target: &'a Target, id: u64) -> BoxFuture<'a, Result<PromoteOutcome>> {
        Box::pin(async move {
            let path = format!("/v1/cluster/members/{id}/promote");
            match self
                .call(
                    target,
                    "promote",
                    reqwest::Method::POST,
                    &path,
                    Some(json!({})),
                    ADMIN_TIMEOUT,
                )
                .await
            {
                Ok(_) => Ok(PromoteOutcome::Promoted),
                Err(e) if e.broker_code() == Some("learner_lagging") => Ok(PromoteOutcome::Lagging),
                Err(e) => Err(e),
            }
        })
    }

    fn remove<'a>(&'a self, target: &'a Target, id: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let path = format!("/v1/cluster/members/{id}");
            self.call(
                target,
                "remove member",
                reqwest::Method::DELETE,
                &path,
                None,
                ADMIN_TIMEOUT,
            )
            .await
            .map(drop)
        })
    }

    fn transfer_leader<'a>(&'a self, target: &'a Target, to: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let body = json!({ "to": to });
            self.call(
                target,
                "transfer leader",
                reqwest::Method::POST,
                "/v1/cluster/transfer-leader",
                Some(body),
                ADMIN_TIMEOUT,
            )
            .await
            .map(drop)
        })
    }

    fn force_new_cluster<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.call(
                target,
                "force new cluster",
                reqwest::Method::POST,
                "/v1/cluster/force-new-cluster",
                Some(json!({})),
                ADMIN_TIMEOUT,
            )
            .await
            .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{delete, get, post};
    use axum::{Json, Router};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<String>>>;

    /// Brokers with a Kafka listener add `members[].kafka_addr` (and may add more fields): the
    /// operator reads their views as before.
    #[test]
    fn views_with_fields_the_operator_does_not_know_still_read() {
        let v: ClusterView = serde_json::from_value(serde_json::json!({
            "cluster_id": "c", "node_id": 1, "leader_id": 1, "term": 3, "future": {"x": 1},
            "members": [{"id": 1, "raft_addr": "a:8080", "api_addr": "a:9090", "role": "voter",
                         "matched_index": 4, "kafka_addr": "a:9092", "rack": "r1"}]
        }))
        .unwrap();
        assert_eq!((v.voter_count(), v.members[0].matched_index), (1, Some(4)));
    }

    fn auth_of(headers: &HeaderMap) -> String {
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// A tiny broker double speaking the contract's JSON.
    async fn serve(seen: Seen) -> String {
        let s1 = seen.clone();
        let s2 = seen.clone();
        let s3 = seen.clone();
        let s4 = seen.clone();
        let s5 = seen.clone();
        let s6 = seen.clone();
        let app = Router::new()
            .route(
                "/v1/cluster",
                get(move |q: Query<HashMap<String, String>>, h: HeaderMap| async move {
                    s1.lock().unwrap().push(format!("GET local={:?} {}", q.get("local"), auth_of(&h)));
                    Json(serde_json::json!({
                        "cluster_id": "c-1", "node_id": 0, "leader_id": 0, "term": 2,
                        "commit_index": 10, "applied_index": 10, "last_log_index": 11,
                        "incarnation": "inc-0",
                        "members": [
                            {"id": 0, "raft_addr": "a:8080", "api_addr": "a:9090", "role": "voter", "matched_index": 10, "incarnation": "inc-0", "kafka_addr": "a:9092"},
                            {"id": 1, "raft_addr": "b:8080", "api_addr": "b:9090", "role": "learner", "matched_index": null}
                        ]
                    }))
                }),
            )
            .route(
                "/v1/cluster/init",
                post(move |Json(body): Json<serde_json::Value>| async move {
                    s2.lock().unwrap().push(format!("POST init {body}"));
                    (StatusCode::CONFLICT, Json(serde_json::json!({"error": {"code": "already_initialized", "message": "member of c-1"}})))
                }),
            )
            .route(
                "/v1/cluster/members",
                post(move |Json(body): Json<serde_json::Value>| async move {
                    s3.lock().unwrap().push(format!("POST members {body}"));
                    Json(serde_json::json!({}))
                }),
            )
            .route(
                "/v1/cluster/members/{id}/promote",
                post(move |Path(id): Path<u64>| async move {
                    s4.lock().unwrap().push(format!("POST promote {id}"));
                    (StatusCode::CONFLICT, Json(serde_json::json!({"error": {"code": "learner_lagging", "message": "behind"}})))
                }),
            )
            .route(
                "/v1/cluster/members/{id}",
                delete(move |Path(id): Path<u64>| async move {
                    s5.lock().unwrap().push(format!("DELETE {id}"));
                    (StatusCode::CONFLICT, Json(serde_json::json!({"error": {"code": "last_voter", "message": "only voter"}})))
                }),
            )
            .route(
                "/v1/cluster/force-new-cluster",
                post(move || async move {
                    s6.lock().unwrap().push("POST force-new-cluster".into());
                    Json(serde_json::json!({}))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn http_broker_speaks_the_admin_contract() {
        let seen = Seen::default();
        let base_url = serve(seen.clone()).await;
        let target = Target {
            pod: "demo-0".into(),
            base_url,
            token: Some("tok".into()),
            ..Target::default()
        };
        let b = HttpBroker::new();

        let view = b.cluster(&target).await.unwrap();
        assert_eq!(view.cluster_id.as_deref(), Some("c-1"));
        assert!(view.is_leader_view());
        assert_eq!(view.members[1].role, Role::Learner);
        assert_eq!(view.members[0].matched_index, Some(10));
        assert_eq!(view.incarnation.as_deref(), Some("inc-0"));
        assert_eq!(view.members[0].incarnation.as_deref(), Some("inc-0"));
        assert_eq!(view.members[1].incarnation, None, "absent: unknown");
        assert_eq!(view.last_log_index, 11);

        assert_eq!(
            b.init(&target, None).await.unwrap(),
            InitOutcome::AlreadyInitialized
        );
        b.init(&target, Some("http://backup/snap")).await.unwrap();
        let m = NewMember {
            id: 3,
            raft_addr: "r:8080".into(),
            api_addr: "a:9090".into(),
            incarnation: Some("inc-3".into()),
            kafka_addr: None,
        };
        b.add_learner(&target, &m).await.unwrap();
        assert_eq!(
            b.promote(&target, 3).await.unwrap(),
            PromoteOutcome::Lagging
        );
        let err = b.remove(&target, 0).await.unwrap_err();
        assert_eq!(err.broker_code(), Some("last_voter"));
        assert!(matches!(err, Error::BrokerApi { status: 409, .. }));
        b.force_new_cluster(&target).await.unwrap();

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0], "GET local=Some(\"true\") Bearer tok");
        assert_eq!(seen[1], "POST init {}");
        assert_eq!(
            seen[2],
            r#"POST init {"restore_from":"http://backup/snap"}"#
        );
        assert_eq!(
            seen[3],
            r#"POST members {"api_addr":"a:9090","id":3,"incarnation":"inc-3","raft_addr":"r:8080"}"#
        );
        assert_eq!(seen[4], "POST promote 3");
        assert_eq!(seen[5], "DELETE 0");
        assert_eq!(seen[6], "POST force-new-cluster");
    }

    /// The broker double over HTTPS with a certificate for `names`, signed by a fresh CA.
    async fn serve_tls(names: &[&str]) -> (String, String) {
        use hyper_util::rt::TokioIo;
        use hyper_util::service::TowerToHyperService;
        use rustls_pki_types::pem::PemObject;
        let (ca, cert, key) = crate::fixtures::test_pki(names);
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let app = Router::new().route(
            "/v1/cluster",
            get(|| async { Json(serde_json::json!({"cluster_id": "c-tls", "members": []})) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                            .await;
                    }
                });
            }
        });
        (format!("https://localhost:{port}"), ca)
    }

    #[tokio::test]
    async fn https_brokers_are_trusted_by_the_clusters_ca_only_and_by_name() {
        let (url, ca) = serve_tls(&["localhost"]).await;
        let b = HttpBroker::new();
        let target = |base_url: &str, ca: Option<&str>| Target {
            pod: "demo-0".into(),
            base_url: base_url.into(),
            ca_pem: ca.map(Into::into),
            ..Target::default()
        };
        let view = b.cluster(&target(&url, Some(&ca))).await.unwrap();
        assert_eq!(view.cluster_id.as_deref(), Some("c-tls"));

        // another CA, no CA (public roots only), a name the certificate does not carry: refused
        let other = crate::fixtures::test_ca_pem();
        for t in [
            target(&url, Some(&other)),
            target(&url, None),
            target(&url.replace("localhost", "127.0.0.1"), Some(&ca)),
        ] {
            let err = b.cluster(&t).await.unwrap_err();
            assert!(matches!(err, Error::BrokerUnreachable { .. }), "{err}");
        }
        // pod-IP addressing: the name is checked, the connection goes to the address given
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        let by_ip = Target {
            connect_to: Some(([127, 0, 0, 1], port).into()),
            ..target(
                &format!("https://demo-0.demo-headless.ns.svc.cluster.local:{port}"),
                Some(&ca),
            )
        };
        let (named_url, named_ca) = serve_tls(&["demo-0.demo-headless.ns.svc.cluster.local"]).await;
        let named_port: u16 = named_url.rsplit(':').next().unwrap().parse().unwrap();
        let by_ip_named = Target {
            connect_to: Some(([127, 0, 0, 1], named_port).into()),
            ..target(
                &format!("https://demo-0.demo-headless.ns.svc.cluster.local:{named_port}"),
                Some(&named_ca),
            )
        };
        assert!(
            b.cluster(&by_ip).await.is_err(),
            "certificate for localhost only"
        );
        assert_eq!(
            b.cluster(&by_ip_named).await.unwrap().cluster_id.as_deref(),
            Some("c-tls")
        );
        let junk = target(&url, Some("not a certificate"));
        let err = b.cluster(&junk).await.unwrap_err();
        assert!(err.to_string().contains("ca.crt"), "{err}");
    }

    #[tokio::test]
    async fn unreachable_broker_is_a_distinct_error() {
        let target = Target {
            pod: "demo-9".into(),
            base_url: "http://127.0.0.1:9".into(),
            ..Target::default()
        };
        let err = HttpBroker::new().cluster(&target).await.unwrap_err();
        assert!(matches!(err, Error::BrokerUnreachable { .. }), "{err}");
        assert_eq!(err.metric_label(), "broker_unreachable");
    }
}
