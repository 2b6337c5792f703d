//! Shared by the store's tests: a test aggregate and a fresh table per test.

#![allow(dead_code)]

use dynago::{Table, TableDefinition};
use dynago_es::{Aggregate, DomainEvent, EventStore, StoreOptions};
use serde::{Deserialize, Serialize};

/// A bank account, small enough to reason about in tests.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub open: bool,
    pub balance: i64,
    pub deposits: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: i64 },
    Withdrawn { amount: i64 },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::Opened { .. } => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    Open {
        owner: String,
    },
    Deposit {
        amount: i64,
    },
    Withdraw {
        amount: i64,
    },
    /// Several deposits in one command (several events, one transaction).
    DepositMany {
        amounts: Vec<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is not open")]
    NotOpen,
    #[error("the account is already open")]
    AlreadyOpen,
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    InsufficientFunds { balance: i64, asked: i64 },
    #[error("amounts must be positive")]
    NotPositive,
}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn handle(&self, command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        match command {
            AccountCommand::Open { owner } => {
                if self.open {
                    return Err(AccountError::AlreadyOpen);
                }
                Ok(vec![AccountEvent::Opened {
                    owner: owner.clone(),
                }])
            }
            _ if !self.open => Err(AccountError::NotOpen),
            AccountCommand::Deposit { amount } if *amount <= 0 => Err(AccountError::NotPositive),
            AccountCommand::Deposit { amount } => {
                Ok(vec![AccountEvent::Deposited { amount: *amount }])
            }
            AccountCommand::Withdraw { amount } if *amount <= 0 => Err(AccountError::NotPositive),
            AccountCommand::Withdraw { amount } if *amount > self.balance => {
                Err(AccountError::InsufficientFunds {
                    balance: self.balance,
                    asked: *amount,
                })
            }
            AccountCommand::Withdraw { amount } => {
                Ok(vec![AccountEvent::Withdrawn { amount: *amount }])
            }
            AccountCommand::DepositMany { amounts } => {
                if amounts.iter().any(|a| *a <= 0) {
                    return Err(AccountError::NotPositive);
                }
                Ok(amounts
                    .iter()
                    .map(|amount| AccountEvent::Deposited { amount: *amount })
                    .collect())
            }
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { .. } => self.open = true,
            AccountEvent::Deposited { amount } => {
                self.balance += amount;
                self.deposits += 1;
            }
            AccountEvent::Withdrawn { amount } => self.balance -= amount,
        }
    }
}

/// A fresh table with string keys `pk` and `sk`.
pub async fn table() -> Table {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let table = Table::connect(
        dynamo
            .table_options(dynago_local::unique_table_name("es"))
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await
    .expect("table options");
    table
        .create_table(TableDefinition::default())
        .await
        .expect("create the test table");
    table
}

/// A store of accounts on a fresh table.
pub async fn store(options: StoreOptions) -> EventStore<Account> {
    EventStore::new(table().await, options).expect("a store")
}
