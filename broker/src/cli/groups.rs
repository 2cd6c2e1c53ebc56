//! `jumpnet groups TOPIC`: a topic's consumer groups (SPEC §9) with their counts (a table, or
//! JSON), and `jumpnet groups delete TOPIC GROUP`.

use clap::{Args, Subcommand};

use super::client_cmds::{print_list, Conn, Output};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GroupsArgs {
    #[command(subcommand)]
    cmd: Option<GroupsCmd>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Subcommand, Debug)]
enum GroupsCmd {
    /// List a topic's groups with their counts (the default).
    List(ListArgs),
    /// Delete a group (its leases and acknowledgements; the messages stay).
    Delete(DeleteArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// The topic whose groups to list.
    topic: Option<String>,
    /// Print JSON (same as --output json).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    topic: String,
    group: String,
    #[command(flatten)]
    conn: Conn,
}

pub async fn run(a: GroupsArgs) -> anyhow::Result<()> {
    match a.cmd {
        None => list(a.list).await,
        Some(GroupsCmd::List(l)) => list(l).await,
        Some(GroupsCmd::Delete(d)) => {
            d.conn.client()?.delete_group(&d.topic, &d.group).await?;
            println!("deleted group {} of topic {}", d.group, d.topic);
            Ok(())
        }
    }
}

async fn list(l: ListArgs) -> anyhow::Result<()> {
    let Some(topic) = l.topic else {
        anyhow::bail!("which topic? `jumpnet groups TOPIC`");
    };
    let groups = l.conn.client()?.list_groups(&topic).await?;
    print_list(
        l.json || l.conn.output == Output::Json,
        "groups",
        &groups,
        &[
            "GROUP",
            "PENDING",
            "IN_FLIGHT",
            "ACKED_FLOOR",
            "REDELIVERED",
            "DEAD_LETTERED",
            "LAG",
        ],
        |g| {
            vec![
                g.group.clone(),
                g.pending.to_string(),
                g.in_flight.to_string(),
                g.acked_floor.to_string(),
                g.redelivered.to_string(),
                g.dead_lettered.to_string(),
                g.lag.to_string(),
            ]
        },
    )
}
