//! Checking a table's key schema against what a [`Table`] handle expects.
//!
//! A handle carries the names of the table's key attributes (and, if
//! [`TableOptions::partition_key_type`](crate::TableOptions::partition_key_type)
//! and [`sort_key_type`](crate::TableOptions::sort_key_type) are set, their
//! types), but sends no request to learn whether the table agrees. A handle
//! whose key names are wrong fails every request with a `ValidationException`
//! that does not say why. [`Table::verify_schema`] asks once, with one
//! `DescribeTable`, and says exactly what differs.

use std::fmt;

use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType, TableDescription};
use tracing::Instrument;

use crate::error::{from_sdk, unusable_answer, Error, Result};
use crate::table::{IndexKeys, Table};
use crate::telemetry::request_span;

/// One key attribute: its name and, when known, its type (`S`, `N` or `B`).
///
/// ```
/// use dynago::{KeyAttribute, ScalarAttributeType};
///
/// let pk = KeyAttribute::new("pk").of_type(ScalarAttributeType::S);
/// assert_eq!(pk.to_string(), "pk (S)");
/// assert_eq!(KeyAttribute::new("sk").to_string(), "sk");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyAttribute {
    /// The attribute's name.
    pub name: String,
    /// Its type; `None` when any type is acceptable (in an expected schema).
    pub attribute_type: Option<ScalarAttributeType>,
}

impl KeyAttribute {
    /// The attribute `name`, of any type.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            attribute_type: None,
        }
    }

    /// The same attribute, of the type `kind`.
    #[must_use]
    pub fn of_type(mut self, kind: ScalarAttributeType) -> Self {
        self.attribute_type = Some(kind);
        self
    }

    /// Whether `found` is this attribute: the same name and, if this one has
    /// a type, the same type.
    fn accepts(&self, found: &KeyAttribute) -> bool {
        self.name == found.name
            && self
                .attribute_type
                .as_ref()
                .is_none_or(|kind| found.attribute_type.as_ref() == Some(kind))
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, role: Option<&str>) -> fmt::Result {
        let kind = self
            .attribute_type
            .as_ref()
            .map(ScalarAttributeType::as_str);
        match (kind, role) {
            (Some(kind), Some(role)) => write!(f, "{} ({kind}, {role})", self.name),
            (Some(kind), None) => write!(f, "{} ({kind})", self.name),
            (None, Some(role)) => write!(f, "{} ({role})", self.name),
            (None, None) => f.write_str(&self.name),
        }
    }
}

impl fmt::Display for KeyAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, None)
    }
}

/// A table's primary key: a partition key and an optional sort key, as a
/// [`Table`] handle expects it ([`Table::expected_schema`]) or as DynamoDB
/// describes it ([`Table::describe_schema`]).
///
/// It displays as DynamoDB lists it, each attribute with its type (when
/// known) and its key type: `pk (S, HASH), sk (N, RANGE)`.
///
/// ```
/// use dynago::{KeyAttribute, ScalarAttributeType, TableSchema};
///
/// let expected = TableSchema::new(
///     KeyAttribute::new("pk").of_type(ScalarAttributeType::S),
///     Some(KeyAttribute::new("sk")),
/// );
/// assert_eq!(expected.to_string(), "pk (S, HASH), sk (RANGE)");
///
/// let found = TableSchema::new(
///     KeyAttribute::new("pk").of_type(ScalarAttributeType::S),
///     Some(KeyAttribute::new("sk").of_type(ScalarAttributeType::N)),
/// );
/// assert!(expected.accepts(&found));
/// assert!(!TableSchema::new(KeyAttribute::new("pk"), None).accepts(&found));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableSchema {
    /// The partition (`HASH`) key.
    pub partition_key: KeyAttribute,
    /// The sort (`RANGE`) key, if the table has one.
    pub sort_key: Option<KeyAttribute>,
    /// The regions of the table's replicas, when DynamoDB describes a
    /// global table; empty otherwise, and in an expected schema. Conditions
    /// hold per region only: across replicas the last writer wins.
    pub replica_regions: Vec<String>,
}

impl TableSchema {
    /// The key schema of `partition_key` and, if any, `sort_key`.
    pub fn new(partition_key: KeyAttribute, sort_key: Option<KeyAttribute>) -> Self {
        Self {
            partition_key,
            sort_key,
            replica_regions: Vec::new(),
        }
    }

    /// Whether the schema `found` is this one: the same key names in the
    /// same roles, a sort key on both or on neither, and the same types
    /// wherever this schema names one.
    pub fn accepts(&self, found: &TableSchema) -> bool {
        self.partition_key.accepts(&found.partition_key)
            && match (&self.sort_key, &found.sort_key) {
                (Some(expected), Some(found)) => expected.accepts(found),
                (None, None) => true,
                _ => false,
            }
    }
}

impl fmt::Display for TableSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.partition_key.write(f, Some("HASH"))?;
        if let Some(sort) = &self.sort_key {
            f.write_str(", ")?;
            sort.write(f, Some("RANGE"))?;
        }
        Ok(())
    }
}

impl Table {
    /// The table's description: one `DescribeTable` request.
    pub(crate) async fn describe_table(&self) -> Result<Option<TableDescription>> {
        let span = request_span(self, "DescribeTable", 0);
        let output = self
            .client()
            .describe_table()
            .table_name(self.name())
            .send()
            .instrument(span)
            .await
            .map_err(|e| from_sdk(self.name(), "DescribeTable", e))?;
        Ok(output.table)
    }

    /// The key attribute names of the secondary index `index`, read with
    /// one `DescribeTable` request the first time this handle (or a clone)
    /// asks; `None` when the table has no such index, or cannot be described
    /// (a refusal, such as a policy without `dynamodb:DescribeTable`, is
    /// remembered; a transient error is not).
    pub(crate) async fn index_key_names(&self, index: &str) -> Result<Option<Vec<String>>> {
        let indexes = self
            .index_keys_cell()
            .get_or_try_init(|| async {
                let description = match self.describe_table().await {
                    Ok(description) => description,
                    Err(error) if error.is_retryable() => return Err(error),
                    Err(error) => {
                        tracing::warn!(
                            table = self.name(),
                            %error,
                            "cannot describe the table: filtered queries with a limit read \
                             no more items per request than their page lacks"
                        );
                        return Ok(None);
                    }
                };
                let mut indexes = IndexKeys::new();
                if let Some(table) = description {
                    let names = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
                        schema
                            .iter()
                            .map(|element| element.attribute_name().to_owned())
                            .collect::<Vec<_>>()
                    };
                    for index in table.global_secondary_indexes() {
                        if let Some(name) = index.index_name() {
                            indexes.insert(name.to_owned(), names(index.key_schema()));
                        }
                    }
                    for index in table.local_secondary_indexes() {
                        if let Some(name) = index.index_name() {
                            indexes.insert(name.to_owned(), names(index.key_schema()));
                        }
                    }
                }
                Ok::<_, Error>(Some(indexes))
            })
            .await?;
        Ok(indexes
            .as_ref()
            .and_then(|indexes| indexes.get(index).cloned()))
    }

    /// The key schema this handle expects: the key names of its
    /// [`TableOptions`](crate::TableOptions), with the types set by
    /// [`partition_key_type`](crate::TableOptions::partition_key_type) and
    /// [`sort_key_type`](crate::TableOptions::sort_key_type) (any type where
    /// none is set).
    pub fn expected_schema(&self) -> TableSchema {
        let keys = self.keys();
        let (partition_type, sort_type) = self.key_types();
        TableSchema {
            partition_key: KeyAttribute {
                name: keys.partition.clone(),
                attribute_type: partition_type.cloned(),
            },
            sort_key: keys.sort.as_ref().map(|name| KeyAttribute {
                name: name.clone(),
                attribute_type: sort_type.cloned(),
            }),
            replica_regions: Vec::new(),
        }
    }

    /// The table's key schema as DynamoDB describes it, with the type of
    /// each key attribute: one `DescribeTable` request.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`] when there is no such table;
    /// [`Error::Dynamo`] when DynamoDB refuses, or describes a table without
    /// a usable key schema.
    pub async fn describe_schema(&self) -> Result<TableSchema> {
        let description = self.describe_table().await?;
        let unusable = |what: &str| {
            unusable_answer(
                self.name(),
                "DescribeTable",
                format!("the table description {what}"),
            )
        };
        let description = description.ok_or_else(|| unusable("is empty"))?;
        let attribute = |name: &str| KeyAttribute {
            name: name.to_owned(),
            attribute_type: description
                .attribute_definitions()
                .iter()
                .find(|definition| definition.attribute_name() == name)
                .map(|definition| definition.attribute_type().clone()),
        };
        let mut partition = None;
        let mut sort = None;
        for element in description.key_schema() {
            match element.key_type() {
                KeyType::Hash => partition = Some(attribute(element.attribute_name())),
                KeyType::Range => sort = Some(attribute(element.attribute_name())),
                _ => return Err(unusable("holds a key of an unknown type")),
            }
        }
        Ok(TableSchema {
            partition_key: partition.ok_or_else(|| unusable("has no partition key"))?,
            sort_key: sort,
            replica_regions: description
                .replicas()
                .iter()
                .filter_map(|replica| replica.region_name().map(str::to_owned))
                .collect(),
        })
    }

    /// Checks that the table's key schema is the one this handle expects
    /// ([`expected_schema`](Self::expected_schema)), with one `DescribeTable`
    /// request, and returns the schema found.
    ///
    /// Call it once at start-up (or set
    /// [`TableOptions::verify_schema`](crate::TableOptions::verify_schema),
    /// and [`Table::connect`] calls it): a handle whose key names differ from
    /// the table's fails every request with a `ValidationException` that does
    /// not say why.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// match table.verify_schema().await {
    ///     Ok(schema) => println!("keys: {schema}"),
    ///     Err(dynago::Error::SchemaMismatch { expected, found, .. }) => {
    ///         panic!("the table has the keys {found}, not {expected}")
    ///     }
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SchemaMismatch`], naming the expected and the found schema
    /// (such as `pk (S, HASH), sk (S, RANGE)`); [`Error::TableNotFound`]
    /// when there is no such table; [`Error::Dynamo`].
    pub async fn verify_schema(&self) -> Result<TableSchema> {
        self.verify_schema_with(&self.expected_schema()).await
    }

    /// Checks that the table's key schema is `expected` (see
    /// [`TableSchema::accepts`]), with one `DescribeTable` request, and
    /// returns the schema found. For a layer above that needs more than the
    /// handle's options say (string keys, say).
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::ScalarAttributeType;
    ///
    /// let mut expected = table.expected_schema();
    /// expected.partition_key.attribute_type = Some(ScalarAttributeType::S);
    /// table.verify_schema_with(&expected).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`verify_schema`](Self::verify_schema).
    pub async fn verify_schema_with(&self, expected: &TableSchema) -> Result<TableSchema> {
        let found = self.describe_schema().await?;
        if !expected.accepts(&found) {
            return Err(Error::SchemaMismatch {
                table: self.name().to_owned(),
                expected: expected.to_string(),
                found: found.to_string(),
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(name: &str, kind: ScalarAttributeType) -> KeyAttribute {
        KeyAttribute::new(name).of_type(kind)
    }

    #[test]
    fn schemas_display_as_dynamodb_lists_them() {
        let schema = TableSchema::new(
            typed("pk", ScalarAttributeType::S),
            Some(typed("sk", ScalarAttributeType::N)),
        );
        assert_eq!(schema.to_string(), "pk (S, HASH), sk (N, RANGE)");
        let untyped = TableSchema::new(KeyAttribute::new("id"), None);
        assert_eq!(untyped.to_string(), "id (HASH)");
    }

    #[test]
    fn accepts_compares_names_roles_and_given_types() {
        let s = ScalarAttributeType::S;
        let n = ScalarAttributeType::N;
        let found = TableSchema::new(typed("pk", s.clone()), Some(typed("sk", n.clone())));
        let cases = [
            (
                TableSchema::new(KeyAttribute::new("pk"), Some(KeyAttribute::new("sk"))),
                true,
            ),
            (
                TableSchema::new(typed("pk", s.clone()), Some(typed("sk", n.clone()))),
                true,
            ),
            (
                TableSchema::new(typed("pk", s.clone()), Some(typed("sk", s.clone()))),
                false,
            ),
            (
                TableSchema::new(typed("pk", n.clone()), Some(KeyAttribute::new("sk"))),
                false,
            ),
            (TableSchema::new(KeyAttribute::new("pk"), None), false),
            (
                TableSchema::new(KeyAttribute::new("sk"), Some(KeyAttribute::new("pk"))),
                false,
            ),
            (
                TableSchema::new(KeyAttribute::new("PK"), Some(KeyAttribute::new("sk"))),
                false,
            ),
        ];
        for (expected, accepted) in cases {
            assert_eq!(expected.accepts(&found), accepted, "{expected}");
        }
        let hash_only = TableSchema::new(typed("pk", s), None);
        assert!(
            !TableSchema::new(KeyAttribute::new("pk"), Some(KeyAttribute::new("sk")))
                .accepts(&hash_only)
        );
        assert!(TableSchema::new(KeyAttribute::new("pk"), None).accepts(&hash_only));
    }
}
