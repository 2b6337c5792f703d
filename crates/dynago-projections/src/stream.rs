//! The table's DynamoDB Stream: its shards, their iterators and records.

use std::collections::HashSet;

use aws_sdk_dynamodbstreams::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use chrono::{DateTime, Utc};
use dynago::sdk::types::StreamViewType;
use dynago::{Item, Table, TableOptions};
use tracing::Instrument;

use crate::error::{Error, Result};

/// The DynamoDB Stream of an events table, read through the DynamoDB
/// Streams API. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> dynago_projections::Result<()> {
/// use dynago::TableOptions;
/// use dynago_projections::EventStream;
///
/// let stream = EventStream::connect(
///     TableOptions::new("ledger").partition_key("pk").sort_key("sk"),
/// ).await?;
/// println!("reading {}", stream.arn());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct EventStream {
    client: aws_sdk_dynamodbstreams::Client,
    table: String,
    arn: String,
}

/// A shard of the stream, as `DescribeStream` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) id: String,
    pub(crate) parent: Option<String>,
    /// Set when the shard is closed (in AWS): its last record.
    pub(crate) ending: Option<String>,
}

/// One record of the stream that holds an item written (not removed).
#[derive(Debug, Clone)]
pub(crate) struct StreamItem {
    pub(crate) sequence_number: String,
    pub(crate) created_at: Option<DateTime<Utc>>,
    pub(crate) item: Item,
}

/// What one `GetRecords` read.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The written items, in the shard's order.
    pub(crate) items: Vec<StreamItem>,
    /// The sequence number of the last record, written or removed.
    pub(crate) last_sequence: Option<String>,
    /// Where the next read starts; `None` when the shard is closed and read
    /// to its end (or, on some emulators, when it is momentarily missing).
    pub(crate) next: Option<String>,
}

/// Why a read of records did not give records.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The iterator is older than 15 minutes: get another one.
    Expired,
    /// Anything else.
    Other(Error),
}

impl From<Error> for ReadError {
    fn from(error: Error) -> Self {
        Self::Other(error)
    }
}

/// The error codes after which the same call may succeed.
const RETRYABLE_CODES: [&str; 5] = [
    "LimitExceededException",
    "ThrottlingException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
];

impl EventStream {
    /// The stream of the table that `options` connect to, found with one
    /// `DescribeTable`; the Streams client uses the same endpoint,
    /// credentials and region.
    ///
    /// # Errors
    ///
    /// [`Error::NoStream`] when the table has no stream with new images;
    /// [`Error::Table`] when it cannot be described.
    pub async fn connect(options: TableOptions) -> Result<Self> {
        let config = options.sdk_config().await;
        let table = Table::with_client(dynago::Client::new(&config), options)?;
        Self::with_client(&table, aws_sdk_dynamodbstreams::Client::new(&config)).await
    }

    /// The stream of `table`, read with a Streams client you built.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn with_client(
        table: &Table,
        client: aws_sdk_dynamodbstreams::Client,
    ) -> Result<Self> {
        let described = table
            .client()
            .describe_table()
            .table_name(table.name())
            .send()
            .await
            .map_err(|e| Error::NoStream {
                table: table.name().to_owned(),
                reason: format!("DescribeTable failed: {}", describe(&e)),
            })?;
        let no_stream = |reason: &str| Error::NoStream {
            table: table.name().to_owned(),
            reason: reason.to_owned(),
        };
        let description = described
            .table()
            .ok_or_else(|| no_stream("DescribeTable answered without the table"))?;
        let spec = description
            .stream_specification()
            .filter(|spec| spec.stream_enabled())
            .ok_or_else(|| no_stream("its stream is not enabled"))?;
        match spec.stream_view_type() {
            Some(StreamViewType::NewImage | StreamViewType::NewAndOldImages) => {}
            other => {
                return Err(no_stream(&format!(
                    "its records carry {other:?}, not the new image"
                )))
            }
        }
        let arn = description
            .latest_stream_arn()
            .ok_or_else(|| no_stream("it has no stream ARN"))?;
        Ok(Self {
            client,
            table: table.name().to_owned(),
            arn: arn.to_owned(),
        })
    }

    /// The stream's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The events table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn error<E, R>(&self, operation: &'static str, error: &SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = error.code().map(str::to_owned);
        let retryable = match error {
            SdkError::ServiceError(_) => code
                .as_deref()
                .is_some_and(|code| RETRYABLE_CODES.contains(&code)),
            // Reads only: sending one again is always safe.
            _ => true,
        };
        if code.as_deref() == Some("TrimmedDataAccessException") {
            return Error::FellBehind {
                table: self.table.clone(),
                shard: String::new(),
            };
        }
        Error::Stream {
            table: self.table.clone(),
            operation,
            code,
            message: describe(error),
            retryable,
        }
    }

    /// The span of one Streams call: the operation, the events table, the
    /// shard, and (recorded with the answer) the records read.
    fn span(&self, operation: &'static str, shard: Option<&str>) -> tracing::Span {
        tracing::info_span!(
            "dynamodb_streams",
            db.system = "dynamodb",
            db.operation = operation,
            db.name = %self.table,
            shard,
            dynago.records = tracing::field::Empty,
        )
    }

    /// Every shard of the stream, parents listed before their children,
    /// paged through `DescribeStream`.
    pub(crate) async fn shards(&self) -> Result<Vec<Shard>> {
        let mut shards: Vec<Shard> = Vec::new();
        let mut seen = HashSet::new();
        let mut start: Option<String> = None;
        loop {
            let span = self.span("DescribeStream", None);
            let answer = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .instrument(span)
                .await
                .map_err(|e| self.error("DescribeStream", &e))?;
            let Some(description) = answer.stream_description() else {
                break;
            };
            let mut new = 0;
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if seen.insert(id.to_owned()) {
                    new += 1;
                    shards.push(Shard {
                        id: id.to_owned(),
                        parent: shard.parent_shard_id().map(str::to_owned),
                        ending: shard
                            .sequence_number_range()
                            .and_then(|range| range.ending_sequence_number())
                            .map(str::to_owned),
                    });
                }
            }
            // A server that ignores the start gives the same page again.
            match description.last_evaluated_shard_id() {
                Some(last) if new > 0 => start = Some(last.to_owned()),
                _ => break,
            }
        }
        Ok(parents_first(shards))
    }

    /// An iterator on `shard` after the record `after`, or at the oldest
    /// record kept.
    pub(crate) async fn iterator(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<String>> {
        let kind = if after.is_some() {
            ShardIteratorType::AfterSequenceNumber
        } else {
            ShardIteratorType::TrimHorizon
        };
        let span = self.span("GetShardIterator", Some(shard));
        let answer = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after.map(str::to_owned))
            .send()
            .instrument(span)
            .await
            .map_err(|e| self.shard_error("GetShardIterator", shard, &e))?;
        Ok(answer.shard_iterator().map(str::to_owned))
    }

    fn shard_error<E, R>(
        &self,
        operation: &'static str,
        shard: &str,
        error: &SdkError<E, R>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match self.error(operation, error) {
            Error::FellBehind { table, .. } => Error::FellBehind {
                table,
                shard: shard.to_owned(),
            },
            other => other,
        }
    }

    /// Reads at most `limit` records at `iterator`, as the Streams API
    /// gives them, with the next iterator.
    pub(crate) async fn raw_records(
        &self,
        shard: &str,
        iterator: &str,
        limit: i32,
    ) -> std::result::Result<(Vec<Record>, Option<String>), ReadError> {
        let span = self.span("GetRecords", Some(shard));
        let answer = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit)
            .send()
            .instrument(span.clone())
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) if e.code() == Some("ExpiredIteratorException") => {
                return Err(ReadError::Expired)
            }
            Err(e) => return Err(self.shard_error("GetRecords", shard, &e).into()),
        };
        span.record("dynago.records", answer.records().len());
        let next = answer.next_shard_iterator().map(str::to_owned);
        Ok((answer.records.unwrap_or_default(), next))
    }

    /// Reads at most `limit` records at `iterator`: the items written.
    pub(crate) async fn records(
        &self,
        shard: &str,
        iterator: &str,
        limit: i32,
    ) -> std::result::Result<Batch, ReadError> {
        let (records, next) = self.raw_records(shard, iterator, limit).await?;
        let mut items = Vec::new();
        let mut last_sequence = None;
        for record in records {
            let Some(change) = record.dynamodb else {
                continue;
            };
            last_sequence = change.sequence_number.clone();
            if record.event_name == Some(OperationType::Remove) {
                continue;
            }
            let (Some(image), Some(sequence)) = (change.new_image, change.sequence_number) else {
                continue;
            };
            items.push(StreamItem {
                sequence_number: sequence,
                created_at: change
                    .approximate_creation_date_time
                    .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?)),
                item: crate::record::to_item(image),
            });
        }
        Ok(Batch {
            items,
            last_sequence,
            next,
        })
    }
}

/// Orders shards so that each comes after its parent, when its parent is
/// listed (a parent trimmed away is no longer listed).
fn parents_first(shards: Vec<Shard>) -> Vec<Shard> {
    let ids: HashSet<String> = shards.iter().map(|s| s.id.clone()).collect();
    let mut placed: HashSet<String> = HashSet::new();
    let mut ordered = Vec::with_capacity(shards.len());
    let mut left = shards;
    while !left.is_empty() {
        let before = left.len();
        let (ready, waiting): (Vec<Shard>, Vec<Shard>) = left.into_iter().partition(|s| {
            s.parent
                .as_ref()
                .is_none_or(|p| !ids.contains(p) || placed.contains(p))
        });
        for shard in ready {
            placed.insert(shard.id.clone());
            ordered.push(shard);
        }
        left = waiting;
        if left.len() == before {
            // A cycle cannot be ordered: keep what is left as listed.
            ordered.append(&mut left);
        }
    }
    ordered
}

fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("no message")
            )
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>) -> Shard {
        Shard {
            id: id.into(),
            parent: parent.map(Into::into),
            ending: None,
        }
    }

    #[test]
    fn children_come_after_their_parents() {
        let ordered = parents_first(vec![
            shard("c", Some("b")),
            shard("b", Some("a")),
            shard("a", None),
            shard("orphan", Some("trimmed")),
        ]);
        let ids: Vec<&str> = ordered.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "orphan", "b", "c"]);
    }
}
