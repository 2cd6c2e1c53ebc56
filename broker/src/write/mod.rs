//! The front doors' write API: one typed function per command ([`Writer::publish`] answers
//! [`Published`], ...), and the batcher behind it, which turns many concurrent requests into few
//! Raft entries.
//!
//! ```text
//!  front door ──writer.publish(p)──▶ [queue] ──▶ batcher: wait for a free proposal slot, then take
//!                                                every queued op (up to a count and a size cap)
//!                                                as ONE entry ──▶ P::propose(ops)
//!  each caller gets its own typed reply, in op order, once the entry is committed and applied here;
//!  a failed proposal fails every op of its batch with the same WriteError.
//! ```
//!
//! While a few proposals are in flight, new requests pile up in the queue and go out together in
//! the next one: the busier the node, the bigger the batches. The batcher knows nothing of Raft or
//! the network: [`Propose`] is how it gets an entry committed (`cluster/propose.rs` implements it
//! for the node: propose on the leader, or forward to it), so it is tested with a fake.

mod error;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use error::{MembershipError, WriteError};

use crate::command::{
    AckMessages, Acked, AdvanceConsumer, CommitOffset, ConfigureGroup, ConsumerAdvanced,
    ConsumerDeleted, DeleteConsumer, DeleteGroup, DeleteTopic, GroupConfigured, GroupDeleted,
    LeaseMessages, Leased, NackMessages, Nacked, OffsetCommitted, Op, OpResult, Publish, Published,
    PutTopic, Request, TopicDeleted, TopicPut,
};

/// Gets a batch of ops committed as one log entry, wherever the leader is.
pub trait Propose: Send + Sync + 'static {
    /// Commit `ops` as one entry and return once this node applied it (so a client that wrote
    /// through this node reads its write here); one result per op, in order.
    fn propose(&self, ops: Vec<Op>) -> impl Future<Output = Result<Committed, WriteError>> + Send;
}

/// One committed entry: the result of each of its ops, in order, and its log index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub results: Vec<OpResult>,
    pub index: u64,
}

/// The batcher's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Proposals in flight at once; more requests wait in the queue and join the next batch.
    pub in_flight: usize,
    /// Ops per entry.
    pub batch_ops: usize,
    /// About this many bytes per entry ([`Op::size_hint`]); a batch stops growing once it is reached.
    pub batch_bytes: usize,
    /// Requests waiting for a batch; more wait for room (backpressure on the callers).
    pub queue: usize,
}

impl Default for Limits {
    /// Few in flight is better: measured on 2 cores with 64 concurrent single-message publishes,
    /// 1–2 in flight gave 1.5–2x the throughput of 4 (bigger batches, fewer entries to append,
    /// replicate and apply).
    fn default() -> Self {
        Limits {
            in_flight: 2,
            batch_ops: 4096,
            batch_bytes: 2 * 1024 * 1024,
            queue: 16 * 1024,
        }
    }
}

struct Pending {
    op: Op,
    done: oneshot::Sender<Result<OpResult, WriteError>>,
}

/// Handle for submitting writes; cheap to clone. Dropping every handle stops the batcher.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Pending>,
}

impl Writer {
    /// A writer and its batcher task, which proposes through `proposer` (spawn it).
    pub fn new<P: Propose>(proposer: Arc<P>, limits: Limits) -> (Writer, impl Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(limits.queue);
        (Writer { tx }, run(proposer, rx, limits))
    }

    /// Publish a batch of messages (atomically, at consecutive offsets).
    pub async fn publish(&self, c: Publish) -> Result<Published, WriteError> {
        self.submit(c).await
    }

    /// Set a named consumer's next offset.
    pub async fn commit_offset(&self, c: CommitOffset) -> Result<OffsetCommitted, WriteError> {
        self.submit(c).await
    }

    /// Claim values read for a named consumer: move it on if it has not moved meanwhile.
    pub async fn advance_consumer(
        &self,
        c: AdvanceConsumer,
    ) -> Result<ConsumerAdvanced, WriteError> {
        self.submit(c).await
    }

    /// Forget a named consumer's position.
    pub async fn delete_consumer(&self, c: DeleteConsumer) -> Result<ConsumerDeleted, WriteError> {
        self.submit(c).await
    }

    /// Create a topic or set its retention.
    pub async fn put_topic(&self, c: PutTopic) -> Result<TopicPut, WriteError> {
        self.submit(c).await
    }

    pub async fn delete_topic(&self, c: DeleteTopic) -> Result<TopicDeleted, WriteError> {
        self.submit(c).await
    }

    /// Create a consumer group or set its configuration.
    pub async fn configure_group(&self, c: ConfigureGroup) -> Result<GroupConfigured, WriteError> {
        self.submit(c).await
    }

    /// Lease messages of a group to one fetch (batched with other fetches and acks).
    pub async fn lease_messages(&self, c: LeaseMessages) -> Result<Leased, WriteError> {
        self.submit(c).await
    }

    /// Acknowledge messages of a group: one op however many.
    pub async fn ack_messages(&self, c: AckMessages) -> Result<Acked, WriteError> {
        self.submit(c).await
    }

    /// Hand messages back to a group.
    pub async fn nack_messages(&self, c: NackMessages) -> Result<Nacked, WriteError> {
        self.submit(c).await
    }

    pub async fn delete_group(&self, c: DeleteGroup) -> Result<GroupDeleted, WriteError> {
        self.submit(c).await
    }

    /// Any command, batched with others; the typed functions above name the ones front doors use.
    pub async fn submit<C: Request>(&self, c: C) -> Result<C::Reply, WriteError> {
        self.queue(c).await?.await
    }

    /// Queue `c` and return once it is in the batcher's queue, with the future of its answer. Ops
    /// one caller queues one after another are proposed in that order (one entry, or an earlier
    /// entry first): what lets a Kafka connection keep several Produce requests in flight and
    /// their records in request order (`kafka::conn`). The answer comes as [`Writer::submit`]'s.
    pub async fn queue<C: Request>(
        &self,
        c: C,
    ) -> Result<impl Future<Output = Result<C::Reply, WriteError>> + Send + 'static, WriteError>
    {
        let (done, rx) = oneshot::channel();
        // Not queued: the batcher is gone and never saw the op (nothing stored, 503).
        self.tx
            .send(Pending { op: c.into(), done })
            .await
            .map_err(|_| WriteError::Unavailable("the node is shutting down".into()))?;
        Ok(async move {
            // Queued, then its answer was dropped (the batcher stopped mid-proposal): the op may
            // have reached the log, so its outcome is unknown (504), never "nothing stored".
            let answer = rx.await.map_err(|_| {
                WriteError::Timeout(
                    "the node stopped before the write was confirmed; its outcome is unknown"
                        .into(),
                )
            })?;
            reply::<C>(answer?)
        })
    }
}

/// Propose one command outside the batcher (what the node proposes for itself: trims, its
/// cluster id, node ids), with its typed reply.
pub async fn propose_one<C: Request>(p: &impl Propose, c: C) -> Result<C::Reply, WriteError> {
    single_reply::<C>(p.propose(vec![c.into()]).await?)
}

/// Propose commands of one kind as one entry (outside the batcher), with their typed replies in
/// order; a refusal of any of them is the error.
pub async fn propose_all<C: Request>(
    p: &impl Propose,
    cs: Vec<C>,
) -> Result<Vec<C::Reply>, WriteError> {
    let n = cs.len();
    let committed = p.propose(cs.into_iter().map(Into::into).collect()).await?;
    if committed.results.len() != n {
        return Err(WriteError::Internal(format!(
            "an entry of {n} ops answered {} results",
            committed.results.len()
        )));
    }
    committed.results.into_iter().map(reply::<C>).collect()
}

/// The typed reply of an entry that carried only `C`.
pub(crate) fn single_reply<C: Request>(mut committed: Committed) -> Result<C::Reply, WriteError> {
    let n = committed.results.len();
    match (n, committed.results.pop()) {
        (1, Some(r)) => reply::<C>(r),
        _ => Err(WriteError::Internal(format!(
            "an entry of one op answered {n} results"
        ))),
    }
}

/// The typed reply of one op: its reply, or the state machine's refusal. The only place a result
/// is matched against its command; a mismatch (the apply code and the command disagree) is a bug.
fn reply<C: Request>(result: OpResult) -> Result<C::Reply, WriteError> {
    match result {
        OpResult::Error(e) => Err(WriteError::Op(e)),
        r => C::reply(r).map_err(|other| {
            WriteError::Internal(format!(
                "{} was answered with {other:?}",
                std::any::type_name::<C>()
            ))
        }),
    }
}

/// The batcher: collects batches and keeps up to `limits.in_flight` proposals going, in this task
/// (no task per batch).
async fn run<P: Propose>(proposer: Arc<P>, mut rx: mpsc::Receiver<Pending>, limits: Limits) {
    let mut in_flight = FuturesUnordered::new();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            // A slot is free: take whatever is queued (waiting for the first op).
            first = rx.recv(), if open && in_flight.len() < limits.in_flight.max(1) => {
                let Some(first) = first else {
                    open = false;
                    continue;
                };
                let batch = collect(first, &mut rx, &limits);
                // FuturesUnordered first polls its futures in push order, so batches reach
                // `propose` in queue order (ops queued in order are proposed in order: `queue`).
                in_flight.push(propose_batch(proposer.clone(), batch));
            }
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
}

/// `first` and every op queued behind it, up to the caps.
fn collect(first: Pending, rx: &mut mpsc::Receiver<Pending>, limits: &Limits) -> Vec<Pending> {
    let mut bytes = first.op.size_hint();
    // Sized for what is queued now: no regrowth while taking it.
    let mut batch = Vec::with_capacity((rx.len() + 1).min(limits.batch_ops.max(1)));
    batch.push(first);
    while batch.len() < limits.batch_ops && bytes < limits.batch_bytes {
        match rx.try_recv() {
            Ok(p) => {
                bytes += p.op.size_hint();
                batch.push(p);
            }
            Err(_) => break,
        }
    }
    batch
}

/// Propose one batch and answer each of its callers.
async fn propose_batch<P: Propose>(proposer: Arc<P>, batch: Vec<Pending>) {
    let (ops, dones): (Vec<Op>, Vec<_>) = batch.into_iter().map(|p| (p.op, p.done)).unzip();
    let expected = ops.len();
    match proposer.propose(ops).await {
        Ok(c) if c.results.len() == expected => {
            for (done, r) in dones.into_iter().zip(c.results) {
                let _ = done.send(Ok(r));
            }
        }
        Ok(c) => {
            let e = WriteError::Internal(format!(
                "an entry of {expected} ops answered {} results",
                c.results.len()
            ));
            for done in dones {
                let _ = done.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for done in dones {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}
