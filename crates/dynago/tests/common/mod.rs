//! What every test file shares: one DynamoDB server per test binary, a fresh
//! table per test.

#![allow(dead_code, unused_imports)]

use dynago::{
    number_value, string_value, AttributeValue, Key, ScalarAttributeType, Table, TableDefinition,
};
use dynago_local::testing;

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
    let keys = |options: dynago::TableOptions| {
        let options = options.partition_key("pk");
        match sort_key {
            Some(sort_key) => options.sort_key(sort_key),
            None => options,
        }
    };
    testing::fresh_table("test", keys, definition).await
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

pub use testing::{raw_get as raw_item, raw_put as put_raw, raw_scan as scan_all, try_raw_put};

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

pub use testing::through_proxy;

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
