//! What every test file shares: one DynamoDB server per test binary, a fresh
//! table per test.

#![allow(dead_code)]

use dynago::{
    number_value, string_value, AttributeValue, Item, Key, ScalarAttributeType, Table,
    TableDefinition,
};

/// A new table with a string partition key `pk` and a numeric sort key `sk`.
pub async fn table() -> Table {
    table_with(
        Some("sk"),
        TableDefinition::default().attribute_type("sk", ScalarAttributeType::N),
    )
    .await
}

/// A new table with only a string partition key `pk`.
pub async fn hash_table() -> Table {
    table_with(None, TableDefinition::default()).await
}

/// A new table with partition key `pk`, the given sort key and definition.
pub async fn table_with(sort_key: Option<&str>, definition: TableDefinition) -> Table {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let mut options = dynamo
        .table_options(dynago_local::unique_table_name("test"))
        .partition_key("pk");
    if let Some(sort_key) = sort_key {
        options = options.sort_key(sort_key);
    }
    let table = Table::connect(options).await.expect("table options");
    table
        .create_table(definition)
        .await
        .expect("create the test table");
    table
}

/// A handle on a table that was never created, on the shared server.
pub async fn missing_table() -> Table {
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let options = dynamo
        .table_options(dynago_local::unique_table_name("missing"))
        .partition_key("pk")
        .sort_key("sk");
    Table::connect(options).await.expect("table options")
}

/// The item stored under `key`, read with the SDK directly (consistent read),
/// exactly as DynamoDB holds it.
pub async fn raw_item(table: &Table, key: &Key) -> Option<Item> {
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
pub async fn put_raw(table: &Table, item: Item) {
    table
        .client()
        .put_item()
        .table_name(table.name())
        .set_item(Some(item))
        .send()
        .await
        .expect("raw PutItem");
}

/// Every item of the table, read with consistent scans.
pub async fn scan_all(table: &Table) -> Vec<Item> {
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

/// How many items the table holds.
pub async fn count(table: &Table) -> usize {
    scan_all(table).await.len()
}

/// The key `(pk, sk)` of the tables made by [`table`].
pub fn key(pk: &str, sk: u32) -> Key {
    Key::new(string_value(pk)).sort(number_value(sk))
}

/// A string attribute value.
pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// A number attribute value.
pub fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The table `direct` through a new fault proxy (under `plan`) in front of
/// the shared server, whose SDK makes `sdk_attempts` attempts per request
/// (2 ms backoff); `more` sets further options.
///
/// Each attempt may take 30 s: faults end a request at once (a reset, a
/// dropped answer, a throttle), so an attempt timeout would only add
/// requests on a loaded machine, and the tests count them.
pub async fn through_proxy(
    direct: &Table,
    plan: dynago_local::FaultPlan,
    sdk_attempts: u32,
    more: impl FnOnce(dynago::TableOptions) -> dynago::TableOptions,
) -> (Table, dynago_local::FaultProxy) {
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let proxy = dynago_local::FaultProxy::start(dynamo.url(), plan)
        .await
        .expect("a fault proxy");
    let options = proxy
        .table_options_for(direct)
        .attempt_timeout(std::time::Duration::from_secs(30))
        .sdk_max_attempts(sdk_attempts)
        .sdk_initial_backoff(std::time::Duration::from_millis(2));
    let proxied = Table::connect(more(options)).await.expect("table options");
    (proxied, proxy)
}

/// An account under an optimistic lock on `version`, for the locking tests.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Account {
    pub owner: String,
    pub balance: i64,
    pub version: u64,
}

/// Ada's account with `balance`, at `version`.
pub fn account(balance: i64, version: u64) -> Account {
    Account {
        owner: "ada".into(),
        balance,
        version,
    }
}

/// The account stored under `key`, read consistently.
pub async fn stored(table: &Table, key: Key) -> Option<Account> {
    table
        .get_item(key)
        .consistent_read(true)
        .send()
        .await
        .expect("get")
}
