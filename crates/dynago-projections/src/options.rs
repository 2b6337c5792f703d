//! How a projector runs: its worker id, leases, reads and retries.

use std::num::NonZeroUsize;
use std::time::Duration;

use dynago::{Delays, RetryPolicy};

/// Options of a [`Projector`](crate::Projector), with defaults for a
/// worker on AWS.
///
/// ```
/// use std::time::Duration;
/// use dynago_projections::ProjectorOptions;
///
/// let options = ProjectorOptions::default()
///     .worker_id("worker-1")
///     .lease_duration(Duration::from_secs(10))
///     .batch_size(500);
/// assert_eq!(options.worker(), "worker-1");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ProjectorOptions {
    pub(crate) worker: String,
    pub(crate) lease_duration: Duration,
    pub(crate) batch_size: i32,
    pub(crate) idle_wait: Duration,
    pub(crate) shard_sync: Duration,
    pub(crate) handler_retry: RetryPolicy,
    pub(crate) contention_retry: RetryPolicy,
    pub(crate) cache: NonZeroUsize,
    pub(crate) cache_bytes: usize,
    pub(crate) catch_up_from_table: bool,
    pub(crate) scan_segments: u32,
    pub(crate) reset_grace: Duration,
}

impl Default for ProjectorOptions {
    /// A random worker id; leases of 30 s; reads of 1,000 records; an idle
    /// shard polled at most once a second; shards listed every 30 s;
    /// handlers tried 3 times from 100 ms; a write that loses a race for a
    /// hot view tried 64 times, from 2 ms up to 250 ms apart; 10,000 aggregates' progress
    /// kept in memory, and views of 64 MiB in all; a new projection first catches up from the table
    /// with a scan of 4 segments.
    fn default() -> Self {
        Self {
            worker: uuid::Uuid::new_v4().to_string(),
            lease_duration: Duration::from_secs(30),
            batch_size: 1000,
            idle_wait: Duration::from_secs(1),
            shard_sync: Duration::from_secs(30),
            handler_retry: RetryPolicy::default()
                .max_attempts(3)
                .min_delay(Duration::from_millis(100)),
            contention_retry: RetryPolicy::default()
                .max_attempts(64)
                .min_delay(Duration::from_millis(2))
                .max_delay(Duration::from_millis(250)),
            cache: NonZeroUsize::new(10_000).unwrap_or(NonZeroUsize::MIN),
            cache_bytes: 64 << 20,
            catch_up_from_table: true,
            scan_segments: 4,
            reset_grace: Duration::ZERO,
        }
    }
}

impl ProjectorOptions {
    /// This worker's id, the owner named in its leases (unique per
    /// running worker).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker = id.into();
        self
    }

    /// The worker's id.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// How long a lease holds without renewal (renewed every third of it):
    /// a stopped worker's shards are taken over after this long.
    pub fn lease_duration(mut self, duration: Duration) -> Self {
        self.lease_duration = duration.max(Duration::from_millis(100));
        self
    }

    /// Records read per `GetRecords` (1 to 1,000).
    pub fn batch_size(mut self, records: u32) -> Self {
        self.batch_size = i32::try_from(records.clamp(1, 1000)).unwrap_or(1000);
        self
    }

    /// The longest wait between reads of a shard that had nothing new; the
    /// wait doubles from 25 ms up to it.
    pub fn idle_wait(mut self, wait: Duration) -> Self {
        self.idle_wait = wait;
        self
    }

    /// How often the stream's shards are listed again (new shards appear
    /// when DynamoDB splits or rolls them over).
    pub fn shard_sync(mut self, every: Duration) -> Self {
        self.shard_sync = every;
        self
    }

    /// How many times a failing handler is tried before its event is
    /// parked, and the waits between tries (`max_attempts` and
    /// `min_delay` of the policy; by default 3 tries from 100 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use dynago::{Delays, RetryPolicy};
    /// use dynago_projections::ProjectorOptions;
    ///
    /// let options = ProjectorOptions::default()
    ///     .handler_retry(RetryPolicy::default().max_attempts(5).min_delay(Duration::from_millis(20)));
    /// # let _ = options;
    /// ```
    pub fn handler_retry(mut self, policy: RetryPolicy) -> Self {
        self.handler_retry = policy;
        self
    }

    /// How many times an event is offered again after its write lost a
    /// race with another writer of the same keyed view, and the waits in
    /// between, before [`Error::Contention`](crate::Error::Contention)
    /// (retryable) is returned; by default 64 times, from 2 ms doubling up
    /// to 250 ms, with jitter.
    pub fn contention_retry(mut self, policy: RetryPolicy) -> Self {
        self.contention_retry = policy;
        self
    }

    /// How many aggregates' progress (and per-aggregate views) are kept in
    /// memory, to write without reading first.
    pub fn cache(mut self, aggregates: NonZeroUsize) -> Self {
        self.cache = aggregates;
        self
    }

    /// How many bytes of views are kept in memory at most, measured as
    /// DynamoDB sizes their items (default 64 MiB): a view may be up to
    /// 400 KB, so [`cache`](Self::cache)'s count alone does not bound the
    /// memory. The least recently used go first.
    ///
    /// ```
    /// let options = dynago_projections::ProjectorOptions::default().cache_bytes(16 << 20);
    /// # let _ = options;
    /// ```
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Whether a projection that has no lease yet (a new one, or one just
    /// reset) first applies every event in the table, read by a parallel
    /// scan, before reading the stream (default `true`). Without it, a new
    /// projection sees only what the stream still holds.
    pub fn catch_up_from_table(mut self, catch_up: bool) -> Self {
        self.catch_up_from_table = catch_up;
        self
    }

    /// How long a reset waits, once its fence is up, before it deletes
    /// anything (default none): long enough for a Lambda batch that began
    /// before the fence to end. With a Lambda function on the stream, set
    /// it to the function's timeout, or pause the event source mapping
    /// before a reset. Workers need none: a reset refuses while they run.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = dynago_projections::ProjectorOptions::default().reset_grace(Duration::from_secs(60));
    /// # let _ = options;
    /// ```
    pub fn reset_grace(mut self, grace: Duration) -> Self {
        self.reset_grace = grace;
        self
    }

    /// Segments of the catch-up scan, read concurrently (1 to 64).
    pub fn scan_segments(mut self, segments: u32) -> Self {
        self.scan_segments = segments.clamp(1, 64);
        self
    }
}

/// The waits of a worker after transient errors in a row (throttling, a
/// lost connection): from 25 ms doubling up to 2 s, with jitter, without
/// end, for a worker runs until it is stopped.
pub(crate) fn transient_waits() -> Delays {
    RetryPolicy::default().max_attempts(usize::MAX).delays()
}

/// The next of `waits`, or their longest when they run out.
pub(crate) fn next_wait(waits: &mut Delays) -> Duration {
    waits.next().unwrap_or(Duration::from_secs(2))
}
