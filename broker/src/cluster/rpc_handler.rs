//! The node answering its peers on the raft port: openraft's RPCs go to Raft, the rest to the
//! functions a local caller would use (so a forwarded write is proposed like a local one).
//!
//! Refused without acting (no vote, nothing appended, term not adopted): a request addressed to
//! another incarnation than this node's (its state dir is not the one the sender's membership
//! recorded), and in `--managed` mode a vote request while this node belongs to no cluster.

use super::rpc::{RpcRequest, RpcResponse};
use super::Node;
use crate::peer::{codec, Handler};

impl Handler for Node {
    type Request = RpcRequest;
    type Response = RpcResponse;

    async fn handle(&self, req: RpcRequest) -> RpcResponse {
        let req = match req {
            RpcRequest::To { incarnation, req } => {
                let mine = self.incarnation();
                if incarnation != mine {
                    tracing::warn!(
                        addressed = %incarnation,
                        %mine,
                        request = req.name(),
                        "refused a raft request for another incarnation of this node"
                    );
                    return RpcResponse::Refused {
                        code: "wrong_incarnation".into(),
                        message: format!(
                            "this node is incarnation {mine}, not {incarnation}: its state dir was replaced; remove the member and add it again"
                        ),
                    };
                }
                *req
            }
            req => req,
        };
        match req {
            RpcRequest::AppendEntries(r) => {
                let started = std::time::Instant::now();
                let answer = self.raft().append_entries(r).await;
                self.metrics
                    .append_entries_handle
                    .observe(started.elapsed().as_secs_f64());
                RpcResponse::AppendEntries(answer)
            }
            RpcRequest::Vote(_) if self.config.managed && self.cluster_id().is_none() => {
                RpcResponse::Refused {
                    code: "no_cluster".into(),
                    message: "a managed node that belongs to no cluster never votes".into(),
                }
            }
            RpcRequest::Vote(r) => RpcResponse::Vote(self.raft().vote(r).await),
            RpcRequest::PreVote(_) if self.config.managed && self.cluster_id().is_none() => {
                RpcResponse::PreVote(false)
            }
            RpcRequest::PreVote(r) => RpcResponse::PreVote(self.on_pre_vote(&r).await),
            RpcRequest::InstallSnapshot(r) => {
                RpcResponse::InstallSnapshot(self.raft().install_snapshot(r).await)
            }
            RpcRequest::Forward(ops) => RpcResponse::Forward(self.propose_local(ops).await),
            RpcRequest::Admin(req) => RpcResponse::Admin(self.admin_local(req).await),
            RpcRequest::AdminAny(req) => RpcResponse::Admin(self.admin(req).await),
            RpcRequest::ReadIndex => RpcResponse::ReadIndex(self.local_read_index().await),
            RpcRequest::TimeoutNow => RpcResponse::TimeoutNow(self.on_timeout_now().await),
            RpcRequest::To { .. } => RpcResponse::Refused {
                code: "bad_request".into(),
                message: "an addressed request inside another".into(),
            },
        }
    }

    fn cluster_id(&self) -> Option<String> {
        Node::cluster_id(self)
    }

    fn on_peer(&self, peer: &codec::Peer) {
        if let Some(theirs) = &peer.cluster_id {
            if Node::cluster_id(self).is_none() && self.claimed_by.set(theirs.clone()).is_ok() {
                tracing::info!(cluster = %theirs, "a member of cluster {theirs} reached this node");
            }
        }
    }
}
