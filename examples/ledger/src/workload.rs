//! Many tasks at once on the same few accounts: deposits, withdrawals and
//! transfers picked at random, for the demo and the stress test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::account::AccountId;
use crate::ledger::{Ledger, LedgerError, Transfer};
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
    let accounts = &workload.accounts;
    if accounts.is_empty() {
        return report;
    }
    for _ in 0..workload.commands_per_task {
        let account = &accounts[rng.usize(..accounts.len())];
        let started = Instant::now();
        let roll = rng.u8(..100);
        let result = if roll < 40 || accounts.len() < 2 {
            let amount = Money::from_cents(rng.i64(100..=5_000));
            ledger.deposit(account, amount).await.map(|receipt| {
                report.deposits += 1;
                report.deposited = report.deposited.saturating_add(amount);
                (receipt.attempts, receipt.requests)
            })
        } else if roll < 60 {
            let amount = Money::from_cents(rng.i64(100..=8_000));
            ledger.withdraw(account, amount).await.map(|receipt| {
                report.withdrawals += 1;
                report.withdrawn = report.withdrawn.saturating_add(amount);
                (receipt.attempts, receipt.requests)
            })
        } else {
            let from = rng.usize(..accounts.len());
            let to = (from + 1 + rng.usize(..accounts.len() - 1)) % accounts.len();
            let transfer = Transfer {
                from: accounts[from].clone(),
                to: accounts[to].clone(),
                amount: Money::from_cents(rng.i64(100..=6_000)),
                currency: workload.currency.clone(),
            };
            ledger.transfer(&transfer).await.map(|receipt| {
                report.transfers += 1;
                (receipt.from.attempts, receipt.from.requests)
            })
        };
        report.latencies.push(started.elapsed());
        match result {
            Ok((attempts, requests)) => {
                report.retries += attempts.saturating_sub(1);
                report.requests += u64::from(requests);
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
