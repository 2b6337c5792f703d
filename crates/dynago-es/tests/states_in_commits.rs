//! `SnapshotPolicy::InCommit`: the state after each command in the item of
//! its events, so that a load reads one item in one request; an item
//! without a state that reads is replayed from the events, never taken as
//! another state.

use crate::common;

use common::{deposit, many, Account, AccountCommand};
use dynago::{AttributeValue, Item};
use dynago_es::{AggregateId, CommandOptions, Error, EventStore, Metadata};

/// Loads `id` through `store` (which must have no cache) and checks it
/// against a replay of every event; returns the requests the load took.
async fn load_checked(store: &EventStore<Account>, plain: &EventStore<Account>, id: &str) -> u64 {
    let before = store.table().request_count();
    let loaded = store.load(id).await.expect("load");
    let requests = store.table().request_count() - before;
    let replayed = plain.load(id).await.expect("replay");
    assert_eq!(
        (&loaded.state, loaded.version),
        (&replayed.state, replayed.version),
        "{id}: the state from the commit item, against every event replayed"
    );
    requests
}

async fn newest_item(store: &EventStore<Account>, id: &str, version: u64) -> Item {
    common::raw_get(store.table(), common::event_key("account", id, version))
        .await
        .expect("the item")
}

#[tokio::test]
async fn a_load_reads_the_newest_item_alone_in_one_request() {
    let (store, plain) = common::in_commit_and_plain().await;
    let id = "one-request";
    store.execute(id, common::open("ada")).await.expect("open");
    for amount in 1..=20 {
        store.execute(id, deposit(amount)).await.expect("deposit");
    }
    store.execute(id, many(&[5, 6, 7])).await.expect("three");
    let before = store.table().request_count();
    let loaded = store.load(id).await.expect("load");
    assert_eq!(store.table().request_count() - before, 1, "one query");
    assert_eq!(loaded.version, 24);
    assert_eq!(loaded.events_read, 0, "no event replayed");
    assert_eq!(loaded.snapshot_version, 24);
    assert_eq!(loaded.state.balance, 210 + 18);
    assert_eq!(load_checked(&store, &plain, id).await, 1);
    // The item holds the state beside its events, as a snapshot holds it.
    let item = newest_item(&store, id, 22).await;
    assert!(item.contains_key("state") && item.contains_key("state_version"));
    assert_eq!(common::number(&item, "last_version"), 24);
}

#[tokio::test]
async fn a_load_of_nothing_is_the_default_state_in_one_request() {
    let (store, _) = common::in_commit_and_plain().await;
    let before = store.table().request_count();
    let loaded = store.load("nobody").await.expect("load");
    assert_eq!(store.table().request_count() - before, 1);
    assert_eq!((loaded.version, loaded.state), (0, Account::default()));
}

#[tokio::test]
async fn every_version_loads_as_the_events_replayed_to_it() {
    let (store, plain) = common::in_commit_and_plain().await;
    let id = "every-version";
    store.execute(id, common::open("ada")).await.expect("open");
    store.execute(id, many(&[1, 2, 3])).await.expect("three");
    store.execute(id, deposit(4)).await.expect("one");
    store.execute(id, many(&[5, 6])).await.expect("two");
    for version in 0..=9 {
        let loaded = store.load_at(id, version).await.expect("load_at");
        let replayed = plain.load_at(id, version).await.expect("replay");
        assert_eq!(
            (&loaded.state, loaded.version),
            (&replayed.state, replayed.version),
            "at version {version}"
        );
    }
}

#[tokio::test]
async fn an_uncached_command_reads_one_item_and_writes_one() {
    let (store, plain) = common::in_commit_and_plain().await;
    let id = "uncached";
    store.execute(id, common::open("ada")).await.expect("open");
    for amount in 1..=10 {
        store.execute(id, deposit(amount)).await.expect("deposit");
    }
    let outcome = store.execute(id, deposit(100)).await.expect("deposit");
    assert_eq!(outcome.requests, 2, "a query of one item, then the put");
    assert_eq!(outcome.version, 12);
    load_checked(&store, &plain, id).await;
    // A one-event command's item with the state still costs one write unit.
    let item = newest_item(&store, id, 12).await;
    assert!(
        dynago::item_size(&item) < 1024,
        "{}",
        dynago::item_size(&item)
    );
}

#[tokio::test]
async fn a_transfer_writes_the_state_of_each_side() {
    let (store, plain) = common::in_commit_and_plain().await;
    for id in ["alice", "bob"] {
        store.execute(id, common::open(id)).await.expect("open");
    }
    store.execute("alice", deposit(100)).await.expect("fund");
    let transfer = vec![
        (
            AggregateId::from("alice"),
            AccountCommand::Withdraw { amount: 30 },
        ),
        (AggregateId::from("bob"), deposit(30)),
    ];
    store
        .execute_all(transfer, CommandOptions::default())
        .await
        .expect("transfer");
    for (id, balance) in [("alice", 70), ("bob", 30)] {
        assert_eq!(load_checked(&store, &plain, id).await, 1, "{id}");
        assert_eq!(store.load(id).await.expect("load").state.balance, balance);
    }
}

#[tokio::test]
async fn an_append_leaves_no_state_and_the_next_load_replays() {
    let (store, plain) = common::in_commit_and_plain().await;
    let id = "appended";
    store.execute(id, common::open("ada")).await.expect("open");
    store.execute(id, deposit(10)).await.expect("deposit");
    store
        .append(
            id,
            2,
            vec![common::AccountEvent::Deposited { amount: 5 }],
            Metadata::default(),
        )
        .await
        .expect("append");
    assert!(!newest_item(&store, id, 3).await.contains_key("state"));
    assert_eq!(
        load_checked(&store, &plain, id).await,
        2,
        "the newest item, then a replay"
    );
    // The next command writes a state again.
    store.execute(id, deposit(1)).await.expect("deposit");
    assert_eq!(load_checked(&store, &plain, id).await, 1);
    assert_eq!(store.load(id).await.expect("load").state.balance, 16);
}

#[tokio::test]
async fn a_state_that_does_not_read_or_is_of_another_state_version_is_replayed() {
    let (store, plain) = common::in_commit_and_plain().await;
    type Damage = fn(&mut Item);
    let damages: [(&str, Damage); 4] = [
        ("another state version", |item| {
            item.insert("state_version".into(), AttributeValue::N("7".into()));
        }),
        ("no state version", |item| {
            item.remove("state_version");
        }),
        ("a state that does not deserialize", |item| {
            item.insert("state".into(), AttributeValue::S("a balance of ten".into()));
        }),
        ("a state version that is not a number", |item| {
            item.insert("state_version".into(), AttributeValue::S("0".into()));
        }),
    ];
    for (n, (what, damage)) in damages.into_iter().enumerate() {
        let id = format!("damaged-{n}");
        store
            .execute(id.as_str(), common::open("ada"))
            .await
            .expect("open");
        store
            .execute(id.as_str(), deposit(10))
            .await
            .expect("deposit");
        let mut item = newest_item(&store, &id, 2).await;
        damage(&mut item);
        dynago_local::testing::raw_put(store.table(), item).await;
        assert_eq!(
            load_checked(&store, &plain, &id).await,
            2,
            "{what}: replayed"
        );
        assert_eq!(
            store.load(id.as_str()).await.expect("load").state.balance,
            10,
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_newest_item_that_contradicts_itself_is_corrupt_not_a_state() {
    let (store, _) = common::in_commit_and_plain().await;
    let id = "contradicts";
    store.execute(id, common::open("ada")).await.expect("open");
    store.execute(id, many(&[1, 2, 3])).await.expect("three");
    let mut item = newest_item(&store, id, 2).await;
    item.insert("last_version".into(), AttributeValue::N("9".into()));
    dynago_local::testing::raw_put(store.table(), item).await;
    let error = store.load(id).await.expect_err("corrupt");
    assert!(
        matches!(&error, Error::CorruptEvent { version: 2, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_store_without_the_policy_reads_commits_with_states() {
    let (store, plain) = common::in_commit_and_plain().await;
    let id = "mixed";
    store.execute(id, common::open("ada")).await.expect("open");
    store.execute(id, many(&[1, 2])).await.expect("two");
    plain.execute(id, deposit(3)).await.expect("plain");
    let events = common::all_events(&plain, id).await;
    assert_eq!(events.len(), 4);
    // The plain store's commit has no state: the next load replays.
    assert_eq!(load_checked(&store, &plain, id).await, 2);
}
