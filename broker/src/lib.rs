//! # Jumpnet broker
//!
//! A Kafka-style topic log replicated with Raft (openraft), stored in segment files and sled,
//! served over HTTP (axum).
//!
//! ## Layers
//! Each layer uses only the ones below it (`tests/layers.rs` checks there is no import cycle).
//! One publish, from the handler to the fsync:
//!
//! ```text
//!  api/messages.rs  publish handler: validate, then s.writer.publish(Publish{..}) -> Published
//!        │
//!  write/           Writer: queue; batcher joins queued ops into ONE entry, P::propose(ops)
//!        │          (P = the node; unit-tested with a fake)
//!  cluster/propose.rs  leader? raft.client_write(Command) : rpc::Forward to the leader
//!        │             over peer/ (whose cluster/rpc_handler.rs proposes it locally)
//!  raft/            openraft core: log_store.rs -> wal.rs (write) -> flusher.rs (fdatasync,
//!        │          group commit) and replication to a quorum; then state_machine.rs
//!  topics/          apply/ (one method per command) -> segment files; TopicStore::publish
//!                   makes it visible and wakes readers; the reply travels back up the same way
//! ```
//!
//! | module | what it is |
//! |---|---|
//! | [`api`] | the HTTP front door: handlers, stable error codes, one error mapping, OpenAPI |
//! | [`write`] | the typed write API ([`write::Writer`]) and the batcher, over [`write::Propose`] |
//! | [`cluster`] | the node: wiring, join, propose/forward, admin, hand-over, leader duties, gauges, lifecycle, peer messages |
//! | [`peer`] | the raft port's transport: framing, handshake, mutual TLS (over [`tls`]), connection pool (carries any message) |
//! | [`raft`] | openraft storage: Raft log files, group commit, state machine, snapshots |
//! | [`topics`] | the topic log: apply, metadata store, segment files, retention |
//! | [`command`] | what the log carries: one type per command and its reply (the leaf everyone shares) |
//! | [`kafka`] | the Kafka wire-protocol listener, over the `KafkaBackend` trait only |
//! | [`kafka_node`] | `KafkaBackend` for the node (`--kafka`): produce, fetch, admin, offsets over the layers below |
//! | [`server`] | a whole node: start, serve the API, shut down gracefully |
//! | [`tls`] | TLS on the API and the raft port: certificates re-read on change, the TLS accept loop, peer mTLS configs, dev certificates |
//! | [`auth`], [`config`], [`metrics`], [`error`] | tokens and roles, configuration, Prometheus metrics, the node's error type |
//! | [`client`] | a Rust client of the v1 API (used by the CLI, bench and examples) |
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod error;
pub mod kafka;
pub mod kafka_node;
pub mod metrics;
pub mod peer;
pub mod raft;
pub mod server;
pub mod tls;
pub mod topics;
pub mod write;

pub use config::Config;
pub use error::{Error, Result};
