//! `ledger`: the command line of the dynago example, a bank ledger on
//! DynamoDB. Run it with no arguments for the demo; `ledger --help` lists the
//! rest. The library half of this package (`lib.rs`) holds the ledger itself.
#![deny(warnings)]

mod backend;
mod demo;
mod read;
mod soak;
mod stress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ledger::{AccountEvent, AccountId, Currency, Ledger, Money, Transfer};

use crate::backend::{connect, describe, tag, Create, Storage};

/// A bank ledger on DynamoDB, built with dynago: exact money, transfers in one
/// transaction, and a demo of many writers on the same accounts.
///
/// With no command, it runs the demo. Without --endpoint or --aws, the
/// accounts live in an embedded DynamoDB emulator that keeps them in a file
/// under --data-dir (the demo and the stress test use a fresh one in memory
/// instead, the soak a fresh file in a temporary directory).
/// The table when --table is not given.
const DEFAULT_TABLE: &str = "ledger";

#[derive(Debug, Parser)]
#[command(name = "ledger", version)]
struct Cli {
    /// Use the DynamoDB at this URL (DynamoDB Local, say), with the static
    /// credentials dynago/dynago (dynago::LOCAL_ACCESS_KEY_ID).
    #[arg(long, global = true, value_name = "URL", conflicts_with = "aws")]
    endpoint: Option<String>,

    /// Use real AWS, with the standard credential chain (environment, profile, role).
    #[arg(long, global = true)]
    aws: bool,

    /// The AWS region (default: the standard chain's with --aws, us-east-1 with --endpoint).
    #[arg(long, global = true)]
    region: Option<String>,

    /// The table, created with string keys pk and sk if it does not exist;
    /// its views live in the table NAME-views beside it.
    #[arg(long, global = true, value_name = "NAME", default_value = DEFAULT_TABLE)]
    table: String,

    /// Where the embedded emulator keeps its file, ledger.sqlite [default:
    /// $XDG_DATA_HOME/dynago-ledger or ~/.local/share/dynago-ledger].
    #[arg(long, global = true, value_name = "PATH")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Opens an account.
    Open {
        /// The new account's id, such as alice.
        id: String,
        /// Who owns it.
        #[arg(long)]
        owner: String,
        /// The one currency it holds, as a three-letter code.
        #[arg(long, default_value = "EUR")]
        currency: String,
    },
    /// Puts money into an account.
    Deposit {
        /// The account.
        id: String,
        /// How much, such as 12.34.
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// Takes money out of an account; never more than its balance.
    Withdraw {
        /// The account.
        id: String,
        /// How much, such as 12.34.
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// Moves money from one account to another, in one transaction.
    Transfer {
        /// The account debited.
        from: String,
        /// The account credited (same currency).
        to: String,
        /// How much, such as 12.34.
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// Closes an empty account for good.
    Close {
        /// The account.
        id: String,
    },
    /// Shows an account's balance.
    Balance {
        /// The account.
        id: String,
    },
    /// Lists an account's events, a page at a time.
    History {
        /// The account.
        id: String,
        /// How many events a page shows.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        page_size: u32,
        /// The version to start at (1 is the first event).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        from: u64,
    },
    /// Lists the accounts, a page at a time, from the accounts view (which
    /// `ledger project` or `ledger rebuild` keeps), not from the events.
    Accounts {
        /// How many accounts a page shows.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        limit: u32,
        /// Where the page starts: the cursor a page printed for the next.
        #[arg(long, allow_hyphen_values = true)]
        cursor: Option<String>,
    },
    /// Shows the totals per day and currency, from the daily totals view.
    Report,
    /// Keeps the views up to date from the table's stream until Ctrl-C,
    /// printing the events applied and the lag as it goes.
    Project {
        /// Stops after this many seconds.
        #[arg(long = "for", value_name = "SECONDS")]
        seconds: Option<f64>,
        /// Stops once every event in the stream is applied.
        #[arg(long)]
        until_idle: bool,
    },
    /// Rebuilds both views from the table (stop `ledger project` first).
    Rebuild,
    /// Tells the ledger's story: accounts, refusals, many writers at once, checks.
    Demo,
    /// Measures throughput and latency with many writers, then checks the books.
    Stress {
        /// How many accounts the commands share.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=1_000))]
        accounts: u32,
        /// How many tasks send commands at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        tasks: u32,
        /// How many commands each task sends.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        ops: u32,
    },
    /// Runs the stress test without a stop for a while, printing commands/s and
    /// memory as it goes, then checks the books and that memory stayed flat.
    Soak {
        /// How long to run, in minutes (fractions allowed: 0.5 is 30 s).
        #[arg(long, default_value_t = 3.0)]
        minutes: f64,
        /// Seconds between two lines of the table.
        #[arg(long, default_value_t = 10.0)]
        interval: f64,
        /// How many accounts the commands share.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=100_000))]
        accounts: u32,
        /// How many tasks send commands at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        tasks: u32,
        /// How many accounts the store's cache holds at most (fewer than
        /// --accounts, so that it is full and evicts).
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
        cache: u32,
        /// How much resident memory may grow from the end of the first
        /// interval to the end of the run, in percent, for the memory check.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=1_000))]
        memory_margin: u32,
    },
    /// Serves the embedded emulator on a file until standard input closes,
    /// printing its URL first: the soak's server, in a process of its own.
    #[command(hide = true)]
    ServeEmbedded {
        /// The SQLite file.
        #[arg(long)]
        file: PathBuf,
    },
}

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

/// A command whose input was checked.
enum Action {
    Open {
        id: AccountId,
        owner: String,
        currency: Currency,
    },
    Deposit {
        id: AccountId,
        amount: Money,
    },
    Withdraw {
        id: AccountId,
        amount: Money,
    },
    Transfer {
        from: AccountId,
        to: AccountId,
        amount: Money,
    },
    Close {
        id: AccountId,
    },
    Balance {
        id: AccountId,
    },
    History {
        id: AccountId,
        from: u64,
        page_size: u32,
    },
    Accounts {
        limit: u32,
        cursor: Option<String>,
    },
    Report,
    Project(read::Until),
    Rebuild,
    Demo,
    Stress(stress::Shape),
    Soak(soak::Shape),
    ServeEmbedded(PathBuf),
}

/// Checks the command's input: bad input is refused here, before anything is
/// started or written.
fn check(command: &Command) -> anyhow::Result<Action> {
    Ok(match command {
        Command::Open {
            id,
            owner,
            currency,
        } => Action::Open {
            id: account_id(id)?,
            owner: owner.clone(),
            currency: currency.parse()?,
        },
        Command::Deposit { id, amount } => Action::Deposit {
            id: account_id(id)?,
            amount: positive(amount)?,
        },
        Command::Withdraw { id, amount } => Action::Withdraw {
            id: account_id(id)?,
            amount: positive(amount)?,
        },
        Command::Transfer { from, to, amount } => {
            let (from, to) = (account_id(from)?, account_id(to)?);
            let amount = positive(amount)?;
            if from == to {
                bail!("cannot transfer from account {from} to itself");
            }
            Action::Transfer { from, to, amount }
        }
        Command::Close { id } => Action::Close {
            id: account_id(id)?,
        },
        Command::Balance { id } => Action::Balance {
            id: account_id(id)?,
        },
        Command::History {
            id,
            page_size,
            from,
        } => Action::History {
            id: account_id(id)?,
            from: *from,
            page_size: *page_size,
        },
        Command::Accounts { limit, cursor } => Action::Accounts {
            limit: *limit,
            cursor: cursor.clone(),
        },
        Command::Report => Action::Report,
        Command::Project {
            seconds: limit,
            until_idle,
        } => Action::Project(read::Until {
            duration: limit.map(|limit| seconds(limit, "--for")).transpose()?,
            idle: *until_idle,
        }),
        Command::Rebuild => Action::Rebuild,
        Command::Demo => Action::Demo,
        Command::Stress {
            accounts,
            tasks,
            ops,
        } => Action::Stress(stress::Shape {
            accounts: usize::try_from(*accounts)?,
            tasks: usize::try_from(*tasks)?,
            ops: usize::try_from(*ops)?,
        }),
        Command::Soak {
            minutes,
            interval,
            accounts,
            tasks,
            cache,
            memory_margin,
        } => Action::Soak(soak::Shape {
            duration: seconds(minutes * 60.0, "--minutes")?,
            interval: seconds(*interval, "--interval")?,
            accounts: usize::try_from(*accounts)?,
            tasks: usize::try_from(*tasks)?,
            cache: usize::try_from(*cache)?,
            margin: *memory_margin,
        }),
        Command::ServeEmbedded { file } => Action::ServeEmbedded(file.clone()),
    })
}

/// A positive duration of at most a week, from seconds.
fn seconds(seconds: f64, option: &str) -> anyhow::Result<Duration> {
    const WEEK: f64 = 7.0 * 24.0 * 3600.0;
    if !(seconds > 0.0 && seconds <= WEEK) {
        bail!("{option} must be more than zero and at most a week");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Runs the command; `Ok(false)` when a check of the demo, stress test or
/// soak failed.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let action = check(cli.command.as_ref().unwrap_or(&Command::Demo))?;
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
    // say where they looked.
    let create = match &action {
        Action::Open { .. } | Action::Demo | Action::Stress(_) | Action::Soak(_) => {
            Create::IfMissing
        }
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
            let read_side = read_side
                .with_stream(connected.table_options.clone())
                .await
                .context("`ledger project` reads the table's stream (`ledger rebuild` builds the views without it)")?;
            read::project(&read_side, until).await?;
        }
        Action::Rebuild => {
            let read_side = connected.read_side(&cli, read::options()).await?;
            read::rebuild(&read_side).await?;
        }
        Action::Demo => {
            let place = describe(&cli, &connected);
            return demo::run(&connected, &place, tag(&cli)).await;
        }
        Action::ServeEmbedded(_) => {}
        Action::Stress(shape) => {
            let place = describe(&cli, &connected);
            return stress::run(ledger, &place, tag(&cli), shape).await;
        }
        Action::Soak(shape) => {
            let place = describe(&cli, &connected);
            let server = connected.child.as_ref().and_then(backend::ChildServer::pid);
            return soak::run(ledger, &place, tag(&cli), shape, server).await;
        }
    }
    Ok(true)
}

async fn transfer(
    ledger: &Ledger,
    from: AccountId,
    to: AccountId,
    amount: Money,
) -> anyhow::Result<()> {
    // The transfer is in the source's currency. An account's currency never
    // changes, so reading it first is safe; both halves check it again inside
    // the transaction.
    let source = ledger.statement(&from).await?;
    let currency = source
        .state
        .holder()
        .map(|holder| holder.currency.clone())
        .context("the source account has no currency")?;
    let receipt = ledger
        .transfer(&Transfer {
            from,
            to,
            amount,
            currency: currency.clone(),
        })
        .await?;
    let (from, to) = (&receipt.from, &receipt.to);
    println!(
        "transferred {amount} {currency} from {} to {}: {} holds {} {currency}, {} holds {} {currency}",
        from.account, to.account, from.account, from.holder.balance, to.account, to.holder.balance,
    );
    Ok(())
}

fn account_id(text: &str) -> anyhow::Result<AccountId> {
    Ok(text.parse()?)
}

/// An amount for a command: exact, and more than zero.
fn positive(text: &str) -> anyhow::Result<Money> {
    let amount: Money = text.parse()?;
    if !amount.is_positive() {
        bail!("amount `{text}` must be greater than zero");
    }
    Ok(amount)
}

/// The options that say which DynamoDB and table a command ran on, as they
/// were given (` --data-dir /tmp/x --table t`, or nothing), so that a command
/// printed for the user to run next runs on the same ones.
fn options_given(cli: &Cli) -> String {
    let mut given = Vec::new();
    if let Some(url) = &cli.endpoint {
        given.push(format!("--endpoint {}", shell_word(url)));
    }
    if cli.aws {
        given.push("--aws".to_owned());
    }
    if let Some(region) = &cli.region {
        given.push(format!("--region {}", shell_word(region)));
    }
    if let Some(dir) = &cli.data_dir {
        given.push(format!("--data-dir {}", shell_word(&dir.to_string_lossy())));
    }
    if cli.table != DEFAULT_TABLE {
        given.push(format!("--table {}", shell_word(&cli.table)));
    }
    given.iter().map(|option| format!(" {option}")).collect()
}

/// `text` as one word for a POSIX shell: as it is when that is safe, else in
/// single quotes.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

async fn history(
    ledger: &Ledger,
    id: &AccountId,
    from: u64,
    page_size: u32,
    options: &str,
) -> anyhow::Result<()> {
    let statement = ledger.statement(id).await?;
    let page = ledger
        .history(id, from, usize::try_from(page_size)?)
        .await?;
    let (Some(first), Some(last)) = (page.events.first(), page.events.last()) else {
        println!(
            "{id} has {} events; none from version {from} on",
            statement.version
        );
        return Ok(());
    };
    let currency = statement
        .state
        .holder()
        .map(|holder| holder.currency.to_string())
        .unwrap_or_default();
    println!(
        "{id}: events {} to {} of {} (times in UTC)",
        first.version, last.version, statement.version
    );
    for event in &page.events {
        let what = match &event.payload {
            AccountEvent::Opened { owner, currency } => format!("owner {owner}, in {currency}"),
            AccountEvent::Deposited { amount } => format!("+{amount} {currency}"),
            AccountEvent::Withdrawn { amount } => format!("-{amount} {currency}"),
            AccountEvent::Debited { to, amount } => format!("-{amount} {currency} to {to}"),
            AccountEvent::Credited { from, amount } => {
                format!("+{amount} {currency} from {from}")
            }
            AccountEvent::Closed => String::new(),
        };
        println!(
            "  v{:<4} {}  {:<10} {what}",
            event.version,
            event.timestamp.format("%Y-%m-%d %H:%M:%S%.3f"),
            event.event_type,
        );
    }
    if let Some(next) = page.next {
        println!("more: ledger history {id} --from {next} --page-size {page_size}{options}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_given_are_repeated_as_shell_words() {
        let cli = Cli::parse_from([
            "ledger",
            "--data-dir",
            "/tmp/my books",
            "--table",
            "it's",
            "balance",
            "ada",
        ]);
        assert_eq!(
            options_given(&cli),
            r" --data-dir '/tmp/my books' --table 'it'\''s'"
        );
        let cli = Cli::parse_from([
            "ledger",
            "--endpoint",
            "http://127.0.0.1:8000",
            "history",
            "ada",
        ]);
        assert_eq!(options_given(&cli), " --endpoint http://127.0.0.1:8000");
        let cli = Cli::parse_from(["ledger", "history", "ada", "--table", "ledger"]);
        assert_eq!(
            options_given(&cli),
            "",
            "the default table goes without saying"
        );
    }
}
