//! HTTP load: each worker owns one HTTP/1.1 keep-alive connection and sends the same request
//! again as soon as the previous answer arrived (what wrk does, with a histogram and JSON).

use std::time::Instant;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use crate::report::{self, Tally};
use crate::Load;

#[derive(Args)]
pub struct HttpArgs {
    /// `http://host:port/path`.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "POST")]
    method: String,
    /// The request body; `{VALUE}` is replaced by the message value (`--message-size` bytes of "x").
    #[arg(long, default_value = "")]
    body: String,
    #[command(flatten)]
    load: Load,
}

pub async fn run(a: HttpArgs) -> anyhow::Result<()> {
    let url: hyper::Uri = a.url.parse()?;
    let authority = url
        .authority()
        .ok_or_else(|| anyhow::anyhow!("--url needs host:port"))?
        .to_string();
    let path = url.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let body = Bytes::from(a.body.replace("{VALUE}", &"x".repeat(a.load.message_size)));
    let method: hyper::Method = a.method.parse()?;
    let deadline = Instant::now() + a.load.duration();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..a.load.connections {
        let (authority, path, body, method) = (
            authority.clone(),
            path.clone(),
            body.clone(),
            method.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            let mut conn = None;
            while Instant::now() < deadline {
                if conn.is_none() {
                    match connect(&authority).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            tally.error(e);
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let sender = conn.as_mut().expect("connected");
                let req = Request::builder()
                    .method(method.clone())
                    .uri(path.as_str())
                    .header("host", authority.as_str())
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()))
                    .expect("request");
                let t = Instant::now();
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let drained = resp.into_body().collect().await;
                        match drained {
                            Ok(b) if status.is_success() => {
                                tally.record(t.elapsed());
                                drop(b);
                            }
                            Ok(b) => tally.error(format!(
                                "{status}: {}",
                                String::from_utf8_lossy(&b.to_bytes()[..])
                            )),
                            Err(e) => {
                                tally.error(e);
                                conn = None;
                            }
                        }
                    }
                    Err(e) => {
                        tally.error(e);
                        conn = None;
                    }
                }
            }
            tally
        }));
    }
    let mut tallies = Vec::new();
    for w in workers {
        tallies.push(w.await?);
    }
    let phase = report::phase("publish", tallies, started.elapsed(), a.load.message_size);
    let cfg = json!({ "client": "http", "method": a.method, "url": a.url });
    report::finish(&a.load, cfg, phase)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(authority: &str) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}
