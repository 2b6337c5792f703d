//! Tracing spans for DynamoDB calls, in the OpenTelemetry shape.
//!
//! Every request runs in a span named `dynamodb` with `otel.name`
//! (`DynamoDB.PutItem`), `db.system`, `db.operation`, `db.name` (the table),
//! `dynago.items` (items or keys sent; for a query or a scan, items
//! returned, recorded once with the answer) and, once DynamoDB answered,
//! `aws.dynamodb.consumed_capacity` (capacity units). Item values are never
//! recorded.

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

/// Records the capacity DynamoDB says a request consumed.
pub(crate) fn record_capacity<'a>(
    span: &Span,
    capacity: impl IntoIterator<Item = &'a ConsumedCapacity>,
) {
    let units: f64 = capacity
        .into_iter()
        .filter_map(ConsumedCapacity::capacity_units)
        .sum();
    span.record("aws.dynamodb.consumed_capacity", units);
}
