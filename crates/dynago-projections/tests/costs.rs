//! What applying events costs in requests to the view table: a view
//! written from memory once read, one write per event.

use crate::common;

use common::{events_of, expected, moves, setup, views_of, Balances, DailyTotals};
use dynago_local::{testing, FaultPlan};
use dynago_projections::{Projector, ProjectorOptions};

#[tokio::test]
async fn each_view_is_read_once_then_written_from_memory() {
    let setup = setup("proj-costs").await;
    moves(&setup.store, "a", &[5, 7, -2, 9], "2026-12-03").await;
    moves(&setup.store, "b", &[1, 2, 3], "2026-12-03").await;
    let (views, proxy) = testing::through_proxy(&setup.views, FaultPlan::default(), 1, |o| o).await;
    let balances = Projector::new(
        Balances::default(),
        setup.store.clone(),
        views.clone(),
        ProjectorOptions::default(),
    )
    .expect("a projector");
    let totals = Projector::new(
        DailyTotals,
        setup.store.clone(),
        views,
        ProjectorOptions::default(),
    )
    .expect("a projector");
    let events: Vec<_> = [
        events_of(&setup.store, "a").await,
        events_of(&setup.store, "b").await,
    ]
    .concat();
    assert_eq!(events.len(), 7);
    for event in &events {
        balances.apply(event).await.expect("applied");
    }
    let stats = proxy.stats();
    assert_eq!(
        stats.requests_for("GetItem"),
        2,
        "each account's view read once"
    );
    assert_eq!(
        stats.requests_for("PutItem"),
        7,
        "one conditional put per event"
    );
    for event in &events {
        totals.apply(event).await.expect("applied");
    }
    let after = proxy.stats();
    assert_eq!(
        after.requests_for("GetItem") - stats.requests_for("GetItem"),
        3,
        "each account's position read once, the day's totals once"
    );
    assert_eq!(
        after.requests_for("TransactWriteItems"),
        7,
        "one transaction of the view and the position per event"
    );
    let (want_balances, want_totals) = expected(&setup.store, &["a".into(), "b".into()]).await;
    assert_eq!(views_of::<Balances>(&setup.views).await, want_balances);
    assert_eq!(views_of::<DailyTotals>(&setup.views).await, want_totals);
}
