//! The kernel side: FUSE requests mapped onto the [`Model`]. No kernel caching (attributes and
//! names expire at once, files are opened `direct_io`), so what a program reads after a crash is
//! exactly the model's durable state.
//!
//! When the armed trigger fires, the filesystem freezes: every later request that would change
//! anything is parked without an answer — power is gone, nothing more reaches the disk — while
//! reads, `flush` and `release` are still answered so the killed process can exit. A crash answers
//! the parked requests with `EIO` (their processes are gone by then).

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::consts::FOPEN_DIRECT_IO;
use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use crate::model::{Errno, Ino, Inode, Model, R};

const TTL: Duration = Duration::ZERO;

/// A parked request's answer, given at the crash.
type Parked = Box<dyn FnOnce(Errno) + Send>;

pub struct State {
    pub model: Model,
    pub frozen: bool,
    pub parked: Vec<Parked>,
}

pub type Shared = Arc<Mutex<State>>;

pub fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

trait ErrReply: Send + 'static {
    fn fail(self, e: Errno);
}

macro_rules! err_reply {
    ($($t:ty),*) => {$(impl ErrReply for $t { fn fail(self, e: Errno) { self.error(e) } })*};
}
err_reply!(ReplyEmpty, ReplyEntry, ReplyAttr, ReplyCreate, ReplyWrite);

pub struct FaultFs {
    pub state: Shared,
}

fn attr(ino: Ino, i: &Inode) -> FileAttr {
    let size = i.size();
    FileAttr {
        ino,
        size,
        blocks: size.div_ceil(512),
        atime: i.mtime,
        mtime: i.mtime,
        ctime: i.ctime,
        crtime: i.ctime,
        kind: if i.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: i.perm,
        nlink: i.nlink(),
        uid: i.uid,
        gid: i.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl FaultFs {
    /// Runs a change unless frozen (then parks `reply`); `op` says whether it fired the trigger.
    fn change<Rep: ErrReply, T>(
        &self,
        reply: Rep,
        op: impl FnOnce(&mut Model) -> R<(T, bool)>,
        answer: impl FnOnce(&Model, Rep, T),
    ) {
        let mut st = lock(&self.state);
        if st.frozen {
            st.parked.push(Box::new(move |e| reply.fail(e)));
            return;
        }
        match op(&mut st.model) {
            Ok((v, fired)) => {
                st.frozen |= fired;
                answer(&st.model, reply, v);
            }
            Err(e) => reply.fail(e),
        }
    }

    fn entry(m: &Model, reply: ReplyEntry, ino: Ino) {
        match m.get(ino) {
            Ok(i) => reply.entry(&TTL, &attr(ino, i), 0),
            Err(e) => reply.error(e),
        }
    }

    fn attr_reply(m: &Model, reply: ReplyAttr, ino: Ino) {
        match m.get(ino) {
            Ok(i) => reply.attr(&TTL, &attr(ino, i)),
            Err(e) => reply.error(e),
        }
    }
}

fn perm(mode: u32, umask: u32) -> u16 {
    (mode & !umask & 0o7777) as u16
}

impl Filesystem for FaultFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let st = lock(&self.state);
        match st.model.lookup(parent, name) {
            Ok(ino) => Self::entry(&st.model, reply, ino),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        Self::attr_reply(&lock(&self.state).model, reply, ino);
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        self.change(
            reply,
            |m| {
                m.set_attrs(ino, mode.map(|p| perm(p, 0)), uid, gid)?;
                let fired = match size {
                    Some(len) => m.set_len(ino, len)?,
                    None => false,
                };
                Ok(((), fired))
            },
            |m, reply, ()| Self::attr_reply(m, reply, ino),
        );
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.change(
            reply,
            |m| m.mkdir(parent, name, perm(mode, umask)),
            Self::entry,
        );
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.change(
            reply,
            |m| Ok(((), m.unlink(parent, name)?)),
            |_, r, ()| r.ok(),
        );
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.change(
            reply,
            |m| Ok(((), m.rmdir(parent, name)?)),
            |_, r, ()| r.ok(),
        );
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        self.change(
            reply,
            |m| Ok(((), m.rename(parent, name, newparent, newname, flags)?)),
            |_, r, ()| r.ok(),
        );
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.change(
            reply,
            |m| Ok((ino, m.link(ino, newparent, newname)?)),
            Self::entry,
        );
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let mut st = lock(&self.state);
        match st.model.open(ino, flags & libc::O_DSYNC != 0) {
            Ok(fh) => reply.opened(fh, FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.change(
            reply,
            |m| {
                let (ino, fired) = m.create(parent, name, perm(mode, umask))?;
                let fh = m.open(ino, flags & libc::O_DSYNC != 0)?;
                Ok(((ino, fh), fired))
            },
            |m, reply, (ino, fh)| match m.get(ino) {
                Ok(i) => reply.created(&TTL, &attr(ino, i), 0, fh, FOPEN_DIRECT_IO),
                Err(e) => reply.error(e),
            },
        );
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        match lock(&self.state)
            .model
            .read(ino, offset.max(0) as u64, size as usize)
        {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let len = data.len() as u32;
        self.change(
            reply,
            |m| Ok(((), m.write(fh, offset.max(0) as u64, data)?)),
            |_, r, ()| r.written(len),
        );
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.state).model.release(fh);
        reply.ok();
    }

    fn fsync(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.change(reply, |m| Ok(((), m.fsync(ino)?)), |_, r, ()| r.ok());
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match lock(&self.state).model.readdir(ino) {
            Ok(e) => e,
            Err(e) => return reply.error(e),
        };
        let dots = [
            (OsStr::new(".").to_owned(), ino, true),
            (OsStr::new("..").to_owned(), ino, true),
        ];
        for (n, (name, child, dir)) in dots
            .into_iter()
            .chain(entries)
            .enumerate()
            .skip(offset.max(0) as usize)
        {
            let kind = if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            if reply.add(child, n as i64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.change(reply, |m| Ok(((), m.fsync(ino)?)), |_, r, ()| r.ok());
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        const BLOCKS: u64 = 1 << 26; // 256 GiB of 4 KiB blocks: never the limit in a test
        let used = lock(&self.state).model.bytes_held() / 4096;
        reply.statfs(
            BLOCKS,
            BLOCKS - used,
            BLOCKS - used,
            1 << 20,
            1 << 20,
            4096,
            255,
            4096,
        );
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(libc::EOPNOTSUPP);
        }
        self.change(
            reply,
            |m| {
                let end = (offset + length).max(0) as u64;
                let fired = if end > m.get(ino)?.size() {
                    m.set_len(ino, end)?
                } else {
                    false
                };
                Ok(((), fired))
            },
            |_, r, ()| r.ok(),
        );
    }
}
