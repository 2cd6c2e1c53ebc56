//! The state machine's storage: metadata in the sled tree `sm`, messages in segment files
//! ([`super::log`]). Applies change metadata in memory (an overlay over the tree) and append to
//! segments; a checkpoint fsyncs the segments and writes the overlay to sled in one atomic batch.
//! So sled always holds exactly a checkpoint, the segments hold at least as much, and a restart
//! re-applies the Raft log entries after the checkpoint.
//!
//! ```text
//!  apply ──▶ segments (write) ──▶ overlay (memory) ──▶ readers see it
//!  checkpoint: fsync segments ─▶ sled batch(overlay + applied) ─▶ fsync ─▶ overlay cleared
//!                                                               └─▶ deferred segment deletions
//! ```
//!
//! Each durability protocol is written once, here: [`TopicStore::publish`] (after an apply),
//! [`TopicStore::checkpoint`] and [`TopicStore::install_snapshot`]. The caller (the Raft state
//! machine) only hands in its own bookkeeping (applied log id, membership) and how to make sled
//! durable, which the fsync thread owns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;

use super::codec::{decode, encode};
use super::group::GroupState;
use super::keys;
use super::log::{Pinned, TopicLogs};
use super::model::{Message, MessageRecord, PositionLag, TopicMeta};
use super::notify::Notifier;
use crate::{Error, Result};

type Overlay = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What one apply call produced (`apply::Applier::finish`), for [`TopicStore::publish`].
pub struct Applied {
    pub(super) changes: Overlay,
    pub(super) touched: std::collections::HashSet<String>,
    /// (topic id, new start): segments below become deletable after the next checkpoint.
    pub(super) trims: Vec<(u64, u64)>,
    pub(super) deleted_topics: Vec<u64>,
}

#[derive(Clone)]
pub struct TopicStore {
    inner: Arc<Inner>,
}

struct Inner {
    tree: sled::Tree,
    state_dir: PathBuf,
    segment_bytes: u64,
    /// Metadata changed since the last checkpoint (`None`: deleted).
    overlay: RwLock<Overlay>,
    logs: RwLock<Arc<TopicLogs>>,
    notifier: Notifier,
    /// [`TopicStore::partitions`] as read so far: every v1 publish routes by it, and reading it
    /// from sled would cost a trip to the blocking pool per request.
    partition_counts: RwLock<PartitionCounts>,
}

/// Cached partition counts. `generation` moves on each time the cache is emptied (an apply that
/// changed a count, a snapshot installed): a count read before that is not stored after it.
#[derive(Default)]
struct PartitionCounts {
    generation: u64,
    /// Topic names come from clients: std's keyed hasher, and a bound on the entries.
    counts: std::collections::HashMap<String, u32>,
}

/// At most this many cached partition counts (then the cache starts over).
const MAX_CACHED_COUNTS: usize = 4096;

fn io_err(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(context, e)
}

/// How often the segments written since the last checkpoint are written back to disk.
pub const WRITEBACK_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

impl TopicStore {
    /// Open the store in `state_dir` (segments under the data directory the checkpoint names).
    pub fn open(db: &sled::Db, state_dir: &Path, segment_bytes: u64) -> Result<TopicStore> {
        let tree = db.open_tree("sm")?;
        let data_dir: String = tree
            .get(keys::DATA_DIR)?
            .map(|v| decode(&v))
            .transpose()?
            .unwrap_or_else(|| "data".into());
        // Directories of interrupted snapshot installs.
        for entry in std::fs::read_dir(state_dir)
            .map_err(io_err("list the state dir"))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("data") && name != data_dir && entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path()).map_err(io_err("remove an old data dir"))?;
            }
        }
        let metas = metas_of(&tree)?;
        let logs = TopicLogs::open(state_dir.join(&data_dir), segment_bytes, &metas)
            .map_err(io_err("open segment files"))?;
        let store = TopicStore {
            inner: Arc::new(Inner {
                tree,
                state_dir: state_dir.to_path_buf(),
                segment_bytes,
                overlay: RwLock::default(),
                logs: RwLock::new(Arc::new(logs)),
                notifier: Notifier::default(),
                partition_counts: RwLock::default(),
            }),
        };
        store.start_writeback_thread();
        Ok(store)
    }

    /// Every [`WRITEBACK_EVERY`], until the store is dropped: write back the segments written
    /// since the last checkpoint ([`TopicLogs::start_writeback`]). Without it the
    /// checkpoint (every `--snapshot-every` entries, ~10 s under the batched load) fsynced all the
    /// segment bytes of those seconds (~200 MB) while the applies, and so every publish, waited:
    /// 430-490 ms on each node at once, the batched publish's p99.9 (bench/README.md).
    fn start_writeback_thread(&self) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("jumpnet-writeback".into())
            .spawn(move || loop {
                std::thread::sleep(WRITEBACK_EVERY);
                let Some(inner) = weak.upgrade() else { return };
                let logs = inner.logs.read().expect("logs lock").clone();
                drop(inner);
                logs.start_writeback();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no segment writeback thread: checkpoints fsync more");
        }
    }

    pub(crate) fn logs(&self) -> Arc<TopicLogs> {
        self.inner.logs.read().expect("logs lock").clone()
    }

    /// Run a read on the blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&TopicStore) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(Error::Task)?
    }

    /// A metadata value as of the last apply.
    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.inner.overlay.read().expect("overlay lock").get(key) {
            return Ok(v.clone());
        }
        Ok(self.inner.tree.get(key)?.map(|v| v.to_vec()))
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.get_raw(key)?.map(|b| decode(&b)).transpose()
    }

    /// Keys and values under `prefix`, overlay applied.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for kv in self.inner.tree.scan_prefix(prefix) {
            let (k, v) = kv?;
            merged.insert(k.to_vec(), Some(v.to_vec()));
        }
        let end = keys::prefix_end(prefix);
        for (k, v) in self
            .inner
            .overlay
            .read()
            .expect("overlay lock")
            .range(prefix.to_vec()..end)
        {
            merged.insert(k.clone(), v.clone());
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    /// The first live key under `prefix`, with `local` (an apply's own changes) over the store.
    pub fn first_key(&self, prefix: &[u8], local: &Overlay) -> Result<Option<Vec<u8>>> {
        let overlay = self.inner.overlay.read().expect("overlay lock");
        let end = keys::prefix_end(prefix);
        let live = |k: &[u8]| -> Option<bool> {
            local.get(k).or_else(|| overlay.get(k)).map(Option::is_some)
        };
        // The first key only the overlays hold, and the first key of the tree they do not delete.
        let from_overlays = local
            .range(prefix.to_vec()..end.clone())
            .chain(overlay.range(prefix.to_vec()..end))
            .filter(|(k, _)| live(k) == Some(true))
            .map(|(k, _)| k.clone())
            .min();
        let mut from_tree = None;
        for k in self.inner.tree.scan_prefix(prefix).keys() {
            let k = k?;
            if live(&k) != Some(false) {
                from_tree = Some(k.to_vec());
                break;
            }
        }
        Ok(match (from_overlays, from_tree) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Every metadata key and value (a snapshot's small part).
    pub fn dump(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_prefix(b"")
    }

    pub fn topic(&self, name: &str) -> Result<Option<TopicMeta>> {
        self.get(&keys::topic(name))
    }

    /// How many partitions a topic has (1 for a topic from before partitions; also for an unknown one).
    pub fn partitions(&self, name: &str) -> Result<u32> {
        if let Some(n) = self.cached_partitions(name) {
            return Ok(n);
        }
        let generation = self.counts().generation;
        let n = self.get(&keys::partition_count(name))?.unwrap_or(1);
        let mut cache = self.inner.partition_counts.write().expect("counts lock");
        if cache.generation == generation {
            if cache.counts.len() >= MAX_CACHED_COUNTS {
                cache.counts.clear();
            }
            cache.counts.insert(name.to_string(), n);
        }
        Ok(n)
    }

    /// [`Self::partitions`] when it is known without reading storage (no blocking: for the
    /// runtime's threads).
    pub fn cached_partitions(&self, name: &str) -> Option<u32> {
        self.counts().counts.get(name).copied()
    }

    fn counts(&self) -> std::sync::RwLockReadGuard<'_, PartitionCounts> {
        self.inner.partition_counts.read().expect("counts lock")
    }

    /// Forget the cached partition counts; call after the state they were read from changed.
    fn forget_partition_counts(&self) {
        let mut cache = self.inner.partition_counts.write().expect("counts lock");
        cache.generation += 1;
        cache.counts.clear();
    }

    /// One partition's metadata (partition 0 is [`Self::topic`]).
    pub fn partition(&self, name: &str, partition: u32) -> Result<Option<TopicMeta>> {
        self.get(&keys::partition(name, partition))
    }

    /// Every partition's metadata of a topic, in partition order (empty: no such topic).
    pub fn partition_metas(&self, name: &str) -> Result<Vec<TopicMeta>> {
        let Some(first) = self.topic(name)? else {
            return Ok(Vec::new());
        };
        let mut out = vec![first];
        for p in 1..self.partitions(name)? {
            if let Some(m) = self.partition(name, p)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Every topic, by name.
    pub fn topics(&self) -> Result<Vec<(String, TopicMeta)>> {
        self.scan_prefix(keys::TOPIC_PREFIX)?
            .into_iter()
            .filter_map(|(k, v)| keys::topic_name(&k).map(|n| (n.to_string(), v)))
            .map(|(n, v)| Ok((n, decode(&v)?)))
            .collect()
    }

    /// Messages from `from` (clamped to the log start), up to `limit` and about `max_bytes` of
    /// values; the first message is returned even when it alone is bigger.
    pub fn read(
        &self,
        meta: &TopicMeta,
        from: u64,
        limit: usize,
        max_bytes: u64,
    ) -> Result<Vec<Message>> {
        self.logs()
            .read(meta, from, limit, max_bytes)
            .map_err(io_err("read segments"))
    }

    pub fn record(&self, meta: &TopicMeta, offset: u64) -> Result<Option<MessageRecord>> {
        Ok(self
            .read(meta, offset, 1, u64::MAX)?
            .into_iter()
            .find(|m| m.offset == offset)
            .map(|m| m.record))
    }

    pub fn consumer_offset(&self, topic: &str, consumer: &str) -> Result<Option<u64>> {
        self.get(&keys::consumer(topic, consumer))
    }

    /// A named consumer's next offset on one partition.
    pub fn consumer_offset_at(
        &self,
        topic: &str,
        partition: u32,
        consumer: &str,
    ) -> Result<Option<u64>> {
        self.get(&keys::consumer_at(topic, partition, consumer))
    }

    /// Every named consumer position as (topic, partition, consumer, next offset): partition 0's
    /// (in [`Self::consumer_positions`] order), then the other partitions'.
    pub fn partition_positions(
        &self,
        topic: Option<&str>,
    ) -> Result<Vec<(String, u32, String, u64)>> {
        let mut out: Vec<(String, u32, String, u64)> = self
            .consumer_positions(topic)?
            .into_iter()
            .map(|(t, c, o)| (t, 0, c, o))
            .collect();
        let prefix = topic.map_or_else(
            || keys::PARTITION_CONSUMER_PREFIX.to_vec(),
            keys::partition_consumer_topic_prefix,
        );
        for (k, v) in self.scan_prefix(&prefix)? {
            if let Some((t, p, c)) = keys::parse_consumer_at(&k) {
                out.push((t.to_string(), p, c.to_string(), decode(&v)?));
            }
        }
        Ok(out)
    }

    /// Every named consumer position as (topic, consumer, next offset), in key order (by topic
    /// name length, then topic, then consumer); of one topic only with `topic`.
    pub fn consumer_positions(&self, topic: Option<&str>) -> Result<Vec<(String, String, u64)>> {
        let prefix = topic.map_or_else(
            || keys::CONSUMER_PREFIX.to_vec(),
            keys::consumer_topic_prefix,
        );
        self.scan_prefix(&prefix)?
            .into_iter()
            .filter_map(|(k, v)| {
                let (t, c) = keys::parse_consumer(&k)?;
                Some((t.to_string(), c.to_string(), v))
            })
            .map(|(t, c, v)| Ok((t, c, decode(&v)?)))
            .collect()
    }

    /// [`Self::consumer_positions`] with each topic's high watermark and the lag (positions of a
    /// topic that no longer exists are skipped: deleting a topic deletes them in the same apply).
    pub fn consumer_lags(&self, topic: Option<&str>) -> Result<Vec<PositionLag>> {
        let mut out = Vec::new();
        let mut meta: Option<((String, u32), Option<TopicMeta>)> = None;
        for (topic, partition, consumer, offset) in self.partition_positions(topic)? {
            let at = (topic, partition);
            if meta.as_ref().map(|(n, _)| n) != Some(&at) {
                let m = self.partition(&at.0, at.1)?;
                meta = Some((at.clone(), m));
            }
            if let Some((_, Some(m))) = &meta {
                out.push(PositionLag {
                    lag: m.lag(offset),
                    end: m.next,
                    topic: at.0,
                    partition,
                    consumer,
                    offset,
                });
            }
        }
        Ok(out)
    }

    /// How many named consumers have a position on `topic`.
    pub fn consumer_count(&self, topic: &str) -> Result<usize> {
        Ok(self.scan_prefix(&keys::consumer_topic_prefix(topic))?.len()
            + self
                .scan_prefix(&keys::partition_consumer_topic_prefix(topic))?
                .len())
    }

    /// A consumer group's state as of the last apply.
    pub fn group(&self, topic: &str, group: &str) -> Result<Option<GroupState>> {
        self.get(&keys::group(topic, group))
    }

    /// The consumer groups of `topic`, by name.
    pub fn groups(&self, topic: &str) -> Result<Vec<(String, GroupState)>> {
        let prefix = keys::group_topic_prefix(topic);
        self.scan_prefix(&prefix)?
            .into_iter()
            .filter_map(|(k, v)| keys::group_name(&prefix, &k).map(|n| (n.to_string(), v)))
            .map(|(n, v)| Ok((n, decode(&v)?)))
            .collect()
    }

    /// Every consumer group's state (for the metrics) with its topic's and its own name, in key
    /// order.
    pub fn all_groups(&self) -> Result<Vec<(String, String, GroupState)>> {
        self.scan_prefix(keys::GROUP_PREFIX)?
            .into_iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(keys::GROUP_PREFIX)?;
                let len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
                let topic = std::str::from_utf8(rest.get(2..2 + len)?).ok()?;
                let group = std::str::from_utf8(rest.get(2 + len..)?).ok()?;
                Some((topic.to_string(), group.to_string(), v))
            })
            .map(|(t, g, v)| Ok((t, g, decode(&v)?)))
            .collect()
    }

    pub fn cluster_id(&self) -> Result<Option<String>> {
        self.get(keys::CLUSTER_ID)
    }

    pub fn subscribe(&self, topic: &str) -> watch::Receiver<u64> {
        self.inner.notifier.subscribe(topic)
    }

    /// How many topics the wake-up map holds an entry for (tests check reads leave none behind).
    pub fn notifier_entries(&self) -> usize {
        self.inner.notifier.entries()
    }

    /// Make an apply's changes visible (its segment data is written): metadata to readers,
    /// trimmed and deleted segments to the next checkpoint, and a wake-up to the topics' waiters.
    pub fn publish(&self, applied: Applied) {
        let counts_changed = applied
            .changes
            .keys()
            .any(|k| k.starts_with(keys::PARTITION_COUNT_PREFIX));
        self.inner
            .overlay
            .write()
            .expect("overlay lock")
            .extend(applied.changes);
        // After the overlay holds the new counts: a count read before this is not cached.
        if counts_changed {
            self.forget_partition_counts();
        }
        let logs = self.logs();
        for (topic_id, start) in applied.trims {
            logs.defer_trim(topic_id, start);
        }
        for topic_id in applied.deleted_topics {
            logs.defer_topic_delete(topic_id);
        }
        self.inner.notifier.notify(&applied.touched);
    }

    /// The Raft bookkeeping of the last checkpoint (applied log id, membership), as the state
    /// machine stored it.
    pub fn raft_state<A: DeserializeOwned, M: DeserializeOwned>(
        &self,
    ) -> Result<(Option<A>, Option<M>)> {
        Ok((self.get(keys::APPLIED)?, self.get(keys::MEMBERSHIP)?))
    }

    /// Make everything applied so far durable, with the Raft bookkeeping (`applied`, `membership`)
    /// of the same moment: fsync the segments, write the overlay and the bookkeeping to sled in one
    /// batch, `flush` sled, then drop the overlay (the tree has the same values) and delete the
    /// segments the checkpointed state no longer needs. Call it between two applies.
    pub async fn checkpoint<A, M, F>(&self, applied: &A, membership: &M, flush: F) -> Result<()>
    where
        A: Serialize,
        M: Serialize,
        F: std::future::Future<Output = std::io::Result<()>>,
    {
        let bookkeeping = vec![
            (keys::APPLIED.to_vec(), encode(applied)),
            (keys::MEMBERSHIP.to_vec(), encode(membership)),
        ];
        self.blocking(move |s| s.write_checkpoint(bookkeeping))
            .await?;
        flush.await.map_err(io_err("flush the checkpoint"))?;
        self.blocking(|s| {
            s.inner.overlay.write().expect("overlay lock").clear();
            s.logs()
                .run_deferred()
                .map_err(io_err("delete old segments"))
        })
        .await
    }

    fn write_checkpoint(&self, bookkeeping: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        self.logs().sync_dirty().map_err(io_err("fsync segments"))?;
        let mut batch = sled::Batch::default();
        for (k, v) in self.inner.overlay.read().expect("overlay lock").iter() {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        for (k, v) in bookkeeping {
            batch.insert(k, v);
        }
        self.inner.tree.apply_batch(batch)?;
        Ok(())
    }

    /// The metadata a snapshot carries: every key but this node's own bookkeeping (applied log id,
    /// membership and data directory, which the receiver writes itself).
    pub fn snapshot_metadata(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .dump()?
            .into_iter()
            .filter(|(k, _)| !is_bookkeeping(k))
            .collect())
    }

    /// Pin the segment bytes of the current state for a snapshot.
    pub fn pin(&self) -> Result<Pinned> {
        let mut metas: Vec<TopicMeta> = self.topics()?.into_iter().map(|(_, m)| m).collect();
        for (_, v) in self.scan_prefix(keys::PARTITION_PREFIX)? {
            metas.push(decode(&v)?);
        }
        Ok(self.logs().pin(&metas))
    }

    /// A fresh directory for an incoming snapshot's segment files.
    pub fn new_data_dir(&self) -> (String, PathBuf) {
        let name = format!("data-{}", uuid::Uuid::new_v4().simple());
        let path = self.inner.state_dir.join(&name);
        (name, path)
    }

    /// Replace the whole state with a snapshot: `kvs` (its metadata) and the segment files already
    /// unpacked and fsynced under `data_dir` (from [`TopicStore::new_data_dir`]), with the Raft
    /// bookkeeping of that state. One sled batch switches to it; after `flush`, the old segments
    /// are removed (until then they are what a crash finds).
    ///
    /// `flush` (a sync of the Raft log and of sled) runs twice: BEFORE the batch, so the log
    /// truncation openraft made just before the install is on disk before sled (which flushes on
    /// its own every second) can make the new applied index durable — otherwise a power loss could
    /// leave a stale, conflicting log tail behind an applied index past it; and after, so the
    /// install itself is durable before the old segments go.
    pub async fn install_snapshot<A, M, F, Fut>(
        &self,
        kvs: Vec<(Vec<u8>, Vec<u8>)>,
        data_dir: (String, PathBuf),
        applied: &A,
        membership: &M,
        flush: F,
    ) -> Result<()>
    where
        A: Serialize,
        M: Serialize,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>>,
    {
        let mut kvs: Vec<(Vec<u8>, Vec<u8>)> = kvs
            .into_iter()
            .filter(|(k, _)| !is_bookkeeping(k))
            .collect();
        kvs.push((keys::APPLIED.to_vec(), encode(applied)));
        kvs.push((keys::MEMBERSHIP.to_vec(), encode(membership)));
        flush()
            .await
            .map_err(io_err("sync the Raft log before installing a snapshot"))?;
        let old = self.blocking(move |s| s.switch_to(kvs, data_dir)).await?;
        flush()
            .await
            .map_err(io_err("flush the installed snapshot"))?;
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(old)).await;
        Ok(())
    }

    fn switch_to(
        &self,
        kvs: Vec<(Vec<u8>, Vec<u8>)>,
        data_dir: (String, PathBuf),
    ) -> Result<PathBuf> {
        let tree = &self.inner.tree;
        let mut batch = sled::Batch::default();
        for kv in tree.iter() {
            batch.remove(kv?.0);
        }
        for (k, v) in kvs {
            batch.insert(k, v);
        }
        batch.insert(keys::DATA_DIR, encode(&data_dir.0));
        tree.apply_batch(batch)?;
        let metas = metas_of(tree)?;
        let logs = TopicLogs::open(data_dir.1, self.inner.segment_bytes, &metas)
            .map_err(io_err("open installed segments"))?;
        let old = std::mem::replace(
            &mut *self.inner.logs.write().expect("logs lock"),
            Arc::new(logs),
        );
        self.inner.overlay.write().expect("overlay lock").clear();
        self.forget_partition_counts();
        self.inner.notifier.notify_all();
        Ok(old.root().to_path_buf())
    }
}

/// Keys a node writes for itself, never taken from a snapshot.
fn is_bookkeeping(key: &[u8]) -> bool {
    key == keys::APPLIED || key == keys::MEMBERSHIP || key == keys::DATA_DIR
}

fn metas_of(tree: &sled::Tree) -> Result<Vec<TopicMeta>> {
    let mut out = Vec::new();
    // Every partition's log (partition 0 under `t/`, the others under `r/`).
    for prefix in [keys::TOPIC_PREFIX, keys::PARTITION_PREFIX] {
        for kv in tree.scan_prefix(prefix) {
            out.push(decode(&kv?.1)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// The data dir sled names right now (what a crash would find once sled flushes).
    fn named_data_dir(store: &TopicStore) -> Option<String> {
        let v = store.inner.tree.get(keys::DATA_DIR).unwrap()?;
        Some(decode(&v).unwrap())
    }

    #[tokio::test]
    async fn a_snapshot_install_syncs_the_raft_log_before_the_batch_that_switches_state() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = TopicStore::open(&db, dir.path(), 4096).unwrap();
        let (name, path) = store.new_data_dir();
        std::fs::create_dir_all(&path).unwrap();
        // What sled named at each flush: the first must still be the old state.
        let seen = Mutex::new(Vec::new());
        store
            .install_snapshot(Vec::new(), (name.clone(), path), &7u64, &(), || {
                seen.lock().unwrap().push(named_data_dir(&store));
                async { Ok(()) }
            })
            .await
            .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_ne!(
            seen[0].as_deref(),
            Some(name.as_str()),
            "synced after the switch"
        );
        assert_eq!(seen[1].as_deref(), Some(name.as_str()));
    }
}
