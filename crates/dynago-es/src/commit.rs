//! Sending a commit, and reading what became of it.
//!
//! A failed condition is not proof of a failed write: when the answer to a
//! commit is lost, the SDK (or this store) sends it again and it fails
//! against its own earlier success. Every commit carries an id, stored in the
//! head, the events and the command record; a cancellation whose failed
//! items carry this commit's id is a success. When transient errors outlast
//! the retry policy, one consistent read of the commit's first event says
//! whether an earlier send took place; when even that read fails, the
//! outcome is reported as unknown, never as retryable.

use std::sync::atomic::{AtomicUsize, Ordering};

use backon::Retryable;
use dynago::transact::{Check, Put};
use dynago::{Error as TableError, Item, Key};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::append::{Action, Commit, Plan, Role};
use crate::envelope::EventHeader;
use crate::error::{Error, Result};
use crate::keys;
use crate::record::{CommandRecord, HeadRecord};
use crate::store::{EventStore, Requests, SendBudget};

pub(crate) enum CommitOutcome {
    /// The transaction is in the table (perhaps from an earlier send), with
    /// the snapshots of the plans listed (by index) and no others.
    Committed { snapshots: Vec<usize> },
    /// The command id was recorded by another, earlier commit.
    Duplicate(CommandRecord),
}

impl CommitOutcome {
    /// A commit of `actions` that took place.
    fn committed(actions: &[Action]) -> Self {
        CommitOutcome::Committed {
            snapshots: actions
                .iter()
                .filter_map(|action| match action.role {
                    Role::Snapshot { plan } => Some(plan),
                    _ => None,
                })
                .collect(),
        }
    }
}

impl<A: Aggregate> EventStore<A> {
    /// Writes a commit in one transaction, sending it again on transient
    /// errors, and tells a real conflict from its own earlier success.
    ///
    /// A snapshot never blocks the events: when DynamoDB refuses the
    /// transaction for a snapshot (a value it does not take, or a foreign
    /// item at the snapshot's key), it is sent again without it.
    pub(crate) async fn commit(
        &self,
        commit: &Commit<'_, A>,
        requests: &Requests,
        budget: &SendBudget,
    ) -> Result<CommitOutcome> {
        let mut actions = self.actions(commit)?;
        if actions.is_empty() {
            return Ok(CommitOutcome::committed(&actions));
        }
        // The token of the first form of the transaction is its commit id;
        // a form without its snapshots is another request, with a token of
        // its own (DynamoDB refuses a token sent again with other actions).
        let mut token = commit.commit_id.to_string();
        loop {
            let sends = AtomicUsize::new(0);
            let sent = self.send(&actions, &token, requests, budget, &sends).await;
            let error = match sent {
                Ok(()) => return Ok(CommitOutcome::committed(&actions)),
                Err(error) => error,
            };
            if refused_for_snapshots(&error, &actions) {
                for action in &actions {
                    if let Role::Snapshot { plan } = action.role {
                        tracing::warn!(
                            aggregate = %Self::aggregate_name(&commit.plans[plan].id),
                            %error,
                            "DynamoDB refused the snapshot; the events go in without it"
                        );
                    }
                }
                actions.retain(|action| !matches!(action.role, Role::Snapshot { .. }));
                token = Uuid::new_v4().to_string();
                continue;
            }
            return self
                .failed(commit, &actions, error, sends.into_inner(), requests)
                .await;
        }
    }

    /// Sends the transaction of `actions`, again on transient errors while
    /// the retry policy and the command's budget allow.
    async fn send(
        &self,
        actions: &[Action],
        token: &str,
        requests: &Requests,
        budget: &SendBudget,
        sends: &AtomicUsize,
    ) -> std::result::Result<(), TableError> {
        (|| async {
            requests.add(1);
            sends.fetch_add(1, Ordering::Relaxed);
            budget.spend();
            actions
                .iter()
                .fold(self.table().transact_write(), |tx, action| {
                    match &action.item {
                        Some(item) => tx.put(
                            Put::raw(action.key.clone(), item.clone())
                                .condition(action.condition.clone()),
                        ),
                        None => tx.check(Check::new(action.key.clone(), action.condition.clone())),
                    }
                })
                .client_request_token(token.to_owned())
                .send()
                .await
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
        match error {
            TableError::TransactionCanceled { reasons, table }
                if reasons.has_condition_failure() =>
            {
                // An earlier send may have taken place: a read that fails
                // here leaves the outcome unknown.
                let explained = self
                    .explain(commit, actions, &reasons, requests)
                    .await
                    .map_err(|error| self.unknown(commit, error))?;
                explained.map_or_else(
                    || {
                        Err(Error::Table(TableError::TransactionCanceled {
                            table,
                            reasons,
                        }))
                    },
                    Ok,
                )
            }
            // A transient error outlasted the retry policy: did an earlier
            // send, whose answer was lost, take place?
            error if error.is_retryable() => match self.settle(commit, requests).await {
                Ok(true) => Ok(CommitOutcome::committed(actions)),
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
            },
            error => Err(error.into()),
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
    /// first event (a transaction is written whole or not at all).
    async fn settle(&self, commit: &Commit<'_, A>, requests: &Requests) -> Result<bool> {
        let Some(plan) = commit.plans.iter().find(|plan| !plan.events.is_empty()) else {
            return Ok(false);
        };
        let key = keys::event(A::TYPE, &plan.id, plan.expected + 1);
        Ok(self.commit_at(key, requests).await? == Some(commit.commit_id))
    }

    /// The commit id of the item under `key`, read consistently.
    async fn commit_at(&self, key: Key, requests: &Requests) -> Result<Option<Uuid>> {
        requests.add(1);
        let stored = self
            .table()
            .get_item(key)
            .consistent_read(true)
            .send_raw()
            .await?;
        Ok(stored.as_ref().and_then(commit_of))
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
                            return Ok(Some(CommitOutcome::committed(actions)));
                        }
                        duplicate = Some(record);
                    }
                }
                Role::Head { plan: index } | Role::Check { plan: index } => {
                    let plan = &commit.plans[index];
                    let head = self
                        .stored_head(plan, &action.key, stored, requests)
                        .await?;
                    let writes = matches!(action.role, Role::Head { .. });
                    if writes
                        && head
                            .as_ref()
                            .is_some_and(|h| h.last_commit == commit.commit_id)
                    {
                        return Ok(Some(CommitOutcome::committed(actions)));
                    }
                    let actual = head.as_ref().map_or(0, |h| h.version);
                    if writes
                        && actual >= plan.version()
                        && self
                            .wrote_event(plan, commit.commit_id, reasons, actions, requests)
                            .await?
                    {
                        return Ok(Some(CommitOutcome::committed(actions)));
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
                        return Ok(Some(CommitOutcome::committed(actions)));
                    }
                    conflict.get_or_insert(Error::Conflict {
                        aggregate: Self::aggregate_name(&plan.id),
                        expected: plan.expected,
                        actual: version,
                    });
                }
                Role::Snapshot { .. } => {}
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

    /// The head of `plan`'s stream whose condition failed, from the item
    /// the failure returned (`stored`) or, where a server left it out, a
    /// read; checked against the events the plan was decided on.
    async fn stored_head(
        &self,
        plan: &Plan<A>,
        key: &Key,
        stored: Option<Item>,
        requests: &Requests,
    ) -> Result<Option<HeadRecord>> {
        // The version the plan expects was read from the stream (not handed
        // in by `append`, nor taken from the cache).
        let read = plan.previous.as_ref().is_some_and(|p| !p.cached);
        let stored = match stored {
            // A head condition that failed on no item: confirm that there
            // is none, since a server need not return it.
            None if plan.expected > 0 && read => {
                requests.add(1);
                self.table()
                    .get_item(key.clone())
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
            Some(item) => Some(
                serde_dynamo::aws_sdk_dynamodb_1::from_item::<HeadRecord>(item).map_err(
                    |error| corrupt(format!("its head item is not a stream head: {error}")),
                )?,
            ),
            None => None,
        };
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
        Ok(head)
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
        let key = keys::event(A::TYPE, &plan.id, first);
        let from_reason = actions
            .iter()
            .zip(reasons.reasons())
            .find(|(action, _)| {
                matches!(action.role, Role::Event { version, .. } if version == first)
                    && action.key == key
            })
            .and_then(|(_, reason)| reason.item.as_ref().map(commit_of));
        let stored = match from_reason {
            Some(stored) => stored,
            None => self.commit_at(key, requests).await?,
        };
        Ok(stored == Some(commit_id))
    }
}

/// Whether DynamoDB refused a transaction for its snapshots alone: only
/// snapshot actions failed, or the request as a whole was invalid while it
/// held snapshots (a value DynamoDB does not take, such as NaN or a state
/// nested past 32 levels; without them it is sent once more, and an invalid
/// event is then reported as it is).
fn refused_for_snapshots(error: &TableError, actions: &[Action]) -> bool {
    let snapshot = |index: usize| {
        actions
            .get(index)
            .is_some_and(|action| matches!(action.role, Role::Snapshot { .. }))
    };
    if !actions
        .iter()
        .any(|a| matches!(a.role, Role::Snapshot { .. }))
    {
        return false;
    }
    match error {
        TableError::TransactionCanceled { reasons, .. } => {
            let mut failed = reasons.failed().peekable();
            failed.peek().is_some() && failed.all(|reason| snapshot(reason.index))
        }
        TableError::Dynamo {
            code: Some(code), ..
        } => code == "ValidationException",
        _ => false,
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

/// The commit id stored in an item written by a commit (event or head).
fn commit_of(item: &Item) -> Option<Uuid> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item::<EventHeader>(item.clone())
        .ok()
        .map(|header| header.commit_id)
}
