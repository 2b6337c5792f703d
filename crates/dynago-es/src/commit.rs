//! Sending a commit, and reading what became of it.
//!
//! A failed condition is not proof of a failed write: when the answer to a
//! commit is lost, the SDK (or this store) sends it again and it fails
//! against its own earlier success. Every commit carries an id, stored in
//! its events and its command record; a failure whose item carries this
//! commit's id is a success. Events are never rewritten, so the first event
//! of a commit says whose it is however many writers appended since. When
//! transient errors outlast the retry policy, one consistent read of that
//! event says whether an earlier send took place; when even that read
//! fails, the outcome is reported as unknown, never as retryable.

use std::sync::atomic::{AtomicUsize, Ordering};

use backon::Retryable;
use dynago::transact::{Check, Put};
use dynago::{Error as TableError, Item, Key, MAX_TRANSACTION_ACTIONS};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::append::{Action, Commit, Role, SnapshotWrite};
use crate::envelope::EventHeader;
use crate::error::{Error, Result};
use crate::keys;
use crate::record::CommandRecord;
use crate::snapshot;
use crate::store::{EventStore, Requests, SendBudget};

pub(crate) enum CommitOutcome {
    /// The commit is in the table (perhaps from an earlier send), with the
    /// snapshots of the plans listed (by index) and no others.
    Committed { snapshots: Vec<usize> },
    /// The command id was recorded by another, earlier commit.
    Duplicate(CommandRecord),
}

impl<A: Aggregate> EventStore<A> {
    /// Writes a commit (one conditional put for a single event, else one
    /// transaction), sending it again on transient errors, tells a real
    /// conflict from its own earlier success, and then writes the
    /// snapshots it made due.
    pub(crate) async fn commit(
        &self,
        commit: &Commit<'_, A>,
        requests: &Requests,
        budget: &SendBudget,
    ) -> Result<CommitOutcome> {
        let actions = self.actions(commit)?;
        if actions.len() > MAX_TRANSACTION_ACTIONS {
            let with_events = || commit.plans.iter().filter(|plan| !plan.events.is_empty());
            return Err(Error::TooManyEvents {
                aggregates: with_events()
                    .map(|plan| Self::aggregate_name(&plan.id))
                    .collect(),
                events: with_events().map(|plan| plan.events.len()).sum(),
                actions: actions.len(),
                limit: MAX_TRANSACTION_ACTIONS,
            });
        }
        if actions.is_empty() {
            return Ok(CommitOutcome::Committed {
                snapshots: Vec::new(),
            });
        }
        let sends = AtomicUsize::new(0);
        let outcome = match self.send(commit, &actions, requests, budget, &sends).await {
            Ok(()) => None,
            Err(error) => Some(
                self.failed(commit, &actions, error, sends.into_inner(), requests)
                    .await?,
            ),
        };
        match outcome {
            Some(CommitOutcome::Duplicate(record)) => Ok(CommitOutcome::Duplicate(record)),
            Some(CommitOutcome::Committed { .. }) | None => Ok(CommitOutcome::Committed {
                snapshots: self.write_snapshots(commit, requests).await,
            }),
        }
    }

    /// Sends the commit of `actions`, again on transient errors while the
    /// retry policy and the command's budget allow.
    async fn send(
        &self,
        commit: &Commit<'_, A>,
        actions: &[Action],
        requests: &Requests,
        budget: &SendBudget,
        sends: &AtomicUsize,
    ) -> std::result::Result<(), TableError> {
        let token = commit.commit_id.to_string();
        (|| async {
            requests.add(1);
            sends.fetch_add(1, Ordering::Relaxed);
            budget.spend();
            match actions {
                // One event: one conditional put, the cheapest write there is.
                [Action {
                    key,
                    item: Some(item),
                    condition,
                    ..
                }] => self
                    .table()
                    .put_item_raw(key.clone(), item.clone())
                    .condition(condition.clone())
                    .write_id(false)
                    .send()
                    .await
                    .map(drop),
                _ => {
                    actions
                        .iter()
                        .fold(self.table().transact_write(), |tx, action| {
                            match &action.item {
                                Some(item) => tx.put(
                                    Put::raw(action.key.clone(), item.clone())
                                        .condition(action.condition.clone()),
                                ),
                                None => tx.check(Check::new(
                                    action.key.clone(),
                                    action.condition.clone(),
                                )),
                            }
                        })
                        .client_request_token(token.clone())
                        .send()
                        .await
                }
            }
        })
        .retry(self.retry_policy().backoff())
        .when(|error: &TableError| error.is_retryable() && budget.left() > 0)
        .notify(|error, delay| tracing::debug!(%error, ?delay, "commit failed; sending it again"))
        .await
    }

    /// What a commit whose last send failed with `error` comes to.
    async fn failed(
        &self,
        commit: &Commit<'_, A>,
        actions: &[Action],
        error: TableError,
        sends: usize,
        requests: &Requests,
    ) -> Result<CommitOutcome> {
        // The actions whose condition failed, with the item each found.
        let failures: Vec<(usize, Option<Item>)> = match &error {
            TableError::ConditionFailed { item, .. } => vec![(0, item.as_deref().cloned())],
            TableError::TransactionCanceled { reasons, .. } => reasons
                .failed()
                .filter(|reason| reason.code == "ConditionalCheckFailed")
                .map(|reason| (reason.index, reason.item.clone()))
                .collect(),
            _ => Vec::new(),
        };
        if !failures.is_empty() {
            // An earlier send may have taken place: a read that fails here
            // leaves the outcome unknown.
            let explained = self
                .explain(commit, actions, failures, requests)
                .await
                .map_err(|read| self.unknown(commit, read))?;
            return explained.ok_or_else(|| error.into());
        }
        if !error.is_retryable() {
            return Err(error.into());
        }
        // A transient error outlasted the retry policy: did an earlier send,
        // whose answer was lost, take place?
        match self.settle(commit, requests).await {
            Ok(true) => Ok(CommitOutcome::Committed {
                snapshots: Vec::new(),
            }),
            Ok(false) => Err(Error::RetriesExhausted {
                attempts: sends,
                last: Box::new(error.into()),
            }),
            Err(read) => Err(Error::OutcomeUnknown {
                aggregate: commit_aggregate::<A>(commit),
                commit_id: commit.commit_id,
                check: read.to_string(),
                last: Box::new(error.into()),
            }),
        }
    }

    /// `error`, from reading what became of `commit`, made an unknown
    /// outcome when it is transient (the commit may have taken place).
    fn unknown(&self, commit: &Commit<'_, A>, error: Error) -> Error {
        if !error.is_retryable() {
            return error;
        }
        Error::OutcomeUnknown {
            aggregate: commit_aggregate::<A>(commit),
            commit_id: commit.commit_id,
            check: error.to_string(),
            last: Box::new(error),
        }
    }

    /// Whether `commit` is in the table, from one consistent read of its
    /// first event (a commit is written whole or not at all).
    async fn settle(&self, commit: &Commit<'_, A>, requests: &Requests) -> Result<bool> {
        let Some(plan) = commit.plans.iter().find(|plan| !plan.events.is_empty()) else {
            return Ok(false);
        };
        let key = keys::event(A::TYPE, &plan.id, plan.expected + 1);
        Ok(self.commit_at(key, requests).await? == Some(commit.commit_id))
    }

    /// The commit id of the item under `key`, read consistently.
    async fn commit_at(&self, key: Key, requests: &Requests) -> Result<Option<Uuid>> {
        let stored = self.read_consistent(key, requests).await?;
        Ok(stored.as_ref().and_then(commit_of))
    }

    /// Reads the failed conditions of a commit: its own earlier success, a
    /// duplicate command, or a conflict (`None`: none of these).
    async fn explain(
        &self,
        commit: &Commit<'_, A>,
        actions: &[Action],
        failures: Vec<(usize, Option<Item>)>,
        requests: &Requests,
    ) -> Result<Option<CommitOutcome>> {
        let committed = || CommitOutcome::Committed {
            snapshots: Vec::new(),
        };
        let mut conflict = None;
        let mut duplicate = None;
        for (index, stored) in failures {
            let Some(action) = actions.get(index) else {
                continue;
            };
            let conflict_at = |plan: usize, actual: u64| {
                let plan = &commit.plans[plan];
                Error::Conflict {
                    aggregate: Self::aggregate_name(&plan.id),
                    expected: plan.expected,
                    actual,
                }
            };
            match action.role {
                Role::Command => {
                    let record = match stored {
                        Some(item) => Some(item),
                        None => self.read_consistent(action.key.clone(), requests).await?,
                    };
                    if let Some(record) = record.and_then(|item| {
                        serde_dynamo::aws_sdk_dynamodb_1::from_item::<CommandRecord>(item).ok()
                    }) {
                        if record.commit_id == commit.commit_id {
                            return Ok(Some(committed()));
                        }
                        duplicate = Some(record);
                    }
                }
                Role::Event { plan, version } => {
                    // Where a server leaves the item out, a read tells.
                    let written_by = match &stored {
                        Some(item) => commit_of(item),
                        None => self.commit_at(action.key.clone(), requests).await?,
                    };
                    if written_by == Some(commit.commit_id) {
                        return Ok(Some(committed()));
                    }
                    conflict.get_or_insert(conflict_at(plan, version));
                }
                Role::Check { plan } => {
                    let taken = commit.plans[plan].expected.saturating_add(1);
                    conflict.get_or_insert(conflict_at(plan, taken));
                }
                // The stream is behind the version given (`append` reads
                // where it is).
                Role::Reached { plan } => {
                    conflict.get_or_insert(conflict_at(plan, 0));
                }
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

    /// Writes the snapshots `commit` made due, each on its own and after
    /// the events, and returns the plans whose snapshot is stored. A
    /// snapshot is a cache: one that cannot be written is left out, with a
    /// warning, and never fails the command.
    async fn write_snapshots(&self, commit: &Commit<'_, A>, requests: &Requests) -> Vec<usize> {
        let mut written = Vec::new();
        for SnapshotWrite {
            plan,
            key,
            item,
            condition,
        } in self.snapshot_writes(commit)
        {
            let aggregate = Self::aggregate_name(&commit.plans[plan].id);
            let version = commit.plans[plan].version();
            requests.add(1);
            let sent = self
                .table()
                .put_item_raw(key, item)
                .condition(condition)
                .write_id(false)
                .send()
                .await;
            match sent {
                Ok(_) => written.push(plan),
                Err(TableError::ConditionFailed { item, .. }) => {
                    match item.as_deref().and_then(snapshot::stamp_of) {
                        // Its own, from a send whose answer was lost.
                        Some(stored) if stored == version => written.push(plan),
                        Some(stored) if stored > version => {
                            tracing::debug!(%aggregate, version, stored, "a newer snapshot is stored");
                        }
                        _ => tracing::warn!(
                            %aggregate,
                            version,
                            "an item that is not a newer snapshot holds the snapshot's key; not saved"
                        ),
                    }
                }
                Err(error) => {
                    tracing::warn!(%aggregate, version, %error, "snapshot not saved");
                }
            }
        }
        written
    }
}

/// The aggregate a commit is reported under: its first with events.
fn commit_aggregate<A: Aggregate>(commit: &Commit<'_, A>) -> String {
    let plan = commit
        .plans
        .iter()
        .find(|plan| !plan.events.is_empty())
        .or(commit.plans.first());
    plan.map_or_else(String::new, |plan| {
        EventStore::<A>::aggregate_name(&plan.id)
    })
}

/// The commit id stored in an event item.
fn commit_of(item: &Item) -> Option<Uuid> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item::<EventHeader>(item.clone())
        .ok()
        .map(|header| header.commit_id)
}
