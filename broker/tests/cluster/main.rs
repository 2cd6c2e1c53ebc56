//! Multi-process tests: real `jumpnet` binaries on loopback, one test binary (openraft's
//! `tests/` style), files named by priority.

mod harness;
mod t05_dev;
mod t10_seed;
mod t20_failover;
mod t22_isolated_leader;
mod t30_snapshot;
mod t31_big_snapshot;
mod t40_restart;
mod t44_backup;
mod t44_recovery;
mod t45_fatal;
mod t50_bad_input;
mod t60_shutdown;
mod t70_topic_log;
mod t75_auth;
mod t76_tls;
mod t77_peer_tls;
mod t78_client_cert;
mod t80_retention;
mod t85_exactly_once;
mod t87_groups;
mod t90_cli;
mod t91_client;
mod t92_cli_partitions;
mod t93_kafka_bench;
mod t95_examples;
