//! An in-memory [`KafkaBackend`] for the listener's unit tests and for the test server that runs
//! third-party Kafka clients against the listener (tests/kafka). It follows the trait's contract
//! — including Kafka's idempotent-producer rules — so tests of the listener hold against the real
//! broker backend too. It is not a broker: nothing is replicated or persisted.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use super::backend::*;

/// Batches per producer remembered for duplicate detection (Kafka keeps five).
const PRODUCER_WINDOW: usize = 5;
/// SPEC §3's per-message limit.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

#[derive(Default)]
struct Producer {
    epoch: i16,
    /// Sequence of the last record appended.
    last_seq: i32,
    /// (base sequence, record count, base offset) of recent batches.
    recent: VecDeque<(i32, i32, i64)>,
}

struct Partition {
    start: i64,
    records: Vec<StoredRecord>,
    wake: watch::Sender<u64>,
    producers: HashMap<i64, Producer>,
}

impl Partition {
    fn new() -> Partition {
        Partition {
            start: 0,
            records: Vec::new(),
            wake: watch::channel(0).0,
            producers: HashMap::new(),
        }
    }

    fn high_watermark(&self) -> i64 {
        self.start + self.records.len() as i64
    }
}

struct Topic {
    info: TopicInfo,
    partitions: Vec<Partition>,
}

/// (topic, partition) → (offset, metadata)
type GroupOffsets = BTreeMap<(String, i32), (i64, Option<String>)>;

#[derive(Default)]
struct State {
    topics: HashMap<String, Topic>,
    offsets: HashMap<String, GroupOffsets>,
    next_producer_id: i64,
}

pub struct MemoryBackend {
    cluster: Mutex<ClusterView>,
    /// token → principal; `None` = auth off.
    tokens: Option<HashMap<String, Principal>>,
    state: Mutex<State>,
    /// Wakes fetches of partitions that do not exist (yet).
    orphan_wake: watch::Sender<u64>,
    commits: Arc<Commits>,
}

/// Test hooks on produce's commits: append at once (in queue order, as the node's batcher
/// proposes), answer when the test says.
#[derive(Default)]
struct Commits {
    /// While holding: one sender per queued batch, in queue order; its commit answers once sent.
    held: Mutex<Option<Vec<Option<oneshot::Sender<()>>>>>,
    /// Queued batches whose commit has not answered yet, and the most there ever were.
    outstanding: AtomicUsize,
    max_outstanding: AtomicUsize,
    /// Play a follower that forwards produce (`produce_keeps_queue_order` is false).
    forwarding: AtomicBool,
}

/// Counts a queued batch as outstanding until dropped.
struct Outstanding(Arc<Commits>);

impl Outstanding {
    fn new(c: &Arc<Commits>) -> Outstanding {
        let now = c.outstanding.fetch_add(1, Ordering::SeqCst) + 1;
        c.max_outstanding.fetch_max(now, Ordering::SeqCst);
        Outstanding(c.clone())
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MemoryBackend {
    /// A one-node cluster (node 1, the leader) advertising `host:port`.
    pub fn new(host: &str, port: u16) -> MemoryBackend {
        MemoryBackend {
            cluster: Mutex::new(ClusterView {
                cluster_id: "jumpnet-memory".into(),
                this_node: 1,
                brokers: vec![BrokerInfo {
                    id: 1,
                    host: host.into(),
                    port,
                    rack: None,
                }],
                leader: Some(1),
                leader_epoch: 1,
                replicas: vec![1],
                in_sync: vec![1],
            }),
            tokens: None,
            state: Mutex::new(State::default()),
            orphan_wake: watch::channel(0).0,
            commits: Arc::default(),
        }
    }

    /// From now on every queued batch is appended at once but its commit answers only when
    /// [`MemoryBackend::release`] lets it go.
    pub fn hold_commits(&self) {
        *self.commits.held.lock().expect("held lock") = Some(Vec::new());
    }

    /// Batches held so far (released or not), in queue order.
    pub fn held(&self) -> usize {
        self.commits
            .held
            .lock()
            .expect("held lock")
            .as_ref()
            .map_or(0, Vec::len)
    }

    /// Lets the `i`-th held batch's commit answer.
    pub fn release(&self, i: usize) {
        let mut held = self.commits.held.lock().expect("held lock");
        if let Some(tx) = held
            .as_mut()
            .and_then(|h| h.get_mut(i))
            .and_then(Option::take)
        {
            let _ = tx.send(());
        }
    }

    /// Most batches ever queued with their commits unanswered at once.
    pub fn max_outstanding(&self) -> usize {
        self.commits.max_outstanding.load(Ordering::SeqCst)
    }

    /// Plays a follower that forwards produce: batches are not kept in queue order unless each
    /// commit is awaited before the next is queued.
    pub fn set_forwarding(&self, on: bool) {
        self.commits.forwarding.store(on, Ordering::SeqCst);
    }

    /// Turns auth on with these tokens.
    pub fn with_tokens(
        mut self,
        tokens: impl IntoIterator<Item = (String, Principal)>,
    ) -> MemoryBackend {
        self.tokens = Some(tokens.into_iter().collect());
        self
    }

    /// Changes how this node sees the cluster (leader moves, members).
    pub fn set_cluster(&self, f: impl FnOnce(&mut ClusterView)) {
        f(&mut self.cluster.lock().expect("cluster lock"));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("state lock")
    }

    fn check_leader(&self) -> Result<(), BackendError> {
        let c = self.cluster.lock().expect("cluster lock");
        match c.leader {
            None => Err(BackendError::NoLeader),
            Some(l) if l != c.this_node => Err(BackendError::NotLeader { leader: Some(l) }),
            Some(_) => Ok(()),
        }
    }
}

fn partition_mut<'a>(
    st: &'a mut State,
    topic: &str,
    partition: i32,
) -> Result<&'a mut Partition, BackendError> {
    st.topics
        .get_mut(topic)
        .and_then(|t| {
            usize::try_from(partition)
                .ok()
                .and_then(|p| t.partitions.get_mut(p))
        })
        .ok_or(BackendError::UnknownTopicOrPartition)
}

fn valid_name(name: &str) -> Result<(), BackendError> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BackendError::InvalidTopic(format!(
            "{name:?}: use 1-249 of [a-zA-Z0-9._-]"
        )))
    }
}

/// Kafka's sequence rules for one idempotent batch: `Ok(Some(offset))` for a duplicate.
fn check_sequence(
    p: &mut Partition,
    pb: &ProducerBatch,
    count: i32,
) -> Result<Option<i64>, BackendError> {
    let Some(state) = p.producers.get(&pb.producer_id) else {
        // Unknown producer (new, or its state was trimmed away): any sequence starts it.
        return Ok(None);
    };
    if pb.producer_epoch < state.epoch {
        return Err(BackendError::InvalidProducerEpoch);
    }
    if pb.producer_epoch > state.epoch {
        return if pb.base_sequence == 0 {
            Ok(None)
        } else {
            Err(BackendError::OutOfOrderSequence)
        };
    }
    if let Some(&(_, _, offset)) = state
        .recent
        .iter()
        .find(|(seq, n, _)| *seq == pb.base_sequence && *n == count)
    {
        return Ok(Some(offset));
    }
    if pb.base_sequence != state.last_seq.wrapping_add(1) {
        return Err(BackendError::OutOfOrderSequence);
    }
    Ok(None)
}

impl MemoryBackend {
    /// Appends a batch at once (its commit is what [`KafkaBackend::queue_produce`] may hold).
    fn append(&self, batch: ProduceBatch) -> Result<Appended, BackendError> {
        if let Some(r) = batch
            .records
            .iter()
            .find(|r| r.value.as_ref().map_or(0, |v| v.len()) > MAX_RECORD_BYTES)
        {
            return Err(BackendError::RecordTooLarge(format!(
                "{} bytes",
                r.value.as_ref().map_or(0, |v| v.len())
            )));
        }
        let mut st = self.state();
        let p = partition_mut(&mut st, &batch.topic, batch.partition)?;
        let count = batch.records.len() as i32;
        if let Some(pb) = &batch.producer {
            if let Some(offset) = check_sequence(p, pb, count)? {
                return Ok(Appended {
                    base_offset: offset,
                    log_start_offset: p.start,
                });
            }
        }
        let base = p.high_watermark();
        for (i, r) in batch.records.into_iter().enumerate() {
            p.records.push(StoredRecord {
                offset: base + i as i64,
                timestamp_ms: r.timestamp_ms,
                key: r.key,
                value: r.value,
                headers: r.headers,
            });
        }
        if let Some(pb) = batch.producer {
            let s = p.producers.entry(pb.producer_id).or_default();
            if pb.producer_epoch != s.epoch {
                s.recent.clear();
            }
            s.epoch = pb.producer_epoch;
            s.last_seq = pb.base_sequence.wrapping_add(count - 1);
            s.recent.push_back((pb.base_sequence, count, base));
            if s.recent.len() > PRODUCER_WINDOW {
                s.recent.pop_front();
            }
        }
        p.wake.send_modify(|n| *n += 1);
        Ok(Appended {
            base_offset: base,
            log_start_offset: p.start,
        })
    }
}

impl KafkaBackend for MemoryBackend {
    fn cluster(&self) -> ClusterView {
        self.cluster.lock().expect("cluster lock").clone()
    }

    fn topics(&self) -> Vec<TopicInfo> {
        let mut v: Vec<_> = self
            .state()
            .topics
            .values()
            .map(|t| t.info.clone())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.state().topics.get(name).map(|t| t.info.clone())
    }

    fn auth_required(&self) -> bool {
        self.tokens.is_some()
    }

    fn authenticate(&self, token: &str) -> Option<Principal> {
        self.tokens.as_ref()?.get(token).cloned()
    }

    async fn queue_produce(&self, batch: ProduceBatch) -> Result<PendingAppend, BackendError> {
        let appended = self.append(batch)?;
        let outstanding = Outstanding::new(&self.commits);
        let gate = self
            .commits
            .held
            .lock()
            .expect("held lock")
            .as_mut()
            .map(|h| {
                let (tx, rx) = oneshot::channel();
                h.push(Some(tx));
                rx
            });
        Ok(Box::pin(async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            drop(outstanding);
            Ok(appended)
        }))
    }

    fn produce_keeps_queue_order(&self) -> bool {
        !self.commits.forwarding.load(Ordering::SeqCst)
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<FetchedRecords, BackendError> {
        let mut st = self.state();
        let p = partition_mut(&mut st, topic, partition)?;
        let (start, hw) = (p.start, p.high_watermark());
        if offset < start || offset > hw {
            return Err(BackendError::OffsetOutOfRange {
                log_start_offset: start,
                high_watermark: hw,
            });
        }
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for r in &p.records[(offset - start) as usize..] {
            let size =
                r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(r.clone());
        }
        Ok(FetchedRecords {
            records: out,
            high_watermark: hw,
            log_start_offset: start,
        })
    }

    fn subscribe(&self, topic: &str, partition: i32) -> watch::Receiver<u64> {
        let mut st = self.state();
        match partition_mut(&mut st, topic, partition) {
            Ok(p) => p.wake.subscribe(),
            Err(_) => self.orphan_wake.subscribe(),
        }
    }

    async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<ListedOffset, BackendError> {
        let mut st = self.state();
        let p = partition_mut(&mut st, topic, partition)?;
        Ok(match spec {
            OffsetSpec::Earliest => ListedOffset {
                offset: p.start,
                timestamp_ms: -1,
            },
            OffsetSpec::Latest => ListedOffset {
                offset: p.high_watermark(),
                timestamp_ms: -1,
            },
            OffsetSpec::Timestamp(ts) => p.records.iter().find(|r| r.timestamp_ms >= ts).map_or(
                ListedOffset {
                    offset: -1,
                    timestamp_ms: -1,
                },
                |r| ListedOffset {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                },
            ),
        })
    }

    async fn create_topic(&self, topic: NewTopic) -> Result<TopicInfo, BackendError> {
        self.check_leader()?;
        valid_name(&topic.name)?;
        if topic.partitions == 0 {
            return Err(BackendError::InvalidPartitions("at least 1".into()));
        }
        let mut st = self.state();
        if st.topics.contains_key(&topic.name) {
            return Err(BackendError::TopicAlreadyExists);
        }
        let info = TopicInfo {
            name: topic.name.clone(),
            id: uuid::Uuid::new_v4(),
            partitions: topic.partitions,
            retention: topic.retention,
        };
        let partitions = (0..topic.partitions).map(|_| Partition::new()).collect();
        st.topics.insert(
            topic.name,
            Topic {
                info: info.clone(),
                partitions,
            },
        );
        self.orphan_wake.send_modify(|n| *n += 1);
        Ok(info)
    }

    async fn delete_topic(&self, name: &str) -> Result<(), BackendError> {
        self.check_leader()?;
        let mut st = self.state();
        let t = st
            .topics
            .remove(name)
            .ok_or(BackendError::UnknownTopicOrPartition)?;
        for p in &t.partitions {
            p.wake.send_modify(|n| *n += 1);
        }
        for offsets in st.offsets.values_mut() {
            offsets.retain(|(topic, _), _| topic != name);
        }
        Ok(())
    }

    async fn create_partitions(&self, name: &str, total: u32) -> Result<TopicInfo, BackendError> {
        self.check_leader()?;
        let mut st = self.state();
        let t = st
            .topics
            .get_mut(name)
            .ok_or(BackendError::UnknownTopicOrPartition)?;
        if total <= t.info.partitions {
            return Err(BackendError::InvalidPartitions(format!(
                "{} partitions exist; the count only grows",
                t.info.partitions
            )));
        }
        t.partitions
            .extend((t.info.partitions..total).map(|_| Partition::new()));
        t.info.partitions = total;
        self.orphan_wake.send_modify(|n| *n += 1);
        Ok(t.info.clone())
    }

    async fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<CommittedOffset>,
    ) -> Result<(), BackendError> {
        self.check_leader()?;
        let mut st = self.state();
        let g = st.offsets.entry(group.to_string()).or_default();
        for o in offsets {
            g.insert((o.topic, o.partition), (o.offset, o.metadata));
        }
        Ok(())
    }

    async fn committed_offsets(&self, group: &str) -> Result<Vec<CommittedOffset>, BackendError> {
        Ok(self
            .state()
            .offsets
            .get(group)
            .map(|g| {
                g.iter()
                    .map(|((t, p), (o, m))| CommittedOffset {
                        topic: t.clone(),
                        partition: *p,
                        offset: *o,
                        metadata: m.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn offset_groups(&self) -> Result<Vec<String>, BackendError> {
        let mut v: Vec<_> = self
            .state()
            .offsets
            .iter()
            .filter(|(_, o)| !o.is_empty())
            .map(|(g, _)| g.clone())
            .collect();
        v.sort();
        Ok(v)
    }

    async fn allocate_producer_id(&self) -> Result<i64, BackendError> {
        self.check_leader()?;
        let mut st = self.state();
        let id = st.next_producer_id;
        st.next_producer_id += 1;
        Ok(id)
    }
}
