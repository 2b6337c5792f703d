//! The read side's metrics, captured by a recorder of the test's own while
//! a worker reads the stream: events applied and parked (as its status
//! counts them), its leases taken and let go, and its shards' progress.

use crate::common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, moves, options, projector, setup, stream_of, Balances, Running};
use dynago_local::testing::metrics::Metrics;
use dynago_projections::metrics::{EVENTS_APPLIED, LAG, LEASE_CHANGES, PARKED, RECORDS_BEHIND};

#[tokio::test]
async fn a_worker_counts_what_it_applied_and_parked_its_leases_and_its_shards() {
    let setup = setup("proj-metrics").await;
    // The deposit of 13 fails: it is parked, and the 7 after it waits.
    moves(&setup.store, "acc-1", &[5, 13, 7], "d1").await;
    moves(&setup.store, "acc-2", &[10, 20], "d1").await;
    let stream = stream_of(&setup).await;
    let balances = Balances {
        poison: Arc::new(AtomicBool::new(true)),
    };
    let options = options("w1").catch_up_from_table(false).handler_retry(
        dynago::RetryPolicy::default()
            .max_attempts(2)
            .min_delay(Duration::from_millis(5)),
    );
    let projector = projector(&setup, balances, options);

    let metrics = Metrics::new();
    let _installed = metrics.install();
    let running = Running::start(&projector, &stream);
    let done = eventually(Duration::from_secs(60), || {
        let status = projector.status();
        async move {
            status.applied == 3
                && status.parked == 1
                && status.shards.iter().all(|s| s.caught_up)
                && !status.shards.is_empty()
        }
    })
    .await;
    let reading = metrics.take();
    running.stop().await.expect("the worker stopped");
    let stopped = metrics.take();
    assert!(done, "status {:?}", projector.status());

    let of = [("projection", "balances")];
    let status = projector.status();
    assert_eq!(reading.counter(EVENTS_APPLIED, &of), status.applied);
    assert_eq!(reading.counter(EVENTS_APPLIED, &of), 3);
    assert_eq!(reading.counter(PARKED, &of), 1);

    let shards = reading.label_values(RECORDS_BEHIND, "shard");
    assert!(!shards.is_empty(), "{reading:?}");
    assert_eq!(reading.label_values(LAG, "shard"), shards);
    // Caught up: nothing read and left, no lag.
    assert_eq!(reading.gauge(RECORDS_BEHIND, &of), 0.0);
    assert_eq!(reading.gauge(LAG, &of), 0.0);
    let change = |change| [("projection", "balances"), ("change", change)];
    let taken = reading.counter(LEASE_CHANGES, &change("taken"));
    assert!(taken >= 1, "{reading:?}");
    assert_eq!(reading.counter(LEASE_CHANGES, &change("lost")), 0);

    // Stopped: each lease still held let go.
    let both = |what| {
        reading.counter(LEASE_CHANGES, &change(what))
            + stopped.counter(LEASE_CHANGES, &change(what))
    };
    assert_eq!(
        stopped.counter(LEASE_CHANGES, &change("released")),
        both("taken") + both("taken_over") - both("ended") - both("lost"),
        "{reading:?} then {stopped:?}"
    );
    assert!(stopped.counter(LEASE_CHANGES, &change("released")) >= 1);
}
