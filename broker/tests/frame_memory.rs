//! The raft port's frame reader spends memory on the bytes a peer sent, not on the length it
//! announced (durability review H4: a few connections announcing 512 MiB frames could OOM a node).
//! Its own test binary, so that nothing else moves the process's address-space size meanwhile.

use jumpnet_broker::peer::codec::{read_frame, MAX_FRAME};
use tokio::io::AsyncWriteExt;

/// The process's virtual size (`VmSize`), in bytes: an allocation counts here whether or not its
/// pages were touched.
fn vm_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test(flavor = "current_thread")]
async fn frames_announcing_the_maximum_cost_only_what_was_sent() {
    const PEERS: usize = 8;
    const SENT: usize = 1 << 20;
    let before = vm_size();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..PEERS {
        let (mut w, mut r) = tokio::io::duplex(64 * 1024);
        readers.push(tokio::spawn(
            async move { read_frame::<Vec<u8>>(&mut r).await },
        ));
        // The write completes once the reader took all but the pipe's 64 KiB.
        w.write_all(&MAX_FRAME.to_be_bytes()).await.unwrap();
        w.write_all(&vec![0u8; SENT]).await.unwrap();
        writers.push(w);
    }
    let grown = vm_size().saturating_sub(before);
    assert!(
        grown < 128 << 20,
        "{PEERS} frames announcing {MAX_FRAME} bytes with {SENT} sent each grew the process by {} MiB",
        grown >> 20
    );
    drop(writers);
    for r in readers {
        let e = r.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
