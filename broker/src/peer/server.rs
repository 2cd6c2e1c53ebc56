//! The raft port's listener: handshake, then answer frames one by one. A peer that sends garbage
//! loses its connection; the node carries on.

use std::future::Future;
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken as CancelToken;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec;

/// What answers peer requests (the node).
pub trait Handler: Send + Sync + 'static {
    type Request: DeserializeOwned + Send;
    type Response: Serialize + Send + Sync;
    fn handle(&self, req: Self::Request) -> impl Future<Output = Self::Response> + Send;
}

/// Accept peers until `shutdown` resolves.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    secret: Option<Vec<u8>>,
    shutdown: CancelToken,
) {
    let secret: Option<Arc<[u8]>> = secret.map(Into::into);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (handler, secret, shutdown) =
                    (handler.clone(), secret.clone(), shutdown.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        r = connection(stream, handler, secret) => if let Err(e) = r {
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
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut conn = BufReader::with_capacity(64 * 1024, stream);
    let hs = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        codec::server_handshake(&mut conn, secret.as_deref()),
    );
    match hs.await {
        Ok(Ok(())) => {}
        Ok(Err(codec::HandshakeError::Refused)) => {
            tracing::warn!(peer = ?conn.get_ref().peer_addr().ok(), "refused a raft peer without the cluster secret");
            return Ok(());
        }
        Ok(Err(e)) => return Err(std::io::Error::other(e.to_string())),
        Err(_) => return Err(std::io::Error::other("handshake timed out")),
    }
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
