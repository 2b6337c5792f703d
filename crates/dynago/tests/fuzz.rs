//! Untrusted input against a real table: random and edited cursors are
//! `InvalidCursor`, with no request sent; random items read back through
//! typed code are values or `Deserialize` errors that name the item, never a
//! panic.
#[path = "common/arbitrary.rs"]
mod arbitrary;
use crate::common;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use common::{key, s};
use dynago::{Error, Item, Table};
use futures::StreamExt;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    n: u32,
}

/// The query whose cursors are fuzzed: partition `p`, 3 items a page.
fn query(table: &Table) -> dynago::Query {
    table.query("pk = :pk").value(":pk", s("p")).limit(3)
}

/// Every cursor of `query`, page after page.
async fn cursors(query: dynago::Query) -> Vec<String> {
    let mut found = Vec::new();
    let mut next = Some(query.clone());
    while let Some(q) = next.take() {
        let page = q.send::<Row>().await.expect("a page");
        if let Some(cursor) = page.cursor {
            next = Some(query.clone().cursor(cursor.clone()));
            found.push(cursor);
        }
    }
    found
}

#[derive(Debug, Clone)]
enum Candidate {
    Text(String),
    Edited(Index, Vec<(Index, u8, u8)>),
    Foreign(Index),
}

/// Applies byte edits (replace, delete, insert, truncate) to an ASCII cursor.
fn edit(cursor: &str, edits: &[(Index, u8, u8)]) -> String {
    let mut bytes = cursor.as_bytes().to_vec();
    for (at, kind, byte) in edits {
        let byte = byte % 128;
        let len = bytes.len();
        match kind % 4 {
            0 if len > 0 => bytes[at.index(len)] = byte,
            1 if len > 0 => {
                bytes.remove(at.index(len));
            }
            2 => bytes.insert(at.index(len + 1), byte),
            _ => bytes.truncate(at.index(len + 1)),
        }
    }
    String::from_utf8(bytes).expect("ASCII")
}

#[test]
fn random_and_edited_cursors_are_invalid_with_no_request_sent() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let table = runtime.block_on(async {
        let table = common::table().await;
        let batch = (0..40).fold(table.batch_write(), |batch, n| {
            batch.put(key("p", n), &Row { n })
        });
        let batch = (0..10).fold(batch, |batch, n| batch.put(key("q", n), &Row { n }));
        batch.send().await.expect("rows");
        table
    });
    let real = runtime.block_on(cursors(query(&table)));
    assert_eq!(real.len(), 13);
    // Cursors of other queries: descending, another partition, a filter
    // does not count (so it is left out), another page size does not either.
    let foreign = runtime.block_on(async {
        let mut foreign = cursors(query(&table).descending()).await;
        foreign.extend(cursors(table.query("pk = :pk").value(":pk", s("q")).limit(3)).await);
        foreign.extend(cursors(table.query("pk = :other").value(":other", s("p")).limit(3)).await);
        foreign
    });
    assert!(foreign.len() >= 10);

    let candidate = prop_oneof![
        2 => any::<String>().prop_map(Candidate::Text),
        2 => "[A-Za-z0-9_-]{0,120}".prop_map(Candidate::Text),
        4 => (any::<Index>(), proptest::collection::vec((any::<Index>(), any::<u8>(), any::<u8>()), 1..4))
            .prop_map(|(which, edits)| Candidate::Edited(which, edits)),
        1 => any::<Index>().prop_map(Candidate::Foreign),
    ];
    let sent_ok = Cell::new(0);
    let result = runner(400).run(&candidate, |candidate| {
        let cursor = match &candidate {
            Candidate::Text(text) => text.clone(),
            Candidate::Edited(which, edits) => edit(which.get::<String>(&real), edits),
            Candidate::Foreign(which) => which.get::<String>(&foreign).clone(),
        };
        runtime.block_on(async {
            let before = table.request_count();
            let result = query(&table).cursor(cursor.clone()).send::<Row>().await;
            if real.contains(&cursor) {
                prop_assert!(result.is_ok(), "{result:?}");
                sent_ok.set(sent_ok.get() + 1);
                return Ok(());
            }
            match result {
                Err(Error::InvalidCursor { .. }) => {}
                other => return Err(TestCaseError::fail(format!("{cursor:?}: {other:?}"))),
            }
            prop_assert_eq!(table.request_count(), before, "no request for a bad cursor");
            // The stream refuses it the same way, at once.
            let mut stream = std::pin::pin!(query(&table).cursor(cursor).stream::<Row>());
            let first = stream.next().await;
            prop_assert!(
                matches!(first, Some(Err(Error::InvalidCursor { .. }))),
                "{first:?}"
            );
            prop_assert!(stream.next().await.is_none());
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Edits that change nothing (a truncation at the end) still page on.
    assert!(sent_ok.get() < 400);
}

/// The names the typed readers below look for.
const KNOWN: &[&str] = &[
    "name", "age", "tags", "nested", "flag", "score", "bytes", "kind", "a", "b", "Circle",
    "Square", "Empty", "r", "id", "pk", "sk", "when",
];

#[derive(Debug, PartialEq, Deserialize)]
#[allow(dead_code)]
struct Profile {
    name: String,
    age: Option<u8>,
    #[serde(default)]
    tags: Vec<String>,
    nested: Option<Nested>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[allow(dead_code)]
struct Nested {
    flag: bool,
    score: f64,
    bytes: Option<Vec<u8>>,
    kind: Option<Shape>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[allow(dead_code)]
enum Shape {
    Circle { r: f64 },
    Square(u64),
    Empty,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "kind")]
#[allow(dead_code)]
enum Tagged {
    A { a: i64 },
    B { b: String, tags: Option<Vec<i16>> },
}

#[derive(Debug, PartialEq, Deserialize)]
#[allow(dead_code)]
struct Keys {
    pk: String,
    sk: u32,
    id: Option<uuid::Uuid>,
    when: Option<u64>,
}

/// Reads the item under `(fuzz, sk)` as a `T`: a value, or a `Deserialize`
/// error that names the table and the item.
async fn read_as<T: DeserializeOwned + std::fmt::Debug>(
    table: &Table,
    sk: u32,
) -> Result<bool, TestCaseError> {
    let read = match table
        .get_item(key("fuzz", sk))
        .consistent_read(true)
        .send::<T>()
        .await
    {
        Ok(found) => {
            prop_assert!(found.is_some());
            true
        }
        Err(Error::Deserialize {
            table: t, key: k, ..
        }) => {
            prop_assert_eq!(t, table.name());
            prop_assert_eq!(k, format!("(\"fuzz\", {sk})"));
            false
        }
        Err(other) => {
            return Err(TestCaseError::fail(format!(
                "{}: {other:?}",
                std::any::type_name::<T>()
            )))
        }
    };
    Ok(read)
}

#[test]
fn random_items_read_as_typed_values_or_deserialize_errors() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let table = runtime.block_on(common::table());
    let counter = Cell::new(0u32);
    let decoded = Cell::new(0usize);
    let outcomes = Cell::new((0usize, 0usize));
    let result = runner(300).run(&arbitrary::item(KNOWN, 6), |mut item: Item| {
        let sk = counter.get() + 1;
        counter.set(sk);
        item.insert("pk".into(), s("fuzz"));
        item.insert("sk".into(), common::n(sk));
        runtime.block_on(async {
            common::put_raw(&table, item).await;
            let reads = [
                read_as::<Profile>(&table, sk).await?,
                read_as::<Tagged>(&table, sk).await?,
                read_as::<Keys>(&table, sk).await?,
                read_as::<HashMap<String, serde_json::Value>>(&table, sk).await?,
                read_as::<BTreeMap<String, Shape>>(&table, sk).await?,
                // As JSON: binary values have no JSON form, so not everything.
                read_as::<serde_json::Value>(&table, sk).await?,
            ];
            outcomes.set(reads.iter().fold(outcomes.get(), |(ok, err), read| {
                if *read {
                    (ok + 1, err)
                } else {
                    (ok, err + 1)
                }
            }));
            decoded.set(decoded.get() + 1);
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert!(decoded.get() >= 300);
    let (values, errors) = outcomes.get();
    assert!(
        values > 100 && errors > 100,
        "{values} values, {errors} errors"
    );
    let sk = counter.get();

    // Through the paths that read many items at once: every item of the
    // partition, as each type, is the same outcome as one by one. A page or
    // a batch is a value only when each of its items is, and then holds
    // every one of them, in order: none is dropped.
    runtime.block_on(async {
        let query = table
            .query("pk = :pk")
            .value(":pk", s("fuzz"))
            .consistent_read(true);
        let all: Vec<Item> = futures::TryStreamExt::try_collect(query.clone().stream_raw())
            .await
            .expect("all, raw");
        assert_eq!(all.len(), sk as usize);
        let mut agreed = 0;
        agreed += many_as_one_by_one::<Profile>(&table, sk).await;
        agreed += many_as_one_by_one::<Tagged>(&table, sk).await;
        agreed += many_as_one_by_one::<Keys>(&table, sk).await;
        agreed += many_as_one_by_one::<HashMap<String, serde_json::Value>>(&table, sk).await;
        agreed += many_as_one_by_one::<serde_json::Value>(&table, sk).await;
        assert!(agreed > 100, "{agreed} items compared as values");
    });
}

/// The item `(fuzz, sk)` of each `sk` from 1 to `count`, read alone as a
/// `T`: its value, or `None` when it is not a `T`.
async fn one_by_one<T: DeserializeOwned>(table: &Table, count: u32) -> Vec<(u32, Option<T>)> {
    let mut read = Vec::with_capacity(count as usize);
    for sk in 1..=count {
        let value = match table
            .get_item(key("fuzz", sk))
            .consistent_read(true)
            .send::<T>()
            .await
        {
            Ok(Some(value)) => Some(value),
            Ok(None) => panic!("item {sk} is missing"),
            Err(Error::Deserialize { .. }) => None,
            Err(other) => panic!("item {sk}: {other:?}"),
        };
        read.push((sk, value));
    }
    read
}

/// The key of `(fuzz, sk)` as a `Deserialize` error names it.
fn named(sk: u32) -> String {
    format!("(\"fuzz\", {sk})")
}

/// Checks that `result`, the reading of `expected` in one go, is the values
/// of them all when each is a `T`, and otherwise the error of the first
/// that is not. Returns how many values were compared.
fn agrees<T: PartialEq + std::fmt::Debug>(
    what: &str,
    result: Result<Vec<T>, Error>,
    expected: &[&(u32, Option<T>)],
) -> usize {
    match expected.iter().find(|(_, value)| value.is_none()) {
        None => {
            let values =
                result.unwrap_or_else(|e| panic!("{what}: every item decodes alone: {e:?}"));
            let alone: Vec<&T> = expected.iter().filter_map(|(_, v)| v.as_ref()).collect();
            assert_eq!(values.iter().collect::<Vec<_>>(), alone, "{what}");
            values.len()
        }
        Some((first, _)) => {
            match result {
                Err(Error::Deserialize { key, .. }) => {
                    assert_eq!(key, named(*first), "{what}: the first that does not decode")
                }
                other => panic!("{what}: item {first} does not decode alone, yet: {other:?}"),
            }
            0
        }
    }
}

/// Reads the partition as `T` by pages of 25 and in batches, and checks
/// each against the items read one by one; returns how many values were
/// compared.
async fn many_as_one_by_one<T>(table: &Table, count: u32) -> usize
where
    T: DeserializeOwned + PartialEq + std::fmt::Debug + Send + 'static,
{
    let what = std::any::type_name::<T>();
    let alone = one_by_one::<T>(table, count).await;
    let mut compared = 0;

    // Page by page, resumed by cursor, until a page that does not decode.
    let query = table
        .query("pk = :pk")
        .value(":pk", s("fuzz"))
        .consistent_read(true)
        .limit(25);
    let mut cursor: Option<String> = None;
    for (index, chunk) in alone.chunks(25).enumerate() {
        let mut page_query = query.clone();
        if let Some(cursor) = cursor.take() {
            page_query = page_query.cursor(cursor);
        }
        let page = page_query.send::<T>().await;
        let expected: Vec<&(u32, Option<T>)> = chunk.iter().collect();
        let next = page.as_ref().ok().and_then(|p| p.cursor.clone());
        compared += agrees(
            &format!("{what}, page {index}"),
            page.map(|p| p.items),
            &expected,
        );
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    // A batch of the first 150 keys, and one of only the keys whose items
    // decode alone.
    let first: Vec<&(u32, Option<T>)> = alone.iter().take(150).collect();
    let batch = table
        .batch_get_items(first.iter().map(|(sk, _)| key("fuzz", *sk)))
        .consistent_read(true)
        .send::<T>()
        .await;
    compared += agrees(&format!("{what}, batch"), batch, &first);
    let decoding: Vec<&(u32, Option<T>)> = alone.iter().filter(|(_, v)| v.is_some()).collect();
    let batch = table
        .batch_get_items(decoding.iter().map(|(sk, _)| key("fuzz", *sk)))
        .consistent_read(true)
        .send::<T>()
        .await;
    compared += agrees(
        &format!("{what}, batch of those that decode"),
        batch,
        &decoding,
    );
    compared
}
