//! `ledger demo`: the ledger's story in plain sentences, ending with checks
//! read back from the table.

use std::time::{Duration, Instant};

use anyhow::Context;
use dynago_projections::EventStream;

use ledger::views::{self, ReadSide, Replayed};
use ledger::{
    audit, AccountId, Check, Currency, Expected, Ledger, LedgerError, Money, Report, Transfer,
    Workload,
};

use crate::backend::Connected;

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

/// What the projectors do while the tasks run, writing to the table `views`.
fn projection(views: &str) -> String {
    format!(
        "   \
   Meanwhile two projectors read the table's DynamoDB Stream and keep the views in the table
   `{views}`: one per account (owner, balance, version), and totals per day and
   currency. Each event is applied once, in its account's order, whatever order the stream
   delivers."
    )
}

/// How long the views may take to catch up with the table after the last
/// command before the check fails.
const CATCH_UP: Duration = Duration::from_secs(30);

/// Tells the story on the ledger `connected` to, which runs on `place`;
/// `tag` tells this run's accounts apart on a table that outlives it.
/// Returns whether every check passed.
pub(crate) async fn run(
    connected: &Connected,
    place: &str,
    tag: Option<String>,
) -> anyhow::Result<bool> {
    let ledger = &connected.ledger;
    // Idle shards read every 50 ms at most: the views follow closely.
    let read_side = ReadSide::new(
        ledger,
        crate::read::options().idle_wait(Duration::from_millis(50)),
    )?;
    let stream = EventStream::connect(connected.table_options.clone())
        .await
        .context("the demo's projectors read the table's stream")?;
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
    println!("{}", projection(read_side.table().name()));
    let workload = Workload {
        accounts: accounts.clone(),
        currency: eur.clone(),
        tasks: TASKS,
        commands_per_task: COMMANDS_PER_TASK,
        seed: fastrand::u64(..),
    };
    let (report, views) = with_projectors(ledger, &read_side, &stream, &workload).await;
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
    let progress = read_side.progress();
    println!(
        "   The projectors applied {} events to the accounts view and {} to the daily totals, {} of",
        progress.accounts.applied, progress.totals.applied,
        progress.accounts.gap_events + progress.totals.gap_events,
    );
    println!(
        "   them read from the table to fill a gap; {} delivered again were skipped. {}.",
        progress.accounts.duplicates + progress.totals.duplicates,
        match &views.caught_up {
            Some(after) => format!(
                "The views\n   caught up {} ms after the last command",
                after.as_millis()
            ),
            None => format!(
                "The views\n   had not caught up {} s after the last command",
                CATCH_UP.as_secs()
            ),
        }
    );
    println!();

    println!(
        "4. The balances, read back from the table (the newest snapshot, then the events after it),"
    );
    println!("   and from the accounts view:");
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
        let view = match read_side.accounts().get(id).await? {
            Some(view) => format!("view: {} EUR, version {}", view.view.balance, view.version),
            None => "no view".to_owned(),
        };
        println!(
            "   {id:<width$}  {:>8} EUR  version {:<4} {:<36} {view}",
            statement.state.balance(),
            statement.version,
            format!("({from})"),
        );
    }
    let mut cursor: Option<String> = None;
    loop {
        let page = read_side.totals().list(cursor.as_deref(), 100).await?;
        for day in page.views {
            let (date, currency) = day.key.split_once('#').unwrap_or((day.key.as_str(), ""));
            let totals = &day.view;
            println!(
                "   The totals of {date} in {currency}, from their view: {} events ({} accounts opened, {} closed),",
                totals.events, totals.opened, totals.closed
            );
            println!(
                "   {} deposited, {} withdrawn, {} transferred in and {} out.",
                totals.deposited, totals.withdrawn, totals.transferred_in, totals.transferred_out
            );
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
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
    checks.push(views.check(read_side.table().name()));
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

/// What became of the views while the workload ran.
struct Projected {
    /// The projectors' error, if they stopped on one.
    failed: Option<String>,
    /// What the events replay to, read after the workload.
    replayed: Option<Replayed>,
    /// Where the views differ from it, at the last look.
    differences: Vec<String>,
    /// How long after the workload the views equalled the replay.
    caught_up: Option<Duration>,
}

impl Projected {
    /// The check that every view is what the events replay to.
    fn check(&self, table: &str) -> Check {
        if let Some(error) = &self.failed {
            return Check::new(
                false,
                format!("views equal the replay: the projectors failed: {error}"),
            );
        }
        let Some(replayed) = &self.replayed else {
            return Check::new(
                false,
                "views equal the replay: the events could not be replayed",
            );
        };
        if self.differences.is_empty() {
            return Check::new(
                true,
                format!(
                    "views equal the replay: {} and {} in `{table}` hold what their {} events replay to",
                    count(replayed.accounts.len(), "account view"),
                    count(replayed.totals.len(), "daily total"),
                    replayed.events
                ),
            );
        }
        let shown = 3;
        let mut detail = self.differences[..self.differences.len().min(shown)].join("; ");
        if self.differences.len() > shown {
            detail.push_str(&format!("; and {} more", self.differences.len() - shown));
        }
        Check::new(
            false,
            format!(
                "views differ from the replay {} s after the last command: {detail}",
                CATCH_UP.as_secs()
            ),
        )
    }
}

/// `1 daily total`, `2 daily totals`.
fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// Runs `workload` on `ledger` with both projectors running on `stream`,
/// then waits
/// until the views equal what the events replay to (for at most
/// [`CATCH_UP`], or until the projectors stop on an error), and stops the
/// projectors.
async fn with_projectors(
    ledger: &Ledger,
    read_side: &ReadSide,
    stream: &EventStream,
    workload: &Workload,
) -> (Report, Projected) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let (read_side, stream) = (read_side.clone(), stream.clone());
        async move { read_side.run(&stream, stopped).await }
    });
    let report = ledger::workload::run(ledger, workload, || {}).await;
    let mut projected = catch_up(ledger, read_side, || running.is_finished()).await;
    let _ = stop.send(());
    match running.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => projected.failed = Some(error.to_string()),
        Err(error) => projected.failed = Some(format!("their task ended: {error}")),
    }
    (report, projected)
}

/// Replays the events, then compares the views with the replay until they
/// are equal, [`CATCH_UP`] has passed or `stopped()` says that the
/// projectors stopped.
async fn catch_up(ledger: &Ledger, read_side: &ReadSide, stopped: impl Fn() -> bool) -> Projected {
    let started = Instant::now();
    let mut views = Projected {
        failed: None,
        replayed: None,
        differences: Vec::new(),
        caught_up: None,
    };
    let replayed = match views::replay(ledger.store()).await {
        Ok(replayed) => replayed,
        Err(error) => {
            views.failed = Some(format!("replaying the events: {error}"));
            return views;
        }
    };
    loop {
        let last = started.elapsed() >= CATCH_UP || stopped();
        // The views are read when the projectors say they caught up (and a
        // last time), so as not to slow them down meanwhile.
        if last || read_side.progress().caught_up() {
            match replayed.differences(read_side).await {
                Ok(differences) if differences.is_empty() => {
                    views.caught_up = Some(started.elapsed());
                    views.differences.clear();
                    break;
                }
                Ok(differences) => views.differences = differences,
                Err(error) => {
                    views.failed = Some(format!("reading the views: {error}"));
                    break;
                }
            }
        }
        if last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    views.replayed = Some(replayed);
    views
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

#[cfg(test)]
mod tests {
    use super::*;

    fn projected(differences: &[&str]) -> Projected {
        Projected {
            failed: None,
            replayed: Some(Replayed::default()),
            differences: differences.iter().map(|d| (*d).to_owned()).collect(),
            caught_up: None,
        }
    }

    #[test]
    fn the_views_check_fails_naming_what_differs() {
        let check = projected(&["account alice: no view", "a", "b", "c", "d"]).check("t-views");
        assert!(!check.passed);
        assert_eq!(
            check.detail,
            "views differ from the replay 30 s after the last command: account alice: no view; a; b; and 2 more"
        );
        let mut failed = projected(&[]);
        failed.failed = Some("the stream is gone".into());
        let check = failed.check("t-views");
        assert!(!check.passed);
        assert!(check
            .detail
            .ends_with("the projectors failed: the stream is gone"));
        let check = projected(&[]).check("t-views");
        assert!(check.passed);
        assert_eq!(
            check.detail,
            "views equal the replay: 0 account views and 0 daily totals in `t-views` hold what their 0 events replay to"
        );
    }
}
