//! `ledger accounts`, `report`, `project` and `rebuild`: the read side on
//! the command line.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use dynago_projections::{EventStream, ProjectorOptions};
use ledger::views::{AccountView, Accounts, DailyTotals, Progress, ReadSide};
use ledger::Currency;

use crate::cli::shell_word;

/// When `ledger project` stops, besides Ctrl-C.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Until {
    /// After this long (`--for`).
    pub(crate) duration: Option<Duration>,
    /// Once every event in the stream is applied (`--until-idle`).
    pub(crate) idle: bool,
}

/// How often `ledger project` looks at its progress.
const TICK: Duration = Duration::from_millis(250);

/// How often a progress line is printed at most when standard output is
/// not a terminal (where the line is redrawn every tick instead).
const LINE_EVERY: Duration = Duration::from_secs(1);

/// The options of the ledger's projectors: a worker id of this process;
/// leases of 10 s, so that the shards of a killed `ledger project` are
/// taken over soon; idle shards read again at least every 250 ms, so that
/// the views follow the commands closely.
pub(crate) fn options() -> ProjectorOptions {
    ProjectorOptions::default()
        .worker_id(format!(
            "ledger-{}-{:06x}",
            std::process::id(),
            fastrand::u32(..0x100_0000)
        ))
        .lease_duration(Duration::from_secs(10))
        .idle_wait(Duration::from_millis(250))
}

/// Where a command read its views from, in words.
fn source<P: dynago_projections::Projection>(read_side: &ReadSide) -> String {
    format!("the view `{}` in `{}`", P::NAME, read_side.table().name())
}

/// `ledger accounts`: one page of the accounts view.
pub(crate) async fn accounts(
    read_side: &ReadSide,
    limit: u32,
    cursor: Option<&str>,
    options: &str,
) -> anyhow::Result<()> {
    let page = read_side.accounts().list(cursor, limit).await.context(
        "cannot read the accounts view (is --cursor one that `ledger accounts` printed?)",
    )?;
    if page.views.is_empty() {
        match cursor {
            Some(_) => println!("no more accounts in {}", source::<Accounts>(read_side)),
            None => println!(
                "no account in {} yet: `ledger project` or `ledger rebuild` builds it from the events",
                source::<Accounts>(read_side)
            ),
        }
        return Ok(());
    }
    println!(
        "accounts from {} (times in UTC):",
        source::<Accounts>(read_side)
    );
    let rows: Vec<[String; 5]> = page
        .views
        .iter()
        .map(|stored| {
            let AccountView {
                owner,
                currency,
                balance,
                status,
                last_event_at,
                ..
            } = &stored.view;
            let currency = currency.as_ref().map_or("", Currency::as_str);
            [
                stored.key.clone(),
                owner.clone(),
                format!("{balance} {currency}"),
                format!("{status}, version {}", stored.version),
                last_event_at
                    .map(|at| at.format("last event %Y-%m-%d %H:%M:%S%.3f").to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let width = |column: usize| rows.iter().map(|row| row[column].len()).max().unwrap_or(0);
    let (id, owner, balance, status) = (width(0), width(1), width(2), width(3));
    for [a, b, c, d, e] in &rows {
        println!("  {a:<id$}  {b:<owner$}  {c:>balance$}  {d:<status$}  {e}");
    }
    if let Some(next) = page.cursor {
        println!(
            "more: ledger accounts --cursor {} --limit {limit}{options}",
            shell_word(&next)
        );
    }
    Ok(())
}

/// `ledger report`: every day's totals, per currency.
pub(crate) async fn report(read_side: &ReadSide) -> anyhow::Result<()> {
    let views = read_side.totals();
    let mut days = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = views.list(cursor.as_deref(), 100).await?;
        days.extend(page.views);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if days.is_empty() {
        println!(
            "no totals in {} yet: `ledger project` or `ledger rebuild` builds them from the events",
            source::<DailyTotals>(read_side)
        );
        return Ok(());
    }
    println!(
        "totals per day and currency, from {} (days in UTC):",
        source::<DailyTotals>(read_side)
    );
    let header = [
        "day",
        "currency",
        "events",
        "opened",
        "closed",
        "deposited",
        "withdrawn",
        "transfers in",
        "transfers out",
    ];
    let rows: Vec<[String; 9]> = days
        .iter()
        .map(|stored| {
            let (day, currency) = stored
                .key
                .split_once('#')
                .unwrap_or((stored.key.as_str(), ""));
            let t = &stored.view;
            [
                day.to_owned(),
                currency.to_owned(),
                t.events.to_string(),
                t.opened.to_string(),
                t.closed.to_string(),
                t.deposited.to_string(),
                t.withdrawn.to_string(),
                t.transferred_in.to_string(),
                t.transferred_out.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].len())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut line = String::new();
        for (column, cell) in cells.into_iter().enumerate() {
            let width = widths[column];
            // The day and the currency to the left, the numbers to the right.
            if column < 2 {
                line.push_str(&format!("  {cell:<width$}"));
            } else {
                line.push_str(&format!("  {cell:>width$}"));
            }
        }
        line
    };
    println!("{}", line(header.to_vec()));
    for row in &rows {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
    Ok(())
}

/// The progress line of `ledger project`.
fn progress_line(elapsed: Duration, progress: &Progress) -> String {
    let lag = progress.lag().map_or_else(
        || "- (no stream record read yet)".to_owned(),
        |lag| format!("{:.2} s", lag.as_secs_f64()),
    );
    let parked = match progress.parked() {
        0 => String::new(),
        n => format!(", {n} parked"),
    };
    let state = if progress.caught_up() {
        "caught up"
    } else {
        "reading"
    };
    format!(
        "{:>7.1} s  applied {} to the accounts, {} to the totals{parked}; lag {lag}; {state}",
        elapsed.as_secs_f64(),
        events(progress.accounts.applied),
        progress.totals.applied,
    )
}

/// `1 event`, `2 events`.
fn events(n: u64) -> String {
    match n {
        1 => "1 event".to_owned(),
        n => format!("{n} events"),
    }
}

/// Why `ledger project` stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    CtrlC,
    Duration,
    Idle,
}

/// `ledger project`: both projectors on `stream` until Ctrl-C or `until`,
/// with a progress line (redrawn on a terminal, else printed when it
/// changes, at most every second).
pub(crate) async fn project(
    read_side: &ReadSide,
    stream: &EventStream,
    until: Until,
) -> anyhow::Result<()> {
    println!(
        "projecting the events of `{}` into `{}` (accounts, daily totals, the explorer's catalog); Ctrl-C stops",
        read_side.events_table().name(),
        read_side.table().name()
    );
    let terminal = std::io::stdout().is_terminal();
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut running = std::pin::pin!(read_side.run(stream, stopped));
    let watching = async {
        let mut printed: Option<((u64, u64, u64, bool), Instant)> = None;
        let mut idle_ticks = 0;
        loop {
            tokio::time::sleep(TICK).await;
            let progress = read_side.progress();
            let line = progress_line(started.elapsed(), &progress);
            if terminal {
                print!("\r\x1b[2K{line}");
                let _ = std::io::stdout().flush();
            } else {
                let now = (
                    progress.accounts.applied,
                    progress.totals.applied,
                    progress.parked(),
                    progress.caught_up(),
                );
                let due = printed
                    .as_ref()
                    .is_none_or(|(last, at)| *last != now && at.elapsed() >= LINE_EVERY);
                if due {
                    println!("{line}");
                    printed = Some((now, Instant::now()));
                }
            }
            idle_ticks = if progress.caught_up() {
                idle_ticks + 1
            } else {
                0
            };
            // Caught up at two looks in a row, a tick apart.
            if until.idle && idle_ticks >= 2 {
                return Stopped::Idle;
            }
            if until
                .duration
                .is_some_and(|limit| started.elapsed() >= limit)
            {
                return Stopped::Duration;
            }
        }
    };
    let why = tokio::select! {
        result = &mut running => {
            if terminal {
                println!();
            }
            return result.context("a projector stopped");
        }
        why = watching => why,
        _ = tokio::signal::ctrl_c() => Stopped::CtrlC,
    };
    let _ = stop.send(());
    running.await.context("a projector stopped")?;
    let progress = read_side.progress();
    if terminal {
        print!("\r\x1b[2K");
    }
    let why = match why {
        Stopped::CtrlC => "on Ctrl-C",
        Stopped::Duration => "after --for",
        Stopped::Idle => "idle: every event in the stream is applied",
    };
    println!(
        "stopped after {:.1} s ({why}): applied {} to the accounts, {} to the totals{}",
        started.elapsed().as_secs_f64(),
        events(progress.accounts.applied),
        progress.totals.applied,
        match progress.parked() {
            0 => String::new(),
            n => format!("; {n} parked"),
        }
    );
    Ok(())
}

/// `ledger rebuild`: both views built again from the table.
pub(crate) async fn rebuild(read_side: &ReadSide) -> anyhow::Result<()> {
    let started = Instant::now();
    let rebuilt = read_side.rebuild().await?;
    println!(
        "rebuilt the views in `{}` from the events of `{}` in {:.2} s: applied {} to the accounts, {} to the totals, {} to the explorer's catalog",
        read_side.table().name(),
        read_side.events_table().name(),
        started.elapsed().as_secs_f64(),
        events(rebuilt.accounts),
        rebuilt.totals,
        rebuilt.catalog
    );
    Ok(())
}
