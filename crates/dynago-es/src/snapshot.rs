//! Snapshots: when to take them, and their item form.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dynago::{AttributeValue, Item};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::id::AggregateId;

/// When a snapshot of an aggregate's state is saved.
///
/// With [`Every`](Self::Every) and [`Custom`](Self::Custom), a due snapshot
/// is an item of its own, written after the events that make it due (a
/// snapshot that cannot be written is left out: it is a cache), stamped
/// with the version of the last of them, and holds the state folded from
/// the loaded state and exactly those events; a load reads it, then the
/// events after it: two requests. With [`InCommit`](Self::InCommit), the
/// state is in the item of the events themselves, and a load reads one
/// item in one request.
///
/// ```
/// use dynago_es::{SnapshotDue, SnapshotPolicy};
///
/// let every_100 = SnapshotPolicy::Every(100);
/// let big_commands = SnapshotPolicy::custom(|due: &SnapshotDue| due.events >= 10);
/// let in_commit = SnapshotPolicy::InCommit;
/// # let _ = (every_100, big_commands, in_commit);
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
    /// The state after every command in the item of the command's events
    /// (attributes `state` and `state_version`, as a snapshot holds them),
    /// written by the same `PutItem`; a load reads the newest item alone,
    /// newest first: **one request, one item**, whatever the stream's
    /// length.
    ///
    /// What it costs: each commit item is larger by its state, and a write
    /// costs a unit per started KB (a state that takes an item past a KB
    /// boundary costs one more unit per command; the state of most
    /// aggregates fits in the unit the events start); whatever reads an item
    /// pays for its state (`append`'s read of the stream's end, `events`, a
    /// projection's catch-up from the table). A command across aggregates
    /// writes each aggregate's state in its item too.
    ///
    /// Items without a state: those of [`append`](crate::EventStore::append)
    /// (which decides nothing, so knows no state), of a commit too large for
    /// one item, of several events with
    /// [`item_per_event`](crate::StoreOptions::item_per_event), and a state
    /// that cannot be written as it is, that DynamoDB would refuse (the
    /// commit goes without it: a state never keeps the events out), that
    /// would take the item past 400 KB or a transaction past 4 MB; a state of
    /// another [`SNAPSHOT_VERSION`](crate::Aggregate::SNAPSHOT_VERSION) is
    /// passed over. When the newest item holds none, a load replays every
    /// event, as without snapshots (one more request), until the next
    /// command writes a state. The newest item's events are read with every
    /// check a replay makes: an item a replay calls corrupt is corrupt here.
    InCommit,
}

impl fmt::Debug for SnapshotPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotPolicy::Never => f.write_str("Never"),
            SnapshotPolicy::Every(n) => write!(f, "Every({n})"),
            SnapshotPolicy::Custom(_) => f.write_str("Custom(..)"),
            SnapshotPolicy::InCommit => f.write_str("InCommit"),
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

    /// Whether commits hold the state ([`InCommit`](Self::InCommit)).
    pub(crate) fn in_commit(&self) -> bool {
        matches!(self, SnapshotPolicy::InCommit)
    }

    /// Whether a snapshot item of its own is due after an append.
    pub(crate) fn is_due(&self, due: &SnapshotDue) -> bool {
        match self {
            SnapshotPolicy::Never | SnapshotPolicy::InCommit => false,
            SnapshotPolicy::Every(0) => false,
            SnapshotPolicy::Every(n) => due.before / n != due.after / n,
            SnapshotPolicy::Custom(f) => f(due),
        }
    }
}

/// The state in the commit item, attribute by attribute: the state, and
/// the [`Aggregate::SNAPSHOT_VERSION`] it was written under.
pub(crate) fn commit_attributes<A: Aggregate>(
    state: &A,
) -> std::result::Result<[(&'static str, AttributeValue); 2], String> {
    let value = encode_state(state)?;
    decode_faithfully::<A>(&value)?;
    // In the commit's own put, a value DynamoDB refuses would refuse the
    // events with it: what it refuses is found here, before sending.
    storable(&value, 1)?;
    Ok([
        (STATE_ATTRIBUTE, value),
        (
            STATE_VERSION_ATTRIBUTE,
            AttributeValue::N(A::SNAPSHOT_VERSION.to_string()),
        ),
    ])
}

/// DynamoDB refuses a value whose leaf is inside this many maps or lists.
const MAX_NESTING: usize = 32;

/// Whether DynamoDB stores `value` at nesting level `depth` (the attribute
/// itself is at 1): no leaf inside [`MAX_NESTING`] maps or lists, no map
/// key that is empty, no set that is empty.
fn storable(value: &AttributeValue, depth: usize) -> std::result::Result<(), String> {
    let deeper = |children: &mut dyn Iterator<Item = &AttributeValue>| {
        if depth >= MAX_NESTING {
            return Err(format!(
                "the state nests maps and lists deeper than the {MAX_NESTING} levels DynamoDB stores"
            ));
        }
        for child in children {
            storable(child, depth + 1)?;
        }
        Ok(())
    };
    match value {
        AttributeValue::M(map) => {
            if map.keys().any(String::is_empty) {
                return Err(
                    "the state holds a map key that is empty, which DynamoDB refuses".to_owned(),
                );
            }
            deeper(&mut map.values())
        }
        AttributeValue::L(list) => deeper(&mut list.iter()),
        AttributeValue::Ss(set) | AttributeValue::Ns(set) if set.is_empty() => {
            Err("the state holds an empty set, which DynamoDB refuses".to_owned())
        }
        AttributeValue::Bs(set) if set.is_empty() => {
            Err("the state holds an empty set, which DynamoDB refuses".to_owned())
        }
        _ => Ok(()),
    }
}

/// The state a commit item holds (taken out of `item`), when it holds one
/// of this [`Aggregate::SNAPSHOT_VERSION`] that reads; `None` otherwise,
/// with a warning for one that is there and does not read.
pub(crate) fn take_from_commit<A: Aggregate>(
    item: &mut Item,
    aggregate: &str,
    version: u64,
) -> Option<A> {
    let stamp = item.remove(STATE_VERSION_ATTRIBUTE);
    let state = item.remove(STATE_ATTRIBUTE)?;
    let written_under = match &stamp {
        Some(AttributeValue::N(n)) => n.parse::<u32>().ok(),
        _ => None,
    };
    if written_under != Some(A::SNAPSHOT_VERSION) {
        tracing::warn!(
            aggregate,
            version,
            stored = ?stamp,
            current = A::SNAPSHOT_VERSION,
            "ignoring the state of a commit item of another state version; replaying events"
        );
        return None;
    }
    match serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value::<A>(state) {
        Ok(state) => Some(state),
        Err(error) => {
            tracing::warn!(
                aggregate,
                version,
                %error,
                "ignoring the state of a commit item that does not deserialize; replaying events"
            );
            None
        }
    }
}

/// A snapshot item's attributes but its state, as written.
#[derive(Debug, Serialize)]
struct SnapshotHeader<'a> {
    aggregate_type: &'a str,
    aggregate_id: &'a AggregateId,
    /// The version of the last event folded into the state.
    version: u64,
    /// [`Aggregate::SNAPSHOT_VERSION`] when it was taken.
    state_version: u32,
    taken_at: DateTime<Utc>,
}

/// What a snapshot is read by: its stamp.
#[derive(Debug, Clone, Deserialize)]
struct SnapshotStamp {
    version: u64,
    state_version: u32,
}

pub(crate) const VERSION_ATTRIBUTE: &str = "version";

/// The attribute that holds the state.
const STATE_ATTRIBUTE: &str = "state";

/// The attribute that holds the [`Aggregate::SNAPSHOT_VERSION`] a state was
/// written under.
const STATE_VERSION_ATTRIBUTE: &str = "state_version";

/// The attributes of a commit item that hold the state after it
/// ([`SnapshotPolicy::InCommit`]).
pub(crate) const COMMIT_ATTRIBUTES: [&str; 2] = [STATE_ATTRIBUTE, STATE_VERSION_ATTRIBUTE];

/// The item of a snapshot of `state` at `version`.
///
/// The state is written exactly as serde gives it (a map entry whose value
/// is `None` stays, as `NULL`), and read back once before it is written: a
/// state that cannot be written, or that would not read back as it is, is
/// an error here, so that the caller leaves the snapshot out rather than
/// store a state that loads as another.
pub(crate) fn to_item<A: Aggregate>(id: &AggregateId, version: u64, state: &A) -> Result<Item> {
    let what = || format!("the snapshot of {}#{id} at version {version}", A::TYPE);
    let serialize_error = |reason: String| Error::Serialize {
        what: what(),
        reason,
    };
    let mut item = dynago::item::to_item(&SnapshotHeader {
        aggregate_type: A::TYPE,
        aggregate_id: id,
        version,
        state_version: A::SNAPSHOT_VERSION,
        taken_at: Utc::now(),
    })
    .map_err(|e| serialize_error(e.to_string()))?;
    let value = encode_state(state).map_err(serialize_error)?;
    decode_faithfully::<A>(&value).map_err(serialize_error)?;
    item.insert(STATE_ATTRIBUTE.to_owned(), value);
    Ok(item)
}

/// The attribute value of a state. A float DynamoDB numbers do not hold
/// (`-0.0`, NaN, the infinities, magnitudes beyond their range) is an
/// error: written, it would fail, or load as another value (`-0.0` as
/// `0.0`).
fn encode_state<S: Serialize + DeserializeOwned>(
    state: &S,
) -> std::result::Result<AttributeValue, String> {
    let whole = dynago::number::check_floats_noting_whole(
        state,
        dynago::number::FloatTarget::DynamoDbNumber,
    )
    .map_err(|e| e.to_string())?;
    let value = dynago::item::to_attribute_value(state).map_err(|e| match e {
        dynago::Error::Serialize { source, .. } => source.to_string(),
        other => other.to_string(),
    })?;
    if whole > 0 {
        crate::payload::reads_back_as_written::<S>(whole, &value)?;
    }
    Ok(value)
}

/// Reads a state back from its value, and checks that it writes the same
/// value again: a serde form that loses something on the way (an attribute
/// left out that has no default, a value read as another) shows here.
/// Lists are compared as collections of members, in any order, since a
/// `HashSet` writes its members in an order of its own each time.
fn decode_faithfully<S: Serialize + DeserializeOwned>(
    value: &AttributeValue,
) -> std::result::Result<S, String> {
    let state: S = serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value.clone())
        .map_err(|e| format!("the state does not read back from its own snapshot: {e}"))?;
    let again = encode_state(&state)?;
    if again != *value && canonical(&again) != canonical(value) {
        return Err(
            "the state reads back from its own snapshot as another state (its serde form loses something)"
                .to_owned(),
        );
    }
    Ok(state)
}

/// A text that is the same for two values that hold the same: map entries
/// by name, and the members of lists and sets in sorted order.
fn canonical(value: &AttributeValue) -> String {
    fn sorted(mut parts: Vec<String>) -> String {
        parts.sort_unstable();
        parts.join(",")
    }
    match value {
        AttributeValue::S(s) => format!("S{s:?}"),
        AttributeValue::N(n) => format!("N{n}"),
        AttributeValue::B(b) => format!("B{:?}", b.as_ref()),
        AttributeValue::Bool(b) => format!("T{b}"),
        AttributeValue::Null(_) => "Z".to_owned(),
        AttributeValue::Ss(set) => format!(
            "SS[{}]",
            sorted(set.iter().map(|s| format!("{s:?}")).collect())
        ),
        AttributeValue::Ns(set) => format!("NS[{}]", sorted(set.clone())),
        AttributeValue::Bs(set) => format!(
            "BS[{}]",
            sorted(set.iter().map(|b| format!("{:?}", b.as_ref())).collect())
        ),
        AttributeValue::L(list) => format!("L[{}]", sorted(list.iter().map(canonical).collect())),
        AttributeValue::M(map) => format!(
            "M{{{}}}",
            sorted(
                map.iter()
                    .map(|(k, v)| format!("{k:?}:{}", canonical(v)))
                    .collect()
            )
        ),
        other => format!("?{other:?}"),
    }
}

/// A state as a snapshot would hold it, read back: what a load from the
/// snapshot would start from. See [`crate::testing::snapshot_round_trip`].
pub(crate) fn round_trip<S: Serialize + DeserializeOwned>(
    state: &S,
) -> std::result::Result<S, String> {
    decode_faithfully(&encode_state(state)?)
}

/// The version a snapshot item is stamped with; `None` for an item that is
/// not a snapshot.
pub(crate) fn stamp_of(item: &Item) -> Option<u64> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item::<SnapshotStamp>(item.clone())
        .ok()
        .map(|stamp| stamp.version)
}

/// Reads a snapshot item: `None` (with a warning) when it is of another state
/// version or does not deserialize, so that the caller replays events instead.
pub(crate) fn from_item<A: Aggregate>(mut item: Item, aggregate: &str) -> Option<(A, u64)> {
    let state = item.remove(STATE_ATTRIBUTE);
    let header: SnapshotStamp = match serde_dynamo::aws_sdk_dynamodb_1::from_item(item) {
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
    fn a_state_dynamodb_would_refuse_is_found_before_sending() {
        let nested = |levels: usize| {
            (0..levels).fold(AttributeValue::N("1".into()), |inner, _| {
                AttributeValue::L(vec![inner])
            })
        };
        // A leaf inside 32 maps or lists is refused, inside 31 stored.
        assert!(storable(&nested(MAX_NESTING - 1), 1).is_ok());
        assert!(storable(&nested(MAX_NESTING), 1).is_err());
        let empty_key = AttributeValue::M([(String::new(), AttributeValue::Bool(true))].into());
        assert!(storable(&AttributeValue::L(vec![empty_key]), 1).is_err());
        assert!(storable(&AttributeValue::Ss(Vec::new()), 1).is_err());
        assert!(storable(&AttributeValue::S(String::new()), 1).is_ok());
    }

    #[test]
    fn a_state_in_the_commit_is_no_snapshot_item_of_its_own() {
        assert!(!SnapshotPolicy::InCommit.is_due(&due(0, 1000)));
        assert!(SnapshotPolicy::InCommit.in_commit());
        assert!(!SnapshotPolicy::Every(10).in_commit());
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
