//! The messages of the raft port: openraft's three RPCs, and what other nodes ask the leader
//! (forwarded writes, membership admin, read-index for linearizable reads, the hand-over nudge).
//! Data only: this file names nothing but what the messages carry, and `peer/` moves them.
//!
//! Each request has a type of its own that names its answer ([`Rpc`]); [`call`] sends one and
//! returns that answer, so no caller matches an [`RpcResponse`].
//!
//! The enums are the wire format (bincode numbers variants by position): append, never reorder.

use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::view::ClusterView;
use crate::command::Op;
use crate::peer::{self, PeerPool, RpcFailure};
use crate::raft::{NodeAddr, NodeId, TypeConfig};
use crate::write::{Committed, WriteError};

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Client writes a follower received; the leader proposes them as one entry.
    Forward(Vec<Op>),
    /// Run on this node, which must be the leader (what a follower forwards).
    Admin(AdminRequest),
    /// Run on the leader, wherever it is (what a joining node sends to any member).
    AdminAny(AdminRequest),
    /// Confirm leadership and answer the index a linearizable read must wait for.
    ReadIndex,
    /// Leadership hand-over: start an election now.
    TimeoutNow,
    /// A request for the member whose state dir has `incarnation` (openraft's RPCs and the
    /// hand-over nudge, when the sender recorded one): another incarnation refuses it.
    To {
        incarnation: String,
        req: Box<RpcRequest>,
    },
    /// Would the receiver vote for the sender now (`elect.rs`)? Changes nothing.
    PreVote(PreVote),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Forward(Result<Committed, WriteError>),
    Admin(Result<AdminResponse, WriteError>),
    ReadIndex(Result<u64, WriteError>),
    TimeoutNow(Result<(), WriteError>),
    /// The receiver refuses the request and did nothing: `wrong_incarnation` (it is not the
    /// member the sender addressed), `no_cluster` (a managed node outside any cluster never votes).
    Refused {
        code: String,
        message: String,
    },
    /// Whether the receiver would vote for the candidate.
    PreVote(bool),
}

/// Membership calls; whoever receives one forwards it to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminRequest {
    /// A joining node asks for an id (idempotent per raft address).
    ReserveId {
        raft_addr: String,
    },
    AddLearner {
        id: NodeId,
        node: NodeAddr,
    },
    Promote {
        id: NodeId,
    },
    Remove {
        id: NodeId,
    },
    TransferLeader {
        to: NodeId,
    },
    /// The leader's view, with replication progress.
    View,
}

/// "Would you vote for me?" — sent before a campaign, to the voters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PreVote {
    pub candidate: NodeId,
    /// The term the candidate would campaign in (for logs; the decision does not depend on it).
    pub term: u64,
    /// The last entry of the candidate's log.
    pub last_log: Option<openraft::LogId<NodeId>>,
}

/// `ReserveId` answers a node id, every other admin request the cluster view after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminResponse {
    NodeId(NodeId),
    View(ClusterView),
}

impl RpcRequest {
    /// Whether sending it twice does no harm.
    pub fn is_idempotent(&self) -> bool {
        !matches!(
            self,
            RpcRequest::Forward(_)
                | RpcRequest::Admin(AdminRequest::ReserveId { .. })
                | RpcRequest::AdminAny(AdminRequest::ReserveId { .. })
        ) && match self {
            RpcRequest::To { req, .. } => req.is_idempotent(),
            _ => true,
        }
    }

    /// For metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            RpcRequest::AppendEntries(_) => "append_entries",
            RpcRequest::Vote(_) => "vote",
            RpcRequest::InstallSnapshot(_) => "install_snapshot",
            RpcRequest::Forward(_) => "forward",
            RpcRequest::Admin(_) => "admin",
            RpcRequest::AdminAny(_) => "admin_any",
            RpcRequest::ReadIndex => "read_index",
            RpcRequest::TimeoutNow => "timeout_now",
            RpcRequest::PreVote(_) => "pre_vote",
            RpcRequest::To { req, .. } => req.name(),
        }
    }
}

impl peer::Request for RpcRequest {
    fn is_idempotent(&self) -> bool {
        RpcRequest::is_idempotent(self)
    }
}

/// Typed requests: each travels in one [`RpcRequest`] variant and is answered by one
/// [`RpcResponse`] variant.
pub trait Rpc: Into<RpcRequest> {
    type Response;
    /// The answer out of a response (`None`: a response of another kind).
    fn response(r: RpcResponse) -> Option<Self::Response>;
}

/// Client writes for the leader to propose as one entry.
#[derive(Debug, Clone)]
pub struct Forward(pub Vec<Op>);
/// An admin request for the node asked, which must lead.
#[derive(Debug, Clone)]
pub struct Admin(pub AdminRequest);
/// An admin request for whoever leads.
#[derive(Debug, Clone)]
pub struct AdminAny(pub AdminRequest);
#[derive(Debug, Clone, Copy)]
pub struct ReadIndex;
#[derive(Debug, Clone, Copy)]
pub struct TimeoutNow;

macro_rules! rpc {
    ($req:ty, $variant:ident, $resp:ty, |$r:ident| $into:expr) => {
        impl From<$req> for RpcRequest {
            fn from($r: $req) -> RpcRequest {
                $into
            }
        }
        impl Rpc for $req {
            type Response = $resp;
            fn response(r: RpcResponse) -> Option<$resp> {
                match r {
                    RpcResponse::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

rpc!(
    AppendEntriesRequest<TypeConfig>,
    AppendEntries,
    Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>,
    |r| RpcRequest::AppendEntries(r)
);
rpc!(
    VoteRequest<NodeId>,
    Vote,
    Result<VoteResponse<NodeId>, RaftError<NodeId>>,
    |r| RpcRequest::Vote(r)
);
rpc!(
    InstallSnapshotRequest<TypeConfig>,
    InstallSnapshot,
    Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    |r| RpcRequest::InstallSnapshot(r)
);
rpc!(Forward, Forward, Result<Committed, WriteError>, |r| RpcRequest::Forward(r.0));
rpc!(Admin, Admin, Result<AdminResponse, WriteError>, |r| RpcRequest::Admin(r.0));
rpc!(AdminAny, Admin, Result<AdminResponse, WriteError>, |r| RpcRequest::AdminAny(r.0));
rpc!(ReadIndex, ReadIndex, Result<u64, WriteError>, |_r| RpcRequest::ReadIndex);
rpc!(TimeoutNow, TimeoutNow, Result<(), WriteError>, |_r| RpcRequest::TimeoutNow);
rpc!(PreVote, PreVote, bool, |r| RpcRequest::PreVote(r));

/// `R` for the member with this incarnation (`None`: none recorded, sent as it is).
#[derive(Debug, Clone)]
pub struct Addressed<R>(pub Option<String>, pub R);

impl<R: Rpc> From<Addressed<R>> for RpcRequest {
    fn from(a: Addressed<R>) -> RpcRequest {
        match a.0 {
            Some(incarnation) => RpcRequest::To {
                incarnation,
                req: Box::new(a.1.into()),
            },
            None => a.1.into(),
        }
    }
}

impl<R: Rpc> Rpc for Addressed<R> {
    type Response = R::Response;
    fn response(r: RpcResponse) -> Option<R::Response> {
        R::response(r)
    }
}

/// Send `req` to the node at `addr` and return its typed answer. The only place a response is
/// matched against its request; a response of another kind is an error of the exchange.
pub async fn call<R: Rpc>(
    pool: &PeerPool,
    addr: &str,
    req: R,
    timeout: Duration,
) -> Result<R::Response, RpcFailure> {
    let req: RpcRequest = req.into();
    let name = req.name();
    let resp: RpcResponse = pool.call(addr, &req, timeout).await?;
    if let RpcResponse::Refused { code, message } = resp {
        return Err(RpcFailure::Refused(format!("{code}: {addr}: {message}")));
    }
    R::response(resp).ok_or(RpcFailure::Unexpected(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn typed_requests_take_only_their_own_answer() {
        assert_eq!(
            ReadIndex::response(RpcResponse::ReadIndex(Ok(5))).unwrap(),
            Ok(5)
        );
        assert!(ReadIndex::response(RpcResponse::TimeoutNow(Ok(()))).is_none());
        assert!(Admin::response(RpcResponse::Admin(Ok(AdminResponse::NodeId(3)))).is_some());
        assert!(AdminAny::response(RpcResponse::Admin(Ok(AdminResponse::NodeId(3)))).is_some());
        assert!(!RpcRequest::from(Forward(vec![])).is_idempotent());
        assert!(RpcRequest::from(ReadIndex).is_idempotent());
    }

    #[tokio::test]
    async fn an_answer_of_the_wrong_kind_fails_the_call() {
        // A peer that answers every frame with a TimeoutNow answer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        struct Odd;
        impl peer::Handler for Odd {
            type Request = RpcRequest;
            type Response = RpcResponse;
            async fn handle(&self, _: RpcRequest) -> RpcResponse {
                RpcResponse::TimeoutNow(Ok(()))
            }
        }
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(peer::serve(
            listener,
            std::sync::Arc::new(Odd),
            None,
            None,
            stop.clone(),
        ));
        let pool = PeerPool::new(None, None);
        let got = call(&pool, &addr, ReadIndex, Duration::from_secs(5)).await;
        assert!(
            matches!(got, Err(RpcFailure::Unexpected("read_index"))),
            "{got:?}"
        );
        let got = call(&pool, &addr, TimeoutNow, Duration::from_secs(5)).await;
        assert!(matches!(got, Ok(Ok(()))), "{got:?}");
        stop.cancel();
    }

    #[test]
    fn forwarded_writes_keep_their_wire_encoding() {
        // Bytes of 8db6018's encoding (peers of either version understand each other).
        let cmd = crate::command::tests::every_op();
        assert_eq!(
            hex(&bincode::serialize(&RpcRequest::from(Forward(cmd.ops))).unwrap()),
            FORWARD_REQUEST
        );
        let resp = RpcResponse::Forward(Ok(Committed {
            results: crate::command::tests::every_result(),
            index: 9,
        }));
        assert_eq!(hex(&bincode::serialize(&resp).unwrap()), FORWARD_RESPONSE);
        let errors = vec![
            RpcResponse::Forward(Err(WriteError::NoLeader)),
            RpcResponse::Forward(Err(WriteError::NoQuorum)),
            RpcResponse::Forward(Err(WriteError::NotLeader { leader: Some(2) })),
            RpcResponse::Forward(Err(WriteError::Unavailable("u".into()))),
            RpcResponse::Forward(Err(WriteError::Timeout("t".into()))),
            RpcResponse::ReadIndex(Ok(5)),
            RpcResponse::TimeoutNow(Ok(())),
        ];
        assert_eq!(hex(&bincode::serialize(&errors).unwrap()), ERRORS);
        assert_eq!(
            hex(&bincode::serialize(&RpcRequest::ReadIndex).unwrap()),
            "06000000"
        );
        assert_eq!(
            hex(&bincode::serialize(&RpcRequest::TimeoutNow).unwrap()),
            "07000000"
        );
    }

    #[test]
    fn the_pre_vote_is_appended_to_both_enums() {
        // After every older variant, so older messages keep their numbers.
        let req = RpcRequest::from(PreVote {
            candidate: 2,
            term: 7,
            last_log: None,
        });
        assert_eq!(req.name(), "pre_vote");
        assert!(req.is_idempotent());
        assert!(hex(&bincode::serialize(&req).unwrap()).starts_with("09000000"));
        let resp = bincode::serialize(&RpcResponse::PreVote(true)).unwrap();
        assert_eq!(hex(&resp), "0800000001");
        assert_eq!(PreVote::response(RpcResponse::PreVote(false)), Some(false));
        assert!(PreVote::response(RpcResponse::TimeoutNow(Ok(()))).is_none());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_frames_never_panic_the_decoder(body in proptest::collection::vec(proptest::num::u8::ANY, 0..1024)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
                bytes.extend_from_slice(&body);
                let _ = peer::codec::read_frame::<RpcRequest>(&mut bytes.as_slice()).await;
            });
        }
    }

    const FORWARD_REQUEST: &str = "0300000008000000000000000000000001000000000000007401000000000000000100000000000000760101000000000000006b0101000000000000000100000000000000680100000000000000780101000000000000007007000000000000000102000000000000006d65010000000100000000000000630100000000000000740300000000000000020000000100000000000000630100000000000000740a0000006300000000000000030000000100000000000000740101010000000000000000010200000000000000010400000001000000000000007405000000010000000000000074040000000000000005000000000000000600000002000000000000006964070000000300000000000000613a31";
    const FORWARD_RESPONSE: &str = "03000000000000000c0000000000000000000000010000000000000002000000000000000101000000030000000000000002000000010000000000000001000000000000007604000000000000000300000001040000000005000000050000000000000006000000020000000000000069640700000006000000000000000800000000000000010000000000000074080000000100000001000000000000007408000000020000000100000000000000020000000000000003000000000000000800000003000000010000000000000070010000000000000002000000000000000900000000000000";
    const ERRORS: &str = "0700000000000000030000000100000000000000030000000100000001000000030000000100000002000000010200000000000000030000000100000003000000010000000000000075030000000100000004000000010000000000000074050000000000000005000000000000000600000000000000";
}
