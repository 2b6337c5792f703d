//! Appending: what one command's transaction holds.
//!
//! A commit writes, for each aggregate with new events, its stream head
//! (under the condition that it holds the expected version), its new events
//! (each under the condition that its version is free) and a due snapshot
//! (under the condition that no newer one exists); for each aggregate that
//! decided no events, a check that its head still holds the version decided
//! on; and, for a command with an id, the command record (under the
//! condition that it does not exist yet). Sending it and reading its failure
//! is [`commit`](crate::commit)'s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dynago::{
    number_value, Condition, Item, Key, MAX_ITEM_SIZE, MAX_TRANSACTION_ACTIONS,
    MAX_TRANSACTION_SIZE,
};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::command::Known;
use crate::envelope::EventEnvelope;
use crate::error::{Error, Result};
use crate::id::{AggregateId, CommandId};
use crate::keys;
use crate::record::{CommandRecord, CommandResult, HeadRecord};
use crate::snapshot;
use crate::store::{EventStore, Requests, SendBudget};

/// What one aggregate contributes to a commit.
pub(crate) struct Plan<A: Aggregate> {
    pub(crate) id: AggregateId,
    pub(crate) expected: u64,
    pub(crate) events: Vec<EventEnvelope<A::Event>>,
    /// The state after the events, when the store decided them.
    pub(crate) state: Option<A>,
    pub(crate) snapshot: bool,
    /// What the events were decided on.
    pub(crate) previous: Option<Known<A>>,
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
}

/// What an action of the transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The stream head of `plan`, moved to its new version.
    Head {
        plan: usize,
    },
    /// A check that the head of `plan`, which decided no events, is where
    /// the decision was made.
    Check {
        plan: usize,
    },
    Event {
        plan: usize,
        version: u64,
    },
    Snapshot {
        plan: usize,
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

impl<A: Aggregate> EventStore<A> {
    /// The actions of a commit, in the order they are sent.
    pub(crate) fn actions(&self, commit: &Commit<'_, A>) -> Result<Vec<Action>> {
        let partition_key = self.table().partition_key().to_owned();
        let absent =
            || Condition::new("attribute_not_exists(#pk)").name("#pk", partition_key.clone());
        let at_version = |expected: u64| {
            if expected == 0 {
                absent()
            } else {
                Condition::new("#version = :expected")
                    .name("#version", snapshot::VERSION_ATTRIBUTE)
                    .value(":expected", number_value(expected))
            }
        };
        let writes = commit.plans.iter().any(|plan| !plan.events.is_empty());
        let mut actions = Vec::new();
        let mut snapshots = Vec::new();
        for (index, plan) in commit.plans.iter().enumerate() {
            if plan.events.is_empty() {
                // Its decision depends on its version as much as the others'
                // writes do theirs: a transaction that writes guards it too.
                if writes {
                    actions.push(Action {
                        role: Role::Check { plan: index },
                        key: keys::head(A::TYPE, &plan.id),
                        item: None,
                        condition: at_version(plan.expected),
                    });
                }
                continue;
            }
            let version = plan.version();
            let head = HeadRecord {
                aggregate_type: A::TYPE.to_owned(),
                aggregate_id: plan.id.clone(),
                version,
                last_commit: commit.commit_id,
                updated_at: commit.now,
            };
            let head_item = dynago::item::to_item(&head).map_err(|e| {
                serialize_error(
                    format!("the head of {}", Self::aggregate_name(&plan.id)),
                    &e,
                )
            })?;
            actions.push(Action {
                role: Role::Head { plan: index },
                key: keys::head(A::TYPE, &plan.id),
                item: Some(head_item),
                condition: at_version(plan.expected),
            });
            for event in &plan.events {
                actions.push(Action {
                    role: Role::Event {
                        plan: index,
                        version: event.version,
                    },
                    key: keys::event(A::TYPE, &plan.id, event.version),
                    item: Some(event.to_item(commit.commit_id)?),
                    condition: absent(),
                });
            }
            if let (true, Some(state)) = (plan.snapshot, &plan.state) {
                if let Some(item) = self.snapshot_item(&plan.id, version, state) {
                    snapshots.push(Action {
                        role: Role::Snapshot { plan: index },
                        key: keys::snapshot(A::TYPE, &plan.id),
                        item: Some(item),
                        condition: Condition::new(
                            "attribute_not_exists(#pk) OR #version < :version",
                        )
                        .name("#pk", partition_key.clone())
                        .name("#version", snapshot::VERSION_ATTRIBUTE)
                        .value(":version", number_value(version)),
                    });
                }
            }
        }
        let mut record = None;
        if let (Some(command_id), true) = (commit.command_id, writes) {
            let item = CommandRecord {
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
                expires_at: self
                    .options()
                    .command_record_lifetime()
                    .map(|lifetime| expiry(commit.now, lifetime)),
            };
            record = Some(Action {
                role: Role::Command,
                key: keys::command(A::TYPE, command_id),
                item: Some(dynago::item::to_item(&item).map_err(|e| {
                    serialize_error(format!("the record of command {command_id}"), &e)
                })?),
                condition: absent(),
            });
        }
        // Nor does a snapshot that would take the transaction over DynamoDB's
        // limits of actions or bytes: it is left out, and the events go in.
        let mut count = actions.len() + usize::from(record.is_some());
        let mut size = 0;
        for action in actions.iter().chain(&record) {
            size += self.action_size(action)?;
        }
        for snapshot in snapshots {
            let snapshot_size = self.action_size(&snapshot)?;
            if count < MAX_TRANSACTION_ACTIONS && size + snapshot_size <= MAX_TRANSACTION_SIZE {
                count += 1;
                size += snapshot_size;
                actions.push(snapshot);
            } else if let Role::Snapshot { plan } = snapshot.role {
                tracing::warn!(
                    aggregate = %Self::aggregate_name(&commit.plans[plan].id),
                    actions = count,
                    size,
                    snapshot_size,
                    "snapshot does not fit in the transaction of its events; not saved"
                );
            }
        }
        actions.extend(record);
        Ok(actions)
    }

    /// The item of a due snapshot, or `None` (with a warning) when it
    /// cannot be written: a snapshot never blocks the events.
    fn snapshot_item(&self, id: &AggregateId, version: u64, state: &A) -> Option<Item> {
        let aggregate = Self::aggregate_name(id);
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

    /// The bytes an action's item weighs in a transaction, key included.
    fn action_size(&self, action: &Action) -> Result<usize> {
        let key = self.table().key_item(&action.key)?;
        Ok(action.item.as_ref().map_or(0, dynago::item_size) + dynago::item_size(&key))
    }

    /// Appends `events` to the aggregate `id` under the expected version
    /// `expected` (0 for a new aggregate), without deciding anything: for
    /// events decided elsewhere. No retry on a conflict, no snapshot; the
    /// cache entry of the aggregate is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] with the version found when the stream is not at
    /// `expected`; [`Error::VersionOutOfRange`] when the versions would pass
    /// `u64::MAX`; [`Error::CorruptStream`] when the stream's head item is
    /// not a head; [`Error::RetriesExhausted`] when a transient error
    /// outlasts the retry policy and nothing was written;
    /// [`Error::OutcomeUnknown`] when it cannot be told whether the events
    /// were written; [`Error::Table`] for limits and DynamoDB failures.
    pub async fn append(
        &self,
        id: impl Into<AggregateId>,
        expected: u64,
        events: Vec<A::Event>,
        metadata: crate::Metadata,
    ) -> Result<Vec<EventEnvelope<A::Event>>> {
        let id = id.into();
        let (first, last) = versions_after(|| Self::aggregate_name(&id), expected, events.len())?;
        let now = Utc::now();
        let events: Vec<EventEnvelope<A::Event>> = events
            .into_iter()
            .zip(first..=last)
            .map(|(event, version)| {
                EventEnvelope::new(A::TYPE, &id, version, event, &metadata, now)
            })
            .collect();
        let plans = [Plan {
            id: id.clone(),
            expected,
            events,
            state: None,
            snapshot: false,
            previous: None,
        }];
        let commit = Commit {
            plans: &plans,
            command_id: None,
            fingerprint: None,
            commit_id: Uuid::now_v7(),
            now,
        };
        self.remember(&id, None);
        let budget = SendBudget::new(self.retry_policy().attempts());
        self.commit(&commit, &Requests::default(), &budget).await?;
        let [plan] = plans;
        Ok(plan.events)
    }
}

/// When a command record written at `now` expires, in seconds since the
/// epoch (DynamoDB's TTL format).
fn expiry(now: DateTime<Utc>, lifetime: Duration) -> i64 {
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    now.timestamp().saturating_add(lifetime)
}
