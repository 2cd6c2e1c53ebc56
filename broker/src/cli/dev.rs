//! `jumpnet dev`: the seed's `bootstrap.sh` in one command. Three child `jumpnet serve` processes
//! (state under `./tempdata/N`, raft on 8080–8082, APIs on 9090–9092, Kafka on 19092–19094), their
//! logs prefixed, the curl and kcat commands to try, and Ctrl-C stops them all gracefully.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use clap::Args;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Args, Debug)]
pub struct DevArgs {
    /// Where the nodes keep their state (one sub-directory per node).
    #[arg(long, env = "JUMPNET_DEV_DIR", default_value = "./tempdata")]
    pub dir: PathBuf,
    /// Number of nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=9))]
    pub nodes: u16,
    /// First raft port (node N uses this + N - 1).
    #[arg(long, default_value_t = 8080)]
    pub raft_port: u16,
    /// First API port.
    #[arg(long, default_value_t = 9090)]
    pub api_port: u16,
    /// First Kafka listener port (0: no Kafka listener).
    #[arg(long, default_value_t = 19092)]
    pub kafka_port: u16,
    /// Remove the state dir first (a fresh cluster).
    #[arg(long)]
    pub clean: bool,
    /// Serve the APIs over TLS, and the raft ports over mutual TLS, with a throwaway CA and
    /// certificate made now (under DIR/tls; the CA's path and the curl line with --cacert are
    /// printed).
    #[arg(long)]
    pub tls: bool,
    /// --tls, and the APIs and Kafka listeners also require client certificates from the
    /// throwaway CA (--tls-client-ca); a client certificate is made too (DIR/tls/client.pem and
    /// client-key.pem, printed in the curl and CLI lines).
    #[arg(long)]
    pub mtls: bool,
}

pub fn run(args: DevArgs) -> i32 {
    super::runtime().block_on(async move {
        match dev(args).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("jumpnet dev: {e}");
                1
            }
        }
    })
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    if args.clean && args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)?;
    }
    let exe = std::env::current_exe()?;
    let pki = if args.tls || args.mtls {
        let dir = std::path::absolute(args.dir.join("tls"))?;
        Some(jumpnet_broker::tls::write_dev_pki(&dir).map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let http = jumpnet_broker::tls::trusting(
        reqwest::Client::builder(),
        pki.as_ref().map(|p| p.ca.as_path()),
    )
    .and_then(|b| {
        let client = pki.as_ref().filter(|_| args.mtls).map(|p| {
            (
                (p.client_cert.as_path(), "client certificate"),
                (p.client_key.as_path(), "client key"),
            )
        });
        jumpnet_broker::tls::presenting(b, client)
    })
    .map_err(anyhow::Error::msg)?
    .build()?;
    let scheme = if pki.is_some() { "https" } else { "http" };
    let mut children: Vec<Child> = Vec::new();
    // One at a time, each ready before the next starts: node N gets Raft id N and API port
    // api_port + N - 1, every run.
    for n in 1..=args.nodes {
        let mut cmd = Command::new(&exe);
        cmd.arg("serve")
            .arg("--state-dir")
            .arg(args.dir.join(n.to_string()))
            .arg("--raft")
            .arg(format!(":{}", args.raft_port + n - 1))
            .arg("--api")
            .arg(format!(":{}", args.api_port + n - 1))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if n > 1 {
            cmd.arg("--join").arg(format!(":{}", args.raft_port));
        }
        if args.kafka_port != 0 {
            cmd.arg("--kafka")
                .arg(format!(":{}", args.kafka_port + n - 1));
        }
        if let Some(p) = &pki {
            cmd.arg("--tls-cert")
                .arg(&p.cert)
                .arg("--tls-key")
                .arg(&p.key)
                .arg("--cacert")
                .arg(&p.ca)
                // Mutual TLS between the nodes too, with the same throwaway certificate.
                .arg("--peer-tls-cert")
                .arg(&p.cert)
                .arg("--peer-tls-key")
                .arg(&p.key)
                .arg("--peer-tls-ca")
                .arg(&p.ca);
            if args.mtls {
                cmd.arg("--tls-client-ca").arg(&p.ca);
            }
        }
        let mut child = cmd.spawn()?;
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child.stderr.take().map(|e| Box::new(e) as _),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("[node {n}] {line}");
                }
            });
        }
        children.push(child);
        let api = format!("127.0.0.1:{}", args.api_port + n - 1);
        let ready = async {
            loop {
                let ok = http
                    .get(format!("{scheme}://{api}/readyz"))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            _ = ready => {}
            _ = stop_requested() => { stop(&mut children).await; return Ok(()) }
            r = wait_any(&mut children) => { stop(&mut children).await; anyhow::bail!("node {n} exited during start-up ({r})") }
        }
    }
    print_welcome(&args, pki.as_ref());
    tokio::select! {
        _ = stop_requested() => eprintln!("\nstopping the cluster..."),
        r = wait_any(&mut children) => eprintln!("a node exited ({r}); stopping the cluster..."),
    }
    stop(&mut children).await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (`kill`, `timeout`, a supervisor): either stops the nodes before `dev` exits
/// (a SIGTERM used to end `dev` alone and leave its three nodes running).
async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn print_welcome(args: &DevArgs, pki: Option<&jumpnet_broker::tls::DevPki>) {
    let p = args.api_port;
    let last = p + args.nodes - 1;
    let (second, third) = (p + 1.min(args.nodes - 1), p + 2.min(args.nodes - 1));
    let (curl, host) = match pki {
        Some(k) if args.mtls => (
            format!(
                "curl --cacert {} --cert {} --key {}",
                k.ca.display(),
                k.client_cert.display(),
                k.client_key.display()
            ),
            "https://localhost",
        ),
        Some(k) => (
            format!("curl --cacert {}", k.ca.display()),
            "https://localhost",
        ),
        None => ("curl".to_string(), "localhost"),
    };
    println!(
        "\nJumpnet dev cluster is up: {} nodes, APIs on 127.0.0.1:{p}-{last}, state in {}",
        args.nodes,
        args.dir.display(),
    );
    if let Some(k) = pki {
        println!(
            "TLS: a throwaway CA signed the nodes' certificate (localhost, 127.0.0.1)\n  CA:  {}\n  \
             clients: --cacert {} (or JUMPNET_CACERT) and --server https://localhost:{p}",
            k.ca.display(),
            k.ca.display()
        );
        if args.mtls {
            println!(
                "  client certificates required: --cert {} --cert-key {} \
                 (or JUMPNET_CERT and JUMPNET_CERT_KEY)",
                k.client_cert.display(),
                k.client_key.display()
            );
        }
    }
    println!(
        "\nTry:\n  {curl} -XPUT {host}:{p} -d '{{\"Key\":\"foo\",\"Value\":\"bar\"}}'\n  \
         {curl} {host}:{second}/foo\n  {curl} {host}:{third}/history/foo\n  \
         {curl} -XPOST {host}:{p}/v1/topics/foo/messages -d '{{\"messages\":[{{\"value\":\"hello\",\"key\":\"k1\"}}]}}'\n  \
         {curl} '{host}:{p}/v1/topics/foo/messages?offset=0'\n  {curl} {host}:{p}/v1/cluster"
    );
    if args.kafka_port != 0 {
        let k = args.kafka_port;
        let k_last = k + args.nodes - 1;
        let (tls_note, kcat) = match pki {
            Some(t) if args.mtls => (
                " (TLS, the API's certificate; client certificates required)",
                format!(
                    "kcat -X security.protocol=ssl -X ssl.ca.location={} \
                     -X ssl.certificate.location={} -X ssl.key.location={}",
                    t.ca.display(),
                    t.client_cert.display(),
                    t.client_key.display()
                ),
            ),
            Some(t) => (
                " (TLS, the API's certificate)",
                format!(
                    "kcat -X security.protocol=ssl -X ssl.ca.location={}",
                    t.ca.display()
                ),
            ),
            None => ("", "kcat".to_string()),
        };
        println!(
            "\nKafka clients: bootstrap 127.0.0.1:{k} (brokers on {k}-{k_last}){tls_note}\n  \
             echo 'hello from kafka' | {kcat} -P -b 127.0.0.1:{k} -t foo\n  \
             {kcat} -C -b 127.0.0.1:{k} -t foo -o beginning -e -f '%o %k %s\\n'"
        );
    }
    println!("\nCtrl-C stops all nodes.");
}

async fn wait_any(children: &mut [Child]) -> String {
    let waits = children.iter_mut().map(|c| Box::pin(c.wait()));
    match futures::future::select_all(waits).await.0 {
        Ok(status) => status.to_string(),
        Err(e) => e.to_string(),
    }
}

async fn stop(children: &mut [Child]) {
    for c in children.iter() {
        if let Some(pid) = c.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    for c in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(15), c.wait())
            .await
            .is_err()
        {
            let _ = c.kill().await;
        }
    }
}
