//! An event store on DynamoDB, for aggregates you can trust with money.
//!
//! You write an [`Aggregate`]: a `handle` step that decides which events a
//! command causes, and an `apply` step that folds an event into the state.
//! [`EventStore::execute`] does the rest: it loads the aggregate (newest
//! snapshot plus every event after it), lets it decide, and appends the events
//! under the version it loaded: one conditional `PutItem` of one item holding
//! all of them (a transaction only across aggregates). When another
//! writer got there first, it reads what changed and decides again, under a
//! bounded `backon` retry policy.
//!
//! What the store guarantees:
//!
//! - **No lost update, no gap, no duplicate**: versions are exactly 1, 2, 3,
//!   ...; each event is written under the condition that its version is
//!   free, so a stale append writes nothing and fails with
//!   [`Error::Conflict`], which carries the expected version and the one
//!   found, read from the failed condition itself.
//! - **A failed condition is not proof of a failed write**: every append
//!   carries a commit id, so that when its answer is lost and it is sent
//!   again, its own earlier success is recognised, never applied twice.
//! - **Idempotent commands** ([`CommandOptions::command_id`]), without a
//!   transaction on one aggregate (a record reserved before the events), and
//!   **atomic commands across aggregates** ([`EventStore::execute_all`]).
//! - **Snapshots that are provably right** ([`SnapshotPolicy`]): stamped with
//!   the version whose state they hold, written after the events, never
//!   replacing a newer one, never blocking the events, ignored when their
//!   shape changed.
//! - **Events as readable data** ([`EventEnvelope`]): a native DynamoDB map per
//!   payload, with type, schema version, ids, timestamp and [`Metadata`];
//!   [`Upcaster`]s lift old payloads on read.
//! - **Bad data reported, not retried**: an item among the events that is not
//!   one, a missing version or a stream that contradicts itself is a
//!   typed error naming the aggregate ([`Error::is_corrupt`]), and
//!   [`EventStore::open`] checks the table's key schema once at start-up.
//! - **The cheapest correct write**: an uncontended command on one aggregate
//!   is one conditional `PutItem`, one write unit for events under 1 KB
//!   together (two with a command id); with [`StoreOptions::cache`] it is the
//!   whole cost, no read.
//!
//! ```no_run
//! use dynago::{Table, TableOptions};
//! use dynago_es::{Aggregate, DomainEvent, EventStore, StoreOptions};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Default, Clone, Serialize, Deserialize)]
//! struct Account { balance: u64 }
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
//! enum AccountEvent { Deposited { amount: u64 } }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("amount must be positive")]
//! struct ZeroAmount;
//!
//! impl Aggregate for Account {
//!     const TYPE: &'static str = "account";
//!     type Id = dynago_es::AggregateId;
//!     type Command = u64;
//!     type Event = AccountEvent;
//!     type Error = ZeroAmount;
//!
//!     fn handle(&self, amount: &u64) -> Result<Vec<AccountEvent>, ZeroAmount> {
//!         if *amount == 0 { return Err(ZeroAmount); }
//!         Ok(vec![AccountEvent::Deposited { amount: *amount }])
//!     }
//!
//!     fn apply(&mut self, event: &AccountEvent) {
//!         match event { AccountEvent::Deposited { amount } => self.balance += amount }
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let table = Table::connect(TableOptions::new("ledger").partition_key("pk").sort_key("sk")).await?;
//! let accounts = EventStore::<Account>::new(table, StoreOptions::default())?;
//! let outcome = accounts.execute("acc-1", 250).await?;
//! println!("balance {} at version {}", outcome.state.map_or(0, |a| a.balance), outcome.version);
//! # Ok(())
//! # }
//! ```

mod aggregate;
mod append;
mod codec;
mod command;
mod commit;
mod duplicate;
mod envelope;
mod error;
mod event_item;
mod failure;
mod id;
mod inspect;
pub mod keys;
pub mod metrics;
mod payload;
mod plan;
mod read;
mod record;
mod snapshot;
mod store;
pub mod testing;
mod upcast;

pub use aggregate::{Aggregate, DomainEvent};
pub use codec::ItemEvents;
pub use command::{CommandOptions, CommandOutcome};
#[cfg(feature = "derive")]
pub use dynago_es_derive::DomainEvent;
pub use envelope::{EventEnvelope, Metadata};
pub use error::{CommandError, ConflictVersions, Error, Result};
pub use id::{AggregateId, CommandId, Identity};
pub use inspect::{CommandEffect, Inspector, StoredCommand, StoredEvent, StoredSnapshot};
pub use payload::PayloadEncoding;
pub use snapshot::{SnapshotDue, SnapshotPolicy};
pub use store::{EventStore, Loaded, StoreOptions, COMMAND_EXPIRY_ATTRIBUTE};
pub use upcast::Upcaster;

#[doc = include_str!("../../../docs/event-store.md")]
#[cfg(doctest)]
pub struct EventStoreDoctests;
