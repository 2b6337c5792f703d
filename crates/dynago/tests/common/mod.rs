//! What every test file shares: one DynamoDB server per test binary, a fresh
//! table per test.

#![allow(dead_code)]

use dynago::{ScalarAttributeType, Table, TableDefinition};

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
