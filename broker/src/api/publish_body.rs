//! The v1 publish body as the server parses it: [`super::messages::PublishRequest`] and
//! [`super::messages::MessageIn`] (the documented types, which the Rust client sends) with each
//! message's text borrowed from the request body. A value without escapes becomes a slice of the
//! body (`Bytes::slice_ref`): validated as UTF-8 once, by the JSON parser, and never copied into
//! a `String` of its own. Same type names, fields and order as the documented types, so serde's
//! error texts are the same (`publish_body_tests` holds the two in step).

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest<'a> {
    #[serde(borrow)]
    pub messages: Vec<MessageIn<'a>>,
    pub producer_id: Option<String>,
    pub sequence: Option<u64>,
    pub producer_epoch: Option<u64>,
    pub partition: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageIn<'a> {
    #[serde(default, borrow)]
    pub value: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub value_b64: Option<Text<'a>>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// A JSON string, borrowed from the body unless it held escapes. Parses and fails as `String`
/// does ("expected a string").
#[derive(Debug)]
pub struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_string(Visit)
    }
}

impl Text<'_> {
    /// The text's bytes: a slice of `body` when borrowed from it, else its own buffer.
    fn into_bytes(self, body: &Bytes) -> Bytes {
        match self.0 {
            Cow::Borrowed(s) => body.slice_ref(s.as_bytes()),
            Cow::Owned(s) => Bytes::from(s),
        }
    }
}

impl MessageIn<'_> {
    /// The value's bytes, `body` being what this message was parsed from; the same rules and
    /// texts as [`super::messages::MessageIn::take_value`].
    pub fn take_value(&mut self, body: &Bytes) -> Result<Bytes, String> {
        match (self.value.take(), self.value_b64.take()) {
            (Some(v), None) => Ok(v.into_bytes(body)),
            (None, Some(b)) => B64
                .decode(b.0.as_bytes())
                .map(Bytes::from)
                .map_err(|e| format!("value_b64 is not base64 (standard alphabet, padded): {e}")),
            (None, None) => Err("each message needs `value` (text) or `value_b64`".into()),
            (Some(_), Some(_)) => Err("a message has `value` or `value_b64`, not both".into()),
        }
    }
}
