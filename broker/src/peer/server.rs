//! The raft port's listener: handshake, then answer frames one by one. A peer that sends garbage
//! loses its connection; the node carries on. Connections that have not completed the handshake
//! are bounded in number ([`MAX_PRE_AUTH`]; more are closed at once) and in time
//! ([`HANDSHAKE_TIMEOUT`]), and cost no buffer until they have.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken as CancelToken;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec;
use crate::tls::PeerTls;

/// What answers peer requests (the node).
pub trait Handler: Send + Sync + 'static {
    type Request: DeserializeOwned + Send;
    type Response: Serialize + Send + Sync;
    fn handle(&self, req: Self::Request) -> impl Future<Output = Self::Response> + Send;
    /// The cluster this node belongs to, as the handshake tells peers (`None`: none yet).
    fn cluster_id(&self) -> Option<String> {
        None
    }
    /// A peer completed the handshake, naming its cluster.
    fn on_peer(&self, _peer: &codec::Peer) {}
}

/// Connections at most in the handshake at once.
pub const MAX_PRE_AUTH: usize = 256;
/// A connection that has not completed the handshake by then is closed.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Accept peers until `shutdown` resolves (with `tls`, mutual TLS first: a peer without a
/// certificate from the peer CA is refused in the TLS handshake).
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    secret: Option<Vec<u8>>,
    tls: Option<Arc<PeerTls>>,
    shutdown: CancelToken,
) {
    let secret: Option<Arc<[u8]>> = secret.map(Into::into);
    let pre_auth = Arc::new(Semaphore::new(MAX_PRE_AUTH));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(permit) = pre_auth.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "too many raft connections in the handshake; closed");
                    continue;
                };
                let (handler, secret, tls, shutdown) = (
                    handler.clone(),
                    secret.clone(),
                    tls.clone(),
                    shutdown.clone(),
                );
                tokio::spawn(async move {
                    tokio::select! {
                        r = connection(stream, peer, handler, secret, tls, permit) => if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "raft connection closed");
                        },
                        _ = shutdown.cancelled() => {}
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept on the raft port failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    secret: Option<Arc<[u8]>>,
    tls: Option<Arc<PeerTls>>,
    permit: OwnedSemaphorePermit,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return answer(stream, peer, handler, secret, permit, HANDSHAKE_TIMEOUT).await;
    };
    let started = Instant::now();
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tls.failures.inc();
            tracing::warn!(%peer, error = %e, "refused a raft peer: TLS handshake failed");
            return Ok(());
        }
        Err(_) => {
            tls.failures.inc();
            return Err(std::io::Error::other("TLS handshake timed out"));
        }
    };
    let left = HANDSHAKE_TIMEOUT.saturating_sub(started.elapsed());
    answer(stream, peer, handler, secret, permit, left).await
}

/// The raft handshake (within `timeout`), then frames until the peer hangs up.
async fn answer<H: Handler>(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    peer: SocketAddr,
    handler: Arc<H>,
    secret: Option<Arc<[u8]>>,
    permit: OwnedSemaphorePermit,
    timeout: std::time::Duration,
) -> std::io::Result<()> {
    let cluster = handler.cluster_id();
    let hs = tokio::time::timeout(
        timeout,
        codec::server_handshake(&mut stream, secret.as_deref(), cluster.as_deref()),
    );
    match hs.await {
        Ok(Ok(peer)) => handler.on_peer(&peer),
        Ok(Err(codec::HandshakeError::Refused)) => {
            tracing::warn!(%peer, "refused a raft peer without the cluster secret");
            return Ok(());
        }
        Ok(Err(e @ codec::HandshakeError::OtherCluster { .. })) => {
            tracing::warn!(%peer, error = %e, "refused a raft peer of another cluster");
            return Ok(());
        }
        Ok(Err(e)) => return Err(std::io::Error::other(e.to_string())),
        Err(_) => return Err(std::io::Error::other("handshake timed out")),
    }
    drop(permit);
    let mut conn = BufReader::with_capacity(64 * 1024, stream);
    loop {
        let req: H::Request = match codec::read_frame(&mut conn).await {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let resp = handler.handle(req).await;
        codec::write_frame(conn.get_mut(), &resp).await?;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;

    struct Echo;
    impl Handler for Echo {
        type Request = u64;
        type Response = u64;
        async fn handle(&self, req: u64) -> u64 {
            req
        }
    }

    #[tokio::test]
    async fn connections_beyond_the_pre_auth_cap_are_closed_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancelToken::new();
        tokio::spawn(serve(listener, Arc::new(Echo), None, None, stop.clone()));
        // Silent connections hold every handshake slot...
        let mut idle = Vec::new();
        for _ in 0..MAX_PRE_AUTH {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        // ...so the next one is closed well before the handshake timeout would close it.
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(HANDSHAKE_TIMEOUT / 2, extra.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "an over-the-cap connection was kept open: {read:?}"
        );
        // A slot freed, a peer gets in again.
        drop(idle);
        let pool = crate::peer::PeerPool::new(None, None);
        let mut answer = None;
        for _ in 0..50 {
            match pool.probe(&addr.to_string()).await {
                Ok(true) => {
                    answer = Some(());
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert!(
            answer.is_some(),
            "no handshake once the idle connections closed"
        );
        stop.cancel();
    }

    /// A raft listener over `tls` answering with [`Echo`]: its address and its stop.
    async fn tls_listener(tls: Arc<crate::tls::PeerTls>) -> (String, CancelToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = CancelToken::new();
        tokio::spawn(serve(
            listener,
            Arc::new(Echo),
            None,
            Some(tls),
            stop.clone(),
        ));
        (addr, stop)
    }

    #[tokio::test]
    async fn with_peer_tls_only_peers_with_a_certificate_from_the_ca_get_in() {
        use crate::peer::{PeerPool, RpcFailure};
        use crate::tls::{write_dev_pki, DevPki, PeerTls, PeerTlsFiles};
        let tmp = tempfile::tempdir().unwrap();
        let ours = write_dev_pki(&tmp.path().join("ours")).unwrap();
        let other = write_dev_pki(&tmp.path().join("other")).unwrap();
        let files = |p: &DevPki, ca: &DevPki| PeerTlsFiles {
            cert: p.cert.clone(),
            key: p.key.clone(),
            ca: ca.ca.clone(),
        };
        let metrics = crate::metrics::Metrics::new();
        let tls = PeerTls::load(&files(&ours, &ours), &metrics).unwrap();
        let (addr, stop) = tls_listener(tls).await;
        let dialler = |p: &DevPki, ca: &DevPki| {
            let tls = PeerTls::load(&files(p, ca), &crate::metrics::Metrics::new()).unwrap();
            PeerPool::new(None, Some(tls))
        };

        assert!(matches!(dialler(&ours, &ours).probe(&addr).await, Ok(true)));
        // A certificate of another CA: the listener refuses it in the TLS handshake.
        let got = dialler(&other, &ours).probe(&addr).await;
        assert!(
            matches!(&got, Err(RpcFailure::Refused(e)) if e.contains("refused our peer certificate")),
            "{got:?}"
        );
        // A dialler that does not trust the listener's CA refuses the listener.
        let got = dialler(&other, &other).probe(&addr).await;
        assert!(
            matches!(&got, Err(RpcFailure::Refused(e)) if e.contains("peer TLS")),
            "{got:?}"
        );
        // No TLS at all: the raft hello gets no raft answer.
        let got = PeerPool::new(None, None).probe(&addr).await;
        assert!(got.is_err(), "{got:?}");
        let failures = metrics.tls_handshake_failures.with_label_values(&["peer"]);
        for _ in 0..100 {
            if failures.get() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(failures.get(), 3, "every refused handshake is counted");
        assert!(matches!(dialler(&ours, &ours).probe(&addr).await, Ok(true)));
        stop.cancel();
    }

    #[tokio::test]
    async fn a_rotated_peer_ca_is_trusted_without_a_restart() {
        use crate::peer::PeerPool;
        use crate::tls::{write_dev_pki, PeerTls, PeerTlsFiles};
        let tmp = tempfile::tempdir().unwrap();
        let old = write_dev_pki(&tmp.path().join("old")).unwrap();
        let new = write_dev_pki(&tmp.path().join("new")).unwrap();
        // The listener's CA file, as cert-manager would rewrite it.
        let ca_file = tmp.path().join("ca.crt");
        std::fs::copy(&old.ca, &ca_file).unwrap();
        let listener_files = PeerTlsFiles {
            cert: old.cert.clone(),
            key: old.key.clone(),
            ca: ca_file.clone(),
        };
        let tls = PeerTls::load(&listener_files, &crate::metrics::Metrics::new()).unwrap();
        let (addr, stop) = tls_listener(tls).await;
        // A peer already holding a certificate of the new CA (trusting both CAs).
        let both = tmp.path().join("both.crt");
        let bundle = [
            std::fs::read(&old.ca).unwrap(),
            std::fs::read(&new.ca).unwrap(),
        ]
        .concat();
        std::fs::write(&both, &bundle).unwrap();
        let renewed = PeerTls::load(
            &PeerTlsFiles {
                cert: new.cert.clone(),
                key: new.key.clone(),
                ca: both,
            },
            &crate::metrics::Metrics::new(),
        )
        .unwrap();
        let pool = PeerPool::new(None, Some(renewed));
        assert!(
            pool.probe(&addr).await.is_err(),
            "the new CA is not trusted yet"
        );

        std::fs::write(&ca_file, &bundle).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if matches!(pool.probe(&addr).await, Ok(true)) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the rewritten CA file was never trusted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn a_peer_certificate_must_name_the_host_it_is_dialled_by() {
        use crate::peer::{PeerPool, RpcFailure};
        use crate::tls::{PeerTls, PeerTlsFiles};
        use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        let tmp = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        std::fs::write(
            tmp.path().join("ca.pem"),
            ca.self_signed(&ca_key).unwrap().pem(),
        )
        .unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let files = |name: &str, sans: &[&str]| {
            let mut p =
                CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap();
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = p.signed_by(&key, &issuer).unwrap();
            let f = PeerTlsFiles {
                cert: tmp.path().join(format!("{name}.crt")),
                key: tmp.path().join(format!("{name}.key")),
                ca: tmp.path().join("ca.pem"),
            };
            std::fs::write(&f.cert, cert.pem()).unwrap();
            std::fs::write(&f.key, key.serialize_pem()).unwrap();
            f
        };
        let metrics = crate::metrics::Metrics::new();
        // Its only name is a DNS name: dialled by IP, it is refused; by that name, accepted.
        let tls = PeerTls::load(&files("server", &["localhost"]), &metrics).unwrap();
        let (addr, stop) = tls_listener(tls).await;
        let port = addr.rsplit_once(':').unwrap().1;
        let client = PeerTls::load(&files("client", &["client.invalid"]), &metrics).unwrap();
        let pool = PeerPool::new(None, Some(client));
        let got = pool.probe(&format!("127.0.0.1:{port}")).await;
        assert!(
            matches!(&got, Err(RpcFailure::Refused(e)) if e.contains("peer TLS")),
            "{got:?}"
        );
        let got = pool.probe(&format!("localhost:{port}")).await;
        assert!(matches!(got, Ok(true)), "{got:?}");
        stop.cancel();
    }
}
