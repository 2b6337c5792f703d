//! Break-it review of `SnapshotPolicy::InCommit` on the read side: the
//! projector reading commit items that carry `state` and `state_version`.

use crate::common;

use std::time::Duration;

use common::{eventually, expected, options, run_commands, setup, views_of, Balances, DailyTotals};
use dynago_es::{EventStore, SnapshotPolicy, StoreOptions};
use dynago_projections::{EventStream, Projector};

/// Commands through an InCommit store (its items hold states), then
/// projectors on the table's stream, one catching up from the table first
/// (`catch_up_from_table(true)`) and one not, while more commands land:
/// the views must equal the replay (every event applied once, in order).
/// PASSES.
async fn views_from_in_commit_items(catch_up: bool) {
    let setup = setup(if catch_up { "pic-catch" } else { "pic-stream" }).await;
    let store = EventStore::new(
        setup.events.clone(),
        StoreOptions::default().snapshots(SnapshotPolicy::InCommit),
    )
    .expect("a store");
    let ids = run_commands(&store, 4, 30, 5).await;
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("the table's stream");
    let balances = Projector::new(
        Balances::default(),
        store.clone(),
        setup.views.clone(),
        options("w1").catch_up_from_table(catch_up),
    )
    .expect("a projector");
    let totals = Projector::new(
        DailyTotals,
        store.clone(),
        setup.views.clone(),
        options("w1").catch_up_from_table(catch_up),
    )
    .expect("a projector");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop2, stopped2) = tokio::sync::oneshot::channel::<()>();
    let b = tokio::spawn({
        let (balances, stream) = (balances.clone(), stream.clone());
        async move { balances.run(&stream, stopped).await }
    });
    let t = tokio::spawn({
        let totals = totals.clone();
        async move { totals.run(&stream, stopped2).await }
    });
    run_commands(&store, 4, 20, 6).await;
    let (want_balances, want_totals) = expected(&setup.store, &ids).await;
    let views = setup.views.clone();
    let done = eventually(Duration::from_secs(20), || {
        let views = views.clone();
        let want_balances = want_balances.clone();
        let want_totals = want_totals.clone();
        async move {
            views_of::<Balances>(&views).await == want_balances
                && views_of::<DailyTotals>(&views).await == want_totals
        }
    })
    .await;
    let _ = stop.send(());
    let _ = stop2.send(());
    b.await.expect("joined").expect("the balances worker");
    t.await.expect("joined").expect("the totals worker");
    assert!(
        done,
        "views {:?} {:?}, want {want_balances:?} {want_totals:?}",
        views_of::<Balances>(&setup.views).await,
        views_of::<DailyTotals>(&setup.views).await
    );
}

/// See [`views_from_in_commit_items`]: from the stream alone. PASSES.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_views_from_in_commit_items_stream() {
    views_from_in_commit_items(false).await;
}

/// See [`views_from_in_commit_items`]: catching up from the table. PASSES.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_views_from_in_commit_items_catch_up() {
    views_from_in_commit_items(true).await;
}
