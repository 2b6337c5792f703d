//! A Lambda batch whose last event this build cannot read is not failed for
//! ever (the projection passes over it or parks it), and two resets that
//! overlap never let a batch through while either deletes.
#![cfg(feature = "lambda")]

use crate::common;

use std::time::Duration;

use common::{moves, options, projector, setup, Account};
use dynago_es::{Aggregate, DomainEvent, EventStore, Metadata, StoreOptions};
use dynago_projections::lambda::{self, BatchProjector, StreamEvent};
use dynago_projections::{EventOf, EventStream, Projection, UnknownEvents};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct NewerAccount;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum NewerEvent {
    Deposited { amount: i64, day: String },
    Frozen { reason: String },
}

impl Aggregate for NewerAccount {
    const TYPE: &'static str = <Account as Aggregate>::TYPE;
    type Id = dynago_es::AggregateId;
    type Command = ();
    type Event = NewerEvent;
    type Error = std::convert::Infallible;
    fn handle(&self, (): &()) -> Result<Vec<NewerEvent>, Self::Error> {
        Ok(Vec::new())
    }
    fn apply(&mut self, _: &NewerEvent) {}
}

struct Counting;

impl Projection for Counting {
    const NAME: &'static str = "probe-counting";
    const UNKNOWN_EVENTS: UnknownEvents = UnknownEvents::Skip;
    type Aggregate = Account;
    type View = u64;
    type Error = std::convert::Infallible;
    fn apply(&self, count: &mut u64, _: &EventOf<Self>) -> Result<(), Self::Error> {
        *count += 1;
        Ok(())
    }
}

fn batch(records: Vec<lambda::EventRecord>) -> StreamEvent {
    let mut event = StreamEvent::default();
    event.records = records;
    event
}

/// Skip projection in Lambda: the unknown event is the last of its aggregate.
#[tokio::test]
async fn a_lambda_batch_whose_last_event_cannot_be_read_is_passed_over() {
    let setup = setup("probe-lambda-skip").await;
    moves(&setup.store, "frozen", &[5], "2026-12-01").await;
    let newer = EventStore::<NewerAccount>::new(setup.events.clone(), StoreOptions::default())
        .expect("a store");
    newer
        .append(
            "frozen",
            1,
            vec![NewerEvent::Frozen {
                reason: "audit".into(),
            }],
            Metadata::default(),
        )
        .await
        .expect("appended");
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("stream");
    let event = batch(stream.lambda_records().await.expect("records"));
    let counting = projector(&setup, Counting, options("lambda"));
    let projectors: Vec<Box<dyn BatchProjector>> = vec![Box::new(counting.clone())];
    let refs: Vec<&dyn BatchProjector> = projectors.iter().map(|p| p.as_ref()).collect();
    for attempt in 0..3 {
        let answer = lambda::handle(&refs, &event).await.expect("a batch");
        println!(
            "attempt {attempt}: failures {:?}",
            answer.batch_item_failures
        );
    }
    let view = counting.views().get("frozen").await.expect("read");
    println!("view {:?}", view.as_ref().map(|v| (v.version, v.view)));
    println!("parked {:?}", counting.parked().await.expect("parked"));
    let answer = lambda::handle(&refs, &event).await.expect("a batch");
    assert!(
        answer.batch_item_failures.is_empty(),
        "a Skip projection fails the batch on the unreadable record forever: {answer:?}"
    );
}

/// Two resets at once (a retried rebuild): the first one's end takes the
/// fence down while the second has yet to delete.
#[tokio::test]
async fn overlapping_resets_keep_the_fence_up_until_the_last_is_done() {
    let setup = setup("probe-two-resets").await;
    moves(&setup.store, "a", &[1, 2], "2026-12-01").await;
    let grace = Duration::from_millis(1500);
    let a = projector(&setup, Counting, options("ra").reset_grace(grace));
    let b = projector(&setup, Counting, options("rb").reset_grace(grace));
    let lam = projector(&setup, Counting, options("lambda"));
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.reset().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = tokio::spawn({
        let b = b.clone();
        async move { b.reset().await }
    });
    first
        .await
        .expect("the first reset's task")
        .expect("first reset");
    // The second reset is still in its grace: it has not deleted yet.
    assert!(!second.is_finished());
    let stream = EventStream::connect(setup.events_options.clone())
        .await
        .expect("stream");
    let event = batch(stream.lambda_records().await.expect("records"));
    let projectors: Vec<Box<dyn BatchProjector>> = vec![Box::new(lam.clone())];
    let refs: Vec<&dyn BatchProjector> = projectors.iter().map(|p| p.as_ref()).collect();
    let answer = lambda::handle(&refs, &event).await.expect("a batch");
    let during = second.is_finished();
    println!(
        "batch during second reset (finished={during}): {:?}",
        answer.batch_item_failures
    );
    second
        .await
        .expect("the second reset's task")
        .expect("second reset");
    let view = lam.views().get("a").await.expect("read");
    println!(
        "view after: {:?}",
        view.as_ref().map(|v| (v.version, v.view))
    );
    assert!(
        !answer.batch_item_failures.is_empty(),
        "a Lambda batch was applied while the second reset ran (fence down)"
    );
}
