//! Real `jumpnet` processes on loopback: start, kill -9, SIGTERM, restart on the same state dir,
//! and HTTP helpers. Everything waits on conditions (polling the API), never on fixed sleeps.
//!
//! A node's first start binds port 0 (the OS picks, no race with other processes) and the harness
//! reads the ports back from the node's `listening` log line; restarts reuse those ports, so the
//! member keeps the addresses the cluster knows it by.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_jumpnet");

/// How long a started node may take to bind its ports and log them.
const STARTUP: Duration = Duration::from_secs(30);

pub struct Node {
    pub n: usize,
    pub raft_port: u16,
    pub api_port: u16,
    pub dir: PathBuf,
    pub args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    /// Start (or restart) the process with its arguments; a first start on port 0 learns its
    /// ports (and later starts keep them).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node {} already running", self.n);
        let logged_before = std::fs::read_to_string(self.log_path()).map_or(0, |t| t.len());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(BIN)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start jumpnet");
        self.child = Some(child);
        if self.raft_port == 0 || self.api_port == 0 {
            self.learn_ports(logged_before);
        }
    }

    /// Read the ports the node bound from its `listening` line, and pin them for restarts.
    fn learn_ports(&mut self, skip: usize) {
        let deadline = Instant::now() + STARTUP;
        let (raft, api) = loop {
            let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let port = |line: &str, key: &str| -> Option<u16> {
                let at = line.find(&format!("{key}=127.0.0.1:"))? + key.len() + 11;
                line[at..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            };
            if let Some(l) = text
                .get(skip..)
                .unwrap_or("")
                .lines()
                .find(|l| l.contains("listening"))
            {
                if let (Some(r), Some(a)) = (port(l, "raft"), port(l, "api")) {
                    break (r, a);
                }
            }
            assert!(
                Instant::now() < deadline && !self.has_exited(),
                "node {} did not report its ports\n{}",
                self.n,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.raft_port = raft;
        self.api_port = api;
        for (flag, port) in [("-raft", raft), ("-api", api)] {
            let i = self.args.iter().position(|a| a == flag).expect("flag") + 1;
            self.args[i] = format!(":{port}");
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and wait for the process to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit after SIGTERM\n{}",
                self.n,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send SIGTERM without waiting.
    pub fn signal_term(&self) {
        let c = self.child.as_ref().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    }

    /// Freeze (SIGSTOP) or thaw (SIGCONT) the process: to its peers it looks cut off.
    pub fn freeze(&self, frozen: bool) {
        let c = self.child.as_ref().expect("running");
        let sig = if frozen {
            nix::sys::signal::Signal::SIGSTOP
        } else {
            nix::sys::signal::Signal::SIGCONT
        };
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig).unwrap();
    }

    /// The exit code once the process exited on its own (`None` while it runs, or on a signal).
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.as_mut()?.try_wait().unwrap()?.code()
    }

    pub fn has_exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().unwrap().is_some(),
            None => true,
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A set of nodes sharing a temporary directory.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub tmp: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster {
            nodes: Vec::new(),
            tmp: tempfile::tempdir().unwrap(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        }
    }

    /// Add a node with Go-style seed flags plus `extra`; `join` is the index of a node to join.
    pub fn add(&mut self, join: Option<usize>, extra: &[&str]) -> usize {
        let n = self.nodes.len();
        let dir = self.tmp.path().join(format!("node{n}"));
        let mut args = vec![
            format!("-state_dir={}", dir.display()),
            "-raft".into(),
            ":0".into(),
            "-api".into(),
            ":0".into(),
        ];
        if let Some(j) = join {
            args.extend(["-join".into(), format!(":{}", self.nodes[j].raft_port)]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node {
            n,
            raft_port: 0,
            api_port: 0,
            dir,
            args,
            child: None,
        };
        node.start();
        self.nodes.push(node);
        n
    }

    /// A 3-node cluster formed with the seed's command lines, all voters.
    pub async fn three(extra: &[&str]) -> Cluster {
        let mut c = Cluster::new();
        c.add(None, extra);
        c.add(Some(0), extra);
        c.add(Some(0), extra);
        c.wait_voters(&[0, 1, 2], 3).await;
        c
    }

    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {} ---\n{}", n.n, n.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub async fn get(&self, i: usize, path: &str) -> Option<(u16, Value)> {
        let r = self
            .http
            .get(format!("{}{path}", self.nodes[i].api()))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        i: usize,
        path: &str,
        body: &str,
    ) -> Option<(u16, Value)> {
        let r = self
            .http
            .request(method, format!("{}{path}", self.nodes[i].api()))
            .body(body.to_string())
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// The seed publish; returns the offset on success.
    pub async fn put(&self, i: usize, topic: &str, value: &str) -> Result<u64, String> {
        let body = serde_json::json!({"Key": topic, "Value": value}).to_string();
        match self.send(reqwest::Method::PUT, i, "/", &body).await {
            Some((200, v)) => Ok(v["offset"].as_u64().unwrap()),
            Some((s, v)) => Err(format!("{s} {v}")),
            None => Err("no answer".into()),
        }
    }

    pub async fn history(&self, i: usize, topic: &str) -> Option<Vec<String>> {
        match self.get(i, &format!("/history/{topic}")).await? {
            (200, Value::Array(a)) => Some(
                a.into_iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
            ),
            _ => None,
        }
    }

    /// A node's own view of the cluster.
    pub async fn view(&self, i: usize) -> Option<Value> {
        match self.get(i, "/v1/cluster?local=true").await? {
            (200, v) => Some(v),
            _ => None,
        }
    }

    /// The leader as node `i` sees it.
    pub async fn leader_seen_by(&self, i: usize) -> Option<usize> {
        let id = self.view(i).await?["leader_id"].as_u64()?;
        self.index_of_id(i, id).await
    }

    /// Map a Raft id to a node index, through node `i`'s membership.
    pub async fn index_of_id(&self, i: usize, id: u64) -> Option<usize> {
        let v = self.view(i).await?;
        let api = v["members"]
            .as_array()?
            .iter()
            .find(|m| m["id"].as_u64() == Some(id))?["api_addr"]
            .as_str()?
            .to_string();
        self.nodes
            .iter()
            .position(|n| api.ends_with(&format!(":{}", n.api_port)))
    }

    /// Wait until every node in `which` sees `voters` voters and the same leader.
    pub async fn wait_voters(&self, which: &[usize], voters: usize) -> usize {
        let what = format!("nodes {which:?} are ready and agree on a leader with {voters} voters");
        wait_until(&what, Duration::from_secs(30), || async {
            let mut leader = None;
            for &i in which {
                self.get(i, "/readyz").await.filter(|(s, _)| *s == 200)?;
                let v = self.view(i).await?;
                let n = v["members"]
                    .as_array()?
                    .iter()
                    .filter(|m| m["role"] == "voter")
                    .count();
                let l = v["leader_id"].as_u64()?;
                if n != voters || leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            self.index_of_id(which[0], leader?).await
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }
}

impl Cluster {
    /// Wait until node `i` is answering exactly one request besides the metrics scrape that
    /// asks (a long-poll or a stream that is parked).
    pub async fn wait_one_request_parked(&self, i: usize) {
        wait_until(
            "a request is parked on the node",
            Duration::from_secs(5),
            || async {
                let text = reqwest::get(format!("{}/metrics", self.nodes[i].api()))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                text.lines()
                    .any(|l| l == "jumpnet_http_requests_in_flight 2")
                    .then_some(())
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
    }

    /// After killing node `old`: wait until every node in `which` follows one leader that is not `old`.
    pub async fn wait_new_leader(&self, which: &[usize], old: usize) -> usize {
        wait_until("a new leader", Duration::from_secs(15), || async {
            let mut leader = None;
            for &i in which {
                let l = self.leader_seen_by(i).await?;
                if l == old || leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            leader
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }
}

/// Poll `f` until it yields `Some`, or fail after `timeout` naming `what`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting until {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
