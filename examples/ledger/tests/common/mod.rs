//! What the ledger's test files share.
#![allow(dead_code)]

use dynago_projections::lambda::EventRecord;
use dynago_projections::EventStream;

/// The records the stream of the ledger table `table` holds, as Lambda
/// delivers them.
pub async fn stream_records(table: &str) -> Vec<EventRecord> {
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let options = dynamo
        .table_options(table)
        .partition_key(ledger::ledger::PARTITION_KEY)
        .sort_key(ledger::ledger::SORT_KEY);
    EventStream::connect(options)
        .await
        .expect("the stream")
        .lambda_records()
        .await
        .expect("its records")
}

/// Has a late worker park a deposit of `account` in the daily totals, as
/// one that started before the account's currency was known to it does:
/// `read_side` (which applied the account's `Opened` event) knows the
/// currency, the late worker does not, and the account's position in the
/// totals is where `read_side` left it. The deposit parked.
pub async fn park_a_deposit(
    ledger: &ledger::Ledger,
    read_side: &ledger::views::ReadSide,
    account: &ledger::AccountId,
    cents: i64,
) -> dynago_es::EventEnvelope<ledger::AccountEvent> {
    use futures::TryStreamExt;

    read_side.rebuild().await.expect("the views");
    let deposit = ledger
        .deposit(account, ledger::Money::from_cents(cents))
        .await
        .expect("a deposit");
    let late_worker =
        ledger::views::ReadSide::new(ledger, dynago_projections::ProjectorOptions::default())
            .expect("a read side");
    let mut events = std::pin::pin!(ledger
        .store()
        .events_between(account.to_string(), deposit.version..=deposit.version));
    let event = events
        .try_next()
        .await
        .expect("a read")
        .expect("the deposit");
    let (_, totals, _) = late_worker.projectors();
    assert_eq!(
        totals.apply(&event).await.expect("offered"),
        dynago_projections::Offer::Parked
    );
    event
}

/// An HTTP/1.1 answer: its status, headers (names in lower case) and body.
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends one request to the server at `address` (`127.0.0.1:port`) and
/// reads its answer: HTTP by hand, for what a browser would send.
pub async fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the explorer answers");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}
