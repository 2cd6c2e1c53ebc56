//! Record batches (magic v2) in and out, through the kafka-protocol crate's codec with our
//! bounded decompression ([`super::compression`]).
//!
//! In: a Produce partition carries exactly one batch (Kafka ≥ 0.11 rule for v3+ requests); its
//! CRC-32C is checked by the crate, its records section inflated at most to the configured
//! limit, and the counts it claims are checked against the bytes present *before* the crate
//! decodes it: kafka-protocol 0.18 sizes its record vector and each record's header map from
//! those untrusted counts.
//! Out: fetched records become one uncompressed (or compressed, if configured) batch.

use bytes::{Buf, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::backend::{NewRecord, ProducerBatch, StoredRecord};
use super::compression;

/// Why a produced batch was refused; each maps to a Kafka error code in the Produce handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Bad CRC, bad lengths, undecodable data: CORRUPT_MESSAGE.
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// Well-formed but not acceptable (several batches, old magic, control batch): INVALID_RECORD.
    #[error("invalid record batch: {0}")]
    Invalid(String),
    /// Inflates past the limit: MESSAGE_TOO_LARGE.
    #[error("record batch too large: {0}")]
    TooLarge(String),
    /// A transactional batch: transactions are not supported.
    #[error("transactional batches are not supported")]
    Transactional,
}

/// One decoded Produce batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    pub records: Vec<NewRecord>,
    pub producer: Option<ProducerBatch>,
    pub compression: Compression,
}

/// The fewest bytes a v2 record takes: length, attributes, timestamp delta, offset delta, key
/// length, value length, header count (one byte each at least).
const MIN_RECORD: usize = 7;
/// The fewest bytes a record header takes: key length and value length.
const MIN_HEADER: usize = 2;

/// Decodes the single batch of a Produce partition.
pub fn decode_produce(
    records: &Bytes,
    max_inflated: usize,
    now_ms: i64,
) -> Result<DecodedBatch, BatchError> {
    let infos = RecordBatchDecoder::decode_batch_info(&mut records.clone())
        .map_err(|e| BatchError::Corrupt(e.to_string()))?;
    let info = match infos.as_slice() {
        [] => return Err(BatchError::Invalid("no record batch of magic v2".into())),
        [one] => one.clone(),
        more => {
            return Err(BatchError::Invalid(format!(
                "{} batches; a produce partition carries one",
                more.len()
            )))
        }
    };
    if info.transactional {
        return Err(BatchError::Transactional);
    }
    if info.control {
        return Err(BatchError::Invalid(
            "control batches come from brokers, not producers".into(),
        ));
    }
    if info.record_count == 0 {
        return Err(BatchError::Invalid("empty batch".into()));
    }
    let expected = info.record_count as usize;
    let inflate = |data: &mut Bytes, codec: Compression| -> anyhow::Result<Bytes> {
        let out = compression::decompress(codec, data, max_inflated).map_err(anyhow::Error::new)?;
        check_records(&out, expected)?;
        Ok(out)
    };
    let set =
        RecordBatchDecoder::decode_with_custom_compression(&mut records.clone(), Some(inflate))
            .map_err(|e| match e.downcast_ref::<compression::CodecError>() {
                Some(compression::CodecError::TooLarge { .. }) => {
                    BatchError::TooLarge(e.to_string())
                }
                _ => BatchError::Corrupt(format!("{e:#}")),
            })?;
    let producer = (info.producer_id >= 0).then_some(ProducerBatch {
        producer_id: info.producer_id,
        producer_epoch: info.producer_epoch,
        base_sequence: info.base_sequence,
    });
    let records = set
        .records
        .into_iter()
        .map(|r| NewRecord {
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            timestamp_ms: if r.timestamp < 0 { now_ms } else { r.timestamp },
        })
        .collect();
    Ok(DecodedBatch {
        records,
        producer,
        compression: info.compression,
    })
}

/// A zigzag varint (the record format's lengths and counts), at most 10 bytes.
fn varint(buf: &mut Bytes) -> anyhow::Result<i64> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        anyhow::ensure!(buf.has_remaining(), "truncated varint");
        let b = buf.get_u8();
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    anyhow::bail!("varint longer than 10 bytes")
}

/// Walks an (inflated) records section and checks it holds exactly `expected` records whose
/// header counts fit their bytes. It only bounds counts; the crate does the decoding.
fn check_records(section: &Bytes, expected: usize) -> anyhow::Result<()> {
    if expected > section.len() / MIN_RECORD {
        anyhow::bail!("{expected} records cannot fit in {} bytes", section.len());
    }
    let mut buf = section.clone();
    for i in 0..expected {
        let len = varint(&mut buf)?;
        let len =
            usize::try_from(len).map_err(|_| anyhow::anyhow!("record {i}: negative length"))?;
        anyhow::ensure!(
            len <= buf.remaining(),
            "record {i}: length {len} past the end"
        );
        let mut rec = buf.split_to(len);
        anyhow::ensure!(rec.remaining() >= 1, "record {i}: no attributes");
        rec.advance(1);
        varint(&mut rec)?;
        varint(&mut rec)?;
        for field in ["key", "value"] {
            let n = varint(&mut rec)?;
            if n > 0 {
                anyhow::ensure!(
                    n as u64 <= rec.remaining() as u64,
                    "record {i}: {field} past the end"
                );
                rec.advance(n as usize);
            }
        }
        let headers = varint(&mut rec)?;
        anyhow::ensure!(
            headers >= 0 && headers as u64 <= (rec.remaining() / MIN_HEADER) as u64,
            "record {i}: {headers} headers cannot fit in {} bytes",
            rec.remaining()
        );
    }
    anyhow::ensure!(
        !buf.has_remaining(),
        "{} bytes after the last record",
        buf.remaining()
    );
    Ok(())
}

/// Encodes fetched records (consecutive offsets) as one v2 batch.
pub fn encode_fetch(records: &[StoredRecord], compression: Compression) -> anyhow::Result<Bytes> {
    let Some(first) = records.first() else {
        return Ok(Bytes::new());
    };
    let base = first.offset;
    let batch: Vec<Record> = records
        .iter()
        .map(|r| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: r.offset,
            // The crate starts a new batch wherever `offset - sequence` changes; this keeps one
            // batch whose base sequence is -1 (no producer), as Kafka writes it.
            sequence: (r.offset - base - 1) as i32,
            timestamp: r.timestamp_ms,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    // Sized once: a fetch answers up to ~1 MiB of records, and a buffer grown by doubling cost
    // most of a Fetch (a copy and fresh pages at each step, twice: the crate's records buffer
    // and the batch). Uncompressed, the records are written straight into it.
    let mut buf = BytesMut::with_capacity(batch_bound(records));
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    if matches!(compression, Compression::None) {
        RecordBatchEncoder::encode(&mut buf, &batch, &options)?;
    } else {
        let compress =
            |raw: &mut BytesMut, out: &mut BytesMut, codec: Compression| -> anyhow::Result<()> {
                out.extend_from_slice(&compression::compress(codec, raw)?);
                Ok(())
            };
        RecordBatchEncoder::encode_with_custom_compression(
            &mut buf,
            &batch,
            &options,
            Some(compress),
        )?;
    }
    Ok(buf.freeze())
}

/// The v2 batch header: base offset, length, leader epoch, magic, CRC, attributes, last offset
/// delta, first and max timestamps, producer id and epoch, base sequence, record count.
const BATCH_HEADER: usize = 61;
/// A record's fixed part at its largest: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count (varints of at most 5 or 10 bytes).
const RECORD_OVERHEAD: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;

/// An upper bound of the uncompressed batch `encode_fetch` writes for `records`.
fn batch_bound(records: &[StoredRecord]) -> usize {
    BATCH_HEADER
        + records
            .iter()
            .map(|r| {
                RECORD_OVERHEAD
                    + r.key.as_ref().map_or(0, |k| k.len())
                    + r.value.as_ref().map_or(0, |v| v.len())
                    + r.headers
                        .iter()
                        .map(|(k, v)| 10 + k.len() + v.as_ref().map_or(0, |v| v.len()))
                        .sum::<usize>()
            })
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stored(n: i64) -> Vec<StoredRecord> {
        (0..n)
            .map(|i| StoredRecord {
                offset: 40 + i,
                timestamp_ms: 1_700_000_000_000 + i,
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; i as usize * 3])),
                headers: vec![
                    ("h".into(), Some(Bytes::from_static(b"x"))),
                    ("n".into(), None),
                ],
            })
            .collect()
    }

    /// Produce-side decoding of what fetch-side encoding writes, for every codec: values, keys,
    /// headers and timestamps survive, and one batch carries them all.
    #[test]
    fn batches_round_trip_in_every_codec() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let recs = stored(20);
            let wire = encode_fetch(&recs, c).unwrap();
            assert_eq!(
                RecordBatchDecoder::decode_batch_info(&mut wire.clone())
                    .unwrap()
                    .len(),
                1,
                "{c:?}"
            );
            let got = decode_produce(&wire, 1 << 20, 0).unwrap();
            assert_eq!(got.compression, c);
            assert_eq!(got.producer, None);
            assert_eq!(got.records.len(), 20);
            for (a, b) in recs.iter().zip(&got.records) {
                assert_eq!(
                    (&a.key, &a.value, &a.headers, a.timestamp_ms),
                    (&b.key, &b.value, &b.headers, b.timestamp_ms)
                );
            }
        }
    }

    /// A fetch's uncompressed batch fits the buffer it is given up front (so it never grows and
    /// copies), whatever the records' sizes, timestamps and headers.
    #[test]
    fn an_uncompressed_fetch_batch_fits_its_presized_buffer() {
        let mut shapes = vec![stored(1), stored(200)];
        shapes.push(
            (0..50)
                .map(|i| StoredRecord {
                    offset: i64::from(i) * 1000,
                    timestamp_ms: if i % 2 == 0 { 0 } else { i64::MAX / 2 },
                    key: Some(Bytes::from(vec![b'k'; 200 * i as usize])),
                    value: (i % 3 != 0).then(|| Bytes::from(vec![b'v'; 70_000])),
                    headers: (0..i)
                        .map(|h| (format!("header-{h}"), Some(Bytes::from(vec![b'h'; 130]))))
                        .collect(),
                })
                .collect(),
        );
        for recs in shapes {
            let wire = encode_fetch(&recs, Compression::None).unwrap();
            assert!(
                wire.len() <= batch_bound(&recs),
                "{} bytes written, {} reserved",
                wire.len(),
                batch_bound(&recs)
            );
            let set = RecordBatchDecoder::decode(&mut wire.clone()).unwrap();
            assert_eq!(set.records.len(), recs.len());
        }
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut wire = encode_fetch(&stored(3), Compression::None)
            .unwrap()
            .to_vec();
        let last = wire.len() - 2;
        wire[last] ^= 1;
        assert!(matches!(
            decode_produce(&Bytes::from(wire), 1 << 20, 0),
            Err(BatchError::Corrupt(_))
        ));
    }

    #[test]
    fn inflating_past_the_limit_is_too_large() {
        let recs = vec![StoredRecord {
            offset: 0,
            timestamp_ms: 1,
            key: None,
            value: Some(Bytes::from(vec![0u8; 100_000])),
            headers: vec![],
        }];
        let wire = encode_fetch(&recs, Compression::Gzip).unwrap();
        assert!(matches!(
            decode_produce(&wire, 10_000, 0),
            Err(BatchError::TooLarge(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Any corruption of a valid batch (bytes flipped, cut, extended) is an error, not a panic
        /// or an absurd allocation.
        #[test]
        fn mangled_batches_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>(), codec in 0usize..5) {
            let codecs = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
            let mut wire = encode_fetch(&stored(5), codecs[codec]).unwrap().to_vec();
            let i = pos.index(wire.len());
            wire[i] = byte;
            let _ = decode_produce(&Bytes::from(wire.clone()), 1 << 16, 0);
            wire.truncate(cut.index(wire.len()));
            let _ = decode_produce(&Bytes::from(wire), 1 << 16, 0);
        }

        /// A forged batch (valid CRC) claiming any counts is refused before the crate sizes
        /// anything from those counts.
        #[test]
        fn forged_counts_are_refused(section in proptest::collection::vec(any::<u8>(), 0..64), count in any::<i32>()) {
            let _ = check_records(&Bytes::from(section), count.max(0) as usize);
        }
    }
}
