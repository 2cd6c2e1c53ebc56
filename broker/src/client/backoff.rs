//! Retry pauses: exponential with full jitter and a cap ("Exponential Backoff And Jitter", AWS
//! Architecture Blog), so clients that lost the same leader do not retry in lockstep.

use std::time::Duration;

use rand::Rng;

/// The pause before retry number `attempt` (0 = the first retry): uniform in
/// `[0, min(cap, base · 2^attempt)]`.
pub(super) fn full_jitter(attempt: u32, base: Duration, cap: Duration) -> Duration {
    jitter_with(attempt, base, cap, &mut rand::thread_rng())
}

fn ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    base.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .min(cap)
}

fn jitter_with(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let top = ceiling(attempt, base, cap);
    Duration::from_nanos(rng.gen_range(0..=top.as_nanos() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_bounded_exponential_and_jittered() {
        let (base, cap) = (Duration::from_millis(50), Duration::from_secs(1));
        assert_eq!(ceiling(0, base, cap), Duration::from_millis(50));
        assert_eq!(ceiling(1, base, cap), Duration::from_millis(100));
        assert_eq!(ceiling(4, base, cap), Duration::from_millis(800));
        assert_eq!(ceiling(5, base, cap), cap);
        assert_eq!(ceiling(u32::MAX, base, cap), cap);
        let mut rng = rand::thread_rng();
        for attempt in 0..40 {
            let top = ceiling(attempt, base, cap);
            let samples: Vec<Duration> = (0..200)
                .map(|_| jitter_with(attempt, base, cap, &mut rng))
                .collect();
            assert!(
                samples.iter().all(|d| *d <= top && *d <= cap),
                "attempt {attempt}"
            );
            // Full jitter: spread over the whole range, not clustered at the ceiling.
            assert!(samples.iter().any(|d| *d < top / 2), "attempt {attempt}");
            assert!(samples.iter().any(|d| *d > top / 2), "attempt {attempt}");
        }
    }
}
