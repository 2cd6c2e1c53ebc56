//! Snapshots. The state machine is durable on its own (checkpoints), so a snapshot is only ever
//! materialized to be sent: when a follower needs one, the leader captures its metadata (small)
//! and pins the segment files (no copy), and the snapshot streams from them:
//!
//! ```text
//!  "JNSNAP02" | u32 len | bincode(SnapshotHeader)
//!  { u32 klen | key | u32 vlen | value }* | u32::MAX                 metadata (the sled tree)
//!  u64 parts | { u64 topic id | u64 base | u64 len | len bytes }*     segment files
//! ```
//!
//! The receiver writes it to a file as it arrives ([`SnapshotData::File`]) and installs it by
//! unpacking the segment files into a fresh data directory and replacing the metadata atomically.

use std::io::{self, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use serde::{Deserialize, Serialize};
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncSeek, AsyncSeekExt, AsyncWrite, AsyncWriteExt, ReadBuf,
};

use super::{LogId, SnapshotMeta, StoredMembership};
use crate::topics::log::Pinned;
use crate::topics::segment;

const MAGIC: &[u8; 8] = b"JNSNAP02";
const END: u32 = u32::MAX;
const READ_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub snapshot_id: String,
}

impl SnapshotHeader {
    pub fn meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: self.snapshot_id.clone(),
        }
    }
}

/// openraft's snapshot data: a file being received, or the state streamed out of this node.
pub enum SnapshotData {
    File(tokio::fs::File),
    Outgoing(Outgoing),
}

/// A byte range of the snapshot stream: bytes in memory or a slice of a segment file.
enum Piece {
    Bytes(Vec<u8>),
    File { path: PathBuf, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        }
    }
}

struct Layout {
    /// (stream position of the piece, piece).
    pieces: Vec<(u64, Piece)>,
    total: u64,
    /// Keeps the segment files from being deleted while the snapshot streams.
    _pinned: Pinned,
}

impl Layout {
    /// Up to `n` bytes at stream position `pos`.
    fn read_at(&self, pos: u64, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        let mut pos = pos;
        let i = self
            .pieces
            .partition_point(|(start, _)| *start <= pos)
            .saturating_sub(1);
        for (start, piece) in &self.pieces[i..] {
            if out.len() >= n || pos >= self.total {
                break;
            }
            let within = pos - start;
            if within >= piece.len() {
                continue;
            }
            let take = ((piece.len() - within) as usize).min(n - out.len());
            match piece {
                Piece::Bytes(b) => {
                    out.extend_from_slice(&b[within as usize..within as usize + take])
                }
                Piece::File { path, .. } => {
                    let f = std::fs::File::open(path)?;
                    let old = out.len();
                    out.resize(old + take, 0);
                    f.read_exact_at(&mut out[old..], within)?;
                }
            }
            pos += take as u64;
        }
        Ok(out)
    }
}

/// The current state as a stream, read on the blocking pool chunk by chunk.
pub struct Outgoing {
    layout: Arc<Layout>,
    pos: u64,
    pending: Option<tokio::task::JoinHandle<io::Result<Vec<u8>>>>,
    /// Where the disk reads run (the state machine's executor); the current runtime if unset.
    reader: Option<tokio::runtime::Handle>,
}

fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

impl Outgoing {
    pub fn new(header: &SnapshotHeader, kvs: &[(Vec<u8>, Vec<u8>)], pinned: Pinned) -> Outgoing {
        let mut head = MAGIC.to_vec();
        head.extend(chunk(&bincode::serialize(header).expect("header encodes")));
        for (k, v) in kvs {
            head.extend(chunk(k));
            head.extend(chunk(v));
        }
        head.extend_from_slice(&END.to_be_bytes());
        head.extend_from_slice(&(pinned.parts.len() as u64).to_be_bytes());
        let mut pieces = Vec::new();
        let mut pos = 0u64;
        let mut push = |p: Piece, pieces: &mut Vec<(u64, Piece)>| {
            let l = p.len();
            pieces.push((pos, p));
            pos += l;
        };
        push(Piece::Bytes(head), &mut pieces);
        for part in &pinned.parts {
            let mut h = part.topic_id.to_be_bytes().to_vec();
            h.extend_from_slice(&part.base.to_be_bytes());
            h.extend_from_slice(&part.len.to_be_bytes());
            push(Piece::Bytes(h), &mut pieces);
            push(
                Piece::File {
                    path: part.path.clone(),
                    len: part.len,
                },
                &mut pieces,
            );
        }
        Outgoing {
            layout: Arc::new(Layout {
                pieces,
                total: pos,
                _pinned: pinned,
            }),
            pos: 0,
            pending: None,
            reader: None,
        }
    }

    /// Read the segment bytes on `rt`'s blocking pool.
    pub fn reading_on(mut self, rt: tokio::runtime::Handle) -> Outgoing {
        self.reader = Some(rt);
        self
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SnapshotData::File(f) => Pin::new(f).poll_read(cx, buf),
            SnapshotData::Outgoing(o) => {
                if o.pos >= o.layout.total || buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                if o.pending.is_none() {
                    let (layout, pos, n) =
                        (o.layout.clone(), o.pos, buf.remaining().min(READ_CHUNK));
                    let read = move || layout.read_at(pos, n);
                    o.pending = Some(match &o.reader {
                        Some(rt) => rt.spawn_blocking(read),
                        None => tokio::task::spawn_blocking(read),
                    });
                }
                let handle = o.pending.as_mut().expect("pending read");
                let res = ready!(Pin::new(handle).poll(cx));
                o.pending = None;
                let bytes = res.map_err(io::Error::other)??;
                let n = bytes.len().min(buf.remaining());
                buf.put_slice(&bytes[..n]);
                o.pos += n as u64;
                Poll::Ready(Ok(()))
            }
        }
    }
}

use std::future::Future;

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        match self.get_mut() {
            SnapshotData::File(f) => Pin::new(f).start_seek(position),
            SnapshotData::Outgoing(o) => {
                let total = o.layout.total as i128;
                let target = match position {
                    SeekFrom::Start(p) => p as i128,
                    SeekFrom::End(d) => total + d as i128,
                    SeekFrom::Current(d) => o.pos as i128 + d as i128,
                };
                if target < 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "seek before the start of the snapshot",
                    ));
                }
                if let Some(h) = o.pending.take() {
                    h.abort();
                }
                o.pos = target as u64;
                Ok(())
            }
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        match self.get_mut() {
            SnapshotData::File(f) => Pin::new(f).poll_complete(cx),
            SnapshotData::Outgoing(o) => Poll::Ready(Ok(o.pos)),
        }
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            SnapshotData::File(f) => Pin::new(f).poll_write(cx, buf),
            SnapshotData::Outgoing(_) => {
                Poll::Ready(Err(io::Error::other("an outgoing snapshot is read-only")))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SnapshotData::File(f) => Pin::new(f).poll_flush(cx),
            SnapshotData::Outgoing(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SnapshotData::File(f) => Pin::new(f).poll_shutdown(cx),
            SnapshotData::Outgoing(_) => Poll::Ready(Ok(())),
        }
    }
}

async fn read_chunk(r: &mut (impl AsyncRead + Unpin), what: &str) -> io::Result<Option<Vec<u8>>> {
    let len = r
        .read_u32()
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("snapshot truncated before {what}")))?;
    if len == END {
        return Ok(None);
    }
    if len > 1 << 30 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("snapshot {what} of {len} bytes: corrupt"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

/// What an unpacked snapshot holds: its header and metadata; its segment files are in the
/// directory passed to [`unpack`].
pub struct Unpacked {
    pub header: SnapshotHeader,
    pub kvs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Read a snapshot stream from the start, writing its segment files (with fresh sparse indexes,
/// fsynced) under `data_dir`.
pub async fn unpack(data: &mut SnapshotData, data_dir: PathBuf) -> io::Result<Unpacked> {
    data.seek(SeekFrom::Start(0)).await?;
    let mut r = tokio::io::BufReader::with_capacity(READ_CHUNK, data);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).await?;
    if &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a jumpnet snapshot (bad magic)",
        ));
    }
    let header = read_chunk(&mut r, "header")
        .await?
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "snapshot without header"))?;
    let header: SnapshotHeader =
        bincode::deserialize(&header).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut kvs = Vec::new();
    while let Some(k) = read_chunk(&mut r, "a key").await? {
        let v = read_chunk(&mut r, "a value").await?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "snapshot ends inside a record")
        })?;
        kvs.push((k, v));
    }
    tokio::fs::create_dir_all(&data_dir).await?;
    let parts = r.read_u64().await?;
    let mut written = Vec::new();
    for _ in 0..parts {
        let (topic_id, base, len) = (
            r.read_u64().await?,
            r.read_u64().await?,
            r.read_u64().await?,
        );
        let dir = data_dir.join(topic_id.to_string());
        tokio::fs::create_dir_all(&dir).await?;
        let mut f = tokio::fs::File::create(segment::log_path(&dir, base)).await?;
        let copied = tokio::io::copy(&mut (&mut r).take(len), &mut f).await?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "snapshot ends inside a segment",
            ));
        }
        f.flush().await?;
        written.push((dir, base, len));
    }
    // Indexes, then everything to disk before the metadata may point at it.
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        for (dir, base, len) in &written {
            rebuild_index(dir, *base, *len)?;
            segment::sync(dir, *base)?;
            std::fs::File::open(dir)?.sync_all()?;
        }
        std::fs::File::open(&data_dir)?.sync_all()?;
        // The new data dir's own entry, in the state dir: without it a crash could lose the
        // directory that the installed metadata is about to name.
        match data_dir.parent() {
            Some(state_dir) => std::fs::File::open(state_dir)?.sync_all(),
            None => Ok(()),
        }
    })
    .await
    .map_err(io::Error::other)??;
    Ok(Unpacked { header, kvs })
}

fn rebuild_index(dir: &std::path::Path, base: u64, len: u64) -> io::Result<()> {
    let mut idx = Vec::new();
    let mut next = 0u64;
    segment::scan(&segment::log_path(dir, base), 0, len, |offset, _, pos| {
        if pos >= next {
            idx.extend_from_slice(&((offset - base) as u32).to_be_bytes());
            idx.extend_from_slice(&(pos as u32).to_be_bytes());
            next = pos + segment::INDEX_EVERY;
        }
        true
    })?;
    std::fs::write(segment::idx_path(dir, base), idx)
}
