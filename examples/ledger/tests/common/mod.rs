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
