//! Reading the store's items without the aggregate's types: what an
//! explorer shows is what a typed load reads.

use crate::common;

use common::{open, Account, AccountCommand};
use dynago_es::{AggregateId, CommandId, CommandOptions, SnapshotPolicy, StoreOptions};
use serde_json::json;

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

#[tokio::test]
async fn an_inspector_reads_events_snapshots_and_command_records_as_stored() {
    let store = common::store(StoreOptions::default().snapshots(SnapshotPolicy::Every(3))).await;
    let inspector = store.inspector();
    let id = AggregateId::new("inspected");
    store.execute(&id, open("ada")).await.expect("open");
    let with_id = CommandOptions::default().command_id(CommandId::new("cmd-7"));
    store
        .execute_with(&id, deposit(5), with_id)
        .await
        .expect("a deposit with an id");
    for amount in [7, 11] {
        store.execute(&id, deposit(amount)).await.expect("deposit");
    }

    assert_eq!(
        inspector.last_version("account", &id).await.expect("last"),
        4
    );
    assert_eq!(
        inspector
            .last_version("account", &AggregateId::new("nobody"))
            .await
            .expect("last of none"),
        0
    );
    let events = inspector
        .events("account", &id, 2..=3)
        .await
        .expect("events");
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [2, 3]);
    assert_eq!(events[0].event_type, "Deposited");
    assert_eq!(events[0].payload, json!({ "Deposited": { "amount": 5 } }));
    assert_eq!(events[0].metadata.command_id.as_deref(), Some("cmd-7"));
    assert!(events[0].size > 0);
    let (from, to) = (3, 2);
    assert!(inspector
        .events("account", &id, from..=to)
        .await
        .expect("none")
        .is_empty());

    let snapshot = inspector
        .snapshot("account", &id)
        .await
        .expect("read")
        .expect("a snapshot at version 3");
    assert_eq!(snapshot.version, 3);
    assert_eq!(
        snapshot.state,
        json!({ "open": true, "balance": 12, "deposits": 2 })
    );

    let record = inspector
        .command("account", &CommandId::new("cmd-7"))
        .await
        .expect("read")
        .expect("the record of cmd-7");
    assert_eq!(record.commit_id, events[0].commit_id);
    assert_eq!(
        (
            record.effects[0].first_version,
            record.effects[0].last_version
        ),
        (2, 2)
    );
    let found = inspector
        .find_commit(events[0].commit_id)
        .await
        .expect("scan");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].version, 2);

    // Folded from events alone, or from the snapshot: the same states.
    for version in 0..=4 {
        let replayed = store.replay_at(&id, version).await.expect("replay");
        let loaded = store.state_at(&id, version).await.expect("state");
        assert_eq!(replayed.state, loaded.state, "at version {version}");
        assert_eq!(replayed.snapshot_version, 0);
    }
    assert_eq!(
        store
            .state_at(&id, 4)
            .await
            .expect("state")
            .snapshot_version,
        3
    );
    assert_eq!(
        store.replay_at(&id, 2).await.expect("replay").state.balance,
        5
    );
    let _: Account = store.replay_at(&id, 9).await.expect("past the end").state;
}
