//! Backups (`GET /v1/admin/snapshot`) and their integrity trailer. A backup is the Raft snapshot
//! stream ([`super::snapshot`], read from a checkpoint: writes go on while it streams) followed by
//! a trailer, so that a truncated or damaged download is refused before anything is loaded:
//!
//! ```text
//!  snapshot stream ("JNSNAP02" ...) | "JNBACKUP" | sha256(snapshot stream)
//! ```

use std::io::{self, Read};
use std::path::Path;

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::snapshot::SnapshotData;

/// `Jumpnet-Snapshot-Format`.
pub const FORMAT: &str = "1";
const TRAILER_MAGIC: &[u8; 8] = b"JNBACKUP";
/// Magic and digest.
pub const TRAILER_LEN: usize = 8 + 32;
const CHUNK: usize = 256 * 1024;

/// The trailer of a backup whose body hashed to `digest`.
pub fn trailer(digest: &[u8]) -> Vec<u8> {
    let mut t = TRAILER_MAGIC.to_vec();
    t.extend_from_slice(digest);
    t
}

/// The backup as an HTTP body: the snapshot stream, then the trailer.
pub fn stream(mut data: Box<SnapshotData>) -> impl Stream<Item = io::Result<Bytes>> + Send {
    async_stream::try_stream! {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = data.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            yield Bytes::copy_from_slice(&buf[..n]);
        }
        yield Bytes::from(trailer(&hasher.finalize()));
    }
}

/// Why a backup file is refused.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("not a jumpnet backup, or truncated (no integrity trailer)")]
    NoTrailer,
    #[error("the backup is damaged or truncated (its checksum does not match)")]
    Checksum,
    #[error("cannot read the backup: {0}")]
    Io(#[from] io::Error),
}

/// Check a downloaded backup's trailer against its body (blocking: reads the whole file).
pub fn verify(path: &Path) -> Result<(), Invalid> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len < TRAILER_LEN as u64 {
        return Err(Invalid::NoTrailer);
    }
    let body = len - TRAILER_LEN as u64;
    let mut hasher = Sha256::new();
    let mut left = body;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let n = (left as usize).min(CHUNK);
        f.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    let mut t = [0u8; TRAILER_LEN];
    f.read_exact(&mut t)?;
    if &t[..8] != TRAILER_MAGIC {
        return Err(Invalid::NoTrailer);
    }
    if t[8..] != hasher.finalize()[..] {
        return Err(Invalid::Checksum);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::raft::snapshot::{Outgoing, SnapshotHeader};
    use crate::topics::log::Pinned;

    async fn backup_bytes() -> Vec<u8> {
        let header = SnapshotHeader {
            last_applied: None,
            membership: Default::default(),
            snapshot_id: "t".into(),
        };
        let kvs = vec![(b"k".to_vec(), b"v".repeat(1000))];
        let data = Box::new(SnapshotData::Outgoing(Outgoing::new(
            &header,
            &kvs,
            Pinned::none(),
        )));
        let mut out = Vec::new();
        let mut s = std::pin::pin!(stream(data));
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_whole_backup_verifies_and_a_truncated_or_damaged_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        let whole = backup_bytes().await;
        assert_eq!(&whole[..8], b"JNSNAP02");
        std::fs::write(&path, &whole).unwrap();
        verify(&path).unwrap();

        for cut in [0, 10, whole.len() - TRAILER_LEN, whole.len() - 1] {
            std::fs::write(&path, &whole[..cut]).unwrap();
            assert!(verify(&path).is_err(), "cut at {cut}");
        }
        let mut damaged = whole.clone();
        damaged[20] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        assert!(matches!(verify(&path), Err(Invalid::Checksum)));
    }
}
