//! The given/when/then harness on the test `Account` aggregate: no DynamoDB involved.

use crate::common;

use common::{Account, AccountCommand, AccountError, AccountEvent};
use dynago_es::testing::TestFramework;

fn opened() -> AccountEvent {
    AccountEvent::Opened {
        owner: "ada".into(),
    }
}

#[test]
fn a_new_account_opens() {
    let state = TestFramework::<Account>::given_no_previous_events()
        .when(common::open("ada"))
        .then_expect_events(vec![opened()]);
    assert_eq!(
        state,
        Account {
            open: true,
            balance: 0,
            deposits: 0
        }
    );
}

#[test]
fn an_open_account_does_not_open_again() {
    TestFramework::<Account>::given(vec![opened()])
        .when(common::open("bob"))
        .then_expect_error(AccountError::AlreadyOpen);
}

#[test]
fn a_closed_account_refuses_deposits_and_withdrawals() {
    TestFramework::<Account>::given_no_previous_events()
        .when(AccountCommand::Deposit { amount: 5 })
        .then_expect_error(AccountError::NotOpen);
    TestFramework::<Account>::given_no_previous_events()
        .when(AccountCommand::Withdraw { amount: 5 })
        .then_expect_error(AccountError::NotOpen);
}

#[test]
fn deposits_fold_into_the_returned_state() {
    let state = TestFramework::<Account>::given(vec![
        opened(),
        AccountEvent::Deposited { amount: 40 },
        AccountEvent::Withdrawn { amount: 15 },
    ])
    .when(AccountCommand::DepositMany {
        amounts: vec![1, 2, 3],
    })
    .then_expect_events(vec![
        AccountEvent::Deposited { amount: 1 },
        AccountEvent::Deposited { amount: 2 },
        AccountEvent::Deposited { amount: 3 },
    ]);
    assert_eq!(
        state,
        Account {
            open: true,
            balance: 31,
            deposits: 4
        }
    );
}

#[test]
fn withdrawals_are_limited_by_the_history() {
    let given = || {
        TestFramework::<Account>::given(vec![
            opened(),
            AccountEvent::Deposited { amount: 100 },
            AccountEvent::Withdrawn { amount: 30 },
        ])
    };
    given()
        .when(AccountCommand::Withdraw { amount: 71 })
        .then_expect_error(AccountError::InsufficientFunds {
            balance: 70,
            asked: 71,
        });
    let state = given()
        .when(AccountCommand::Withdraw { amount: 70 })
        .then_expect_events(vec![AccountEvent::Withdrawn { amount: 70 }]);
    assert_eq!(state.balance, 0);
    given()
        .when(AccountCommand::Withdraw { amount: 0 })
        .then_expect_error(AccountError::NotPositive);
    given()
        .when(AccountCommand::DepositMany {
            amounts: vec![5, -1],
        })
        .then_expect_error(AccountError::NotPositive);
}

#[test]
fn inspect_result_hands_back_the_decision() {
    let decided = TestFramework::<Account>::given(vec![opened()])
        .when(AccountCommand::DepositMany { amounts: vec![] })
        .inspect_result();
    assert_eq!(decided, Ok(vec![]));
    let refused = TestFramework::<Account>::given_no_previous_events()
        .when(AccountCommand::Deposit { amount: 1 })
        .inspect_result();
    assert_eq!(refused, Err(AccountError::NotOpen));
}

#[test]
#[should_panic(expected = "the aggregate decided other events")]
fn other_events_fail_the_test() {
    let _ = TestFramework::<Account>::given(vec![opened()])
        .when(AccountCommand::Deposit { amount: 5 })
        .then_expect_events(vec![AccountEvent::Deposited { amount: 6 }]);
}

#[test]
#[should_panic(expected = "but the command was refused: the account is not open")]
fn a_refusal_fails_a_test_that_expects_events() {
    let _ = TestFramework::<Account>::given_no_previous_events()
        .when(AccountCommand::Deposit { amount: 5 })
        .then_expect_events(vec![AccountEvent::Deposited { amount: 5 }]);
}

#[test]
#[should_panic(expected = "but the aggregate decided [Deposited { amount: 5 }]")]
fn events_fail_a_test_that_expects_an_error() {
    TestFramework::<Account>::given(vec![opened()])
        .when(AccountCommand::Deposit { amount: 5 })
        .then_expect_error(AccountError::NotPositive);
}

#[test]
#[should_panic(expected = "the aggregate refused with another error")]
fn another_error_fails_the_test() {
    TestFramework::<Account>::given_no_previous_events()
        .when(AccountCommand::Withdraw { amount: 5 })
        .then_expect_error(AccountError::AlreadyOpen);
}

/// Tags counted by name, some with no count yet; and pairs, kept in a map
/// keyed by tuples, which no snapshot can hold.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tags {
    counts: std::collections::BTreeMap<String, Option<u32>>,
    pairs: std::collections::BTreeMap<(u8, u8), u32>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, dynago_es::DomainEvent)]
enum TagEvent {
    Named { name: String },
    Paired { a: u8, b: u8 },
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("never")]
struct Never;

impl dynago_es::Aggregate for Tags {
    const TYPE: &'static str = "tags";
    type Id = dynago_es::AggregateId;
    type Command = TagEvent;
    type Event = TagEvent;
    type Error = Never;

    fn handle(&self, command: &TagEvent) -> Result<Vec<TagEvent>, Never> {
        Ok(vec![command.clone()])
    }

    fn apply(&mut self, event: &TagEvent) {
        match event {
            TagEvent::Named { name } => {
                self.counts.insert(name.clone(), None);
            }
            TagEvent::Paired { a, b } => {
                self.pairs.insert((*a, *b), 1);
            }
        }
    }
}

#[test]
fn the_state_is_checked_against_its_snapshot() {
    let named = TagEvent::Named { name: "ada".into() };
    TestFramework::<Tags>::given_no_previous_events()
        .when(named.clone())
        .then_expect_state(Tags {
            counts: [("ada".to_owned(), None)].into(),
            pairs: Default::default(),
        });

    let paired = TagEvent::Paired { a: 1, b: 2 };
    let caught = std::panic::catch_unwind(|| {
        TestFramework::<Tags>::given(vec![named.clone()])
            .when(paired.clone())
            .then_expect_events(vec![paired.clone()])
    })
    .expect_err("a state keyed by tuples does not survive a snapshot");
    let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("the state of tags does not survive a snapshot"),
        "{message}"
    );
    // An aggregate never snapshotted can say so.
    let state = TestFramework::<Tags>::given(vec![named])
        .without_snapshots()
        .when(paired.clone())
        .then_expect_events(vec![paired]);
    assert_eq!(state.pairs.len(), 1);
}
