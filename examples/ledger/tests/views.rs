//! The read side, through the binary as a user runs it and through the
//! library: `ledger accounts`, `report`, `project` and `rebuild` against
//! the server `dynago_local::shared()` starts (the embedded emulator, or
//! DynamoDB Local with `DYNAGO_BACKEND=dynamodb-local`), a fresh table per
//! test. Every view is checked against what the events replay to.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::assert::Assert;
use assert_cmd::cargo::cargo_bin_cmd;
use dynago::TableDefinition;
use dynago_projections::{EventStream, ProjectorOptions};
use ledger::views::{self, ReadSide, Replayed};

/// The binary, pointed at the shared server and a table of its own.
struct Books {
    url: String,
    table: String,
}

impl Books {
    async fn new() -> Self {
        let dynamo = dynago_local::shared()
            .await
            .expect("a DynamoDB server for the tests");
        Books {
            url: dynamo.url().to_owned(),
            table: dynago_local::unique_table_name("views"),
        }
    }

    fn args(&self) -> [&str; 4] {
        ["--endpoint", &self.url, "--table", &self.table]
    }

    fn run(&self, args: &[&str]) -> Assert {
        cargo_bin_cmd!("ledger")
            .args(self.args())
            .args(args)
            .assert()
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).success().get_output().stdout.clone();
        String::from_utf8(output).expect("UTF-8 output")
    }

    /// Runs a command that must fail with one line `error: ...` and nothing
    /// on standard output; that line.
    fn fails(&self, args: &[&str]) -> String {
        let assert = self.run(args).code(1).stdout("");
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.starts_with("error: ") && stderr.lines().count() == 1,
            "{args:?}: not a one-line error: {stderr:?}"
        );
        stderr
    }

    /// The ledger and its read side, in this process.
    async fn connect(&self) -> (ledger::Ledger, ReadSide) {
        let dynamo = dynago_local::shared().await.expect("the shared server");
        let ledger =
            ledger::Ledger::connect(dynamo.table_options(&self.table), ledger::store_options())
                .await
                .expect("a ledger");
        let read_side = ReadSide::new(&ledger, fast_options()).expect("a read side");
        (ledger, read_side)
    }

    /// What the events replay to, and where the views differ from it.
    async fn replay(&self) -> (Replayed, Vec<String>) {
        let (ledger, read_side) = self.connect().await;
        let replayed = views::replay(ledger.store()).await.expect("the replay");
        let differences = replayed
            .differences(&read_side)
            .await
            .expect("the views read");
        (replayed, differences)
    }

    /// Some accounts and commands of every kind: 12 events.
    fn some_commands(&self) {
        self.ok(&["open", "alice", "--owner", "Alice"]);
        self.ok(&["open", "bob", "--owner", "Bob"]);
        self.ok(&["open", "yen", "--owner", "Yuki", "--currency", "JPY"]);
        self.ok(&["open", "gone", "--owner", "Gus"]);
        self.ok(&["deposit", "alice", "100"]);
        self.ok(&["withdraw", "alice", "12.34"]);
        self.ok(&["transfer", "alice", "bob", "20.5"]);
        self.ok(&["deposit", "yen", "7"]);
        self.ok(&["deposit", "gone", "1"]);
        self.ok(&["withdraw", "gone", "1"]);
        self.ok(&["close", "gone"]);
    }
}

/// Leases of 1 s and idle reads every 50 ms, for tests that take over
/// shards.
fn fast_options() -> ProjectorOptions {
    ProjectorOptions::default()
        .lease_duration(Duration::from_secs(1))
        .idle_wait(Duration::from_millis(50))
        .shard_sync(Duration::from_millis(500))
}

/// Waits until `check` holds, for at most a minute.
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The account lines of `ledger accounts`, by id: the words after the id.
fn account_lines(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .skip(1)
        .filter(|line| !line.starts_with("more:"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let id = words.next()?.to_owned();
            Some((id, words.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

/// Checks the output of `ledger accounts` and `ledger report` against the
/// replay, line by line.
fn assert_output_is_the_replay(accounts: &str, report: &str, replayed: &Replayed) {
    let lines = account_lines(accounts);
    assert_eq!(
        lines.keys().collect::<Vec<_>>(),
        replayed.accounts.keys().collect::<Vec<_>>(),
        "{accounts}"
    );
    for (id, (view, version)) in &replayed.accounts {
        let currency = view.currency.as_ref().map(ToString::to_string);
        let want = format!(
            "{} {} {} {}, version {version}",
            view.owner,
            view.balance,
            currency.unwrap_or_default(),
            view.status
        );
        assert!(
            lines[id].starts_with(&want),
            "{id}: {want:?} is not the start of {:?}",
            lines[id]
        );
    }
    let rows: Vec<Vec<&str>> = report
        .lines()
        .skip(2)
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), replayed.totals.len(), "{report}");
    for (row, (key, (totals, changes))) in rows.iter().zip(&replayed.totals) {
        let (day, currency) = key.split_once('#').expect("a day and a currency");
        let want = [
            day.to_owned(),
            currency.to_owned(),
            totals.events.to_string(),
            totals.opened.to_string(),
            totals.closed.to_string(),
            totals.deposited.to_string(),
            totals.withdrawn.to_string(),
            totals.transferred_in.to_string(),
            totals.transferred_out.to_string(),
        ];
        assert_eq!(*row, want, "{report}");
        assert_eq!(totals.events, *changes);
    }
}

#[tokio::test]
async fn accounts_and_report_after_a_rebuild_are_the_replay() {
    let books = Books::new().await;
    books.some_commands();
    let empty = books.ok(&["accounts"]);
    assert!(
        empty.contains("no account in the view `accounts`")
            && empty.contains("`ledger project` or `ledger rebuild` builds it"),
        "{empty}"
    );
    let rebuilt = books.ok(&["rebuild"]);
    assert!(
        rebuilt.contains(&format!(
            "rebuilt the views in `{0}-views` from the events of `{0}`",
            books.table
        )) && rebuilt.contains("applied 12 events to the accounts, 12 to the totals"),
        "{rebuilt}"
    );
    let accounts = books.ok(&["accounts"]);
    let report = books.ok(&["report"]);
    let (replayed, differences) = books.replay().await;
    assert_eq!(differences, Vec::<String>::new());
    assert_eq!(replayed.events, 12);
    assert_output_is_the_replay(&accounts, &report, &replayed);
    // What the commands did, spelled out.
    let lines = account_lines(&accounts);
    assert!(lines["alice"].starts_with("Alice 67.16 EUR open, version 4"));
    assert!(lines["bob"].starts_with("Bob 20.50 EUR open, version 2"));
    assert!(lines["gone"].starts_with("Gus 0.00 EUR closed, version 4"));
    assert!(lines["yen"].starts_with("Yuki 7.00 JPY open, version 2"));
    let eur = report
        .lines()
        .find(|line| line.contains(" EUR "))
        .expect("a EUR row");
    assert_eq!(
        eur.split_whitespace().skip(2).collect::<Vec<_>>(),
        ["10", "3", "1", "101.00", "13.34", "20.50", "20.50"],
        "{report}"
    );

    // A second rebuild starts from nothing again and ends the same.
    let again = books.ok(&["rebuild"]);
    assert!(again.contains("applied 12 events"), "{again}");
    assert_eq!(books.ok(&["accounts"]), accounts);
    assert_eq!(books.ok(&["report"]), report);
}

#[tokio::test]
async fn project_catches_up_then_resumes_from_its_checkpoint() {
    let books = Books::new().await;
    books.some_commands();
    let first = books.ok(&["project", "--until-idle"]);
    assert!(
        first.contains(&format!(
            "projecting the events of `{0}` into `{0}-views`",
            books.table
        )),
        "{first}"
    );
    assert!(
        first.contains("(idle: every event in the stream is applied): applied 12 events to the accounts, 12 to the totals"),
        "{first}"
    );
    // A progress line is printed while it works (how many depends on how
    // fast it catches up: the closing line above is what says it did).
    assert!(first.contains(" s  applied "), "a progress line: {first}");
    let (_, differences) = books.replay().await;
    assert_eq!(differences, Vec::<String>::new());

    // Only the new events are applied next time: the stream is read on
    // from the checkpoints.
    books.ok(&["deposit", "bob", "5"]);
    books.ok(&["transfer", "bob", "alice", "1.25"]);
    let second = books.ok(&["project", "--until-idle"]);
    assert!(
        second.contains("applied 3 events to the accounts, 3 to the totals"),
        "{second}"
    );
    let (replayed, differences) = books.replay().await;
    assert_eq!(differences, Vec::<String>::new());
    assert_output_is_the_replay(&books.ok(&["accounts"]), &books.ok(&["report"]), &replayed);

    // --for stops after that long, having applied nothing new.
    let started = Instant::now();
    let timed = books.ok(&["project", "--for", "1"]);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        timed.contains("(after --for): applied 0 events to the accounts, 0 to the totals"),
        "{timed}"
    );
}

/// `ledger project` as a long-lived worker: started, fed commands from
/// other processes, stopped with Ctrl-C (SIGINT), and its leases let go so
/// that the next worker resumes at once.
#[tokio::test]
async fn project_follows_commands_live_and_stops_on_ctrl_c() {
    let books = Books::new().await;
    books.ok(&["open", "alice", "--owner", "Alice"]);
    let worker = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(books.args())
        .arg("project")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ledger project started");
    for amount in ["1", "2", "3"] {
        books.ok(&["deposit", "alice", amount]);
    }
    books.ok(&["open", "bob", "--owner", "Bob"]);
    books.ok(&["transfer", "alice", "bob", "0.5"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let caught_up = loop {
        let (_, differences) = books.replay().await;
        if differences.is_empty() {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &worker.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let output = worker.wait_with_output().expect("the worker ended");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(caught_up, "the views never caught up:\n{out}");
    assert!(output.status.success(), "{output:?}");
    assert!(
        out.contains("(on Ctrl-C): applied 7 events to the accounts, 7 to the totals"),
        "{out}"
    );
    // The leases were let go: the next worker reads on at once.
    books.ok(&["deposit", "bob", "1"]);
    let started = Instant::now();
    let next = books.ok(&["project", "--until-idle"]);
    assert!(
        next.contains("applied 1 event to the accounts, 1 to the totals"),
        "{next}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "it waited for a lease to expire"
    );
}

#[tokio::test]
async fn accounts_page_with_a_cursor_hint_that_runs_as_printed() {
    let books = Books::new().await;
    for id in ["ada", "bea", "cy", "dee", "eve"] {
        books.ok(&["open", id, "--owner", &id.to_uppercase()]);
    }
    books.ok(&["rebuild"]);
    let mut seen = Vec::new();
    let mut page = books.ok(&["accounts", "--limit", "2"]);
    loop {
        seen.extend(account_lines(&page).into_keys());
        let Some(hint) = page
            .lines()
            .find_map(|line| line.strip_prefix("more: ledger "))
        else {
            break;
        };
        // The hint keeps the limit and the options that name the DynamoDB
        // and the table.
        assert!(
            hint.contains("--limit 2")
                && hint.ends_with(&format!("--endpoint {} --table {}", books.url, books.table)),
            "{hint}"
        );
        let output = cargo_bin_cmd!("ledger")
            .args(hint.split_whitespace())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        page = String::from_utf8(output).expect("UTF-8 output");
    }
    assert_eq!(seen, ["ada", "bea", "cy", "dee", "eve"]);
    let stderr = books.fails(&["accounts", "--cursor", "not-a-cursor"]);
    assert!(stderr.contains("cannot read the accounts view"), "{stderr}");
}

/// Totals keyed by an account's currency, which only its `Opened` event
/// names: a worker that did not see that event (another applied it, after
/// this one read the currencies) parks the account's next event, reads the
/// currency from the table and replays it.
#[tokio::test]
async fn a_worker_that_missed_an_opened_event_replays_what_it_parked() {
    let books = Books::new().await;
    books.ok(&["open", "alice", "--owner", "Alice"]);
    let (ledger, first) = books.connect().await;
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let events = dynamo
        .table_options(&books.table)
        .partition_key("pk")
        .sort_key("sk");
    let stream = EventStream::connect(events).await.expect("the stream");
    let second = ReadSide::new(&ledger, fast_options()).expect("a read side");
    let (stop_first, first_stopped) = tokio::sync::oneshot::channel::<()>();
    let first_run = tokio::spawn({
        let (first, stream) = (first.clone(), stream.clone());
        async move { first.run(&stream, first_stopped).await }
    });
    until("the first worker caught up", || {
        first.progress().caught_up()
    })
    .await;
    // The second starts while the first holds the shards: it knows alice's
    // currency, not bob's.
    let (stop_second, second_stopped) = tokio::sync::oneshot::channel::<()>();
    let second_run = tokio::spawn({
        let (second, stream) = (second.clone(), stream.clone());
        async move { second.run(&stream, second_stopped).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bob = "bob".parse().expect("an id");
    ledger
        .open(&bob, "Bob", "USD".parse().expect("a currency"))
        .await
        .expect("bob opened");
    until("the first worker applied bob's Opened", || {
        let progress = first.progress();
        progress.accounts.applied >= 2 && progress.totals.applied >= 2
    })
    .await;
    let _ = stop_first.send(());
    first_run.await.expect("joined").expect("the first worker");
    ledger
        .deposit(&bob, "2.5".parse().expect("an amount"))
        .await
        .expect("deposited");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, differences) = books.replay().await;
        if differences.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{differences:?}; {:?}",
            second.progress()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_second.send(());
    second_run
        .await
        .expect("joined")
        .expect("the second worker");
    let progress = second.progress();
    assert_eq!(progress.totals.parked, 1, "{progress:?}");
    assert_eq!(progress.accounts.parked, 0, "{progress:?}");
    let usd = second
        .totals()
        .list(None, 10)
        .await
        .expect("the totals")
        .views
        .into_iter()
        .find(|day| day.key.ends_with("#USD"))
        .expect("the USD totals");
    assert_eq!(usd.view.deposited.to_string(), "2.50");
    assert_eq!(usd.view.opened, 1);
}

#[tokio::test]
async fn the_read_commands_create_nothing_and_say_where_they_looked() {
    let books = Books::new().await;
    // No table at all: the events table is missing first.
    for command in [&["accounts"][..], &["report"], &["project"], &["rebuild"]] {
        let stderr = books.fails(command);
        assert!(
            stderr.contains(&format!(
                "no table `{}` at {}: `ledger open` creates it",
                books.table, books.url
            )),
            "{command:?}: {stderr}"
        );
    }
    // The events table of an older ledger: no stream, no views table.
    let (ledger, read_side) = books.connect().await;
    ledger
        .table()
        .create_table(TableDefinition::default())
        .await
        .expect("a table without a stream");
    for command in [&["accounts"][..], &["report"], &["project"], &["rebuild"]] {
        let stderr = books.fails(command);
        assert!(
            stderr.contains(&format!(
                "no views table `{0}-views` at {1} beside `{0}`: `ledger open` creates it",
                books.table, books.url
            )),
            "{command:?}: {stderr}"
        );
    }
    assert!(!read_side.table_exists().await.expect("described"));
    // `open` creates the views table beside it; `project` needs the stream
    // the table was created without, `rebuild` does not.
    books.ok(&["open", "alice", "--owner", "Alice"]);
    assert!(read_side.table_exists().await.expect("described"));
    let stderr = books.fails(&["project", "--until-idle"]);
    assert!(
        stderr.contains("`ledger project` reads the table's stream (`ledger rebuild` builds the views without it)")
            && stderr.contains("its stream is not enabled"),
        "{stderr}"
    );
    assert!(books.ok(&["rebuild"]).contains("applied 1 event"));
    assert!(books.ok(&["accounts"]).contains("alice  Alice"));
}

/// The default backend, the embedded emulator on a file: each command is
/// a process of its own on the same file, `ledger project` too.
#[test]
fn the_views_live_in_the_data_dir_beside_the_events() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("a UTF-8 path");
    let run = |args: &[&str]| {
        let output = cargo_bin_cmd!("ledger")
            .args(["--data-dir", data_dir])
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(output).expect("UTF-8 output")
    };
    let opened = run(&["open", "alice", "--owner", "Alice"]);
    assert!(
        opened.contains("created table `ledger` (string keys pk and sk, on-demand, its stream on)")
            && opened.contains("created table `ledger-views` for the views of `ledger`"),
        "{opened}"
    );
    run(&["deposit", "alice", "7.25"]);
    let projected = run(&["project", "--until-idle"]);
    assert!(
        projected.contains("applied 2 events to the accounts"),
        "{projected}"
    );
    run(&["withdraw", "alice", "0.25"]);
    let projected = run(&["project", "--until-idle"]);
    assert!(
        projected.contains("applied 1 event to the accounts"),
        "{projected}"
    );
    let accounts = run(&["accounts"]);
    assert!(
        accounts.contains("alice  Alice  7.00 EUR  open, version 3"),
        "{accounts}"
    );
    let report = run(&["report"]);
    let row: Vec<&str> = report
        .lines()
        .nth(2)
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .collect();
    assert_eq!(
        row,
        ["EUR", "3", "1", "0", "7.25", "0.25", "0.00", "0.00"],
        "{report}"
    );
}
