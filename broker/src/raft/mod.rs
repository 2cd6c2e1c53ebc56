//! Consensus storage: the openraft type configuration and the storage openraft needs from us.
//!
//! ```text
//!           client_write(Command)                      append (wal.rs) + fsync (flusher.rs, group commit)
//!  cluster/ ───────────────────────▶ openraft core ─────────────────────────────▶ log_store.rs
//!                                       │   ▲  AppendEntries / Vote / Snapshot       (raft/ files, sled
//!                                       │   └── cluster/raft_network.rs over peer/   "raft_meta")
//!                                       ▼ committed entries
//!                              state_machine.rs ──▶ topics/ (segment files + sled "sm" metadata)
//!                                       └──▶ snapshot.rs (streamed from the segments to peers)
//! ```
//!
//! The Raft log lives in checksummed files and the vote in sled; both are fsynced before openraft
//! is told they are stored. The state machine keeps messages in segment files and metadata in a
//! sled tree; openraft's "build a snapshot" is a checkpoint that makes it durable so the log can
//! be purged. The network openraft needs is the app's peer protocol (`cluster/raft_network.rs`).

pub mod backup;
pub mod executor;
pub mod flusher;
pub mod log_store;
pub mod snapshot;
pub mod state_machine;
pub mod wal;

use std::fmt;

use serde::{Deserialize, Serialize};

// `crate::raft::command` is where wal.rs's tests find the entry type.
#[cfg(test)]
pub(crate) use crate::command;
use crate::command::{Command, Response};

/// Raft node id. Standalone clusters allocate ids through the log; the operator uses pod ordinals.
pub type NodeId = u64;

/// What a member publishes about itself: where peers and clients reach it, and which copy of its
/// state dir it is (its incarnation, `cluster/identity.rs`).
///
/// Stored in the Raft log and snapshots (bincode) as two strings, as before incarnations existed,
/// so older logs still read: the incarnation rides on the API address as `host:port#incarnation`,
/// and the Kafka address after it as `#kafka=host:port`.
/// In JSON it is a field of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAddr {
    /// `host:port` of the raft listener, as peers dial it (a DNS name is re-resolved on reconnect).
    pub raft_addr: String,
    /// `host:port` of the client HTTP API.
    pub api_addr: String,
    /// The member's incarnation as recorded when it was added (`None`: added before incarnations
    /// existed, or by a caller that did not say). Raft RPCs to it carry it; a node with another
    /// incarnation refuses them.
    pub incarnation: Option<String>,
    /// `host:port` Kafka clients are told for this member (`--advertise-kafka`; `None`: no Kafka
    /// listener, or added before Kafka addresses were carried).
    pub kafka_addr: Option<String>,
}

const INCARNATION_SEP: char = '#';
/// In the stored API address, after the incarnation: `#kafka=host:port`.
const KAFKA_TAG: &str = "kafka=";

#[derive(Serialize, Deserialize)]
struct NodeAddrJson {
    raft_addr: String,
    api_addr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incarnation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kafka_addr: Option<String>,
}

impl Serialize for NodeAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return NodeAddrJson {
                raft_addr: self.raft_addr.clone(),
                api_addr: self.api_addr.clone(),
                incarnation: self.incarnation.clone(),
                kafka_addr: self.kafka_addr.clone(),
            }
            .serialize(s);
        }
        let mut api = self.api_addr.clone();
        if let Some(i) = &self.incarnation {
            api = format!("{api}{INCARNATION_SEP}{i}");
        }
        if let Some(k) = &self.kafka_addr {
            api = format!("{api}{INCARNATION_SEP}{KAFKA_TAG}{k}");
        }
        (&self.raft_addr, api).serialize(s)
    }
}

impl<'de> Deserialize<'de> for NodeAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let j = NodeAddrJson::deserialize(d)?;
            return Ok(NodeAddr {
                raft_addr: j.raft_addr,
                api_addr: j.api_addr,
                incarnation: j.incarnation,
                kafka_addr: j.kafka_addr,
            });
        }
        let (raft_addr, api) = <(String, String)>::deserialize(d)?;
        let mut parts = api.split(INCARNATION_SEP);
        let api_addr = parts.next().unwrap_or_default().to_string();
        let (mut incarnation, mut kafka_addr) = (None, None);
        for part in parts {
            match part.strip_prefix(KAFKA_TAG) {
                Some(k) => kafka_addr = Some(k.to_string()),
                None => incarnation = Some(part.to_string()),
            }
        }
        Ok(NodeAddr {
            raft_addr,
            api_addr,
            incarnation,
            kafka_addr,
        })
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} api={}", self.raft_addr, self.api_addr)?;
        if let Some(i) = &self.incarnation {
            write!(f, " incarnation={i}")?;
        }
        if let Some(k) = &self.kafka_addr {
            write!(f, " kafka={k}")?;
        }
        Ok(())
    }
}

openraft::declare_raft_types!(
    /// Jumpnet's openraft type configuration.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = NodeId,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = snapshot::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeAddr>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeAddr>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, NodeAddr>;
/// openraft's role metrics (vote, state, leader, membership): unlike [`RaftMetrics`], which openraft
/// sends on every turn of its loop (several times per entry), they change only with the role.
pub type RaftServerMetrics = openraft::metrics::RaftServerMetrics<NodeId, NodeAddr>;

/// How long one InstallSnapshot chunk RPC may take. openraft applies it to every chunk, the last
/// one included, and the answer to the last one comes only once the follower installed the whole
/// snapshot (re-read the received file, copy every segment, rebuild every index, fsync). Past it,
/// the leader gives up and streams a NEWER snapshot from scratch, forever, if installs always take
/// longer. Budget: a data set of 16 GiB, about three passes over it, on a volume doing 40 MiB/s
/// (a slow cloud disk): 16 GiB × 3 / 40 MiB/s ≈ 20 min. A peer that died mid-transfer is noticed
/// sooner than that (the connection fails); only a silent hang waits this long.
pub const INSTALL_SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// Most entries one AppendEntries carries (openraft's `max_payload_entries`).
const MAX_ENTRIES_PER_APPEND: u64 = 16;

/// How many entries of up to `max_entry_bytes` one AppendEntries may carry so that it stays
/// within three quarters of a peer frame (`peer::codec::MAX_FRAME`; the rest is room for
/// encoding): 16 for ordinary sizes, fewer for very large requests; 0 when even one does not fit.
/// Without it, 16 entries of a 32+ MiB request overflow the frame and a lagging follower is sent
/// the same too-big AppendEntries forever.
pub fn entries_per_append(max_entry_bytes: usize) -> u64 {
    let budget = crate::peer::codec::MAX_FRAME as u64 / 4 * 3;
    (budget / (max_entry_bytes.max(1) as u64)).min(MAX_ENTRIES_PER_APPEND)
}

/// Entries kept after a checkpoint, for followers that are only slightly behind.
pub fn log_to_keep(snapshot_every: u64) -> u64 {
    1_000.min(snapshot_every)
}

/// Timing and compaction settings for openraft, derived from the node's config.
pub fn raft_config(
    election_timeout_ms: u64,
    snapshot_every: u64,
    max_entry_bytes: usize,
) -> openraft::Config {
    openraft::Config {
        cluster_name: "jumpnet".into(),
        // openraft also times every AppendEntries by the heartbeat interval, and ticks (checks
        // election timers) every 1.5 heartbeats. A quarter of a 100 ms election timeout (25 ms)
        // timed out busy followers' fsync + apply of a full batch; three quarters (75 ms, a
        // 112 ms tick) slowed partition failover to ~0.8 s in the fault campaign. Half: 50 ms.
        heartbeat_interval: (election_timeout_ms / 2).max(20),
        election_timeout_min: election_timeout_ms,
        election_timeout_max: election_timeout_ms * 2,
        // Elections start after a pre-vote (`cluster::elect`), not on openraft's own timer.
        enable_elect: false,
        // Entries are batches of publishes already; keep AppendEntries frames a sane size (and
        // within a peer frame whatever `--max-request-bytes` is).
        max_payload_entries: entries_per_append(max_entry_bytes).max(1),
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every),
        // openraft purges nothing by itself: `cluster::compaction` purges up to
        // [`log_to_keep`] entries before the last checkpoint, except while this node sends a
        // snapshot to a follower.
        max_in_snapshot_log_to_keep: u64::MAX,
        purge_batch_size: 256,
        snapshot_max_chunk_size: 1024 * 1024,
        install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT.as_millis() as u64,
        replication_lag_threshold: snapshot_every * 2,
        ..Default::default()
    }
}

#[cfg(test)]
mod node_addr_tests {
    use super::NodeAddr;

    #[derive(serde::Serialize)]
    struct Before {
        raft_addr: String,
        api_addr: String,
    }

    #[test]
    fn node_addresses_keep_their_stored_encoding_and_carry_the_incarnation() {
        let old = bincode::serialize(&Before {
            raft_addr: "a:1".into(),
            api_addr: "a:2".into(),
        })
        .unwrap();
        let read: NodeAddr = bincode::deserialize(&old).unwrap();
        assert_eq!(read.incarnation, None);
        assert_eq!(bincode::serialize(&read).unwrap(), old);
        let with = NodeAddr {
            incarnation: Some("0123456789abcdef0123456789abcdef".into()),
            ..read.clone()
        };
        let back: NodeAddr = bincode::deserialize(&bincode::serialize(&with).unwrap()).unwrap();
        assert_eq!(back, with);
        for kafka in [
            NodeAddr {
                kafka_addr: Some("k:9092".into()),
                ..with.clone()
            },
            NodeAddr {
                kafka_addr: Some("k:9092".into()),
                ..read
            },
        ] {
            let back: NodeAddr =
                bincode::deserialize(&bincode::serialize(&kafka).unwrap()).unwrap();
            assert_eq!(back, kafka);
        }
        let json = serde_json::to_value(&with).unwrap();
        assert_eq!(json["api_addr"], "a:2");
        assert_eq!(json["incarnation"], "0123456789abcdef0123456789abcdef");
        assert_eq!(serde_json::from_value::<NodeAddr>(json).unwrap(), with);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_install_of_several_gigabytes_is_not_cut_short() {
        let c = raft_config(300, 1000, 10 << 20).validate().unwrap();
        // 8 GiB, three passes, a 40 MiB/s volume: 10+ minutes (the old 10 s allowed ~130 MiB).
        let install = std::time::Duration::from_secs((8u64 << 30) * 3 / (40 << 20));
        assert!(
            c.install_snapshot_timeout() >= install,
            "{:?}",
            c.install_snapshot_timeout()
        );
    }

    #[test]
    fn append_entries_fits_a_peer_frame_whatever_the_request_size() {
        assert_eq!(raft_config(300, 1000, 10 << 20).max_payload_entries, 16);
        let big = 258 << 20;
        let c = raft_config(300, 1000, big);
        assert_eq!(c.max_payload_entries, 1);
        assert!(c.max_payload_entries * big as u64 <= crate::peer::codec::MAX_FRAME as u64);
        assert_eq!(entries_per_append(600 << 20), 0);
    }
}
