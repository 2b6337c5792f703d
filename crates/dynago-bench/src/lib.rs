//! What `dynago` and `dynago-es` cost, measured in one run against one
//! DynamoDB server so that the noise of the machine cancels in the ratios:
//!
//! 1. [`table_layer`]: `dynago` against the same operations written by hand
//!    with `aws-sdk-dynamodb` + `serde_dynamo`;
//! 2. [`commands`]: commands through `dynago-es` (with and without its cache)
//!    against `cqrs-es` + `dynamo-es`, uncontended and contended;
//! 3. [`load`]: loading an aggregate of 10 to 10,000 events, with snapshots
//!    and without, in both libraries;
//! 4. [`cpu`]: the CPU one event costs, to and from a DynamoDB item (also as
//!    criterion benchmarks: `cargo bench -p dynago-bench`; in instructions,
//!    counted by callgrind: [`instructions`]; per command and per load,
//!    all the client's work included: [`client_instructions`]);
//! 5. [`projections`]: a view per account kept from the events table's
//!    stream by `dynago-projections` and by a loop written by hand with
//!    `aws-sdk-dynamodbstreams`: catch-up speed, requests and capacity units
//!    per event, lag behind the commands;
//! 6. [`write_units`]: what each shape of command costs in write units (one
//!    event, one with a command id, 3 events, 3 with an id, a transfer)
//!    against the limit by AWS's rules from the size of the items it writes;
//!    a command on one aggregate over its limit fails the run.
//!
//! The binary runs them all and writes [`report`]: `cargo run -p
//! dynago-bench --release` (see `--help`). Every answer is checked while
//! measuring; a wrong one ends the run with an error.

pub mod account;
pub mod chart;
pub mod client_instructions;
pub mod commands;
pub mod counter;
pub mod cpu;
pub mod envelope;
pub mod instructions;
pub mod load;
pub mod projections;
pub mod report;
pub mod server;
pub mod stats;
pub mod table_instructions;
pub mod table_layer;
pub mod write_units;

/// The count of answers checked, for the closing line of a run.
pub mod checks {
    use std::sync::atomic::{AtomicU64, Ordering};

    static PASSED: AtomicU64 = AtomicU64::new(0);

    /// Records `n` answers checked and found right.
    pub fn pass(n: u64) {
        PASSED.fetch_add(n, Ordering::Relaxed);
    }

    /// The answers checked and found right so far.
    pub fn passed() -> u64 {
        PASSED.load(Ordering::Relaxed)
    }
}

use std::time::Duration;

use commands::{CommandPlan, Scenario};
use cpu::CpuPlan;
use load::LoadPlan;
use projections::ProjectionPlan;
use table_layer::TableLayerPlan;
use write_units::WriteUnitsPlan;

/// How long each part measures.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `quick` or `full`.
    pub name: &'static str,
    /// Part 1.
    pub table_layer: TableLayerPlan,
    /// Part 2.
    pub commands: CommandPlan,
    /// Part 3.
    pub load: LoadPlan,
    /// Part 4.
    pub cpu: CpuPlan,
    /// Part 5.
    pub projections: ProjectionPlan,
    /// Part 6.
    pub write_units: WriteUnitsPlan,
}

impl Plan {
    /// The full run: under two minutes on the embedded server, a few on
    /// DynamoDB Local.
    pub fn full() -> Self {
        Self {
            name: "full",
            table_layer: TableLayerPlan {
                rounds: 15,
                ops: 200,
                bulk_ops: 40,
            },
            commands: CommandPlan {
                rounds: 10,
                scenarios: scenarios([40, 25, 10]),
            },
            load: LoadPlan {
                lengths: vec![10, 1_000, 10_000],
                rounds: 9,
            },
            cpu: CpuPlan {
                rounds: 15,
                events: 20_000,
            },
            projections: ProjectionPlan {
                rounds: 3,
                events: 2_000,
                accounts: 20,
                rate: 20,
                lag_for: Duration::from_secs(10),
                hot_per_writer: 100,
            },
            write_units: WriteUnitsPlan { repeats: 10 },
        }
    }

    /// A few seconds of measuring, for CI: every part runs and is checked,
    /// the figures are rough (streams up to 1,000 events only, catch-ups of
    /// 200).
    pub fn quick() -> Self {
        Self {
            name: "quick",
            table_layer: TableLayerPlan {
                rounds: 2,
                ops: 20,
                bulk_ops: 4,
            },
            commands: CommandPlan {
                rounds: 1,
                scenarios: scenarios([8, 4, 2]),
            },
            load: LoadPlan {
                lengths: vec![10, 1_000],
                rounds: 1,
            },
            cpu: CpuPlan {
                rounds: 3,
                events: 2_000,
            },
            projections: ProjectionPlan {
                rounds: 1,
                events: 200,
                accounts: 20,
                rate: 20,
                lag_for: Duration::from_secs(2),
                hot_per_writer: 15,
            },
            write_units: WriteUnitsPlan { repeats: 3 },
        }
    }
}

/// The command workloads, with the commands per task of each.
fn scenarios([single, each, contended]: [usize; 3]) -> Vec<Scenario> {
    vec![
        Scenario {
            label: "uncontended, 1 task".to_owned(),
            tasks: 1,
            shared_account: false,
            commands_per_task: single,
        },
        Scenario {
            label: "uncontended, 8 tasks on 8 accounts".to_owned(),
            tasks: 8,
            shared_account: false,
            commands_per_task: each,
        },
        Scenario {
            label: "contended, 16 tasks on 1 account".to_owned(),
            tasks: 16,
            shared_account: true,
            commands_per_task: contended,
        },
    ]
}
