//! One request with failover: which errors move to the next node, which are final.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::backoff::full_jitter;
use super::error::{describe, tls_failure};
use super::{Client, Retry};
use super::{Error, Result};

/// Retry pauses: the first at most 50 ms, doubling up to at most 1 s (full jitter below that).
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(1);

/// The SPEC §3 error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(serde::Deserialize)]
struct ErrorObject {
    code: String,
    message: String,
}

impl Client {
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        retry: Retry,
    ) -> Result<T> {
        self.call_with(method, path, body, retry, Duration::ZERO)
            .await
    }

    /// `extra`: added to the request timeout (long-polls).
    pub(super) async fn call_with<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        retry: Retry,
        extra: Duration,
    ) -> Result<T> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + inner.retry_for;
        let mut attempt = 0u32;
        loop {
            let idx = inner.current.load(Ordering::Relaxed);
            let base = &inner.servers[idx % inner.servers.len()];
            let mut req = inner
                .http
                .request(method.clone(), format!("{base}{path}"))
                .timeout(inner.timeout + extra);
            if let Some(t) = &inner.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let mut floor: Option<Duration> = None;
            let err = match req.send().await {
                Err(e) => {
                    if let Some(tls) = tls_failure(&e) {
                        return Err(Error::Tls(format!("{base}: {tls}")));
                    }
                    let text = format!("{base}: {}", describe(&e));
                    if e.is_connect() {
                        Error::Http(text)
                    } else if retry == Retry::UntilSent {
                        return Err(Error::Unknown(text));
                    } else {
                        Error::Http(text)
                    }
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        return resp
                            .json::<T>()
                            .await
                            .map_err(|e| Error::Http(format!("{base}: unreadable answer: {e}")));
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let text = resp.text().await.unwrap_or_default();
                    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
                        Ok(b) => (b.error.code, b.error.message),
                        Err(_) => ("http_error".to_string(), text),
                    };
                    let api = Error::Api {
                        status: status.as_u16(),
                        code,
                        message,
                    };
                    match status.as_u16() {
                        // Nothing was stored: another node, or the same one after an election.
                        503 => {
                            floor = retry_after
                                .map(|s| Duration::from_secs(s).min(Duration::from_secs(2)));
                            api
                        }
                        504 if retry == Retry::Always => api,
                        504 => return Err(Error::Unknown(api.to_string())),
                        _ => return Err(api),
                    }
                }
            };
            // Move on to the next node (others may have moved already).
            let _ =
                inner
                    .current
                    .compare_exchange(idx, idx + 1, Ordering::Relaxed, Ordering::Relaxed);
            let backoff =
                full_jitter(attempt, BACKOFF_BASE, BACKOFF_CAP).max(floor.unwrap_or_default());
            attempt += 1;
            if tokio::time::Instant::now() + backoff >= deadline {
                return Err(err);
            }
            tracing::debug!(error = %err, "request failed; trying the next node");
            tokio::time::sleep(backoff).await;
        }
    }
}
