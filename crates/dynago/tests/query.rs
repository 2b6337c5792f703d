//! Queries against a real DynamoDB: cursor paging over 1,000+ items, streams,
//! descending order, filters with a limit, 1 MB pages, projections, a global
//! secondary index, consistent reads and malformed cursors.
use crate::common;

use std::collections::{BTreeSet, HashMap};

use common::{key, s};
use dynago::{Error, GlobalIndex, Page, Query, ScalarAttributeType, Table, TableDefinition};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    n: u32,
    name: String,
    /// `n % 7`, for filters.
    tag: u32,
    gsi1pk: Option<String>,
    gsi1sk: Option<String>,
}

fn entry(n: u32) -> Entry {
    // Even entries are in the index `gsi1`, in the reverse order of `n`.
    let indexed = n.is_multiple_of(2);
    Entry {
        n,
        name: format!("entry {n}"),
        tag: n % 7,
        gsi1pk: indexed.then(|| "even".to_owned()),
        gsi1sk: indexed.then(|| format!("k{:04}", 5000 - n)),
    }
}

/// Writes `entry(n)` for every `n` in `range` under the partition `pk`.
async fn fill(table: &Table, pk: &str, range: std::ops::Range<u32>) {
    range
        .fold(table.batch_write(), |batch, n| {
            batch.put(key(pk, n), &entry(n))
        })
        .send()
        .await
        .expect("batch write");
}

fn numbers(entries: &[Entry]) -> Vec<u32> {
    entries.iter().map(|e| e.n).collect()
}

fn by_partition(table: &Table, pk: &str) -> Query {
    table.query("pk = :pk").value(":pk", s(pk))
}

const MANY: u32 = 1_010;

#[tokio::test]
async fn cursor_paging_returns_every_item_once_in_order() {
    let table = common::table().await;
    fill(&table, "p", 0..MANY).await;
    fill(&table, "other", 0..20).await;

    let mut all = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = by_partition(&table, "p").limit(37);
        if let Some(c) = cursor.take() {
            query = query.cursor(c);
        }
        let page: Page<Entry> = query.send().await.expect("page");
        sizes.push(page.items.len());
        all.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(sizes.len() < 100, "paging does not end");
    }
    assert_eq!(numbers(&all), (0..MANY).collect::<Vec<_>>());
    assert_eq!(all[5], entry(5));
    let distinct: BTreeSet<u32> = all.iter().map(|e| e.n).collect();
    assert_eq!(distinct.len(), all.len(), "no duplicate");
    // 1,010 = 27 * 37 + 11: every page but the last is full.
    let (last, full) = sizes.split_last().expect("pages");
    assert!(full.iter().all(|&size| size == 37), "{sizes:?}");
    assert_eq!(full.len(), 27, "{sizes:?}");
    assert_eq!(*last, 11, "{sizes:?}");
}

#[tokio::test]
async fn stream_and_pages_return_every_item_once_in_order() {
    let table = common::table().await;
    fill(&table, "p", 0..MANY).await;
    let expected: Vec<u32> = (0..MANY).collect();

    let streamed: Vec<Entry> = by_partition(&table, "p")
        .limit(37)
        .stream()
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(numbers(&streamed), expected);

    let pages: Vec<Page<Entry>> = by_partition(&table, "p")
        .limit(37)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes.len(), 28, "{sizes:?}");
    assert!(sizes[..27].iter().all(|&size| size == 37), "{sizes:?}");
    assert_eq!(sizes[27], 11);
    assert!(pages[..27].iter().all(|p| p.cursor.is_some()));
    assert_eq!(pages[27].cursor, None);
    let paged: Vec<u32> = pages.iter().flat_map(|p| numbers(&p.items)).collect();
    assert_eq!(paged, expected);

    // Without a limit, each page is one DynamoDB response.
    let unlimited: Vec<Entry> = by_partition(&table, "p")
        .stream()
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(numbers(&unlimited), expected);

    // `pages` starts at the cursor it is given.
    let first = by_partition(&table, "p")
        .limit(500)
        .send::<Entry>()
        .await
        .expect("page");
    let rest: Vec<Entry> = by_partition(&table, "p")
        .limit(37)
        .cursor(first.cursor.expect("more"))
        .stream()
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(numbers(&rest), (500..MANY).collect::<Vec<_>>());
}

#[tokio::test]
async fn descending_order_pages_backwards() {
    let table = common::table().await;
    fill(&table, "p", 0..MANY).await;
    let pages: Vec<Page<Entry>> = by_partition(&table, "p")
        .descending()
        .limit(37)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    let paged: Vec<u32> = pages.iter().flat_map(|p| numbers(&p.items)).collect();
    assert_eq!(paged, (0..MANY).rev().collect::<Vec<_>>());
    assert_eq!(pages.len(), 28);

    // A range condition, descending, resumed by hand.
    let query = table
        .query("pk = :pk AND sk BETWEEN :lo AND :hi")
        .value(":pk", s("p"))
        .value(":lo", common::n(100))
        .value(":hi", common::n(199))
        .ascending(false)
        .limit(30);
    let first = query.send::<Entry>().await.expect("page");
    assert_eq!(numbers(&first.items), (170..200).rev().collect::<Vec<_>>());
    let second = query
        .clone()
        .cursor(first.cursor.expect("more"))
        .send::<Entry>()
        .await
        .expect("page");
    assert_eq!(numbers(&second.items), (140..170).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn a_filter_with_a_limit_fills_every_page_and_skips_nothing() {
    let table = common::table().await;
    fill(&table, "p", 0..MANY).await;
    let expected: Vec<u32> = (0..MANY).filter(|n| n % 7 == 3).collect();
    assert_eq!(expected.len(), 144);

    for limit in [10u32, 37] {
        let pages: Vec<Page<Entry>> = by_partition(&table, "p")
            .filter("tag = :t")
            .value(":t", common::n(3))
            .limit(limit)
            .pages()
            .try_collect()
            .await
            .expect("pages");
        let (last, full) = pages.split_last().expect("pages");
        for page in full {
            assert_eq!(page.items.len(), limit as usize, "limit {limit}");
        }
        assert!(last.items.len() <= limit as usize);
        assert_eq!(last.cursor, None);
        let paged: Vec<u32> = pages.iter().flat_map(|p| numbers(&p.items)).collect();
        assert_eq!(paged, expected, "limit {limit}");
    }

    // Resumed by hand, with the cursor of each page.
    let query = by_partition(&table, "p")
        .filter("tag = :t AND n >= :min")
        .value(":t", common::n(3))
        .value(":min", common::n(500))
        .limit(10);
    let mut cursor = None;
    let mut all = Vec::new();
    loop {
        let mut q = query.clone();
        if let Some(c) = cursor.take() {
            q = q.cursor(c);
        }
        let page = q.send::<Entry>().await.expect("page");
        all.extend(numbers(&page.items));
        match page.cursor {
            Some(c) => {
                assert_eq!(page.items.len(), 10);
                cursor = Some(c);
            }
            None => break,
        }
    }
    let expected: Vec<u32> = (500..MANY).filter(|n| n % 7 == 3).collect();
    assert_eq!(all, expected);

    // A filter that keeps one item near the end still finds it, in one
    // page, in a few requests: while the filter keeps nothing, each reads as
    // many items as all before it (5, 5, 10, 20, ...), where reading only
    // what the page lacks would take one request per 5 items (about 200).
    let before = table.request_count();
    let page = by_partition(&table, "p")
        .filter("n = :n")
        .value(":n", common::n(1_000))
        .limit(5)
        .send::<Entry>()
        .await
        .expect("page");
    assert_eq!(numbers(&page.items), vec![1_000]);
    let requests = table.request_count() - before;
    assert!(requests <= 10, "{requests} requests");

    // A page of 10 out of a filter that keeps one item in seven: a few
    // requests, and a page cut at its limit resumes right after its last item.
    let before = table.request_count();
    let page = by_partition(&table, "p")
        .filter("tag = :t")
        .value(":t", common::n(3))
        .limit(10)
        .send::<Entry>()
        .await
        .expect("page");
    assert_eq!(numbers(&page.items), expected_first(10));
    let requests = table.request_count() - before;
    assert!(requests <= 4, "{requests} requests");
}

/// The first `count` entries that the filter `tag = 3` keeps.
fn expected_first(count: usize) -> Vec<u32> {
    (0..MANY).filter(|n| n % 7 == 3).take(count).collect()
}

#[tokio::test]
async fn an_index_query_with_a_filter_cuts_pages_between_equal_index_keys() {
    let table = indexed_table().await;
    // Each index key is shared by three items, which only the table key
    // tells apart: a page cut in such a group resumes inside it.
    for pk in ["a", "b", "c"] {
        fill(&table, pk, 0..100).await;
    }
    let all: Vec<Located> = table
        .query("gsi1pk = :g")
        .value(":g", s("even"))
        .index("gsi1")
        .stream()
        .try_collect()
        .await
        .expect("the whole index");
    assert_eq!(all.len(), 150);
    for (tag, limit) in [(3u32, 2u32), (3, 4), (1, 5)] {
        let expected: Vec<&Located> = all.iter().filter(|l| l.n % 7 == tag).collect();
        let before = table.request_count();
        let pages: Vec<Page<Located>> = table
            .query("gsi1pk = :g")
            .value(":g", s("even"))
            .index("gsi1")
            .filter("tag = :t")
            .value(":t", common::n(tag))
            .limit(limit)
            .pages()
            .try_collect()
            .await
            .expect("pages");
        let requests = table.request_count() - before;
        let found: Vec<&Located> = pages.iter().flat_map(|p| &p.items).collect();
        assert_eq!(found, expected, "tag {tag}, limit {limit}");
        let (last, full) = pages.split_last().expect("pages");
        for page in full {
            assert_eq!(page.items.len(), limit as usize, "tag {tag}, limit {limit}");
        }
        assert!(last.cursor.is_none());
        // Reading only what each page lacks would send about one request
        // per `limit` items read (150 of them).
        assert!(
            requests < u64::from(150 / limit) / 2,
            "{requests} requests for tag {tag}, limit {limit}"
        );
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Big {
    n: u32,
    blob: String,
}

#[tokio::test]
async fn pages_cut_at_one_megabyte_lose_nothing() {
    let table = common::table().await;
    let big = |n: u32| Big {
        n,
        blob: char::from(b'a' + u8::try_from(n % 26).expect("small"))
            .to_string()
            .repeat(100 * 1024),
    };
    (0..30u32)
        .fold(table.batch_write(), |batch, n| {
            batch.put(key("big", n), &big(n))
        })
        .send()
        .await
        .expect("batch write");

    // DynamoDB itself stops a page at 1 MB: about 10 of these items, their
    // sizes adding up to 1 MB give or take the one that crosses it.
    let raw = by_partition(&table, "big").send_raw().await.expect("page");
    let one = dynago::item_size(&raw.items[0]);
    let bytes: usize = raw.items.iter().map(dynago::item_size).sum();
    const MB: usize = 1024 * 1024;
    assert!(
        bytes <= MB + one && bytes + one > MB,
        "{} items, {bytes} bytes",
        raw.items.len()
    );
    assert!(raw.cursor.is_some());
    let typed = by_partition(&table, "big")
        .send::<Big>()
        .await
        .expect("page");
    assert_eq!(typed.items.len(), raw.items.len());

    // With a limit of 15, a page still holds 15 items: more requests are sent.
    let before = table.request_count();
    let first = by_partition(&table, "big")
        .limit(15)
        .send::<Big>()
        .await
        .expect("page");
    assert!(table.request_count() - before >= 2, "the 1 MB cut was hit");
    assert_eq!(
        first.items.iter().map(|b| b.n).collect::<Vec<_>>(),
        (0..15).collect::<Vec<_>>()
    );
    assert_eq!(first.items[7], big(7));

    let pages: Vec<Page<Big>> = by_partition(&table, "big")
        .limit(15)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    let all: Vec<u32> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|b| b.n))
        .collect();
    assert_eq!(all, (0..30).collect::<Vec<_>>());
    assert_eq!(pages[0].items.len(), 15);
    assert_eq!(pages[1].items.len(), 15);
    assert!(pages[2..].iter().all(|p| p.items.is_empty()));
    assert_eq!(pages.last().and_then(|p| p.cursor.clone()), None);
}

#[derive(Debug, Deserialize, PartialEq)]
struct Slim {
    n: u32,
    name: Option<String>,
    tag: Option<u32>,
}

#[tokio::test]
async fn projection_reads_only_the_named_attributes() {
    let table = common::table().await;
    fill(&table, "p", 0..20).await;
    let page = by_partition(&table, "p")
        .projection("n, #nm")
        .name("#nm", "name")
        .limit(5)
        .send::<Slim>()
        .await
        .expect("page");
    assert_eq!(
        page.items,
        (0..5)
            .map(|n| Slim {
                n,
                name: Some(format!("entry {n}")),
                tag: None,
            })
            .collect::<Vec<_>>()
    );
    // The cursor of a projected query works even without the key attributes
    // in the projection.
    let next = by_partition(&table, "p")
        .projection("n, #nm")
        .name("#nm", "name")
        .limit(5)
        .cursor(page.cursor.expect("more"))
        .send::<Slim>()
        .await
        .expect("page");
    assert_eq!(
        next.items.iter().map(|s| s.n).collect::<Vec<_>>(),
        vec![5, 6, 7, 8, 9]
    );

    let raw = by_partition(&table, "p")
        .projection("pk, sk, tag")
        .send::<HashMap<String, serde_json::Value>>()
        .await
        .expect("page");
    assert_eq!(raw.items.len(), 20);
    for (i, item) in raw.items.iter().enumerate() {
        let names: BTreeSet<&str> = item.keys().map(String::as_str).collect();
        assert_eq!(names, BTreeSet::from(["pk", "sk", "tag"]));
        assert_eq!(item["tag"], serde_json::json!(i % 7));
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

#[tokio::test]
async fn an_index_query_pages_in_index_order() {
    let table = indexed_table().await;
    fill(&table, "p", 0..100).await;
    // The even entries, in the order of gsi1sk: n descending.
    let expected: Vec<u32> = (0..100u32).rev().filter(|n| n.is_multiple_of(2)).collect();

    let pages: Vec<Page<Entry>> = table
        .query("gsi1pk = :g")
        .value(":g", s("even"))
        .index("gsi1")
        .limit(7)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    let paged: Vec<u32> = pages.iter().flat_map(|p| numbers(&p.items)).collect();
    assert_eq!(paged, expected);
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, vec![7, 7, 7, 7, 7, 7, 7, 1]);
    assert_eq!(pages[0].items[0], entry(98));

    // Resumed by hand, with a range condition on the index sort key and a filter.
    let query = table
        .query("gsi1pk = :g AND gsi1sk BETWEEN :lo AND :hi")
        .value(":g", s("even"))
        .value(":lo", s(&format!("k{:04}", 5000 - 60)))
        .value(":hi", s(&format!("k{:04}", 5000 - 20)))
        .filter("tag <> :t")
        .value(":t", common::n(0))
        .index("gsi1")
        .descending()
        .limit(4);
    let first = query.send::<Entry>().await.expect("page");
    assert_eq!(numbers(&first.items), vec![20, 22, 24, 26]);
    let second = query
        .clone()
        .cursor(first.cursor.expect("more"))
        .send::<Entry>()
        .await
        .expect("page");
    // 28 and 42 and 56 are multiples of 7: filtered out.
    assert_eq!(numbers(&second.items), vec![30, 32, 34, 36]);

    // A strongly consistent read of a global index is refused by DynamoDB.
    let err = table
        .query("gsi1pk = :g")
        .value(":g", s("even"))
        .index("gsi1")
        .consistent_read(true)
        .send::<Entry>()
        .await
        .expect_err("no consistent read on a GSI");
    assert!(
        matches!(&err, Error::Dynamo { code: Some(code), .. } if code == "ValidationException"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Located {
    pk: String,
    n: u32,
}

#[tokio::test]
async fn an_index_query_pages_through_equal_index_keys() {
    let table = indexed_table().await;
    // Three partitions hold the same index keys: each index key is shared
    // by three items, which only the table key tells apart.
    for pk in ["a", "b", "c"] {
        fill(&table, pk, 0..40).await;
    }
    for limit in [1u32, 2, 4, 5] {
        let found: Vec<Located> = table
            .query("gsi1pk = :g")
            .value(":g", s("even"))
            .index("gsi1")
            .limit(limit)
            .stream()
            .try_collect()
            .await
            .expect("stream");
        assert_eq!(found.len(), 60, "limit {limit}");
        let numbers: Vec<u32> = found.iter().map(|l| l.n).collect();
        let expected: Vec<u32> = (0..40u32)
            .rev()
            .filter(|n| n.is_multiple_of(2))
            .flat_map(|n| [n, n, n])
            .collect();
        assert_eq!(numbers, expected, "limit {limit}");
        let mut sorted = found;
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 60, "no duplicate with limit {limit}");
    }
}

#[tokio::test]
async fn a_consistent_query_sees_every_acknowledged_write() {
    let table = common::table().await;
    for n in 0..30u32 {
        table
            .put_item(key("p", n), &entry(n))
            .send()
            .await
            .expect("put");
        let page = by_partition(&table, "p")
            .consistent_read(true)
            .send::<Entry>()
            .await
            .expect("query");
        assert_eq!(numbers(&page.items), (0..=n).collect::<Vec<_>>());
        assert_eq!(page.cursor, None);
    }
}

/// The query `pk = :pk` on `p`, by pages of 10, from `cursor`.
async fn try_cursor(table: &Table, cursor: String) -> Result<Page<Entry>, Error> {
    by_partition(table, "p")
        .limit(10)
        .cursor(cursor)
        .send()
        .await
}

fn assert_invalid_cursor(result: Result<Page<Entry>, Error>, what: &str) {
    match result {
        Err(err @ Error::InvalidCursor { .. }) => {
            assert!(
                err.to_string().starts_with("invalid cursor for table `"),
                "{what}: {err}"
            );
            assert!(err.is_invalid_input(), "{what}");
            assert!(!err.is_retryable(), "{what}");
            assert!(!err.is_conflict(), "{what}");
        }
        other => panic!("{what}: expected InvalidCursor, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_and_foreign_cursors_are_invalid() {
    let table = indexed_table().await;
    fill(&table, "p", 0..100).await;
    fill(&table, "q", 100..200).await;
    let page = by_partition(&table, "p")
        .limit(10)
        .send::<Entry>()
        .await
        .expect("page");
    let cursor = page.cursor.expect("more");
    // The cursor is good, and good again.
    for _ in 0..2 {
        let next = by_partition(&table, "p")
            .limit(10)
            .cursor(cursor.clone())
            .send::<Entry>()
            .await
            .expect("page");
        assert_eq!(numbers(&next.items), (10..20).collect::<Vec<_>>());
    }

    let requests = table.request_count();
    for junk in [
        "garbage".to_owned(),
        String::new(),
        "!!!!".to_owned(),
        "AQ".to_owned(),
        "é€🙂".to_owned(),
        "A".repeat(20_000),
        format!("{cursor}{cursor}"),
        format!("{cursor}AA"),
        cursor.to_uppercase(),
    ] {
        assert_invalid_cursor(try_cursor(&table, junk.clone()).await, &junk);
    }
    // Every truncation, and every single-character edit.
    for len in 0..cursor.len() {
        assert_invalid_cursor(
            try_cursor(&table, cursor[..len].to_owned()).await,
            &format!("truncated to {len}"),
        );
    }
    for i in 0..cursor.len() {
        let mut bytes = cursor.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(bytes).expect("ascii");
        assert_invalid_cursor(try_cursor(&table, edited).await, &format!("edited at {i}"));
    }
    assert_eq!(table.request_count(), requests, "no request was sent");

    // Cursors of other queries.
    let foreign = [
        (
            "another key condition",
            table
                .query("pk = :pk AND sk >= :min")
                .value(":pk", s("p"))
                .value(":min", common::n(0)),
        ),
        (
            "an index",
            table.query("pk = :pk").value(":pk", s("p")).index("gsi1"),
        ),
    ];
    for (what, query) in foreign {
        assert_invalid_cursor(query.cursor(cursor.clone()).send().await, what);
    }
    let index_page = table
        .query("gsi1pk = :g")
        .value(":g", s("even"))
        .index("gsi1")
        .limit(3)
        .send::<Entry>()
        .await
        .expect("page");
    let index_cursor = index_page.cursor.expect("more");
    assert_invalid_cursor(
        table
            .query("gsi1pk = :g")
            .value(":g", s("even"))
            .limit(3)
            .cursor(index_cursor.clone())
            .send()
            .await,
        "an index cursor on the table",
    );
    assert_invalid_cursor(
        try_cursor(&table, index_cursor.clone()).await,
        "an index cursor on another query",
    );
    let from_index = table
        .query("gsi1pk = :g")
        .value(":g", s("even"))
        .index("gsi1")
        .limit(3)
        .cursor(index_cursor)
        .send::<Entry>()
        .await
        .expect("the index cursor on its own query");
    assert_eq!(numbers(&index_page.items), vec![198, 196, 194]);
    assert_eq!(numbers(&from_index.items), vec![192, 190, 188]);

    // The same query on another table.
    let other = common::table().await;
    fill(&other, "p", 0..20).await;
    assert_invalid_cursor(
        by_partition(&other, "p")
            .cursor(cursor.clone())
            .send()
            .await,
        "another table",
    );

    // The same table, read through a handle with a cursor secret.
    let dynamo = dynago_local::shared().await.expect("server");
    let secret = Table::connect(
        dynamo
            .table_options(table.name())
            .partition_key("pk")
            .sort_key("sk")
            .cursor_secret(b"0123456789abcdef0123".to_vec()),
    )
    .await
    .expect("table");
    assert_invalid_cursor(
        by_partition(&secret, "p")
            .limit(10)
            .cursor(cursor.clone())
            .send()
            .await,
        "another secret",
    );
    let secret_page = by_partition(&secret, "p")
        .limit(10)
        .send::<Entry>()
        .await
        .expect("page");
    let secret_cursor = secret_page.cursor.expect("more");
    assert_invalid_cursor(
        try_cursor(&table, secret_cursor.clone()).await,
        "a secret cursor without the secret",
    );
    let next = by_partition(&secret, "p")
        .limit(10)
        .cursor(secret_cursor)
        .send::<Entry>()
        .await
        .expect("page");
    assert_eq!(numbers(&next.items), (10..20).collect::<Vec<_>>());

    // A stream with a bad cursor ends with the error.
    let streamed: Result<Vec<Entry>, Error> = by_partition(&table, "p")
        .cursor("garbage")
        .stream()
        .try_collect()
        .await;
    assert!(
        matches!(streamed, Err(Error::InvalidCursor { .. })),
        "{streamed:?}"
    );
}

#[tokio::test]
async fn a_cursor_of_another_partition_is_invalid() {
    let table = common::table().await;
    fill(&table, "p", 0..30).await;
    fill(&table, "q", 0..30).await;
    let cursor = by_partition(&table, "p")
        .limit(10)
        .send::<Entry>()
        .await
        .expect("page")
        .cursor
        .expect("more");
    // Same key condition text, other values: another query.
    assert_invalid_cursor(
        by_partition(&table, "q")
            .limit(10)
            .cursor(cursor.clone())
            .send()
            .await,
        "another partition",
    );
    let range = |min: u32| {
        table
            .query("pk = :pk AND sk >= :min")
            .value(":pk", s("p"))
            .value(":min", common::n(min))
            .limit(5)
    };
    let from_zero = range(0).send::<Entry>().await.expect("page");
    assert_invalid_cursor(
        range(20)
            .cursor(from_zero.cursor.expect("more"))
            .send()
            .await,
        "another lower bound",
    );
    // The same query, the other way round.
    assert_invalid_cursor(
        by_partition(&table, "p")
            .descending()
            .limit(10)
            .cursor(cursor)
            .send()
            .await,
        "another direction",
    );
}

#[tokio::test]
async fn cursors_are_url_safe_and_bounded() {
    let table = common::table().await;
    fill(&table, "p", 0..10).await;
    let page = by_partition(&table, "p")
        .limit(3)
        .send::<Entry>()
        .await
        .expect("page");
    let cursor = page.cursor.expect("more");
    assert!(
        cursor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{cursor}"
    );
    assert!(cursor.len() < 200, "{}", cursor.len());
    // The last page of an exact multiple may come with a cursor; the page
    // after it is then empty and final.
    let mut query = by_partition(&table, "p").limit(5);
    let first = query.send::<Entry>().await.expect("page");
    assert_eq!(numbers(&first.items), vec![0, 1, 2, 3, 4]);
    query = query.cursor(first.cursor.expect("more"));
    let second = query.send::<Entry>().await.expect("page");
    assert_eq!(numbers(&second.items), vec![5, 6, 7, 8, 9]);
    if let Some(c) = second.cursor {
        let third = by_partition(&table, "p")
            .limit(5)
            .cursor(c)
            .send::<Entry>()
            .await
            .expect("page");
        assert_eq!(third.items, vec![]);
        assert_eq!(third.cursor, None);
    }
}
