//! The store on tables whose keys are not named `pk` and `sk`: every
//! command, load, snapshot, command record, conflict and refusal works
//! through the key names of the table handle, and no item is written with
//! the names `pk` or `sk`.
use crate::common;

use common::{Account, AccountCommand, AccountError};
use dynago::{AttributeValue, Item, Table, TableDefinition};
use dynago_es::{CommandId, CommandOptions, EventStore, SnapshotPolicy, StoreOptions};
use dynago_local::testing;
use futures::TryStreamExt;

/// A fresh table whose string keys are named `partition` and `sort`.
async fn table_named(partition: &str, sort: &str) -> Table {
    testing::fresh_table(
        "keys",
        |options| options.partition_key(partition).sort_key(sort),
        TableDefinition::default(),
    )
    .await
}

/// Every item of the table, read with consistent scans.
async fn scan(table: &Table) -> Vec<Item> {
    testing::raw_scan(table).await
}

fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s,
        other => panic!("attribute `{name}` is not a string: {other:?} in {item:?}"),
    }
}

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

async fn commands_run_on(partition: &str, sort: &str) {
    let table = table_named(partition, sort).await;
    let options = || StoreOptions::default().snapshots(SnapshotPolicy::Every(2));
    // Checked against the table as it is.
    let accounts = EventStore::<Account>::open(table.clone(), options())
        .await
        .expect("the store opens on its table");
    let cached = EventStore::<Account>::new(table.clone(), options().cache(10)).expect("a store");
    let with_id = |id: &str| CommandOptions::default().command_id(CommandId::new(id));

    accounts
        .execute_with("acc", common::open("ada"), with_id("open"))
        .await
        .expect("open");
    for n in 1..=3 {
        accounts
            .execute_with("acc", deposit(n), with_id(&format!("deposit-{n}")))
            .await
            .expect("deposit");
    }
    // A command sent again is recognised by its record.
    let again = accounts
        .execute_with("acc", deposit(3), with_id("deposit-3"))
        .await
        .expect("the same command again");
    assert!(again.duplicate);
    assert_eq!(again.version, 4);

    // A cached writer behind a rival decides again after the conflict.
    let cached_outcome = cached
        .execute("acc", deposit(5))
        .await
        .expect("a deposit that fills the cache");
    assert_eq!(cached_outcome.version, 5);
    accounts
        .execute("acc", deposit(10))
        .await
        .expect("the rival");
    let outcome = cached
        .execute("acc", deposit(20))
        .await
        .expect("decided again");
    assert_eq!((outcome.version, outcome.attempts), (7, 2));

    // A refusal is the aggregate's, on the stored state.
    let refused = accounts
        .execute("acc", AccountCommand::Withdraw { amount: 1_000 })
        .await
        .expect_err("overdraft");
    assert_eq!(
        refused.rejection(),
        Some(&AccountError::InsufficientFunds {
            balance: 41,
            asked: 1_000
        })
    );

    // Loads, from the snapshot and as of a version, and the events.
    let fresh = EventStore::<Account>::new(table.clone(), options()).expect("a store");
    let loaded = fresh.load("acc").await.expect("load");
    assert_eq!((loaded.version, loaded.state.balance), (7, 41));
    let earlier = fresh.load_at("acc", 3).await.expect("load at 3");
    assert_eq!((earlier.version, earlier.state.balance), (3, 3));
    let versions: Vec<u64> = fresh
        .events("acc", 1)
        .map_ok(|event| event.version)
        .try_collect()
        .await
        .expect("events");
    assert_eq!(versions, (1..=7).collect::<Vec<_>>());

    // As stored: the table's key names, never `pk` or `sk`.
    let items = scan(&table).await;
    for item in &items {
        assert!(
            !item.contains_key("pk") && !item.contains_key("sk"),
            "{item:?}"
        );
    }
    let sorts = |prefix: &str| -> Vec<&str> {
        let mut sorts: Vec<&str> = items
            .iter()
            .filter(|item| text(item, partition) == prefix)
            .map(|item| text(item, sort))
            .collect();
        sorts.sort_unstable();
        sorts
    };
    let mut expected: Vec<String> = (1..=7).map(|v| format!("e#{v:020}")).collect();
    expected.push("snapshot".into());
    assert_eq!(sorts("account#acc"), expected);
    let records: Vec<&Item> = items
        .iter()
        .filter(|item| text(item, partition).starts_with("cmd#account#"))
        .collect();
    assert_eq!(records.len(), 4, "open and three deposits");
    for record in records {
        assert_eq!(text(record, sort), "command");
    }
}

#[tokio::test]
async fn commands_run_on_keys_named_in_capitals() {
    commands_run_on("PK", "SK").await;
}

#[tokio::test]
async fn commands_run_on_keys_with_names_of_their_own() {
    commands_run_on("stream", "position").await;
}
