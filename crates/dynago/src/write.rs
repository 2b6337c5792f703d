//! Writing one item: put and delete, each optionally guarded by a condition
//! or an optimistic lock.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::attempts::{from_sdk_write, watched, Resend};
use crate::condition::{Condition, OptimisticLock, WriteCondition};
use crate::error::{Error, Result};
use crate::item::{check_size, to_item_named};
use crate::key::Key;
use crate::table::Table;
use crate::telemetry::{record_capacity, request_span, Access};
use crate::value::{number_value, string_value, Item};
use aws_sdk_dynamodb::types::AttributeValue;

/// A `PutItem` request, built by [`Table::put_item`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct PutItem {
    table: Table,
    key: Key,
    item: Result<Item>,
    condition: WriteCondition,
    return_old: bool,
    write_id: bool,
}

/// What a put or a delete did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct WriteOutcome {
    /// The version the item now carries, for a write under an optimistic lock.
    pub version: Option<u64>,
    /// The item the write replaced or removed, when asked for with `return_old`.
    /// `None` for a [`recovered`](Self::recovered) put: the replaced item
    /// came back only in the answer that was lost.
    pub old_item: Option<Item>,
    /// A conditional put (under a lock or a condition) whose answer was
    /// lost and which the SDK sent again: the second send failed its
    /// condition against the first one's success, recognised by its
    /// [write id](WRITE_ID_ATTRIBUTE). The write took place once.
    ///
    /// An equal item written by another writer carries another write id, and
    /// is a [`Error::VersionConflict`] (or [`Error::ConditionFailed`]).
    pub recovered: bool,
}

impl WriteOutcome {
    /// The replaced or removed item, deserialized.
    ///
    /// # Errors
    ///
    /// [`Error::Deserialize`] when it is not a `T`.
    pub fn old<T: DeserializeOwned>(&self, table: &Table) -> Result<Option<T>> {
        self.old_item
            .clone()
            .map(|item| table.read_item(item))
            .transpose()
    }
}

impl Table {
    /// Writes `item` under `key`, replacing any item stored there.
    ///
    /// The key attributes are added to the item; a field of the item that
    /// carries a key attribute must hold the same value. Fields that are
    /// `None` are left out of the item (see [`item`](crate::item)).
    ///
    /// ```no_run
    /// # use serde::Serialize;
    /// # #[derive(Serialize)] struct Event { id: String, timestamp: i64 }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::{number_value, string_value, Key};
    ///
    /// let event = Event { id: "one".into(), timestamp: 1_700_000_000 };
    /// table
    ///     .put_item(
    ///         Key::new(string_value(format!("event#{}", event.id))).sort(number_value(event.timestamp)),
    ///         &event,
    ///     )
    ///     .send()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn put_item<T: Serialize + ?Sized>(&self, key: Key, item: &T) -> PutItem {
        PutItem {
            table: self.clone(),
            item: to_item_named(item, || "the item to put".to_owned()),
            key,
            condition: WriteCondition::default(),
            return_old: false,
            write_id: true,
        }
    }

    /// Writes `item` as it is under `key` (the key attributes added): for
    /// items built by hand, or by [`item::to_item`](crate::item::to_item).
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::{number_value, string_value, Item, Key};
    ///
    /// let mut item = Item::new();
    /// item.insert("balance".into(), number_value(250));
    /// table.put_item_raw(Key::new(string_value("account#1")), item).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn put_item_raw(&self, key: Key, item: Item) -> PutItem {
        PutItem {
            table: self.clone(),
            item: Ok(item),
            key,
            condition: WriteCondition::default(),
            return_old: false,
            write_id: true,
        }
    }

    /// Deletes the item under `key` (nothing happens if there is none, unless
    /// a condition or lock says otherwise).
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::{string_value, Key};
    ///
    /// table
    ///     .delete_item(Key::new(string_value("account#1")))
    ///     .optimistic_lock("version", 12)
    ///     .send()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete_item(&self, key: Key) -> DeleteItem {
        DeleteItem {
            table: self.clone(),
            key,
            condition: WriteCondition::default(),
            return_old: false,
        }
    }
}

/// The attribute in which a conditional put (under an optimistic lock or a
/// condition) stores a unique id of the write.
///
/// It lets the put recognise its own earlier success: when the answer to a
/// conditional put is lost, the SDK sends it again, and the second send fails
/// its condition against the first. Only an item carrying the same write id
/// (not merely equal content, which another writer may have written too)
/// counts as that success. Deserializing into your own types ignores it.
/// Unconditional puts, whose resend simply succeeds again, do not carry it.
pub const WRITE_ID_ATTRIBUTE: &str = "dynago_write_id";

/// Whether a put carries a [write id](WRITE_ID_ATTRIBUTE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteId {
    /// A fresh write id, for a put that recognises its own lost answer.
    Fresh,
    /// None.
    Without,
}

impl WriteId {
    /// A fresh write id for a put guarded by a condition or a lock
    /// (`guarded`), else none.
    pub(crate) fn when(guarded: bool) -> Self {
        if guarded {
            WriteId::Fresh
        } else {
            WriteId::Without
        }
    }
}

/// Builds the full item of a put: the key attributes, the item's own
/// attributes, the lock's next version and, if asked for, a write id.
pub(crate) fn put_item_attributes(
    table: &Table,
    key: &Key,
    item: Item,
    lock: Option<&OptimisticLock>,
    write_id: WriteId,
) -> Result<Item> {
    let key = table.key_item(key)?;
    let mut item = item;
    for (name, value) in key {
        match item.get(&name) {
            Some(existing) if *existing != value => {
                return Err(Error::InvalidKey {
                    table: table.name().to_owned(),
                    reason: format!(
                        "the item's attribute `{name}` differs from the key's value for it"
                    ),
                })
            }
            _ => {
                item.insert(name, value);
            }
        }
    }
    if let Some(lock) = lock {
        item.insert(
            lock.attribute().to_owned(),
            number_value(lock.next_checked(table.name())?),
        );
    }
    if write_id == WriteId::Fresh {
        item.insert(
            WRITE_ID_ATTRIBUTE.to_owned(),
            string_value(uuid::Uuid::new_v4().simple().to_string()),
        );
    }
    check_size(&item, || table.describe(&item)).map_err(|e| e.in_table(table.name()))?;
    Ok(item)
}

/// Whether `stored` was written by the put of `sent`: both carry the same
/// [write id](WRITE_ID_ATTRIBUTE).
/// The item under `key`, read strongly, when it carries the write id `id`:
/// a write that ended without an answer, and was not sent again, landed.
/// `None` when it does not (it may land still) or cannot be read.
pub(crate) async fn landed(table: &Table, key: &Key, id: &AttributeValue) -> Option<Item> {
    let stored = table
        .get_item(key.clone())
        .consistent_read(true)
        .send_raw()
        .await
        .ok()
        .flatten()?;
    (stored.get(WRITE_ID_ATTRIBUTE) == Some(id)).then_some(stored)
}

fn written_by(stored: Option<&Item>, write_id: Option<&AttributeValue>) -> bool {
    match (stored, write_id) {
        (Some(stored), Some(id)) => stored.get(WRITE_ID_ATTRIBUTE) == Some(id),
        _ => false,
    }
}

/// The error for a failed condition, from the item DynamoDB returned with it.
pub(crate) fn condition_failed(
    table: &Table,
    key: &Key,
    condition: &WriteCondition,
    stored: Option<Item>,
) -> Error {
    let key_text = table
        .key_item(key)
        .map(|k| table.describe(&k))
        .unwrap_or_else(|_| "?".to_owned());
    if let Some(lock) = &condition.lock {
        let actual = stored.as_ref().and_then(|item| lock.version_of(item));
        let lock_held = match actual {
            None => lock.expected() == OptimisticLock::INITIAL_VERSION && stored.is_none(),
            Some(v) => v == lock.expected(),
        };
        if !lock_held {
            return Error::VersionConflict {
                table: table.name().to_owned(),
                key: key_text,
                expected: lock.expected(),
                actual,
            };
        }
    }
    Error::ConditionFailed {
        table: table.name().to_owned(),
        key: key_text,
        item: stored.map(Box::new),
    }
}

impl PutItem {
    /// Guards the put with an optimistic lock on the numeric attribute
    /// `attribute`: see [`OptimisticLock`]. The written item carries
    /// `expected + 1` in that attribute.
    ///
    /// ```no_run
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize)] struct LedgerAccount { balance: i64, version: u64 }
    /// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
    /// loop {
    ///     let mut account: LedgerAccount = table.get_item(key.clone()).send().await?.expect("exists");
    ///     account.balance += 100;
    ///     match table
    ///         .put_item(key.clone(), &account)
    ///         .optimistic_lock("version", account.version)
    ///         .send()
    ///         .await
    ///     {
    ///         Err(e) if e.is_conflict() => continue, // someone else wrote first: read again
    ///         other => break other.map(|_| ()),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn optimistic_lock(mut self, attribute: impl Into<String>, expected: u64) -> Self {
        self.condition.lock = Some(OptimisticLock::new(attribute, expected));
        self
    }

    /// Writes only if `condition` holds (combined with the lock, if any).
    pub fn condition(mut self, condition: impl Into<Condition>) -> Self {
        self.condition.condition = Some(condition.into());
        self
    }

    /// Returns the replaced item in [`WriteOutcome::old_item`].
    pub fn return_old(mut self, return_old: bool) -> Self {
        self.return_old = return_old;
        self
    }

    /// Whether a conditional put carries a [write id](WRITE_ID_ATTRIBUTE)
    /// (it does unless told otherwise). Leave it out only for items that
    /// carry an id of their own by which you recognise your own write: a
    /// put without one whose answer was lost fails its condition against
    /// itself when the SDK sends it again, with the stored item in
    /// [`Error::ConditionFailed`] for you to compare.
    pub fn write_id(mut self, carry: bool) -> Self {
        self.write_id = carry;
        self
    }

    /// Sends the request.
    ///
    /// A failed condition is an error, but for a conditional put that finds
    /// its own earlier success (same write id): see
    /// [`WriteOutcome::recovered`].
    ///
    /// # Errors
    ///
    /// Before sending: [`Error::Serialize`], [`Error::InvalidKey`],
    /// [`Error::ItemTooLarge`]. From DynamoDB: [`Error::VersionConflict`] when
    /// the lock does not hold, [`Error::ConditionFailed`] when the condition
    /// does not, [`Error::TableNotFound`], [`Error::Dynamo`].
    pub async fn send(self) -> Result<WriteOutcome> {
        let table = &self.table;
        let item = self.item?;
        let guarded = self.condition.lock.is_some() || self.condition.condition.is_some();
        let item = put_item_attributes(
            table,
            &self.key,
            item,
            self.condition.lock.as_ref(),
            WriteId::when(guarded && self.write_id),
        )?;
        let (expression, names, values) = self.condition.checked_parts(table)?;
        let conditional = expression.is_some();
        // The write id alone tells our own earlier success from another
        // writer's item (`written_by`, `landed`): kept, the item sent as is.
        let write_id = item.get(WRITE_ID_ATTRIBUTE).cloned();
        let span = request_span(table, "PutItem", 1);
        let send = table
            .client()
            .put_item()
            .table_name(table.name())
            .set_item(Some(item))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            // Asked for only when wanted: NONE is DynamoDB's default, and
            // what is not sent is neither signed nor parsed.
            .set_return_values(self.return_old.then_some(ReturnValue::AllOld))
            .set_return_values_on_condition_check_failure(
                conditional.then_some(ReturnValuesOnConditionCheckFailure::AllOld),
            )
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send();
        let (result, uncertain) = watched(send, Resend::NotAfterSilence)
            .instrument(span.clone())
            .await;
        let version = self
            .condition
            .lock
            .as_ref()
            .map(OptimisticLock::next_version);
        match result {
            Ok(output) => {
                record_capacity(
                    table,
                    "PutItem",
                    &span,
                    Access::Write,
                    output.consumed_capacity(),
                );
                Ok(WriteOutcome {
                    version,
                    old_item: output.attributes.filter(|_| self.return_old),
                    recovered: false,
                })
            }
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                let stored = match e.into_err() {
                    PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                // The write id alone says whose write it is: the stored item
                // need not equal the one sent (DynamoDB keeps a set's members
                // in an order of its own, and a number in its own spelling).
                let ours = written_by(stored.as_ref(), write_id.as_ref());
                if ours {
                    tracing::debug!(
                        table = table.name(),
                        "a conditional put found its own earlier success"
                    );
                    return Ok(WriteOutcome {
                        version,
                        old_item: None,
                        recovered: true,
                    });
                }
                Err(
                    condition_failed(table, &self.key, &self.condition, stored).unless_uncertain(
                        uncertain,
                        table.name(),
                        "PutItem",
                    ),
                )
            }
            Err(e) => {
                let error = from_sdk_write(table.name(), "PutItem", e, uncertain);
                match &write_id {
                    // Its item read back with its write id: it landed, once
                    // (it was not sent again).
                    Some(id) if error.is_outcome_unknown() => {
                        match landed(table, &self.key, id).await {
                            Some(_) => Ok(WriteOutcome {
                                version,
                                old_item: None,
                                recovered: true,
                            }),
                            None => Err(error),
                        }
                    }
                    _ => Err(error),
                }
            }
        }
    }
}

/// A `DeleteItem` request, built by [`Table::delete_item`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct DeleteItem {
    table: Table,
    key: Key,
    condition: WriteCondition,
    return_old: bool,
}

impl DeleteItem {
    /// Deletes only if the stored item carries version `expected` in the
    /// numeric attribute `attribute` (see [`OptimisticLock`]).
    pub fn optimistic_lock(mut self, attribute: impl Into<String>, expected: u64) -> Self {
        self.condition.lock = Some(OptimisticLock::new(attribute, expected));
        self
    }

    /// Deletes only if `condition` holds (combined with the lock, if any).
    pub fn condition(mut self, condition: impl Into<Condition>) -> Self {
        self.condition.condition = Some(condition.into());
        self
    }

    /// Returns the deleted item in [`WriteOutcome::old_item`].
    pub fn return_old(mut self, return_old: bool) -> Self {
        self.return_old = return_old;
        self
    }

    /// Sends the request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] before sending; [`Error::VersionConflict`] when
    /// the lock does not hold (also when the item is already gone: a delete
    /// whose answer was lost cannot be told apart from a delete by another
    /// writer), [`Error::ConditionFailed`], [`Error::TableNotFound`],
    /// [`Error::Dynamo`].
    pub async fn send(self) -> Result<WriteOutcome> {
        let table = &self.table;
        let key = table.key_item(&self.key)?;
        let (expression, names, values) = self.condition.checked_parts(table)?;
        let conditional = expression.is_some();
        let span = request_span(table, "DeleteItem", 1);
        let send = table
            .client()
            .delete_item()
            .table_name(table.name())
            .set_key(Some(key))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            // Asked for only when wanted: NONE is DynamoDB's default, and
            // what is not sent is neither signed nor parsed.
            .set_return_values(self.return_old.then_some(ReturnValue::AllOld))
            .set_return_values_on_condition_check_failure(
                conditional.then_some(ReturnValuesOnConditionCheckFailure::AllOld),
            )
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send();
        let (result, uncertain) = watched(send, Resend::NotAfterSilence)
            .instrument(span.clone())
            .await;
        match result {
            Ok(output) => {
                record_capacity(
                    table,
                    "DeleteItem",
                    &span,
                    Access::Write,
                    output.consumed_capacity(),
                );
                Ok(WriteOutcome {
                    version: None,
                    old_item: output.attributes.filter(|_| self.return_old),
                    recovered: false,
                })
            }
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DeleteItemError::ConditionalCheckFailedException(_)) =>
            {
                let stored = match e.into_err() {
                    DeleteItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                Err(
                    condition_failed(table, &self.key, &self.condition, stored).unless_uncertain(
                        uncertain,
                        table.name(),
                        "DeleteItem",
                    ),
                )
            }
            Err(e) => Err(from_sdk_write(table.name(), "DeleteItem", e, uncertain)),
        }
    }
}
