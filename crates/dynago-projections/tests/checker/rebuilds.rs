//! Rebuilds: attempted under live workers (refused, nothing touched), run
//! while Lambda batches keep arriving (fenced), and after the stream was
//! trimmed under the workers (each says it fell behind).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dynago::{string_value, AttributeValue, Item, Key, Table};
use dynago_local::{testing, FaultPlan};
use dynago_projections::{Error, Projection, Projector};

use super::pool::Pool;
use super::serverless::{Lambda, Outcome};
use super::{calm, trimmed, Ctx, WORKER_WAIT};
use crate::common::{self, items_of, Account};

/// The fence of a projection's reset, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fence {
    generation: u64,
    up: bool,
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

async fn fence(views: &Table, projection: &str) -> Fence {
    let key = Key::new(string_value(projection)).sort(string_value("reset"));
    testing::raw_get(views, &key)
        .await
        .map_or_else(Fence::default, |item| Fence {
            generation: number(&item, "generation").unwrap_or_default(),
            up: matches!(item.get("up"), Some(AttributeValue::Bool(true))),
        })
}

/// What a refused reset changed: views or positions gone or moved back,
/// the fence's generation moved.
fn touched(before: &BTreeMap<String, Item>, after: &BTreeMap<String, Item>) -> Vec<String> {
    let mut changes = Vec::new();
    for (sort, item) in before {
        let counter = match sort.get(..2) {
            Some("a#" | "p#") => "version",
            Some("k#") => "revision",
            _ if sort == "reset" => "generation",
            _ => continue,
        };
        let (was, now) = (
            number(item, counter),
            after.get(sort).map(|i| number(i, counter)),
        );
        match now {
            None => changes.push(format!("{sort} deleted")),
            Some(now) if sort == "reset" && now != was => {
                changes.push(format!("the fence's generation {was:?} -> {now:?}"));
            }
            Some(now) if now < was => changes.push(format!("{sort}: {counter} {was:?} -> {now:?}")),
            Some(_) => {}
        }
    }
    changes
}

/// A rebuild by an operator's tool with no Lambda batch in flight (no
/// grace needed), under workers that run: it must be refused with
/// `Error::Running`, and touch nothing. `situation` says how the workers
/// stand.
async fn attempt_under_live_workers<P>(pool: &Pool<P>, ctx: &mut Ctx, situation: &str)
where
    P: Projection<Aggregate = Account> + Clone,
{
    let running = pool.running_ids();
    let leases = common::leases_of(&ctx.setup.views, P::NAME).await;
    let before = items_of(&ctx.setup.views, P::NAME).await;
    let admin: Projector<P> = ctx.admin(pool.projection.clone(), "rebuild", Duration::ZERO);
    let result = tokio::time::timeout(Duration::from_secs(60), admin.rebuild()).await;
    let what = format!(
        "a rebuild of {} while workers {running:?} run ({situation}; leases {:?})",
        P::NAME,
        leases
            .iter()
            .map(|l| format!(
                "{}: {:?}{}",
                l.shard,
                l.owner,
                if l.ended { " ended" } else { "" }
            ))
            .collect::<Vec<_>>()
    );
    match result {
        Ok(Err(Error::Running { workers, .. })) => {
            ctx.tally.refused += 1;
            let strangers: Vec<&String> = workers.iter().filter(|w| !pool.ever.contains(*w)).collect();
            if workers.is_empty() || !strangers.is_empty() {
                ctx.violation(format!(
                    "{what} was refused naming workers {workers:?}, of which never ran: {strangers:?}"
                ));
            }
            ctx.log(format!("{what}: refused, workers {workers:?}"));
            let after = items_of(&ctx.setup.views, P::NAME).await;
            let changes = touched(&before, &after);
            if !changes.is_empty() {
                ctx.violation(format!("{what} was refused, but touched the views: {changes:?}"));
            }
        }
        Ok(Ok(applied)) => ctx.violation(format!(
            "{what} was not refused: it deleted the projection under them and applied {applied} events"
        )),
        Ok(Err(e)) => ctx.violation(format!("{what} failed with {e:?}, not Error::Running")),
        Err(_) => ctx.violation(format!("{what} hung")),
    }
}

/// A rebuild attempted while a live worker holds a lease; or right after
/// the holder was killed, while the others run.
pub(super) async fn refused<P>(pool: &mut Pool<P>, ctx: &mut Ctx)
where
    P: Projection<Aggregate = Account> + Clone,
{
    pool.start_dead(ctx).await;
    let Some(holder) = pool.live_lease_holder(ctx, WORKER_WAIT).await else {
        ctx.violation(format!(
            "no live worker of {} held a lease within {WORKER_WAIT:?} (running: {:?})",
            P::NAME,
            pool.running_ids()
        ));
        return;
    };
    if pool.running_ids().len() > 1 && ctx.rng.bool() {
        pool.kill(&holder, ctx).await;
        attempt_under_live_workers(pool, ctx, &format!("the lease holder {holder} just killed"))
            .await;
    } else {
        attempt_under_live_workers(pool, ctx, &format!("{holder} holds a lease")).await;
    }
}

/// Stops the workers of `pool`, rebuilds while Lambda batches keep
/// arriving (those that find the fence up must fail, and succeed when sent
/// again after), and starts the workers again; now and then, a second
/// rebuild is attempted right after they started.
pub(super) async fn under_lambda<P>(
    pool: &mut Pool<P>,
    lambda: &mut Lambda,
    ctx: &mut Ctx,
    why: &str,
) where
    P: Projection<Aggregate = Account> + Clone,
{
    pool.stop_all(ctx).await;
    ctx.view_proxy.set_plan(FaultPlan::default());
    let records = match ctx.stream.lambda_records().await {
        Ok(records) => lambda.shown(records),
        Err(e) => {
            ctx.violation(format!(
                "reading the stream's records for Lambda failed: {e}"
            ));
            Vec::new()
        }
    };
    let admin = ctx.admin(pool.projection.clone(), "rebuild", super::RESET_GRACE);
    let task = tokio::spawn(async move { admin.rebuild().await });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut sent = Vec::new();
    while !task.is_finished() && Instant::now() < deadline && !records.is_empty() {
        let len = ctx.rng.usize(1..=records.len().min(20));
        let from = ctx.rng.usize(..=records.len() - len);
        let mut batch = records[from..from + len].to_vec();
        if ctx.rng.bool() {
            batch.reverse();
        }
        let container = ctx.rng.usize(..lambda.containers.len());
        let before = fence(&ctx.setup.views, P::NAME).await;
        let outcome = lambda.containers[container].invoke(&batch).await;
        let after = fence(&ctx.setup.views, P::NAME).await;
        if matches!(outcome, Outcome::TimedOut) {
            lambda.cold_start(container, ctx);
        }
        sent.push((before, outcome, after, batch));
        tokio::time::sleep(Duration::from_millis(ctx.rng.u64(20..120))).await;
    }
    if !task.is_finished() {
        task.abort();
    }
    match task.await {
        Ok(Ok(applied)) => {
            ctx.tally.rebuilds += 1;
            ctx.log(format!(
                "rebuild of {} ({why}): {applied} events applied, {} Lambda batches meanwhile",
                P::NAME,
                sent.len()
            ));
        }
        Ok(Err(e)) => ctx.violation(format!("the rebuild of {} ({why}) failed: {e:?}", P::NAME)),
        Err(_) => ctx.violation(format!("the rebuild of {} ({why}) took over 90 s", P::NAME)),
    }
    let mut again = Vec::new();
    for (before, outcome, after, batch) in sent {
        ctx.tally.lambda_batches += 1;
        ctx.tally.lambda_records += batch.len();
        let fenced = before.up && after.up && before.generation == after.generation;
        ctx.tally.fenced_batches += usize::from(fenced);
        match outcome {
            Outcome::Applied if fenced => ctx.violation(format!(
                "a Lambda batch of {} records answered no failure while the fence of {}'s reset stood (generation {})",
                batch.len(),
                P::NAME,
                before.generation
            )),
            Outcome::Applied => {}
            Outcome::Failed(_) => {
                ctx.tally.lambda_failed += 1;
                again.push(batch);
            }
            Outcome::TimedOut => {
                ctx.tally.lambda_timeouts += 1;
                again.push(batch);
            }
            Outcome::Refused(e) => ctx.violation(format!("lambda::handle refused a batch: {e}")),
        }
    }
    let resent = again.len();
    for batch in again {
        lambda
            .until_applied(&batch, 6, ctx, "after the reset")
            .await;
    }
    ctx.log(format!(
        "{resent} batches that failed during the rebuild of {} sent again",
        P::NAME
    ));
    pool.trimmed = false;
    pool.proxy.set_plan(calm(pool.split));
    pool.start_all(ctx);
    if ctx.rng.bool() {
        // An operator who rebuilds again at once: the workers have no lease
        // yet, they catch up from the table.
        tokio::time::sleep(Duration::from_millis(ctx.rng.u64(0..300))).await;
        ctx.tally.early_attempts += 1;
        attempt_under_live_workers(pool, ctx, "just started after a rebuild").await;
    }
}

/// The stream trimmed under the workers (its records after their
/// checkpoints gone, or its shards no longer listed, as after a weekend
/// stop): each must stop with `FellBehind`; then the operator rebuilds.
pub(super) async fn trim<P>(pool: &mut Pool<P>, lambda: &mut Lambda, ctx: &mut Ctx)
where
    P: Projection<Aggregate = Account> + Clone,
{
    pool.start_dead(ctx).await;
    let holder = pool.live_lease_holder(ctx, WORKER_WAIT).await;
    let (plan, how) = if ctx.rng.bool() {
        (trimmed(pool.split), "records trimmed after the checkpoints")
    } else {
        (
            calm(pool.split).patch_answer(
                "DescribeStream",
                serde_json::json!({"StreamDescription": {"Shards": []}}),
            ),
            "shards no longer listed",
        )
    };
    pool.proxy.set_plan(plan);
    pool.trimmed = true;
    ctx.tally.trims += 1;
    ctx.log(format!(
        "stream of {}: {how} (lease held by {holder:?}; running {:?})",
        P::NAME,
        pool.running_ids()
    ));
    let all_ended = {
        let pool: &Pool<P> = pool;
        common::eventually(Duration::from_secs(30), || async {
            pool.running_ids().is_empty()
        })
        .await
    };
    if !all_ended {
        ctx.violation(format!(
            "workers {:?} of {} kept running 30 s on a stream whose {how}",
            pool.running_ids(),
            P::NAME
        ));
    }
    pool.stop_all(ctx).await;
    under_lambda(pool, lambda, ctx, "fell behind").await;
}
