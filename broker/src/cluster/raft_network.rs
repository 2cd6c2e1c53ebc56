//! openraft's network: its three RPCs as [`super::rpc`] messages over the peer pool, each
//! addressed to the incarnation the membership records for its target. Every
//! answer marks the peer as in contact (the leader's quorum check); every failure counts in
//! `jumpnet_raft_peer_rpc_failures_total`.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::rpc::{self, Rpc};
use crate::metrics::Metrics;
use crate::peer::{PeerPool, RpcFailure};
use crate::raft::{NodeAddr, NodeId, TypeConfig};

#[derive(Clone)]
pub struct NetworkFactory {
    pub pool: Arc<PeerPool>,
    pub metrics: Metrics,
    pub snapshot_sends: Arc<SnapshotSends>,
}

/// When this node last sent a snapshot chunk or got a chunk's answer (the last one comes back once
/// the follower installed the snapshot). While a follower receives a snapshot, the leader builds no
/// new one (`cluster::compaction`): a new snapshot would purge the log entries that follower needs
/// right after installing the one it is getting, and it would need another snapshot, endlessly
/// under a steady write rate.
#[derive(Debug, Default)]
pub struct SnapshotSends {
    /// Chunks awaiting their answer (the last one's covers the follower's whole install), and
    /// when the last one was sent or answered.
    state: std::sync::Mutex<(usize, Option<std::time::Instant>)>,
}

impl SnapshotSends {
    /// A chunk is on its way; answered when the guard drops (also when openraft gives up on it).
    fn sent(self: &Arc<Self>) -> InFlight {
        let mut s = self.state.lock().expect("snapshot sends lock");
        *s = (s.0 + 1, Some(std::time::Instant::now()));
        InFlight(self.clone())
    }

    fn answered(&self) {
        let mut s = self.state.lock().expect("snapshot sends lock");
        *s = (s.0.saturating_sub(1), Some(std::time::Instant::now()));
    }

    /// Zero while a chunk awaits its answer; else since the last chunk was sent or answered
    /// (`None`: never).
    pub fn since_last(&self) -> Option<Duration> {
        let s = self.state.lock().expect("snapshot sends lock");
        if s.0 > 0 {
            return Some(Duration::ZERO);
        }
        s.1.map(|t| t.elapsed())
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerNetwork {
        // Every peer's failure counters exist from the first contact, at 0 (rates and alerts see
        // a series before the first failure).
        let peer = target.to_string();
        for rpc in ["append_entries", "install_snapshot", "vote"] {
            self.metrics
                .peer_rpc_failures
                .with_label_values(&[peer.as_str(), rpc]);
        }
        PeerNetwork {
            target,
            addr: node.raft_addr.clone(),
            incarnation: node.incarnation.clone(),
            pool: self.pool.clone(),
            metrics: self.metrics.clone(),
            snapshot_sends: self.snapshot_sends.clone(),
        }
    }
}

pub struct PeerNetwork {
    target: NodeId,
    addr: String,
    /// The incarnation recorded for the target: a node with another refuses our RPCs.
    incarnation: Option<String>,
    pool: Arc<PeerPool>,
    metrics: Metrics,
    snapshot_sends: Arc<SnapshotSends>,
}

struct InFlight(Arc<SnapshotSends>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answered();
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, NodeAddr, RaftError<NodeId, E>>;

impl PeerNetwork {
    /// One openraft RPC: the peer's own error becomes a remote error, a failed exchange a network one.
    async fn rpc<R, T, E>(
        &self,
        req: R,
        name: &'static str,
        timeout: Duration,
    ) -> Result<T, RpcErr<E>>
    where
        R: Rpc<Response = Result<T, RaftError<NodeId, E>>>,
        E: std::error::Error,
    {
        let req = rpc::Addressed(self.incarnation.clone(), req);
        let started = std::time::Instant::now();
        match rpc::call(&self.pool, &self.addr, req, timeout).await {
            Ok(answer) => {
                self.metrics
                    .peer_rpc_duration
                    .with_label_values(&[name])
                    .observe(started.elapsed().as_secs_f64());
                self.pool.touch(self.target);
                answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Err(e) => {
                let peer = self.target.to_string();
                self.metrics
                    .peer_rpc_failures
                    .with_label_values(&[peer.as_str(), name])
                    .inc();
                self.pool.forget(&self.addr);
                Err(match e {
                    RpcFailure::Unreachable(_) | RpcFailure::Refused(_) | RpcFailure::IsHttp(_) => {
                        RPCError::Unreachable(Unreachable::new(&e))
                    }
                    _ => RPCError::Network(NetworkError::new(&e)),
                })
            }
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        self.rpc(rpc, "append_entries", option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let _in_flight = self.snapshot_sends.sent();
        self.rpc(rpc, "install_snapshot", option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        self.rpc(rpc, "vote", option.hard_ttl()).await
    }

    fn backoff(&self) -> Backoff {
        // Retry an unreachable peer soon (a restarted pod is back within a second or two), then
        // settle at one attempt per second.
        Backoff::new(
            [100u64, 200, 400, 800]
                .into_iter()
                .chain(std::iter::repeat(1000))
                .map(Duration::from_millis),
        )
    }
}
