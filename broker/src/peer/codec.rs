//! Framing and the connection handshake of the raft port.

use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// First bytes on a raft connection, both ways. An HTTP server answers them with `HTTP/1.1 400`,
/// which is how `--join` tells a raft address from an API address.
pub const MAGIC: &[u8; 8] = b"JNRAFT1\n";
/// Large enough for a full AppendEntries of big batches; anything above is refused, not allocated.
pub const MAX_FRAME: u32 = 512 * 1024 * 1024;
const NONCE_LEN: usize = 16;
const PROOF_LEN: usize = 32;

pub async fn write_frame<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    msg: &T,
) -> std::io::Result<()> {
    let body = bincode::serialize(msg).map_err(std::io::Error::other)?;
    if body.len() > MAX_FRAME as usize {
        return Err(std::io::Error::other(format!(
            "frame of {} bytes is over the limit",
            body.len()
        )));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await
}

pub async fn read_frame<T: DeserializeOwned>(
    r: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<T> {
    let len = r.read_u32().await?;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    bincode::deserialize(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn proof(secret: &[u8], nonce: &[u8]) -> [u8; PROOF_LEN] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(b"jumpnet-raft-v1");
    mac.update(nonce);
    mac.finalize().into_bytes().into()
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("this is an HTTP endpoint, not a raft port")]
    IsHttp,
    #[error("peer refused the cluster secret")]
    Refused,
    #[error("not a jumpnet raft port")]
    NotRaft,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Client side: prove knowledge of the secret (an empty secret for open clusters).
pub async fn client_handshake(
    s: &mut (impl AsyncRead + AsyncWrite + Unpin),
    secret: &[u8],
) -> Result<(), HandshakeError> {
    s.write_all(MAGIC).await?;
    s.flush().await?;
    let mut hello = [0u8; 8];
    s.read_exact(&mut hello).await?;
    if &hello[..4] == b"HTTP" {
        return Err(HandshakeError::IsHttp);
    }
    if &hello != MAGIC {
        return Err(HandshakeError::NotRaft);
    }
    let mut nonce = [0u8; NONCE_LEN];
    s.read_exact(&mut nonce).await?;
    s.write_all(&proof(secret, &nonce)).await?;
    s.flush().await?;
    match s.read_u8().await? {
        0 => Ok(()),
        _ => Err(HandshakeError::Refused),
    }
}

/// Server side: refuse peers that do not know the secret (when this node has one).
pub async fn server_handshake(
    s: &mut (impl AsyncRead + AsyncWrite + Unpin),
    secret: Option<&[u8]>,
) -> Result<(), HandshakeError> {
    let mut hello = [0u8; 8];
    s.read_exact(&mut hello).await?;
    if &hello != MAGIC {
        return Err(HandshakeError::NotRaft);
    }
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&nonce);
    s.write_all(&out).await?;
    s.flush().await?;
    let mut got = [0u8; PROOF_LEN];
    s.read_exact(&mut got).await?;
    let ok = match secret {
        None => true,
        Some(secret) => {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
            mac.update(b"jumpnet-raft-v1");
            mac.update(&nonce);
            mac.verify_slice(&got).is_ok()
        }
    };
    s.write_u8(if ok { 0 } else { 1 }).await?;
    s.flush().await?;
    if ok {
        Ok(())
    } else {
        Err(HandshakeError::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(
        client_secret: &'static [u8],
        server_secret: Option<&'static [u8]>,
    ) -> (Result<(), HandshakeError>, Result<(), HandshakeError>) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::join!(
            client_handshake(&mut a, client_secret),
            server_handshake(&mut b, server_secret)
        )
    }

    #[tokio::test]
    async fn matching_secrets_connect_and_wrong_ones_are_refused() {
        let (c, s) = pair(b"s3cret", Some(b"s3cret")).await;
        assert!(c.is_ok() && s.is_ok());
        let (c, s) = pair(b"guess", Some(b"s3cret")).await;
        assert!(matches!(c, Err(HandshakeError::Refused)));
        assert!(matches!(s, Err(HandshakeError::Refused)));
        let (c, s) = pair(b"", None).await;
        assert!(c.is_ok() && s.is_ok());
    }

    #[tokio::test]
    async fn frames_round_trip_and_oversized_lengths_are_rejected() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_frame(&mut a, &("hello".to_string(), 42u64))
            .await
            .unwrap();
        let got: (String, u64) = read_frame(&mut b).await.unwrap();
        assert_eq!(got, ("hello".to_string(), 42));
        a.write_all(&(MAX_FRAME + 1).to_be_bytes()).await.unwrap();
        let err = read_frame::<u64>(&mut b).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }
}
