//! A node's shutdown sequence as one small type (mini-redis `shutdown.rs` style). Phases only move
//! forward; each later phase implies the earlier ones:
//!
//! ```text
//!  serving ─drain()─▶ draining ─close_api()─▶ API closed ─stop()─▶ stopped
//!           /readyz 503,           long-polls and streams       raft port, background
//!           leader hands over      end; no new requests         tasks end
//! ```
//!
//! `server.rs` walks the phases in order; a crash test's abort jumps straight to `stop()`.

use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct Lifecycle {
    stopped: CancellationToken,
    api_closed: CancellationToken,
    draining: CancellationToken,
}

impl Default for Lifecycle {
    fn default() -> Self {
        let stopped = CancellationToken::new();
        let api_closed = stopped.child_token();
        let draining = api_closed.child_token();
        Lifecycle {
            stopped,
            api_closed,
            draining,
        }
    }
}

impl Lifecycle {
    /// Shutdown begins: `/readyz` turns 503 and a leader hands leadership over.
    pub fn drain(&self) {
        self.draining.cancel();
    }

    /// The API stops taking requests; long-polls and streams end.
    pub fn close_api(&self) {
        self.api_closed.cancel();
    }

    /// The node stops for good: raft port, background tasks.
    pub fn stop(&self) {
        self.stopped.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// The node was told to stop (Raft stopping after this is expected, not a failure).
    pub fn is_stopped(&self) -> bool {
        self.stopped.is_cancelled()
    }

    /// Resolves once the API closes.
    pub async fn api_closed(&self) {
        self.api_closed.cancelled().await
    }

    /// Resolves once the node stops.
    pub async fn stopped(&self) {
        self.stopped.cancelled().await
    }

    /// Cancelled when the node stops (for the peer transport, which takes a token).
    pub fn stop_token(&self) -> CancellationToken {
        self.stopped.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_phases_imply_the_earlier_ones_and_not_the_other_way() {
        let l = Lifecycle::default();
        l.drain();
        assert!(l.is_draining());
        assert!(!l.api_closed.is_cancelled() && !l.stopped.is_cancelled());

        let l = Lifecycle::default();
        l.close_api();
        assert!(l.is_draining() && l.api_closed.is_cancelled());
        assert!(!l.stopped.is_cancelled());

        let l = Lifecycle::default();
        l.stop();
        assert!(l.is_draining() && l.api_closed.is_cancelled() && l.stop_token().is_cancelled());
    }
}
