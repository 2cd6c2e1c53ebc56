//! Command line: clap definitions and dispatch. Every flag also reads `JUMPNET_<FLAG>`.

mod bench;
mod client_cmds;
mod consumers;
mod dev;
mod goflags;
mod groups;
mod serve;
mod topics;

use std::collections::HashSet;

use clap::{CommandFactory, Parser, Subcommand};

pub use serve::ServeArgs;

/// EX_USAGE: bad flags or configuration.
const EXIT_USAGE: i32 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "jumpnet",
    version,
    about = "Jumpnet: a Raft-replicated message broker",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// `jumpnet [FLAGS]` without a subcommand means `jumpnet serve [FLAGS]`.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a broker node (the default).
    Serve(Box<ServeArgs>),
    /// Start a local 3-node cluster (state under ./tempdata, APIs on 9090-9092); Ctrl-C stops it.
    Dev(dev::DevArgs),
    /// Publish messages (arguments, or one per line of stdin).
    Publish(client_cmds::PublishArgs),
    /// Print a topic's messages, one value per line; exits at the end of the log unless --follow.
    Consume(client_cmds::ConsumeArgs),
    /// List topics with their stats and partitions; `create` one or `set` its partition count.
    Topics(topics::TopicsArgs),
    /// Named consumer positions with their lag; `delete` or `reset` one.
    Consumers(consumers::ConsumersArgs),
    /// A topic's consumer groups with their counts; `delete` one.
    Groups(groups::GroupsArgs),
    /// Cluster commands.
    #[command(subcommand)]
    Cluster(client_cmds::ClusterCmd),
    /// Load generator: throughput and latency percentiles.
    Bench(bench::BenchArgs),
}

fn known_long_flags() -> HashSet<String> {
    fn walk(cmd: &clap::Command, out: &mut HashSet<String>) {
        out.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_long().map(String::from)),
        );
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = HashSet::new();
    walk(&Cli::command(), &mut out);
    out
}

pub fn main() -> i32 {
    let args = goflags::normalize(std::env::args(), &known_long_flags());
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            // One clear line, not a page of usage.
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("jumpnet: {first} (see jumpnet --help)");
            return EXIT_USAGE;
        }
    };
    match cli.cmd {
        None => serve::run(cli.serve),
        Some(Cmd::Serve(a)) => serve::run(*a),
        Some(Cmd::Dev(a)) => dev::run(a),
        Some(Cmd::Publish(a)) => client(client_cmds::publish(a)),
        Some(Cmd::Consume(a)) => client(client_cmds::consume(a)),
        Some(Cmd::Topics(a)) => client(topics::run(a)),
        Some(Cmd::Consumers(a)) => client(consumers::run(a)),
        Some(Cmd::Groups(a)) => client(groups::run(a)),
        Some(Cmd::Cluster(c)) => client(client_cmds::cluster(c)),
        Some(Cmd::Bench(a)) => client(bench::run(a)),
    }
}

/// Run a client command; errors are one line on stderr and exit 1.
fn client(f: impl std::future::Future<Output = anyhow::Result<()>>) -> i32 {
    match runtime().block_on(f) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("jumpnet: {e}");
            1
        }
    }
}

/// A multi-threaded runtime for the commands.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
