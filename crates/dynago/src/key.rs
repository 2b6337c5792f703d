//! Keys: the value of an item's primary key, and the names of a table's key attributes.

use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::value::{Item, Value};

/// The primary key of one item: a partition key value and, on tables that
/// have one, a sort key value. The attribute names come from the table.
///
/// A key value is a string, a number or bytes, DynamoDB's three key types,
/// given as they are in Rust ([`Value`]):
///
/// ```
/// use dynago::Key;
///
/// let user = Key::new("user#1");
/// let event = Key::new(format!("order#{}", 7)).sort(3);
/// let blob = Key::new(vec![0x01, 0x02]);
/// assert_eq!(event.sort_value(), Some(&dynago::number_value(3)));
/// # let _ = (user, blob);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    partition: AttributeValue,
    sort: Option<AttributeValue>,
}

impl Key {
    /// A key with only a partition key value.
    pub fn new(partition: impl Into<Value>) -> Self {
        Self {
            partition: partition.into().into(),
            sort: None,
        }
    }

    /// Adds the sort key value.
    #[must_use]
    pub fn sort(mut self, sort: impl Into<Value>) -> Self {
        self.sort = Some(sort.into().into());
        self
    }

    /// The partition key value.
    pub fn partition_value(&self) -> &AttributeValue {
        &self.partition
    }

    /// The sort key value, if any.
    pub fn sort_value(&self) -> Option<&AttributeValue> {
        self.sort.as_ref()
    }
}

/// The names of a table's key attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeySchema {
    pub(crate) partition: String,
    pub(crate) sort: Option<String>,
}

impl KeySchema {
    /// The key attributes of `key`, named, checked against DynamoDB's rules.
    pub(crate) fn item(&self, table: &str, key: &Key) -> Result<Item> {
        let mut item = Item::with_capacity(2);
        check_key_value(table, &self.partition, &key.partition)?;
        item.insert(self.partition.clone(), key.partition.clone());
        match (&self.sort, &key.sort) {
            (Some(name), Some(value)) => {
                check_key_value(table, name, value)?;
                item.insert(name.clone(), value.clone());
            }
            (Some(name), None) => {
                return Err(Error::InvalidKey {
                    table: table.to_owned(),
                    reason: format!("the sort key `{name}` has no value"),
                })
            }
            (None, Some(_)) => {
                return Err(Error::InvalidKey {
                    table: table.to_owned(),
                    reason: "a sort key value was given but the table has no sort key".into(),
                })
            }
            (None, None) => {}
        }
        Ok(item)
    }

    /// The key of a stored item, for identifying it (in errors, in batch results).
    pub(crate) fn id_of(&self, item: &Item) -> Option<KeyId> {
        let partition = KeyPart::from_value(item.get(&self.partition)?)?;
        let sort = match &self.sort {
            Some(name) => Some(KeyPart::from_value(item.get(name)?)?),
            None => None,
        };
        Some(KeyId::new(partition, sort))
    }

    /// The key of an item as text, `?` if it has none.
    pub(crate) fn describe(&self, item: &Item) -> String {
        self.id_of(item)
            .map_or_else(|| "?".to_owned(), |id| id.to_string())
    }
}

fn check_key_value(table: &str, name: &str, value: &AttributeValue) -> Result<()> {
    let problem = match value {
        AttributeValue::S(s) if s.is_empty() => "is an empty string",
        AttributeValue::B(b) if b.as_ref().is_empty() => "is an empty binary value",
        AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_) => return Ok(()),
        _ => "is not a string, number or binary value",
    };
    Err(Error::InvalidKey {
        table: table.to_owned(),
        reason: format!("the key attribute `{name}` {problem}"),
    })
}

/// One key attribute value in a form that can be hashed, compared and serialized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum KeyPart {
    S(String),
    N(String),
    B(Vec<u8>),
}

impl KeyPart {
    pub(crate) fn from_value(value: &AttributeValue) -> Option<Self> {
        match value {
            AttributeValue::S(s) => Some(KeyPart::S(s.clone())),
            AttributeValue::N(n) => Some(KeyPart::N(n.clone())),
            AttributeValue::B(b) => Some(KeyPart::B(b.as_ref().to_vec())),
            _ => None,
        }
    }

    /// The part as DynamoDB compares it: a number in its canonical form
    /// (text that is not a number stays as it is).
    fn compared(&self) -> Self {
        match self {
            KeyPart::N(n) => KeyPart::N(crate::number::canonical_text(n)),
            other => other.clone(),
        }
    }

    pub(crate) fn into_value(self) -> AttributeValue {
        match self {
            KeyPart::S(s) => AttributeValue::S(s),
            KeyPart::N(n) => AttributeValue::N(n),
            KeyPart::B(b) => AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b)),
        }
    }
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPart::S(s) => write!(f, "{s:?}"),
            KeyPart::N(n) => f.write_str(n),
            KeyPart::B(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

/// The identity of an item by its key values, compared as DynamoDB
/// compares them: a number by its value, so that `1.50`, `1.5` and `15E-1`
/// (or `-0` and `0`) are one key.
#[derive(Debug, Clone)]
pub(crate) struct KeyId {
    /// The values as given, for messages.
    partition: KeyPart,
    sort: Option<KeyPart>,
    /// The values compared: numbers in their canonical form.
    compared: (KeyPart, Option<KeyPart>),
}

impl KeyId {
    fn new(partition: KeyPart, sort: Option<KeyPart>) -> Self {
        let compared = (partition.compared(), sort.as_ref().map(KeyPart::compared));
        Self {
            partition,
            sort,
            compared,
        }
    }
}

impl PartialEq for KeyId {
    fn eq(&self, other: &Self) -> bool {
        self.compared == other.compared
    }
}

impl Eq for KeyId {}

impl std::hash::Hash for KeyId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.compared.hash(state);
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sort {
            Some(sort) => write!(f, "({}, {})", self.partition, sort),
            None => write!(f, "({})", self.partition),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{binary_value, number_value, string_value};

    fn schema() -> KeySchema {
        KeySchema {
            partition: "pk".into(),
            sort: Some("sk".into()),
        }
    }

    #[test]
    fn key_items_are_checked() {
        let key = Key::new(string_value("a")).sort(number_value(1));
        let item = schema().item("t", &key).expect("valid key");
        assert_eq!(schema().describe(&item), "(\"a\", 1)");

        for bad in [
            Key::new(string_value("")).sort(number_value(1)),
            Key::new(string_value("a")).sort(binary_value(Vec::new())),
            Key::new(string_value("a")),
            Key::new(AttributeValue::Bool(true)).sort(number_value(1)),
        ] {
            let err = schema().item("t", &bad).expect_err("invalid key");
            assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
        }
        let no_sort = KeySchema {
            partition: "pk".into(),
            sort: None,
        };
        assert!(no_sort.item("t", &key).is_err());
    }

    #[test]
    fn number_key_parts_are_compared_by_value() {
        use std::hash::BuildHasher;

        let id = |sort: &str| {
            let key = Key::new(string_value("a")).sort(AttributeValue::N(sort.into()));
            let item = schema().item("t", &key).expect("valid key");
            schema().id_of(&item).expect("an id")
        };
        for (a, b) in [("1.5", "1.50"), ("0", "-0"), ("100", "1E+2"), ("7", "7.0")] {
            assert_eq!(id(a), id(b), "{a} and {b}");
            let state = std::hash::RandomState::new();
            assert_eq!(state.hash_one(id(a)), state.hash_one(id(b)), "{a} and {b}");
        }
        for (a, b) in [("1.5", "15"), ("7", "-7"), ("0.7", "7")] {
            assert_ne!(id(a), id(b), "{a} and {b}");
        }
        // Messages show the key as given.
        assert_eq!(id("1.50").to_string(), "(\"a\", 1.50)");
        // Strings are compared as text.
        let text = |s: &str| {
            let key = Key::new(string_value(s)).sort(number_value(1));
            schema()
                .id_of(&schema().item("t", &key).expect("valid key"))
                .expect("an id")
        };
        assert_ne!(text("1.5"), text("1.50"));
    }
}
