//! The integration tests of the table layer, one module per concern, in one test
//! binary: one build and one link for them all, and one DynamoDB server
//! shared by every test (each on fresh tables). Run one module's tests with
//! `cargo test -p dynago --test integration <module>::`.

mod common;

mod batch;
mod consistency;
mod errors;
mod expr;
mod fuzz;
mod get_put;
mod late_delivery;
mod limits;
mod locking;
mod lost_answer;
mod metrics;
mod number_keys;
mod options;
mod outcomes;
mod partial_batches;
mod query;
mod read_spans;
mod records;
mod retries;
mod scan;
mod schema;
mod smoke;
mod spans;
mod transact;
mod transact_get;
mod update;
