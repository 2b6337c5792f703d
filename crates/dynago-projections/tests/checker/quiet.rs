//! When all is quiet: the workers alone bring every view to the replay of
//! its events (but for parked aggregates, which hold a prefix of theirs);
//! every record delivered again to Lambda changes nothing; once the
//! poison is lifted and the parked aggregates are replayed, every view is
//! the replay.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use dynago_local::FaultPlan;
use dynago_projections::Projection;

use super::{calm, Ctx, Run};
use crate::common::{
    differences, events_of, eventually, expected, views_of, Balance, Balances, DailyTotals,
};

/// How long the workers alone may take to catch up.
const CATCH_UP: Duration = Duration::from_secs(40);

/// The parked aggregates of `P`, read strongly.
async fn parked<P: Projection<Aggregate = crate::common::Account> + Clone>(
    ctx: &mut Ctx,
    projection: P,
) -> BTreeMap<String, u64> {
    let admin = ctx.admin(projection, "list", Duration::ZERO);
    let mut parked: BTreeMap<String, u64> = BTreeMap::new();
    // Boxed: the future of a query is deep.
    for event in Box::pin(admin.parked()).await.expect("the parked events") {
        ctx.tally
            .parked_seen
            .insert((event.aggregate_id.to_string(), event.version));
        let version = parked
            .entry(event.aggregate_id.to_string())
            .or_insert(u64::MAX);
        *version = (*version).min(event.version);
    }
    parked
}

/// How the views differ from the replay of their events; a parked
/// aggregate's view may hold any prefix of its events, and only a prefix.
async fn wrong_views(ctx: &mut Ctx) -> Vec<String> {
    let mut wrong = Vec::new();
    let parked_totals = parked(ctx, DailyTotals).await;
    if !parked_totals.is_empty() {
        wrong.push(format!(
            "daily: events parked by a handler that never fails: {parked_totals:?}"
        ));
    }
    let parked_balances = parked(ctx, ctx.balances.clone()).await;
    let (want_balances, want_totals) = expected(&ctx.setup.store, &ctx.ids).await;
    let totals = views_of::<DailyTotals>(&ctx.setup.views).await;
    if totals != want_totals {
        wrong.push(format!("daily: {}", differences(&totals, &want_totals)));
    }
    let balances = views_of::<Balances>(&ctx.setup.views).await;
    let ids: BTreeSet<&String> = balances.keys().chain(want_balances.keys()).collect();
    for id in ids {
        let (got, want) = (balances.get(id), want_balances.get(id));
        if got == want {
            continue;
        }
        if parked_balances.contains_key(id.as_str()) {
            let events = events_of(&ctx.setup.store, id).await;
            let held = got.map_or(0, |view| view.events);
            let mut prefix = Balance::default();
            for event in events
                .iter()
                .take(usize::try_from(held).unwrap_or(usize::MAX))
            {
                Projection::apply(&Balances::default(), &mut prefix, event)
                    .expect("a pure handler");
            }
            if got.is_some_and(|view| *view != prefix) || held > events.len() as u64 {
                wrong.push(format!(
                    "balances: {id} (parked from v{}): {got:?} is not the replay of its first {held} events ({prefix:?})",
                    parked_balances[id.as_str()]
                ));
            }
            continue;
        }
        wrong.push(format!(
            "balances: {id}: {got:?}, the replay gives {want:?}"
        ));
    }
    wrong
}

/// Polls until the views are right, for at most `within`; what is wrong
/// after.
async fn converge(ctx: &mut Ctx, within: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let wrong = wrong_views(ctx).await;
        if wrong.is_empty() || tokio::time::Instant::now() >= deadline {
            return wrong;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub(super) async fn check(run: &mut Run) {
    let ctx = &mut run.ctx;
    ctx.view_proxy.set_plan(FaultPlan::default());
    run.balances.proxy.set_plan(calm(run.balances.split));
    run.totals.proxy.set_plan(calm(run.totals.split));
    run.balances.trimmed = false;
    run.totals.trimmed = false;

    // The workers alone: the Lambda function has not seen the last records
    // (nor some earlier ones).
    run.balances.start_dead(ctx).await;
    run.totals.start_dead(ctx).await;
    let wrong = converge(ctx, CATCH_UP).await;
    ctx.log(format!(
        "quiet: the workers alone: {} views wrong",
        wrong.len()
    ));
    for what in wrong {
        ctx.violation(format!("after {CATCH_UP:?} of the workers alone: {what}"));
    }
    run.balances.stop_all(ctx).await;
    run.totals.stop_all(ctx).await;

    // Every record to the Lambda function again, until none fails.
    if !run.lambda.deliver_everything(ctx, 10).await {
        ctx.violation(
            "every record delivered to Lambda again 10 times: some batches still fail".into(),
        );
    }
    for what in wrong_views(ctx).await {
        ctx.violation(format!(
            "after every record was delivered to Lambda again: {what}"
        ));
    }

    // The poison lifted: the parked aggregates replayed from another
    // process; then every view is the replay, nothing parked.
    ctx.balances.poison.store(false, Ordering::SeqCst);
    let fixed = Balances::default();
    let admin = ctx.admin(fixed, "final-replay", Duration::ZERO);
    let parked_now = parked(ctx, Balances::default()).await;
    for id in parked_now.keys() {
        match admin.replay_parked(id.as_str()).await {
            Ok(_) => ctx.tally.replays += 1,
            Err(e) => ctx.violation(format!("the final replay of {id} failed: {e}")),
        }
    }
    ctx.log(format!(
        "quiet: poison lifted, parked {parked_now:?} replayed"
    ));
    let left = parked(ctx, Balances::default()).await;
    if !left.is_empty() {
        ctx.violation(format!(
            "still parked after the poison was lifted and each replayed: {left:?}"
        ));
    }
    let (want_balances, want_totals) = expected(&ctx.setup.store, &ctx.ids).await;
    let exact = eventually(Duration::ZERO, || async {
        views_of::<Balances>(&ctx.setup.views).await == want_balances
            && views_of::<DailyTotals>(&ctx.setup.views).await == want_totals
    })
    .await;
    if !exact {
        let balances = views_of::<Balances>(&ctx.setup.views).await;
        let totals = views_of::<DailyTotals>(&ctx.setup.views).await;
        ctx.violation(format!(
            "after the final replay: balances {}; daily {}",
            differences(&balances, &want_balances),
            differences(&totals, &want_totals)
        ));
    }
}
