//! Writes whose answer is lost, through a fault-injecting proxy: a locked or
//! conditional put is written once and reported once; throttled writers lose
//! nothing.
use crate::common;

use std::time::Duration;

use common::{account, key, n, raw_item, stored, Account};
use dynago::{Condition, Error, Key, Table, TableOptions};
use dynago_local::{FaultPlan, FaultProxy, Throttle};

/// A fresh table, a proxy in front of the shared server, and a handle on the
/// same table through the proxy whose SDK makes `sdk_attempts` attempts per
/// request (5 ms backoff, 2 s per attempt).
async fn behind_proxy(plan: FaultPlan, sdk_attempts: u32) -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, plan, sdk_attempts, |o| o).await;
    (direct, proxied, proxy)
}

/// The answer of the next PutItem only is lost.
fn lose_next_put() -> FaultPlan {
    FaultPlan::default()
        .drop_answer(1.0)
        .operation("PutItem")
        .first(1)
}

#[tokio::test]
async fn locked_update_whose_answer_is_lost_is_recovered() {
    let (direct, proxied, proxy) = behind_proxy(FaultPlan::default(), 3).await;
    direct
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");

    proxy.set_plan(lose_next_put());
    let outcome = proxied
        .put_item(key("acct", 1), &account(25, 1))
        .optimistic_lock("version", 1)
        .return_old(true)
        .send()
        .await
        .expect("the put took place; its retry finds it");
    assert!(outcome.recovered, "{outcome:?}");
    assert_eq!(outcome.version, Some(2));
    // The replaced item went with the lost answer: none, rather than the
    // item this put wrote itself.
    assert_eq!(outcome.old_item, None);

    // Written once: the version moved by exactly one.
    assert_eq!(stored(&direct, key("acct", 1)).await, Some(account(25, 2)));
    let raw = raw_item(&direct, &key("acct", 1)).await.expect("stored");
    assert_eq!(raw.get("version"), Some(&n(2)));
    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    // Not sent again: read back, its write id there.
    assert_eq!(
        (stats.requests_for("PutItem"), stats.requests_for("GetItem")),
        (1, 1),
        "{stats:?}"
    );

    // The next locked put goes on from there, untouched by the proxy, and
    // gives the item it replaced.
    let outcome = proxied
        .put_item(key("acct", 1), &account(30, 2))
        .optimistic_lock("version", 2)
        .return_old(true)
        .send()
        .await
        .expect("the next put");
    assert!(!outcome.recovered);
    assert_eq!(
        outcome
            .old::<common::Account>(&proxied)
            .expect("an account"),
        Some(account(25, 2))
    );
    assert_eq!(stored(&direct, key("acct", 1)).await, Some(account(30, 3)));
}

#[tokio::test]
async fn locked_create_whose_answer_is_lost_is_recovered() {
    let (direct, proxied, proxy) = behind_proxy(lose_next_put(), 3).await;
    let outcome = proxied
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("the create took place; reading it back finds it");
    assert!(outcome.recovered);
    assert_eq!(outcome.version, Some(1));
    assert_eq!(stored(&direct, key("acct", 1)).await, Some(account(10, 1)));
    assert_eq!(proxy.stats().requests_for("PutItem"), 1, "not sent again");
}

/// Create only if absent: the most common free condition.
fn absent() -> Condition {
    Condition::new("attribute_not_exists(#pk)").name("#pk", "pk")
}

#[tokio::test]
async fn conditional_create_whose_answer_is_lost_is_recovered() {
    let (direct, proxied, proxy) = behind_proxy(lose_next_put(), 3).await;
    let outcome = proxied
        .put_item(key("acct", 1), &account(10, 0))
        .condition(absent())
        .send()
        .await
        .expect("the create took place; reading it back finds it");
    assert!(outcome.recovered, "{outcome:?}");
    assert_eq!(outcome.version, None);
    assert_eq!(stored(&direct, key("acct", 1)).await, Some(account(10, 0)));
    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    // Not sent again: read back, its write id there.
    assert_eq!(
        (stats.requests_for("PutItem"), stats.requests_for("GetItem")),
        (1, 1),
        "{stats:?}"
    );
}

#[tokio::test]
async fn an_equal_item_from_another_writer_fails_a_conditional_create() {
    let table = common::table().await;
    table
        .put_item(key("acct", 1), &account(10, 0))
        .condition(absent())
        .send()
        .await
        .expect("the first create");
    let second = table
        .put_item(key("acct", 1), &account(10, 0))
        .condition(absent())
        .send()
        .await
        .expect_err("the item exists: same content, another write");
    assert!(
        matches!(second, Error::ConditionFailed { .. }),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_lost_answer_without_a_write_id_is_unknown_and_a_resend_a_conflict() {
    let (direct, proxied, proxy) = behind_proxy(FaultPlan::default(), 3).await;
    direct
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");

    proxy.set_plan(lose_next_put());
    let lost = proxied
        .put_item(key("acct", 1), &account(25, 1))
        .optimistic_lock("version", 1)
        .write_id(false)
        .send()
        .await
        .expect_err("no answer, and nothing to recognise it by");
    // It may have taken place: never "retryable", and not sent again (a
    // copy landing late could apply after later writes).
    assert!(lost.is_outcome_unknown(), "{lost:?}");
    assert!(!lost.is_retryable(), "{lost:?}");
    assert!(!lost.is_conflict());
    assert_eq!(proxy.stats().requests_for("PutItem"), 1);
    // It took place all the same, once.
    assert_eq!(stored(&direct, key("acct", 1)).await, Some(account(25, 2)));

    // Sending it again by hand finds version 2 where it expects 1, and is
    // refused, not applied twice.
    let again = proxied
        .put_item(key("acct", 1), &account(25, 1))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect_err("the first send took place");
    assert_eq!(
        again.version_conflict(),
        Some(dynago::LockVersions {
            expected: 1,
            actual: Some(2)
        }),
        "{again:?}"
    );
    assert_eq!(stored(&direct, key("acct", 1)).await, Some(account(25, 2)));
    assert_eq!(proxy.stats().dropped_answers, 1);
}

/// Reads an account and writes it back with `amount` added, under its
/// version, until no other writer came in between.
async fn deposit(table: &Table, key: Key, amount: i64) {
    loop {
        let current = stored(table, key.clone()).await.expect("an account");
        let next = Account {
            balance: current.balance + amount,
            ..current.clone()
        };
        match table
            .put_item(key.clone(), &next)
            .optimistic_lock("version", current.version)
            .send()
            .await
        {
            Ok(_) => return,
            Err(error) if error.is_conflict() => continue,
            Err(error) => panic!("deposit of {amount}: {error:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locked_deposits_under_throttling_are_exact() {
    const ACCOUNTS: u32 = 4;
    const WRITERS_PER_ACCOUNT: i64 = 2;
    const DEPOSITS_PER_WRITER: i64 = 25;
    let (direct, proxied, proxy) = behind_proxy(FaultPlan::default(), 10).await;
    for account_no in 0..ACCOUNTS {
        direct
            .put_item(key("acct", account_no), &account(0, 0))
            .optimistic_lock("version", 0)
            .send()
            .await
            .expect("create");
    }
    proxy.set_plan(
        FaultPlan::default()
            .seed(20)
            .throttle(Throttle::ProvisionedThroughputExceeded, 0.2),
    );
    let writers: Vec<_> = (0..ACCOUNTS)
        .flat_map(|account_no| (0..WRITERS_PER_ACCOUNT).map(move |writer| (account_no, writer)))
        .map(|(account_no, writer)| {
            let table = proxied.clone();
            tokio::spawn(async move {
                for n in 0..DEPOSITS_PER_WRITER {
                    deposit(&table, key("acct", account_no), writer * 1000 + n + 1).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
    let per_account: i64 = (0..WRITERS_PER_ACCOUNT)
        .flat_map(|writer| (0..DEPOSITS_PER_WRITER).map(move |n| writer * 1000 + n + 1))
        .sum();
    let deposits = u64::try_from(WRITERS_PER_ACCOUNT * DEPOSITS_PER_WRITER).expect("small");
    for account_no in 0..ACCOUNTS {
        assert_eq!(
            stored(&direct, key("acct", account_no)).await,
            Some(account(per_account, deposits + 1)),
            "account {account_no}"
        );
    }
    let stats = proxy.stats();
    let share = stats.throttled as f64 / stats.requests as f64;
    assert!((0.1..0.3).contains(&share), "{share}: {stats:?}");
    assert_eq!(stats.forwarded + stats.throttled, stats.requests);
}

#[tokio::test]
async fn sdk_options_are_checked() {
    for options in [
        TableOptions::new("t")
            .partition_key("pk")
            .sdk_max_attempts(0),
        TableOptions::new("t")
            .partition_key("pk")
            .attempt_timeout(Duration::ZERO),
        TableOptions::new("t")
            .partition_key("pk")
            .operation_timeout(Duration::ZERO),
    ] {
        let error = Table::connect(options.clone())
            .await
            .expect_err("refused options");
        assert!(matches!(error, Error::Config(_)), "{options:?}: {error}");
    }
}

#[tokio::test]
async fn an_operation_timeout_bounds_a_slow_answer() {
    let (_direct, proxied, proxy) = behind_proxy(FaultPlan::default(), 1).await;
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let slow = Table::connect(
        dynamo
            .table_options(proxied.name())
            .partition_key("pk")
            .sort_key("sk")
            .endpoint(proxy.endpoint())
            .operation_timeout(Duration::from_millis(200)),
    )
    .await
    .expect("table options");
    // An answer a minute late: only the timeout ends the request before
    // it, so what is checked is the kind of error, not the clock.
    proxy.set_plan(FaultPlan::default().latency(Duration::from_secs(60), 1.0));
    let error = slow
        .get_item(key("acct", 1))
        .send_raw()
        .await
        .expect_err("too slow");
    assert!(error.is_retryable(), "{error:?}");
    match &error {
        Error::Dynamo { source, .. } => {
            let sdk = source
                .downcast_ref::<aws_sdk_dynamodb::error::SdkError<
                    aws_sdk_dynamodb::operation::get_item::GetItemError,
                    aws_sdk_dynamodb::config::http::HttpResponse,
                >>()
                .expect("the SDK's error");
            assert!(
                matches!(sdk, aws_sdk_dynamodb::error::SdkError::TimeoutError(_)),
                "{sdk:?}"
            );
        }
        other => panic!("expected the SDK's timeout, got {other:?}"),
    }
    assert_eq!(proxy.stats().delayed, 1);
}

/// An account with a string set and a number set: DynamoDB keeps a set's
/// members in an order of its own, and a number in a spelling of its own.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tagged {
    #[serde(with = "serde_dynamo::string_set")]
    tags: std::collections::HashSet<String>,
    #[serde(with = "serde_dynamo::number_set")]
    limits: std::collections::BTreeSet<u32>,
    rate: f64,
    version: u64,
}

fn tagged(version: u64) -> Tagged {
    Tagged {
        tags: (0..12).map(|n| format!("tag-{n}")).collect(),
        limits: [900, 5, 70_000, 31, 1].into(),
        rate: 1.50,
        version,
    }
}

#[tokio::test]
async fn locked_put_of_an_item_with_sets_whose_answer_is_lost_is_recovered() {
    let (direct, proxied, proxy) = behind_proxy(lose_next_put(), 3).await;
    let outcome = proxied
        .put_item(key("acct", 1), &tagged(0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("the create took place; its retry finds it by its write id");
    assert!(outcome.recovered, "{outcome:?}");
    assert_eq!(outcome.version, Some(1));
    let stored: Option<Tagged> = direct
        .get_item(key("acct", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("read back");
    assert_eq!(stored, Some(tagged(1)));
    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    // Not sent again: read back, its write id there.
    assert_eq!(
        (stats.requests_for("PutItem"), stats.requests_for("GetItem")),
        (1, 1),
        "{stats:?}"
    );

    // An update of it, under its version, whose answer is lost too.
    proxy.set_plan(lose_next_put());
    let outcome = proxied
        .put_item(key("acct", 1), &tagged(1))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect("the update took place; its retry finds it by its write id");
    assert!(outcome.recovered, "{outcome:?}");
    assert_eq!(outcome.version, Some(2));
    let raw = raw_item(&direct, &key("acct", 1)).await.expect("stored");
    assert_eq!(raw.get("version"), Some(&n(2)));
}
