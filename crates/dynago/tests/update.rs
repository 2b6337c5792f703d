//! `update_item` against the server: every clause, return values, the
//! optimistic lock (alone, with a condition, under concurrency), atomic
//! counters, lost answers through the fault proxy, names that need
//! placeholders, the 4 KB limit, and typed updates in transactions.
use crate::common;

use std::sync::Arc;

use common::{account, key, n, raw_item, s, stored, Account};
use dynago::expr::{attr, number_set, string_set};
use dynago::transact::Update;
use dynago::{
    AttributeValue, Error, ReturnValues, UpdateExpression, MAX_EXPRESSION_SIZE, WRITE_ID_ATTRIBUTE,
};
use dynago_local::FaultPlan;
use serde::{Deserialize, Serialize};

fn expect_conflict(err: &Error, expected: u64, actual: Option<u64>) {
    match err {
        Error::VersionConflict {
            expected: e,
            actual: a,
            ..
        } => assert_eq!((*e, *a), (expected, actual), "{err}"),
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert!(err.is_conflict());
}

fn list(values: &[AttributeValue]) -> AttributeValue {
    AttributeValue::L(values.to_vec())
}

fn sorted_set(value: Option<&AttributeValue>) -> Vec<String> {
    let mut members = match value {
        Some(AttributeValue::Ss(m) | AttributeValue::Ns(m)) => m.clone(),
        other => panic!("expected a set, got {other:?}"),
    };
    members.sort();
    members
}

#[derive(Debug, Serialize)]
struct Address {
    city: String,
    zip: String,
}

#[tokio::test]
async fn every_clause_applies() {
    let table = common::table().await;
    let k = key("item", 1);
    table
        .update_item(
            k.clone(),
            UpdateExpression::new()
                .set("title", "first")
                .set(
                    "address",
                    Address {
                        city: "Paris".into(),
                        zip: "75001".into(),
                    },
                )
                .set("history", ["created"])
                .set("tags", string_set(["a", "b", "c"]))
                .set("scores", number_set([1, 2]))
                .set("doomed", true)
                .set_if_not_exists("created_at", "2024-01-01"),
        )
        .send()
        .await
        .expect("create by update");
    table
        .update_item(
            k.clone(),
            UpdateExpression::new()
                .set(attr("address").field("city"), "London")
                .set(attr("history").index(0), "made")
                .set_if_not_exists("created_at", "2099-12-31")
                .set_if_not_exists("first_seen", "2024-02-02")
                .prepend("log", ["start"])
                .increment("views", 5)
                .decrement("credit", 2)
                .remove("doomed")
                .remove(attr("address").field("zip"))
                .add("tags", string_set(["d"]))
                .add("logins", 3)
                .delete("scores", number_set([1])),
        )
        .send()
        .await
        .expect("update every clause");
    let item = raw_item(&table, &k).await.expect("stored");
    assert_eq!(item["title"], s("first"));
    let AttributeValue::M(address) = &item["address"] else {
        panic!("a map: {item:?}");
    };
    assert_eq!(address.get("city"), Some(&s("London")));
    assert_eq!(address.get("zip"), None);
    assert_eq!(item["history"], list(&[s("made")]));
    assert_eq!(item["log"], list(&[s("start")]));
    assert_eq!(item["created_at"], s("2024-01-01"));
    assert_eq!(item["first_seen"], s("2024-02-02"));
    assert_eq!(item["views"], n(5));
    assert_eq!(item["credit"], n(-2));
    assert_eq!(item["logins"], n(3));
    assert!(!item.contains_key("doomed"));
    assert_eq!(sorted_set(item.get("tags")), ["a", "b", "c", "d"]);
    assert_eq!(sorted_set(item.get("scores")), ["2"]);

    // The counters again: from where they are.
    table
        .update_item(
            k.clone(),
            UpdateExpression::new()
                .increment("views", 1)
                .add("logins", -1)
                .delete("tags", string_set(["a", "d"]))
                .append("history", ["edited"])
                .prepend("log", ["before"]),
        )
        .send()
        .await
        .expect("second update");
    let item = raw_item(&table, &k).await.expect("stored");
    assert_eq!(item["views"], n(6));
    assert_eq!(item["logins"], n(2));
    assert_eq!(sorted_set(item.get("tags")), ["b", "c"]);
    assert_eq!(item["log"], list(&[s("before"), s("start")]));
    assert_eq!(item["history"], list(&[s("made"), s("edited")]));
}

#[tokio::test]
async fn return_values_give_what_was_asked() {
    let table = common::table().await;
    let k = key("item", 1);
    let outcome = table
        .update_item(k.clone(), UpdateExpression::new().set("a", 1).set("b", "x"))
        .send()
        .await
        .expect("create");
    assert_eq!(outcome.attributes, None);
    assert_eq!(outcome.version, None);
    assert!(!outcome.recovered);

    let update = || UpdateExpression::new().increment("a", 1);
    let old = table
        .update_item(k.clone(), update())
        .return_values(ReturnValues::AllOld)
        .send()
        .await
        .expect("all old")
        .attributes
        .expect("the old item");
    assert_eq!((old.get("a"), old.get("b")), (Some(&n(1)), Some(&s("x"))));
    assert_eq!(old.get("pk"), Some(&s("item")));

    let new = table
        .update_item(k.clone(), update())
        .return_values(ReturnValues::AllNew)
        .send()
        .await
        .expect("all new")
        .attributes
        .expect("the new item");
    assert_eq!((new.get("a"), new.get("b")), (Some(&n(3)), Some(&s("x"))));

    let updated_old = table
        .update_item(k.clone(), update())
        .return_values(ReturnValues::UpdatedOld)
        .send()
        .await
        .expect("updated old")
        .attributes
        .expect("the updated attributes");
    assert_eq!(updated_old.get("a"), Some(&n(3)));
    assert_eq!(updated_old.get("b"), None, "{updated_old:?}");

    #[derive(Debug, Deserialize, PartialEq)]
    struct Counter {
        a: u32,
    }
    let outcome = table
        .update_item(k.clone(), update())
        .return_values(ReturnValues::UpdatedNew)
        .send()
        .await
        .expect("updated new");
    assert_eq!(
        outcome.attributes_as::<Counter>(&table).expect("a counter"),
        Some(Counter { a: 5 })
    );
}

#[tokio::test]
async fn the_lock_creates_bumps_and_refuses_stale_versions() {
    let table = common::table().await;
    let k = key("acct", 1);
    let outcome = table
        .update_item(
            k.clone(),
            UpdateExpression::new()
                .set("owner", "ada")
                .set("balance", 10),
        )
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create under version 0");
    assert_eq!(outcome.version, Some(1));
    assert_eq!(stored(&table, k.clone()).await, Some(account(10, 1)));

    // Version 0 again: the item exists.
    let err = table
        .update_item(k.clone(), UpdateExpression::new().set("balance", 99))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect_err("the item exists");
    expect_conflict(&err, 0, Some(1));

    let outcome = table
        .update_item(k.clone(), UpdateExpression::new().increment("balance", 5))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect("update at version 1");
    assert_eq!(outcome.version, Some(2));
    assert_eq!(stored(&table, k.clone()).await, Some(account(15, 2)));

    // Stale: refused, nothing written.
    let err = table
        .update_item(k.clone(), UpdateExpression::new().set("balance", 0))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect_err("stale");
    expect_conflict(&err, 1, Some(2));
    assert_eq!(stored(&table, k.clone()).await, Some(account(15, 2)));

    // A version above 0 where there is no item: a conflict with no item,
    // and nothing created.
    let err = table
        .update_item(key("acct", 2), UpdateExpression::new().set("balance", 1))
        .optimistic_lock("version", 4)
        .send()
        .await
        .expect_err("no item");
    expect_conflict(&err, 4, None);
    assert_eq!(raw_item(&table, &key("acct", 2)).await, None);
}

#[tokio::test]
async fn an_update_without_a_lock_never_touches_the_version() {
    let table = common::table().await;
    let k = key("acct", 1);
    table
        .put_item(k.clone(), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    table
        .put_item(k.clone(), &account(10, 1))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect("version 2");
    // An update of an item never read: the version stays as stored.
    let outcome = table
        .update_item(k.clone(), UpdateExpression::new().increment("balance", 1))
        .send()
        .await
        .expect("unlocked update");
    assert_eq!(outcome.version, None);
    assert_eq!(stored(&table, k.clone()).await, Some(account(11, 2)));
    // And a locked put at the stored version still holds.
    table
        .put_item(k.clone(), &account(20, 2))
        .optimistic_lock("version", 2)
        .send()
        .await
        .expect("the version was not reset");
}

#[tokio::test]
async fn a_lock_and_a_condition_must_both_hold() {
    let table = common::table().await;
    let k = key("acct", 1);
    table
        .put_item(k.clone(), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    let debit = |amount: i64| UpdateExpression::new().decrement("balance", amount);

    // The lock holds, the condition does not: ConditionFailed with the item.
    let err = table
        .update_item(k.clone(), debit(50))
        .optimistic_lock("version", 1)
        .condition(attr("balance").ge(50))
        .send()
        .await
        .expect_err("insufficient funds");
    match &err {
        Error::ConditionFailed {
            item: Some(item), ..
        } => {
            assert_eq!(item.get("balance"), Some(&n(10)));
        }
        other => panic!("expected a failed condition, got {other:?}"),
    }
    // The condition holds, the lock does not: a conflict.
    let err = table
        .update_item(k.clone(), debit(5))
        .optimistic_lock("version", 7)
        .condition(attr("balance").ge(5))
        .send()
        .await
        .expect_err("stale");
    expect_conflict(&err, 7, Some(1));
    // Both hold.
    let outcome = table
        .update_item(k.clone(), debit(5))
        .optimistic_lock("version", 1)
        .condition(attr("balance").ge(5))
        .send()
        .await
        .expect("debit");
    assert_eq!(outcome.version, Some(2));
    assert_eq!(stored(&table, k.clone()).await, Some(account(5, 2)));
}

#[tokio::test]
async fn concurrent_locked_updates_lose_nothing() {
    const TASKS: i64 = 6;
    const EACH: i64 = 5;
    let table = common::table().await;
    let k = key("acct", 1);
    table
        .update_item(
            k.clone(),
            UpdateExpression::new()
                .set("owner", "ada")
                .set("balance", 0),
        )
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    let table = Arc::new(table);
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let table = Arc::clone(&table);
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..EACH {
                loop {
                    let current: Account = table
                        .get_item(k.clone())
                        .consistent_read(true)
                        .send()
                        .await
                        .expect("get")
                        .expect("exists");
                    // A read-modify-write: without the lock, concurrent
                    // writers would overwrite each other's balance.
                    let result = table
                        .update_item(
                            k.clone(),
                            UpdateExpression::new().set("balance", current.balance + 1),
                        )
                        .optimistic_lock("version", current.version)
                        .send()
                        .await;
                    match result {
                        Ok(outcome) => {
                            assert_eq!(outcome.version, Some(current.version + 1));
                            break;
                        }
                        Err(e) if e.is_conflict() => conflicts += 1,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        task.await.expect("a task");
    }
    let total = u64::try_from(TASKS * EACH).expect("small");
    assert_eq!(
        stored(&table, k).await,
        Some(account(TASKS * EACH, total + 1))
    );
}

#[tokio::test]
async fn an_atomic_counter_without_a_lock_counts_every_increment() {
    const TASKS: u64 = 8;
    const EACH: u64 = 10;
    let table = Arc::new(common::table().await);
    let k = key("counter", 1);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let table = Arc::clone(&table);
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                // Half by SET if_not_exists + n, half by ADD.
                let update = if (task + i) % 2 == 0 {
                    UpdateExpression::new().increment("count", 1)
                } else {
                    UpdateExpression::new().add("count", 1)
                };
                table
                    .update_item(k.clone(), update)
                    .send()
                    .await
                    .expect("increment");
            }
        }));
    }
    for task in tasks {
        task.await.expect("a task");
    }
    let item = raw_item(&table, &k).await.expect("stored");
    assert_eq!(item["count"], n(TASKS * EACH));
    assert!(!item.contains_key("version"));
}

/// The answer of the next UpdateItem only is lost.
fn lose_next_update() -> FaultPlan {
    FaultPlan::default()
        .drop_answer(1.0)
        .operation("UpdateItem")
        .first(1)
}

#[tokio::test]
async fn a_locked_update_whose_answer_is_lost_is_recovered_and_written_once() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 3, |o| o).await;
    let k = key("acct", 1);
    direct
        .put_item(k.clone(), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");

    proxy.set_plan(lose_next_update());
    let outcome = proxied
        .update_item(k.clone(), UpdateExpression::new().increment("balance", 5))
        .optimistic_lock("version", 1)
        .return_values(ReturnValues::AllNew)
        .send()
        .await
        .expect("the update took place; its resend finds it");
    assert!(outcome.recovered, "{outcome:?}");
    assert_eq!(outcome.version, Some(2));
    let returned = outcome.attributes.expect("the item as the update left it");
    assert_eq!(returned.get("balance"), Some(&n(15)));
    assert_eq!(stored(&direct, k.clone()).await, Some(account(15, 2)));
    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    // Not sent again: read back, its write id there.
    assert_eq!(
        (
            stats.requests_for("UpdateItem"),
            stats.requests_for("GetItem")
        ),
        (1, 1),
        "{stats:?}"
    );

    // The next one goes on from there.
    let outcome = proxied
        .update_item(k.clone(), UpdateExpression::new().increment("balance", 1))
        .optimistic_lock("version", 2)
        .send()
        .await
        .expect("the next update");
    assert!(!outcome.recovered);
    assert_eq!(stored(&direct, k).await, Some(account(16, 3)));
}

#[tokio::test]
async fn an_increment_whose_answer_is_lost_counts_once_thanks_to_its_write_id() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, lose_next_update(), 3, |o| o).await;
    let k = key("counter", 1);
    let outcome = proxied
        .update_item(k.clone(), UpdateExpression::new().increment("count", 1))
        .send()
        .await
        .expect("the increment took place; reading it back finds it");
    assert!(outcome.recovered, "{outcome:?}");
    let item = raw_item(&direct, &k).await.expect("stored");
    assert_eq!(item["count"], n(1));
    assert!(item.contains_key(WRITE_ID_ATTRIBUTE));
    assert_eq!(
        proxy.stats().requests_for("UpdateItem"),
        1,
        "not sent again"
    );

    // Without a write id, nothing tells: the outcome is unknown, and the
    // increment is not sent again (it would count twice).
    proxy.set_plan(lose_next_update());
    let error = proxied
        .update_item(k.clone(), UpdateExpression::new().increment("count", 1))
        .write_id(false)
        .send()
        .await
        .expect_err("no answer, nothing to recognise it by");
    assert!(error.is_outcome_unknown(), "{error:?}");
    let item = raw_item(&direct, &k).await.expect("stored");
    assert_eq!(item["count"], n(2), "applied once");
    assert_eq!(proxy.stats().requests_for("UpdateItem"), 2);
}

#[tokio::test]
async fn reserved_words_and_dotted_names_need_no_placeholders() {
    let table = common::table().await;
    let k = key("user", 1);
    table
        .update_item(
            k.clone(),
            UpdateExpression::new()
                .set("status", "open")
                .set("name", "Ada")
                .set("count", 1)
                .set("meta.version", "v1")
                .set("size", 3),
        )
        .condition(
            attr("status")
                .not_exists()
                .and(attr("meta.version").not_exists()),
        )
        .send()
        .await
        .expect("create with reserved words and a dotted name");
    let item = raw_item(&table, &k).await.expect("stored");
    assert_eq!(item["status"], s("open"));
    assert_eq!(item["name"], s("Ada"));
    assert_eq!(item["count"], n(1));
    // One attribute whose name holds a dot, not a map.
    assert_eq!(item["meta.version"], s("v1"));
    assert!(!item.contains_key("meta"));

    table
        .update_item(
            k.clone(),
            UpdateExpression::new()
                .increment("count", 1)
                .set("meta.version", "v2")
                .remove("size"),
        )
        .condition(
            attr("status")
                .eq("open")
                .and(attr("name").begins_with("A"))
                .and(attr("meta.version").eq("v1")),
        )
        .send()
        .await
        .expect("update under a condition on reserved words");
    let item = raw_item(&table, &k).await.expect("stored");
    assert_eq!(item["count"], n(2));
    assert_eq!(item["meta.version"], s("v2"));
    assert!(!item.contains_key("size"));
}

#[tokio::test]
async fn an_expression_over_4_kb_is_refused_before_sending() {
    let table = common::table().await;
    let mut update = UpdateExpression::new();
    // 300 actions of `#u<n> = :u<n>` are well over 4 KB.
    for i in 0..300 {
        update = update.set(format!("attribute_{i}"), i);
    }
    let before = table.request_count();
    let err = table
        .update_item(key("big", 1), update)
        .send()
        .await
        .expect_err("over 4 KB");
    match &err {
        Error::ExpressionTooLarge {
            table: named,
            expression,
            size,
            limit,
        } => {
            assert_eq!(named, table.name());
            assert_eq!(*expression, "UpdateExpression");
            assert!(*size > MAX_EXPRESSION_SIZE);
            assert_eq!(*limit, MAX_EXPRESSION_SIZE);
        }
        other => panic!("expected ExpressionTooLarge, got {other:?}"),
    }
    assert!(err.is_invalid_input());
    assert!(err.to_string().contains(table.name()), "{err}");
    assert_eq!(table.request_count(), before, "no request was sent");
    assert_eq!(raw_item(&table, &key("big", 1)).await, None);

    // A condition over 4 KB as well.
    let long =
        dynago::Expr::all((0..300).map(|i| attr(format!("a{i}")).exists())).expect("conditions");
    let before = table.request_count();
    let err = table
        .update_item(key("big", 1), UpdateExpression::new().set("a", 1))
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
    assert_eq!(table.request_count(), before);
}

#[tokio::test]
async fn updates_that_cannot_be_sent_are_refused_before_sending() {
    let table = common::table().await;
    let before = table.request_count();
    let err = table
        .update_item(key("x", 1), UpdateExpression::new())
        .send()
        .await
        .expect_err("no action");
    assert!(matches!(err, Error::InvalidExpression { .. }), "{err:?}");
    let err = table
        .update_item(key("x", 1), UpdateExpression::new().set("version", 9))
        .optimistic_lock("version", 3)
        .send()
        .await
        .expect_err("the lock's own attribute");
    assert!(matches!(err, Error::InvalidExpression { .. }), "{err:?}");
    assert!(err.to_string().contains("version"), "{err}");
    for key_attribute in ["pk", "sk"] {
        let err = table
            .update_item(key("x", 1), UpdateExpression::new().set(key_attribute, 2))
            .send()
            .await
            .expect_err("a key attribute");
        assert!(matches!(err, Error::InvalidExpression { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("`{key_attribute}`")),
            "{err}"
        );
    }
    let err = table
        .update_item(
            key("x", 1),
            UpdateExpression::new().set("m", std::collections::HashMap::from([(vec![1u8], 1)])),
        )
        .send()
        .await
        .expect_err("a map keyed by bytes");
    assert!(matches!(err, Error::Serialize { .. }), "{err:?}");
    assert!(err.to_string().contains("`m`"), "{err}");
    assert_eq!(table.request_count(), before);
}

#[tokio::test]
async fn typed_updates_in_a_transaction_take_the_lock() {
    let table = common::table().await;
    let from = key("acct", 1);
    let to = key("acct", 2);
    for k in [&from, &to] {
        // Written by a locked put, which leaves its own write id.
        table
            .put_item(k.clone(), &account(100, 0))
            .optimistic_lock("version", 0)
            .send()
            .await
            .expect("create");
    }
    let put_write_id = raw_item(&table, &to).await.expect("stored")[WRITE_ID_ATTRIBUTE].clone();
    table
        .transact_write()
        .update(
            Update::of(
                from.clone(),
                UpdateExpression::new().decrement("balance", 30),
            )
            .optimistic_lock("version", 1)
            .condition(attr("balance").ge(30)),
        )
        .update(
            Update::of(to.clone(), UpdateExpression::new().increment("balance", 30))
                .optimistic_lock("version", 1),
        )
        .send()
        .await
        .expect("transfer");
    // No write id in a transaction (its client request token makes it
    // idempotent): the one the put left stays.
    assert_eq!(
        raw_item(&table, &to).await.expect("stored")[WRITE_ID_ATTRIBUTE],
        put_write_id
    );
    assert_eq!(stored(&table, from.clone()).await, Some(account(70, 2)));
    assert_eq!(stored(&table, to.clone()).await, Some(account(130, 2)));

    // A stale lock cancels the whole transaction.
    let err = table
        .transact_write()
        .update(
            Update::of(
                from.clone(),
                UpdateExpression::new().decrement("balance", 30),
            )
            .optimistic_lock("version", 1),
        )
        .update(
            Update::of(to.clone(), UpdateExpression::new().increment("balance", 30))
                .optimistic_lock("version", 2),
        )
        .send()
        .await
        .expect_err("stale");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(stored(&table, to.clone()).await, Some(account(130, 2)));

    // The raw form works as before; a lock on it is refused before sending.
    table
        .transact_write()
        .update(
            Update::new(to.clone(), "SET #b = #b + :one")
                .name("#b", "balance")
                .value(":one", n(1)),
        )
        .send()
        .await
        .expect("raw update");
    assert_eq!(stored(&table, to.clone()).await, Some(account(131, 2)));
    let err = table
        .transact_write()
        .update(
            Update::new(to, "SET balance = :z")
                .value(":z", n(0))
                .optimistic_lock("version", 2),
        )
        .send()
        .await
        .expect_err("a lock on a raw update");
    assert!(matches!(err, Error::InvalidExpression { .. }), "{err:?}");
}
