//! Metrics of the read side, through the [`metrics`] facade:
//! events applied and parked, how far each shard's reader is behind, and
//! what became of its leases, by projection.
//!
//! Nothing is recorded until the program installs a recorder (such as
//! `metrics-exporter-prometheus`). [`describe`] gives each metric its unit
//! and help text. `docs/metrics.md` lists every metric of the workspace.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`dynago_projection_events_applied_total`](EVENTS_APPLIED) | counter | `projection` |
//! | [`dynago_projection_parked_total`](PARKED) | counter | `projection` |
//! | [`dynago_projection_lag_seconds`](LAG) | gauge | `projection`, `shard` |
//! | [`dynago_projection_records_behind`](RECORDS_BEHIND) | gauge | `projection`, `shard` |
//! | [`dynago_projection_lease_changes_total`](LEASE_CHANGES) | counter | `projection`, `change` |
//!
//! `projection` is the projection's [`NAME`](crate::Projection::NAME). The
//! gauges are set by the stream reader
//! ([`Projector::run`](crate::Projector::run)) after every round over its
//! shards, as its [`ShardStatus`] says, and set to 0 for a shard it lets go
//! (its new holder reports it from then on).
//!
//! ```
//! assert_eq!(dynago_projections::metrics::LAG, "dynago_projection_lag_seconds");
//! ```

use std::time::Duration;

use ::metrics::{describe_counter, describe_gauge, Unit};

use crate::status::ShardStatus;

/// Events applied to the projection's views (counter, label
/// `projection`), as [`Status::applied`](crate::Status::applied) counts
/// them: by the stream reader, a Lambda handler, a catch-up or a rebuild,
/// with the events a gap fill read from the table; not the events seen
/// again and skipped.
///
/// ```
/// assert_eq!(dynago_projections::metrics::EVENTS_APPLIED, "dynago_projection_events_applied_total");
/// ```
pub const EVENTS_APPLIED: &str = "dynago_projection_events_applied_total";

/// Events parked (counter, label `projection`): their handler kept
/// failing, or they could not be read; their aggregate's later events wait
/// behind them ([`Projector::parked`](crate::Projector::parked)).
///
/// ```
/// assert_eq!(dynago_projections::metrics::PARKED, "dynago_projection_parked_total");
/// ```
pub const PARKED: &str = "dynago_projection_parked_total";

/// How far the newest record applied from a shard is behind the time it
/// was written (gauge, seconds, labels `projection` and `shard`); 0 when the
/// last read of the shard found nothing newer
/// ([`ShardStatus::lag`](crate::ShardStatus::lag)).
///
/// ```
/// assert_eq!(dynago_projections::metrics::LAG, "dynago_projection_lag_seconds");
/// ```
pub const LAG: &str = "dynago_projection_lag_seconds";

/// Records read from a shard and not applied yet (gauge, labels
/// `projection` and `shard`;
/// [`ShardStatus::records_behind`](crate::ShardStatus::records_behind)).
///
/// ```
/// assert_eq!(dynago_projections::metrics::RECORDS_BEHIND, "dynago_projection_records_behind");
/// ```
pub const RECORDS_BEHIND: &str = "dynago_projection_records_behind";

/// Changes of the shard leases a stream reader holds (counter, labels
/// `projection` and `change`): `taken` (a free or expired lease),
/// `taken_over` (from a worker holding more than its share), `lost` (to
/// another worker, found at a renewal), `ended` (its shard read to its
/// end), `released` (let go when the worker stops or a reset begins).
///
/// ```
/// assert_eq!(dynago_projections::metrics::LEASE_CHANGES, "dynago_projection_lease_changes_total");
/// ```
pub const LEASE_CHANGES: &str = "dynago_projection_lease_changes_total";

/// Gives the read side's metrics their unit and help text in the recorder
/// installed now (call it after installing one; once is enough).
///
/// ```
/// // With no recorder installed, it does nothing.
/// dynago_projections::metrics::describe();
/// ```
pub fn describe() {
    describe_counter!(
        EVENTS_APPLIED,
        Unit::Count,
        "Events applied to the projection's views."
    );
    describe_counter!(
        PARKED,
        Unit::Count,
        "Events parked: their handler kept failing or they could not be read."
    );
    describe_gauge!(
        LAG,
        Unit::Seconds,
        "How long before now the newest record applied from the shard was written; 0 when caught up."
    );
    describe_gauge!(
        RECORDS_BEHIND,
        Unit::Count,
        "Records read from the shard and not applied yet."
    );
    describe_counter!(
        LEASE_CHANGES,
        Unit::Count,
        "Shard leases taken, taken over, lost, ended and released by this process's workers."
    );
}

/// What became of a lease, as the `change` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaseChange {
    Taken,
    TakenOver,
    Lost,
    Ended,
    Released,
}

impl LeaseChange {
    fn label(self) -> &'static str {
        match self {
            LeaseChange::Taken => "taken",
            LeaseChange::TakenOver => "taken_over",
            LeaseChange::Lost => "lost",
            LeaseChange::Ended => "ended",
            LeaseChange::Released => "released",
        }
    }
}

/// Counts `events` applied to `projection`.
pub(crate) fn applied(projection: &'static str, events: u64) {
    if events > 0 {
        ::metrics::counter!(EVENTS_APPLIED, "projection" => projection).increment(events);
    }
}

/// Counts one event parked by `projection`.
pub(crate) fn parked(projection: &'static str) {
    ::metrics::counter!(PARKED, "projection" => projection).increment(1);
}

/// Counts one `change` of a lease of `projection`.
pub(crate) fn lease(projection: &'static str, change: LeaseChange) {
    ::metrics::counter!(LEASE_CHANGES, "projection" => projection, "change" => change.label())
        .increment(1);
}

/// Sets the gauges of a shard `projection` reads, from its status; a lag
/// not known yet is left as it was.
pub(crate) fn shard(projection: &'static str, status: &ShardStatus) {
    let records = u32::try_from(status.records_behind).unwrap_or(u32::MAX);
    ::metrics::gauge!(RECORDS_BEHIND, "projection" => projection, "shard" => status.shard.clone())
        .set(records);
    if let Some(lag) = status.lag {
        ::metrics::gauge!(LAG, "projection" => projection, "shard" => status.shard.clone())
            .set(lag);
    }
}

/// Sets the gauges of a shard `projection` no longer reads here to 0.
pub(crate) fn shard_let_go(projection: &'static str, shard: &str) {
    ::metrics::gauge!(RECORDS_BEHIND, "projection" => projection, "shard" => shard.to_owned())
        .set(0.0);
    ::metrics::gauge!(LAG, "projection" => projection, "shard" => shard.to_owned())
        .set(Duration::ZERO);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_changes_are_lowercase_and_distinct() {
        let all = [
            LeaseChange::Taken,
            LeaseChange::TakenOver,
            LeaseChange::Lost,
            LeaseChange::Ended,
            LeaseChange::Released,
        ];
        let labels: std::collections::BTreeSet<_> = all.iter().map(|c| c.label()).collect();
        assert_eq!(labels.len(), all.len());
        assert!(labels
            .iter()
            .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}
