//! Following a topic over Server-Sent Events, across node failures: on a broken stream the client
//! reconnects to the next node with `Last-Event-ID` = the last offset it delivered, so messages
//! arrive once each and in order.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{Stream, StreamExt};

use super::backoff::full_jitter;
use super::sse_parse::Parser;
use super::{enc, Client, Message};
use super::{Error, Result};

pub(super) fn follow(
    client: Client,
    topic: String,
    partition: u32,
    offset: Option<u64>,
) -> impl Stream<Item = Result<Message>> + Send + 'static {
    async_stream::stream! {
        let mut last: Option<u64> = None;
        let mut failures = 0u32;
        loop {
            let inner = &client.inner;
            let idx = inner.current.load(Ordering::Relaxed);
            let base = &inner.servers[idx % inner.servers.len()];
            let mut query = Vec::new();
            if partition != 0 {
                query.push(format!("partition={partition}"));
            }
            if let (None, Some(o)) = (last, offset) {
                query.push(format!("offset={o}"));
            }
            let mut url = format!("{base}/v1/topics/{}/stream", enc(&topic));
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let mut req = inner.http.get(&url);
            if let Some(l) = last {
                req = req.header("Last-Event-ID", l.to_string());
            }
            if let Some(t) = &inner.token {
                req = req.bearer_auth(t);
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    failures = 0;
                    let mut body = resp.bytes_stream();
                    let mut parser = Parser::default();
                    while let Some(chunk) = body.next().await {
                        let Ok(chunk) = chunk else { break };
                        for event in parser.push(&chunk) {
                            if !(event.event.is_empty() || event.event == "message") {
                                continue;
                            }
                            match serde_json::from_str::<Message>(&event.data) {
                                Ok(m) => {
                                    last = Some(m.offset);
                                    yield Ok(m);
                                }
                                Err(e) => yield Err(Error::Http(format!("unreadable event: {e}"))),
                            }
                        }
                    }
                }
                Ok(resp) if resp.status().as_u16() == 503 => {}
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    yield Err(Error::Api { status, code: "stream_refused".into(), message: text });
                    return;
                }
                Err(e) => {
                    if let Some(tls) = super::error::tls_failure(&e) {
                        yield Err(Error::Tls(format!("{base}: {tls}")));
                        return;
                    }
                }
            }
            // The stream ended or the node is unavailable: the next node, after a short pause.
            let _ = inner.current.compare_exchange(idx, idx + 1, Ordering::Relaxed, Ordering::Relaxed);
            failures += 1;
            if failures > 10 * inner.servers.len() as u32 {
                yield Err(Error::Http("no node serves the stream".into()));
                return;
            }
            tokio::time::sleep(full_jitter(
                failures - 1,
                Duration::from_millis(100),
                Duration::from_secs(1),
            ))
            .await;
        }
    }
}
