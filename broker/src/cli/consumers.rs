//! `jumpnet consumers`: named consumer positions with their lag (a table, or JSON), and the
//! subcommands that delete one or move it (reset).

use clap::{Args, Subcommand};

use super::client_cmds::{print_list, Conn, Output};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConsumersArgs {
    #[command(subcommand)]
    cmd: Option<ConsumersCmd>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Subcommand, Debug)]
enum ConsumersCmd {
    /// List positions with their lag (the default).
    List(ListArgs),
    /// Delete a consumer's position on a topic.
    Delete(PositionArgs),
    /// Move a consumer's position on a topic (backwards to replay, forwards to skip).
    Reset(ResetArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only this topic's positions.
    #[arg(long)]
    topic: Option<String>,
    /// Print JSON (same as --output json).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args, Debug)]
struct PositionArgs {
    /// The consumer's name.
    name: String,
    #[arg(long)]
    topic: String,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args, Debug)]
struct ResetArgs {
    #[command(flatten)]
    position: PositionArgs,
    /// The next offset the consumer reads.
    #[arg(long)]
    to_offset: u64,
}

pub async fn run(a: ConsumersArgs) -> anyhow::Result<()> {
    match a.cmd {
        None => list(a.list).await,
        Some(ConsumersCmd::List(l)) => list(l).await,
        Some(ConsumersCmd::Delete(p)) => {
            p.conn.client()?.delete_consumer(&p.name, &p.topic).await?;
            println!("deleted consumer {} of topic {}", p.name, p.topic);
            Ok(())
        }
        Some(ConsumersCmd::Reset(r)) => {
            let p = &r.position;
            let pos = p
                .conn
                .client()?
                .commit(&p.name, &p.topic, r.to_offset)
                .await?;
            if p.conn.output == Output::Json {
                println!("{}", serde_json::to_string(&pos)?);
            } else {
                println!(
                    "consumer {} of topic {} at offset {} (lag {})",
                    pos.consumer, pos.topic, pos.offset, pos.lag
                );
            }
            Ok(())
        }
    }
}

async fn list(l: ListArgs) -> anyhow::Result<()> {
    let consumers = l.conn.client()?.list_consumers(l.topic.as_deref()).await?;
    print_list(
        l.json || l.conn.output == Output::Json,
        "consumers",
        &consumers,
        &["NAME", "TOPIC", "PARTITION", "OFFSET", "END", "LAG"],
        |c| {
            vec![
                c.name.clone(),
                c.topic.clone(),
                c.partition.to_string(),
                c.offset.to_string(),
                c.end_offset.to_string(),
                c.lag.to_string(),
            ]
        },
    )
}
