//! Committing a consumer's position in batches: each commit is a Raft write, so a follower of a
//! busy topic commits at most once per interval (and when idle or done), never per message.

use std::time::Duration;

use tokio::time::Instant;

use super::{Client, Result};

/// The default interval between commits.
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Remembers the next offset to commit and writes it when due. Call [`AutoCommit::mark`] after
/// each handled message (or page), [`AutoCommit::tick`] when idle, and [`AutoCommit::flush`]
/// before exit. A crash loses at most one interval of progress: those messages come again.
pub struct AutoCommit {
    client: Client,
    consumer: String,
    topic: String,
    partition: u32,
    interval: Duration,
    committed: Option<u64>,
    pending: Option<u64>,
    last: Instant,
}

impl AutoCommit {
    pub fn new(client: Client, consumer: &str, topic: &str, interval: Duration) -> Self {
        AutoCommit {
            client,
            consumer: consumer.to_string(),
            topic: topic.to_string(),
            partition: 0,
            interval,
            committed: None,
            pending: None,
            last: Instant::now(),
        }
    }

    /// Commit the position on this partition of the topic (default 0).
    pub fn on_partition(mut self, partition: u32) -> Self {
        self.partition = partition;
        self
    }

    /// Messages before `next` are handled; commits if the interval has passed.
    pub async fn mark(&mut self, next: u64) -> Result<()> {
        self.pending = Some(next);
        self.tick().await
    }

    /// Commits a pending position if the interval has passed since the last commit.
    pub async fn tick(&mut self) -> Result<()> {
        if self.last.elapsed() >= self.interval {
            self.flush().await?;
        }
        Ok(())
    }

    /// Commits a pending position now.
    pub async fn flush(&mut self) -> Result<()> {
        if let Some(next) = self.pending.filter(|&n| self.committed != Some(n)) {
            self.client
                .commit_at(&self.consumer, &self.topic, self.partition, next)
                .await?;
            self.committed = Some(next);
        }
        self.last = Instant::now();
        Ok(())
    }

    /// When the next [`AutoCommit::tick`] would commit.
    pub fn due(&self) -> Instant {
        self.last + self.interval
    }
}
