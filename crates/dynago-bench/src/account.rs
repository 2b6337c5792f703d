//! One ledger-style account, written once and plugged into both libraries.
//!
//! The business rules are two plain functions, [`decide`] and [`evolve`];
//! [`Account`] implements `dynago_es::Aggregate` and `cqrs_es::Aggregate` by
//! calling them, so that both stores run exactly the same logic.

use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

/// An account's state: the fold of its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The sum of every deposit, in cents.
    pub balance: u64,
    /// How many deposits were applied: the stream's length, since every
    /// event is one deposit.
    pub deposits: u64,
}

/// What can be asked of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCommand {
    /// Puts `amount` cents in: one event.
    Deposit {
        /// How much, in cents; never zero.
        amount: u64,
    },
    /// Puts `amount` cents in `count` times: `count` events in one command
    /// (used to build long streams quickly).
    DepositMany {
        /// How much each deposit is, in cents; never zero.
        amount: u64,
        /// How many deposits; at least one.
        count: u32,
    },
}

/// What happened to an account, stored as `{"Deposited": {"amount": 1234}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, dynago_es::DomainEvent)]
pub enum AccountEvent {
    /// Money was put in.
    Deposited {
        /// How much, in cents.
        amount: u64,
    },
}

/// Why an account refuses a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// A deposit of nothing.
    #[error("a deposit must be at least one cent")]
    ZeroAmount,
    /// A batch of no deposits.
    #[error("a batch of deposits must hold at least one")]
    EmptyBatch,
}

/// Decides which events `command` causes on `state`: all the business logic.
///
/// # Errors
///
/// [`AccountError`] when the command is refused.
pub fn decide(
    state: &Account,
    command: &AccountCommand,
) -> Result<Vec<AccountEvent>, AccountError> {
    let _ = state;
    match *command {
        AccountCommand::Deposit { amount } => {
            if amount == 0 {
                return Err(AccountError::ZeroAmount);
            }
            Ok(vec![AccountEvent::Deposited { amount }])
        }
        AccountCommand::DepositMany { amount, count } => {
            if amount == 0 {
                return Err(AccountError::ZeroAmount);
            }
            if count == 0 {
                return Err(AccountError::EmptyBatch);
            }
            Ok((0..count)
                .map(|_| AccountEvent::Deposited { amount })
                .collect())
        }
    }
}

/// Folds one event into the state.
pub fn evolve(state: &mut Account, event: &AccountEvent) {
    match event {
        AccountEvent::Deposited { amount } => {
            state.balance += amount;
            state.deposits += 1;
        }
    }
}

/// The aggregate type's name in both stores.
pub const ACCOUNT_TYPE: &str = "account";

/// The type names of the derived `dynago_es::DomainEvent`, so that both
/// stores write the same ones.
impl cqrs_es::DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        dynago_es::DomainEvent::event_type(self).to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

impl dynago_es::Aggregate for Account {
    const TYPE: &'static str = ACCOUNT_TYPE;
    type Id = dynago_es::AggregateId;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn handle(&self, command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        decide(self, command)
    }

    fn apply(&mut self, event: &AccountEvent) {
        evolve(self, event);
    }
}

/// The cqrs-es side decides on the state it was handed and leaves that
/// state alone, as dynago-es does: the events go to the sink, which applies
/// them to a scratch copy.
///
/// cqrs-es's own examples apply them to `self` (`sink.write(event, self)`);
/// its snapshot store then applies the command's events a second time when
/// it takes a snapshot, so that every snapshot counts them twice (see
/// [`DocumentedAccount`], which the benchmark uses to show it).
impl cqrs_es::Aggregate for Account {
    const TYPE: &'static str = ACCOUNT_TYPE;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccountCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        let events = decide(self, &command)?;
        let mut scratch = self.clone();
        for event in events {
            sink.write(event, &mut scratch).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        evolve(self, &event);
    }
}

/// The same account for cqrs-es, written as cqrs-es's documentation writes
/// aggregates: `handle` applies each event to `self` through the sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentedAccount(pub Account);

impl cqrs_es::Aggregate for DocumentedAccount {
    const TYPE: &'static str = "documented-account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccountCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        for event in decide(&self.0, &command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        evolve(&mut self.0, &event);
    }
}

/// The state after `deposits` deposits of `amount` each.
pub fn expected(amount: u64, deposits: u64) -> Account {
    Account {
        balance: amount * deposits,
        deposits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_traits_run_the_same_rules() {
        let many = AccountCommand::DepositMany {
            amount: 5,
            count: 3,
        };
        let events = <Account as dynago_es::Aggregate>::handle(&Account::default(), &many)
            .expect("accepted");
        assert_eq!(events.len(), 3);
        let mut state = Account::default();
        for event in &events {
            dynago_es::Aggregate::apply(&mut state, event);
        }
        assert_eq!(state, expected(5, 3));
        assert_eq!(
            decide(&state, &AccountCommand::Deposit { amount: 0 }),
            Err(AccountError::ZeroAmount)
        );
        let mut other = Account::default();
        for event in events {
            cqrs_es::Aggregate::apply(&mut other, event);
        }
        assert_eq!(other, state);
    }
}
