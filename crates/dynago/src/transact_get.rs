//! Transactional reads: up to 100 items read in one consistent snapshot.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::types::{self as sdk, ReturnConsumedCapacity, TransactGetItem};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{from_sdk, unusable_answer, CancellationReasons, Error, Result};
use crate::key::{Key, KeyId};
use crate::table::Table;
use crate::telemetry::{record_capacity, request_span, Access};
use crate::transact::MAX_TRANSACTION_ACTIONS;
use crate::value::Item;

const OPERATION: &str = "TransactGetItems";

/// Up to 100 items of one table read in one `TransactGetItems`, built by
/// [`Table::transact_get`]: they are read as of one moment, so that no
/// transaction is seen half applied.
///
/// ```no_run
/// # use serde::Deserialize;
/// # #[derive(Deserialize)] struct Account { balance: i64 }
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// use dynago::{string_value, Key};
///
/// let from = Key::new(string_value("account#1"));
/// let to = Key::new(string_value("account#2"));
/// let accounts: Vec<Option<Account>> = table.transact_get([from, to]).send().await?;
/// if let [Some(from), Some(to)] = accounts.as_slice() {
///     println!("together: {}", from.balance + to.balance);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a transaction does nothing until it is sent"]
pub struct TransactGet {
    table: Table,
    keys: Vec<Key>,
    projection: Option<String>,
    names: HashMap<String, String>,
}

impl Table {
    /// A transactional read of the items under `keys` (up to
    /// [`MAX_TRANSACTION_ACTIONS`], each key once): see [`TransactGet`].
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::{string_value, Key};
    ///
    /// let keys = (1..=3).map(|i| Key::new(string_value(&format!("account#{i}"))));
    /// let items = table.transact_get(keys).send_raw().await?;
    /// assert_eq!(items.len(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transact_get(&self, keys: impl IntoIterator<Item = Key>) -> TransactGet {
        TransactGet {
            table: self.clone(),
            keys: keys.into_iter().collect(),
            projection: None,
            names: HashMap::new(),
        }
    }
}

impl TransactGet {
    /// Adds the item under `key`, read after those already added.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// use dynago::{string_value, Key};
    ///
    /// let read = table
    ///     .transact_get([])
    ///     .get(Key::new(string_value("account#1")))
    ///     .get(Key::new(string_value("account#2")));
    /// assert_eq!(read.len(), 2);
    /// # }
    /// ```
    pub fn get(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Reads only the attributes named in `projection` (such as
    /// `"pk, #n"`) of every item.
    ///
    /// ```
    /// # fn run(table: dynago::Table, keys: Vec<dynago::Key>) {
    /// let read = table.transact_get(keys).projection("pk, balance");
    /// # let _ = read;
    /// # }
    /// ```
    pub fn projection(mut self, projection: impl Into<String>) -> Self {
        self.projection = Some(projection.into());
        self
    }

    /// Defines the name placeholder `placeholder` (`#name`) of the
    /// projection as `attribute`.
    ///
    /// ```
    /// # fn run(table: dynago::Table, keys: Vec<dynago::Key>) {
    /// let read = table
    ///     .transact_get(keys)
    ///     .projection("pk, #s")
    ///     .name("#s", "status");
    /// # let _ = read;
    /// # }
    /// ```
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// How many items it reads.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// assert_eq!(table.transact_get([]).len(), 0);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it reads no item.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// assert!(table.transact_get([]).is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Sends the read: one entry per key, in the order the keys were given,
    /// `None` where no item is stored.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Account { balance: i64 }
    /// # async fn run(table: dynago::Table, keys: Vec<dynago::Key>) -> dynago::Result<()> {
    /// let accounts: Vec<Option<Account>> = table.transact_get(keys).send().await?;
    /// let total: i64 = accounts.iter().flatten().map(|a| a.balance).sum();
    /// # let _ = total;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Before sending: [`Error::TooManyActions`] over 100 keys,
    /// [`Error::DuplicateKey`] when a key is given twice,
    /// [`Error::InvalidKey`]. From DynamoDB: [`Error::TransactionCanceled`],
    /// whose reasons name each read that failed and why (such as a
    /// `TransactionConflict` with a write in progress, which
    /// [`is_retryable`](Error::is_retryable)); [`Error::TableNotFound`];
    /// [`Error::Dynamo`]. [`Error::Deserialize`] for an item that is not a
    /// `T`.
    pub async fn send<T: DeserializeOwned>(self) -> Result<Vec<Option<T>>> {
        let table = self.table.clone();
        self.send_raw()
            .await?
            .into_iter()
            .map(|item| item.map(|item| table.read_item(item)).transpose())
            .collect()
    }

    /// Sends the read and returns the items as DynamoDB stored them, in the
    /// order of the keys.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table, keys: Vec<dynago::Key>) -> dynago::Result<()> {
    /// for (i, item) in table.transact_get(keys).send_raw().await?.into_iter().enumerate() {
    ///     println!("{i}: {}", if item.is_some() { "found" } else { "missing" });
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), but for deserialization.
    pub async fn send_raw(self) -> Result<Vec<Option<Item>>> {
        let table = &self.table;
        let count = self.keys.len();
        if count == 0 {
            return Ok(Vec::new());
        }
        if count > MAX_TRANSACTION_ACTIONS {
            return Err(Error::TooManyActions {
                table: table.name().to_owned(),
                operation: OPERATION,
                count,
                limit: MAX_TRANSACTION_ACTIONS,
            });
        }
        let names = (!self.names.is_empty()).then_some(self.names);
        let mut gets = Vec::with_capacity(count);
        let mut seen: HashMap<KeyId, usize> = HashMap::with_capacity(count);
        for (index, key) in self.keys.iter().enumerate() {
            let key = table.key_item(key)?;
            let id = table.key_id(&key)?;
            if let Some(first) = seen.get(&id) {
                return Err(Error::DuplicateKey {
                    table: table.name().to_owned(),
                    operation: OPERATION,
                    key: id.to_string(),
                    first: *first,
                    second: index,
                });
            }
            seen.insert(id, index);
            let get = sdk::Get::builder()
                .table_name(table.name())
                .set_key(Some(key))
                .set_projection_expression(self.projection.clone())
                .set_expression_attribute_names(names.clone())
                .build()
                .map_err(|e| Error::Config(format!("cannot build a transactional get: {e}")))?;
            gets.push(TransactGetItem::builder().get(get).build());
        }
        let span = request_span(table, OPERATION, count);
        let result = table
            .client()
            .transact_get_items()
            .set_transact_items(Some(gets))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await;
        let output = match result {
            Ok(output) => output,
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactGetItemsError::TransactionCanceledException(_)
                ) =>
            {
                let reasons = match e.into_err() {
                    TransactGetItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons.unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                return Err(Error::TransactionCanceled {
                    table: table.name().to_owned(),
                    reasons: CancellationReasons::from_sdk(reasons),
                });
            }
            Err(e) => return Err(from_sdk(table.name(), OPERATION, e)),
        };
        record_capacity(
            table,
            OPERATION,
            &span,
            Access::Read,
            output.consumed_capacity(),
        );
        let responses = output.responses.unwrap_or_default();
        if responses.len() != count {
            return Err(unusable_answer(
                table.name(),
                OPERATION,
                format!("{} answers to {count} reads", responses.len()),
            ));
        }
        Ok(responses
            .into_iter()
            .map(|response| response.item)
            .collect())
    }
}
