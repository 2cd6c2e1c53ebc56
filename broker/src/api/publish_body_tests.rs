//! The publish body the server parses (borrowing from the body) against the documented request
//! it replaced on the server: the same bodies accepted with the same values, the same ones refused
//! with the same SPEC §3 error (a file of its own: `messages` uses `extract`).

use bytes::Bytes;

use super::extract::parse_json;
use super::messages::PublishRequest;
use super::publish_body::PublishRequest as PublishBody;

/// What a body parses into, or its error (status, code, text), either way.
type Parsed = Result<Vec<(Vec<u8>, Option<String>, String)>, (u16, String, String)>;

fn err(e: super::error::ApiError) -> (u16, String, String) {
    (e.status.as_u16(), format!("{:?}", e.code), e.message)
}

fn documented(body: &[u8]) -> Parsed {
    let req: PublishRequest = parse_json(body).map_err(err)?;
    let extra = format!(
        "{:?} {:?} {:?} {:?}",
        req.producer_id, req.sequence, req.producer_epoch, req.partition
    );
    req.messages
        .into_iter()
        .map(|mut m| {
            let v = m
                .take_value()
                .map_err(|e| (400, "InvalidField".into(), e))?;
            Ok((v, m.key, format!("{:?} {extra}", m.headers)))
        })
        .collect()
}

fn borrowed(body: &Bytes) -> Parsed {
    let req: PublishBody = parse_json(body).map_err(err)?;
    let extra = format!(
        "{:?} {:?} {:?} {:?}",
        req.producer_id, req.sequence, req.producer_epoch, req.partition
    );
    req.messages
        .into_iter()
        .map(|mut m| {
            let v = m
                .take_value(body)
                .map_err(|e| (400, "InvalidField".into(), e))?;
            Ok((v.to_vec(), m.key, format!("{:?} {extra}", m.headers)))
        })
        .collect()
}

#[test]
fn a_publish_body_parses_as_the_documented_request_does() {
    let bodies: &[&[u8]] = &[
        br#"{"messages":[{"value":"a"},{"value":""}]}"#,
        br#"{"messages":[{"value":"a\"b\u00e9\n\\"}]}"#,
        "{\"messages\":[{\"value\":\"h\u{e9}llo \u{2713}\"}]}".as_bytes(),
        br#"{"messages":[{"value":"\ud83d\ude00"}]}"#,
        br#"{"messages":[{"value_b64":"AP8="},{"value_b64":"aGk\u003d"}]}"#,
        br#"{"messages":[{"value_b64":"!!"}]}"#,
        br#"{"messages":[{"value":"a","value_b64":"AP8="}]}"#,
        br#"{"messages":[{}]}"#,
        br#"{"messages":[{"value":null}]}"#,
        br#"{"messages":[{"value":1}]}"#,
        br#"{"messages":[{"value_b64":["x"]}]}"#,
        br#"{"messages":[{"value":"a","nope":1}]}"#,
        br#"{"messages":[{"value":"a"}],"nope":1}"#,
        br#"{"messages":[{"value":"a","key":"k","headers":{"h":"v","a":"b"}}],"producer_id":"p","sequence":3,"producer_epoch":2,"partition":1}"#,
        br#"{"messages":[{"value":"a","key":5}]}"#,
        br#"{"messages":[{"value":"a"}],"sequence":-1}"#,
        br#"{"messages":[{"value":"\ud800"}]}"#,
        br#"{"messages":[{"value":"\x"}]}"#,
        b"{\"messages\":[{\"value\":\"\xff\"}]}",
        br#"{"messages":[{"value":"a"}]} x"#,
        br#"{"messages":[{"value":"a"}"#,
        br#"{"messages":{}}"#,
        br#"{"messages":[]}"#,
        br#"{}"#,
        br#"[]"#,
        br#""x""#,
        br#"{"messages":[{"value":"a"}],"messages":[]}"#,
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(body);
        let old = documented(body);
        let new = borrowed(&Bytes::copy_from_slice(body));
        assert_eq!(new, old, "{shown}");
    }
    // Both kinds of answer are in the list.
    assert!(bodies.iter().any(|b| documented(b).is_ok()));
    assert!(bodies.iter().any(|b| documented(b).is_err()));
}

#[test]
fn a_value_without_escapes_is_a_slice_of_the_body_and_one_with_escapes_its_own() {
    let body = Bytes::from_static(br#"{"messages":[{"value":"plain text"},{"value":"a\nb"}]}"#);
    let req: PublishBody = parse_json(&body).unwrap();
    let values: Vec<Bytes> = req
        .messages
        .into_iter()
        .map(|mut m| m.take_value(&body).unwrap())
        .collect();
    assert_eq!(values[0], "plain text");
    assert_eq!(values[1], "a\nb");
    let within = |v: &Bytes| body.as_ptr_range().contains(&v.as_ptr());
    assert!(within(&values[0]), "borrowed, not copied");
    assert!(!within(&values[1]), "unescaped into a buffer of its own");
}
