//! Requests and answers rewritten (tokens stripped, batches answered in
//! part) and reads logged.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;

use super::support::{client, create_table, dynamo, exists, put};
use crate::{FaultPlan, FaultProxy, Throttle};

#[tokio::test]
async fn strips_client_request_tokens() {
    let dynamo = dynamo().await;
    let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
        .await
        .expect("proxy");
    let client = client(&proxy.url(), 1).await;
    let table = create_table(&client).await;
    let create_once = || {
        client
            .transact_write_items()
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(
                        aws_sdk_dynamodb::types::Put::builder()
                            .table_name(&table)
                            .item("pk", AttributeValue::S("once".into()))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .expect("put"),
                    )
                    .build(),
            )
            .client_request_token("token-1")
    };
    create_once().send().await.expect("first transaction");
    // The same token again: DynamoDB's idempotency answers success.
    create_once()
        .send()
        .await
        .expect("the same transaction again");
    assert_eq!(proxy.stats().tokens_stripped, 0);
    // Without the token, the transaction is evaluated again, and fails.
    proxy.set_plan(FaultPlan::default().strip_client_request_tokens(true));
    let error = create_once().send().await.expect_err("evaluated again");
    assert_eq!(error.code(), Some("TransactionCanceledException"));
    let stats = proxy.stats();
    assert_eq!(stats.tokens_stripped, 1);
    // Other requests pass untouched.
    assert!(exists(&client, &table, "once").await);
    assert_eq!(proxy.stats().tokens_stripped, 1);
}

#[tokio::test]
async fn answers_part_of_a_batch_as_unprocessed() {
    use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};

    let dynamo = dynamo().await;
    let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
        .await
        .expect("proxy");
    let client = client(&proxy.url(), 1).await;
    let table = create_table(&client).await;
    proxy.set_plan(
        FaultPlan::default()
            .unprocessed(1.0)
            .operation("BatchWriteItem")
            .operation("BatchGetItem")
            .first(2),
    );
    let writes: Vec<WriteRequest> = (0..5)
        .map(|n| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .item("pk", AttributeValue::S(format!("item-{n}")))
                        .build()
                        .expect("put"),
                )
                .build()
        })
        .collect();
    let output = client
        .batch_write_item()
        .request_items(&table, writes)
        .send()
        .await
        .expect("batch write");
    let left = output
        .unprocessed_items
        .and_then(|mut u| u.remove(&table))
        .expect("unprocessed items");
    let left: Vec<String> = left
        .iter()
        .filter_map(|w| w.put_request.as_ref())
        .filter_map(|p| p.item.get("pk"))
        .filter_map(|v| v.as_s().ok().cloned())
        .collect();
    assert_eq!(left, ["item-1", "item-3"]);
    let direct = dynamo.client().await;
    for (n, written) in [(0, true), (1, false), (2, true), (3, false), (4, true)] {
        assert_eq!(
            exists(&direct, &table, &format!("item-{n}")).await,
            written,
            "item-{n}"
        );
    }

    let keys = KeysAndAttributes::builder()
        .set_keys(Some(
            (0..5)
                .map(|n| {
                    std::collections::HashMap::from([(
                        "pk".to_owned(),
                        AttributeValue::S(format!("item-{n}")),
                    )])
                })
                .collect(),
        ))
        .consistent_read(true)
        .build()
        .expect("keys");
    let output = client
        .batch_get_item()
        .request_items(&table, keys)
        .send()
        .await
        .expect("batch get");
    let found = output
        .responses
        .and_then(|mut r| r.remove(&table))
        .expect("responses");
    let mut found: Vec<String> = found
        .iter()
        .filter_map(|item| item.get("pk")?.as_s().ok().cloned())
        .collect();
    found.sort();
    assert_eq!(found, ["item-0", "item-2", "item-4"]);
    let left = output
        .unprocessed_keys
        .and_then(|mut u| u.remove(&table))
        .expect("unprocessed keys");
    assert_eq!(left.consistent_read, Some(true), "the table's options kept");
    assert_eq!(left.keys.len(), 2);
    let stats = proxy.stats();
    assert_eq!(stats.partial_batches, 2);
    assert_eq!(stats.held_back, 4);

    // Past `first`: answered whole.
    let output = client
        .batch_write_item()
        .request_items(
            &table,
            vec![
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .item("pk", AttributeValue::S("item-5".into()))
                            .build()
                            .expect("put"),
                    )
                    .build(),
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .item("pk", AttributeValue::S("item-6".into()))
                            .build()
                            .expect("put"),
                    )
                    .build(),
            ],
        )
        .send()
        .await
        .expect("batch write");
    assert!(output.unprocessed_items.unwrap_or_default().is_empty());
    assert!(exists(&direct, &table, "item-6").await);
    assert_eq!(proxy.stats().partial_batches, 2);
}

#[tokio::test]
async fn records_whether_each_read_asked_for_consistency() {
    use aws_sdk_dynamodb::types::KeysAndAttributes;

    let dynamo = dynamo().await;
    let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
        .await
        .expect("proxy");
    let client = client(&proxy.url(), 1).await;
    let table = create_table(&client).await;
    put(&client, &table, "a").await.expect("put");
    assert!(proxy.reads().is_empty(), "no read yet");
    assert!(exists(&client, &table, "a").await);
    client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .expect("get");
    client
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("a".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("query");
    client
        .scan()
        .table_name(&table)
        .consistent_read(false)
        .send()
        .await
        .expect("scan");
    client
        .batch_get_item()
        .request_items(
            &table,
            KeysAndAttributes::builder()
                .keys(std::collections::HashMap::from([(
                    "pk".to_owned(),
                    AttributeValue::S("a".into()),
                )]))
                .consistent_read(true)
                .build()
                .expect("keys"),
        )
        .send()
        .await
        .expect("batch get");
    let seen: Vec<(String, bool)> = proxy
        .take_reads()
        .into_iter()
        .map(|read| {
            assert_eq!(read.table, table);
            assert_eq!(read.index, None);
            (read.operation, read.consistent_read)
        })
        .collect();
    let expected = [
        ("GetItem", true),
        ("GetItem", false),
        ("Query", true),
        ("Scan", false),
        ("BatchGetItem", true),
    ]
    .map(|(operation, consistent)| (operation.to_owned(), consistent));
    assert_eq!(seen, expected);
    assert!(proxy.reads().is_empty(), "taken");
    // Throttled reads were received all the same.
    proxy.set_plan(FaultPlan::default().throttle(Throttle::Throttling, 1.0));
    let _refused = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("a".into()))
        .consistent_read(true)
        .send()
        .await
        .expect_err("throttled");
    let reads = proxy.reads();
    assert_eq!(reads.len(), 1);
    assert!(reads[0].consistent_read);
    assert_eq!(reads[0].key, Some(serde_json::json!({"pk": {"S": "a"}})));
}
