//! Snapshots: stamped with the version whose state they hold, never moving
//! back, used on load, and ignored when they no longer fit the state type.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Account, AccountCommand, AccountError, AccountEvent};
use dynago::{AttributeValue, Item, RetryPolicy, Table};
use dynago_es::{Aggregate, CommandOptions, EventStore, Metadata, SnapshotPolicy, StoreOptions};
use serde::{Deserialize, Serialize};

fn every(n: u64) -> StoreOptions {
    StoreOptions::default().snapshots(SnapshotPolicy::Every(n))
}

async fn raw_snapshot(table: &Table, id: &str) -> Option<Item> {
    common::raw_get(table, common::snapshot_key("account", id)).await
}

fn snapshot_state<A: Aggregate>(item: &Item) -> A {
    serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(
        item.get("state").expect("a state attribute").clone(),
    )
    .expect("a snapshot state")
}

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

#[tokio::test]
async fn a_snapshot_holds_the_state_of_the_version_it_is_stamped_with() {
    let store = common::store(every(3)).await;
    let table = store.table().clone();
    let id = "stamped";
    let commands = [
        (common::open("ada"), 1, None),
        (deposit(10), 2, None),
        (deposit(20), 3, Some(3)),
        // Crosses 6 with four events: the snapshot holds version 7, not 6.
        (
            AccountCommand::DepositMany {
                amounts: vec![1, 2, 3, 4],
            },
            7,
            Some(7),
        ),
        (deposit(5), 8, Some(7)),
        (deposit(6), 9, Some(9)),
        // Six events from 9: crosses 12 and 15 in one go.
        (
            AccountCommand::DepositMany {
                amounts: vec![1, 1, 1, 1, 1, 1],
            },
            15,
            Some(15),
        ),
        (deposit(7), 16, Some(15)),
    ];
    let mut previous: Option<Item> = None;
    for (command, version, snapshot_version) in commands {
        let outcome = store.execute(id, command).await.expect("execute");
        assert_eq!(outcome.version, version);
        let snapshot = raw_snapshot(&table, id).await;
        assert_eq!(
            snapshot.as_ref().map(|s| common::number(s, "version")),
            snapshot_version,
            "the snapshot after version {version}"
        );
        let Some(snapshot) = snapshot else { continue };
        let stamped = common::number(&snapshot, "version");
        let expected = store.load_at(id, stamped).await.expect("load_at");
        assert_eq!(expected.version, stamped);
        assert_eq!(snapshot_state::<Account>(&snapshot), expected.state);
        assert_eq!(common::string(&snapshot, "aggregate_type"), "account");
        assert_eq!(common::string(&snapshot, "aggregate_id"), id);
        assert_eq!(common::number(&snapshot, "state_version"), 1);
        if stamped == version {
            // Written by this very commit: the state the command ended with.
            assert_eq!(outcome.state.as_ref(), Some(&expected.state));
        } else {
            // Not due: the snapshot item was left exactly as it was.
            assert_eq!(Some(&snapshot), previous.as_ref());
        }
        previous = Some(snapshot);
    }
    let last = previous.expect("a snapshot");
    assert_eq!(
        snapshot_state::<Account>(&last),
        Account {
            open: true,
            balance: 57,
            deposits: 14
        }
    );
}

#[tokio::test]
async fn a_load_starts_from_the_snapshot_and_reads_only_the_events_after_it() {
    let store = common::store(every(5)).await;
    let id = "loads";
    store.execute(id, common::open("ada")).await.expect("open");
    store
        .execute(
            id,
            AccountCommand::DepositMany {
                amounts: vec![10, 20, 30, 40, 50],
            },
        )
        .await
        .expect("deposit");
    // Version 6, snapshot at 6.
    let loaded = store.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (6, 6, 0)
    );
    assert_eq!(loaded.state.balance, 150);
    store.execute(id, deposit(1)).await.expect("deposit");
    store
        .execute(id, AccountCommand::Withdraw { amount: 100 })
        .await
        .expect("withdraw");
    let before = store.table().request_count();
    let loaded = store.load(id).await.expect("load");
    assert_eq!(
        store.table().request_count() - before,
        2,
        "one read of the snapshot, one query"
    );
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (8, 6, 2)
    );
    assert_eq!(
        loaded.state,
        Account {
            open: true,
            balance: 51,
            deposits: 6
        }
    );
    // Older versions than the snapshot replay from the start.
    let at5 = store.load_at(id, 5).await.expect("load_at");
    assert_eq!(
        (at5.version, at5.snapshot_version, at5.events_read),
        (5, 0, 5)
    );
    assert_eq!(at5.state.balance, 100);
    let at7 = store.load_at(id, 7).await.expect("load_at");
    assert_eq!(
        (at7.version, at7.snapshot_version, at7.events_read),
        (7, 6, 1)
    );
    assert_eq!(at7.state.balance, 151);
    // A store that never snapshots does not read it.
    let plain =
        EventStore::<Account>::new(store.table().clone(), StoreOptions::default()).expect("store");
    let loaded = plain.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (8, 0, 8)
    );
    assert_eq!(loaded.state.balance, 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_move_the_snapshot_back() {
    let options = every(3).retry(
        RetryPolicy::default()
            .max_attempts(200)
            .min_delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(20)),
    );
    let store = common::store(options).await;
    let id = "racy";
    store.execute(id, common::open("ada")).await.expect("open");
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let table = store.table().clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen: HashMap<u64, Item> = HashMap::new();
            let mut last = 0;
            while !done.load(Ordering::Relaxed) {
                if let Some(snapshot) = raw_snapshot(&table, id).await {
                    let version = common::number(&snapshot, "version");
                    assert!(
                        version >= last,
                        "the snapshot went back from {last} to {version}"
                    );
                    last = version;
                    seen.insert(version, snapshot);
                }
            }
            seen
        })
    };
    let writers: Vec<_> = (0..6)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..8 {
                    let command = if n % 3 == 0 {
                        AccountCommand::DepositMany {
                            amounts: vec![task + 1, n + 1],
                        }
                    } else {
                        deposit(task * 10 + n + 1)
                    };
                    // One correlation id per command tells the commits apart.
                    let metadata = Metadata::default().correlation_id(format!("{task}-{n}"));
                    store
                        .execute_with(id, command, CommandOptions::default().metadata(metadata))
                        .await
                        .expect("deposit");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    let seen = watcher.await.expect("watcher");
    // 1 open, 6 x (3 commands of 2 events + 5 of 1).
    let version = 1 + 6 * (3 * 2 + 5);
    let events = common::all_events(&store, id).await;
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=version).collect::<Vec<_>>()
    );
    let snapshot = raw_snapshot(store.table(), id).await.expect("a snapshot");
    // The snapshot is that of the last commit that crossed a multiple of 3.
    let mut expected = 0;
    let mut start = 0;
    while start < events.len() {
        let commit = events[start].metadata.correlation_id.clone();
        let end = start
            + events[start..]
                .iter()
                .take_while(|e| e.metadata.correlation_id == commit)
                .count();
        if start / 3 != end / 3 {
            expected = end as u64;
        }
        start = end;
    }
    assert_eq!(common::number(&snapshot, "version"), expected);
    assert!(expected + 3 > version);
    for (stamped, snapshot) in seen.into_iter().chain([(expected, snapshot)]) {
        let upto = usize::try_from(stamped).expect("small");
        assert_eq!(
            snapshot_state::<Account>(&snapshot),
            common::fold::<Account>(&events[..upto]),
            "the snapshot stamped {stamped}"
        );
    }
}

#[tokio::test]
async fn a_snapshot_that_no_longer_deserializes_is_ignored() {
    let store = common::store(every(3)).await;
    let table = store.table().clone();
    let id = "garbled";
    store.execute(id, common::open("ada")).await.expect("open");
    store
        .execute(
            id,
            AccountCommand::DepositMany {
                amounts: vec![10, 20, 30],
            },
        )
        .await
        .expect("deposit");
    let mut snapshot = raw_snapshot(&table, id).await.expect("a snapshot");
    assert_eq!(common::number(&snapshot, "version"), 4);
    // The state of another shape: `balance` a string, `open` a number.
    snapshot.insert(
        "state".into(),
        AttributeValue::M(HashMap::from([
            ("balance".to_owned(), AttributeValue::S("lots".into())),
            ("open".to_owned(), AttributeValue::N("1".into())),
        ])),
    );
    common::raw_put(&table, snapshot.clone()).await;
    let loaded = store.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (4, 0, 4)
    );
    assert_eq!(
        loaded.state,
        Account {
            open: true,
            balance: 60,
            deposits: 3
        }
    );
    // Commands decide on the rebuilt state, and the next due snapshot replaces it.
    let refused = store
        .execute(id, AccountCommand::Withdraw { amount: 61 })
        .await
        .expect_err("overdraft");
    assert_eq!(
        refused.rejection(),
        Some(&AccountError::InsufficientFunds {
            balance: 60,
            asked: 61
        })
    );
    let outcome = store
        .execute(id, AccountCommand::Withdraw { amount: 60 })
        .await
        .expect("withdraw");
    assert_eq!(outcome.version, 5);
    assert_eq!(
        common::number(
            &raw_snapshot(&table, id).await.expect("snapshot"),
            "version"
        ),
        4,
        "not due yet: the garbled snapshot stays"
    );
    store.execute(id, deposit(9)).await.expect("deposit");
    let fresh = raw_snapshot(&table, id).await.expect("a snapshot");
    assert_eq!(common::number(&fresh, "version"), 6);
    let loaded = store.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (6, 6, 0)
    );
    assert_eq!(snapshot_state::<Account>(&fresh), loaded.state);
    assert_eq!(loaded.state.balance, 9);

    // A snapshot item without its state is ignored too.
    let mut stateless = fresh;
    stateless.remove("state");
    common::raw_put(&table, stateless).await;
    let loaded = store.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (6, 0, 6)
    );
    assert_eq!(loaded.state.balance, 9);
}

/// The account after a change of its state type's meaning: the same shape,
/// but snapshots of state version 1 must not be trusted.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct AccountV2(Account);

impl Aggregate for AccountV2 {
    const TYPE: &'static str = "account";
    type Id = dynago_es::AggregateId;
    const SNAPSHOT_VERSION: u32 = 2;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn handle(&self, command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        self.0.handle(command)
    }

    fn apply(&mut self, event: &AccountEvent) {
        self.0.apply(event);
    }
}

#[tokio::test]
async fn a_snapshot_of_another_state_version_is_ignored() {
    let v1 = common::store(every(3)).await;
    let table = v1.table().clone();
    let v2 = EventStore::<AccountV2>::new(table.clone(), every(3)).expect("store");
    let id = "versioned";
    v1.execute(id, common::open("ada")).await.expect("open");
    v1.execute(
        id,
        AccountCommand::DepositMany {
            amounts: vec![1, 2, 3],
        },
    )
    .await
    .expect("deposit");
    let snapshot = raw_snapshot(&table, id).await.expect("a snapshot");
    assert_eq!(
        (
            common::number(&snapshot, "version"),
            common::number(&snapshot, "state_version")
        ),
        (4, 1)
    );
    // It would deserialize into AccountV2, but its state version is 1.
    let loaded = v2.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (4, 0, 4)
    );
    assert_eq!(loaded.state.0.balance, 6);
    let outcome = v2.execute(id, deposit(4)).await.expect("deposit");
    assert_eq!(outcome.version, 5);
    v2.execute(id, deposit(5)).await.expect("deposit");
    let snapshot = raw_snapshot(&table, id).await.expect("a snapshot");
    assert_eq!(
        (
            common::number(&snapshot, "version"),
            common::number(&snapshot, "state_version")
        ),
        (6, 2)
    );
    let loaded = v2.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (6, 6, 0)
    );
    assert_eq!(loaded.state.0.balance, 15);
    // And the old code ignores the new snapshot.
    let loaded = v1.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (6, 0, 6)
    );
    assert_eq!(loaded.state.balance, 15);

    // A state version written by hand is checked the same way.
    let mut future = snapshot;
    future.insert("state_version".into(), AttributeValue::N("3".into()));
    common::raw_put(&table, future).await;
    let loaded = v2.load(id).await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.events_read),
        (6, 0, 6)
    );
    assert_eq!(loaded.state.0.balance, 15);
}
