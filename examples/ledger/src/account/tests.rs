//! The account's rules, given/when/then, without DynamoDB.

use dynago_es::testing::TestFramework;

use super::*;

fn eur() -> Currency {
    "EUR".parse().expect("EUR is a currency code")
}

fn usd() -> Currency {
    "USD".parse().expect("USD is a currency code")
}

fn id(text: &str) -> AccountId {
    text.parse().expect("a valid account id")
}

fn cents(cents: i64) -> Money {
    Money::from_cents(cents)
}

fn opened() -> AccountEvent {
    AccountEvent::Opened {
        owner: "Ada".into(),
        currency: eur(),
    }
}

/// An open EUR account holding `balance` cents.
fn holding(balance: i64) -> TestFramework<Account> {
    let mut events = vec![opened()];
    if balance > 0 {
        events.push(AccountEvent::Deposited {
            amount: cents(balance),
        });
    }
    TestFramework::given(events)
}

#[test]
fn opens_once() {
    let account = TestFramework::<Account>::given_no_previous_events()
        .when(AccountCommand::Open {
            owner: " Ada ".into(),
            currency: eur(),
        })
        .then_expect_events(vec![opened()]);
    assert_eq!(account.balance(), Money::ZERO);
    assert_eq!(account.status(), "open");

    holding(0)
        .when(AccountCommand::Open {
            owner: "Ada".into(),
            currency: eur(),
        })
        .then_expect_error(AccountError::AlreadyOpen);
    TestFramework::<Account>::given_no_previous_events()
        .when(AccountCommand::Open {
            owner: "  ".into(),
            currency: eur(),
        })
        .then_expect_error(AccountError::NoOwner);
}

#[test]
fn an_unopened_account_refuses_everything_but_open() {
    for command in [
        AccountCommand::Deposit { amount: cents(100) },
        AccountCommand::Withdraw { amount: cents(100) },
        AccountCommand::Credit {
            from: id("bob"),
            amount: cents(100),
            currency: eur(),
        },
        AccountCommand::Close,
    ] {
        TestFramework::<Account>::given_no_previous_events()
            .when(command)
            .then_expect_error(AccountError::NotOpen);
    }
}

#[test]
fn deposits_and_withdraws_exact_amounts() {
    let account = holding(1000)
        .when(AccountCommand::Withdraw { amount: cents(999) })
        .then_expect_events(vec![AccountEvent::Withdrawn { amount: cents(999) }]);
    assert_eq!(account.balance(), cents(1));

    let account = holding(10)
        .when(AccountCommand::Deposit { amount: cents(20) })
        .then_expect_events(vec![AccountEvent::Deposited { amount: cents(20) }]);
    assert_eq!(account.balance(), cents(30));
}

#[test]
fn never_overdraws() {
    holding(1000)
        .when(AccountCommand::Withdraw {
            amount: cents(1001),
        })
        .then_expect_error(AccountError::InsufficientFunds {
            balance: cents(1000),
            asked: cents(1001),
            currency: eur(),
        });
    holding(0)
        .when(AccountCommand::Debit {
            to: id("bob"),
            amount: cents(1),
            currency: eur(),
        })
        .then_expect_error(AccountError::InsufficientFunds {
            balance: Money::ZERO,
            asked: cents(1),
            currency: eur(),
        });
}

#[test]
fn refuses_amounts_of_zero() {
    for command in [
        AccountCommand::Deposit { amount: cents(0) },
        AccountCommand::Withdraw { amount: cents(0) },
        AccountCommand::Deposit { amount: cents(-5) },
        AccountCommand::Debit {
            to: id("bob"),
            amount: cents(0),
            currency: eur(),
        },
        AccountCommand::Credit {
            from: id("bob"),
            amount: cents(0),
            currency: eur(),
        },
    ] {
        holding(1000)
            .when(command)
            .then_expect_error(AccountError::NotPositive);
    }
}

#[test]
fn transfers_carry_the_other_account() {
    let account = holding(1000)
        .when(AccountCommand::Debit {
            to: id("bob"),
            amount: cents(250),
            currency: eur(),
        })
        .then_expect_events(vec![AccountEvent::Debited {
            to: id("bob"),
            amount: cents(250),
        }]);
    assert_eq!(account.balance(), cents(750));

    let account = holding(0)
        .when(AccountCommand::Credit {
            from: id("alice"),
            amount: cents(250),
            currency: eur(),
        })
        .then_expect_events(vec![AccountEvent::Credited {
            from: id("alice"),
            amount: cents(250),
        }]);
    assert_eq!(account.balance(), cents(250));
}

#[test]
fn transfers_stay_in_one_currency() {
    holding(1000)
        .when(AccountCommand::Debit {
            to: id("bob"),
            amount: cents(100),
            currency: usd(),
        })
        .then_expect_error(AccountError::CurrencyMismatch {
            account: eur(),
            transfer: usd(),
        });
    holding(0)
        .when(AccountCommand::Credit {
            from: id("bob"),
            amount: cents(100),
            currency: usd(),
        })
        .then_expect_error(AccountError::CurrencyMismatch {
            account: eur(),
            transfer: usd(),
        });
}

#[test]
fn closes_only_at_zero_and_then_refuses_everything() {
    holding(1)
        .when(AccountCommand::Close)
        .then_expect_error(AccountError::BalanceNotZero {
            balance: cents(1),
            currency: eur(),
        });
    let closed = holding(0)
        .when(AccountCommand::Close)
        .then_expect_events(vec![AccountEvent::Closed]);
    assert_eq!(closed.status(), "closed");

    let history = vec![opened(), AccountEvent::Closed];
    for command in [
        AccountCommand::Deposit { amount: cents(1) },
        AccountCommand::Close,
        AccountCommand::Open {
            owner: "Ada".into(),
            currency: eur(),
        },
        AccountCommand::Credit {
            from: id("bob"),
            amount: cents(1),
            currency: eur(),
        },
    ] {
        TestFramework::<Account>::given(history.clone())
            .when(command)
            .then_expect_error(AccountError::AlreadyClosed);
    }
}

#[test]
fn refuses_a_balance_past_the_largest_amount() {
    holding(i64::MAX)
        .when(AccountCommand::Deposit { amount: cents(1) })
        .then_expect_error(AccountError::TooLarge);
}

#[test]
fn account_ids_have_no_spaces_and_a_bounded_length() {
    assert!("acc-1001".parse::<AccountId>().is_ok());
    assert!("x".repeat(64).parse::<AccountId>().is_ok());
    for bad in ["", "a b", "tab\there", &"x".repeat(65)] {
        assert!(bad.parse::<AccountId>().is_err(), "{bad:?}");
    }
}
