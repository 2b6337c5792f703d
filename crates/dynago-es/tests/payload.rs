//! Payloads written as JSON text (`PayloadEncoding::Json`) beside native
//! maps: each store reads both, whatever it writes, upcasters included.

use crate::common;

use common::{open, raw_get, table, Account, AccountCommand, AccountEvent};
use dynago::AttributeValue;
use dynago_es::{EventStore, PayloadEncoding, StoreOptions, Upcaster};
use futures::TryStreamExt;

fn json() -> StoreOptions {
    StoreOptions::default().payload_encoding(PayloadEncoding::Json)
}

#[tokio::test]
async fn json_and_map_payloads_share_a_table_and_read_alike() {
    let table = table().await;
    let as_json = EventStore::<Account>::new(table.clone(), json()).expect("a store");
    let as_map =
        EventStore::<Account>::new(table.clone(), StoreOptions::default()).expect("a store");
    as_json.execute("acc", open("ada")).await.expect("opened");
    as_map
        .execute("acc", AccountCommand::Deposit { amount: 5 })
        .await
        .expect("deposited");
    as_json
        .execute("acc", AccountCommand::Deposit { amount: 7 })
        .await
        .expect("deposited");
    let forms: Vec<&str> = {
        let mut forms = Vec::new();
        for version in 1..=3 {
            let item = raw_get(&table, common::event_key("account", "acc", version))
                .await
                .expect("the event item");
            forms.push(match (item.get("payload"), item.get("payload_json")) {
                (None, Some(AttributeValue::S(_))) => "json",
                (Some(AttributeValue::M(_)), None) => "map",
                other => panic!("payload {other:?}"),
            });
        }
        forms
    };
    assert_eq!(forms, ["json", "map", "json"]);
    let Some(AttributeValue::S(text)) = raw_get(&table, common::event_key("account", "acc", 3))
        .await
        .and_then(|item| item.get("payload_json").cloned())
    else {
        panic!("no JSON payload");
    };
    assert_eq!(text, r#"{"Deposited":{"amount":7}}"#);
    for store in [&as_json, &as_map] {
        let loaded = store.load("acc").await.expect("loaded");
        assert_eq!((loaded.version, loaded.state.balance), (3, 12));
        let events: Vec<_> = store.events("acc", 1).try_collect().await.expect("events");
        let payloads: Vec<_> = events.into_iter().map(|e| e.payload).collect();
        assert_eq!(
            payloads,
            [
                AccountEvent::Opened {
                    owner: "ada".into()
                },
                AccountEvent::Deposited { amount: 5 },
                AccountEvent::Deposited { amount: 7 },
            ]
        );
    }
    // The codec is the store's: an item it writes reads back as the event.
    let event = std::pin::pin!(as_json.events("acc", 3))
        .try_next()
        .await
        .expect("read")
        .expect("v3");
    let item = as_json.event_item(&event).expect("an item");
    assert_eq!(
        as_map.read_event_item(item).expect("read"),
        Some(vec![event])
    );
}

#[tokio::test]
async fn a_json_payload_that_is_not_the_event_is_a_corrupt_event() {
    let table = table().await;
    let store = EventStore::<Account>::new(table.clone(), json()).expect("a store");
    store.execute("acc", open("ada")).await.expect("opened");
    let mut item = raw_get(&table, common::event_key("account", "acc", 1))
        .await
        .expect("the event item");
    item.insert(
        "payload".into(),
        AttributeValue::S("{\"Opened\":{}}".into()),
    );
    dynago_local::testing::raw_put(&table, item).await;
    let error = store.load("acc").await.expect_err("a corrupt event");
    assert!(error.is_corrupt(), "{error}");
    assert!(error.to_string().contains("account#acc"), "{error}");
}

#[tokio::test]
async fn upcasters_lift_json_payloads_too() {
    let table = table().await;
    let store = EventStore::<Account>::new(table.clone(), json()).expect("a store");
    store.execute("acc", open("ada")).await.expect("opened");
    store
        .execute("acc", AccountCommand::Deposit { amount: 3 })
        .await
        .expect("deposited");
    // Rewrite v2 as an old shape, schema version 0: `cents` for `amount`.
    let key = common::event_key("account", "acc", 2);
    let mut item = raw_get(&table, key).await.expect("the event item");
    item.insert(
        "payload_json".into(),
        AttributeValue::S(r#"{"Deposited":{"cents":3}}"#.into()),
    );
    item.insert("schema_version".into(), dynago::number_value(0));
    dynago_local::testing::raw_put(&table, item).await;
    let lifting = EventStore::<Account>::new(
        table,
        json().upcaster(Upcaster::new(
            "Deposited",
            0,
            |mut payload: serde_json::Value| {
                let body = payload
                    .get_mut("Deposited")
                    .and_then(serde_json::Value::as_object_mut)
                    .ok_or("no Deposited body")?;
                let cents = body.remove("cents").ok_or("no cents")?;
                body.insert("amount".into(), cents);
                Ok::<_, &str>(payload)
            },
        )),
    )
    .expect("a store");
    assert_eq!(lifting.load("acc").await.expect("loaded").state.balance, 3);
}
