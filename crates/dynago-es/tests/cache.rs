//! The aggregate cache: one write and no read for an uncontended command,
//! and only the missing events read when another writer moved on.

use crate::common;

use common::{Account, AccountCommand, AccountError, AccountEvent};
use dynago::AttributeValue;
use dynago_es::{Error, EventStore, Metadata, SnapshotPolicy, StoreOptions};

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

#[tokio::test]
async fn an_uncontended_command_on_a_cached_aggregate_costs_one_request() {
    for (policy, every) in [
        (SnapshotPolicy::Never, None),
        (SnapshotPolicy::Every(2), Some(2)),
    ] {
        let store = common::store(StoreOptions::default().cache(100).snapshots(policy)).await;
        let opened = store
            .execute("hot", common::open("ada"))
            .await
            .expect("open");
        // The first command loads: nothing cached yet.
        assert!(opened.requests > 1);
        for n in 1..=5 {
            let before = store.table().request_count();
            let outcome = store.execute("hot", deposit(n)).await.expect("deposit");
            // One write, no read; and a snapshot due is one write more, on
            // its own, after the events.
            let version = 1 + u64::try_from(n).expect("small");
            let snapshot = every.is_some_and(|every| version % every == 0);
            let expected = 1 + u32::from(snapshot);
            assert_eq!(outcome.requests, expected, "one write, no read");
            assert_eq!(store.table().request_count() - before, u64::from(expected));
            assert_eq!(outcome.attempts, 1);
            assert_eq!(outcome.version, 1 + u64::try_from(n).expect("small"));
        }
        let loaded = store.load("hot").await.expect("load");
        assert_eq!((loaded.version, loaded.state.balance), (6, 15));
    }
}

#[tokio::test]
async fn without_a_cache_a_command_reads_then_writes() {
    let plain = common::store(StoreOptions::default()).await;
    plain
        .execute("cold", common::open("ada"))
        .await
        .expect("open");
    let outcome = plain.execute("cold", deposit(1)).await.expect("deposit");
    assert_eq!(outcome.requests, 2, "the events, the write");
    let snapshots = EventStore::<Account>::new(
        plain.table().clone(),
        StoreOptions::default().snapshots(SnapshotPolicy::Every(100)),
    )
    .expect("store");
    let before = plain.table().request_count();
    let outcome = snapshots
        .execute("cold", deposit(1))
        .await
        .expect("deposit");
    assert_eq!(outcome.requests, 3, "the snapshot, the events, the write");
    assert_eq!(plain.table().request_count() - before, 3);
    assert_eq!(outcome.version, 3);
}

#[tokio::test]
async fn a_stale_cache_conflicts_once_and_reads_only_the_missing_events() {
    let cached = common::store(StoreOptions::default().cache(100)).await;
    let table = cached.table().clone();
    let other = EventStore::<Account>::new(table.clone(), StoreOptions::default()).expect("store");
    let id = "shared";
    cached.execute(id, common::open("ada")).await.expect("open");
    cached
        .execute(
            id,
            AccountCommand::DepositMany {
                amounts: vec![10, 20],
            },
        )
        .await
        .expect("deposit");
    // Events 1 to 3 (the items of two commits) become unreadable: whoever
    // reads them fails.
    for version in [1, 2] {
        let key = common::event_key("account", id, version);
        let mut item = common::raw_get(&table, key).await.expect("an event");
        item.insert("payload".into(), AttributeValue::S("garbage".into()));
        common::raw_put(&table, item).await;
    }
    other
        .append(
            id,
            3,
            vec![
                AccountEvent::Deposited { amount: 100 },
                AccountEvent::Withdrawn { amount: 5 },
            ],
            Metadata::default(),
        )
        .await
        .expect("another writer appends");
    let before = table.request_count();
    let outcome = cached
        .execute(id, deposit(1))
        .await
        .expect("deposit on a stale cache");
    assert_eq!(outcome.attempts, 2);
    assert_eq!(
        outcome.requests, 3,
        "the failed write, events 4 and 5, the write"
    );
    assert_eq!(table.request_count() - before, 3);
    assert_eq!(outcome.version, 6);
    assert_eq!(
        outcome.state,
        Some(Account {
            open: true,
            balance: 126,
            deposits: 4
        })
    );
    // The cache holds version 6 now: the next command is one write again.
    let outcome = cached.execute(id, deposit(2)).await.expect("deposit");
    assert_eq!(
        (outcome.requests, outcome.attempts, outcome.version),
        (1, 1, 7)
    );
    assert_eq!(outcome.state.map(|s| s.balance), Some(128));
    // A full read does fail: the store above never read events 1 to 3 again.
    let error = other.load(id).await.expect_err("corrupt");
    assert!(
        matches!(&error, Error::CorruptEvent { version: 1, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_refusal_on_a_stale_cache_is_checked_against_the_stream() {
    let cached = common::store(StoreOptions::default().cache(100)).await;
    let other =
        EventStore::<Account>::new(cached.table().clone(), StoreOptions::default()).expect("store");
    let id = "refusal";
    cached.execute(id, common::open("ada")).await.expect("open");
    other
        .execute(id, deposit(100))
        .await
        .expect("deposit elsewhere");
    // The cached state says balance 0; the stream says 100.
    let outcome = cached
        .execute(id, AccountCommand::Withdraw { amount: 60 })
        .await
        .expect("the funds are there");
    assert_eq!(
        (outcome.attempts, outcome.requests),
        (1, 2),
        "the refusal on the cached state checked with one read, then the write"
    );
    assert_eq!(outcome.version, 3);
    assert_eq!(outcome.state.map(|s| s.balance), Some(40));
    // A refusal that holds on the stream is still a refusal.
    let refused = cached
        .execute(id, AccountCommand::Withdraw { amount: 41 })
        .await
        .expect_err("overdraft");
    assert_eq!(
        refused.rejection(),
        Some(&AccountError::InsufficientFunds {
            balance: 40,
            asked: 41
        })
    );
    assert_eq!(common::versions(&other, id).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_decision_of_no_events_on_a_stale_cache_reports_the_stored_version() {
    let cached = common::store(StoreOptions::default().cache(100)).await;
    let other =
        EventStore::<Account>::new(cached.table().clone(), StoreOptions::default()).expect("store");
    let id = "noop";
    cached.execute(id, common::open("ada")).await.expect("open");
    other
        .execute(id, deposit(7))
        .await
        .expect("deposit elsewhere");
    let outcome = cached
        .execute(id, AccountCommand::DepositMany { amounts: vec![] })
        .await
        .expect("nothing to do");
    assert!(outcome.events.is_empty());
    assert_eq!(outcome.version, 2);
    assert_eq!(outcome.state.map(|s| s.balance), Some(7));
}

#[tokio::test]
async fn the_cache_keeps_the_most_recently_used_aggregates() {
    let store = common::store(StoreOptions::default().cache(1)).await;
    store.execute("a", common::open("a")).await.expect("open");
    store.execute("b", common::open("b")).await.expect("open");
    // "b" pushed "a" out: "a" loads again.
    assert_eq!(
        store
            .execute("a", deposit(1))
            .await
            .expect("deposit")
            .requests,
        2
    );
    assert_eq!(
        store
            .execute("a", deposit(1))
            .await
            .expect("deposit")
            .requests,
        1
    );
    assert_eq!(
        store
            .execute("b", deposit(1))
            .await
            .expect("deposit")
            .requests,
        2
    );
}

#[tokio::test]
async fn an_append_through_the_store_drops_the_cached_entry() {
    let store = common::store(StoreOptions::default().cache(10)).await;
    store.execute("a", common::open("a")).await.expect("open");
    store
        .append(
            "a",
            1,
            vec![AccountEvent::Deposited { amount: 9 }],
            Metadata::default(),
        )
        .await
        .expect("append");
    let outcome = store.execute("a", deposit(1)).await.expect("deposit");
    assert_eq!((outcome.attempts, outcome.requests), (1, 2), "a fresh load");
    assert_eq!(outcome.version, 3);
    assert_eq!(outcome.state.map(|s| s.balance), Some(10));
}
