//! Instructions per command and per load on the client side, counted by
//! callgrind: all that a process does to send a request and read its answer
//! (the library, the SDK, signing, HTTP, JSON, the runtime), the server left
//! out by running in another process.
//!
//! The binary `client-instructions` starts the embedded server, prepares
//! the tables (an account per library, a stream of [`LOAD_EVENTS`] events
//! of one event per commit, the common shape), then runs itself under
//! callgrind once per [`ClientPath`], pointed at that server through
//! `DYNAMODB_ENDPOINT`. Each run connects, warms up (the first request pays
//! for the connection and the credentials) and calls the path's function of
//! [`measured`] for none and for N units, on a runtime of one thread so
//! that the work of the client's own tasks is counted inside it;
//! instructions per unit are the difference over N, as for
//! [`instructions`](crate::instructions). A run's commands go to an account
//! of its own, so each loads a short stream: the run's commands before it.
//!
//! With `--time ROUNDS`, the same runs are timed instead, not under
//! callgrind: the client's wall-clock time with the server in another
//! process.
//!
//! ```text
//! cargo build -p dynago-bench --release --bin client-instructions
//! target/release/client-instructions                       # the table
//! target/release/client-instructions --keep /tmp/profiles  # and each path's dump
//! callgrind_annotate --inclusive=yes /tmp/profiles/dynago-es-command.callgrind
//! ```

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use dynago::{ScalarAttributeType, TableDefinition, TableOptions};
use dynago_es::{EventStore, SnapshotPolicy, StoreOptions};
use dynago_local::LocalDynamo;

use crate::account::{expected, Account, AccountCommand};
use crate::commands::{Cqrs, CqrsTables};
use crate::instructions::{callgrind, profile};
use crate::server::create_table;
use crate::table_instructions::{self, TableCount};

/// The events of the stream a load reads.
pub const LOAD_EVENTS: u64 = 1_000;
/// The amount of every deposit.
const AMOUNT: u64 = 3;
/// The account the commands of one process go to: its own, so that each
/// run's commands load the same short stream (the process's commands
/// before them).
fn account() -> String {
    format!("acc-command-{}", std::process::id())
}
/// The account the loads read.
const STREAM: &str = "acc-load";

/// The name of the binary.
pub const BINARY: &str = "client-instructions";

/// One unit of client work, by one library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientPath {
    /// dynago-es without its cache: one deposit (a query, then a `PutItem`).
    DynagoEsCommand,
    /// dynago-es without its cache, with `SnapshotPolicy::InCommit`: one
    /// deposit (a query of the newest item, then a `PutItem` with the state).
    DynagoEsInCommitCommand,
    /// cqrs-es + dynamo-es: one deposit (a query, then a `TransactWriteItems`).
    CqrsCommand,
    /// dynago-es: loading an aggregate of [`LOAD_EVENTS`] events.
    DynagoEsLoad,
    /// cqrs-es + dynamo-es: loading an aggregate of [`LOAD_EVENTS`] events.
    CqrsLoad,
}

impl ClientPath {
    /// Every path, in the order of the report.
    pub const ALL: [Self; 5] = [
        Self::DynagoEsCommand,
        Self::DynagoEsInCommitCommand,
        Self::CqrsCommand,
        Self::DynagoEsLoad,
        Self::CqrsLoad,
    ];

    /// The name `--path` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::DynagoEsCommand => "dynago-es-command",
            Self::DynagoEsInCommitCommand => "dynago-es-in-commit-command",
            Self::CqrsCommand => "cqrs-command",
            Self::DynagoEsLoad => "dynago-es-load",
            Self::CqrsLoad => "cqrs-load",
        }
    }

    /// The function of [`measured`] that runs it, as callgrind names it.
    pub fn function(self) -> &'static str {
        match self {
            Self::DynagoEsCommand => concat!(module_path!(), "::measured::dynago_es_commands"),
            Self::DynagoEsInCommitCommand => {
                concat!(module_path!(), "::measured::dynago_es_in_commit_commands")
            }
            Self::CqrsCommand => concat!(module_path!(), "::measured::cqrs_commands"),
            Self::DynagoEsLoad => concat!(module_path!(), "::measured::dynago_es_loads"),
            Self::CqrsLoad => concat!(module_path!(), "::measured::cqrs_loads"),
        }
    }

    /// How many units the counted run does.
    pub fn units(self) -> usize {
        match self {
            Self::DynagoEsCommand | Self::DynagoEsInCommitCommand | Self::CqrsCommand => 20,
            Self::DynagoEsLoad | Self::CqrsLoad => 3,
        }
    }
}

/// The tables a run reads and writes, prepared by the parent process
/// (`--dynago`, `--cqrs-events`, `--cqrs-snapshots`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Tables {
    /// dynago-es's table.
    #[arg(long, default_value_t)]
    pub dynago: String,
    /// dynamo-es's events table.
    #[arg(long, default_value_t)]
    pub cqrs_events: String,
    /// dynamo-es's snapshots table.
    #[arg(long, default_value_t)]
    pub cqrs_snapshots: String,
}

impl Tables {
    fn cqrs(&self) -> CqrsTables {
        CqrsTables {
            events: self.cqrs_events.clone(),
            snapshots: self.cqrs_snapshots.clone(),
        }
    }

    fn args(&self) -> [&str; 6] {
        [
            "--dynago",
            &self.dynago,
            "--cqrs-events",
            &self.cqrs_events,
            "--cqrs-snapshots",
            &self.cqrs_snapshots,
        ]
    }
}

/// Creates the tables and writes, through each library's own write path,
/// the stream the loads read: one deposit per command, so one item per
/// event in both libraries.
///
/// # Errors
///
/// When a request fails.
pub async fn prepare(client: &aws_sdk_dynamodb::Client) -> Result<Tables> {
    let table = create_table(
        client,
        "bench-client",
        "pk",
        Some(("sk", ScalarAttributeType::S)),
        TableDefinition::default(),
    )
    .await?;
    let cqrs = CqrsTables::create_on(client).await?;
    let store = EventStore::<Account>::new(table.clone(), StoreOptions::default().cache(4))?;
    let framework = cqrs_framework(client, &cqrs);
    let deposit = AccountCommand::Deposit { amount: AMOUNT };
    for _ in 0..LOAD_EVENTS {
        store.execute(STREAM, deposit.clone()).await?;
        cqrs_execute(&framework, STREAM).await?;
    }
    Ok(Tables {
        dynago: table.name().to_owned(),
        cqrs_events: cqrs.events,
        cqrs_snapshots: cqrs.snapshots,
    })
}

fn cqrs_framework(client: &aws_sdk_dynamodb::Client, tables: &CqrsTables) -> Cqrs {
    CqrsFramework::new(
        PersistedEventStore::new_event_store(tables.repository(client)),
        Vec::new(),
        (),
    )
}

async fn cqrs_execute(cqrs: &Cqrs, id: &str) -> Result<()> {
    cqrs.execute(id, AccountCommand::Deposit { amount: AMOUNT })
        .await
        .map_err(|e| anyhow::anyhow!("cqrs-es on {id}: {e}"))
}

/// Runs `path` once for each count of `units` against the server of
/// `DYNAMODB_ENDPOINT`, after a connection and a warm-up: what
/// `client-instructions --path PATH --units N,…` does under callgrind.
///
/// # Errors
///
/// When a request fails or an answer is wrong.
pub fn run(path: ClientPath, tables: &Tables, units: &[usize]) -> Result<()> {
    ensure!(
        !tables.dynago.is_empty() && !tables.cqrs_events.is_empty(),
        "--path runs against tables another run prepared: give --dynago, --cqrs-events \
         and --cqrs-snapshots (or no --path, to prepare them and count every path)"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a runtime")?;
    let client = runtime.block_on(async {
        let dynamo = LocalDynamo::start().await?;
        anyhow::Ok(dynamo.client().await)
    })?;
    let table = dynago::Table::with_client(
        client.clone(),
        TableOptions::new(&tables.dynago)
            .partition_key("pk")
            .sort_key("sk"),
    )?;
    let store = EventStore::<Account>::new(table.clone(), StoreOptions::default())?;
    let in_commit = EventStore::<Account>::new(
        table,
        StoreOptions::default().snapshots(SnapshotPolicy::InCommit),
    )?;
    let cqrs_tables = tables.cqrs();
    let cqrs = cqrs_framework(&client, &cqrs_tables);
    let loader =
        PersistedEventStore::<_, Account>::new_event_store(cqrs_tables.repository(&client));
    // A call of one unit first, to warm up (the connection, the credentials,
    // first uses; a command's account is opened), then one per count; each
    // is counted, and the difference of the last two is the figure.
    let warm = [1].into_iter().chain(units.iter().copied());
    for n in warm {
        let started = Instant::now();
        match path {
            ClientPath::DynagoEsCommand => measured::dynago_es_commands(&runtime, &store, n)?,
            ClientPath::DynagoEsInCommitCommand => {
                measured::dynago_es_in_commit_commands(&runtime, &in_commit, n)?;
            }
            ClientPath::CqrsCommand => measured::cqrs_commands(&runtime, &cqrs, n)?,
            ClientPath::DynagoEsLoad => measured::dynago_es_loads(&runtime, &store, n)?,
            ClientPath::CqrsLoad => measured::cqrs_loads(&runtime, &loader, n)?,
        }
        let took = started.elapsed();
        println!(
            "{} × {n} in {} µs, {} build",
            path.name(),
            took.as_micros(),
            profile()
        );
    }
    Ok(())
}

/// The functions callgrind counts inside, one per path
/// ([`ClientPath::function`]). Each is the whole of a `block_on` on a
/// runtime of one thread, so that the tasks the client spawns on it (its
/// connections) are counted too; the waits for the server are not
/// instructions.
pub mod measured {
    use anyhow::{anyhow, ensure, Result};
    use cqrs_es::persist::PersistedEventStore;
    use cqrs_es::EventStore as _;
    use dynago_es::EventStore;
    use dynamo_es::DynamoEventRepository;
    use tokio::runtime::Runtime;

    use super::{
        account, cqrs_execute, expected, Account, AccountCommand, Cqrs, AMOUNT, LOAD_EVENTS, STREAM,
    };

    /// `n` deposits through dynago-es without its cache.
    ///
    /// # Errors
    ///
    /// When a command fails.
    #[inline(never)]
    pub fn dynago_es_commands(
        runtime: &Runtime,
        store: &EventStore<Account>,
        n: usize,
    ) -> Result<()> {
        let id = account();
        runtime.block_on(async {
            for _ in 0..n {
                store
                    .execute(id.as_str(), AccountCommand::Deposit { amount: AMOUNT })
                    .await?;
            }
            Ok(())
        })
    }

    /// `n` deposits through dynago-es without its cache, with the state in
    /// each commit.
    ///
    /// # Errors
    ///
    /// When a command fails.
    #[inline(never)]
    pub fn dynago_es_in_commit_commands(
        runtime: &Runtime,
        store: &EventStore<Account>,
        n: usize,
    ) -> Result<()> {
        dynago_es_commands(runtime, store, n)
    }

    /// `n` deposits through cqrs-es + dynamo-es.
    ///
    /// # Errors
    ///
    /// When a command fails.
    #[inline(never)]
    pub fn cqrs_commands(runtime: &Runtime, cqrs: &Cqrs, n: usize) -> Result<()> {
        let id = account();
        runtime.block_on(async {
            for _ in 0..n {
                cqrs_execute(cqrs, &id).await?;
            }
            Ok(())
        })
    }

    /// `n` loads of the stream through dynago-es, each checked.
    ///
    /// # Errors
    ///
    /// When a load fails or its state is wrong.
    #[inline(never)]
    pub fn dynago_es_loads(runtime: &Runtime, store: &EventStore<Account>, n: usize) -> Result<()> {
        runtime.block_on(async {
            for _ in 0..n {
                let loaded = store.load(STREAM).await?;
                ensure!(loaded.state == expected(AMOUNT, LOAD_EVENTS));
            }
            Ok(())
        })
    }

    /// `n` loads of the stream through cqrs-es + dynamo-es, each checked.
    ///
    /// # Errors
    ///
    /// When a load fails or its state is wrong.
    #[inline(never)]
    pub fn cqrs_loads(
        runtime: &Runtime,
        store: &PersistedEventStore<DynamoEventRepository, Account>,
        n: usize,
    ) -> Result<()> {
        runtime.block_on(async {
            for _ in 0..n {
                let context = store
                    .load_aggregate(STREAM)
                    .await
                    .map_err(|e| anyhow!("cqrs-es loading {STREAM}: {e}"))?;
                ensure!(context.aggregate == expected(AMOUNT, LOAD_EVENTS));
            }
            Ok(())
        })
    }
}

/// Instructions per unit of the four paths, as one build counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCounts {
    /// The build profile of the binary counted: `debug` or `release`.
    pub profile: String,
    /// Per path, in the order of [`ClientPath::ALL`]: instructions per unit.
    pub per_unit: [f64; 5],
    /// Part 1's operations, through `dynago` and by hand.
    pub table_layer: Vec<TableCount>,
}

impl ClientCounts {
    /// Instructions per unit of `path`.
    pub fn of(&self, path: ClientPath) -> f64 {
        let index = ClientPath::ALL
            .iter()
            .position(|p| *p == path)
            .unwrap_or_default();
        self.per_unit[index]
    }

    /// The counts and ratios as a markdown table.
    pub fn table(&self) -> String {
        let row = |what: &str, ours: ClientPath, theirs: ClientPath, per: f64| {
            let (ours, theirs) = (self.of(ours) / per, self.of(theirs) / per);
            format!(
                "| {what} | {ours:.0} | {theirs:.0} | **{:.2}** |\n",
                ours / theirs
            )
        };
        #[allow(clippy::cast_precision_loss)] // a small count
        let events = LOAD_EVENTS as f64;
        let stores = format!(
            "| {} build, client instructions | dynago-es | cqrs-es + dynamo-es | dynago-es ÷ cqrs-es |\n\
             |---|---:|---:|---:|\n{}{}{}{}",
            self.profile,
            row(
                "one uncached command (a query, then the write)",
                ClientPath::DynagoEsCommand,
                ClientPath::CqrsCommand,
                1.0
            ),
            row(
                "the same, the state in each commit (`InCommit`)",
                ClientPath::DynagoEsInCommitCommand,
                ClientPath::CqrsCommand,
                1.0
            ),
            row(
                &format!("loading {LOAD_EVENTS} events (one query)"),
                ClientPath::DynagoEsLoad,
                ClientPath::CqrsLoad,
                1.0
            ),
            row(
                "the same, per event",
                ClientPath::DynagoEsLoad,
                ClientPath::CqrsLoad,
                events
            ),
        );
        if self.table_layer.is_empty() {
            return stores;
        }
        format!(
            "{stores}\n{}",
            table_instructions::table(&self.table_layer, &self.profile)
        )
    }
}

/// Starts the server `DYNAGO_BACKEND` names (embedded by default),
/// prepares its tables and [`count`]s each path of the
/// `client-instructions` binary at `binary` against it.
///
/// # Errors
///
/// When valgrind is missing, the server does not start, or a run fails.
pub fn measure(binary: &Path, keep: Option<&Path>) -> Result<ClientCounts> {
    crate::instructions::check_valgrind()?;
    let (_runtime, dynamo, tables) = prepared_server()?;
    let counts = count(binary, dynamo.url(), &tables, keep);
    drop(dynamo);
    counts
}

/// Counts each path of the `client-instructions` binary at `binary` under
/// callgrind, one after the other, against the server at `url` and the
/// tables [`prepare`] made there; with `keep`, each path's last dump is
/// kept in that directory as `{path}.callgrind`. Blocks until done.
///
/// # Errors
///
/// When valgrind is missing or a run fails.
pub fn count(
    binary: &Path,
    url: &str,
    tables: &Tables,
    keep: Option<&Path>,
) -> Result<ClientCounts> {
    crate::instructions::check_valgrind()?;
    if let Some(keep) = keep {
        std::fs::create_dir_all(keep).with_context(|| format!("creating {}", keep.display()))?;
    }
    let mut per_unit = [0.0; 5];
    let mut built = String::new();
    for (index, path) in ClientPath::ALL.into_iter().enumerate() {
        let units = format!("0,{}", path.units());
        let mut args = vec!["--path", path.name(), "--units", &units];
        args.extend(tables.args());
        let kept = keep.map(|dir| dir.join(format!("{}.callgrind", path.name())));
        let counted = callgrind(
            binary,
            path.function(),
            &args,
            &[("DYNAMODB_ENDPOINT", url)],
            &format!("{}-{}", std::process::id(), path.name()),
            kept.as_deref(),
        )
        .with_context(|| format!("counting {}", path.name()))?;
        per_unit[index] = counted.per_unit(path.units())?;
        built = counted.profile()?;
    }
    ensure!(!built.is_empty(), "no path was counted");
    let (table_layer, _) = table_instructions::count(binary, url)?;
    Ok(ClientCounts {
        profile: built,
        per_unit,
        table_layer,
    })
}

/// The `client-instructions` binary beside the running one.
///
/// # Errors
///
/// When there is none.
pub fn binary() -> Result<std::path::PathBuf> {
    crate::instructions::binary_named(BINARY)
}

/// Wall-clock microseconds per unit of each path, the server in this
/// process and each path's client in a process of its own (not under
/// callgrind), `rounds` times, the paths taking turns; per path, the
/// median over rounds of `units` units each.
///
/// # Errors
///
/// When the server does not start or a run fails.
pub fn time(binary: &Path, units: usize, rounds: usize) -> Result<[f64; 5]> {
    let (_runtime, dynamo, tables) = prepared_server()?;
    let mut samples: [Vec<f64>; 5] = Default::default();
    for round in 0..rounds {
        let mut order = ClientPath::ALL;
        if round % 2 == 1 {
            order.reverse();
        }
        for path in order {
            let counts = format!("0,{units}");
            let mut args = vec!["--path", path.name(), "--units", &counts];
            args.extend(tables.args());
            let output = Command::new(binary)
                .args(&args)
                .env("DYNAMODB_ENDPOINT", dynamo.url())
                .output()
                .with_context(|| format!("running {}", binary.display()))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            ensure!(
                output.status.success(),
                "{} ({}): {stdout}{}",
                path.name(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            let micros = stdout
                .lines()
                .last()
                .and_then(|line| line.split_once(" in "))
                .and_then(|(_, rest)| rest.split_once(" µs"))
                .and_then(|(micros, _)| micros.parse::<f64>().ok())
                .with_context(|| format!("no time in {stdout}"))?;
            let index = ClientPath::ALL
                .iter()
                .position(|p| *p == path)
                .unwrap_or_default();
            #[allow(clippy::cast_precision_loss)] // a small count
            samples[index].push(micros / units as f64);
        }
    }
    drop(dynamo);
    Ok(samples.map(|s| crate::stats::median(&s)))
}

/// Starts the server `DYNAGO_BACKEND` names, prints its URL and serves
/// until the process is stopped.
///
/// # Errors
///
/// When the server does not start.
pub fn serve() -> Result<()> {
    server_runtime()?.block_on(async {
        let dynamo = LocalDynamo::start().await?;
        println!("{}", dynamo.url());
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        drop(dynamo);
        anyhow::Ok(())
    })
}

/// A runtime of two threads for the server this process runs; the server
/// keeps running while this process blocks on its children.
fn server_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("a runtime")
}

/// The server `DYNAGO_BACKEND` names, started on a runtime of its own
/// (returned: dropping it stops the server), with the tables [`prepare`]
/// makes.
fn prepared_server() -> Result<(tokio::runtime::Runtime, LocalDynamo, Tables)> {
    let runtime = server_runtime()?;
    let (dynamo, tables) = runtime.block_on(async {
        let dynamo = LocalDynamo::start().await?;
        let tables = prepare(&dynamo.client().await).await?;
        anyhow::Ok((dynamo, tables))
    })?;
    Ok((runtime, dynamo, tables))
}
