//! Dialling peers: a small pool of persistent connections per peer address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use tokio::io::BufReader;
use tokio::net::TcpStream;

use super::codec::{self, HandshakeError};
use super::resolve::Resolver;
use super::stream::PeerStream;
use super::{Request, RpcFailure};
use crate::tls::PeerTls;

const MAX_IDLE_PER_PEER: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(3);
/// Pooled connections idle longer than this are not trusted (closed instead of reused).
const MAX_IDLE: Duration = Duration::from_secs(10);

type Conn = BufReader<PeerStream>;
/// A pooled connection and when it was last used.
type Idle = (Conn, Instant);

/// Persistent connections to peers, shared by replication, forwarding and admin calls.
pub struct PeerPool {
    secret: Vec<u8>,
    /// With `--peer-tls-*`: every connection is mutual TLS, the cluster secret proven inside it.
    tls: Option<Arc<PeerTls>>,
    /// This node's cluster, once known: the handshake names it, and refuses peers of another.
    cluster_id: std::sync::OnceLock<String>,
    resolver: Resolver,
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    /// When each peer (by Raft id) last answered a Raft RPC: how a leader knows it still reaches a
    /// majority.
    contact: Mutex<HashMap<u64, Instant>>,
}

impl PeerPool {
    pub fn new(secret: Option<Vec<u8>>, tls: Option<Arc<PeerTls>>) -> Arc<PeerPool> {
        Arc::new(PeerPool {
            secret: secret.unwrap_or_default(),
            tls,
            cluster_id: std::sync::OnceLock::new(),
            resolver: Resolver::default(),
            idle: Mutex::new(HashMap::new()),
            contact: Mutex::default(),
        })
    }

    /// This node now belongs to cluster `id` (it never changes after).
    pub fn set_cluster_id(&self, id: &str) {
        let _ = self.cluster_id.set(id.to_string());
    }

    async fn connect(&self, addr: &str) -> Result<Conn, RpcFailure> {
        let found = self
            .resolver
            .resolve(addr)
            .await
            .map_err(RpcFailure::Unreachable)?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&found[..]))
            .await
            .map_err(|_| RpcFailure::Unreachable(format!("connecting to {addr} timed out")))?
            .map_err(|e| RpcFailure::Unreachable(format!("{addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        // A peer that vanished from the network (a partition, a pod gone with its IP) sends no RST:
        // have the kernel give up on unacknowledged data and probe idle connections, so a dead
        // connection fails in seconds instead of hanging until some request's timeout.
        let sock = socket2::SockRef::from(&stream);
        let _ = sock.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
        let _ = sock.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(Duration::from_secs(2))
                .with_interval(Duration::from_secs(1))
                .with_retries(2),
        );
        let stream = match &self.tls {
            None => PeerStream::Plain(stream),
            Some(tls) => PeerStream::Tls(Box::new(self.tls_connect(tls, addr, stream).await?)),
        };
        let mut conn = BufReader::with_capacity(64 * 1024, stream);
        match tokio::time::timeout(
            CONNECT_TIMEOUT,
            codec::client_handshake(
                &mut conn,
                &self.secret,
                self.cluster_id.get().map(String::as_str),
            ),
        )
        .await
        {
            Err(_) => Err(RpcFailure::Unreachable(format!(
                "{addr}: handshake timed out"
            ))),
            Ok(Ok(_)) => Ok(conn),
            Ok(Err(HandshakeError::IsHttp)) => Err(RpcFailure::IsHttp(addr.to_string())),
            Ok(Err(HandshakeError::Refused)) => Err(RpcFailure::Refused(format!(
                "{addr} refused our cluster secret"
            ))),
            Ok(Err(e @ (HandshakeError::Unproven | HandshakeError::OtherCluster { .. }))) => {
                Err(RpcFailure::Refused(format!("{addr}: {e}")))
            }
            // TLS 1.3: the listener judges our certificate after our side of the handshake is
            // done, so its refusal (an alert) arrives with the first read.
            Ok(Err(HandshakeError::Io(e))) if crate::tls::tls_error(&e).is_some() => Err(
                RpcFailure::Refused(format!("{addr} refused our peer certificate: {e}")),
            ),
            Ok(Err(e)) => Err(RpcFailure::Unreachable(format!("{addr}: {e}"))),
        }
    }

    async fn tls_connect(
        &self,
        tls: &PeerTls,
        addr: &str,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, RpcFailure> {
        let name = crate::tls::server_name(addr).map_err(RpcFailure::Unreachable)?;
        match tokio::time::timeout(CONNECT_TIMEOUT, tls.connector.connect(name, stream)).await {
            Err(_) => Err(RpcFailure::Unreachable(format!(
                "{addr}: TLS handshake timed out"
            ))),
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => match crate::tls::tls_error(&e) {
                // It answered the ClientHello with something that is not TLS: an HTTP API
                // (`--join` by API address), not a TLS raft port.
                Some(rustls::Error::InvalidMessage(_)) => Err(RpcFailure::IsHttp(addr.to_string())),
                Some(_) => Err(RpcFailure::Refused(format!("{addr}: peer TLS: {e}"))),
                None => Err(RpcFailure::Unreachable(format!("{addr}: {e}"))),
            },
        }
    }

    /// Is `addr` a raft port (`Ok(true)`), an HTTP API port (`Ok(false)`)?
    pub async fn probe(&self, addr: &str) -> Result<bool, RpcFailure> {
        match self.connect(addr).await {
            Ok(conn) => {
                self.put_back(addr, conn);
                Ok(true)
            }
            Err(RpcFailure::IsHttp(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn put_back(&self, addr: &str, conn: Conn) {
        let mut idle = self.idle.lock().expect("pool lock");
        let v = idle.entry(addr.to_string()).or_default();
        if v.len() < MAX_IDLE_PER_PEER {
            v.push((conn, Instant::now()));
        }
    }

    /// One request, one response, on a pooled connection to `addr`.
    pub async fn call<Req: Request, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcFailure> {
        let pooled = self.pooled(addr);
        let (mut conn, reused) = match pooled {
            Some(c) => (c, true),
            None => (self.connect(addr).await?, false),
        };
        let exchange = async {
            codec::write_frame(conn.get_mut(), req).await?;
            codec::read_frame::<Resp>(&mut conn).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(resp)) => {
                self.put_back(addr, conn);
                Ok(resp)
            }
            // A pooled connection the peer closed while idle: dial again once, for requests that are
            // safe to repeat (a forwarded publish is not: its outcome is unknown).
            Ok(Err(e)) if reused && is_stale(&e) && req.is_idempotent() => {
                let mut conn = self.connect(addr).await?;
                let again = async {
                    codec::write_frame(conn.get_mut(), req).await?;
                    codec::read_frame::<Resp>(&mut conn).await
                };
                match tokio::time::timeout(timeout, again).await {
                    Ok(Ok(resp)) => {
                        self.put_back(addr, conn);
                        Ok(resp)
                    }
                    Ok(Err(e)) => Err(RpcFailure::Failed(format!("{addr}: {e}"))),
                    Err(_) => Err(RpcFailure::Timeout),
                }
            }
            Ok(Err(e)) => {
                // Its siblings in the pool are likely dead too (a partition, a restarted peer).
                self.forget(addr);
                Err(RpcFailure::Failed(format!("{addr}: {e}")))
            }
            Err(_) => {
                self.forget(addr);
                Err(RpcFailure::Timeout)
            }
        }
    }

    /// A pooled connection to `addr` that still looks alive, if any.
    fn pooled(&self, addr: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("pool lock");
        let conns = idle.get_mut(addr)?;
        while let Some((c, since)) = conns.pop() {
            if since.elapsed() > MAX_IDLE {
                continue;
            }
            // A peer that closed the connection, or a connection the kernel gave up on, left an
            // EOF or an error behind; the peek asks the kernel directly (the socket is
            // non-blocking), not tokio's readiness cache.
            let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
            match socket2::SockRef::from(c.get_ref().tcp()).peek(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(c),
                _ => continue,
            }
        }
        None
    }

    /// Peer `id` answered just now.
    pub fn touch(&self, id: u64) {
        self.contact
            .lock()
            .expect("contact lock")
            .insert(id, Instant::now());
    }

    /// How long ago peer `id` last answered (`None`: never).
    pub fn since_contact(&self, id: u64) -> Option<Duration> {
        self.contact
            .lock()
            .expect("contact lock")
            .get(&id)
            .map(Instant::elapsed)
    }

    /// Look `addr` up now, so that its address is remembered should the resolver stop answering
    /// later (see [`super::resolve`]). Quiet: a failure here costs nothing yet.
    pub async fn learn(&self, addr: &str) {
        if let Err(e) = self.resolver.lookup(addr).await {
            tracing::debug!(%addr, error = %e, "peer name not resolved this time");
        }
    }

    /// Forget pooled connections to `addr` (after a failure: the peer may have a new address).
    pub fn forget(&self, addr: &str) {
        self.idle.lock().expect("pool lock").remove(addr);
    }
}

fn is_stale(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
    )
}
