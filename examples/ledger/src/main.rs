//! `ledger`: the command line of the dynago example, a bank ledger on
//! DynamoDB. Run it with no arguments for the demo; `ledger --help` lists the
//! rest. The library half of this package (`lib.rs`) holds the ledger itself.
#![deny(warnings)]

mod action;
mod backend;
mod cli;
mod commands;
mod demo;
mod explore;
mod read;
mod soak;
mod stress;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use dynago_projections::EventStream;

use crate::action::{check, Action};
use crate::backend::{connect, describe, tag, Create, Storage};
use crate::cli::{options_given, Cli, Command};
use crate::commands::{history, transfer};

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        // RUST_LOG=dynago=info prints a line for every DynamoDB request as it ends.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = Cli::parse();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: `a: b: c`.
fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&cause);
        }
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs the command; `Ok(false)` when a check of the demo, stress test or
/// soak failed.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let action = check(cli.command.as_ref().unwrap_or(&Command::Demo))?;
    let fresh = match &action {
        Action::Demo => Some("demo"),
        Action::Stress(_) => Some("stress"),
        Action::Soak(_) => Some("soak"),
        _ => None,
    };
    if let (Some(command), Some(_)) = (fresh, &cli.data_dir) {
        bail!(
            "--data-dir is for the accounts kept in a file: `ledger {command}` runs on a fresh DynamoDB of its own (or the one --endpoint or --aws names)"
        );
    }
    let (storage, options) = match &action {
        Action::ServeEmbedded(file) => {
            backend::serve_embedded(file.clone()).await?;
            return Ok(true);
        }
        Action::Demo | Action::Stress(_) => (Storage::Memory, ledger::store_options()),
        // The emulator in another process, so that this one's memory is the
        // client's alone; and a cache smaller than the accounts.
        Action::Soak(shape) => (Storage::Child, ledger::store_options().cache(shape.cache)),
        _ => (Storage::File, ledger::store_options()),
    };
    // Only `open` and the runs on a fresh or suffixed set of accounts create
    // a table (or a data file): the others, on a table that is not there,
    // say where they looked. The stress test and the soak run no projector:
    // no views table.
    let create = match &action {
        Action::Open { .. } | Action::Demo | Action::Explore(_) => Create::Tables,
        Action::Stress(_) | Action::Soak(_) => Create::Table,
        _ => Create::Never,
    };
    let connected = connect(&cli, storage, options, create).await?;
    let ledger = &connected.ledger;
    match action {
        Action::Open {
            id,
            owner,
            currency,
        } => {
            let receipt = ledger.open(&id, &owner, currency).await?;
            println!(
                "opened {id} for {} in {} (version {})",
                receipt.holder.owner, receipt.holder.currency, receipt.version
            );
            if !connected.created {
                if let Some(warning) = backend::stream_warning(&cli, ledger).await {
                    eprintln!("{warning}");
                }
            }
        }
        Action::Deposit { id, amount } => {
            let receipt = ledger.deposit(&id, amount).await?;
            let currency = &receipt.holder.currency;
            println!(
                "deposited {amount} {currency} into {id}: balance {} {currency} (version {})",
                receipt.holder.balance, receipt.version
            );
        }
        Action::Withdraw { id, amount } => {
            let receipt = ledger.withdraw(&id, amount).await?;
            let currency = &receipt.holder.currency;
            println!(
                "withdrew {amount} {currency} from {id}: balance {} {currency} (version {})",
                receipt.holder.balance, receipt.version
            );
        }
        Action::Transfer { from, to, amount } => transfer(ledger, from, to, amount).await?,
        Action::Close { id } => {
            let receipt = ledger.close(&id).await?;
            println!("closed {id} (version {})", receipt.version);
        }
        Action::Balance { id } => {
            let statement = ledger.statement(&id).await?;
            if let Some(holder) = statement.state.holder() {
                println!(
                    "{id}: {} {} ({}, {}, version {})",
                    holder.balance,
                    holder.currency,
                    holder.owner,
                    statement.state.status(),
                    statement.version
                );
            }
        }
        Action::History {
            id,
            from,
            page_size,
        } => history(ledger, &id, from, page_size, &options_given(&cli)).await?,
        Action::Accounts { limit, cursor } => {
            let read_side = connected.read_side(&cli, read::options()).await?;
            read::accounts(&read_side, limit, cursor.as_deref(), &options_given(&cli)).await?;
        }
        Action::Report => {
            let read_side = connected.read_side(&cli, read::options()).await?;
            read::report(&read_side).await?;
        }
        Action::Project(until) => {
            let read_side = connected.read_side(&cli, read::options()).await?;
            let stream = EventStream::connect(connected.table_options.clone())
                .await
                .context("`ledger project` reads the table's stream (`ledger rebuild` builds the views without it)")?;
            read::project(&read_side, &stream, until).await?;
        }
        Action::Rebuild => {
            let read_side = connected.read_side(&cli, read::options()).await?;
            read::rebuild(&read_side).await?;
        }
        Action::Explore(shape) => {
            let read_side = connected.read_side(&cli, read::options()).await?;
            explore::run(&connected, &read_side, &shape).await?;
        }
        Action::Demo => {
            let place = describe(&cli, &connected, true);
            return demo::run(&connected, &place, tag(&cli)).await;
        }
        Action::ServeEmbedded(_) => {}
        Action::Stress(shape) => {
            let place = describe(&cli, &connected, false);
            return stress::run(ledger, &place, tag(&cli), shape).await;
        }
        Action::Soak(shape) => {
            let place = describe(&cli, &connected, false);
            let server = connected.child.as_ref().and_then(backend::ChildServer::pid);
            return soak::run(ledger, &place, tag(&cli), shape, server).await;
        }
    }
    Ok(true)
}
