//! Which reads ask for strong consistency. Both emulators always read
//! strongly, so only the request shows it: every read goes through a fault
//! proxy that records whether it carried `ConsistentRead`, and each
//! `consistent_read(true)` (and each default) is checked request by
//! request, retries and further pages included.
use crate::common;

use common::{key, n, s};
use dynago::{Page, Table};
use dynago_local::{FaultPlan, FaultProxy, ReadRequest};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    n: u32,
    tag: u32,
}

/// A fresh table holding `rows` items `(p, 0..rows)`, and the same table
/// through a proxy under `plan`.
async fn filled(rows: u32, plan: FaultPlan) -> (Table, FaultProxy) {
    let direct = common::table().await;
    (0..rows)
        .fold(direct.batch_write(), |batch, i| {
            batch.put(key("p", i), &Row { n: i, tag: i % 7 })
        })
        .send()
        .await
        .expect("setup");
    let (proxied, proxy) = common::through_proxy(&direct, plan, 1, |options| options).await;
    (proxied, proxy)
}

/// The reads received since the last call, as `(operation, consistent)`,
/// checked to be of `table`.
fn reads(proxy: &FaultProxy, table: &Table) -> Vec<(String, bool)> {
    proxy
        .take_reads()
        .into_iter()
        .map(
            |ReadRequest {
                 operation,
                 table: name,
                 consistent_read,
                 ..
             }| {
                assert_eq!(name, table.name());
                (operation, consistent_read)
            },
        )
        .collect()
}

fn all(reads: &[(String, bool)], operation: &str, consistent: bool) {
    assert!(!reads.is_empty(), "no {operation} seen");
    for (seen, was) in reads {
        assert_eq!(seen, operation, "{reads:?}");
        assert_eq!(*was, consistent, "{operation}: {reads:?}");
    }
}

#[tokio::test]
async fn get_item_asks_for_consistency_only_when_told() {
    let (table, proxy) = filled(3, FaultPlan::default()).await;
    let _setup = proxy.take_reads();
    let row: Option<Row> = table
        .get_item(key("p", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(row, Some(Row { n: 1, tag: 1 }));
    assert_eq!(reads(&proxy, &table), [("GetItem".to_owned(), true)]);

    let row: Option<Row> = table.get_item(key("p", 2)).send().await.expect("get");
    assert_eq!(row, Some(Row { n: 2, tag: 2 }));
    assert_eq!(reads(&proxy, &table), [("GetItem".to_owned(), false)]);

    let raw = table
        .get_item(key("p", 0))
        .consistent_read(true)
        .send_raw()
        .await
        .expect("get raw");
    assert!(raw.is_some());
    assert_eq!(reads(&proxy, &table), [("GetItem".to_owned(), true)]);
}

#[tokio::test]
async fn every_request_of_a_consistent_query_is_consistent() {
    let (table, proxy) = filled(200, FaultPlan::default()).await;
    let query = table
        .query("pk = :pk")
        .value(":pk", s("p"))
        .filter("tag = :t")
        .value(":t", n(3))
        .limit(5);
    let _setup = proxy.take_reads();

    // A filter that keeps one item in seven: pages of several requests.
    let pages: Vec<Page<Row>> = query
        .clone()
        .consistent_read(true)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    let found: Vec<u32> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|r| r.n))
        .collect();
    assert_eq!(found, (0..200).filter(|i| i % 7 == 3).collect::<Vec<_>>());
    let seen = reads(&proxy, &table);
    assert!(
        seen.len() > pages.len(),
        "several requests a page: {seen:?}"
    );
    all(&seen, "Query", true);

    // Resumed from a cursor, and as a stream.
    let first = query
        .clone()
        .consistent_read(true)
        .send::<Row>()
        .await
        .expect("first page");
    let cursor = first.cursor.expect("more pages");
    let _ = proxy.take_reads();
    let next = query
        .clone()
        .consistent_read(true)
        .cursor(cursor)
        .send::<Row>()
        .await
        .expect("next page");
    assert_eq!(next.items.first().map(|r| r.n), Some(38));
    all(&reads(&proxy, &table), "Query", true);
    let streamed: Vec<Row> = query
        .clone()
        .consistent_read(true)
        .stream()
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(streamed.len(), found.len());
    all(&reads(&proxy, &table), "Query", true);

    // And by default, eventually consistent.
    let page = query.send::<Row>().await.expect("page");
    assert_eq!(page.items.len(), 5);
    all(&reads(&proxy, &table), "Query", false);
}

#[tokio::test]
async fn a_consistent_batch_get_stays_consistent_when_it_sends_again_what_was_left() {
    let plan = FaultPlan::default()
        .unprocessed(1.0)
        .operation("BatchGetItem");
    let (table, proxy) = filled(150, plan).await;
    let _setup = proxy.take_reads();
    let rows: Vec<Row> = table
        .batch_get_items((0..150).map(|i| key("p", i)))
        .consistent_read(true)
        .send()
        .await
        .expect("batch get");
    assert_eq!(rows.len(), 150);
    let seen = reads(&proxy, &table);
    assert!(
        seen.len() > 2,
        "the unprocessed keys were sent again: {seen:?}"
    );
    all(&seen, "BatchGetItem", true);
    assert!(proxy.stats().held_back > 0);

    let rows: Vec<Row> = table
        .batch_get_items((0..10).map(|i| key("p", i)))
        .send()
        .await
        .expect("batch get");
    assert_eq!(rows.len(), 10);
    all(&reads(&proxy, &table), "BatchGetItem", false);
}
