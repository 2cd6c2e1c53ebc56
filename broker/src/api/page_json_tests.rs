//! The hand-written read page against what serde_json writes for the same messages (a file of
//! its own: `messages` uses `page_json`, so `page_json` cannot name `messages`).

use std::collections::BTreeMap;

use super::page_json::{read_page, sse_events, PageEnd};
use crate::api::messages::{MessageOut, ReadResponse};
use crate::topics::{Message, MessageRecord};

fn msg(offset: u64, value: &[u8], key: Option<&str>, headers: &[(&str, &str)]) -> Message {
    Message {
        offset,
        record: MessageRecord {
            ts_ms: 1_764_000_000_000 + offset,
            cum_bytes: 0,
            publisher: (offset % 2 == 0).then(|| format!("pub\"{offset}")),
            key: key.map(String::from),
            headers: (!headers.is_empty()).then(|| {
                headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            }),
            value: value.to_vec(),
        },
    }
}

/// What the handler answered before: serde_json over `MessageOut`s.
fn serde_page(messages: &[Message], partition: u32, base64: bool, end: PageEnd) -> Vec<u8> {
    serde_json::to_vec(&ReadResponse {
        messages: messages
            .iter()
            .cloned()
            .map(|m| MessageOut {
                partition,
                ..MessageOut::new(m, base64)
            })
            .collect(),
        next_offset: end.next_offset,
        high_watermark: end.high_watermark,
        log_start_offset: end.log_start_offset,
    })
    .unwrap()
}

#[test]
fn a_page_is_byte_for_byte_what_serde_json_writes() {
    let every_control: Vec<u8> = (0u8..0x20).chain([b'"', b'\\', 0x7f, b'/']).collect();
    let messages = vec![
        msg(0, b"plain text", None, &[]),
        msg(
            1,
            "h\u{e9}llo \u{1f980} \u{2028}".as_bytes(),
            Some("k\n\"ey\""),
            &[],
        ),
        msg(
            2,
            &every_control,
            Some(""),
            &[("a\tb", "c\\d"), ("", "\u{0}")],
        ),
        msg(
            3,
            &[0xff, 0xfe, 0x00, b'a'],
            None,
            &[("content-type", "bin")],
        ),
        msg(4, b"", Some("key"), &[]),
        msg(u64::MAX - 1, &[0xc3], None, &[]),
    ];
    for base64 in [false, true] {
        for partition in [0, 7] {
            let end = PageEnd {
                next_offset: 42,
                high_watermark: u64::MAX,
                log_start_offset: 0,
            };
            let ours = read_page(&messages, partition, base64, end);
            let theirs = serde_page(&messages, partition, base64, end);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "base64={base64} partition={partition}"
            );
            let back: ReadResponse = serde_json::from_slice(&ours).unwrap();
            assert_eq!(back.messages.len(), messages.len());
        }
    }
    let end = PageEnd {
        next_offset: 5,
        high_watermark: 5,
        log_start_offset: 5,
    };
    assert_eq!(
        read_page(&[], 0, false, end),
        serde_page(&[], 0, false, end)
    );
}

#[test]
fn sse_events_are_what_axum_wrote_for_each_message() {
    let messages = vec![
        msg(0, b"plain", None, &[]),
        msg(1, b"line\nbreak\r\n", Some("k"), &[("h", "v")]),
        msg(2, &[0xff, 0x00], None, &[]),
    ];
    for base64 in [false, true] {
        let want: String = messages
            .iter()
            .cloned()
            .map(|m| {
                let id = m.offset;
                let data = serde_json::to_string(&MessageOut {
                    partition: 2,
                    ..MessageOut::new(m, base64)
                })
                .unwrap();
                format!("id: {id}\nevent: message\ndata: {data}\n\n")
            })
            .collect();
        assert_eq!(
            String::from_utf8(sse_events(&messages, 2, base64)).unwrap(),
            want
        );
    }
    assert!(sse_events(&[], 0, false).is_empty());
}

#[test]
fn every_byte_value_and_length_round_trips() {
    // Values of every length up to 40 and every single byte: escapes at the start, the end,
    // back to back, and base64 padding of each kind.
    let mut messages = Vec::new();
    for b in 0..=255u8 {
        messages.push(msg(b as u64, &[b], None, &[]));
    }
    for len in 0..40u64 {
        let v: Vec<u8> = (0..len).map(|i| (i * 37 % 128) as u8).collect();
        messages.push(msg(
            1000 + len,
            &v,
            Some(std::str::from_utf8(&v).unwrap()),
            &[],
        ));
    }
    let end = PageEnd {
        next_offset: 1,
        high_watermark: 2,
        log_start_offset: 3,
    };
    for base64 in [false, true] {
        assert_eq!(
            read_page(&messages, 3, base64, end),
            serde_page(&messages, 3, base64, end),
            "base64={base64}"
        );
    }
}
