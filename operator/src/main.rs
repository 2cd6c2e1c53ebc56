//! `jumpnet-operator`: `run` (default) the controller, print the `crd`, or `render` the objects
//! of a JumpnetCluster file without a cluster. Every flag also reads `JUMPNET_OPERATOR_<FLAG>`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use futures::FutureExt;
use jumpnet_operator::broker_client::HttpBroker;
use jumpnet_operator::leader_election::{LeaderElector, LeaseConfig};
use jumpnet_operator::metrics::{router, HttpState, Metrics};
use jumpnet_operator::reconcile::{self, BrokerAddressing, Context, Settings};
use jumpnet_operator::telemetry::{self, LogFormat};
use jumpnet_operator::{crd, render};
use tokio::sync::watch;
use tracing::{error, info};

/// Exit code for bad command lines and input files (BSD `EX_USAGE`).
const EX_USAGE: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "jumpnet-operator",
    version,
    about = "Kubernetes operator for Jumpnet clusters"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller (the default).
    Run(RunArgs),
    /// Print the JumpnetCluster CRD as YAML.
    Crd,
    /// Print every object the operator would apply for the JumpnetCluster(s) in a file.
    Render {
        /// YAML file with one or more JumpnetClusters (`-` for stdin).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        #[arg(
            long,
            env = "JUMPNET_OPERATOR_CLUSTER_DOMAIN",
            default_value = "cluster.local"
        )]
        cluster_domain: String,
    },
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// Watch only these namespaces (comma-separated); all namespaces when empty.
    #[arg(
        long,
        alias = "namespace",
        env = "JUMPNET_OPERATOR_NAMESPACES",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Address of /metrics, /livez and /readyz.
    #[arg(
        long,
        env = "JUMPNET_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    metrics_addr: SocketAddr,
    #[arg(long, env = "JUMPNET_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Elect a leader on a Lease so several replicas can run (only the holder reconciles).
    #[arg(long, env = "JUMPNET_OPERATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    #[arg(
        long,
        env = "JUMPNET_OPERATOR_LEASE_NAME",
        default_value = "jumpnet-operator"
    )]
    lease_name: String,
    /// Namespace of the Lease; the operator's own (`POD_NAMESPACE`) by default.
    #[arg(long, env = "JUMPNET_OPERATOR_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, env = "JUMPNET_OPERATOR_LEASE_DURATION", default_value_t = 15)]
    lease_duration: u64,
    /// This replica's identity in the Lease; `POD_NAME`, else the hostname.
    #[arg(long, env = "JUMPNET_OPERATOR_IDENTITY")]
    identity: Option<String>,
    /// Cluster DNS domain used in the brokers' advertise addresses.
    #[arg(
        long,
        env = "JUMPNET_OPERATOR_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    cluster_domain: String,
    /// How to reach the brokers' admin API: `dns` (in-cluster) or `pod-ip`.
    #[arg(long, env = "JUMPNET_OPERATOR_BROKER_ADDRESS", value_enum, default_value_t = BrokerAddressing::Dns)]
    broker_address: BrokerAddressing,
    /// Seconds between reconciles while a step is in progress.
    #[arg(long, env = "JUMPNET_OPERATOR_REQUEUE_BUSY", default_value_t = 5)]
    requeue_busy: u64,
    /// Seconds between reconciles of a converged cluster.
    #[arg(long, env = "JUMPNET_OPERATOR_REQUEUE_IDLE", default_value_t = 60)]
    requeue_idle: u64,
}

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => usage_error(format!("writing to stdout: {e}")),
    }
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("jumpnet-operator: {msg}");
    ExitCode::from(EX_USAGE)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            return usage_error(first.trim_start_matches("error: "));
        }
    };
    match cli.command {
        Some(Command::Crd) => match crd::crd_yaml() {
            Ok(yaml) => emit(&yaml),
            Err(e) => usage_error(e),
        },
        Some(Command::Render {
            file,
            cluster_domain,
        }) => {
            let input = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(&file)
            };
            let input = match input {
                Ok(s) => s,
                Err(e) => return usage_error(format!("{}: {e}", file.display())),
            };
            match render::render(&input, &cluster_domain) {
                Ok(out) => emit(&out),
                Err(e) => usage_error(format!("{}: {e}", file.display())),
            }
        }
        Some(Command::Run(args)) => run_main(args),
        None => run_main(cli.run),
    }
}

fn run_main(args: RunArgs) -> ExitCode {
    telemetry::init(args.log_format);
    if args.lease_duration < 2 || args.requeue_busy == 0 {
        return usage_error("--lease-duration must be at least 2 and --requeue-busy positive");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return usage_error(format!("tokio runtime: {e}")),
    };
    let result = runtime.block_on(run(args));
    // Do not wait for idle blocking threads (DNS lookups) to time out.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("jumpnet-operator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new()?);
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.metrics_addr))?;
    let http = router(HttpState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    });
    tokio::spawn(async move { axum::serve(listener, http).await });
    info!(addr = %args.metrics_addr, "serving /metrics, /livez, /readyz");

    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration")?;
    let settings = Settings {
        cluster_domain: args.cluster_domain.clone(),
        broker_addressing: args.broker_address,
        requeue_busy: Duration::from_secs(args.requeue_busy),
        requeue_idle: Duration::from_secs(args.requeue_idle),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(HttpBroker::new()),
        metrics.clone(),
        settings,
    ));

    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    let stop = stop_rx.shared();
    let (leading_tx, mut leading) = watch::channel(!args.leader_election);
    let mut elector_handle = None;
    if args.leader_election {
        let identity = args
            .identity
            .clone()
            .or_else(|| std::env::var("POD_NAME").ok())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("jumpnet-operator-{}", std::process::id()));
        let namespace = args
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| client.default_namespace().to_string());
        let config = LeaseConfig::new(
            args.lease_name.clone(),
            namespace,
            identity,
            Duration::from_secs(args.lease_duration),
        );
        info!(lease = %config.name, namespace = %config.namespace, identity = %config.identity, "leader election on");
        let elector = LeaderElector::new(client.clone(), config.clone());
        elector_handle = Some((config, tokio::spawn(elector.run(leading_tx, ready.clone()))));
    } else {
        client
            .apiserver_version()
            .await
            .context("the API server does not answer")?;
        ready.store(true, Ordering::Relaxed);
    }

    // Standby until we lead (or are told to stop).
    tokio::select! {
        _ = shutdown_signal() => return Ok(()),
        res = leading.wait_for(|l| *l) => { res.context("leader election stopped")?; }
    }
    metrics.leader.set(1);
    info!("leading: reconciling");
    let lost = Arc::new(AtomicBool::new(false));
    let lost_flag = lost.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown_signal() => {},
            _ = leading.wait_for(|l| !*l) => lost_flag.store(true, Ordering::Relaxed),
        }
        let _ = stop_tx.send(());
    });
    reconcile::run(ctx, args.namespaces.clone(), stop).await;
    metrics.leader.set(0);

    if lost.load(Ordering::Relaxed) {
        anyhow::bail!("lost the leader Lease; exiting so a fresh process can stand as candidate");
    }
    if let Some((config, task)) = elector_handle {
        // Stop renewing first, or the loop would take the released Lease right back.
        task.abort();
        let _ = task.await;
        let mut elector = LeaderElector::new(client, config);
        if let Err(e) = elector.release().await {
            tracing::warn!(error = %e, "could not release the leader Lease");
        }
    }
    info!("stopped");
    Ok(())
}
