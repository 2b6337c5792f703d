//! Upcasting: events stored in older shapes are lifted step by step on read;
//! a failing upcaster and an unreadable event are errors that say where.

use crate::common;
use crate::common::StoreErr;

use dynago::Table;
use dynago_es::{Aggregate, DomainEvent, Error, EventStore, Metadata, StoreOptions, Upcaster};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The purse as the code knows it now: deposits carry a currency (v3).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Purse {
    total: i64,
    currencies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum PurseEvent {
    #[event(version = 3)]
    Deposited {
        amount: i64,
        currency: String,
    },
    Withdrawn {
        amount: i64,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Purse {
    const TYPE: &'static str = "purse";
    type Id = dynago_es::AggregateId;
    type Command = PurseEvent;
    type Event = PurseEvent;
    type Error = Never;

    fn handle(&self, command: &PurseEvent) -> Result<Vec<PurseEvent>, Never> {
        Ok(vec![command.clone()])
    }

    fn apply(&mut self, event: &PurseEvent) {
        match event {
            PurseEvent::Deposited { amount, currency } => {
                self.total += amount;
                if !self.currencies.contains(currency) {
                    self.currencies.push(currency.clone());
                }
            }
            PurseEvent::Withdrawn { amount } => self.total -= amount,
        }
    }
}

/// Writes events of an older shape under the same aggregate type.
macro_rules! old_purse {
    ($state:ident, $event:ident, $version:literal, { $($fields:tt)* }) => {
        #[derive(Debug, Default, Clone, Serialize, Deserialize)]
        struct $state;

        #[derive(Debug, Clone, Serialize, Deserialize, DomainEvent)]
        enum $event {
            #[event(version = $version)]
            Deposited { $($fields)* },
        }

        impl Aggregate for $state {
            const TYPE: &'static str = "purse";
            type Id = dynago_es::AggregateId;
            type Command = ();
            type Event = $event;
            type Error = Never;

            fn handle(&self, (): &()) -> Result<Vec<$event>, Never> {
                Ok(vec![])
            }

            fn apply(&mut self, _: &$event) {}
        }
    };
}

// v1 counted cents.
old_purse!(PurseV1, PurseEventV1, 1, { cents: i64 });
// v2 renamed them `amount`.
old_purse!(PurseV2, PurseEventV2, 2, { amount: i64 });

/// v1 → v2: `cents` becomes `amount`.
fn rename_cents() -> Upcaster {
    Upcaster::new("Deposited", 1, |mut payload: Value| {
        let body = payload
            .get_mut("Deposited")
            .and_then(Value::as_object_mut)
            .ok_or("no Deposited body")?;
        let cents = body.remove("cents").ok_or("no cents")?;
        body.insert("amount".into(), cents);
        Ok::<_, &str>(payload)
    })
}

/// v2 → v3: deposits made before currencies were euros; negative amounts are
/// refused.
fn add_currency() -> Upcaster {
    Upcaster::new("Deposited", 2, |mut payload: Value| {
        let body = payload
            .get_mut("Deposited")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| "no Deposited body".to_owned())?;
        if body.contains_key("currency") {
            return Err("already has a currency".to_owned());
        }
        match body.get("amount").and_then(Value::as_i64) {
            Some(amount) if amount < 0 => return Err(format!("negative amount {amount}")),
            Some(_) => {}
            None => return Err("no amount".to_owned()),
        }
        body.insert("currency".into(), json!("EUR"));
        Ok(payload)
    })
}

fn deposited(amount: i64, currency: &str) -> PurseEvent {
    PurseEvent::Deposited {
        amount,
        currency: currency.into(),
    }
}

/// A purse with events of every shape: v1, v1, v2, v3 and an unchanged type.
async fn mixed_history(table: &Table, id: &str) {
    let v1 = EventStore::<PurseV1>::new(table.clone(), StoreOptions::default()).expect("store");
    let v2 = EventStore::<PurseV2>::new(table.clone(), StoreOptions::default()).expect("store");
    let now = EventStore::<Purse>::new(table.clone(), StoreOptions::default()).expect("store");
    v1.append(
        id,
        0,
        vec![
            PurseEventV1::Deposited { cents: 100 },
            PurseEventV1::Deposited { cents: 250 },
        ],
        Metadata::default(),
    )
    .await
    .expect("v1 events");
    v2.append(
        id,
        2,
        vec![PurseEventV2::Deposited { amount: 40 }],
        Metadata::default(),
    )
    .await
    .expect("v2 events");
    now.append(
        id,
        3,
        vec![deposited(7, "USD"), PurseEvent::Withdrawn { amount: 5 }],
        Metadata::default(),
    )
    .await
    .expect("v3 events");
}

#[tokio::test]
async fn chained_upcasters_lift_every_old_event() {
    let table = common::table().await;
    mixed_history(&table, "p1").await;
    // Registered in any order: they chain by version.
    let store = EventStore::<Purse>::new(
        table,
        StoreOptions::default()
            .upcaster(add_currency())
            .upcaster(rename_cents()),
    )
    .expect("store");
    let events: Vec<_> = store
        .events("p1", 1)
        .try_collect()
        .await
        .expect("the events, lifted");
    assert_eq!(
        events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(),
        vec![
            deposited(100, "EUR"),
            deposited(250, "EUR"),
            deposited(40, "EUR"),
            deposited(7, "USD"),
            PurseEvent::Withdrawn { amount: 5 },
        ]
    );
    assert_eq!(
        events
            .iter()
            .map(|e| (e.version, e.event_type.as_str(), e.schema_version))
            .collect::<Vec<_>>(),
        vec![
            (1, "Deposited", 1),
            (2, "Deposited", 1),
            (3, "Deposited", 2),
            (4, "Deposited", 3),
            (5, "Withdrawn", 1),
        ],
        "the schema version as stored, before lifting"
    );
    let loaded = store.load("p1").await.expect("load");
    assert_eq!(loaded.version, 5);
    assert_eq!(
        loaded.state,
        Purse {
            total: 392,
            currencies: vec!["EUR".into(), "USD".into()]
        }
    );
    // Commands decide on the lifted state; new events are stored as v3.
    let outcome = store
        .execute("p1", deposited(8, "EUR"))
        .await
        .expect("execute");
    assert_eq!(outcome.version, 6);
    assert_eq!(outcome.events[0].schema_version, 3);
    assert_eq!(outcome.state.map(|s| s.total), Some(400));
    // The stored items keep their own shape: the v1 payload still says cents.
    let raw = common::raw_get(store.table(), common::event_key("purse", "p1", 1))
        .await
        .expect("event 1");
    let payload: Value =
        serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(raw["payload"].clone())
            .expect("a payload");
    assert_eq!(payload, json!({"Deposited": {"cents": 100}}));
}

#[tokio::test]
async fn a_failing_upcaster_is_an_upcast_error() {
    let table = common::table().await;
    let v2 = EventStore::<PurseV2>::new(table.clone(), StoreOptions::default()).expect("store");
    v2.append(
        "p2",
        0,
        vec![
            PurseEventV2::Deposited { amount: 3 },
            PurseEventV2::Deposited { amount: -4 },
        ],
        Metadata::default(),
    )
    .await
    .expect("v2 events");
    let store = EventStore::<Purse>::new(
        table,
        StoreOptions::default()
            .upcaster(rename_cents())
            .upcaster(add_currency()),
    )
    .expect("store");
    let check = |error: Error| match error {
        Error::Upcast {
            aggregate,
            event_type,
            from,
            reason,
        } => {
            assert_eq!(aggregate, "purse#p2");
            assert_eq!(event_type, "Deposited");
            assert_eq!(from, 2);
            assert_eq!(reason, "negative amount -4");
        }
        other => panic!("expected an upcast error, got {other:?}"),
    };
    check(store.load("p2").await.store_err("upcast fails"));
    check(
        store
            .execute("p2", deposited(1, "EUR"))
            .await
            .store_err("upcast fails"),
    );
    let mut events = std::pin::pin!(store.events("p2", 1));
    let first = events.try_next().await.expect("event 1").expect("one");
    assert_eq!(first.payload, deposited(3, "EUR"));
    check(events.try_next().await.store_err("event 2"));
    // Up to the event before it, the stream reads fine.
    let at1 = store.load_at("p2", 1).await.expect("load_at");
    assert_eq!(at1.state.total, 3);
    // Nothing was written by the failed command.
    assert_eq!(
        common::raw_get(store.table(), common::event_key("purse", "p2", 3)).await,
        None
    );
}

#[tokio::test]
async fn an_event_that_no_longer_deserializes_is_a_corrupt_event() {
    let table = common::table().await;
    mixed_history(&table, "p3").await;
    let check = |error: Error, version: u64, mention: &str| match error {
        Error::CorruptEvent {
            aggregate,
            version: found,
            reason,
        } => {
            assert_eq!(aggregate, "purse#p3");
            assert_eq!(found, version);
            assert!(reason.contains(mention), "{reason}");
        }
        other => panic!("expected a corrupt event, got {other:?}"),
    };
    // No upcaster at all: event 1 is of the v1 shape.
    let bare = EventStore::<Purse>::new(table.clone(), StoreOptions::default()).expect("store");
    check(bare.load("p3").await.store_err("v1 shape"), 1, "amount");
    // Read from event 3 on: the v2 shape lacks the currency.
    let mut events = std::pin::pin!(bare.events("p3", 3));
    check(events.try_next().await.store_err("v2 shape"), 3, "currency");
    let mut events = std::pin::pin!(bare.events("p3", 4));
    let fourth = events.try_next().await.expect("event 4").expect("one");
    assert_eq!(fourth.payload, deposited(7, "USD"));
    // Half the chain: v1 lifted to v2 still lacks the currency.
    let half = EventStore::<Purse>::new(
        table.clone(),
        StoreOptions::default().upcaster(rename_cents()),
    )
    .expect("store");
    let error = half.load("p3").await.store_err("v2 shape after lifting");
    check(error, 1, "after upcasting to v2");
    // A command on it fails the same way, and is not retried.
    let error = half
        .execute("p3", deposited(1, "EUR"))
        .await
        .store_err("corrupt");
    check(error, 1, "after upcasting to v2");
}
