//! The publish answers written straight into one buffer ([`RawJson`]): the bytes `axum::Json`
//! would send for the same struct (same field order, escaping and header), without serde_json's
//! serializer state machine writing each token through `BytesMut`'s `io::Write` (issue 18's
//! callgrind: ~2.5k instructions of a single publish's ~48k went to `Json::into_response`).
//! The answers' own `to_json` (`messages.rs`, `seed.rs`) write with [`push_str`] and [`push_u64`];
//! `json_reply_tests.rs` checks every writer against `serde_json::to_vec` of the struct.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// A JSON body already encoded: answered as `200` with `content-type: application/json`, as
/// `axum::Json` answers.
pub struct RawJson(pub Vec<u8>);

impl IntoResponse for RawJson {
    fn into_response(self) -> Response {
        let mut resp = Response::new(axum::body::Body::from(self.0));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// A JSON string: as is when nothing in it needs escaping (topic names never do), else through
/// serde_json (its escaping exactly).
pub(super) fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("a string encodes");
    }
}

/// A number in decimal, as serde_json writes it.
pub(super) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
