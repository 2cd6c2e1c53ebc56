//! `jumpnet serve`: flags → validated [`Config`] → a running node.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use jumpnet_broker::command::Retention;
use jumpnet_broker::config::{self, Config};

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Where the node keeps its identity, Raft log and data.
    #[arg(long, env = "JUMPNET_STATE_DIR", default_value = "./data")]
    pub state_dir: PathBuf,
    /// Listen address for peer (Raft) traffic.
    #[arg(long, env = "JUMPNET_RAFT", default_value = ":8080")]
    pub raft: String,
    /// Listen address for the client HTTP API.
    #[arg(long, env = "JUMPNET_API", default_value = ":9090")]
    pub api: String,
    /// Any existing member, by its raft or API address; this node asks to be added.
    #[arg(long, env = "JUMPNET_JOIN")]
    pub join: Option<String>,
    /// Address peers use for this node's raft port (default: derived from --raft).
    #[arg(long, env = "JUMPNET_ADVERTISE_RAFT")]
    pub advertise_raft: Option<String>,
    /// Address clients and redirects use for this node's API (default: derived from --api).
    #[arg(long, env = "JUMPNET_ADVERTISE_API")]
    pub advertise_api: Option<String>,
    /// Never bootstrap or self-join: wait for admin calls (the operator's mode).
    #[arg(long, env = "JUMPNET_MANAGED")]
    pub managed: bool,
    /// Once at start, before serving: make this node the only voter of its cluster (recovery
    /// after losing a quorum for good; entries only the other members held are lost).
    #[arg(long, env = "JUMPNET_FORCE_NEW_CLUSTER")]
    pub force_new_cluster: bool,
    /// On an empty state dir: load this backup (a file, or an http(s) URL of
    /// `GET /v1/admin/snapshot`) and start a new cluster holding it.
    #[arg(long, env = "JUMPNET_RESTORE_FROM")]
    pub restore_from: Option<String>,
    /// Raft node id (default: kept in the state dir; with --managed, the hostname's ordinal).
    #[arg(long, env = "JUMPNET_NODE_ID")]
    pub node_id: Option<u64>,
    /// Token file (`<token> <publisher-id> <roles>` per line); without it the API is open.
    #[arg(long, env = "JUMPNET_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// Shared secret peers must prove on the raft port.
    #[arg(
        long,
        env = "JUMPNET_CLUSTER_SECRET",
        hide_env_values = true,
        conflicts_with = "cluster_secret_file"
    )]
    pub cluster_secret: Option<String>,
    /// File holding the cluster secret.
    #[arg(long, env = "JUMPNET_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "JUMPNET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, RUST_LOG syntax (RUST_LOG also works).
    #[arg(long, env = "JUMPNET_LOG", default_value = "info")]
    pub log: String,
    /// Largest message accepted.
    #[arg(long, env = "JUMPNET_MAX_MESSAGE_BYTES", default_value_t = config::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// Largest request body accepted.
    #[arg(long, env = "JUMPNET_MAX_REQUEST_BYTES", default_value_t = config::DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,
    /// HTTP requests served at once (streams count while open); beyond it 503 with Retry-After.
    #[arg(long, env = "JUMPNET_MAX_IN_FLIGHT_REQUESTS", default_value_t = config::DEFAULT_MAX_IN_FLIGHT_REQUESTS)]
    pub max_in_flight_requests: usize,
    /// Default retention: keep at most this many messages per topic.
    #[arg(long, env = "JUMPNET_RETENTION_MAX_MESSAGES")]
    pub retention_max_messages: Option<u64>,
    /// Default retention: keep at most this many bytes per topic.
    #[arg(long, env = "JUMPNET_RETENTION_MAX_BYTES")]
    pub retention_max_bytes: Option<u64>,
    /// Default retention: drop messages older than this.
    #[arg(long, env = "JUMPNET_RETENTION_MAX_AGE_MS")]
    pub retention_max_age_ms: Option<u64>,
    /// Raft election timeout (randomized between this and twice this). 100 ms: a leader that
    /// dies is replaced in well under half a second (heartbeats every 50 ms); on a 2-core machine
    /// at load average ~11 no spurious election was seen in bench/failover.sh runs (bench/README.md).
    /// Raise it for links with round trips above ~20 ms.
    #[arg(long, env = "JUMPNET_ELECTION_TIMEOUT_MS", default_value_t = 100)]
    pub election_timeout_ms: u64,
    /// Checkpoint the state and compact the Raft log every this many entries.
    #[arg(long, env = "JUMPNET_SNAPSHOT_EVERY", default_value_t = 1_000)]
    pub snapshot_every: u64,
    /// Size of a topic's segment files.
    #[arg(long, env = "JUMPNET_SEGMENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub segment_bytes: u64,
    /// A write not committed within this answers 504.
    #[arg(long, env = "JUMPNET_COMMIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub commit_timeout_ms: u64,
    /// On SIGTERM, keep serving this long with /readyz at 503 before the API closes.
    #[arg(long, env = "JUMPNET_SHUTDOWN_GRACE_MS", default_value_t = 1_000)]
    pub shutdown_grace_ms: u64,
    /// Storage page cache.
    #[arg(long, env = "JUMPNET_CACHE_MB", default_value_t = 16)]
    pub cache_mb: u64,
    /// Export per-topic metrics for at most this many topics (0: off; topic names are user input).
    #[arg(long, env = "JUMPNET_TOPIC_METRICS", default_value_t = 0)]
    pub topic_metrics: usize,
    /// Named consumer positions one topic may hold; a new one beyond it is refused (409).
    #[arg(long, env = "JUMPNET_MAX_CONSUMERS_PER_TOPIC", default_value_t = config::DEFAULT_MAX_CONSUMERS_PER_TOPIC)]
    pub max_consumers_per_topic: usize,
    /// Export per-consumer lag series for at most this many named consumer positions, the rest
    /// summed up in one `other` series (0: off; consumer names are user input).
    #[arg(long, env = "JUMPNET_METRICS_CONSUMER_LABELS", default_value_t = 0)]
    pub metrics_consumer_labels: usize,
    /// Export per-group lag and in-flight series for at most this many consumer groups, the rest
    /// summed up in one `other` series (0: off; group names are user input).
    #[arg(long, env = "JUMPNET_METRICS_GROUP_LABELS", default_value_t = 0)]
    pub metrics_group_labels: usize,
    /// Origins browser apps may call the API from, comma-separated (`*`: any). Default: none, no
    /// CORS headers.
    #[arg(long, env = "JUMPNET_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// Refuse writes (503) while less than this many MiB are free on the state dir's volume (0: never).
    #[arg(long, env = "JUMPNET_MIN_FREE_MB", default_value_t = config::DEFAULT_MIN_FREE_BYTES >> 20)]
    pub min_free_mb: u64,
    /// Serve the API over TLS with this certificate (PEM, leaf first, then intermediates; needs
    /// --tls-key). Re-read when the file changes: new connections get the new certificate, no
    /// restart. The port then speaks only TLS.
    #[arg(long, env = "JUMPNET_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); re-read with it.
    #[arg(long, env = "JUMPNET_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Require API clients to present a certificate signed by this CA (PEM; needs --tls-cert); re-read when it changes.
    #[arg(long, env = "JUMPNET_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Mutual TLS on the raft port: this node's peer certificate (PEM, leaf first; needs
    /// --peer-tls-key and --peer-tls-ca). Presented when dialling peers and when answering them, so
    /// it needs the serverAuth and clientAuth key usages, and a DNS or IP name matching the host of
    /// this node's raft address as peers dial it (--advertise-raft). Re-read when the file changes.
    /// All three --peer-tls-* flags or none; they count as peer protection for --auth-file.
    #[arg(long, env = "JUMPNET_PEER_TLS_CERT")]
    pub peer_tls_cert: Option<PathBuf>,
    /// Private key of --peer-tls-cert (PEM); re-read with it.
    #[arg(long, env = "JUMPNET_PEER_TLS_KEY")]
    pub peer_tls_key: Option<PathBuf>,
    /// CA (PEM) that signs every node's peer certificate: a peer without a certificate from it is
    /// refused before it can send anything. Re-read when the file changes.
    #[arg(long, env = "JUMPNET_PEER_TLS_CA")]
    pub peer_tls_ca: Option<PathBuf>,
    /// CA (PEM) this node trusts when it calls another node's API over https: --join by API
    /// address and --restore-from https URLs.
    #[arg(long, env = "JUMPNET_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Listen address of the Kafka wire-protocol listener (SPEC §8); off when absent. Kafka
    /// clients (librdkafka/kcat, kafka-python, KafkaJS, Java) then talk to this node unchanged.
    #[arg(long, env = "JUMPNET_KAFKA")]
    pub kafka: Option<String>,
    /// `host:port` Kafka clients are told for this node (default: --kafka unless it listens on all
    /// interfaces, else the host of --advertise-api with the --kafka port).
    #[arg(long, env = "JUMPNET_ADVERTISE_KAFKA", requires = "kafka")]
    pub advertise_kafka: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl ServeArgs {
    pub fn to_config(&self) -> jumpnet_broker::Result<Config> {
        let mut c = Config::new(&self.state_dir, &self.raft, &self.api)?;
        if let Some(a) = &self.advertise_raft {
            c.advertise_raft = a.clone();
        }
        if let Some(a) = &self.advertise_api {
            c.advertise_api = a.clone();
        }
        c.join = self.join.clone();
        c.managed = self.managed;
        c.force_new_cluster = self.force_new_cluster;
        c.restore_from = self.restore_from.clone();
        c.node_id = self.node_id;
        c.auth_file = self.auth_file.clone();
        c.cluster_secret = match (&self.cluster_secret, &self.cluster_secret_file) {
            (Some(s), _) => Some(s.as_bytes().to_vec()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| {
                        jumpnet_broker::Error::io(
                            format!("--cluster-secret-file {}", f.display()),
                            e,
                        )
                    })?
                    .trim()
                    .as_bytes()
                    .to_vec(),
            ),
            (None, None) => None,
        };
        if c.cluster_secret.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(jumpnet_broker::Error::Config(
                "the cluster secret is empty".into(),
            ));
        }
        c.max_message_bytes = self.max_message_bytes;
        c.max_request_bytes = self.max_request_bytes;
        c.max_in_flight_requests = self.max_in_flight_requests;
        c.retention = Retention {
            max_messages: self.retention_max_messages,
            max_bytes: self.retention_max_bytes,
            max_age_ms: self.retention_max_age_ms,
        };
        c.election_timeout = Duration::from_millis(self.election_timeout_ms);
        c.snapshot_every = self.snapshot_every;
        c.segment_bytes = self.segment_bytes;
        c.commit_timeout = Duration::from_millis(self.commit_timeout_ms);
        c.shutdown_grace = Duration::from_millis(self.shutdown_grace_ms);
        c.cache_bytes = self.cache_mb.saturating_mul(1024 * 1024);
        c.topic_metrics_limit = self.topic_metrics;
        c.max_consumers_per_topic = self.max_consumers_per_topic;
        c.consumer_metrics_limit = self.metrics_consumer_labels;
        c.group_metrics_limit = self.metrics_group_labels;
        c.cors_allowed_origins = self
            .cors_allowed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        c.min_free_bytes = self.min_free_mb.saturating_mul(1024 * 1024);
        c.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(jumpnet_broker::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            (None, None) if self.tls_client_ca.is_some() => {
                return Err(usage("--tls-client-ca needs --tls-cert and --tls-key"))
            }
            (None, None) => None,
            (Some(_), None) => return Err(usage("--tls-cert needs --tls-key")),
            (None, Some(_)) => return Err(usage("--tls-key needs --tls-cert")),
        };
        c.peer_tls = match (&self.peer_tls_cert, &self.peer_tls_key, &self.peer_tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Some(jumpnet_broker::tls::PeerTlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
            }),
            (None, None, None) => None,
            (cert, key, ca) => {
                let missing: Vec<&str> = [
                    (cert.is_none(), "--peer-tls-cert"),
                    (key.is_none(), "--peer-tls-key"),
                    (ca.is_none(), "--peer-tls-ca"),
                ]
                .into_iter()
                .filter_map(|(m, flag)| m.then_some(flag))
                .collect();
                return Err(usage(&format!(
                    "peer TLS needs all of --peer-tls-cert, --peer-tls-key and --peer-tls-ca (missing: {})",
                    missing.join(", ")
                )));
            }
        };
        c.cacert = self.cacert.clone();
        c.kafka = self
            .kafka
            .as_deref()
            .map(|k| config::KafkaListen::new(k, self.advertise_kafka.as_deref(), &c.advertise_api))
            .transpose()?;
        c.validate()?;
        Ok(c)
    }
}

fn usage(msg: &str) -> jumpnet_broker::Error {
    jumpnet_broker::Error::Config(msg.into())
}

pub fn init_logging(format: LogFormat, filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| filter.to_string());
    // openraft and sled narrate every step at info; keep them at warn unless asked for.
    let filter = if filter.contains("openraft") {
        filter
    } else {
        format!("{filter},openraft=warn,sled=warn")
    };
    let env = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Colours only for a person at a terminal, not in files or log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
}

pub fn run(args: ServeArgs) -> i32 {
    let config = match args.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jumpnet: {e}");
            return super::EXIT_USAGE;
        }
    };
    init_logging(args.log_format, &args.log);
    match super::runtime().block_on(jumpnet_broker::server::run(config)) {
        Ok(()) => 0,
        Err(e @ (jumpnet_broker::Error::Config(_) | jumpnet_broker::Error::StateDir { .. })) => {
            eprintln!("jumpnet: {e}");
            super::EXIT_USAGE
        }
        Err(e) => {
            eprintln!("jumpnet: {e}");
            1
        }
    }
}
