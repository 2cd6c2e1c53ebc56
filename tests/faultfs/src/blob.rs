//! A file's bytes as copy-on-write chunks: cloning a [`Blob`] is cheap (it shares the chunks), and
//! a write copies only the chunks it touches. That is what makes an `fsync` (durable := current)
//! and a crash (current := durable) cost a pointer copy per chunk instead of a copy of the file.

use std::sync::Arc;

const CHUNK: usize = 64 * 1024;

#[derive(Clone, Default)]
pub struct Blob {
    /// `None` is a hole (zeros). Bytes past `len` in the last chunk are always zero.
    chunks: Vec<Option<Arc<Vec<u8>>>>,
    len: u64,
}

impl Blob {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn read(&self, off: u64, size: usize) -> Vec<u8> {
        if off >= self.len {
            return Vec::new();
        }
        let end = (off + size as u64).min(self.len);
        let mut out = Vec::with_capacity((end - off) as usize);
        let mut pos = off;
        while pos < end {
            let (ci, co) = ((pos / CHUNK as u64) as usize, (pos % CHUNK as u64) as usize);
            let n = ((CHUNK - co) as u64).min(end - pos) as usize;
            match self.chunks.get(ci).and_then(|c| c.as_ref()) {
                Some(c) => out.extend_from_slice(&c[co..co + n]),
                None => out.resize(out.len() + n, 0),
            }
            pos += n as u64;
        }
        out
    }

    pub fn write(&mut self, off: u64, data: &[u8]) {
        let end = off + data.len() as u64;
        let need = end.div_ceil(CHUNK as u64) as usize;
        if self.chunks.len() < need {
            self.chunks.resize(need, None);
        }
        let mut done = 0usize;
        while done < data.len() {
            let pos = off + done as u64;
            let (ci, co) = ((pos / CHUNK as u64) as usize, (pos % CHUNK as u64) as usize);
            let n = (CHUNK - co).min(data.len() - done);
            let chunk = self.chunks[ci].get_or_insert_with(|| Arc::new(vec![0; CHUNK]));
            Arc::make_mut(chunk)[co..co + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.len = self.len.max(end);
    }

    pub fn set_len(&mut self, len: u64) {
        if len < self.len {
            let keep = len.div_ceil(CHUNK as u64) as usize;
            self.chunks.truncate(keep);
            let tail = (len % CHUNK as u64) as usize;
            if tail != 0 {
                if let Some(Some(c)) = self.chunks.last_mut() {
                    Arc::make_mut(c)[tail..].fill(0);
                }
            }
        }
        self.len = len;
    }

    /// Bytes held (chunks not shared with another blob counted in full).
    pub fn allocated(&self) -> u64 {
        self.chunks.iter().flatten().count() as u64 * CHUNK as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_read_back_across_chunks_and_holes_read_as_zeros() {
        let mut b = Blob::default();
        b.write(CHUNK as u64 * 2 - 3, b"abcdef");
        assert_eq!(b.len(), CHUNK as u64 * 2 + 3);
        assert_eq!(b.read(CHUNK as u64 * 2 - 3, 6), b"abcdef");
        assert_eq!(b.read(10, 4), vec![0; 4]);
        assert_eq!(b.read(b.len() - 1, 100), b"f");
    }

    #[test]
    fn a_clone_is_unaffected_by_later_writes() {
        let mut cur = Blob::default();
        cur.write(0, b"durable");
        let dur = cur.clone();
        cur.write(0, b"VOLATILE");
        assert_eq!(dur.read(0, 100), b"durable");
        assert_eq!(cur.read(0, 100), b"VOLATILE");
    }

    #[test]
    fn shrinking_then_growing_shows_zeros_not_old_bytes() {
        let mut b = Blob::default();
        b.write(0, b"0123456789");
        b.set_len(4);
        b.set_len(8);
        assert_eq!(b.read(0, 100), b"0123\0\0\0\0");
        b.set_len(0);
        assert_eq!(b.read(0, 10), b"");
    }
}
