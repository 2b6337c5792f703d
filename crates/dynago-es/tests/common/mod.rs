//! Shared by the store's tests: a test aggregate and a fresh table per test.

#![allow(dead_code, unused_imports)]

use dynago::{string_value, AttributeValue, Item, Key, Table, TableDefinition};
use dynago_es::{Aggregate, DomainEvent, EventEnvelope, EventStore, StoreOptions};
use dynago_local::testing;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

/// A bank account, small enough to reason about in tests.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub open: bool,
    pub balance: i64,
    pub deposits: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
pub enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: i64 },
    Withdrawn { amount: i64 },
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
    type Id = dynago_es::AggregateId;
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
    testing::fresh_table(
        "es",
        |options| options.partition_key("pk").sort_key("sk"),
        TableDefinition::default(),
    )
    .await
}

/// A store of accounts on a fresh table.
pub async fn store(options: StoreOptions) -> EventStore<Account> {
    EventStore::new(table().await, options).expect("a store")
}

/// A journal whose entries are as large as asked: for the size limits and
/// for streams of many bytes.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
pub enum JournalEvent {
    Written { text: String },
}

/// Writes one entry per text (one event each, one transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub texts: Vec<String>,
}

impl Write {
    /// `count` entries of `size` bytes each.
    pub fn sized(count: usize, size: usize) -> Self {
        Self {
            texts: (0..count)
                .map(|n| {
                    let mut text = format!("{n}:");
                    text.extend(std::iter::repeat_n('x', size.saturating_sub(text.len())));
                    text
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("nothing to write")]
pub struct NothingToWrite;

impl Aggregate for Journal {
    const TYPE: &'static str = "journal";
    type Id = dynago_es::AggregateId;
    type Command = Write;
    type Event = JournalEvent;
    type Error = NothingToWrite;

    fn handle(&self, command: &Write) -> Result<Vec<JournalEvent>, NothingToWrite> {
        if command.texts.is_empty() {
            return Err(NothingToWrite);
        }
        Ok(command
            .texts
            .iter()
            .map(|text| JournalEvent::Written { text: text.clone() })
            .collect())
    }

    fn apply(&mut self, event: &JournalEvent) {
        match event {
            JournalEvent::Written { text } => {
                self.entries += 1;
                self.bytes += text.len() as u64;
            }
        }
    }
}

/// The key of event `version` of `{aggregate_type}#{id}`, as the store lays it out.
pub fn event_key(aggregate_type: &str, id: &str, version: u64) -> Key {
    Key::new(string_value(format!("{aggregate_type}#{id}")))
        .sort(string_value(format!("e#{version:020}")))
}

/// The key of the snapshot of `{aggregate_type}#{id}`.
pub fn snapshot_key(aggregate_type: &str, id: &str) -> Key {
    Key::new(string_value(format!("{aggregate_type}#{id}"))).sort(string_value("snapshot"))
}

/// The item under `key`, as stored (consistent read).
pub async fn raw_get(table: &Table, key: Key) -> Option<Item> {
    testing::raw_get(table, &key).await
}

pub use testing::raw_put;

/// The number attribute `name` of `item`, as a `u64`.
pub fn number(item: &Item, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().expect("a whole number"),
        other => panic!("attribute `{name}` is not a number: {other:?}"),
    }
}

/// The string attribute `name` of `item`.
pub fn string<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s,
        other => panic!("attribute `{name}` is not a string: {other:?}"),
    }
}

/// Every event of an aggregate, read with `events(id, 1)`.
pub async fn all_events<A: Aggregate>(
    store: &EventStore<A>,
    id: &str,
) -> Vec<EventEnvelope<A::Event>> {
    store
        .events(id, 1)
        .try_collect()
        .await
        .expect("read the events")
}

/// The versions of every event of an aggregate, in the order read.
pub async fn versions<A: Aggregate>(store: &EventStore<A>, id: &str) -> Vec<u64> {
    all_events(store, id)
        .await
        .iter()
        .map(|e| e.version)
        .collect()
}

/// The fold of `events` into `A::default()`.
pub fn fold<'a, A: Aggregate>(events: impl IntoIterator<Item = &'a EventEnvelope<A::Event>>) -> A {
    let mut state = A::default();
    for event in events {
        state.apply(&event.payload);
    }
    state
}

/// The command that opens an account for `owner`.
pub fn open(owner: &str) -> AccountCommand {
    AccountCommand::Open {
        owner: owner.to_owned(),
    }
}

/// A deposit of `amount`.
pub fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

/// Several deposits in one command: a commit of as many events.
pub fn many(amounts: &[i64]) -> AccountCommand {
    AccountCommand::DepositMany {
        amounts: amounts.to_vec(),
    }
}

/// Options that keep the state after each command in its commit item.
pub fn in_commit() -> StoreOptions {
    StoreOptions::default().snapshots(dynago_es::SnapshotPolicy::InCommit)
}

/// A store with states in commits on a fresh table, and a store without
/// snapshots on the same table, which replays every event.
pub async fn in_commit_and_plain() -> (EventStore<Account>, EventStore<Account>) {
    let store = store(in_commit()).await;
    let plain =
        EventStore::<Account>::new(store.table().clone(), StoreOptions::default()).expect("store");
    (store, plain)
}

/// A store of journals on a fresh table.
pub async fn journal_store(options: StoreOptions) -> EventStore<Journal> {
    EventStore::new(table().await, options).expect("a store")
}

/// Every item of the table, read with consistent scans and sorted by key:
/// compare it before and after an operation to see that nothing changed.
pub async fn contents(table: &Table) -> Vec<Item> {
    let mut items = testing::raw_scan(table).await;
    let key = |item: &Item| (string(item, "pk").to_owned(), string(item, "sk").to_owned());
    items.sort_by_key(key);
    items
}

/// Deletes the item under `key`, with the SDK client, past every check of the store.
pub async fn raw_delete(table: &Table, key: Key) {
    testing::raw_delete(table, &key).await;
}

pub use testing::through_proxy;

/// The versions of the event items of `{aggregate_type}#{id}` as stored,
/// read past the store with a consistent scan: what a store under test
/// cannot hide.
pub async fn raw_event_versions(table: &Table, aggregate_type: &str, id: &str) -> Vec<u64> {
    let partition = format!("{aggregate_type}#{id}");
    contents(table)
        .await
        .iter()
        .filter(|item| string(item, "pk") == partition)
        .filter_map(|item| string(item, "sk").strip_prefix("e#").map(str::to_owned))
        .map(|digits| digits.parse().expect("a version"))
        .collect()
}

/// The commits a proxy saw: one-event commits are `PutItem`s, the others
/// `TransactWriteItems`.
pub fn writes(stats: &dynago_local::ProxyStats) -> u64 {
    stats.requests_for("PutItem") + stats.requests_for("TransactWriteItems")
}

/// The store's error of a command that must fail in the store (a
/// rejection fails the test).
pub trait StoreErr {
    fn store_err(self, what: &str) -> dynago_es::Error;
}

impl<T: std::fmt::Debug, A: dynago_es::Aggregate> StoreErr
    for Result<T, dynago_es::CommandError<A>>
{
    fn store_err(self, what: &str) -> dynago_es::Error {
        match self.expect_err(what) {
            dynago_es::CommandError::Store(error) => error,
            rejected => panic!("{what}: {rejected}"),
        }
    }
}

impl<T: std::fmt::Debug> StoreErr for Result<T, dynago_es::Error> {
    fn store_err(self, what: &str) -> dynago_es::Error {
        self.expect_err(what)
    }
}
