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
use dynago::transact::{Check, Put};
use dynago::{Error as TableError, Item, MAX_TRANSACTION_ACTIONS};

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::failure::{self, commit_of, Conclusion, Verdict};
use crate::keys;
use crate::plan::{self, Action, Commit, SnapshotWrite};
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
        let actions = plan::actions(commit, &self.writing())?;
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
        let sends = Sends::default();
        let outcome = match self.send(commit, &actions, budget, &sends).await {
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
        .when(|error: &TableError| resendable(error) && budget.left() > 0)
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
                .explain(commit, actions, failures, uncertain)
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
        uncertain: bool,
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
            conclusion = verdict.take(finding, uncertain);
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
            Conclusion::Unsettled { plan } => {
                Err(self.unsettled(commit, BEHIND, conflict_at(plan, 0)))
            }
            Conclusion::Unexplained => Ok(None),
        }
    }

    /// Writes the snapshots `commit` made due, each on its own and after
    /// the events, and returns the plans whose snapshot is stored. A
    /// snapshot is a cache: one that cannot be written is left out, with a
    /// warning, and never fails the command.
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
const BEHIND: &str = "a send ended without an answer, and a later one found the stream behind the version it appends after, which it may still reach";

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
