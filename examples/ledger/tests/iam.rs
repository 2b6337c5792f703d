//! The IAM policies of deploy/iam, held against the calls the ledger
//! really makes: each role's commands run through a proxy that lists the
//! permission every request asks for (`FaultProxy::permissions`), and each
//! must be allowed by the role's policy. A command that starts calling an
//! action its policy does not list fails here before it fails on AWS.
//! docs/aws.md shows the same files.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::cargo_bin_cmd;
use common::stream_records;
use dynago_local::testing::http::send;
use dynago_local::testing::lambda::{Answer, RuntimeApi};
use dynago_local::{FaultPlan, FaultProxy, Permission};
use dynago_projections::lambda::StreamEvent;

/// The region and account the policies are read for.
const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One role's policy, its placeholders filled in for `table`.
struct Policy {
    file: &'static str,
    statements: Vec<Statement>,
}

struct Statement {
    actions: Vec<String>,
    resources: Vec<String>,
}

impl Policy {
    fn read(file: &'static str, table: &str) -> Self {
        let path = workspace().join("deploy/iam").join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let text = text
            .replace("${partition}", "aws")
            .replace("${region}", REGION)
            .replace("${account}", ACCOUNT)
            .replace("${table}", table);
        let document: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|error| panic!("{file}: {error}"));
        let list = |value: &serde_json::Value| -> Vec<String> {
            match value {
                serde_json::Value::String(one) => vec![one.clone()],
                serde_json::Value::Array(many) => many
                    .iter()
                    .map(|one| one.as_str().expect("a string").to_owned())
                    .collect(),
                other => panic!("{file}: not a string or a list: {other}"),
            }
        };
        let statements = document["Statement"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: no Statement list"))
            .iter()
            .map(|statement| {
                assert_eq!(statement["Effect"], "Allow", "{file}: {statement}");
                Statement {
                    actions: list(&statement["Action"]),
                    resources: list(&statement["Resource"]),
                }
            })
            .collect();
        Policy { file, statements }
    }

    fn allows(&self, permission: &Permission) -> bool {
        let arn = permission.resource.arn(REGION, ACCOUNT);
        self.statements.iter().any(|statement| {
            statement
                .actions
                .iter()
                .any(|action| matches(&action.to_lowercase(), &permission.action.to_lowercase()))
                && statement
                    .resources
                    .iter()
                    .any(|resource| matches(resource, &arn))
        })
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
fn matches(pattern: &str, text: &str) -> bool {
    fn go(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(&pattern[1..], text) || (!text.is_empty() && go(pattern, &text[1..]))
            }
            (Some(b'?'), Some(_)) => go(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) if p == t => go(&pattern[1..], &text[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Fails naming every permission asked for that none of `policies` allows.
fn assert_allowed(role: &str, asked: &BTreeSet<Permission>, policies: &[&Policy]) {
    assert!(
        !asked.is_empty(),
        "{role}: no request went through the proxy"
    );
    let listed: Vec<String> = asked.iter().map(ToString::to_string).collect();
    eprintln!("{role} asked for: {}", listed.join(", "));
    let refused: Vec<String> = asked
        .iter()
        .filter(|permission| !policies.iter().any(|policy| policy.allows(permission)))
        .map(|permission| {
            format!(
                "{} on {}",
                permission.action,
                permission.resource.arn(REGION, ACCOUNT)
            )
        })
        .collect();
    let files: Vec<String> = policies
        .iter()
        .map(|policy| format!("deploy/iam/{}", policy.file))
        .collect();
    assert!(
        refused.is_empty(),
        "{role}: {} refuse(s) what the code asks for:\n  {}",
        files.join(" + "),
        refused.join("\n  ")
    );
}

/// The `ledger` binary on a table of its own, through the proxy.
struct Ledger {
    proxy: FaultProxy,
    table: String,
}

impl Ledger {
    async fn new() -> Self {
        let dynamo = dynago_local::shared().await.expect("the shared server");
        let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
            .await
            .expect("a proxy");
        Ledger {
            proxy,
            table: dynago_local::unique_table_name("iam"),
        }
    }

    fn run(&self, args: &[&str]) {
        cargo_bin_cmd!("ledger")
            .args(["--endpoint", &self.proxy.url(), "--table", &self.table])
            .args(args)
            .assert()
            .success();
    }
}

#[tokio::test]
async fn the_ledgers_calls_are_allowed_by_the_policy_of_their_role() {
    let ledger = Ledger::new().await;
    let table = ledger.table.as_str();
    let (app, setup, worker) = (
        Policy::read("ledger-app.json", table),
        Policy::read("ledger-setup.json", table),
        Policy::read("ledger-worker.json", table),
    );

    // The first `open` creates both tables: what deploy/iam/ledger-setup.json
    // adds to the application's policy.
    ledger.run(&["open", "ada", "--owner", "Ada"]);
    assert_allowed(
        "ledger open on no table",
        &ledger.proxy.take_permissions(),
        &[&app, &setup],
    );

    // Everything an application does on tables made by the templates.
    for args in [
        &["open", "bob", "--owner", "Bob"][..],
        &["deposit", "ada", "100"],
        &["withdraw", "ada", "7.50"],
        &["transfer", "ada", "bob", "20"],
        &["balance", "ada"],
        &["history", "ada"],
    ] {
        ledger.run(args);
    }
    assert_allowed("the application", &ledger.proxy.take_permissions(), &[&app]);

    // A projection worker, then a rebuild (no worker running).
    ledger.run(&["project", "--until-idle"]);
    ledger.run(&["rebuild"]);
    assert_allowed(
        "a projection worker",
        &ledger.proxy.take_permissions(),
        &[&worker],
    );

    // Reading the views the worker built.
    ledger.run(&["accounts"]);
    ledger.run(&["report"]);
    assert_allowed(
        "the application's reads",
        &ledger.proxy.take_permissions(),
        &[&app],
    );
}

#[tokio::test]
async fn the_lambda_functions_calls_are_allowed_by_its_policy() {
    let ledger = Ledger::new().await;
    let table = ledger.table.as_str();
    let lambda = Policy::read("ledger-lambda.json", table);
    for args in [
        &["open", "ada", "--owner", "Ada"][..],
        &["open", "bob", "--owner", "Bob"],
        &["deposit", "ada", "100"],
        &["transfer", "ada", "bob", "20"],
        &["deposit", "bob", "5"],
    ] {
        ledger.run(args);
    }
    let _commands = ledger.proxy.take_permissions();

    // Batches as Lambda hands them, but with gaps first and then out of
    // order, so that the function also reads events from the table.
    let records = stream_records(table).await;
    assert!(records.len() >= 5, "{} records", records.len());
    let mut reversed = records.clone();
    reversed.reverse();
    let sparse: Vec<_> = records.iter().skip(1).step_by(2).cloned().collect();
    run_function(&ledger, vec![sparse, reversed, records]).await;
    assert_allowed(
        "the Lambda function",
        &ledger.proxy.take_permissions(),
        &[&lambda],
    );

    // A new container (Lambda starts them at any time) that meets an
    // account's later events first: it learns the account from its first
    // event and lets the events it parked meanwhile through.
    ledger.run(&["deposit", "ada", "5"]);
    ledger.run(&["deposit", "bob", "1"]);
    let _commands = ledger.proxy.take_permissions();
    let records = stream_records(table).await;
    let later = records[records.len() - 2..].to_vec();
    run_function(&ledger, vec![later.clone(), later]).await;
    assert_allowed(
        "a new container of the Lambda function",
        &ledger.proxy.take_permissions(),
        &[&lambda],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorers_calls_are_allowed_by_its_policies() {
    let ledger = Ledger::new().await;
    let table = ledger.table.as_str();
    let (read_only, replay) = (
        Policy::read("ledger-explorer.json", table),
        Policy::read("ledger-explorer-replay.json", table),
    );
    for args in [
        &["open", "ada", "--owner", "Ada"][..],
        &["open", "bob", "--owner", "Bob"],
        &["deposit", "ada", "10"],
        &["transfer", "ada", "bob", "0.01"],
        &["rebuild"],
    ] {
        ledger.run(args);
    }
    // The explorer in this process, through the proxy; a deposit parked by
    // a late worker, for the replay.
    let books = ledger::Ledger::connect(ledger.proxy.table_options(table), ledger::store_options())
        .await
        .expect("the ledger");
    let read_side = ledger::views::ReadSide::new(&books, Default::default()).expect("a read side");
    let ada: ledger::AccountId = "ada".parse().expect("an id");
    let parked = common::park_a_deposit(&books, &read_side, &ada, 100).await;
    let token = "iam-test-token-0123456789";
    let explorer = ledger::explorer::explorer(
        &books,
        &read_side,
        dynago_explorer::ExplorerOptions::default().actions(token),
    )
    .expect("the explorer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, explorer.router()).await;
    });
    let _set_up = ledger.proxy.take_permissions();

    let commit = parked_commit(&books, &parked).await;
    for page in [
        "/".to_owned(),
        "/types/account".to_owned(),
        "/aggregates/account/ada".to_owned(),
        "/aggregates/account/ada?at=1".to_owned(),
        "/search?q=ada".to_owned(),
        format!("/search?q={commit}&scan=commit"),
        "/projections".to_owned(),
        "/projections/accounts/live".to_owned(),
        "/projections/accounts/views".to_owned(),
        "/projections/accounts/views?key=ada".to_owned(),
        "/projections/daily-totals/views".to_owned(),
    ] {
        let answer = send(&address, "GET", &page, &[], "").await;
        assert_eq!(answer.status, 200, "{page}: {}", answer.body);
    }
    assert_allowed(
        "the read-only explorer",
        &ledger.proxy.take_permissions(),
        &[&read_only],
    );

    let login = send(
        &address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={token}"),
    )
    .await;
    let cookie = login
        .header("set-cookie")
        .and_then(|cookie| cookie.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let page = send(&address, "GET", "/projections", &[("Cookie", &cookie)], "").await;
    let form_token = page
        .body
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a replay form with its token")
        .to_owned();
    let _reads = ledger.proxy.take_permissions();
    let replayed = send(
        &address,
        "POST",
        "/projections/daily-totals/replay",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("aggregate_id=ada&form_token={form_token}"),
    )
    .await;
    assert_eq!(replayed.status, 303, "{}", replayed.body);
    assert!(
        replayed
            .header("location")
            .is_some_and(|l| l.contains("applied")),
        "{:?}",
        replayed.headers
    );
    assert_allowed(
        "the explorer's replay",
        &ledger.proxy.take_permissions(),
        &[&read_only, &replay],
    );
}

/// The commit id of `event`, as its item holds it.
async fn parked_commit(
    books: &ledger::Ledger,
    event: &dynago_es::EventEnvelope<ledger::AccountEvent>,
) -> uuid::Uuid {
    let stored = books
        .store()
        .inspector()
        .events(
            "account",
            &event.aggregate_id,
            event.version..=event.version,
        )
        .await
        .expect("the event as stored");
    stored[0].commit_id
}

/// The function's binary, a container of its own, handed `batches` in
/// turn; each must succeed whole.
async fn run_function(ledger: &Ledger, batches: Vec<Vec<dynago_projections::lambda::EventRecord>>) {
    let api = RuntimeApi::start().await;
    let mut function = Command::new(env!("CARGO_BIN_EXE_ledger-lambda"))
        .envs(api.environment("ledger-lambda"))
        .env("LEDGER_TABLE", &ledger.table)
        .env("DYNAMODB_ENDPOINT", ledger.proxy.url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the function starts");
    for batch in batches {
        let mut event = StreamEvent::default();
        event.records = batch;
        let answer = api
            .invoke(serde_json::to_value(event).expect("a batch"))
            .await;
        assert!(
            matches!(&answer, Answer::Response(body) if body["batchItemFailures"].as_array().is_some_and(Vec::is_empty)),
            "the function answered {answer:?}"
        );
    }
    let _ = function.kill();
    let _ = function.wait();
}

#[tokio::test]
async fn the_demo_is_allowed_by_the_application_worker_and_setup_policies() {
    let ledger = Ledger::new().await;
    let table = ledger.table.as_str();
    ledger.run(&["demo"]);
    assert_allowed(
        "ledger demo",
        &ledger.proxy.take_permissions(),
        &[
            &Policy::read("ledger-app.json", table),
            &Policy::read("ledger-setup.json", table),
            &Policy::read("ledger-worker.json", table),
        ],
    );
}

#[tokio::test]
async fn stress_and_soak_are_allowed_by_the_application_and_setup_policies() {
    let ledger = Ledger::new().await;
    let table = ledger.table.as_str();
    let policies = [
        &Policy::read("ledger-app.json", table),
        &Policy::read("ledger-setup.json", table),
    ];
    ledger.run(&["stress", "--accounts", "3", "--tasks", "2", "--ops", "10"]);
    assert_allowed("ledger stress", &ledger.proxy.take_permissions(), &policies);
    ledger.run(&[
        "soak",
        "--minutes",
        "0.03",
        "--interval",
        "1",
        "--accounts",
        "3",
    ]);
    assert_allowed("ledger soak", &ledger.proxy.take_permissions(), &policies);
}

#[test]
fn the_wildcards_match_as_iam_matches_them() {
    assert!(matches(
        "arn:aws:dynamodb:r:a:table/t/stream/*",
        "arn:aws:dynamodb:r:a:table/t/stream/2026-01-01T00:00:00.000"
    ));
    assert!(!matches(
        "arn:aws:dynamodb:r:a:table/t",
        "arn:aws:dynamodb:r:a:table/t-views"
    ));
    assert!(matches("dynamodb:get*", "dynamodb:getitem"));
    assert!(matches("*", "anything"));
    assert!(!matches("dynamodb:?etItem", "dynamodb:PutItems"));
}

#[test]
fn docs_aws_shows_each_policy_as_it_is_in_deploy_iam() {
    let guide = std::fs::read_to_string(workspace().join("docs/aws.md")).expect("docs/aws.md");
    let files = std::fs::read_dir(workspace().join("deploy/iam")).expect("deploy/iam");
    let mut shown = 0;
    for file in files {
        let path = file.expect("an entry").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let policy = std::fs::read_to_string(&path).expect("the policy");
        let block = format!("<!-- deploy/iam/{name} -->\n```json\n{policy}```");
        assert!(
            guide.contains(&block),
            "docs/aws.md does not show deploy/iam/{name} as it is, after a line `<!-- deploy/iam/{name} -->`"
        );
        shown += 1;
    }
    assert!(shown >= 4, "{shown} policies in deploy/iam");
}
