//! Appending: what one command writes.
//!
//! A commit writes each new event under the condition that its version is
//! free (`attribute_not_exists` on its key): the event at the version after
//! the one a decision was made on is what every writer of that version
//! contends for, so no head item is needed. One event of one aggregate is
//! one conditional `PutItem`; anything more is one `TransactWriteItems`
//! holding the events, for each aggregate that decided no events a check
//! that the version after its own is still free, and, for a command with an
//! id, the command record (under the condition that it does not exist yet).
//! A due snapshot is written after the commit, on its own. Sending the
//! commit and reading its failure is [`commit`](crate::commit)'s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dynago::{number_value, Condition, Item, Key, MAX_ITEM_SIZE};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::command::Known;
use crate::envelope::EventEnvelope;
use crate::error::{Error, Result};
use crate::id::{AggregateId, CommandId};
use crate::keys;
use crate::record::{CommandRecord, CommandResult};
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

/// What an action of a commit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A check that the version after the one `plan` decided on is free:
    /// for an aggregate that decided no events.
    Check {
        plan: usize,
    },
    /// A check that the stream of `plan` reached the version it is appended
    /// after: for events handed to `append`, whose expected version was not
    /// read from the stream.
    Reached {
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

impl<A: Aggregate> EventStore<A> {
    /// The actions of a commit, in the order they are sent.
    pub(crate) fn actions(&self, commit: &Commit<'_, A>) -> Result<Vec<Action>> {
        let partition_key = self.table().partition_key().to_owned();
        let absent =
            || Condition::new("attribute_not_exists(#pk)").name("#pk", partition_key.clone());
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
            // Events handed in under a version of the caller's: that the
            // stream reached it is checked too, or an expected version past
            // the stream's end would leave a gap.
            if plan.previous.is_none() && plan.expected > 0 {
                actions.push(Action {
                    role: Role::Reached { plan: index },
                    key: keys::event(A::TYPE, &plan.id, plan.expected),
                    item: None,
                    condition: Condition::new("attribute_exists(#pk)")
                        .name("#pk", partition_key.clone()),
                });
            }
            for event in &plan.events {
                actions.push(Action {
                    role: Role::Event {
                        plan: index,
                        version: event.version,
                    },
                    key: keys::event(A::TYPE, &plan.id, event.version),
                    item: Some(
                        event.to_item(commit.commit_id, self.options().payload_encoding_of())?,
                    ),
                    condition: absent(),
                });
            }
        }
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
            actions.push(Action {
                role: Role::Command,
                key: keys::command(A::TYPE, command_id),
                item: Some(dynago::item::to_item(&item).map_err(|e| {
                    serialize_error(format!("the record of command {command_id}"), &e)
                })?),
                condition: absent(),
            });
        }
        Ok(actions)
    }

    /// The snapshots a commit makes due, each under the condition that no
    /// newer one is stored.
    pub(crate) fn snapshot_writes(&self, commit: &Commit<'_, A>) -> Vec<SnapshotWrite> {
        let partition_key = self.table().partition_key().to_owned();
        commit
            .plans
            .iter()
            .enumerate()
            .filter(|(_, plan)| plan.snapshot && !plan.events.is_empty())
            .filter_map(|(index, plan)| {
                let state = plan.state.as_ref()?;
                let version = plan.version();
                let item = self.snapshot_item(&plan.id, version, state)?;
                Some(SnapshotWrite {
                    plan: index,
                    key: keys::snapshot(A::TYPE, &plan.id),
                    item,
                    condition: Condition::new("attribute_not_exists(#pk) OR #version < :version")
                        .name("#pk", partition_key.clone())
                        .name("#version", snapshot::VERSION_ATTRIBUTE)
                        .value(":version", number_value(version)),
                })
            })
            .collect()
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

    /// Appends `events` to the aggregate `id` under the expected version
    /// `expected` (0 for a new aggregate), without deciding anything: for
    /// events decided elsewhere. No retry on a conflict, no snapshot; the
    /// cache entry of the aggregate is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] with the version the stream is at (read after the
    /// failed condition) when it is not at `expected`, ahead or behind (with
    /// no events, one consistent read of the stream's last version says
    /// whether it is at `expected`); [`Error::VersionOutOfRange`]
    /// when the versions would pass `u64::MAX`; [`Error::RetriesExhausted`] when a transient error
    /// outlasts the retry policy and nothing was written;
    /// [`Error::OutcomeUnknown`] when it cannot be told whether the events
    /// were written; [`Error::Table`] for limits and DynamoDB failures.
    pub async fn append(
        &self,
        id: impl Into<A::Id>,
        expected: u64,
        events: Vec<A::Event>,
        metadata: crate::Metadata,
    ) -> Result<Vec<EventEnvelope<A::Event>>> {
        let id = Self::key_id(&id.into());
        if events.is_empty() {
            // Nothing to write, and so no condition to check it by: the
            // stream is read to say whether it is at `expected`.
            self.remember(&id, None);
            let actual = self.last_version(&id, &Requests::default()).await?;
            if actual != expected {
                return Err(Error::Conflict {
                    aggregate: Self::aggregate_name(&id),
                    expected,
                    actual,
                });
            }
            return Ok(Vec::new());
        }
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
        let requests = Requests::default();
        match self.commit(&commit, &requests, &budget).await {
            Ok(_) => {
                let [plan] = plans;
                Ok(plan.events)
            }
            // The failed condition says only that the stream is elsewhere:
            // the caller, who chose the version, is told where.
            Err(Error::Conflict {
                aggregate,
                expected,
                ..
            }) => Err(Error::Conflict {
                aggregate,
                expected,
                actual: self.last_version(&id, &requests).await?,
            }),
            Err(error) => Err(error),
        }
    }
}

/// When a command record written at `now` expires, in seconds since the
/// epoch (DynamoDB's TTL format).
fn expiry(now: DateTime<Utc>, lifetime: Duration) -> i64 {
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    now.timestamp().saturating_add(lifetime)
}
