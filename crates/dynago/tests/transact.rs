//! Transactions: all or nothing, cancellation reasons by action, optimistic
//! locks inside a transaction, and the limits checked before sending.
use crate::common;

use common::{key, n, raw_item, s};
use dynago::transact::{Check, Delete, Put, Update};
use dynago::{
    Condition, Error, Key, Table, MAX_CLIENT_REQUEST_TOKEN_LENGTH, MAX_ITEM_SIZE,
    MAX_TRANSACTION_ACTIONS, MAX_TRANSACTION_SIZE,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Account {
    owner: String,
    balance: i64,
}

fn account(owner: &str, balance: i64) -> Account {
    Account {
        owner: owner.to_owned(),
        balance,
    }
}

async fn get(table: &Table, key: Key) -> Option<Account> {
    table
        .get_item(key)
        .consistent_read(true)
        .send()
        .await
        .expect("get")
}

/// Accounts 1 (100), 2 (0), 3 (7, to delete) and 4 (50, checked).
async fn accounts() -> Table {
    let table = common::table().await;
    table
        .batch_write()
        .put(key("acct", 1), &account("ada", 100))
        .put(key("acct", 2), &account("bob", 0))
        .put(key("acct", 3), &account("cyd", 7))
        .put(key("acct", 4), &account("dee", 50))
        .send()
        .await
        .expect("batch write");
    table
}

fn transfer(amount: i64) -> (Update, Update) {
    (
        Update::new(key("acct", 1), "SET balance = balance - :amount")
            .value(":amount", n(amount))
            .condition(Condition::new("balance >= :amount")),
        Update::new(key("acct", 2), "SET #b = #b + :amount")
            .name("#b", "balance")
            .value(":amount", n(amount)),
    )
}

#[tokio::test]
async fn every_kind_of_action_is_applied_together() {
    let table = accounts().await;
    let (debit, credit) = transfer(30);
    table
        .transact_write()
        .update(debit)
        .update(credit)
        .delete(Delete::new(key("acct", 3)))
        .check(Check::new(
            key("acct", 4),
            Condition::new("balance >= :min").value(":min", n(50)),
        ))
        .put(Put::new(key("acct", 5), &account("eve", 1)))
        .send()
        .await
        .expect("transaction");
    assert_eq!(get(&table, key("acct", 1)).await, Some(account("ada", 70)));
    assert_eq!(get(&table, key("acct", 2)).await, Some(account("bob", 30)));
    assert_eq!(get(&table, key("acct", 3)).await, None);
    assert_eq!(get(&table, key("acct", 4)).await, Some(account("dee", 50)));
    assert_eq!(get(&table, key("acct", 5)).await, Some(account("eve", 1)));
    assert_eq!(common::count(&table).await, 4);
    let raw = raw_item(&table, &key("acct", 5)).await.expect("stored");
    assert_eq!(raw.get("pk"), Some(&s("acct")));
    assert_eq!(raw.get("sk"), Some(&n(5)));
}

async fn assert_untouched(table: &Table) {
    assert_eq!(get(table, key("acct", 1)).await, Some(account("ada", 100)));
    assert_eq!(get(table, key("acct", 2)).await, Some(account("bob", 0)));
    assert_eq!(get(table, key("acct", 3)).await, Some(account("cyd", 7)));
    assert_eq!(get(table, key("acct", 4)).await, Some(account("dee", 50)));
    assert_eq!(get(table, key("acct", 5)).await, None);
    assert_eq!(common::count(table).await, 4);
}

fn assert_failed_at(err: &Error, table: &Table, index: usize, actions: usize) {
    match err {
        Error::TransactionCanceled { table: t, reasons } => {
            assert_eq!(t, table.name());
            let failed: Vec<(usize, &str)> = reasons
                .failed()
                .map(|r| (r.index, r.code.as_str()))
                .collect();
            assert_eq!(failed, vec![(index, "ConditionalCheckFailed")], "{err}");
            assert_eq!(reasons.reasons().len(), actions, "{reasons:?}");
            assert_eq!(
                reasons.reason(index).map(|r| r.code.as_str()),
                Some("ConditionalCheckFailed")
            );
            assert!(reasons.has_condition_failure());
            assert!(err.to_string().contains(&format!(
                "action {index} failed with ConditionalCheckFailed"
            )));
        }
        other => panic!("expected TransactionCanceled, got {other:?}"),
    }
    assert!(err.is_conflict());
    assert!(!err.is_retryable());
    assert_eq!(err.code(), Some("TransactionCanceledException"));
}

#[tokio::test]
async fn a_failing_check_cancels_everything_and_names_its_action() {
    let table = accounts().await;
    let (debit, credit) = transfer(30);
    let err = table
        .transact_write()
        .update(debit)
        .update(credit)
        .check(Check::new(
            key("acct", 4),
            Condition::new("balance >= :min").value(":min", n(51)),
        ))
        .delete(Delete::new(key("acct", 3)))
        .put(Put::new(key("acct", 5), &account("eve", 1)))
        .send()
        .await
        .expect_err("the check fails");
    assert_failed_at(&err, &table, 2, 5);
    if let Error::TransactionCanceled { reasons, .. } = &err {
        // The stored item comes with the failed condition.
        let stored = reasons.reason(2).and_then(|r| r.item.clone());
        let stored = stored.expect("the checked item");
        assert_eq!(stored.get("balance"), Some(&n(50)));
        assert_eq!(stored.get("owner"), Some(&s("dee")));
    }
    assert_untouched(&table).await;
}

#[tokio::test]
async fn a_failing_write_condition_cancels_everything() {
    let table = accounts().await;
    let (debit, credit) = transfer(30);
    let err = table
        .transact_write()
        .update(credit)
        .put(Put::new(key("acct", 5), &account("eve", 1)))
        .put(
            Put::new(key("acct", 4), &account("mallory", 1_000_000))
                .condition(Condition::new("attribute_not_exists(pk)")),
        )
        .update(debit)
        .send()
        .await
        .expect_err("acct 4 exists");
    assert_failed_at(&err, &table, 2, 4);
    assert_untouched(&table).await;

    // An update's own condition, at index 2 too.
    let (debit, credit) = transfer(101);
    let err = table
        .transact_write()
        .update(credit)
        .delete(Delete::new(key("acct", 3)))
        .update(debit)
        .send()
        .await
        .expect_err("not enough money");
    assert_failed_at(&err, &table, 2, 3);
    assert_untouched(&table).await;

    // A delete's condition.
    let err = table
        .transact_write()
        .put(Put::new(key("acct", 5), &account("eve", 1)))
        .update(transfer(1).1)
        .delete(
            Delete::new(key("acct", 3)).condition(
                Condition::new("#o = :o")
                    .name("#o", "owner")
                    .value(":o", s("nobody")),
            ),
        )
        .send()
        .await
        .expect_err("not the owner");
    assert_failed_at(&err, &table, 2, 3);
    assert_untouched(&table).await;
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Versioned {
    value: String,
    version: u64,
}

async fn read(table: &Table, sk: u32) -> Option<Versioned> {
    table
        .get_item(key("doc", sk))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
}

#[tokio::test]
async fn optimistic_locks_inside_a_transaction() {
    let table = common::table().await;
    let v = |value: &str, version| Versioned {
        value: value.to_owned(),
        version,
    };
    table
        .transact_write()
        .put(Put::new(key("doc", 1), &v("a", 0)).optimistic_lock("version", 0))
        .put(Put::new(key("doc", 2), &v("b", 0)).optimistic_lock("version", 0))
        .send()
        .await
        .expect("create both");
    assert_eq!(read(&table, 1).await, Some(v("a", 1)));
    assert_eq!(read(&table, 2).await, Some(v("b", 1)));

    table
        .transact_write()
        .put(Put::new(key("doc", 1), &v("a2", 1)).optimistic_lock("version", 1))
        .put(Put::new(key("doc", 2), &v("b2", 1)).optimistic_lock("version", 1))
        .send()
        .await
        .expect("update both");
    assert_eq!(read(&table, 1).await, Some(v("a2", 2)));
    assert_eq!(read(&table, 2).await, Some(v("b2", 2)));

    // One stale lock cancels both writes.
    let err = table
        .transact_write()
        .put(Put::new(key("doc", 1), &v("a3", 2)).optimistic_lock("version", 2))
        .put(Put::new(key("doc", 2), &v("b3", 1)).optimistic_lock("version", 1))
        .send()
        .await
        .expect_err("doc 2 is at version 2");
    match &err {
        Error::TransactionCanceled { reasons, .. } => {
            let failed: Vec<usize> = reasons.failed().map(|r| r.index).collect();
            assert_eq!(failed, vec![1]);
            let stored = reasons.reason(1).and_then(|r| r.item.clone());
            assert_eq!(
                stored.and_then(|i| i.get("version").cloned()),
                Some(n(2)),
                "the stored version comes back"
            );
        }
        other => panic!("expected TransactionCanceled, got {other:?}"),
    }
    assert!(err.is_conflict());
    assert_eq!(read(&table, 1).await, Some(v("a2", 2)));
    assert_eq!(read(&table, 2).await, Some(v("b2", 2)));

    // Creating what exists fails the same way; so does a locked delete.
    let err = table
        .transact_write()
        .put(Put::new(key("doc", 3), &v("c", 0)).optimistic_lock("version", 0))
        .put(Put::new(key("doc", 1), &v("a", 0)).optimistic_lock("version", 0))
        .send()
        .await
        .expect_err("doc 1 exists");
    assert!(err.is_conflict(), "{err:?}");
    let err = table
        .transact_write()
        .delete(Delete::new(key("doc", 1)).optimistic_lock("version", 1))
        .send()
        .await
        .expect_err("doc 1 is at version 2");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(read(&table, 3).await, None);
    table
        .transact_write()
        .delete(Delete::new(key("doc", 1)).optimistic_lock("version", 2))
        .put(Put::new(key("doc", 3), &v("c", 0)).optimistic_lock("version", 0))
        .send()
        .await
        .expect("right versions");
    assert_eq!(read(&table, 1).await, None);
    assert_eq!(read(&table, 3).await, Some(v("c", 1)));
}

#[tokio::test]
async fn too_many_actions_are_refused_before_sending() {
    let table = common::table().await;
    let over = (0..=u32::try_from(MAX_TRANSACTION_ACTIONS).expect("small"))
        .fold(table.transact_write(), |tx, i| {
            tx.put(Put::new(key("p", i), &account("x", i.into())))
        });
    assert_eq!(over.len(), 101);
    let before = table.request_count();
    let err = over.send().await.expect_err("101 actions");
    match &err {
        Error::TooManyActions {
            table: name,
            operation,
            count,
            limit,
        } => {
            assert_eq!(name, table.name());
            assert_eq!(*operation, "TransactWriteItems");
            assert_eq!((*count, *limit), (101, 100));
        }
        other => panic!("expected TooManyActions, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "TransactWriteItems on table `{}` holds 101 actions, over DynamoDB's limit of 100",
            table.name()
        )
    );
    assert!(err.is_invalid_input());
    assert!(!err.is_retryable());
    assert_eq!(table.request_count(), before, "nothing sent");
    assert_eq!(common::count(&table).await, 0);

    // Exactly 100 is fine.
    (0..100u32)
        .fold(table.transact_write(), |tx, i| {
            tx.put(Put::new(key("p", i), &account("x", i.into())))
        })
        .send()
        .await
        .expect("100 actions");
    assert_eq!(common::count(&table).await, 100);
}

#[tokio::test]
async fn two_actions_on_one_item_are_refused() {
    let table = accounts().await;
    let before = table.request_count();
    let err = table
        .transact_write()
        .put(Put::new(key("acct", 5), &account("eve", 1)))
        .update(transfer(1).1)
        .check(Check::new(
            key("acct", 5),
            Condition::new("attribute_not_exists(pk)"),
        ))
        .send()
        .await
        .expect_err("acct 5 twice");
    match &err {
        Error::DuplicateKey {
            table: name,
            operation,
            key,
            first,
            second,
        } => {
            assert_eq!(name, table.name());
            assert_eq!(*operation, "TransactWriteItems");
            assert_eq!(key, "(\"acct\", 5)");
            assert_eq!((*first, *second), (0, 2));
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("TransactWriteItems on table `{}` ", table.name())),
        "{err}"
    );
    assert!(err.is_invalid_input());
    assert_eq!(table.request_count(), before, "nothing sent");
    assert_untouched(&table).await;
}

#[derive(Debug, Serialize)]
struct Blob {
    data: String,
}

#[tokio::test]
async fn a_transaction_over_four_megabytes_is_refused() {
    let table = common::hash_table().await;
    let blob = Blob {
        data: "x".repeat(390 * 1024),
    };
    // pk (2 + the length of `k{i}`) + data (4 + 390 KB)
    let item_size = |i: usize| 2 + format!("k{i}").len() + 4 + 390 * 1024;
    let tx = |count: usize| {
        (0..count).fold(table.transact_write(), |tx, i| {
            tx.put(Put::new(Key::new(s(&format!("k{i}"))), &blob))
        })
    };
    let before = table.request_count();
    let err = tx(11).send().await.expect_err("11 * 390 KB");
    match &err {
        Error::TransactionTooLarge {
            table: name,
            size,
            limit,
        } => {
            assert_eq!(name, table.name());
            assert_eq!(*size, (0..11).map(item_size).sum::<usize>());
            assert_eq!(*limit, MAX_TRANSACTION_SIZE);
        }
        other => panic!("expected TransactionTooLarge, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("transaction on table `{}` holds ", table.name())),
        "{err}"
    );
    assert!(err.is_invalid_input());
    assert_eq!(table.request_count(), before, "nothing sent");
    assert_eq!(common::count(&table).await, 0);

    // 10 of them fit.
    assert!((0..10).map(item_size).sum::<usize>() <= MAX_TRANSACTION_SIZE);
    tx(10).send().await.expect("10 * 390 KB");
    assert_eq!(common::count(&table).await, 10);
}

#[tokio::test]
async fn an_item_too_large_in_a_transaction_names_its_action() {
    let table = common::hash_table().await;
    let too_big = Blob {
        data: "x".repeat(MAX_ITEM_SIZE),
    };
    let err = table
        .transact_write()
        .put(Put::new(Key::new(s("a")), &account("ada", 1)))
        .put(Put::new(Key::new(s("b")), &too_big))
        .send()
        .await
        .expect_err("over 400 KB");
    assert!(
        matches!(&err, Error::ItemTooLarge { table: name, item, size, .. }
            if item.contains("action 1") && *size == MAX_ITEM_SIZE + 7 && name == table.name()),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("(action 1) of table `{}` is ", table.name())),
        "{err}"
    );
    assert_eq!(common::count(&table).await, 0);
}

#[tokio::test]
async fn an_empty_transaction_is_ok() {
    let table = common::table().await;
    let before = table.request_count();
    let tx = table.transact_write();
    assert!(tx.is_empty());
    assert_eq!(tx.len(), 0);
    tx.send().await.expect("nothing to do");
    assert_eq!(table.request_count(), before, "nothing sent");
}

#[tokio::test]
async fn a_transaction_with_an_invalid_key_or_value_is_refused() {
    let table = accounts().await;
    let err = table
        .transact_write()
        .put(Put::new(key("acct", 5), &account("eve", 1)))
        .delete(Delete::new(key("", 1)))
        .send()
        .await
        .expect_err("empty partition key");
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
    let err = table
        .transact_write()
        .put(Put::new(key("acct", 5), &42))
        .send()
        .await
        .expect_err("a number is no item");
    assert!(matches!(err, Error::Serialize { .. }), "{err:?}");
    assert_untouched(&table).await;
}

#[tokio::test]
async fn an_idempotency_token_applies_a_transaction_once() {
    let table = accounts().await;
    for _ in 0..2 {
        let (debit, credit) = transfer(10);
        table
            .transact_write()
            .update(debit)
            .update(credit)
            .client_request_token("transfer-0001")
            .send()
            .await
            .expect("transaction");
    }
    assert_eq!(get(&table, key("acct", 1)).await, Some(account("ada", 90)));
    assert_eq!(get(&table, key("acct", 2)).await, Some(account("bob", 10)));
}

#[tokio::test]
async fn a_client_request_token_over_36_characters_is_refused_before_sending() {
    let table = accounts().await;
    let before = table.request_count();
    for token in [
        "x".repeat(MAX_CLIENT_REQUEST_TOKEN_LENGTH + 1),
        String::new(),
    ] {
        let (debit, credit) = transfer(10);
        let err = table
            .transact_write()
            .update(debit)
            .update(credit)
            .client_request_token(token.as_str())
            .send()
            .await
            .expect_err("a token DynamoDB refuses");
        match &err {
            Error::InvalidClientRequestToken {
                table: name,
                length,
                limit,
            } => {
                assert_eq!(name, table.name());
                assert_eq!((*length, *limit), (token.len(), 36));
            }
            other => panic!("expected InvalidClientRequestToken, got {other:?}"),
        }
        assert!(err.is_invalid_input(), "{err}");
        assert!(!err.is_retryable(), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("table `{}`", table.name())) && message.contains("1 to 36"),
            "{message}"
        );
    }
    assert_eq!(table.request_count(), before, "nothing sent");
    assert_untouched(&table).await;

    // Exactly 36 characters is DynamoDB's limit, and it takes it (a token
    // of this table's own: DynamoDB remembers tokens across tables).
    let unique: String = table.name().chars().rev().take(36).collect();
    let token = format!("{unique:x>36}");
    assert_eq!(token.len(), MAX_CLIENT_REQUEST_TOKEN_LENGTH);
    let (debit, credit) = transfer(10);
    table
        .transact_write()
        .update(debit)
        .update(credit)
        .client_request_token(token)
        .send()
        .await
        .expect("a 36-character token");
    assert_eq!(get(&table, key("acct", 1)).await, Some(account("ada", 90)));
}
