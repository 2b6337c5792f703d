//! The read side of `dynago-es`: projections kept up to date from the
//! events table's DynamoDB Stream, exactly once and in order.
//!
//! You write a [`Projection`]: a handler that folds an event into a view,
//! as plainly as an aggregate's `apply`. A [`Projector`] does the rest:
//!
//! - **Reads the stream** ([`EventStream`]): lists its shards (paged),
//!   reads parents before children and follows closed shards to their
//!   children, renews expired iterators, backs off when idle, and reports
//!   records trimmed before they were applied as [`Error::FellBehind`].
//!   Only event items are kept (snapshots and command records are in the
//!   stream too), read with the store's upcasters.
//! - **Orders per aggregate by version, not by arrival**: an event at or
//!   below the version applied is skipped, one past a gap waits while the
//!   missing events are read from the table (a consistent query).
//! - **Writes views exactly once**: a per-aggregate view holds the version
//!   it applied and is written under the condition that it holds the one
//!   before (one conditional `PutItem`); a keyed view (totals per day) is
//!   written in one transaction with the source aggregate's position, both
//!   under conditions. A record delivered twice changes nothing.
//! - **Shares shards among workers by leases** with an owner and a counter
//!   that fences a worker whose lease was taken; a stopped worker's shards
//!   are taken over after its lease expires and resumed from their
//!   checkpoints.
//! - **Parks poison events**: a handler error is tried again with backoff,
//!   then the event is parked with its error; its aggregate's later events
//!   wait behind it, the others go on. Parked events can be listed and
//!   replayed.
//! - **Rebuilds from the table**: a new or reset projection catches up by a
//!   parallel scan of the events, then takes over from the stream without
//!   a gap or a double count.
//!
//! ```no_run
//! use dynago::{Table, TableOptions};
//! use dynago_projections::{EventOf, EventStream, Projection, Projector, ProjectorOptions};
//! # use dynago_es::{Aggregate, DomainEvent, EventStore, StoreOptions};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Default, Clone, Serialize, Deserialize)]
//! # struct Account { balance: u64 }
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
//! # enum AccountEvent { Deposited { amount: u64 } }
//! # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
//! # impl Aggregate for Account {
//! #     const TYPE: &'static str = "account";
//! #     type Id = dynago_es::AggregateId;
//! #     type Command = u64; type Event = AccountEvent; type Error = No;
//! #     fn handle(&self, _: &u64) -> Result<Vec<AccountEvent>, No> { Ok(vec![]) }
//! #     fn apply(&mut self, _: &AccountEvent) {}
//! # }
//!
//! struct Balances;
//!
//! impl Projection for Balances {
//!     const NAME: &'static str = "balances";
//!     type Aggregate = Account;
//!     type View = u64;
//!     type Error = std::convert::Infallible;
//!
//!     fn apply(&self, balance: &mut u64, event: &EventOf<Self>) -> Result<(), Self::Error> {
//!         let AccountEvent::Deposited { amount } = event.payload;
//!         *balance += amount;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let events = TableOptions::new("ledger").partition_key("pk").sort_key("sk");
//! let store = EventStore::<Account>::new(Table::connect(events.clone()).await?, StoreOptions::default())?;
//! let views = Table::connect(TableOptions::new("ledger-views").partition_key("pk").sort_key("sk")).await?;
//! let projector = Projector::new(Balances, store, views, ProjectorOptions::default())?;
//! let stream = EventStream::connect(events).await?;
//! // Until the future completes: `tokio::signal::ctrl_c()`, say.
//! projector.run(&stream, std::future::pending::<()>()).await?;
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
// The futures of SDK calls nest deeply; the public ones are boxed, so
// that callers need no such limit.
#![recursion_limit = "256"]

mod apply;
mod cache;
mod error;
mod fence;
mod keys;
#[cfg(feature = "lambda")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
pub mod lambda;
mod lease;
pub mod metrics;
mod options;
mod parked;
mod policy;
mod projection;
mod projector;
mod rebuild;
mod record;
mod status;
mod stream;
mod view;
mod worker;

pub use apply::Offer;
pub use error::{Error, Result};
pub use options::ProjectorOptions;
pub use parked::ParkedEvent;
pub use projection::{EventOf, Projection, UnknownEvents, ViewKind};
pub use projector::Projector;
pub use status::{LeaseStatus, ShardStatus, Status};
pub use stream::EventStream;
pub use view::{StoredView, ViewPage, Views};

/// What the records of the events table's stream carry: the projectors need
/// `NewImage` (or `NewAndOldImages`), as in
/// `dynago::TableDefinition::default().stream(StreamViewType::NewImage)`.
pub use dynago::sdk::types::StreamViewType;

#[doc = include_str!("../../../docs/projections.md")]
#[cfg(doctest)]
pub struct ProjectionsDoctests;
