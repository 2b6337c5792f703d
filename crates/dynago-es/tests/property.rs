//! Random command sequences under random snapshot policies: what loads
//! through snapshots is what a full replay gives, at every version.

mod common;

use common::{Account, AccountCommand};
use dynago::Table;
use dynago_es::{Aggregate, AggregateId, EventStore, SnapshotPolicy, StoreOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn command() -> impl Strategy<Value = AccountCommand> {
    prop_oneof![
        1 => "[a-z]{1,8}".prop_map(|owner| AccountCommand::Open { owner }),
        4 => (1i64..100).prop_map(|amount| AccountCommand::Deposit { amount }),
        3 => (1i64..150).prop_map(|amount| AccountCommand::Withdraw { amount }),
        2 => proptest::collection::vec(1i64..50, 1..6)
            .prop_map(|amounts| AccountCommand::DepositMany { amounts }),
    ]
}

/// Mostly sequences that open first, so that most commands are accepted;
/// the rest start closed and are refused until an `Open` comes.
fn commands() -> impl Strategy<Value = Vec<AccountCommand>> {
    (any::<bool>(), proptest::collection::vec(command(), 0..30)).prop_map(
        |(open_first, mut commands)| {
            if open_first {
                commands.insert(
                    0,
                    AccountCommand::Open {
                        owner: "first".into(),
                    },
                );
            }
            commands
        },
    )
}

fn policy() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![1 => Just(None), 4 => (1u64..10).prop_map(Some)]
}

async fn check(
    table: &Table,
    every: Option<u64>,
    commands: Vec<AccountCommand>,
) -> Result<(), TestCaseError> {
    let policy = every.map_or(SnapshotPolicy::Never, SnapshotPolicy::Every);
    let store =
        EventStore::<Account>::new(table.clone(), StoreOptions::default().snapshots(policy))
            .expect("a store");
    let id = AggregateId::random();
    // The model: the aggregate decided in memory, and where snapshots must be.
    let mut model = Account::default();
    let mut version = 0u64;
    let mut snapshot = 0u64;
    for command in &commands {
        let decided = model.handle(command);
        let outcome = store.execute(&id, command.clone()).await;
        match decided {
            Ok(events) => {
                let outcome = outcome.map_err(|e| TestCaseError::fail(format!("{e}")))?;
                let before = version;
                for event in &events {
                    model.apply(event);
                }
                version += events.len() as u64;
                prop_assert_eq!(outcome.version, version);
                prop_assert_eq!(outcome.attempts, 1);
                prop_assert_eq!(
                    outcome
                        .events
                        .iter()
                        .map(|e| &e.payload)
                        .collect::<Vec<_>>(),
                    events.iter().collect::<Vec<_>>()
                );
                prop_assert_eq!(outcome.state.as_ref(), Some(&model));
                if let Some(n) = every {
                    if before / n != version / n {
                        snapshot = version;
                    }
                }
            }
            Err(refusal) => {
                let error = outcome.expect_err("the store refuses what the model refuses");
                prop_assert_eq!(error.rejection::<common::AccountError>(), Some(&refusal));
            }
        }
    }

    let events = common::all_events(&store, id.as_str()).await;
    prop_assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=version).collect::<Vec<_>>()
    );
    let replayed: Account = common::fold(&events);
    prop_assert_eq!(&replayed, &model);

    let loaded = store.load(&id).await.expect("load");
    prop_assert_eq!(&loaded.state, &replayed);
    prop_assert_eq!(loaded.version, version);
    prop_assert_eq!(loaded.snapshot_version, snapshot);
    prop_assert_eq!(loaded.events_read as u64, version - snapshot);

    for at in 0..=version {
        let loaded = store.load_at(&id, at).await.expect("load_at");
        let upto = usize::try_from(at).expect("small");
        prop_assert_eq!(&loaded.state, &common::fold::<Account>(&events[..upto]));
        prop_assert_eq!(loaded.version, at);
        // Only the newest snapshot is kept: it serves the versions from its own on.
        let from = if snapshot <= at { snapshot } else { 0 };
        prop_assert_eq!(loaded.snapshot_version, from);
        prop_assert_eq!(loaded.events_read as u64, at - from);
    }
    // Past the end: the whole stream.
    let beyond = store.load_at(&id, version + 5).await.expect("load_at");
    prop_assert_eq!(beyond.version, version);
    prop_assert_eq!(&beyond.state, &model);
    Ok(())
}

#[test]
fn snapshots_and_full_replays_agree() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let table = runtime.block_on(common::table());
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(policy(), commands()), |(every, commands)| {
        runtime.block_on(check(&table, every, commands))
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
