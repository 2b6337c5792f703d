//! The integration tests of the read side, one module per concern, in one test
//! binary: one build and one link for them all, and one DynamoDB server
//! shared by every test (each on fresh tables). Run one module's tests with
//! `cargo test -p dynago-projections --test integration <module>::`.

mod common;

mod bad_data;
mod checker;
mod contention;
mod costs;
mod faults;
mod lambda;
mod lambda_fences;
mod late;
mod lineage;
mod metrics;
mod ordering;
mod poison;
mod probes_commits;
mod probes_in_commit;
mod reset;
mod stream;
mod workers;
