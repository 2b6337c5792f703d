//! What the ledger's test files share.

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
