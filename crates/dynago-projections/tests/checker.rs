//! The projection checker: a random workload of commands on ten accounts,
//! most of them into one hot day's keyed total, while at random: workers
//! (two or three per projection) are killed and restarted; a poison event
//! is parked and replayed from another process; Lambda batches of the real
//! stream's records arrive duplicated, reordered and split, in several warm
//! containers at once; the workers read the stream through a proxy that
//! shuffles records, splits shards, expires iterators and throttles, and
//! write the views through one that loses answers; the stream is trimmed
//! under the workers (each must stop saying it fell behind).
//!
//! Rebuilds: one attempted while workers run must be refused with
//! `Error::Running`, touching nothing: while a live worker holds a lease,
//! right after the lease holder was killed while others run, and right
//! after the workers started again on a rebuilt projection (catching up
//! from the table). No Lambda batch is in flight then, so these attempts
//! wait no grace. One run by the operator (the workers stopped) while
//! Lambda batches keep arriving: those that find its fence up must fail,
//! and succeed when sent again.
//!
//! When all is quiet, the workers alone first (some accounts' records are
//! never given to the Lambda function before, so that an event a worker
//! skipped is not made good there), then every record delivered again to
//! the Lambda containers until none fails: every view must equal the replay
//! of its events (`expected`), but for the aggregates `parked()` lists,
//! whose views must hold a prefix of their events; and once the poison is
//! lifted and those are replayed, every view without exception.
//!
//! The run is seeded: `DYNAGO_CHECKER_SEED=<n>` replays a run's choices (the
//! interleaving of the tasks is the machine's); `DYNAGO_CHECKER_ROUNDS=<n>`
//! makes it longer (steps of chaos, 24 by default). The seed is printed
//! first and named in every failure, with the steps the run went through.
#![cfg(feature = "lambda")]

use crate::common;

mod pool;
mod quiet;
mod rebuilds;
mod serverless;
mod workload;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{options, setup, stream_of, Account, Balances, DailyTotals, Setup};
use dynago::Table;
use dynago_local::{testing, FaultPlan, FaultProxy, Throttle};
use dynago_projections::{EventStream, Projection, Projector, ProjectorOptions};

use pool::Pool;
use serverless::Lambda;
use workload::{burst, poison, replay_elsewhere, Writers};

const ACCOUNTS: usize = 10;
/// The day most commands count on: one keyed view written by every writer.
const HOT_DAY: &str = "2026-12-24";
const DEFAULT_ROUNDS: usize = 24;
/// How often a handler is tried before its event is parked.
const ATTEMPTS: usize = 2;
/// The Lambda function's timeout: an invocation still running is cut off.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(2);
/// What an operator sets with a Lambda function on the stream: longer than
/// its timeout (`ProjectorOptions::reset_grace`).
const RESET_GRACE: Duration = Duration::from_millis(2500);
/// How long a step may wait for workers (leases taken, runs ended).
const WORKER_WAIT: Duration = Duration::from_secs(20);

/// What the run went through, and what broke the contract.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) steps: Vec<String>,
    pub(crate) violations: Vec<String>,
    pub(crate) commands: usize,
    pub(crate) poison_deposits: usize,
    pub(crate) kills: usize,
    pub(crate) restarts: usize,
    pub(crate) clean_stops: usize,
    pub(crate) fell_behind: usize,
    pub(crate) trims: usize,
    pub(crate) replays: usize,
    pub(crate) parked_seen: BTreeSet<(String, u64)>,
    pub(crate) lambda_batches: usize,
    pub(crate) lambda_records: usize,
    pub(crate) lambda_failed: usize,
    pub(crate) lambda_timeouts: usize,
    pub(crate) cold_starts: usize,
    pub(crate) fenced_batches: usize,
    pub(crate) rebuilds: usize,
    pub(crate) refused: usize,
    pub(crate) early_attempts: usize,
    /// Writes of views lost to other writers (hot keyed views).
    pub(crate) conflicts: u64,
}

/// What every step shares: the tables, the choices, the tally.
pub(crate) struct Ctx {
    pub(crate) seed: u64,
    pub(crate) rng: fastrand::Rng,
    pub(crate) setup: Setup,
    pub(crate) ids: Vec<String>,
    /// The handler deployed to workers and Lambda containers: a deposit of
    /// 13 fails while its poison is set.
    pub(crate) balances: Balances,
    /// The view table as workers and Lambda containers reach it: through a
    /// proxy whose plan changes.
    pub(crate) views: Table,
    pub(crate) view_proxy: FaultProxy,
    /// The stream read directly: what Lambda's poller hands over.
    pub(crate) stream: EventStream,
    pub(crate) tally: Tally,
    admins: usize,
    started: Instant,
}

impl Ctx {
    pub(crate) fn log(&mut self, step: String) {
        println!(
            "checker: seed {}: {:>5.1?} {step}",
            self.seed,
            self.started.elapsed()
        );
        self.tally.steps.push(step);
    }

    pub(crate) fn violation(&mut self, what: String) {
        let what = format!("[{:.1?}] {what}", self.started.elapsed());
        println!("checker: seed {}: VIOLATION {what}", self.seed);
        self.tally.violations.push(what);
    }

    /// An operator's tool, another process: its own memory, the view table
    /// reached directly; a reset waits `grace` behind its fence.
    pub(crate) fn admin<P: Projection<Aggregate = Account>>(
        &mut self,
        projection: P,
        what: &str,
        grace: Duration,
    ) -> Projector<P> {
        self.admins += 1;
        Projector::new(
            projection,
            self.setup.store.clone(),
            self.setup.views.clone(),
            handler_options(options(&format!("admin-{what}-{}", self.admins))).reset_grace(grace),
        )
        .expect("an admin projector")
    }
}

pub(crate) fn handler_options(options: ProjectorOptions) -> ProjectorOptions {
    options.handler_retry(
        dynago::RetryPolicy::default()
            .max_attempts(ATTEMPTS)
            .min_delay(Duration::from_millis(5)),
    )
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|value| {
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}"))
    })
}

// ------------------------------------------------------------- the faults

/// The stream as it is, its shards split behind a closed parent or not.
pub(crate) fn calm(split: bool) -> FaultPlan {
    FaultPlan::default().split_stream_shards(split)
}

/// A random plan for a projection's stream reads.
fn stream_plan(rng: &mut fastrand::Rng, split: bool) -> (FaultPlan, &'static str) {
    let plan = calm(split).seed(rng.u64(..));
    match rng.u8(..6) {
        0 => (plan, "calm"),
        1 => (plan.shuffle_stream_records(true), "shuffled records"),
        2 => (
            plan.fail(400, "ExpiredIteratorException", 0.3)
                .operation("GetRecords"),
            "expired iterators",
        ),
        3 => (
            plan.shuffle_stream_records(true)
                .fail(400, "ExpiredIteratorException", 0.2)
                .operation("GetRecords"),
            "shuffled records, expired iterators",
        ),
        4 => (
            plan.throttle(Throttle::Throttling, 0.2)
                .operation("GetRecords")
                .operation("GetShardIterator")
                .operation("DescribeStream"),
            "throttled reads",
        ),
        _ => (
            plan.shuffle_stream_records(true)
                .latency(Duration::from_millis(80), 0.3),
            "shuffled records, slow reads",
        ),
    }
}

/// The stream trimmed: its records after every checkpoint are gone.
pub(crate) fn trimmed(split: bool) -> FaultPlan {
    calm(split)
        .fail(400, "TrimmedDataAccessException", 1.0)
        .operation("GetRecords")
        .operation("GetShardIterator")
}

/// A random plan for the view table's requests.
fn view_plan(rng: &mut fastrand::Rng) -> (FaultPlan, &'static str) {
    let plan = FaultPlan::default().seed(rng.u64(..));
    match rng.u8(..4) {
        0 => (plan, "calm"),
        1 => (
            plan.throttle(Throttle::Throttling, 0.05)
                .reset(0.03)
                .drop_answer(0.03),
            "throttled, reset, answers lost",
        ),
        2 => (
            plan.duplicate(0.05).drop_answer(0.02),
            "delivered twice, answers lost",
        ),
        _ => (plan.latency(Duration::from_millis(30), 0.2), "slow"),
    }
}

// ------------------------------------------------------------- the steps

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Burst,
    Lambda,
    Kill,
    Restart,
    Stop,
    StreamFaults,
    ViewFaults,
    Poison,
    Replay,
    RefusedRebuild,
    Rebuild,
    Trim,
}

/// Every run goes through each of these at least once.
const MANDATORY: [Step; 12] = [
    Step::Lambda,
    Step::Kill,
    Step::Poison,
    Step::Lambda,
    Step::Replay,
    Step::RefusedRebuild,
    Step::Rebuild,
    Step::Trim,
    Step::StreamFaults,
    Step::ViewFaults,
    Step::Kill,
    Step::Lambda,
];

/// The rest drawn by weight.
const DRAWN: [(Step, u8); 12] = [
    (Step::Burst, 4),
    (Step::Lambda, 5),
    (Step::Kill, 3),
    (Step::Restart, 2),
    (Step::Stop, 1),
    (Step::StreamFaults, 3),
    (Step::ViewFaults, 2),
    (Step::Poison, 1),
    (Step::Replay, 1),
    (Step::RefusedRebuild, 1),
    (Step::Rebuild, 1),
    (Step::Trim, 1),
];

fn schedule(rng: &mut fastrand::Rng, rounds: usize) -> Vec<Step> {
    let total: u32 = DRAWN.iter().map(|(_, w)| u32::from(*w)).sum();
    let mut steps: Vec<Step> = MANDATORY.to_vec();
    while steps.len() < rounds {
        let mut draw = rng.u32(..total);
        for (step, weight) in DRAWN {
            if draw < u32::from(weight) {
                steps.push(step);
                break;
            }
            draw -= u32::from(weight);
        }
    }
    rng.shuffle(&mut steps);
    // Something is parked before the first replay.
    let first = |steps: &[Step], s: Step| steps.iter().position(|x| *x == s);
    if let (Some(poison), Some(replay)) = (first(&steps, Step::Poison), first(&steps, Step::Replay))
    {
        if replay < poison {
            steps.swap(poison, replay);
        }
    }
    steps
}

/// One of the two projections, drawn.
macro_rules! either {
    ($run:expr, |$pool:ident| $body:expr) => {
        if $run.ctx.rng.bool() {
            let $pool = &mut $run.balances;
            $body
        } else {
            let $pool = &mut $run.totals;
            $body
        }
    };
}

struct Run {
    ctx: Ctx,
    balances: Pool<Balances>,
    totals: Pool<DailyTotals>,
    lambda: Lambda,
}

impl Run {
    async fn step(&mut self, step: Step) {
        match step {
            Step::Burst => burst(&mut self.ctx).await,
            Step::Lambda => self.lambda.step(&mut self.ctx).await,
            Step::Kill => {
                let killed = either!(self, |pool| pool.kill_one(&mut self.ctx).await);
                if !killed {
                    // The other one, then.
                    either!(self, |pool| pool.kill_one(&mut self.ctx).await);
                }
            }
            Step::Restart => {
                self.balances.start_dead(&mut self.ctx).await;
                self.totals.start_dead(&mut self.ctx).await;
                self.ctx.log("restart: every dead worker started".into());
            }
            Step::Stop => either!(self, |pool| pool.stop_one(&mut self.ctx).await),
            Step::StreamFaults => either!(self, |pool| {
                let (plan, what) = stream_plan(&mut self.ctx.rng, pool.split);
                pool.proxy.set_plan(plan);
                self.ctx.log(format!("stream of {}: {what}", pool.name()));
            }),
            Step::ViewFaults => {
                let (plan, what) = view_plan(&mut self.ctx.rng);
                self.ctx.view_proxy.set_plan(plan);
                self.ctx.log(format!("view table: {what}"));
            }
            Step::Poison => poison(&mut self.ctx).await,
            Step::Replay => replay_elsewhere(&mut self.ctx).await,
            Step::RefusedRebuild => {
                either!(self, |pool| rebuilds::refused(pool, &mut self.ctx).await)
            }
            Step::Rebuild => either!(self, |pool| {
                rebuilds::under_lambda(pool, &mut self.lambda, &mut self.ctx, "by the operator")
                    .await;
            }),
            Step::Trim => either!(self, |pool| rebuilds::trim(
                pool,
                &mut self.lambda,
                &mut self.ctx
            )
            .await),
        }
    }

    /// Between steps: workers that ended are judged, and an orchestrator
    /// restarts dead ones now and then.
    async fn between(&mut self) {
        self.balances.reap(&mut self.ctx).await;
        self.totals.reap(&mut self.ctx).await;
        if self.ctx.rng.u8(..4) == 0 {
            self.balances.start_dead(&mut self.ctx).await;
            self.totals.start_dead(&mut self.ctx).await;
        }
        tokio::time::sleep(Duration::from_millis(self.ctx.rng.u64(100..600))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_equal_the_replay_under_kills_replays_lambda_batches_and_rebuilds() {
    let seed = env_number("DYNAGO_CHECKER_SEED").unwrap_or_else(|| fastrand::u64(..));
    let rounds = env_number("DYNAGO_CHECKER_ROUNDS").map_or(DEFAULT_ROUNDS, |n| {
        usize::try_from(n).expect("a count fits usize")
    });
    println!(
        "checker: seed {seed} (rerun with DYNAGO_CHECKER_SEED={seed}), {rounds} rounds \
         (DYNAGO_CHECKER_ROUNDS), backend {}",
        dynago_local::shared()
            .await
            .expect("the shared server")
            .backend()
            .name()
    );
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed);
    let steps = schedule(&mut rng, rounds);
    let setup = setup("proj-checker").await;
    let (views, view_proxy) =
        testing::through_proxy(&setup.views, FaultPlan::default(), 3, |o| o).await;
    let balances = Balances::default();
    let workers = (rng.usize(2..=3), rng.usize(2..=3));
    let split = (rng.bool(), rng.bool());
    let balances_pool = Pool::new(&setup, balances.clone(), workers.0, split.0).await;
    let totals_pool = Pool::new(&setup, DailyTotals, workers.1, split.1).await;
    let mut ctx = Ctx {
        seed,
        rng,
        ids: (0..ACCOUNTS).map(|n| format!("acc-{n}")).collect(),
        balances,
        views,
        view_proxy,
        stream: stream_of(&setup).await,
        setup,
        tally: Tally::default(),
        admins: 0,
        started,
    };
    let lambda = Lambda::new(&mut ctx);
    ctx.log(format!(
        "{} + {} workers (shards split: {split:?}), {} Lambda containers (not shown {:?} until \
         all is quiet), steps {steps:?}",
        workers.0,
        workers.1,
        lambda.containers.len(),
        lambda.hidden()
    ));
    let mut run = Run {
        ctx,
        balances: balances_pool,
        totals: totals_pool,
        lambda,
    };
    // Some history first, then the workers, then everything at once.
    burst(&mut run.ctx).await;
    run.balances.start_all(&mut run.ctx);
    run.totals.start_all(&mut run.ctx);
    let writers = Writers::start(&run.ctx.setup.store, &run.ctx.ids, &mut run.ctx.rng);
    for (n, step) in steps.iter().enumerate() {
        run.ctx.log(format!("step {n}: {step:?}"));
        run.step(*step).await;
        run.between().await;
    }
    run.ctx.tally.commands += writers.stop().await;
    let chaos = started.elapsed();

    quiet::check(&mut run).await;

    let ctx = &run.ctx;
    let tally = &ctx.tally;
    let (want, _) = common::expected(&ctx.setup.store, &ctx.ids).await;
    let events: u64 = want.values().map(|view| view.events).sum();
    let conflicts = tally.conflicts
        + run
            .lambda
            .containers
            .iter()
            .map(serverless::Container::conflicts)
            .sum::<u64>();
    println!(
        "checker: seed {seed}: {events} events ({} commands appended, {} deposits of 13) in {:.1?} \
         ({chaos:.1?} of chaos, {} steps); workers: {} kills, {} restarts, {} clean stops, \
         {} trims with {} runs ended as fallen behind; {} replays from another process (parked: \
         {:?}); {} Lambda batches ({} records, {} answered failures, {} timed out, {} cold \
         starts, {} while fenced); {} rebuilds, {} refused ({} attempted right after a start); \
         {conflicts} view writes lost to other writers",
        tally.commands,
        tally.poison_deposits,
        started.elapsed(),
        steps.len(),
        tally.kills,
        tally.restarts,
        tally.clean_stops,
        tally.trims,
        tally.fell_behind,
        tally.replays,
        tally.parked_seen,
        tally.lambda_batches,
        tally.lambda_records,
        tally.lambda_failed,
        tally.lambda_timeouts,
        tally.cold_starts,
        tally.fenced_batches,
        tally.rebuilds,
        tally.refused,
        tally.early_attempts,
    );
    let faults = |stats: dynago_local::ProxyStats| {
        format!(
            "{} requests, {} faults ({} answers lost, {} duplicated)",
            stats.requests,
            stats.faults(),
            stats.dropped_answers,
            stats.duplicated
        )
    };
    println!(
        "checker: seed {seed}: proxies: views {}; stream of balances {}; stream of daily {}",
        faults(ctx.view_proxy.stats()),
        faults(run.balances.proxy.stats()),
        faults(run.totals.proxy.stats())
    );
    assert!(
        tally.violations.is_empty(),
        "seed {seed} (rerun with DYNAGO_CHECKER_SEED={seed} DYNAGO_CHECKER_ROUNDS={rounds}): {} \
         violations:\n{}\nsteps:\n{}",
        tally.violations.len(),
        tally.violations.join("\n"),
        tally.steps.join("\n")
    );
}
