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

/// A shard's lease as stored in the view table: who holds it, where its
/// holder got to, and what that holder last said of its progress. Read by
/// anyone, from any process ([`Projector::leases`](crate::Projector::leases)).
///
/// ```no_run
/// # async fn run<P: dynago_projections::Projection>(projector: dynago_projections::Projector<P>) -> dynago_projections::Result<()> {
/// for lease in projector.leases().await? {
///     println!("{}: held by {:?}, {} records behind", lease.shard,
///         lease.owner, lease.records_behind.unwrap_or(0));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LeaseStatus {
    /// The shard.
    pub shard: String,
    /// The worker that holds it, if one does.
    pub owner: Option<String>,
    /// Bumped by every change: a holder that stops renewing leaves it
    /// still, and others take the lease a lease duration after they saw it
    /// stop.
    pub counter: u64,
    /// The sequence number of the last record applied and checkpointed.
    pub checkpoint: Option<String>,
    /// The shard it was split from.
    pub parent: Option<String>,
    /// The shard was read to its end.
    pub ended: bool,
    /// When the holder last renewed it, by the holder's clock (absent for
    /// a lease never renewed since it was written by an earlier version).
    pub renewed_at: Option<DateTime<Utc>>,
    /// The holder's lease duration: unless renewed by `renewed_at` plus
    /// this, the lease is taken over.
    pub lease_duration: Option<Duration>,
    /// When the newest record applied was written.
    pub newest_applied_at: Option<DateTime<Utc>>,
    /// Records read and not applied yet, at the last renewal.
    pub records_behind: Option<u64>,
    /// The last read before the renewal found nothing newer.
    pub caught_up: bool,
    /// The shard's lag at the last renewal.
    pub lag: Option<Duration>,
}

impl From<crate::lease::Lease> for LeaseStatus {
    fn from(lease: crate::lease::Lease) -> Self {
        let progress = lease.progress;
        Self {
            shard: lease.shard,
            owner: lease.owner,
            counter: lease.counter,
            checkpoint: lease.checkpoint,
            parent: lease.parent,
            ended: lease.ended,
            renewed_at: progress.as_ref().map(|p| p.renewed_at),
            lease_duration: progress.as_ref().map(|p| Duration::from_millis(p.lease_ms)),
            newest_applied_at: progress.as_ref().and_then(|p| p.applied_at),
            records_behind: progress.as_ref().map(|p| p.behind),
            caught_up: progress.as_ref().is_some_and(|p| p.caught_up),
            lag: progress
                .as_ref()
                .and_then(|p| p.lag_ms)
                .map(Duration::from_millis),
        }
    }
}
