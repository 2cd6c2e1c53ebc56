use bytes::Bytes;

use super::convert::{headers_map, key_text, write_error};
use crate::command::OpError;
use crate::kafka::backend::BackendError;
use crate::write::WriteError;

#[test]
fn records_map_onto_messages_or_are_refused_not_altered() {
    assert_eq!(
        key_text(Some(Bytes::from_static(b"k1")))
            .unwrap()
            .as_deref(),
        Some("k1")
    );
    assert_eq!(key_text(None).unwrap(), None);
    assert!(matches!(
        key_text(Some(Bytes::from_static(&[0xff]))),
        Err(BackendError::InvalidRecord(_))
    ));
    let h = headers_map(vec![
        ("b".into(), Some(Bytes::from_static(b"2"))),
        ("a".into(), None),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(h["a"], "");
    assert_eq!(h["b"], "2");
    assert_eq!(headers_map(vec![]).unwrap(), None);
    assert!(headers_map(vec![("x".into(), Some(Bytes::from_static(&[0xc3])))]).is_err());
}

#[test]
fn write_errors_map_to_the_kafka_errors_clients_act_on() {
    let op = |e| write_error(WriteError::Op(e));
    assert_eq!(
        op(OpError::OutOfOrderSequence {
            producer_id: "p".into(),
            sequence: 3,
            expected: 1
        }),
        BackendError::OutOfOrderSequence
    );
    assert_eq!(
        op(OpError::ProducerFenced {
            producer_id: "p".into(),
            epoch: 0,
            current: 1
        }),
        BackendError::InvalidProducerEpoch
    );
    assert_eq!(
        op(OpError::TopicExists { topic: "t".into() }),
        BackendError::TopicAlreadyExists
    );
    assert_eq!(write_error(WriteError::NoQuorum), BackendError::NoLeader);
    assert_eq!(
        write_error(WriteError::Timeout("x".into())),
        BackendError::Timeout
    );
}
