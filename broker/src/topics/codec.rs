//! The value encoding of the state-machine tree (bincode), shared by the store and the apply code.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).expect("bincode encoding of plain data cannot fail")
}

pub fn decode<T: DeserializeOwned>(b: &[u8]) -> crate::Result<T> {
    bincode::deserialize(b).map_err(|e| crate::Error::decode("state-machine record", e))
}
