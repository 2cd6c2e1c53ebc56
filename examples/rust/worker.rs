//! One worker of a consumer group (SPEC §9): start several of these processes with the same
//! `--group` and they share the topic's messages, each message leased to one worker at a time.
//! Every fetched batch is acknowledged with one call once handled (one replicated op, not one per
//! message); a worker that dies before that leaves its messages to come back to the group after
//! the ack wait, to another worker, with `delivery` counting up.
//!
//! ```sh
//! for w in a b c; do
//!   cargo run --release -p jumpnet-broker --example worker -- --topic jobs --group resizers --name $w &
//! done
//! ```
//!
//! Prints `worker offset delivery value` per message handled. `--crash-on VALUE`: exit on the
//! spot (no ack) the first time that message arrives, as a worker killed mid-message would.
//! `--until-empty`: stop once the group has nothing pending and nothing in flight.
//! `--ack-wait-ms N`: configure the group first (a group is otherwise created with the defaults).

use std::time::Duration;

use jumpnet_broker::client::{Client, GroupSettings, MessageRef};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let servers = arg("--servers").unwrap_or_else(|| {
        "http://127.0.0.1:9090,http://127.0.0.1:9091,http://127.0.0.1:9092".into()
    });
    let topic = arg("--topic").unwrap_or_else(|| "jobs".into());
    let group = arg("--group").unwrap_or_else(|| "workers".into());
    let name = arg("--name").unwrap_or_else(|| std::process::id().to_string());
    let crash_on = arg("--crash-on");
    let batch: u32 = arg("--batch").map(|b| b.parse()).transpose()?.unwrap_or(10);
    let client = Client::builder([servers.as_str()])
        // JUMPNET_TOKEN, JUMPNET_CACERT, JUMPNET_CERT and JUMPNET_CERT_KEY, as the CLI reads them.
        .from_env()?
        .build()?;
    if let Some(ms) = arg("--ack-wait-ms") {
        let settings = GroupSettings {
            ack_wait_ms: Some(ms.parse()?),
            ..GroupSettings::default()
        };
        client.configure_group(&topic, &group, &settings).await?;
    }

    loop {
        let leased = client
            .group_fetch(&topic, &group, batch, Some(Duration::from_secs(1)))
            .await?;
        if leased.is_empty() {
            if flag("--until-empty") {
                let info = client.group_info(&topic, &group).await?;
                if info.pending == 0 && info.in_flight == 0 {
                    return Ok(());
                }
            }
            continue;
        }
        let mut done = Vec::with_capacity(leased.len());
        for m in &leased {
            let value = m.message.text();
            if m.delivery == 1 && crash_on.as_deref() == Some(value.as_str()) {
                eprintln!("worker {name}: dying on {value} without acknowledging it");
                std::process::exit(3);
            }
            println!("{name} {} {} {value}", m.message.offset, m.delivery);
            done.push(MessageRef {
                partition: m.message.partition,
                offset: m.message.offset,
            });
        }
        client.group_ack(&topic, &group, &done).await?;
    }
}
