//! Client subcommands: `publish`, `consume` (also `--group`), `cluster status` (`topics` and
//! `consumers` have files of their own). They talk to the v1 API through
//! [`jumpnet_broker::client`] and print plain lines, or JSON with `--output json`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use jumpnet_broker::client::{
    AutoCommit, Client, Message, MessageRef, OutMessage, Producer, COMMIT_INTERVAL,
};

#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Node(s) to talk to, comma-separated (the client moves to the next one when a node is down).
    #[arg(long, env = "JUMPNET_SERVER", default_value = "http://127.0.0.1:9090")]
    pub server: String,
    /// CA certificate(s) (PEM) to trust for `https://` servers, e.g. the one `jumpnet dev --tls`
    /// prints.
    #[arg(long, env = "JUMPNET_CACERT")]
    pub cacert: Option<std::path::PathBuf>,
    /// Client certificate (PEM, leaf first) to present to servers that require one (nodes with
    /// --tls-client-ca). Its key comes from --cert-key, or from this file when it holds both.
    #[arg(long, env = "JUMPNET_CERT")]
    pub cert: Option<std::path::PathBuf>,
    /// Private key of --cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "JUMPNET_CERT_KEY")]
    pub cert_key: Option<std::path::PathBuf>,
    /// Bearer token (clusters with --auth-file).
    #[arg(long, env = "JUMPNET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

impl Conn {
    pub fn client(&self) -> anyhow::Result<Client> {
        let mut b = Client::builder([self.server.as_str()]).token(self.token.clone());
        if let Some(ca) = &self.cacert {
            b = b.ca_file(ca)?;
        }
        if let Some((cert, key)) = self.identity()? {
            b = b.identity_files(cert, key)?;
        }
        Ok(b.build()?)
    }

    /// A plain HTTP client trusting --cacert and presenting --cert (bench's raw requests).
    pub fn http(&self) -> anyhow::Result<reqwest::Client> {
        let b = jumpnet_broker::tls::trusting(reqwest::Client::builder(), self.cacert.as_deref())
            .map_err(anyhow::Error::msg)?;
        let b = match self.identity()? {
            None => b,
            Some((cert, key)) => jumpnet_broker::tls::presenting(
                b,
                Some((
                    (cert, "--cert"),
                    (key, Self::key_flag(self.cert_key.is_some())),
                )),
            )
            .map_err(anyhow::Error::msg)?,
        };
        Ok(b.build()?)
    }

    /// The client certificate and key files, checked (readable PEM, the key the certificate's)
    /// with errors that name the flags; `None` without --cert.
    fn identity(&self) -> anyhow::Result<Option<(&std::path::Path, &std::path::Path)>> {
        let cert = match (&self.cert, &self.cert_key) {
            (None, None) => return Ok(None),
            (None, Some(_)) => anyhow::bail!(
                "--cert-key needs --cert (the client certificate it is the key of; env JUMPNET_CERT)"
            ),
            (Some(cert), _) => cert.as_path(),
        };
        let key = self.cert_key.as_deref().unwrap_or(cert);
        let key_flag = Self::key_flag(self.cert_key.is_some());
        jumpnet_broker::tls::identity_files((cert, "--cert"), (key, key_flag)).map_err(|e| {
            if self.cert_key.is_none() && e.contains("no private key") {
                anyhow::anyhow!(
                    "{e}; give the key file with --cert-key FILE (env JUMPNET_CERT_KEY)"
                )
            } else {
                anyhow::anyhow!(e)
            }
        })?;
        Ok(Some((cert, key)))
    }

    /// The flag that named the key file: --cert itself when there is no --cert-key.
    fn key_flag(separate: bool) -> &'static str {
        if separate {
            "--cert-key"
        } else {
            "--cert"
        }
    }
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    pub topic: String,
    /// Messages; without any, one message per line of stdin.
    pub messages: Vec<String>,
    /// Key of every message (the batch goes to the key's partition: Kafka's murmur2).
    #[arg(long)]
    pub key: Option<String>,
    /// The partition to publish to (default: the key's, else spread over the partitions).
    #[arg(long)]
    pub partition: Option<u32>,
    /// Messages per request when reading stdin.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    #[command(flatten)]
    pub conn: Conn,
}

pub async fn publish(a: PublishArgs) -> anyhow::Result<()> {
    let producer = Producer::new(a.conn.client()?);
    let to_msg = |v: String| OutMessage {
        key: a.key.clone(),
        ..OutMessage::from(v)
    };
    let mut out = std::io::stdout().lock();
    let send = |batch: Vec<OutMessage>| {
        let producer = &producer;
        let topic = a.topic.clone();
        let partition = a.partition;
        async move { producer.send_to(&topic, partition, batch).await }
    };
    let report = |p: jumpnet_broker::client::Published,
                  out: &mut std::io::StdoutLock|
     -> anyhow::Result<()> {
        match a.conn.output {
            Output::Json => writeln!(out, "{}", serde_json::to_string(&p)?)?,
            Output::Text => {
                // `TOPIC OFFSET`, with the partition when it is not 0 (offsets count per partition).
                for o in &p.offsets {
                    match p.partition {
                        0 => writeln!(out, "{} {o}", p.topic)?,
                        n => writeln!(out, "{} {o} partition {n}", p.topic)?,
                    }
                }
            }
        }
        Ok(())
    };
    if !a.messages.is_empty() {
        let p = send(a.messages.iter().cloned().map(to_msg).collect()).await?;
        return report(p, &mut out);
    }
    let stdin = std::io::stdin();
    let mut batch = Vec::new();
    for line in stdin.lock().lines() {
        batch.push(to_msg(line?));
        if batch.len() >= a.batch.max(1) {
            let p = send(std::mem::take(&mut batch)).await?;
            report(p, &mut out)?;
        }
    }
    if !batch.is_empty() {
        let p = send(batch).await?;
        report(p, &mut out)?;
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Start at the oldest retained message (default: the end, or the consumer's position).
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at this offset.
    #[arg(long, conflicts_with = "from_beginning")]
    pub offset: Option<u64>,
    /// Keep waiting for new messages until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// Named consumer: start at its committed position and commit the position printed: after each
    /// page, or with --follow at most once a second (and at exit).
    #[arg(long, conflicts_with = "group")]
    pub consumer: Option<String>,
    /// Consumer group (work sharing): fetch messages leased to this process, print them and
    /// acknowledge them; other members of the group get other messages.
    #[arg(long, conflicts_with_all = ["from_beginning", "offset"])]
    pub group: Option<String>,
    /// The partition to read (default 0; offsets and a named consumer's position are per
    /// partition). A group spans every partition.
    #[arg(long, conflicts_with = "group")]
    pub partition: Option<u32>,
    /// Stop after this many messages.
    #[arg(long, visible_alias = "max")]
    pub max_messages: Option<u64>,
    #[command(flatten)]
    pub conn: Conn,
}

fn print_message(out: &mut impl Write, m: &Message, output: Output) -> std::io::Result<()> {
    match output {
        Output::Text => writeln!(out, "{}", m.text()),
        Output::Json => writeln!(
            out,
            "{}",
            serde_json::to_string(m).expect("message encodes")
        ),
    }
}

pub async fn consume(a: ConsumeArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    if let Some(group) = &a.group {
        return consume_group(&client, &a, group).await;
    }
    let info = client.topic(&a.topic).await?;
    let partition = a.partition.unwrap_or(0);
    // Servers from before partitions list none: their one partition is the topic's.
    let (log_start, end) = match info
        .partition_offsets
        .iter()
        .find(|p| p.partition == partition)
    {
        Some(p) => (p.log_start_offset, p.high_watermark),
        None if partition == 0 => (info.log_start_offset, info.high_watermark),
        None => anyhow::bail!(
            "topic {:?} has {} partitions: there is no partition {partition}",
            a.topic,
            info.partitions
        ),
    };
    let mut next = match (a.offset, a.from_beginning, &a.consumer) {
        (Some(o), _, _) => o,
        (None, true, _) => log_start,
        (None, false, Some(c)) => {
            let p = client.position_at(c, &a.topic, partition).await?;
            if p.committed {
                p.offset.max(p.log_start_offset)
            } else {
                log_start
            }
        }
        (None, false, None) if a.follow => end,
        (None, false, None) => log_start,
    };
    let limit = a.max_messages.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    let mut commit = a.consumer.as_deref().map(|c| {
        AutoCommit::new(client.clone(), c, &a.topic, COMMIT_INTERVAL).on_partition(partition)
    });
    if a.follow {
        // One commit per interval at most (each is a Raft write), when idle, and at exit.
        let mut stream = Box::pin(client.stream_partition(&a.topic, partition, Some(next)));
        let result: anyhow::Result<()> = loop {
            let due = commit.as_ref().map(AutoCommit::due);
            tokio::select! {
                m = stream.next() => match m {
                    Some(Ok(m)) => {
                        print_message(&mut out, &m, a.conn.output)?;
                        out.flush()?;
                        next = m.offset + 1;
                        printed += 1;
                        if let Some(c) = commit.as_mut() {
                            c.mark(next).await?;
                        }
                        if printed >= limit { break Ok(()) }
                    }
                    Some(Err(e)) => break Err(e.into()),
                    None => break Ok(()),
                },
                _ = tokio::time::sleep_until(due.unwrap_or_else(far_future)), if due.is_some() => {
                    if let Some(c) = commit.as_mut() {
                        c.tick().await?;
                    }
                }
                _ = tokio::signal::ctrl_c() => break Ok(()),
            }
        };
        let flushed = match commit.as_mut() {
            Some(c) => c.flush().await,
            None => Ok(()),
        };
        result?;
        return Ok(flushed?);
    }
    // Read to the end of the log, page by page, then exit.
    loop {
        let page = client
            .read_partition(&a.topic, partition, Some(next), 1000, None)
            .await?;
        for m in &page.messages {
            if printed >= limit {
                break;
            }
            print_message(&mut out, m, a.conn.output)?;
            next = m.offset + 1;
            printed += 1;
        }
        if let Some(c) = commit.as_mut() {
            c.mark(next).await?;
            c.flush().await?; // once per page
        }
        if page.messages.is_empty() || next >= page.high_watermark || printed >= limit {
            return Ok(());
        }
    }
}

/// `consume --group`: fetch, print, acknowledge (what is fetched beyond `--max` is handed back);
/// with `--follow`, long-poll until Ctrl-C, else stop once the group has nothing for us.
async fn consume_group(client: &Client, a: &ConsumeArgs, group: &str) -> anyhow::Result<()> {
    let limit = a.max_messages.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    let wait = a.follow.then_some(Duration::from_secs(30));
    while printed < limit {
        let max = (limit - printed).min(100) as u32;
        let batch = tokio::select! {
            b = client.group_fetch(&a.topic, group, max, wait) => b?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        if batch.is_empty() {
            if a.follow {
                continue;
            }
            return Ok(());
        }
        let mut done = Vec::new();
        let mut back = Vec::new();
        for m in &batch {
            let r = MessageRef {
                partition: m.message.partition,
                offset: m.message.offset,
            };
            if printed >= limit {
                back.push(r);
                continue;
            }
            match a.conn.output {
                Output::Text => writeln!(out, "{}", m.message.text())?,
                Output::Json => writeln!(out, "{}", serde_json::to_string(m)?)?,
            }
            printed += 1;
            done.push(r);
        }
        out.flush()?;
        client.group_ack(&a.topic, group, &done).await?;
        if !back.is_empty() {
            client.group_nack(&a.topic, group, &back, None).await?;
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Members, roles, leader and replication lag.
    Status(Conn),
}

pub async fn cluster(cmd: ClusterCmd) -> anyhow::Result<()> {
    let ClusterCmd::Status(conn) = cmd;
    let v = conn.client()?.cluster().await?;
    let mut out = std::io::stdout().lock();
    if conn.output == Output::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "cluster {}  leader {}  term {}  commit {}",
        v.cluster_id.as_deref().unwrap_or("-"),
        v.leader_id.map_or("none".into(), |l| l.to_string()),
        v.term,
        v.commit_index
    )?;
    let last = v
        .members
        .iter()
        .find(|m| Some(m.id) == v.leader_id)
        .and_then(|m| m.matched_index);
    let rows: Vec<Vec<String>> = v
        .members
        .iter()
        .map(|m| {
            let role = if Some(m.id) == v.leader_id {
                "leader".to_string()
            } else {
                m.role.clone()
            };
            let lag = match (last, m.matched_index) {
                (Some(l), Some(x)) => l.saturating_sub(x).to_string(),
                _ => "-".into(),
            };
            vec![
                m.id.to_string(),
                role,
                m.api_addr.clone(),
                m.raft_addr.clone(),
                m.matched_index.map_or("-".into(), |x| x.to_string()),
                lag,
            ]
        })
        .collect();
    table(
        &mut out,
        &["ID", "ROLE", "API", "RAFT", "MATCHED", "LAG"],
        &rows,
    )?;
    Ok(())
}

/// Aligned columns, like kubectl.
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("   ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// A list for a person (a table of `row(item)`s under `header`) or, with `json`, for a program
/// (`{"<key>": [items]}`, pretty-printed).
pub fn print_list<T: serde::Serialize>(
    json: bool,
    key: &str,
    items: &[T],
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let mut doc = serde_json::Map::new();
        doc.insert(key.to_string(), serde_json::to_value(items)?);
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    table(&mut out, header, &rows)?;
    Ok(())
}

pub fn is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

pub const TICK: Duration = Duration::from_millis(500);

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}
