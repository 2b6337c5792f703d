//! The Lambda handler (feature `lambda`) on batches built from the real
//! stream's records: applied once, in order, with partial failures.
#![cfg(feature = "lambda")]

use crate::common;

use std::sync::atomic::Ordering;

use common::{expected, run_commands, setup, views_of, Balances, DailyTotals, Move};
use dynago_projections::lambda::{self, BatchProjector, StreamEvent};
use dynago_projections::{EventStream, Projector, ProjectorOptions};

fn batch(records: Vec<lambda::EventRecord>) -> StreamEvent {
    let mut event = StreamEvent::default();
    event.records = records;
    event
}

fn refs(projectors: &[Box<dyn BatchProjector>]) -> Vec<&dyn BatchProjector> {
    projectors.iter().map(|p| p.as_ref()).collect()
}

fn failures(answer: &lambda::DynamoDbEventResponse) -> Vec<String> {
    answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn batches_apply_once_in_order_whatever_lambda_delivers() {
    let setup = setup("proj-lambda").await;
    let ids = run_commands(&setup.store, 4, 30, 3).await;
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    let records = stream.lambda_records().await.expect("records");
    assert!(records.len() >= 15, "only {} records", records.len());
    // The batch went through JSON, as Lambda hands it over.
    let json = serde_json::to_value(batch(records.clone())).expect("serializes");
    let event: StreamEvent = serde_json::from_value(json).expect("deserializes");
    let options = ProjectorOptions::default().worker_id("lambda");
    let projectors: Vec<Box<dyn BatchProjector>> = vec![
        Box::new(
            Projector::new(
                Balances::default(),
                setup.store.clone(),
                setup.views.clone(),
                options.clone(),
            )
            .expect("a projector"),
        ),
        Box::new(
            Projector::new(
                DailyTotals,
                setup.store.clone(),
                setup.views.clone(),
                options,
            )
            .expect("a projector"),
        ),
    ];
    // Out of order first: the second half, then all of it reversed, then
    // the whole batch twice.
    let half = event.records.len() / 2;
    let later = batch(event.records[half..].to_vec());
    assert!(failures(
        &lambda::handle(&refs(&projectors), &later)
            .await
            .expect("a batch")
    )
    .is_empty());
    let mut reversed = event.records.clone();
    reversed.reverse();
    assert!(failures(
        &lambda::handle(&refs(&projectors), &batch(reversed))
            .await
            .expect("a batch")
    )
    .is_empty());
    for _ in 0..2 {
        assert!(failures(
            &lambda::handle(&refs(&projectors), &event)
                .await
                .expect("a batch")
        )
        .is_empty());
    }
    let (balances, totals) = expected(&setup.store, &ids).await;
    assert_eq!(views_of::<Balances>(&setup.views).await, balances);
    assert_eq!(views_of::<DailyTotals>(&setup.views).await, totals);
}

#[tokio::test]
async fn a_poison_event_parks_and_the_batch_succeeds() {
    let setup = setup("proj-lambda-poison").await;
    let day = "2026-12-01".to_owned();
    for amount in [5, 13, 7] {
        setup
            .store
            .execute(
                "acc-p",
                Move {
                    amount,
                    day: day.clone(),
                },
            )
            .await
            .expect("a deposit");
    }
    setup
        .store
        .execute("acc-q", Move { amount: 2, day })
        .await
        .expect("a deposit");
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    let event = batch(stream.lambda_records().await.expect("records"));
    let balances = Balances::default();
    balances.poison.store(true, Ordering::SeqCst);
    let projector = Projector::new(
        balances.clone(),
        setup.store.clone(),
        setup.views.clone(),
        ProjectorOptions::default().handler_retry(
            dynago::RetryPolicy::default()
                .max_attempts(2)
                .min_delay(std::time::Duration::from_millis(1)),
        ),
    )
    .expect("a projector");
    let projectors: Vec<Box<dyn BatchProjector>> = vec![Box::new(projector.clone())];
    let answer = lambda::handle(&refs(&projectors), &event)
        .await
        .expect("a batch");
    assert!(failures(&answer).is_empty(), "{answer:?}");
    let parked = projector.parked().await.expect("parked events");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        (parked[0].aggregate_id.as_str(), parked[0].version),
        ("acc-p", 2)
    );
    let views = views_of::<Balances>(&setup.views).await;
    assert_eq!(
        views["acc-p"].balance, 5,
        "acc-p stops before its parked event"
    );
    assert_eq!(views["acc-q"].balance, 2, "acc-q goes on");
    balances.poison.store(false, Ordering::SeqCst);
    projector.replay_parked("acc-p").await.expect("replayed");
    assert_eq!(
        views_of::<Balances>(&setup.views).await["acc-p"].balance,
        25
    );
}

#[tokio::test]
async fn failed_writes_name_the_first_record_of_each_aggregate() {
    let setup = setup("proj-lambda-fail").await;
    let day = "2026-12-02".to_owned();
    for (id, amount) in [("acc-a", 1), ("acc-b", 2), ("acc-a", 3), ("acc-b", 4)] {
        setup
            .store
            .execute(
                id,
                Move {
                    amount,
                    day: day.clone(),
                },
            )
            .await
            .expect("a deposit");
    }
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    let records = stream.lambda_records().await.expect("records");
    let event = batch(records.clone());
    // Every view write refused as throttled, and neither the SDK nor the
    // table retries: each aggregate's first event fails.
    let plan = dynago_local::FaultPlan::default()
        .throttle(dynago_local::Throttle::Throttling, 1.0)
        .operation("PutItem");
    let (views, proxy) = dynago_local::testing::through_proxy(&setup.views, plan, 1, |o| {
        o.retry(dynago::RetryPolicy::default().max_attempts(1))
    })
    .await;
    let projector = Projector::new(
        Balances::default(),
        setup.store.clone(),
        views,
        ProjectorOptions::default(),
    )
    .expect("a projector");
    let projectors: Vec<Box<dyn BatchProjector>> = vec![Box::new(projector)];
    let answer = lambda::handle(&refs(&projectors), &event)
        .await
        .expect("a batch");
    let first_of = |id: &str| {
        records
            .iter()
            .find(|r| {
                r.change.keys.clone().into_inner().get("pk")
                    == Some(&serde_dynamo::AttributeValue::S(format!("account#{id}")))
            })
            .and_then(|r| r.change.sequence_number.clone())
            .expect("a record of the account")
    };
    assert_eq!(
        failures(&answer),
        vec![first_of("acc-a"), first_of("acc-b")]
    );
    assert!(proxy.stats().faults() >= 2);
    assert!(
        views_of::<Balances>(&setup.views).await.is_empty(),
        "nothing applied"
    );
}

#[tokio::test]
async fn a_batch_of_a_stream_without_new_images_fails_and_says_what_to_set() {
    let setup = setup("proj-lambda-keys-only").await;
    let ids = run_commands(&setup.store, 1, 3, 5).await;
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    // The records a KEYS_ONLY stream delivers: keys, no image.
    let records: Vec<lambda::EventRecord> = stream
        .lambda_records()
        .await
        .expect("records")
        .into_iter()
        .map(|mut record| {
            record.change.new_image = Default::default();
            record
        })
        .collect();
    assert!(records.len() >= 3, "only {} records", records.len());
    let projectors: Vec<Box<dyn BatchProjector>> = vec![Box::new(
        Projector::new(
            Balances::default(),
            setup.store.clone(),
            setup.views.clone(),
            ProjectorOptions::default().worker_id("lambda"),
        )
        .expect("a projector"),
    )];
    // Before: no batch item failure and no view change, in silence.
    let error = lambda::handle(&refs(&projectors), &batch(records))
        .await
        .expect_err("no event can be read from keys");
    assert!(
        error.to_string().contains("NEW_IMAGE"),
        "names the view type to set: {error}"
    );
    assert!(!error.is_retryable());
    assert!(
        views_of::<Balances>(&setup.views).await.is_empty(),
        "{ids:?}"
    );
}
