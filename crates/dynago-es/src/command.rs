//! Executing commands: load, decide, append, and on a conflict reload and
//! decide again, under a bounded `backon` retry policy.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use backon::Retryable;
use chrono::Utc;
use tracing::Instrument;
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::commit::CommitOutcome;
use crate::duplicate::{Landing, Repeat};
use crate::envelope::{EventEnvelope, Metadata};
use crate::error::{CommandError, Error, Result};
use crate::id::{AggregateId, CommandId};
use crate::metrics::{self, Outcome};
use crate::plan::{versions_after, Basis, Commit, Folded, Plan, Recording};
use crate::record::CommandRecord;
use crate::snapshot::SnapshotDue;
use crate::store::{EventStore, SendBudget};

/// What a command carries beside itself: an id for idempotency, and metadata
/// for its events.
///
/// ```
/// use dynago_es::{CommandId, CommandOptions, Metadata};
///
/// let options = CommandOptions::default()
///     .command_id(CommandId::new("req-7f3a"))
///     .metadata(Metadata::default().correlation_id("req-7f3a"));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CommandOptions {
    pub(crate) command_id: Option<CommandId>,
    pub(crate) fingerprint: Option<String>,
    metadata: Metadata,
}

impl CommandOptions {
    /// Makes the command idempotent: it is recorded with its events in one
    /// transaction, and a command carried again with the same id is not
    /// applied again; the outcome of the first is returned (also when the
    /// first answer was lost and the caller retried).
    ///
    /// The id names one command on the aggregates it was first executed on:
    /// carried with a command on other aggregates (another account, or one
    /// side of a transfer alone), it is refused with
    /// [`Error::CommandIdReused`], and nothing is written.
    pub fn command_id(mut self, id: CommandId) -> Self {
        self.command_id = Some(id);
        self
    }

    /// Keeps a digest of the command's body with its record, so that the
    /// same [`command_id`](Self::command_id) carried with another body is
    /// refused ([`Error::CommandIdReused`]) rather than answered with the
    /// first outcome. `body` is what says what the command is, as you have
    /// it: the request's bytes, or a stable text of the command's fields
    /// (not a hash map's iteration order). Its SHA-256 is stored, not the
    /// body. A repeat is compared only when both it and the first carried
    /// a fingerprint.
    ///
    /// ```
    /// use dynago_es::{CommandId, CommandOptions};
    ///
    /// let body = r#"{"deposit":{"account":"acc-1","cents":500}}"#;
    /// let options = CommandOptions::default()
    ///     .command_id(CommandId::new("req-7f3a"))
    ///     .fingerprint(body);
    /// # let _ = options;
    /// ```
    pub fn fingerprint(mut self, body: impl AsRef<[u8]>) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(body.as_ref());
        self.fingerprint = Some(digest.iter().map(|byte| format!("{byte:02x}")).collect());
        self
    }

    /// The metadata stored with every event of the command.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// What executing a command did to one aggregate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommandOutcome<A: Aggregate> {
    /// The aggregate.
    pub id: AggregateId,
    /// Its version after the command.
    pub version: u64,
    /// The events the command appended (none if it decided none).
    pub events: Vec<EventEnvelope<A::Event>>,
    /// The state after the command; `None` when the command had already been
    /// applied before (`duplicate`).
    pub state: Option<A>,
    /// The command carried an id that was already recorded: nothing was
    /// applied now, and `version` and `events` are those of the first time.
    pub duplicate: bool,
    /// How many times the command was decided (1 without conflicts).
    pub attempts: usize,
    /// How many requests were sent to DynamoDB for the whole command, each
    /// call once (the AWS SDK's own attempts of a call are not counted).
    pub requests: u32,
    /// The capacity those requests consumed, as DynamoDB reported it (the
    /// requests that failed, such as a conflict's, report none), for your
    /// own metrics of what each command costs.
    pub capacity: dynago::telemetry::Capacity,
}

impl<A: Aggregate> EventStore<A> {
    /// Executes `command` on the aggregate `id`: see [`execute_with`](Self::execute_with).
    ///
    /// # Errors
    ///
    /// As [`execute_with`](Self::execute_with).
    pub async fn execute(
        &self,
        id: impl Into<A::Id>,
        command: A::Command,
    ) -> Result<CommandOutcome<A>, CommandError<A>> {
        self.execute_with(id, command, CommandOptions::default())
            .await
    }

    /// Executes `command` on the aggregate `id`: loads it (or takes it from
    /// the cache), lets it decide, and appends the events under the version
    /// it was loaded at. When another writer got there first, the events
    /// after the version seen are read and the command is decided again,
    /// with backoff, up to the store's retry policy.
    ///
    /// ```no_run
    /// # use dynago_es::{Aggregate, AggregateId, CommandError};
    /// # async fn run<A: Aggregate<Id = AggregateId>>(store: dynago_es::EventStore<A>, command: A::Command) -> Result<(), CommandError<A>> {
    /// use dynago_es::{CommandId, CommandOptions};
    ///
    /// let outcome = store
    ///     .execute_with("acc-1", command, CommandOptions::default().command_id(CommandId::new("req-1")))
    ///     .await?;
    /// println!("now at version {} after {} attempts", outcome.version, outcome.attempts);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CommandError::Rejected`], with the aggregate's own error, at once
    /// when the aggregate refuses the command; otherwise
    /// [`CommandError::Store`]: [`Error::RetriesExhausted`], with the number of attempts, when
    /// conflicts or a transient error (throttling, timeouts) outlast the
    /// retry policy; [`Error::TooManyEvents`] for more events than one
    /// transaction holds; [`Error::Table`] for other limits (an event over
    /// 400 KB, 4 MB in one transaction), a missing table
    /// ([`is_not_found`](Error::is_not_found)) and other DynamoDB failures;
    /// [`Error::CorruptEvent`], [`Error::VersionGap`] and
    /// [`Error::CorruptStream`] at once, with nothing written, when the
    /// stored stream cannot be trusted ([`is_corrupt`](Error::is_corrupt)).
    pub async fn execute_with(
        &self,
        id: impl Into<A::Id>,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<CommandOutcome<A>, CommandError<A>> {
        let id = id.into();
        let key = Self::key_id(&id);
        let mut outcomes = self.execute_all(vec![(id, command)], options).await?;
        // One outcome per command, in their order.
        outcomes.pop().ok_or_else(|| {
            CommandError::Store(Error::CorruptStream {
                aggregate: Self::aggregate_name(&key),
                reason: "its command record answered no outcome for it".into(),
            })
        })
    }

    /// Executes one command on each of several aggregates atomically: all
    /// their events are appended in one transaction, each under its own
    /// expected version, or none is. A ledger transfer debits one account and
    /// credits another this way.
    ///
    /// The outcomes come in the order of the commands.
    ///
    /// Every `execute*` is counted in the store's [`metrics`](crate::metrics)
    /// by outcome, with its duration.
    ///
    /// # Errors
    ///
    /// As [`execute_with`](Self::execute_with); [`Error::AggregateTwice`]
    /// when an aggregate appears twice, with nothing sent.
    pub async fn execute_all(
        &self,
        commands: Vec<(A::Id, A::Command)>,
        options: CommandOptions,
    ) -> Result<Vec<CommandOutcome<A>>, CommandError<A>> {
        let started = Instant::now();
        let result = self.execute_checked(commands, options).await;
        metrics::command_done::<A>(Outcome::of(&result), started.elapsed());
        result
    }

    /// [`execute_all`](Self::execute_all), in its span, measured.
    async fn execute_checked(
        &self,
        commands: Vec<(A::Id, A::Command)>,
        options: CommandOptions,
    ) -> Result<Vec<CommandOutcome<A>>, CommandError<A>> {
        let mut ids = Vec::with_capacity(commands.len());
        let commands: Vec<_> = commands
            .into_iter()
            .map(|(id, command)| {
                let key = Self::key_id(&id);
                ids.push(id);
                (key, command)
            })
            .collect();
        let mut distinct = HashSet::new();
        if let Some((id, _)) = commands.iter().find(|(id, _)| !distinct.insert(id.clone())) {
            return Err(Error::AggregateTwice {
                aggregate: Self::aggregate_name(id),
            }
            .into());
        }
        let span = tracing::info_span!(
            "dynago_es.execute",
            aggregate_type = A::TYPE,
            aggregates = commands.len(),
            command_id = options.command_id.as_ref().map(CommandId::as_str),
            attempts = tracing::field::Empty,
            requests = tracing::field::Empty,
        );
        let attempts = AtomicUsize::new(0);
        // Boxed: a command's future is large, and a caller's task holds it.
        let (mut result, usage) = dynago::telemetry::measure_usage(
            Box::pin(self.execute_inner(&ids, &commands, &options, &attempts))
                .instrument(span.clone()),
        )
        .await;
        span.record("attempts", attempts.load(Ordering::Relaxed));
        span.record("requests", usage.requests);
        if let Ok(outcomes) = &mut result {
            for outcome in outcomes {
                outcome.requests = usage.requests;
                outcome.capacity = usage.capacity;
            }
        }
        result
    }

    /// `ids` are the ids of `commands`, as the caller gave them.
    async fn execute_inner(
        &self,
        ids: &[A::Id],
        commands: &[(AggregateId, A::Command)],
        options: &CommandOptions,
        attempts: &AtomicUsize,
    ) -> Result<Vec<CommandOutcome<A>>, CommandError<A>> {
        let known: Mutex<HashMap<AggregateId, Basis<A>>> = Mutex::new(HashMap::new());
        // Whether this command's record is stored as a reservation (by an
        // attempt of this call, or by another execution of the command).
        let reserved = AtomicBool::new(false);
        if let Some(command_id) = &options.command_id {
            if let Some(record) = self.read_record(command_id).await? {
                match self.repeated(&record, commands, options, 1).await? {
                    Repeat::Answered(outcomes) => return Ok(outcomes),
                    Repeat::NotLanded(id, basis) => {
                        lock(&known).insert(id, basis);
                        reserved.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        let budget = SendBudget::new(self.retry_policy().attempts());
        let result = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(commands, options, &known, &budget, &reserved)
                .await
        })
        .retry(self.retry_policy().delays())
        .when(|error: &Error| error.is_conflict() && budget.left() > 0)
        .notify(|error, delay| {
            metrics::command::<A>(Outcome::Retried);
            tracing::debug!(%error, ?delay, "conflict; deciding again");
        })
        .await;
        let attempts_made = attempts.load(Ordering::Relaxed);
        // An answer that this command wrote nothing (a rejection, no events,
        // conflicts to the end) is no answer for a command whose id another
        // execution of it recorded meanwhile: a repeat sent while the first
        // is in flight decides on the state the first left. Its record,
        // written with the first's events, is read again before such an
        // answer is given; a decision that wrote nothing was guarded by no
        // condition on it.
        if let Some(command_id) = &options.command_id {
            if wrote_nothing(&result) {
                if let Some(record) = self.read_record(command_id).await? {
                    if let Some(outcomes) = self
                        .recorded_outcome(&record, commands, options, attempts_made)
                        .await?
                    {
                        for (id, _) in commands {
                            self.set_cached(id, None);
                        }
                        return Ok(outcomes);
                    }
                }
            }
        }
        match result {
            Ok(Attempted::Done(mut outcomes)) => {
                for outcome in &mut outcomes {
                    outcome.attempts = attempts_made;
                }
                Ok(outcomes)
            }
            Ok(Attempted::Duplicate(record)) => {
                for (id, _) in commands {
                    self.set_cached(id, None);
                }
                match self
                    .repeated(&record, commands, options, attempts_made)
                    .await?
                {
                    Repeat::Answered(outcomes) => Ok(outcomes),
                    // Only a reserved record is not landed, and an attempt
                    // that finds one decides again rather than end here.
                    Repeat::NotLanded(id, _) => Err(Error::CorruptStream {
                        aggregate: Self::aggregate_name(&id),
                        reason: format!(
                            "the record of command {} is a reservation, where a transaction's was expected",
                            record.command_id
                        ),
                    }
                    .into()),
                }
            }
            Ok(Attempted::Repeated(mut outcomes)) => {
                for outcome in &mut outcomes {
                    outcome.attempts = attempts_made;
                    self.set_cached(&outcome.id, None);
                }
                Ok(outcomes)
            }
            Ok(Attempted::Rejected { index, reason }) => Err(CommandError::Rejected {
                id: ids[index].clone(),
                reason,
            }),
            Err(error) if error.is_conflict() => Err(Error::RetriesExhausted {
                attempts: attempts_made,
                last: Box::new(error),
            }
            .into()),
            Err(error) => Err(error.into()),
        }
    }

    /// The state to decide on: after a conflict, the state seen then with
    /// the events after it; otherwise the cache, or a full load.
    async fn current(
        &self,
        id: &AggregateId,
        known: &Mutex<HashMap<AggregateId, Basis<A>>>,
        watch: Option<&CommandId>,
    ) -> Result<Current<A>> {
        let seen = lock(known).remove(id);
        let loaded = match seen {
            // The command's record is reserved: an execution of it may have
            // landed after what was seen, which is read looking for it.
            Some(seen) if watch.is_some() => {
                let floor = seen.taken;
                let after = seen.folded.version.saturating_add(1);
                let command_id = watch.expect("watched");
                let folded = match self
                    .look_for(command_id, None, id, after, Some(seen.folded))
                    .await?
                {
                    Landing::Landed(events) => return Ok(Current::Landed(events)),
                    Landing::Not { folded, .. } => folded,
                };
                Self::reaches(id, folded.version, floor)?;
                return Ok(Current::Basis(Basis {
                    folded,
                    cached: false,
                    taken: 0,
                }));
            }
            Some(seen) => {
                let floor = seen.taken;
                let loaded = self.fold_after(id, seen.folded, None).await?;
                Self::reaches(id, loaded.version, floor)?;
                loaded
            }
            None => match self.cached(id) {
                Some(folded) => {
                    return Ok(Current::Basis(Basis {
                        folded,
                        cached: true,
                        taken: 0,
                    }))
                }
                None => self.load_upto(id, None).await?,
            },
        };
        Ok(Current::Basis(Basis {
            folded: loaded.into_folded(),
            cached: false,
            taken: 0,
        }))
    }

    /// The append that failed found version `floor` taken: when reading
    /// on does not reach it (`version`), reading again would find the
    /// same, forever.
    fn reaches(id: &AggregateId, version: u64, floor: u64) -> Result<()> {
        if version >= floor {
            return Ok(());
        }
        Err(Error::CorruptStream {
            aggregate: Self::aggregate_name(id),
            reason: format!(
                "an append found version {floor} taken, but its events end at version {version}"
            ),
        })
    }

    async fn attempt(
        &self,
        commands: &[(AggregateId, A::Command)],
        options: &CommandOptions,
        known: &Mutex<HashMap<AggregateId, Basis<A>>>,
        budget: &SendBudget,
        reserved: &AtomicBool,
    ) -> Result<Attempted<A>> {
        let commit_id = Uuid::now_v7();
        let now = Utc::now();
        // A command with an id on one aggregate needs no transaction: its
        // record is reserved first, on its own.
        let recording = match (&options.command_id, commands.len()) {
            (Some(_), 1) if reserved.load(Ordering::Relaxed) => Recording::Reserved,
            (Some(_), 1) if !self.options().writes_item_per_event() => Recording::Reserve,
            _ => Recording::InCommit,
        };
        let watch = match recording {
            Recording::Reserved => options.command_id.as_ref(),
            _ => None,
        };
        let mut plans = Vec::with_capacity(commands.len());
        for (index, (id, command)) in commands.iter().enumerate() {
            let mut current = match self.current(id, known, watch).await? {
                Current::Basis(basis) => basis,
                Current::Landed(events) => {
                    return Ok(Attempted::Repeated(
                        vec![self.landed_outcome(id, events, 0)],
                    ))
                }
            };
            let mut decision = current.folded.state.handle(command);
            // A decision that writes nothing (a refusal, no events) is never
            // checked by a write condition: one made on a cached state, which
            // may be behind the stream, is checked against the stream first.
            if current.cached && decision.as_ref().map_or(true, Vec::is_empty) {
                let seen = current.folded.version;
                let loaded = self.fold_after(id, current.folded, None).await?;
                current = Basis {
                    folded: loaded.into_folded(),
                    cached: false,
                    taken: 0,
                };
                if current.folded.version != seen {
                    self.set_cached(id, Some(current.folded.clone()));
                    decision = current.folded.state.handle(command);
                }
            }
            let decided = match decision {
                Ok(events) => events,
                Err(reason) => {
                    lock(known).insert(id.clone(), current);
                    return Ok(Attempted::Rejected { index, reason });
                }
            };
            let mut metadata = options.metadata.clone();
            metadata.command_id = options.command_id.as_ref().map(|c| c.as_str().to_owned());
            let (first, after) = versions_after(
                || Self::aggregate_name(id),
                current.folded.version,
                decided.len(),
            )?;
            let mut state = current.folded.state.clone();
            let events: Vec<EventEnvelope<A::Event>> = decided
                .into_iter()
                .zip(first..=after)
                .map(|(event, version)| {
                    state.apply(&event);
                    EventEnvelope::new(A::TYPE, id, version, event, &metadata, now)
                })
                .collect();
            let snapshot = !events.is_empty()
                && self.snapshot_policy().is_due(&SnapshotDue {
                    before: current.folded.version,
                    after,
                    events: events.len(),
                    last_snapshot: current.folded.snapshot_version,
                });
            plans.push(Plan {
                id: id.clone(),
                expected: current.folded.version,
                events,
                state: Some(state),
                snapshot,
                previous: Some(current),
            });
        }
        let commit = Commit {
            plans: &plans,
            command_id: options.command_id.as_ref(),
            fingerprint: options.fingerprint.as_deref(),
            commit_id,
            now,
            recording,
            reserved: Some(reserved),
        };
        match self.commit(&commit, budget).await {
            Ok(CommitOutcome::Committed { snapshots }) => {
                let outcomes = plans
                    .into_iter()
                    .enumerate()
                    .map(|(index, plan)| {
                        let version = plan.version();
                        // Only a snapshot that was written counts: one that
                        // was due but left out is not there to start from.
                        let snapshot_version = match &plan.previous {
                            _ if snapshots.contains(&index) => version,
                            Some(previous) => previous.folded.snapshot_version,
                            None => 0,
                        };
                        if let Some(state) = &plan.state {
                            self.set_cached(
                                &plan.id,
                                Some(Folded {
                                    state: state.clone(),
                                    version,
                                    snapshot_version,
                                }),
                            );
                        }
                        CommandOutcome {
                            id: plan.id,
                            version,
                            events: plan.events,
                            state: plan.state,
                            duplicate: false,
                            attempts: 0,
                            requests: 0,
                            capacity: dynago::telemetry::Capacity::default(),
                        }
                    })
                    .collect();
                Ok(Attempted::Done(outcomes))
            }
            Ok(CommitOutcome::Duplicate(record)) if record.reserved => {
                // Another execution of the command reserved it: its events
                // may have landed; if not, this one decides again on what
                // it read looking for them.
                match self.repeated(&record, commands, options, 0).await? {
                    Repeat::Answered(outcomes) => Ok(Attempted::Repeated(outcomes)),
                    Repeat::NotLanded(id, basis) => {
                        let version = basis.folded.version;
                        lock(known).insert(id.clone(), basis);
                        reserved.store(true, Ordering::Relaxed);
                        Err(Error::Conflict {
                            aggregate: Self::aggregate_name(&id),
                            expected: plans.first().map_or(0, |plan| plan.expected),
                            actual: version,
                        })
                    }
                }
            }
            Ok(CommitOutcome::Duplicate(record)) => Ok(Attempted::Duplicate(record)),
            Err(error) => {
                // Keep what was seen: the next attempt reads only what came
                // after it, and must reach the version the conflict found.
                let found = match &error {
                    Error::Conflict {
                        aggregate, actual, ..
                    } => Some((aggregate.as_str(), *actual)),
                    _ => None,
                };
                let mut known = lock(known);
                for plan in plans {
                    // A cached state that lost a race is stale: never decide
                    // on it again, even when this command gives up now.
                    if error.is_conflict() {
                        self.set_cached(&plan.id, None);
                    }
                    if let Some(mut previous) = plan.previous {
                        if let Some((aggregate, actual)) = found {
                            if aggregate == Self::aggregate_name(&plan.id) {
                                previous.taken = actual;
                            }
                        }
                        known.insert(plan.id, previous);
                    }
                }
                drop(known);
                Err(error)
            }
        }
    }
}

/// Whether the attempts at a command ended without writing anything of it.
fn wrote_nothing<A: Aggregate>(result: &Result<Attempted<A>>) -> bool {
    match result {
        Ok(Attempted::Done(outcomes)) => outcomes.iter().all(|outcome| outcome.events.is_empty()),
        Ok(Attempted::Duplicate(_) | Attempted::Repeated(_)) => false,
        Ok(Attempted::Rejected { .. }) => true,
        Err(error) => error.is_conflict(),
    }
}

/// What one attempt ended with.
/// The state a command decides on, or the events of an execution of it
/// that landed meanwhile.
enum Current<A: Aggregate> {
    Basis(Basis<A>),
    Landed(Vec<EventEnvelope<A::Event>>),
}

enum Attempted<A: Aggregate> {
    Done(Vec<CommandOutcome<A>>),
    Duplicate(CommandRecord),
    /// The command's outcome, read back: another execution of it landed.
    Repeated(Vec<CommandOutcome<A>>),
    /// The aggregate of the command at `index` refused: nothing to write,
    /// nothing to retry.
    Rejected {
        index: usize,
        reason: A::Error,
    },
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
