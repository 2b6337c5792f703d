//! Commands with an id apply once: carried again, they return the first outcome.

use crate::common;
use crate::common::StoreErr;

use common::{AccountCommand, AccountError, Write};
use dynago_es::{
    AggregateId, CommandError, CommandId, CommandOptions, Error, EventStore, StoreOptions,
};

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
    assert_eq!(refused.rejection(), Some(&AccountError::AlreadyOpen));
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
        refused.rejection(),
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
    // The sides given in another order: the same command, outcomes in the
    // order given.
    let mut reversed = transfer();
    reversed.reverse();
    let again = store
        .execute_all(reversed, with_id("transfer-1"))
        .await
        .expect("transfer again");
    assert_eq!(
        again
            .iter()
            .map(|o| (o.id.as_str(), o.version, o.duplicate))
            .collect::<Vec<_>>(),
        vec![("to", 2, true), ("from", 3, true)]
    );
    // Carried again as a single command on one of them: another command,
    // refused, and nothing written.
    let before = common::contents(store.table()).await;
    let single = store
        .execute_with(
            "to",
            AccountCommand::Deposit { amount: 40 },
            with_id("transfer-1"),
        )
        .await
        .store_err("one side alone is another command");
    match &single {
        Error::CommandIdReused {
            command_id,
            first_used_for,
            ..
        } => {
            assert_eq!(command_id, "transfer-1");
            assert_eq!(first_used_for, &["account#from", "account#to"]);
        }
        other => panic!("expected CommandIdReused, got {other:?}"),
    }
    assert!(!single.is_retryable() && !single.is_conflict());
    assert_eq!(common::contents(store.table()).await, before);
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

#[tokio::test]
async fn a_command_id_used_again_on_another_aggregate_is_refused() {
    let store = common::store(StoreOptions::default()).await;
    for id in ["x", "y"] {
        store.execute(id, common::open(id)).await.expect("open");
    }
    let first = store
        .execute_with("x", AccountCommand::Deposit { amount: 5 }, with_id("m-1"))
        .await
        .expect("deposit into x");
    assert_eq!((first.id.as_str(), first.version), ("x", 2));

    let before = common::contents(store.table()).await;
    let error = store
        .execute_with("y", AccountCommand::Deposit { amount: 7 }, with_id("m-1"))
        .await
        .expect_err("m-1 is x's deposit");
    assert!(
        matches!(&error, CommandError::Store(Error::CommandIdReused { first_used_for, .. }) if first_used_for == &["account#x"]),
        "{error:?}"
    );
    assert!(error.to_string().contains("account#y"), "{error}");
    assert_eq!(
        common::contents(store.table()).await,
        before,
        "nothing written"
    );
    let y = store.load("y").await.expect("load y");
    assert_eq!((y.version, y.state.balance), (1, 0));

    // The same command on the same aggregate is still the first outcome.
    let again = store
        .execute_with("x", AccountCommand::Deposit { amount: 5 }, with_id("m-1"))
        .await
        .expect("x again");
    assert!(again.duplicate);
    assert_eq!((again.id.as_str(), again.version), ("x", 2));
}

#[tokio::test]
async fn a_command_id_with_another_fingerprint_is_refused() {
    let store = common::store(StoreOptions::default()).await;
    store.execute("x", common::open("x")).await.expect("open");
    let body = |amount: i64| format!(r#"{{"deposit":{amount}}}"#);
    let options = |amount: i64| with_id("m-2").fingerprint(body(amount));
    store
        .execute_with("x", AccountCommand::Deposit { amount: 5 }, options(5))
        .await
        .expect("deposit");
    let error = store
        .execute_with("x", AccountCommand::Deposit { amount: 9 }, options(9))
        .await
        .expect_err("another body");
    assert!(
        matches!(&error, CommandError::Store(Error::CommandIdReused { reason, .. }) if reason.contains("fingerprint")),
        "{error:?}"
    );
    let again = store
        .execute_with("x", AccountCommand::Deposit { amount: 5 }, options(5))
        .await
        .expect("the same body");
    assert!(again.duplicate);
    // Without a fingerprint the repeat cannot be compared: the first outcome.
    let plain = store
        .execute_with("x", AccountCommand::Deposit { amount: 9 }, with_id("m-2"))
        .await
        .expect("no fingerprint to compare");
    assert!(plain.duplicate);
    assert_eq!(store.load("x").await.expect("load").state.balance, 5);
}

/// The command record of `command_id` for accounts.
fn record_key(command_id: &str) -> dynago::Key {
    dynago::Key::new(dynago::string_value(format!("cmd#account#{command_id}")))
        .sort(dynago::string_value("command"))
}

#[tokio::test]
async fn a_recorded_outcome_whose_events_are_gone_or_foreign_is_corrupt() {
    let store = common::store(StoreOptions::default()).await;
    for id in ["x", "y"] {
        store.execute(id, common::open(id)).await.expect("open");
    }
    // A command across aggregates: its record is written in its
    // transaction and names the versions it appended.
    let command = || {
        vec![
            (
                AggregateId::from("x"),
                AccountCommand::DepositMany {
                    amounts: vec![1, 2, 3],
                },
            ),
            (
                AggregateId::from("y"),
                AccountCommand::Deposit { amount: 1 },
            ),
        ]
    };
    store
        .execute_all(command(), with_id("m-3"))
        .await
        .expect("deposits");
    let table = store.table().clone();

    // Another commit's events in the recorded range (versions 2 to 4, one
    // item).
    let key = common::event_key("account", "x", 2);
    let mut commit = common::raw_get(&table, key.clone())
        .await
        .expect("the commit");
    commit.insert(
        "commit_id".into(),
        dynago::string_value(uuid::Uuid::now_v7().to_string()),
    );
    common::raw_put(&table, commit).await;
    let error = store
        .execute_all(command(), with_id("m-3"))
        .await
        .expect_err("the events are not the command's");
    assert!(error.is_corrupt(), "{error:?}");
    assert!(error.to_string().contains("another commit"), "{error}");

    // The events gone.
    common::raw_delete(&table, key).await;
    let error = store
        .execute_all(command(), with_id("m-3"))
        .await
        .expect_err("the events are gone");
    assert!(error.is_corrupt(), "{error:?}");
    assert!(
        error.to_string().contains("end before version 2"),
        "{error}"
    );
}

#[tokio::test]
async fn command_records_carry_their_expiry_for_ttl() {
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    let store = common::store(StoreOptions::default().command_records_expire_after(week)).await;
    store.execute("x", common::open("x")).await.expect("open");
    let before = chrono::Utc::now().timestamp();
    store
        .execute_with("x", AccountCommand::Deposit { amount: 5 }, with_id("m-4"))
        .await
        .expect("deposit");
    let after = chrono::Utc::now().timestamp();
    let record = common::raw_get(store.table(), record_key("m-4"))
        .await
        .expect("the record");
    let expires = i64::try_from(common::number(&record, dynago_es::COMMAND_EXPIRY_ATTRIBUTE))
        .expect("seconds");
    let week = i64::try_from(week.as_secs()).expect("seconds");
    assert!(
        (before + week..=after + week).contains(&expires),
        "{expires} not within {before}..={after} + a week"
    );

    // Without a lifetime, records carry no expiry.
    let forever = common::store(StoreOptions::default()).await;
    forever.execute("x", common::open("x")).await.expect("open");
    forever
        .execute_with("x", AccountCommand::Deposit { amount: 5 }, with_id("m-4"))
        .await
        .expect("deposit");
    let record = common::raw_get(forever.table(), record_key("m-4"))
        .await
        .expect("the record");
    assert!(!record.contains_key(dynago_es::COMMAND_EXPIRY_ATTRIBUTE));
}
