//! `jumpnet topics`: every topic with its stats and partition count (a table, or JSON), and
//! `jumpnet topics create|set TOPIC --partitions N` (create a topic, raise its partition count).

use std::io::Write;

use clap::{Args, Subcommand};

use super::client_cmds::{table, Conn, Output};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TopicsArgs {
    #[command(subcommand)]
    cmd: Option<TopicsCmd>,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Subcommand, Debug)]
enum TopicsCmd {
    /// List topics with their stats (the default).
    List(Conn),
    /// Create a topic (with --partitions N, default 1); an existing one is left as it is unless
    /// --partitions raises its count.
    Create(PutArgs),
    /// Raise a topic's partition count (it never goes down); creates the topic if missing.
    Set(SetArgs),
}

#[derive(Args, Debug)]
struct PutArgs {
    topic: String,
    /// Partition count (offsets count per partition).
    #[arg(long)]
    partitions: Option<u32>,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args, Debug)]
struct SetArgs {
    topic: String,
    /// The new partition count: at least the current one.
    #[arg(long)]
    partitions: u32,
    #[command(flatten)]
    conn: Conn,
}

pub async fn run(a: TopicsArgs) -> anyhow::Result<()> {
    match a.cmd {
        None => list(a.conn).await,
        Some(TopicsCmd::List(c)) => list(c).await,
        Some(TopicsCmd::Create(p)) => put(p.topic, p.partitions, p.conn).await,
        Some(TopicsCmd::Set(s)) => put(s.topic, Some(s.partitions), s.conn).await,
    }
}

async fn put(topic: String, partitions: Option<u32>, conn: Conn) -> anyhow::Result<()> {
    let t = conn.client()?.put_topic(&topic, partitions).await?;
    let mut out = std::io::stdout().lock();
    match conn.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&t)?)?,
        Output::Text => writeln!(out, "topic {} has {} partitions", t.name, t.partitions)?,
    }
    Ok(())
}

/// The table: MESSAGES and BYTES of the whole topic, START and END of its partition 0.
async fn list(conn: Conn) -> anyhow::Result<()> {
    let topics = conn.client()?.topics().await?;
    let mut out = std::io::stdout().lock();
    if conn.output == Output::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&topics)?)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = topics
        .iter()
        .map(|t| {
            let r = &t.retention;
            let retention = [
                r.max_messages.map(|v| format!("{v} msgs")),
                r.max_bytes.map(|v| format!("{v} B")),
                r.max_age_ms.map(|v| format!("{v} ms")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            vec![
                t.name.clone(),
                t.messages.to_string(),
                t.bytes.to_string(),
                t.partitions.to_string(),
                t.log_start_offset.to_string(),
                t.high_watermark.to_string(),
                if retention.is_empty() {
                    "default".into()
                } else {
                    retention
                },
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "TOPIC",
            "MESSAGES",
            "BYTES",
            "PARTITIONS",
            "START",
            "END",
            "RETENTION",
        ],
        &rows,
    )?;
    Ok(())
}
