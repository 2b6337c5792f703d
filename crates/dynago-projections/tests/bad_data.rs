//! One aggregate's bad data parks that aggregate, with the reason, and
//! every other aggregate goes on: a view that outgrows DynamoDB's 400 KB,
//! an event of a type this build does not know yet.

use crate::common;

use common::{events_of, moves, options, projector, setup, Account};
use dynago::{string_value, Key};
use dynago_es::{Aggregate, DomainEvent, EventStore, Metadata, StoreOptions};
use dynago_projections::{EventOf, Offer, Projection};
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum NewerEvent {
    Deposited { amount: i64, day: String },
    Withdrawn { amount: i64, day: String },
    Frozen { reason: String },
}

impl DomainEvent for NewerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Deposited { .. } => "Deposited",
            Self::Withdrawn { .. } => "Withdrawn",
            Self::Frozen { .. } => "Frozen",
        }
    }
}

impl Aggregate for NewerAccount {
    const TYPE: &'static str = <Account as Aggregate>::TYPE;
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
