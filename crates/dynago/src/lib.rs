//! A typed, safe face over one Amazon DynamoDB table.
//!
//! `dynago` carries any `serde` type in and out of DynamoDB and keeps the
//! promises a DynamoDB user relies on without writing them by hand:
//!
//! - **Optimistic locking** on a version attribute: a write with a stale
//!   version is a typed [`Error::VersionConflict`], never a silent overwrite,
//!   and version 0 means "create, never replace" ([`OptimisticLock`]).
//! - **Updates in place** ([`Table::update_item`]): SET, REMOVE, ADD and
//!   DELETE built by [`UpdateExpression`], atomic counters, the same lock
//!   (checked and bumped in one request, never forced on an update), and a
//!   resend after a lost answer recognised rather than applied twice.
//! - **Typed expressions** ([`expr`]): conditions, key conditions, filters
//!   and projections from paths and values, placeholders generated, so
//!   reserved words and dotted names need no `#n`; raw strings still work.
//! - **Batches of any size**: [`Table::batch_get_items`] and
//!   [`Table::batch_write`] split, send concurrently, and retry what DynamoDB
//!   leaves unprocessed under bounded backoff; nothing is dropped.
//! - **Queries that page correctly**: a limit counts items returned, cursors
//!   are signed (not encrypted) strings ([`Page`]), and [`Query::stream`]
//!   pages for you; scans page the same way, and [`Scan::parallel`] reads
//!   segments at once.
//! - **Transactions** whose failures say which action failed and why
//!   ([`CancellationReasons`]), and [`Table::transact_get`] to read up to
//!   100 items in one consistent snapshot.
//! - **Limits checked before sending**: 400 KB an item ([`MAX_ITEM_SIZE`]),
//!   100 actions and 4 MB a transaction ([`MAX_TRANSACTION_ACTIONS`],
//!   [`MAX_TRANSACTION_SIZE`]), 100 keys a batch get and 25 writes a batch
//!   write request (split for you), 1 MB a query page (paged for you), 4 KB
//!   an expression ([`MAX_EXPRESSION_SIZE`]).
//! - **A key schema checked once**: [`Table::verify_schema`] (or
//!   [`TableOptions::verify_schema`]) compares the table's keys with the
//!   handle's in one `DescribeTable`, naming both ([`Error::SchemaMismatch`]).
//! - **Tracing**: a span on every request, with the table, the operation,
//!   the item count and the consumed capacity ([`telemetry`]); the requests
//!   and capacity counted through the `metrics` facade ([`metrics`]).
//!
//! ```no_run
//! use dynago::{string_value, Key, Table, TableOptions};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Account {
//!     owner: String,
//!     balance: i64,
//!     version: u64,
//! }
//!
//! # async fn run() -> dynago::Result<()> {
//! let table = Table::connect(TableOptions::new("accounts").partition_key("pk")).await?;
//! let key = Key::new(string_value("account#1"));
//!
//! // Create: version 0 means "must not exist yet"; the item is stored as version 1.
//! let account = Account { owner: "ada".into(), balance: 0, version: 0 };
//! table.put_item(key.clone(), &account).optimistic_lock("version", 0).send().await?;
//!
//! // Update: read, change, write back under the version read.
//! let mut account: Account = table.get_item(key.clone()).consistent_read(true).send().await?.expect("just created");
//! account.balance += 100;
//! table.put_item(key, &account).optimistic_lock("version", account.version).send().await?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
mod attempts;
mod batch;
mod condition;
mod cursor;
mod error;
pub mod expr;
mod get;
pub mod item;
mod key;
pub mod metrics;
pub mod number;
mod paging;
mod query;
mod record;
mod retry;
mod scan;
mod schema;
mod table;
pub mod telemetry;
pub mod transact;
mod transact_get;
mod update;
mod update_item;
mod value;
mod write;

pub use admin::{GlobalIndex, TableDefinition};
pub use batch::{BatchGet, BatchWrite, MAX_BATCH_GET, MAX_BATCH_WRITE};
pub use condition::{Condition, OptimisticLock};
pub use error::{CancellationReason, CancellationReasons, Error, LockVersions, Result};
pub use expr::{attr, Expr, Path, MAX_EXPRESSION_SIZE};
pub use get::GetItem;
pub use item::{item_size, MAX_ITEM_SIZE};
pub use key::Key;
pub use paging::Page;
pub use query::Query;
pub use record::Record;
pub use retry::{Delays, RetryPolicy};
pub use scan::{ParallelScan, Scan, MAX_SCAN_SEGMENTS};
pub use schema::{KeyAttribute, TableSchema};
pub use table::{
    Endpoint, Table, TableOptions, LOCAL_ACCESS_KEY_ID, LOCAL_REGION, LOCAL_SECRET_ACCESS_KEY,
};
pub use transact::{
    TransactWrite, MAX_CLIENT_REQUEST_TOKEN_LENGTH, MAX_TRANSACTION_ACTIONS, MAX_TRANSACTION_SIZE,
};
pub use transact_get::TransactGet;
pub use update::UpdateExpression;
pub use update_item::{ReturnValues, UpdateItem, UpdateOutcome};
pub use value::{binary_value, number_value, string_value, Item, Number, Value};
pub use write::{DeleteItem, PutItem, WriteOutcome, WRITE_ID_ATTRIBUTE};

/// The SDK types that appear in this crate's API, re-exported so that your
/// code and `dynago` always agree on one version of `aws-sdk-dynamodb`.
pub use aws_sdk_dynamodb::{
    self as sdk, primitives::Blob, types::AttributeValue, types::ScalarAttributeType, Client,
};

#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc = include_str!("../../../docs/table-layer.md")]
#[cfg(doctest)]
pub struct TableLayerDoctests;

#[doc = include_str!("../../../docs/testing.md")]
#[cfg(doctest)]
pub struct TestingDoctests;
