//! One default credential: a table created through `dynago-local`'s options
//! is found through `dynago::Endpoint::new(url)`, and the other way round.
//! DynamoDB Local keeps the tables of each access key apart, so on it
//! (`DYNAGO_BACKEND=dynamodb-local`) these tests fail if the two defaults
//! ever differ again.

use dynago::{string_value, Endpoint, Key, Table, TableDefinition, TableOptions};
use dynago_local::Backend;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
}

/// Whether the server keeps the tables of each access key apart (DynamoDB
/// Local does; the embedded emulator does not).
fn tables_per_access_key(backend: &Backend) -> bool {
    matches!(backend, Backend::DynamoDbLocal | Backend::Docker)
}

#[tokio::test]
async fn a_table_created_through_dynago_local_is_found_through_endpoint_new() {
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let name = dynago_local::unique_table_name("credentials");
    let created = Table::connect(dynamo.table_options(&name).partition_key("pk"))
        .await
        .expect("table options");
    created
        .create_table(TableDefinition::default())
        .await
        .expect("create the table");
    let key = Key::new(string_value("note#1"));
    let note = Note {
        text: "written through dynago-local's options".into(),
    };
    created
        .put_item(key.clone(), &note)
        .send()
        .await
        .expect("put");

    // Nothing but the URL: the default credentials and region.
    let plain = Table::connect(
        TableOptions::new(&name)
            .partition_key("pk")
            .endpoint(Endpoint::new(dynamo.url())),
    )
    .await
    .expect("table options");
    let read = plain
        .get_item(key.clone())
        .consistent_read(true)
        .send::<Note>()
        .await
        .unwrap_or_else(|e| panic!("the table through Endpoint::new: {e}"));
    assert_eq!(read, Some(note));
    plain
        .verify_schema()
        .await
        .unwrap_or_else(|e| panic!("describe through Endpoint::new: {e}"));

    // The control: under another access key, DynamoDB Local has no such
    // table, which is what this test guards against. (DynamoDB Local takes
    // access keys of letters and digits only.)
    let other = Table::connect(
        TableOptions::new(&name)
            .partition_key("pk")
            .endpoint(Endpoint::new(dynamo.url()).credentials("someoneelse", "someoneelse")),
    )
    .await
    .expect("table options");
    let elsewhere = other.get_item(key).send::<Note>().await;
    if tables_per_access_key(dynamo.backend()) {
        assert!(
            matches!(&elsewhere, Err(e) if e.is_not_found()),
            "{elsewhere:?}"
        );
    }
    created.delete_table().await.expect("delete the table");
}

#[tokio::test]
async fn a_table_created_through_endpoint_new_is_found_through_dynago_local() {
    let dynamo = dynago_local::shared()
        .await
        .expect("a DynamoDB server for the tests");
    let name = dynago_local::unique_table_name("credentials");
    let created = Table::connect(
        TableOptions::new(&name)
            .partition_key("pk")
            .endpoint(Endpoint::new(dynamo.url())),
    )
    .await
    .expect("table options");
    created
        .create_table(TableDefinition::default())
        .await
        .expect("create the table");

    dynamo
        .client()
        .await
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "describe through dynago-local's client: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )
        });
    let local = Table::connect(dynamo.table_options(&name).partition_key("pk"))
        .await
        .expect("table options");
    local
        .verify_schema()
        .await
        .unwrap_or_else(|e| panic!("describe through dynago-local's options: {e}"));
    created.delete_table().await.expect("delete the table");
}

#[test]
fn the_defaults_are_one() {
    assert_eq!(dynago_local::ACCESS_KEY_ID, dynago::LOCAL_ACCESS_KEY_ID);
    assert_eq!(
        dynago_local::SECRET_ACCESS_KEY,
        dynago::LOCAL_SECRET_ACCESS_KEY
    );
    assert_eq!(dynago_local::REGION, dynago::LOCAL_REGION);
}
