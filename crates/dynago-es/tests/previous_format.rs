//! A table written by the previous version of the store, which wrote an
//! item per event (a command of several events as a transaction of them)
//! and every command record in the transaction of its events: it is read
//! and appended to, and its records still answer their repeats.

use crate::common;

use common::{AccountCommand, AccountEvent};
use dynago::{number_value, string_value, AttributeValue, Item};
use dynago_es::{CommandId, CommandOptions, EventEnvelope, Metadata, StoreOptions};
use futures::TryStreamExt;

/// The item the previous version wrote for `event` under `commit`.
fn previous_item(
    store: &dynago_es::EventStore<common::Account>,
    event: &EventEnvelope<AccountEvent>,
    commit: uuid::Uuid,
) -> Item {
    let mut item = store.event_item(event).expect("an item");
    item.insert("commit_id".into(), string_value(commit.to_string()));
    assert!(!item.contains_key("next_events") && !item.contains_key("last_version"));
    item
}

#[tokio::test]
async fn a_stream_of_the_previous_format_is_read_appended_to_and_its_records_answer() {
    let store = common::store(StoreOptions::default()).await;
    let table = store.table().clone();
    let id = "old";
    // Version 1 on its own; versions 2 and 3 one command with an id, in one
    // transaction of two items and its record, as the previous version
    // wrote them.
    let with_id = Metadata::default();
    let opened = EventEnvelope::of(
        "account",
        id,
        1,
        AccountEvent::Opened {
            owner: "ada".into(),
        },
    );
    let mut deposits = Vec::new();
    for (version, amount) in [(2, 10), (3, 20)] {
        let mut event =
            EventEnvelope::of("account", id, version, AccountEvent::Deposited { amount })
                .with_metadata(with_id.clone());
        event.metadata.command_id = Some("old-cmd".into());
        deposits.push(event);
    }
    common::raw_put(&table, previous_item(&store, &opened, uuid::Uuid::now_v7())).await;
    let commit = uuid::Uuid::now_v7();
    for event in &deposits {
        common::raw_put(&table, previous_item(&store, event, commit)).await;
    }
    let record: Item = [
        ("pk", string_value("cmd#account#old-cmd")),
        ("sk", string_value("command")),
        ("command_id", string_value("old-cmd")),
        ("aggregate_type", string_value("account")),
        ("commit_id", string_value(commit.to_string())),
        (
            "results",
            AttributeValue::L(vec![AttributeValue::M(
                [
                    ("aggregate_id", string_value(id)),
                    ("first_version", number_value(2_u64)),
                    ("last_version", number_value(3_u64)),
                ]
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            )]),
        ),
        ("recorded_at", string_value("2026-12-01T10:00:00Z")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    common::raw_put(&table, record).await;

    // Read: a load, the events, a range starting inside, each item alone.
    let loaded = store.load(id).await.expect("a load");
    assert_eq!((loaded.version, loaded.state.balance), (3, 30));
    assert_eq!(common::versions(&store, id).await, vec![1, 2, 3]);
    let later: Vec<_> = store
        .events_between(id, 3..=3)
        .try_collect()
        .await
        .expect("version 3");
    assert_eq!(later, deposits[1..]);
    // Its record answers a repeat with the first outcome.
    let options = || CommandOptions::default().command_id(CommandId::new("old-cmd"));
    let again = store
        .execute_with(id, AccountCommand::Deposit { amount: 999 }, options())
        .await
        .expect("the repeat");
    assert!(again.duplicate);
    assert_eq!((again.version, again.events.len()), (3, 2));
    assert_eq!(again.events, deposits);

    // Appended to in the new format: a commit of two events in one item,
    // a command with an id, events handed to append.
    let two = store
        .execute(
            id,
            AccountCommand::DepositMany {
                amounts: vec![1, 2],
            },
        )
        .await
        .expect("two deposits");
    assert_eq!(two.version, 5);
    let with = store
        .execute_with(
            id,
            AccountCommand::Deposit { amount: 4 },
            CommandOptions::default().command_id(CommandId::new("new-cmd")),
        )
        .await
        .expect("a deposit with an id");
    assert_eq!(with.version, 6);
    store
        .append(
            id,
            6,
            vec![AccountEvent::Withdrawn { amount: 7 }],
            Metadata::default(),
        )
        .await
        .expect("an append");
    assert_eq!(
        common::raw_event_versions(&table, "account", id).await,
        vec![1, 2, 3, 4, 6, 7],
        "the items' keys: three of the previous format, then one per commit"
    );
    let loaded = store.load(id).await.expect("a load");
    assert_eq!((loaded.version, loaded.state.balance), (7, 30 + 3 + 4 - 7));
    assert_eq!(
        common::versions(&store, id).await,
        (1..=7).collect::<Vec<_>>()
    );
    // An append under a version inside the new commit is a conflict.
    let inside = store
        .append(
            id,
            4,
            vec![AccountEvent::Deposited { amount: 1 }],
            Metadata::default(),
        )
        .await
        .expect_err("version 4 is inside a commit, not the stream's end");
    assert_eq!(
        inside.conflict_versions().map(|v| (v.expected, v.actual)),
        Some((4, 7))
    );
}

/// During a rolling upgrade from 0.1, `item_per_event` writes what 0.1
/// reads: an item per event, several in one transaction, and a command's
/// record in that transaction.
#[tokio::test]
async fn item_per_event_writes_what_the_previous_version_reads() {
    let (direct, proxied, proxy) = {
        let direct = common::table().await;
        let (proxied, proxy) =
            common::through_proxy(&direct, dynago_local::FaultPlan::default(), 3, |o| o).await;
        (direct, proxied, proxy)
    };
    let store = dynago_es::EventStore::<common::Account>::new(
        proxied,
        StoreOptions::default().item_per_event(true),
    )
    .expect("a store");
    store
        .execute(
            "up",
            AccountCommand::Open {
                owner: "ada".into(),
            },
        )
        .await
        .expect("open");
    let before = proxy.stats();
    store
        .execute_with(
            "up",
            AccountCommand::DepositMany {
                amounts: vec![1, 2, 3],
            },
            CommandOptions::default().command_id(CommandId::new("up-1")),
        )
        .await
        .expect("three deposits with an id");
    let after = proxy.stats();
    let sent = |op: &str| after.requests_for(op) - before.requests_for(op);
    assert_eq!((sent("TransactWriteItems"), sent("PutItem")), (1, 0));
    assert_eq!(
        common::raw_event_versions(&direct, "account", "up").await,
        vec![1, 2, 3, 4],
        "an item per event"
    );
    let record = common::raw_get(
        &direct,
        dynago::Key::new(string_value("cmd#account#up-1")).sort(string_value("command")),
    )
    .await
    .expect("the record");
    assert!(!record.contains_key("reserved"), "{record:?}");
}
