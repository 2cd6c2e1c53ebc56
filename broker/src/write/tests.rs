//! The batcher against a fake proposer: no sockets, no Raft.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::Semaphore;

use super::*;
use crate::command::{NewMessage, OpError};

/// Records the batches it is given; holds each proposal until the test lets it go; answers every
/// publish with the number its message carries as the offset.
struct Fake {
    batches: Mutex<Vec<Vec<Op>>>,
    gate: Semaphore,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    fail_with: Mutex<Option<WriteError>>,
}

impl Fake {
    fn new(open: bool) -> Arc<Fake> {
        Arc::new(Fake {
            batches: Mutex::default(),
            gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            fail_with: Mutex::default(),
        })
    }

    fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }
}

impl Propose for Fake {
    async fn propose(&self, ops: Vec<Op>) -> Result<Committed, WriteError> {
        self.batches.lock().unwrap().push(ops.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.gate.acquire().await.unwrap().forget();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(e) = self.fail_with.lock().unwrap().clone() {
            return Err(e);
        }
        let results = ops
            .into_iter()
            .map(|op| match op {
                Op::Publish(p) => Published {
                    base_offset: std::str::from_utf8(&p.messages[0].value)
                        .unwrap()
                        .parse()
                        .unwrap(),
                    count: 1,
                    duplicate: false,
                }
                .into(),
                _ => OpResult::Error(OpError::TopicNotFound { topic: "?".into() }),
            })
            .collect();
        Ok(Committed { results, index: 1 })
    }
}

fn publish(n: usize, pad: usize) -> Publish {
    Publish {
        topic: "t".into(),
        messages: vec![NewMessage {
            value: n.to_string().into(),
            key: Some("k".repeat(pad)),
            headers: None,
        }],
        producer: None,
        publisher: None,
        partition: 0,
        kafka: None,
    }
}

fn start(fake: &Arc<Fake>, limits: Limits) -> Writer {
    let (writer, batcher) = Writer::new(fake.clone(), limits);
    tokio::spawn(batcher);
    writer
}

/// Submit `n` publishes numbered from `from`, each in its own task.
fn submit_many(
    w: &Writer,
    from: usize,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<Published, WriteError>>> {
    (from..from + n)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move { w.publish(publish(i, 0)).await })
        })
        .collect()
}

const ONE_IN_FLIGHT: Limits = Limits {
    in_flight: 1,
    batch_ops: 4096,
    batch_bytes: 2 * 1024 * 1024,
    queue: 1024,
};

/// Requests waiting in the queue.
fn queued(w: &Writer) -> usize {
    w.tx.max_capacity() - w.tx.capacity()
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn a_burst_while_proposals_are_in_flight_goes_out_as_one_more_entry() {
    let fake = Fake::new(false);
    let w = start(&fake, Limits::default());
    let mut calls = submit_many(&w, 0, 1);
    until("one proposal in flight", || fake.batch_sizes().len() == 1).await;
    calls.extend(submit_many(&w, 1, 1));
    until("two proposals in flight", || fake.batch_sizes().len() == 2).await;
    calls.extend(submit_many(&w, 2, 100));
    until("the burst is queued", || queued(&w) == 100).await;
    assert_eq!(
        fake.batch_sizes(),
        [1, 1],
        "no third proposal while two are in flight"
    );

    fake.gate.add_permits(3);
    for (i, c) in calls.into_iter().enumerate() {
        assert_eq!(c.await.unwrap().unwrap().base_offset, i as u64);
    }
    assert_eq!(fake.batch_sizes(), [1, 1, 100]);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn every_caller_gets_the_result_of_its_own_op() {
    let fake = Fake::new(false);
    let w = start(&fake, ONE_IN_FLIGHT);
    let first = submit_many(&w, 0, 1);
    until("the first proposal is in flight", || {
        fake.batch_sizes().len() == 1
    })
    .await;
    let rest = submit_many(&w, 1, 50);
    until("the others are queued", || queued(&w) == 50).await;
    fake.gate.add_permits(2);
    for (i, c) in first.into_iter().chain(rest).enumerate() {
        assert_eq!(c.await.unwrap().unwrap().base_offset, i as u64);
    }
    // The queued ops went out in the order they were queued.
    let second: Vec<String> = fake.batches.lock().unwrap()[1]
        .iter()
        .map(|op| match op {
            Op::Publish(p) => String::from_utf8(p.messages[0].value.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    let mut sorted = second.clone();
    sorted.sort_by_key(|v| v.parse::<usize>().unwrap());
    assert_eq!(second.len(), 50);
    assert_eq!(second, sorted);
}

#[tokio::test]
async fn a_failed_proposal_fails_every_op_of_its_batch_and_no_other() {
    let fake = Fake::new(false);
    let w = start(&fake, ONE_IN_FLIGHT);
    let first = submit_many(&w, 0, 1);
    until("the first proposal is in flight", || {
        fake.batch_sizes().len() == 1
    })
    .await;
    let rest = submit_many(&w, 1, 20);
    until("the others are queued", || queued(&w) == 20).await;
    *fake.fail_with.lock().unwrap() = Some(WriteError::NoQuorum);
    fake.gate.add_permits(2);
    for c in first.into_iter().chain(rest) {
        assert_eq!(c.await.unwrap(), Err(WriteError::NoQuorum));
    }
    assert_eq!(fake.batch_sizes(), [1, 20]);

    *fake.fail_with.lock().unwrap() = None;
    fake.gate.add_permits(1);
    assert_eq!(w.publish(publish(7, 0)).await.unwrap().base_offset, 7);
}

#[tokio::test]
async fn batches_stop_growing_at_the_op_count_and_byte_caps() {
    let fake = Fake::new(false);
    let limits = Limits {
        in_flight: 1,
        batch_ops: 3,
        ..Limits::default()
    };
    let w = start(&fake, limits);
    let mut calls = submit_many(&w, 0, 1);
    until("one proposal in flight", || fake.batch_sizes().len() == 1).await;
    calls.extend(submit_many(&w, 1, 7));
    until("seven queued", || queued(&w) == 7).await;
    fake.gate.add_permits(4);
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(fake.batch_sizes(), [1, 3, 3, 1]);

    let fake = Fake::new(false);
    let limits = Limits {
        in_flight: 1,
        batch_bytes: 1000,
        ..Limits::default()
    };
    let w = start(&fake, limits);
    let first = {
        let w = w.clone();
        tokio::spawn(async move { w.publish(publish(0, 400)).await })
    };
    until("one proposal in flight", || fake.batch_sizes().len() == 1).await;
    let rest: Vec<_> = (1..=6)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move { w.publish(publish(i, 400)).await })
        })
        .collect();
    until("six queued", || queued(&w) == 6).await;
    fake.gate.add_permits(10);
    first.await.unwrap().unwrap();
    for c in rest {
        c.await.unwrap().unwrap();
    }
    for batch in fake.batches.lock().unwrap().iter() {
        let all: usize = batch.iter().map(Op::size_hint).sum();
        let but_last = all - batch.last().unwrap().size_hint();
        assert!(but_last < 1000, "a batch grew past the byte cap: {all}");
    }
    assert_eq!(fake.batch_sizes(), [1, 3, 3]);
}

#[tokio::test]
async fn a_stopped_batcher_answers_unavailable() {
    let fake = Fake::new(true);
    let (w, batcher) = Writer::new(fake, Limits::default());
    drop(batcher);
    assert!(matches!(
        w.publish(publish(1, 0)).await,
        Err(WriteError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_batcher_stopped_mid_proposal_answers_outcome_unknown_not_nothing_stored() {
    // The proposal is held at the gate (it may have reached the log); then the batcher goes away.
    let fake = Fake::new(false);
    let (w, batcher) = Writer::new(fake.clone(), Limits::default());
    let batcher = tokio::spawn(batcher);
    let publishing = tokio::spawn({
        let w = w.clone();
        async move { w.publish(publish(1, 0)).await }
    });
    until("the op is being proposed", || {
        fake.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    batcher.abort();
    let answer = publishing.await.unwrap();
    assert!(matches!(answer, Err(WriteError::Timeout(_))), "{answer:?}");
}

#[test]
fn the_reply_helper_types_results_and_refusals_and_flags_mismatches() {
    let ok = OpResult::from(Published {
        base_offset: 4,
        count: 2,
        duplicate: false,
    });
    assert_eq!(reply::<Publish>(ok.clone()).unwrap().offsets(), 4..6);
    let refused = OpResult::Error(OpError::TopicNotFound { topic: "t".into() });
    assert_eq!(
        reply::<CommitOffset>(refused),
        Err(WriteError::Op(OpError::TopicNotFound { topic: "t".into() }))
    );
    assert!(matches!(
        reply::<CommitOffset>(ok),
        Err(WriteError::Internal(m)) if m.contains("CommitOffset") && m.contains("Published")
    ));
}

#[tokio::test]
async fn propose_one_answers_the_typed_reply() {
    let fake = Fake::new(true);
    let p = propose_one(fake.as_ref(), publish(9, 0)).await.unwrap();
    assert_eq!(p.base_offset, 9);
    assert_eq!(fake.batch_sizes(), [1]);
}

/// What a pipelining Kafka connection relies on: ops queued one after another, their answers
/// awaited later, reach the proposer in queue order, however the batches split them and however
/// many proposals are in flight.
#[tokio::test]
async fn ops_queued_in_order_are_proposed_in_that_order() {
    let fake = Fake::new(true);
    let w = start(
        &fake,
        Limits {
            in_flight: 2,
            batch_ops: 3,
            batch_bytes: 2 * 1024 * 1024,
            queue: 1024,
        },
    );
    let mut answers = Vec::new();
    for i in 0..40 {
        answers.push(w.queue(publish(i, 0)).await.unwrap());
        if i % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a.await.unwrap().base_offset, i as u64);
    }
    let proposed: Vec<String> = fake
        .batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .map(|op| match op {
            Op::Publish(p) => String::from_utf8(p.messages[0].value.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!(proposed, expected);
    assert!(fake.batch_sizes().len() > 1, "{:?}", fake.batch_sizes());
}
