//! Transactional reads against a real DynamoDB: items in the order asked with
//! `None` for a missing one, typed and raw, projections, the limits checked
//! before sending, and reads across a concurrent writer that never see one
//! of two items written together without the other.
use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::{account, key, n, put_raw, raw_item, s, Account};
use dynago::transact::Update;
use dynago::{Condition, Error, Item, Key, Table};

async fn accounts(table: &Table, count: u32) {
    for i in 1..=count {
        table
            .put_item(key("acct", i), &account(i64::from(i) * 100, 0))
            .send()
            .await
            .expect("put");
    }
}

#[tokio::test]
async fn items_come_in_the_order_asked_with_none_for_a_missing_one() {
    let table = common::table().await;
    accounts(&table, 3).await;
    let keys = [
        key("acct", 3),
        key("acct", 9),
        key("acct", 1),
        key("acct", 2),
    ];
    let before = table.request_count();
    let read: Vec<Option<Account>> = table
        .transact_get(keys.clone())
        .send()
        .await
        .expect("transact get");
    assert_eq!(table.request_count(), before + 1, "one request");
    assert_eq!(
        read,
        vec![
            Some(account(300, 0)),
            None,
            Some(account(100, 0)),
            Some(account(200, 0)),
        ]
    );

    // Raw, added one by one: the items exactly as stored.
    let raw = keys
        .iter()
        .fold(table.transact_get([]), |read, key| read.get(key.clone()))
        .send_raw()
        .await
        .expect("raw transact get");
    assert_eq!(raw.len(), 4);
    for (key, item) in keys.iter().zip(&raw) {
        assert_eq!(item, &raw_item(&table, key).await);
    }

    // A projection, with a name placeholder.
    let projected = table
        .transact_get([key("acct", 2), key("acct", 7)])
        .projection("pk, sk, #b")
        .name("#b", "balance")
        .send_raw()
        .await
        .expect("projected transact get");
    let expected: Item = [
        ("pk".to_owned(), s("acct")),
        ("sk".to_owned(), n(2)),
        ("balance".to_owned(), n(200)),
    ]
    .into();
    assert_eq!(projected, vec![Some(expected), None]);

    // An item that is not a `T` names its key.
    put_raw(
        &table,
        [
            ("pk".to_owned(), s("acct")),
            ("sk".to_owned(), n(5)),
            ("balance".to_owned(), s("not a number")),
        ]
        .into(),
    )
    .await;
    let err = table
        .transact_get([key("acct", 1), key("acct", 5)])
        .send::<Account>()
        .await
        .expect_err("not an account");
    assert!(matches!(err, Error::Deserialize { .. }), "{err:?}");
    assert!(err.to_string().contains(table.name()), "{err}");
}

#[tokio::test]
async fn limits_and_duplicate_keys_are_refused_before_sending() {
    let table = common::table().await;
    accounts(&table, 2).await;
    let before = table.request_count();

    let too_many = table
        .transact_get((0..101).map(|i| key("acct", i)))
        .send_raw()
        .await;
    match too_many {
        Err(Error::TooManyActions {
            table: name,
            operation,
            count,
            limit,
        }) => {
            assert_eq!(name, table.name());
            assert_eq!(operation, "TransactGetItems");
            assert_eq!((count, limit), (101, 100));
        }
        other => panic!("101 keys: {other:?}"),
    }

    let keys = (0..8).map(|i| key("acct", [1, 2, 3, 4, 5, 6, 7, 3][i]));
    match table.transact_get(keys).send_raw().await {
        Err(err @ Error::DuplicateKey { .. }) => {
            assert!(err.is_invalid_input());
            let Error::DuplicateKey {
                table: name,
                operation,
                first,
                second,
                ..
            } = &err
            else {
                unreachable!()
            };
            assert_eq!(name, table.name());
            assert_eq!(*operation, "TransactGetItems");
            assert_eq!((*first, *second), (2, 7));
        }
        other => panic!("a key twice: {other:?}"),
    }

    let empty_key = Key::new(s("")).sort(n(1));
    match table
        .transact_get([key("acct", 1), empty_key])
        .send_raw()
        .await
    {
        Err(Error::InvalidKey { table: name, .. }) => assert_eq!(name, table.name()),
        other => panic!("an empty key: {other:?}"),
    }
    assert!(table
        .transact_get([])
        .send_raw()
        .await
        .expect("nothing to read")
        .is_empty());
    assert_eq!(table.request_count(), before, "a request was sent");

    // 100 keys are one request.
    let read = table
        .transact_get((0..100).map(|i| key("acct", i)))
        .send::<Account>()
        .await
        .expect("100 keys");
    assert_eq!(table.request_count(), before + 1);
    assert_eq!(read.len(), 100);
    assert_eq!(read.iter().flatten().count(), 2);
    assert_eq!(read[1], Some(account(100, 0)));
    assert_eq!(read[2], Some(account(200, 0)));
}

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let table = common::missing_table().await;
    let err = table
        .transact_get([key("acct", 1)])
        .send_raw()
        .await
        .expect_err("no table");
    assert!(err.is_not_found(), "{err:?}");
}

/// The versions of the two accounts, read together.
async fn read_both(table: &Table) -> Result<(u64, u64), Error> {
    let read: Vec<Option<Account>> = table
        .transact_get([key("acct", 1), key("acct", 2)])
        .send()
        .await?;
    match read.as_slice() {
        [Some(a), Some(b)] => Ok((a.version, b.version)),
        other => panic!("both accounts exist: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_across_a_concurrent_writer_see_both_items_at_one_version() {
    const WRITES: u64 = 25;
    const READERS: usize = 3;
    let table = common::table().await;
    accounts(&table, 2).await;
    let done = Arc::new(AtomicBool::new(false));
    let conflicts = Arc::new(AtomicUsize::new(0));
    let (sender, mut reads) = tokio::sync::mpsc::unbounded_channel();
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (table, done, conflicts, sender) = (
                table.clone(),
                done.clone(),
                conflicts.clone(),
                sender.clone(),
            );
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    match read_both(&table).await {
                        Ok(versions) => {
                            if sender.send(versions).is_err() {
                                return;
                            }
                        }
                        // A read that meets a write in progress is cancelled,
                        // each reason saying so: read again.
                        Err(Error::TransactionCanceled { reasons, .. }) => {
                            assert!(
                                reasons.failed().count() > 0
                                    && reasons.failed().all(|r| r.code == "TransactionConflict"),
                                "{reasons:?}"
                            );
                            conflicts.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(err) if err.is_retryable() => {}
                        Err(err) => panic!("transact get: {err:?}"),
                    }
                }
            })
        })
        .collect();
    drop(sender);

    // Each write moves both accounts from version `v` to `v + 1` in one
    // transaction, once a read has seen `v`: every version is seen, and
    // readers keep reading while the next write goes on.
    let mut seen = Vec::new();
    for version in 0..WRITES {
        loop {
            let versions = reads.recv().await.expect("the readers stopped");
            seen.push(versions);
            if versions == (version, version) {
                break;
            }
        }
        let update = |i| {
            Update::new(key("acct", i), "SET version = :next")
                .value(":next", n(version + 1))
                .condition(Condition::new("version = :v").value(":v", n(version)))
        };
        loop {
            match table
                .transact_write()
                .update(update(1))
                .update(update(2))
                .send()
                .await
            {
                Ok(()) => break,
                Err(err) if err.is_retryable() => {}
                Err(err) => panic!("write {version}: {err:?}"),
            }
        }
    }
    loop {
        let versions = reads.recv().await.expect("the readers stopped");
        seen.push(versions);
        if versions == (WRITES, WRITES) {
            break;
        }
    }
    done.store(true, Ordering::SeqCst);
    while let Some(versions) = reads.recv().await {
        seen.push(versions);
    }
    for reader in readers {
        reader.await.expect("a reader");
    }

    let torn: Vec<_> = seen.iter().filter(|(a, b)| a != b).collect();
    assert!(torn.is_empty(), "reads saw half a transaction: {torn:?}");
    let versions: BTreeSet<u64> = seen.iter().map(|(a, _)| *a).collect();
    assert_eq!(versions, (0..=WRITES).collect::<BTreeSet<_>>());
    eprintln!(
        "{} reads, {} cancelled by a write in progress",
        seen.len(),
        conflicts.load(Ordering::SeqCst)
    );
}
