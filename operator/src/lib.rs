//! Jumpnet operator (skeleton; see issue 4).
#![forbid(unsafe_code)]
