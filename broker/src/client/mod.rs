//! Rust client of the v1 API (see issue 7).
