//! Batch reads and writes of any size: split into DynamoDB's chunks, sent
//! concurrently, with what DynamoDB leaves unprocessed retried under backoff.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::future::Future;

use aws_sdk_dynamodb::types::{
    DeleteRequest, KeysAndAttributes, PutRequest, ReturnConsumedCapacity, WriteRequest,
};
use futures::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::attempts::{from_sdk_write, watched, Resend};
use crate::error::{from_sdk, Error, Result};
use crate::item::to_item_named;
use crate::key::{Key, KeyId};
use crate::table::Table;
use crate::telemetry::{record_capacity, request_span, Access};
use crate::value::Item;
use crate::write::{put_item_attributes, WriteId};

/// The most keys one `BatchGetItem` request takes.
pub const MAX_BATCH_GET: usize = 100;
/// The most writes one `BatchWriteItem` request takes.
pub const MAX_BATCH_WRITE: usize = 25;

/// A batch read of any number of keys, built by [`Table::batch_get_items`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct BatchGet {
    table: Table,
    keys: Vec<Key>,
    consistent_read: bool,
}

impl Table {
    /// Reads the items under `keys`, any number of them.
    ///
    /// The keys are sent in requests of at most 100, several at once; keys
    /// that DynamoDB leaves unprocessed are sent again with exponential
    /// backoff and jitter, up to the table's [`RetryPolicy`](crate::RetryPolicy).
    ///
    /// The result holds one item per distinct key that exists, **in the order
    /// of the keys given** (a key given twice is read once and appears once,
    /// at its first place); keys without an item are simply absent. Number
    /// key values are compared as DynamoDB compares them, by value: `1.5`,
    /// `1.50` and `15E-1` are one key, as are `-0` and `0`, and an item is
    /// found under any of them (DynamoDB answers with its own spelling).
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct User { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::{string_value, Key};
    ///
    /// let keys = ["1", "2", "3"].map(|id| {
    ///     Key::new(string_value(format!("user#{id}"))).sort(string_value(format!("user#{id}")))
    /// });
    /// let users: Vec<User> = table.batch_get_items(keys).send().await?;
    /// # let _ = users;
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_get_items(&self, keys: impl IntoIterator<Item = Key>) -> BatchGet {
        BatchGet {
            table: self.clone(),
            keys: keys.into_iter().collect(),
            consistent_read: false,
        }
    }

    /// A batch of puts and deletes of any size: see [`BatchWrite`].
    pub fn batch_write(&self) -> BatchWrite {
        BatchWrite {
            table: self.clone(),
            requests: Vec::new(),
            seen: HashMap::new(),
            error: None,
        }
    }
}

impl BatchGet {
    /// Reads with strong consistency.
    pub fn consistent_read(mut self, consistent: bool) -> Self {
        self.consistent_read = consistent;
        self
    }

    /// Sends the requests.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] before sending; [`Error::Unprocessed`] with the
    /// keys left when the retries ran out; [`Error::Deserialize`] for an item
    /// that is not a `T`; [`Error::TableNotFound`], [`Error::Dynamo`].
    pub async fn send<T: DeserializeOwned>(self) -> Result<Vec<T>> {
        let table = &self.table;
        // Each key once, by its place among the keys; the items found go
        // to their key's place, so that they come back in the keys' order.
        let mut places: HashMap<KeyId, usize, RandomState> =
            HashMap::with_capacity_and_hasher(self.keys.len(), RandomState::default());
        let mut unique: Vec<Item> = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let item = table.key_item(key)?;
            let id = table.key_id(&item)?;
            let place = places.len();
            if let Entry::Vacant(entry) = places.entry(id) {
                entry.insert(place);
                unique.push(item);
            }
        }
        let mut keys = unique.into_iter();
        let chunks: Vec<Vec<Item>> = std::iter::from_fn(|| {
            let chunk: Vec<Item> = keys.by_ref().take(MAX_BATCH_GET).collect();
            (!chunk.is_empty()).then_some(chunk)
        })
        .collect();
        let consistent = self.consistent_read;
        let outcomes: Vec<Result<Vec<Item>, ChunkFailure<Item>>> = stream::iter(chunks)
            .map(|chunk| drain(table, chunk, move |keys| get_chunk(table, keys, consistent)))
            .buffer_unordered(table.batch_concurrency())
            .collect()
            .await;
        let mut found: Vec<Option<Item>> = Vec::new();
        found.resize_with(places.len(), || None);
        let mut failures = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(items) => {
                    for item in items {
                        let place = table.keys().id_of(&item).and_then(|id| places.get(&id));
                        if let Some(&place) = place {
                            found[place] = Some(item);
                        }
                    }
                }
                Err(failure) => failures.push(failure),
            }
        }
        if let Some(error) = merge_failures(failures, "BatchGetItem", |keys| (keys, Vec::new()))? {
            return Err(error);
        }
        found
            .into_iter()
            .flatten()
            .map(|item| table.read_item(item))
            .collect()
    }
}

async fn get_chunk(
    table: &Table,
    keys: Vec<Item>,
    consistent: bool,
) -> Result<(Vec<Item>, Vec<Item>)> {
    let count = keys.len();
    let request = KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .consistent_read(consistent)
        .build()
        .map_err(|e| Error::Config(format!("cannot build a batch get request: {e}")))?;
    let span = request_span(table, "BatchGetItem", count);
    let mut output = table
        .client()
        .batch_get_item()
        .request_items(table.name(), request)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .instrument(span.clone())
        .await
        .map_err(|e| from_sdk(table.name(), "BatchGetItem", e))?;
    record_capacity(
        table,
        "BatchGetItem",
        &span,
        Access::Read,
        output.consumed_capacity(),
    );
    let found = output
        .responses
        .as_mut()
        .and_then(|r| r.remove(table.name()))
        .unwrap_or_default();
    let unprocessed = output
        .unprocessed_keys
        .as_mut()
        .and_then(|u| u.remove(table.name()))
        .map(|k| k.keys)
        .unwrap_or_default();
    Ok((found, unprocessed))
}

/// What one chunk left when its retries ran out.
struct ChunkFailure<P> {
    left: Vec<P>,
    attempts: usize,
    error: Option<Error>,
}

/// Sends `pending` until nothing is left, retrying what the server leaves
/// unprocessed (and retryable errors) under the table's backoff.
async fn drain<P, F, Fut>(
    table: &Table,
    mut pending: Vec<P>,
    send: F,
) -> Result<Vec<Item>, ChunkFailure<P>>
where
    P: Clone,
    F: Fn(Vec<P>) -> Fut,
    Fut: Future<Output = Result<(Vec<Item>, Vec<P>)>>,
{
    let mut found = Vec::new();
    let mut backoff = table.retry_policy().delays();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match send(pending.clone()).await {
            Ok((items, unprocessed)) => {
                found.extend(items);
                if unprocessed.is_empty() {
                    return Ok(found);
                }
                pending = unprocessed;
            }
            Err(error) if error.is_retryable() => {
                tracing::debug!(table = table.name(), %error, "batch request failed, retrying");
            }
            Err(error) => {
                return Err(ChunkFailure {
                    left: pending,
                    attempts,
                    error: Some(error),
                })
            }
        }
        match backoff.next() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                return Err(ChunkFailure {
                    left: pending,
                    attempts,
                    error: None,
                })
            }
        }
    }
}

/// One error for all the chunks that failed: a non-retryable error as it
/// is, otherwise [`Error::Unprocessed`] with everything that was left.
fn merge_failures<P>(
    failures: Vec<ChunkFailure<P>>,
    operation: &'static str,
    split: impl FnOnce(Vec<P>) -> (Vec<Item>, Vec<WriteRequest>),
) -> Result<Option<Error>> {
    let mut left = Vec::new();
    let mut attempts = 0;
    for failure in failures {
        match failure.error {
            // The writes left may have been done: the error says so, and
            // carries them.
            Some(Error::OutcomeUnknown {
                table, operation, ..
            }) => {
                let count = failure.left.len();
                let (keys, items) = split(failure.left);
                return Err(Error::OutcomeUnknown {
                    table,
                    operation,
                    last: Box::new(Error::Unprocessed {
                        operation,
                        left: count,
                        attempts: failure.attempts,
                        keys,
                        items,
                    }),
                });
            }
            Some(error) => return Err(error),
            None => {}
        }
        attempts = attempts.max(failure.attempts);
        left.extend(failure.left);
    }
    if left.is_empty() {
        return Ok(None);
    }
    let count = left.len();
    let (keys, items) = split(left);
    Ok(Some(Error::Unprocessed {
        operation,
        left: count,
        attempts,
        keys,
        items,
    }))
}

/// A batch of puts and deletes of any size, built by [`Table::batch_write`].
///
/// Sent as `BatchWriteItem` requests of at most 25 writes, several at once;
/// writes that DynamoDB leaves unprocessed are sent again with backoff. A
/// batch is not a transaction: when it fails, some writes may have been done;
/// [`Error::Unprocessed`] then carries every write that was not.
///
/// ```no_run
/// # use serde::Serialize;
/// # #[derive(Serialize)] struct Row { n: u32 }
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// use dynago::{number_value, string_value, Key};
///
/// let batch = (0..100u32).fold(table.batch_write(), |batch, n| {
///     batch.put(Key::new(string_value("rows")).sort(number_value(n)), &Row { n })
/// });
/// batch.delete(Key::new(string_value("rows")).sort(number_value(999))).send().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a batch does nothing until it is sent"]
pub struct BatchWrite {
    table: Table,
    requests: Vec<WriteRequest>,
    seen: HashMap<KeyId, usize>,
    error: Option<Error>,
}

impl BatchWrite {
    /// Adds a put of `item` under `key`.
    pub fn put<T: Serialize + ?Sized>(mut self, key: Key, item: &T) -> Self {
        let index = self.requests.len();
        let request = to_item_named(item, || format!("batch write {index}"))
            .and_then(|item| {
                put_item_attributes(&self.table, &key, item, None, WriteId::Without)
                    .map_err(|e| e.in_table(self.table.name()))
            })
            .and_then(|item| {
                let id = self.table.key_id(&item)?;
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| Error::Config(format!("cannot build a put request: {e}")))?;
                Ok((id, WriteRequest::builder().put_request(put).build()))
            });
        self.push(request);
        self
    }

    /// Adds a delete of the item under `key`.
    pub fn delete(mut self, key: Key) -> Self {
        let request = self.table.key_item(&key).and_then(|key| {
            let id = self.table.key_id(&key)?;
            let delete = DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(|e| Error::Config(format!("cannot build a delete request: {e}")))?;
            Ok((id, WriteRequest::builder().delete_request(delete).build()))
        });
        self.push(request);
        self
    }

    fn push(&mut self, request: Result<(KeyId, WriteRequest)>) {
        if self.error.is_some() {
            return;
        }
        let index = self.requests.len();
        match request {
            Ok((id, request)) => {
                if let Some(first) = self.seen.insert(id.clone(), index) {
                    self.error = Some(Error::DuplicateKey {
                        table: self.table.name().to_owned(),
                        operation: "BatchWriteItem",
                        key: id.to_string(),
                        first,
                        second: index,
                    });
                }
                self.requests.push(request);
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// How many writes the batch holds.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether the batch holds no write.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Sends the batch.
    ///
    /// # Errors
    ///
    /// Before sending (nothing written): [`Error::Serialize`],
    /// [`Error::InvalidKey`], [`Error::ItemTooLarge`] and
    /// [`Error::DuplicateKey`] for the first write at fault (two writes
    /// under one key, numbers compared by value: `7` and `7.0` are one
    /// key, which DynamoDB would refuse in one request). After:
    /// [`Error::Unprocessed`] with the writes left when the retries ran out,
    /// [`Error::TableNotFound`], [`Error::Dynamo`].
    pub async fn send(self) -> Result<()> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let table = &self.table;
        let chunks: Vec<Vec<WriteRequest>> = self
            .requests
            .chunks(MAX_BATCH_WRITE)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        let outcomes: Vec<Result<Vec<Item>, ChunkFailure<WriteRequest>>> = stream::iter(chunks)
            .map(|chunk| drain(table, chunk, |writes| write_chunk(table, writes)))
            .buffer_unordered(table.batch_concurrency())
            .collect()
            .await;
        let failures = outcomes.into_iter().filter_map(Result::err).collect();
        match merge_failures(failures, "BatchWriteItem", |items| (Vec::new(), items))? {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

async fn write_chunk(
    table: &Table,
    writes: Vec<WriteRequest>,
) -> Result<(Vec<Item>, Vec<WriteRequest>)> {
    let span = request_span(table, "BatchWriteItem", writes.len());
    let send = table
        .client()
        .batch_write_item()
        .request_items(table.name(), writes)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send();
    // A batch sent again after an attempt without an answer could be
    // applied twice, the second time after later writes of its items.
    let (result, uncertain) = watched(send, Resend::NotAfterSilence)
        .instrument(span.clone())
        .await;
    let mut output =
        result.map_err(|e| from_sdk_write(table.name(), "BatchWriteItem", e, uncertain))?;
    record_capacity(
        table,
        "BatchWriteItem",
        &span,
        Access::Write,
        output.consumed_capacity(),
    );
    let unprocessed = output
        .unprocessed_items
        .as_mut()
        .and_then(|u| u.remove(table.name()))
        .unwrap_or_default();
    Ok((Vec::new(), unprocessed))
}
