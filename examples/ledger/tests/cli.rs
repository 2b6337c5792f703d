//! The `ledger` binary, run as a user runs it, against a real DynamoDB: the
//! server `dynago_local::shared()` starts (the embedded emulator, or DynamoDB
//! Local with `DYNAGO_BACKEND=dynamodb-local`), a fresh table per test.

use assert_cmd::assert::Assert;
use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

/// The binary, pointed at the shared server and a table of its own.
struct Ledger {
    url: String,
    table: String,
}

impl Ledger {
    async fn new() -> Self {
        let dynamo = dynago_local::shared()
            .await
            .expect("a DynamoDB server for the tests");
        Ledger {
            url: dynamo.url().to_owned(),
            table: dynago_local::unique_table_name("ledger"),
        }
    }

    fn run(&self, args: &[&str]) -> Assert {
        cargo_bin_cmd!("ledger")
            .args(["--endpoint", &self.url, "--table", &self.table])
            .args(args)
            .assert()
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).success().get_output().stdout.clone();
        String::from_utf8(output).expect("UTF-8 output")
    }

    /// Runs a command that must fail with one line `error: ...` containing
    /// `message`, and print nothing else.
    fn fails(&self, args: &[&str], message: &str) {
        let assert = self.run(args).failure().stdout("");
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.starts_with("error: ") && stderr.ends_with('\n') && stderr.lines().count() == 1,
            "{args:?}: not a one-line error: {stderr:?}"
        );
        assert!(
            stderr.contains(message),
            "{args:?}: expected {message:?} in {stderr:?}"
        );
    }

    /// The `balance` line of an account.
    fn balance(&self, id: &str) -> String {
        self.ok(&["balance", id])
    }

    /// Opens accounts in EUR: `(id, deposit)`.
    fn open(&self, accounts: &[(&str, &str)]) {
        for (id, deposit) in accounts {
            self.ok(&["open", id, "--owner", &id.to_uppercase()]);
            if *deposit != "0" {
                self.ok(&["deposit", id, deposit]);
            }
        }
    }
}

/// Fails with `what` when the ledger's views table exists.
async fn assert_no_views_table(ledger: &Ledger, what: &str) {
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let views = dynago::Table::connect(
        dynamo
            .table_options(format!("{}-views", ledger.table))
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await
    .expect("table options");
    let described = views.describe_schema().await;
    assert!(
        matches!(&described, Err(e) if e.is_not_found()),
        "{what}: {described:?}"
    );
}

#[tokio::test]
async fn open_deposit_withdraw_and_balance() {
    let ledger = Ledger::new().await;
    let opened = ledger.ok(&["open", "alice", "--owner", "Alice"]);
    assert!(
        opened.contains("opened alice for Alice in EUR (version 1)"),
        "{opened}"
    );
    let deposited = ledger.ok(&["deposit", "alice", "12.34"]);
    assert!(
        deposited.contains("balance 12.34 EUR (version 2)"),
        "{deposited}"
    );
    let withdrawn = ledger.ok(&["withdraw", "alice", "2.3"]);
    assert!(
        withdrawn.contains("balance 10.04 EUR (version 3)"),
        "{withdrawn}"
    );
    assert_eq!(
        ledger.balance("alice"),
        "alice: 10.04 EUR (Alice, open, version 3)\n"
    );
    ledger.ok(&["open", "yen", "--owner", "Yuki", "--currency", "jpy"]);
    assert!(ledger.balance("yen").contains("0.00 JPY"));
}

#[tokio::test]
async fn transfer_moves_money_between_two_accounts() {
    let ledger = Ledger::new().await;
    ledger.open(&[("alice", "50"), ("bob", "0")]);
    let out = ledger.ok(&["transfer", "alice", "bob", "20.50"]);
    assert!(
        out.contains(
            "transferred 20.50 EUR from alice to bob: alice holds 29.50 EUR, bob holds 20.50 EUR"
        ),
        "{out}"
    );
    assert!(ledger.balance("alice").contains("29.50 EUR"));
    assert!(ledger.balance("bob").contains("20.50 EUR"));
    let alice = ledger.ok(&["history", "alice"]);
    assert!(alice.contains("Debited    -20.50 EUR to bob"), "{alice}");
    let bob = ledger.ok(&["history", "bob"]);
    assert!(bob.contains("Credited   +20.50 EUR from alice"), "{bob}");
}

#[tokio::test]
async fn close_needs_an_empty_account_and_is_final() {
    let ledger = Ledger::new().await;
    ledger.open(&[("alice", "5")]);
    ledger.fails(&["close", "alice"], "only an empty account can be closed");
    ledger.ok(&["withdraw", "alice", "5"]);
    let closed = ledger.ok(&["close", "alice"]);
    assert!(closed.contains("closed alice (version 4)"), "{closed}");
    assert_eq!(
        ledger.balance("alice"),
        "alice: 0.00 EUR (ALICE, closed, version 4)\n"
    );
    ledger.fails(&["close", "alice"], "account alice: the account is closed");
    ledger.fails(
        &["open", "alice", "--owner", "Alice"],
        "account alice: the account is closed",
    );
}

#[tokio::test]
async fn history_pages_through_the_events() {
    let ledger = Ledger::new().await;
    ledger.open(&[("alice", "1")]);
    for amount in ["2", "3", "4", "5"] {
        ledger.ok(&["deposit", "alice", amount]);
    }
    let first = ledger.ok(&["history", "alice", "--page-size", "2"]);
    assert!(
        first.contains("alice: events 1 to 2 of 6 (times in UTC)"),
        "{first}"
    );
    assert!(first.contains("v1 ") && first.contains("Opened     owner ALICE, in EUR"));
    assert!(first.contains("v2 ") && first.contains("Deposited  +1.00 EUR"));
    // The hint repeats the options that name the DynamoDB and the table,
    // so that it runs as it is printed.
    let hint = format!(
        "more: ledger history alice --from 3 --page-size 2 --endpoint {} --table {}",
        ledger.url, ledger.table
    );
    assert!(
        first.contains(&format!("{hint}\n")),
        "{hint:?} not in:\n{first}"
    );
    let second = run_hint(&first);
    assert!(second.contains("events 3 to 4 of 6"), "{second}");
    assert_eq!(
        second,
        ledger.ok(&["history", "alice", "--page-size", "2", "--from", "3"])
    );
    assert!(second.contains("+2.00 EUR") && second.contains("+3.00 EUR"));
    let last = ledger.ok(&["history", "alice", "--page-size", "2", "--from", "5"]);
    assert!(last.contains("events 5 to 6 of 6"), "{last}");
    assert!(!last.contains("more:"), "{last}");
    // Timestamps are UTC, to the millisecond.
    let line = last.lines().nth(1).unwrap_or_default();
    assert!(
        line.split_whitespace()
            .nth(2)
            .is_some_and(|time| time.len() == 12 && time.as_bytes()[8] == b'.'),
        "{line}"
    );
    let past = ledger.ok(&["history", "alice", "--from", "9"]);
    assert!(
        past.contains("alice has 6 events; none from version 9 on"),
        "{past}"
    );
    ledger.fails(&["history", "nobody"], "account nobody: no such account");
}

#[tokio::test]
async fn bad_input_is_refused_with_one_line_and_nothing_written() {
    let ledger = Ledger::new().await;
    ledger.open(&[("alice", "10"), ("bob", "0"), ("gone", "0")]);
    ledger.ok(&["close", "gone"]);
    ledger.ok(&["open", "dollar", "--owner", "Dan", "--currency", "USD"]);
    let before = ledger.balance("alice");
    let cases: [(&[&str], &str); 19] = [
        (
            &["deposit", "nobody", "5"],
            "account nobody: no such account",
        ),
        (
            &["withdraw", "nobody", "5"],
            "account nobody: no such account",
        ),
        (&["balance", "nobody"], "account nobody: no such account"),
        (&["close", "nobody"], "account nobody: no such account"),
        (
            &["transfer", "nobody", "alice", "1"],
            "account nobody: no such account",
        ),
        (
            &["transfer", "alice", "nobody", "1"],
            "account nobody: no such account",
        ),
        (&["deposit", "alice", "-5"], "amount `-5` is negative"),
        (
            &["transfer", "alice", "bob", "-1.50"],
            "amount `-1.50` is negative",
        ),
        (
            &["deposit", "alice", "0"],
            "amount `0` must be greater than zero",
        ),
        (&["withdraw", "alice", "0.00"], "must be greater than zero"),
        (&["deposit", "alice", "1.234"], "has more than 2 decimals"),
        (&["deposit", "alice", "12,5"], "is not a number like 12.34"),
        (&["deposit", "alice", "1e3"], "is not a number like 12.34"),
        (
            &["deposit", "alice", "99999999999999999999"],
            "is too large",
        ),
        (
            &["transfer", "alice", "alice", "1"],
            "cannot transfer from account alice to itself",
        ),
        (
            &["deposit", "gone", "1"],
            "account gone: the account is closed",
        ),
        (
            &["transfer", "alice", "gone", "1"],
            "account gone: the account is closed",
        ),
        (
            &["withdraw", "alice", "10.01"],
            "account alice: insufficient funds: the balance is 10.00 EUR, 10.01 EUR asked",
        ),
        (
            &["transfer", "alice", "dollar", "1"],
            "account dollar: currency mismatch: the account holds USD, the transfer is in EUR",
        ),
    ];
    for (args, message) in cases {
        ledger.fails(args, message);
    }
    ledger.fails(&["transfer", "alice", "bob", "10.01"], "insufficient funds");
    ledger.fails(
        &["open", "alice", "--owner", "Alice"],
        "account alice: already open",
    );
    ledger.fails(
        &["open", "carol", "--owner", "Carol", "--currency", "euro"],
        "currency `euro`",
    );
    ledger.fails(
        &["open", "carol", "--owner", " "],
        "account carol: the owner's name is empty",
    );
    ledger.fails(&["deposit", "two words", "1"], "account id `two words`");

    assert_eq!(ledger.balance("alice"), before);
    assert!(ledger
        .balance("bob")
        .contains("0.00 EUR (BOB, open, version 1)"));
    assert!(ledger
        .balance("dollar")
        .contains("0.00 USD (Dan, open, version 1)"));
    assert!(ledger.balance("gone").contains("(GONE, closed, version 2)"));
    ledger.fails(&["balance", "carol"], "account carol: no such account");
}

#[tokio::test]
async fn demo_tells_its_story_and_passes_its_checks() {
    let ledger = Ledger::new().await;
    let out = ledger.ok(&["demo"]);
    for part in [
        "1. Five accounts",
        "2. The ledger refuses",
        "3. Now 8 tasks",
        "Meanwhile two projectors read the table's DynamoDB Stream",
        "5. The checks",
        "PASS  views equal the replay: 5 account views and ",
        "All checks passed.",
    ] {
        assert!(out.contains(part), "{part:?} missing in:\n{out}");
    }
    assert_eq!(out.matches("PASS").count(), 8, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[tokio::test]
async fn no_subcommand_runs_the_demo() {
    let ledger = Ledger::new().await;
    let out = ledger.ok(&[]);
    assert!(out.contains("The dynago ledger demo"), "{out}");
    assert!(out.contains("All checks passed."), "{out}");
}

#[tokio::test]
async fn stress_reports_a_table_and_passes_its_checks() {
    let ledger = Ledger::new().await;
    let out = ledger.ok(&["stress", "--accounts", "4", "--tasks", "4", "--ops", "40"]);
    for row in [
        "commands           160 (",
        "commands/s",
        "retries/command",
        "requests/command",
        "write units/cmd",
        "read units/cmd",
        "p50 latency (ms)",
        "p99 latency (ms)",
    ] {
        assert!(out.contains(row), "{row:?} missing in:\n{out}");
    }
    assert_eq!(out.matches("PASS").count(), 6, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    // Every command done writes at least one event: at least one write
    // unit each, as DynamoDB reported it.
    let units: f64 = out
        .lines()
        .find_map(|line| line.trim().strip_prefix("write units/cmd"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no write units in:\n{out}"));
    assert!(units >= 1.0, "{units} write units per command:\n{out}");
    // Each shape of command the ledger has, measured on accounts of its
    // own: within its limit by AWS's rules (one event 1 unit, with a
    // command id 2, a transfer 4, for these small events).
    for (shape, write) in [
        ("one event ", "1"),
        ("one event, with an id ", "2"),
        ("a transfer ", "4"),
    ] {
        let row = out
            .lines()
            .map(str::trim_start)
            .find(|line| line.starts_with(shape))
            .unwrap_or_else(|| panic!("no {shape:?} row in:\n{out}"));
        let columns: Vec<&str> = row[shape.len()..].split_whitespace().collect();
        // call, requests, write, read, item bytes, limit, within, 0.1.
        let write_at = columns.len() - 6;
        assert_eq!(columns[write_at], write, "{row}");
        assert_eq!(columns[columns.len() - 2], "yes", "over its limit: {row}");
    }
    assert_eq!(
        out.matches("no ledger command: each decides one event per account")
            .count(),
        2,
        "{out}"
    );
}

/// A short soak on its default server: the embedded emulator in a child
/// process, on a file in a temporary directory that is gone afterwards.
#[test]
fn soak_prints_intervals_memory_and_checks_then_cleans_up() {
    let output = cargo_bin_cmd!("ledger")
        .args(["soak", "--minutes", "0.05", "--interval", "1"])
        .args(["--accounts", "4", "--tasks", "2", "--cache", "2"])
        // A debug build this short is no test of flat memory: the check's
        // arithmetic is what runs here.
        .args(["--memory-margin", "500"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(output).expect("UTF-8 output");
    for row in [
        "soak: 4 accounts, 2 tasks, for 0.05 min (3 s), a line every 1 s; the store caches at most 2 accounts",
        "in a child process (pid ",
        "commands/s",
        "RSS MiB",
        "peak MiB",
        "server RSS MiB",
        "retries/command",
        "memory flat: RSS ",
        "checks, read back from the table: the demo's but its refusals and views",
    ] {
        assert!(out.contains(row), "{row:?} missing in:\n{out}");
    }
    assert!(!out.contains("-views"), "views announced:\n{out}");
    let intervals = out
        .lines()
        .filter(|line| line.trim_start().starts_with(char::is_numeric))
        .count();
    assert!(intervals >= 2, "{out}");
    assert_eq!(out.matches("PASS").count(), 7, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    let dir = out
        .split("keeping its data in a file under ")
        .nth(1)
        .and_then(|rest| rest.split(", deleted at the end").next())
        .expect("the temporary directory in the output");
    assert!(!std::path::Path::new(dir).exists(), "{dir} is still there");

    cargo_bin_cmd!("ledger")
        .args(["soak", "--minutes", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--minutes must be more than zero"));
}

#[test]
fn the_embedded_file_backend_keeps_accounts_between_runs() {
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
    assert!(opened.contains("created table `ledger`"), "{opened}");
    run(&["deposit", "alice", "7.25"]);
    assert_eq!(
        run(&["balance", "alice"]),
        "alice: 7.25 EUR (Alice, open, version 2)\n"
    );
    assert!(dir.path().join("data/ledger.sqlite").is_file());
}

/// Runs the command of the `more: ledger ...` line of `output`, as a user
/// who copies it does; its standard output.
fn run_hint(output: &str) -> String {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("more: ledger "))
        .unwrap_or_else(|| panic!("no `more:` line in:\n{output}"));
    let output = cargo_bin_cmd!("ledger")
        .args(line.split_whitespace())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(output).expect("UTF-8 output")
}

/// Runs the binary with `args` on the default file backend; the assertion.
fn run_on_file(args: &[&str]) -> Assert {
    cargo_bin_cmd!("ledger").args(args).assert()
}

/// The one line `error: ...` of a command that must fail with status 1 and
/// print nothing on standard output.
fn one_line_error(assert: Assert) -> String {
    let assert = assert.code(1).stdout("");
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.starts_with("error: ") && stderr.lines().count() == 1,
        "not a one-line error: {stderr:?}"
    );
    stderr
}

#[test]
fn the_history_hint_repeats_the_data_dir_and_the_table() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("books");
    let data_dir = data_dir.to_str().expect("a UTF-8 path");
    let given = ["--data-dir", data_dir, "--table", "books"];
    let run = |args: &[&str]| {
        let output = cargo_bin_cmd!("ledger")
            .args(given)
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(output).expect("UTF-8 output")
    };
    run(&["open", "ada", "--owner", "Ada"]);
    for amount in ["1", "2", "3"] {
        run(&["deposit", "ada", amount]);
    }
    let first = run(&["history", "ada", "--page-size", "2"]);
    let hint = format!(
        "more: ledger history ada --from 3 --page-size 2 --data-dir {data_dir} --table books"
    );
    assert!(
        first.contains(&format!("{hint}\n")),
        "{hint:?} not in:\n{first}"
    );
    let next = run_hint(&first);
    assert!(next.contains("ada: events 3 to 4 of 4"), "{next}");
    assert!(!next.contains("more:"), "{next}");
}

#[test]
fn read_only_commands_on_a_mistyped_data_dir_create_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let typo = dir.path().join("typo");
    let typo_dir = typo.to_str().expect("a UTF-8 path");
    let commands: [&[&str]; 11] = [
        &["balance", "alice"],
        &["history", "alice"],
        &["deposit", "alice", "1"],
        &["withdraw", "alice", "1"],
        &["transfer", "alice", "bob", "1"],
        &["close", "alice"],
        &["history", "alice", "--from", "3"],
        &["accounts"],
        &["report"],
        &["project", "--until-idle"],
        &["rebuild"],
    ];
    for command in commands {
        let stderr = one_line_error(run_on_file(&[&["--data-dir", typo_dir], command].concat()));
        let expected = format!(
            "error: no ledger at {}: `ledger open` creates one",
            typo.join("ledger.sqlite").display()
        );
        assert!(stderr.starts_with(&expected), "{command:?}: {stderr}");
        assert!(!typo.exists(), "{command:?} created {typo_dir}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "nothing created"
    );

    // On a ledger that exists, another --table is not created either.
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("a UTF-8 path");
    run_on_file(&["--data-dir", data_dir, "open", "alice", "--owner", "Alice"]).success();
    for _ in 0..2 {
        let stderr = one_line_error(run_on_file(&[
            "--data-dir",
            data_dir,
            "--table",
            "ledgr",
            "balance",
            "alice",
        ]));
        assert!(
            stderr.contains(&format!(
                "no table `ledgr` in {}/ledger.sqlite: `ledger open` creates it",
                data_dir
            )),
            "{stderr}"
        );
    }
    let balance = run_on_file(&["--data-dir", data_dir, "balance", "alice"]).success();
    assert!(
        String::from_utf8_lossy(&balance.get_output().stdout).contains("alice: 0.00 EUR"),
        "the ledger that is there still answers"
    );
}

#[tokio::test]
async fn read_only_commands_on_an_endpoint_do_not_create_the_table() {
    let ledger = Ledger::new().await;
    let stderr = one_line_error(ledger.run(&["balance", "alice"]));
    assert!(
        stderr.contains(&format!(
            "no table `{}` at {}: `ledger open` creates it",
            ledger.table, ledger.url
        )),
        "{stderr}"
    );
    for command in [
        &["history", "alice"][..],
        &["deposit", "alice", "5"],
        &["accounts"],
        &["report"],
        &["project"],
        &["rebuild"],
    ] {
        one_line_error(ledger.run(command));
    }
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let table = dynago::Table::connect(
        dynamo
            .table_options(&ledger.table)
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await
    .expect("table options");
    let described = table.describe_schema().await;
    assert!(
        matches!(&described, Err(e) if e.is_not_found()),
        "the table was created: {described:?}"
    );
    assert_no_views_table(&ledger, "the views table was created").await;
    // `open` creates it.
    ledger.ok(&["open", "alice", "--owner", "Alice"]);
    assert!(ledger.balance("alice").contains("0.00 EUR"));
}

#[test]
fn usage_errors_come_from_clap() {
    cargo_bin_cmd!("ledger")
        .args(["deposit", "alice"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<AMOUNT>"));
    cargo_bin_cmd!("ledger")
        .args([
            "--endpoint",
            "http://127.0.0.1:1",
            "--aws",
            "balance",
            "alice",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

/// The capacity units DynamoDB reported for the requests of one run of the
/// binary, read from the `dynamodb` spans that `RUST_LOG=dynago=info`
/// prints on standard error as they close: `(write, read)`.
fn units_reported(stderr: &str) -> (f64, f64) {
    const WRITES: [&str; 5] = [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    ];
    const READS: [&str; 5] = [
        "GetItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactGetItems",
    ];
    let field = |line: &str, name: &str| -> Option<String> {
        let rest = line.split(&format!(" {name}=")).nth(1)?;
        let value = rest.split([' ', '}']).next()?;
        Some(value.trim_matches('"').to_owned())
    };
    let (mut write, mut read) = (0.0, 0.0);
    for line in stderr
        .lines()
        .filter(|line| line.ends_with(char::is_alphanumeric))
    {
        let Some(span) = line.split("dynamodb{").nth(1) else {
            continue;
        };
        if !span.contains(": dynago::telemetry: close") {
            continue;
        }
        let operation = field(span, "db.operation").unwrap_or_default();
        let units: f64 = field(span, "aws.dynamodb.consumed_capacity")
            .and_then(|units| units.parse().ok())
            .unwrap_or(0.0);
        if WRITES.contains(&operation.as_str()) {
            write += units;
        } else if READS.contains(&operation.as_str()) {
            read += units;
        }
    }
    (write, read)
}

impl Ledger {
    /// Runs a command that must succeed with `RUST_LOG=dynago=info`; the
    /// capacity units its requests consumed, as DynamoDB reported them:
    /// `(write, read)`.
    fn units(&self, args: &[&str]) -> (f64, f64) {
        let assert = cargo_bin_cmd!("ledger")
            .env("RUST_LOG", "dynago=info")
            .args(["--endpoint", &self.url, "--table", &self.table])
            .args(args)
            .assert()
            .success();
        units_reported(&String::from_utf8_lossy(&assert.get_output().stderr))
    }
}

/// What each command of the binary costs, measured: the capacity units
/// DynamoDB reported for its requests are those of `ledger::cost`, which
/// the note printed before the tables are created on AWS states.
#[tokio::test]
async fn each_command_costs_what_the_aws_note_says() {
    use ::ledger::cost::{Units, ONE_EVENT, SNAPSHOT, TRANSFER};

    let ledger = Ledger::new().await;
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    // AWS bills a read that finds nothing (`open`'s query of an account
    // without events) 1 unit, as the embedded emulator reports it; DynamoDB
    // Local reports 0.
    let empty_query = match dynamo.backend() {
        dynago_local::Backend::DynamoDbLocal | dynago_local::Backend::Docker => 0.0,
        _ => 1.0,
    };
    let open = Units {
        read: ONE_EVENT.read - 1.0 + empty_query,
        ..ONE_EVENT
    };
    let units = |args: &[&str]| {
        let (write, read) = ledger.units(args);
        Units { write, read }
    };
    assert_eq!(units(&["open", "alice", "--owner", "Alice"]), open, "open");
    assert_eq!(units(&["deposit", "alice", "100"]), ONE_EVENT, "deposit");
    assert_eq!(units(&["withdraw", "alice", "1"]), ONE_EVENT, "withdraw");
    assert_eq!(units(&["open", "bob", "--owner", "Bob"]), open, "open");
    assert_eq!(
        units(&["transfer", "alice", "bob", "2"]),
        TRANSFER,
        "transfer"
    );
    assert_eq!(
        units(&["transfer", "bob", "alice", "2"]),
        TRANSFER,
        "transfer"
    );
    assert_eq!(units(&["close", "bob"]), ONE_EVENT, "close");

    // The command whose event is an account's 50th writes its snapshot too.
    let books = ::ledger::Ledger::connect(
        dynamo.table_options(&ledger.table),
        ::ledger::store_options(),
    )
    .await
    .expect("a ledger");
    let alice: ::ledger::AccountId = "alice".parse().expect("an account id");
    let mut version = books.statement(&alice).await.expect("alice").version;
    while version + 1 < ::ledger::ledger::SNAPSHOT_EVERY {
        version = books
            .deposit(&alice, "1".parse().expect("an amount"))
            .await
            .expect("a deposit")
            .version;
    }
    let (write, _) = ledger.units(&["deposit", "alice", "1"]);
    assert_eq!(write, ONE_EVENT.write + SNAPSHOT.write, "with a snapshot");
    assert!(
        ledger
            .balance("alice")
            .contains(&format!("version {}", ::ledger::ledger::SNAPSHOT_EVERY)),
        "the last deposit was not the 50th event"
    );
}

#[tokio::test]
async fn stress_builds_no_views_and_says_which_checks_it_runs() {
    let ledger = Ledger::new().await;
    let out = ledger.ok(&["stress", "--accounts", "2", "--tasks", "2", "--ops", "5"]);
    assert!(!out.contains("-views"), "views announced:\n{out}");
    assert!(
        out.contains("checks, read back from the table: the demo's but its refusals and views"),
        "{out}"
    );
    assert_eq!(out.matches("PASS").count(), 6, "{out}");
    assert_no_views_table(&ledger, "stress created a views table").await;
}

#[test]
fn demo_stress_and_soak_refuse_a_data_dir() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("a UTF-8 path");
    let commands: [&[&str]; 4] = [
        &[],
        &["demo"],
        &["stress", "--accounts", "2", "--tasks", "1", "--ops", "1"],
        &[
            "soak",
            "--minutes",
            "0.01",
            "--accounts",
            "2",
            "--tasks",
            "1",
        ],
    ];
    for command in commands {
        let stderr = one_line_error(run_on_file(&[&["--data-dir", data_dir], command].concat()));
        assert!(
            stderr.contains("--data-dir") && stderr.contains("fresh DynamoDB"),
            "{command:?}: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "nothing created"
    );
}

/// The binary with no AWS configuration at all: no AWS_* variables, a
/// home without `~/.aws`, no instance metadata.
fn without_aws_configuration(home: &std::path::Path) -> assert_cmd::Command {
    let mut command = cargo_bin_cmd!("ledger");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

#[test]
fn aws_without_credentials_or_region_fails_with_one_short_line() {
    let home = tempfile::tempdir().expect("a temporary directory");
    let started = std::time::Instant::now();
    let stderr = one_line_error(
        without_aws_configuration(home.path())
            .args(["--aws", "balance", "x"])
            .assert(),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "slow"
    );
    assert!(stderr.len() < 300, "{} characters: {stderr}", stderr.len());
    for part in [
        "error: no AWS region and no AWS credentials found",
        "AWS_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
    ] {
        assert!(stderr.contains(part), "{part:?} not in {stderr:?}");
    }
    // With a region, the credentials alone are missing.
    let stderr = one_line_error(
        without_aws_configuration(home.path())
            .args(["--aws", "--region", "eu-west-1", "balance", "x"])
            .assert(),
    );
    assert!(
        stderr.starts_with("error: no AWS credentials found") && !stderr.contains("region"),
        "{stderr}"
    );
}

#[tokio::test]
async fn open_warns_when_the_table_has_no_stream() {
    let ledger = Ledger::new().await;
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let table = dynago::Table::connect(
        dynamo
            .table_options(&ledger.table)
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await
    .expect("table options");
    table
        .create_table(dynago::TableDefinition::default())
        .await
        .expect("a table without a stream");
    let assert = ledger.run(&["open", "alice", "--owner", "Alice"]).success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for part in [
        "warning: ",
        &format!("`{}` has no stream", ledger.table),
        &format!(
            "aws dynamodb update-table --endpoint-url {} --table-name {} --stream-specification StreamEnabled=true,StreamViewType=NEW_IMAGE",
            ledger.url, ledger.table
        ),
    ] {
        assert!(stderr.contains(part), "{part:?} not in {stderr:?}");
    }
    // On a table `open` created, with its stream, it says nothing.
    let other = Ledger::new().await;
    other
        .run(&["open", "alice", "--owner", "Alice"])
        .success()
        .stderr("");
    other
        .run(&["open", "bob", "--owner", "Bob"])
        .success()
        .stderr("");
}

#[tokio::test]
async fn project_says_why_it_shows_no_lag_yet() {
    let ledger = Ledger::new().await;
    ledger.open(&[("alice", "0")]);
    // Enough events that the first progress line comes while the views
    // still catch up from the table, before any stream record was read.
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let books = ::ledger::Ledger::connect(
        dynamo.table_options(&ledger.table),
        ::ledger::store_options(),
    )
    .await
    .expect("a ledger");
    let alice: ::ledger::AccountId = "alice".parse().expect("an account id");
    for _ in 0..600 {
        books
            .deposit(&alice, "1".parse().expect("an amount"))
            .await
            .expect("a deposit");
    }
    let out = ledger.ok(&["project", "--until-idle"]);
    // Every progress line without a lag says why; the catch-up (about a
    // second here) prints some.
    let without_lag: Vec<&str> = out.lines().filter(|line| line.contains("lag -")).collect();
    assert!(!without_lag.is_empty(), "{out}");
    assert!(
        without_lag
            .iter()
            .all(|line| line.contains("; lag - (no stream record read yet); ")),
        "{out}"
    );
    assert!(out.contains("applied 601 events to the accounts"), "{out}");
}

#[test]
fn the_help_says_what_creates_the_tables_and_what_project_reads() {
    let help = cargo_bin_cmd!("ledger")
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8_lossy(&help);
    assert!(!help.contains("if it does not exist"), "{help}");
    assert!(
        help.contains("Only `open` and `demo` create it and its views table"),
        "{help}"
    );
    let help = cargo_bin_cmd!("ledger")
        .args(["project", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8_lossy(&help);
    assert!(help.contains("scans the whole events table"), "{help}");
}
