//! The ledger's Lambda function, the real binary, end to end through the
//! Lambda Runtime API: a loopback server hands it batches built from the
//! records of the real server's stream and collects its answers. The
//! views it builds equal the replay of the events, and those the stream
//! reader builds for the same commands.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::stream_records;
use dynago_local::testing::lambda::{Answer, RuntimeApi};
use dynago_projections::lambda::{EventRecord, StreamEvent};
use dynago_projections::{EventStream, ProjectorOptions};
use ledger::views::{self, ReadSide};
use ledger::{AccountId, Currency, Ledger, Money, Transfer};

/// A ledger on a table of its own, with its views table.
async fn new_ledger(prefix: &str) -> (Ledger, ReadSide, String) {
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let table = dynago_local::unique_table_name(prefix);
    let ledger = Ledger::connect(dynamo.table_options(&table), ledger::store_options())
        .await
        .expect("a ledger");
    ledger.create_table_if_missing().await.expect("the table");
    let read_side = ReadSide::new(&ledger, ProjectorOptions::default()).expect("a read side");
    read_side
        .create_table_if_missing()
        .await
        .expect("the views table");
    (ledger, read_side, table)
}

fn id(text: &str) -> AccountId {
    text.parse().expect("an account id")
}

fn money(text: &str) -> Money {
    text.parse().expect("an amount")
}

fn eur() -> Currency {
    "EUR".parse().expect("a currency")
}

/// The same commands on any ledger: three accounts, deposits, a transfer
/// and a refused withdrawal.
async fn commands(ledger: &Ledger) {
    for (account, owner) in [("ada", "Ada"), ("bob", "Bob"), ("cy", "Cy")] {
        ledger
            .open(&id(account), owner, eur())
            .await
            .expect("opened");
    }
    for (account, amount) in [("ada", "100"), ("bob", "20.50"), ("ada", "3"), ("cy", "7")] {
        ledger
            .deposit(&id(account), money(amount))
            .await
            .expect("deposited");
    }
    let transfer = Transfer {
        from: id("ada"),
        to: id("bob"),
        amount: money("40"),
        currency: eur(),
    };
    ledger.transfer(&transfer).await.expect("transferred");
    assert!(ledger.withdraw(&id("cy"), money("1000")).await.is_err());
}

fn batch(records: &[EventRecord]) -> serde_json::Value {
    let mut event = StreamEvent::default();
    event.records = records.to_vec();
    serde_json::to_value(event).expect("a batch serializes")
}

/// The function's binary, started against `api` and the ledger `table`.
struct Function(Child);

impl Function {
    async fn start(api: &RuntimeApi, table: &str) -> Self {
        let dynamo = dynago_local::shared().await.expect("the shared server");
        let child = Command::new(env!("CARGO_BIN_EXE_ledger-lambda"))
            .envs(api.environment("ledger-lambda"))
            .env("LEDGER_TABLE", table)
            .env("DYNAMODB_ENDPOINT", dynamo.url())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the function starts");
        Function(child)
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sequence numbers the answer asks Lambda to send again.
fn failures(answer: &Answer) -> Vec<String> {
    match answer {
        Answer::Response(body) => body["batchItemFailures"]
            .as_array()
            .unwrap_or_else(|| panic!("no batchItemFailures in {body}"))
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
            .collect(),
        Answer::Error(error) => panic!("the function failed: {error}"),
    }
}

async fn differences(ledger: &Ledger, read_side: &ReadSide) -> Vec<String> {
    views::replay(ledger.store())
        .await
        .expect("the replay")
        .differences(read_side)
        .await
        .expect("the views")
}

/// Every view, without when it was written or its events happened (two
/// ledgers run the same commands at different times): accounts and
/// totals.
async fn all_views(read_side: &ReadSide) -> (Vec<String>, Vec<String>) {
    let accounts = read_side
        .accounts()
        .list(None, 100)
        .await
        .expect("accounts");
    let totals = read_side.totals().list(None, 100).await.expect("totals");
    (
        accounts
            .views
            .iter()
            .map(|v| {
                let a = &v.view;
                format!(
                    "{} {} {:?} {:?} {:?} v{}",
                    v.key, a.owner, a.currency, a.balance, a.status, v.version
                )
            })
            .collect(),
        totals
            .views
            .iter()
            .map(|v| format!("{} {:?} v{}", v.key, v.view, v.version))
            .collect(),
    )
}

#[tokio::test]
async fn the_function_keeps_the_views_whatever_the_batches() {
    let (ledger, read_side, table) = new_ledger("lambda").await;
    commands(&ledger).await;
    let records = stream_records(&table).await;
    assert!(records.len() >= 8, "{} records", records.len());
    let api = RuntimeApi::start().await;
    let _function = Function::start(&api, &table).await;

    // Several aggregates out of order, the later half first: each account's
    // events it misses are read from the table.
    let half = records.len() / 2;
    let mut late = records[half..].to_vec();
    late.reverse();
    assert_eq!(
        failures(&api.invoke(batch(&late)).await),
        Vec::<String>::new()
    );
    // A batch that skips records (a gap), then everything.
    let sparse: Vec<EventRecord> = records.iter().step_by(3).cloned().collect();
    assert!(failures(&api.invoke(batch(&sparse)).await).is_empty());
    assert!(failures(&api.invoke(batch(&records)).await).is_empty());
    assert_eq!(differences(&ledger, &read_side).await, Vec::<String>::new());

    // The same batch again changes nothing.
    let before = all_views(&read_side).await;
    assert!(failures(&api.invoke(batch(&records)).await).is_empty());
    assert_eq!(all_views(&read_side).await, before, "a batch sent again");

    // The stream reader, on the same commands in another ledger, builds
    // the same views.
    let (other, other_side, other_table) = new_ledger("lambda-reader").await;
    commands(&other).await;
    let events = dynago_local::shared()
        .await
        .expect("the shared server")
        .table_options(&other_table)
        .partition_key(other.table().partition_key())
        .sort_key(other.table().sort_key().unwrap_or("sk"));
    let stream = EventStream::connect(events).await.expect("the stream");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn({
        let other_side = other_side.clone();
        async move { other_side.run(&stream, stopped).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !differences(&other, &other_side).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reader never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    reader.await.expect("joined").expect("the reader");
    assert_eq!(all_views(&other_side).await, all_views(&read_side).await);
}

#[tokio::test]
async fn a_record_that_is_not_an_event_is_named_in_the_answer() {
    let (ledger, read_side, table) = new_ledger("lambda-poison").await;
    commands(&ledger).await;
    // An item keyed as event 9 of `cy` whose payload is no event: a corrupt
    // record, which no retry can apply.
    let mut corrupt = dynago::Item::new();
    corrupt.insert("pk".into(), dynago::string_value("account#cy"));
    corrupt.insert("sk".into(), dynago::string_value(format!("e#{:020}", 9)));
    corrupt.insert("payload".into(), dynago::string_value("not an event"));
    dynago_local::testing::raw_put(ledger.table(), corrupt).await;
    let records = stream_records(&table).await;
    let poison = records
        .iter()
        .find(|r| {
            r.change.keys.clone().into_inner().get("sk")
                == Some(&serde_dynamo::AttributeValue::S(format!("e#{:020}", 9)))
        })
        .and_then(|r| r.change.sequence_number.clone())
        .expect("the corrupt record is in the stream");
    let api = RuntimeApi::start().await;
    let _function = Function::start(&api, &table).await;
    assert_eq!(failures(&api.invoke(batch(&records)).await), vec![poison]);
    // Everything else was applied: without the corrupt item, the views are
    // what the events replay to.
    dynago_local::testing::raw_delete(
        ledger.table(),
        &dynago::Key::new(dynago::string_value("account#cy"))
            .sort(dynago::string_value(format!("e#{:020}", 9))),
    )
    .await;
    assert_eq!(differences(&ledger, &read_side).await, Vec::<String>::new());
}

/// The function under cargo-lambda's own emulator of the Lambda Runtime
/// API (`cargo lambda watch`, then `cargo lambda invoke`), as a user tries
/// it before deploying, fed a batch built from the server's stream. It
/// needs cargo-lambda (`pip install cargo-lambda`), so `cargo test` leaves
/// it out; CI runs it as a step of its own:
/// `cargo test -p ledger --test lambda -- --ignored under_cargo_lambda`.
#[tokio::test]
#[ignore = "needs cargo-lambda; run with --ignored"]
async fn the_function_keeps_the_views_under_cargo_lambda() {
    let (ledger, read_side, table) = new_ledger("cargo-lambda").await;
    commands(&ledger).await;
    let records = stream_records(&table).await;
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let watch = Command::new("cargo")
        .current_dir(workspace)
        .args(["lambda", "watch", "--quiet", "--ignore-changes"])
        .args(["--package", "ledger", "--bin", "ledger-lambda"])
        .args(["--invoke-address", "127.0.0.1", "--invoke-port", &port])
        .arg("--env-var")
        .arg(format!(
            "LEDGER_TABLE={table},DYNAMODB_ENDPOINT={},RUST_LOG=warn",
            dynamo.url()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts (pip install cargo-lambda)");
    let _watch = Group(watch);
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), batch(&records).to_string()).expect("the batch written");

    // The emulator builds the function at its first invocation.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let answer = loop {
        let output = Command::new("cargo")
            .current_dir(workspace)
            .args(["lambda", "invoke", "ledger-lambda"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port", &port])
            .arg("--data-file")
            .arg(file.path())
            .output()
            .expect("cargo lambda invoke runs");
        if output.status.success() {
            break String::from_utf8_lossy(&output.stdout).into_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cargo lambda invoke: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let answer: serde_json::Value = serde_json::from_str(&answer)
        .unwrap_or_else(|error| panic!("the function's answer {answer:?}: {error}"));
    assert_eq!(failures(&Answer::Response(answer)), Vec::<String>::new());
    assert_eq!(differences(&ledger, &read_side).await, Vec::<String>::new());
}

/// A child process and the processes it starts, ended together.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}
