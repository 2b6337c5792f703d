//! The projector on the table's stream, against a real DynamoDB.

use crate::common;

use std::time::Duration;

use common::{eventually, expected, options, run_commands, setup, views_of, Balances, DailyTotals};
use dynago_projections::{EventStream, Projector};

#[tokio::test]
async fn views_built_from_the_stream_equal_the_replay() {
    let setup = setup("proj-stream").await;
    let ids = run_commands(&setup.store, 5, 40, 1).await;
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("the table's stream");
    let balances = Projector::new(
        Balances::default(),
        setup.store.clone(),
        setup.views.clone(),
        options("w1").catch_up_from_table(false),
    )
    .expect("a projector");
    let totals = Projector::new(
        DailyTotals,
        setup.store.clone(),
        setup.views.clone(),
        options("w1").catch_up_from_table(false),
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
    // More commands while the projectors run.
    let more = run_commands(&setup.store, 5, 20, 2).await;
    assert_eq!(ids, more);
    let (want_balances, want_totals) = expected(&setup.store, &ids).await;
    let views = setup.views.clone();
    let done = eventually(Duration::from_secs(60), || {
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
        "views {:?} / {:?}, want {want_balances:?} / {want_totals:?}; status {:?}",
        views_of::<Balances>(&setup.views).await,
        views_of::<DailyTotals>(&setup.views).await,
        balances.status()
    );
    let status = balances.status();
    assert_eq!(
        status.applied,
        want_balances.values().map(|b| b.events).sum::<u64>()
    );
}
