//! Which DynamoDB the command runs on: the embedded emulator (in a file, or in
//! memory), an endpoint, or AWS; and the table on it.

use std::path::PathBuf;

use anyhow::Context;
use dynago::{Endpoint, TableOptions};
use dynago_local::{Backend, LocalDynamo};
use ledger::Ledger;

use crate::Cli;

/// Where the embedded emulator keeps the accounts, when no --endpoint or
/// --aws is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    /// In a file under --data-dir, across runs.
    File,
    /// In memory, for this run only.
    Memory,
}

/// The ledger on the table the options name, and the embedded server it runs
/// on, if any (it stops when dropped).
pub(crate) struct Connected {
    pub(crate) ledger: Ledger,
    pub(crate) server: Option<LocalDynamo>,
    /// The table did not exist and was created.
    pub(crate) created: bool,
}

/// Connects to the table the options name, creating it if missing.
pub(crate) async fn connect(cli: &Cli, storage: Storage) -> anyhow::Result<Connected> {
    let (table, server) = if let Some(url) = &cli.endpoint {
        let region = cli.region.clone().unwrap_or_else(|| "us-east-1".into());
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
    } else {
        let backend = match storage {
            Storage::Memory => Backend::Embedded,
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
    let ledger = Ledger::connect(table, ledger::store_options()).await?;
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
    let place = match (&connected.server, &cli.endpoint) {
        (Some(server), _) => format!(
            "a fresh in-memory DynamoDB (the embedded emulator) at {}; nothing is kept",
            server.url()
        ),
        (None, Some(url)) => format!("the DynamoDB at {url}"),
        (None, None) => match &cli.region {
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
