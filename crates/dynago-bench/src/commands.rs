//! Part 2: commands, through dynago-es and through cqrs-es + dynamo-es.
//!
//! A command is one deposit on an account ([`AccountCommand::Deposit`]),
//! decided by the same [`Account`] logic in both libraries. Scenarios:
//!
//! - **uncontended**: T tasks, each on an account of its own;
//! - **contended**: 16 tasks on one account, so that most appends conflict.
//!
//! Every round uses new accounts, so that streams stay short and equal for
//! all contenders; the contenders take turns (the order rotates every
//! round). dynago-es retries a conflict itself (reload what changed, decide
//! again, with backoff); cqrs-es has no retry, so the benchmark loops on its
//! `AggregateConflict` with the same backoff and counts the retries.
//! Requests are counted on the SDK client (every HTTP attempt), the same way
//! for both. After each round every account is read back and checked.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use dynago::{RetryPolicy, ScalarAttributeType, TableDefinition};
use dynago_es::{EventStore, SnapshotPolicy, StoreOptions};
use dynamo_es::DynamoEventRepository;
use futures::TryStreamExt;

use crate::account::{Account, AccountCommand, AccountError};
use crate::server::{create_table, Server};
use crate::stats::{median, ms, percentile};

/// cqrs-es with the dynamo-es repository, as `dynamo_es::dynamodb_cqrs` builds it.
pub type Cqrs = CqrsFramework<Account, PersistedEventStore<DynamoEventRepository, Account>>;

/// The two tables dynamo-es needs.
#[derive(Debug, Clone)]
pub struct CqrsTables {
    /// Events: `AggregateTypeAndId` (S, hash), `AggregateIdSequence` (N, range).
    pub events: String,
    /// Snapshots: `AggregateTypeAndId` (S, hash).
    pub snapshots: String,
}

impl CqrsTables {
    /// Creates both tables.
    ///
    /// # Errors
    ///
    /// When a table cannot be created.
    pub async fn create(server: &Server) -> Result<Self> {
        Self::create_on(server.client()).await
    }

    /// Creates both tables through `client`.
    ///
    /// # Errors
    ///
    /// When a table cannot be created.
    pub async fn create_on(client: &aws_sdk_dynamodb::Client) -> Result<Self> {
        let events = create_table(
            client,
            "bench-cqrs-events",
            "AggregateTypeAndId",
            Some(("AggregateIdSequence", ScalarAttributeType::N)),
            TableDefinition::default(),
        )
        .await?;
        let snapshots = create_table(
            client,
            "bench-cqrs-snapshots",
            "AggregateTypeAndId",
            None,
            TableDefinition::default(),
        )
        .await?;
        Ok(Self {
            events: events.name().to_owned(),
            snapshots: snapshots.name().to_owned(),
        })
    }

    /// A dynamo-es repository on these tables.
    pub fn repository(&self, client: &aws_sdk_dynamodb::Client) -> DynamoEventRepository {
        DynamoEventRepository::new(client.clone()).with_tables(&self.events, &self.snapshots)
    }
}

/// The retry policy of both libraries: dynago-es's default backoff (5 ms
/// doubling to 500 ms, with jitter), with enough attempts that 16 writers on
/// one account never give up.
pub fn retry_policy() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(200)
        .min_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(500))
}

/// Who executes the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contender {
    /// dynago-es without its cache: every command loads the aggregate.
    DynagoEs,
    /// dynago-es without its cache, with `SnapshotPolicy::InCommit`: every
    /// command loads the newest item alone, which holds the state.
    DynagoEsInCommit,
    /// dynago-es with `StoreOptions::cache`.
    DynagoEsCached,
    /// cqrs-es + dynamo-es (event store, no snapshots).
    CqrsEs,
}

impl Contender {
    /// Every contender, in report order.
    pub const ALL: [Contender; 4] = [
        Contender::DynagoEs,
        Contender::DynagoEsInCommit,
        Contender::DynagoEsCached,
        Contender::CqrsEs,
    ];

    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Contender::DynagoEs => "dynago-es",
            Contender::DynagoEsInCommit => "dynago-es, state in each commit",
            Contender::DynagoEsCached => "dynago-es + cache",
            Contender::CqrsEs => "cqrs-es + dynamo-es",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Contender::DynagoEs => "dyn",
            Contender::DynagoEsInCommit => "dynic",
            Contender::DynagoEsCached => "dync",
            Contender::CqrsEs => "cqrs",
        }
    }
}

/// One workload.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name in the report.
    pub label: String,
    /// Concurrent tasks.
    pub tasks: usize,
    /// All tasks on one account (else one account each).
    pub shared_account: bool,
    /// Commands each task executes, one after the other, per round.
    pub commands_per_task: usize,
}

/// How long to measure.
#[derive(Debug, Clone)]
pub struct CommandPlan {
    /// Measured rounds (one more is run first, unmeasured).
    pub rounds: usize,
    /// The workloads.
    pub scenarios: Vec<Scenario>,
}

/// The figures of one contender in one scenario.
#[derive(Debug, Clone)]
pub struct CommandResult {
    /// The scenario's label.
    pub scenario: String,
    /// Who.
    pub contender: Contender,
    /// Median over rounds of commands completed per second.
    pub commands_per_s: f64,
    /// Median over rounds of this contender's commands/s over cqrs-es's in
    /// the same round.
    pub ratio_vs_cqrs: f64,
    /// Requests per command, counted on the SDK client.
    pub requests_per_command: f64,
    /// Requests per command by operation.
    pub requests_by_operation: BTreeMap<String, f64>,
    /// Requests per command as dynago-es reports them
    /// (`CommandOutcome::requests`); `None` for cqrs-es.
    pub reported_requests_per_command: Option<f64>,
    /// Write units per command by AWS's rules, from the items written.
    pub write_units_per_command: f64,
    /// Read units per command by AWS's rules, from the items returned.
    pub read_units_per_command: f64,
    /// Units per command as the server reported them (only where the
    /// requests asked for them: dynago's do, dynamo-es's do not).
    pub reported_units_per_command: f64,
    /// Conflicts per command (each one a reload and a new decision).
    pub retries_per_command: f64,
    /// Median latency of one command, retries included, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Commands measured.
    pub commands: usize,
}

#[derive(Clone)]
enum Handle {
    Dynago(EventStore<Account>),
    Cqrs(Arc<Cqrs>),
}

/// One command's record.
struct Sample {
    latency: Duration,
    retries: usize,
    reported_requests: u32,
}

struct Round {
    wall: Duration,
    samples: Vec<Sample>,
    requests: crate::counter::RequestSnapshot,
}

/// Runs part 2.
///
/// # Errors
///
/// A failed command, or an account whose events do not add up.
pub async fn run(server: &Server, plan: &CommandPlan) -> Result<Vec<CommandResult>> {
    let es_table = server
        .create_table("bench-es", "pk", Some(("sk", ScalarAttributeType::S)))
        .await?;
    let cqrs_tables = CqrsTables::create(server).await?;
    let options = StoreOptions::default().retry(retry_policy());
    let plain = EventStore::<Account>::new(es_table.clone(), options.clone())?;
    let in_commit = EventStore::<Account>::new(
        es_table.clone(),
        options.clone().snapshots(SnapshotPolicy::InCommit),
    )?;
    let cached = EventStore::<Account>::new(es_table.clone(), options.cache(100_000))?;
    let verify = EventStore::<Account>::new(es_table, StoreOptions::default())?;
    let cqrs: Arc<Cqrs> = Arc::new(CqrsFramework::new(
        PersistedEventStore::new_event_store(cqrs_tables.repository(server.client())),
        Vec::new(),
        (),
    ));
    let cqrs_verify: PersistedEventStore<DynamoEventRepository, Account> =
        PersistedEventStore::new_event_store(cqrs_tables.repository(server.client()));

    let mut results = Vec::new();
    for (index, scenario) in plan.scenarios.iter().enumerate() {
        let mut rounds: BTreeMap<Contender, Vec<Round>> = BTreeMap::new();
        for round in 0..=plan.rounds {
            let mut order = Contender::ALL.to_vec();
            let len = order.len();
            order.rotate_left(round % len);
            for contender in order {
                let handle = match contender {
                    Contender::DynagoEs => Handle::Dynago(plain.clone()),
                    Contender::DynagoEsInCommit => Handle::Dynago(in_commit.clone()),
                    Contender::DynagoEsCached => Handle::Dynago(cached.clone()),
                    Contender::CqrsEs => Handle::Cqrs(Arc::clone(&cqrs)),
                };
                let prefix = format!("{}-s{index}-r{round}", contender.slug());
                let (measured, accounts) = run_round(server, scenario, &handle, &prefix).await?;
                for (id, account) in &accounts {
                    match contender {
                        Contender::CqrsEs => check_cqrs(&cqrs_verify, id, account).await?,
                        _ => check_dynago(&verify, id, account).await?,
                    }
                }
                if round > 0 {
                    rounds.entry(contender).or_default().push(measured);
                }
            }
        }
        let summary = summarize(scenario, &rounds);
        check_costs(scenario, &summary)?;
        results.extend(summary);
    }
    Ok(results)
}

/// What the write path promises for an uncontended one-event command on a
/// cached aggregate, checked on every run: one request, one write unit (its
/// event is under 1 KB), no read. A regression fails the run.
fn check_costs(scenario: &Scenario, results: &[CommandResult]) -> Result<()> {
    if scenario.shared_account {
        return Ok(());
    }
    for r in results
        .iter()
        .filter(|r| r.contender == Contender::DynagoEsCached)
    {
        let exact = |figure: f64, want: f64| (figure - want).abs() < 1e-9;
        if !exact(r.requests_per_command, 1.0)
            || !exact(r.write_units_per_command, 1.0)
            || !exact(r.read_units_per_command, 0.0)
        {
            bail!(
                "{}: an uncontended cached command cost {:.3} requests, {:.3} write units and {:.3} read units; the write path promises 1, 1 and 0",
                r.scenario,
                r.requests_per_command,
                r.write_units_per_command,
                r.read_units_per_command
            );
        }
        crate::checks::pass(1);
    }
    Ok(())
}

/// What an account must hold after a round.
#[derive(Debug, Clone, Copy, Default)]
struct Expected {
    sum: u64,
    deposits: u64,
}

/// The deposit that creates each account before a round is measured.
const WARM_UP_AMOUNT: u64 = 1;

/// The amount of command `i` of task `task`: varied, never zero.
fn amount(task: usize, i: usize) -> u64 {
    1 + ((task as u64) * 7_919 + (i as u64) * 104_729) % 1_000
}

async fn run_round(
    server: &Server,
    scenario: &Scenario,
    handle: &Handle,
    prefix: &str,
) -> Result<(Round, BTreeMap<String, Expected>)> {
    let account_of = |task: usize| {
        if scenario.shared_account {
            format!("{prefix}-shared")
        } else {
            format!("{prefix}-t{task}")
        }
    };
    // Every account exists (and is cached, for a store with a cache) before
    // the measured commands: commands on aggregates that are there, as a
    // service runs them, not the first one's load.
    let mut warmed = std::collections::BTreeSet::new();
    for task in 0..scenario.tasks {
        let id = account_of(task);
        if warmed.insert(id.clone()) {
            execute(handle, &id, WARM_UP_AMOUNT).await?;
        }
    }
    let before = server.counter().snapshot();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(scenario.tasks);
    for task in 0..scenario.tasks {
        let handle = handle.clone();
        let id = account_of(task);
        let commands = scenario.commands_per_task;
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(commands);
            for i in 0..commands {
                samples.push(execute(&handle, &id, amount(task, i)).await?);
            }
            Ok::<_, anyhow::Error>(samples)
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.context("a command task panicked")??);
    }
    let wall = started.elapsed();
    let requests = server.counter().snapshot().since(&before);
    let mut accounts: BTreeMap<String, Expected> = warmed
        .into_iter()
        .map(|id| {
            (
                id,
                Expected {
                    sum: WARM_UP_AMOUNT,
                    deposits: 1,
                },
            )
        })
        .collect();
    for task in 0..scenario.tasks {
        let account = accounts.entry(account_of(task)).or_default();
        for i in 0..scenario.commands_per_task {
            account.sum += amount(task, i);
            account.deposits += 1;
        }
    }
    Ok((
        Round {
            wall,
            samples,
            requests,
        },
        accounts,
    ))
}

async fn execute(handle: &Handle, id: &str, amount: u64) -> Result<Sample> {
    let command = AccountCommand::Deposit { amount };
    let started = Instant::now();
    match handle {
        Handle::Dynago(store) => {
            let outcome = store.execute(id, command).await?;
            Ok(Sample {
                latency: started.elapsed(),
                retries: outcome.attempts.saturating_sub(1),
                reported_requests: outcome.requests,
            })
        }
        Handle::Cqrs(cqrs) => {
            let mut backoff = retry_policy().delays();
            let mut retries = 0;
            loop {
                match cqrs.execute(id, command.clone()).await {
                    Ok(()) => break,
                    Err(error) if retryable(&error) => match backoff.next() {
                        Some(delay) => {
                            retries += 1;
                            tokio::time::sleep(delay).await;
                        }
                        None => bail!("cqrs-es: {id} still conflicting after {retries} retries"),
                    },
                    Err(error) => bail!("cqrs-es on {id}: {error}"),
                }
            }
            Ok(Sample {
                latency: started.elapsed(),
                retries,
                reported_requests: 0,
            })
        }
    }
}

/// A conflict, or a transaction cancelled by another transaction in
/// progress on the same item (DynamoDB Local's `TransactionConflict`, which
/// dynamo-es reports as an unexpected error).
fn retryable(error: &AggregateError<AccountError>) -> bool {
    match error {
        AggregateError::AggregateConflict => true,
        AggregateError::UnexpectedError(source) => source
            .downcast_ref::<SdkError<TransactWriteItemsError>>()
            .and_then(SdkError::as_service_error)
            .is_some_and(|e| match e {
                TransactWriteItemsError::TransactionCanceledException(c) => c
                    .cancellation_reasons()
                    .iter()
                    .any(|r| r.code() == Some("TransactionConflict")),
                _ => false,
            }),
        _ => false,
    }
}

async fn check_dynago(store: &EventStore<Account>, id: &str, want: &Expected) -> Result<()> {
    let loaded = store.load(id).await?;
    let versions: Vec<u64> = store
        .events(id, 1)
        .map_ok(|event| event.version)
        .try_collect()
        .await?;
    ensure!(
        loaded.state == expected_state(want) && loaded.version == want.deposits,
        "dynago-es account {id}: {:?} at version {}, expected {want:?}",
        loaded.state,
        loaded.version
    );
    ensure!(
        versions.iter().copied().eq(1..=want.deposits),
        "dynago-es account {id}: versions are not 1..={}",
        want.deposits
    );
    crate::checks::pass(1);
    Ok(())
}

async fn check_cqrs(
    store: &PersistedEventStore<DynamoEventRepository, Account>,
    id: &str,
    want: &Expected,
) -> Result<()> {
    let events = store
        .load_events(id)
        .await
        .map_err(|e| anyhow!("cqrs-es loading {id}: {e}"))?;
    let mut state = Account::default();
    for event in &events {
        crate::account::evolve(&mut state, &event.payload);
    }
    ensure!(
        events
            .iter()
            .map(|e| e.sequence as u64)
            .eq(1..=want.deposits),
        "cqrs-es account {id}: sequences are not 1..={}",
        want.deposits
    );
    ensure!(
        state == expected_state(want),
        "cqrs-es account {id}: {state:?}, expected {want:?}"
    );
    crate::checks::pass(1);
    Ok(())
}

fn expected_state(want: &Expected) -> Account {
    Account {
        balance: want.sum,
        deposits: want.deposits,
    }
}

fn summarize(scenario: &Scenario, rounds: &BTreeMap<Contender, Vec<Round>>) -> Vec<CommandResult> {
    let cps = |round: &Round| round.samples.len() as f64 / round.wall.as_secs_f64();
    let cqrs_cps: Vec<f64> = rounds
        .get(&Contender::CqrsEs)
        .map(|r| r.iter().map(cps).collect())
        .unwrap_or_default();
    let mut results = Vec::new();
    for (contender, rounds) in rounds {
        let commands: usize = rounds.iter().map(|r| r.samples.len()).sum();
        let n = commands as f64;
        let latencies: Vec<f64> = rounds
            .iter()
            .flat_map(|r| r.samples.iter().map(|s| ms(s.latency)))
            .collect();
        let retries: usize = rounds
            .iter()
            .flat_map(|r| r.samples.iter().map(|s| s.retries))
            .sum();
        let reported: u64 = rounds
            .iter()
            .flat_map(|r| r.samples.iter().map(|s| u64::from(s.reported_requests)))
            .sum();
        let total: u64 = rounds.iter().map(|r| r.requests.total).sum();
        let units = |unit: fn(&crate::counter::Units) -> f64| {
            rounds.iter().map(|r| unit(&r.requests.units)).sum::<f64>() / n
        };
        let mut by_operation: BTreeMap<String, f64> = BTreeMap::new();
        for round in rounds {
            for (op, count) in &round.requests.by_operation {
                *by_operation.entry(op.clone()).or_default() += *count as f64 / n;
            }
        }
        let ratios: Vec<f64> = rounds
            .iter()
            .zip(&cqrs_cps)
            .map(|(round, cqrs)| cps(round) / cqrs)
            .collect();
        results.push(CommandResult {
            scenario: scenario.label.clone(),
            contender: *contender,
            commands_per_s: median(&rounds.iter().map(cps).collect::<Vec<_>>()),
            ratio_vs_cqrs: median(&ratios),
            requests_per_command: total as f64 / n,
            requests_by_operation: by_operation,
            reported_requests_per_command: (*contender != Contender::CqrsEs)
                .then(|| reported as f64 / n),
            write_units_per_command: units(|u| u.write),
            read_units_per_command: units(|u| u.read),
            reported_units_per_command: units(|u| u.reported),
            retries_per_command: retries as f64 / n,
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
            commands,
        });
    }
    results
}
