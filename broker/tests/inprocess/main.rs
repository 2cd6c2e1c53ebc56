//! In-process multi-node tests: three nodes in this test process over real loopback sockets
//! (ports picked by the OS), driven through their routers and their typed write API. Fast tests of
//! routing, forwarding and failure mapping; the multi-process suite (`tests/cluster`) covers the
//! binary, crashes and restarts.

mod harness;
mod t10_routing;
mod t11_role_metrics;
mod t20_failures;
mod t30_api_limits;
mod t30_identity;
mod t30_storage;
mod t35_cors;
mod t36_binary;
mod t37_consumers;
mod t38_partitions;
mod t39_kafka;
mod t40_groups;
mod t41_group_partitions;
