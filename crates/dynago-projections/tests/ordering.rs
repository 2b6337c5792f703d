//! Events offered to `Projector::apply` out of their aggregates' order, and
//! more than once, are applied once each and in order: a later event first
//! fills the gap from the table, the earlier ones are then duplicates.

use crate::common;

use std::collections::BTreeMap;

use common::{
    events_of, expected, items_of, moves, projector, setup, views_of, Balances, DailyTotals, Setup,
};
use dynago_local::testing;
use dynago_projections::{EventOf, Offer, Projection, ProjectorOptions};

/// Three events on each of `ids`: a deposit, a withdrawal and a deposit, on
/// three days; every event, by account.
async fn three_events_each(
    setup: &Setup,
    ids: &[&str],
) -> BTreeMap<String, Vec<EventOf<Balances>>> {
    let mut events = BTreeMap::new();
    for (n, id) in ids.iter().enumerate() {
        let n = i64::try_from(n).expect("a few accounts");
        moves(&setup.store, id, &[10 + n], "2026-12-01").await;
        moves(&setup.store, id, &[-3], "2026-12-02").await;
        moves(&setup.store, id, &[7 + n], "2026-12-03").await;
        events.insert((*id).to_owned(), events_of(&setup.store, id).await);
    }
    events
}

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

/// Offers `event`, with what was offered in the message of a failure.
async fn offer<P: Projection<Aggregate = common::Account>>(
    projector: &dynago_projections::Projector<P>,
    event: &EventOf<P>,
) -> Offer {
    projector.apply(event).await.unwrap_or_else(|e| {
        panic!(
            "offering {} v{} to {}: {e}",
            event.aggregate_id,
            event.version,
            P::NAME
        )
    })
}

/// v3, then v1 and v2, of each account: the first fills the gap from the
/// table (3 events applied), the others are duplicates.
async fn v3_first_then_v1_and_v2<P>(setup: &Setup, projection: P, ids: &[&str])
where
    P: Projection<Aggregate = common::Account>,
{
    let events = three_events_each(setup, ids).await;
    let projector = projector(setup, projection, ProjectorOptions::default());
    for (id, events) in &events {
        let offers = [
            offer(&projector, &events[2]).await,
            offer(&projector, &events[0]).await,
            offer(&projector, &events[1]).await,
        ];
        assert_eq!(
            offers,
            [
                Offer::Applied { events: 3 },
                Offer::Duplicate,
                Offer::Duplicate
            ],
            "{}: v3, v1, v2 of {id} offered in that order",
            P::NAME
        );
    }
    let status = projector.status();
    assert_eq!(
        (status.applied, status.duplicates, status.gap_events),
        (
            3 * ids.len() as u64,
            2 * ids.len() as u64,
            2 * ids.len() as u64
        ),
        "{}: (applied, duplicates, read to fill gaps) after v3, v1, v2 of each account",
        P::NAME
    );
}

#[tokio::test]
async fn a_later_event_first_fills_the_gap_and_the_earlier_are_duplicates() {
    let setup = setup("proj-order-gap").await;
    let ids = ["gap-a", "gap-b"];
    v3_first_then_v1_and_v2(&setup, Balances::default(), &ids).await;
    let (want, _) = expected(&setup.store, &owned(&ids)).await;
    assert_eq!(
        views_of::<Balances>(&setup.views).await,
        want,
        "balances after v3, v1, v2 of each account"
    );
    let items = items_of(&setup.views, Balances::NAME).await;
    assert_eq!(
        items.keys().cloned().collect::<Vec<_>>(),
        ["a#gap-a", "a#gap-b"],
        "one view item per account and nothing else"
    );
}

#[tokio::test]
async fn keyed_totals_count_a_gap_filled_event_once() {
    let setup = setup("proj-order-keyed").await;
    let ids = ["key-a", "key-b"];
    v3_first_then_v1_and_v2(&setup, DailyTotals, &ids).await;
    let (_, want) = expected(&setup.store, &owned(&ids)).await;
    assert_eq!(
        views_of::<DailyTotals>(&setup.views).await,
        want,
        "daily totals after v3, v1, v2 of each account"
    );
    let items = items_of(&setup.views, DailyTotals::NAME).await;
    assert_eq!(
        items.keys().cloned().collect::<Vec<_>>(),
        [
            "k#2026-12-01",
            "k#2026-12-02",
            "k#2026-12-03",
            "p#key-a",
            "p#key-b"
        ],
        "one item per day and one position per account, nothing else"
    );
}

/// Every event of `events`, shuffled with `seed`.
fn shuffled(
    events: &BTreeMap<String, Vec<EventOf<Balances>>>,
    seed: u64,
) -> Vec<EventOf<Balances>> {
    let mut all: Vec<EventOf<Balances>> = events.values().flatten().cloned().collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut all);
    all
}

/// Offers `batch` and adds up what became of it: events applied (a gap
/// filled counts every event it applied) and duplicates.
async fn offer_all<P: Projection<Aggregate = common::Account>>(
    projector: &dynago_projections::Projector<P>,
    batch: &[EventOf<P>],
) -> (u64, u64) {
    let (mut applied, mut duplicates) = (0, 0);
    for event in batch {
        match offer(projector, event).await {
            Offer::Applied { events } => applied += events,
            Offer::Duplicate => duplicates += 1,
            other => panic!(
                "{} v{} offered to {}: {other:?}",
                event.aggregate_id,
                event.version,
                P::NAME
            ),
        }
    }
    (applied, duplicates)
}

/// Four accounts' events interleaved and shuffled, offered twice, then a
/// third time to a projector that remembers nothing: each event applied
/// once, the views as replayed, the third pass writes nothing.
async fn interleaved_and_repeated<P>(setup: &Setup, projection: impl Fn() -> P) -> usize
where
    P: Projection<Aggregate = common::Account>,
{
    let ids = ["mix-a", "mix-b", "mix-c", "mix-d"];
    let mut events = three_events_each(setup, &ids).await;
    // Two more on two of them, for aggregates of different lengths.
    moves(&setup.store, "mix-a", &[5, -1], "2026-12-02").await;
    moves(&setup.store, "mix-c", &[9], "2026-12-01").await;
    for id in ["mix-a", "mix-c"] {
        events.insert(id.to_owned(), events_of(&setup.store, id).await);
    }
    let total = events.values().map(Vec::len).sum::<usize>() as u64;

    let first = projector(setup, projection(), ProjectorOptions::default());
    let (applied, duplicates) = offer_all(&first, &shuffled(&events, 1)).await;
    assert_eq!(
        applied,
        total,
        "{}: events applied by the first pass ({duplicates} duplicates)",
        P::NAME
    );
    assert!(
        duplicates > 0,
        "{}: the shuffle offered no event after a later one of its aggregate",
        P::NAME
    );
    let again = offer_all(&first, &shuffled(&events, 2)).await;
    assert_eq!(
        again,
        (0, total),
        "{}: (applied, duplicates) when the same events are offered again",
        P::NAME
    );
    let before = items_of(&setup.views, P::NAME).await;

    // A projector that remembers nothing reads what was applied from the
    // view table.
    let fresh = projector(setup, projection(), ProjectorOptions::default());
    let third = offer_all(&fresh, &shuffled(&events, 3)).await;
    assert_eq!(
        third,
        (0, total),
        "{}: (applied, duplicates) by a new projector offered every event",
        P::NAME
    );
    assert_eq!(
        items_of(&setup.views, P::NAME).await,
        before,
        "{}: the view items changed when nothing new was offered",
        P::NAME
    );
    before.len()
}

#[tokio::test]
async fn interleaved_and_repeated_events_are_applied_once_each() {
    let setup = setup("proj-order-mix").await;
    let items = interleaved_and_repeated(&setup, Balances::default).await;
    let ids = owned(&["mix-a", "mix-b", "mix-c", "mix-d"]);
    let (want, _) = expected(&setup.store, &ids).await;
    assert_eq!(
        views_of::<Balances>(&setup.views).await,
        want,
        "balances after shuffled, repeated events"
    );
    assert_eq!(items, ids.len(), "view items: one per account");
}

#[tokio::test]
async fn interleaved_and_repeated_events_are_counted_once_in_keyed_totals() {
    let setup = setup("proj-order-mix-keyed").await;
    let items = interleaved_and_repeated(&setup, || DailyTotals).await;
    let ids = owned(&["mix-a", "mix-b", "mix-c", "mix-d"]);
    let (_, want) = expected(&setup.store, &ids).await;
    assert_eq!(
        views_of::<DailyTotals>(&setup.views).await,
        want,
        "daily totals after shuffled, repeated events"
    );
    assert_eq!(
        items,
        want.len() + ids.len(),
        "items: one per day and one position per account"
    );
}

/// The last event of `id` as if a version one past it had been written.
async fn one_past_the_last(setup: &Setup, id: &str) -> EventOf<Balances> {
    let mut event = events_of(&setup.store, id)
        .await
        .pop()
        .expect("the account has events");
    event.version += 1;
    event
}

#[tokio::test]
async fn an_event_not_in_the_table_changes_nothing() {
    let setup = setup("proj-order-missing").await;
    three_events_each(&setup, &["lost-a"]).await;
    let phantom = one_past_the_last(&setup, "lost-a").await;
    let balances = projector(&setup, Balances::default(), ProjectorOptions::default());
    assert_eq!(
        offer(&balances, &phantom).await,
        Offer::NotInTable,
        "v4 of an account whose events end at v3, offered first"
    );
    assert!(
        testing::raw_scan(&setup.views).await.is_empty(),
        "an event not in the table wrote to the view table: {:?}",
        testing::raw_scan(&setup.views).await
    );
    // The events that are there are applied as if nothing happened.
    for event in events_of(&setup.store, "lost-a").await {
        offer(&balances, &event).await;
    }
    let (want, _) = expected(&setup.store, &owned(&["lost-a"])).await;
    assert_eq!(views_of::<Balances>(&setup.views).await, want);

    let totals = projector(&setup, DailyTotals, ProjectorOptions::default());
    assert_eq!(
        offer(&totals, &phantom).await,
        Offer::NotInTable,
        "keyed: v4 of an account whose events end at v3, offered first"
    );
    assert!(
        items_of(&setup.views, DailyTotals::NAME).await.is_empty(),
        "keyed: an event not in the table wrote {:?}",
        items_of(&setup.views, DailyTotals::NAME).await
    );
}
