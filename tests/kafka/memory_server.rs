//! The Kafka listener over the in-memory backend, for tests/kafka: third-party Kafka clients run
//! against the real listener code while the broker's partition data model is being built.
//! (tests/kafka/conftest.py starts it; pointing the tests at a real jumpnet cluster replaces it.)
//!
//!   kafka-memory-server [--listen 127.0.0.1:0] [--auth-file FILE] [--initial-rebalance-delay-ms N]
//!
//! Prints `KAFKA_LISTENING HOST:PORT` on stdout once it accepts connections; stops on stdin EOF,
//! SIGTERM or Ctrl-C. The auth file has SPEC §5's format: `<token> <publisher-id> <roles>`.

use std::sync::Arc;
use std::time::Duration;

use jumpnet_broker::kafka::backend::Principal;
use jumpnet_broker::kafka::testing::MemoryBackend;
use jumpnet_broker::kafka::{KafkaConfig, KafkaMetrics, KafkaServer};
use tokio::io::AsyncReadExt;

/// The jumpnet binary's allocator: the listener relies on it for absurd array counts
/// (broker/src/kafka/mod.rs, "Untrusted counts").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn tokens(path: &str) -> anyhow::Result<Vec<(String, Principal)>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.split_whitespace();
        let (Some(token), Some(name), Some(roles)) = (parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("{path}: expected `<token> <publisher-id> <roles>`, got {line:?}");
        };
        let has = |r: &str| roles.split(',').any(|x| x == r);
        out.push((
            token.to_string(),
            Principal {
                name: name.into(),
                publish: has("publish"),
                consume: has("consume"),
                admin: has("admin"),
            },
        ));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "jumpnet_broker=info".into()))
        .init();
    let mut listen = "127.0.0.1:0".to_string();
    let mut auth = None;
    let mut config = KafkaConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => listen = value()?,
            "--auth-file" => auth = Some(tokens(&value()?)?),
            "--initial-rebalance-delay-ms" => {
                config.groups.initial_rebalance_delay = Duration::from_millis(value()?.parse()?)
            }
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    let mut backend = MemoryBackend::new(&addr.ip().to_string(), addr.port());
    if let Some(t) = auth {
        backend = backend.with_tokens(t);
    }
    let (metrics, _registry) = KafkaMetrics::standalone();
    let server = KafkaServer::new(Arc::new(backend), config, metrics);
    println!("KAFKA_LISTENING {addr}");
    let shutdown = async {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let stdin_closed =
            async move { while stdin.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {} };
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = stdin_closed => {}
        }
    };
    server.serve(listener, shutdown).await?;
    Ok(())
}
