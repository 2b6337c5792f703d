//! Metrics of the table layer, through the [`metrics`] facade:
//! the requests sent and the capacity DynamoDB reported for them, by table
//! and operation.
//!
//! Nothing is recorded until the program installs a recorder (such as
//! `metrics-exporter-prometheus`); without one each request costs a call
//! that does nothing. [`describe`] gives each metric its unit and help
//! text, once a recorder is installed. `docs/metrics.md` lists every metric
//! of the workspace.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`dynago_requests_total`](REQUESTS) | counter | `table`, `operation` |
//! | [`dynago_capacity_units_total`](CAPACITY_UNITS) | gauge that only goes up | `table`, `operation`, `kind` |
//!
//! `operation` is DynamoDB's name of the request (`PutItem`, `Query`,
//! `TransactWriteItems`: the `db.operation` of the request's span).
//!
//! ```
//! // The name to look for in a scrape, or to give buckets to.
//! assert_eq!(dynago::metrics::REQUESTS, "dynago_requests_total");
//! ```

use ::metrics::{describe_counter, describe_gauge, Unit};

use crate::table::Table;
use crate::telemetry::Access;

/// Requests sent to DynamoDB (counter, labels `table` and `operation`):
/// each call once, whether it succeeded or not, as [`Usage::requests`]
/// counts them; the AWS SDK's own attempts of a call are not counted.
///
/// [`Usage::requests`]: crate::telemetry::Usage::requests
///
/// ```
/// assert_eq!(dynago::metrics::REQUESTS, "dynago_requests_total");
/// ```
pub const REQUESTS: &str = "dynago_requests_total";

/// Capacity units DynamoDB reported as consumed (labels `table`,
/// `operation`, and `kind`: `read` or `write`), as
/// [`Capacity`](crate::telemetry::Capacity) adds them up. A gauge that only
/// goes up: the facade's counters count whole numbers, and a read can cost
/// half a unit. Query it as a counter (`rate`, `increase`).
///
/// ```
/// assert_eq!(dynago::metrics::CAPACITY_UNITS, "dynago_capacity_units_total");
/// ```
pub const CAPACITY_UNITS: &str = "dynago_capacity_units_total";

/// Gives the table layer's metrics their unit and help text in the
/// recorder installed now (call it after installing one; once is enough).
///
/// ```
/// // With no recorder installed, it does nothing.
/// dynago::metrics::describe();
/// ```
pub fn describe() {
    describe_counter!(
        REQUESTS,
        Unit::Count,
        "Requests sent to DynamoDB, by table and operation (the SDK's own retries not counted)."
    );
    describe_gauge!(
        CAPACITY_UNITS,
        Unit::Count,
        "Capacity units DynamoDB reported as consumed, by table, operation and kind (read or write); only goes up."
    );
}

/// Counts one request of `operation` on `table`.
pub(crate) fn request(table: &Table, operation: &'static str) {
    ::metrics::counter!(REQUESTS, "table" => table.metric_label(), "operation" => operation)
        .increment(1);
}

/// Adds the capacity units one request of `operation` on `table` consumed.
pub(crate) fn capacity(table: &Table, operation: &'static str, access: Access, units: f64) {
    if units > 0.0 {
        ::metrics::gauge!(
            CAPACITY_UNITS,
            "table" => table.metric_label(),
            "operation" => operation,
            "kind" => access.label(),
        )
        .increment(units);
    }
}
