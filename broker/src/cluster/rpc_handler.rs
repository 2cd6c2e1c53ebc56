//! The node answering its peers on the raft port: openraft's RPCs go to Raft, the rest to the
//! functions a local caller would use (so a forwarded write is proposed like a local one).

use super::rpc::{RpcRequest, RpcResponse};
use super::Node;
use crate::peer::Handler;

impl Handler for Node {
    type Request = RpcRequest;
    type Response = RpcResponse;

    async fn handle(&self, req: RpcRequest) -> RpcResponse {
        match req {
            RpcRequest::AppendEntries(r) => {
                RpcResponse::AppendEntries(self.raft.append_entries(r).await)
            }
            RpcRequest::Vote(r) => RpcResponse::Vote(self.raft.vote(r).await),
            RpcRequest::InstallSnapshot(r) => {
                RpcResponse::InstallSnapshot(self.raft.install_snapshot(r).await)
            }
            RpcRequest::Forward(ops) => RpcResponse::Forward(self.propose_local(ops).await),
            RpcRequest::Admin(req) => RpcResponse::Admin(self.admin_local(req).await),
            RpcRequest::AdminAny(req) => RpcResponse::Admin(self.admin(req).await),
            RpcRequest::ReadIndex => RpcResponse::ReadIndex(self.local_read_index().await),
            RpcRequest::TimeoutNow => RpcResponse::TimeoutNow(self.on_timeout_now().await),
        }
    }
}
