//! The command line as clap parses it, and the options it was given, to be
//! repeated in a command printed for the user to run next.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The table when --table is not given.
pub const DEFAULT_TABLE: &str = "ledger";

/// A bank ledger on DynamoDB, built with dynago: exact money, transfers in one
/// transaction, and a demo of many writers on the same accounts.
///
/// With no command, it runs the demo. Without --endpoint or --aws, the
/// accounts live in an embedded DynamoDB emulator that keeps them in a file
/// under --data-dir (the demo and the stress test use a fresh one in memory
/// instead, the soak a fresh file in a temporary directory: they take no
/// --data-dir).
#[derive(Debug, Parser)]
#[command(name = "ledger", version)]
pub struct Cli {
    /// Use the DynamoDB at this URL (DynamoDB Local, say), with the static
    /// credentials dynago/dynago (dynago::LOCAL_ACCESS_KEY_ID).
    #[arg(long, global = true, value_name = "URL", conflicts_with = "aws")]
    pub endpoint: Option<String>,

    /// Use real AWS, with the standard credential chain (environment, profile, role).
    #[arg(long, global = true)]
    pub aws: bool,

    /// The AWS region (default: the standard chain's with --aws, us-east-1 with --endpoint).
    #[arg(long, global = true)]
    pub region: Option<String>,

    /// The table; its views live in the table NAME-views beside it. Only
    /// `open` and `demo` create it and its views table when missing (string
    /// keys pk and sk), `stress` and `soak` the table alone; the other
    /// commands create nothing.
    #[arg(long, global = true, value_name = "NAME", default_value = DEFAULT_TABLE)]
    pub table: String,

    /// Where the embedded emulator keeps its file, ledger.sqlite, for every
    /// command but demo, stress and soak [default:
    /// $XDG_DATA_HOME/dynago-ledger or ~/.local/share/dynago-ledger].
    #[arg(long, global = true, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    ///
    /// Each start scans the whole events table once (every account's
    /// currency), the first one twice more (each view catching up from the
    /// table), each scan half a read unit per 4 KB of the table.
    Project {
        /// Stops after this many seconds.
        #[arg(long = "for", value_name = "SECONDS")]
        seconds: Option<f64>,
        /// Stops once every event in the stream is applied.
        #[arg(long)]
        until_idle: bool,
    },
    /// Rebuilds both views and the explorer's catalog from the table (stop
    /// `ledger project` first).
    Rebuild,
    /// Serves the explorer: the accounts and their events, states at any
    /// version, the projections with their lag and parked events, and what
    /// each page cost. Runs the projectors too, unless --no-project.
    Explore {
        /// Where to listen. Keep it on 127.0.0.1 (the default) unless the
        /// network it opens to may read every account.
        #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDRESS")]
        bind: std::net::SocketAddr,
        /// Writes demo accounts first (12, in EUR; those open already are
        /// left alone), so that there is something to see.
        #[arg(long)]
        seed: bool,
        /// Lets a visitor who logs in with a token replay parked events.
        /// The token is LEDGER_EXPLORER_TOKEN's, or a random one printed at
        /// the start.
        #[arg(long)]
        actions: bool,
        /// Does not run the projectors here (`ledger project` runs them
        /// elsewhere).
        #[arg(long)]
        no_project: bool,
        /// Serves the metrics in Prometheus's format at this address's
        /// /metrics.
        #[arg(long, value_name = "ADDRESS")]
        metrics: Option<std::net::SocketAddr>,
        /// A name the explorer is reached by (with --bind on another
        /// interface), besides localhost and the bound address: requests
        /// addressed to any other host are refused. Repeatable.
        #[arg(long = "allow-host", value_name = "NAME")]
        hosts: Vec<String>,
    },
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

/// The options that say which DynamoDB and table a command ran on, as they
/// were given (` --data-dir /tmp/x --table t`, or nothing), so that a command
/// printed for the user to run next runs on the same ones.
pub fn options_given(cli: &Cli) -> String {
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
pub fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_help_says_what_the_ledger_is() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("A bank ledger on DynamoDB"), "{help}");
        assert!(help.contains("With no command, it runs the demo"), "{help}");
    }

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
