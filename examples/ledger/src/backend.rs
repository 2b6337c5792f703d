//! Which DynamoDB the command runs on: the embedded emulator (in a file, or in
//! memory, in this process or a child), an endpoint, or AWS; and the table on
//! it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use dynago::{Endpoint, TableOptions};
use dynago_es::StoreOptions;
use dynago_local::{Backend, LocalDynamo};
use ledger::Ledger;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::Cli;

/// Where the embedded emulator keeps the accounts, when no --endpoint or
/// --aws is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    /// In a file under --data-dir, across runs.
    File,
    /// In memory, for this run only.
    Memory,
    /// In a file in a fresh temporary directory, deleted at the end, served
    /// by a child process (this binary's hidden `serve-embedded`): for this
    /// run only, and out of this process, whose memory the soak watches.
    Child,
}

/// The embedded emulator in a child process, on a file in a temporary
/// directory. Dropping it kills the child (which also ends by itself when
/// its standard input closes), then deletes the directory.
pub(crate) struct ChildServer {
    process: tokio::process::Child,
    url: String,
    dir: tempfile::TempDir,
}

impl ChildServer {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("dynago-ledger-soak-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let mut process = tokio::process::Command::new(
            std::env::current_exe().context("cannot find this program")?,
        )
        .arg("serve-embedded")
        .arg("--file")
        .arg(dir.path().join("ledger.sqlite"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the embedded DynamoDB in a child process")?;
        let stdout = process
            .stdout
            .take()
            .context("the child process has no standard output")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("the child process did not start its DynamoDB in time")??
            .context("the child process ended before its DynamoDB was listening")?;
        Ok(ChildServer { process, url, dir })
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.id()
    }

    fn directory(&self) -> &Path {
        self.dir.path()
    }
}

/// The hidden `serve-embedded` command: the embedded emulator on `file`,
/// whose URL is printed on a line of its own, served until standard input
/// closes.
pub(crate) async fn serve_embedded(file: PathBuf) -> anyhow::Result<()> {
    let server = LocalDynamo::start_backend(Backend::EmbeddedFile(file))
        .await
        .context("cannot start the embedded DynamoDB")?;
    println!("{}", server.url());
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
    Ok(())
}

/// The ledger on the table the options name, and the embedded server it runs
/// on, if any (it stops when dropped).
pub(crate) struct Connected {
    pub(crate) ledger: Ledger,
    pub(crate) server: Option<LocalDynamo>,
    /// The server of [`Storage::Child`].
    pub(crate) child: Option<ChildServer>,
    /// The table did not exist and was created.
    pub(crate) created: bool,
}

/// Connects to the table the options name, creating it if missing, with the
/// event store's `options`.
pub(crate) async fn connect(
    cli: &Cli,
    storage: Storage,
    options: StoreOptions,
) -> anyhow::Result<Connected> {
    let mut child = None;
    let (table, server) = if let Some(url) = &cli.endpoint {
        let region = cli
            .region
            .clone()
            .unwrap_or_else(|| dynago::LOCAL_REGION.into());
        let options = TableOptions::new(&cli.table)
            .endpoint(Endpoint::new(url))
            .region(region);
        (options, None)
    } else if cli.aws {
        let mut options = TableOptions::new(&cli.table);
        if let Some(region) = &cli.region {
            options = options.region(region);
        }
        (options, None)
    } else if storage == Storage::Child {
        let server = ChildServer::start().await?;
        let options = TableOptions::new(&cli.table)
            .endpoint(
                Endpoint::new(&server.url)
                    .credentials(dynago_local::ACCESS_KEY_ID, dynago_local::SECRET_ACCESS_KEY),
            )
            .region(dynago_local::REGION);
        child = Some(server);
        (options, None)
    } else {
        let backend = match storage {
            Storage::Memory | Storage::Child => Backend::Embedded,
            Storage::File => {
                let dir = match &cli.data_dir {
                    Some(dir) => dir.clone(),
                    None => default_data_dir(),
                };
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!("cannot create the data directory {}", dir.display())
                })?;
                Backend::EmbeddedFile(dir.join("ledger.sqlite"))
            }
        };
        let server = LocalDynamo::start_backend(backend)
            .await
            .context("cannot start the embedded DynamoDB")?;
        (server.table_options(&cli.table), Some(server))
    };
    let ledger = Ledger::connect(table, options).await?;
    let created = ledger
        .create_table_if_missing()
        .await
        .with_context(|| format!("cannot use the table `{}`", cli.table))?;
    if created && storage == Storage::File {
        println!(
            "created table `{}` (string keys pk and sk, on-demand)",
            cli.table
        );
    }
    Ok(Connected {
        ledger,
        server,
        child,
        created,
    })
}

/// `$XDG_DATA_HOME/dynago-ledger`, else `~/.local/share/dynago-ledger`, else
/// a folder in the temporary directory.
fn default_data_dir() -> PathBuf {
    let home = |var: &str| std::env::var_os(var).filter(|dir| !dir.is_empty());
    home("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| home("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir)
        .join("dynago-ledger")
}

/// Where the demo and the stress test run, in words.
pub(crate) fn describe(cli: &Cli, connected: &Connected) -> String {
    let place = match (&connected.server, &cli.endpoint, &connected.child) {
        (_, _, Some(child)) => format!(
            "a fresh DynamoDB (the embedded emulator) in a child process (pid {}) at {},\nkeeping its data in a file under {}, deleted at the end",
            child.pid().unwrap_or_default(),
            child.url,
            child.directory().display()
        ),
        (Some(server), _, None) => format!(
            "a fresh in-memory DynamoDB (the embedded emulator) at {}; nothing is kept",
            server.url()
        ),
        (None, Some(url), None) => format!("the DynamoDB at {url}"),
        (None, None, None) => match &cli.region {
            Some(region) => format!("AWS DynamoDB in {region}"),
            None => "AWS DynamoDB".to_owned(),
        },
    };
    let table = if connected.created {
        "created just now with string keys pk and sk"
    } else {
        "already there"
    };
    format!("{place}.\nTable `{}`, {table}.", cli.table)
}

/// A suffix that keeps the demo's accounts apart from earlier runs' on a
/// table that outlives the run; none on a fresh in-memory one.
pub(crate) fn tag(cli: &Cli) -> Option<String> {
    (cli.endpoint.is_some() || cli.aws).then(|| format!("{:06x}", fastrand::u32(..0x100_0000)))
}
