//! One aggregate's bad data parks that aggregate, with the reason, and
//! every other aggregate goes on: a view that outgrows DynamoDB's 400 KB,
//! an event of a type this build does not know yet.

use crate::common;

use common::{events_of, moves, options, projector, setup, Account};
use dynago::{string_value, Key};
use dynago_es::{Aggregate, DomainEvent, EventStore, Metadata, StoreOptions};
use dynago_projections::{EventOf, Offer, Projection, UnknownEvents, ViewKind};
use serde::{Deserialize, Serialize};

/// A view that grows by 150 KB with every event of the accounts named
/// `big-…`: the third takes it past DynamoDB's item size.
struct Bloated;

impl Projection for Bloated {
    const NAME: &'static str = "bloated";
    type Aggregate = Account;
    type View = String;
    type Error = std::convert::Infallible;

    fn apply(&self, view: &mut String, event: &EventOf<Self>) -> Result<(), Self::Error> {
        let size = if event.aggregate_id.as_str().starts_with("big") {
            150_000
        } else {
            10
        };
        view.push_str(&"x".repeat(size));
        Ok(())
    }
}

#[tokio::test]
async fn a_view_that_outgrows_dynamodb_parks_its_aggregate_and_the_others_go_on() {
    let setup = setup("proj-bad-big").await;
    let bloated = projector(&setup, Bloated, options("w1"));
    moves(&setup.store, "big-1", &[1, 2, 3, 4], "2026-12-01").await;
    moves(&setup.store, "small", &[1, 2, 3, 4], "2026-12-01").await;
    let mut offers = Vec::new();
    for id in ["big-1", "small"] {
        for event in events_of(&setup.store, id).await {
            // Before: the third event of big-1 failed with ItemTooLarge,
            // which stops a worker at this record at every restart.
            offers.push(bloated.apply(&event).await.expect("an offer"));
        }
    }
    let one = Offer::Applied { events: 1 };
    assert_eq!(
        offers,
        [one, one, Offer::Parked, Offer::Waiting, one, one, one, one]
    );
    let parked = bloated.parked().await.expect("parked");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        (parked[0].aggregate_id.as_str(), parked[0].version),
        ("big-1", 3)
    );
    assert!(
        parked[0].error.contains("bytes"),
        "the reason: {}",
        parked[0].error
    );
    let small = bloated
        .views()
        .get("small")
        .await
        .expect("read")
        .expect("a view");
    assert_eq!(small.version, 4);
}

/// The account as a newer build knows it: one more event type.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct NewerAccount;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum NewerEvent {
    Deposited { amount: i64, day: String },
    Withdrawn { amount: i64, day: String },
    Frozen { reason: String },
}

impl Aggregate for NewerAccount {
    const TYPE: &'static str = <Account as Aggregate>::TYPE;
    type Id = dynago_es::AggregateId;
    type Command = ();
    type Event = NewerEvent;
    type Error = std::convert::Infallible;

    fn handle(&self, (): &()) -> Result<Vec<NewerEvent>, Self::Error> {
        Ok(Vec::new())
    }

    fn apply(&mut self, _: &NewerEvent) {}
}

#[tokio::test]
async fn an_event_of_a_type_this_build_does_not_know_is_parked_and_the_others_go_on() {
    let setup = setup("proj-bad-unknown").await;
    let balances = projector(&setup, common::Balances::default(), options("w1"));
    moves(&setup.store, "frozen", &[5], "2026-12-01").await;
    moves(&setup.store, "fine", &[7], "2026-12-01").await;
    // A newer build, deployed first, writes an event this one cannot read.
    let newer = EventStore::<NewerAccount>::new(setup.events.clone(), StoreOptions::default())
        .expect("a store");
    newer
        .append(
            "frozen",
            1,
            vec![NewerEvent::Frozen {
                reason: "audit".into(),
            }],
            Metadata::default(),
        )
        .await
        .expect("appended by the newer build");
    let item = |id: &str, version: u64| {
        let key = Key::new(string_value(format!("account#{id}")))
            .sort(string_value(format!("e#{version:020}")));
        let table = setup.events.clone();
        async move {
            dynago_local::testing::raw_get(&table, &key)
                .await
                .expect("the event item")
        }
    };
    let mut offers = Vec::new();
    for (id, version) in [("frozen", 1), ("frozen", 2), ("fine", 1)] {
        // Before: the second failed with a corrupt event, which stops a
        // worker at this record at every restart.
        offers.push(
            balances
                .apply_item(item(id, version).await)
                .await
                .expect("an offer"),
        );
    }
    let one = Some(Offer::Applied { events: 1 });
    assert_eq!(offers, [one, Some(Offer::Parked), one]);
    let parked = balances.parked().await.expect("parked");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        (
            parked[0].aggregate_id.as_str(),
            parked[0].version,
            parked[0].event_type.as_str()
        ),
        ("frozen", 2, "Frozen")
    );
    // Its later events wait behind it.
    newer
        .append(
            "frozen",
            2,
            vec![NewerEvent::Deposited {
                amount: 1,
                day: "2026-12-02".into(),
            }],
            Metadata::default(),
        )
        .await
        .expect("appended by the newer build");
    assert_eq!(
        balances
            .apply_item(item("frozen", 3).await)
            .await
            .expect("an offer"),
        Some(Offer::Waiting)
    );
}

/// Counts an account's events, and passes over those it cannot read.
struct Counting;

impl Projection for Counting {
    const NAME: &'static str = "counting";
    const UNKNOWN_EVENTS: UnknownEvents = UnknownEvents::Skip;
    type Aggregate = Account;
    type View = u64;
    type Error = std::convert::Infallible;

    fn apply(&self, count: &mut u64, _: &EventOf<Self>) -> Result<(), Self::Error> {
        *count += 1;
        Ok(())
    }
}

/// Counts every event in one keyed total, and passes over those it cannot
/// read.
struct CountingAll;

impl Projection for CountingAll {
    const NAME: &'static str = "counting-all";
    const VIEWS: ViewKind = ViewKind::Keyed;
    const UNKNOWN_EVENTS: UnknownEvents = UnknownEvents::Skip;
    type Aggregate = Account;
    type View = u64;
    type Error = std::convert::Infallible;

    fn view_key(&self, _: &EventOf<Self>) -> Option<String> {
        Some("all".to_owned())
    }

    fn apply(&self, count: &mut u64, _: &EventOf<Self>) -> Result<(), Self::Error> {
        *count += 1;
        Ok(())
    }
}

/// `frozen`: v1 a deposit, v2 an event of a type this build does not
/// know, v3 a deposit (both written by a newer build, each in an item of
/// its own).
async fn with_an_unknown_event_at_v2(setup: &common::Setup) {
    moves(&setup.store, "frozen", &[5], "2026-12-01").await;
    let newer = EventStore::<NewerAccount>::new(setup.events.clone(), StoreOptions::default())
        .expect("a store");
    let events = [
        NewerEvent::Frozen {
            reason: "audit".into(),
        },
        NewerEvent::Deposited {
            amount: 1,
            day: "2026-12-02".into(),
        },
    ];
    for (expected, event) in (1..).zip(events) {
        newer
            .append("frozen", expected, vec![event], Metadata::default())
            .await
            .expect("appended by the newer build");
    }
}

/// `mixed`: v1 a deposit; then one commit (one item) of v2 a deposit, v3
/// an event of a type this build does not know, v4 a deposit, all written
/// by a newer build.
async fn with_an_unknown_event_inside_a_commit(setup: &common::Setup) {
    moves(&setup.store, "mixed", &[5], "2026-12-01").await;
    let newer = EventStore::<NewerAccount>::new(setup.events.clone(), StoreOptions::default())
        .expect("a store");
    let deposit = |amount| NewerEvent::Deposited {
        amount,
        day: "2026-12-02".into(),
    };
    newer
        .append(
            "mixed",
            1,
            vec![
                deposit(2),
                NewerEvent::Frozen {
                    reason: "audit".into(),
                },
                deposit(4),
            ],
            Metadata::default(),
        )
        .await
        .expect("one commit by the newer build");
}

/// The item of `mixed` keyed by version `version`.
async fn mixed_item(setup: &common::Setup, version: u64) -> dynago::Item {
    let key =
        Key::new(string_value("account#mixed")).sort(string_value(format!("e#{version:020}")));
    dynago_local::testing::raw_get(&setup.events, &key)
        .await
        .expect("the item")
}

#[tokio::test]
async fn an_unknown_event_inside_a_commit_is_passed_over_and_the_commits_others_applied() {
    let setup = setup("proj-bad-mixed-skip").await;
    with_an_unknown_event_inside_a_commit(&setup).await;
    let counting = projector(&setup, Counting, options("w1"));
    let mut offers = Vec::new();
    for version in [1, 2] {
        offers.push(
            counting
                .apply_item(mixed_item(&setup, version).await)
                .await
                .expect("an offer"),
        );
    }
    // v2 and v4 applied, v3 passed over in between.
    assert_eq!(
        offers,
        [
            Some(Offer::Applied { events: 1 }),
            Some(Offer::Applied { events: 2 })
        ]
    );
    let view = counting
        .views()
        .get("mixed")
        .await
        .expect("read")
        .expect("a view");
    assert_eq!((view.version, view.view), (4, 3), "v1, v2 and v4 counted");
    // After a gap: the commit's record first, on a fresh projection.
    let keyed = projector(&setup, CountingAll, options("w2"));
    let offer = keyed
        .apply_item(mixed_item(&setup, 2).await)
        .await
        .expect("an offer");
    assert!(offer.is_some_and(|offer| offer.applied_any()), "{offer:?}");
    let total = dynago_projections::Views::<CountingAll>::new(setup.views.clone())
        .expect("views")
        .get_keyed("all")
        .await
        .expect("read")
        .expect("a total");
    assert_eq!(total.view, 3, "v1, v2 and v4 counted, v3 passed over");
}

#[tokio::test]
async fn an_unknown_event_inside_a_commit_is_parked_at_its_own_version_after_those_before_it() {
    let setup = setup("proj-bad-mixed-park").await;
    with_an_unknown_event_inside_a_commit(&setup).await;
    let balances = projector(&setup, common::Balances::default(), options("w1"));
    let mut offers = Vec::new();
    for version in [1, 2] {
        offers.push(
            balances
                .apply_item(mixed_item(&setup, version).await)
                .await
                .expect("an offer"),
        );
    }
    assert_eq!(
        offers,
        [Some(Offer::Applied { events: 1 }), Some(Offer::Parked)]
    );
    let parked = balances.parked().await.expect("parked");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        (
            parked[0].aggregate_id.as_str(),
            parked[0].version,
            parked[0].event_type.as_str()
        ),
        ("mixed", 3, "Frozen")
    );
    // v2, before it in the commit, was applied; v4 waits behind it.
    let view = balances
        .views()
        .get("mixed")
        .await
        .expect("read")
        .expect("a view");
    assert_eq!(view.version, 2);
}

async fn event_item(setup: &common::Setup, version: u64) -> dynago::Item {
    let key =
        Key::new(string_value("account#frozen")).sort(string_value(format!("e#{version:020}")));
    dynago_local::testing::raw_get(&setup.events, &key)
        .await
        .expect("the event item")
}

#[tokio::test]
async fn a_projection_that_skips_unknown_events_passes_over_them_in_order_or_after_a_gap() {
    let setup = setup("proj-bad-skip").await;
    with_an_unknown_event_at_v2(&setup).await;
    let one = Some(Offer::Applied { events: 1 });

    // In order: v2 is passed over, v3 applied.
    let counting = projector(&setup, Counting, options("w1"));
    let mut offers = Vec::new();
    for version in 1..=3 {
        offers.push(
            counting
                .apply_item(event_item(&setup, version).await)
                .await
                .expect("an offer"),
        );
    }
    assert_eq!(offers, [one, Some(Offer::Skipped), one]);
    let view = counting
        .views()
        .get("frozen")
        .await
        .expect("read")
        .expect("a view");
    assert_eq!((view.version, view.view), (3, 2));
    assert!(counting.parked().await.expect("parked").is_empty());

    // After a gap: v3 first; v1 is read from the table, v2 passed over.
    let keyed = projector(&setup, CountingAll, options("w2"));
    let offer = keyed
        .apply_item(event_item(&setup, 3).await)
        .await
        .expect("an offer");
    assert_eq!(offer, Some(Offer::Applied { events: 1 }));
    let total = dynago_projections::Views::<CountingAll>::new(setup.views.clone())
        .expect("views")
        .get_keyed("all")
        .await
        .expect("read")
        .expect("a total");
    assert_eq!(total.view, 2, "v1 and v3 counted, v2 passed over");
    for version in 1..=3 {
        let again = keyed
            .apply_item(event_item(&setup, version).await)
            .await
            .expect("an offer");
        assert_eq!(again, Some(Offer::Duplicate), "v{version} again");
    }
}

/// Passing over an unreadable event is no lost race: with a contention
/// policy of one try, an event after a gap holding one is applied (it was
/// `Error::Contention` with no other writer at all).
#[tokio::test]
async fn passing_over_an_unknown_event_is_not_counted_as_a_lost_race() {
    let setup = setup("proj-bad-skip-once").await;
    with_an_unknown_event_at_v2(&setup).await;
    let once = || options("w3").contention_retry(dynago::RetryPolicy::default().max_attempts(1));
    let keyed = projector(&setup, CountingAll, once());
    let offer = keyed
        .apply_item(event_item(&setup, 3).await)
        .await
        .expect("no contention");
    assert_eq!(offer, Some(Offer::Applied { events: 1 }));
    let per_aggregate = projector(&setup, Counting, once());
    let offer = per_aggregate
        .apply_item(event_item(&setup, 3).await)
        .await
        .expect("no contention");
    assert_eq!(offer, Some(Offer::Applied { events: 1 }));
}
