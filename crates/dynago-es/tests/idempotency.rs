//! Commands with an id apply once: carried again, they return the first outcome.

mod common;

use common::{AccountCommand, AccountError, Write};
use dynago_es::{AggregateId, CommandId, CommandOptions, EventStore, StoreOptions};

fn with_id(id: &str) -> CommandOptions {
    CommandOptions::default().command_id(CommandId::new(id))
}

#[tokio::test]
async fn a_repeated_command_returns_the_first_outcome() {
    let store = common::store(StoreOptions::default()).await;
    let id = "idem";
    store.execute(id, common::open("ada")).await.expect("open");
    let first = store
        .execute_with(
            id,
            AccountCommand::DepositMany {
                amounts: vec![10, 20],
            },
            with_id("dep-1"),
        )
        .await
        .expect("deposit");
    assert!(!first.duplicate);
    assert_eq!(first.version, 3);
    assert_eq!(first.events.len(), 2);
    assert_eq!(first.state.as_ref().map(|s| s.balance), Some(30));
    for event in &first.events {
        assert_eq!(event.metadata.command_id.as_deref(), Some("dep-1"));
    }

    // The same id, even with another body: nothing applied, the first outcome back.
    let before = store.table().request_count();
    let again = store
        .execute_with(
            id,
            AccountCommand::Deposit { amount: 999 },
            with_id("dep-1"),
        )
        .await
        .expect("deposit again");
    assert!(again.duplicate);
    assert_eq!(again.id, first.id);
    assert_eq!(again.version, 3);
    assert_eq!(again.events, first.events, "the same events, ids and all");
    assert_eq!(again.state, None);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.requests, 2, "the command record and its events");
    assert_eq!(store.table().request_count() - before, 2);

    let events = common::all_events(&store, id).await;
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(events[1..], first.events[..]);
    assert_eq!(store.load(id).await.expect("load").state.balance, 30);

    // Later commands do not change what the first one did.
    store
        .execute(id, AccountCommand::Deposit { amount: 5 })
        .await
        .expect("deposit");
    let later = store
        .execute_with(id, AccountCommand::Deposit { amount: 1 }, with_id("dep-1"))
        .await
        .expect("deposit again");
    assert!(later.duplicate);
    assert_eq!(later.version, 3);
    assert_eq!(later.events, first.events);
    let loaded = store.load(id).await.expect("load");
    assert_eq!((loaded.version, loaded.state.balance), (4, 35));

    // Another id is another command.
    let other = store
        .execute_with(id, AccountCommand::Deposit { amount: 1 }, with_id("dep-2"))
        .await
        .expect("deposit");
    assert!(!other.duplicate);
    assert_eq!(other.version, 5);
}

#[tokio::test]
async fn a_repeat_that_the_aggregate_would_refuse_returns_the_first_outcome() {
    let store = common::store(StoreOptions::default()).await;
    let id = "open-twice";
    let first = store
        .execute_with(id, common::open("ada"), with_id("open-1"))
        .await
        .expect("open");
    assert!(!first.duplicate);
    assert_eq!(first.version, 1);
    let again = store
        .execute_with(id, common::open("ada"), with_id("open-1"))
        .await
        .expect("the first outcome, not AlreadyOpen");
    assert!(again.duplicate);
    assert_eq!(again.version, 1);
    assert_eq!(again.events, first.events);
    // Without the id (or with another), the aggregate decides and refuses.
    let refused = store
        .execute_with(id, common::open("ada"), with_id("open-2"))
        .await
        .expect_err("already open");
    assert_eq!(
        refused.rejection::<AccountError>(),
        Some(&AccountError::AlreadyOpen)
    );
    assert_eq!(common::versions(&store, id).await, vec![1]);
}

#[tokio::test]
async fn a_refused_command_is_not_recorded() {
    let store = common::store(StoreOptions::default()).await;
    let id = "refused";
    store.execute(id, common::open("ada")).await.expect("open");
    let refused = store
        .execute_with(id, AccountCommand::Withdraw { amount: 50 }, with_id("w-1"))
        .await
        .expect_err("overdraft");
    assert_eq!(
        refused.rejection::<AccountError>(),
        Some(&AccountError::InsufficientFunds {
            balance: 0,
            asked: 50
        })
    );
    store
        .execute(id, AccountCommand::Deposit { amount: 80 })
        .await
        .expect("deposit");
    let applied = store
        .execute_with(id, AccountCommand::Withdraw { amount: 50 }, with_id("w-1"))
        .await
        .expect("withdraw");
    assert!(!applied.duplicate);
    assert_eq!(applied.version, 3);
    assert_eq!(applied.state.map(|s| s.balance), Some(30));
}

#[tokio::test]
async fn a_repeated_multi_aggregate_command_returns_every_first_outcome() {
    let store = common::store(StoreOptions::default()).await;
    for id in ["from", "to"] {
        store.execute(id, common::open(id)).await.expect("open");
    }
    store
        .execute("from", AccountCommand::Deposit { amount: 100 })
        .await
        .expect("deposit");
    let transfer = || {
        vec![
            (
                AggregateId::from("from"),
                AccountCommand::Withdraw { amount: 40 },
            ),
            (
                AggregateId::from("to"),
                AccountCommand::Deposit { amount: 40 },
            ),
        ]
    };
    let first = store
        .execute_all(transfer(), with_id("transfer-1"))
        .await
        .expect("transfer");
    assert_eq!(
        first
            .iter()
            .map(|o| (o.id.as_str(), o.version, o.duplicate))
            .collect::<Vec<_>>(),
        vec![("from", 3, false), ("to", 2, false)]
    );
    let again = store
        .execute_all(transfer(), with_id("transfer-1"))
        .await
        .expect("transfer again");
    assert_eq!(
        again
            .iter()
            .map(|o| (o.id.as_str(), o.version, o.duplicate))
            .collect::<Vec<_>>(),
        vec![("from", 3, true), ("to", 2, true)]
    );
    for (again, first) in again.iter().zip(&first) {
        assert_eq!(again.events, first.events);
        assert_eq!(again.events.len(), 1);
    }
    // Carried again as a single command on one of them: still the recorded outcome.
    let single = store
        .execute_with(
            "to",
            AccountCommand::Deposit { amount: 40 },
            with_id("transfer-1"),
        )
        .await
        .expect("repeat");
    assert!(single.duplicate);
    assert_eq!(
        (single.id.as_str(), single.version),
        ("to", 2),
        "the outcome of the aggregate the record lists last"
    );
    assert_eq!(single.events, first[1].events);
    assert_eq!(store.load("from").await.expect("load").state.balance, 60);
    assert_eq!(store.load("to").await.expect("load").state.balance, 40);
    assert_eq!(common::versions(&store, "from").await, vec![1, 2, 3]);
    assert_eq!(common::versions(&store, "to").await, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_repeats_apply_once() {
    let store = common::store(StoreOptions::default()).await;
    let id = "racing";
    store.execute(id, common::open("ada")).await.expect("open");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .execute_with(
                        id,
                        AccountCommand::DepositMany {
                            amounts: vec![1, 2],
                        },
                        with_id("once"),
                    )
                    .await
                    .expect("deposit")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1);
    let applied = outcomes.iter().find(|o| !o.duplicate).expect("one applied");
    for outcome in &outcomes {
        assert_eq!(outcome.version, 3);
        assert_eq!(outcome.events, applied.events);
    }
    assert_eq!(common::versions(&store, id).await, vec![1, 2, 3]);
    assert_eq!(store.load(id).await.expect("load").state.balance, 3);
}

#[tokio::test]
async fn command_ids_are_scoped_by_aggregate_type() {
    let accounts = common::store(StoreOptions::default()).await;
    let journals =
        EventStore::<common::Journal>::new(accounts.table().clone(), StoreOptions::default())
            .expect("store");
    let opened = accounts
        .execute_with("shared", common::open("ada"), with_id("same"))
        .await
        .expect("open");
    let written = journals
        .execute_with("shared", Write::sized(1, 10), with_id("same"))
        .await
        .expect("write");
    assert!(!opened.duplicate);
    assert!(!written.duplicate);
    assert_eq!(written.version, 1);
    assert_eq!(
        journals.load("shared").await.expect("load").state.entries,
        1
    );
}
