//! `ledger stress`: many writers on a few accounts, measured, then the books
//! checked.

use std::time::Duration;

use dynago_es::{Aggregate as _, AggregateId, CommandId};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use ledger::{
    audit, Account, AccountId, Check, Currency, Expected, Ledger, Money, Operation, Transfer,
    Workload,
};

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

    let costs = per_command(ledger, tag.as_deref(), &eur).await?;
    print_per_command(&costs);
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

/// What one shape of command cost, measured on accounts of its own.
struct CommandCost {
    /// The shape, as `dynago-bench` names it.
    shape: &'static str,
    /// The ledger call that has that shape.
    call: &'static str,
    /// What it cost, or why the ledger has no such command.
    measured: Result<Measured, &'static str>,
    /// Write units of the same command in dynago-es 0.1 (an item per
    /// event; a transaction for several events or a command id).
    previous: f64,
}

/// One command's requests and capacity, as its outcome reports them
/// (DynamoDB's `ConsumedCapacity`), and the limit by AWS's rules.
struct Measured {
    requests: u32,
    capacity: dynago::telemetry::Capacity,
    /// The size of the item holding each account's new event, as stored.
    item_bytes: Vec<usize>,
    limit: f64,
}

/// Started KB of `bytes`, at least 1: the write units of an item written on
/// its own.
fn started_kb(bytes: usize) -> f64 {
    f64::from(u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX))
}

/// The size of the stored item that holds `account`'s event at `version`.
async fn item_bytes(ledger: &Ledger, account: &AccountId, version: u64) -> anyhow::Result<usize> {
    let events = ledger
        .store()
        .inspector()
        .events(
            Account::TYPE,
            &AggregateId::from(account),
            version..=version,
        )
        .await?;
    events
        .first()
        .map(|event| event.size)
        .ok_or_else(|| anyhow::anyhow!("{account} has no event at version {version}"))
}

/// Runs each shape of command once on two accounts of its own (opened, and
/// so cached, first): a deposit (one event), a deposit submitted with a
/// command id, a transfer. Each ledger command decides one event per
/// account: the shapes of several events on one account have no ledger
/// command (`dynago-bench` measures them).
async fn per_command(
    ledger: &Ledger,
    tag: Option<&str>,
    currency: &Currency,
) -> anyhow::Result<Vec<CommandCost>> {
    let (accounts, _) = open_accounts(ledger, "stress-cost", tag, 2, currency).await?;
    let (from, to) = (&accounts[0], &accounts[1]);
    let amount = Money::from_cents(100);
    const NONE: &str = "no ledger command: each decides one event per account";

    let deposit = ledger.deposit(from, amount).await?;
    let bytes = item_bytes(ledger, from, deposit.version).await?;
    let one = Measured {
        requests: deposit.requests,
        capacity: deposit.capacity,
        limit: started_kb(bytes),
        item_bytes: vec![bytes],
    };

    let operation = Operation::Deposit {
        account: from.clone(),
        amount,
    };
    let id = CommandId::new(format!("{from}-deposit-with-id"));
    let submitted = ledger.submit(&operation, &id).await?;
    let version = submitted
        .versions
        .first()
        .map_or(0, |(_, version)| *version);
    let bytes = item_bytes(ledger, from, version).await?;
    let with_id = Measured {
        requests: submitted.requests,
        capacity: submitted.capacity,
        // The record of the id: one more write, of an item under 1 KB.
        limit: started_kb(bytes) + 1.0,
        item_bytes: vec![bytes],
    };

    let transfer = ledger
        .transfer(&Transfer {
            from: from.clone(),
            to: to.clone(),
            amount,
            currency: currency.clone(),
        })
        .await?;
    let sides = [
        item_bytes(ledger, from, transfer.from.version).await?,
        item_bytes(ledger, to, transfer.to.version).await?,
    ];
    let both = Measured {
        // Each side's receipt carries the whole command's usage.
        requests: transfer.from.requests,
        capacity: transfer.from.capacity,
        // A transaction: 2 units per started KB of each item.
        limit: sides.iter().map(|&bytes| 2.0 * started_kb(bytes)).sum(),
        item_bytes: sides.to_vec(),
    };

    Ok(vec![
        CommandCost {
            shape: "one event",
            call: "deposit",
            measured: Ok(one),
            previous: 1.0,
        },
        CommandCost {
            shape: "one event, with an id",
            call: "submit(Deposit, id)",
            measured: Ok(with_id),
            previous: 4.0,
        },
        CommandCost {
            shape: "3 events",
            call: "-",
            measured: Err(NONE),
            previous: 6.0,
        },
        CommandCost {
            shape: "3 events, with an id",
            call: "-",
            measured: Err(NONE),
            previous: 8.0,
        },
        CommandCost {
            shape: "a transfer",
            call: "transfer",
            measured: Ok(both),
            previous: 4.0,
        },
    ])
}

fn print_per_command(costs: &[CommandCost]) {
    println!("  write units per command, as DynamoDB reported them, on two accounts of their own,");
    println!(
        "  cached; limit by AWS's rules from the stored items: 1 unit per started KB, + 1 for"
    );
    println!("  a command id's record, x 2 in a transaction; 0.1: the previous item format");
    println!(
        "  {:<22} {:<20} {:>8} {:>6} {:>5} {:>12} {:>6}  {:<6} {:>4}",
        "command",
        "ledger call",
        "requests",
        "write",
        "read",
        "item, bytes",
        "limit",
        "within",
        "0.1"
    );
    for cost in costs {
        match &cost.measured {
            Ok(m) => {
                let bytes = m
                    .item_bytes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("+");
                let within = if m.capacity.write_units <= m.limit {
                    "yes"
                } else {
                    "OVER"
                };
                println!(
                    "  {:<22} {:<20} {:>8} {:>6} {:>5} {:>12} {:>6}  {:<6} {:>4}",
                    cost.shape,
                    cost.call,
                    m.requests,
                    m.capacity.write_units,
                    m.capacity.read_units,
                    bytes,
                    m.limit,
                    within,
                    cost.previous
                );
            }
            Err(why) => println!("  {:<22} {why} (0.1: {})", cost.shape, cost.previous),
        }
    }
}
