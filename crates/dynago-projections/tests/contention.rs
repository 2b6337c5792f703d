//! Many writers of one hot keyed view: every event of the day writes the
//! same daily total. Contention is waited out; it never fails an event.

use crate::common;

use common::{events_of, expected, moves, options, projector, setup, views_of, DailyTotals};
use dynago_projections::Offer;

#[tokio::test]
async fn eight_writers_of_one_keyed_view_apply_every_event() {
    const WRITERS: usize = 8;
    const EVENTS: i64 = 30;
    let setup = setup("proj-hot-view").await;
    let ids: Vec<String> = (0..WRITERS).map(|n| format!("hot-{n}")).collect();
    let amounts: Vec<i64> = (1..=EVENTS).collect();
    for id in &ids {
        moves(&setup.store, id, &amounts, "2026-12-24").await;
    }
    // One projector per writer (its own memory), each applying one
    // account's events: all of them into the one total of the day.
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let totals = projector(&setup, DailyTotals, options(&format!("w{n}")));
        let events = events_of(&setup.store, id).await;
        tasks.push(tokio::spawn(async move {
            let mut offers = Vec::new();
            for event in &events {
                offers.push(totals.apply(event).await);
            }
            (offers, totals.status().conflicts)
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        let (offers, lost) = task.await.expect("a writer");
        conflicts += lost;
        for offer in offers {
            // Before: 2 of 240 events failed with `Error::Config` ("lost 16
            // times in a row to other writers"), which stops a worker.
            let offer = offer.expect("contention is waited out");
            assert_eq!(offer, Offer::Applied { events: 1 });
        }
    }
    let (_, want) = expected(&setup.store, &ids).await;
    assert_eq!(views_of::<DailyTotals>(&setup.views).await, want);
    println!("{WRITERS} writers, {EVENTS} events each, {conflicts} lost races");
}
