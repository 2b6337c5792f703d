//! `ledger stress`: many writers on a few accounts, measured, then the books
//! checked.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use ledger::{audit, AccountId, Check, Currency, Expected, Ledger, Money, Workload};

/// How big a stress run is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Accounts the commands share.
    pub(crate) accounts: usize,
    /// Tasks sending commands at once.
    pub(crate) tasks: usize,
    /// Commands each task sends.
    pub(crate) ops: usize,
}

/// What the checks of the stress test and the soak are, said before them:
/// they send no bad command and run no projector.
pub(crate) const CHECKS: &str =
    "checks, read back from the table: the demo's but its refusals and views (no projector runs here)";

/// 1,000.00 EUR.
const FIRST_DEPOSIT: Money = Money::from_cents(100_000);

/// Opens `count` accounts named `{prefix}-{tag}-0001`... (without the tag
/// when there is none) in `currency`, each with a first deposit of 1,000.00;
/// returns them and the money deposited.
pub(crate) async fn open_accounts(
    ledger: &Ledger,
    prefix: &str,
    tag: Option<&str>,
    count: usize,
    currency: &Currency,
) -> anyhow::Result<(Vec<AccountId>, Money)> {
    let mut accounts = Vec::with_capacity(count);
    let mut deposited = Money::ZERO;
    for n in 1..=count {
        let id: AccountId = match tag {
            Some(tag) => format!("{prefix}-{tag}-{n:04}"),
            None => format!("{prefix}-{n:04}"),
        }
        .parse()?;
        ledger.open(&id, "Stress", currency.clone()).await?;
        ledger.deposit(&id, FIRST_DEPOSIT).await?;
        deposited = deposited.saturating_add(FIRST_DEPOSIT);
        accounts.push(id);
    }
    Ok((accounts, deposited))
}

/// Runs the stress test on `ledger`, which runs on `place`; `tag` tells this
/// run's accounts apart on a table that outlives it. Returns whether every
/// check passed.
pub(crate) async fn run(
    ledger: &Ledger,
    place: &str,
    tag: Option<String>,
    shape: Shape,
) -> anyhow::Result<bool> {
    let eur: Currency = "EUR".parse()?;
    println!(
        "stress: {} accounts, {} tasks x {} commands, on {place}",
        shape.accounts, shape.tasks, shape.ops
    );
    let (accounts, deposited) =
        open_accounts(ledger, "stress", tag.as_deref(), shape.accounts, &eur).await?;

    let total = u64::try_from(shape.tasks.saturating_mul(shape.ops))?;
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} commands, {rate}, {elapsed}")?
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0}/s", state.per_sec());
            },
        );
    let bar = ProgressBar::new(total).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    let workload = Workload {
        accounts: accounts.clone(),
        currency: eur.clone(),
        tasks: shape.tasks,
        commands_per_task: shape.ops,
        seed: fastrand::u64(..),
    };
    let progress = bar.clone();
    let report = ledger::workload::run(ledger, &workload, move || progress.inc(1)).await;
    bar.finish_and_clear();

    let millis = |latency: Duration| latency.as_secs_f64() * 1000.0;
    let rows = [
        (
            "commands",
            format!(
                "{} ({} done, {} refused, {} failed)",
                report.commands(),
                report.done(),
                report.refused,
                report.failed
            ),
        ),
        (
            "elapsed (s)",
            format!("{:.2}", report.elapsed.as_secs_f64()),
        ),
        ("commands/s", format!("{:.1}", report.per_second())),
        (
            "retries/command",
            format!("{:.3}", report.retries_per_command()),
        ),
        (
            "requests/command",
            format!("{:.3}", report.requests_per_command()),
        ),
        (
            "write units/cmd",
            format!("{:.2}", report.write_units_per_command()),
        ),
        (
            "read units/cmd",
            format!("{:.2}", report.read_units_per_command()),
        ),
        (
            "p50 latency (ms)",
            format!("{:.1}", millis(report.percentile(50.0))),
        ),
        (
            "p99 latency (ms)",
            format!("{:.1}", millis(report.percentile(99.0))),
        ),
    ];
    println!();
    for (name, value) in rows {
        println!("  {name:<18} {value}");
    }
    for failure in &report.failures {
        println!("  failed: {failure}");
    }
    println!();

    let expected = Expected {
        currency: eur.clone(),
        deposited: deposited.saturating_add(report.deposited),
        withdrawn: report.withdrawn,
    };
    let mut checks = audit(ledger, &accounts, expected).await?;
    checks.push(Check::new(
        report.failed == 0,
        format!("no command failed: {} failed", report.failed),
    ));
    println!("  {CHECKS}:");
    for check in &checks {
        println!("  {check}");
    }
    Ok(checks.iter().all(|check| check.passed))
}
