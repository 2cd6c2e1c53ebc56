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

/// Bodies are read in steps of at most this much: memory follows the bytes that arrived, not the
/// length a peer announced.
const READ_STEP: usize = 64 * 1024;

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
    let body = read_body(r, len as usize).await?;
    bincode::deserialize(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// `len` bytes, the buffer growing with what arrives (at most twice what was received).
async fn read_body(r: &mut (impl AsyncRead + Unpin), len: usize) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(len.min(READ_STEP));
    while body.len() < len {
        let want = (len - body.len()).min(READ_STEP);
        if body.capacity() - body.len() < want {
            body.reserve(body.len().max(want).min(len - body.len()));
        }
        let at = body.len();
        body.resize(at + want, 0);
        let n = r.read(&mut body[at..]).await?;
        body.truncate(at + n);
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body)
}

fn proof(secret: &[u8], label: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(label);
    for p in parts {
        mac.update(p);
    }
    mac
}

/// What the dialler proves (unchanged since the first version of the handshake).
const CLIENT_LABEL: &[u8] = b"jumpnet-raft-v1";
/// What the listener proves back, over the dialler's nonce.
const SERVER_LABEL: &[u8] = b"jumpnet-raft-v2-server";
/// Handshake verdicts.
const OK: u8 = 0;
const REFUSED: u8 = 1;
const OTHER_CLUSTER: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("this is an HTTP endpoint, not a raft port")]
    IsHttp,
    #[error("peer refused the cluster secret")]
    Refused,
    #[error("peer could not prove it knows the cluster secret")]
    Unproven,
    #[error("peer belongs to cluster {theirs}, this node to {ours}")]
    OtherCluster { ours: String, theirs: String },
    #[error("not a jumpnet raft port")]
    NotRaft,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a completed handshake learnt about the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The cluster the peer belongs to (`None`: none yet).
    pub cluster_id: Option<String>,
}

async fn write_cluster(
    s: &mut (impl AsyncWrite + Unpin),
    out: &mut Vec<u8>,
    cluster: Option<&str>,
) -> std::io::Result<()> {
    let c = cluster.unwrap_or("").as_bytes();
    let c = &c[..c.len().min(u8::MAX as usize)];
    out.push(c.len() as u8);
    out.extend_from_slice(c);
    s.write_all(out).await?;
    s.flush().await
}

/// At most 255 bytes: nothing before the handshake completes costs more.
async fn read_cluster(s: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<String>> {
    let n = s.read_u8().await? as usize;
    let mut c = vec![0u8; n];
    s.read_exact(&mut c).await?;
    Ok(Some(String::from_utf8_lossy(&c).into_owned()).filter(|c| !c.is_empty()))
}

fn other_cluster(ours: Option<&str>, theirs: &Option<String>) -> Option<HandshakeError> {
    match (ours, theirs) {
        (Some(o), Some(t)) if o != t => Some(HandshakeError::OtherCluster {
            ours: o.into(),
            theirs: t.clone(),
        }),
        _ => None,
    }
}

/// Client side: prove knowledge of the secret (an empty secret for open clusters) over the
/// listener's nonce, then have the listener prove it over ours; refuse a peer of another cluster.
pub async fn client_handshake(
    s: &mut (impl AsyncRead + AsyncWrite + Unpin),
    secret: &[u8],
    cluster: Option<&str>,
) -> Result<Peer, HandshakeError> {
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
    let mut server_nonce = [0u8; NONCE_LEN];
    s.read_exact(&mut server_nonce).await?;
    let mine = proof(secret, CLIENT_LABEL, &[&server_nonce])
        .finalize()
        .into_bytes();
    s.write_all(&mine).await?;
    s.flush().await?;
    if s.read_u8().await? != OK {
        return Err(HandshakeError::Refused);
    }
    let client_nonce: [u8; NONCE_LEN] = rand::random();
    write_cluster(s, &mut client_nonce.to_vec(), cluster).await?;
    let mut theirs = [0u8; PROOF_LEN];
    s.read_exact(&mut theirs).await?;
    let verdict = s.read_u8().await?;
    let peer = Peer {
        cluster_id: read_cluster(s).await?,
    };
    let their_cluster = peer.cluster_id.as_deref().unwrap_or("").as_bytes();
    proof(
        secret,
        SERVER_LABEL,
        &[&client_nonce, &server_nonce, their_cluster],
    )
    .verify_slice(&theirs)
    .map_err(|_| HandshakeError::Unproven)?;
    if let Some(e) = other_cluster(cluster, &peer.cluster_id) {
        return Err(e);
    }
    match verdict {
        OK => Ok(peer),
        OTHER_CLUSTER => Err(HandshakeError::OtherCluster {
            ours: cluster.unwrap_or("").into(),
            theirs: peer.cluster_id.unwrap_or_default(),
        }),
        _ => Err(HandshakeError::Refused),
    }
}

/// Server side: refuse peers that do not know the secret (when this node has one) or that belong
/// to another cluster, and prove the secret back over the dialler's nonce.
pub async fn server_handshake(
    s: &mut (impl AsyncRead + AsyncWrite + Unpin),
    secret: Option<&[u8]>,
    cluster: Option<&str>,
) -> Result<Peer, HandshakeError> {
    let mut hello = [0u8; 8];
    s.read_exact(&mut hello).await?;
    if &hello != MAGIC {
        return Err(HandshakeError::NotRaft);
    }
    let server_nonce: [u8; NONCE_LEN] = rand::random();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&server_nonce);
    s.write_all(&out).await?;
    s.flush().await?;
    let mut got = [0u8; PROOF_LEN];
    s.read_exact(&mut got).await?;
    let key = secret.unwrap_or(b"");
    let ok = secret.is_none()
        || proof(key, CLIENT_LABEL, &[&server_nonce])
            .verify_slice(&got)
            .is_ok();
    s.write_u8(if ok { OK } else { REFUSED }).await?;
    s.flush().await?;
    if !ok {
        return Err(HandshakeError::Refused);
    }
    let mut client_nonce = [0u8; NONCE_LEN];
    s.read_exact(&mut client_nonce).await?;
    let peer = Peer {
        cluster_id: read_cluster(s).await?,
    };
    let refused = other_cluster(cluster, &peer.cluster_id);
    let ours = cluster.unwrap_or("");
    let ours = &ours.as_bytes()[..ours.len().min(u8::MAX as usize)];
    let mut out = proof(key, SERVER_LABEL, &[&client_nonce, &server_nonce, ours])
        .finalize()
        .into_bytes()
        .to_vec();
    out.push(if refused.is_some() { OTHER_CLUSTER } else { OK });
    write_cluster(s, &mut out, cluster).await?;
    match refused {
        Some(e) => Err(e),
        None => Ok(peer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Res = Result<Peer, HandshakeError>;

    async fn pair(
        client_secret: &'static [u8],
        server_secret: Option<&'static [u8]>,
    ) -> (Res, Res) {
        pair_in(client_secret, server_secret, None, None).await
    }

    async fn pair_in(
        client_secret: &'static [u8],
        server_secret: Option<&'static [u8]>,
        client_cluster: Option<&str>,
        server_cluster: Option<&str>,
    ) -> (Res, Res) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::join!(
            client_handshake(&mut a, client_secret, client_cluster),
            server_handshake(&mut b, server_secret, server_cluster)
        )
    }

    #[tokio::test]
    async fn a_listener_that_cannot_prove_the_secret_is_refused_by_the_dialler() {
        // An impostor at a peer's address accepts anyone (it has no secret to check with).
        let (c, s) = pair(b"s3cret", None).await;
        assert!(matches!(c, Err(HandshakeError::Unproven)), "{c:?}");
        assert!(s.is_ok());
        let (c, s) = pair(b"s3cret", Some(b"other")).await;
        assert!(matches!(c, Err(HandshakeError::Refused)) && s.is_err());
    }

    #[tokio::test]
    async fn peers_of_another_cluster_are_refused_and_nodes_without_one_may_join() {
        let (c, s) = pair_in(b"k", Some(b"k"), Some("a"), Some("b")).await;
        assert!(
            matches!(c, Err(HandshakeError::OtherCluster { .. })),
            "{c:?}"
        );
        assert!(
            matches!(s, Err(HandshakeError::OtherCluster { .. })),
            "{s:?}"
        );
        let (c, s) = pair_in(b"k", Some(b"k"), None, Some("b")).await;
        assert_eq!(c.unwrap().cluster_id.as_deref(), Some("b"));
        assert_eq!(s.unwrap().cluster_id, None);
        let (c, s) = pair_in(b"", None, Some("a"), Some("a")).await;
        assert!(c.is_ok() && s.is_ok());
    }

    #[tokio::test]
    async fn a_frame_is_read_whole_however_it_arrives() {
        let (mut a, mut b) = tokio::io::duplex(1000);
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let sent = big.clone();
        let w = tokio::spawn(async move { write_frame(&mut a, &sent).await });
        let got: Vec<u8> = read_frame(&mut b).await.unwrap();
        w.await.unwrap().unwrap();
        assert_eq!(got, big);
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
