//! Peer names to socket addresses, with the last good answer kept per name.
//!
//! Peers are dialled by name (a pod that came back with a new IP is found again), so a new
//! connection needs a DNS answer. A resolver that stops answering for a while (CoreDNS under
//! pressure, podman's aardvark-dns while it reloads after a container stopped) must not cut a node
//! off from peers whose address did not change: when a lookup fails or takes too long, the last
//! address that name resolved to is used instead (and logged). A fresh answer always wins.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// How long one lookup may take before the remembered answer is used.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(1500);
/// Names remembered at most (members come and go; the map must stay small).
const MAX_NAMES: usize = 256;

#[derive(Default)]
pub struct Resolver {
    last: Mutex<HashMap<String, Vec<SocketAddr>>>,
}

impl Resolver {
    /// The addresses behind `addr` (`host:port` or `ip:port`).
    pub async fn resolve(&self, addr: &str) -> Result<Vec<SocketAddr>, String> {
        let why = match self.lookup(addr).await {
            Ok(found) => return Ok(found),
            Err(why) => why,
        };
        match self.remembered(addr) {
            Some(found) => {
                tracing::warn!(%addr, error = %why, last = ?found, "name lookup failed; using the last address it had");
                Ok(found)
            }
            None => Err(format!("{addr}: {why}")),
        }
    }

    /// A fresh lookup of `addr`, remembered when it answers; no fallback.
    pub async fn lookup(&self, addr: &str) -> Result<Vec<SocketAddr>, String> {
        if let Ok(sa) = addr.parse::<SocketAddr>() {
            return Ok(vec![sa]);
        }
        let why = match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host(addr)).await {
            Ok(Ok(found)) => {
                let found: Vec<SocketAddr> = found.collect();
                if !found.is_empty() {
                    self.remember(addr, &found);
                    return Ok(found);
                }
                "no address".to_string()
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("lookup took over {LOOKUP_TIMEOUT:?}"),
        };
        Err(why)
    }

    fn remember(&self, addr: &str, found: &[SocketAddr]) {
        let mut last = self.last.lock().expect("resolver lock");
        if last.len() >= MAX_NAMES && !last.contains_key(addr) {
            last.clear();
        }
        last.insert(addr.to_string(), found.to_vec());
    }

    fn remembered(&self, addr: &str) -> Option<Vec<SocketAddr>> {
        self.last.lock().expect("resolver lock").get(addr).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_addresses_need_no_lookup() {
        let r = Resolver::default();
        let got = r.resolve("127.0.0.1:8080").await.unwrap();
        assert_eq!(got, vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        assert!(r.remembered("127.0.0.1:8080").is_none());
    }

    #[tokio::test]
    async fn a_failed_lookup_falls_back_to_the_last_answer() {
        let r = Resolver::default();
        let name = "jumpnet-peer.invalid:8080"; // .invalid never resolves (RFC 2606)
        assert!(r.resolve(name).await.is_err(), "nothing remembered yet");
        let before: SocketAddr = "10.1.2.3:8080".parse().unwrap();
        r.remember(name, &[before]);
        assert_eq!(r.resolve(name).await.unwrap(), vec![before]);
    }

    #[tokio::test]
    async fn a_fresh_answer_replaces_the_remembered_one() {
        let r = Resolver::default();
        let stale: SocketAddr = "10.9.9.9:1".parse().unwrap();
        r.remember("localhost:1", &[stale]);
        let got = r.resolve("localhost:1").await.unwrap();
        assert!(!got.contains(&stale), "{got:?}");
        assert_eq!(r.remembered("localhost:1").unwrap(), got);
    }
}
