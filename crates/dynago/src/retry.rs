//! How long to wait between attempts: one policy for the retries of
//! batches (what DynamoDB left unprocessed), of commands (conflicts and
//! transient errors) and of a projection's handlers and writes.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Bounded exponential backoff with jitter: for the keys and items that a
/// batch request leaves unprocessed (DynamoDB's answer to throttling
/// there), for a command's conflicts and transient errors, and for a
/// projection's handlers and contended writes. It decides when to try
/// again after the AWS SDK's own attempts of one request have ended, and
/// adds to them (docs/table-layer.md, "Retries").
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

    /// The delay before the first retry (at most `max_delay`).
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

    /// The waits before each attempt after the first: at most
    /// `attempts() - 1` of them, each the doubling delay plus jitter.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let policy = dynago::RetryPolicy::default()
    ///     .max_attempts(3)
    ///     .max_delay(Duration::from_millis(100));
    /// let waits: Vec<Duration> = policy.delays().collect();
    /// assert_eq!(waits.len(), 2);
    /// assert!(waits.iter().all(|wait| *wait <= Duration::from_millis(200)));
    /// ```
    pub fn delays(&self) -> Delays {
        Delays(
            ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(self.min_delay.min(self.max_delay))
                .with_max_delay(self.max_delay)
                .with_max_times(self.max_attempts.saturating_sub(1))
                .build(),
        )
    }
}

/// The waits between the attempts of one operation under a
/// [`RetryPolicy`] ([`RetryPolicy::delays`]): `None` when no attempt is
/// left.
#[derive(Debug)]
pub struct Delays(ExponentialBackoff);

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.0.next()
    }
}
