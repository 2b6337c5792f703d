//! Conditions on writes: free condition expressions and optimistic locks.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::Result;
use crate::expr::{check_size, compile_expr, merge, Expr, Invalid};
use crate::table::Table;
use crate::value::Value;
use crate::value::{number_value, parse_number, Item};

/// A condition expression with its attribute names and values, as DynamoDB
/// takes it on a write.
///
/// ```
/// use dynago::{number_value, Condition};
///
/// let solvent = Condition::new("#balance >= :amount")
///     .name("#balance", "balance")
///     .value(":amount", number_value(100));
/// # let _ = solvent;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Condition {
    pub(crate) expression: String,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
    /// Why a typed condition cannot be sent (reported on sending).
    pub(crate) invalid: Option<Invalid>,
}

impl From<Expr> for Condition {
    /// The typed condition `expr`, its placeholders generated (`#c0`,
    /// `:c0`, ...): see [`expr`](crate::expr).
    ///
    /// ```
    /// use dynago::expr::attr;
    /// use dynago::Condition;
    ///
    /// let solvent = Condition::from(attr("balance").ge(100));
    /// assert_eq!(solvent.expression(), "#c0 >= :c0");
    /// ```
    fn from(expr: Expr) -> Self {
        let compiled = compile_expr(&expr, "c");
        Self {
            expression: compiled.text,
            names: compiled.names,
            values: compiled.values,
            invalid: compiled.invalid,
        }
    }
}

impl Condition {
    /// The condition expression, as it is sent.
    ///
    /// ```
    /// assert_eq!(dynago::Condition::new("attribute_exists(pk)").expression(), "attribute_exists(pk)");
    /// ```
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The condition `expression`, such as `attribute_not_exists(email)`.
    pub fn new(expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            ..Self::default()
        }
    }

    /// Defines the name placeholder `placeholder` (`#name`) as `attribute`.
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// Defines the value placeholder `placeholder` (`:value`).
    pub fn value(mut self, placeholder: impl Into<String>, value: impl Into<Value>) -> Self {
        self.values.insert(placeholder.into(), value.into().into());
        self
    }
}

/// An optimistic lock on a numeric version attribute.
///
/// `expected` is the version the writer read. A write under the lock succeeds
/// only when the stored item carries exactly that version, and writes the item
/// with version `expected + 1`. The initial version, `0`, means "no item
/// exists under this key": a put with it creates the item (version 1) and
/// never overwrites one, not even one deleted and written again since.
///
/// A mismatch is [`Error::VersionConflict`](crate::Error::VersionConflict),
/// which carries the version found.
///
/// ```
/// use dynago::OptimisticLock;
///
/// let create = OptimisticLock::new("version", 0);
/// let update = OptimisticLock::new("version", 7);
/// assert_eq!(update.next_version(), 8);
/// # let _ = create;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimisticLock {
    attribute: String,
    expected: u64,
}

impl OptimisticLock {
    /// The version every item starts from: "does not exist yet".
    pub const INITIAL_VERSION: u64 = 0;

    /// A lock on `attribute` that expects version `expected`.
    pub fn new(attribute: impl Into<String>, expected: u64) -> Self {
        Self {
            attribute: attribute.into(),
            expected,
        }
    }

    /// The name of the version attribute.
    pub fn attribute(&self) -> &str {
        &self.attribute
    }

    /// The version the write expects to find.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// The version the write stores.
    pub fn next_version(&self) -> u64 {
        self.expected.saturating_add(1)
    }

    /// The version the write stores, or [`Error::VersionExhausted`] when
    /// the lock expects `u64::MAX` and none can follow.
    pub(crate) fn next_checked(&self, table: &str) -> crate::Result<u64> {
        self.expected
            .checked_add(1)
            .ok_or_else(|| crate::Error::VersionExhausted {
                table: table.to_owned(),
                attribute: self.attribute.clone(),
            })
    }

    /// The version stored in `item`, if it has a numeric version attribute.
    pub(crate) fn version_of(&self, item: &Item) -> Option<u64> {
        item.get(&self.attribute).and_then(parse_number)
    }
}

pub(crate) const LOCK_VERSION: &str = "#dynago_version";
pub(crate) const LOCK_EXPECTED: &str = ":dynago_expected";
pub(crate) const LOCK_PARTITION: &str = "#dynago_pk";

/// The condition of one write: a free condition, a lock, both or neither.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct WriteCondition {
    pub(crate) condition: Option<Condition>,
    pub(crate) lock: Option<OptimisticLock>,
}

impl WriteCondition {
    /// Combines the free condition and the lock into one condition, or
    /// `None` when the write is unconditional.
    pub(crate) fn compile(&self, partition_key: &str) -> Option<Condition> {
        let lock = self.lock.as_ref().map(|lock| {
            if lock.expected == OptimisticLock::INITIAL_VERSION {
                Condition::new(format!("attribute_not_exists({LOCK_PARTITION})"))
                    .name(LOCK_PARTITION, partition_key)
            } else {
                Condition::new(format!("{LOCK_VERSION} = {LOCK_EXPECTED}"))
                    .name(LOCK_VERSION, lock.attribute.clone())
                    .value(LOCK_EXPECTED, number_value(lock.expected))
            }
        });
        match (self.condition.clone(), lock) {
            (None, None) => None,
            (Some(c), None) | (None, Some(c)) => Some(c),
            (Some(mut c), Some(lock)) => {
                c.expression = format!("({}) AND ({})", c.expression, lock.expression);
                if let Err(invalid) = merge(&mut c.names, &mut c.values, lock.names, lock.values) {
                    c.invalid.get_or_insert(invalid);
                }
                Some(c)
            }
        }
    }
}

/// A condition as the SDK's builders take it: expression, names, values,
/// each `None` when empty.
pub(crate) type ExpressionParts = (
    Option<String>,
    Option<HashMap<String, String>>,
    Option<HashMap<String, AttributeValue>>,
);

/// `map`, or `None` when it is empty (DynamoDB refuses empty maps).
pub(crate) fn none_if_empty<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

impl Condition {
    pub(crate) fn into_parts(self) -> ExpressionParts {
        (
            Some(self.expression),
            none_if_empty(self.names),
            none_if_empty(self.values),
        )
    }
}

impl WriteCondition {
    /// The compiled condition, ready for the SDK, once checked: a typed
    /// condition that cannot be sent and one over 4 KB are refused.
    pub(crate) fn checked_parts(&self, table: &Table) -> Result<ExpressionParts> {
        match self.compile(table.partition_key()) {
            None => Ok((None, None, None)),
            Some(condition) => condition.checked(table).map(Condition::into_parts),
        }
    }
}

impl Condition {
    /// This condition, unless it cannot be sent: a typed condition whose
    /// value did not serialize, a placeholder with two meanings, or an
    /// expression over 4 KB.
    pub(crate) fn checked(self, table: &Table) -> Result<Self> {
        if let Some(invalid) = self.invalid {
            return Err(invalid.into_error(table.name()));
        }
        check_size(table.name(), "ConditionExpression", &self.expression)?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_version_means_absent() {
        let write = WriteCondition {
            condition: None,
            lock: Some(OptimisticLock::new("v", 0)),
        };
        let c = write.compile("id").expect("a condition");
        assert_eq!(c.expression, "attribute_not_exists(#dynago_pk)");
        assert_eq!(c.names["#dynago_pk"], "id");
    }

    #[test]
    fn lock_and_condition_combine() {
        let write = WriteCondition {
            condition: Some(Condition::new("#b >= :a").name("#b", "balance")),
            lock: Some(OptimisticLock::new("v", 3)),
        };
        let c = write.compile("id").expect("a condition");
        assert_eq!(
            c.expression,
            "(#b >= :a) AND (#dynago_version = :dynago_expected)"
        );
        assert_eq!(c.values[":dynago_expected"], AttributeValue::N("3".into()));
        assert_eq!(c.names.len(), 2);
        assert!(WriteCondition::default().compile("id").is_none());
    }
}
