use axum::body::to_bytes;
use axum::response::IntoResponse;

use super::json_reply::{push_str, push_u64};
use super::messages::PublishResponse;
use super::seed::SeedPublished;

#[test]
fn numbers_are_written_as_serde_json_writes_them() {
    for n in [
        0,
        1,
        9,
        10,
        99,
        100,
        12_345,
        u64::from(u32::MAX),
        u64::MAX - 1,
        u64::MAX,
    ] {
        let mut out = Vec::new();
        push_u64(&mut out, n);
        assert_eq!(out, serde_json::to_vec(&n).unwrap(), "{n}");
    }
}

#[test]
fn strings_are_escaped_as_serde_json_escapes_them() {
    for s in [
        "orders",
        "",
        "a\"b",
        "back\\slash",
        "tab\there",
        "nl\n",
        "\u{1}",
        "café ✓",
        "x\u{7f}",
    ] {
        let mut out = Vec::new();
        push_str(&mut out, s);
        assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
    }
}

#[test]
fn a_publish_answer_is_the_bytes_serde_json_writes_for_it() {
    let answers = [
        (0, 0, vec![0], false),
        (3, 41, vec![41], true),
        (
            7,
            u64::MAX - 2,
            vec![u64::MAX - 2, u64::MAX - 1, u64::MAX],
            false,
        ),
        (0, 5, vec![], false),
    ];
    for topic in ["orders", "we\"ird"] {
        for (partition, base_offset, offsets, duplicate) in answers.clone() {
            let r = PublishResponse {
                topic: topic.into(),
                partition,
                base_offset,
                offsets,
                duplicate,
            };
            assert_eq!(r.to_json().0, serde_json::to_vec(&r).unwrap(), "{r:?}");
        }
        for offset in [0, 17, u64::MAX] {
            let r = SeedPublished {
                topic: topic.into(),
                offset,
            };
            assert_eq!(r.to_json().0, serde_json::to_vec(&r).unwrap());
        }
    }
}

#[tokio::test]
async fn a_raw_answer_has_the_status_headers_and_body_of_axum_json() {
    let r = PublishResponse {
        topic: "orders".into(),
        partition: 1,
        base_offset: 9,
        offsets: vec![9, 10],
        duplicate: false,
    };
    let raw = r.to_json().into_response();
    let json = axum::Json(&r).into_response();
    assert_eq!(raw.status(), json.status());
    assert_eq!(raw.headers(), json.headers());
    assert_eq!(
        axum::body::HttpBody::size_hint(raw.body()).exact(),
        axum::body::HttpBody::size_hint(json.body()).exact()
    );
    assert_eq!(
        to_bytes(raw.into_body(), usize::MAX).await.unwrap(),
        to_bytes(json.into_body(), usize::MAX).await.unwrap()
    );
}
