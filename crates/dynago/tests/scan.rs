//! Scans against a real DynamoDB: filters with a limit that fill every page,
//! projections, cursors and streams, an index, consistent reads, forged and
//! foreign cursors refused before anything is sent, and parallel scans of
//! 1,000+ items that return each item exactly once.
use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{key, s};
use dynago::{Error, GlobalIndex, Page, ScalarAttributeType, Scan, Table, TableDefinition};
use dynago_local::FaultPlan;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    pk: String,
    sk: u32,
    name: String,
    /// `sk % 7`, for filters.
    tag: u32,
    gsi1pk: Option<String>,
    gsi1sk: Option<String>,
}

/// The partition of item `n`: items are spread over three.
fn partition(n: u32) -> String {
    format!("p{}", n % 3)
}

fn entry(n: u32) -> Entry {
    // Even entries are in the index `gsi1`.
    let indexed = n.is_multiple_of(2);
    Entry {
        pk: partition(n),
        sk: n,
        name: format!("entry {n}"),
        tag: n % 7,
        gsi1pk: indexed.then(|| "even".to_owned()),
        gsi1sk: indexed.then(|| format!("k{:05}", 50_000 - n)),
    }
}

async fn indexed_table() -> Table {
    common::table_with(
        Some("sk"),
        TableDefinition::default()
            .attribute_type("sk", ScalarAttributeType::N)
            .global_index(GlobalIndex::new("gsi1", "gsi1pk").sort_key("gsi1sk")),
    )
    .await
}

/// Writes `entry(n)` for every `n` in `range`.
async fn fill(table: &Table, range: std::ops::Range<u32>) {
    range
        .fold(table.batch_write(), |batch, n| {
            batch.put(key(&partition(n), n), &entry(n))
        })
        .send()
        .await
        .expect("batch write");
}

/// How many times each number comes in `entries`.
fn counts(entries: &[Entry]) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for entry in entries {
        *counts.entry(entry.sk).or_default() += 1;
    }
    counts
}

/// Checks that `entries` are `expected`, each exactly once, whole.
fn assert_each_once(entries: &[Entry], expected: impl IntoIterator<Item = u32>, what: &str) {
    let counts = counts(entries);
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "{what}: read more than once: {twice:?}");
    let expected: BTreeSet<u32> = expected.into_iter().collect();
    let got: BTreeSet<u32> = counts.keys().copied().collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "{what}: {} items, expected {}",
        got.len(),
        expected.len()
    );
    assert_eq!(got, expected, "{what}");
    for e in entries {
        assert_eq!(e, &entry(e.sk), "{what}");
    }
}

/// Every page of `scan`, each resumed by a fresh scan from the cursor of the
/// one before (as a client handing the cursor back would).
async fn by_cursor(scan: &Scan) -> Vec<Page<Entry>> {
    let mut pages = Vec::new();
    let mut next = scan.clone();
    loop {
        let page: Page<Entry> = next.send().await.expect("a page");
        let cursor = page.cursor.clone();
        pages.push(page);
        match cursor {
            Some(cursor) => next = scan.clone().cursor(cursor),
            None => return pages,
        }
        assert!(pages.len() < 1_000, "a scan that does not end");
    }
}

#[tokio::test]
async fn a_filtered_scan_with_a_limit_fills_every_page_and_skips_nothing() {
    let table = common::table().await;
    fill(&table, 0..300).await;
    let scan = table
        .scan()
        .filter("tag = :three")
        .value(":three", common::n(3))
        .consistent_read(true)
        .limit(10);
    let expected: Vec<u32> = (0..300).filter(|n| n % 7 == 3).collect();
    let pages = by_cursor(&scan).await;
    let (last, full) = pages.split_last().expect("pages");
    for (i, page) in full.iter().enumerate() {
        assert_eq!(page.items.len(), 10, "page {i} is not full");
        assert!(page.cursor.is_some());
    }
    assert!(last.items.len() <= 10 && last.cursor.is_none());
    let all: Vec<Entry> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_each_once(&all, expected.iter().copied(), "pages by cursor");

    // The same through `pages` and `stream`: the limit is each page's size.
    let pages: Vec<Page<Entry>> = scan.clone().pages().try_collect().await.expect("pages");
    assert!(pages.iter().all(|p| p.items.len() <= 10));
    assert_eq!(pages.len(), expected.len().div_ceil(10));
    let all: Vec<Entry> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_each_once(&all, expected.iter().copied(), "pages()");
    let streamed: Vec<Entry> = scan.stream().try_collect().await.expect("stream");
    assert_each_once(&streamed, expected.iter().copied(), "stream()");
}

#[tokio::test]
async fn a_scan_without_a_limit_pages_through_everything() {
    let table = common::table().await;
    fill(&table, 0..250).await;
    let all: Vec<Entry> = table
        .scan()
        .consistent_read(true)
        .stream()
        .try_collect()
        .await
        .expect("stream");
    assert_each_once(&all, 0..250, "stream without a limit");
    let raw: Vec<dynago::Item> = table
        .scan()
        .limit(64)
        .stream_raw()
        .try_collect()
        .await
        .expect("raw stream");
    assert_eq!(raw.len(), 250);
    let page = table
        .scan()
        .limit(1_000)
        .send::<Entry>()
        .await
        .expect("one page");
    assert_eq!(page.items.len(), 250);
    assert_eq!(page.cursor, None);
}

#[tokio::test]
async fn projection_reads_only_the_named_attributes() {
    let table = common::table().await;
    fill(&table, 0..40).await;
    let pages: Vec<Page<HashMap<String, serde_json::Value>>> = table
        .scan()
        .projection("pk, sk, #t")
        .name("#t", "tag")
        .filter("#t <> :zero")
        .value(":zero", common::n(0))
        .limit(7)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    let items: Vec<_> = pages.iter().flat_map(|p| p.items.iter()).collect();
    assert!(pages.iter().all(|p| p.items.len() <= 7));
    let expected = (0..40u32).filter(|n| n % 7 != 0).count();
    assert_eq!(items.len(), expected);
    let mut seen = BTreeSet::new();
    for item in items {
        let names: BTreeSet<&str> = item.keys().map(String::as_str).collect();
        assert_eq!(names, BTreeSet::from(["pk", "sk", "tag"]));
        let sk = item["sk"].as_u64().expect("a number");
        assert_eq!(item["tag"], serde_json::json!(sk % 7));
        assert!(seen.insert(sk), "{sk} twice");
    }
}

#[tokio::test]
async fn an_index_scan_pages_through_the_index_and_its_cursors_stay_there() {
    let table = indexed_table().await;
    fill(&table, 0..120).await;
    let scan = table.scan().index("gsi1").limit(9);
    let pages = by_cursor(&scan).await;
    assert!(pages.len() > 1);
    let all: Vec<Entry> = pages.iter().flat_map(|p| p.items.clone()).collect();
    assert_each_once(&all, (0..120).filter(|n| n % 2 == 0), "index scan");
    // A filtered index scan cuts its pages at the limit and resumes right.
    let filtered = table
        .scan()
        .index("gsi1")
        .filter("tag < :four")
        .value(":four", common::n(4))
        .limit(5);
    let all: Vec<Entry> = by_cursor(&filtered)
        .await
        .into_iter()
        .flat_map(|p| p.items)
        .collect();
    assert_each_once(
        &all,
        (0..120).filter(|n| n % 2 == 0 && n % 7 < 4),
        "filtered index scan",
    );

    // The index's cursor is not the table's, nor the table's the index's.
    let index_cursor = pages[0].cursor.clone().expect("a cursor");
    let table_cursor = table
        .scan()
        .limit(9)
        .send::<Entry>()
        .await
        .expect("a page")
        .cursor
        .expect("a cursor");
    let before = table.request_count();
    assert_invalid_cursor(table.scan().cursor(index_cursor).send().await, "index's");
    assert_invalid_cursor(
        table.scan().index("gsi1").cursor(table_cursor).send().await,
        "table's",
    );
    assert_eq!(table.request_count(), before, "a request was sent");
}

fn assert_invalid_cursor(result: Result<Page<Entry>, Error>, what: &str) -> String {
    match result {
        Err(err @ Error::InvalidCursor { .. }) => {
            let message = err.to_string();
            assert!(
                message.starts_with("invalid cursor for table `"),
                "{what}: {message}"
            );
            assert!(err.is_invalid_input(), "{what}");
            assert!(!err.is_retryable(), "{what}");
            message
        }
        other => panic!("{what}: expected InvalidCursor, got {other:?}"),
    }
}

#[tokio::test]
async fn forged_and_foreign_cursors_are_refused_before_anything_is_sent() {
    let table = common::table().await;
    fill(&table, 0..60).await;
    let other = common::table().await;
    fill(&other, 0..60).await;
    let cursor_of = |scan: Scan| async move {
        scan.limit(5)
            .send::<Entry>()
            .await
            .expect("a page")
            .cursor
            .expect("a cursor")
    };
    let whole = cursor_of(table.scan()).await;
    let segment_0 = cursor_of(table.scan().segment(0, 2)).await;
    let other_table = cursor_of(other.scan()).await;
    let query = table
        .query("pk = :pk")
        .value(":pk", s("p0"))
        .limit(5)
        .send::<Entry>()
        .await
        .expect("a query page")
        .cursor
        .expect("a query cursor");
    let mut edited = whole.clone().into_bytes();
    let last = edited.len() - 1;
    edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).expect("ascii");

    let before = table.request_count();
    let message = assert_invalid_cursor(
        table.scan().cursor(query.clone()).send().await,
        "a query's cursor",
    );
    assert!(
        message.contains("continues a query, not a scan"),
        "{message}"
    );
    let refused = table
        .query("pk = :pk")
        .value(":pk", s("p0"))
        .cursor(whole.clone())
        .send::<Entry>()
        .await;
    let message = assert_invalid_cursor(refused, "a scan's cursor in a query");
    assert!(
        message.contains("continues a scan, not a query"),
        "{message}"
    );
    for (scan, what) in [
        (
            table.scan().segment(1, 2).cursor(segment_0.clone()),
            "another segment's",
        ),
        (
            table.scan().segment(0, 3).cursor(segment_0.clone()),
            "a segment of another split",
        ),
        (
            table.scan().cursor(segment_0.clone()),
            "a segment's, in a whole scan",
        ),
        (
            table.scan().segment(0, 2).cursor(whole.clone()),
            "a whole scan's, in a segment",
        ),
        (table.scan().cursor(other_table.clone()), "another table's"),
        (table.scan().cursor(edited), "an edited one"),
        (table.scan().cursor("not a cursor"), "garbage"),
        (table.scan().cursor(""), "an empty one"),
    ] {
        assert_invalid_cursor(scan.send().await, what);
    }
    assert_eq!(table.request_count(), before, "a request was sent");

    // Segments out of bounds are refused before sending too.
    for (segment, total) in [(2, 2), (0, 0), (0, 1_000_001)] {
        match table.scan().segment(segment, total).send::<Entry>().await {
            Err(err @ Error::InvalidSegment { .. }) => {
                assert!(err.is_invalid_input());
                assert!(err.to_string().contains(table.name()), "{err}");
            }
            other => panic!("segment {segment} of {total}: {other:?}"),
        }
    }
    let parallel: Result<Vec<Entry>, Error> = table.scan().parallel(0).stream().try_collect().await;
    assert!(
        matches!(parallel, Err(Error::InvalidSegment { total: 0, .. })),
        "{parallel:?}"
    );
    assert_eq!(table.request_count(), before, "a request was sent");

    // The filter, projection and limit are not part of a cursor: the scan
    // resumes right after the cursor's item whatever they are.
    let rest: Vec<Entry> = table
        .scan()
        .filter("tag >= :zero")
        .value(":zero", common::n(0))
        .cursor(whole)
        .stream()
        .try_collect()
        .await
        .expect("the rest");
    assert_eq!(rest.len(), 55);
}

#[tokio::test]
async fn a_parallel_scan_returns_every_item_exactly_once() {
    const ITEMS: u32 = 1_200;
    let table = common::table().await;
    fill(&table, 0..ITEMS).await;

    // Seven segments, three read at a time.
    let all: Vec<Entry> = table
        .scan()
        .parallel(7)
        .concurrency(3)
        .stream()
        .try_collect()
        .await
        .expect("parallel scan");
    assert_each_once(&all, 0..ITEMS, "parallel stream");

    // With a filter and a limit per page, raw.
    let raw: Vec<dynago::Item> = table
        .scan()
        .filter("tag = :one")
        .value(":one", common::n(1))
        .limit(40)
        .parallel(4)
        .stream_raw()
        .try_collect()
        .await
        .expect("filtered parallel scan");
    let kept: Vec<Entry> = raw
        .into_iter()
        .map(|item| serde_dynamo::aws_sdk_dynamodb_1::from_item(item).expect("an entry"))
        .collect();
    assert_each_once(
        &kept,
        (0..ITEMS).filter(|n| n % 7 == 1),
        "filtered parallel",
    );

    // Each segment apart, by pages resumed from its own cursors: the
    // segments are disjoint and together hold every item.
    let segments = table.scan().limit(100).parallel(5).segments();
    assert_eq!(segments.len(), 5);
    let mut together = Vec::new();
    let mut sizes = Vec::new();
    for segment in &segments {
        let items: Vec<Entry> = by_cursor(segment)
            .await
            .into_iter()
            .flat_map(|p| p.items)
            .collect();
        sizes.push(items.len());
        together.extend(items);
    }
    assert_each_once(&together, 0..ITEMS, "segments by cursor");
    assert!(
        sizes.iter().filter(|&&n| n > 0).count() > 1,
        "the items are all in one segment: {sizes:?}"
    );
}

#[tokio::test]
async fn consistent_read_is_asked_for_on_every_page_of_every_segment() {
    let direct = common::table().await;
    fill(&direct, 0..90).await;
    let (table, proxy) =
        common::through_proxy(&direct, FaultPlan::default(), 1, |options| options).await;
    let _ = proxy.take_reads();
    let all: Vec<Entry> = table
        .scan()
        .consistent_read(true)
        .limit(20)
        .parallel(3)
        .stream()
        .try_collect()
        .await
        .expect("parallel scan");
    assert_each_once(&all, 0..90, "consistent parallel scan");
    let reads = proxy.take_reads();
    assert!(reads.len() >= 5, "{reads:?}");
    for read in &reads {
        assert_eq!(read.operation, "Scan");
        assert_eq!(read.table, table.name());
        assert!(read.consistent_read, "{read:?}");
    }
    let _: Vec<Entry> = table
        .scan()
        .limit(50)
        .stream()
        .try_collect()
        .await
        .expect("scan");
    let reads = proxy.take_reads();
    assert!(reads.len() >= 2);
    assert!(reads.iter().all(|read| !read.consistent_read), "{reads:?}");
}

#[tokio::test]
async fn a_scan_takes_typed_filters_and_projections_with_reserved_names() {
    use dynago::attr;

    let table = common::table().await;
    fill(&table, 0..40).await;
    // `name` is a reserved word: the typed paths need no placeholder.
    let names: Vec<HashMap<String, dynago::AttributeValue>> = table
        .scan()
        .filter(attr("tag").eq(3).and(attr("name").begins_with("entry 1")))
        .projection([attr("sk"), attr("name")])
        .consistent_read(true)
        .stream_raw()
        .try_collect()
        .await
        .expect("a typed scan");
    let mut got: Vec<String> = names
        .iter()
        .map(|item| match item.get("name") {
            Some(dynago::AttributeValue::S(name)) => name.clone(),
            other => panic!("no name in {item:?}: {other:?}"),
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..40)
        .filter(|n| n % 7 == 3 && format!("entry {n}").starts_with("entry 1"))
        .map(|n| format!("entry {n}"))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(
        names.iter().all(|item| item.len() == 2),
        "only the projected attributes: {names:?}"
    );
}

#[tokio::test]
async fn a_scan_filter_over_4_kb_is_refused_before_sending() {
    use dynago::{attr, Expr};

    let table = common::table().await;
    let long =
        Expr::any((0..300).map(|i| attr("status").eq(format!("state {i}")))).expect("filters");
    let before = table.request_count();
    let err = table
        .scan()
        .filter(long)
        .send_raw()
        .await
        .expect_err("a filter over 4 KB");
    assert!(
        matches!(
            err,
            Error::ExpressionTooLarge {
                expression: "FilterExpression",
                ..
            }
        ),
        "expected ExpressionTooLarge, got {err:?}"
    );
    let raw = format!("tag = :t{}", " OR tag = :t".repeat(400));
    let err = table
        .scan()
        .filter(raw)
        .value(":t", common::n(1))
        .send_raw()
        .await
        .expect_err("a raw filter over 4 KB");
    assert!(matches!(err, Error::ExpressionTooLarge { .. }), "{err:?}");
    assert_eq!(table.request_count(), before, "nothing was sent");
}
