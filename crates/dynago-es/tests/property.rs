//! Random command sequences under random snapshot policies: what loads
//! through snapshots is what a full replay gives, at every version.

use crate::common;

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
                prop_assert_eq!(error.rejection(), Some(&refusal));
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

/// One step of a run with a rival: a command of the store under test (with
/// a fresh command id or none), a deposit by another writer, or the last
/// command that carried an id, sent again.
#[derive(Debug, Clone)]
enum Step {
    Ours {
        command: AccountCommand,
        with_id: bool,
    },
    Rival {
        amount: i64,
    },
    Repeat,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        5 => (command(), any::<bool>()).prop_map(|(command, with_id)| Step::Ours { command, with_id }),
        2 => (1i64..50).prop_map(|amount| Step::Rival { amount }),
        1 => Just(Step::Repeat),
    ];
    proptest::collection::vec(step, 0..25).prop_map(|mut steps| {
        steps.insert(
            0,
            Step::Ours {
                command: AccountCommand::Open {
                    owner: "first".into(),
                },
                with_id: false,
            },
        );
        steps
    })
}

/// What the first execution of a command with an id gave.
struct Recorded {
    id: dynago_es::CommandId,
    command: AccountCommand,
    version: u64,
    events: Vec<dynago_es::EventEnvelope<common::AccountEvent>>,
}

async fn check_with_rival(
    table: &Table,
    every: Option<u64>,
    steps: Vec<Step>,
) -> Result<(), TestCaseError> {
    let policy = every.map_or(SnapshotPolicy::Never, SnapshotPolicy::Every);
    let store = EventStore::<Account>::new(
        table.clone(),
        StoreOptions::default().snapshots(policy).cache(8),
    )
    .expect("a store");
    let rival =
        EventStore::<Account>::new(table.clone(), StoreOptions::default()).expect("a store");
    let id = AggregateId::random();
    let mut model = Account::default();
    let mut version = 0u64;
    let mut last: Option<Recorded> = None;
    fn fail(e: impl std::fmt::Display) -> TestCaseError {
        TestCaseError::fail(e.to_string())
    }
    for step in steps {
        match step {
            Step::Rival { amount } => {
                let command = AccountCommand::Deposit { amount };
                match model.handle(&command) {
                    Ok(events) => {
                        let outcome = rival.execute(&id, command).await.map_err(fail)?;
                        for event in &events {
                            model.apply(event);
                        }
                        version += events.len() as u64;
                        prop_assert_eq!(outcome.version, version);
                    }
                    Err(refusal) => {
                        let error = rival.execute(&id, command).await.expect_err("refused");
                        prop_assert_eq!(error.rejection(), Some(&refusal));
                    }
                }
            }
            Step::Repeat => {
                let Some(recorded) = &last else { continue };
                let options = dynago_es::CommandOptions::default().command_id(recorded.id.clone());
                let outcome = store
                    .execute_with(&id, recorded.command.clone(), options)
                    .await
                    .map_err(fail)?;
                prop_assert!(outcome.duplicate);
                prop_assert_eq!(outcome.version, recorded.version);
                prop_assert_eq!(&outcome.events, &recorded.events);
            }
            Step::Ours { command, with_id } => {
                let command_id = with_id.then(dynago_es::CommandId::random);
                let mut options = dynago_es::CommandOptions::default();
                if let Some(command_id) = &command_id {
                    options = options.command_id(command_id.clone());
                }
                let outcome = store.execute_with(&id, command.clone(), options).await;
                match model.handle(&command) {
                    Ok(events) => {
                        let outcome = outcome.map_err(fail)?;
                        for event in &events {
                            model.apply(event);
                        }
                        version += events.len() as u64;
                        prop_assert!(!outcome.duplicate);
                        prop_assert_eq!(outcome.version, version);
                        prop_assert_eq!(outcome.state.as_ref(), Some(&model));
                        prop_assert_eq!(
                            outcome
                                .events
                                .iter()
                                .map(|e| &e.payload)
                                .collect::<Vec<_>>(),
                            events.iter().collect::<Vec<_>>()
                        );
                        if let (Some(command_id), false) = (command_id, events.is_empty()) {
                            last = Some(Recorded {
                                id: command_id,
                                command,
                                version,
                                events: outcome.events,
                            });
                        }
                    }
                    Err(refusal) => {
                        let error = outcome.expect_err("the store refuses what the model refuses");
                        prop_assert_eq!(error.rejection(), Some(&refusal));
                    }
                }
            }
        }
    }
    let events = common::all_events(&store, id.as_str()).await;
    prop_assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=version).collect::<Vec<_>>()
    );
    prop_assert_eq!(&common::fold::<Account>(&events), &model);
    let loaded = store.load(&id).await.map_err(fail)?;
    prop_assert_eq!(&loaded.state, &model);
    prop_assert_eq!(loaded.version, version);
    Ok(())
}

#[test]
fn a_rival_writer_the_cache_and_command_ids_agree_with_the_model() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let table = runtime.block_on(common::table());
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(policy(), steps()), |(every, steps)| {
        runtime.block_on(check_with_rival(&table, every, steps))
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
