//! A fault-injecting HTTP proxy in front of a DynamoDB endpoint.
//!
//! [`FaultProxy`] listens on a loopback port and forwards every request to
//! an upstream DynamoDB (the URL of a [`LocalDynamo`](crate::LocalDynamo),
//! say). A [`FaultPlan`] tells it which requests to disturb and how:
//!
//! | fault | what the client sees | did the request reach DynamoDB? |
//! |---|---|---|
//! | [latency](FaultPlan::latency) | a slow answer | yes, late |
//! | [reset](FaultPlan::reset) | a connection reset, no answer | no |
//! | [throttle](FaultPlan::throttle) | a throttling error or an HTTP 500/503 | no |
//! | [fail](FaultPlan::fail) | the error asked for, such as a stream's `ExpiredIteratorException` | no |
//! | [replicated write conflict](FaultPlan::replicated_write_conflict) | `ReplicatedWriteConflictException`, as an MRSC global table refuses a write that races another Region's | no |
//! | [drop the answer](FaultPlan::drop_answer) | a closed connection, no answer | **yes, and it committed** |
//! | [leave part unprocessed](FaultPlan::unprocessed) | a batch answered in part, the rest as `UnprocessedKeys`/`UnprocessedItems` | the part answered, yes |
//! | [hold](FaultPlan::hold) | no answer: its attempt times out, or the connection closes after `delay` | **yes, after `delay`**, whether the client waited or not |
//! | [duplicate](FaultPlan::duplicate) | the first answer | **yes, twice** |
//! | [shuffle stream records](FaultPlan::shuffle_stream_records) | a stream read's records out of order | yes |
//! | [split stream shards](FaultPlan::split_stream_shards) | each shard behind a closed parent, which the proxy serves | the parent's reads, no |
//!
//! A dropped answer is the fault that makes retries dangerous: the write
//! took place, the client does not know it, and sends it again. DynamoDB
//! itself recognises a transaction sent again with the same
//! `ClientRequestToken` (for 10 minutes);
//! [`FaultPlan::strip_client_request_tokens`] takes that help away, to test
//! what a client does on its own.
//!
//! A held request is that fault in a different order: the write takes
//! place after the client gave up, perhaps after its retry. A duplicated
//! one is a relay that sends a request again on its own.
//! [`FaultProxy::settled`] waits until every held request and every second
//! delivery has reached DynamoDB and been answered.
//!
//! The proxy also keeps a log of the reads it received, with whether each
//! asked for a strongly consistent read ([`FaultProxy::reads`]): the
//! emulators always read strongly, so only the request shows whether a
//! client asked. And it lists the IAM permissions the requests asked for
//! ([`FaultProxy::permissions`]): each action on each table, index or
//! stream, as DynamoDB authorizes it, to hold a program's calls against the
//! policy written for it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dynago::Table;
//! use dynago_local::{FaultPlan, FaultProxy, LocalDynamo};
//!
//! let dynamo = LocalDynamo::start().await?;
//! // Commit the first TransactWriteItems, then lose its answer.
//! let plan = FaultPlan::default()
//!     .drop_answer(1.0)
//!     .operation("TransactWriteItems")
//!     .first(1);
//! let proxy = FaultProxy::start(dynamo.url(), plan).await?;
//! let table = Table::connect(proxy.table_options("ledger").partition_key("pk")).await?;
//! # let _ = table;
//! # Ok(())
//! # }
//! ```

mod answer;
mod batch;
mod connection;
mod delivery;
mod permissions;
mod plan;
mod server;
mod state;
mod stats;
mod streams;
#[cfg(test)]
mod tests;
mod upstream;

pub use answer::Throttle;
pub use permissions::{Permission, Resource};
pub use plan::FaultPlan;
pub use server::FaultProxy;
pub use stats::{ProxyStats, ReadRequest};
