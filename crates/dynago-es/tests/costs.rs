//! What each kind of command sends, counted through a proxy, and what it
//! costs by AWS's rules (a write 1 unit per started KB of each item, twice
//! that inside a transaction), from the sizes of the items it wrote.

use crate::common;

use std::collections::BTreeMap;

use common::{Account, AccountCommand};
use dynago::{Item, Table};
use dynago_es::{AggregateId, CommandId, CommandOptions, EventStore, SnapshotPolicy, StoreOptions};
use dynago_local::{FaultPlan, FaultProxy, ProxyStats};

async fn behind_proxy() -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    (direct, proxied, proxy)
}

/// The requests by operation between two snapshots of the proxy's counts.
fn sent(before: &ProxyStats, after: &ProxyStats) -> BTreeMap<String, u64> {
    after
        .by_operation
        .iter()
        .map(|(op, n)| {
            (
                op.clone(),
                n - before.by_operation.get(op).copied().unwrap_or(0),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn ops(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect()
}

/// Write units of an item written on its own: one per started KB.
fn units(item: &Item) -> u64 {
    let size = u64::try_from(dynago::item_size(item)).expect("a size");
    size.div_ceil(1024).max(1)
}

async fn event(table: &Table, id: &str, version: u64) -> Item {
    common::raw_get(table, common::event_key("account", id, version))
        .await
        .expect("the event")
}

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

#[tokio::test]
async fn an_uncontended_one_event_command_is_one_put_of_one_write_unit() {
    let (direct, proxied, proxy) = behind_proxy().await;
    let cached =
        EventStore::<Account>::new(proxied, StoreOptions::default().cache(10)).expect("a store");

    let before = proxy.stats();
    cached
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    assert_eq!(
        sent(&before, &proxy.stats()),
        ops(&[("PutItem", 1), ("Query", 1)]),
        "the first command loads, then puts its one event"
    );

    let before = proxy.stats();
    let outcome = cached.execute("acc", deposit(5)).await.expect("deposit");
    assert_eq!(outcome.requests, 1);
    assert_eq!(
        sent(&before, &proxy.stats()),
        ops(&[("PutItem", 1)]),
        "cached: one conditional put and nothing else"
    );
    assert_eq!(
        units(&event(&direct, "acc", 2).await),
        1,
        "an event under 1 KB"
    );
    // The outcome carries what DynamoDB reported for it: one write unit
    // for the put, no read.
    assert_eq!(outcome.capacity.write_units, 1.0, "{:?}", outcome.capacity);
    assert_eq!(outcome.capacity.read_units, 0.0, "{:?}", outcome.capacity);
}

#[tokio::test]
async fn an_uncached_command_reports_its_read_beside_its_write() {
    let (_direct, proxied, _proxy) = behind_proxy().await;
    let store = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("a store");
    store
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    let outcome = store.execute("acc", deposit(5)).await.expect("deposit");
    assert_eq!(outcome.requests, 2, "a query and a put");
    assert_eq!(outcome.capacity.write_units, 1.0, "{:?}", outcome.capacity);
    // A consistent query of one small event: one unit (half, if the server
    // counts it as eventually consistent, which neither emulator should).
    assert!(
        outcome.capacity.read_units > 0.0 && outcome.capacity.read_units <= 1.0,
        "{:?}",
        outcome.capacity
    );
}

#[tokio::test]
async fn a_command_on_one_aggregate_is_one_item_and_its_id_one_more() {
    let (direct, proxied, proxy) = behind_proxy().await;
    let cached =
        EventStore::<Account>::new(proxied, StoreOptions::default().cache(10)).expect("a store");
    for id in ["a", "b"] {
        cached.execute(id, common::open(id)).await.expect("open");
    }
    let record = |id: &str| {
        common::raw_get(
            &direct,
            dynago::Key::new(dynago::string_value(format!("cmd#account#{id}")))
                .sort(dynago::string_value("command")),
        )
    };

    // k events: one put of one item, a unit per started KB of it.
    let before = proxy.stats();
    let outcome = cached
        .execute(
            "a",
            AccountCommand::DepositMany {
                amounts: vec![1, 2, 3],
            },
        )
        .await
        .expect("three deposits");
    assert_eq!(sent(&before, &proxy.stats()), ops(&[("PutItem", 1)]));
    let commit = event(&direct, "a", 2).await;
    assert_eq!(common::number(&commit, "last_version"), 4);
    assert_eq!(units(&commit), 1, "3 small events in one item under 1 KB");
    assert_eq!(outcome.capacity.write_units, 1.0, "{:?}", outcome.capacity);

    // A command id, one event: the record, then the event, each on its
    // own, after reading the record.
    let before = proxy.stats();
    let outcome = cached
        .execute_with(
            "a",
            deposit(4),
            CommandOptions::default().command_id(CommandId::new("c-1")),
        )
        .await
        .expect("with an id");
    assert_eq!(
        sent(&before, &proxy.stats()),
        ops(&[("GetItem", 1), ("PutItem", 2)])
    );
    let reserved = record("c-1").await.expect("the record");
    assert_eq!(units(&event(&direct, "a", 5).await) + units(&reserved), 2);
    assert_eq!(outcome.capacity.write_units, 2.0, "{:?}", outcome.capacity);

    // A command id, 3 events: the same two puts.
    let before = proxy.stats();
    let outcome = cached
        .execute_with(
            "a",
            AccountCommand::DepositMany {
                amounts: vec![1, 2, 3],
            },
            CommandOptions::default().command_id(CommandId::new("c-2")),
        )
        .await
        .expect("three with an id");
    assert_eq!(
        sent(&before, &proxy.stats()),
        ops(&[("GetItem", 1), ("PutItem", 2)])
    );
    assert_eq!(outcome.version, 8);
    assert_eq!(outcome.capacity.write_units, 2.0, "{:?}", outcome.capacity);

    // A transfer: one event on each side, in a transaction (2 units each).
    let before = proxy.stats();
    let outcome = cached
        .execute_all(
            vec![
                (
                    AggregateId::from("a"),
                    AccountCommand::Withdraw { amount: 3 },
                ),
                (AggregateId::from("b"), deposit(3)),
            ],
            CommandOptions::default(),
        )
        .await
        .expect("transfer");
    assert_eq!(
        sent(&before, &proxy.stats()),
        ops(&[("TransactWriteItems", 1)])
    );
    assert_eq!(
        2 * units(&event(&direct, "a", 9).await) + 2 * units(&event(&direct, "b", 2).await),
        4
    );
    assert_eq!(
        outcome[0].capacity.write_units, 4.0,
        "{:?}",
        outcome[0].capacity
    );
}

#[tokio::test]
async fn a_due_snapshot_is_one_put_after_the_events() {
    let (direct, proxied, proxy) = behind_proxy().await;
    let store = EventStore::<Account>::new(
        proxied,
        StoreOptions::default()
            .cache(10)
            .snapshots(SnapshotPolicy::Every(2)),
    )
    .expect("a store");
    store
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    let before = proxy.stats();
    let outcome = store.execute("acc", deposit(5)).await.expect("deposit");
    assert_eq!(outcome.requests, 2);
    assert_eq!(
        sent(&before, &proxy.stats()),
        ops(&[("PutItem", 2)]),
        "the event, then the snapshot"
    );
    let snapshot = common::raw_get(&direct, common::snapshot_key("account", "acc"))
        .await
        .expect("the snapshot");
    assert_eq!(common::number(&snapshot, "version"), 2);
    assert_eq!(
        units(&snapshot),
        1,
        "a standard write, not a transactional one"
    );
}
