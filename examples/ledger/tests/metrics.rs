//! The ledger's metrics as Prometheus scrapes them: the exporter's own
//! output after a few commands and a run of the read side (printed, for
//! `docs/metrics.md`: `cargo test -p ledger --test metrics -- --nocapture`),
//! and `serve_prometheus` answering over HTTP.

use std::time::{Duration, Instant};

use dynago_projections::{EventStream, ProjectorOptions};
use ledger::views::{self, ReadSide};
use ledger::{Ledger, Transfer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A ledger on a fresh table of the shared server, with its views table.
async fn fresh_ledger() -> Ledger {
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let table = dynago_local::unique_table_name("ledger");
    let ledger = Ledger::connect(dynamo.table_options(table), ledger::store_options())
        .await
        .expect("a ledger");
    ledger.create_table_if_missing().await.expect("the table");
    views::create_table_if_missing(&ledger)
        .await
        .expect("the views table");
    ledger
}

/// Opens two accounts, deposits, transfers (one command on both), and has
/// one withdrawal refused: four commands applied (five events), one
/// rejected.
async fn a_few_commands(ledger: &Ledger) {
    let (alice, bob) = (
        "alice".parse().expect("an id"),
        "bob".parse().expect("an id"),
    );
    let eur = || "EUR".parse().expect("a currency");
    ledger.open(&alice, "Alice", eur()).await.expect("open");
    ledger.open(&bob, "Bob", eur()).await.expect("open");
    ledger
        .deposit(&alice, "100".parse().expect("an amount"))
        .await
        .expect("deposit");
    let transfer = Transfer {
        from: alice.clone(),
        to: bob,
        amount: "25.50".parse().expect("an amount"),
        currency: eur(),
    };
    ledger.transfer(&transfer).await.expect("transfer");
    let refused = ledger
        .withdraw(&alice, "500".parse().expect("an amount"))
        .await;
    assert!(
        refused.as_ref().is_err_and(|e| e.refusal().is_some()),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_scrape_counts_commands_requests_and_the_read_side() {
    let recorder = ledger::metrics::prometheus()
        .expect("the buckets")
        .build_recorder();
    let handle = recorder.handle();
    let _installed = metrics::set_default_local_recorder(&recorder);
    ledger::metrics::describe();

    let ledger = fresh_ledger().await;
    a_few_commands(&ledger).await;
    // The read side follows the stream until it caught up, then stops.
    let options = ProjectorOptions::default()
        .worker_id("w1")
        .idle_wait(Duration::from_millis(50));
    let read_side = ReadSide::new(&ledger, options).expect("a read side");
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let events = dynamo
        .table_options(ledger.table().name())
        .partition_key(ledger::ledger::PARTITION_KEY)
        .sort_key(ledger::ledger::SORT_KEY);
    let stream = EventStream::connect(events).await.expect("the stream");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Boxed: the read side's future is too deep for a test thread's stack.
    let run = Box::pin(read_side.run(&stream, stopped));
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !read_side.progress().caught_up() {
            assert!(Instant::now() < deadline, "the read side never caught up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let scrape = handle.render();
        let _ = stop.send(());
        scrape
    };
    let (ran, scrape) = tokio::join!(run, watch);
    ran.expect("the read side ran");
    println!("{scrape}");

    let table = ledger.table().name();
    for line in [
        "# TYPE dynago_commands_total counter",
        r#"dynago_commands_total{aggregate="account",outcome="applied"} 4"#,
        r#"dynago_commands_total{aggregate="account",outcome="rejected"} 1"#,
        "# TYPE dynago_command_duration_seconds histogram",
        r#"dynago_command_duration_seconds_count{aggregate="account"} 5"#,
        r#"dynago_load_events_bucket{aggregate="account",le="+Inf"}"#,
        &format!(r#"dynago_requests_total{{table="{table}",operation="TransactWriteItems"}} 1"#),
        &format!(
            r#"dynago_capacity_units_total{{table="{table}",operation="PutItem",kind="write"}} 3"#
        ),
        r#"dynago_projection_events_applied_total{projection="accounts"} 5"#,
        r#"dynago_projection_lease_changes_total{projection="accounts",change="taken"}"#,
        r#"dynago_projection_lag_seconds{projection="accounts",shard="#,
        r#"dynago_projection_records_behind{projection="accounts",shard="#,
    ] {
        assert!(scrape.contains(line), "no {line:?} in\n{scrape}");
    }
}

#[tokio::test]
async fn serve_prometheus_answers_with_the_scrape_over_http() {
    // A port free a moment ago.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    ledger::metrics::serve_prometheus(addr).expect("the exporter serves");
    let again = ledger::metrics::serve_prometheus(addr);
    assert!(again.is_err(), "a second recorder is refused");

    let ledger = fresh_ledger().await;
    a_few_commands(&ledger).await;

    let mut connection = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the exporter listens");
    connection
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("the request sent");
    let mut answer = String::new();
    connection
        .read_to_string(&mut answer)
        .await
        .expect("the answer read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for line in [
        "# HELP dynago_commands_total Commands executed",
        r#"dynago_commands_total{aggregate="account",outcome="applied"} 4"#,
        "# HELP dynago_requests_total Requests sent to DynamoDB",
    ] {
        assert!(answer.contains(line), "no {line:?} in\n{answer}");
    }
}
