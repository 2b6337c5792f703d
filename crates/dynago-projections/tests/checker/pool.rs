//! The workers of one projection: started, killed, stopped and restarted,
//! each reading the stream through the projection's fault proxy, and each
//! run that ended judged.

use std::collections::BTreeSet;
use std::time::Duration;

use dynago_local::FaultProxy;
use dynago_projections::{EventStream, Projection, Projector};

use super::{calm, handler_options, Ctx};
use crate::common::{self, options, stream_through_proxy, Account, Running, Setup};

/// A place for one worker process.
struct Slot<P: Projection> {
    name: String,
    /// The id of its worker: a restart keeps it, or takes a new one.
    worker: String,
    starts: usize,
    running: Option<Running<P>>,
}

/// The workers of projection `P`.
pub(crate) struct Pool<P: Projection> {
    pub(crate) projection: P,
    stream: EventStream,
    pub(crate) proxy: FaultProxy,
    /// Whether the proxy shows the stream's shards behind a closed parent
    /// (for the whole run: a parent that disappeared would be a trim).
    pub(crate) split: bool,
    /// The proxy answers every read as trimmed: a run may end as fallen
    /// behind.
    pub(crate) trimmed: bool,
    slots: Vec<Slot<P>>,
    /// Every worker id that ran.
    pub(crate) ever: BTreeSet<String>,
}

impl<P> Pool<P>
where
    P: Projection<Aggregate = Account> + Clone,
{
    pub(crate) async fn new(setup: &Setup, projection: P, workers: usize, split: bool) -> Self {
        let (stream, proxy) = stream_through_proxy(setup, calm(split), 3).await;
        let slots = (1..=workers)
            .map(|n| {
                let name = format!("{}-w{n}", P::NAME);
                Slot {
                    worker: name.clone(),
                    name,
                    starts: 0,
                    running: None,
                }
            })
            .collect();
        Self {
            projection,
            stream,
            proxy,
            split,
            trimmed: false,
            slots,
            ever: BTreeSet::new(),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        P::NAME
    }

    /// The ids of the workers whose run has not ended.
    pub(crate) fn running_ids(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|slot| slot.running.as_ref().is_some_and(|r| !r.ended()))
            .map(|slot| slot.worker.clone())
            .collect()
    }

    fn start(&mut self, slot: usize, ctx: &mut Ctx) {
        let slot = &mut self.slots[slot];
        if slot.running.is_some() {
            return;
        }
        if slot.starts > 0 {
            ctx.tally.restarts += 1;
            // A new process takes a new id, or the same one again.
            if ctx.rng.bool() {
                slot.worker = format!("{}-r{}", slot.name, slot.starts);
            }
        }
        slot.starts += 1;
        let projector = Projector::new(
            self.projection.clone(),
            ctx.setup.store.clone(),
            ctx.views.clone(),
            handler_options(options(&slot.worker)),
        )
        .expect("a worker's projector");
        slot.running = Some(Running::start(&projector, &self.stream));
        self.ever.insert(slot.worker.clone());
    }

    pub(crate) fn start_all(&mut self, ctx: &mut Ctx) {
        for slot in 0..self.slots.len() {
            self.start(slot, ctx);
        }
    }

    /// Starts the slots whose worker is not running (never started, killed,
    /// stopped, or ended); a run that ended is judged first.
    pub(crate) async fn start_dead(&mut self, ctx: &mut Ctx) {
        self.reap(ctx).await;
        for slot in 0..self.slots.len() {
            if self.slots[slot].running.is_none() {
                self.start(slot, ctx);
            }
        }
    }

    /// Kills a running worker (its task aborted where it is, its leases
    /// left held); whether there was one to kill.
    pub(crate) async fn kill_one(&mut self, ctx: &mut Ctx) -> bool {
        let running = self.running_ids();
        if running.is_empty() {
            return false;
        }
        let victim = running[ctx.rng.usize(..running.len())].clone();
        // Let it be in the middle of something.
        tokio::time::sleep(Duration::from_millis(ctx.rng.u64(0..200))).await;
        self.kill(&victim, ctx).await;
        true
    }

    /// Kills worker `who`.
    pub(crate) async fn kill(&mut self, who: &str, ctx: &mut Ctx) {
        let Some(slot) = self.slots.iter().position(|s| s.worker == who) else {
            return;
        };
        let Some(mut running) = self.slots[slot].running.take() else {
            return;
        };
        running.handle.abort();
        let joined = (&mut running.handle).await;
        ctx.tally.conflicts += running.projector.status().conflicts;
        match joined {
            Err(e) if e.is_cancelled() => {
                ctx.tally.kills += 1;
                ctx.log(format!("kill {who} ({})", P::NAME));
            }
            Err(e) => panic!("the task of worker {who} failed: {e}"),
            Ok(result) => judge(ctx, P::NAME, who, self.trimmed, result),
        }
    }

    /// Stops a running worker cleanly (it lets its leases go).
    pub(crate) async fn stop_one(&mut self, ctx: &mut Ctx) {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&n| self.slots[n].running.is_some())
            .collect();
        if running.is_empty() {
            return;
        }
        let slot = running[ctx.rng.usize(..running.len())];
        self.stop(slot, ctx).await;
    }

    async fn stop(&mut self, slot: usize, ctx: &mut Ctx) {
        let who = self.slots[slot].worker.clone();
        if let Some(running) = self.slots[slot].running.take() {
            let ended = running.ended();
            ctx.tally.conflicts += running.projector.status().conflicts;
            let result = running.stop().await;
            if !ended && result.is_ok() {
                ctx.tally.clean_stops += 1;
                ctx.log(format!("stop {who} ({})", P::NAME));
            }
            judge(ctx, P::NAME, &who, self.trimmed, result);
        }
    }

    pub(crate) async fn stop_all(&mut self, ctx: &mut Ctx) {
        for slot in 0..self.slots.len() {
            self.stop(slot, ctx).await;
        }
    }

    /// Judges the runs that ended by themselves.
    pub(crate) async fn reap(&mut self, ctx: &mut Ctx) {
        for slot in 0..self.slots.len() {
            if self.slots[slot]
                .running
                .as_ref()
                .is_some_and(Running::ended)
            {
                self.stop(slot, ctx).await;
            }
        }
    }

    /// Waits until a worker that runs holds a lease of an unended shard; its
    /// id.
    pub(crate) async fn live_lease_holder(&self, ctx: &Ctx, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let running = self.running_ids();
            let leases = common::leases_of(&ctx.setup.views, P::NAME).await;
            if let Some(holder) = leases
                .iter()
                .filter(|lease| !lease.ended)
                .find_map(|lease| lease.owner.clone().filter(|o| running.contains(o)))
            {
                return Some(holder);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What a run that ended gave: a stop, or a fall behind a trimmed stream;
/// anything else breaks the contract.
fn judge(
    ctx: &mut Ctx,
    projection: &str,
    who: &str,
    trimmed: bool,
    result: dynago_projections::Result<()>,
) {
    match result {
        Ok(()) => {}
        Err(e) if e.is_fell_behind() && trimmed => {
            ctx.tally.fell_behind += 1;
            ctx.log(format!("{who} ({projection}) fell behind and said so: {e}"));
        }
        Err(e) if e.is_fell_behind() => ctx.violation(format!(
            "worker {who} of {projection} ended as fallen behind on a stream that was not trimmed: {e}"
        )),
        Err(e) if trimmed => ctx.violation(format!(
            "worker {who} of {projection} ended on a trimmed stream without saying it fell behind: {e:?}"
        )),
        Err(e) => ctx.violation(format!("worker {who} of {projection} ended with {e:?}")),
    }
}
