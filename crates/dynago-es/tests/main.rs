//! The integration tests of the event store, one module per concern, in one test
//! binary: one build and one link for them all, and one DynamoDB server
//! shared by every test (each on fresh tables). Run one module's tests with
//! `cargo test -p dynago-es --test integration <module>::`.

mod common;

mod bad_data;
mod basics;
mod cache;
mod codec_differential;
mod codec_probes;
mod consistency;
mod contention;
mod costs;
mod events;
mod exact_values;
mod framework;
mod fuzz;
mod idempotency;
mod inspect;
mod key_names;
mod limits;
mod lost_answer;
mod metrics;
mod multi;
mod odd_values;
mod open;
mod outcome_checker;
mod outcomes;
mod payload;
mod previous_format;
mod probes_commits;
mod probes_in_commit;
mod probes_in_commit_faults;
mod property;
mod replicated;
mod retries;
mod snapshot_limits;
mod snapshot_states;
mod snapshots;
mod states_in_commits;
mod upcasting;
