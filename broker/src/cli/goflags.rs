//! The seed's Go-style flags: `-state_dir=./x`, `-raft :8080`, `-join :8080` become
//! `--state-dir=./x`, `--raft :8080`, `--join :8080`. Only names this CLI knows are rewritten, so
//! values and short flags pass through untouched.

use std::collections::HashSet;

pub fn normalize(args: impl IntoIterator<Item = String>, known: &HashSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || passthrough || !arg.starts_with('-') || arg.starts_with("--") || arg.len() < 3
        {
            passthrough |= arg == "--";
            out.push(arg);
            continue;
        }
        let body = &arg[1..];
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let long = name.replace('_', "-");
        if known.contains(&long) {
            out.push(match value {
                Some(v) => format!("--{long}={v}"),
                None => format!("--{long}"),
            });
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> HashSet<String> {
        ["state-dir", "raft", "api", "join"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn norm(line: &str) -> Vec<String> {
        normalize(line.split(' ').map(String::from), &known())
    }

    #[test]
    fn the_seed_command_lines_become_long_flags() {
        assert_eq!(
            norm("jumpnet -state_dir=./tempdata/1 -raft :8080 -api :9090"),
            [
                "jumpnet",
                "--state-dir=./tempdata/1",
                "--raft",
                ":8080",
                "--api",
                ":9090"
            ]
        );
        assert_eq!(
            norm("jumpnet -state_dir ./tempdata/2 -raft :8081 -api :9091 -join :8080")[1..3],
            ["--state-dir", "./tempdata/2"]
        );
    }

    #[test]
    fn unknown_single_dash_words_and_values_are_left_alone() {
        assert_eq!(
            norm("jumpnet publish -x -- -raft"),
            ["jumpnet", "publish", "-x", "--", "-raft"]
        );
        assert_eq!(norm("jumpnet -h"), ["jumpnet", "-h"]);
    }
}
