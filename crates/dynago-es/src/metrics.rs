//! Metrics of the event store, through the [`metrics`] facade:
//! commands by outcome, how long they took, and how many events each load
//! read, by aggregate type.
//!
//! Nothing is recorded until the program installs a recorder (such as
//! `metrics-exporter-prometheus`). [`describe`] gives each metric its unit
//! and help text. The requests and capacity of the table underneath are
//! `dynago`'s ([`dynago::metrics`]). `docs/metrics.md` lists every metric
//! of the workspace.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`dynago_commands_total`](COMMANDS) | counter | `aggregate`, `outcome` |
//! | [`dynago_command_duration_seconds`](COMMAND_DURATION) | histogram | `aggregate` |
//! | [`dynago_load_events`](LOAD_EVENTS) | histogram | `aggregate` |
//!
//! `aggregate` is the aggregate's [`TYPE`](crate::Aggregate::TYPE); in
//! [`execute_all`](crate::EventStore::execute_all), a command on several
//! aggregates of one type counts once.
//!
//! ```
//! assert_eq!(dynago_es::metrics::COMMANDS, "dynago_commands_total");
//! ```

use std::time::Duration;

use ::metrics::{describe_counter, describe_histogram, Unit};

use crate::aggregate::Aggregate;
use crate::command::CommandOutcome;
use crate::error::{CommandError, Error};

/// Commands executed (counter), by `aggregate` and `outcome`, each command
/// once with how it ended:
///
/// - `applied`: the command was decided and its events written (also a
///   decision of no events);
/// - `duplicate`: its [`command_id`](crate::CommandOptions::command_id) was
///   recorded before, and the first outcome was returned;
/// - `rejected`: the aggregate's `handle` refused it;
/// - `conflict`: it kept meeting other writers until the retry policy ran
///   out ([`Error::RetriesExhausted`] after conflicts);
/// - `unknown`: whether its write landed cannot be told
///   ([`Error::is_outcome_unknown`]);
/// - `error`: any other failure of the store (throttling that outlasted
///   the retries, a missing table, corrupt data, a limit).
///
/// And besides these, `retried`: once for every conflict after which the
/// command was decided again. The commands executed are the sum of the
/// other outcomes.
///
/// ```
/// assert_eq!(dynago_es::metrics::COMMANDS, "dynago_commands_total");
/// ```
pub const COMMANDS: &str = "dynago_commands_total";

/// How long a command took (histogram, seconds, label `aggregate`), from
/// the call of `execute*` to its answer, whatever the outcome.
///
/// ```
/// assert_eq!(dynago_es::metrics::COMMAND_DURATION, "dynago_command_duration_seconds");
/// ```
pub const COMMAND_DURATION: &str = "dynago_command_duration_seconds";

/// Events read and applied per load of an aggregate (histogram, label
/// `aggregate`): a full load (the events after its snapshot, if any) by
/// [`load`](crate::EventStore::load) or by a command that found no state in
/// the cache, or the events after a cached or conflicting state. A load
/// that failed is not counted.
///
/// ```
/// assert_eq!(dynago_es::metrics::LOAD_EVENTS, "dynago_load_events");
/// ```
pub const LOAD_EVENTS: &str = "dynago_load_events";

/// Gives the event store's metrics their unit and help text in the
/// recorder installed now (call it after installing one; once is enough).
///
/// ```
/// // With no recorder installed, it does nothing.
/// dynago_es::metrics::describe();
/// ```
pub fn describe() {
    describe_counter!(
        COMMANDS,
        Unit::Count,
        "Commands executed, by aggregate type and outcome (applied, duplicate, rejected, conflict, unknown, error); retried counts the conflicts after which a command was decided again."
    );
    describe_histogram!(
        COMMAND_DURATION,
        Unit::Seconds,
        "How long a command took, from execute to its answer, by aggregate type."
    );
    describe_histogram!(
        LOAD_EVENTS,
        Unit::Count,
        "Events read per load of an aggregate (after its snapshot, or after a cached state), by aggregate type."
    );
}

/// How a command ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Applied,
    Duplicate,
    Rejected,
    Conflict,
    Retried,
    Unknown,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::Conflict => "conflict",
            Outcome::Retried => "retried",
            Outcome::Unknown => "unknown",
            Outcome::Error => "error",
        }
    }

    /// The outcome of a command that answered `result`.
    pub(crate) fn of<A: Aggregate>(
        result: &Result<Vec<CommandOutcome<A>>, CommandError<A>>,
    ) -> Self {
        match result {
            Ok(outcomes) if outcomes.iter().any(|outcome| outcome.duplicate) => Outcome::Duplicate,
            Ok(_) => Outcome::Applied,
            Err(CommandError::Rejected { .. }) => Outcome::Rejected,
            Err(CommandError::Store(error)) if error.is_outcome_unknown() => Outcome::Unknown,
            Err(CommandError::Store(error)) if gave_up_on_conflicts(error) => Outcome::Conflict,
            Err(CommandError::Store(_)) => Outcome::Error,
        }
    }
}

/// Whether `error` ends a command that kept conflicting.
fn gave_up_on_conflicts(error: &Error) -> bool {
    match error {
        Error::RetriesExhausted { last, .. } => last.is_conflict(),
        error => error.is_conflict(),
    }
}

/// Counts a command on `A` with `outcome` (or a retry).
pub(crate) fn command<A: Aggregate>(outcome: Outcome) {
    ::metrics::counter!(COMMANDS, "aggregate" => A::TYPE, "outcome" => outcome.label())
        .increment(1);
}

/// Counts a command on `A` that ended with `outcome` after `took`.
pub(crate) fn command_done<A: Aggregate>(outcome: Outcome, took: Duration) {
    command::<A>(outcome);
    ::metrics::histogram!(COMMAND_DURATION, "aggregate" => A::TYPE).record(took);
}

/// Records a load of `A` that read `events` events.
pub(crate) fn load<A: Aggregate>(events: usize) {
    let events = u32::try_from(events).unwrap_or(u32::MAX);
    ::metrics::histogram!(LOAD_EVENTS, "aggregate" => A::TYPE).record(events);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_lowercase_and_distinct() {
        let all = [
            Outcome::Applied,
            Outcome::Duplicate,
            Outcome::Rejected,
            Outcome::Conflict,
            Outcome::Retried,
            Outcome::Unknown,
            Outcome::Error,
        ];
        let labels: std::collections::BTreeSet<_> = all.iter().map(|o| o.label()).collect();
        assert_eq!(labels.len(), all.len());
        assert!(labels
            .iter()
            .all(|l| l.chars().all(|c| c.is_ascii_lowercase())));
    }

    #[test]
    fn retries_exhausted_on_conflicts_is_a_conflict_and_on_throttling_an_error() {
        let conflict = Error::Conflict {
            aggregate: "account#1".into(),
            expected: 1,
            actual: 2,
        };
        let exhausted = Error::RetriesExhausted {
            attempts: 3,
            last: Box::new(conflict),
        };
        assert!(gave_up_on_conflicts(&exhausted));
        let config = Error::RetriesExhausted {
            attempts: 3,
            last: Box::new(Error::Config("throttled".into())),
        };
        assert!(!gave_up_on_conflicts(&config));
    }
}
