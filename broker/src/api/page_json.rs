//! The v1 read page (`GET /v1/topics/{topic}/messages`) written straight into one pre-sized
//! buffer, on the blocking thread that read the segments.
//!
//! A page is up to 10 000 messages: built as `MessageOut`s and serialized by serde_json, it cost a
//! `String` per value, a buffer that grew by doubling (each growth a copy and fresh pages) and an
//! `io::Write` call per fragment, on a runtime worker (bench/README.md, "Backlog read"). Here each
//! value's bytes are validated as UTF-8 once and escaped into the page directly. The output is
//! byte for byte what serde_json writes for [`super::messages::ReadResponse`] (the unit tests
//! compare them), so clients and the OpenAPI schema see no difference.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::json_reply::push_u64;
use crate::topics::Message;

/// Where a page ends and what comes next.
#[derive(Debug, Clone, Copy)]
pub struct PageEnd {
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
}

/// Fixed bytes per message besides its strings (field names, punctuation, numbers).
const PER_MESSAGE: usize = 128;

/// The page's JSON: `{"messages":[...],"next_offset":..,"high_watermark":..,"log_start_offset":..}`.
pub fn read_page(messages: &[Message], partition: u32, base64: bool, end: PageEnd) -> Vec<u8> {
    let size: usize = messages
        .iter()
        .map(|m| {
            let r = &m.record;
            let value = if base64 {
                r.value.len().div_ceil(3) * 4
            } else {
                r.value.len()
            };
            PER_MESSAGE
                + value
                + r.key.as_ref().map_or(0, String::len)
                + r.publisher.as_ref().map_or(0, String::len)
                + r.headers
                    .as_ref()
                    .map_or(0, |h| h.iter().map(|(k, v)| k.len() + v.len() + 6).sum())
        })
        .sum();
    let mut out = Vec::with_capacity(96 + size);
    out.extend_from_slice(b"{\"messages\":[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        message(&mut out, m, partition, base64);
    }
    out.extend_from_slice(b"],\"next_offset\":");
    push_u64(&mut out, end.next_offset);
    out.extend_from_slice(b",\"high_watermark\":");
    push_u64(&mut out, end.high_watermark);
    out.extend_from_slice(b",\"log_start_offset\":");
    push_u64(&mut out, end.log_start_offset);
    out.push(b'}');
    out
}

/// Server-Sent Events for `messages`, one after the other: `id: OFFSET`, `event: message`,
/// `data: ` the message as the v1 read shows it (what axum's `Event` wrote for each).
pub fn sse_events(messages: &[Message], partition: u32, base64: bool) -> Vec<u8> {
    let size: usize = messages
        .iter()
        .map(|m| 2 * PER_MESSAGE + m.record.value.len())
        .sum();
    let mut out = Vec::with_capacity(size);
    for m in messages {
        out.extend_from_slice(b"id: ");
        push_u64(&mut out, m.offset);
        out.extend_from_slice(b"\nevent: message\ndata: ");
        message(&mut out, m, partition, base64);
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// One `MessageOut`, fields in its declaration order.
fn message(out: &mut Vec<u8>, m: &Message, partition: u32, base64: bool) {
    let r = &m.record;
    out.extend_from_slice(b"{\"partition\":");
    push_u64(out, partition.into());
    out.extend_from_slice(b",\"offset\":");
    push_u64(out, m.offset);
    let text = if base64 {
        None
    } else {
        std::str::from_utf8(&r.value).ok()
    };
    match text {
        Some(text) => {
            out.extend_from_slice(b",\"value\":");
            string(out, text);
        }
        None => {
            out.extend_from_slice(b",\"value\":null,\"value_b64\":\"");
            let at = out.len();
            out.resize(at + r.value.len().div_ceil(3) * 4, 0);
            let n = B64
                .encode_slice(&r.value, &mut out[at..])
                .expect("sized for the encoding");
            out.truncate(at + n);
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"key\":");
    optional(out, r.key.as_deref());
    out.extend_from_slice(b",\"headers\":");
    match &r.headers {
        None => out.extend_from_slice(b"null"),
        Some(h) => {
            out.push(b'{');
            for (i, (k, v)) in h.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, k);
                out.push(b':');
                string(out, v);
            }
            out.push(b'}');
        }
    }
    out.extend_from_slice(b",\"timestamp_ms\":");
    push_u64(out, r.ts_ms);
    out.extend_from_slice(b",\"publisher\":");
    optional(out, r.publisher.as_deref());
    out.push(b'}');
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// What a byte becomes inside a JSON string, as serde_json writes it: 0 = itself, `u` = `\u00XX`,
/// else a backslash and this letter.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// A JSON string: runs without escapes are copied whole.
fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if e == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(e);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
