//! Many tasks at once on the same few accounts: deposits, withdrawals and
//! transfers picked at random, for the demo and the stress test ([`run`], a
//! number of commands per task) and the soak ([`run_until`], until a
//! deadline, counted in a [`Live`] tally read while it runs).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::account::AccountId;
use crate::ledger::{Ledger, LedgerError, Receipt, Transfer};
use crate::money::{Currency, Money};

/// What to run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The accounts, open and in `currency`.
    pub accounts: Vec<AccountId>,
    /// Their currency.
    pub currency: Currency,
    /// How many tasks run at once.
    pub tasks: usize,
    /// How many commands each task sends, one after the other.
    pub commands_per_task: usize,
    /// The seed of the random choices (each task gets its own stream).
    pub seed: u64,
}

/// What a run did, as its tasks saw it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Report {
    /// How long the run took.
    pub elapsed: Duration,
    /// Deposits done.
    pub deposits: usize,
    /// Withdrawals done.
    pub withdrawals: usize,
    /// Transfers done.
    pub transfers: usize,
    /// Commands an account refused (insufficient funds): nothing written.
    pub refused: usize,
    /// Commands that failed otherwise (DynamoDB, network, retries exhausted).
    pub failed: usize,
    /// The first few failures, as text.
    pub failures: Vec<String>,
    /// Conflicts retried: the sum of `attempts - 1` over the commands done.
    pub retries: usize,
    /// DynamoDB requests of the commands done, as their outcomes counted them.
    pub requests: u64,
    /// Write capacity units of the commands done, as DynamoDB reported them.
    pub write_units: f64,
    /// Read capacity units of the commands done, as DynamoDB reported them.
    pub read_units: f64,
    /// The latency of every command, done, refused or failed.
    pub latencies: Vec<Duration>,
    /// The money deposited by the commands done.
    pub deposited: Money,
    /// The money withdrawn by the commands done.
    pub withdrawn: Money,
}

impl Report {
    /// Commands sent, whatever became of them.
    pub fn commands(&self) -> usize {
        self.latencies.len()
    }

    /// Commands done (written).
    pub fn done(&self) -> usize {
        self.deposits + self.withdrawals + self.transfers
    }

    /// Commands sent per second.
    pub fn per_second(&self) -> f64 {
        count(self.commands()) / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Conflicts retried per command done.
    pub fn retries_per_command(&self) -> f64 {
        count(self.retries) / count(self.done()).max(1.0)
    }

    /// DynamoDB requests per command done.
    pub fn requests_per_command(&self) -> f64 {
        self.requests as f64 / count(self.done()).max(1.0)
    }

    /// Write capacity units per command done, as DynamoDB reported them.
    pub fn write_units_per_command(&self) -> f64 {
        self.write_units / count(self.done()).max(1.0)
    }

    /// Read capacity units per command done, as DynamoDB reported them.
    pub fn read_units_per_command(&self) -> f64 {
        self.read_units / count(self.done()).max(1.0)
    }

    /// The latency under which `percent` of the commands finished.
    pub fn percentile(&self, percent: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = (count(sorted.len()) * percent / 100.0).ceil();
        // `rank` is between 0 and the length: the cast cannot lose anything.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = (rank as usize).saturating_sub(1);
        sorted.get(index).copied().unwrap_or_default()
    }

    fn merge(&mut self, other: Report) {
        self.deposits += other.deposits;
        self.withdrawals += other.withdrawals;
        self.transfers += other.transfers;
        self.refused += other.refused;
        self.failed += other.failed;
        self.retries += other.retries;
        self.requests += other.requests;
        self.write_units += other.write_units;
        self.read_units += other.read_units;
        self.latencies.extend(other.latencies);
        self.deposited = self.deposited.saturating_add(other.deposited);
        self.withdrawn = self.withdrawn.saturating_add(other.withdrawn);
        for failure in other.failures {
            self.fail_with(failure);
        }
    }

    fn fail_with(&mut self, failure: String) {
        if self.failures.len() < 3 {
            self.failures.push(failure);
        }
    }
}

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn count(n: usize) -> f64 {
    n as f64
}

/// Runs `workload` on `ledger`, calling `progress` after every command.
pub async fn run(
    ledger: &Ledger,
    workload: &Workload,
    progress: impl Fn() + Send + Sync + 'static,
) -> Report {
    let progress = Arc::new(progress);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for task in 0..workload.tasks {
        let ledger = ledger.clone();
        let workload = workload.clone();
        let progress = Arc::clone(&progress);
        let seed = workload.seed.wrapping_add(task as u64);
        tasks.spawn(async move { run_task(&ledger, &workload, seed, &*progress).await });
    }
    let mut report = Report::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(task) => report.merge(task),
            Err(error) => {
                report.failed += 1;
                report.fail_with(format!("a task ended early: {error}"));
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

async fn run_task(
    ledger: &Ledger,
    workload: &Workload,
    seed: u64,
    progress: &(dyn Fn() + Send + Sync),
) -> Report {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut report = Report::default();
    if workload.accounts.is_empty() {
        return report;
    }
    for _ in 0..workload.commands_per_task {
        let done = one_command(ledger, workload, &mut rng).await;
        report.latencies.push(done.latency);
        match done.result {
            Ok(Cost {
                attempts,
                requests,
                capacity,
            }) => {
                match done.kind {
                    Kind::Deposit => {
                        report.deposits += 1;
                        report.deposited = report.deposited.saturating_add(done.amount);
                    }
                    Kind::Withdrawal => {
                        report.withdrawals += 1;
                        report.withdrawn = report.withdrawn.saturating_add(done.amount);
                    }
                    Kind::Transfer => report.transfers += 1,
                }
                report.retries += attempts.saturating_sub(1);
                report.requests += u64::from(requests);
                report.write_units += capacity.write_units;
                report.read_units += capacity.read_units;
            }
            Err(LedgerError::Refused { .. }) => report.refused += 1,
            Err(error) => {
                report.failed += 1;
                report.fail_with(error.to_string());
            }
        }
        progress();
    }
    report
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deposit,
    Withdrawal,
    Transfer,
}

/// One command sent and what became of it.
struct Done {
    kind: Kind,
    amount: Money,
    latency: Duration,
    /// What a command done cost.
    result: Result<Cost, LedgerError>,
}

/// Attempts, requests and capacity of a command done.
struct Cost {
    attempts: usize,
    requests: u32,
    capacity: dynago::telemetry::Capacity,
}

impl From<&Receipt> for Cost {
    fn from(receipt: &Receipt) -> Self {
        Cost {
            attempts: receipt.attempts,
            requests: receipt.requests,
            capacity: receipt.capacity,
        }
    }
}

/// Sends one command picked at random: 40 % deposits, 20 % withdrawals, 40 %
/// transfers (deposits only, with a single account).
async fn one_command(ledger: &Ledger, workload: &Workload, rng: &mut fastrand::Rng) -> Done {
    let accounts = &workload.accounts;
    let account = &accounts[rng.usize(..accounts.len())];
    let started = Instant::now();
    let roll = rng.u8(..100);
    let (kind, amount, result) = if roll < 40 || accounts.len() < 2 {
        let amount = Money::from_cents(rng.i64(100..=5_000));
        let result = ledger.deposit(account, amount).await;
        (
            Kind::Deposit,
            amount,
            result.map(|receipt| Cost::from(&receipt)),
        )
    } else if roll < 60 {
        let amount = Money::from_cents(rng.i64(100..=8_000));
        let result = ledger.withdraw(account, amount).await;
        (
            Kind::Withdrawal,
            amount,
            result.map(|receipt| Cost::from(&receipt)),
        )
    } else {
        let from = rng.usize(..accounts.len());
        let to = (from + 1 + rng.usize(..accounts.len() - 1)) % accounts.len();
        let transfer = Transfer {
            from: accounts[from].clone(),
            to: accounts[to].clone(),
            amount: Money::from_cents(rng.i64(100..=6_000)),
            currency: workload.currency.clone(),
        };
        let result = ledger.transfer(&transfer).await;
        (
            Kind::Transfer,
            transfer.amount,
            result.map(|receipt| Cost::from(&receipt.from)),
        )
    };
    Done {
        kind,
        amount,
        latency: started.elapsed(),
        result,
    }
}

/// A tally that the tasks of [`run_until`] update after every command and
/// that can be read while they run. Its memory does not grow with the run:
/// counters, the latencies since the last [`take_latencies`](Self::take_latencies),
/// and the first few failures.
#[derive(Debug, Default)]
pub struct Live {
    commands: AtomicU64,
    deposits: AtomicU64,
    withdrawals: AtomicU64,
    transfers: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    requests: AtomicU64,
    deposited: AtomicI64,
    withdrawn: AtomicI64,
    latencies: Mutex<Vec<Duration>>,
    failures: Mutex<Vec<String>>,
}

/// What a [`Live`] tally holds at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Commands sent, whatever became of them.
    pub commands: u64,
    /// Deposits done.
    pub deposits: u64,
    /// Withdrawals done.
    pub withdrawals: u64,
    /// Transfers done.
    pub transfers: u64,
    /// Commands an account refused: nothing written.
    pub refused: u64,
    /// Commands that failed otherwise.
    pub failed: u64,
    /// Conflicts retried by the store, over the commands done.
    pub retries: u64,
    /// DynamoDB requests of the commands done.
    pub requests: u64,
    /// The money deposited by the commands done.
    pub deposited: Money,
    /// The money withdrawn by the commands done.
    pub withdrawn: Money,
    /// The first few failures, as text.
    pub failures: Vec<String>,
}

impl Totals {
    /// Commands done (written).
    pub fn done(&self) -> u64 {
        self.deposits + self.withdrawals + self.transfers
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Live {
    /// The counts so far.
    pub fn totals(&self) -> Totals {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Totals {
            commands: load(&self.commands),
            deposits: load(&self.deposits),
            withdrawals: load(&self.withdrawals),
            transfers: load(&self.transfers),
            refused: load(&self.refused),
            failed: load(&self.failed),
            retries: load(&self.retries),
            requests: load(&self.requests),
            deposited: Money::from_cents(self.deposited.load(Ordering::Relaxed)),
            withdrawn: Money::from_cents(self.withdrawn.load(Ordering::Relaxed)),
            failures: lock(&self.failures).clone(),
        }
    }

    /// The latencies of the commands that ended since the last call, which
    /// are forgotten; sorted.
    pub fn take_latencies(&self) -> Vec<Duration> {
        let mut latencies = std::mem::take(&mut *lock(&self.latencies));
        latencies.sort_unstable();
        latencies
    }

    fn record(&self, done: Done) {
        lock(&self.latencies).push(done.latency);
        match done.result {
            Ok(Cost {
                attempts, requests, ..
            }) => {
                let cents = done.amount.cents();
                match done.kind {
                    Kind::Deposit => {
                        self.deposits.fetch_add(1, Ordering::Relaxed);
                        self.deposited.fetch_add(cents, Ordering::Relaxed);
                    }
                    Kind::Withdrawal => {
                        self.withdrawals.fetch_add(1, Ordering::Relaxed);
                        self.withdrawn.fetch_add(cents, Ordering::Relaxed);
                    }
                    Kind::Transfer => {
                        self.transfers.fetch_add(1, Ordering::Relaxed);
                    }
                }
                self.retries
                    .fetch_add(attempts.saturating_sub(1) as u64, Ordering::Relaxed);
                self.requests
                    .fetch_add(u64::from(requests), Ordering::Relaxed);
            }
            Err(LedgerError::Refused { .. }) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut failures = lock(&self.failures);
                if failures.len() < 3 {
                    failures.push(error.to_string());
                }
            }
        }
        // Counted last: a reader that sees the command sees its outcome.
        self.commands.fetch_add(1, Ordering::Release);
    }
}

/// Runs `workload` on `ledger` until `deadline`, with no limit of commands
/// (`commands_per_task` is not used): each task sends one command after the
/// other and counts it in `live`, which can be read meanwhile.
pub async fn run_until(ledger: &Ledger, workload: &Workload, deadline: Instant, live: &Arc<Live>) {
    let mut tasks = JoinSet::new();
    for task in 0..workload.tasks {
        let ledger = ledger.clone();
        let workload = workload.clone();
        let live = Arc::clone(live);
        let seed = workload.seed.wrapping_add(task as u64);
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            if workload.accounts.is_empty() {
                return;
            }
            while Instant::now() < deadline {
                let done = one_command(&ledger, &workload, &mut rng).await;
                live.record(done);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            live.failed.fetch_add(1, Ordering::Relaxed);
            lock(&live.failures).push(format!("a task ended early: {error}"));
        }
    }
}
