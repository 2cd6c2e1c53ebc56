//! The raft port's listener: handshake, then answer frames one by one. A peer that sends garbage
//! loses its connection; the node carries on. Connections that have not completed the handshake
//! are bounded in number ([`MAX_PRE_AUTH`]; more are closed at once) and in time
//! ([`HANDSHAKE_TIMEOUT`]), and cost no buffer until they have.

use std::future::Future;
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken as CancelToken;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec;

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

/// Accept peers until `shutdown` resolves.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    secret: Option<Vec<u8>>,
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
                let (handler, secret, shutdown) =
                    (handler.clone(), secret.clone(), shutdown.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        r = connection(stream, handler, secret, permit) => if let Err(e) = r {
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
    handler: Arc<H>,
    secret: Option<Arc<[u8]>>,
    permit: OwnedSemaphorePermit,
) -> std::io::Result<()> {
    let mut stream = stream;
    let _ = stream.set_nodelay(true);
    let cluster = handler.cluster_id();
    let hs = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        codec::server_handshake(&mut stream, secret.as_deref(), cluster.as_deref()),
    );
    match hs.await {
        Ok(Ok(peer)) => handler.on_peer(&peer),
        Ok(Err(codec::HandshakeError::Refused)) => {
            tracing::warn!(peer = ?stream.peer_addr().ok(), "refused a raft peer without the cluster secret");
            return Ok(());
        }
        Ok(Err(e @ codec::HandshakeError::OtherCluster { .. })) => {
            tracing::warn!(peer = ?stream.peer_addr().ok(), error = %e, "refused a raft peer of another cluster");
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
        tokio::spawn(serve(listener, Arc::new(Echo), None, stop.clone()));
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
        let pool = crate::peer::PeerPool::new(None);
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
}
