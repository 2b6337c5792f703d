//! How batch operations retry what DynamoDB left unprocessed.

use std::time::Duration;

use backon::ExponentialBuilder;

/// Bounded exponential backoff with jitter, for the keys and items that a
/// batch request leaves unprocessed (DynamoDB's answer to throttling there).
///
/// ```
/// use std::time::Duration;
/// use dynago::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .max_attempts(20)
///     .max_delay(Duration::from_secs(10));
/// # let _ = patient;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: usize,
    min_delay: Duration,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Ten attempts, from 25 ms doubling up to 2 s, each delay plus a random
    /// jitter of up to the same again.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            min_delay: Duration::from_millis(25),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// How many requests one chunk may take in all, the first included
    /// (at least 1).
    pub fn max_attempts(mut self, attempts: usize) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before the first retry.
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The longest delay between two attempts before jitter (which adds up
    /// to the same again).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The number of attempts, the first included.
    pub fn attempts(&self) -> usize {
        self.max_attempts
    }

    /// The backoff between attempts, as a `backon` builder.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1))
    }
}
