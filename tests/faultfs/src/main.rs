//! `jnf-faultfs`: a FUSE filesystem for power-loss tests (LazyFS-style), used by `tests/faults`.
//!
//! ```text
//!   jnf-faultfs --mount DIR --control SOCK
//! ```
//!
//! Files live in memory in two layers, what programs see and what a sync made durable
//! ([`model`]). A test talks to it over the control socket, one command a connection, one JSON
//! line back:
//!
//! | command | effect |
//! |---|---|
//! | `status` | `{"frozen", "fired", "armed", "crashes", "inodes", "bytes_held", "ops"}` |
//! | `arm OP GLOB N` | freeze right after the N-th `OP` (`write create mkdir unlink rmdir rename link truncate fsync fsyncdir`) on a path matching `GLOB` (`*` matches anything) |
//! | `disarm` | forget the trigger |
//! | `freeze` | freeze now: the instant of the power cut |
//! | `sync` | make everything durable (the kernel's writeback plus `sync(1)`) |
//! | `drain` | answer the parked requests `EIO`, staying frozen: a killed process waiting on them exits (the kernel does not abort a FUSE request already handed to the filesystem, even for SIGKILL) |
//! | `crash` / `crash torn SEED` / `crash torn-data SEED` | power loss: drop everything not synced (torn: keep a random prefix of it; torn-data: keep every directory change and tear each file inside a write), answer parked requests `EIO`, thaw |
//! | `unmount` | unmount and exit |
//!
//! Power loss, in order: `freeze` (or an armed trigger fires), SIGKILL the processes using the
//! files, `drain` until they are gone (they die before they see the `EIO`), then `crash`.

#![forbid(unsafe_code)]

mod blob;
mod fuse;
mod model;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser;
use fuser::MountOption;
use serde_json::{json, Value};

use fuse::{lock, FaultFs, Shared, State};
use model::{Loss, Model, OpKind, Trigger};

#[derive(Parser)]
#[command(
    about = "FUSE filesystem that loses everything not fsynced on command (power-loss tests)"
)]
struct Args {
    /// Where to mount (an existing, empty directory).
    #[arg(long)]
    mount: PathBuf,
    /// Unix socket for the control commands.
    #[arg(long)]
    control: PathBuf,
    /// When directory changes (create, rename, unlink, mkdir) become durable: `strict` (only an
    /// fsync of that directory, POSIX) or `journaled` (any fsync, as on ext4 and XFS).
    #[arg(long, value_enum, default_value = "strict")]
    metadata: model::Metadata,
}

fn command(state: &Shared, line: &str, unmount: &mut fuser::SessionUnmounter) -> Value {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut st = lock(state);
    match words.as_slice() {
        ["status"] => {
            let ops: serde_json::Map<String, Value> = st
                .model
                .stats
                .iter()
                .map(|(k, v)| (format!("{k:?}").to_lowercase(), json!(v)))
                .collect();
            json!({
                "ok": true,
                "frozen": st.frozen,
                "metadata": st.model.metadata,
                "fired": st.model.fired,
                "armed": st.model.trigger(),
                "crashes": st.model.crashes,
                "inodes": st.model.inode_count(),
                "bytes_held": st.model.bytes_held(),
                "ops": ops,
            })
        }
        ["arm", op, glob, n] => match (OpKind::parse(op), n.parse::<u64>()) {
            (Some(op), Ok(n)) if n > 0 => {
                st.model.arm(Trigger {
                    op,
                    glob: glob.to_string(),
                    remaining: n,
                });
                json!({"ok": true})
            }
            _ => json!({"ok": false, "error": format!("bad arm command: {line}")}),
        },
        ["disarm"] => {
            st.model.disarm();
            json!({"ok": true})
        }
        ["freeze"] => {
            st.frozen = true;
            json!({"ok": true})
        }
        ["drain"] => {
            let parked = std::mem::take(&mut st.parked);
            drop(st);
            let n = parked.len();
            for p in parked {
                p(libc::EIO);
            }
            json!({"ok": true, "answered": n})
        }
        ["sync"] => {
            st.model.sync_all();
            json!({"ok": true})
        }
        ["crash"] | ["crash", "torn" | "torn-data", _] => {
            let seed = words.get(2).map(|s| s.parse::<u64>());
            let loss = match (words.get(1).copied(), seed) {
                (None, _) => Loss::Clean,
                (Some("torn"), Some(Ok(s))) => Loss::Torn(s),
                (Some(_), Some(Ok(s))) => Loss::TornData(s),
                _ => return json!({"ok": false, "error": "bad seed"}),
            };
            let report = st.model.crash(loss);
            st.frozen = false;
            let parked = std::mem::take(&mut st.parked);
            drop(st);
            for p in parked {
                p(libc::EIO);
            }
            json!({"ok": true, "report": report})
        }
        ["unmount"] => {
            drop(st);
            match unmount.unmount() {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e.to_string()}),
            }
        }
        _ => json!({"ok": false, "error": format!("unknown command: {line}")}),
    }
}

fn serve(listener: UnixListener, state: Shared, mut unmount: fuser::SessionUnmounter) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let mut line = String::new();
        if BufReader::new(&conn).read_line(&mut line).is_err() {
            continue;
        }
        let answer = command(&state, line.trim(), &mut unmount);
        let mut w: &UnixStream = &conn;
        let _ = writeln!(w, "{answer}");
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut model = Model::new();
    model.metadata = args.metadata;
    let state: Shared = Arc::new(Mutex::new(State {
        model,
        frozen: false,
        parked: Vec::new(),
    }));
    let _ = std::fs::remove_file(&args.control);
    let listener = UnixListener::bind(&args.control)?;
    let options = [
        MountOption::FSName("jnf-faultfs".into()),
        MountOption::RW,
        MountOption::NoAtime,
    ];
    let fs = FaultFs {
        state: state.clone(),
    };
    let mut session = fuser::Session::new(fs, &args.mount, &options)?;
    let unmount = session.unmount_callable();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || serve(listener, state, unmount))?;
    println!("mounted {}", args.mount.display());
    std::io::stdout().flush()?;
    session.run()
}
