//! Bad data in an aggregate's partition, written past the store by another
//! writer: each is a typed error that names the aggregate and the version or
//! the item, on `load`, on the `events` stream and on `execute`, which is not
//! retried and writes nothing (a full scan of the table is the same after).
use crate::common;
use crate::common::StoreErr;

use common::{contents, event_key, raw_delete, raw_get, raw_put, Account, AccountCommand};
use dynago::{AttributeValue, Item};
use dynago_es::{CommandId, CommandOptions, Error, EventStore, StoreOptions};
use futures::TryStreamExt;

/// Opens the account `id` and deposits until it is at version `version`.
async fn history(store: &EventStore<Account>, id: &str, version: u64) {
    store.execute(id, common::open("ada")).await.expect("open");
    // One command per event: an item per event, each to damage alone.
    for v in 2..=version {
        let amount = i64::try_from(v).expect("small") * 10;
        let outcome = store
            .execute(id, AccountCommand::Deposit { amount })
            .await
            .expect("a deposit");
        assert_eq!(outcome.version, v);
    }
}

fn deposit() -> AccountCommand {
    AccountCommand::Deposit { amount: 1 }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key attributes of the item of `id` with sort key `sort`.
fn key_item(id: &str, sort: &str) -> Item {
    Item::from([
        ("pk".to_owned(), s(&format!("account#{id}"))),
        ("sk".to_owned(), s(sort)),
    ])
}

/// Event `version` of `id`, as stored.
async fn event_item(store: &EventStore<Account>, id: &str, version: u64) -> Item {
    raw_get(store.table(), event_key("account", id, version))
        .await
        .expect("the event is stored")
}

/// `execute` fails on `id` with an error that `expected` accepts, after
/// `requests` requests, without retrying (not a conflict, no
/// `RetriesExhausted`) and without changing anything in the table.
async fn refused(
    store: &EventStore<Account>,
    id: &str,
    requests: u64,
    expected: impl Fn(&Error) -> bool,
) -> Error {
    let table = store.table();
    let before = contents(table).await;
    let sent = table.request_count();
    let error = store.execute(id, deposit()).await.store_err("refused");
    assert!(expected(&error), "{id}: {error:?}");
    assert!(!error.is_conflict() && !error.is_retryable(), "{error:?}");
    assert!(error.is_corrupt(), "{error:?}");
    assert_eq!(
        table.request_count() - sent,
        requests,
        "{id}: requests sent for {error}"
    );
    assert_eq!(contents(table).await, before, "{id}: nothing written");
    error
}

/// `load` and the `events` stream (after `readable` good events) fail on
/// `id` with an error that `expected` accepts.
async fn unreadable(
    store: &EventStore<Account>,
    id: &str,
    readable: usize,
    expected: impl Fn(&Error) -> bool,
) {
    let error = store.load(id).await.store_err("load");
    assert!(expected(&error), "load {id}: {error:?}");
    let mut events = std::pin::pin!(store.events(id, 1));
    for version in 1..=readable {
        let event = events.try_next().await.expect("a good event").expect("one");
        assert_eq!(event.version, version as u64);
    }
    let error = events.try_next().await.store_err("the bad one");
    assert!(expected(&error), "events {id}: {error:?}");
}

/// A corrupt event of `account#{id}` at `version` whose reason mentions `what`.
fn corrupt_event(id: &str, version: u64, what: &'static str) -> impl Fn(&Error) -> bool {
    let aggregate = format!("account#{id}");
    move |error| {
        matches!(error, Error::CorruptEvent { aggregate: a, version: v, reason }
            if *a == aggregate && *v == version && reason.contains(what))
            && error.to_string().contains(&aggregate)
    }
}

fn gap(id: &str, expected: u64, found: u64) -> impl Fn(&Error) -> bool {
    let aggregate = format!("account#{id}");
    move |error| {
        matches!(error, Error::VersionGap { aggregate: a, expected: e, found: f }
            if *a == aggregate && (*e, *f) == (expected, found))
    }
}

#[tokio::test]
async fn an_item_among_the_events_that_is_not_an_event_is_a_corrupt_event() {
    let store = common::store(StoreOptions::default()).await;
    let table = store.table().clone();

    // Not an event at all, under the key of event 4.
    history(&store, "note", 3).await;
    let mut note = key_item("note", "e#00000000000000000004");
    note.insert("text".into(), s("hello"));
    raw_put(&table, note).await;
    let check = corrupt_event("note", 4, "not an event");
    unreadable(&store, "note", 3, &check).await;
    refused(&store, "note", 1, &check).await;

    // A sort key among the event keys that is no event key.
    history(&store, "odd-key", 2).await;
    let mut odd = event_item(&store, "odd-key", 2).await;
    odd.insert("sk".into(), s("e#00000000000000000002x"));
    raw_put(&table, odd).await;
    let check = corrupt_event("odd-key", 0, "\"e#00000000000000000002x\"");
    unreadable(&store, "odd-key", 2, &check).await;
    refused(&store, "odd-key", 1, &check).await;

    // An event of another aggregate, copied in as event 3.
    history(&store, "copy", 2).await;
    history(&store, "source", 3).await;
    let mut copied = event_item(&store, "source", 3).await;
    copied.extend(key_item("copy", "e#00000000000000000003"));
    raw_put(&table, copied).await;
    let check = corrupt_event("copy", 3, "event of aggregate account#source");
    unreadable(&store, "copy", 2, &check).await;
    refused(&store, "copy", 1, &check).await;

    // An event whose version attribute disagrees with its key.
    history(&store, "moved", 2).await;
    let mut moved = event_item(&store, "moved", 2).await;
    moved.insert("sk".into(), s("e#00000000000000000003"));
    raw_put(&table, moved).await;
    let check = corrupt_event("moved", 3, "says it is version 2");
    unreadable(&store, "moved", 2, &check).await;
    refused(&store, "moved", 1, &check).await;

    // An event without its payload.
    history(&store, "bare", 2).await;
    let mut bare = event_item(&store, "bare", 2).await;
    bare.remove("payload");
    raw_put(&table, bare).await;
    let check = corrupt_event("bare", 2, "no payload");
    unreadable(&store, "bare", 1, &check).await;
    refused(&store, "bare", 1, &check).await;

    // The other aggregates of the table still read fine.
    assert_eq!(store.load("source").await.expect("load").version, 3);
}

#[tokio::test]
async fn an_event_that_no_longer_deserializes_fails_execute_at_once() {
    let store = common::store(StoreOptions::default()).await;
    history(&store, "acc", 3).await;
    let mut event = event_item(&store, "acc", 2).await;
    event.insert(
        "payload".into(),
        AttributeValue::M(Item::from([("Deposited".to_owned(), s("lots"))])),
    );
    raw_put(store.table(), event).await;
    let check = corrupt_event("acc", 2, "");
    unreadable(&store, "acc", 1, &check).await;
    let error = refused(&store, "acc", 1, &check).await;
    assert!(error
        .to_string()
        .starts_with("event 2 of aggregate account#acc cannot be read"));
    // With a command id: the record is looked up, then the load fails.
    let table = store.table();
    let before = (contents(table).await, table.request_count());
    let error = store
        .execute_with(
            "acc",
            deposit(),
            CommandOptions::default().command_id(CommandId::new("c-1")),
        )
        .await
        .store_err("corrupt");
    assert!(check(&error), "{error:?}");
    assert_eq!(table.request_count() - before.1, 2);
    assert_eq!(contents(table).await, before.0);
    // Up to the event before it, the stream still reads.
    assert_eq!(store.load_at("acc", 1).await.expect("load_at").version, 1);
}

#[tokio::test]
async fn a_version_gap_written_by_another_writer_is_a_version_gap() {
    let store = common::store(StoreOptions::default()).await;
    let table = store.table().clone();

    // Event 3 of 5 deleted.
    history(&store, "hole", 5).await;
    raw_delete(&table, event_key("account", "hole", 3)).await;
    let check = gap("hole", 3, 4);
    unreadable(&store, "hole", 2, &check).await;
    refused(&store, "hole", 1, &check).await;
    assert_eq!(store.load_at("hole", 2).await.expect("load_at").version, 2);
    let error = store.load("hole").await.store_err("gap");
    assert_eq!(
        error.to_string(),
        "aggregate account#hole has a gap: expected version 3, found 4"
    );

    // Event 7 written after event 5, with no event 6.
    history(&store, "jump", 5).await;
    let mut seventh = event_item(&store, "jump", 5).await;
    seventh.insert("sk".into(), s("e#00000000000000000007"));
    seventh.insert("version".into(), n(7));
    seventh.insert("event_id".into(), s(&uuid::Uuid::now_v7().to_string()));
    raw_put(&table, seventh).await;
    let check = gap("jump", 6, 7);
    unreadable(&store, "jump", 5, &check).await;
    refused(&store, "jump", 1, &check).await;
}

#[tokio::test]
async fn an_append_past_the_end_of_the_stream_is_refused_not_a_gap() {
    let store = common::store(StoreOptions::default()).await;
    let table = store.table().clone();
    history(&store, "short", 2).await;
    let before = contents(&table).await;
    for expected in [5, 3, 0] {
        let error = store
            .append(
                "short",
                expected,
                vec![common::AccountEvent::Deposited { amount: 1 }],
                dynago_es::Metadata::default(),
            )
            .await
            .store_err("the stream is at 2");
        assert_eq!(
            error.conflict_versions(),
            Some(dynago_es::ConflictVersions {
                expected,
                actual: 2
            }),
            "{expected}: {error:?}"
        );
    }
    assert_eq!(contents(&table).await, before, "no gap, nothing written");
    let events = store
        .append(
            "short",
            2,
            vec![common::AccountEvent::Deposited { amount: 1 }],
            dynago_es::Metadata::default(),
        )
        .await
        .expect("at the end of the stream");
    assert_eq!(events[0].version, 3);
}

#[tokio::test]
async fn a_foreign_item_at_the_next_version_is_corrupt_not_a_conflict_forever() {
    let table = common::table().await;
    let cached = EventStore::<Account>::new(table.clone(), StoreOptions::default().cache(10))
        .expect("store");
    history(&cached, "squat", 2).await;
    // Another writer puts something that is no event where version 3 goes:
    // the cached store's put fails on it, and reading on finds it.
    let mut squatter = key_item("squat", "e#00000000000000000003");
    squatter.insert("owner".into(), s("someone else"));
    raw_put(&table, squatter).await;
    let error = refused(
        &cached,
        "squat",
        2,
        corrupt_event("squat", 3, "is not an event"),
    )
    .await;
    assert!(!matches!(error, Error::RetriesExhausted { .. }));
    assert_eq!(error.conflict_versions(), None);
}

#[tokio::test]
async fn a_missing_table_is_not_found_everywhere() {
    let dynamo = dynago_local::shared().await.expect("the test server");
    let table = dynago::Table::connect(
        dynamo
            .table_options(dynago_local::unique_table_name("es-gone"))
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await
    .expect("options");
    let store = EventStore::<Account>::new(table.clone(), StoreOptions::default().cache(10))
        .expect("store");
    let errors = vec![
        store.load("a").await.store_err("load"),
        store.load_at("a", 3).await.store_err("load_at"),
        store
            .execute("a", common::open("ada"))
            .await
            .store_err("execute"),
        store
            .execute_with(
                "a",
                common::open("ada"),
                CommandOptions::default().command_id(CommandId::new("c")),
            )
            .await
            .store_err("execute_with"),
        store
            .execute_all(
                vec![
                    ("a".into(), common::open("a")),
                    ("b".into(), common::open("b")),
                ],
                CommandOptions::default(),
            )
            .await
            .store_err("execute_all"),
        store
            .events("a", 1)
            .try_collect::<Vec<_>>()
            .await
            .store_err("events"),
        EventStore::<Account>::open(table, StoreOptions::default())
            .await
            .store_err("open"),
    ];
    for error in errors {
        assert!(error.is_not_found(), "{error:?}");
        assert!(!error.is_retryable() && !error.is_conflict() && !error.is_corrupt());
    }
}
