//! Progress and lag, per shard and in all.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How far a projector got, for a status page or a log line.
///
/// ```no_run
/// # fn show(status: dynago_projections::Status) {
/// for shard in &status.shards {
///     println!("{}: lag {:?}", shard.shard, shard.lag);
/// }
/// println!("{} applied, {} duplicates skipped", status.applied, status.duplicates);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// The worker's id.
    pub worker: String,
    /// The shards this worker reads.
    pub shards: Vec<ShardStatus>,
    /// Events applied to views since the projector started (those read
    /// from the table to fill a gap included).
    pub applied: u64,
    /// Events skipped because they were applied before.
    pub duplicates: u64,
    /// Events parked since it started.
    pub parked: u64,
    /// Events read from the table because the stream had not delivered
    /// them yet.
    pub gap_events: u64,
    /// Writes that lost to another writer and were decided again.
    pub conflicts: u64,
    /// Why the worker stopped, if it did.
    pub stopped: Option<String>,
}

/// One shard's progress.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ShardStatus {
    /// The shard.
    pub shard: String,
    /// The sequence number of the last record applied and checkpointed.
    pub checkpoint: Option<String>,
    /// When the newest record applied was written (its
    /// `ApproximateCreationDateTime`).
    pub newest_applied_at: Option<DateTime<Utc>>,
    /// How old that record was when the last read found nothing newer
    /// (zero when caught up with a record written since), or is now while
    /// records wait: the projection's lag behind the table.
    pub lag: Option<Duration>,
    /// Records read from the stream and not applied yet.
    pub records_behind: usize,
    /// The last read of the shard found no record after those applied.
    pub caught_up: bool,
}
