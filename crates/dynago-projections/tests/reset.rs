//! A reset or rebuild never leaves views wrong under live writers: it
//! refuses while workers run, and deletes behind a fence that Lambda
//! batches do not write through.

use crate::common;

use std::time::Duration;

use common::{
    eventually, expected, options, projector, run_commands, setup, stream_of, views_of,
    DailyTotals, Running,
};
use dynago_projections::Error;

#[tokio::test]
async fn a_rebuild_refuses_while_a_worker_runs() {
    let setup = setup("proj-reset-live").await;
    let ids = run_commands(&setup.store, 3, 10, 41).await;
    let worker = projector(&setup, DailyTotals, options("w1"));
    let running = Running::start(&worker, &stream_of(&setup).await);
    let (_, want) = expected(&setup.store, &ids).await;
    let leased = eventually(Duration::from_secs(20), || async {
        views_of::<DailyTotals>(&setup.views).await == want
    })
    .await;
    assert!(leased, "the worker did not catch up: {:?}", worker.status());

    // Before: the rebuild deleted under the live worker, whose writes
    // then left keyed views counting events twice or not at all.
    let admin = projector(&setup, DailyTotals, options("admin"));
    let error = admin.rebuild().await.expect_err("a worker runs");
    match &error {
        Error::Running { workers, .. } => assert_eq!(workers, &["w1".to_owned()]),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(error.to_string().contains("stop them"), "{error}");
    assert_eq!(
        views_of::<DailyTotals>(&setup.views).await,
        want,
        "untouched"
    );

    running.stop().await.expect("stopped");
    admin.rebuild().await.expect("no worker runs now");
    assert_eq!(views_of::<DailyTotals>(&setup.views).await, want);
}

#[cfg(feature = "lambda")]
#[tokio::test]
async fn a_lambda_batch_during_a_reset_writes_nothing_and_is_applied_when_sent_again() {
    use dynago_projections::lambda::{self, BatchProjector, StreamEvent};

    let setup = setup("proj-reset-lambda").await;
    let ids = run_commands(&setup.store, 3, 10, 43).await;
    let mut event = StreamEvent::default();
    event.records = stream_of(&setup)
        .await
        .lambda_records()
        .await
        .expect("records");
    let function: Vec<Box<dyn BatchProjector>> =
        vec![Box::new(projector(&setup, DailyTotals, options("lambda")))];
    let functions: Vec<&dyn BatchProjector> = function.iter().map(|p| p.as_ref()).collect();
    let answer = lambda::handle(&functions, &event).await.expect("a batch");
    assert!(answer.batch_item_failures.is_empty());

    // A reset with a grace for batches already running; a batch that
    // arrives meanwhile writes nothing, and Lambda sends it again.
    let admin = projector(
        &setup,
        DailyTotals,
        options("admin").reset_grace(Duration::from_millis(800)),
    );
    let reset = tokio::spawn(async move { admin.reset().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = lambda::handle(&functions, &event).await.expect("a batch");
    assert_eq!(
        answer.batch_item_failures.len(),
        1,
        "sent again from its first record"
    );
    let deleted = reset.await.expect("the reset's task").expect("reset");
    assert!(deleted > 0);
    assert!(views_of::<DailyTotals>(&setup.views).await.is_empty());

    let answer = lambda::handle(&functions, &event).await.expect("a batch");
    assert!(answer.batch_item_failures.is_empty());
    let (_, want) = expected(&setup.store, &ids).await;
    assert_eq!(views_of::<DailyTotals>(&setup.views).await, want);
}

#[tokio::test]
async fn a_rebuild_refuses_while_a_worker_catches_up_from_the_table() {
    // A worker that has just started holds no lease while it catches up.
    let setup = setup("proj-reset-catching-up").await;
    let ids = run_commands(&setup.store, 6, 40, 47).await;
    let worker = projector(&setup, DailyTotals, options("w1"));
    let running = Running::start(&worker, &stream_of(&setup).await);
    let started = eventually(Duration::from_secs(20), || async {
        worker.status().applied > 0
    })
    .await;
    assert!(started, "the worker did not start: {:?}", worker.status());
    // Before: no lease held, so the rebuild went ahead and deleted under
    // the catch-up's writes (totals counted twice or not at all).
    let admin = projector(&setup, DailyTotals, options("admin"));
    let error = admin.rebuild().await.expect_err("a worker runs");
    assert!(matches!(error, Error::Running { .. }), "{error:?}");
    running.stop().await.expect("stopped");
    admin.rebuild().await.expect("no worker runs now");
    let (_, want) = expected(&setup.store, &ids).await;
    assert_eq!(views_of::<DailyTotals>(&setup.views).await, want);
}
