//! `ledger demo`: the ledger's story in plain sentences, ending with checks
//! read back from the table.

use ledger::{
    audit, AccountId, Check, Currency, Expected, Ledger, LedgerError, Money, Transfer, Workload,
};

const PEOPLE: [(&str, &str); 5] = [
    ("alice", "Alice"),
    ("bob", "Bob"),
    ("carol", "Carol"),
    ("dave", "Dave"),
    ("erin", "Erin"),
];
const TASKS: usize = 8;
const COMMANDS_PER_TASK: usize = 30;
/// 100.00 EUR.
const FIRST_DEPOSIT: Money = Money::from_cents(10_000);

const OPENING: &str = "   \
   Opening reads the account (its snapshot and its events) before writing; after that the
   store's cache knows it, and a deposit is a single conditional put of its event: one
   request, one write unit.";

const CONCURRENCY: &str = "   \
   Deposits, withdrawals and transfers are picked at random. Each command decides on the
   account's state (from the store's cache when it is current) and appends its event under
   the version it decided on. When another task wrote first, the append fails and writes
   nothing; the store reads the new events and decides again. A transfer writes both
   accounts in one transaction, each under its own version. Every 50 events of an account,
   a snapshot of it is saved after them.";

/// Tells the story on `ledger`, which runs on `place`; `tag` tells this run's
/// accounts apart on a table that outlives it. Returns whether every check
/// passed.
pub(crate) async fn run(ledger: &Ledger, place: &str, tag: Option<String>) -> anyhow::Result<bool> {
    let eur: Currency = "EUR".parse()?;
    let mut accounts = Vec::new();
    for (id, _) in PEOPLE {
        let id = match &tag {
            Some(tag) => format!("{id}-{tag}"),
            None => id.to_owned(),
        };
        accounts.push(id.parse::<AccountId>()?);
    }
    let width = accounts
        .iter()
        .map(|id| id.as_str().len())
        .max()
        .unwrap_or(0);

    println!("The dynago ledger demo");
    println!("======================");
    println!("DynamoDB: {place}");
    println!("Each account is a stream of events in that table; its balance is the sum of them.");
    println!();

    println!(
        "1. Five accounts are opened in EUR, each with a first deposit of {FIRST_DEPOSIT} EUR:"
    );
    for (id, (_, owner)) in accounts.iter().zip(PEOPLE) {
        let opened = ledger.open(id, owner, eur.clone()).await?;
        let deposited = ledger.deposit(id, FIRST_DEPOSIT).await?;
        println!(
            "   {id:<width$}  opened for {owner:<5}  {} EUR, version {}: {} DynamoDB requests to open, {} to deposit",
            deposited.holder.balance, deposited.version, opened.requests, deposited.requests
        );
    }
    println!("{OPENING}");
    println!();

    println!("2. The ledger refuses what a bank would refuse, and writes nothing when it does:");
    let refused = refusals(ledger, &accounts, &tag, &eur).await?;
    println!();

    println!(
        "3. Now {TASKS} tasks run at once, {COMMANDS_PER_TASK} commands each, on the same five accounts."
    );
    println!("{CONCURRENCY}");
    let workload = Workload {
        accounts: accounts.clone(),
        currency: eur.clone(),
        tasks: TASKS,
        commands_per_task: COMMANDS_PER_TASK,
        seed: fastrand::u64(..),
    };
    let report = ledger::workload::run(ledger, &workload, || {}).await;
    println!();
    println!(
        "   {} commands in {:.2} s: {} deposits, {} withdrawals and {} transfers done;",
        report.commands(),
        report.elapsed.as_secs_f64(),
        report.deposits,
        report.withdrawals,
        report.transfers,
    );
    println!(
        "   {} refused for lack of funds (nothing written), {} failed.",
        report.refused, report.failed
    );
    for failure in &report.failures {
        println!("   failed: {failure}");
    }
    println!(
        "   Conflicts retried: {}. That many times a command found that another task had written",
        report.retries
    );
    println!("   first, and was decided again (the sum of `attempts - 1` over the commands done).");
    println!(
        "   DynamoDB requests per command: {:.2} on average. The least is 1, one write and no",
        report.requests_per_command()
    );
    println!(
        "   read, when the cache is current; a conflict adds a read of the new events and a retry."
    );
    println!();

    println!(
        "4. The balances, read back from the table (the newest snapshot, then the events after it):"
    );
    for id in &accounts {
        let statement = ledger.statement(id).await?;
        let events = match statement.events_read {
            1 => "1 event".to_owned(),
            n => format!("{n} events"),
        };
        let from = if statement.snapshot_version > 0 {
            format!(
                "snapshot at version {} + {events}",
                statement.snapshot_version
            )
        } else {
            format!("{events}, no snapshot yet")
        };
        println!(
            "   {id:<width$}  {:>8} EUR  version {:<4} ({from})",
            statement.state.balance(),
            statement.version
        );
    }
    println!();

    println!("5. The checks, from every account's events:");
    let first_deposits = accounts
        .iter()
        .fold(Money::ZERO, |sum, _| sum.saturating_add(FIRST_DEPOSIT));
    let expected = Expected {
        currency: eur,
        deposited: first_deposits.saturating_add(report.deposited),
        withdrawn: report.withdrawn,
    };
    let mut checks = audit(ledger, &accounts, expected).await?;
    checks.push(Check::new(
        refused,
        "every bad command of step 2 was refused",
    ));
    checks.push(Check::new(
        report.failed == 0,
        format!("no command failed: {} failed", report.failed),
    ));
    for check in &checks {
        println!("   {check}");
    }
    let passed = checks.iter().all(|check| check.passed);
    println!();
    if passed {
        println!(
            "All checks passed. Run `ledger --help` for the commands, `ledger stress` to measure."
        );
    } else {
        println!("Some checks FAILED.");
    }
    Ok(passed)
}

/// Sends commands the ledger must refuse and prints its answers; whether it
/// refused them all.
async fn refusals(
    ledger: &Ledger,
    accounts: &[AccountId],
    tag: &Option<String>,
    eur: &Currency,
) -> anyhow::Result<bool> {
    let (bob, carol, dave) = (&accounts[1], &accounts[2], &accounts[3]);
    let nobody: AccountId = match tag {
        Some(tag) => format!("zoe-{tag}"),
        None => "zoe".to_owned(),
    }
    .parse()?;
    let usd: Currency = "USD".parse()?;
    // 250.00 and 5.00 EUR.
    let (big, small) = (Money::from_cents(25_000), Money::from_cents(500));
    let transfer = |from: &AccountId, to: &AccountId, currency: &Currency| Transfer {
        from: from.clone(),
        to: to.clone(),
        amount: small,
        currency: currency.clone(),
    };
    let answers = [
        (
            format!("withdraw {big} EUR from {bob}"),
            ledger.withdraw(bob, big).await.map(drop),
        ),
        (
            format!("transfer {small} EUR from {carol} to {carol}"),
            ledger
                .transfer(&transfer(carol, carol, eur))
                .await
                .map(drop),
        ),
        (
            format!("transfer {small} USD from {carol} to {bob}"),
            ledger.transfer(&transfer(carol, bob, &usd)).await.map(drop),
        ),
        (
            format!("deposit {small} EUR into {nobody}"),
            ledger.deposit(&nobody, small).await.map(drop),
        ),
        (format!("close {dave}"), ledger.close(dave).await.map(drop)),
    ];
    let width = answers
        .iter()
        .map(|(what, _)| what.len())
        .max()
        .unwrap_or(0);
    let mut all_refused = true;
    for (what, answer) in answers {
        match answer {
            Err(error @ (LedgerError::Refused { .. } | LedgerError::SameAccount(_))) => {
                println!("   {what:<width$} -> {error}");
            }
            Err(error) => {
                println!("   {what:<width$} -> failed: {error}");
                all_refused = false;
            }
            Ok(()) => {
                println!("   {what:<width$} -> done, but it should have been refused!");
                all_refused = false;
            }
        }
    }
    Ok(all_refused)
}
