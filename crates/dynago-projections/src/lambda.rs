//! Projections as an AWS Lambda function on the events table's stream
//! (feature `lambda`).
//!
//! Most teams attach a function to the stream (an event source mapping)
//! and let AWS poll, batch, retry and follow shards. The same
//! [`Projection`]s run there unchanged: [`handle`] applies a batch with the
//! ordering and exactly-once writes of the stream reader, and answers with
//! the partial batch response of `ReportBatchItemFailures`: for each
//! aggregate whose event could not be applied, that first record, so that
//! Lambda sends it and everything after it again, and nothing is lost. A
//! handler's error parks its event as the reader does (the batch succeeds).
//!
//! ```no_run
//! # async fn run<P: dynago_projections::Projection>(projector: dynago_projections::Projector<P>) -> Result<(), lambda_runtime::Error> {
//! use dynago_projections::lambda;
//!
//! lambda::serve(vec![Box::new(projector)]).await
//! # }
//! ```

use std::collections::HashSet;
use std::sync::Arc;

pub use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
pub use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use dynago::Item;
use futures::future::BoxFuture;
use lambda_runtime::{service_fn, LambdaEvent};

use crate::error::{Error, Result};
use crate::projection::Projection;
use crate::projector::{EventItem, Projector};
use crate::stream::{EventStream, ReadError};

/// A projector that applies a Lambda batch: [`Projector`] of any
/// projection, boxed, so that one function keeps several views.
pub trait BatchProjector: Send + Sync {
    /// Applies `records` in order; the sequence numbers of the records
    /// that failed, the first of each aggregate.
    fn apply_records<'a>(&'a self, records: &'a [EventRecord]) -> BoxFuture<'a, Vec<String>>;
}

impl<P: Projection> BatchProjector for Projector<P> {
    fn apply_records<'a>(&'a self, records: &'a [EventRecord]) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            // While a reset deletes the projection, nothing is written:
            // Lambda sends the batch again (one consistent read a batch).
            // A reset since the last batch: what this container remembers
            // is of the views it deleted, and is forgotten.
            let fenced = match self.fence().await {
                Ok(fence) if fence.up => Some(Error::Resetting {
                    projection: P::NAME.to_owned(),
                }),
                Ok(_) => None,
                Err(error) => Some(error),
            };
            if let Some(error) = fenced {
                tracing::warn!(projection = P::NAME, %error, "batch not applied; Lambda sends it again");
                return records
                    .iter()
                    .filter(|record| record.event_name != "REMOVE")
                    .filter_map(|record| record.change.sequence_number.clone())
                    .take(1)
                    .collect();
            }
            let mut failed_aggregates = HashSet::new();
            let mut failures = Vec::new();
            for record in records {
                if record.event_name == "REMOVE" {
                    continue;
                }
                let sequence = record.change.sequence_number.clone().unwrap_or_default();
                // Read and applied as the stream reader does
                // (`Projector::apply_item`): an event of a type this build
                // cannot read (its item names the type) is parked or passed
                // over (`Projection::UNKNOWN_EVENTS`); a record that is no
                // event at all is named in the answer.
                let events = match self.read_item(Item::from(record.change.new_image.clone())) {
                    Ok(Some(events)) => events,
                    Ok(None) => continue,
                    Err(error) => {
                        tracing::error!(projection = P::NAME, sequence, %error, "a record of the stream is not a readable event");
                        failures.push(sequence);
                        continue;
                    }
                };
                // An event that names no type is no event at all.
                if let Some(EventItem::Unreadable { error, .. }) = events.iter().find(|event| {
                    matches!(
                        event,
                        EventItem::Unreadable {
                            event_type: None,
                            ..
                        }
                    )
                }) {
                    tracing::error!(projection = P::NAME, sequence, %error, "a record of the stream is not a readable event");
                    failures.push(sequence);
                    continue;
                }
                let Some(first) = events.first() else {
                    continue;
                };
                let aggregate = first.aggregate_id().clone();
                if failed_aggregates.contains(&aggregate) {
                    continue;
                }
                if let Err(e) = self.apply_event_items(&events).await {
                    tracing::warn!(
                        projection = P::NAME,
                        %aggregate,
                        version = first.version(),
                        sequence,
                        error = %e,
                        "event not applied; Lambda sends it again"
                    );
                    failed_aggregates.insert(aggregate);
                    failures.push(sequence);
                }
            }
            failures
        })
    }
}

/// Applies `event` with every projector, and answers which records Lambda
/// must send again (none when all were applied).
///
/// ```no_run
/// # async fn run<P: dynago_projections::Projection, Q: dynago_projections::Projection>(
/// #     balances: dynago_projections::Projector<P>,
/// #     totals: dynago_projections::Projector<Q>,
/// #     event: dynago_projections::lambda::StreamEvent,
/// # ) -> dynago_projections::Result<()> {
/// let answer = dynago_projections::lambda::handle(&[&balances, &totals], &event).await?;
/// assert!(answer.batch_item_failures.is_empty());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::NoStream`] when a record of a write carries its keys but no
/// new image: the stream's view type is `KEYS_ONLY` or `OLD_IMAGE`, and no
/// event can be read from it. The whole batch fails (Lambda sends it again
/// until the view type is `NEW_IMAGE` or `NEW_AND_OLD_IMAGES`, or the
/// records expire): nothing is passed over in silence.
pub async fn handle(
    projectors: &[&dyn BatchProjector],
    event: &StreamEvent,
) -> Result<DynamoDbEventResponse> {
    check_images(event)?;
    let mut failed: Vec<String> = Vec::new();
    for projector in projectors {
        for sequence in projector.apply_records(&event.records).await {
            if !failed.contains(&sequence) {
                failed.push(sequence);
            }
        }
    }
    let mut answer = DynamoDbEventResponse::default();
    answer.batch_item_failures = failed
        .into_iter()
        .map(|sequence| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            failure
        })
        .collect();
    Ok(answer)
}

/// The variables Lambda sets for a function, which the runtime reads (and
/// panics without): an error naming those missing, outside Lambda.
fn check_lambda_environment() -> Result<(), lambda_runtime::Error> {
    const NEEDED: [&str; 4] = [
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
    ];
    let missing: Vec<&str> = NEEDED
        .into_iter()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "not running as a Lambda function: {} not set (Lambda sets them; to run it locally, use a Runtime API emulator such as `cargo lambda watch`)",
        missing.join(", ")
    )
    .into())
}

/// Refuses a batch of a stream whose records carry no new images.
fn check_images(event: &StreamEvent) -> Result<()> {
    let without_image = event.records.iter().find(|record| {
        record.event_name != "REMOVE"
            && record.change.new_image.is_empty()
            && !record.change.keys.is_empty()
    });
    let Some(record) = without_image else {
        return Ok(());
    };
    let table = record
        .event_source_arn
        .as_deref()
        .and_then(|arn| arn.split(":table/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("?")
        .to_owned();
    let view_type = record.change.stream_view_type.as_ref().map_or_else(
        || "one without new images".to_owned(),
        |kind| format!("{kind:?}"),
    );
    Err(Error::NoStream {
        table,
        reason: format!(
            "its {} records carry keys and no new image (stream view type: {view_type}); set the stream's view type to NEW_IMAGE or NEW_AND_OLD_IMAGES",
            record.event_name
        ),
    })
}

/// Runs the Lambda function: takes invocations from the Lambda Runtime API
/// (the environment Lambda sets), applies each batch with `projectors`
/// and answers with the partial batch response. Turn
/// `ReportBatchItemFailures` on in the event source mapping.
///
/// # Errors
///
/// When the Runtime API cannot be reached, or its configuration is missing
/// from the environment (outside Lambda): an error naming the variables
/// missing, never a panic.
pub async fn serve(projectors: Vec<Box<dyn BatchProjector>>) -> Result<(), lambda_runtime::Error> {
    check_lambda_environment()?;
    let projectors = Arc::new(projectors);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let projectors = Arc::clone(&projectors);
        async move {
            let projectors: Vec<&dyn BatchProjector> =
                projectors.iter().map(|p| p.as_ref()).collect();
            handle(&projectors, &event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

impl EventStream {
    /// Every record the stream holds now, shard by shard (parents first),
    /// in the shape a Lambda function on the stream receives them: to try
    /// a function with real records, locally or in a test.
    ///
    /// ```no_run
    /// # async fn run(stream: dynago_projections::EventStream) -> dynago_projections::Result<()> {
    /// use dynago_projections::lambda::StreamEvent;
    ///
    /// let mut event = StreamEvent::default();
    /// event.records = stream.lambda_records().await?;
    /// let json = serde_json::to_value(&event).expect("records serialize");
    /// # let _ = json;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A Streams call that failed.
    pub async fn lambda_records(&self) -> Result<Vec<EventRecord>> {
        let mut all = Vec::new();
        for shard in self.shards().await? {
            let mut iterator = self.iterator(&shard.id, None).await?;
            while let Some(at) = iterator {
                let (records, next) = match self.raw_records(&shard.id, &at, 1000).await {
                    Ok(read) => read,
                    Err(ReadError::Expired) => break,
                    Err(ReadError::Other(e)) => return Err(e),
                };
                if records.is_empty() {
                    break;
                }
                all.extend(records.into_iter().map(|r| self.lambda_record(r)));
                iterator = next;
            }
        }
        Ok(all)
    }

    fn lambda_record(&self, record: aws_sdk_dynamodbstreams::types::Record) -> EventRecord {
        let mut out = EventRecord::default();
        out.aws_region = record
            .aws_region
            .unwrap_or_else(|| dynago::LOCAL_REGION.to_owned());
        out.event_id = record.event_id.unwrap_or_default();
        out.event_name = record
            .event_name
            .map(|name| name.as_str().to_owned())
            .unwrap_or_default();
        out.event_source = record
            .event_source
            .or_else(|| Some("aws:dynamodb".to_owned()));
        out.event_version = record.event_version;
        out.event_source_arn = Some(self.arn().to_owned());
        if let Some(change) = record.dynamodb {
            let mut stream = aws_lambda_events::event::dynamodb::StreamRecord::default();
            if let Some(at) = change
                .approximate_creation_date_time
                .and_then(|t| chrono::DateTime::from_timestamp_millis(t.to_millis().ok()?))
            {
                stream.approximate_creation_date_time = at;
            }
            stream.keys = serde_dynamo::Item::from(change.keys.unwrap_or_default());
            stream.new_image = serde_dynamo::Item::from(change.new_image.unwrap_or_default());
            stream.old_image = serde_dynamo::Item::from(change.old_image.unwrap_or_default());
            stream.sequence_number = change.sequence_number;
            stream.size_bytes = change.size_bytes.unwrap_or_default();
            out.change = stream;
        }
        out
    }
}
