//! The ledger keeps every promise under faults.
//!
//! Deposits, withdrawals and transfers from several tasks, each sent with a
//! command id, go through a proxy that throttles, resets connections and
//! loses answers after the commit, or across a server that stops and comes
//! back mid-run. Every command carries a command id, and the caller sends it again with
//! the same id after any error (not after a refusal, which is an answer):
//! that is how [`Ledger::submit`] is meant to be used. Half the tasks use a
//! client that retries nothing itself (one SDK attempt, one store attempt),
//! so that lost answers reach the caller, whose resend must be answered
//! `duplicate`; the other half the ledger's patient defaults, so that the
//! SDK's and the store's own resends are exercised too. At the end, read back
//! from the table without the proxy:
//!
//! - no money created or lost, every transfer whole, versions contiguous,
//!   snapshots right ([`ledger::audit`]);
//! - every command that was answered as applied is in the table exactly
//!   once: its events (one, or two for a transfer) all carry its command id,
//!   all come from one commit, hold what the command asked, and are at the
//!   versions its answer named; a refused command left no event;
//! - every refusal is the account's own: insufficient funds on the account
//!   the money would leave, for the amount asked, stating a balance below
//!   it that the account did hold at one of its versions;
//! - the callers sent a command again only after an error that is a reason
//!   to: a transient one (throttling, a network error, a server error), the
//!   store's retries running out, or an answer lost with the outcome
//!   unknown; any other error fails the run at once;
//! - every applied command sent once more is answered `duplicate` and
//!   changes nothing (a refused one is not recorded, so sending it again
//!   decides it again: it is left out).
//!
//! The fault runs go through the server `dynago_local::shared()` names (the
//! embedded emulator, or DynamoDB Local with `DYNAGO_BACKEND=dynamodb-local`).
//! The restart run always uses the embedded emulator on a file
//! (`Backend::EmbeddedFile`): DynamoDB Local keeps its tables in memory, and
//! a restarted one would have lost them.
//!
//! Each run prints what it did and what was injected; see them with
//! `cargo test -p ledger --test faults -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dynago::{string_value, RetryPolicy, TableOptions};
use dynago_es::Aggregate;
use dynago_es::CommandId;
use dynago_local::{Backend, FaultPlan, FaultProxy, LocalDynamo, ProxyStats, Throttle};
use futures::{StreamExt, TryStreamExt};
use ledger::{
    audit, Account, AccountError, AccountEvent, AccountId, Currency, Expected, Ledger, LedgerError,
    Money, Operation, Submitted, Transfer,
};
use serde::Deserialize;

/// Each account's first deposit: 500.00.
const FIRST_DEPOSIT: Money = Money::from_cents(50_000);

/// How long a caller keeps sending one command again before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// The four answers a throttling proxy can give.
const THROTTLES: [Throttle; 4] = [
    Throttle::ProvisionedThroughputExceeded,
    Throttle::Throttling,
    Throttle::InternalServerError,
    Throttle::ServiceUnavailable,
];

/// The table options of a client that goes through `proxy`: one HTTP attempt
/// may take 750 ms (a lost answer fails at once anyway: the proxy closes
/// the connection), three SDK attempts per request, 5 ms backoff.
fn through(proxy: &FaultProxy, table: &str) -> TableOptions {
    proxy
        .table_options(table)
        .attempt_timeout(Duration::from_millis(750))
        .sdk_max_attempts(3)
        .sdk_initial_backoff(Duration::from_millis(5))
}

/// The clients of a run, all through `proxy`: a patient one, whose SDK and
/// store send a failed request again themselves (the ledger's own store
/// options), and an impatient one, whose SDK makes one attempt and whose
/// store makes one, so that a lost answer, a throttle or a conflict reaches
/// its caller, who sends the command again.
///
/// The impatient one has no cache: a store that makes one attempt never
/// refreshes a cached state that another writer left behind (a conflict does
/// not update the cache), so each resend would conflict again, for ever.
async fn clients(proxy: &FaultProxy, table: &str) -> [Ledger; 2] {
    let patient = Ledger::connect(through(proxy, table), ledger::store_options())
        .await
        .expect("a ledger through the proxy");
    let impatient = Ledger::connect(
        through(proxy, table).sdk_max_attempts(1),
        ledger::store_options()
            .cache(0)
            .retry(RetryPolicy::default().max_attempts(1)),
    )
    .await
    .expect("a ledger through the proxy");
    [patient, impatient]
}

fn eur() -> Currency {
    "EUR".parse().expect("a currency")
}

/// A fresh table through `direct` (no proxy), with `count` accounts opened
/// and given their first deposit.
async fn open_accounts(direct: &Ledger, count: usize) -> Vec<AccountId> {
    direct.create_table_if_missing().await.expect("the table");
    let mut accounts = Vec::new();
    for n in 0..count {
        let id: AccountId = format!("acc-{n}").parse().expect("an id");
        direct.open(&id, "Test", eur()).await.expect("open");
        direct.deposit(&id, FIRST_DEPOSIT).await.expect("deposit");
        accounts.push(id);
    }
    accounts
}

/// What became of a command in the end.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    /// Applied; the answer that said so.
    Applied(Submitted),
    /// Refused by an account for insufficient funds (nothing written),
    /// with the balance the refusal stated.
    Refused {
        /// The account that refused.
        account: AccountId,
        /// The balance it stated.
        balance: Money,
    },
}

/// One command of a run: its id, what it asked, what became of it.
#[derive(Debug, Clone)]
struct Sent {
    id: CommandId,
    operation: Operation,
    fate: Fate,
}

/// What the callers saw, besides the fates: errors they sent a command
/// again after, by kind.
#[derive(Debug, Default)]
struct Resends {
    by_kind: BTreeMap<&'static str, usize>,
    examples: Vec<String>,
}

impl Resends {
    fn total(&self) -> usize {
        self.by_kind.values().sum()
    }
}

/// The kind of an error that is a reason to send the command again, or
/// `None` for one that is not (a bug, a validation error, a corrupt
/// stream, a command id taken for another command...).
fn kind_of(error: &LedgerError) -> Option<&'static str> {
    match error {
        LedgerError::Store(dynago_es::Error::RetriesExhausted { .. }) => {
            Some("store retries exhausted")
        }
        LedgerError::Store(error) if error.is_outcome_unknown() => Some("outcome unknown"),
        LedgerError::Store(error) if error.is_retryable() => Some("transient (throttle, network)"),
        LedgerError::Table(error) if error.is_retryable() => Some("transient (throttle, network)"),
        _ => None,
    }
}

/// The account money would leave under `operation`, and the amount.
fn debited(operation: &Operation) -> Option<(&AccountId, Money)> {
    match operation {
        Operation::Deposit { .. } => None,
        Operation::Withdraw { account, amount } => Some((account, *amount)),
        Operation::Transfer(transfer) => Some((&transfer.from, transfer.amount)),
    }
}

/// Checks that `error`, the refusal of `operation`, is the one refusal
/// the run can meet: insufficient funds on the debited account, for the
/// amount asked, stating a balance below it. Returns the fate.
fn refusal(operation: &Operation, id: &CommandId, error: &LedgerError) -> Fate {
    let LedgerError::Refused { account, reason } = error else {
        unreachable!("called for refusals only");
    };
    let Some((debited, amount)) = debited(operation) else {
        panic!("deposit {id} refused: {error}");
    };
    assert_eq!(
        account, debited,
        "{id}: refused by another account: {error}"
    );
    match reason {
        AccountError::InsufficientFunds {
            balance,
            asked,
            currency,
        } => {
            assert_eq!(*asked, amount, "{id}: {error}");
            assert_eq!(*currency, eur(), "{id}: {error}");
            assert!(balance.cents() < asked.cents(), "{id}: {error}");
            assert!(balance.cents() >= 0, "{id}: {error}");
            Fate::Refused {
                account: account.clone(),
                balance: *balance,
            }
        }
        other => panic!("{id}: refused for another reason than funds: {other}"),
    }
}

/// Sends `operation` with `id` until an answer comes: applied (perhaps as
/// a duplicate) or refused. Any other error is noted in `resends` and the
/// same command is sent again, after a short pause.
async fn submit_until_answered(
    ledger: &Ledger,
    operation: &Operation,
    id: &CommandId,
    resends: &Mutex<Resends>,
    errors: &AtomicUsize,
) -> Fate {
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match ledger.submit(operation, id).await {
            Ok(submitted) => return Fate::Applied(submitted),
            Err(error @ LedgerError::Refused { .. }) => return refusal(operation, id, &error),
            Err(error) => {
                let Some(kind) = kind_of(&error) else {
                    panic!("command {id} failed with an error that is no reason to send it again: {error:?}");
                };
                errors.fetch_add(1, Ordering::Relaxed);
                {
                    let mut resends = resends.lock().expect("resends");
                    *resends.by_kind.entry(kind).or_default() += 1;
                    if resends.examples.len() < 3 {
                        let mut text = error.to_string();
                        if let Some((cut, _)) = text.char_indices().nth(150) {
                            text.truncate(cut);
                            text.push_str("...");
                        }
                        resends.examples.push(text);
                    }
                }
                assert!(
                    started.elapsed() < PATIENCE,
                    "command {id} still failing after {PATIENCE:?}: {error}"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// The `n`th command of a task: 40 % deposits, 20 % withdrawals, 40 %
/// transfers, amounts in whole cents.
fn operation(rng: &mut fastrand::Rng, accounts: &[AccountId]) -> Operation {
    let account = accounts[rng.usize(..accounts.len())].clone();
    let roll = rng.u8(..100);
    if roll < 40 {
        Operation::Deposit {
            account,
            amount: Money::from_cents(rng.i64(100..=5_000)),
        }
    } else if roll < 60 {
        Operation::Withdraw {
            account,
            amount: Money::from_cents(rng.i64(100..=8_000)),
        }
    } else {
        let from = rng.usize(..accounts.len());
        let to = (from + 1 + rng.usize(..accounts.len() - 1)) % accounts.len();
        Operation::Transfer(Transfer {
            from: accounts[from].clone(),
            to: accounts[to].clone(),
            amount: Money::from_cents(rng.i64(100..=6_000)),
            currency: eur(),
        })
    }
}

/// A round: `tasks` tasks, each sending `commands` commands one after the
/// other, with ids `{round}-t{task}-c{n}`, task `i` through client
/// `i % clients`. `answered` counts the commands that got their answer,
/// `errors` the errors sent again after.
struct Round<'a> {
    name: String,
    tasks: usize,
    commands: usize,
    seed: u64,
    answered: &'a Arc<AtomicUsize>,
    errors: &'a Arc<AtomicUsize>,
}

async fn run_round(
    clients: &[Ledger],
    accounts: &[AccountId],
    round: Round<'_>,
    resends: &Arc<Mutex<Resends>>,
) -> Vec<Sent> {
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..round.tasks {
        let ledger = clients[task % clients.len()].clone();
        let accounts = accounts.to_vec();
        let resends = Arc::clone(resends);
        let (answered, errors) = (Arc::clone(round.answered), Arc::clone(round.errors));
        let name = round.name.clone();
        let seed = round.seed.wrapping_mul(1000).wrapping_add(task as u64);
        let commands = round.commands;
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut sent = Vec::new();
            for n in 0..commands {
                let operation = operation(&mut rng, &accounts);
                let id = CommandId::new(format!("{name}-t{task}-c{n}"));
                let fate = submit_until_answered(&ledger, &operation, &id, &resends, &errors).await;
                answered.fetch_add(1, Ordering::Relaxed);
                sent.push(Sent {
                    id,
                    operation,
                    fate,
                });
            }
            sent
        });
    }
    let mut sent = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        sent.extend(joined.expect("a task ended without a panic"));
    }
    sent
}

/// An event item as stored: the attributes the checks read.
#[derive(Debug, Deserialize)]
struct StoredEvent {
    version: u64,
    commit_id: String,
}

/// One stored event, as the checks see it.
#[derive(Debug, Clone)]
struct Found {
    account: AccountId,
    version: u64,
    commit: String,
    payload: AccountEvent,
}

/// Every event of `accounts` that carries a command id, by command id;
/// and how many events carry none.
async fn events_by_command(
    direct: &Ledger,
    accounts: &[AccountId],
) -> (BTreeMap<String, Vec<Found>>, usize) {
    let mut by_command: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    let mut without = 0;
    for account in accounts {
        let commits: BTreeMap<u64, String> = direct
            .table()
            .query("pk = :pk AND begins_with(sk, :events)")
            .value(":pk", string_value(format!("account#{account}")))
            .value(":events", string_value("e#"))
            .consistent_read(true)
            .stream::<StoredEvent>()
            .map_ok(|event| (event.version, event.commit_id))
            .try_collect()
            .await
            .expect("the raw events");
        let events: Vec<_> = direct
            .store()
            .events(account, 1)
            .try_collect()
            .await
            .expect("the events");
        assert_eq!(events.len(), commits.len(), "{account}");
        for event in events {
            let Some(command) = event.metadata.command_id.clone() else {
                without += 1;
                continue;
            };
            by_command.entry(command).or_default().push(Found {
                account: account.clone(),
                version: event.version,
                commit: commits.get(&event.version).cloned().unwrap_or_else(|| {
                    panic!("{account} v{}: no stored event item", event.version)
                }),
                payload: event.payload,
            });
        }
    }
    (by_command, without)
}

/// The events `operation` must have written, by account.
fn expected_events(operation: &Operation) -> Vec<(AccountId, AccountEvent)> {
    match operation {
        Operation::Deposit { account, amount } => {
            vec![(account.clone(), AccountEvent::Deposited { amount: *amount })]
        }
        Operation::Withdraw { account, amount } => {
            vec![(account.clone(), AccountEvent::Withdrawn { amount: *amount })]
        }
        Operation::Transfer(transfer) => vec![
            (
                transfer.from.clone(),
                AccountEvent::Debited {
                    to: transfer.to.clone(),
                    amount: transfer.amount,
                },
            ),
            (
                transfer.to.clone(),
                AccountEvent::Credited {
                    from: transfer.from.clone(),
                    amount: transfer.amount,
                },
            ),
        ],
    }
}

/// Every balance each account held, one for each of its versions, replayed
/// from its events read without the proxy.
async fn balances(direct: &Ledger, accounts: &[AccountId]) -> BTreeMap<AccountId, BTreeSet<Money>> {
    let mut all = BTreeMap::new();
    for account in accounts {
        let events: Vec<_> = direct
            .store()
            .events(account, 1)
            .try_collect()
            .await
            .expect("the events");
        let mut state = Account::default();
        let mut held = BTreeSet::new();
        for event in &events {
            state.apply(&event.payload);
            held.insert(state.balance());
        }
        all.insert(account.clone(), held);
    }
    all
}

/// The version and balance of every account, read without the proxy.
async fn books(direct: &Ledger, accounts: &[AccountId]) -> Vec<(u64, Money)> {
    let mut books = Vec::new();
    for account in accounts {
        let statement = direct.statement(account).await.expect("a statement");
        books.push((statement.version, statement.state.balance()));
    }
    books
}

/// What the checks found, for the report.
struct Verdict {
    applied: usize,
    refused: usize,
    duplicate_answers: usize,
    applied_twice: usize,
    events: usize,
    checks: Vec<String>,
}

/// Every check of the module's documentation but the re-execution; panics
/// on the first broken promise.
async fn check_exactly_once(direct: &Ledger, accounts: &[AccountId], sent: &[Sent]) -> Verdict {
    // Money and versions.
    let mut deposited = FIRST_DEPOSIT.cents() * i64::try_from(accounts.len()).expect("few");
    let mut withdrawn = 0;
    for command in sent {
        if let Fate::Applied(_) = command.fate {
            match &command.operation {
                Operation::Deposit { amount, .. } => deposited += amount.cents(),
                Operation::Withdraw { amount, .. } => withdrawn += amount.cents(),
                _ => {}
            }
        }
    }
    let expected = Expected {
        currency: eur(),
        deposited: Money::from_cents(deposited),
        withdrawn: Money::from_cents(withdrawn),
    };
    let checks = audit(direct, accounts, expected).await.expect("the audit");
    for check in &checks {
        assert!(check.passed, "{check}");
    }

    // Exactly once, by command id.
    let (mut by_command, without) = events_by_command(direct, accounts).await;
    let balances = balances(direct, accounts).await;
    assert_eq!(
        without,
        2 * accounts.len(),
        "only the opening and first deposit carry no command id"
    );
    let mut verdict = Verdict {
        applied: 0,
        refused: 0,
        duplicate_answers: 0,
        applied_twice: 0,
        events: by_command.values().map(Vec::len).sum(),
        checks: checks.iter().map(ToString::to_string).collect(),
    };
    let mut ids = BTreeSet::new();
    for command in sent {
        assert!(ids.insert(command.id.clone()), "{} sent twice", command.id);
        let found = by_command.remove(command.id.as_str());
        let answer = match &command.fate {
            Fate::Applied(answer) => answer,
            Fate::Refused { account, balance } => {
                verdict.refused += 1;
                assert!(found.is_none(), "refused {} wrote {found:?}", command.id);
                assert!(
                    balances[account].contains(balance),
                    "{}: refused stating {account}'s balance {balance}, which it never had: {:?}",
                    command.id,
                    balances[account]
                );
                continue;
            }
        };
        let found =
            found.unwrap_or_else(|| panic!("{} answered applied, wrote nothing", command.id));
        verdict.applied += 1;
        verdict.duplicate_answers += usize::from(answer.duplicate);
        let commits: BTreeSet<&str> = found.iter().map(|f| f.commit.as_str()).collect();
        if commits.len() > 1 || found.len() > expected_events(&command.operation).len() {
            verdict.applied_twice += 1;
        }
        assert_eq!(commits.len(), 1, "{}: events of {commits:?}", command.id);
        let stored: Vec<(AccountId, AccountEvent)> = found
            .iter()
            .map(|f| (f.account.clone(), f.payload.clone()))
            .collect();
        let mut wanted = expected_events(&command.operation);
        let mut stored_sorted = stored.clone();
        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        stored_sorted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(stored_sorted, wanted, "{}: what was stored", command.id);
        for (account, version) in &answer.versions {
            assert!(
                found
                    .iter()
                    .any(|f| &f.account == account && f.version == *version),
                "{}: answered {account} v{version}, stored {found:?}",
                command.id
            );
        }
    }
    assert!(
        by_command.is_empty(),
        "events of commands never sent: {:?}",
        by_command.keys().collect::<Vec<_>>()
    );
    assert_eq!(verdict.applied_twice, 0);
    verdict
}

/// Sends every applied command once more (through `ledger`, faults and
/// all): each must be answered `duplicate`, and the books must not move.
async fn check_resend_changes_nothing(
    ledger: &Ledger,
    direct: &Ledger,
    accounts: &[AccountId],
    sent: &[Sent],
) -> usize {
    let before = books(direct, accounts).await;
    let resends = Mutex::new(Resends::default());
    let errors = AtomicUsize::new(0);
    let applied = sent.iter().filter_map(|command| match &command.fate {
        Fate::Applied(first) => Some((command, first)),
        Fate::Refused { .. } => None,
    });
    // Eight at a time.
    let again = futures::stream::iter(applied)
        .map(|(command, first)| {
            let (resends, errors) = (&resends, &errors);
            async move {
                let fate =
                    submit_until_answered(ledger, &command.operation, &command.id, resends, errors)
                        .await;
                let Fate::Applied(answer) = fate else {
                    panic!("{} refused when sent again", command.id);
                };
                assert!(answer.duplicate, "{} applied again: {answer:?}", command.id);
                assert_eq!(answer.versions, first.versions, "{}", command.id);
            }
        })
        .buffer_unordered(8)
        .count()
        .await;
    assert_eq!(
        books(direct, accounts).await,
        before,
        "sent again, it moved"
    );
    again
}

fn row(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {name:<50} {value}");
}

#[allow(clippy::cast_precision_loss, reason = "small counts")]
fn percent(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

/// 20 % of requests faulted: 5 % resets, 8 % throttled (as `kind`), 7 %
/// answers dropped after the request committed; and 5 % delayed by 25 ms.
fn plan(seed: u64, kind: Throttle, strip: bool) -> FaultPlan {
    FaultPlan::default()
        .seed(seed)
        .reset(0.05)
        .throttle(kind, 0.08)
        .drop_answer(0.07)
        .latency(Duration::from_millis(25), 0.05)
        .strip_client_request_tokens(strip)
}

/// One lost answer that surely reaches a caller, whatever the random
/// faults did: the next commit through `impatient` lands, its answer is
/// lost, and so is the read that would settle it. The caller is told the
/// outcome is unknown, sends the command again, and is answered
/// `duplicate`.
async fn lost_answer_reaches_the_caller(
    proxy: &FaultProxy,
    impatient: &Ledger,
    accounts: &[AccountId],
    strip: bool,
    resends: &Mutex<Resends>,
) -> Sent {
    let unknown_before = outcomes_unknown(resends);
    // A deposit with a command id reserves its record (a `PutItem` left
    // alone here), then writes its commit (the `PutItem` whose answer is
    // lost).
    proxy.set_plan(
        FaultPlan::default()
            .operation("PutItem")
            .first(1)
            .strip_client_request_tokens(strip)
            .then(
                FaultPlan::default()
                    .drop_answer(1.0)
                    .operation("PutItem")
                    .first(1)
                    .strip_client_request_tokens(strip)
                    .then(
                        FaultPlan::default()
                            .throttle(Throttle::Throttling, 1.0)
                            .first(1)
                            .strip_client_request_tokens(strip),
                    ),
            ),
    );
    let operation = Operation::Deposit {
        account: accounts[0].clone(),
        amount: Money::from_cents(123),
    };
    let id = CommandId::new("lost-once");
    let errors = AtomicUsize::new(0);
    let fate = submit_until_answered(impatient, &operation, &id, resends, &errors).await;
    proxy.set_plan(FaultPlan::default().strip_client_request_tokens(strip));
    match &fate {
        Fate::Applied(answer) => assert!(answer.duplicate, "{id}: {answer:?}"),
        Fate::Refused { .. } => panic!("{id}: a deposit refused"),
    }
    assert!(
        outcomes_unknown(resends) > unknown_before,
        "the lost answer reached the caller as an unknown outcome: {:?}",
        resends.lock().expect("resends").by_kind
    );
    Sent {
        id,
        operation,
        fate,
    }
}

fn outcomes_unknown(resends: &Mutex<Resends>) -> usize {
    resends
        .lock()
        .expect("resends")
        .by_kind
        .get("outcome unknown")
        .copied()
        .unwrap_or(0)
}

/// The stress under faults: four rounds, one per kind of throttling answer.
async fn stress_under_faults(seed: u64, strip: bool) {
    const ACCOUNTS: usize = 4;
    const TASKS: usize = 6;
    const COMMANDS_PER_ROUND: usize = 10;
    let started = Instant::now();
    let dynamo = dynago_local::shared().await.expect("a DynamoDB server");
    let name = dynago_local::unique_table_name("ledger-faults");
    let direct = Ledger::connect(dynamo.table_options(&name), ledger::store_options())
        .await
        .expect("a ledger");
    let accounts = open_accounts(&direct, ACCOUNTS).await;
    let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
        .await
        .expect("a fault proxy");
    let clients = clients(&proxy, &name).await;

    let resends = Arc::new(Mutex::new(Resends::default()));
    let (answered, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut sent = Vec::new();
    let mut throttled_by_kind = Vec::new();
    for (round, kind) in THROTTLES.into_iter().enumerate() {
        let round_seed = seed + round as u64;
        proxy.set_plan(plan(round_seed, kind, strip));
        let before = proxy.stats().throttled;
        let round = Round {
            name: format!("r{round}"),
            tasks: TASKS,
            commands: COMMANDS_PER_ROUND,
            seed: round_seed,
            answered: &answered,
            errors: &errors,
        };
        sent.extend(run_round(&clients, &accounts, round, &resends).await);
        throttled_by_kind.push((kind, proxy.stats().throttled - before));
    }
    let stats = proxy.stats();
    sent.push(
        lost_answer_reaches_the_caller(&proxy, &clients[1], &accounts, strip, &resends).await,
    );
    // And one refusal, whatever the random amounts did: more than all the
    // money there is.
    let greedy = Operation::Withdraw {
        account: accounts[1].clone(),
        amount: Money::from_cents(100_000_000),
    };
    let id = CommandId::new("greedy");
    let fate = submit_until_answered(&clients[0], &greedy, &id, &resends, &errors).await;
    assert!(matches!(fate, Fate::Refused { .. }), "{fate:?}");
    sent.push(Sent {
        id,
        operation: greedy,
        fate,
    });
    answered.fetch_add(2, Ordering::Relaxed);
    let run_time = started.elapsed();

    let verdict = check_exactly_once(&direct, &accounts, &sent).await;
    // Once more, every applied command, under the same faults.
    proxy.set_plan(plan(seed + 100, Throttle::Throttling, strip));
    let again = check_resend_changes_nothing(&clients[1], &direct, &accounts, &sent).await;
    let check_time = started.elapsed() - run_time;

    let resends = resends.lock().expect("resends");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ledger under faults: seed {seed}, client request tokens {}",
        if strip { "stripped" } else { "kept" }
    );
    report_run(&mut out, &sent, &verdict, &resends);
    report_faults(&mut out, &stats, &throttled_by_kind);
    report_end(&mut out, again, run_time, check_time, &verdict);
    println!("{out}");

    // The faults did happen, in the planned share.
    assert!(stats.resets > 0, "{stats:?}");
    assert!(stats.dropped_answers > 0, "{stats:?}");
    assert!(stats.delayed > 0, "{stats:?}");
    for (kind, count) in &throttled_by_kind {
        assert!(*count > 0, "no {kind:?}: {stats:?}");
    }
    let faulted = stats.resets + stats.throttled + stats.dropped_answers;
    let share = percent(faulted, stats.requests);
    assert!((12.0..28.0).contains(&share), "{share:.1} %: {stats:?}");
    assert_eq!(stats.tokens_stripped > 0, strip, "{stats:?}");
    assert_eq!(stats.upstream_errors, 0, "{stats:?}");
    assert_eq!(sent.len(), THROTTLES.len() * TASKS * COMMANDS_PER_ROUND + 2);
    assert!(verdict.refused > 0, "a refusal, checked");
    // The impatient callers met throttling and network errors themselves.
    assert!(
        resends
            .by_kind
            .get("transient (throttle, network)")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        resends.by_kind
    );
    assert_eq!(answered.load(Ordering::Relaxed), sent.len());
    assert!(verdict.applied > sent.len() / 2, "mostly applied");
    assert!(
        verdict.duplicate_answers > 0,
        "no lost answer reached a caller"
    );
}

/// The report's last rows: the resends after the run, the times, and the
/// checks.
fn report_end(
    out: &mut String,
    again: usize,
    run_time: Duration,
    check_time: Duration,
    verdict: &Verdict,
) {
    row(
        out,
        "applied commands sent again afterwards",
        format!("{again}, all answered `duplicate`, books unchanged"),
    );
    row(
        out,
        "time (s): run, checks and resends",
        format!(
            "{:.1}, {:.1}",
            run_time.as_secs_f64(),
            check_time.as_secs_f64()
        ),
    );
    for check in &verdict.checks {
        let _ = writeln!(out, "  {check}");
    }
}

fn report_run(out: &mut String, sent: &[Sent], verdict: &Verdict, resends: &Resends) {
    let count = |kind: fn(&Operation) -> bool| {
        sent.iter()
            .filter(|s| matches!(s.fate, Fate::Applied(_)) && kind(&s.operation))
            .count()
    };
    row(
        out,
        "commands (each with its own command id)",
        format!(
            "{} ({} applied: {} deposits, {} withdrawals, {} transfers; {} refused)",
            sent.len(),
            verdict.applied,
            count(|o| matches!(o, Operation::Deposit { .. })),
            count(|o| matches!(o, Operation::Withdraw { .. })),
            count(|o| matches!(o, Operation::Transfer(_))),
            verdict.refused,
        ),
    );
    let kinds: Vec<String> = resends
        .by_kind
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    row(
        out,
        "sent again by the caller after an error",
        format!("{} ({})", resends.total(), kinds.join(", ")),
    );
    for example in &resends.examples {
        let _ = writeln!(out, "    e.g. {example}");
    }
    row(
        out,
        "answered `duplicate` (landed, answer lost)",
        verdict.duplicate_answers,
    );
    row(
        out,
        "events with a command id",
        format!("{}, each command id in exactly one commit", verdict.events),
    );
    row(
        out,
        "commands applied twice (must be 0)",
        verdict.applied_twice,
    );
}

fn report_faults(out: &mut String, stats: &ProxyStats, throttled: &[(Throttle, u64)]) {
    let faulted = stats.resets + stats.throttled + stats.dropped_answers;
    row(out, "requests through the proxy", stats.requests);
    row(
        out,
        "faulted (planned 20 %)",
        format!("{faulted} ({:.1} %)", percent(faulted, stats.requests)),
    );
    row(out, "  connection reset before forwarding", stats.resets);
    for (kind, count) in throttled {
        row(
            out,
            &format!("  {} (HTTP {})", kind.error_type(), kind.status()),
            count,
        );
    }
    row(
        out,
        "  answer dropped after the commit",
        stats.dropped_answers,
    );
    row(out, "delayed 25 ms (on top)", stats.delayed);
    row(out, "ClientRequestToken stripped", stats.tokens_stripped);
    row(
        out,
        "upstream unreachable (HTTP 502)",
        stats.upstream_errors,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_promise_holds_under_faults() {
    stress_under_faults(20_240_611, false).await;
}

/// Without the tokens, DynamoDB evaluates a resent transaction again: the
/// store's own commit ids and the command records are all that stand
/// between a lost answer and a double write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_promise_holds_under_faults_without_client_request_tokens() {
    stress_under_faults(7_031_977, true).await;
}

/// The server stops while tasks run and comes back on the same file (on a
/// new port, which the proxy is pointed at); the clients go on with no
/// restart of their own, sending again what failed in the gap.
///
/// Always on the embedded emulator with a file (`Backend::EmbeddedFile`),
/// whatever `DYNAGO_BACKEND` says: the DynamoDB Local jar keeps its data in
/// memory and would come back empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_restart_mid_run_loses_and_doubles_nothing() {
    const ACCOUNTS: usize = 4;
    const TASKS: usize = 6;
    const COMMANDS: usize = 40;
    /// How long the server stays away.
    const GAP: Duration = Duration::from_millis(750);
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("ledger.sqlite");
    let first = LocalDynamo::start_backend(Backend::EmbeddedFile(file.clone()))
        .await
        .expect("the embedded server on a file");
    let name = dynago_local::unique_table_name("ledger-restart");
    let mut proxy = FaultProxy::start(first.url(), FaultPlan::default())
        .await
        .expect("a proxy");
    let setup = Ledger::connect(through(&proxy, &name), ledger::store_options())
        .await
        .expect("a ledger");
    let accounts = open_accounts(&setup, ACCOUNTS).await;
    let clients = clients(&proxy, &name).await;

    let resends = Arc::new(Mutex::new(Resends::default()));
    let (answered, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let running = {
        let (clients, accounts, resends) = (clients.clone(), accounts.clone(), resends.clone());
        let (answered, errors) = (Arc::clone(&answered), Arc::clone(&errors));
        tokio::spawn(async move {
            let round = Round {
                name: "restart".into(),
                tasks: TASKS,
                commands: COMMANDS,
                seed: 42,
                answered: &answered,
                errors: &errors,
            };
            run_round(&clients, &accounts, round, &resends).await
        })
    };

    // A third of the way in, the server stops.
    let total = TASKS * COMMANDS;
    while answered.load(Ordering::Relaxed) < total / 3 {
        assert!(!running.is_finished(), "the run ended before the restart");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answered_before = answered.load(Ordering::Relaxed);
    let errors_before = errors.load(Ordering::Relaxed);
    let old_address = first.url().trim_start_matches("http://").to_owned();
    let stopped = Instant::now();
    drop(first);
    // Until its port refuses connections, then for the rest of the gap.
    while tokio::net::TcpStream::connect(&old_address).await.is_ok() {
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "it never stopped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(GAP.saturating_sub(stopped.elapsed())).await;
    let answered_in_gap = answered.load(Ordering::Relaxed) - answered_before;
    let errors_in_gap = errors.load(Ordering::Relaxed) - errors_before;
    let second = LocalDynamo::start_backend(Backend::EmbeddedFile(file.clone()))
        .await
        .expect("the embedded server again, on the same file");
    proxy
        .set_upstream(second.url())
        .expect("the proxy, pointed at it");
    let gap = stopped.elapsed();

    let sent = running.await.expect("the run");
    let run_time = started.elapsed();
    let stats = proxy.stats();
    let direct = Ledger::connect(second.table_options(&name), ledger::store_options())
        .await
        .expect("a ledger on the restarted server");
    let verdict = check_exactly_once(&direct, &accounts, &sent).await;
    let again = check_resend_changes_nothing(&clients[0], &direct, &accounts, &sent).await;
    let check_time = started.elapsed() - run_time;

    let resends = resends.lock().expect("resends");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ledger across a server restart (embedded emulator on {})",
        file.display()
    );
    report_run(&mut out, &sent, &verdict, &resends);
    row(
        &mut out,
        "server away (stop to back, proxy re-pointed)",
        format!(
            "{:.0} ms, after {answered_before} of {total} commands",
            gap.as_secs_f64() * 1000.0
        ),
    );
    row(
        &mut out,
        "in the gap: errors sent again, answers",
        format!("{errors_in_gap}, {answered_in_gap}"),
    );
    row(
        &mut out,
        "requests through the proxy",
        format!(
            "{} ({} unreachable: HTTP 502)",
            stats.requests, stats.upstream_errors
        ),
    );
    report_end(&mut out, again, run_time, check_time, &verdict);
    println!("{out}");

    assert!(errors_in_gap > 0, "the clients never saw the server gone");
    assert!(stats.upstream_errors > 0, "{stats:?}");
    assert_eq!(sent.len(), total);
    assert!(
        verdict.applied > answered_before,
        "the run went on after the restart"
    );
}
