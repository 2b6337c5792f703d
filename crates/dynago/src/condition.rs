//! Conditions on writes: free condition expressions and optimistic locks.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

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
}

impl Condition {
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
    pub fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
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

    /// The version stored in `item`, if it has a numeric version attribute.
    pub(crate) fn version_of(&self, item: &Item) -> Option<u64> {
        item.get(&self.attribute).and_then(parse_number)
    }
}

const LOCK_VERSION: &str = "#dynago_version";
const LOCK_EXPECTED: &str = ":dynago_expected";
const LOCK_PARTITION: &str = "#dynago_pk";

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
                c.names.extend(lock.names);
                c.values.extend(lock.values);
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
    /// The compiled condition, ready for the SDK.
    pub(crate) fn parts(&self, partition_key: &str) -> ExpressionParts {
        self.compile(partition_key)
            .map_or((None, None, None), Condition::into_parts)
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
