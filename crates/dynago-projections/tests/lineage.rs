//! What no emulator's stream does, made by the fault proxy from the real
//! server's answers: shards split from a closed parent, and records of a
//! read out of the order they were written in.

use crate::common;

use std::time::Duration;

use common::{
    eventually, expected, leases_of, options, projector, run_commands, setup, stream_through_proxy,
    views_of, Balances, DailyTotals, Running,
};
use dynago_local::FaultPlan;

#[tokio::test]
async fn a_closed_parent_is_read_to_its_end_before_its_child() {
    let setup = setup("proj-split").await;
    let ids = run_commands(&setup.store, 4, 30, 11).await;
    let (stream, proxy) =
        stream_through_proxy(&setup, FaultPlan::default().split_stream_shards(true), 3).await;
    let balances = projector(
        &setup,
        Balances::default(),
        options("split").catch_up_from_table(false),
    );
    let running = Running::start(&balances, &stream);
    let (want, _) = expected(&setup.store, &ids).await;
    let views = setup.views.clone();
    let built = eventually(Duration::from_secs(30), || {
        let views = views.clone();
        let want = want.clone();
        async move { views_of::<Balances>(&views).await == want }
    })
    .await;
    let leases = leases_of(&setup.views, "balances").await;
    running.stop().await.expect("the worker");
    assert!(
        built,
        "the views never equalled the replay; leases {leases:?}"
    );
    let parents: Vec<_> = leases
        .iter()
        .filter(|l| l.shard.ends_with("-closed-parent"))
        .collect();
    assert!(
        !parents.is_empty(),
        "no parent shard was listed: {leases:?}"
    );
    assert!(
        parents.iter().all(|l| l.ended),
        "every parent read to its end: {leases:?}"
    );
    assert!(
        proxy.stats().requests_for("GetShardIterator") >= 2,
        "an iterator on the parent and on the child"
    );
}

#[tokio::test]
async fn records_read_out_of_order_are_applied_in_each_aggregate_order() {
    let setup = setup("proj-shuffle").await;
    let ids = run_commands(&setup.store, 3, 40, 12).await;
    let (stream, _proxy) = stream_through_proxy(
        &setup,
        FaultPlan::default().seed(5).shuffle_stream_records(true),
        3,
    )
    .await;
    let options = options("shuffled").catch_up_from_table(false);
    let balances = projector(&setup, Balances::default(), options.clone());
    let totals = projector(&setup, DailyTotals, options);
    let (b, t) = (
        Running::start(&balances, &stream),
        Running::start(&totals, &stream),
    );
    let (want_balances, want_totals) = expected(&setup.store, &ids).await;
    let views = setup.views.clone();
    let built = eventually(Duration::from_secs(30), || {
        let views = views.clone();
        let (want_balances, want_totals) = (want_balances.clone(), want_totals.clone());
        async move {
            views_of::<Balances>(&views).await == want_balances
                && views_of::<DailyTotals>(&views).await == want_totals
        }
    })
    .await;
    b.stop().await.expect("the balances worker");
    t.stop().await.expect("the totals worker");
    assert!(built, "the views never equalled the replay");
    let status = balances.status();
    assert!(
        status.gap_events > 0 && status.duplicates > 0,
        "out of order, some events were read from the table and their records then skipped: {status:?}"
    );
}
