//! The metrics of the table layer, captured by a recorder of the test's
//! own: every request counted once by table and operation, and the capacity
//! DynamoDB reported, by kind, adding up to what `telemetry::measure_usage`
//! measures for the same calls.
use crate::common;

use common::{account, key, s};
use dynago::metrics::{CAPACITY_UNITS, REQUESTS};
use dynago::{Condition, Error};
use dynago_local::testing::metrics::Metrics;
use futures::TryStreamExt;

#[tokio::test]
async fn every_request_is_counted_once_with_the_capacity_it_consumed() {
    let table = common::table().await;
    let name = table.name().to_owned();
    let metrics = Metrics::new();
    let _installed = metrics.install();

    let (result, usage) = dynago::telemetry::measure_usage(async {
        table.put_item(key("p", 1), &account(5, 0)).send().await?;
        table.put_item(key("p", 2), &account(7, 0)).send().await?;
        table
            .get_item(key("p", 1))
            .consistent_read(true)
            .send_raw()
            .await?;
        table.get_item(key("p", 3)).send_raw().await?;
        let rows: Vec<common::Account> = table
            .query("pk = :pk")
            .value(":pk", s("p"))
            .consistent_read(true)
            .stream()
            .try_collect()
            .await?;
        assert_eq!(rows.len(), 2);
        // A failed condition: a request, and no capacity reported.
        let refused = table
            .put_item(key("p", 1), &account(9, 0))
            .condition(Condition::new("attribute_not_exists(pk)"))
            .send()
            .await;
        assert!(
            matches!(refused, Err(Error::ConditionFailed { .. })),
            "{refused:?}"
        );
        Ok::<(), Error>(())
    })
    .await;
    result.expect("the calls");

    let recorded = metrics.take();
    let on = |operation| [("table", name.as_str()), ("operation", operation)];
    assert_eq!(recorded.counter(REQUESTS, &on("PutItem")), 3);
    assert_eq!(recorded.counter(REQUESTS, &on("GetItem")), 2);
    assert_eq!(recorded.counter(REQUESTS, &on("Query")), 1);
    assert_eq!(
        recorded.label_values(REQUESTS, "operation"),
        ["GetItem", "PutItem", "Query"]
    );
    let requests = recorded.counter(REQUESTS, &[("table", name.as_str())]);
    assert_eq!(requests, u64::from(usage.requests));
    assert_eq!(requests, 6);

    // Two small puts, one write unit each; the refused one reports none.
    let write = |operation| {
        [
            ("table", name.as_str()),
            ("operation", operation),
            ("kind", "write"),
        ]
    };
    assert_eq!(recorded.gauge(CAPACITY_UNITS, &write("PutItem")), 2.0);
    assert_eq!(
        recorded.gauge(CAPACITY_UNITS, &[("kind", "write")]),
        usage.capacity.write_units
    );
    // A consistent read of a small item is one read unit.
    let read = |operation| {
        [
            ("table", name.as_str()),
            ("operation", operation),
            ("kind", "read"),
        ]
    };
    assert!(recorded.gauge(CAPACITY_UNITS, &read("GetItem")) >= 1.0);
    assert_eq!(
        recorded.gauge(CAPACITY_UNITS, &[("kind", "read")]),
        usage.capacity.read_units
    );
    assert!(usage.capacity.read_units > 0.0);
}

#[tokio::test]
async fn nothing_is_recorded_once_the_recorder_is_uninstalled() {
    let table = common::table().await;
    let metrics = Metrics::new();
    {
        let _installed = metrics.install();
        table.get_item(key("p", 1)).send_raw().await.expect("get");
    }
    table.get_item(key("p", 1)).send_raw().await.expect("get");
    let recorded = metrics.take();
    assert_eq!(recorded.counter(REQUESTS, &[("table", table.name())]), 1);
}
