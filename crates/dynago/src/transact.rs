//! Transactions: up to 100 puts, updates, deletes and condition checks that
//! all happen or none does.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    self as sdk, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use serde::Serialize;
use tracing::Instrument;

use crate::attempts::{from_sdk_write, watched, Resend};
use crate::condition::{none_if_empty, Condition, OptimisticLock, WriteCondition};
use crate::error::{CancellationReasons, Error, Result};
use crate::expr::{check_size as check_expression_size, merge};
use crate::item::{check_size, item_size, to_item_named};
use crate::key::{Key, KeyId};
use crate::table::Table;
use crate::telemetry::{record_capacity, request_span, Access};
use crate::update::{self, PreparedUpdate, UpdateExpression};
use crate::value::Item;
use crate::value::Value;
use crate::write::{put_item_attributes, WriteId};

/// The most actions one transaction holds.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;
/// The most bytes of items one transaction holds.
pub const MAX_TRANSACTION_SIZE: usize = 4 * 1024 * 1024;
/// The longest client request token DynamoDB takes, in characters
/// ([`TransactWrite::client_request_token`]).
pub const MAX_CLIENT_REQUEST_TOKEN_LENGTH: usize = 36;

/// A transaction on one table, built by [`Table::transact_write`].
///
/// ```no_run
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// use dynago::transact::{Check, Update};
/// use dynago::{number_value, string_value, Condition, Key};
///
/// let from = Key::new(string_value("account#1"));
/// let to = Key::new(string_value("account#2"));
/// let amount = number_value(250);
/// let result = table
///     .transact_write()
///     .update(
///         Update::new(from, "SET balance = balance - :amount")
///             .value(":amount", amount.clone())
///             .condition(Condition::new("balance >= :amount")),
///     )
///     .update(Update::new(to, "SET balance = balance + :amount").value(":amount", amount))
///     .send()
///     .await;
/// if let Err(dynago::Error::TransactionCanceled { reasons, .. }) = &result {
///     for failed in reasons.failed() {
///         println!("action {} failed: {}", failed.index, failed.code);
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a transaction does nothing until it is sent"]
pub struct TransactWrite {
    table: Table,
    actions: Vec<Action>,
    token: Option<String>,
}

#[derive(Debug)]
enum Action {
    Put(Put),
    Update(Update),
    Delete(Delete),
    Check(Check),
}

/// A put in a transaction.
#[derive(Debug)]
#[must_use]
pub struct Put {
    key: Key,
    item: Result<Item>,
    condition: WriteCondition,
}

impl Put {
    /// Writes `item` under `key`, as [`Table::put_item`] does.
    pub fn new<T: Serialize + ?Sized>(key: Key, item: &T) -> Self {
        Self {
            key,
            item: to_item_named(item, || "a transaction's item".to_owned()),
            condition: WriteCondition::default(),
        }
    }

    /// Writes `item`, built by hand or with [`item::to_item`](crate::item::to_item),
    /// under `key`.
    pub fn raw(key: Key, item: Item) -> Self {
        Self {
            key,
            item: Ok(item),
            condition: WriteCondition::default(),
        }
    }

    /// Guards the put with an optimistic lock (see [`OptimisticLock`]).
    pub fn optimistic_lock(mut self, attribute: impl Into<String>, expected: u64) -> Self {
        self.condition.lock = Some(OptimisticLock::new(attribute, expected));
        self
    }

    /// Writes only if `condition` holds.
    pub fn condition(mut self, condition: impl Into<Condition>) -> Self {
        self.condition.condition = Some(condition.into());
        self
    }
}

/// An update expression in a transaction.
#[derive(Debug)]
#[must_use]
pub struct Update {
    key: Key,
    expression: String,
    names: HashMap<String, String>,
    values: Item,
    condition: Option<Condition>,
    typed: Option<UpdateExpression>,
    lock: Option<OptimisticLock>,
}

impl Update {
    /// Applies the update `expression` (such as `SET #n = #n + :one`) to the
    /// item under `key`.
    pub fn new(key: Key, expression: impl Into<String>) -> Self {
        Self {
            key,
            expression: expression.into(),
            names: HashMap::new(),
            values: Item::new(),
            condition: None,
            typed: None,
            lock: None,
        }
    }

    /// Applies the typed `update` to the item under `key`, as
    /// [`Table::update_item`] does (no write id: a transaction is made
    /// idempotent by its client request token).
    ///
    /// ```
    /// use dynago::transact::Update;
    /// use dynago::{string_value, Key, UpdateExpression};
    ///
    /// let debit = Update::of(Key::new(string_value("account#1")), UpdateExpression::new().decrement("balance", 250))
    ///     .optimistic_lock("version", 7);
    /// # let _ = debit;
    /// ```
    pub fn of(key: Key, update: UpdateExpression) -> Self {
        Self {
            typed: Some(update),
            ..Self::new(key, String::new())
        }
    }

    /// Guards a typed update ([`Update::of`]) with an optimistic lock,
    /// checked and bumped in the same action (see [`OptimisticLock`]). A
    /// hand-written update expression cannot take one (the transaction is
    /// refused before it is sent).
    ///
    /// ```
    /// use dynago::transact::Update;
    /// use dynago::{string_value, Key, UpdateExpression};
    ///
    /// let create = Update::of(Key::new(string_value("account#9")), UpdateExpression::new().set("balance", 0))
    ///     .optimistic_lock("version", 0);
    /// # let _ = create;
    /// ```
    pub fn optimistic_lock(mut self, attribute: impl Into<String>, expected: u64) -> Self {
        self.lock = Some(OptimisticLock::new(attribute, expected));
        self
    }

    /// The update, checked and ready for the SDK.
    fn prepared(self, table: &Table) -> Result<PreparedUpdate> {
        let condition = WriteCondition {
            condition: self.condition,
            lock: self.lock,
        };
        let clash = |e: crate::expr::Invalid| e.into_error(table.name());
        let Some(typed) = self.typed else {
            if condition.lock.is_some() {
                return Err(Error::InvalidExpression {
                    table: table.name().to_owned(),
                    reason: "an optimistic lock on a transaction's update needs a typed update (`Update::of`)".to_owned(),
                });
            }
            let (mut names, mut values) = (self.names, self.values);
            let condition = match condition.condition {
                Some(c) => {
                    let c = c.checked(table)?;
                    merge(&mut names, &mut values, c.names, c.values).map_err(clash)?;
                    Some(c.expression)
                }
                None => None,
            };
            check_expression_size(table.name(), "UpdateExpression", &self.expression)?;
            return Ok(PreparedUpdate {
                update: self.expression,
                condition,
                names: none_if_empty(names),
                values: none_if_empty(values),
            });
        };
        let mut prepared = update::prepare(table, &typed, &condition, None)?;
        if !self.names.is_empty() || !self.values.is_empty() {
            let mut names = prepared.names.take().unwrap_or_default();
            let mut values = prepared.values.take().unwrap_or_default();
            merge(&mut names, &mut values, self.names, self.values).map_err(clash)?;
            prepared.names = none_if_empty(names);
            prepared.values = none_if_empty(values);
        }
        Ok(prepared)
    }

    /// Defines a name placeholder of the update expression.
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// Defines a value placeholder of the update expression.
    pub fn value(mut self, placeholder: impl Into<String>, value: impl Into<Value>) -> Self {
        self.values.insert(placeholder.into(), value.into().into());
        self
    }

    /// Updates only if `condition` holds; its placeholders share the update's.
    pub fn condition(mut self, condition: impl Into<Condition>) -> Self {
        self.condition = Some(condition.into());
        self
    }
}

/// A delete in a transaction.
#[derive(Debug)]
#[must_use]
pub struct Delete {
    key: Key,
    condition: WriteCondition,
}

impl Delete {
    /// Deletes the item under `key`.
    pub fn new(key: Key) -> Self {
        Self {
            key,
            condition: WriteCondition::default(),
        }
    }

    /// Deletes only under an optimistic lock (see [`OptimisticLock`]).
    pub fn optimistic_lock(mut self, attribute: impl Into<String>, expected: u64) -> Self {
        self.condition.lock = Some(OptimisticLock::new(attribute, expected));
        self
    }

    /// Deletes only if `condition` holds.
    pub fn condition(mut self, condition: impl Into<Condition>) -> Self {
        self.condition.condition = Some(condition.into());
        self
    }
}

/// A condition that an item must meet for the transaction to go ahead,
/// without writing it.
#[derive(Debug)]
#[must_use]
pub struct Check {
    key: Key,
    condition: Condition,
}

impl Check {
    /// Requires `condition` to hold on the item under `key`.
    pub fn new(key: Key, condition: impl Into<Condition>) -> Self {
        Self {
            key,
            condition: condition.into(),
        }
    }
}

impl Table {
    /// A transaction of up to 100 actions on this table: see [`TransactWrite`].
    pub fn transact_write(&self) -> TransactWrite {
        TransactWrite {
            table: self.clone(),
            actions: Vec::new(),
            token: None,
        }
    }
}

/// An action ready to send, with what the checks before sending need.
struct Prepared {
    item: TransactWriteItem,
    id: KeyId,
    size: usize,
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Config(format!("cannot build a transaction action: {e}"))
}

impl TransactWrite {
    /// Adds a put.
    pub fn put(mut self, put: Put) -> Self {
        self.actions.push(Action::Put(put));
        self
    }

    /// Adds an update.
    pub fn update(mut self, update: Update) -> Self {
        self.actions.push(Action::Update(update));
        self
    }

    /// Adds a delete.
    pub fn delete(mut self, delete: Delete) -> Self {
        self.actions.push(Action::Delete(delete));
        self
    }

    /// Adds a condition check.
    pub fn check(mut self, check: Check) -> Self {
        self.actions.push(Action::Check(check));
        self
    }

    /// Sets the idempotency token (1 to [`MAX_CLIENT_REQUEST_TOKEN_LENGTH`]
    /// characters, checked by [`send`](Self::send)): DynamoDB applies a
    /// transaction sent again with the same token within ten minutes only
    /// once. Without it, the SDK makes one per call, which covers its own
    /// retries.
    pub fn client_request_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How many actions the transaction holds.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the transaction holds no action.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    fn prepare(table: &Table, index: usize, action: Action) -> Result<Prepared> {
        let describe = |key: &Item| format!("{} (action {index})", table.describe(key));
        let (key, builder) = match action {
            Action::Put(put) => {
                let lock = put.condition.lock.as_ref();
                let write_id = WriteId::when(lock.is_some());
                let item = put_item_attributes(table, &put.key, put.item?, lock, write_id)
                    .map_err(|e| match e.in_table(table.name()) {
                        Error::ItemTooLarge {
                            table,
                            item,
                            size,
                            limit,
                        } => Error::ItemTooLarge {
                            table,
                            item: format!("{item} (action {index})"),
                            size,
                            limit,
                        },
                        other => other,
                    })?;
                let key = table.key_item(&put.key)?;
                let size = item_size(&item);
                let (expression, names, values) = put.condition.checked_parts(table)?;
                let put = sdk::Put::builder()
                    .table_name(table.name())
                    .set_item(Some(item))
                    .set_condition_expression(expression)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(build_error)?;
                let id = table.key_id(&key)?;
                return Ok(Prepared {
                    item: TransactWriteItem::builder().put(put).build(),
                    id,
                    size,
                });
            }
            Action::Update(update) => {
                let key = table.key_item(&update.key)?;
                let update = update.prepared(table)?;
                let built = sdk::Update::builder()
                    .table_name(table.name())
                    .set_key(Some(key.clone()))
                    .update_expression(update.update)
                    .set_condition_expression(update.condition)
                    .set_expression_attribute_names(update.names)
                    .set_expression_attribute_values(update.values)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(build_error)?;
                (key, TransactWriteItem::builder().update(built))
            }
            Action::Delete(delete) => {
                let key = table.key_item(&delete.key)?;
                let (expression, names, values) = delete.condition.checked_parts(table)?;
                let built = sdk::Delete::builder()
                    .table_name(table.name())
                    .set_key(Some(key.clone()))
                    .set_condition_expression(expression)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(build_error)?;
                (key, TransactWriteItem::builder().delete(built))
            }
            Action::Check(check) => {
                let key = table.key_item(&check.key)?;
                let Condition {
                    expression,
                    names,
                    values,
                    ..
                } = check.condition.checked(table)?;
                let built = sdk::ConditionCheck::builder()
                    .table_name(table.name())
                    .set_key(Some(key.clone()))
                    .condition_expression(expression)
                    .set_expression_attribute_names(none_if_empty(names))
                    .set_expression_attribute_values(none_if_empty(values))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(build_error)?;
                (key, TransactWriteItem::builder().condition_check(built))
            }
        };
        let size = check_size(&key, || describe(&key)).map_err(|e| e.in_table(table.name()))?;
        Ok(Prepared {
            id: table.key_id(&key)?,
            item: builder.build(),
            size,
        })
    }

    /// Sends the transaction.
    ///
    /// # Errors
    ///
    /// Before sending, nothing written: [`Error::TooManyActions`] over 100
    /// actions, [`Error::TransactionTooLarge`] over 4 MB of items,
    /// [`Error::ItemTooLarge`], [`Error::DuplicateKey`] when two actions name
    /// one item, [`Error::InvalidClientRequestToken`] for an empty token or
    /// one over 36 characters, [`Error::InvalidKey`], [`Error::Serialize`].
    /// From DynamoDB:
    /// [`Error::TransactionCanceled`], whose reasons name each action that
    /// failed and why (with the stored item when a condition failed);
    /// [`Error::TableNotFound`]; [`Error::Dynamo`].
    pub async fn send(self) -> Result<()> {
        let table = &self.table;
        let count = self.actions.len();
        if let Some(token) = &self.token {
            let length = token.chars().count();
            if !(1..=MAX_CLIENT_REQUEST_TOKEN_LENGTH).contains(&length) {
                return Err(Error::InvalidClientRequestToken {
                    table: table.name().to_owned(),
                    length,
                    limit: MAX_CLIENT_REQUEST_TOKEN_LENGTH,
                });
            }
        }
        if count == 0 {
            return Ok(());
        }
        if count > MAX_TRANSACTION_ACTIONS {
            return Err(Error::TooManyActions {
                table: table.name().to_owned(),
                operation: "TransactWriteItems",
                count,
                limit: MAX_TRANSACTION_ACTIONS,
            });
        }
        let mut items = Vec::with_capacity(count);
        let mut seen: HashMap<KeyId, usize> = HashMap::with_capacity(count);
        let mut total = 0;
        for (index, action) in self.actions.into_iter().enumerate() {
            let prepared = Self::prepare(table, index, action)?;
            if let Some(first) = seen.insert(prepared.id.clone(), index) {
                return Err(Error::DuplicateKey {
                    table: table.name().to_owned(),
                    operation: "TransactWriteItems",
                    key: prepared.id.to_string(),
                    first,
                    second: index,
                });
            }
            total += prepared.size;
            items.push(prepared.item);
        }
        if total > MAX_TRANSACTION_SIZE {
            return Err(Error::TransactionTooLarge {
                table: table.name().to_owned(),
                size: total,
                limit: MAX_TRANSACTION_SIZE,
            });
        }
        let span = request_span(table, "TransactWriteItems", count);
        let send = table
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_client_request_token(self.token)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send();
        // Sent again with its token, a transaction that landed is not
        // applied again (DynamoDB recognises the token for 10 minutes).
        let (result, uncertain) = watched(send, Resend::Always).instrument(span.clone()).await;
        match result {
            Ok(output) => {
                record_capacity(
                    table,
                    "TransactWriteItems",
                    &span,
                    Access::Write,
                    output.consumed_capacity(),
                );
                Ok(())
            }
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                let reasons = match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons.unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                let canceled = Error::TransactionCanceled {
                    table: table.name().to_owned(),
                    reasons: CancellationReasons::from_sdk(reasons),
                };
                // A transaction sent again with its token after it took
                // place succeeds; cancelled, it may still be one whose
                // first attempt took place (its own items then fail its
                // conditions, once the token is forgotten).
                Err(canceled.unless_uncertain(uncertain, table.name(), "TransactWriteItems"))
            }
            Err(e) => Err(from_sdk_write(
                table.name(),
                "TransactWriteItems",
                e,
                uncertain,
            )),
        }
    }
}
