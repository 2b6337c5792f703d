//! Instructions per event, counted by callgrind (see
//! `dynago_bench::instructions`).
//!
//! ```text
//! cargo build -p dynago-bench --release --bin event-instructions
//! target/release/event-instructions                         # the four counts, under callgrind
//! target/release/event-instructions --path dynago-es-decode --events 1000   # one path, for callgrind
//! ```

use anyhow::Result;
use clap::Parser;
use dynago_bench::instructions::{self, EventPath};

/// Runs one event path N times, for callgrind to count; with no `--path`,
/// runs each path under callgrind and prints instructions per event.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The path to run.
    #[arg(long, value_enum)]
    path: Option<EventPath>,

    /// How many events it runs (with `--path`); with several counts
    /// (`0,1000`), once for each, after one set-up.
    #[arg(long, value_delimiter = ',', default_values_t = [instructions::EVENTS])]
    events: Vec<usize>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.path {
        Some(path) => instructions::run(path, &cli.events),
        None => {
            let counts = instructions::measure(&std::env::current_exe()?)?;
            print!("{}", counts.table());
            Ok(())
        }
    }
}
