//! # jumpnet-operator
//!
//! Runs Jumpnet broker clusters on Kubernetes: a `JumpnetCluster` becomes a StatefulSet of
//! `jumpnet serve --managed` pods whose Raft membership the operator drives one safe step at a
//! time.
//!
//! # Layout
//!
//! ```text
//! crd.rs            the JumpnetCluster type; `jumpnet-operator crd` prints its CRD
//! resources/        one builder per owned object (StatefulSet, Services, PDB, ConfigMap,
//!                   auth Secret, ServiceMonitor, cert-manager Certificate); `render` prints
//!                   them without a cluster
//! membership.rs     pure decision: observed pods + broker views -> StatefulSet size + next step
//!   membership/step.rs  the steps and waits: reasons, messages, phases
//! broker_client.rs  the broker admin API (trait + HTTP implementation)
//! reconcile/        the controller: observe -> apply owned objects -> one step -> status
//!   mod.rs            Context, reconcile(), error_policy(), run()
//!   tls.rs            spec.tls: the Certificate, the TLS Secret (else TLSNotReady, nothing else)
//!   observe.rs        StatefulSet, pods, PVCs, every broker's own view, each pod's problem
//!   storage.rs        storage growth (PVC expansion, StatefulSet re-created) or refusal
//!   apply.rs          server-side apply of the owned objects
//!   execute.rs        carries out the step (broker call, eviction, deletion) + Events
//!   status.rs         status, conditions that say why, ReconcileError, Warning Events
//! leader_election.rs  Lease-based: only the holder reconciles
//! metrics.rs        Prometheus registry + /metrics /livez /readyz router
//! telemetry.rs      tracing subscriber (text or JSON)
//! render.rs         `jumpnet-operator render`: the owned objects of a YAML file, offline
//! error.rs          the crate's one error enum
//! fixtures/         (tests) tower_test mock API server, simulated brokers, reconcile harness
//! ```
//!
//! One reconcile, in order:
//!
//! ```text
//! [TLS: SSA Certificate, GET Secret; missing ─▶ status TLSNotReady, stop]
//! GET sts ─▶ LIST pods, PVCs ─▶ GET /v1/cluster?local=true on each running pod
//!    ─▶ storage growth? ─▶ membership::statefulset_replicas, protected_voters
//!    ─▶ SSA Secret, ConfigMap, Services, PDB (from the voters), SM, sts
//!    ─▶ membership::next_step ─▶ at most one broker call / eviction (+ Event)
//!    ─▶ PVC clean-up after scale-down ─▶ status (only when it changed; ReconcileError on failure)
//! ```
#![forbid(unsafe_code)]

pub mod broker_client;
pub mod crd;
pub mod error;
pub mod leader_election;
pub mod membership;
pub mod metrics;
pub mod reconcile;
pub mod render;
pub mod resources;
pub mod telemetry;

#[cfg(test)]
mod fixtures;

pub use error::{Error, Result};
