//! # Jumpnet broker
//!
//! A Kafka-style topic log replicated with Raft (openraft), stored in sled, served over HTTP (axum).
//!
//! ## Layout
//! The write path reads top to bottom:
//!
//! | module | what it is |
//! |---|---|
//! | [`api`] | the HTTP API: seed calls, v1 topic log, admin, health, metrics, OpenAPI |
//! | [`auth`] | bearer tokens and roles (SPEC §5) |
//! | [`write`] | batches concurrent writes into few Raft entries, forwards to the leader |
//! | [`cluster`] | the running node: start-up, join, membership admin, hand-over, leader duties |
//! | [`raft`] | openraft glue: log store (group commit), state machine, snapshots, peer network |
//! | [`topics`] | the topic log in the state machine: keys, records, apply, reads, retention |
//! | [`server`] | wiring: start a node, serve the API, shut down gracefully |
//! | [`config`], [`metrics`], [`error`] | configuration, Prometheus metrics, the crate's error type |
//! | [`client`] | a Rust client of the v1 API (used by the CLI, bench and examples) |
//!
//! ```text
//!  HTTP ─▶ api ─▶ write::Writer ─▶ raft (leader) ─▶ log_store (fsync) ─▶ peers ─▶ commit
//!                                                            state_machine ─▶ topics (sled) ─▶ api reads
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod error;
pub mod metrics;
pub mod peer;
pub mod raft;
pub mod server;
pub mod topics;
pub mod write;

pub use config::Config;
pub use error::{Error, Result};
