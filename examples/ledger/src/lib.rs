//! A bank ledger on DynamoDB: the example program of `dynago`.
//!
//! The library half holds what a real service would keep, the binary half
//! (`main.rs`) is the command line around it.
//!
//! | module | what it holds |
//! |---|---|
//! | [`money`] | [`Money`], exact amounts in cents parsed from text like `12.34`, and [`Currency`] |
//! | [`account`] | the [`Account`] aggregate: its commands, events and rules ([`AccountError`]) |
//! | [`cost`] | what each command of the `ledger` program costs in DynamoDB request units, and their prices |
//! | [`ledger`] | [`Ledger`], the accounts in a [`dynago_es::EventStore`]: open, deposit, withdraw, transfer (one transaction over two accounts), close, statements and history; [`Ledger::submit`] applies an [`Operation`] once per command id |
//! | [`workload`] | many tasks at once on the same accounts, for the demo, the stress test and the soak |
//! | [`mod@audit`] | the checks read back from the table: money conserved, transfers whole, versions contiguous, snapshots right |
//! | [`explorer`] | the ledger in `dynago-explorer`: its accounts listed by their catalog, its projections, and demo data to look at |
//! | [`views`] | the read side: a view per account and totals per day and currency, kept from the table's stream by `dynago-projections` ([`views::ReadSide`]), and the replay they must equal |
//! | [`metrics`] | the metrics of every layer served to Prometheus ([`metrics::serve_prometheus`]) |
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dynago::TableOptions;
//! use ledger::Ledger;
//!
//! let ledger = Ledger::connect(TableOptions::new("ledger"), ledger::store_options()).await?;
//! ledger.create_table_if_missing().await?;
//! let alice = "alice".parse()?;
//! ledger.open(&alice, "Alice", "EUR".parse()?).await?;
//! let receipt = ledger.deposit(&alice, "12.34".parse()?).await?;
//! assert_eq!(receipt.holder.balance.to_string(), "12.34");
//! # Ok(())
//! # }
//! ```
#![deny(warnings)]
// The futures of a command nest deep (workload, ledger, store, SDK): more
// than the default limit of 128 when their layout is computed.
#![recursion_limit = "256"]

pub mod account;
pub mod audit;
pub mod cost;
pub mod explorer;
pub mod ledger;
pub mod metrics;
pub mod money;
pub mod views;
pub mod workload;

pub use account::{
    Account, AccountCommand, AccountError, AccountEvent, AccountId, Holder, ParseAccountIdError,
};
pub use audit::{audit, Check, Expected};
pub use ledger::{
    store_options, HistoryPage, Ledger, LedgerError, Operation, Receipt, Statement, Submitted,
    Transfer, TransferReceipt,
};
pub use money::{Currency, Money, ParseCurrencyError, ParseMoneyError};
pub use workload::{Report, Workload};
