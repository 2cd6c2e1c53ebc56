//! Kafka framing: a big-endian `i32` size, then the request (header + body); responses mirror
//! it. The size is checked against the limit *before* any buffer is sized from it, and the buffer
//! grows only as bytes arrive, so a lying size costs nothing. Anything that is not a well-formed
//! header of a supported API closes the connection ([`ConnError`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::ConnError;
use super::versions;

/// Bytes of `api_key`, `api_version` and `correlation_id`: the least a request can carry.
const MIN_REQUEST: i64 = 8;
/// Growth step of a frame buffer while its bytes arrive.
const READ_CHUNK: usize = 64 * 1024;

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Bytes>, ConnError> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i64::from(i32::from_be_bytes(size));
    // Only a negative size is refused here: a frame is not always a request (after SaslHandshake
    // v0 the bare SASL token comes in one, and a short token is valid); `parse_request` refuses a
    // request shorter than its header.
    if size < 0 {
        return Err(ConnError::FrameTooShort { size });
    }
    if size > max as i64 {
        return Err(ConnError::FrameTooLarge { size, max });
    }
    let size = size as usize;
    let mut buf = BytesMut::with_capacity(size.min(READ_CHUNK));
    while buf.len() < size {
        let want = (size - buf.len()).min(READ_CHUNK);
        buf.reserve(want);
        let n = r.read_buf(&mut (&mut buf).limit(want)).await?;
        if n == 0 {
            return Err(ConnError::Malformed {
                what: "frame",
                reason: format!(
                    "truncated: {} of {size} bytes before end of stream",
                    buf.len()
                ),
            });
        }
    }
    Ok(Some(buf.freeze()))
}

/// A request whose header parsed and whose API is one this listener serves.
#[derive(Debug)]
pub struct RawRequest {
    pub api: ApiKey,
    pub header: RequestHeader,
    /// The body, still encoded (decoded by the API's handler at `header.request_api_version`).
    pub body: Bytes,
    /// ApiVersions asked at a version newer than ours: answered with our table (KIP-511).
    pub version_unsupported: bool,
}

/// Splits a frame into header and body.
pub fn parse_request(mut frame: Bytes) -> Result<RawRequest, ConnError> {
    if frame.len() < MIN_REQUEST as usize {
        return Err(ConnError::FrameTooShort {
            size: frame.len() as i64,
        });
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let range = versions::supported(api_key).ok_or(ConnError::UnknownApiKey { api_key })?;
    let api = ApiKey::try_from(api_key).map_err(|_| ConnError::UnknownApiKey { api_key })?;
    let in_range = (range.min..=range.max).contains(&version);
    // KIP-511: a client that tries a newer ApiVersions learns ours instead of being dropped.
    let version_unsupported = !in_range && api == ApiKey::ApiVersions && version > range.max;
    if !in_range && !version_unsupported {
        return Err(ConnError::UnsupportedVersion {
            api: versions::name(api),
            version,
            min: range.min,
            max: range.max,
        });
    }
    let header_version = if version_unsupported {
        // A newer ApiVersions still uses the flexible header (v2) that v3 introduced.
        api.request_header_version(range.max)
    } else {
        api.request_header_version(version)
    };
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|e| ConnError::Malformed {
            what: "request header",
            reason: e.to_string(),
        })?;
    Ok(RawRequest {
        api,
        header,
        body: frame,
        version_unsupported,
    })
}

/// Encodes a response frame: size, header (`correlation_id`), body at `version`.
pub fn encode_response<M: Encodable>(
    api: ApiKey,
    header_version: i16,
    correlation_id: i32,
    body: &M,
    version: i16,
) -> Result<Bytes, ConnError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let err = |e: anyhow::Error| ConnError::Encode {
        api: versions::name(api),
        reason: e.to_string(),
    };
    let size = header.compute_size(header_version).map_err(err)?
        + body.compute_size(version).map_err(err)?;
    let size_i32 = i32::try_from(size).map_err(|_| ConnError::Encode {
        api: versions::name(api),
        reason: format!("response of {size} bytes"),
    })?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size_i32);
    header.encode(&mut buf, header_version).map_err(err)?;
    body.encode(&mut buf, version).map_err(err)?;
    Ok(buf.freeze())
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> Result<(), ConnError> {
    w.write_all(frame).await?;
    Ok(())
}

/// Decodes a request body; trailing bytes are tolerated (newer clients may append tagged data).
pub fn decode_body<T: Decodable>(
    api: ApiKey,
    mut body: Bytes,
    version: i16,
) -> Result<T, ConnError> {
    let v = T::decode(&mut body, version).map_err(|e| ConnError::Malformed {
        what: versions::name(api),
        reason: e.to_string(),
    })?;
    let _ = body.remaining();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(bytes: &[u8]) -> Vec<u8> {
        let mut v = (bytes.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(bytes);
        v
    }

    fn read(input: Vec<u8>, max: usize) -> Result<Option<Bytes>, ConnError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move { read_frame(&mut input.as_slice(), max).await })
    }

    #[test]
    fn absurd_size_is_refused_before_reading_the_body() {
        let mut input = i32::MAX.to_be_bytes().to_vec();
        input.extend_from_slice(b"tiny");
        assert!(
            matches!(read(input, 1024), Err(ConnError::FrameTooLarge { size, max: 1024 }) if size == i32::MAX as i64)
        );
        assert!(matches!(
            read((-5i32).to_be_bytes().to_vec(), 1024),
            Err(ConnError::FrameTooShort { size: -5 })
        ));
    }

    #[test]
    fn truncated_frame_is_malformed_and_clean_eof_is_none() {
        let mut input = frame(&[0u8; 20]);
        input.truncate(14);
        assert!(matches!(
            read(input, 1024),
            Err(ConnError::Malformed { what: "frame", .. })
        ));
        assert!(read(Vec::new(), 1024).unwrap().is_none());
        assert_eq!(read(frame(b"abc"), 1024).unwrap().unwrap(), &b"abc"[..]);
        assert!(matches!(
            parse_request(Bytes::from_static(b"abc")),
            Err(ConnError::FrameTooShort { size: 3 })
        ));
        assert!(matches!(read(vec![0, 0], 1024), Ok(None)));
    }

    #[test]
    fn unknown_api_key_and_unsupported_version_are_refused() {
        let mut req = vec![0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
        assert!(matches!(
            parse_request(Bytes::from(req.clone())),
            Err(ConnError::UnknownApiKey { api_key: 0x7f00 })
        ));
        req[0] = 0;
        req[1] = 0; // Produce
        req[3] = 1; // v1: removed in Kafka 4, below what we serve
        assert!(matches!(
            parse_request(Bytes::from(req)),
            Err(ConnError::UnsupportedVersion { version: 1, .. })
        ));
    }

    #[test]
    fn newer_api_versions_is_answered_not_dropped() {
        // ApiVersions v99, correlation 7, flexible header: client id (nullable string), no tags.
        let req = vec![0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff, 0];
        let r = parse_request(Bytes::from(req)).unwrap();
        assert!(r.version_unsupported);
        assert_eq!(r.header.correlation_id, 7);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever the bytes, reading and parsing a frame returns (Ok or Err), never panics.
        #[test]
        fn arbitrary_frames_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256), lie in any::<i32>()) {
            let mut input = if lie % 3 == 0 { lie.to_be_bytes().to_vec() } else { (body.len() as i32).to_be_bytes().to_vec() };
            input.extend_from_slice(&body);
            if let Ok(Some(frame)) = read(input, 4096) {
                let _ = parse_request(frame);
            }
        }
    }
}
