//! The Kafka wire as `jumpnet bench --kafka` speaks it: request frames and responses through the
//! `kafka-protocol` crate's codecs, and a connection used one request at a time for Metadata,
//! ListOffsets and the Fetch drain (the produce connections pipeline, in `kafka.rs`).

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    fetch_request, list_offsets_request, metadata_request, ApiKey, BrokerId, FetchRequest,
    ListOffsetsRequest, MetadataRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::report::Phase;

/// The versions spoken: the newest the listener serves that still name topics (SPEC §8).
const FETCH_V: i16 = 12;
const METADATA_V: i16 = 9;
const LIST_OFFSETS_V: i16 = 6;
/// Longest response frame read (a Fetch answers at most --fetch-max-bytes of records).
const MAX_RESPONSE: usize = 256 << 20;
/// How long the topic may take to appear after Metadata asked to create it.
const TOPIC_WAIT: Duration = Duration::from_secs(30);

pub(super) fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// A request frame: size, header (flexible or not, as the API's version says), body.
pub(super) fn request_frame<R: Request>(
    req: &R,
    version: i16,
    correlation: i32,
) -> anyhow::Result<Bytes> {
    let api = ApiKey::try_from(R::KEY)
        .map_err(|_| anyhow::anyhow!("unknown Kafka API key {}", R::KEY))?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("jumpnet-bench")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header.encode(&mut buf, api.request_header_version(version))?;
    req.encode(&mut buf, version)?;
    let size = i32::try_from(buf.len() - 4)?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// The next response frame, decoded: its correlation id and body.
pub(super) async fn read_response<R: Request, S: AsyncRead + Unpin>(
    rd: &mut S,
    version: i16,
) -> anyhow::Result<(i32, R::Response)> {
    let size = rd.read_i32().await?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| (4..=MAX_RESPONSE).contains(s))
        .ok_or_else(|| anyhow::anyhow!("a Kafka response of {size} bytes"))?;
    let mut buf = BytesMut::zeroed(size);
    rd.read_exact(&mut buf).await?;
    let mut frame = buf.freeze();
    let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))?;
    let body = R::Response::decode(&mut frame, version)?;
    Ok((header.correlation_id, body))
}

/// A connection used one request at a time (Metadata, ListOffsets, Fetch).
pub(super) struct Wire {
    pub(super) stream: TcpStream,
    correlation: i32,
}

impl Wire {
    pub(super) async fn connect(addr: &str) -> anyhow::Result<Wire> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| anyhow::anyhow!("--kafka {addr}: {e}"))?;
        stream.set_nodelay(true)?;
        Ok(Wire {
            stream,
            correlation: 0,
        })
    }

    async fn call<R: Request>(&mut self, req: &R, version: i16) -> anyhow::Result<R::Response> {
        self.correlation = self.correlation.wrapping_add(1);
        let frame = request_frame(req, version, self.correlation)?;
        send_all(&mut self.stream, &frame).await?;
        let (got, r) = read_response::<R, _>(&mut self.stream, version).await?;
        anyhow::ensure!(
            got == self.correlation,
            "answer {got} to request {}",
            self.correlation
        );
        Ok(r)
    }

    /// Metadata for the topic, allowing auto-creation (1 partition), until it is there.
    pub(super) async fn ensure_topic(&mut self, topic: &str) -> anyhow::Result<()> {
        let until = Instant::now() + TOPIC_WAIT;
        loop {
            let req = MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(topic_name(topic)))]))
                .with_allow_auto_topic_creation(true);
            let r = self.call(&req, METADATA_V).await?;
            let why = match r.topics.first() {
                Some(t) if t.error_code == 0 && !t.partitions.is_empty() => return Ok(()),
                Some(t) => format!("error code {}", t.error_code),
                None => "no topic in the answer".into(),
            };
            anyhow::ensure!(
                Instant::now() < until,
                "topic {topic} is not there after {TOPIC_WAIT:?}: {why}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Partition 0's log start and high watermark (ListOffsets earliest, latest).
    pub(super) async fn offsets(&mut self, topic: &str) -> anyhow::Result<(u64, u64)> {
        let mut out = [0u64; 2];
        for (slot, timestamp) in [(0, -2i64), (1, -1)] {
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(timestamp),
                    ])]);
            let r = self.call(&req, LIST_OFFSETS_V).await?;
            let p = r
                .topics
                .first()
                .and_then(|t| t.partitions.first())
                .ok_or_else(|| anyhow::anyhow!("ListOffsets of {topic}: no partition"))?;
            anyhow::ensure!(
                p.error_code == 0,
                "ListOffsets of {topic}: error code {}",
                p.error_code
            );
            out[slot] = u64::try_from(p.offset)?;
        }
        Ok((out[0], out[1]))
    }

    /// Fetches partition 0 from `from` until `to`, one Fetch at a time; returns (records, fetches).
    pub(super) async fn drain(
        &mut self,
        topic: &str,
        from: u64,
        to: u64,
        max_bytes: i32,
        phase: &Phase,
    ) -> anyhow::Result<(u64, u64)> {
        let (mut next, mut got, mut fetches) = (from, 0u64, 0u64);
        while next < to {
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(max_bytes)
                .with_topics(vec![fetch_request::FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(next as i64)
                        .with_partition_max_bytes(max_bytes)])]);
            let t = Instant::now();
            let r = self.call(&req, FETCH_V).await?;
            phase.record(t.elapsed());
            fetches += 1;
            let p = r
                .responses
                .first()
                .and_then(|t| t.partitions.first())
                .ok_or_else(|| anyhow::anyhow!("Fetch of {topic}: no partition"))?;
            anyhow::ensure!(
                p.error_code == 0,
                "Fetch of {topic} at {next}: error code {}",
                p.error_code
            );
            let before = next;
            let mut records = p.records.clone().unwrap_or_default();
            // Batch headers only (CRC checked): a batch may start before the fetch offset.
            for b in RecordBatchDecoder::decode_batch_info(&mut records)? {
                let end = u64::try_from(b.min_offset + i64::from(b.record_count))?;
                let start = u64::try_from(b.min_offset)?.max(next);
                if end > start {
                    got += end - start;
                    next = end;
                }
            }
            anyhow::ensure!(
                next > before,
                "the Fetch at offset {before} made no progress"
            );
        }
        Ok((got, fetches))
    }
}

async fn send_all<S: AsyncWrite + Unpin>(w: &mut S, frame: &[u8]) -> anyhow::Result<()> {
    w.write_all(frame).await?;
    Ok(())
}
