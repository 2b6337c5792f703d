//! What the test suites of crates built on `dynago` share (feature
//! `testing`): a fresh table per test on the shared server, a table behind a
//! fault proxy, raw reads and writes past every check of the code under
//! test, and the metrics it records ([`metrics`]).
//!
//! These helpers panic when the server fails them, as test helpers do: the
//! panic message names what failed.
//!
//! ```no_run
//! # async fn run() {
//! use dynago::TableDefinition;
//! use dynago_local::testing;
//!
//! let table = testing::fresh_table("orders", |o| o.partition_key("pk").sort_key("sk"), TableDefinition::default()).await;
//! let items = testing::raw_scan(&table).await;
//! assert!(items.is_empty());
//! # }
//! ```

use std::time::Duration;

use dynago::sdk::config::http::HttpResponse;
use dynago::sdk::error::SdkError;
use dynago::sdk::operation::put_item::PutItemError;
use dynago::{Item, Key, Table, TableDefinition, TableOptions};

use crate::{shared, unique_table_name, FaultPlan, FaultProxy};

pub mod http;
pub mod lambda;
pub mod metrics;

/// Sends the `tracing` output of the test to the test's own output, once
/// per test binary, filtered by `RUST_LOG`.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A new table on the shared server, named from `prefix` (and unique), with
/// the keys `keys` gives its options, created with `definition`.
///
/// # Panics
///
/// When the server cannot be started or refuses the table.
pub async fn fresh_table(
    prefix: &str,
    keys: impl FnOnce(TableOptions) -> TableOptions,
    definition: TableDefinition,
) -> Table {
    init_tracing();
    let dynamo = shared().await.expect("a DynamoDB server for the tests");
    let table = Table::connect(keys(dynamo.table_options(unique_table_name(prefix))))
        .await
        .expect("table options");
    table
        .create_table(definition)
        .await
        .expect("create the test table");
    table
}

/// The table `direct` through a new fault proxy (under `plan`) in front of
/// the shared server, whose SDK makes `sdk_attempts` attempts per request
/// (2 ms backoff); `more` sets further options.
///
/// Each attempt may take 30 s: faults end a request at once (a reset, a
/// dropped answer, a throttle), so a short attempt timeout would only add
/// requests on a loaded machine, and tests count them.
///
/// # Panics
///
/// When the proxy cannot start or the options are refused.
pub async fn through_proxy(
    direct: &Table,
    plan: FaultPlan,
    sdk_attempts: u32,
    more: impl FnOnce(TableOptions) -> TableOptions,
) -> (Table, FaultProxy) {
    let dynamo = shared().await.expect("the shared server");
    let proxy = FaultProxy::start(dynamo.url(), plan)
        .await
        .expect("a fault proxy");
    let options = proxy
        .table_options_for(direct)
        .attempt_timeout(Duration::from_secs(30))
        .sdk_max_attempts(sdk_attempts)
        .sdk_initial_backoff(Duration::from_millis(2));
    let proxied = Table::connect(more(options)).await.expect("table options");
    (proxied, proxy)
}

/// The item stored under `key`, read with the SDK directly (consistent
/// read), exactly as DynamoDB holds it.
///
/// # Panics
///
/// When the key does not fit the table or the read fails.
pub async fn raw_get(table: &Table, key: &Key) -> Option<Item> {
    table
        .client()
        .get_item()
        .table_name(table.name())
        .set_key(Some(table.key_item(key).expect("a valid key")))
        .consistent_read(true)
        .send()
        .await
        .expect("raw GetItem")
        .item
}

/// Writes `item` as it is with the SDK directly (no check, no conversion).
///
/// # Panics
///
/// When the write fails.
pub async fn raw_put(table: &Table, item: Item) {
    try_raw_put(table, item).await.expect("raw PutItem");
}

/// Writes `item` as it is with the SDK directly (no check, no conversion),
/// handing back the server's answer: for an item the server may refuse.
///
/// # Errors
///
/// The SDK's error when the write fails.
pub async fn try_raw_put(
    table: &Table,
    item: Item,
) -> Result<(), SdkError<PutItemError, HttpResponse>> {
    table
        .client()
        .put_item()
        .table_name(table.name())
        .set_item(Some(item))
        .send()
        .await
        .map(drop)
}

/// Deletes the item under `key` with the SDK directly.
///
/// # Panics
///
/// When the key does not fit the table or the delete fails.
pub async fn raw_delete(table: &Table, key: &Key) {
    table
        .client()
        .delete_item()
        .table_name(table.name())
        .set_key(Some(table.key_item(key).expect("a valid key")))
        .send()
        .await
        .expect("raw DeleteItem");
}

/// Every item of the table, read with consistent scans to the last page.
///
/// # Panics
///
/// When a scan fails.
pub async fn raw_scan(table: &Table) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let output = table
            .client()
            .scan()
            .table_name(table.name())
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("raw Scan");
        items.extend(output.items.unwrap_or_default());
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}
