//! Retries of a failed step: [`RetryPolicy`], with the [`Backoff`] that grows the delay
//! between attempts and the [`Jitter`] that spreads retries out.

use std::time::Duration;

/// When and how often a failed step runs again (Dagster's `RetryPolicy`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// How many times the step runs again after its first attempt fails.
    pub max_retries: u32,
    /// The delay before the first retry, which [`Self::backoff`] grows.
    pub delay: Duration,
    /// How the delay grows between attempts.
    pub backoff: Backoff,
    /// Randomness added to each delay.
    pub jitter: Jitter,
}

/// How the delay grows between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// `delay` before every retry.
    Constant,
    /// `delay * attempt`.
    Linear,
    /// `delay * 2^(attempt-1)`.
    Exponential,
}

/// Randomness added to each delay so that retries of many steps do not line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// The computed delay, exactly.
    None,
    /// A uniformly random delay between zero and the computed delay.
    Full,
    /// The computed delay plus or minus up to half of it.
    PlusMinus,
}

impl RetryPolicy {
    /// Retry up to `max_retries` times, immediately.
    pub fn new(max_retries: u32) -> Self {
        Self {
            max_retries,
            delay: Duration::ZERO,
            backoff: Backoff::Constant,
            jitter: Jitter::None,
        }
    }

    /// Wait `delay` before the first retry (grown by the backoff for later ones).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Grow the delay between attempts by `backoff`.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Add `jitter` to each delay.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let base = match self.backoff {
            Backoff::Constant => self.delay,
            Backoff::Linear => self.delay.saturating_mul(attempt.max(1)),
            Backoff::Exponential => self
                .delay
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1))),
        };
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(fastrand::f64()),
            Jitter::PlusMinus => base.mul_f64(0.5 + fastrand::f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_and_jitter() {
        let p = RetryPolicy::new(5)
            .with_delay(Duration::from_millis(100))
            .with_backoff(Backoff::Exponential);
        assert_eq!(p.delay_for(1), Duration::from_millis(100));
        assert_eq!(p.delay_for(3), Duration::from_millis(400));
        let lin = p.clone().with_backoff(Backoff::Linear);
        assert_eq!(lin.delay_for(3), Duration::from_millis(300));
        let j = p.with_jitter(Jitter::Full);
        for _ in 0..50 {
            assert!(j.delay_for(2) <= Duration::from_millis(200));
        }
    }
}
