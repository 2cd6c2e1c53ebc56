//! The record-batch codecs Kafka has, in pure Rust (the static musl build links no C): gzip
//! (flate2 on miniz_oxide), snappy (snap; raw blocks or the xerial framing the Java client
//! writes), lz4 (lz4_flex, LZ4 frames) and zstd (ruzstd). Decompression is bounded: a batch that
//! inflates past the limit is refused, so a small compressed bomb cannot exhaust memory.

use std::io::{Read, Write};

use bytes::Bytes;
use kafka_protocol::records::Compression;

/// The xerial snappy stream header: magic, then version 1 and compatible version 1.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Uncompressed bytes per xerial block when we write them (the Java client's block size).
const XERIAL_BLOCK: usize = 32 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{codec:?} data inflates past {limit} bytes")]
    TooLarge { codec: Compression, limit: usize },
    #[error("corrupt {codec:?} data: {reason}")]
    Corrupt { codec: Compression, reason: String },
}

fn corrupt(codec: Compression, e: impl std::fmt::Display) -> CodecError {
    CodecError::Corrupt {
        codec,
        reason: e.to_string(),
    }
}

/// Reads all of `r`, failing once more than `limit` bytes come out.
fn read_bounded(codec: Compression, r: impl Read, limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(CodecError::TooLarge { codec, limit });
    }
    Ok(out)
}

/// Inflates a batch's records section; at most `limit` bytes come out.
pub fn decompress(codec: Compression, data: &[u8], limit: usize) -> Result<Bytes, CodecError> {
    let out = match codec {
        Compression::None => {
            if data.len() > limit {
                return Err(CodecError::TooLarge { codec, limit });
            }
            data.to_vec()
        }
        Compression::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(data), limit)?,
        Compression::Snappy => snappy_decompress(data, limit)?,
        Compression::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), limit)?,
        Compression::Zstd => zstd_decompress(data, limit)?,
    };
    Ok(Bytes::from(out))
}

fn snappy_block(data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let c = Compression::Snappy;
    let len = snap::raw::decompress_len(data).map_err(|e| corrupt(c, e))?;
    if out.len() + len > limit {
        return Err(CodecError::TooLarge { codec: c, limit });
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(data, &mut out[start..])
        .map_err(|e| corrupt(c, e))?;
    Ok(())
}

fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let c = Compression::Snappy;
    let mut out = Vec::new();
    if data.len() < 16 || data[..8] != XERIAL_MAGIC {
        snappy_block(data, limit, &mut out)?;
        return Ok(out);
    }
    let mut rest = &data[16..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(corrupt(c, "truncated xerial block length"));
        }
        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if n > rest.len() {
            return Err(corrupt(c, "xerial block longer than the data"));
        }
        snappy_block(&rest[..n], limit, &mut out)?;
        rest = &rest[n..];
    }
    Ok(out)
}

fn zstd_decompress(mut data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let c = Compression::Zstd;
    let mut out = Vec::new();
    // A stream may hold several frames back to back.
    while !data.is_empty() {
        let decoder =
            ruzstd::decoding::StreamingDecoder::new(&mut data).map_err(|e| corrupt(c, e))?;
        let room = limit - out.len();
        let frame = read_bounded(c, decoder, room)?;
        out.extend_from_slice(&frame);
    }
    Ok(out)
}

/// Compresses a batch's records section.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, CodecError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).map_err(|e| corrupt(codec, e))?;
            enc.finish().map_err(|e| corrupt(codec, e))
        }
        Compression::Snappy => {
            // The xerial framing the Java client writes; every client reads it.
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK) {
                let block = enc.compress_vec(chunk).map_err(|e| corrupt(codec, e))?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).map_err(|e| corrupt(codec, e))?;
            enc.finish().map_err(|e| corrupt(codec, e))
        }
        Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(
            data,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in ALL {
            let z = compress(c, &data).unwrap();
            assert_eq!(decompress(c, &z, data.len()).unwrap(), data, "{c:?}");
        }
    }

    #[test]
    fn raw_snappy_blocks_decode_too() {
        let z = snap::raw::Encoder::new()
            .compress_vec(b"librdkafka writes raw snappy")
            .unwrap();
        assert_eq!(
            &decompress(Compression::Snappy, &z, 1024).unwrap()[..],
            b"librdkafka writes raw snappy"
        );
    }

    #[test]
    fn a_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        for c in ALL {
            let z = compress(c, &zeros).unwrap();
            assert!(
                matches!(decompress(c, &z, 4096), Err(CodecError::TooLarge { .. })),
                "{c:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            for c in ALL {
                let _ = decompress(c, &data, 1 << 16);
            }
        }
    }
}
