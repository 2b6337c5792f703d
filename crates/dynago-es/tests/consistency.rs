//! Every read of the store is strongly consistent: the load's queries, the
//! snapshot, the command records, and the reads after a conflict or a lost
//! answer. Both emulators always read strongly, so only the request shows
//! whether the store asked: the store runs behind a fault proxy that
//! records, request by request, whether each read carried `ConsistentRead`.
use crate::common;

use common::{Account, AccountCommand};
use dynago::Table;
use dynago_es::{CommandId, CommandOptions, EventStore, SnapshotPolicy, StoreOptions};
use dynago_local::{FaultPlan, FaultProxy, ReadRequest};

/// A fresh table, and the same table through a proxy (SDK retries off).
async fn behind_proxy() -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    (direct, proxied, proxy)
}

fn store(table: Table, options: StoreOptions) -> EventStore<Account> {
    EventStore::new(table, options).expect("a store")
}

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

/// What a read was of, from its operation and its key's sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Query,
    Snapshot,
    CommandRecord,
    Event,
    Head,
    Other,
}

fn kind(read: &ReadRequest) -> Kind {
    if read.operation == "Query" {
        return Kind::Query;
    }
    if read.operation != "GetItem" {
        return Kind::Other;
    }
    match read
        .key
        .as_ref()
        .and_then(|key| key["sk"]["S"].as_str())
        .unwrap_or_default()
    {
        "snapshot" => Kind::Snapshot,
        "command" => Kind::CommandRecord,
        "head" => Kind::Head,
        sort if sort.starts_with("e#") => Kind::Event,
        _ => Kind::Other,
    }
}

/// The reads received since the last call, each checked to be of `table`
/// and consistent, by kind.
fn consistent_reads(proxy: &FaultProxy, table: &Table) -> Vec<Kind> {
    proxy
        .take_reads()
        .iter()
        .map(|read| {
            assert_eq!(read.table, table.name(), "{read:?}");
            assert!(read.consistent_read, "a read that may be stale: {read:?}");
            kind(read)
        })
        .collect()
}

#[tokio::test]
async fn loads_snapshots_and_command_records_are_read_consistently() {
    let (_direct, proxied, proxy) = behind_proxy().await;
    let accounts = store(
        proxied.clone(),
        StoreOptions::default().snapshots(SnapshotPolicy::Every(3)),
    );
    let with_id = |id: &str| CommandOptions::default().command_id(CommandId::new(id));

    accounts
        .execute_with("acc", common::open("ada"), with_id("open-1"))
        .await
        .expect("open");
    let reads = consistent_reads(&proxy, &proxied);
    assert!(reads.contains(&Kind::CommandRecord), "{reads:?}");
    assert!(reads.contains(&Kind::Query), "{reads:?}");
    for n in 1..=5 {
        accounts
            .execute_with("acc", deposit(n), with_id(&format!("deposit-{n}")))
            .await
            .expect("deposit");
    }
    let reads = consistent_reads(&proxy, &proxied);
    assert!(
        reads.iter().filter(|k| **k == Kind::CommandRecord).count() >= 5,
        "{reads:?}"
    );
    assert!(reads.contains(&Kind::Snapshot), "{reads:?}");

    // A load from the snapshot (version 6 crossed 3 and 6), and one as of
    // an earlier version.
    let loaded = accounts.load("acc").await.expect("load");
    assert_eq!((loaded.version, loaded.state.balance), (6, 15));
    let reads = consistent_reads(&proxy, &proxied);
    assert!(reads.contains(&Kind::Snapshot), "{reads:?}");
    assert!(reads.contains(&Kind::Query), "{reads:?}");
    let earlier = accounts.load_at("acc", 4).await.expect("load at 4");
    assert_eq!((earlier.version, earlier.state.balance), (4, 6));
    let reads = consistent_reads(&proxy, &proxied);
    assert!(reads.contains(&Kind::Query), "{reads:?}");

    // The same command id again: its record is read, nothing is appended.
    let again = accounts
        .execute_with("acc", deposit(5), with_id("deposit-5"))
        .await
        .expect("the same command again");
    assert!(again.duplicate);
    let reads = consistent_reads(&proxy, &proxied);
    assert!(reads.contains(&Kind::CommandRecord), "{reads:?}");
}

#[tokio::test]
async fn the_reads_after_a_conflict_are_consistent() {
    let (direct, proxied, proxy) = behind_proxy().await;
    // A cached writer decides on what it saw last; a rival writes past it.
    let cached = store(
        proxied.clone(),
        StoreOptions::default()
            .cache(10)
            .snapshots(SnapshotPolicy::Every(2)),
    );
    let rival = store(direct.clone(), StoreOptions::default());
    cached
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    for round in 1..=3 {
        rival
            .execute("acc", deposit(100))
            .await
            .expect("the rival's deposit");
        let _ = proxy.take_reads();
        let outcome = cached
            .execute("acc", deposit(1))
            .await
            .expect("decided again after the conflict");
        assert_eq!(outcome.attempts, 2, "round {round}");
        assert_eq!(outcome.version, 1 + 2 * round, "round {round}");
        let reads = consistent_reads(&proxy, &proxied);
        assert!(reads.contains(&Kind::Query), "the reload: {reads:?}");
    }
    let loaded = rival.load("acc").await.expect("load");
    assert_eq!(loaded.state.balance, 303);

    // A withdrawal refused by the rival's state, decided on fresh reads.
    rival
        .execute("acc", AccountCommand::Withdraw { amount: 303 })
        .await
        .expect("the rival empties the account");
    let _ = proxy.take_reads();
    let refused = cached
        .execute("acc", AccountCommand::Withdraw { amount: 1 })
        .await
        .expect_err("nothing left");
    assert_eq!(
        refused.rejection(),
        Some(&common::AccountError::InsufficientFunds {
            balance: 0,
            asked: 1
        }),
        "{refused:?}"
    );
    let reads = consistent_reads(&proxy, &proxied);
    assert!(reads.contains(&Kind::Query), "{reads:?}");
}

#[tokio::test]
async fn the_reads_after_a_lost_answer_are_consistent() {
    let (_direct, proxied, proxy) = behind_proxy().await;
    let accounts = store(proxied.clone(), StoreOptions::default());
    accounts
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    // The command's record and then its commit land, both answers are
    // lost: the store reads what became of each.
    proxy.set_plan(
        FaultPlan::default()
            .drop_answer(1.0)
            .operation("PutItem")
            .first(2),
    );
    let _ = proxy.take_reads();
    let outcome = accounts
        .execute_with(
            "acc",
            deposit(9),
            CommandOptions::default().command_id(CommandId::new("lost-1")),
        )
        .await
        .expect("the deposit, recognised");
    assert_eq!(outcome.version, 2);
    assert_eq!(proxy.stats().dropped_answers, 2);
    let reads = consistent_reads(&proxy, &proxied);
    assert!(reads.len() >= 2, "{reads:?}");
    let loaded = accounts.load("acc").await.expect("load");
    assert_eq!(loaded.state.balance, 9);
    consistent_reads(&proxy, &proxied);
}
