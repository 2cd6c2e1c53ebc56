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
    /// Once at start, before serving: become the only voter of this node's cluster
    /// (`cluster/restart.rs`).
    pub force_new_cluster: bool,
    /// On an empty state dir at first start: load this backup (a file or an http(s) URL) and
    /// bootstrap a new cluster holding it.
    pub restore_from: Option<String>,
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
    /// Named consumer positions a topic may hold; committing a new one beyond it is refused
    /// (409 `too_many_consumers`), existing ones still move.
    pub max_consumers_per_topic: usize,
    /// Per-consumer lag metric series (`jumpnet_consumer_position_lag_messages{topic,consumer}`),
    /// off by default (names are user input); at most this many, the rest summed up in one
    /// `other` series.
    pub consumer_metrics_limit: usize,
    /// Per-group metric series (`jumpnet_group_lag_per_group{topic,group}` and the in-flight
    /// count), off by default (names are user input); at most this many, the rest in `other`.
    pub group_metrics_limit: usize,
    /// Origins browser apps may call the API from (`*`: any); empty: no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// Writes are refused (503, nothing stored) while less than this is free on the state dir's
    /// volume, so a full disk never fails an append or an apply (which stops Raft); 0: no check.
    pub min_free_bytes: u64,
    /// Serve the API over TLS with these files (`--tls-cert`, `--tls-key`, `--tls-client-ca`).
    pub tls: Option<crate::tls::TlsFiles>,
    /// Mutual TLS on the raft port (`--peer-tls-cert`, `--peer-tls-key`, `--peer-tls-ca`).
    pub peer_tls: Option<crate::tls::PeerTlsFiles>,
    /// Extra CA this node trusts when it calls another node's API over https (`--join` by API
    /// address, `--restore-from https://...`).
    pub cacert: Option<PathBuf>,
    /// The Kafka wire-protocol listener (`--kafka`, `--advertise-kafka`); `None`: off.
    pub kafka: Option<KafkaListen>,
}

/// Where the Kafka listener listens and what clients are told (SPEC §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaListen {
    /// `host:port` to bind.
    pub listen: String,
    /// `host:port` in Metadata answers: never a wildcard address.
    pub advertise: String,
}

impl KafkaListen {
    /// `--kafka ADDR` with an optional `--advertise-kafka`; without it: the listen address when it
    /// is not a wildcard, else the host of the node's advertised API address and the Kafka port.
    pub fn new(listen: &str, advertise: Option<&str>, advertise_api: &str) -> Result<KafkaListen> {
        let listen = listen_addr(listen)?;
        let advertise = match advertise {
            Some(a) => {
                split_host_port(a)
                    .map_err(|e| Error::Config(format!("--advertise-kafka {a:?}: {e}")))?;
                a.to_string()
            }
            None => {
                let (host, port) = split_host_port(&listen).unwrap_or(("", 0));
                match host {
                    "" | "0.0.0.0" | "[::]" | "::" => {
                        let api_host = split_host_port(advertise_api)
                            .map(|(h, _)| h)
                            .unwrap_or("127.0.0.1");
                        format!("{api_host}:{port}")
                    }
                    h => format!("{h}:{port}"),
                }
            }
        };
        Ok(KafkaListen { listen, advertise })
    }
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
pub const DEFAULT_MAX_IN_FLIGHT_REQUESTS: usize = 1024;
pub const DEFAULT_MAX_CONSUMERS_PER_TOPIC: usize = 10_000;
/// Room kept for what still writes once publishes are refused: checkpoints (sled), votes, the
/// proposals already in flight. Small enough for test volumes of tens of MiB.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest `--segment-bytes`. Index entries store positions within a segment as `u32`, and a
/// segment rolls only once an append ended past `segment_bytes`, so one apply's append may carry a
/// segment well past it: half the `u32` range is left as headroom.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 31;

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
            force_new_cluster: false,
            restore_from: None,
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
            max_consumers_per_topic: DEFAULT_MAX_CONSUMERS_PER_TOPIC,
            consumer_metrics_limit: 0,
            group_metrics_limit: 0,
            cors_allowed_origins: Vec::new(),
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            tls: None,
            peer_tls: None,
            cacert: None,
            kafka: None,
        })
    }

    /// The largest Raft entry this node proposes: one batch of the batcher plus the request that
    /// made it pass its byte cap (a forwarded batch becomes one entry on the leader).
    pub fn max_entry_bytes(&self) -> usize {
        crate::write::Limits::default().batch_bytes + self.max_request_bytes
    }

    /// `https` when the API serves TLS (every node of a cluster does, or none).
    pub fn api_scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The certificate this node presents when it calls another node's API over https (`--join`
    /// by API address, `--restore-from https://...`), for APIs that require client certificates
    /// (`--tls-client-ca`): its peer certificate (`--peer-tls-cert`, made for both ends of a
    /// connection), else its API certificate (`--tls-cert`); each with the flag that named it.
    pub fn api_client_identity(&self) -> Option<crate::tls::IdentityFiles<'_>> {
        if let Some(p) = &self.peer_tls {
            return Some((
                (p.cert.as_path(), "--peer-tls-cert"),
                (p.key.as_path(), "--peer-tls-key"),
            ));
        }
        self.tls.as_ref().map(|t| {
            (
                (t.cert.as_path(), "--tls-cert"),
                (t.key.as_path(), "--tls-key"),
            )
        })
    }

    /// A reqwest builder for this node's calls to another node's API: trusting `--cacert` and
    /// presenting [`Config::api_client_identity`].
    pub fn api_http(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> std::result::Result<reqwest::ClientBuilder, String> {
        let builder = crate::tls::trusting(builder, self.cacert.as_deref())?;
        crate::tls::presenting(builder, self.api_client_identity())
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
        if let Some(o) = self.cors_allowed_origins.iter().find(|o| !valid_origin(o)) {
            return Err(Error::Config(format!(
                "--cors-allowed-origins: {o:?} is not `*` or an origin like https://app.example.com"
            )));
        }
        if self.max_consumers_per_topic == 0 {
            return Err(Error::Config(
                "--max-consumers-per-topic must be at least 1".into(),
            ));
        }
        if self.max_in_flight_requests == 0 {
            return Err(Error::Config(
                "--max-in-flight-requests must be at least 1".into(),
            ));
        }
        if !(Duration::from_millis(50)..=Duration::from_secs(60)).contains(&self.election_timeout) {
            return Err(Error::Config(
                "--election-timeout-ms must be between 50 and 60000".into(),
            ));
        }
        if !(4096..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(Error::Config(format!(
                "--segment-bytes ({}) must be between 4096 and {MAX_SEGMENT_BYTES} (segment \
                 indexes hold 32-bit positions)",
                self.segment_bytes
            )));
        }
        // One entry must fit a peer frame on its own (AppendEntries carries fewer entries when
        // they are big: `raft::raft_config`), and the Raft log's own frame limit.
        if crate::raft::entries_per_append(self.max_entry_bytes()) == 0 {
            return Err(Error::Config(format!(
                "--max-request-bytes ({}) is too big for one replication message",
                self.max_request_bytes
            )));
        }
        if self.commit_timeout < Duration::from_millis(100) {
            return Err(Error::Config(
                "--commit-timeout-ms must be at least 100 (every write would answer 504)".into(),
            ));
        }
        if self.retention_check_interval.is_zero() {
            return Err(Error::Config(
                "the retention check interval must not be zero".into(),
            ));
        }
        // openraft's lag threshold is twice it: keep that far from overflowing.
        if !(10..=1_000_000_000).contains(&self.snapshot_every) {
            return Err(Error::Config(
                "--snapshot-every must be between 10 and 1000000000".into(),
            ));
        }
        // Peer protection: a secret peers prove, or certificates from the peer CA (SPEC §10).
        if self.auth_file.is_some() && self.cluster_secret.is_none() && self.peer_tls.is_none() {
            return Err(Error::Config(
                "--auth-file needs --cluster-secret or --peer-tls-cert/--peer-tls-key/--peer-tls-ca: without peer protection the raft port takes anyone's requests, tokens or not"
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

/// One `--cors-allowed-origins` entry: `*` or `scheme://host[:port]` (no path).
fn valid_origin(o: &str) -> bool {
    o == "*"
        || (o.is_ascii()
            && !o
                .chars()
                .any(|c| c.is_ascii_control() || c == ' ' || c == ',')
            && o.split_once("://")
                .is_some_and(|(s, h)| !s.is_empty() && !h.is_empty() && !h.contains('/')))
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
    fn peer_tls_alone_protects_the_raft_port_for_tokens() {
        let mut c = Config::new("/tmp/x", ":8080", ":8081").unwrap();
        c.auth_file = Some("tokens".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--peer-tls-cert"), "{e}");
        c.peer_tls = Some(crate::tls::PeerTlsFiles {
            cert: "peer.crt".into(),
            key: "peer.key".into(),
            ca: "ca.crt".into(),
        });
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

    fn valid() -> Config {
        Config::new("/tmp/x", "127.0.0.1:1", "127.0.0.1:2").unwrap()
    }

    /// The error line a bad value gets (the binary prints it and exits).
    fn refusal(change: impl FnOnce(&mut Config)) -> String {
        let mut c = valid();
        change(&mut c);
        c.validate().expect_err("accepted").to_string()
    }

    #[test]
    fn values_that_would_wedge_replication_or_break_indexes_are_refused_at_start() {
        valid().validate().unwrap();
        // Segment positions are u32 in the indexes.
        assert!(refusal(|c| c.segment_bytes = 5 << 30).contains("--segment-bytes"));
        let mut c = valid();
        c.segment_bytes = MAX_SEGMENT_BYTES;
        c.validate().unwrap();
        assert!(refusal(|c| c.commit_timeout = Duration::ZERO).contains("--commit-timeout-ms"));
        assert!(refusal(|c| c.snapshot_every = u64::MAX).contains("--snapshot-every"));
        assert!(
            refusal(|c| c.election_timeout = Duration::from_secs(86_400))
                .contains("--election-timeout-ms")
        );
        assert!(refusal(|c| c.retention_check_interval = Duration::ZERO).contains("retention"));
        // The largest request accepted still replicates: AppendEntries carries fewer entries.
        let mut c = valid();
        c.max_request_bytes = 256 << 20;
        c.validate().unwrap();
        let per_append = crate::raft::entries_per_append(c.max_entry_bytes());
        assert!(per_append >= 1);
        assert!(
            per_append * c.max_entry_bytes() as u64 <= crate::peer::codec::MAX_FRAME as u64 / 4 * 3
        );
    }
}
