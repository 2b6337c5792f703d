//! The outcome checker: a random workload of commands, transfers and
//! appends, from concurrent tasks, through a fault proxy whose plan mixes
//! every fault it has (throttling and server errors, resets, lost answers,
//! latency, requests held past the client's attempt timeout and delivered
//! late, requests delivered twice, transaction conflicts, stripped request
//! tokens), changed in phases. Then every answer the store gave is checked
//! against the table, read directly, by the contract of
//! `docs/event-store.md`, "What each answer means".
//!
//! Every call tags its events with its own call id (metadata `call`), so
//! that the events each call wrote can be found afterwards.
//!
//! The table is read raw: each event item is expanded into the events it
//! holds (a commit's events share one item, keyed by the first's version,
//! the others in its `next_events`, all under the item's commit id), and
//! compared with what `events()` and `StoredEvent::from_item` read. A
//! command with an id was applied iff events carry its id: a command
//! record written in the transaction of its events proves them, a
//! reservation (`reserved`, written on its own before the events of a
//! command on one aggregate) does not.
//!
//! The run is seeded: `DYNAGO_CHECKER_SEED=<n>` replays a run's choices
//! (the interleaving of the tasks is the machine's), and
//! `DYNAGO_CHECKER_COMMANDS=<n>` makes it longer. The seed is printed first
//! and named in every failure.
use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Account, AccountCommand, AccountEvent};
use dynago_es::{
    Aggregate as _, AggregateId, CommandError, CommandId, CommandOptions, CommandOutcome, Error,
    EventStore, Metadata, SnapshotPolicy, StoreOptions,
};
use dynago_local::{FaultPlan, FaultProxy, Throttle};
use futures::TryStreamExt;
use uuid::Uuid;

const TASKS: usize = 8;
const PHASES: usize = 6;
const DEFAULT_COMMANDS: usize = 2_000;
const SDK_ATTEMPTS: u32 = 3;
/// Shorter than [`HOLD`]: a held request is given up on, then lands.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);
const HOLD: Duration = Duration::from_millis(600);
/// Longer than a command's sends and backoff: a command whose send is
/// held this long in a storm reads the place of its commit still free,
/// answers `OutcomeUnknown`, and the send lands after.
const STORM_HOLD: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------- the calls

/// What one call sends.
#[derive(Debug, Clone)]
enum Op {
    /// One command on one account (`execute_with`).
    Execute {
        account: String,
        command: AccountCommand,
    },
    /// One command per account in one transaction (`execute_all`), in this
    /// order: a transfer's withdrawal and deposit.
    Transfer { legs: Vec<(String, AccountCommand)> },
    /// `append` under `expected`.
    Append {
        account: String,
        expected: u64,
        events: Vec<AccountEvent>,
    },
}

impl Op {
    /// How many events one commit of this call writes on each account.
    fn commit_size(&self) -> BTreeMap<String, usize> {
        let size = |command: &AccountCommand| match command {
            AccountCommand::DepositMany { amounts } => amounts.len(),
            _ => 1,
        };
        match self {
            Op::Execute { account, command } => BTreeMap::from([(account.clone(), size(command))]),
            Op::Transfer { legs } => legs.iter().map(|(a, c)| (a.clone(), size(c))).collect(),
            Op::Append {
                account, events, ..
            } => BTreeMap::from([(account.clone(), events.len())]),
        }
    }

    /// The accounts, in the order sent.
    fn accounts(&self) -> Vec<String> {
        match self {
            Op::Execute { account, .. } | Op::Append { account, .. } => vec![account.clone()],
            Op::Transfer { legs } => legs.iter().map(|(a, _)| a.clone()).collect(),
        }
    }

    /// A stable text of what the call asks, whatever the order of its legs:
    /// its fingerprint's body.
    fn body(&self) -> String {
        match self {
            Op::Transfer { legs } => {
                let mut legs: Vec<String> =
                    legs.iter().map(|(a, c)| format!("{a}:{c:?}")).collect();
                legs.sort();
                legs.join(" + ")
            }
            other => format!("{other:?}"),
        }
    }
}

/// A call to make.
#[derive(Debug, Clone)]
struct Spec {
    op: Op,
    command_id: Option<String>,
    /// The body given as the fingerprint.
    fingerprint: Option<String>,
    /// Which workload step sent it.
    scenario: &'static str,
    /// Which of the stores sends it.
    store: usize,
}

/// The kinds of answer, as the contract tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ok,
    OkDuplicate,
    Rejected,
    Conflict,
    ExhaustedRetryable,
    /// Retryable, not `RetriesExhausted`: a read that failed, say.
    Retryable,
    ExhaustedConflict,
    OutcomeUnknown,
    CommandIdReused,
    Other,
}

impl Kind {
    fn of(error: &Error) -> Kind {
        match error {
            Error::CommandIdReused { .. } => Kind::CommandIdReused,
            _ if error.is_outcome_unknown() => Kind::OutcomeUnknown,
            Error::RetriesExhausted { last, .. } if last.is_conflict() => Kind::ExhaustedConflict,
            Error::RetriesExhausted { .. } if error.is_retryable() => Kind::ExhaustedRetryable,
            _ if error.is_retryable() => Kind::Retryable,
            _ if error.is_conflict() => Kind::Conflict,
            _ => Kind::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Ok => "Ok",
            Kind::OkDuplicate => "Ok duplicate",
            Kind::Rejected => "Rejected",
            Kind::Conflict => "Conflict",
            Kind::ExhaustedRetryable => "RetriesExhausted retryable",
            Kind::Retryable => "retryable, not RetriesExhausted",
            Kind::ExhaustedConflict => "RetriesExhausted with conflict",
            Kind::OutcomeUnknown => "OutcomeUnknown",
            Kind::CommandIdReused => "CommandIdReused",
            Kind::Other => "other",
        }
    }

    /// Not applied, by the contract: no event may carry the call's id.
    fn not_applied(self) -> bool {
        matches!(
            self,
            Kind::Rejected
                | Kind::Conflict
                | Kind::ExhaustedRetryable
                | Kind::Retryable
                | Kind::ExhaustedConflict
                | Kind::CommandIdReused
        )
    }

    /// Says nothing of a record it could not read: a transport failure.
    fn unsettled(self) -> bool {
        matches!(
            self,
            Kind::ExhaustedRetryable | Kind::Retryable | Kind::OutcomeUnknown
        )
    }
}

/// What one `Ok` answer reported for one account.
#[derive(Debug)]
struct Reported {
    account: String,
    version: u64,
    duplicate: bool,
    /// `(version, event id)` of each event reported.
    events: Vec<(u64, Uuid)>,
    state: Option<Account>,
}

#[derive(Debug)]
struct Answer {
    kind: Kind,
    outcomes: Vec<Reported>,
    /// Of an `OutcomeUnknown`: the commit id its events would carry.
    commit_id: Option<Uuid>,
    /// Of a `CommandIdReused`.
    first_used_for: Vec<String>,
    message: String,
}

impl Answer {
    fn of_commands(result: Result<Vec<CommandOutcome<Account>>, CommandError<Account>>) -> Self {
        match result {
            Ok(outcomes) => {
                let outcomes: Vec<Reported> = outcomes
                    .into_iter()
                    .map(|o| Reported {
                        account: o.id.as_str().to_owned(),
                        version: o.version,
                        duplicate: o.duplicate,
                        events: o.events.iter().map(|e| (e.version, e.event_id)).collect(),
                        state: o.state,
                    })
                    .collect();
                let duplicate = outcomes.first().is_some_and(|o| o.duplicate);
                Answer {
                    kind: if duplicate {
                        Kind::OkDuplicate
                    } else {
                        Kind::Ok
                    },
                    outcomes,
                    commit_id: None,
                    first_used_for: Vec::new(),
                    message: String::new(),
                }
            }
            Err(CommandError::Rejected { id, reason }) => Answer {
                kind: Kind::Rejected,
                outcomes: Vec::new(),
                commit_id: None,
                first_used_for: Vec::new(),
                message: format!("{id}: {reason}"),
            },
            Err(CommandError::Store(error)) => Self::of_error(&error),
        }
    }

    fn of_error(error: &Error) -> Self {
        let kind = Kind::of(error);
        Answer {
            kind,
            outcomes: Vec::new(),
            commit_id: match error {
                Error::OutcomeUnknown { commit_id, .. } => Some(*commit_id),
                _ => None,
            },
            first_used_for: match error {
                Error::CommandIdReused { first_used_for, .. } => first_used_for.clone(),
                _ => Vec::new(),
            },
            message: if kind == Kind::Other {
                format!("{error} [{error:?}]")
            } else {
                error.to_string()
            },
        }
    }
}

/// One call made, and its answer.
#[derive(Debug)]
struct Call {
    id: String,
    task: usize,
    spec: Spec,
    started: Instant,
    answered: Instant,
    answer: Answer,
}

// ------------------------------------------------------------- the workload

struct Workload {
    seed: u64,
    commands: usize,
    accounts: Vec<String>,
    stores: Vec<EventStore<Account>>,
    proxy: FaultProxy,
    plans: Vec<FaultPlan>,
    phase: AtomicUsize,
    hot_phase: usize,
    next_call: AtomicUsize,
    next_command_id: AtomicUsize,
    steps: AtomicUsize,
    loads_failed: AtomicUsize,
    calls: Mutex<Vec<Call>>,
}

impl Workload {
    fn calls_made(&self) -> usize {
        self.next_call.load(Ordering::SeqCst)
    }

    /// Makes one call and keeps its answer; whether it was `Ok`.
    async fn call(&self, task: usize, spec: Spec) -> bool {
        let id = format!("c{:05}", self.next_call.fetch_add(1, Ordering::SeqCst));
        // The phase of the run follows the calls made.
        let phase = (self.calls_made() * PHASES / self.commands).min(PHASES - 1);
        if self.phase.fetch_max(phase, Ordering::SeqCst) < phase {
            self.proxy.set_plan(self.plans[phase].clone());
        }
        let metadata = Metadata::default().with("call", id.clone());
        let mut options = CommandOptions::default().metadata(metadata.clone());
        if let Some(command_id) = &spec.command_id {
            options = options.command_id(CommandId::new(command_id.clone()));
        }
        if let Some(body) = &spec.fingerprint {
            options = options.fingerprint(body);
        }
        let store = &self.stores[spec.store];
        let started = Instant::now();
        let answer = match &spec.op {
            Op::Execute { account, command } => Answer::of_commands(
                store
                    .execute_with(account.as_str(), command.clone(), options)
                    .await
                    .map(|outcome| vec![outcome]),
            ),
            Op::Transfer { legs } => {
                let commands = legs
                    .iter()
                    .map(|(a, c)| (AggregateId::new(a.clone()), c.clone()))
                    .collect();
                Answer::of_commands(store.execute_all(commands, options).await)
            }
            Op::Append {
                account,
                expected,
                events,
            } => match store
                .append(account.as_str(), *expected, events.clone(), metadata)
                .await
            {
                Ok(envelopes) => Answer {
                    kind: Kind::Ok,
                    outcomes: vec![Reported {
                        account: account.clone(),
                        version: envelopes.last().map_or(*expected, |e| e.version),
                        duplicate: false,
                        events: envelopes.iter().map(|e| (e.version, e.event_id)).collect(),
                        state: None,
                    }],
                    commit_id: None,
                    first_used_for: Vec::new(),
                    message: String::new(),
                },
                Err(error) => Answer::of_error(&error),
            },
        };
        let ok = matches!(answer.kind, Kind::Ok | Kind::OkDuplicate);
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Call {
                id,
                task,
                spec,
                started,
                answered: Instant::now(),
                answer,
            });
        ok
    }

    fn command_id(&self) -> String {
        format!(
            "{:x}-k{}",
            self.seed,
            self.next_command_id.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Any account; in the hot phase, mostly the first: conflicts enough
    /// to run some commands out of attempts.
    fn account(&self, rng: &mut fastrand::Rng) -> String {
        if self.phase.load(Ordering::SeqCst) == self.hot_phase && rng.u32(0..100) < 70 {
            return self.accounts[0].clone();
        }
        self.accounts[rng.usize(..self.accounts.len())].clone()
    }

    fn command(&self, rng: &mut fastrand::Rng) -> AccountCommand {
        match rng.u32(0..100) {
            0..5 => common::open("ada"),
            5..45 => AccountCommand::Deposit {
                amount: rng.i64(1..=100),
            },
            45..85 => AccountCommand::Withdraw {
                amount: rng.i64(1..=150),
            },
            _ => AccountCommand::DepositMany {
                amounts: (0..rng.usize(2..=4)).map(|_| rng.i64(1..=50)).collect(),
            },
        }
    }

    fn transfer(&self, rng: &mut fastrand::Rng) -> Op {
        let from = self.account(rng);
        let mut to = self.account(rng);
        while to == from {
            to = self.account(rng);
        }
        let amount = rng.i64(1..=120);
        // Now and then the credit in several deposits: a commit item of
        // several events in a transaction.
        let parts = if amount >= 3 && rng.u32(0..100) < 30 {
            rng.i64(2..=3)
        } else {
            1
        };
        let credit = if parts == 1 {
            AccountCommand::Deposit { amount }
        } else {
            let mut amounts: Vec<i64> = (1..parts).map(|_| rng.i64(1..=amount / parts)).collect();
            amounts.push(amount - amounts.iter().sum::<i64>());
            AccountCommand::DepositMany { amounts }
        };
        Op::Transfer {
            legs: vec![(from, AccountCommand::Withdraw { amount }), (to, credit)],
        }
    }

    /// A single command (most of the time) or a transfer.
    fn op(&self, rng: &mut fastrand::Rng, transfers: u32) -> Op {
        if rng.u32(0..100) < transfers {
            self.transfer(rng)
        } else {
            Op::Execute {
                account: self.account(rng),
                command: self.command(rng),
            }
        }
    }

    /// A spec of `op` with a fresh command id (`with_id`), and a
    /// fingerprint most of the time.
    fn spec(&self, rng: &mut fastrand::Rng, op: Op, with_id: bool, scenario: &'static str) -> Spec {
        let command_id = with_id.then(|| self.command_id());
        let fingerprint = (with_id && rng.u32(0..100) < 80).then(|| op.body());
        Spec {
            op,
            command_id,
            fingerprint,
            scenario,
            store: rng.usize(..self.stores.len()),
        }
    }

    /// One step of a task: one call, or two with the same command id.
    async fn step(self: &Arc<Self>, task: usize, rng: &mut fastrand::Rng) {
        let step = self.steps.fetch_add(1, Ordering::SeqCst);
        if let Some(account) = self.accounts.get(step) {
            let op = Op::Execute {
                account: account.clone(),
                command: common::open("ada"),
            };
            let with_id = rng.bool();
            let spec = self.spec(rng, op, with_id, "open");
            self.call(task, spec).await;
            return;
        }
        match rng.u32(0..100) {
            0..40 => {
                let op = self.op(rng, 0);
                let with_id = rng.u32(0..100) < 30;
                let spec = self.spec(rng, op, with_id, "single");
                self.call(task, spec).await;
            }
            40..54 => {
                let op = self.transfer(rng);
                let with_id = rng.u32(0..100) < 40;
                let spec = self.spec(rng, op, with_id, "transfer");
                self.call(task, spec).await;
            }
            54..66 => self.append(task, rng).await,
            66..78 => {
                // The same command twice, the second from another task
                // while the first may still be in flight.
                let op = self.op(rng, 30);
                let first = self.spec(rng, op, true, "concurrent repeat (first)");
                let mut second = first.clone();
                second.scenario = "concurrent repeat (second)";
                second.store = rng.usize(..self.stores.len());
                let delay = Duration::from_millis(rng.u64(0..=400));
                let workload = Arc::clone(self);
                let other = tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    workload.call(task, second).await
                });
                self.call(task, first).await;
                other
                    .await
                    .unwrap_or_else(|e| panic!("seed {}: the repeat's task: {e}", self.seed));
            }
            78..90 => {
                let op = self.op(rng, 30);
                let first = self.spec(rng, op, true, "repeat after error (first)");
                let ok = self.call(task, first.clone()).await;
                if !ok || rng.u32(0..100) < 25 {
                    let mut again = first;
                    again.scenario = if ok {
                        "repeat after ok"
                    } else {
                        "repeat after error"
                    };
                    again.store = rng.usize(..self.stores.len());
                    self.call(task, again).await;
                }
            }
            _ => self.reuse(task, rng).await,
        }
    }

    /// A command id used again for another command (another body, another
    /// account, one side of a transfer) or for the same one another way
    /// (the transfer's legs in the other order, no fingerprint); after the
    /// first answered, or while it is in flight.
    async fn reuse(self: &Arc<Self>, task: usize, rng: &mut fastrand::Rng) {
        let op = self.op(rng, 40);
        let mut first = self.spec(rng, op, true, "reuse (first)");
        first.fingerprint = Some(first.op.body());
        let mut second = first.clone();
        second.store = rng.usize(..self.stores.len());
        match (&first.op, rng.u32(0..3)) {
            (Op::Execute { account, command }, 0) => {
                let mut other = self.account(rng);
                while &other == account {
                    other = self.account(rng);
                }
                second.op = Op::Execute {
                    account: other,
                    command: command.clone(),
                };
                second.scenario = "reuse on another account";
            }
            (Op::Execute { account, .. }, choice) => {
                second.op = Op::Execute {
                    account: account.clone(),
                    command: AccountCommand::Deposit {
                        amount: rng.i64(1..=100),
                    },
                };
                if choice == 1 {
                    second.scenario = "reuse with another fingerprint";
                } else {
                    second.scenario = "reuse with another body, no fingerprint";
                    second.fingerprint = None;
                }
            }
            (Op::Transfer { legs }, 0) => {
                let (account, command) = legs[rng.usize(..legs.len())].clone();
                second.op = Op::Execute { account, command };
                second.scenario = "reuse for one side of a transfer";
            }
            (Op::Transfer { legs }, _) => {
                second.op = Op::Transfer {
                    legs: legs.iter().rev().cloned().collect(),
                };
                second.scenario = "repeat of a transfer, legs reversed";
            }
            (Op::Append { .. }, _) => unreachable!("op() makes no appends"),
        }
        second.fingerprint = second.fingerprint.map(|_| second.op.body());
        if rng.u32(0..100) < 30 {
            let delay = Duration::from_millis(rng.u64(0..=300));
            let workload = Arc::clone(self);
            let other = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                workload.call(task, second).await
            });
            self.call(task, first).await;
            other
                .await
                .unwrap_or_else(|e| panic!("seed {}: the reuse's task: {e}", self.seed));
        } else {
            self.call(task, first).await;
            self.call(task, second).await;
        }
    }

    /// An append under the version of a fresh load, or, on purpose, one
    /// below or above it.
    async fn append(&self, task: usize, rng: &mut fastrand::Rng) {
        let account = self.account(rng);
        let store = rng.usize(..self.stores.len());
        let loaded = match self.stores[store].load(account.as_str()).await {
            Ok(loaded) => loaded,
            Err(_) => {
                self.loads_failed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        let (expected, scenario) = match loaded.version {
            // Not opened: only an `Opened` at 0 is a valid stream.
            0 => (0, "append"),
            v if rng.u32(0..100) < 25 => {
                if rng.bool() {
                    (v - 1, "stale append (behind)")
                } else {
                    (v + 1, "stale append (ahead)")
                }
            }
            v => (v, "append"),
        };
        let events = if loaded.state.open {
            (0..rng.usize(1..=3))
                .map(|_| AccountEvent::Deposited {
                    amount: rng.i64(1..=60),
                })
                .collect()
        } else {
            vec![AccountEvent::Opened {
                owner: "ada".into(),
            }]
        };
        let op = Op::Append {
            account,
            expected,
            events,
        };
        let spec = Spec {
            op,
            command_id: None,
            fingerprint: None,
            scenario,
            store,
        };
        self.call(task, spec).await;
    }
}

/// The fault plan of one phase: a modest share of each fault, drawn from
/// `rng`; the kind of throttling answer turns with the phase.
fn phase_plan(rng: &mut fastrand::Rng, phase: usize) -> FaultPlan {
    let throttles = [
        Throttle::Throttling,
        Throttle::ProvisionedThroughputExceeded,
        Throttle::InternalServerError,
        Throttle::ServiceUnavailable,
    ];
    let seed = rng.u64(..);
    let latency = Duration::from_millis(rng.u64(5..=60));
    let strip = rng.u32(0..3) == 0;
    let mut up_to = |max: f64| rng.f64() * max;
    FaultPlan::default()
        .seed(seed)
        .throttle(throttles[phase % throttles.len()], up_to(0.06))
        .reset(up_to(0.03))
        .fail(400, "TransactionConflictException", up_to(0.02))
        .drop_answer(up_to(0.04))
        .unprocessed(up_to(0.01))
        .hold(HOLD, up_to(0.015))
        .duplicate(up_to(0.04))
        .latency(latency, up_to(0.1))
        .strip_client_request_tokens(strip)
}

/// A storm before `then`: the next 300 writes all throttled or held, so
/// that the commands sent meanwhile run out of sends (`RetriesExhausted`),
/// or lose track of a send that lands later (`OutcomeUnknown`), or find
/// it landed.
fn storm(rng: &mut fastrand::Rng, then: FaultPlan) -> FaultPlan {
    FaultPlan::default()
        .seed(rng.u64(..))
        .throttle(Throttle::ProvisionedThroughputExceeded, 0.9)
        .hold(STORM_HOLD, 0.1)
        .operation("PutItem")
        .operation("TransactWriteItems")
        .first(300)
        .then(then)
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|value| {
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}"))
    })
}

// -------------------------------------------------------- the table, as read

/// One event as stored.
#[derive(Debug)]
struct Stored {
    account: String,
    version: u64,
    event_id: Uuid,
    /// The commit id of the item that holds it: every event of a commit
    /// item shares its item's.
    commit_id: String,
    call: Option<String>,
    command_id: Option<String>,
    payload: AccountEvent,
}

/// One command record as stored.
#[derive(Debug)]
struct Record {
    commit_id: String,
    /// Written on its own before the events (a command with an id on one
    /// aggregate): it says only where the first attempt aimed them, not
    /// that they landed. Without it, the record was written in the
    /// transaction of its command's events, and proves them.
    reserved: bool,
    /// `(account, first_version, last_version)` of each aggregate it names.
    results: Vec<(String, u64, u64)>,
}

/// The table, read directly after the run.
struct Truth {
    events: BTreeMap<String, Vec<Stored>>,
    /// Each command record, by command id.
    records: HashMap<String, Record>,
    /// What could not be read.
    unreadable: Vec<String>,
    /// How many event items there are, and how many of them hold several
    /// events.
    items: usize,
    commit_items: usize,
}

/// One event of an event item, as its raw attributes hold it.
#[derive(Debug, PartialEq)]
struct RawEvent {
    version: u64,
    event_id: String,
    commit_id: String,
    command_id: Option<String>,
    call: Option<String>,
}

fn raw_string<'i>(item: &'i dynago::Item, name: &str) -> Result<&'i str, String> {
    match item.get(name) {
        Some(dynago::AttributeValue::S(s)) => Ok(s),
        other => Err(format!("attribute `{name}` is not a string: {other:?}")),
    }
}

fn raw_number(item: &dynago::Item, name: &str) -> Result<u64, String> {
    match item.get(name) {
        Some(dynago::AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| format!("attribute `{name}` is not a whole number: {n:?}")),
        other => Err(format!("attribute `{name}` is not a number: {other:?}")),
    }
}

/// The command id and the call tag in an event's `metadata` map.
fn raw_metadata(metadata: Option<&dynago::AttributeValue>) -> (Option<String>, Option<String>) {
    let Some(dynago::AttributeValue::M(metadata)) = metadata else {
        return (None, None);
    };
    let command_id = match metadata.get("command_id") {
        Some(dynago::AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    let call = match metadata.get("extra") {
        Some(dynago::AttributeValue::M(extra)) => match extra.get("call") {
            Some(dynago::AttributeValue::S(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    (command_id, call)
}

/// The events of the event item keyed `e#{first}`, read from its raw
/// attributes: the first at top level (its `version` the key's), then
/// those of `next_events` at `first + 1`, `first + 2`, ..., up to
/// `last_version`. Each inherits the commit id of the item, and its
/// metadata where it has none of its own.
fn expand_item(first: u64, item: &dynago::Item) -> Result<Vec<RawEvent>, String> {
    let version = raw_number(item, "version")?;
    if version != first {
        return Err(format!(
            "its key is version {first}, its `version` {version}"
        ));
    }
    let commit_id = raw_string(item, "commit_id")?.to_owned();
    let (command_id, call) = raw_metadata(item.get("metadata"));
    let mut events = vec![RawEvent {
        version,
        event_id: raw_string(item, "event_id")?.to_owned(),
        commit_id: commit_id.clone(),
        command_id: command_id.clone(),
        call: call.clone(),
    }];
    let last = match item.get("last_version") {
        None => None,
        Some(_) => Some(raw_number(item, "last_version")?),
    };
    match item.get("next_events") {
        None if last.is_none() => {}
        None => return Err("`last_version` without `next_events`".to_owned()),
        Some(dynago::AttributeValue::L(next)) => {
            for (index, member) in next.iter().enumerate() {
                let dynago::AttributeValue::M(member) = member else {
                    return Err(format!("`next_events` member {index} is not a map"));
                };
                let version = raw_number(member, "version")?;
                let expected = first + 1 + u64::try_from(index).expect("an index fits u64");
                if version != expected {
                    return Err(format!(
                        "`next_events` member {index} is version {version}, where {expected} belongs"
                    ));
                }
                if let Some(own) = member.get("commit_id") {
                    if *own != dynago::AttributeValue::S(commit_id.clone()) {
                        return Err(format!(
                            "`next_events` member {index} carries another commit id ({own:?})"
                        ));
                    }
                }
                let (command_id, call) = match member.get("metadata") {
                    Some(own) => raw_metadata(Some(own)),
                    None => (command_id.clone(), call.clone()),
                };
                events.push(RawEvent {
                    version,
                    event_id: raw_string(member, "event_id")?.to_owned(),
                    commit_id: commit_id.clone(),
                    command_id,
                    call,
                });
            }
            let end = events.last().map_or(first, |e| e.version);
            if events.len() > 1 && last != Some(end) {
                return Err(format!(
                    "its `last_version` is {last:?}, its events end at version {end}"
                ));
            }
        }
        Some(other) => return Err(format!("`next_events` is not a list: {other:?}")),
    }
    Ok(events)
}

/// The same events as the store's own reader of stored items
/// ([`dynago_es::StoredEvent::from_item`]) reads them.
fn stored_events_of(item: &dynago::Item) -> Result<Vec<RawEvent>, String> {
    let events = dynago_es::StoredEvent::from_item(item.clone()).map_err(|e| e.to_string())?;
    Ok(events
        .into_iter()
        .map(|e| RawEvent {
            version: e.version,
            event_id: e.event_id.to_string(),
            commit_id: e.commit_id.to_string(),
            command_id: e.metadata.command_id.clone(),
            call: e.metadata.extra.get("call").cloned(),
        })
        .collect())
}

/// A command record's item.
fn record_of(item: &dynago::Item) -> Result<Record, String> {
    let reserved = match item.get("reserved") {
        None => false,
        Some(dynago::AttributeValue::Bool(b)) => *b,
        Some(other) => return Err(format!("attribute `reserved` is not a boolean: {other:?}")),
    };
    let results = match item.get("results") {
        Some(dynago::AttributeValue::L(results)) => results
            .iter()
            .map(|result| match result {
                dynago::AttributeValue::M(result) => Ok((
                    raw_string(result, "aggregate_id")?.to_owned(),
                    raw_number(result, "first_version")?,
                    raw_number(result, "last_version")?,
                )),
                other => Err(format!("a result that is not a map: {other:?}")),
            })
            .collect::<Result<Vec<_>, String>>()?,
        other => return Err(format!("attribute `results` is not a list: {other:?}")),
    };
    Ok(Record {
        commit_id: raw_string(item, "commit_id")?.to_owned(),
        reserved,
        results,
    })
}

async fn read_truth(direct: &dynago::Table, accounts: &[String]) -> Truth {
    let store =
        EventStore::<Account>::new(direct.clone(), StoreOptions::default()).expect("a store");
    let items = common::contents(direct).await;
    let mut raw_events: BTreeMap<String, Vec<RawEvent>> = BTreeMap::new();
    let mut records = HashMap::new();
    let mut unreadable = Vec::new();
    let (mut event_items, mut commit_items) = (0, 0);
    for item in &items {
        let (pk, sk) = (common::string(item, "pk"), common::string(item, "sk"));
        if let Some(command_id) = pk.strip_prefix("cmd#account#") {
            match record_of(item) {
                Ok(record) => {
                    records.insert(command_id.to_owned(), record);
                }
                Err(reason) => {
                    unreadable.push(format!("the record of command {command_id}: {reason}"));
                }
            }
        } else if let (Some(account), Some(version)) =
            (pk.strip_prefix("account#"), sk.strip_prefix("e#"))
        {
            let first: u64 = version.parse().expect("an event key's version");
            let expanded = match expand_item(first, item) {
                Ok(expanded) => expanded,
                Err(reason) => {
                    unreadable.push(format!("{account}: the event item e#{first}: {reason}"));
                    continue;
                }
            };
            match stored_events_of(item) {
                Ok(read) if read == expanded => {}
                read => unreadable.push(format!(
                    "{account}: the event item e#{first} holds {expanded:?}, \
                     StoredEvent::from_item reads {read:?}"
                )),
            }
            event_items += 1;
            if expanded.len() > 1 {
                commit_items += 1;
            }
            raw_events
                .entry(account.to_owned())
                .or_default()
                .extend(expanded);
        }
    }
    let mut events = BTreeMap::new();
    for account in accounts {
        let mut raw = raw_events.remove(account).unwrap_or_default();
        raw.sort_by_key(|e| e.version);
        let read: Result<Vec<_>, Error> = store.events(account.as_str(), 1).try_collect().await;
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                unreadable.push(format!("the events of {account} cannot be read: {error}"));
                continue;
            }
        };
        // Every version exactly once, in the items as in what events()
        // reads, with the same event ids and metadata.
        let raw_versions: Vec<u64> = raw.iter().map(|e| e.version).collect();
        let versions: Vec<u64> = read.iter().map(|e| e.version).collect();
        if raw_versions != versions {
            unreadable.push(format!(
                "{account}: the event items hold versions {raw_versions:?}, events() read {versions:?}"
            ));
        }
        let mut by_version: HashMap<u64, RawEvent> = HashMap::new();
        for event in raw {
            by_version.entry(event.version).or_insert(event);
        }
        let stored = read
            .into_iter()
            .map(|e| {
                let call = e.metadata.extra.get("call").cloned();
                let raw = by_version.remove(&e.version);
                let agrees = raw.as_ref().is_some_and(|raw| {
                    raw.event_id == e.event_id.to_string()
                        && raw.command_id == e.metadata.command_id
                        && raw.call == call
                });
                if !agrees {
                    unreadable.push(format!(
                        "{account} v{}: the event items hold {raw:?}, events() read {} {:?}",
                        e.version, e.event_id, e.metadata
                    ));
                }
                Stored {
                    account: account.clone(),
                    version: e.version,
                    event_id: e.event_id,
                    commit_id: raw.map(|raw| raw.commit_id).unwrap_or_default(),
                    call,
                    command_id: e.metadata.command_id.clone(),
                    payload: e.payload,
                }
            })
            .collect();
        events.insert(account.clone(), stored);
    }
    for (account, raw) in raw_events {
        let versions: Vec<u64> = raw.iter().map(|e| e.version).collect();
        unreadable.push(format!(
            "events of an account no call named: {account} {versions:?}"
        ));
    }
    Truth {
        events,
        records,
        unreadable,
        items: event_items,
        commit_items,
    }
}

// --------------------------------------------------------------- the checks

/// The fold of `events` into an account, or the first event no command
/// could have decided on the state before it.
fn fold(events: &[Stored]) -> Result<Account, String> {
    let mut state = Account::default();
    for (index, event) in events.iter().enumerate() {
        let expected = u64::try_from(index).expect("an index fits u64") + 1;
        if event.version != expected {
            return Err(format!(
                "version {} where {expected} belongs",
                event.version
            ));
        }
        let refused = match &event.payload {
            AccountEvent::Opened { .. } => state.open,
            AccountEvent::Deposited { amount } => !state.open || *amount <= 0,
            AccountEvent::Withdrawn { amount } => {
                !state.open || *amount <= 0 || *amount > state.balance
            }
        };
        if refused {
            return Err(format!(
                "event {} {:?} (call {:?}) on the state {state:?}, which refuses it",
                event.version, event.payload, event.call
            ));
        }
        state.apply(&event.payload);
    }
    Ok(state)
}

/// The calls and the table, side by side.
struct Checker<'a> {
    calls: &'a [Call],
    truth: &'a Truth,
    by_id: HashMap<&'a str, &'a Call>,
    /// The events each call wrote, found by their `call` tag.
    written: HashMap<&'a str, Vec<&'a Stored>>,
    violations: Vec<String>,
}

/// Every answer against the table; the violations found.
fn check(calls: &[Call], truth: &Truth) -> Vec<String> {
    let mut checker = Checker {
        calls,
        truth,
        by_id: calls.iter().map(|c| (c.id.as_str(), c)).collect(),
        written: HashMap::new(),
        violations: truth.unreadable.clone(),
    };
    checker.streams();
    for call in calls {
        checker.call(call);
    }
    checker.command_ids();
    checker.violations
}

impl<'a> Checker<'a> {
    fn mine(&self, call: &Call) -> &[&'a Stored] {
        self.written
            .get(call.id.as_str())
            .map_or(&[], Vec::as_slice)
    }

    /// Records a violation by `call`, with what it sent, what it was
    /// answered and what the table holds of it.
    fn fail(&mut self, call: &Call, what: &str) {
        let mine: Vec<_> = self
            .mine(call)
            .iter()
            .map(|e| {
                (
                    e.account.as_str(),
                    e.version,
                    e.commit_id.as_str(),
                    &e.payload,
                )
            })
            .collect();
        let violation = format!(
            "{what}: call {} (task {}, {}, store {}, {:?}, command id {:?}, fingerprint {}) \
             answered {} {:?} {}; the table holds its events {mine:?}",
            call.id,
            call.task,
            call.spec.scenario,
            call.spec.store,
            call.spec.op,
            call.spec.command_id,
            call.spec.fingerprint.is_some(),
            call.answer.kind.name(),
            call.answer.outcomes,
            call.answer.message,
        );
        self.violations.push(violation);
    }

    /// Every stream is 1..n and folds without an event its command would
    /// have refused; every event belongs to a call made.
    fn streams(&mut self) {
        for (account, events) in &self.truth.events {
            if let Err(reason) = fold(events) {
                self.violations.push(format!("account {account}: {reason}"));
            }
            for event in events {
                match event.call.as_deref() {
                    Some(call) if self.by_id.contains_key(call) => {
                        self.written.entry(call).or_default().push(event)
                    }
                    other => self.violations.push(format!(
                        "{account} v{}: an event of no call made ({other:?})",
                        event.version
                    )),
                }
            }
        }
    }

    /// One answer against the events its call wrote.
    fn call(&mut self, call: &Call) {
        let mine = self.mine(call).to_vec();
        // What it wrote, if anything, is one commit's worth: every event
        // of it (both sides of a transfer), once, from one commit.
        if !mine.is_empty() {
            let mut per_account: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for event in &mine {
                per_account
                    .entry(event.account.clone())
                    .or_default()
                    .push(event.version);
            }
            let sizes: BTreeMap<String, usize> = per_account
                .iter()
                .map(|(a, v)| (a.clone(), v.len()))
                .collect();
            let commits: BTreeSet<&str> = mine.iter().map(|e| e.commit_id.as_str()).collect();
            let consecutive = per_account
                .values()
                .all(|v| v.windows(2).all(|w| w[1] == w[0] + 1));
            if sizes != call.spec.op.commit_size() || commits.len() != 1 || !consecutive {
                self.fail(
                    call,
                    "its events are not one commit's worth (all of it, once)",
                );
            }
            if mine.iter().any(|e| e.command_id != call.spec.command_id) {
                self.fail(call, "its events carry another command id");
            }
        }
        let accounts: Vec<&str> = call
            .answer
            .outcomes
            .iter()
            .map(|o| o.account.as_str())
            .collect();
        let in_order = accounts == call.spec.op.accounts();
        match call.answer.kind {
            Kind::Ok | Kind::OkDuplicate if !in_order => {
                self.fail(
                    call,
                    "Ok, with its outcomes not in the order of its commands",
                );
            }
            _ => {}
        }
        match call.answer.kind {
            Kind::Ok => self.applied(call, &mine),
            Kind::OkDuplicate => self.duplicate(call, &mine),
            Kind::OutcomeUnknown => {
                if let Some(commit_id) = call.answer.commit_id {
                    if mine.iter().any(|e| e.commit_id != commit_id.to_string()) {
                        self.fail(
                            call,
                            "OutcomeUnknown names a commit id its events do not carry",
                        );
                    }
                }
            }
            Kind::Other => self.fail(call, "an answer the contract does not have"),
            kind if kind.not_applied() && !mine.is_empty() => {
                self.fail(
                    call,
                    "answered not applied, but its events are in the table",
                );
            }
            _ => {}
        }
    }

    /// `Ok`, not a duplicate: applied once, by this call, as reported.
    fn applied(&mut self, call: &Call, mine: &[&Stored]) {
        let reported: BTreeSet<(&str, u64, Uuid)> = call
            .answer
            .outcomes
            .iter()
            .flat_map(|o| o.events.iter().map(|(v, id)| (o.account.as_str(), *v, *id)))
            .collect();
        let stored: BTreeSet<(&str, u64, Uuid)> = mine
            .iter()
            .map(|e| (e.account.as_str(), e.version, e.event_id))
            .collect();
        if reported != stored {
            self.fail(
                call,
                "Ok, but the events carrying its id are not the ones it reported",
            );
        }
        for outcome in &call.answer.outcomes {
            if outcome.duplicate {
                self.fail(call, "Ok with duplicate flags that disagree");
            }
            if outcome
                .events
                .last()
                .is_some_and(|(v, _)| *v != outcome.version)
            {
                self.fail(call, "Ok at a version that is not its last event's");
            }
            let Some(events) = self.truth.events.get(&outcome.account) else {
                continue;
            };
            let upto = usize::try_from(outcome.version).expect("a version fits usize");
            if let (Some(reported), Some(Ok(folded))) =
                (&outcome.state, events.get(..upto).map(fold))
            {
                if *reported != folded {
                    self.fail(
                        call,
                        &format!(
                            "Ok with the state {reported:?} at {} v{}, where the events fold to {folded:?}",
                            outcome.account, outcome.version
                        ),
                    );
                }
            }
        }
        if let Op::Append {
            expected, events, ..
        } = &call.spec.op
        {
            let versions: Vec<u64> = call.answer.outcomes[0].events.iter().map(|e| e.0).collect();
            let count = u64::try_from(events.len()).expect("a count fits u64");
            if versions != (expected + 1..=expected + count).collect::<Vec<_>>() {
                self.fail(
                    call,
                    "an append answered Ok at versions other than after the one expected",
                );
            }
        }
    }

    /// `Ok` duplicate: nothing written by this call; the versions reported
    /// hold all the events of another call with the same command id, one
    /// that started before this one was answered.
    fn duplicate(&mut self, call: &Call, mine: &[&Stored]) {
        if !mine.is_empty() {
            self.fail(call, "Ok duplicate, but it wrote events of its own");
        }
        if call.answer.outcomes.iter().any(|o| !o.duplicate) {
            self.fail(call, "Ok with duplicate flags that disagree");
        }
        let mut firsts = BTreeSet::new();
        let mut reported = BTreeSet::new();
        for outcome in &call.answer.outcomes {
            let events = self.truth.events.get(&outcome.account);
            for (version, event_id) in &outcome.events {
                reported.insert((outcome.account.as_str(), *version));
                let stored = usize::try_from(*version)
                    .ok()
                    .and_then(|v| events?.get(v.checked_sub(1)?));
                match stored {
                    Some(e) if e.event_id == *event_id => {
                        firsts.insert(e.call.as_deref());
                    }
                    _ => self.fail(
                        call,
                        &format!(
                            "Ok duplicate reports {} v{version} {event_id}, not in the table",
                            outcome.account
                        ),
                    ),
                }
            }
        }
        let first = match firsts.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(first)] => self.by_id.get(first).copied(),
            _ => None,
        };
        match first {
            Some(first)
                if first.id != call.id
                    && first.spec.command_id == call.spec.command_id
                    && first.started < call.answered =>
            {
                let theirs: BTreeSet<(&str, u64)> = self
                    .mine(first)
                    .iter()
                    .map(|e| (e.account.as_str(), e.version))
                    .collect();
                if theirs != reported {
                    self.fail(
                        call,
                        &format!("Ok duplicate reports part of {}'s events", first.id),
                    );
                }
            }
            _ => self.fail(
                call,
                "Ok duplicate, but its versions hold no earlier call's events of this command id",
            ),
        }
    }

    /// Each command id: applied at most once, by the commit its record
    /// names; refused as reused only for another command than the one
    /// applied; answered with the first outcome once a success of it was
    /// answered.
    fn command_ids(&mut self) {
        let mut by_command: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
        for call in self.calls {
            if let Some(command_id) = &call.spec.command_id {
                by_command.entry(command_id).or_default().push(call);
            }
        }
        for (command_id, group) in by_command {
            let applied: Vec<&Call> = group
                .iter()
                .copied()
                .filter(|c| !self.mine(c).is_empty())
                .collect();
            if let [_, second, ..] = applied.as_slice() {
                let what = format!(
                    "command id {command_id} applied {} times, also by {}",
                    applied.len(),
                    second.id
                );
                self.fail(applied[0], &what);
                continue;
            }
            let applied = applied.first().copied();
            self.record(command_id, applied);
            for call in &group {
                self.repeat(call, &group, applied.filter(|a| a.id != call.id));
            }
        }
    }

    /// The record of `command_id` against the events of the call that
    /// applied it (`applied`), if one did. The command was applied iff
    /// events carry its id (found above, by the calls' tags): a record
    /// written in the transaction of its events proves them, and names
    /// their commit; a reservation (`reserved`, written on its own before
    /// the events) proves nothing by itself, but one stands before any
    /// event of a command on one aggregate, where its first attempt aimed
    /// them or before.
    fn record(&mut self, command_id: &str, applied: Option<&Call>) {
        let mine: Vec<&'a Stored> = applied.map(|c| self.mine(c).to_vec()).unwrap_or_default();
        let commit = mine.first().map(|e| e.commit_id.as_str());
        let by = applied.map_or("no call", |c| c.id.as_str());
        let truth: &'a Truth = self.truth;
        let record = truth.records.get(command_id);
        match record {
            Some(record) if record.reserved => {
                if record.results.len() != 1 {
                    self.violations.push(format!(
                        "command id {command_id}: its record is a reservation naming {:?}, \
                         where a command on one aggregate reserves",
                        record.results
                    ));
                }
                let outside: Vec<(&str, u64)> =
                    mine.iter()
                        .filter(|e| {
                            !record.results.iter().any(|(account, first, _)| {
                                *account == e.account && e.version >= *first
                            })
                        })
                        .map(|e| (e.account.as_str(), e.version))
                        .collect();
                if !outside.is_empty() {
                    self.violations.push(format!(
                        "command id {command_id}: its reservation aimed at {:?} (account, first, \
                         last version), its events were written at {outside:?} ({by})",
                        record.results
                    ));
                }
            }
            Some(record) => {
                if commit != Some(record.commit_id.as_str()) {
                    self.violations.push(format!(
                        "command id {command_id}: its record (written with its events) names \
                         commit {}, its events were written by commit {commit:?} ({by})",
                        record.commit_id
                    ));
                }
                // It names the versions its events hold, on each account.
                let mut written: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
                for event in &mine {
                    let range = written
                        .entry(event.account.as_str())
                        .or_insert((event.version, event.version));
                    range.0 = range.0.min(event.version);
                    range.1 = range.1.max(event.version);
                }
                let named: BTreeMap<&str, (u64, u64)> = record
                    .results
                    .iter()
                    .map(|(account, first, last)| (account.as_str(), (*first, *last)))
                    .collect();
                if !mine.is_empty() && named != written {
                    self.violations.push(format!(
                        "command id {command_id}: its record (written with its events) names \
                         the versions {named:?}, its events are at {written:?} ({by})"
                    ));
                }
            }
            None => {
                if let Some(commit) = commit {
                    self.violations.push(format!(
                        "command id {command_id}: no record, but its events were written by \
                         commit {commit} ({by})"
                    ));
                }
            }
        }
    }

    /// Whether `call`, refused as a reuse of its command id, was refused by
    /// a reservation of the id for another command (another aggregate, or
    /// another body), and says that that command was not applied so far.
    fn refused_by_a_reservation(&self, call: &Call) -> bool {
        let Some(record) = call
            .spec
            .command_id
            .as_deref()
            .and_then(|id| self.truth.records.get(id))
        else {
            return false;
        };
        let reserved_for: BTreeSet<String> = record
            .results
            .iter()
            .map(|(account, _, _)| account.clone())
            .collect();
        let ours: BTreeSet<String> = call.spec.op.accounts().into_iter().collect();
        let named: BTreeSet<String> = call.answer.first_used_for.iter().cloned().collect();
        let reserved_named: BTreeSet<String> = reserved_for
            .iter()
            .map(|account| format!("account#{account}"))
            .collect();
        record.reserved
            && named == reserved_named
            && (ours != reserved_for || call.spec.fingerprint.is_some())
            && call.answer.message.contains("has not been applied so far")
    }

    /// One of the calls of a command id (`group`), of which `first`, not
    /// this call, was applied.
    fn repeat(&mut self, call: &Call, group: &[&Call], first: Option<&Call>) {
        let compatible = first.map(|first| {
            let ours: BTreeSet<String> = call.spec.op.accounts().into_iter().collect();
            let theirs: BTreeSet<String> = first.spec.op.accounts().into_iter().collect();
            ours == theirs
                && match (&call.spec.fingerprint, &first.spec.fingerprint) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        });
        // What the other calls of the id sent and were answered, for the
        // one who reads a violation.
        let others: Vec<String> = group
            .iter()
            .filter(|other| other.id != call.id)
            .map(|other| {
                format!(
                    "{} ({}, {:?}, fingerprint {:?}) answered {} {:?} {}",
                    other.id,
                    other.spec.scenario,
                    other.spec.op,
                    other.spec.fingerprint,
                    other.answer.kind.name(),
                    other.answer.outcomes,
                    other.answer.message
                )
            })
            .collect();
        let others = format!("; the other calls of the id: {others:?}");
        let kind = call.answer.kind;
        match (kind, first, compatible) {
            (Kind::CommandIdReused, Some(first), Some(false)) => {
                let named: BTreeSet<String> = call.answer.first_used_for.iter().cloned().collect();
                let theirs: BTreeSet<String> = first
                    .spec
                    .op
                    .accounts()
                    .iter()
                    .map(|a| format!("account#{a}"))
                    .collect();
                if named != theirs {
                    let what = format!(
                        "CommandIdReused names {named:?}, first used for {theirs:?}{others}"
                    );
                    self.fail(call, &what);
                }
            }
            // No command of the id applied: only a reservation by another
            // command of it (whose commit may still be on its way) may
            // refuse it, and the refusal must say that it was not applied.
            (Kind::CommandIdReused, None, _) if self.refused_by_a_reservation(call) => {}
            (Kind::CommandIdReused, _, _) => {
                // A reservation alone is no application: say so, for the
                // one who reads the violation.
                let record = match call
                    .spec
                    .command_id
                    .as_deref()
                    .and_then(|id| self.truth.records.get(id))
                {
                    Some(record) if record.reserved => format!(
                        " (its record is a reservation, by commit {}, aimed at {:?}, and no event \
                         carries the id)",
                        record.commit_id, record.results
                    ),
                    Some(record) => format!(" (its record names commit {})", record.commit_id),
                    None => " (no record is stored)".to_owned(),
                };
                let record = format!("{record}{others}");
                self.fail(
                    call,
                    &format!(
                        "CommandIdReused, but no other command of this id was applied{record}"
                    ),
                );
            }
            (Kind::OkDuplicate, Some(_), Some(false)) => {
                self.fail(
                    call,
                    &format!("Ok duplicate: another command's outcome{others}"),
                );
            }
            _ => {}
        }
        // A success of this id answered before this call started: its
        // record was there all along.
        let known = group.iter().any(|other| {
            other.id != call.id
                && matches!(other.answer.kind, Kind::Ok | Kind::OkDuplicate)
                && other.answered < call.started
        });
        if let (true, Some(compatible)) = (known, compatible) {
            let expected = if compatible {
                Kind::OkDuplicate
            } else {
                Kind::CommandIdReused
            };
            if kind != expected && !kind.unsettled() {
                let what = format!(
                    "the command was applied and answered before this call started: expected {}{others}",
                    expected.name()
                );
                self.fail(call, &what);
            }
        }
    }
}

// ------------------------------------------------------------------ the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_under_faults_is_true() {
    let seed = env_number("DYNAGO_CHECKER_SEED").unwrap_or_else(|| fastrand::u64(..));
    let commands = env_number("DYNAGO_CHECKER_COMMANDS")
        .map_or(DEFAULT_COMMANDS, |n| {
            usize::try_from(n).expect("a count fits usize")
        })
        .max(1);
    println!(
        "outcome checker: seed {seed} (rerun with DYNAGO_CHECKER_SEED={seed}), {commands} commands"
    );
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed);
    // One phase opens with a storm on the writes, one has a hot account.
    let storm_phase = rng.usize(..PHASES);
    let hot_phase = rng.usize(..PHASES);
    let plans: Vec<FaultPlan> = (0..PHASES)
        .map(|phase| {
            let plan = phase_plan(&mut rng, phase);
            if phase == storm_phase {
                storm(&mut rng, plan)
            } else {
                plan
            }
        })
        .collect();
    println!("outcome checker: seed {seed}: a storm of write faults opens phase {storm_phase}, phase {hot_phase} is hot, of {PHASES}");

    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, plans[0].clone(), SDK_ATTEMPTS, |o| {
        o.attempt_timeout(ATTEMPT_TIMEOUT)
    })
    .await;
    // Four kinds of writer: plain, cached, snapshotting, both.
    let stores = [
        StoreOptions::default(),
        StoreOptions::default().cache(64),
        StoreOptions::default().snapshots(SnapshotPolicy::Every(4)),
        StoreOptions::default()
            .cache(64)
            .snapshots(SnapshotPolicy::Every(3)),
    ]
    .into_iter()
    .map(|options| EventStore::<Account>::new(proxied.clone(), options).expect("a store"))
    .collect();
    let account_count = rng.usize(10..=16);
    let workload = Arc::new(Workload {
        seed,
        commands,
        accounts: (0..account_count).map(|n| format!("acc-{n:02}")).collect(),
        stores,
        proxy,
        plans,
        phase: AtomicUsize::new(0),
        hot_phase,
        next_call: AtomicUsize::new(0),
        next_command_id: AtomicUsize::new(0),
        steps: AtomicUsize::new(0),
        loads_failed: AtomicUsize::new(0),
        calls: Mutex::new(Vec::new()),
    });

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let workload = Arc::clone(&workload);
            let mut rng = fastrand::Rng::with_seed(rng.u64(..));
            tokio::spawn(async move {
                while workload.calls_made() < workload.commands {
                    workload.step(task, &mut rng).await;
                }
            })
        })
        .collect();
    let ran = tokio::time::timeout(Duration::from_secs(600), futures::future::join_all(tasks))
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: the workload did not end within 10 minutes"));
    for task in ran {
        task.unwrap_or_else(|e| panic!("seed {seed}: a task of the workload failed: {e}"));
    }
    let workload_time = started.elapsed();

    workload.proxy.set_plan(FaultPlan::default());
    tokio::time::timeout(Duration::from_secs(60), workload.proxy.settled())
        .await
        .unwrap_or_else(|_| {
            panic!("seed {seed}: the held and duplicated deliveries did not settle")
        });
    tokio::time::sleep(STORM_HOLD.max(HOLD) + Duration::from_millis(300)).await;
    let truth = read_truth(&direct, &workload.accounts).await;

    let calls = std::mem::take(
        &mut *workload
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let violations = check(&calls, &truth);

    let mut counts: BTreeMap<Kind, usize> = BTreeMap::new();
    for call in &calls {
        *counts.entry(call.answer.kind).or_default() += 1;
    }
    let stats = workload.proxy.stats();
    let events: usize = truth.events.values().map(Vec::len).sum();
    let tagged: BTreeSet<&str> = truth
        .events
        .values()
        .flatten()
        .filter_map(|e| e.call.as_deref())
        .collect();
    let unknown_landed = calls
        .iter()
        .filter(|c| c.answer.kind == Kind::OutcomeUnknown && tagged.contains(c.id.as_str()))
        .count();
    println!(
        "outcome checker: seed {seed}: {} calls on {account_count} accounts in {workload_time:.1?} \
         ({:.1?} in all), {events} events, {} loads for appends failed",
        calls.len(),
        started.elapsed(),
        workload.loads_failed.load(Ordering::SeqCst),
    );
    let reserved = truth.records.values().filter(|r| r.reserved).count();
    let commands_applied: BTreeSet<&str> = truth
        .events
        .values()
        .flatten()
        .filter_map(|e| e.command_id.as_deref())
        .collect();
    let reserved_applied = truth
        .records
        .iter()
        .filter(|(id, r)| r.reserved && commands_applied.contains(id.as_str()))
        .count();
    println!(
        "outcome checker: seed {seed}: {} event items ({} of several events), {} command \
         records in transactions, {reserved} reservations ({reserved_applied} of them applied)",
        truth.items,
        truth.commit_items,
        truth.records.len() - reserved,
    );
    println!(
        "outcome checker: seed {seed}: answers: {} ({unknown_landed} of the unknown outcomes applied)",
        counts
            .iter()
            .map(|(kind, n)| format!("{} {n}", kind.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "outcome checker: seed {seed}: proxy: {} requests, {} delayed, {} resets, {} throttled, \
         {} failed, {} answers dropped, {} held ({} delivered late), {} duplicated, {} tokens stripped",
        stats.requests,
        stats.delayed,
        stats.resets,
        stats.throttled,
        stats.failed,
        stats.dropped_answers,
        stats.held,
        stats.delivered_late,
        stats.duplicated,
        stats.tokens_stripped,
    );
    let mut examples: BTreeMap<Kind, &Call> = BTreeMap::new();
    for call in &calls {
        examples.entry(call.answer.kind).or_insert(call);
    }
    for (kind, call) in examples
        .iter()
        .filter(|(_, c)| !c.answer.message.is_empty())
    {
        println!(
            "outcome checker: seed {seed}: e.g. {}: {} ({}): {}",
            kind.name(),
            call.id,
            call.spec.scenario,
            call.answer.message
        );
    }
    for violation in violations.iter().take(20) {
        println!("outcome checker: seed {seed}: VIOLATION {violation}");
    }
    assert!(
        violations.is_empty(),
        "seed {seed} (rerun with DYNAGO_CHECKER_SEED={seed}): {} answers broke the contract; the first: {}",
        violations.len(),
        violations.iter().take(5).cloned().collect::<Vec<_>>().join("\n---\n")
    );
}
