//! Snapshots: when to take them, and their item form.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dynago::Item;
use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::id::AggregateId;

/// When a snapshot of an aggregate's state is saved.
///
/// A due snapshot is written in the same transaction as the events that make
/// it due, stamped with the version of the last of them, and holds the state
/// folded from the loaded state and exactly those events.
///
/// ```
/// use dynago_es::{SnapshotDue, SnapshotPolicy};
///
/// let every_100 = SnapshotPolicy::Every(100);
/// let big_commands = SnapshotPolicy::custom(|due: &SnapshotDue| due.events >= 10);
/// # let _ = (every_100, big_commands);
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum SnapshotPolicy {
    /// No snapshots: every load replays every event.
    #[default]
    Never,
    /// A snapshot whenever an append crosses a multiple of this many events.
    Every(u64),
    /// A snapshot whenever the function says so.
    Custom(Arc<dyn Fn(&SnapshotDue) -> bool + Send + Sync>),
}

impl fmt::Debug for SnapshotPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotPolicy::Never => f.write_str("Never"),
            SnapshotPolicy::Every(n) => write!(f, "Every({n})"),
            SnapshotPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// What a [`SnapshotPolicy::Custom`] function is told about an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotDue {
    /// The version before the append.
    pub before: u64,
    /// The version after the append.
    pub after: u64,
    /// How many events the append writes.
    pub events: usize,
    /// The version of the newest snapshot known, 0 if none.
    pub last_snapshot: u64,
}

impl SnapshotPolicy {
    /// A policy that asks `due` on every append.
    pub fn custom(due: impl Fn(&SnapshotDue) -> bool + Send + Sync + 'static) -> Self {
        SnapshotPolicy::Custom(Arc::new(due))
    }

    pub(crate) fn is_due(&self, due: &SnapshotDue) -> bool {
        match self {
            SnapshotPolicy::Never => false,
            SnapshotPolicy::Every(0) => false,
            SnapshotPolicy::Every(n) => due.before / n != due.after / n,
            SnapshotPolicy::Custom(f) => f(due),
        }
    }
}

/// A snapshot item's attributes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord<S> {
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: AggregateId,
    /// The version of the last event folded into `state`.
    pub(crate) version: u64,
    /// [`Aggregate::SNAPSHOT_VERSION`] when it was taken.
    pub(crate) state_version: u32,
    pub(crate) taken_at: DateTime<Utc>,
    pub(crate) state: S,
}

/// The header of a snapshot, read without its state.
#[derive(Debug, Clone, Deserialize)]
struct SnapshotHeader {
    version: u64,
    state_version: u32,
}

pub(crate) const VERSION_ATTRIBUTE: &str = "version";

pub(crate) fn to_item<A: Aggregate>(id: &AggregateId, version: u64, state: &A) -> Result<Item> {
    dynago::item::to_item(&SnapshotRecord {
        aggregate_type: A::TYPE.to_owned(),
        aggregate_id: id.clone(),
        version,
        state_version: A::SNAPSHOT_VERSION,
        taken_at: Utc::now(),
        state,
    })
    .map_err(|e| Error::Serialize {
        what: format!("the snapshot of {}#{id} at version {version}", A::TYPE),
        reason: e.to_string(),
    })
}

/// Reads a snapshot item: `None` (with a warning) when it is of another state
/// version or does not deserialize, so that the caller replays events instead.
pub(crate) fn from_item<A: Aggregate>(mut item: Item, aggregate: &str) -> Option<(A, u64)> {
    let state = item.remove("state");
    let header: SnapshotHeader = match serde_dynamo::aws_sdk_dynamodb_1::from_item(item) {
        Ok(header) => header,
        Err(error) => {
            tracing::warn!(aggregate, %error, "ignoring a snapshot item that is not a snapshot");
            return None;
        }
    };
    if header.state_version != A::SNAPSHOT_VERSION {
        tracing::warn!(
            aggregate,
            stored = header.state_version,
            current = A::SNAPSHOT_VERSION,
            "ignoring a snapshot of another state version; rebuilding from events"
        );
        return None;
    }
    let state = state?;
    match serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value::<A>(state) {
        Ok(state) => Some((state, header.version)),
        Err(error) => {
            tracing::warn!(
                aggregate,
                version = header.version,
                %error,
                "ignoring a snapshot that no longer deserializes; rebuilding from events"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(before: u64, after: u64) -> SnapshotDue {
        SnapshotDue {
            before,
            after,
            events: usize::try_from(after - before).unwrap_or(usize::MAX),
            last_snapshot: 0,
        }
    }

    #[test]
    fn every_n_is_due_when_a_multiple_is_crossed() {
        let policy = SnapshotPolicy::Every(10);
        assert!(!policy.is_due(&due(0, 9)));
        assert!(policy.is_due(&due(9, 10)));
        assert!(policy.is_due(&due(8, 12)));
        assert!(!policy.is_due(&due(10, 19)));
        assert!(!SnapshotPolicy::Never.is_due(&due(0, 1000)));
        assert!(!SnapshotPolicy::Every(0).is_due(&due(0, 1000)));
    }
}
