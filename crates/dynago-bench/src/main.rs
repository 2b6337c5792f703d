//! `dynago-bench`: what dynago and dynago-es cost, against hand-written SDK
//! calls and against cqrs-es + dynamo-es, in one run on one server.
//!
//! ```text
//! cargo run -p dynago-bench --release                 # full run, writes docs/benchmarks.md
//! DYNAGO_BACKEND=dynamodb-local cargo run -p dynago-bench --release
//! cargo run -p dynago-bench --release -- --quick --out /tmp/bench.md   # CI
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use dynago_bench::report::{load_average, Machine, Report};
use dynago_bench::server::Server;
use dynago_bench::{
    chart, checks, client_instructions, commands, cpu, instructions, load, projections,
    table_layer, write_units, Plan,
};

/// Benchmarks dynago and dynago-es against hand-written SDK calls and
/// against cqrs-es + dynamo-es, on the DynamoDB that `DYNAGO_BACKEND`
/// (`embedded`, `dynamodb-local`) or `DYNAMODB_ENDPOINT` names.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// A few seconds of measuring, for CI: every part runs and is checked,
    /// the figures are rough. Writes no file unless `--out` is given.
    #[arg(long)]
    quick: bool,

    /// Where to write the markdown report (default for a full run: the
    /// workspace's docs/benchmarks.md). The section of this run's backend is
    /// replaced; other backends' sections are kept.
    #[arg(long)]
    out: Option<PathBuf>,

    /// Where to write the chart of load times (SVG; default: beside the
    /// report, benchmarks-load-BACKEND.svg).
    #[arg(long)]
    chart: Option<PathBuf>,

    /// Run only these parts (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Table layer against hand-written SDK calls.
    Table,
    /// Commands against cqrs-es.
    Commands,
    /// Loading aggregates.
    Load,
    /// CPU per event.
    Cpu,
    /// Projections against a hand-written Streams loop.
    Projections,
    /// Write units per command, against their limits by AWS's rules.
    Units,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let started = Instant::now();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let plan = if cli.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let runs = |part: Part| cli.only.is_empty() || cli.only.contains(&part);

    let server = Server::start().await?;
    eprintln!(
        "dynago-bench: {} run on the {} backend at {}",
        plan.name,
        server.backend(),
        server.url()
    );
    let mut report = Report {
        backend: server.backend().to_owned(),
        machine: Machine::read(),
        date,
        command: command_line(server.backend()),
        plan: plan.clone(),
        elapsed: started.elapsed(),
        load_average: [load_average(), String::new()],
        table_layer: Vec::new(),
        commands: Vec::new(),
        loads: Vec::new(),
        documented_snapshots: None,
        truncated_append: None,
        cpu: Vec::new(),
        instructions: None,
        client_instructions: None,
        projections: None,
        write_units: Vec::new(),
        chart: None,
    };
    if runs(Part::Table) {
        eprintln!("1/6 table layer …");
        report.table_layer = table_layer::run(&server, plan.table_layer).await?;
    }
    if runs(Part::Commands) {
        eprintln!("2/6 commands …");
        report.commands = commands::run(&server, &plan.commands).await?;
    }
    if runs(Part::Load) {
        eprintln!("3/6 loading …");
        let outcome = load::run(&server, &plan.load).await?;
        report.loads = outcome.results;
        report.documented_snapshots = Some(outcome.documented_snapshots);
        report.truncated_append = outcome.truncated_append;
    }
    if runs(Part::Cpu) {
        eprintln!("4/6 CPU per event …");
        report.cpu = cpu::run(plan.cpu)?;
        // Counted in full runs only: the quick test counts them itself.
        if !cli.quick {
            report.instructions = Some(
                instructions::binary()
                    .and_then(|binary| instructions::measure(&binary))
                    .map_err(|error| format!("{error:#}")),
            );
            report.client_instructions = Some(
                count_client_instructions(&server)
                    .await
                    .map_err(|error| format!("{error:#}")),
            );
        }
    }
    if runs(Part::Projections) {
        eprintln!("5/6 projections …");
        report.projections = Some(projections::run(&server, &plan.projections).await?);
    }
    if runs(Part::Units) {
        // Fails the run when a command on one aggregate costs more write
        // units than its limit: CI's quick mode checks it so.
        eprintln!("6/6 write units per command …");
        report.write_units = write_units::run(&server, plan.write_units).await?;
    }
    report.elapsed = started.elapsed();
    report.load_average[1] = load_average();

    let out = cli.out.clone().or_else(|| {
        (!cli.quick).then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md"))
    });
    if let Some(out) = &out {
        if !report.loads.is_empty() {
            let chart_path = cli.chart.clone().unwrap_or_else(|| {
                out.with_file_name(format!("benchmarks-load-{}.svg", report.backend))
            });
            chart::draw(&chart_path, &report.loads, &report.backend)?;
            report.chart = Some(relative_to(&chart_path, out));
        }
        report.write_to(out)?;
        eprintln!("wrote {}", out.display());
    }
    println!("{}", report.section());
    eprintln!(
        "dynago-bench: done in {:.1} s",
        report.elapsed.as_secs_f64()
    );
    // A wrong answer ends the run early with an error: reaching this line
    // means every check passed.
    println!("dynago-bench: {} passed, 0 failed", checks::passed());
    Ok(())
}

/// The command that reproduces this run.
fn command_line(backend: &str) -> String {
    let env = match std::env::var("DYNAMODB_ENDPOINT") {
        Ok(url) if !url.is_empty() => format!("DYNAMODB_ENDPOINT={url}"),
        _ => format!("DYNAGO_BACKEND={backend}"),
    };
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = if args.is_empty() {
        String::new()
    } else {
        format!(" -- {}", args.join(" "))
    };
    format!("{env} cargo run -p dynago-bench{profile}{args}")
}

/// `path` as a link from the markdown file `from` (its file name when both
/// are in one directory).
fn relative_to(path: &Path, from: &Path) -> String {
    let same_dir = path
        .parent()
        .zip(from.parent())
        .is_some_and(|(a, b)| a.canonicalize().ok() == b.canonicalize().ok());
    match (same_dir, path.file_name()) {
        (true, Some(name)) => name.to_string_lossy().into_owned(),
        _ => path.display().to_string(),
    }
}

/// Client instructions per command and per load, counted by callgrind
/// against this run's server (see `dynago_bench::client_instructions`).
async fn count_client_instructions(
    server: &Server,
) -> anyhow::Result<client_instructions::ClientCounts> {
    let binary = client_instructions::binary()?;
    let tables = client_instructions::prepare(server.client()).await?;
    let url = server.url().to_owned();
    tokio::task::spawn_blocking(move || client_instructions::count(&binary, &url, &tables, None))
        .await?
}
