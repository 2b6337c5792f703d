//! The projector under faults: throttled, reset and answerless requests on
//! the stream reads and the view writes leave the views equal to the
//! replay; an expired iterator is renewed; records trimmed before they
//! were applied stop the worker as fallen behind.

use crate::common;

use std::time::Duration;

use common::{
    expected, options, run_commands, setup, stream_through_proxy, views_reach, Balances,
    DailyTotals, Running, Setup,
};
use dynago::Table;
use dynago_local::{testing, FaultPlan, Throttle};
use dynago_projections::{EventStream, Projection, Projector, ProjectorOptions};

/// A fifth of the requests disturbed: 10 % throttled, 5 % reset before
/// they are sent on, 5 % sent on and their answer lost.
fn one_in_five(seed: u64) -> FaultPlan {
    FaultPlan::default()
        .seed(seed)
        .throttle(Throttle::Throttling, 0.1)
        .reset(0.05)
        .drop_answer(0.05)
}

fn on_views<P: Projection<Aggregate = common::Account>>(
    setup: &Setup,
    projection: P,
    views: &Table,
    options: ProjectorOptions,
) -> Projector<P> {
    Projector::new(projection, setup.store.clone(), views.clone(), options).expect("a projector")
}

#[tokio::test]
async fn views_equal_the_replay_after_faults_on_stream_reads_and_view_writes() {
    let setup = setup("proj-faults").await;
    let ids = run_commands(&setup.store, 6, 30, 21).await;
    let (views, view_proxy) = testing::through_proxy(&setup.views, one_in_five(7), 10, |o| o).await;
    let (stream, stream_proxy) = stream_through_proxy(
        &setup,
        one_in_five(8)
            .operation("GetRecords")
            .operation("GetShardIterator"),
        10,
    )
    .await;
    let fast = || options("w1").catch_up_from_table(false);
    let balances = on_views(&setup, Balances::default(), &views, fast());
    let totals = on_views(&setup, DailyTotals, &views, fast());
    let (b, t) = (
        Running::start(&balances, &stream),
        Running::start(&totals, &stream),
    );
    // More while the workers run, on the same accounts.
    run_commands(&setup.store, 6, 30, 22).await;

    let (want_balances, want_totals) = expected(&setup.store, &ids).await;
    let balances_reached =
        views_reach::<Balances>(&setup.views, &want_balances, Duration::from_secs(30)).await;
    let totals_reached =
        views_reach::<DailyTotals>(&setup.views, &want_totals, Duration::from_secs(30)).await;
    let (balances_status, totals_status) = (balances.status(), totals.status());
    let (b, t) = (b.stop().await, t.stop().await);
    let (view_stats, stream_stats) = (view_proxy.stats(), stream_proxy.stats());
    assert!(
        balances_reached.is_ok() && totals_reached.is_ok(),
        "views under faults: balances {balances_reached:?}, totals {totals_reached:?}; status {balances_status:?} / {totals_status:?}; view proxy {view_stats:?}; stream proxy {stream_stats:?}"
    );
    b.expect("the balances worker under faults");
    t.expect("the totals worker under faults");
    assert!(
        view_stats.faults() > 0 && view_stats.dropped_answers > 0,
        "no fault injected on the view table: {view_stats:?}"
    );
    assert!(
        stream_stats.faults() > 0,
        "no fault injected on the stream reads: {stream_stats:?}"
    );
    for status in [&balances_status, &totals_status] {
        assert_eq!(
            status.gap_events, 0,
            "events read from the table because the stream reader skipped records: {status:?}"
        );
    }
}

/// Runs a worker on `stream` while commands come, until the views equal
/// the replay; the worker's status and what `run` returned.
async fn run_until_replayed(
    setup: &Setup,
    stream: &EventStream,
    views: &Table,
    seed: u64,
) -> (dynago_projections::Status, dynago_projections::Result<()>) {
    let ids = run_commands(&setup.store, 4, 15, seed).await;
    let balances = on_views(
        setup,
        Balances::default(),
        views,
        options("w1").catch_up_from_table(false),
    );
    let worker = Running::start(&balances, stream);
    run_commands(&setup.store, 4, 15, seed + 1).await;
    let (want, _) = expected(&setup.store, &ids).await;
    let reached = views_reach::<Balances>(&setup.views, &want, Duration::from_secs(20)).await;
    let status = balances.status();
    let ended = worker.ended();
    let result = worker.stop().await;
    assert!(
        reached.is_ok() && !ended,
        "the views: {reached:?}; the worker ended on its own: {ended} ({result:?}); status {status:?}"
    );
    (status, result)
}

#[tokio::test]
async fn a_throttled_get_records_is_tried_again() {
    let setup = setup("proj-faults-records").await;
    let plan = FaultPlan::default()
        .throttle(Throttle::Throttling, 1.0)
        .operation("GetRecords")
        .first(5);
    let (stream, proxy) = stream_through_proxy(&setup, plan, 1).await;
    let (status, result) = run_until_replayed(&setup, &stream, &setup.views, 31).await;
    result.expect("the worker after throttled reads");
    assert_eq!(
        proxy.stats().throttled,
        5,
        "GetRecords throttled: {:?}",
        proxy.stats()
    );
    assert_eq!(status.gap_events, 0, "records skipped: {status:?}");
}

#[tokio::test]
async fn a_throttled_get_shard_iterator_is_tried_again() {
    let setup = setup("proj-faults-iterator").await;
    let plan = FaultPlan::default()
        .throttle(Throttle::Throttling, 1.0)
        .operation("GetShardIterator")
        .first(3);
    let (stream, proxy) = stream_through_proxy(&setup, plan, 1).await;
    let (status, result) = run_until_replayed(&setup, &stream, &setup.views, 41).await;
    result.expect("the worker after throttled iterators");
    assert_eq!(
        proxy.stats().throttled,
        3,
        "GetShardIterator throttled: {:?}",
        proxy.stats()
    );
    assert_eq!(status.gap_events, 0, "records skipped: {status:?}");
}

#[tokio::test]
async fn throttled_lease_and_view_writes_are_tried_again() {
    let setup = setup("proj-faults-writes").await;
    // Without the SDK's retries, every throttled write reaches the worker:
    // view writes, checkpoints and lease renewals alike.
    let plan = FaultPlan::default()
        .seed(3)
        .throttle(Throttle::Throttling, 0.3)
        .operation("PutItem");
    let (views, proxy) = testing::through_proxy(&setup.views, plan, 1, |o| o).await;
    // The stream read directly: the faults are the view table's.
    let stream = common::stream_of(&setup).await;
    let (status, result) = run_until_replayed(&setup, &stream, &views, 51).await;
    result.expect("the worker after throttled writes");
    assert!(
        proxy.stats().throttled > 0,
        "no write throttled: {:?}",
        proxy.stats()
    );
    assert_eq!(status.gap_events, 0, "records skipped: {status:?}");
}

#[tokio::test]
async fn an_expired_iterator_is_renewed_and_nothing_is_missed() {
    let setup = setup("proj-faults-expired").await;
    let plan = FaultPlan::default()
        .fail(400, "ExpiredIteratorException", 1.0)
        .operation("GetRecords")
        .first(3);
    let (stream, proxy) = stream_through_proxy(&setup, plan, 1).await;
    let (status, result) = run_until_replayed(&setup, &stream, &setup.views, 61).await;
    result.expect("the worker after expired iterators");
    let stats = proxy.stats();
    assert_eq!(stats.failed, 3, "GetRecords answered expired: {stats:?}");
    assert!(
        stats.requests_for("GetShardIterator") >= 4,
        "an iterator for the first read and one for each of 3 expired: {stats:?}"
    );
    assert_eq!(
        status.gap_events, 0,
        "records skipped after an iterator expired: {status:?}"
    );
}

/// Runs a worker until it returns, for at most 20 s.
async fn run_to_its_end(
    projector: &Projector<Balances>,
    stream: &EventStream,
) -> dynago_projections::Result<()> {
    tokio::time::timeout(
        Duration::from_secs(20),
        projector.run(stream, std::future::pending::<()>()),
    )
    .await
    .unwrap_or_else(|_| panic!("the worker still runs: {:?}", projector.status()))
}

#[tokio::test]
async fn records_trimmed_after_the_checkpoint_make_run_fail_as_fallen_behind() {
    let setup = setup("proj-faults-trimmed-iterator").await;
    let (stream, proxy) = stream_through_proxy(&setup, FaultPlan::default(), 1).await;
    // A first run stores a checkpoint.
    run_until_replayed(&setup, &stream, &setup.views, 71)
        .await
        .1
        .expect("the first run");
    run_commands(&setup.store, 4, 10, 73).await;
    proxy.set_plan(
        FaultPlan::default()
            .fail(400, "TrimmedDataAccessException", 1.0)
            .operation("GetShardIterator"),
    );
    let balances = on_views(
        &setup,
        Balances::default(),
        &setup.views,
        options("w2").catch_up_from_table(false),
    );
    let error = run_to_its_end(&balances, &stream)
        .await
        .expect_err("a run whose records after the checkpoint were trimmed");
    assert!(
        error.is_fell_behind(),
        "GetShardIterator answered TrimmedDataAccessException: {error}"
    );
    assert!(
        proxy.stats().failed > 0,
        "GetShardIterator never answered trimmed: {:?}",
        proxy.stats()
    );
}

#[tokio::test]
async fn records_trimmed_while_reading_make_run_fail_as_fallen_behind() {
    let setup = setup("proj-faults-trimmed-records").await;
    run_commands(&setup.store, 4, 10, 81).await;
    let plan = FaultPlan::default()
        .fail(400, "TrimmedDataAccessException", 1.0)
        .operation("GetRecords");
    let (stream, proxy) = stream_through_proxy(&setup, plan, 1).await;
    let balances = on_views(
        &setup,
        Balances::default(),
        &setup.views,
        options("w1").catch_up_from_table(false),
    );
    let error = run_to_its_end(&balances, &stream)
        .await
        .expect_err("a run whose records were trimmed");
    assert!(
        error.is_fell_behind(),
        "GetRecords answered TrimmedDataAccessException: {error}"
    );
    assert_eq!(
        proxy.stats().failed,
        1,
        "GetRecords answered trimmed, once, and the worker stopped: {:?}",
        proxy.stats()
    );
}

#[tokio::test]
async fn a_shard_no_longer_listed_after_the_checkpoint_makes_run_fail_as_fallen_behind() {
    // A worker stopped longer than the stream keeps records: the shard its
    // checkpoint is in is trimmed away, and no longer listed.
    let setup = setup("proj-faults-weekend").await;
    let (stream, proxy) = stream_through_proxy(&setup, FaultPlan::default(), 1).await;
    run_until_replayed(&setup, &stream, &setup.views, 91)
        .await
        .1
        .expect("the first run");
    run_commands(&setup.store, 4, 10, 93).await;
    proxy.set_plan(FaultPlan::default().patch_answer(
        "DescribeStream",
        serde_json::json!({"StreamDescription": {"Shards": []}}),
    ));
    let balances = on_views(
        &setup,
        Balances::default(),
        &setup.views,
        options("w2").catch_up_from_table(false),
    );
    // Before: the lease was ended with its checkpoint mid-shard, and the
    // worker went on (idle) with the last events never applied.
    let error = run_to_its_end(&balances, &stream)
        .await
        .expect_err("a run whose shard after the checkpoint is gone");
    assert!(error.is_fell_behind(), "{error}");
    assert!(
        error.to_string().contains("rebuild"),
        "says what to run: {error}"
    );
}
