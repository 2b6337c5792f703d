//! Sending a commit, and reading what became of it.
//!
//! A failed condition is not proof of a failed write: when the answer to a
//! commit is lost, the SDK (or this store) sends it again and it fails
//! against its own earlier success. Every commit carries an id, stored in
//! its events and its command record; a failure whose item carries this
//! commit's id is a success. Events are never rewritten, so the first event
//! of a commit says whose it is however many writers appended since.
//!
//! A send that ended without a definitive answer (a timeout, a connection
//! lost after the request left, a server failure) may still land later,
//! however long after. Only a definitive answer settles it: a success, a
//! failed condition explained by the items it found, or the commit's first
//! event read back as this commit's or another's. Until then the outcome is
//! unknown. When transient errors outlast the retry policy, one consistent
//! read of that event tells; when it finds the place free, the commit is
//! [`RetriesExhausted`](Error::RetriesExhausted) (retryable: nothing was
//! written) only if every send was refused, and unknown otherwise.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use backon::Retryable;
use dynago::expr::attr;
use dynago::transact::{Check, Put};
use dynago::{Condition, Error as TableError, Item, MAX_TRANSACTION_ACTIONS};

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::failure::{self, commit_of, Conclusion, Verdict};
use crate::id::CommandId;
use crate::keys;
use crate::plan::{self, Action, Commit, Recording, SnapshotWrite};
use crate::record::CommandRecord;
use crate::snapshot;
use crate::store::{EventStore, SendBudget};

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
        budget: &SendBudget,
    ) -> Result<CommitOutcome> {
        let mut actions = plan::actions(commit, &self.writing())?;
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
        if let (Recording::Reserve, Some(command_id)) = (commit.recording, commit.command_id) {
            if let Some(record) = self.reserve(commit, command_id, budget).await? {
                return Ok(CommitOutcome::Duplicate(record));
            }
        }
        let sends = Sends::default();
        let mut sent = self.send(commit, &actions, budget, &sends).await;
        // A state is a cache: one DynamoDB refuses (nothing was written)
        // never keeps the events out. They are sent again without it.
        if sent.as_ref().is_err_and(refused_as_invalid) && plan::without_states(&mut actions) {
            tracing::warn!("DynamoDB refused the commit with its states; sending it without them");
            sent = self.send(commit, &actions, budget, &sends).await;
        }
        let outcome = match sent {
            Ok(()) => None,
            Err(error) => Some(
                self.resolve_failure(commit, &actions, error, &sends)
                    .await?,
            ),
        };
        match outcome {
            Some(CommitOutcome::Duplicate(record)) => Ok(CommitOutcome::Duplicate(record)),
            Some(CommitOutcome::Committed { .. }) | None => Ok(CommitOutcome::Committed {
                snapshots: self.write_snapshots(commit).await,
            }),
        }
    }

    /// Sends the commit of `actions`, again on transient errors while the
    /// retry policy and the command's budget allow.
    async fn send(
        &self,
        commit: &Commit<'_, A>,
        actions: &[Action],
        budget: &SendBudget,
        sends: &Sends,
    ) -> std::result::Result<(), TableError> {
        let token = commit.commit_id.to_string();
        (|| async {
            sends.count.fetch_add(1, Ordering::Relaxed);
            budget.spend();
            let sent = match actions {
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
            };
            if sent.as_ref().is_err_and(TableError::is_outcome_unknown) {
                sends.uncertain.store(true, Ordering::Relaxed);
            }
            sent
        })
        .retry(self.retry_policy().delays())
        // A commit is the same request every time (the same items and
        // commit id, the same token): sent again after a send without an
        // answer, it either lands once or fails against itself.
        .when(|error: &TableError| {
            resendable(error) && !error.is_replicated_write_conflict() && budget.left() > 0
        })
        .notify(|error, delay| tracing::debug!(%error, ?delay, "commit failed; sending it again"))
        .await
    }

    /// What a commit whose last send failed with `error` comes to.
    async fn resolve_failure(
        &self,
        commit: &Commit<'_, A>,
        actions: &[Action],
        error: TableError,
        sends: &Sends,
    ) -> Result<CommitOutcome> {
        // Whether a send may have been applied although no answer said so;
        // the last send's own answer is read below.
        let uncertain = sends.uncertain.load(Ordering::Relaxed);
        let error = match error {
            TableError::OutcomeUnknown { last, .. } => *last,
            error => error,
        };
        // Another Region's request was modifying the item: nothing was
        // written, and the stream may have moved; a conflict, decided
        // again, once every send was answered.
        if error.is_replicated_write_conflict() && !uncertain {
            return Err(error.into());
        }
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
                .explain(commit, actions, failures)
                .await
                .map_err(|read| self.unknown_outcome(commit, read))?;
            return match explained {
                Some(outcome) => Ok(outcome),
                None if uncertain => Err(self.unsettled(commit, UNEXPLAINED, error)),
                None => Err(error.into()),
            };
        }
        if !error.is_retryable() && !uncertain {
            return Err(error.into());
        }
        // Did an earlier send, whose answer was lost, take place?
        match self.settle(commit).await {
            Ok(Settled::Ours) => Ok(CommitOutcome::Committed {
                snapshots: Vec::new(),
            }),
            Ok(Settled::Taken(conflict)) => Err(conflict),
            Ok(Settled::Free) if uncertain => Err(self.unsettled(commit, NOT_YET, error)),
            Ok(Settled::Free) if error.is_retryable() => Err(Error::RetriesExhausted {
                attempts: sends.count.load(Ordering::Relaxed),
                last: Box::new(error.into()),
            }),
            Ok(Settled::Free) => Err(error.into()),
            Err(read) => Err(Error::OutcomeUnknown {
                aggregate: commit_aggregate::<A>(commit),
                commit_id: commit.commit_id,
                check: read.to_string(),
                last: Box::new(error.into()),
            }),
        }
    }

    /// The unknown outcome of `commit`, whose last send failed with `last`
    /// after a send without an answer: `check` says why it is not settled.
    fn unsettled(&self, commit: &Commit<'_, A>, check: &str, last: impl Into<Error>) -> Error {
        Error::OutcomeUnknown {
            aggregate: commit_aggregate::<A>(commit),
            commit_id: commit.commit_id,
            check: check.to_owned(),
            last: Box::new(last.into()),
        }
    }

    /// `error`, from reading what became of `commit`, made an unknown
    /// outcome when it is transient (the commit may have taken place).
    fn unknown_outcome(&self, commit: &Commit<'_, A>, error: Error) -> Error {
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

    /// Where `commit` stands, from one consistent read of its first event
    /// (a commit is written whole or not at all).
    async fn settle(&self, commit: &Commit<'_, A>) -> Result<Settled> {
        let Some(plan) = commit.plans.iter().find(|plan| !plan.events.is_empty()) else {
            return Ok(Settled::Free);
        };
        let version = plan.expected.saturating_add(1);
        let key = keys::event(A::TYPE, &plan.id, version);
        let stored = self.read_consistent(key).await?;
        Ok(match stored {
            None => Settled::Free,
            Some(item) if commit_of(&item) == Some(commit.commit_id) => Settled::Ours,
            // Events are never rewritten: this commit can never land.
            Some(_) => Settled::Taken(Error::Conflict {
                aggregate: Self::aggregate_name(&plan.id),
                expected: plan.expected,
                actual: version,
            }),
        })
    }

    /// Reads the failed conditions of a commit, in the order of its
    /// actions, reading back an item the answer left out: its own earlier
    /// success, a duplicate command, or a conflict (`None`: none of these).
    /// What each means is [`failure`](crate::failure)'s.
    async fn explain(
        &self,
        commit: &Commit<'_, A>,
        actions: &[Action],
        failures: Vec<(usize, Option<Item>)>,
    ) -> Result<Option<CommitOutcome>> {
        let expected: Vec<u64> = commit.plans.iter().map(|plan| plan.expected).collect();
        let mut verdict = Verdict::default();
        let mut conclusion = None;
        for (index, stored) in failures {
            let Some(action) = actions.get(index) else {
                continue;
            };
            // Where a server leaves the item out, a read tells.
            let found = match stored {
                None if failure::needs_item(action.role) => {
                    self.read_consistent(action.key.clone()).await?
                }
                stored => stored,
            };
            let finding =
                failure::finding(commit.commit_id, action.role, &expected, found.as_ref());
            conclusion = verdict.take(finding);
            if conclusion.is_some() {
                break;
            }
        }
        let conflict_at = |plan: usize, actual: u64| {
            let plan = &commit.plans[plan];
            Error::Conflict {
                aggregate: Self::aggregate_name(&plan.id),
                expected: plan.expected,
                actual,
            }
        };
        match conclusion.unwrap_or_else(|| verdict.conclude()) {
            Conclusion::Committed => Ok(Some(CommitOutcome::Committed {
                snapshots: Vec::new(),
            })),
            Conclusion::Duplicate(record) => Ok(Some(CommitOutcome::Duplicate(record))),
            Conclusion::Conflict { plan, actual } => Err(conflict_at(plan, actual)),
            Conclusion::Unexplained => Ok(None),
        }
    }

    /// Writes the snapshots `commit` made due, each on its own and after
    /// the events, and returns the plans whose snapshot is stored. A
    /// snapshot is a cache: one that cannot be written is left out, with a
    /// warning, and never fails the command.
    /// Writes the record of a command on one aggregate before its events,
    /// on its own, under the condition that there is none: the command's
    /// reservation. `None` once it is stored (this commit's, an earlier
    /// send of which landed, counts); the record found when another
    /// execution of the command stored its own.
    ///
    /// Nothing of the command is written when this fails: a send without
    /// an answer may still store the reservation, which a repeat of the
    /// command reads as one whose events did not land, and decides again.
    async fn reserve(
        &self,
        commit: &Commit<'_, A>,
        command_id: &CommandId,
        budget: &SendBudget,
    ) -> Result<Option<CommandRecord>> {
        let key = keys::command(A::TYPE, command_id);
        let item = plan::record_item(commit, command_id, &self.writing(), true)?;
        let condition = Condition::from(attr(self.table().partition_key()).not_exists());
        let attempts = AtomicUsize::new(0);
        let sent = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            budget.spend();
            self.table()
                .put_item_raw(key.clone(), item.clone())
                .condition(condition.clone())
                .write_id(false)
                .send()
                .await
                .map(drop)
        })
        .retry(self.retry_policy().delays())
        .when(|error: &TableError| {
            resendable(error) && !error.is_replicated_write_conflict() && budget.left() > 0
        })
        .notify(
            |error, delay| tracing::debug!(%error, ?delay, "reservation failed; sending it again"),
        )
        .await;
        let error = match sent {
            Ok(()) => None,
            Err(TableError::OutcomeUnknown { last, .. }) => Some(*last),
            Err(error) => Some(error),
        };
        let found = match error {
            None => None,
            Some(TableError::ConditionFailed {
                item: Some(item), ..
            }) => Some(*item),
            Some(TableError::ConditionFailed { item: None, .. }) => {
                match self.read_consistent(key.clone()).await? {
                    Some(item) => Some(item),
                    // Gone again (its time to live): the next attempt
                    // reserves it anew.
                    None => {
                        return Err(Error::Conflict {
                            aggregate: commit_aggregate::<A>(commit),
                            expected: commit.plans.first().map_or(0, |plan| plan.expected),
                            actual: 0,
                        })
                    }
                }
            }
            // Another Region's execution of the command may be writing
            // the record: decided again, this finds it.
            Some(error) if error.is_replicated_write_conflict() => return Err(error.into()),
            Some(error) if error.is_retryable() => {
                return Err(Error::RetriesExhausted {
                    attempts: attempts.load(Ordering::Relaxed),
                    last: Box::new(error.into()),
                })
            }
            Some(error) => return Err(error.into()),
        };
        let theirs = match found {
            None => None,
            Some(item) => match failure::record_of(&item) {
                Some(record) if record.commit_id == commit.commit_id => None,
                Some(record) => Some(record),
                None => {
                    return Err(Error::CorruptStream {
                        aggregate: commit_aggregate::<A>(commit),
                        reason: format!(
                            "the item under the key of the record of command {command_id} is not a command record"
                        ),
                    })
                }
            },
        };
        if theirs.is_none() {
            if let Some(reserved) = commit.reserved {
                reserved.store(true, Ordering::Relaxed);
            }
        }
        Ok(theirs)
    }

    async fn write_snapshots(&self, commit: &Commit<'_, A>) -> Vec<usize> {
        let mut written = Vec::new();
        for SnapshotWrite {
            plan,
            key,
            item,
            condition,
        } in plan::snapshot_writes(commit, &self.writing())
        {
            let aggregate = Self::aggregate_name(&commit.plans[plan].id);
            let version = commit.plans[plan].version();
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

/// Whether DynamoDB refused a request as invalid, having written nothing.
fn refused_as_invalid(error: &TableError) -> bool {
    match error {
        TableError::TransactionCanceled { reasons, .. } => reasons
            .failed()
            .any(|reason| reason.code == "ValidationError"),
        other => !other.is_outcome_unknown() && other.code() == Some("ValidationException"),
    }
}

/// How many times a commit was sent, and whether one of its sends ended
/// without a definitive answer.
#[derive(Default)]
struct Sends {
    count: AtomicUsize,
    uncertain: AtomicBool,
}

/// Where a commit stands, read from its first event.
enum Settled {
    /// Its first event is in the table, written by it.
    Ours,
    /// Its first event's place is taken by another commit: it can never land.
    Taken(Error),
    /// Its first event's place is free: it has not landed, yet.
    Free,
}

const NOT_YET: &str = "a send ended without an answer and may still land; a consistent read of its first event found the place free, so far";
const UNEXPLAINED: &str =
    "a send ended without an answer, and a later send's failed condition could not be explained";

/// Whether a failed send of a commit may be sent again: a transient error,
/// also one of a send that may have been applied (the commit is the same
/// request every time, recognised by its commit id).
fn resendable(error: &TableError) -> bool {
    match error {
        TableError::OutcomeUnknown { last, .. } => last.is_retryable(),
        error => error.is_retryable(),
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
