//! The filesystem as two layers: what programs see now (`cur`) and what would survive a power
//! loss (`dur`). Nothing reaches `dur` but through a sync, exactly as POSIX promises and no more:
//!
//! ```text
//!   write / truncate (file)          ─▶ cur, pending ─ fsync(file) ─▶ dur
//!   create / mkdir / unlink / rename ─▶ cur of the parent dir(s), pending ─ fsync(dir) ─▶ dur
//!   crash                            ─▶ cur := dur everywhere; inodes no durable dir links are gone
//!   crash torn SEED                  ─▶ like crash, but each file and dir keeps a random prefix of its
//!                                       pending operations, the last write cut at a random byte
//!   crash torn-data SEED             ─▶ every pending directory change kept (the metadata journal
//!                                       was committed), every file with pending writes torn inside one
//! ```
//!
//! A file's data is durable once the file is fsynced (fdatasync included: it covers the size); its
//! name is durable once its parent directory is fsynced ([`Metadata::Strict`], POSIX to the letter)
//! or once anything at all is fsynced ([`Metadata::Journaled`]: ext4 and XFS keep one journal for
//! all metadata, and any fsync commits it, so a rename or a new directory entry becomes durable at
//! the next fsync of any file). A new file fsynced but whose directory
//! never was is lost, like an orphan inode after a real power cut. `sync_file_range` never reaches
//! a FUSE filesystem, so it persists nothing here — as its man page warns for real disks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::SystemTime;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::blob::Blob;

pub type Ino = u64;
pub type Errno = i32;
pub type R<T> = Result<T, Errno>;
pub const ROOT: Ino = 1;

/// One file operation not yet synced, kept for torn crashes.
enum Pending {
    Write(u64, Arc<[u8]>),
    SetLen(u64),
}

/// One directory change not yet synced: names set (`Some`) or removed (`None`) atomically (a
/// rename inside one directory is one change).
type DirChange = Vec<(OsString, Option<Ino>)>;

pub struct FileBody {
    pub cur: Blob,
    dur: Blob,
    pending: Vec<Pending>,
}

pub struct DirBody {
    pub cur: BTreeMap<OsString, Ino>,
    dur: BTreeMap<OsString, Ino>,
    pending: Vec<DirChange>,
}

pub enum Body {
    File(FileBody),
    Dir(DirBody),
}

pub struct Inode {
    pub body: Body,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// Where it was last linked: for the paths in triggers and stats only.
    parent: Ino,
    name: OsString,
    /// Directory entries naming it, in `cur` and in `dur` together; with `open`, what keeps it.
    refs: u32,
    open: u32,
}

impl Inode {
    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    pub fn size(&self) -> u64 {
        match &self.body {
            Body::File(f) => f.cur.len(),
            Body::Dir(d) => d.cur.len() as u64,
        }
    }

    /// Links in the current tree (what `stat` shows).
    pub fn nlink(&self) -> u32 {
        if self.is_dir() {
            2
        } else {
            1
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Write,
    Create,
    Mkdir,
    Unlink,
    Rmdir,
    Rename,
    Link,
    Truncate,
    Fsync,
    Fsyncdir,
}

impl OpKind {
    pub fn parse(s: &str) -> Option<OpKind> {
        Some(match s {
            "write" => OpKind::Write,
            "create" => OpKind::Create,
            "mkdir" => OpKind::Mkdir,
            "unlink" => OpKind::Unlink,
            "rmdir" => OpKind::Rmdir,
            "rename" => OpKind::Rename,
            "link" => OpKind::Link,
            "truncate" => OpKind::Truncate,
            "fsync" => OpKind::Fsync,
            "fsyncdir" => OpKind::Fsyncdir,
            _ => return None,
        })
    }
}

/// Freeze the filesystem right after the `count`-th operation `op` on a path matching `glob`.
#[derive(Clone, Serialize)]
pub struct Trigger {
    pub op: OpKind,
    pub glob: String,
    pub remaining: u64,
}

/// What a crash threw away.
/// How much of what was not synced survives a crash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Loss {
    /// Nothing.
    Clean,
    /// A random prefix of each file's and directory's pending operations.
    Torn(u64),
    /// Every directory change; each file torn inside one of its pending writes.
    TornData(u64),
}

#[derive(Default, Serialize)]
pub struct CrashReport {
    pub torn: bool,
    pub dropped_writes: u64,
    pub dropped_bytes: u64,
    pub dropped_dir_changes: u64,
    pub kept_writes: u64,
    pub inodes_lost: u64,
    /// Files left with a write cut mid-way: `path@offset`.
    pub torn_files: Vec<String>,
}

struct Handle {
    ino: Ino,
    sync: bool,
}

/// When directory changes become durable.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Metadata {
    /// Only by an fsync of the directory itself.
    Strict,
    /// By any fsync on the filesystem (one metadata journal, as ext4 and XFS have).
    Journaled,
}

pub struct Model {
    pub metadata: Metadata,
    inodes: HashMap<Ino, Inode>,
    next_ino: Ino,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    trigger: Option<Trigger>,
    /// `op path` of the operation that fired the trigger.
    pub fired: Option<String>,
    pub crashes: u64,
    pub stats: HashMap<OpKind, u64>,
}

fn now() -> SystemTime {
    SystemTime::now()
}

/// `*` matches any run of characters (slashes included); everything else matches itself.
pub fn glob_match(glob: &str, s: &str) -> bool {
    let (g, s) = (glob.as_bytes(), s.as_bytes());
    let (mut gi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if gi < g.len() && g[gi] == b'*' {
            star = Some(gi);
            mark = si;
            gi += 1;
        } else if gi < g.len() && g[gi] == s[si] {
            gi += 1;
            si += 1;
        } else if let Some(st) = star {
            gi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == b'*')
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    pub fn new() -> Model {
        let mut m = Model {
            metadata: Metadata::Strict,
            inodes: HashMap::new(),
            next_ino: ROOT + 1,
            handles: HashMap::new(),
            next_fh: 1,
            trigger: None,
            fired: None,
            crashes: 0,
            stats: HashMap::new(),
        };
        let root = m.new_inode(
            Body::Dir(DirBody {
                cur: BTreeMap::new(),
                dur: BTreeMap::new(),
                pending: Vec::new(),
            }),
            0o755,
            ROOT,
            OsString::new(),
        );
        m.inodes.insert(ROOT, root);
        m
    }

    fn new_inode(&self, body: Body, perm: u16, parent: Ino, name: OsString) -> Inode {
        Inode {
            body,
            perm,
            uid: 0,
            gid: 0,
            mtime: now(),
            ctime: now(),
            parent,
            name,
            refs: 0,
            open: 0,
        }
    }

    pub fn get(&self, ino: Ino) -> R<&Inode> {
        self.inodes.get(&ino).ok_or(libc::ENOENT)
    }

    fn get_mut(&mut self, ino: Ino) -> R<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or(libc::ENOENT)
    }

    fn dir(&self, ino: Ino) -> R<&DirBody> {
        match &self.get(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(libc::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> R<&mut FileBody> {
        match &mut self.get_mut(ino)?.body {
            Body::File(f) => Ok(f),
            Body::Dir(_) => Err(libc::EISDIR),
        }
    }

    pub fn path(&self, ino: Ino) -> String {
        let mut parts = Vec::new();
        let mut cur = ino;
        let mut seen = HashSet::new();
        while cur != ROOT && seen.insert(cur) {
            let Some(i) = self.inodes.get(&cur) else {
                break;
            };
            parts.push(i.name.to_string_lossy().into_owned());
            cur = i.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    fn child_path(&self, parent: Ino, name: &OsStr) -> String {
        let p = self.path(parent);
        if p.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{p}/{}", name.to_string_lossy())
        }
    }

    // -- triggers --------------------------------------------------------------------------

    pub fn arm(&mut self, trigger: Trigger) {
        self.trigger = Some(trigger);
        self.fired = None;
    }

    pub fn disarm(&mut self) {
        self.trigger = None;
    }

    pub fn trigger(&self) -> Option<&Trigger> {
        self.trigger.as_ref()
    }

    /// Counts `op` on `path`; true when it fires the trigger (the caller freezes after it).
    fn note(&mut self, op: OpKind, path: &str) -> bool {
        *self.stats.entry(op).or_default() += 1;
        let Some(t) = self.trigger.as_mut() else {
            return false;
        };
        if t.op != op || !glob_match(&t.glob, path) {
            return false;
        }
        t.remaining = t.remaining.saturating_sub(1);
        if t.remaining > 0 {
            return false;
        }
        self.trigger = None;
        self.fired = Some(format!("{op:?} {path}").to_lowercase());
        true
    }

    // -- directory operations --------------------------------------------------------------

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> R<Ino> {
        self.dir(parent)?.cur.get(name).copied().ok_or(libc::ENOENT)
    }

    pub fn readdir(&self, ino: Ino) -> R<Vec<(OsString, Ino, bool)>> {
        Ok(self
            .dir(ino)?
            .cur
            .iter()
            .map(|(n, i)| {
                (
                    n.clone(),
                    *i,
                    self.inodes.get(i).is_some_and(|x| x.is_dir()),
                )
            })
            .collect())
    }

    /// Apply one atomic change to `parent`'s current entries (and remember it as pending).
    fn change_dir(&mut self, parent: Ino, change: DirChange) -> R<()> {
        let mut unref = Vec::new();
        let mut addref = Vec::new();
        {
            let Body::Dir(d) = &mut self.get_mut(parent)?.body else {
                return Err(libc::ENOTDIR);
            };
            for (name, target) in &change {
                let old = match target {
                    Some(i) => {
                        addref.push(*i);
                        d.cur.insert(name.clone(), *i)
                    }
                    None => d.cur.remove(name),
                };
                unref.extend(old);
            }
            d.pending.push(change);
        }
        for i in addref {
            self.get_mut(i)?.refs += 1;
        }
        for i in unref {
            self.unref(i);
        }
        Ok(())
    }

    fn unref(&mut self, ino: Ino) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.refs = i.refs.saturating_sub(1);
        }
        self.gc(ino);
    }

    /// Drops `ino` when no directory (current or durable) names it and nobody has it open.
    fn gc(&mut self, ino: Ino) {
        let dead = self
            .inodes
            .get(&ino)
            .is_some_and(|i| ino != ROOT && i.refs == 0 && i.open == 0);
        if !dead {
            return;
        }
        if let Some(Inode {
            body: Body::Dir(d), ..
        }) = self.inodes.remove(&ino)
        {
            for i in d.cur.values().chain(d.dur.values()) {
                self.unref(*i);
            }
        }
    }

    fn make(
        &mut self,
        parent: Ino,
        name: &OsStr,
        body: Body,
        perm: u16,
        op: OpKind,
    ) -> R<(Ino, bool)> {
        if self.lookup(parent, name).is_ok() {
            return Err(libc::EEXIST);
        }
        self.dir(parent)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let inode = self.new_inode(body, perm, parent, name.to_owned());
        self.inodes.insert(ino, inode);
        self.change_dir(parent, vec![(name.to_owned(), Some(ino))])?;
        let path = self.child_path(parent, name);
        Ok((ino, self.note(op, &path)))
    }

    pub fn create(&mut self, parent: Ino, name: &OsStr, perm: u16) -> R<(Ino, bool)> {
        let body = Body::File(FileBody {
            cur: Blob::default(),
            dur: Blob::default(),
            pending: Vec::new(),
        });
        self.make(parent, name, body, perm, OpKind::Create)
    }

    pub fn mkdir(&mut self, parent: Ino, name: &OsStr, perm: u16) -> R<(Ino, bool)> {
        let body = Body::Dir(DirBody {
            cur: BTreeMap::new(),
            dur: BTreeMap::new(),
            pending: Vec::new(),
        });
        self.make(parent, name, body, perm, OpKind::Mkdir)
    }

    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> R<bool> {
        let ino = self.lookup(parent, name)?;
        if self.get(ino)?.is_dir() {
            return Err(libc::EISDIR);
        }
        let path = self.child_path(parent, name);
        self.change_dir(parent, vec![(name.to_owned(), None)])?;
        Ok(self.note(OpKind::Unlink, &path))
    }

    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> R<bool> {
        let ino = self.lookup(parent, name)?;
        if !self.dir(ino)?.cur.is_empty() {
            return Err(libc::ENOTEMPTY);
        }
        let path = self.child_path(parent, name);
        self.change_dir(parent, vec![(name.to_owned(), None)])?;
        Ok(self.note(OpKind::Rmdir, &path))
    }

    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        flags: u32,
    ) -> R<bool> {
        const RENAME_NOREPLACE: u32 = 1;
        if flags & !RENAME_NOREPLACE != 0 {
            return Err(libc::EINVAL);
        }
        let ino = self.lookup(parent, name)?;
        if let Ok(old) = self.lookup(newparent, newname) {
            if flags & RENAME_NOREPLACE != 0 {
                return Err(libc::EEXIST);
            }
            if old == ino {
                return Ok(false);
            }
            match (self.get(ino)?.is_dir(), self.get(old)?.is_dir()) {
                (true, true) if !self.dir(old)?.cur.is_empty() => return Err(libc::ENOTEMPTY),
                (true, false) => return Err(libc::ENOTDIR),
                (false, true) => return Err(libc::EISDIR),
                _ => {}
            }
        }
        self.dir(newparent)?;
        if parent == newparent {
            self.change_dir(
                parent,
                vec![(name.to_owned(), None), (newname.to_owned(), Some(ino))],
            )?;
        } else {
            self.change_dir(newparent, vec![(newname.to_owned(), Some(ino))])?;
            self.change_dir(parent, vec![(name.to_owned(), None)])?;
        }
        let i = self.get_mut(ino)?;
        i.parent = newparent;
        i.name = newname.to_owned();
        i.ctime = now();
        let path = self.child_path(newparent, newname);
        Ok(self.note(OpKind::Rename, &path))
    }

    pub fn link(&mut self, ino: Ino, newparent: Ino, newname: &OsStr) -> R<bool> {
        if self.get(ino)?.is_dir() {
            return Err(libc::EPERM);
        }
        if self.lookup(newparent, newname).is_ok() {
            return Err(libc::EEXIST);
        }
        self.change_dir(newparent, vec![(newname.to_owned(), Some(ino))])?;
        let path = self.child_path(newparent, newname);
        Ok(self.note(OpKind::Link, &path))
    }

    // -- file operations -------------------------------------------------------------------

    /// `sync`: opened with O_SYNC or O_DSYNC (every write is synced before it returns).
    pub fn open(&mut self, ino: Ino, sync: bool) -> R<u64> {
        self.get_mut(ino)?.open += 1;
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, Handle { ino, sync });
        Ok(fh)
    }

    pub fn release(&mut self, fh: u64) {
        if let Some(h) = self.handles.remove(&fh) {
            if let Some(i) = self.inodes.get_mut(&h.ino) {
                i.open = i.open.saturating_sub(1);
            }
            self.gc(h.ino);
        }
    }

    /// The inode behind an open handle; `EIO` for a handle from before a crash.
    fn handle(&self, fh: u64) -> R<(Ino, bool)> {
        self.handles
            .get(&fh)
            .map(|h| (h.ino, h.sync))
            .ok_or(libc::EIO)
    }

    pub fn read(&self, ino: Ino, off: u64, size: usize) -> R<Vec<u8>> {
        match &self.get(ino)?.body {
            Body::File(f) => Ok(f.cur.read(off, size)),
            Body::Dir(_) => Err(libc::EISDIR),
        }
    }

    pub fn write(&mut self, fh: u64, off: u64, data: &[u8]) -> R<bool> {
        let (ino, sync) = self.handle(fh)?;
        let f = self.file_mut(ino)?;
        f.cur.write(off, data);
        f.pending.push(Pending::Write(off, Arc::from(data)));
        let i = self.get_mut(ino)?;
        i.mtime = now();
        let path = self.path(ino);
        let fired = self.note(OpKind::Write, &path);
        if sync {
            return Ok(self.fsync(ino)? || fired);
        }
        Ok(fired)
    }

    pub fn set_len(&mut self, ino: Ino, len: u64) -> R<bool> {
        let f = self.file_mut(ino)?;
        f.cur.set_len(len);
        f.pending.push(Pending::SetLen(len));
        self.get_mut(ino)?.mtime = now();
        let path = self.path(ino);
        Ok(self.note(OpKind::Truncate, &path))
    }

    pub fn set_attrs(
        &mut self,
        ino: Ino,
        perm: Option<u16>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> R<()> {
        let i = self.get_mut(ino)?;
        if let Some(p) = perm {
            i.perm = p;
        }
        if let Some(u) = uid {
            i.uid = u;
        }
        if let Some(g) = gid {
            i.gid = g;
        }
        i.ctime = now();
        Ok(())
    }

    // -- durability ------------------------------------------------------------------------

    /// fsync / fdatasync of a file, or fsync of a directory (with journaled metadata, every
    /// directory change made so far becomes durable too).
    pub fn fsync(&mut self, ino: Ino) -> R<bool> {
        if self.metadata == Metadata::Journaled {
            let dirs: Vec<Ino> = self
                .inodes
                .iter()
                .filter(|(i, x)| {
                    **i != ino && matches!(&x.body, Body::Dir(d) if !d.pending.is_empty())
                })
                .map(|(i, _)| *i)
                .collect();
            for d in dirs {
                self.sync_one(d);
            }
        }
        self.sync_one(ino);
        let path = self.path(ino);
        let op = if self.get(ino)?.is_dir() {
            OpKind::Fsyncdir
        } else {
            OpKind::Fsync
        };
        Ok(self.note(op, &path))
    }

    fn sync_one(&mut self, ino: Ino) {
        let refs = match self.inodes.get_mut(&ino).map(|i| &mut i.body) {
            Some(Body::File(f)) => {
                f.dur = f.cur.clone();
                f.pending.clear();
                None
            }
            Some(Body::Dir(d)) => {
                let old: Vec<Ino> = d.dur.values().copied().collect();
                d.dur = d.cur.clone();
                d.pending.clear();
                Some((old, d.dur.values().copied().collect::<Vec<Ino>>()))
            }
            None => None,
        };
        if let Some((old, new)) = refs {
            for i in &new {
                if let Some(x) = self.inodes.get_mut(i) {
                    x.refs += 1;
                }
            }
            for i in old {
                self.unref(i);
            }
        }
    }

    /// Everything durable, as after the kernel's writeback and a `sync(1)`.
    pub fn sync_all(&mut self) {
        let inos: Vec<Ino> = self.inodes.keys().copied().collect();
        for i in inos {
            if self.inodes.contains_key(&i) {
                self.sync_one(i);
            }
        }
    }

    /// Power loss: every layer back to what was synced (with `torn`, plus a random prefix of what
    /// was not). Open handles die with the processes that held them.
    pub fn crash(&mut self, loss: Loss) -> CrashReport {
        let (mut rng, tear_files, keep_dirs) = match loss {
            Loss::Clean => (None, false, false),
            Loss::Torn(seed) => (Some(StdRng::seed_from_u64(seed)), false, false),
            Loss::TornData(seed) => (Some(StdRng::seed_from_u64(seed)), true, true),
        };
        let mut rep = CrashReport {
            torn: rng.is_some(),
            ..CrashReport::default()
        };
        let paths: HashMap<Ino, String> = self
            .inodes
            .iter()
            .filter(|(_, i)| matches!(&i.body, Body::File(f) if !f.pending.is_empty()))
            .map(|(n, _)| (*n, self.path(*n)))
            .collect();
        for (ino, inode) in self.inodes.iter_mut() {
            match &mut inode.body {
                Body::File(f) => {
                    let writes: Vec<usize> = (0..f.pending.len())
                        .filter(|&i| matches!(&f.pending[i], Pending::Write(_, d) if d.len() > 1))
                        .collect();
                    let keep = match rng.as_mut() {
                        // torn inside one of the writes, so a torn frame is left for certain
                        Some(r) if tear_files && !writes.is_empty() => {
                            writes[r.gen_range(0..writes.len())]
                        }
                        Some(r) => r.gen_range(0..=f.pending.len()),
                        None => 0,
                    };
                    for (n, p) in f.pending.drain(..).enumerate() {
                        match p {
                            Pending::Write(off, data) if n < keep => {
                                f.dur.write(off, &data);
                                rep.kept_writes += 1;
                            }
                            Pending::Write(off, data) if n == keep && !data.is_empty() => {
                                let cut = match rng.as_mut() {
                                    Some(r) if tear_files => r.gen_range(1..data.len()),
                                    Some(r) => r.gen_range(0..data.len()),
                                    None => 0,
                                };
                                f.dur.write(off, &data[..cut]);
                                if cut > 0 {
                                    let p = paths.get(ino).cloned().unwrap_or_default();
                                    rep.torn_files.push(format!("{p}@{}", off + cut as u64));
                                }
                                rep.dropped_writes += 1;
                                rep.dropped_bytes += (data.len() - cut) as u64;
                            }
                            Pending::Write(_, data) => {
                                rep.dropped_writes += 1;
                                rep.dropped_bytes += data.len() as u64;
                            }
                            Pending::SetLen(len) if n < keep => f.dur.set_len(len),
                            Pending::SetLen(_) => rep.dropped_writes += 1,
                        }
                    }
                    f.cur = f.dur.clone();
                }
                Body::Dir(d) => {
                    let keep = match rng.as_mut() {
                        _ if keep_dirs => d.pending.len(),
                        Some(r) => r.gen_range(0..=d.pending.len()),
                        None => 0,
                    };
                    for (n, change) in d.pending.drain(..).enumerate() {
                        if n >= keep {
                            rep.dropped_dir_changes += 1;
                            continue;
                        }
                        for (name, target) in change {
                            match target {
                                Some(i) => d.dur.insert(name, i),
                                None => d.dur.remove(&name),
                            };
                        }
                    }
                    d.cur = d.dur.clone();
                }
            }
        }
        self.handles.clear();
        // What survives is what the durable tree reaches from the root.
        let mut refs: HashMap<Ino, u32> = HashMap::new();
        let mut stack = vec![ROOT];
        let mut seen = HashSet::from([ROOT]);
        let mut places = Vec::new();
        while let Some(d) = stack.pop() {
            let Some(Body::Dir(body)) = self.inodes.get(&d).map(|i| &i.body) else {
                continue;
            };
            for (name, i) in &body.dur {
                if !self.inodes.contains_key(i) {
                    continue;
                }
                *refs.entry(*i).or_default() += 2;
                places.push((*i, d, name.clone()));
                if seen.insert(*i) {
                    stack.push(*i);
                }
            }
        }
        let before = self.inodes.len();
        self.inodes.retain(|i, _| seen.contains(i));
        rep.inodes_lost = (before - self.inodes.len()) as u64;
        for dir in self.inodes.values_mut() {
            if let Body::Dir(d) = &mut dir.body {
                d.dur.retain(|_, i| seen.contains(i));
                d.cur = d.dur.clone();
            }
        }
        for (i, parent, name) in places {
            if let Some(x) = self.inodes.get_mut(&i) {
                x.parent = parent;
                x.name = name;
            }
        }
        for (i, x) in self.inodes.iter_mut() {
            x.open = 0;
            x.refs = refs.get(i).copied().unwrap_or(0);
        }
        self.crashes += 1;
        rep
    }

    /// Total bytes held for file contents (both layers; shared chunks counted twice).
    pub fn bytes_held(&self) -> u64 {
        self.inodes
            .values()
            .map(|i| match &i.body {
                Body::File(f) => f.cur.allocated() + f.dur.allocated(),
                Body::Dir(_) => 0,
            })
            .sum()
    }

    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn content(m: &Model, path: &[&str]) -> Option<Vec<u8>> {
        let mut ino = ROOT;
        for p in path {
            ino = m.lookup(ino, os(p)).ok()?;
        }
        Some(m.read(ino, 0, 1 << 20).unwrap())
    }

    #[test]
    fn unsynced_data_is_lost_and_synced_data_kept() {
        let mut m = Model::new();
        let (f, _) = m.create(ROOT, os("wal"), 0o644).unwrap();
        m.fsync(ROOT).unwrap();
        let fh = m.open(f, false).unwrap();
        m.write(fh, 0, b"synced").unwrap();
        m.fsync(f).unwrap();
        m.write(fh, 6, b"+lost").unwrap();
        assert_eq!(content(&m, &["wal"]).unwrap(), b"synced+lost");
        m.crash(Loss::Clean);
        assert_eq!(content(&m, &["wal"]).unwrap(), b"synced");
        assert_eq!(
            m.write(fh, 0, b"x"),
            Err(libc::EIO),
            "handles die in a crash"
        );
    }

    #[test]
    fn a_new_file_needs_its_directory_synced() {
        let mut m = Model::new();
        let (d, _) = m.mkdir(ROOT, os("raft"), 0o755).unwrap();
        m.fsync(ROOT).unwrap();
        let (f, _) = m.create(d, os("1.wal"), 0o644).unwrap();
        let fh = m.open(f, false).unwrap();
        m.write(fh, 0, b"entry").unwrap();
        m.fsync(f).unwrap();
        m.crash(Loss::Clean);
        assert_eq!(
            content(&m, &["raft", "1.wal"]),
            None,
            "the name was never synced"
        );
        assert!(m.readdir(d).unwrap().is_empty());
    }

    #[test]
    fn unlink_and_rename_come_back_until_the_directory_is_synced() {
        let mut m = Model::new();
        let (a, _) = m.create(ROOT, os("a"), 0o644).unwrap();
        let fh = m.open(a, false).unwrap();
        m.write(fh, 0, b"A").unwrap();
        m.fsync(a).unwrap();
        m.fsync(ROOT).unwrap();
        m.rename(ROOT, os("a"), ROOT, os("b"), 0).unwrap();
        assert!(content(&m, &["a"]).is_none());
        m.crash(Loss::Clean);
        assert_eq!(content(&m, &["a"]).unwrap(), b"A");
        assert!(content(&m, &["b"]).is_none());
        m.unlink(ROOT, os("a")).unwrap();
        m.crash(Loss::Clean);
        assert_eq!(
            content(&m, &["a"]).unwrap(),
            b"A",
            "the unlink was never synced"
        );
        m.unlink(ROOT, os("a")).unwrap();
        m.fsync(ROOT).unwrap();
        m.crash(Loss::Clean);
        assert!(content(&m, &["a"]).is_none());
        assert_eq!(m.inode_count(), 1, "only the root is left");
    }

    #[test]
    fn truncate_is_undone_by_a_crash_and_kept_by_fsync() {
        let mut m = Model::new();
        let (f, _) = m.create(ROOT, os("f"), 0o644).unwrap();
        m.fsync(ROOT).unwrap();
        let fh = m.open(f, false).unwrap();
        m.write(fh, 0, b"0123456789").unwrap();
        m.fsync(f).unwrap();
        m.set_len(f, 3).unwrap();
        m.crash(Loss::Clean);
        assert_eq!(content(&m, &["f"]).unwrap(), b"0123456789");
        m.set_len(f, 3).unwrap();
        m.fsync(f).unwrap();
        m.crash(Loss::Clean);
        assert_eq!(content(&m, &["f"]).unwrap(), b"012");
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_the_pending_writes() {
        for seed in 0..50 {
            let mut m = Model::new();
            let (f, _) = m.create(ROOT, os("f"), 0o644).unwrap();
            m.fsync(ROOT).unwrap();
            let fh = m.open(f, false).unwrap();
            m.write(fh, 0, b"aaaa").unwrap();
            m.write(fh, 4, b"bbbb").unwrap();
            m.write(fh, 8, b"cccc").unwrap();
            m.crash(Loss::Torn(seed));
            let got = content(&m, &["f"]).unwrap();
            assert!(
                b"aaaabbbbcccc".starts_with(&got),
                "seed {seed}: {got:?} is not a prefix"
            );
        }
    }

    #[test]
    fn a_torn_data_crash_keeps_new_names_and_tears_inside_a_write() {
        for seed in 0..50 {
            let mut m = Model::new();
            let (f, _) = m.create(ROOT, os("old"), 0o644).unwrap();
            m.fsync(ROOT).unwrap();
            let fh = m.open(f, false).unwrap();
            m.write(fh, 0, b"aaaa").unwrap();
            m.fsync(f).unwrap();
            m.write(fh, 4, b"bbbbbbbb").unwrap();
            m.create(ROOT, os("new"), 0o644).unwrap();
            m.crash(Loss::TornData(seed));
            let got = content(&m, &["old"]).unwrap();
            assert!(
                got.len() > 4 && got.len() < 12,
                "seed {seed}: not torn inside: {got:?}"
            );
            assert!(
                content(&m, &["new"]).is_some(),
                "seed {seed}: the new name was kept"
            );
        }
    }

    #[test]
    fn the_trigger_fires_on_the_counted_matching_operation() {
        let mut m = Model::new();
        let (d, _) = m.mkdir(ROOT, os("raft"), 0o755).unwrap();
        m.arm(Trigger {
            op: OpKind::Create,
            glob: "raft/*.wal".into(),
            remaining: 2,
        });
        assert!(
            !m.create(ROOT, os("x.wal"), 0o644).unwrap().1,
            "path does not match"
        );
        assert!(!m.create(d, os("1.wal"), 0o644).unwrap().1);
        assert!(m.create(d, os("2.wal"), 0o644).unwrap().1);
        assert_eq!(m.fired.as_deref(), Some("create raft/2.wal"));
        assert!(!m.create(d, os("3.wal"), 0o644).unwrap().1, "fires once");
    }

    #[test]
    fn journaled_metadata_is_committed_by_any_fsync() {
        let mut m = Model::new();
        m.metadata = Metadata::Journaled;
        let (d, _) = m.mkdir(ROOT, os("raft"), 0o755).unwrap();
        let (f, _) = m.create(d, os("1.wal"), 0o644).unwrap();
        let (g, _) = m.create(ROOT, os("other"), 0o644).unwrap();
        let fh = m.open(f, false).unwrap();
        m.write(fh, 0, b"entry").unwrap();
        m.fsync(g).unwrap(); // an unrelated fsync commits the journal: names, not data
        m.crash(Loss::Clean);
        assert_eq!(content(&m, &["raft", "1.wal"]).unwrap(), b"");
        let mut s = Model::new();
        let (d, _) = s.mkdir(ROOT, os("raft"), 0o755).unwrap();
        let (g, _) = s.create(d, os("other"), 0o644).unwrap();
        s.fsync(g).unwrap();
        s.crash(Loss::Clean);
        assert!(
            content(&s, &["raft"]).is_none(),
            "strict: the mkdir was never synced"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("raft/*.wal", "raft/0001.wal"));
        assert!(glob_match("*", "a/b/c"));
        assert!(glob_match("data*/*/*.log", "data-1/7/000.log"));
        assert!(!glob_match("raft/*.wal", "raft/0001.wal.tmp"));
        assert!(!glob_match("db/*", "raft/db/x"));
    }

    #[test]
    fn deleted_files_free_their_memory_once_the_deletion_is_durable() {
        let mut m = Model::new();
        let (f, _) = m.create(ROOT, os("big"), 0o644).unwrap();
        let fh = m.open(f, false).unwrap();
        m.write(fh, 0, &vec![7u8; 1 << 20]).unwrap();
        m.fsync(f).unwrap();
        m.fsync(ROOT).unwrap();
        m.release(fh);
        m.unlink(ROOT, os("big")).unwrap();
        assert!(m.bytes_held() > 0, "still named in the durable directory");
        m.fsync(ROOT).unwrap();
        assert_eq!(m.bytes_held(), 0);
    }
}
