//! Appending: one transaction per command, and reading its failure.
//!
//! A commit writes, for each aggregate, its stream head (under the condition
//! that it holds the expected version), its new events (each under the
//! condition that its version is free), a due snapshot (under the condition
//! that no newer one exists) and, for a command with an id, the command
//! record (under the condition that it does not exist yet).
//!
//! A failed condition is not proof of a failed write: when the answer to a
//! commit is lost, the SDK (or this store) sends it again and it fails
//! against its own earlier success. Every commit carries an id, stored in the
//! head, the events and the command record; a cancellation whose failed
//! items carry this commit's id is a success.

use std::sync::atomic::{AtomicUsize, Ordering};

use backon::Retryable;
use chrono::{DateTime, Utc};
use dynago::transact::Put;
use dynago::{
    number_value, Condition, Error as TableError, Item, Key, MAX_ITEM_SIZE,
    MAX_TRANSACTION_ACTIONS, MAX_TRANSACTION_SIZE,
};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::command::Known;
use crate::envelope::{EventEnvelope, EventHeader};
use crate::error::{Error, Result};
use crate::id::{AggregateId, CommandId};
use crate::keys;
use crate::record::{CommandRecord, CommandResult, HeadRecord};
use crate::snapshot;
use crate::store::{EventStore, Requests};

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

/// One transaction's worth of plans.
pub(crate) struct Commit<'a, A: Aggregate> {
    pub(crate) plans: &'a [Plan<A>],
    pub(crate) command_id: Option<&'a CommandId>,
    pub(crate) commit_id: Uuid,
    pub(crate) now: DateTime<Utc>,
}

pub(crate) enum CommitOutcome {
    /// The transaction is in the table (perhaps from an earlier send).
    Committed,
    /// The command id was recorded by another, earlier commit.
    Duplicate(CommandRecord),
}

/// What an action of the transaction is for.
#[derive(Debug, Clone, Copy)]
enum Role {
    Head { plan: usize },
    Event { plan: usize, version: u64 },
    Snapshot,
    Command,
}

struct Action {
    role: Role,
    key: Key,
    item: Item,
    condition: Condition,
}

fn serialize_error(what: String, error: &dynago::Error) -> Error {
    Error::Serialize {
        what,
        reason: error.to_string(),
    }
}

impl<A: Aggregate> EventStore<A> {
    fn actions(&self, commit: &Commit<'_, A>) -> Result<Vec<Action>> {
        let partition_key = self.table().partition_key().to_owned();
        let absent =
            || Condition::new("attribute_not_exists(#pk)").name("#pk", partition_key.clone());
        let mut actions = Vec::new();
        let mut snapshots = Vec::new();
        for (index, plan) in commit.plans.iter().enumerate() {
            if plan.events.is_empty() {
                continue;
            }
            let version = plan.expected + plan.events.len() as u64;
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
            let head_condition = if plan.expected == 0 {
                absent()
            } else {
                Condition::new("#version = :expected")
                    .name("#version", snapshot::VERSION_ATTRIBUTE)
                    .value(":expected", number_value(plan.expected))
            };
            actions.push(Action {
                role: Role::Head { plan: index },
                key: keys::head(A::TYPE, &plan.id),
                item: head_item,
                condition: head_condition,
            });
            for event in &plan.events {
                actions.push(Action {
                    role: Role::Event {
                        plan: index,
                        version: event.version,
                    },
                    key: keys::event(A::TYPE, &plan.id, event.version),
                    item: event.to_item(commit.commit_id)?,
                    condition: absent(),
                });
            }
            if let (true, Some(state)) = (plan.snapshot, &plan.state) {
                let item = snapshot::to_item(&plan.id, version, state)?;
                // A snapshot never blocks the events: one too large is skipped.
                if dynago::item_size(&item) + 512 > MAX_ITEM_SIZE {
                    tracing::warn!(
                        aggregate = %Self::aggregate_name(&plan.id),
                        size = dynago::item_size(&item),
                        "snapshot over DynamoDB's item size; not saved"
                    );
                } else {
                    snapshots.push((
                        plan,
                        Action {
                            role: Role::Snapshot,
                            key: keys::snapshot(A::TYPE, &plan.id),
                            item,
                            condition: Condition::new(
                                "attribute_not_exists(#pk) OR #version < :version",
                            )
                            .name("#pk", partition_key.clone())
                            .name("#version", snapshot::VERSION_ATTRIBUTE)
                            .value(":version", number_value(version)),
                        },
                    ));
                }
            }
        }
        let mut record = None;
        if let (Some(command_id), false) = (commit.command_id, actions.is_empty()) {
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
                        last_version: plan.expected + plan.events.len() as u64,
                    })
                    .collect(),
                recorded_at: commit.now,
            };
            record = Some(Action {
                role: Role::Command,
                key: keys::command(A::TYPE, command_id),
                item: dynago::item::to_item(&item).map_err(|e| {
                    serialize_error(format!("the record of command {command_id}"), &e)
                })?,
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
        for (plan, snapshot) in snapshots {
            let snapshot_size = self.action_size(&snapshot)?;
            if count < MAX_TRANSACTION_ACTIONS && size + snapshot_size <= MAX_TRANSACTION_SIZE {
                count += 1;
                size += snapshot_size;
                actions.push(snapshot);
            } else {
                tracing::warn!(
                    aggregate = %Self::aggregate_name(&plan.id),
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

    /// The bytes an action's item weighs in a transaction, key included.
    fn action_size(&self, action: &Action) -> Result<usize> {
        let key = self.table().key_item(&action.key)?;
        Ok(dynago::item_size(&action.item) + dynago::item_size(&key))
    }

    /// Writes a commit in one transaction, sending it again on transient
    /// errors, and tells a real conflict from its own earlier success.
    pub(crate) async fn commit(
        &self,
        commit: &Commit<'_, A>,
        requests: &Requests,
    ) -> Result<CommitOutcome> {
        let actions = self.actions(commit)?;
        if actions.is_empty() {
            return Ok(CommitOutcome::Committed);
        }
        let token = commit.commit_id.to_string();
        let sends = AtomicUsize::new(0);
        let sent = (|| async {
            requests.add(1);
            sends.fetch_add(1, Ordering::Relaxed);
            actions
                .iter()
                .fold(self.table().transact_write(), |tx, action| {
                    tx.put(
                        Put::raw(action.key.clone(), action.item.clone())
                            .condition(action.condition.clone()),
                    )
                })
                .client_request_token(token.clone())
                .send()
                .await
        })
        .retry(self.retry_policy().backoff())
        .when(TableError::is_retryable)
        .notify(|error, delay| tracing::debug!(%error, ?delay, "commit failed; sending it again"))
        .await;
        match sent {
            Ok(()) => Ok(CommitOutcome::Committed),
            Err(TableError::TransactionCanceled { reasons, table })
                if reasons.has_condition_failure() =>
            {
                self.explain(commit, &actions, &reasons, requests)
                    .await?
                    .map_or_else(
                        || {
                            Err(Error::Table(TableError::TransactionCanceled {
                                table,
                                reasons,
                            }))
                        },
                        Ok,
                    )
            }
            // A transient error outlasted the retry policy.
            Err(error) if error.is_retryable() => Err(Error::RetriesExhausted {
                attempts: sends.load(Ordering::Relaxed),
                last: Box::new(error.into()),
            }),
            Err(error) => Err(error.into()),
        }
    }

    /// Reads a cancelled commit's reasons: its own earlier success, a
    /// duplicate command, or a conflict (`None`: none of these).
    async fn explain(
        &self,
        commit: &Commit<'_, A>,
        actions: &[Action],
        reasons: &dynago::TransactionCanceled,
        requests: &Requests,
    ) -> Result<Option<CommitOutcome>> {
        let mut conflict = None;
        let mut duplicate = None;
        for (action, reason) in actions.iter().zip(reasons.reasons()) {
            if reason.code != "ConditionalCheckFailed" {
                continue;
            }
            let stored = reason.item.clone();
            match action.role {
                Role::Command => {
                    let record = match stored {
                        Some(item) => Some(item),
                        None => {
                            requests.add(1);
                            self.table()
                                .get_item(action.key.clone())
                                .consistent_read(true)
                                .send_raw()
                                .await?
                        }
                    };
                    if let Some(record) = record.and_then(|item| {
                        serde_dynamo::aws_sdk_dynamodb_1::from_item::<CommandRecord>(item).ok()
                    }) {
                        if record.commit_id == commit.commit_id {
                            return Ok(Some(CommitOutcome::Committed));
                        }
                        duplicate = Some(record);
                    }
                }
                Role::Head { plan } => {
                    let plan = &commit.plans[plan];
                    // The version the plan expects was read from the stream
                    // (not handed in by `append`, nor taken from the cache).
                    let read = plan.previous.as_ref().is_some_and(|p| !p.cached);
                    let stored = match stored {
                        // A head condition that failed on no item: confirm
                        // that there is none, since a server need not return it.
                        None if plan.expected > 0 && read => {
                            requests.add(1);
                            self.table()
                                .get_item(action.key.clone())
                                .consistent_read(true)
                                .send_raw()
                                .await?
                        }
                        stored => stored,
                    };
                    let aggregate = Self::aggregate_name(&plan.id);
                    let corrupt = |reason: String| Error::CorruptStream {
                        aggregate: aggregate.clone(),
                        reason,
                    };
                    let head = match stored {
                        Some(item) => {
                            match serde_dynamo::aws_sdk_dynamodb_1::from_item::<HeadRecord>(item) {
                                Ok(head) => Some(head),
                                Err(error) => {
                                    return Err(corrupt(format!(
                                        "its head item is not a stream head: {error}"
                                    )))
                                }
                            }
                        }
                        None => None,
                    };
                    if head
                        .as_ref()
                        .is_some_and(|h| h.last_commit == commit.commit_id)
                    {
                        return Ok(Some(CommitOutcome::Committed));
                    }
                    let actual = head.as_ref().map_or(0, |h| h.version);
                    if read && actual < plan.expected {
                        return Err(corrupt(match head {
                            None => format!(
                                "events up to version {} were read but the stream has no head item",
                                plan.expected
                            ),
                            Some(_) => format!(
                                "events up to version {} were read but the head says version {actual}",
                                plan.expected
                            ),
                        }));
                    }
                    if actual >= plan.expected + plan.events.len() as u64
                        && self
                            .wrote_event(plan, commit.commit_id, reasons, actions, requests)
                            .await?
                    {
                        return Ok(Some(CommitOutcome::Committed));
                    }
                    conflict.get_or_insert(Error::Conflict {
                        aggregate: Self::aggregate_name(&plan.id),
                        expected: plan.expected,
                        actual,
                    });
                }
                Role::Event { plan, version } => {
                    let plan = &commit.plans[plan];
                    if stored
                        .as_ref()
                        .and_then(commit_of)
                        .is_some_and(|id| id == commit.commit_id)
                    {
                        return Ok(Some(CommitOutcome::Committed));
                    }
                    conflict.get_or_insert(Error::Conflict {
                        aggregate: Self::aggregate_name(&plan.id),
                        expected: plan.expected,
                        actual: version,
                    });
                }
                Role::Snapshot => {}
            }
        }
        if let Some(record) = duplicate {
            return Ok(Some(CommitOutcome::Duplicate(record)));
        }
        match conflict {
            Some(conflict) => Err(conflict),
            None => Ok(None),
        }
    }

    /// Whether the first event of `plan` in the table is this commit's,
    /// from the cancellation reasons or, where they lack the item, a read.
    async fn wrote_event(
        &self,
        plan: &Plan<A>,
        commit_id: Uuid,
        reasons: &dynago::TransactionCanceled,
        actions: &[Action],
        requests: &Requests,
    ) -> Result<bool> {
        let first = plan.expected + 1;
        let from_reason = actions
            .iter()
            .zip(reasons.reasons())
            .find(|(action, _)| {
                matches!(action.role, Role::Event { version, .. } if version == first)
                    && action.key == keys::event(A::TYPE, &plan.id, first)
            })
            .and_then(|(_, reason)| reason.item.clone());
        let stored = match from_reason {
            Some(item) => Some(item),
            None => {
                requests.add(1);
                self.table()
                    .get_item(keys::event(A::TYPE, &plan.id, first))
                    .consistent_read(true)
                    .send_raw()
                    .await?
            }
        };
        Ok(stored.as_ref().and_then(commit_of) == Some(commit_id))
    }

    /// Appends `events` to the aggregate `id` under the expected version
    /// `expected` (0 for a new aggregate), without deciding anything: for
    /// events decided elsewhere. No retry on a conflict, no snapshot; the
    /// cache entry of the aggregate is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] with the version found when the stream is not at
    /// `expected`; [`Error::CorruptStream`] when the stream's head item is
    /// not a head; [`Error::RetriesExhausted`] when a transient error
    /// outlasts the retry policy; [`Error::Table`] for limits and DynamoDB
    /// failures.
    pub async fn append(
        &self,
        id: impl Into<AggregateId>,
        expected: u64,
        events: Vec<A::Event>,
        metadata: crate::Metadata,
    ) -> Result<Vec<EventEnvelope<A::Event>>> {
        let id = id.into();
        let now = Utc::now();
        let events: Vec<EventEnvelope<A::Event>> = events
            .into_iter()
            .zip(expected + 1..)
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
            commit_id: Uuid::now_v7(),
            now,
        };
        self.remember(&id, None);
        self.commit(&commit, &Requests::default()).await?;
        let [plan] = plans;
        Ok(plan.events)
    }
}

/// The commit id stored in an item written by a commit (event or head).
fn commit_of(item: &Item) -> Option<Uuid> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item::<EventHeader>(item.clone())
        .ok()
        .map(|header| header.commit_id)
}
