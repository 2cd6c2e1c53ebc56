//! Free space on the state dir's volume, checked BEFORE a write reaches `client_write`: while too
//! little is left, writes that add data are refused with 503 (nothing stored) instead of being
//! appended and then failing in the Raft log or in apply, which stops Raft for good (a fatal
//! storage error: see `server.rs`, the node exits and a supervisor restarts it — on a full disk,
//! into a crash loop). Once space is freed, writes are taken again at once.
//!
//! ```text
//!  propose_local(ops) ─▶ admit(2 × size): free − reserved ≥ min_free + 2 × size ? ─ no ─▶ 503 unavailable
//!                                                                                └ yes ─▶ client_write … applied ─▶ release
//! ```
//!
//! An entry costs about twice its size (the Raft log, then the segment files); what proposals in
//! flight will still write is reserved, so concurrent ones cannot all pass the same check. Ops
//! that free space (trims, topic deletion) and the node's own bookkeeping are never refused.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::command::Op;
use crate::write::WriteError;

type FreeBytes = Arc<dyn Fn() -> io::Result<u64> + Send + Sync>;

/// The free-space check of one node.
pub struct DiskGuard {
    free: FreeBytes,
    min_free: u64,
    reserved: AtomicU64,
}

/// Space reserved for one proposal in flight; released when dropped (once it was written).
pub struct Reservation<'a> {
    guard: &'a DiskGuard,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.guard.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl DiskGuard {
    /// Checks the volume holding `state_dir`; `min_free` bytes must stay free.
    pub fn new(state_dir: PathBuf, min_free: u64) -> DiskGuard {
        DiskGuard::with(
            Arc::new(move || {
                let s = nix::sys::statvfs::statvfs(&state_dir).map_err(io::Error::from)?;
                Ok(s.blocks_available() as u64 * s.fragment_size() as u64)
            }),
            min_free,
        )
    }

    fn with(free: FreeBytes, min_free: u64) -> DiskGuard {
        DiskGuard {
            free,
            min_free,
            reserved: AtomicU64::new(0),
        }
    }

    /// Room for `ops`, or a 503 refusal (nothing stored) when the volume is too full. A volume
    /// whose free space cannot be read is not held against writes (the write itself will tell).
    pub fn admit(&self, ops: &[Op]) -> Result<Option<Reservation<'_>>, WriteError> {
        if self.min_free == 0 || !ops.iter().any(adds_data) {
            return Ok(None);
        }
        let bytes = 2 * ops.iter().map(|o| o.size_hint() as u64).sum::<u64>();
        let before = self.reserved.fetch_add(bytes, Ordering::AcqRel);
        let reservation = Reservation { guard: self, bytes };
        let free = match (self.free)() {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the state dir's free space");
                return Ok(Some(reservation));
            }
        };
        if free.saturating_sub(before) < self.min_free.saturating_add(bytes) {
            return Err(WriteError::Unavailable(format!(
                "insufficient storage: the node's disk is nearly full ({} MiB free, {} MiB kept \
                 free); nothing was stored; writes resume once space is freed (retention, topic \
                 deletion, a bigger volume)",
                free >> 20,
                self.min_free >> 20
            )));
        }
        Ok(Some(reservation))
    }
}

/// Does this op make the node store more? Trims and deletions free space; the node's own
/// bookkeeping (cluster id, node ids) is tiny and must not be refused.
fn adds_data(op: &Op) -> bool {
    match op {
        Op::Publish(_)
        | Op::CommitOffset(_)
        | Op::ConsumeNext(_)
        | Op::AdvanceConsumer(_)
        | Op::PutTopic(_)
        | Op::ConfigureGroup(_)
        | Op::LeaseMessages(_)
        | Op::NackMessages(_) => true,
        // Acknowledgements shrink a group's state: a full disk must not keep them out.
        Op::DeleteTopic(_)
        | Op::Trim(_)
        | Op::SetClusterId(_)
        | Op::AssignNodeId(_)
        | Op::AllocateProducerId(_)
        | Op::AckMessages(_)
        | Op::DeleteGroup(_)
        | Op::DeleteConsumer(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::command::{NewMessage, Publish, Trim};

    const MIB: u64 = 1 << 20;

    fn publish(bytes: usize) -> Op {
        Op::Publish(Publish {
            topic: "t".into(),
            messages: vec![NewMessage::new("x".repeat(bytes))],
            producer: None,
            publisher: None,
            partition: 0,
            kafka: None,
        })
    }

    fn trim() -> Op {
        Trim {
            topic: "t".into(),
            topic_id: 1,
            new_start: 5,
        }
        .into()
    }

    /// A guard over a volume whose free space the test sets.
    fn guard(min_free: u64) -> (DiskGuard, Arc<AtomicU64>) {
        let free = Arc::new(AtomicU64::new(0));
        let f = free.clone();
        let g = DiskGuard::with(Arc::new(move || Ok(f.load(Ordering::SeqCst))), min_free);
        (g, free)
    }

    #[test]
    fn a_nearly_full_disk_refuses_writes_with_nothing_stored_and_takes_them_again_once_freed() {
        let (g, free) = guard(8 * MIB);
        free.store(100 * MIB, Ordering::SeqCst);
        assert!(g.admit(&[publish(1000)]).unwrap().is_some());

        free.store(8 * MIB + 1000, Ordering::SeqCst);
        let refused = g.admit(&[publish(1000)]).err().expect("refused");
        assert!(
            matches!(&refused, WriteError::Unavailable(m) if m.contains("insufficient storage")),
            "{refused:?}"
        );
        // What frees space, and the node's bookkeeping, still goes through.
        assert!(g.admit(&[trim()]).is_ok());

        free.store(20 * MIB, Ordering::SeqCst);
        assert!(g.admit(&[publish(1000)]).is_ok());
    }

    #[test]
    fn proposals_in_flight_reserve_what_they_will_write() {
        let (g, free) = guard(8 * MIB);
        free.store(8 * MIB + 5 * MIB, Ordering::SeqCst);
        // Each costs twice its size (log + segments): 2 MiB reserved, 3 MiB left above the floor.
        let first = g.admit(&[publish(MIB as usize)]).unwrap();
        let second = g.admit(&[publish(MIB as usize)]).unwrap();
        assert!(
            g.admit(&[publish(MIB as usize)]).is_err(),
            "the reservations were ignored"
        );
        drop((first, second));
        assert_eq!(g.reserved.load(Ordering::SeqCst), 0);
        assert!(g.admit(&[publish(MIB as usize)]).is_ok());
    }

    #[test]
    fn a_zero_floor_turns_the_check_off() {
        let (g, _free) = guard(0);
        assert!(g.admit(&[publish(1000)]).unwrap().is_none());
    }

    #[test]
    fn the_real_volume_is_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DiskGuard::new(dir.path().to_path_buf(), 1)
            .admit(&[publish(1)])
            .is_ok());
        let g = DiskGuard::new(dir.path().to_path_buf(), u64::MAX / 4);
        assert!(g.admit(&[publish(1)]).is_err());
    }
}
