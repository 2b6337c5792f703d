//! `ledger soak`: the stress test without a stop for a while, printing
//! throughput and the process's memory as it goes, then the checks of the
//! books and of memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::workload::{self, Live, Totals};
use ledger::{audit, Check, Currency, Expected, Ledger, Workload};

use crate::stress::open_accounts;

/// How a soak runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// How long.
    pub(crate) duration: Duration,
    /// How long, in minutes, as given.
    pub(crate) minutes: f64,
    /// How often a line is printed.
    pub(crate) interval: Duration,
    /// Accounts the commands share.
    pub(crate) accounts: usize,
    /// Tasks sending commands at once.
    pub(crate) tasks: usize,
    /// Accounts the store's cache holds at most.
    pub(crate) cache: usize,
    /// How much the resident memory at the end may exceed that after the
    /// first interval, in percent.
    pub(crate) margin: u32,
}

/// The resident memory of this process now and at its peak, in bytes, from
/// `/proc/self/status` (`VmRSS`, `VmHWM`); `None` where there is no such
/// file (not Linux).
fn memory() -> Option<(u64, u64)> {
    memory_of("self")
}

/// The same for the process `pid` (`self` for this one).
fn memory_of(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kib: u64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[allow(clippy::cast_precision_loss, reason = "sizes far below 2^52")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn float(n: u64) -> f64 {
    n as f64
}

/// `minutes` as given, and in seconds when not whole: `3 min`,
/// `0.25 min (15 s)`.
fn minutes(minutes: f64) -> String {
    if minutes.fract() == 0.0 {
        format!("{minutes} min")
    } else {
        // To a tenth of a second: 0.05 min is 3 s, not 3.0000000000000004.
        format!("{minutes} min ({} s)", (minutes * 600.0).round() / 10.0)
    }
}

fn millis(latency: Duration) -> f64 {
    latency.as_secs_f64() * 1000.0
}

/// The latency under which `percent` of the sorted `latencies` finished.
fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    let rank = (sorted.len() as f64 * percent / 100.0).ceil();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let index = (rank as usize).saturating_sub(1);
    sorted.get(index).copied().unwrap_or_default()
}

fn memory_columns(memory: Option<(u64, u64)>) -> String {
    match memory {
        Some((rss, peak)) => format!("{:>8.1} {:>9.1}", mib(rss), mib(peak)),
        None => format!("{:>8} {:>9}", "n/a", "n/a"),
    }
}

/// Runs the soak on `ledger`, which runs on `place`; `tag` tells this run's
/// accounts apart on a table that outlives it; `server` is the process id
/// of the server when it is a child of this one, whose memory is shown too.
/// Returns whether every check passed.
pub(crate) async fn run(
    ledger: &Ledger,
    place: &str,
    tag: Option<String>,
    shape: Shape,
    server: Option<u32>,
) -> anyhow::Result<bool> {
    let server_memory = || server.and_then(|pid| memory_of(&pid.to_string()));
    let eur: Currency = "EUR".parse()?;
    println!(
        "soak: {} accounts, {} tasks, for {}, a line every {:.0} s; the store caches at most {} accounts",
        shape.accounts,
        shape.tasks,
        minutes(shape.minutes),
        shape.interval.as_secs_f64(),
        shape.cache,
    );
    println!("on {place}");
    println!(
        "RSS and peak (VmRSS, VmHWM) are this process's: the ledger, its store and the SDK{}",
        if server.is_some() {
            "; the server's, in its own process, are shown apart"
        } else {
            ""
        }
    );
    let (accounts, deposited) =
        open_accounts(ledger, "soak", tag.as_deref(), shape.accounts, &eur).await?;
    let workload = Workload {
        accounts: accounts.clone(),
        currency: eur.clone(),
        tasks: shape.tasks,
        commands_per_task: 0,
        seed: fastrand::u64(..),
    };

    println!();
    println!(
        "  {:>6} {:>11} {:>9} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9}{}",
        "time",
        "commands/s",
        "commands",
        "refused",
        "failed",
        "p50 ms",
        "p99 ms",
        "RSS MiB",
        "peak MiB",
        if server.is_some() {
            "  server RSS MiB"
        } else {
            ""
        }
    );
    let live = Arc::new(Live::default());
    let started = Instant::now();
    let deadline = started + shape.duration;
    let running = {
        let (ledger, workload, live) = (ledger.clone(), workload.clone(), Arc::clone(&live));
        tokio::spawn(async move { workload::run_until(&ledger, &workload, deadline, &live).await })
    };
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::from_std(started + shape.interval),
        shape.interval,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running = std::pin::pin!(running);
    let mut last = (started, Totals::default());
    let mut first_rss = None;
    let mut finished = false;
    while !finished {
        tokio::select! {
            _ = ticks.tick() => {}
            joined = &mut running => {
                joined?;
                finished = true;
            }
        }
        let now = Instant::now();
        let totals = live.totals();
        let latencies = live.take_latencies();
        let commands = totals.commands - last.1.commands;
        let seconds = now.duration_since(last.0).as_secs_f64().max(1e-9);
        let memory = memory();
        if first_rss.is_none() {
            first_rss = memory.map(|(rss, _)| rss);
        }
        if commands > 0 || !finished {
            let server_column = match server_memory() {
                Some((rss, _)) => format!(" {:>16.1}", mib(rss)),
                None => String::new(),
            };
            println!(
                "  {:>4.0} s {:>11.1} {:>9} {:>8} {:>7} {:>7.1} {:>7.1} {}{server_column}",
                now.duration_since(started).as_secs_f64(),
                float(commands) / seconds,
                totals.commands,
                totals.refused,
                totals.failed,
                millis(percentile(&latencies, 50.0)),
                millis(percentile(&latencies, 99.0)),
                memory_columns(memory),
            );
        }
        last = (now, totals);
    }
    let end_memory = memory();
    let elapsed = started.elapsed();
    let totals = live.totals();

    println!();
    let rows = [
        (
            "commands",
            format!(
                "{} ({} done, {} refused, {} failed)",
                totals.commands,
                totals.done(),
                totals.refused,
                totals.failed
            ),
        ),
        ("elapsed (s)", format!("{:.1}", elapsed.as_secs_f64())),
        (
            "commands/s",
            format!(
                "{:.1}",
                float(totals.commands) / elapsed.as_secs_f64().max(1e-9)
            ),
        ),
        (
            "retries/command",
            format!(
                "{:.3}",
                float(totals.retries) / float(totals.done()).max(1.0)
            ),
        ),
        (
            "requests/command",
            format!(
                "{:.3}",
                float(totals.requests) / float(totals.done()).max(1.0)
            ),
        ),
    ];
    for (name, value) in rows {
        println!("  {name:<18} {value}");
    }
    for failure in &totals.failures {
        println!("  failed: {failure}");
    }
    println!();

    let expected = Expected {
        currency: eur,
        deposited: deposited.saturating_add(totals.deposited),
        withdrawn: totals.withdrawn,
    };
    let audited = Instant::now();
    let mut checks = audit(ledger, &accounts, expected).await?;
    checks.push(Check::new(
        totals.failed == 0,
        format!("no command failed: {} failed", totals.failed),
    ));
    checks.push(memory_check(first_rss, end_memory, shape.margin));
    println!("  {}; and memory:", crate::stress::CHECKS);
    for check in &checks {
        println!("  {check}");
    }
    println!(
        "  (the checks read {} accounts back in {:.1} s)",
        accounts.len(),
        audited.elapsed().as_secs_f64()
    );
    Ok(checks.iter().all(|check| check.passed))
}

/// Whether the resident memory at the end is within `margin` percent of
/// what it was after the first interval.
fn memory_check(first: Option<u64>, end: Option<(u64, u64)>, margin: u32) -> Check {
    let (Some(first), Some((end, peak))) = (first, end) else {
        return Check::new(
            true,
            "memory not measured: no /proc/self/status on this system",
        );
    };
    let limit = first + first / 100 * u64::from(margin);
    let change = (float(end) - float(first)) / float(first.max(1)) * 100.0;
    Check::new(
        end <= limit,
        format!(
            "memory {}: RSS {:.1} MiB at the end, {:.1} MiB after the first interval ({change:+.1} %, margin {margin} %); peak {:.1} MiB",
            if end <= limit { "flat" } else { "grew" },
            mib(end),
            mib(first),
            mib(peak),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_is_printed_as_given() {
        assert_eq!(minutes(3.0), "3 min");
        assert_eq!(minutes(0.25), "0.25 min (15 s)");
        assert_eq!(minutes(0.05), "0.05 min (3 s)");
        assert_eq!(minutes(1.5), "1.5 min (90 s)");
    }
}
