//! A node's validated configuration. The binary builds it from flags and env (`main.rs`); tests
//! build it directly.

use std::path::PathBuf;
use std::time::Duration;

use crate::command::Retention;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct Config {
    pub state_dir: PathBuf,
    /// Listen addresses, `host:port` (`:8080` in flags becomes `0.0.0.0:8080`).
    pub raft_listen: String,
    pub api_listen: String,
    /// What peers and redirects use.
    pub advertise_raft: String,
    pub advertise_api: String,
    /// Any member, by raft or API address.
    pub join: Option<String>,
    /// Never bootstrap or self-join: the operator drives membership through the admin API.
    pub managed: bool,
    pub node_id: Option<u64>,
    pub auth_file: Option<PathBuf>,
    pub cluster_secret: Option<Vec<u8>>,
    pub max_message_bytes: usize,
    pub max_request_bytes: usize,
    /// HTTP requests the API serves at once (streaming answers count until they end); beyond it
    /// `503 unavailable` with `Retry-After`. `/livez`, `/readyz` and `/metrics` are exempt.
    pub max_in_flight_requests: usize,
    /// Node-wide default retention, for topics without their own.
    pub retention: Retention,
    pub retention_check_interval: Duration,
    pub election_timeout: Duration,
    /// Checkpoint the state machine (and purge the Raft log) every this many entries.
    pub snapshot_every: u64,
    /// Size at which a topic's segment file is closed and a new one started.
    pub segment_bytes: u64,
    /// How long a publish may wait for its commit before the client gets 504.
    pub commit_timeout: Duration,
    /// After shutdown begins, keep serving (with `/readyz` at 503) this long so load balancers and
    /// Kubernetes endpoints stop sending new requests before the API closes.
    pub shutdown_grace: Duration,
    /// sled page cache size: bounded memory whatever the data size.
    pub cache_bytes: u64,
    /// Per-topic metric labels, off by default (topic names are user input); capped at this many topics.
    pub topic_metrics_limit: usize,
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
pub const DEFAULT_MAX_IN_FLIGHT_REQUESTS: usize = 1024;

impl Config {
    /// A config with defaults for a node listening on the given addresses (used by tests and `dev`).
    pub fn new(state_dir: impl Into<PathBuf>, raft: &str, api: &str) -> Result<Config> {
        let raft_listen = listen_addr(raft)?;
        let api_listen = listen_addr(api)?;
        Ok(Config {
            state_dir: state_dir.into(),
            advertise_raft: advertise_for(&raft_listen),
            advertise_api: advertise_for(&api_listen),
            raft_listen,
            api_listen,
            join: None,
            managed: false,
            node_id: None,
            auth_file: None,
            cluster_secret: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_in_flight_requests: DEFAULT_MAX_IN_FLIGHT_REQUESTS,
            retention: Retention::default(),
            retention_check_interval: Duration::from_secs(1),
            election_timeout: Duration::from_millis(100),
            snapshot_every: 1_000,
            segment_bytes: 64 * 1024 * 1024,
            commit_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(1),
            cache_bytes: 16 * 1024 * 1024,
            topic_metrics_limit: 0,
        })
    }

    pub fn validate(&self) -> Result<()> {
        if self.max_message_bytes == 0 || self.max_message_bytes > self.max_request_bytes {
            return Err(Error::Config(format!(
                "--max-message-bytes ({}) must be between 1 and --max-request-bytes ({})",
                self.max_message_bytes, self.max_request_bytes
            )));
        }
        if self.max_request_bytes > 256 * 1024 * 1024 {
            return Err(Error::Config(
                "--max-request-bytes is capped at 256 MiB".into(),
            ));
        }
        if self.max_in_flight_requests == 0 {
            return Err(Error::Config(
                "--max-in-flight-requests must be at least 1".into(),
            ));
        }
        if self.election_timeout < Duration::from_millis(50) {
            return Err(Error::Config(
                "--election-timeout-ms must be at least 50".into(),
            ));
        }
        if self.segment_bytes < 4096 {
            return Err(Error::Config(
                "--segment-bytes must be at least 4096".into(),
            ));
        }
        if self.snapshot_every < 10 {
            return Err(Error::Config("--snapshot-every must be at least 10".into()));
        }
        if self.auth_file.is_some() && self.cluster_secret.is_none() {
            return Err(Error::Config(
                "--auth-file needs --cluster-secret: without it the raft port takes anyone's requests, tokens or not"
                    .into(),
            ));
        }
        if self.managed && self.join.is_some() {
            return Err(Error::Config(
                "--managed and --join exclude each other: a managed node waits for the operator"
                    .into(),
            ));
        }
        for (flag, a) in [
            ("--advertise-raft", &self.advertise_raft),
            ("--advertise-api", &self.advertise_api),
        ] {
            split_host_port(a).map_err(|e| Error::Config(format!("{flag} {a:?}: {e}")))?;
        }
        Ok(())
    }
}

fn split_host_port(s: &str) -> std::result::Result<(&str, u16), String> {
    let (host, port) = s.rsplit_once(':').ok_or("expected HOST:PORT or :PORT")?;
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    Ok((host, port))
}

/// `:8080` → `0.0.0.0:8080` (all interfaces, as Go listens); `host:port` stays.
pub fn listen_addr(s: &str) -> Result<String> {
    let (host, port) =
        split_host_port(s).map_err(|e| Error::Config(format!("address {s:?}: {e}")))?;
    Ok(if host.is_empty() {
        format!("0.0.0.0:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// What to advertise for a listen address when no `--advertise-*` is given: the host itself, or
/// `127.0.0.1` when it listens on all interfaces.
pub fn advertise_for(listen: &str) -> String {
    let (host, port) = split_host_port(listen).unwrap_or(("", 0));
    match host {
        "" | "0.0.0.0" | "[::]" | "::" => format!("127.0.0.1:{port}"),
        h => format!("{h}:{port}"),
    }
}

/// A `--join` target: `:8080` means this machine.
pub fn join_addr(s: &str) -> Result<String> {
    let (host, port) =
        split_host_port(s).map_err(|e| Error::Config(format!("--join {s:?}: {e}")))?;
    Ok(if host.is_empty() {
        format!("127.0.0.1:{port}")
    } else {
        format!("{host}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_need_a_cluster_secret() {
        let mut c = Config::new("/tmp/x", ":8080", ":8081").unwrap();
        c.auth_file = Some("tokens".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--cluster-secret"), "{e}");
        c.cluster_secret = Some(b"s".to_vec());
        c.validate().unwrap();
    }

    #[test]
    fn go_style_addresses_listen_everywhere_and_advertise_loopback() {
        assert_eq!(listen_addr(":8080").unwrap(), "0.0.0.0:8080");
        assert_eq!(advertise_for("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(advertise_for("10.0.0.5:9090"), "10.0.0.5:9090");
        assert_eq!(join_addr(":8080").unwrap(), "127.0.0.1:8080");
        assert!(listen_addr("8080").is_err());
        assert!(listen_addr(":http").is_err());
    }
}
