//! Tracing spans for DynamoDB calls, in the OpenTelemetry shape.
//!
//! Every request runs in a span named `dynamodb` with `otel.name`
//! (`DynamoDB.PutItem`), `db.system`, `db.operation`, `db.name` (the table),
//! `dynago.items` (items or keys sent; for a query or a scan, items
//! returned, recorded once with the answer) and, once DynamoDB answered,
//! `aws.dynamodb.consumed_capacity` (capacity units). Item values are never
//! recorded.
//!
//! Each request is also counted, with the capacity it consumed, through the
//! `metrics` facade ([`crate::metrics`]).
//!
//! [`measure`] adds up the capacity DynamoDB reports for every call a
//! future makes, for a caller that reports costs of its own (the event
//! store's `CommandOutcome::capacity`).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::types::ConsumedCapacity;
use tracing::field::Empty;
use tracing::Span;

use crate::table::Table;

/// Opens the span of one request and counts the request on the table.
pub(crate) fn request_span(table: &Table, operation: &'static str, items: usize) -> Span {
    span(table, operation, Some(items))
}

/// Opens the span of a read whose item count is known once DynamoDB
/// answered (a query's or a scan's items): `dynago.items` is left empty,
/// to be recorded once with the answer.
pub(crate) fn read_span(table: &Table, operation: &'static str) -> Span {
    span(table, operation, None)
}

fn span(table: &Table, operation: &'static str, items: Option<usize>) -> Span {
    table.count_request();
    crate::metrics::request(table, operation);
    let _ = METER.try_with(|meter| {
        let mut meter = meter.lock().unwrap_or_else(PoisonError::into_inner);
        meter.requests = meter.requests.saturating_add(1);
    });
    // `None` records nothing: the field stays empty until recorded.
    tracing::info_span!(
        "dynamodb",
        otel.name = operation_name(operation),
        db.system = "dynamodb",
        db.operation = operation,
        db.name = table.name(),
        dynago.items = items,
        aws.dynamodb.consumed_capacity = Empty,
    )
}

fn operation_name(operation: &'static str) -> &'static str {
    match operation {
        "GetItem" => "DynamoDB.GetItem",
        "PutItem" => "DynamoDB.PutItem",
        "DeleteItem" => "DynamoDB.DeleteItem",
        "UpdateItem" => "DynamoDB.UpdateItem",
        "Query" => "DynamoDB.Query",
        "Scan" => "DynamoDB.Scan",
        "BatchGetItem" => "DynamoDB.BatchGetItem",
        "BatchWriteItem" => "DynamoDB.BatchWriteItem",
        "TransactWriteItems" => "DynamoDB.TransactWriteItems",
        "TransactGetItems" => "DynamoDB.TransactGetItems",
        "CreateTable" => "DynamoDB.CreateTable",
        "DescribeTable" => "DynamoDB.DescribeTable",
        "DeleteTable" => "DynamoDB.DeleteTable",
        "UpdateTimeToLive" => "DynamoDB.UpdateTimeToLive",
        _ => "DynamoDB",
    }
}

/// Capacity units that DynamoDB reported as consumed (with
/// `ReturnConsumedCapacity`), summed as reported and split into reads and
/// writes by the kind of call. On AWS these follow its pricing rules. The
/// embedded emulator and DynamoDB Local report the same for small items (1
/// unit a write, 2 for each item of a transaction), except that DynamoDB
/// Local reports 0 for a query that finds nothing, which AWS bills as a
/// read. A call that failed is not counted: DynamoDB reports no capacity
/// with an error, though a failed condition costs the write all the same.
///
/// ```
/// let capacity = dynago::telemetry::Capacity { read_units: 0.5, write_units: 2.0 };
/// assert_eq!(capacity.total(), 2.5);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capacity {
    /// Read capacity units.
    pub read_units: f64,
    /// Write capacity units.
    pub write_units: f64,
}

impl Capacity {
    /// Reads and writes together.
    pub fn total(&self) -> f64 {
        self.read_units + self.write_units
    }

    fn add(&mut self, other: Capacity) {
        self.read_units += other.read_units;
        self.write_units += other.write_units;
    }
}

/// Whether a call reads or writes, for [`Capacity`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Access {
    /// The `kind` label of its capacity.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

type Meter = Arc<Mutex<Usage>>;

tokio::task_local! {
    static METER: Meter;
}

/// What the calls of a piece of work used: how many requests they sent
/// (each call once; the SDK's own retries of a call are not counted) and
/// the capacity DynamoDB reported for them ([`measure_usage`]).
///
/// ```
/// let usage = dynago::telemetry::Usage::default();
/// assert_eq!((usage.requests, usage.capacity.total()), (0, 0.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Usage {
    /// Requests sent.
    pub requests: u32,
    /// The capacity DynamoDB reported for them.
    pub capacity: Capacity,
}

impl Usage {
    fn add(&mut self, other: Usage) {
        self.requests = self.requests.saturating_add(other.requests);
        self.capacity.add(other.capacity);
    }
}

/// Usage added up: requests (saturating) and capacity units.
///
/// ```
/// use dynago::telemetry::Usage;
/// let mut total = Usage::default();
/// total += Usage::default();
/// assert_eq!(total.requests, 0);
/// ```
impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.add(other);
    }
}

/// Runs `work` and adds up the capacity DynamoDB reported for every call
/// it made through `dynago` (in the same task; calls in tasks it spawns are
/// not counted). Measures nest: an outer measure counts the inner ones too.
///
/// ```no_run
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// use dynago::Key;
///
/// let (item, used) = dynago::telemetry::measure(
///     table.get_item(Key::new("account#1")).consistent_read(true).send_raw(),
/// )
/// .await;
/// println!("{:?} cost {} read units", item?.is_some(), used.read_units);
/// # Ok(())
/// # }
/// ```
pub async fn measure<F: Future>(work: F) -> (F::Output, Capacity) {
    let (output, usage) = measure_usage(work).await;
    (output, usage.capacity)
}

/// As [`measure`], with the number of requests the calls sent beside the
/// capacity they used.
///
/// ```no_run
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// use dynago::Key;
///
/// let (_, used) = dynago::telemetry::measure_usage(
///     table.get_item(Key::new("account#1")).send_raw(),
/// )
/// .await;
/// assert_eq!(used.requests, 1);
/// # Ok(())
/// # }
/// ```
pub async fn measure_usage<F: Future>(work: F) -> (F::Output, Usage) {
    let meter: Meter = Arc::default();
    // Boxed: measures nest, and each would otherwise hold the whole work.
    let output = METER.scope(Arc::clone(&meter), Box::pin(work)).await;
    let used = *meter.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = METER.try_with(|outer| {
        outer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(used)
    });
    (output, used)
}

/// Records the capacity DynamoDB says a request of `operation` on `table`
/// consumed: on its span, in its metric, and in the [`measure`] the request
/// runs in, if any.
pub(crate) fn record_capacity<'a>(
    table: &Table,
    operation: &'static str,
    span: &Span,
    access: Access,
    capacity: impl IntoIterator<Item = &'a ConsumedCapacity>,
) {
    let units: f64 = capacity
        .into_iter()
        .filter_map(ConsumedCapacity::capacity_units)
        .sum();
    span.record("aws.dynamodb.consumed_capacity", units);
    crate::metrics::capacity(table, operation, access, units);
    let _ = METER.try_with(|meter| {
        let mut meter = meter.lock().unwrap_or_else(PoisonError::into_inner);
        match access {
            Access::Read => meter.capacity.read_units += units,
            Access::Write => meter.capacity.write_units += units,
        }
    });
}
