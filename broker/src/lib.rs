//! Jumpnet broker.
#![forbid(unsafe_code)]
