//! Part 1 in instructions: each table operation through `dynago` and by
//! hand with `aws-sdk-dynamodb` + `serde_dynamo`, all the client's work
//! counted by callgrind, the server in another process (as for
//! [`client_instructions`](crate::client_instructions)). Unlike part 1's
//! times, the counts do not move with the machine's load.
//!
//! One run of `client-instructions --table-side SIDE` per side sets up part
//! 1's tables and items ([`Ctx::new`]), then calls [`measured::table_ops`]
//! three times per operation: one to warm up, none, and N; callgrind
//! counts inside it and dumps at each exit.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use dynago_local::LocalDynamo;

use crate::instructions::{callgrind, profile};
use crate::table_layer::{Ctx, Operation, Side};

/// Operations counted of each single-item kind.
const SINGLE: usize = 20;
/// Operations counted of each 100-item kind.
const BULK: usize = 5;

fn units(operation: Operation) -> usize {
    if operation.bulk() {
        BULK
    } else {
        SINGLE
    }
}

/// The name `--table-side` takes.
pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Dynago => "dynago",
        Side::Raw => "sdk",
    }
}

/// One operation's instructions on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCount {
    /// Which operation.
    pub operation: Operation,
    /// Client instructions per operation through `dynago`.
    pub dynago: f64,
    /// The same by hand.
    pub raw: f64,
}

/// Runs every operation of `side` against the server of
/// `DYNAMODB_ENDPOINT`: what `client-instructions --table-side SIDE` does
/// under callgrind.
///
/// # Errors
///
/// When a request fails or an answer is wrong.
pub fn run(side: Side) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a runtime")?;
    let mut ctx = runtime.block_on(async {
        let dynamo = LocalDynamo::start().await?;
        Ctx::new(&dynamo.client().await).await
    })?;
    for operation in Operation::ALL {
        for n in [1, 0, units(operation)] {
            measured::table_ops(&runtime, &mut ctx, side, operation, n)?;
        }
    }
    println!("{} side, {} build", side_name(side), profile());
    Ok(())
}

/// The function callgrind counts inside.
pub mod measured {
    use anyhow::Result;
    use tokio::runtime::Runtime;

    use crate::table_layer::{run_ops, Ctx, Operation, Side};

    /// `n` operations of one kind from one side, each answer checked, on a
    /// runtime of one thread (so that the client's own tasks count too).
    ///
    /// # Errors
    ///
    /// A failed request or a wrong answer.
    #[inline(never)]
    pub fn table_ops(
        runtime: &Runtime,
        ctx: &mut Ctx,
        side: Side,
        operation: Operation,
        n: usize,
    ) -> Result<()> {
        runtime.block_on(run_ops(ctx, side, operation, n))
    }
}

/// Counts both sides of every operation under callgrind against the server
/// at `url`, one run per side.
///
/// # Errors
///
/// When valgrind is missing or a run fails.
pub fn count(binary: &Path, url: &str) -> Result<(Vec<TableCount>, String)> {
    let function = concat!(module_path!(), "::measured::table_ops");
    let mut per_side = Vec::new();
    let mut built = String::new();
    for side in [Side::Dynago, Side::Raw] {
        let counted = callgrind(
            binary,
            function,
            &["--table-side", side_name(side)],
            &[("DYNAMODB_ENDPOINT", url)],
            &format!("{}-table-{}", std::process::id(), side_name(side)),
            None,
        )
        .with_context(|| format!("counting the table layer, {} side", side_name(side)))?;
        ensure!(
            counted.calls.len() == 3 * Operation::ALL.len(),
            "{} calls counted, not 3 per operation",
            counted.calls.len()
        );
        let per_operation: Vec<f64> = Operation::ALL
            .iter()
            .zip(counted.calls.chunks(3))
            .map(|(operation, calls)| {
                let (none, some) = (calls[1], calls[2]);
                ensure!(
                    some > none,
                    "{}: no more instructions for some than none",
                    operation.label()
                );
                #[allow(clippy::cast_precision_loss)] // counts far below 2^52
                Ok((some - none) as f64 / units(*operation) as f64)
            })
            .collect::<Result<_>>()?;
        per_side.push(per_operation);
        built = counted.profile()?;
    }
    let counts = Operation::ALL
        .iter()
        .enumerate()
        .map(|(index, operation)| TableCount {
            operation: *operation,
            dynago: per_side[0][index],
            raw: per_side[1][index],
        })
        .collect();
    Ok((counts, built))
}

/// The counts as a markdown table.
pub fn table(counts: &[TableCount], profile: &str) -> String {
    let mut out = format!(
        "| {profile} build, client instructions per operation | dynago | SDK + serde_dynamo | dynago ÷ SDK |\n\
         |---|---:|---:|---:|\n"
    );
    for count in counts {
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | **{:.3}** |\n",
            count.operation.label(),
            count.dynago,
            count.raw,
            count.dynago / count.raw
        ));
    }
    out
}
