//! DynamoDB's limits, checked before sending: nothing is written when a
//! command breaks one; and a store that cannot work is refused.

use crate::common;
use crate::common::StoreErr;

use common::{AccountCommand, AccountEvent, Journal, JournalEvent, NothingToWrite, Write};
use dynago::{Table, MAX_ITEM_SIZE, MAX_TRANSACTION_ACTIONS, MAX_TRANSACTION_SIZE};
use dynago_es::{
    Aggregate, CommandId, CommandOptions, Error, EventStore, SnapshotPolicy, StoreOptions,
};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

fn too_many_actions(error: &Error) -> usize {
    match error {
        Error::TooManyEvents {
            aggregates,
            actions,
            limit,
            ..
        } => {
            assert_eq!(*limit, MAX_TRANSACTION_ACTIONS);
            assert!(!aggregates.is_empty());
            for aggregate in aggregates {
                assert!(error.to_string().contains(aggregate.as_str()), "{error}");
            }
            *actions
        }
        other => panic!("expected TooManyEvents, got {other:?}"),
    }
}

#[tokio::test]
async fn more_than_100_events_are_one_item_while_they_fit_and_refused_before_sending_after() {
    let store = common::store(StoreOptions::default()).await;
    store
        .execute("big", common::open("ada"))
        .await
        .expect("open");
    // 101 small events: one item, one put, no transaction and its limit.
    let outcome = store
        .execute(
            "big",
            AccountCommand::DepositMany {
                amounts: vec![1; 101],
            },
        )
        .await
        .expect("101 events in one item");
    assert_eq!(outcome.version, 102);
    assert_eq!(
        common::raw_event_versions(store.table(), "account", "big").await,
        vec![1, 2],
        "the items' keys"
    );
    assert_eq!(
        common::versions(&store, "big").await,
        (1..=102).collect::<Vec<_>>()
    );
    // With an id: the same item, and the record on its own.
    let with_id = CommandOptions::default().command_id(CommandId::new("big-1"));
    let outcome = store
        .execute_with(
            "big",
            AccountCommand::DepositMany {
                amounts: vec![1; 101],
            },
            with_id,
        )
        .await
        .expect("101 events and a record");
    assert_eq!(outcome.version, 203);
}

#[tokio::test]
async fn a_new_aggregate_stays_empty_when_its_first_command_is_too_big() {
    // 101 events of 4 KB do not fit one item: an item each, in one
    // transaction, which holds 100 actions at most.
    let store = common::journal_store(StoreOptions::default()).await;
    let before = store.table().request_count();
    let error = store
        .execute("fresh", Write::sized(101, 4_000))
        .await
        .store_err("101 actions");
    assert_eq!(too_many_actions(&error), 101);
    assert!(!error.is_conflict() && !error.is_retryable());
    assert_eq!(
        store.table().request_count() - before,
        1,
        "the load only: the transaction was never sent"
    );
    let loaded = store.load("fresh").await.expect("load");
    assert_eq!((loaded.version, loaded.events_read), (0, 0));
    assert_eq!(
        common::raw_event_versions(store.table(), "journal", "fresh").await,
        Vec::<u64>::new()
    );
    // 100 of them make exactly 100 actions.
    let outcome = store
        .execute("fresh", Write::sized(100, 4_000))
        .await
        .expect("100 actions");
    assert_eq!(outcome.version, 100);
}

#[tokio::test]
async fn a_due_snapshot_is_written_on_its_own_beside_a_large_commit() {
    // 100 events in one item; the snapshot they make due is written after
    // them, on its own.
    let store = common::store(StoreOptions::default().snapshots(SnapshotPolicy::Every(10))).await;
    store
        .execute("full", common::open("ada"))
        .await
        .expect("open");
    let before = store.table().request_count();
    let outcome = store
        .execute(
            "full",
            AccountCommand::DepositMany {
                amounts: vec![2; 100],
            },
        )
        .await
        .expect("the events and their snapshot");
    assert_eq!(outcome.version, 101);
    assert_eq!(
        store.table().request_count() - before,
        4,
        "the snapshot, the events, the commit, the new snapshot"
    );
    let loaded = store.load("full").await.expect("load");
    assert_eq!(
        (
            loaded.version,
            loaded.snapshot_version,
            loaded.events_read,
            loaded.state.balance
        ),
        (101, 101, 0, 200)
    );
}

/// A journal that keeps its last entry in its state: its snapshots weigh as
/// much as an entry.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Scrapbook {
    entries: u64,
    last: String,
}

impl Aggregate for Scrapbook {
    const TYPE: &'static str = "scrapbook";
    type Id = dynago_es::AggregateId;
    type Command = Write;
    type Event = JournalEvent;
    type Error = NothingToWrite;

    fn handle(&self, command: &Write) -> Result<Vec<JournalEvent>, NothingToWrite> {
        Journal::default().handle(command)
    }

    fn apply(&mut self, event: &JournalEvent) {
        let JournalEvent::Written { text } = event;
        self.entries += 1;
        self.last.clone_from(text);
    }
}

#[tokio::test]
async fn a_large_snapshot_beside_4_mb_of_events_is_written_on_its_own() {
    let store = EventStore::<Scrapbook>::new(
        common::table().await,
        StoreOptions::default().snapshots(SnapshotPolicy::Every(1)),
    )
    .expect("store");
    // 3.8 MB of events; their 380 KB snapshot would not fit in their
    // transaction, and is not in it.
    let outcome = store
        .execute("book", Write::sized(10, 380 * 1024))
        .await
        .expect("the events, then their snapshot");
    assert_eq!(outcome.version, 10);
    let loaded = store.load("book").await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (10, 10, 0)
    );
    assert_eq!(loaded.state.last.len(), 380 * 1024);
}

#[tokio::test]
async fn an_event_over_400_kb_is_refused() {
    let store = common::store(StoreOptions::default()).await;
    let error = store
        .execute("huge", common::open(&"x".repeat(MAX_ITEM_SIZE)))
        .await
        .store_err("too large");
    match &error {
        Error::Table(dynago::Error::ItemTooLarge { size, limit, .. }) => {
            assert_eq!(*limit, MAX_ITEM_SIZE);
            assert!(*size > MAX_ITEM_SIZE, "{size}");
        }
        other => panic!("expected ItemTooLarge, got {other:?}"),
    }
    assert_eq!(store.load("huge").await.expect("load").version, 0);
    // Just under the limit is fine.
    let outcome = store
        .execute("huge", common::open(&"x".repeat(MAX_ITEM_SIZE - 2048)))
        .await
        .expect("under the limit");
    assert_eq!(outcome.version, 1);
}

#[tokio::test]
async fn events_over_4_mb_in_one_command_are_refused() {
    let store = common::journal_store(StoreOptions::default()).await;
    store
        .execute("heavy", Write::sized(1, 10))
        .await
        .expect("first entry");
    let before = store.table().request_count();
    let error = store
        .execute("heavy", Write::sized(12, 380 * 1024))
        .await
        .store_err("over 4 MB");
    match &error {
        Error::Table(dynago::Error::TransactionTooLarge { size, limit, .. }) => {
            assert_eq!(*limit, MAX_TRANSACTION_SIZE);
            assert!(*size > 12 * 380 * 1024, "{size}");
        }
        other => panic!("expected TransactionTooLarge, got {other:?}"),
    }
    assert_eq!(store.table().request_count() - before, 1, "the load only");
    let loaded = store.load("heavy").await.expect("load");
    assert_eq!((loaded.version, loaded.state.entries), (1, 1));
    // Ten of them fit.
    let outcome = store
        .execute("heavy", Write::sized(10, 380 * 1024))
        .await
        .expect("under 4 MB");
    assert_eq!(outcome.version, 11);
    assert_eq!(
        store.load("heavy").await.expect("load").state.bytes,
        10 + 10 * 380 * 1024
    );
}

#[tokio::test]
async fn a_table_without_a_sort_key_is_refused() {
    let dynamo = dynago_local::shared().await.expect("the test server");
    let name = dynago_local::unique_table_name("es-nosort");
    let table = Table::connect(dynamo.table_options(name.clone()).partition_key("pk"))
        .await
        .expect("table");
    match EventStore::<Journal>::new(table, StoreOptions::default()) {
        Err(Error::Config(message)) => {
            assert!(message.contains(&name), "{message}");
            assert!(message.contains("no sort key"), "{message}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let dynamo = dynago_local::shared().await.expect("the test server");
    let table = Table::connect(
        dynamo
            .table_options(dynago_local::unique_table_name("es-missing"))
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await
    .expect("table");
    let store = EventStore::<Journal>::new(table, StoreOptions::default()).expect("store");
    let error = store.load("j").await.store_err("no table");
    assert!(error.is_not_found(), "{error:?}");
    assert!(!error.is_retryable() && !error.is_conflict());
    let error = store
        .execute("j", Write::sized(1, 1))
        .await
        .store_err("no table");
    assert!(error.is_not_found(), "{error:?}");
    let error = store
        .events("j", 1)
        .try_collect::<Vec<_>>()
        .await
        .store_err("no table");
    assert!(error.is_not_found(), "{error:?}");
    let snapshots = EventStore::<Journal>::new(
        store.table().clone(),
        StoreOptions::default().snapshots(SnapshotPolicy::Every(5)),
    )
    .expect("store");
    let error = snapshots.load("j").await.store_err("no table");
    assert!(error.is_not_found(), "{error:?}");
}

#[tokio::test]
async fn an_expected_version_past_the_last_is_a_typed_error() {
    let store = common::store(StoreOptions::default()).await;
    let before = common::contents(store.table()).await;
    for (expected, events) in [(u64::MAX, 1), (u64::MAX - 1, 2)] {
        let error = store
            .append(
                "edge",
                expected,
                vec![AccountEvent::Deposited { amount: 1 }; events],
                dynago_es::Metadata::default(),
            )
            .await
            .store_err("no version after u64::MAX");
        match &error {
            Error::VersionOutOfRange {
                aggregate,
                expected: e,
                events: n,
            } => {
                assert_eq!(
                    (aggregate.as_str(), *e, *n),
                    ("account#edge", expected, events)
                );
            }
            other => panic!("expected VersionOutOfRange, got {other:?}"),
        }
        assert!(!error.is_retryable() && !error.is_conflict());
    }
    // One event after u64::MAX - 1 is the last version there is: a conflict
    // (the stream is empty), not an overflow.
    let error = store
        .append(
            "edge",
            u64::MAX - 1,
            vec![AccountEvent::Deposited { amount: 1 }],
            dynago_es::Metadata::default(),
        )
        .await
        .store_err("the stream is empty");
    assert_eq!(
        error.conflict_versions(),
        Some(dynago_es::ConflictVersions {
            expected: u64::MAX - 1,
            actual: 0
        }),
        "{error:?}"
    );
    assert_eq!(common::contents(store.table()).await, before);
}

/// A journal that keeps every entry in its state: its snapshots outgrow
/// DynamoDB's item size long before its events do.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Archive {
    entries: Vec<String>,
}

impl Aggregate for Archive {
    const TYPE: &'static str = "archive";
    type Id = dynago_es::AggregateId;
    type Command = Write;
    type Event = JournalEvent;
    type Error = NothingToWrite;

    fn handle(&self, command: &Write) -> Result<Vec<JournalEvent>, NothingToWrite> {
        Journal::default().handle(command)
    }

    fn apply(&mut self, event: &JournalEvent) {
        let JournalEvent::Written { text } = event;
        self.entries.push(text.clone());
    }
}

#[tokio::test]
async fn a_snapshot_left_out_for_its_size_is_not_the_last_snapshot() {
    // Cached, so that the next decision's `last_snapshot` comes from what
    // the store remembers of the commit.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    let policy = SnapshotPolicy::custom(move |due: &dynago_es::SnapshotDue| {
        record.lock().expect("the record").push(due.last_snapshot);
        true
    });
    let store = EventStore::<Archive>::new(
        common::table().await,
        StoreOptions::default().snapshots(policy).cache(10),
    )
    .expect("store");
    store
        .execute("big", Write::sized(2, 300 * 1024))
        .await
        .expect("600 KB of entries, and no snapshot of them");
    assert_eq!(
        common::raw_get(store.table(), common::snapshot_key("archive", "big")).await,
        None
    );
    store
        .execute("big", Write::sized(1, 10))
        .await
        .expect("the next entry");
    assert_eq!(
        *seen.lock().expect("the record"),
        vec![0, 0],
        "the snapshot due at 2 was left out"
    );
    let loaded = store.load("big").await.expect("load");
    assert_eq!((loaded.version, loaded.snapshot_version), (3, 0));
}
