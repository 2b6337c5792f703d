//! Typed expressions against the server: every comparison and function as
//! a condition, nested paths and list indexes, key conditions, filters and
//! projections of queries (with their cursors), typed and raw forms side by
//! side, and the 4 KB limit.
use crate::common;

use common::{key, n, raw_item, s};
use dynago::expr::{
    attr, attr_exists, attr_not_exists, attribute_type, not, size, string_set, AttributeType,
};
use dynago::transact::{Check, Delete, Put};
use dynago::{Condition, Error, Expr, Table};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    city: String,
    zip: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Doc {
    status: String,
    name: String,
    count: i64,
    tags: Vec<String>,
    address: Address,
    #[serde(rename = "meta.kind")]
    kind: String,
}

fn doc() -> Doc {
    Doc {
        status: "open".into(),
        name: "Ada Lovelace".into(),
        count: 7,
        tags: vec!["math".into(), "engines".into()],
        address: Address {
            city: "London".into(),
            zip: "W1".into(),
        },
        kind: "person".into(),
    }
}

/// Whether `condition` holds on the stored `doc()`, asked of the server by
/// a condition check in a transaction, which writes nothing.
async fn holds(table: &Table, condition: Expr) -> bool {
    match table
        .transact_write()
        .check(Check::new(key("doc", 1), condition))
        .send()
        .await
    {
        Ok(()) => true,
        Err(e) if e.is_conflict() => false,
        Err(e) => panic!("the server refused the condition: {e}"),
    }
}

#[tokio::test]
async fn every_comparison_and_function_is_evaluated_by_the_server() {
    let table = common::table().await;
    table
        .put_item(key("doc", 1), &doc())
        .send()
        .await
        .expect("put");
    let cases: Vec<(Expr, bool)> = vec![
        (attr("count").eq(7), true),
        (attr("count").eq(8), false),
        (attr("count").ne(8), true),
        (attr("count").lt(8), true),
        (attr("count").lt(7), false),
        (attr("count").le(7), true),
        (attr("count").gt(6), true),
        (attr("count").gt(7), false),
        (attr("count").ge(7), true),
        (attr("count").between(1, 7), true),
        (attr("count").between(8, 9), false),
        (attr("status").is_in(["frozen", "open"]), true),
        (attr("status").is_in(["frozen", "closed"]), false),
        (attr("name").begins_with("Ada"), true),
        (attr("name").begins_with("Grace"), false),
        (attr("name").contains("Love"), true),
        (attr("tags").contains("engines"), true),
        (attr("tags").contains("poetry"), false),
        (attr_exists(attr("address")), true),
        (attr("missing").exists(), false),
        (attr_not_exists(attr("missing")), true),
        (attr("status").not_exists(), false),
        (attribute_type(attr("tags"), AttributeType::List), true),
        (attr("count").is_type(AttributeType::Number), true),
        (attr("count").is_type(AttributeType::String), false),
        (size(attr("tags")).eq(2), true),
        (size(attr("name")).gt(20), false),
        (attr("name").size().between(10, 20), true),
        (attr("address").field("city").eq("London"), true),
        (attr("address").field("zip").ne("W1"), false),
        (attr("tags").index(1).eq("engines"), true),
        (attr("tags").index(0).eq("engines"), false),
        (attr("meta.kind").eq("person"), true),
        (
            attr("address").eq(Address {
                city: "London".into(),
                zip: "W1".into(),
            }),
            true,
        ),
        (attr("tags").eq(["math", "engines"]), true),
        (attr("count").eq(7).and(attr("status").eq("open")), true),
        (attr("count").eq(7).and(attr("status").eq("closed")), false),
        (attr("count").eq(0).or(attr("status").eq("open")), true),
        (not(attr("count").eq(7)), false),
        (!attr("status").eq("closed"), true),
        (
            Expr::any([attr("count").eq(1), attr("count").eq(2)]).expect("two"),
            false,
        ),
    ];
    for (condition, expected) in cases {
        let text = Condition::from(condition.clone()).expression().to_owned();
        assert_eq!(holds(&table, condition).await, expected, "{text}");
    }
}

#[tokio::test]
async fn typed_conditions_guard_puts_deletes_and_transactions() {
    let table = common::table().await;
    let k = key("doc", 1);
    // Create only if absent, by a typed condition on a reserved word.
    table
        .put_item(k.clone(), &doc())
        .condition(attr("status").not_exists())
        .send()
        .await
        .expect("create");
    let err = table
        .put_item(k.clone(), &doc())
        .condition(attr("status").not_exists())
        .send()
        .await
        .expect_err("exists");
    assert!(matches!(err, Error::ConditionFailed { .. }), "{err:?}");

    // A typed condition with an optimistic lock: both placeholders sets
    // side by side.
    let mut changed = doc();
    changed.count = 8;
    table
        .put_item(k.clone(), &changed)
        .optimistic_lock("version", 0)
        .condition(attr("count").eq(7))
        .send()
        .await
        .expect_err("the item exists: version 0 conflicts");
    table
        .put_item(key("doc", 2), &changed)
        .optimistic_lock("version", 0)
        .condition(attr("count").not_exists())
        .send()
        .await
        .expect("create under lock and condition");
    table
        .put_item(key("doc", 2), &changed)
        .optimistic_lock("version", 1)
        .condition(attr("count").eq(8).and(attr("name").begins_with("Ada")))
        .send()
        .await
        .expect("update under lock and condition");

    // Transactions take them too.
    table
        .transact_write()
        .put(Put::new(key("doc", 3), &doc()).condition(attr("status").not_exists()))
        .delete(Delete::new(key("doc", 2)).condition(attr("count").ge(8)))
        .send()
        .await
        .expect("transaction");
    assert!(raw_item(&table, &key("doc", 3)).await.is_some());
    assert!(raw_item(&table, &key("doc", 2)).await.is_none());

    // A delete under a failing typed condition leaves the item.
    let err = table
        .delete_item(k.clone())
        .condition(attr("address").field("city").eq("Paris"))
        .send()
        .await
        .expect_err("not in Paris");
    assert!(matches!(err, Error::ConditionFailed { .. }), "{err:?}");
    table
        .delete_item(k.clone())
        .condition(attr("address").field("city").eq("London"))
        .send()
        .await
        .expect("in London");
    assert!(raw_item(&table, &k).await.is_none());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    pk: String,
    sk: u32,
    status: String,
    #[serde(default)]
    name: Option<String>,
}

async fn rows(table: &Table) {
    let mut batch = table.batch_write();
    for i in 0..30u32 {
        let row = Row {
            pk: "p".into(),
            sk: i,
            status: if i % 3 == 0 { "open" } else { "closed" }.into(),
            name: Some(format!("row {i}")),
        };
        batch = batch.put(key("p", i), &row);
    }
    batch
        .put(
            key("q", 0),
            &Row {
                pk: "q".into(),
                sk: 0,
                status: "open".into(),
                name: None,
            },
        )
        .send()
        .await
        .expect("seed");
}

#[tokio::test]
async fn queries_take_typed_key_conditions_filters_and_projections() {
    let table = common::table().await;
    rows(&table).await;

    // Key condition on the partition and a sort key range.
    let page = table
        .query(attr("pk").eq("p").and(attr("sk").between(10, 19)))
        .consistent_read(true)
        .send::<Row>()
        .await
        .expect("query");
    let sks: Vec<u32> = page.items.iter().map(|r| r.sk).collect();
    assert_eq!(sks, (10..20).collect::<Vec<_>>());

    // With a filter on a reserved word and a projection of a reserved word.
    let page = table
        .query(attr("pk").eq("p").and(attr("sk").lt(10)))
        .filter(attr("status").eq("open"))
        .projection([attr("pk"), attr("sk"), attr("status")])
        .consistent_read(true)
        .send_raw()
        .await
        .expect("query");
    let sks: Vec<_> = page.items.iter().map(|i| i["sk"].clone()).collect();
    assert_eq!(sks, [n(0), n(3), n(6), n(9)]);
    assert!(page.items.iter().all(|i| !i.contains_key("name")));
    assert!(page.items.iter().all(|i| i["status"] == s("open")));

    // A raw key condition with a typed filter: their placeholders do not meet.
    let open: Vec<Row> = table
        .query("pk = :pk")
        .value(":pk", s("p"))
        .filter(
            attr("status")
                .eq("open")
                .and(attr("name").begins_with("row 2")),
        )
        .consistent_read(true)
        .stream()
        .try_collect()
        .await
        .expect("query");
    let sks: Vec<u32> = open.iter().map(|r| r.sk).collect();
    assert_eq!(sks, [21, 24, 27]);

    // A typed key condition with a raw filter.
    let page = table
        .query(attr("pk").eq("q"))
        .filter("attribute_not_exists(#n)")
        .name("#n", "name")
        .consistent_read(true)
        .send::<Row>()
        .await
        .expect("query");
    assert_eq!(page.items.len(), 1);

    // begins_with on a sort key: a string one, on another table.
    let strings = common::table_with(Some("sk"), dynago::TableDefinition::default()).await;
    for sk in ["event#1", "event#2", "note#1"] {
        strings
            .put_item(
                dynago::Key::new(s("p")).sort(s(sk)),
                &serde_json::json!({ "n": 1 }),
            )
            .send()
            .await
            .expect("put");
    }
    let events = strings
        .query(attr("pk").eq("p").and(attr("sk").begins_with("event#")))
        .consistent_read(true)
        .send_raw()
        .await
        .expect("query");
    assert_eq!(events.items.len(), 2);
}

#[tokio::test]
async fn typed_queries_page_with_their_cursors() {
    let table = common::table().await;
    rows(&table).await;
    let query = || {
        table
            .query(attr("pk").eq("p").and(attr("sk").ge(5)))
            .filter(attr("status").eq("closed"))
            .limit(4)
            .consistent_read(true)
    };
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let mut q = query();
        if let Some(c) = cursor.take() {
            q = q.cursor(c);
        }
        let page = q.send::<Row>().await.expect("page");
        seen.extend(page.items.iter().map(|r| r.sk));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<u32> = (5..30).filter(|i| i % 3 != 0).collect();
    assert_eq!(seen, expected);

    // A cursor of one typed query is refused by another.
    let page = query().send::<Row>().await.expect("page");
    let cursor = page.cursor.expect("more pages");
    let err = table
        .query(attr("pk").eq("q"))
        .cursor(cursor)
        .send::<Row>()
        .await
        .expect_err("another query");
    assert!(matches!(err, Error::InvalidCursor { .. }), "{err:?}");
}

#[tokio::test]
async fn a_filter_over_4_kb_is_refused_before_sending() {
    let table = common::table().await;
    let long =
        Expr::any((0..300).map(|i| attr("status").eq(format!("state {i}")))).expect("filters");
    let before = table.request_count();
    let err = table
        .query(attr("pk").eq("p"))
        .filter(long)
        .send_raw()
        .await
        .expect_err("over 4 KB");
    match &err {
        Error::ExpressionTooLarge {
            table: named,
            expression,
            ..
        } => {
            assert_eq!(named, table.name());
            assert_eq!(*expression, "FilterExpression");
        }
        other => panic!("expected ExpressionTooLarge, got {other:?}"),
    }
    // A raw key condition over 4 KB too.
    let raw = format!("pk = :pk{}", " AND pk = :pk".repeat(400));
    let err = table
        .query(raw)
        .value(":pk", s("p"))
        .send_raw()
        .await
        .expect_err("over 4 KB");
    assert!(
        matches!(
            err,
            Error::ExpressionTooLarge {
                expression: "KeyConditionExpression",
                ..
            }
        ),
        "{err:?}"
    );
    // And a put's condition.
    let long = Expr::all((0..300).map(|i| attr(format!("attribute {i}")).not_exists()))
        .expect("conditions");
    let err = table
        .put_item(key("p", 1), &serde_json::json!({ "a": 1 }))
        .condition(long)
        .send()
        .await
        .expect_err("over 4 KB");
    assert!(
        matches!(
            err,
            Error::ExpressionTooLarge {
                expression: "ConditionExpression",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(table.request_count(), before, "no request was sent");
}

#[tokio::test]
async fn sets_compare_by_contains_and_size() {
    let table = common::table().await;
    table
        .update_item(
            key("doc", 1),
            dynago::UpdateExpression::new().set("labels", string_set(["a", "b", "c"])),
        )
        .send()
        .await
        .expect("a set");
    assert!(holds(&table, attr("labels").contains("b")).await);
    assert!(!holds(&table, attr("labels").contains("z")).await);
    assert!(holds(&table, attr("labels").is_type(AttributeType::StringSet)).await);
    assert!(holds(&table, size(attr("labels")).eq(3)).await);
}
