//! The explorer in a real browser (Debian's headless Chromium through
//! chromedriver) on the ledger's tables on the tests' server: the pages a
//! person follows, what they say checked against what the store reads, an
//! action, hostile data, and long lists in pages. Screenshots land in
//! `target/explorer-screenshots` (or `$EXPLORER_SCREENSHOTS`).
//!
//! They need Debian's `chromium` and `chromium-driver`, and are run apart:
//! `cargo test -p ledger --test explorer -- --ignored` (CI does, on the
//! embedded DynamoDB).

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::Browser;
use dynago_es::Metadata;
use dynago_explorer::ExplorerOptions;
use dynago_projections::ProjectorOptions;
use fantoccini::{Client, Locator};
use ledger::views::ReadSide;
use ledger::{AccountEvent, AccountId, Currency, Ledger, Money};

/// The actions' token of the tests' explorers.
const TOKEN: &str = "explorer-test-token";

/// A ledger on a fresh table of the tests' server, with its views table.
async fn books(prefix: &str) -> Ledger {
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let table = dynago_local::unique_table_name(prefix);
    let ledger = Ledger::connect(dynamo.table_options(&table), ledger::store_options())
        .await
        .expect("a ledger");
    ledger.create_table_if_missing().await.expect("the table");
    read_side(&ledger)
        .create_table_if_missing()
        .await
        .expect("the views table");
    ledger
}

fn read_side(ledger: &Ledger) -> ReadSide {
    let options = ProjectorOptions::default().lease_duration(Duration::from_secs(2));
    ReadSide::new(ledger, options).expect("a read side")
}

fn euros() -> Currency {
    "EUR".parse().expect("a currency")
}

fn id(text: &str) -> AccountId {
    text.parse().expect("an account id")
}

/// Serves the explorer of `ledger` and `read_side` on a port of its own;
/// its address.
async fn serve(ledger: &Ledger, read_side: &ReadSide, options: ExplorerOptions) -> String {
    let explorer = ledger::explorer::explorer(ledger, read_side, options).expect("the explorer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, explorer.router()).await;
    });
    format!("http://{address}")
}

async fn text(client: &Client, css: &str) -> String {
    // Waits for it: a click's navigation ends after the click returns.
    let found = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await;
    let url = client.current_url().await.map(|u| u.to_string());
    found
        .unwrap_or_else(|e| panic!("no `{css}` on {url:?}: {e}"))
        .text()
        .await
        .expect("its text")
}

/// Does `act` (a click, an Enter) and waits until the browser has left the
/// page it was on: what is read next is read on the page it led to.
async fn navigating<F: std::future::Future<Output = ()>>(client: &Client, act: F) {
    let before = client.current_url().await.expect("the page's address");
    act.await;
    let started = std::time::Instant::now();
    loop {
        let now = client.current_url().await.expect("the page's address");
        if now != before {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still on {before} 10 s after a navigation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks what `locator` finds and waits for the page it leads to.
async fn follow(client: &Client, locator: Locator<'_>) {
    let element = client
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("nothing to follow: {e}"));
    navigating(client, async {
        element.click().await.expect("a click");
    })
    .await;
}

/// What the page says it cost: `{requests} requests, {units} read units`.
async fn requests(client: &Client) -> String {
    let footer = client
        .find(Locator::Id("cost"))
        .await
        .expect("the cost footer");
    let figure = |name: &'static str| {
        let footer = footer.clone();
        async move {
            footer
                .attr(name)
                .await
                .expect("an attribute")
                .expect("a figure")
        }
    };
    format!(
        "{} requests, {} read units",
        figure("data-requests").await,
        figure("data-read-units").await
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "in a real browser: cargo test -p ledger --test explorer -- --ignored"]
async fn an_account_s_state_at_a_version_is_the_replay_to_that_version() {
    let ledger = books("explore-state").await;
    ledger::explorer::seed(&ledger, 6, &euros())
        .await
        .expect("the seed");
    let read_side = read_side(&ledger);
    read_side
        .rebuild()
        .await
        .expect("the views and the catalog");
    let base = serve(&ledger, &read_side, ExplorerOptions::default()).await;
    let browser = Browser::start().await;
    let client = &browser.client;

    client
        .goto(&format!("{base}/"))
        .await
        .expect("the overview");
    assert_eq!(text(client, "[data-figure=aggregates]").await, "6");
    let events: u64 = text(client, "[data-figure=events]")
        .await
        .parse()
        .expect("a count");
    assert_eq!(
        events,
        6 * 5 + 5 * 2,
        "5 events per account, 2 per transfer"
    );
    browser.screenshot("overview").await;
    println!("overview: {}", requests(client).await);

    // Follow the type, then the account, with clicks.
    follow(client, Locator::LinkText("The newest account aggregates")).await;
    follow(client, Locator::LinkText("acc-003")).await;
    println!("aggregate page: {}", requests(client).await);
    // Version 7 by the form, from the keyboard.
    let field = client
        .find(Locator::Id("at"))
        .await
        .expect("the version field");
    field.clear().await.expect("cleared");
    navigating(client, async {
        field.send_keys("7\u{E007}").await.expect("7, Enter");
    })
    .await;
    let shown = text(client, "pre[data-state-version='7']").await;
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("the state as JSON");
    let replayed = ledger
        .store()
        .replay_at("acc-003", 7)
        .await
        .expect("the replay to version 7");
    assert_eq!(replayed.version, 7);
    assert_eq!(
        shown,
        serde_json::to_value(&replayed.state).expect("the state as JSON"),
        "the page's state at version 7 against the replay"
    );
    let balance = shown["Open"]["balance"].as_i64().expect("a balance");
    let holder = replayed.state.holder().expect("an open account");
    assert_eq!(Money::from_cents(balance), holder.balance);
    // The event that made version 7 says what it changed.
    let changes = text(client, "li#v7 details.changes").await;
    assert!(changes.contains("/Open/balance"), "{changes}");
    browser.screenshot("account").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "in a real browser: cargo test -p ledger --test explorer -- --ignored"]
async fn a_parked_event_is_replayed_from_the_page_and_its_view_catches_up() {
    let ledger = books("explore-parked").await;
    let account = id("parked-1");
    ledger.open(&account, "Ada", euros()).await.expect("opened");
    let read_side = read_side(&ledger);
    let event = common::park_a_deposit(&ledger, &read_side, &account, 4200).await;

    let base = serve(
        &ledger,
        &read_side,
        ExplorerOptions::default().actions(TOKEN),
    )
    .await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{base}/projections"))
        .await
        .expect("projections");
    let parked = text(client, "#projection-daily-totals tr.parked-event").await;
    assert!(
        parked.contains("parked-1") && parked.contains("currency"),
        "{parked}"
    );
    // Not logged in: the page offers the log-in, not the action.
    client
        .find(Locator::Css("#projection-daily-totals a[href='login']"))
        .await
        .expect("a way to log in");
    client
        .goto(&format!("{base}/login"))
        .await
        .expect("log-in page");
    let field = client
        .find(Locator::Id("token"))
        .await
        .expect("the token field");
    navigating(client, async {
        field
            .send_keys(&format!("{TOKEN}\u{E007}"))
            .await
            .expect("the token, Enter");
    })
    .await;
    client
        .execute(
            "document.getElementById('projection-daily-totals').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scrolled");
    browser.screenshot("parked").await;
    follow(
        client,
        Locator::Css("#projection-daily-totals button.replay"),
    )
    .await;
    let flash = text(client, "p.flash").await;
    assert!(
        flash.contains("Replayed parked-1 in daily-totals: applied"),
        "{flash}"
    );
    assert_eq!(
        text(client, "#projection-daily-totals [data-figure=parked]").await,
        "0"
    );
    // The day's totals now hold the deposit.
    let day = ledger::views::day_key(event.timestamp, &euros());
    client
        .goto(&format!(
            "{base}/projections/daily-totals/views?key={}",
            day.replace('#', "%23")
        ))
        .await
        .expect("the view");
    let view: serde_json::Value =
        serde_json::from_str(&text(client, "section.view pre.json").await).expect("JSON");
    assert_eq!(view["deposited"], serde_json::json!(4200), "{view}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "in a real browser: cargo test -p ledger --test explorer -- --ignored"]
async fn values_from_the_table_are_shown_as_text_and_never_run() {
    let ledger = books("explore-xss").await;
    let hostile = [
        (
            "xss-1",
            "<script>document.title='pwned';window.__xss=1</script>",
        ),
        ("xss-2", "\"><img src=x onerror=\"window.__xss=2\">"),
    ];
    for (account, owner) in hostile {
        ledger
            .open(&id(account), owner, euros())
            .await
            .expect("opened");
    }
    let read_side = read_side(&ledger);
    read_side.rebuild().await.expect("the catalog");
    let base = serve(&ledger, &read_side, ExplorerOptions::default()).await;
    let browser = Browser::start().await;
    let client = &browser.client;
    for (account, owner) in hostile {
        for page in [
            format!("{base}/aggregates/account/{account}"),
            format!("{base}/projections/accounts/views?key={account}"),
            format!("{base}/search?q={account}"),
            format!("{base}/types/account"),
        ] {
            client.goto(&page).await.expect("the page");
            let ran = client
                .execute(
                    "return [document.title, window.__xss === undefined];",
                    vec![],
                )
                .await
                .expect("a script of the test's");
            let title = ran[0].as_str().unwrap_or_default().to_owned();
            assert!(
                title.contains("dynago explorer") && ran[1] == serde_json::json!(true),
                "{page}: the payload ran: {ran:?}"
            );
            if !page.contains("/search") && !page.contains("/types/") {
                // As the JSON of the payload or view says it.
                let body = text(client, "main").await;
                let quoted = serde_json::to_string(owner).expect("JSON");
                assert!(body.contains(&quoted), "{page}: the owner as text: {body}");
            }
        }
    }
    client
        .goto(&format!("{base}/aggregates/account/xss-1"))
        .await
        .expect("the page");
    browser.screenshot("hostile-data").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "in a real browser: cargo test -p ledger --test explorer -- --ignored"]
async fn ten_thousand_aggregates_and_ten_thousand_events_load_in_pages() {
    const MANY: u32 = 10_000;
    let ledger = books("explore-many").await;
    let store = ledger.store();
    // Many accounts, written a hundred at a time.
    let ids: Vec<AccountId> = (0..MANY).map(|n| id(&format!("many-{n:05}"))).collect();
    for chunk in ids.chunks(100) {
        let opened = chunk
            .iter()
            .map(|account| ledger.open(account, "Many", euros()));
        for result in futures::future::join_all(opened).await {
            result.expect("opened");
        }
    }
    // One account with many events, 99 per append (a transaction of 100 actions, one of them the check of the stream).
    let long = id("long-lived");
    ledger.open(&long, "Long", euros()).await.expect("opened");
    let mut version = 1;
    while version < u64::from(MANY) {
        let count = (u64::from(MANY) - version).min(99);
        let deposits = (0..count)
            .map(|_| AccountEvent::Deposited {
                amount: Money::from_cents(1),
            })
            .collect();
        store
            .append(long.clone(), version, deposits, Metadata::default())
            .await
            .expect("appended");
        version += count;
    }
    let read_side = read_side(&ledger);
    let (_, _, catalog) = read_side.projectors();
    catalog.rebuild().await.expect("the catalog");
    let base = serve(&ledger, &read_side, ExplorerOptions::default()).await;
    let browser = Browser::start().await;
    let client = &browser.client;

    client
        .goto(&format!("{base}/types/account"))
        .await
        .expect("the type page");
    let pager = text(client, "nav.pager span").await;
    assert_eq!(pager, "Page 1 of 201 (10001 aggregates)");
    let rows = client
        .find_all(Locator::Css("table.aggregates tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 50);
    println!("type page of 10,001 aggregates: {}", requests(client).await);
    follow(client, Locator::Css("a[rel=next]")).await;
    assert_eq!(
        text(client, "nav.pager span").await,
        "Page 2 of 201 (10001 aggregates)"
    );

    client
        .goto(&format!("{base}/aggregates/account/long-lived"))
        .await
        .expect("the long account");
    assert_eq!(
        text(client, "nav.pager span").await,
        format!("Versions 9951–10000 of {MANY}")
    );
    let events = client
        .find_all(Locator::Css("li.event"))
        .await
        .expect("events");
    assert_eq!(events.len(), 50);
    println!(
        "aggregate page at 10,000 events: {}",
        requests(client).await
    );
    follow(client, Locator::LinkText("⇤ First")).await;
    assert_eq!(
        text(client, "nav.pager span").await,
        format!("Versions 1–50 of {MANY}")
    );
    follow(client, Locator::Css("a[rel=next]")).await;
    assert_eq!(
        text(client, "nav.pager span").await,
        format!("Versions 51–100 of {MANY}")
    );
    let state: serde_json::Value =
        serde_json::from_str(&text(client, "section.state pre.json").await).expect("JSON");
    let replayed = store
        .replay_at("long-lived", 100)
        .await
        .expect("the replay");
    assert_eq!(state, serde_json::to_value(&replayed.state).expect("JSON"));
    browser.screenshot("long-timeline").await;
    browser.close().await;
}
