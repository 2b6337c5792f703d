//! Client instructions per command and per load, counted by callgrind (see
//! `dynago_bench::client_instructions`).
//!
//! ```text
//! cargo build -p dynago-bench --release --bin client-instructions
//! target/release/client-instructions                       # the table
//! target/release/client-instructions --keep /tmp/profiles  # and each path's dump
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dynago_bench::client_instructions::{self, ClientPath, Tables};
use dynago_bench::table_instructions;
use dynago_bench::table_layer::Side;

/// With no `--path`: starts a server, prepares its tables, runs each path
/// under callgrind against it and prints instructions per unit. With
/// `--path`: runs one path against `DYNAMODB_ENDPOINT`, for callgrind.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The path to run.
    #[arg(long, value_enum)]
    path: Option<ClientPath>,

    /// How many units it runs (with `--path`), once for each count.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1])]
    units: Vec<usize>,

    /// Keep each path's callgrind dump in this directory.
    #[arg(long)]
    keep: Option<PathBuf>,

    /// Only start the server (`DYNAGO_BACKEND`) and print its URL, until
    /// stopped: to run one path by hand under callgrind or a profiler
    /// (`DYNAMODB_ENDPOINT=URL valgrind --tool=callgrind … --table-side sdk`).
    #[arg(long)]
    serve: bool,

    /// Run part 1's operations from this side (`dynago` or `sdk`) against
    /// `DYNAMODB_ENDPOINT`, for callgrind.
    #[arg(long, value_parser = ["dynago", "sdk"])]
    table_side: Option<String>,

    /// Instead of counting instructions, time each path's client in a
    /// process of its own: this many rounds of the units given.
    #[arg(long)]
    time: Option<usize>,

    #[command(flatten)]
    tables: Tables,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.serve {
        return client_instructions::serve();
    }
    if let Some(side) = cli.table_side.as_deref() {
        let side = if side == "dynago" {
            Side::Dynago
        } else {
            Side::Raw
        };
        return table_instructions::run(side);
    }
    match cli.path {
        Some(path) => client_instructions::run(path, &cli.tables, &cli.units),
        None if cli.time.is_some() => {
            let units = cli.units.last().copied().unwrap_or(1).max(1);
            let rounds = cli.time.unwrap_or(1);
            let micros = client_instructions::time(&std::env::current_exe()?, units, rounds)?;
            for (path, micros) in ClientPath::ALL.iter().zip(micros) {
                println!("{}: {micros:.1} µs per unit", path.name());
            }
            Ok(())
        }
        None => {
            let counts =
                client_instructions::measure(&std::env::current_exe()?, cli.keep.as_deref())?;
            print!("{}", counts.table());
            Ok(())
        }
    }
}
