//! Which DynamoDB the command runs on: the embedded emulator (in a file, or in
//! memory, in this process or a child), an endpoint, or AWS; and the table on
//! it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use dynago::sdk::types::StreamViewType;
use dynago::{Endpoint, TableOptions};
use dynago_es::StoreOptions;
use dynago_local::{Backend, LocalDynamo};
use dynago_projections::ProjectorOptions;
use ledger::views::{self, ReadSide};
use ledger::Ledger;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::cli::{shell_word, Cli};

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
    /// The options that reach the ledger's table, for the clients of its
    /// stream.
    pub(crate) table_options: TableOptions,
    pub(crate) server: Option<LocalDynamo>,
    /// The server of [`Storage::Child`].
    pub(crate) child: Option<ChildServer>,
    /// The embedded emulator's file, on [`Storage::File`].
    file: Option<PathBuf>,
    /// The table did not exist and was created.
    pub(crate) created: bool,
}

/// Whether a command may create what it needs: the table and, for the
/// embedded emulator on a file, the data directory and its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// The table and its views table, when missing (`open`, the demo).
    Tables,
    /// The table alone, when missing (the stress test and the soak, which
    /// run no projector).
    Table,
    /// Create nothing: what is missing is an error that says where the
    /// command looked.
    Never,
}

/// Connects to the table the options name, with the event store's
/// `options`; creates what `create` says if missing, and otherwise refuses,
/// creating nothing.
pub(crate) async fn connect(
    cli: &Cli,
    storage: Storage,
    options: StoreOptions,
    create: Create,
) -> anyhow::Result<Connected> {
    let mut child = None;
    let mut file = None;
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
                let path = dir.join(DATA_FILE);
                if create == Create::Never && !path.is_file() {
                    bail!(
                        "no ledger at {}: `ledger open` creates one (is --data-dir right?)",
                        path.display()
                    );
                }
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!("cannot create the data directory {}", dir.display())
                })?;
                file = Some(path.clone());
                Backend::EmbeddedFile(path)
            }
        };
        let server = LocalDynamo::start_backend(backend)
            .await
            .context("cannot start the embedded DynamoDB")?;
        (server.table_options(&cli.table), Some(server))
    };
    let table = table
        .partition_key(ledger::ledger::PARTITION_KEY)
        .sort_key(ledger::ledger::SORT_KEY);
    let ledger = Ledger::connect(table.clone(), options).await?;
    let exists = match table_exists(&ledger).await {
        Ok(exists) => exists,
        Err(error) => {
            if cli.aws {
                if let Some(missing) = aws_setup_missing(&table).await {
                    bail!(missing);
                }
            }
            return Err(error.context(format!("cannot use the table `{}`", cli.table)));
        }
    };
    if !exists {
        if create == Create::Never {
            bail!(
                "no table `{}` {}: `ledger open` creates it (are --table and the options before it right?)",
                cli.table,
                looked_in(cli, file.as_deref(), &ledger)
            );
        }
        if cli.aws {
            let views = create == Create::Tables;
            eprintln!("{}", aws_cost_note(&cli.table, &region_of(&ledger), views));
        }
    }
    let mut connected = Connected {
        ledger,
        table_options: table,
        server,
        child,
        file,
        created: false,
    };
    if create != Create::Never {
        connected.create_tables(cli, storage, create).await?;
    }
    Ok(connected)
}

/// What is missing when `--aws` found no region or no credentials in the
/// standard chain, as one line saying what to set; `None` when both are
/// there (the error is another one).
async fn aws_setup_missing(table: &TableOptions) -> Option<String> {
    use dynago::sdk::config::ProvideCredentials;

    let config = table.sdk_config().await;
    let region = config.region().is_some();
    let credentials = match config.credentials_provider() {
        Some(provider) => provider.provide_credentials().await.is_ok(),
        None => false,
    };
    const SET_REGION: &str = "AWS_REGION (or give --region)";
    const SET_CREDENTIALS: &str = "AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";
    match (region, credentials) {
        (true, true) => None,
        (false, true) => Some(format!("no AWS region found: set {SET_REGION}")),
        (true, false) => Some(format!("no AWS credentials found: set {SET_CREDENTIALS}")),
        (false, false) => Some(format!(
            "no AWS region and no AWS credentials found: set {SET_REGION} and {SET_CREDENTIALS}"
        )),
    }
}

/// For `open` on a table it did not create: a warning when the table's
/// stream is off or carries no new images, for the views are fed by it;
/// `None` when it is on, or when DynamoDB does not say.
pub(crate) async fn stream_warning(cli: &Cli, ledger: &Ledger) -> Option<String> {
    let table = ledger.table();
    let described = table
        .client()
        .describe_table()
        .table_name(table.name())
        .send()
        .await
        .ok()?;
    let name = table.name();
    let enabled = described
        .table()?
        .stream_specification()
        .filter(|spec| spec.stream_enabled());
    let found = match enabled.map(|spec| spec.stream_view_type()) {
        Some(Some(StreamViewType::NewImage | StreamViewType::NewAndOldImages)) => return None,
        Some(Some(other)) => format!("its stream carries {}", other.as_str()),
        Some(None) | None => "its stream is off".to_owned(),
    };
    let warning = format!(
        "warning: the table `{name}` has no stream with new images ({found}): `ledger project` will see none of its events"
    );
    if cli.endpoint.is_none() && !cli.aws {
        // The embedded emulator is not served once the command ends.
        return Some(format!(
            "{warning}; `ledger rebuild` builds the views from the table"
        ));
    }
    let mut aws = "aws dynamodb update-table".to_owned();
    if let Some(url) = &cli.endpoint {
        aws.push_str(&format!(" --endpoint-url {}", shell_word(url)));
    }
    if let Some(region) = &cli.region {
        aws.push_str(&format!(" --region {}", shell_word(region)));
    }
    aws.push_str(&format!(" --table-name {}", shell_word(name)));
    let on = format!("`{aws} --stream-specification StreamEnabled=true,StreamViewType=NEW_IMAGE`");
    Some(if enabled.is_some() {
        format!("{warning}; turn it off (`{aws} --stream-specification StreamEnabled=false`), then on with {on}")
    } else {
        format!("{warning}; turn it on with {on}")
    })
}

impl Connected {
    /// Creates the ledger's table and, with [`Create::Tables`], its views
    /// table when missing, saying so on the file backend.
    async fn create_tables(
        &mut self,
        cli: &Cli,
        storage: Storage,
        create: Create,
    ) -> anyhow::Result<()> {
        let views = views::views_table_name(&cli.table);
        self.created = self
            .ledger
            .create_table_if_missing()
            .await
            .with_context(|| format!("cannot use the table `{}`", cli.table))?;
        let views_created = create == Create::Tables
            && views::create_table_if_missing(&self.ledger)
                .await
                .with_context(|| format!("cannot use the table `{views}`"))?;
        if storage == Storage::File {
            if self.created {
                println!(
                    "created table `{}` (string keys pk and sk, on-demand, its stream on)",
                    cli.table
                );
            }
            if views_created {
                println!("created table `{views}` for the views of `{}`", cli.table);
            }
        }
        Ok(())
    }

    /// The read side of the ledger, its projectors run with `options`; an
    /// error saying where it looked when its views table is not there
    /// (nothing is created).
    pub(crate) async fn read_side(
        &self,
        cli: &Cli,
        options: ProjectorOptions,
    ) -> anyhow::Result<ReadSide> {
        let read_side = ReadSide::new(&self.ledger, options)?;
        let name = read_side.table().name().to_owned();
        let exists = read_side
            .table_exists()
            .await
            .with_context(|| format!("cannot use the table `{name}`"))?;
        if !exists {
            bail!(
                "no views table `{name}` {} beside `{}`: `ledger open` creates it",
                looked_in(cli, self.file.as_deref(), &self.ledger),
                cli.table
            );
        }
        Ok(read_side)
    }
}

/// The embedded emulator's file under --data-dir.
const DATA_FILE: &str = "ledger.sqlite";

/// Whether the ledger's table exists (and is active, once it is).
async fn table_exists(ledger: &Ledger) -> anyhow::Result<bool> {
    match ledger
        .table()
        .wait_until_active(Duration::from_secs(120))
        .await
    {
        Ok(()) => Ok(true),
        Err(error) if error.is_not_found() => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// The region the table's client signs for, as text.
fn region_of(ledger: &Ledger) -> String {
    ledger
        .table()
        .client()
        .config()
        .region()
        .map_or_else(|| "the default region".to_owned(), ToString::to_string)
}

/// Where a command looked for the table, in words: `in FILE`, `at URL`,
/// `in AWS DynamoDB (REGION)`.
fn looked_in(cli: &Cli, file: Option<&Path>, ledger: &Ledger) -> String {
    match (file, &cli.endpoint) {
        (Some(file), _) => format!("in {}", file.display()),
        (None, Some(url)) => format!("at {url}"),
        (None, None) if cli.aws => format!("in AWS DynamoDB ({})", region_of(ledger)),
        (None, None) => "on this DynamoDB".to_owned(),
    }
}

/// The one line printed before the ledger creates its table (and its views
/// table, with `views`) on AWS: what it creates and what each command costs,
/// from [`ledger::cost`] (docs/aws.md has the details).
pub(crate) fn aws_cost_note(table: &str, region: &str, views: bool) -> String {
    use ledger::cost::{self, ONE_EVENT, SNAPSHOT, TRANSFER};

    let views_table = views::views_table_name(table);
    let (tables, remove) = if views {
        (
            format!("table `{table}` (its stream on) and its views table `{views_table}`"),
            format!(
                "remove them with `aws dynamodb delete-table --table-name {table}` and `--table-name {views_table}`"
            ),
        )
    } else {
        (
            format!("table `{table}` (its stream on)"),
            format!("remove it with `aws dynamodb delete-table --table-name {table}`"),
        )
    };
    format!(
        "note: creating the on-demand DynamoDB {tables} in {region}, billed per request: \
         `open`, `deposit`, `withdraw` or `close` {} write and {} read request units, `transfer` \
         {} and {} (about ${:.2} and ${:.2} a million at us-east-1's ${} and ${} per million write \
         and read units); {} write more on an account's every {}th event (its snapshot), 1 read \
         more per 4 KB of an account's events since its snapshot; `ledger project` adds the views' \
         writes and the stream's reads (docs/projections.md); ${} per GB-month stored, nothing \
         else while idle; see docs/aws.md, and {remove}",
        ONE_EVENT.write,
        ONE_EVENT.read,
        TRANSFER.write,
        TRANSFER.read,
        ONE_EVENT.dollars_per_million(),
        TRANSFER.dollars_per_million(),
        cost::WRITE_PRICE,
        cost::READ_PRICE,
        SNAPSHOT.write,
        ledger::ledger::SNAPSHOT_EVERY,
        cost::STORAGE_PRICE,
    )
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

/// Where the demo, the stress test and the soak run, in words; and the
/// views table, with `views` (the demo's).
pub(crate) fn describe(cli: &Cli, connected: &Connected, views: bool) -> String {
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
        "created just now with string keys pk and sk and its stream on"
    } else {
        "already there"
    };
    let views = if views {
        format!("; its views in `{}`", views::views_table_name(&cli.table))
    } else {
        String::new()
    };
    format!("{place}.\nTable `{}`, {table}{views}.", cli.table)
}

/// A suffix that keeps the demo's accounts apart from earlier runs' on a
/// table that outlives the run; none on a fresh in-memory one.
pub(crate) fn tag(cli: &Cli) -> Option<String> {
    (cli.endpoint.is_some() || cli.aws).then(|| format!("{:06x}", fastrand::u32(..0x100_0000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_note_is_one_line_naming_the_tables_and_the_costs() {
        let note = aws_cost_note("books", "eu-west-1", true);
        assert!(!note.contains('\n'), "{note}");
        for part in [
            "on-demand DynamoDB table `books` (its stream on) and its views table `books-views` in eu-west-1",
            "`open`, `deposit`, `withdraw` or `close` 1 write and 2 read request units, `transfer` 4 and 6",
            "about $0.88 and $3.25 a million at us-east-1's $0.625 and $0.125 per million write and read units",
            "1 write more on an account's every 50th event",
            "$0.25 per GB-month",
            "docs/aws.md",
            "delete-table --table-name books` and `--table-name books-views`",
        ] {
            assert!(note.contains(part), "{part:?} not in {note:?}");
        }
        let note = aws_cost_note("books", "eu-west-1", false);
        assert!(!note.contains("books-views"), "{note}");
        assert!(
            note.contains("remove it with `aws dynamodb delete-table --table-name books`"),
            "{note}"
        );
    }
}
