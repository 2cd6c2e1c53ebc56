//! Which partition an HTTP publish goes to (SPEC §8): the one named, else Kafka's default
//! partitioner on the key (`toPositive(murmur2(key)) % partitions`, so a key lands in the same
//! partition whichever protocol published it), else round-robin (per node).

use std::sync::atomic::{AtomicU32, Ordering};

/// Kafka's `Utils.murmur2` (seed `0x9747b28c`), as the Java client computes it.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ len as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `BuiltInPartitioner.partitionForKey`: `toPositive(murmur2(key)) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions.max(1)
}

/// Round-robin over a topic's partitions for publishes without a partition or key.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicU32,
}

impl RoundRobin {
    pub const fn new() -> RoundRobin {
        RoundRobin {
            next: AtomicU32::new(0),
        }
    }

    pub fn next(&self, partitions: u32) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed) % partitions.max(1)
    }
}

/// The partition of a publish: `explicit`, else by `key`, else round-robin; `Err` with the
/// partition named when it is out of range.
pub fn route(
    explicit: Option<u32>,
    key: Option<&str>,
    partitions: u32,
    rr: &RoundRobin,
) -> Result<u32, u32> {
    match (explicit, key) {
        (Some(p), _) if p >= partitions => Err(p),
        (Some(p), _) => Ok(p),
        (None, Some(k)) => Ok(partition_for_key(k.as_bytes(), partitions)),
        (None, None) => Ok(rr.next(partitions)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors (`UtilsTest.testMurmur2` of the Java client).
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, want) in cases {
            assert_eq!(murmur2(data), *want, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn routing_takes_the_partition_then_the_key_then_round_robin() {
        let rr = RoundRobin::default();
        assert_eq!(route(Some(2), Some("k"), 3, &rr), Ok(2));
        assert_eq!(route(Some(3), None, 3, &rr), Err(3));
        // toPositive(-790332482) % 16, as the Java client places "foobar".
        let want = ((-790332482i32 & 0x7fff_ffff) as u32) % 16;
        assert_eq!(route(None, Some("foobar"), 16, &rr), Ok(want));
        assert_eq!(partition_for_key(b"21", 1), 0);
        let rounds: Vec<u32> = (0..6).map(|_| route(None, None, 3, &rr).unwrap()).collect();
        assert_eq!(rounds, vec![0, 1, 2, 0, 1, 2]);
    }
}
