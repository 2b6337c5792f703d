//! Events are readable data: one item each, with a native map for a payload,
//! streamed back in order however long the stream.

use crate::common;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use common::{AccountCommand, AccountEvent, Write};
use dynago::AttributeValue;
use dynago_es::{CommandId, CommandOptions, Metadata, StoreOptions};
use futures::TryStreamExt;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

#[tokio::test]
async fn an_event_item_holds_its_envelope_and_a_native_payload() {
    let store = common::store(StoreOptions::default()).await;
    let table = store.table().clone();
    let started = Utc::now();
    let opened = store
        .execute("e1", common::open("ada"))
        .await
        .expect("open");
    let metadata = Metadata::default()
        .correlation_id("corr-1")
        .causation_id("cause-1")
        .with("user", "ada")
        .with("ip", "10.0.0.1");
    let deposited = store
        .execute_with(
            "e1",
            AccountCommand::Deposit { amount: 250 },
            CommandOptions::default()
                .command_id(CommandId::new("cmd-1"))
                .metadata(metadata),
        )
        .await
        .expect("deposit");
    let finished = Utc::now();

    let item = common::raw_get(&table, common::event_key("account", "e1", 2))
        .await
        .expect("event 2 under its documented key");
    assert_eq!(
        item.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "pk",
            "sk",
            "aggregate_type",
            "aggregate_id",
            "version",
            "event_id",
            "event_type",
            "schema_version",
            "timestamp",
            "metadata",
            "commit_id",
            "payload",
        ])
    );
    assert_eq!(item["pk"], s("account#e1"));
    assert_eq!(item["sk"], s("e#00000000000000000002"));
    assert_eq!(item["aggregate_type"], s("account"));
    assert_eq!(item["aggregate_id"], s("e1"));
    assert_eq!(item["version"], AttributeValue::N("2".into()));
    assert_eq!(item["event_type"], s("Deposited"));
    assert_eq!(item["schema_version"], AttributeValue::N("1".into()));
    let event = &deposited.events[0];
    let event_id = uuid::Uuid::parse_str(common::string(&item, "event_id")).expect("a UUID");
    assert_eq!(event_id.get_version_num(), 7);
    assert_eq!(event_id, event.event_id);
    let commit_id = uuid::Uuid::parse_str(common::string(&item, "commit_id")).expect("a UUID");
    assert_eq!(commit_id.get_version_num(), 7);
    let timestamp: DateTime<Utc> = common::string(&item, "timestamp")
        .parse()
        .expect("an RFC 3339 timestamp");
    assert_eq!(timestamp, event.timestamp);
    assert!(started <= timestamp && timestamp <= finished);
    assert_eq!(
        item["metadata"],
        AttributeValue::M(HashMap::from([
            ("correlation_id".to_owned(), s("corr-1")),
            ("causation_id".to_owned(), s("cause-1")),
            ("command_id".to_owned(), s("cmd-1")),
            (
                "extra".to_owned(),
                AttributeValue::M(HashMap::from([
                    ("user".to_owned(), s("ada")),
                    ("ip".to_owned(), s("10.0.0.1")),
                ])),
            ),
        ]))
    );
    assert_eq!(
        item["payload"],
        AttributeValue::M(HashMap::from([(
            "Deposited".to_owned(),
            AttributeValue::M(HashMap::from([(
                "amount".to_owned(),
                AttributeValue::N("250".into())
            )])),
        )]))
    );
    // Without metadata: no attribute at all.
    let first = common::raw_get(&table, common::event_key("account", "e1", 1))
        .await
        .expect("event 1");
    assert!(!first.contains_key("metadata"), "{first:?}");
    assert_eq!(
        first["payload"],
        AttributeValue::M(HashMap::from([(
            "Opened".to_owned(),
            AttributeValue::M(HashMap::from([("owner".to_owned(), s("ada"))])),
        )]))
    );
    assert_ne!(
        common::string(&first, "event_id"),
        common::string(&item, "event_id")
    );

    // Read back, the envelopes are those the commands returned.
    let events = common::all_events(&store, "e1").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], opened.events[0]);
    assert_eq!(events[1], deposited.events[0]);
    assert_eq!(events[1].metadata.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(events[1].metadata.causation_id.as_deref(), Some("cause-1"));
    assert_eq!(events[1].metadata.command_id.as_deref(), Some("cmd-1"));
    assert_eq!(events[1].metadata.extra["user"], "ada");
    assert_eq!(events[0].metadata, Metadata::default());
    assert_eq!(events[1].aggregate_type, "account");
    assert_eq!(events[1].aggregate_id.as_str(), "e1");
    assert_eq!(events[1].event_type, "Deposited");
    assert_eq!(events[1].schema_version, 1);
}

#[tokio::test]
async fn events_stream_in_order_from_any_version() {
    let store = common::store(StoreOptions::default()).await;
    store
        .execute("s1", common::open("ada"))
        .await
        .expect("open");
    store
        .execute(
            "s1",
            AccountCommand::DepositMany {
                amounts: vec![1, 2, 3, 4, 5],
            },
        )
        .await
        .expect("deposit");
    store
        .execute("s1", AccountCommand::Withdraw { amount: 6 })
        .await
        .expect("withdraw");
    // Another aggregate's events in the same table stay out.
    store
        .execute("s2", common::open("bob"))
        .await
        .expect("open");
    let from = |from: u64| {
        let store = store.clone();
        async move {
            store
                .events("s1", from)
                .map_ok(|e| (e.version, e.payload))
                .try_collect::<Vec<_>>()
                .await
                .expect("events")
        }
    };
    let all = from(1).await;
    assert_eq!(
        all,
        vec![
            (
                1,
                AccountEvent::Opened {
                    owner: "ada".into()
                }
            ),
            (2, AccountEvent::Deposited { amount: 1 }),
            (3, AccountEvent::Deposited { amount: 2 }),
            (4, AccountEvent::Deposited { amount: 3 }),
            (5, AccountEvent::Deposited { amount: 4 }),
            (6, AccountEvent::Deposited { amount: 5 }),
            (7, AccountEvent::Withdrawn { amount: 6 }),
        ]
    );
    assert_eq!(from(0).await, all, "version 0 reads from the first");
    assert_eq!(from(5).await, all[4..]);
    assert_eq!(from(7).await, all[6..]);
    assert_eq!(from(8).await, vec![]);
    assert_eq!(
        store
            .events("nobody", 1)
            .try_collect::<Vec<_>>()
            .await
            .expect("events"),
        vec![]
    );
}

#[tokio::test]
async fn ten_thousand_events_load_whole() {
    // Written through a cache, so that each command is one transaction.
    let writer = common::store(StoreOptions::default().cache(10)).await;
    writer
        .execute("long", common::open("ada"))
        .await
        .expect("open");
    let mut expected = 0;
    for batch in 0..101 {
        let amounts: Vec<i64> = (0..99).map(|n| batch * 100 + n + 1).collect();
        expected += amounts.iter().sum::<i64>();
        let outcome = writer
            .execute("long", AccountCommand::DepositMany { amounts })
            .await
            .expect("deposit");
        assert_eq!(
            outcome.version,
            1 + 99 * (u64::try_from(batch).expect("small") + 1)
        );
    }
    let reader = dynago_es::EventStore::<common::Account>::new(
        writer.table().clone(),
        StoreOptions::default(),
    )
    .expect("store");
    let loaded = reader.load("long").await.expect("load");
    assert_eq!(loaded.version, 10_000);
    assert_eq!(loaded.events_read, 10_000);
    assert_eq!(loaded.snapshot_version, 0);
    assert_eq!(loaded.state.balance, expected);
    assert_eq!(loaded.state.deposits, 9_999);
    let versions = common::versions(&reader, "long").await;
    assert_eq!(versions, (1..=10_000).collect::<Vec<_>>());
    // A command on it reads it whole and appends after it.
    let outcome = reader
        .execute("long", AccountCommand::Withdraw { amount: 1 })
        .await
        .expect("withdraw");
    assert_eq!(outcome.version, 10_001);
    assert_eq!(outcome.state.map(|s| s.balance), Some(expected - 1));
}

#[tokio::test]
async fn a_stream_over_1_mb_reads_whole() {
    let store = common::journal_store(StoreOptions::default()).await;
    for count in [99, 99, 99, 3] {
        store
            .execute("wide", Write::sized(count, 8 * 1024))
            .await
            .expect("write");
    }
    let events = common::all_events(&store, "wide").await;
    assert_eq!(events.len(), 300);
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=300).collect::<Vec<_>>()
    );
    for (n, event) in events.iter().enumerate() {
        let common::JournalEvent::Written { text } = &event.payload;
        assert_eq!(text.len(), 8 * 1024);
        // Each command numbers its entries from 0.
        assert!(text.starts_with(&format!("{}:", n % 99)), "event {}", n + 1);
    }
    let before = store.table().request_count();
    let loaded = store.load("wide").await.expect("load");
    assert!(
        store.table().request_count() - before >= 3,
        "2.4 MB take at least three pages of 1 MB"
    );
    assert_eq!((loaded.version, loaded.events_read), (300, 300));
    assert_eq!(loaded.state.entries, 300);
    assert_eq!(loaded.state.bytes, 300 * 8 * 1024);
}
