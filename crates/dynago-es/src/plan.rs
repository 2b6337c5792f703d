//! What a commit writes, built without I/O: the state an attempt decides
//! on, each aggregate's part of a commit (its events, its expected version,
//! whether a snapshot is due), and from them the actions of the write and
//! the snapshots that follow it.
//!
//! A commit writes each aggregate's events as one item, keyed by the version
//! after the one its decision was made on, under the condition that this
//! key is free (`attribute_not_exists`): every writer of that version
//! contends for it, so no head item is needed. A commit on one aggregate is
//! one conditional `PutItem`, however many events; a commit across
//! aggregates is one `TransactWriteItems` holding their items, for each
//! aggregate that decided no events a check that the version after its own
//! is still free, and, for a command with an id, the command record (under
//! the condition that it does not exist yet). A command with an id on one
//! aggregate reserves its record before, on its own ([`Recording`]). Events
//! too large for one item are an item each, in one transaction. A due
//! snapshot is written after the commit, on its own. Sending the commit and
//! reading its failure is [`commit`](crate::commit)'s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dynago::expr::attr;
use dynago::{Condition, Item, Key, MAX_ITEM_SIZE};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::envelope::EventEnvelope;
use crate::error::{Error, Result};
use crate::id::{AggregateId, CommandId};
use crate::keys;
use crate::payload::PayloadEncoding;
use crate::record::{CommandRecord, CommandResult};
use crate::snapshot;

/// An aggregate's state as of `version`, folded from the snapshot of
/// `snapshot_version` (0: none) and the events after it: what the cache
/// keeps, a load ends with, and a command decides on.
#[derive(Clone)]
pub(crate) struct Folded<A> {
    pub(crate) state: A,
    pub(crate) version: u64,
    pub(crate) snapshot_version: u64,
}

/// Where one attempt stands on one aggregate.
pub(crate) struct Basis<A> {
    pub(crate) folded: Folded<A>,
    /// Taken from the cache rather than read: it may be behind the stream.
    pub(crate) cached: bool,
    /// The version a failed append found taken (0: none): the events up
    /// to it exist, so reading on must reach it.
    pub(crate) taken: u64,
}

/// What one aggregate contributes to a commit.
pub(crate) struct Plan<A: Aggregate> {
    pub(crate) id: AggregateId,
    pub(crate) expected: u64,
    pub(crate) events: Vec<EventEnvelope<A::Event>>,
    /// The state after the events, when the store decided them.
    pub(crate) state: Option<A>,
    pub(crate) snapshot: bool,
    /// What the events were decided on.
    pub(crate) previous: Option<Basis<A>>,
}

impl<A: Aggregate> Plan<A> {
    /// The version after the plan's events.
    pub(crate) fn version(&self) -> u64 {
        self.expected + self.events.len() as u64
    }
}

/// One transaction's worth of plans.
pub(crate) struct Commit<'a, A: Aggregate> {
    pub(crate) plans: &'a [Plan<A>],
    pub(crate) command_id: Option<&'a CommandId>,
    /// A digest of the command's body, kept in its record.
    pub(crate) fingerprint: Option<&'a str>,
    pub(crate) commit_id: Uuid,
    pub(crate) now: DateTime<Utc>,
    /// Where its command record (if it has an id) is written.
    pub(crate) recording: Recording,
    /// Set once the record is reserved ([`Recording::Reserve`]), so that
    /// later attempts of the command do not write it again.
    pub(crate) reserved: Option<&'a std::sync::atomic::AtomicBool>,
}

/// What an action of a commit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A check that the version after the one `plan` decided on is free:
    /// for an aggregate that decided no events.
    Check {
        plan: usize,
    },
    Event {
        plan: usize,
        version: u64,
    },
    Command,
}

pub(crate) struct Action {
    pub(crate) role: Role,
    pub(crate) key: Key,
    /// The item to put; `None` for a check.
    pub(crate) item: Option<Item>,
    pub(crate) condition: Condition,
}

/// A due snapshot, written after its commit.
pub(crate) struct SnapshotWrite {
    /// The plan whose state it holds.
    pub(crate) plan: usize,
    pub(crate) key: Key,
    pub(crate) item: Item,
    pub(crate) condition: Condition,
}

fn serialize_error(what: String, error: &dynago::Error) -> Error {
    Error::Serialize {
        what,
        reason: error.to_string(),
    }
}

/// The first version after `expected` and the last of `events` more, or a
/// typed error when the versions would pass `u64::MAX`.
pub(crate) fn versions_after(
    aggregate: impl FnOnce() -> String,
    expected: u64,
    events: usize,
) -> Result<(u64, u64)> {
    u64::try_from(events)
        .ok()
        .and_then(|n| expected.checked_add(n))
        .map(|last| (expected.saturating_add(1), last))
        .ok_or_else(|| Error::VersionOutOfRange {
            aggregate: aggregate(),
            expected,
            events,
        })
}

/// How a store writes its items: what [`actions`] and [`snapshot_writes`]
/// take from it.
pub(crate) struct Writing<'a> {
    /// The name of the table's partition key, for the conditions.
    pub(crate) partition_key: &'a str,
    /// The name of its sort key, counted in an item's size.
    pub(crate) sort_key: &'a str,
    /// Every event an item of its own, as 0.1 wrote them
    /// ([`StoreOptions::item_per_event`](crate::StoreOptions::item_per_event)).
    pub(crate) item_per_event: bool,
    /// Each commit item holds its aggregate's state after it
    /// ([`SnapshotPolicy::InCommit`](crate::SnapshotPolicy::InCommit)).
    pub(crate) state_in_commit: bool,
    pub(crate) encoding: PayloadEncoding,
    /// How long a command record is kept, if it expires.
    pub(crate) record_lifetime: Option<Duration>,
}

/// Where a commit's command record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recording {
    /// In the commit's transaction, under the condition that there is none
    /// yet: a command across aggregates (or none when it has no id).
    InCommit,
    /// On its own, before the commit, under the same condition: the
    /// reservation of a command on one aggregate, whose events then need
    /// no transaction (see docs/event-store.md, "Commands with an id").
    Reserve,
    /// Nowhere: it is stored already (an earlier attempt reserved it).
    Reserved,
}

/// The actions of a commit, in the order they are sent: for each aggregate
/// with events, its commit item under the version after the one decided
/// on (or, when the events do not fit one item, an item per event); for
/// each without, a check; and the command record when it is written in
/// the commit.
pub(crate) fn actions<A: Aggregate>(
    commit: &Commit<'_, A>,
    writing: &Writing<'_>,
) -> Result<Vec<Action>> {
    let partition_key = writing.partition_key;
    let absent = || Condition::from(attr(partition_key).not_exists());
    let writes = commit.plans.iter().any(|plan| !plan.events.is_empty());
    let mut actions = Vec::new();
    for (index, plan) in commit.plans.iter().enumerate() {
        if plan.events.is_empty() {
            // Its decision depends on its version as much as the others'
            // writes do theirs: a commit that writes guards it too.
            if writes {
                actions.push(Action {
                    role: Role::Check { plan: index },
                    key: keys::event(A::TYPE, &plan.id, plan.expected.saturating_add(1)),
                    item: None,
                    condition: absent(),
                });
            }
            continue;
        }
        let first = plan.expected.saturating_add(1);
        let mut item =
            EventEnvelope::commit_item(&plan.events, commit.commit_id, writing.encoding)?;
        // The keys count in an item's size: an id may be 2 KB.
        let keys = writing.partition_key.len()
            + keys::stream(A::TYPE, &plan.id).len()
            + writing.sort_key.len()
            + keys::event_sort(first).len();
        let fits = dynago::item_size(&item) + keys + ITEM_MARGIN <= MAX_ITEM_SIZE;
        if plan.events.len() == 1 || (fits && !writing.item_per_event) {
            if writing.state_in_commit && fits {
                if let Some(state) = &plan.state {
                    add_state(&mut item, state, &plan.id, plan.version(), keys);
                }
            }
            actions.push(Action {
                role: Role::Event {
                    plan: index,
                    version: first,
                },
                key: keys::event(A::TYPE, &plan.id, first),
                item: Some(item),
                condition: absent(),
            });
            continue;
        }
        // Too large for one item: an item per event, in one transaction.
        for event in &plan.events {
            actions.push(Action {
                role: Role::Event {
                    plan: index,
                    version: event.version,
                },
                key: keys::event(A::TYPE, &plan.id, event.version),
                item: Some(event.to_item(commit.commit_id, writing.encoding)?),
                condition: absent(),
            });
        }
    }
    // States are a cache: a transaction they would take past DynamoDB's
    // 4 MB goes without them.
    if actions.len() > 1 {
        let size: usize = actions
            .iter()
            .filter_map(|action| action.item.as_ref())
            .map(|item| dynago::item_size(item) + ITEM_MARGIN)
            .sum();
        if size > dynago::MAX_TRANSACTION_SIZE && without_states(&mut actions) {
            tracing::warn!(
                "the states do not fit in the commit's transaction; it goes without them"
            );
        }
    }
    if let (Some(command_id), true, Recording::InCommit) =
        (commit.command_id, writes, commit.recording)
    {
        actions.push(Action {
            role: Role::Command,
            key: keys::command(A::TYPE, command_id),
            item: Some(record_item(commit, command_id, writing, false)?),
            condition: absent(),
        });
    }
    Ok(actions)
}

/// Room left in an item, besides its keys, for DynamoDB's own counting.
const ITEM_MARGIN: usize = 1_024;

/// Takes every aggregate's state out of `actions`' items; whether there was
/// one.
pub(crate) fn without_states(actions: &mut [Action]) -> bool {
    let mut removed = false;
    for item in actions.iter_mut().filter_map(|action| action.item.as_mut()) {
        for name in snapshot::COMMIT_ATTRIBUTES {
            removed |= item.remove(name).is_some();
        }
    }
    removed
}

/// Adds the aggregate's state after the commit to its item, when it can
/// be written as it is and the item still fits; else leaves the item
/// without (a load then replays the events), with a warning.
fn add_state<A: Aggregate>(
    item: &mut Item,
    state: &A,
    id: &AggregateId,
    version: u64,
    keys: usize,
) {
    let aggregate = keys::stream(A::TYPE, id);
    let attributes = match snapshot::commit_attributes(state) {
        Ok(attributes) => attributes,
        Err(error) => {
            tracing::warn!(%aggregate, version, %error, "the state cannot be written; the commit goes without it");
            return;
        }
    };
    let names = attributes.each_ref().map(|(name, _)| *name);
    item.extend(attributes.map(|(name, value)| (name.to_owned(), value)));
    if dynago::item_size(item) + keys + ITEM_MARGIN > MAX_ITEM_SIZE {
        for name in names {
            item.remove(name);
        }
        tracing::warn!(%aggregate, version, "the state does not fit in the commit item; the commit goes without it");
    }
}

/// The item of a commit's command record; `reserved` when it is written
/// before the commit's events, on its own.
pub(crate) fn record_item<A: Aggregate>(
    commit: &Commit<'_, A>,
    command_id: &CommandId,
    writing: &Writing<'_>,
    reserved: bool,
) -> Result<Item> {
    let record = CommandRecord {
        command_id: command_id.clone(),
        aggregate_type: A::TYPE.to_owned(),
        commit_id: commit.commit_id,
        results: commit
            .plans
            .iter()
            .map(|plan| CommandResult {
                aggregate_id: plan.id.clone(),
                first_version: plan.expected + 1,
                last_version: plan.version(),
            })
            .collect(),
        fingerprint: commit.fingerprint.map(str::to_owned),
        recorded_at: commit.now,
        expires_at: writing
            .record_lifetime
            .map(|lifetime| expiry(commit.now, lifetime)),
        reserved,
    };
    dynago::item::to_item(&record)
        .map_err(|e| serialize_error(format!("the record of command {command_id}"), &e))
}

/// The snapshots a commit makes due, each under the condition that no
/// newer one is stored.
pub(crate) fn snapshot_writes<A: Aggregate>(
    commit: &Commit<'_, A>,
    writing: &Writing<'_>,
) -> Vec<SnapshotWrite> {
    let partition_key = writing.partition_key;
    commit
        .plans
        .iter()
        .enumerate()
        .filter(|(_, plan)| plan.snapshot && !plan.events.is_empty())
        .filter_map(|(index, plan)| {
            let state = plan.state.as_ref()?;
            let version = plan.version();
            let item = snapshot_item(&plan.id, version, state)?;
            Some(SnapshotWrite {
                plan: index,
                key: keys::snapshot(A::TYPE, &plan.id),
                item,
                condition: Condition::from(
                    attr(partition_key)
                        .not_exists()
                        .or(attr(snapshot::VERSION_ATTRIBUTE).lt(version)),
                ),
            })
        })
        .collect()
}

/// The item of a due snapshot, or `None` (with a warning) when it
/// cannot be written: a snapshot never blocks the events.
fn snapshot_item<A: Aggregate>(id: &AggregateId, version: u64, state: &A) -> Option<Item> {
    let aggregate = keys::stream(A::TYPE, id);
    let item = match snapshot::to_item(id, version, state) {
        Ok(item) => item,
        Err(error) => {
            tracing::warn!(%aggregate, version, %error, "snapshot cannot be written; not saved");
            return None;
        }
    };
    if dynago::item_size(&item) + 512 > MAX_ITEM_SIZE {
        tracing::warn!(
            %aggregate,
            size = dynago::item_size(&item),
            "snapshot over DynamoDB's item size; not saved"
        );
        return None;
    }
    Some(item)
}

/// When a command record written at `now` expires, in seconds since the
/// epoch (DynamoDB's TTL format).
fn expiry(now: DateTime<Utc>, lifetime: Duration) -> i64 {
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    now.timestamp().saturating_add(lifetime)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::envelope::Metadata;
    use crate::DomainEvent;
    use dynago::AttributeValue;

    #[derive(Debug, Default, Clone, Serialize, Deserialize)]
    struct Tally(u64);

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Added(u64);

    impl DomainEvent for Added {
        fn event_type(&self) -> &'static str {
            "Added"
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl Aggregate for Tally {
        const TYPE: &'static str = "tally";
        type Id = AggregateId;
        type Command = ();
        type Event = Added;
        type Error = Never;

        fn handle(&self, _: &()) -> std::result::Result<Vec<Added>, Never> {
            Ok(Vec::new())
        }

        fn apply(&mut self, event: &Added) {
            self.0 += event.0;
        }
    }

    const WRITING: Writing<'static> = Writing {
        partition_key: "pk",
        sort_key: "sk",
        item_per_event: false,
        state_in_commit: false,
        encoding: PayloadEncoding::Map,
        record_lifetime: None,
    };

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("a time")
    }

    /// The plan of `id` after version `expected`, with `events` more,
    /// decided by the store (`previous` known) unless `appended`.
    fn plan(id: &str, expected: u64, events: u64, appended: bool) -> Plan<Tally> {
        let id = AggregateId::from(id);
        let events = (1..=events)
            .map(|n| {
                EventEnvelope::new(
                    Tally::TYPE,
                    &id,
                    expected + n,
                    Added(n),
                    &Metadata::default(),
                    now(),
                )
            })
            .collect();
        let previous = (!appended).then_some(Basis {
            folded: Folded {
                state: Tally(expected),
                version: expected,
                snapshot_version: 0,
            },
            cached: false,
            taken: 0,
        });
        Plan {
            id,
            expected,
            events,
            state: Some(Tally(expected)),
            snapshot: false,
            previous,
        }
    }

    fn commit<'a>(
        plans: &'a [Plan<Tally>],
        command_id: Option<&'a CommandId>,
    ) -> Commit<'a, Tally> {
        Commit {
            plans,
            command_id,
            fingerprint: None,
            commit_id: Uuid::nil(),
            now: now(),
            recording: Recording::InCommit,
            reserved: None,
        }
    }

    fn roles(actions: &[Action]) -> Vec<Role> {
        actions.iter().map(|action| action.role).collect()
    }

    #[test]
    fn one_event_is_one_put_under_the_condition_that_its_version_is_free() {
        let plans = [plan("a", 5, 1, false)];
        let actions = actions(&commit(&plans, None), &WRITING).expect("actions");
        assert_eq!(
            roles(&actions),
            [Role::Event {
                plan: 0,
                version: 6
            }]
        );
        let action = &actions[0];
        assert_eq!(action.key, keys::event("tally", &"a".into(), 6));
        assert_eq!(action.condition, Condition::from(attr("pk").not_exists()));
        let item = action.item.as_ref().expect("an item");
        assert!(item.contains_key("payload"), "{item:?}");
    }

    #[test]
    fn an_aggregate_that_decided_nothing_is_checked_beside_the_others_writes() {
        let plans = [plan("a", 2, 2, false), plan("b", 7, 0, false)];
        let actions = actions(&commit(&plans, None), &WRITING).expect("actions");
        assert_eq!(
            roles(&actions),
            [
                Role::Event {
                    plan: 0,
                    version: 3
                },
                Role::Check { plan: 1 },
            ]
        );
        assert_eq!(actions[1].key, keys::event("tally", &"b".into(), 8));
        assert!(actions[1].item.is_none());
    }

    #[test]
    fn a_commit_that_writes_nothing_has_no_action_not_even_its_record() {
        let id = CommandId::new("c-1");
        let plans = [plan("a", 2, 0, false), plan("b", 0, 0, false)];
        let actions = actions(&commit(&plans, Some(&id)), &WRITING).expect("actions");
        assert!(actions.is_empty());
    }

    #[test]
    fn a_command_id_adds_its_record_after_the_events() {
        let id = CommandId::new("c-1");
        let plans = [plan("a", 0, 1, false)];
        let writing = Writing {
            record_lifetime: Some(Duration::from_secs(60)),
            ..WRITING
        };
        let actions = actions(&commit(&plans, Some(&id)), &writing).expect("actions");
        assert_eq!(
            roles(&actions),
            [
                Role::Event {
                    plan: 0,
                    version: 1
                },
                Role::Command
            ]
        );
        let record = &actions[1];
        assert_eq!(record.key, keys::command("tally", &id));
        assert_eq!(record.condition, Condition::from(attr("pk").not_exists()));
        let item = record.item.as_ref().expect("the record");
        assert_eq!(
            item.get(crate::COMMAND_EXPIRY_ATTRIBUTE),
            Some(&dynago::number_value(1_700_000_060))
        );
    }

    #[test]
    fn a_commit_of_several_events_is_one_item_keyed_by_its_first_version() {
        let plans = [plan("a", 4, 3, false)];
        let actions = actions(&commit(&plans, None), &WRITING).expect("actions");
        assert_eq!(
            roles(&actions),
            [Role::Event {
                plan: 0,
                version: 5
            }]
        );
        assert_eq!(actions[0].key, keys::event("tally", &"a".into(), 5));
        let item = actions[0].item.as_ref().expect("an item");
        assert_eq!(item.get("version"), Some(&dynago::number_value(5_u64)));
        assert_eq!(item.get("last_version"), Some(&dynago::number_value(7_u64)));
        let Some(AttributeValue::L(next)) = item.get("next_events") else {
            panic!("no list of the next events: {item:?}");
        };
        assert_eq!(next.len(), 2);
        // What the events share is written once.
        let AttributeValue::M(second) = &next[0] else {
            panic!("not a map: {next:?}");
        };
        for shared in ["aggregate_type", "aggregate_id", "commit_id", "timestamp"] {
            assert!(!second.contains_key(shared), "{shared} in {second:?}");
        }
        assert_eq!(second.get("version"), Some(&dynago::number_value(6_u64)));
    }

    #[test]
    fn a_commit_item_holds_the_state_after_it_only_when_asked() {
        let plans = [plan("a", 4, 3, false)];
        let item = |writing: &Writing<'_>| {
            let actions = actions(&commit(&plans, None), writing).expect("actions");
            actions[0].item.clone().expect("an item")
        };
        let without = item(&WRITING);
        assert!(!without.contains_key("state") && !without.contains_key("state_version"));
        let with = item(&Writing {
            state_in_commit: true,
            ..WRITING
        });
        let state = plans[0].state.as_ref().expect("a state");
        assert_eq!(
            with.get("state"),
            Some(&dynago::item::to_attribute_value(state).expect("a value"))
        );
        assert_eq!(
            with.get("state_version"),
            Some(&dynago::number_value(Tally::SNAPSHOT_VERSION))
        );
        // Everything else is the item without the state.
        let mut rest = with.clone();
        rest.remove("state");
        rest.remove("state_version");
        assert_eq!(rest, without);
    }

    #[test]
    fn events_too_large_for_one_item_are_an_item_each_in_one_transaction() {
        let mut plans = [plan("a", 0, 3, false)];
        // Metadata of its own per event (what events share is written once).
        for event in &mut plans[0].events {
            let pad = event.version.to_string().repeat(150_000);
            event.metadata = Metadata::default().with("pad", pad);
        }
        let actions = actions(&commit(&plans, None), &WRITING).expect("actions");
        assert_eq!(
            roles(&actions),
            (1..=3)
                .map(|version| Role::Event { plan: 0, version })
                .collect::<Vec<_>>()
        );
        assert!(actions.iter().all(|action| !action
            .item
            .as_ref()
            .expect("an item")
            .contains_key("next_events")));
    }

    #[test]
    fn a_reserved_record_is_not_in_the_commit() {
        let id = CommandId::new("c-1");
        let plans = [plan("a", 0, 2, false)];
        for recording in [Recording::Reserve, Recording::Reserved] {
            let commit = Commit {
                recording,
                ..commit(&plans, Some(&id))
            };
            let actions = actions(&commit, &WRITING).expect("actions");
            assert_eq!(
                roles(&actions),
                [Role::Event {
                    plan: 0,
                    version: 1
                }]
            );
        }
        let item = record_item(&commit(&plans, Some(&id)), &id, &WRITING, true).expect("a record");
        assert_eq!(item.get("reserved"), Some(&AttributeValue::Bool(true)));
        let in_commit =
            record_item(&commit(&plans, Some(&id)), &id, &WRITING, false).expect("a record");
        assert!(!in_commit.contains_key("reserved"));
    }

    #[test]
    fn a_due_snapshot_follows_only_a_plan_with_events_and_never_overwrites_a_newer_one() {
        let mut due = plan("a", 9, 1, false);
        due.snapshot = true;
        let mut empty = plan("b", 3, 0, false);
        empty.snapshot = true;
        let plans = [due, empty, plan("c", 1, 1, false)];
        let writes = snapshot_writes(&commit(&plans, None), &WRITING);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].plan, 0);
        assert_eq!(writes[0].key, keys::snapshot("tally", &"a".into()));
        let newer_stored = attr("pk").not_exists().or(attr("version").lt(10_u64));
        assert_eq!(writes[0].condition, Condition::from(newer_stored));
    }

    #[test]
    fn versions_past_the_last_there_is_are_refused() {
        let name = || "tally#a".to_owned();
        assert_eq!(versions_after(name, 3, 2).expect("in range"), (4, 5));
        assert_eq!(
            versions_after(name, u64::MAX - 1, 1).expect("the last"),
            (u64::MAX, u64::MAX)
        );
        assert!(matches!(
            versions_after(name, u64::MAX, 1),
            Err(Error::VersionOutOfRange {
                expected: u64::MAX,
                events: 1,
                ..
            })
        ));
    }

    #[test]
    fn a_record_lifetime_past_the_end_of_time_saturates() {
        assert_eq!(expiry(now(), Duration::from_secs(10)), 1_700_000_010);
        assert_eq!(expiry(now(), Duration::MAX), i64::MAX);
    }
}
