//! Updating one item in place: `UpdateItem` with a typed update, optionally
//! guarded by a condition and an optimistic lock.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure,
};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::attempts::{from_sdk_write, watched, Resend};
use crate::condition::{Condition, OptimisticLock, WriteCondition};
use crate::error::Result;
use crate::key::Key;
use crate::table::Table;
use crate::telemetry::{record_capacity, request_span, Access};
use crate::update::{prepare, UpdateExpression};
use crate::value::Item;
use crate::write::{condition_failed, WRITE_ID_ATTRIBUTE};
use aws_sdk_dynamodb::types::AttributeValue;

/// Which attributes an update returns, in [`UpdateOutcome::attributes`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
///
/// ```
/// use dynago::ReturnValues;
/// assert_eq!(ReturnValues::default(), ReturnValues::None);
/// ```
pub enum ReturnValues {
    /// Nothing (the default).
    #[default]
    None,
    /// The whole item as it was before the update.
    AllOld,
    /// The attributes the update wrote, as they were before it.
    UpdatedOld,
    /// The whole item as the update left it.
    AllNew,
    /// The attributes the update wrote, as it left them.
    UpdatedNew,
}

impl ReturnValues {
    fn sdk(self) -> ReturnValue {
        match self {
            ReturnValues::None => ReturnValue::None,
            ReturnValues::AllOld => ReturnValue::AllOld,
            ReturnValues::UpdatedOld => ReturnValue::UpdatedOld,
            ReturnValues::AllNew => ReturnValue::AllNew,
            ReturnValues::UpdatedNew => ReturnValue::UpdatedNew,
        }
    }
}

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
///
/// ```
/// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
/// use dynago::{ReturnValues, UpdateExpression};
///
/// let outcome = table
///     .update_item(key, UpdateExpression::new().increment("views", 1))
///     .return_values(ReturnValues::AllNew)
///     .send()
///     .await?;
/// if outcome.recovered {
///     println!("the answer was lost; the update took place once");
/// }
/// # Ok(())
/// # }
/// ```
pub struct UpdateOutcome {
    /// The version the item now carries, for an update under an optimistic
    /// lock.
    pub version: Option<u64>,
    /// The attributes asked for with [`UpdateItem::return_values`].
    ///
    /// For a [`recovered`](Self::recovered) update, only
    /// [`ReturnValues::AllNew`] gives them (the item as it is stored, which
    /// the update left so); the others went with the lost answer: `None`.
    pub attributes: Option<Item>,
    /// An update whose answer was lost and which the SDK sent again: the
    /// second send found the first one's [write id](WRITE_ID_ATTRIBUTE) on
    /// the item. The update took place once.
    pub recovered: bool,
}

impl UpdateOutcome {
    /// The returned attributes, deserialized (a `T` whose fields all have
    /// defaults or are `Option`s, for the `Updated*` return values).
    ///
    /// # Errors
    ///
    /// [`Error::Deserialize`](crate::Error::Deserialize) when they are not a `T`.
    ///
    /// ```
    /// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
    /// use dynago::{ReturnValues, UpdateExpression};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Views {
    ///     views: u64,
    /// }
    /// let outcome = table
    ///     .update_item(key, UpdateExpression::new().increment("views", 1))
    ///     .return_values(ReturnValues::UpdatedNew)
    ///     .send()
    ///     .await?;
    /// if let Some(Views { views }) = outcome.attributes_as::<Views>(&table)? {
    ///     println!("{views} views");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn attributes_as<T: DeserializeOwned>(&self, table: &Table) -> Result<Option<T>> {
        self.attributes
            .clone()
            .map(|item| table.read_item(item))
            .transpose()
    }
}

/// An `UpdateItem` request, built by [`Table::update_item`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
///
/// ```
/// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
/// use dynago::UpdateExpression;
///
/// let request = table.update_item(key, UpdateExpression::new().set("status", "open"));
/// request.send().await?;
/// # Ok(())
/// # }
/// ```
pub struct UpdateItem {
    table: Table,
    key: Key,
    update: UpdateExpression,
    condition: WriteCondition,
    return_values: ReturnValues,
    write_id: bool,
}

impl Table {
    /// Updates the item under `key` in place with the actions of `update`
    /// (creating it if there is none, unless a condition or a lock says
    /// otherwise).
    ///
    /// Without [`optimistic_lock`](UpdateItem::optimistic_lock), the update
    /// leaves every attribute it does not name untouched, a version
    /// attribute included.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::{string_value, Key, ReturnValues, UpdateExpression};
    ///
    /// let outcome = table
    ///     .update_item(
    ///         Key::new(string_value("page#home")),
    ///         UpdateExpression::new().increment("views", 1),
    ///     )
    ///     .return_values(ReturnValues::UpdatedNew)
    ///     .send()
    ///     .await?;
    /// # let _ = outcome;
    /// # Ok(())
    /// # }
    /// ```
    pub fn update_item(&self, key: Key, update: UpdateExpression) -> UpdateItem {
        UpdateItem {
            table: self.clone(),
            key,
            update,
            condition: WriteCondition::default(),
            return_values: ReturnValues::None,
            write_id: true,
        }
    }
}

impl UpdateItem {
    /// Guards the update with an optimistic lock on the numeric attribute
    /// `attribute` (see [`OptimisticLock`]): it applies only when the item
    /// carries version `expected`, and sets `expected + 1` in the same
    /// request. Version 0 means "create": the update applies only when no
    /// item exists under the key.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
    /// use dynago::UpdateExpression;
    ///
    /// let outcome = table
    ///     .update_item(key, UpdateExpression::new().set("owner", "grace"))
    ///     .optimistic_lock("version", 3)
    ///     .send()
    ///     .await?;
    /// assert_eq!(outcome.version, Some(4));
    /// # Ok(())
    /// # }
    /// ```
    pub fn optimistic_lock(mut self, attribute: impl Into<String>, expected: u64) -> Self {
        self.condition.lock = Some(OptimisticLock::new(attribute, expected));
        self
    }

    /// Updates only if `condition` holds (combined with the lock, if any).
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
    /// use dynago::expr::attr;
    /// use dynago::UpdateExpression;
    ///
    /// table
    ///     .update_item(key, UpdateExpression::new().decrement("balance", 250))
    ///     .condition(attr("balance").ge(250))
    ///     .send()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn condition(mut self, condition: impl Into<Condition>) -> Self {
        self.condition.condition = Some(condition.into());
        self
    }

    /// Which attributes to return in [`UpdateOutcome::attributes`].
    ///
    /// ```
    /// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
    /// use dynago::{ReturnValues, UpdateExpression};
    ///
    /// let old = table
    ///     .update_item(key, UpdateExpression::new().set("status", "closed"))
    ///     .return_values(ReturnValues::UpdatedOld)
    ///     .send()
    ///     .await?
    ///     .attributes;
    /// # let _ = old;
    /// # Ok(())
    /// # }
    /// ```
    pub fn return_values(mut self, return_values: ReturnValues) -> Self {
        self.return_values = return_values;
        self
    }

    /// Whether the update carries a [write id](WRITE_ID_ATTRIBUTE) (it does
    /// unless told otherwise): the update sets it, and never applies to an
    /// item that carries it already (a lock's version check sees to that, or
    /// else a condition on the write id), so that a resend of an update whose
    /// answer was lost is recognised ([`UpdateOutcome::recovered`]) rather
    /// than applied twice. Without it, an update that is not idempotent (an
    /// increment) may apply twice when its answer is lost; a lock still
    /// refuses the second as a conflict.
    ///
    /// ```
    /// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
    /// use dynago::UpdateExpression;
    ///
    /// // Idempotent already: setting a value twice is harmless.
    /// table
    ///     .update_item(key, UpdateExpression::new().set("status", "open"))
    ///     .write_id(false)
    ///     .send()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_id(mut self, carry: bool) -> Self {
        self.write_id = carry;
        self
    }

    /// Sends the request.
    ///
    /// # Errors
    ///
    /// Before sending: [`Error::InvalidKey`](crate::Error::InvalidKey),
    /// [`Error::InvalidExpression`](crate::Error::InvalidExpression) (no
    /// action, a key attribute or the lock's own attribute written by the update, a
    /// placeholder with two meanings), [`Error::Serialize`](crate::Error::Serialize),
    /// [`Error::ExpressionTooLarge`](crate::Error::ExpressionTooLarge). From
    /// DynamoDB: [`Error::VersionConflict`](crate::Error::VersionConflict)
    /// when the lock does not hold,
    /// [`Error::ConditionFailed`](crate::Error::ConditionFailed) when the
    /// condition does not (with the stored item),
    /// [`Error::TableNotFound`](crate::Error::TableNotFound),
    /// [`Error::Dynamo`](crate::Error::Dynamo) (such as an update DynamoDB
    /// finds invalid: two actions on one path).
    ///
    /// ```
    /// # async fn run(table: dynago::Table, key: dynago::Key) -> dynago::Result<()> {
    /// use dynago::UpdateExpression;
    ///
    /// match table
    ///     .update_item(key, UpdateExpression::new().increment("balance", 10))
    ///     .optimistic_lock("version", 4)
    ///     .send()
    ///     .await
    /// {
    ///     Ok(outcome) => println!("now version {:?}", outcome.version),
    ///     Err(e) if e.is_conflict() => println!("someone else wrote first: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<UpdateOutcome> {
        let table = &self.table;
        let key = table.key_item(&self.key)?;
        let write_id = self
            .write_id
            .then(|| uuid::Uuid::new_v4().simple().to_string());
        let prepared = prepare(table, &self.update, &self.condition, write_id.as_deref())?;
        let span = request_span(table, "UpdateItem", 1);
        let send = table
            .client()
            .update_item()
            .table_name(table.name())
            .set_key(Some(key))
            .update_expression(prepared.update)
            .set_condition_expression(prepared.condition)
            .set_expression_attribute_names(prepared.names)
            .set_expression_attribute_values(prepared.values)
            .return_values(self.return_values.sdk())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
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
                    "UpdateItem",
                    &span,
                    Access::Write,
                    output.consumed_capacity(),
                );
                Ok(UpdateOutcome {
                    version,
                    attributes: output
                        .attributes
                        .filter(|_| self.return_values != ReturnValues::None),
                    recovered: false,
                })
            }
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                let stored = match e.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                let ours = match (&stored, &write_id) {
                    (Some(stored), Some(id)) => {
                        stored.get(WRITE_ID_ATTRIBUTE).and_then(|v| v.as_s().ok()) == Some(id)
                    }
                    _ => false,
                };
                if ours {
                    tracing::debug!(
                        table = table.name(),
                        "an update found its own earlier success"
                    );
                    return Ok(UpdateOutcome {
                        version,
                        attributes: stored.filter(|_| self.return_values == ReturnValues::AllNew),
                        recovered: true,
                    });
                }
                Err(
                    condition_failed(table, &self.key, &self.condition, stored).unless_uncertain(
                        uncertain,
                        table.name(),
                        "UpdateItem",
                    ),
                )
            }
            Err(e) => {
                let error = from_sdk_write(table.name(), "UpdateItem", e, uncertain);
                match &write_id {
                    // Its item read back with its write id: it landed, once
                    // (it was not sent again).
                    Some(id) if error.is_outcome_unknown() => {
                        let id = AttributeValue::S(id.clone());
                        match crate::write::landed(table, &self.key, &id).await {
                            Some(stored) => Ok(UpdateOutcome {
                                version,
                                attributes: Some(stored)
                                    .filter(|_| self.return_values == ReturnValues::AllNew),
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
