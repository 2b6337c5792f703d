//! Part 5: projections, through `dynago-projections` and through a loop
//! written by hand on the DynamoDB Streams API (in `projections/baseline.rs`).
//!
//! Both keep one view per account (its balance and deposits) from the
//! events table's stream, each on tables of its own holding the same
//! events, written by dynago-es. Measured for each:
//!
//! - **catch-up**: a worker started on a new view table reads the stream
//!   from its oldest record (`catch_up_from_table(false)` for the
//!   projector) and applies the events already there; timed from its start
//!   until all are applied. The sides take turns (the order swaps every
//!   round; the first round is not measured).
//! - **cost per event applied**: the requests of the view table (counted on
//!   its SDK client, every HTTP attempt, with capacity units by AWS's
//!   rules), of the events table (the projector's gap fills) and of the
//!   Streams API (counted by a [`FaultProxy`](dynago_local::FaultProxy) without faults in front of
//!   the stream), from the worker's start to the read after the last event
//!   applied.
//! - **lag**: with the worker running, commands at a steady rate; for each,
//!   a task reads the account's view from the instant the command was
//!   acknowledged until it holds the command's version.
//!
//! After every run each view must equal what its account's events replay
//! to, or the run fails.

mod baseline;
pub mod hot;
mod rig;
mod window;

use std::time::Duration;

use anyhow::{anyhow, Result};
use dynago_projections::{EventOf, Projection};

use crate::account::{evolve, Account};
use crate::server::Server;
use crate::stats::{median, percentile};

use rig::Rig;
use window::Window;

/// The longest wait between reads of an idle shard, on both sides
/// (`ProjectorOptions::idle_wait`; the loop backs off the same way).
pub const IDLE_WAIT: Duration = Duration::from_millis(100);

/// How often a lag task reads the view.
pub const LAG_POLL: Duration = Duration::from_millis(5);

/// How long anything may take before the run fails (a bound, not a
/// measure: a worker that stopped applying).
const STUCK: Duration = Duration::from_secs(120);

/// Events per command when the table is filled.
const EVENTS_PER_COMMAND: u64 = 10;

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct ProjectionPlan {
    /// Measured catch-up rounds per side (one more is run first, unmeasured).
    pub rounds: usize,
    /// Events in the table before a catch-up.
    pub events: u64,
    /// The accounts they are spread over.
    pub accounts: usize,
    /// Commands per second while the lag is measured.
    pub rate: u32,
    /// How long the lag is measured.
    pub lag_for: Duration,
    /// Events of each writer of the hot keyed view.
    pub hot_per_writer: u64,
}

/// The projection: each account's state, folded as the aggregate folds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Balances;

impl Projection for Balances {
    const NAME: &'static str = "balances";
    type Aggregate = Account;
    type View = Account;
    type Error = std::convert::Infallible;

    fn apply(&self, view: &mut Account, event: &EventOf<Self>) -> Result<(), Self::Error> {
        evolve(view, &event.payload);
        Ok(())
    }
}

/// Who keeps the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `dynago_projections::Projector::run`, one worker.
    Projector,
    /// The hand-written loop.
    Loop,
}

impl Side {
    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Side::Projector => "dynago-projections",
            Side::Loop => "hand-written Streams loop",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Side::Projector => "proj",
            Side::Loop => "loop",
        }
    }
}

/// What was sent per event applied.
#[derive(Debug, Clone, Default)]
pub struct Costs {
    /// Requests to the view table.
    pub view_requests: f64,
    /// What the view table's `dynago::Table::request_count` says (the
    /// projector only).
    pub reported_view_requests: Option<f64>,
    /// Requests to the events table (the projector's gap fills).
    pub events_table_requests: f64,
    /// Requests to the Streams API.
    pub stream_requests: f64,
    /// Write units of the view table, by AWS's rules.
    pub write_units: f64,
    /// Read units of the view table, by AWS's rules.
    pub read_units: f64,
    /// Every request by operation (events-table ones marked).
    pub by_operation: Vec<(String, f64)>,
}

/// One side's figures.
#[derive(Debug, Clone)]
pub struct SideResult {
    /// Who.
    pub side: Side,
    /// Median over rounds of the events applied per second in a catch-up.
    pub events_per_s: f64,
    /// Costs of the catch-ups, pooled over rounds.
    pub catch_up: Costs,
    /// Command acknowledged to view updated, median, ms.
    pub lag_p50_ms: f64,
    /// The same, 99th percentile, ms.
    pub lag_p99_ms: f64,
    /// Costs while commands came at the steady rate.
    pub steady: Costs,
}

/// Part 5's figures.
#[derive(Debug, Clone)]
pub struct ProjectionResult {
    /// Events in the table at a catch-up.
    pub events: u64,
    /// Accounts.
    pub accounts: usize,
    /// Commands per second during the lag measurement.
    pub rate: u32,
    /// Commands sent during it, per side.
    pub commands: u64,
    /// `dynago-projections`.
    pub projector: SideResult,
    /// The hand-written loop.
    pub baseline: SideResult,
    /// Median over rounds of the projector's events/s ÷ the loop's.
    pub events_per_s_ratio: f64,
    /// One keyed view written by several projectors at once.
    pub hot: hot::HotResult,
}

/// Runs part 5.
///
/// # Errors
///
/// A failed request or worker, or a view that does not equal its replay.
pub async fn run(server: &Server, plan: &ProjectionPlan) -> Result<ProjectionResult> {
    let mut rigs = [
        Rig::new(server, Side::Projector, plan).await?,
        Rig::new(server, Side::Loop, plan).await?,
    ];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut ratios = Vec::new();
    let mut windows = [Window::default(), Window::default()];
    for round in 0..=plan.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut per_s = [0.0; 2];
        for i in order {
            let (elapsed, window) = rigs[i].catch_up(server, &format!("r{round}")).await?;
            per_s[i] = rigs[i].written as f64 / elapsed.as_secs_f64();
            if round > 0 {
                windows[i].add(&window);
            }
        }
        if round > 0 {
            for (rate, figure) in rates.iter_mut().zip(per_s) {
                rate.push(figure);
            }
            ratios.push(per_s[0] / per_s[1]);
        }
    }
    let mut lags = Vec::new();
    for rig in &mut rigs {
        lags.push(rig.lag(server, plan).await?);
    }
    let commands = lags[0].1.events;
    let mut sides = rigs.iter().zip(rates).zip(windows).zip(lags).map(
        |(((rig, rates), window), (lag, steady))| SideResult {
            side: rig.side,
            events_per_s: median(&rates),
            catch_up: window.costs(rig.side),
            lag_p50_ms: percentile(&lag, 50.0),
            lag_p99_ms: percentile(&lag, 99.0),
            steady: steady.costs(rig.side),
        },
    );
    let projector = sides
        .next()
        .ok_or_else(|| anyhow!("no projector figures"))?;
    let baseline = sides.next().ok_or_else(|| anyhow!("no loop figures"))?;
    let hot = hot::run(server, plan.hot_per_writer).await?;
    Ok(ProjectionResult {
        events: plan.events,
        accounts: plan.accounts,
        rate: plan.rate,
        commands,
        projector,
        baseline,
        events_per_s_ratio: median(&ratios),
        hot,
    })
}
