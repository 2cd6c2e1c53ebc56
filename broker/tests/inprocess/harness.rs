//! A cluster of in-process nodes (`server::spawn`), waiting on Raft metrics, never on sleeps.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use jumpnet_broker::api::{self, AppState};
use jumpnet_broker::auth::Auth;
use jumpnet_broker::server::{self, Running};
use jumpnet_broker::Config;
use serde_json::Value;
use tower::ServiceExt;

/// Short, so elections and "no leader" answers come quickly; generous enough for a loaded machine.
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(150);
/// The most any wait in these tests may take (cluster formation, an election on a busy CI box).
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub nodes: Vec<Option<Running>>,
    _dir: tempfile::TempDir,
}

fn config(dir: &std::path::Path, join: Option<String>) -> Config {
    let mut c = Config::new(dir, "127.0.0.1:0", "127.0.0.1:0").unwrap();
    c.election_timeout = ELECTION_TIMEOUT;
    c.commit_timeout = Duration::from_secs(5);
    c.shutdown_grace = Duration::ZERO;
    c.join = join;
    c
}

impl Cluster {
    /// Node 0 bootstraps, nodes 1 and 2 join it; returns once all three are voters and ready.
    pub async fn three() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let first = server::spawn(config(&dir.path().join("n0"), None))
            .await
            .unwrap();
        let seed = first.node.addr().raft_addr.clone();
        let mut nodes = vec![Some(first)];
        for i in 1..3 {
            let n = server::spawn(config(
                &dir.path().join(format!("n{i}")),
                Some(seed.clone()),
            ))
            .await
            .unwrap();
            nodes.push(Some(n));
        }
        let c = Cluster { nodes, _dir: dir };
        c.wait("three voters, ready, one leader", |c| {
            let leader = c.leader()?;
            c.live()
                .all(|(_, n)| {
                    n.node.readiness().is_ok()
                        && n.node
                            .local_view()
                            .members
                            .iter()
                            .filter(|m| m.role == "voter")
                            .count()
                            == 3
                        && n.node.leader_id() == Some(leader)
                })
                .then_some(())
        })
        .await;
        c
    }

    /// One node that bootstraps alone, its config changed by `tweak`; returns once it is ready.
    pub async fn one(tweak: impl FnOnce(&mut Config)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(&dir.path().join("n0"), None);
        tweak(&mut config);
        let n = server::spawn(config).await.unwrap();
        let c = Cluster {
            nodes: vec![Some(n)],
            _dir: dir,
        };
        c.wait("the node is ready", |c| c.node(0).node.readiness().ok())
            .await;
        c
    }

    pub fn node(&self, i: usize) -> &Running {
        self.nodes[i].as_ref().expect("node is running")
    }

    pub fn live(&self) -> impl Iterator<Item = (usize, &Running)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// The leader's Raft id, if the live nodes agree on one.
    pub fn leader(&self) -> Option<u64> {
        let mut ids = self.live().map(|(_, n)| n.node.leader_id());
        let first = ids.next()??;
        ids.all(|l| l == Some(first)).then_some(first)
    }

    pub fn index_of(&self, id: u64) -> usize {
        self.live()
            .find(|(_, n)| n.node.id() == id)
            .expect("a live node")
            .0
    }

    pub fn leader_index(&self) -> usize {
        self.index_of(self.leader().expect("a leader"))
    }

    /// A node that does not lead.
    pub fn follower_index(&self) -> usize {
        let leader = self.leader().expect("a leader");
        self.live()
            .find(|(_, n)| n.node.id() != leader)
            .expect("a follower")
            .0
    }

    /// Stop node `i` without courtesy (no hand-over).
    pub async fn abort(&mut self, i: usize) {
        self.nodes[i].take().expect("running").abort().await;
    }

    /// Poll `f` every 20 ms until it holds (at most [`PATIENCE`]).
    pub async fn wait<T>(&self, what: &str, f: impl Fn(&Cluster) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One request to node `i`'s router (no HTTP socket): status and JSON body.
    pub async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: &str,
    ) -> (u16, Value, Option<String>) {
        let n = self.node(i);
        let app = api::router(AppState::new(&n.node, n.writer.clone(), Auth::open()));
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            retry_after,
        )
    }

    pub async fn shutdown(mut self) {
        for n in self.nodes.iter_mut() {
            if let Some(n) = n.take() {
                n.abort().await;
            }
        }
    }
}
