//! Typed expressions: attribute paths, values and the conditions, filters,
//! key conditions and projections built from them.
//!
//! A path names an attribute ([`attr`]), a field of a map in it
//! ([`Path::field`]) or an element of a list ([`Path::index`]). Every name
//! goes through a generated `#` placeholder and every value through a
//! generated `:` placeholder, so a reserved word (`status`, `name`, `count`)
//! or a name holding a dot needs no hand-written `#n`, and expressions
//! combined with each other or with an optimistic lock never clash.
//!
//! ```
//! use dynago::expr::attr;
//! use dynago::Condition;
//!
//! let open_and_solvent = attr("status")
//!     .eq("open")
//!     .and(attr("balance").ge(100))
//!     .and(attr("address").field("city").begins_with("Lon"));
//! let condition = Condition::from(open_and_solvent);
//! assert_eq!(
//!     condition.expression(),
//!     "((#c0 = :c0) AND (#c1 >= :c1)) AND (begins_with(#c2.#c3, :c2))"
//! );
//! ```
//!
//! Values are anything `serde_dynamo` serializes (numbers, strings, `bool`,
//! `Vec`s as lists, structs and maps as maps); [`string_set`],
//! [`number_set`] and [`raw`] give sets and hand-built values. Each
//! expression is checked against DynamoDB's 4 KB
//! ([`MAX_EXPRESSION_SIZE`]) before it is sent.

use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::error::Error;
use crate::item::to_attribute_value;

mod compile;

pub(crate) use compile::{check_request, check_size, compile_expr, merge, Invalid, Placeholders};
pub use compile::{Expression, Projection};

/// The longest expression string DynamoDB takes (a condition, an update, a
/// key condition, a filter or a projection): 4 KB.
pub const MAX_EXPRESSION_SIZE: usize = 4 * 1024;

/// The attribute `name`, as it is: dots and reserved words are part of the
/// name, never parsed.
///
/// ```
/// use dynago::expr::attr;
///
/// let city = attr("address").field("city");
/// let first_tag = attr("tags").index(0);
/// let dotted = attr("meta.version"); // one attribute named `meta.version`
/// assert_eq!(city.to_string(), "address.city");
/// # let _ = (first_tag, dotted);
/// ```
pub fn attr(name: impl Into<String>) -> Path {
    Path {
        first: name.into(),
        rest: Vec::new(),
    }
}

/// A document path: an attribute, then fields of maps and elements of lists.
///
/// Built by [`attr`]; its comparison methods make an [`Expr`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Path {
    first: String,
    rest: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Field(String),
    Index(usize),
}

impl From<&str> for Path {
    /// The attribute `name`, as [`attr`] makes it.
    fn from(name: &str) -> Self {
        attr(name)
    }
}

impl From<String> for Path {
    /// The attribute `name`, as [`attr`] makes it.
    fn from(name: String) -> Self {
        attr(name)
    }
}

impl fmt::Display for Path {
    /// The path as a reader writes it (`address.city`, `tags[0]`), for
    /// messages; never sent to DynamoDB.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.first)?;
        for segment in &self.rest {
            match segment {
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A value of an expression: the serialized value, or why it did not
/// serialize (reported when the request is sent).
pub(crate) type Value = std::result::Result<AttributeValue, String>;

/// The mark of a [`Raw`] value inside a serialization, followed by its
/// place in `RAW_VALUES`.
const RAW_MARK: &str = "\u{37e}dynago-raw\u{37e}";

std::thread_local! {
    /// The [`Raw`] values met by the serialization under way in
    /// [`value_of`] on this thread (`None` outside one).
    static RAW_VALUES: std::cell::RefCell<Option<Vec<AttributeValue>>> =
        const { std::cell::RefCell::new(None) };
}

/// Serializes `value` as it is (`None` is `NULL`), [`Raw`] values inside it
/// included as they are.
pub(crate) fn value_of<T: Serialize + ?Sized>(value: &T) -> Value {
    let outer = RAW_VALUES.with(|raw| raw.borrow_mut().replace(Vec::new()));
    let result = to_attribute_value(value);
    let raw = RAW_VALUES.with(|raw| std::mem::replace(&mut *raw.borrow_mut(), outer));
    let value = result.map_err(|e| match e {
        Error::Serialize { source, .. } => source.to_string(),
        other => other.to_string(),
    })?;
    Ok(match raw {
        Some(raw) if !raw.is_empty() => restore(value, &raw),
        _ => value,
    })
}

/// `value` with each mark of a [`Raw`] value replaced by that value.
fn restore(value: AttributeValue, raw: &[AttributeValue]) -> AttributeValue {
    match value {
        AttributeValue::S(text) => match text
            .strip_prefix(RAW_MARK)
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| raw.get(i))
        {
            Some(value) => value.clone(),
            None => AttributeValue::S(text),
        },
        AttributeValue::L(list) => {
            AttributeValue::L(list.into_iter().map(|v| restore(v, raw)).collect())
        }
        AttributeValue::M(map) => {
            AttributeValue::M(map.into_iter().map(|(k, v)| (k, restore(v, raw))).collect())
        }
        other => other,
    }
}

impl Path {
    /// The field `name` of the map held at this path (`address.city`).
    pub fn field(mut self, name: impl Into<String>) -> Self {
        self.rest.push(Segment::Field(name.into()));
        self
    }

    /// The element `index` of the list held at this path (`tags[0]`).
    pub fn index(mut self, index: usize) -> Self {
        self.rest.push(Segment::Index(index));
        self
    }

    /// The name of the top-level attribute of this path.
    pub fn attribute(&self) -> &str {
        &self.first
    }

    fn compare<T: Serialize>(self, op: &'static str, value: T) -> Expr {
        Expr(Node::Compare {
            left: Operand::Path(self),
            op,
            right: value_of(&value),
        })
    }

    /// `path = value`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let expr = attr("status").eq("open");
    /// # let _ = expr;
    /// ```
    pub fn eq<T: Serialize>(self, value: T) -> Expr {
        self.compare("=", value)
    }

    /// `path <> value`.
    pub fn ne<T: Serialize>(self, value: T) -> Expr {
        self.compare("<>", value)
    }

    /// `path < value`.
    pub fn lt<T: Serialize>(self, value: T) -> Expr {
        self.compare("<", value)
    }

    /// `path <= value`.
    pub fn le<T: Serialize>(self, value: T) -> Expr {
        self.compare("<=", value)
    }

    /// `path > value`.
    pub fn gt<T: Serialize>(self, value: T) -> Expr {
        self.compare(">", value)
    }

    /// `path >= value`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let solvent = attr("balance").ge(100);
    /// # let _ = solvent;
    /// ```
    pub fn ge<T: Serialize>(self, value: T) -> Expr {
        self.compare(">=", value)
    }

    /// `path BETWEEN low AND high` (both bounds included).
    pub fn between<L: Serialize, H: Serialize>(self, low: L, high: H) -> Expr {
        Expr(Node::Between {
            subject: Operand::Path(self),
            low: value_of(&low),
            high: value_of(&high),
        })
    }

    /// `path IN (v1, v2, ...)`: the value at `path` is one of `values`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let expr = attr("status").is_in(["open", "frozen"]);
    /// # let _ = expr;
    /// ```
    pub fn is_in<T: Serialize>(self, values: impl IntoIterator<Item = T>) -> Expr {
        Expr(Node::In {
            subject: Operand::Path(self),
            values: values.into_iter().map(|v| value_of(&v)).collect(),
        })
    }

    /// `begins_with(path, prefix)`, for strings and binaries.
    pub fn begins_with<T: Serialize>(self, prefix: T) -> Expr {
        Expr(Node::Function {
            name: "begins_with",
            path: self,
            argument: Some(value_of(&prefix)),
        })
    }

    /// `contains(path, value)`: a substring of a string, a member of a set,
    /// an element of a list.
    pub fn contains<T: Serialize>(self, value: T) -> Expr {
        Expr(Node::Function {
            name: "contains",
            path: self,
            argument: Some(value_of(&value)),
        })
    }

    /// `attribute_exists(path)`.
    pub fn exists(self) -> Expr {
        attr_exists(self)
    }

    /// `attribute_not_exists(path)`.
    pub fn not_exists(self) -> Expr {
        attr_not_exists(self)
    }

    /// `attribute_type(path, type)`.
    pub fn is_type(self, kind: AttributeType) -> Expr {
        attribute_type(self, kind)
    }

    /// `size(path)`, to compare: see [`Size`].
    pub fn size(self) -> Size {
        size(self)
    }
}

/// `attribute_exists(path)`.
///
/// ```
/// use dynago::expr::{attr, attr_exists};
/// let expr = attr_exists(attr("email"));
/// # let _ = expr;
/// ```
pub fn attr_exists(path: Path) -> Expr {
    Expr(Node::Function {
        name: "attribute_exists",
        path,
        argument: None,
    })
}

/// `attribute_not_exists(path)`.
///
/// ```
/// use dynago::expr::{attr, attr_not_exists};
/// let unclaimed = attr_not_exists(attr("owner"));
/// # let _ = unclaimed;
/// ```
pub fn attr_not_exists(path: Path) -> Expr {
    Expr(Node::Function {
        name: "attribute_not_exists",
        path,
        argument: None,
    })
}

/// `attribute_type(path, kind)`: the value at `path` is of type `kind`.
///
/// ```
/// use dynago::expr::{attr, attribute_type, AttributeType};
/// let expr = attribute_type(attr("tags"), AttributeType::StringSet);
/// # let _ = expr;
/// ```
pub fn attribute_type(path: Path, kind: AttributeType) -> Expr {
    Expr(Node::Function {
        name: "attribute_type",
        path,
        argument: Some(Ok(AttributeValue::S(kind.code().to_owned()))),
    })
}

/// `size(path)`: the length of a string or binary, the number of elements
/// of a set, list or map; compare it with [`Size`]'s methods.
///
/// ```
/// use dynago::expr::{attr, size};
/// let short = size(attr("name")).le(40);
/// # let _ = short;
/// ```
pub fn size(path: Path) -> Size {
    Size(path)
}

/// `size(path)`, made by [`size`] or [`Path::size`], to compare with a number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Size(Path);

impl Size {
    fn compare<T: Serialize>(self, op: &'static str, value: T) -> Expr {
        Expr(Node::Compare {
            left: Operand::Size(self.0),
            op,
            right: value_of(&value),
        })
    }

    /// `size(path) = n`.
    pub fn eq<T: Serialize>(self, n: T) -> Expr {
        self.compare("=", n)
    }

    /// `size(path) <> n`.
    pub fn ne<T: Serialize>(self, n: T) -> Expr {
        self.compare("<>", n)
    }

    /// `size(path) < n`.
    pub fn lt<T: Serialize>(self, n: T) -> Expr {
        self.compare("<", n)
    }

    /// `size(path) <= n`.
    pub fn le<T: Serialize>(self, n: T) -> Expr {
        self.compare("<=", n)
    }

    /// `size(path) > n`.
    pub fn gt<T: Serialize>(self, n: T) -> Expr {
        self.compare(">", n)
    }

    /// `size(path) >= n`.
    pub fn ge<T: Serialize>(self, n: T) -> Expr {
        self.compare(">=", n)
    }

    /// `size(path) BETWEEN low AND high`.
    pub fn between<L: Serialize, H: Serialize>(self, low: L, high: H) -> Expr {
        Expr(Node::Between {
            subject: Operand::Size(self.0),
            low: value_of(&low),
            high: value_of(&high),
        })
    }
}

/// The types `attribute_type` tests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttributeType {
    /// `S`.
    String,
    /// `SS`.
    StringSet,
    /// `N`.
    Number,
    /// `NS`.
    NumberSet,
    /// `B`.
    Binary,
    /// `BS`.
    BinarySet,
    /// `BOOL`.
    Boolean,
    /// `NULL`.
    Null,
    /// `L`.
    List,
    /// `M`.
    Map,
}

impl AttributeType {
    /// DynamoDB's code for the type (`S`, `SS`, `N`, ...).
    ///
    /// ```
    /// assert_eq!(dynago::expr::AttributeType::Map.code(), "M");
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            AttributeType::String => "S",
            AttributeType::StringSet => "SS",
            AttributeType::Number => "N",
            AttributeType::NumberSet => "NS",
            AttributeType::Binary => "B",
            AttributeType::BinarySet => "BS",
            AttributeType::Boolean => "BOOL",
            AttributeType::Null => "NULL",
            AttributeType::List => "L",
            AttributeType::Map => "M",
        }
    }
}

/// A condition: what [`Condition`](crate::Condition) takes from typed paths
/// and values, and what [`Query`](crate::Query) takes as a key condition or a
/// filter.
///
/// Combine with [`and`](Self::and), [`or`](Self::or) and `!` (or [`not`]).
///
/// ```
/// use dynago::expr::{attr, not};
///
/// let expr = attr("status").eq("open").or(attr("status").eq("frozen"));
/// let closed = !expr.clone();
/// let also_closed = not(expr);
/// # let _ = (closed, also_closed);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Expr(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Compare {
        left: Operand,
        op: &'static str,
        right: Value,
    },
    Between {
        subject: Operand,
        low: Value,
        high: Value,
    },
    In {
        subject: Operand,
        values: Vec<Value>,
    },
    Function {
        name: &'static str,
        path: Path,
        argument: Option<Value>,
    },
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Path),
    Size(Path),
}

impl Expr {
    /// `(self) AND (other)`.
    pub fn and(self, other: Expr) -> Expr {
        Expr(Node::And(Box::new(self.0), Box::new(other.0)))
    }

    /// `(self) OR (other)`.
    pub fn or(self, other: Expr) -> Expr {
        Expr(Node::Or(Box::new(self.0), Box::new(other.0)))
    }

    /// Every expression of `exprs` joined by `AND`; `None` when there is none.
    ///
    /// ```
    /// use dynago::expr::{attr, Expr};
    /// let all = Expr::all(["a", "b"].map(|name| attr(name).exists()));
    /// assert!(all.is_some());
    /// ```
    pub fn all(exprs: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        exprs.into_iter().reduce(Expr::and)
    }

    /// Every expression of `exprs` joined by `OR`; `None` when there is none.
    pub fn any(exprs: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        exprs.into_iter().reduce(Expr::or)
    }
}

/// `NOT (expr)`.
pub fn not(expr: Expr) -> Expr {
    !expr
}

impl std::ops::Not for Expr {
    type Output = Expr;

    /// `NOT (expr)`.
    fn not(self) -> Expr {
        Expr(Node::Not(Box::new(self.0)))
    }
}

/// A value that serializes as a string set (`SS`), a number set (`NS`) or
/// as the attribute value it holds: for the values serde cannot tell
/// (`ADD` and `DELETE` take sets), made by [`string_set`], [`number_set`] and
/// [`raw`].
#[derive(Debug, Clone, PartialEq)]
pub struct Raw(pub AttributeValue);

impl Serialize for Raw {
    /// Inside the expressions of this crate, the attribute value as it is;
    /// elsewhere, `serde_dynamo`'s own form of it.
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let index = RAW_VALUES.with(|raw| {
            raw.borrow_mut().as_mut().map(|raw| {
                raw.push(self.0.clone());
                raw.len() - 1
            })
        });
        match index {
            Some(index) => serializer.serialize_str(&format!("{RAW_MARK}{index}")),
            None => serde_dynamo::AttributeValue::from(self.0.clone()).serialize(serializer),
        }
    }
}

/// A string set (`SS`) of `members`.
///
/// ```
/// use dynago::expr::string_set;
/// use dynago::AttributeValue;
/// assert_eq!(string_set(["a", "b"]).0, AttributeValue::Ss(vec!["a".into(), "b".into()]));
/// ```
pub fn string_set<S: Into<String>>(members: impl IntoIterator<Item = S>) -> Raw {
    Raw(AttributeValue::Ss(
        members.into_iter().map(Into::into).collect(),
    ))
}

/// A number set (`NS`) of `members`.
///
/// ```
/// use dynago::expr::number_set;
/// use dynago::AttributeValue;
/// assert_eq!(number_set([1, 2]).0, AttributeValue::Ns(vec!["1".into(), "2".into()]));
/// ```
pub fn number_set<N: crate::Number>(members: impl IntoIterator<Item = N>) -> Raw {
    Raw(AttributeValue::Ns(
        members.into_iter().map(|n| n.to_string()).collect(),
    ))
}

/// The attribute value `value`, as it is.
///
/// ```
/// use dynago::expr::{attr, raw};
/// use dynago::binary_value;
/// let expr = attr("digest").eq(raw(binary_value([1u8, 2])));
/// # let _ = expr;
/// ```
pub fn raw(value: AttributeValue) -> Raw {
    Raw(value)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn names_get_one_placeholder_each_and_values_one_per_use() {
        let expr = attr("status")
            .eq("open")
            .or(attr("status").eq("frozen"))
            .and(attr("a.b").field("status").index(2).exists());
        let c = compile_expr(&expr, "c");
        assert_eq!(
            c.text,
            "((#c0 = :c0) OR (#c0 = :c1)) AND (attribute_exists(#c1.#c0[2]))"
        );
        assert_eq!(c.names["#c0"], "status");
        assert_eq!(c.names["#c1"], "a.b");
        assert_eq!(c.values[":c1"], AttributeValue::S("frozen".into()));
        assert!(c.invalid.is_none());
    }

    #[test]
    fn every_form_compiles() {
        let expr = Expr::all([
            attr("n").between(1, 9),
            attr("s").is_in(["x", "y"]),
            size(attr("l")).gt(3),
            attr("t").is_type(AttributeType::NumberSet),
            attr("s").contains("x"),
            !attr("s").begins_with("p"),
            attr("gone").not_exists(),
        ])
        .expect("expressions");
        let c = compile_expr(&expr, "f");
        assert_eq!(
            c.text,
            "((((((#f0 BETWEEN :f0 AND :f1) AND (#f1 IN (:f2, :f3))) AND (size(#f2) > :f4)) \
             AND (attribute_type(#f3, :f5))) AND (contains(#f1, :f6))) AND (NOT (begins_with(#f1, :f7)))) \
             AND (attribute_not_exists(#f4))"
        );
        assert_eq!(c.values[":f5"], AttributeValue::S("NS".into()));
    }

    #[test]
    fn a_value_that_does_not_serialize_is_reported_with_its_path() {
        let bad = std::collections::HashMap::from([(vec![1u8], 1)]);
        let c = compile_expr(&attr("m").eq(bad), "c");
        let error = c.invalid.expect("invalid").into_error("t");
        assert!(matches!(error, Error::Serialize { .. }), "{error}");
        assert!(error.to_string().contains("`m`"), "{error}");
        assert!(error.to_string().contains("table `t`"), "{error}");
    }

    #[test]
    fn raw_values_keep_their_type() {
        let value = value_of(&string_set(["a"])).expect("a set");
        assert_eq!(value, AttributeValue::Ss(vec!["a".into()]));
        let value = value_of(&number_set([1.5])).expect("a set");
        assert_eq!(value, AttributeValue::Ns(vec!["1.5".into()]));
        let nested =
            value_of(&(1, raw(AttributeValue::Bs(vec![])), [string_set(["x"])])).expect("a list");
        assert_eq!(
            nested,
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::Bs(vec![]),
                AttributeValue::L(vec![AttributeValue::Ss(vec!["x".into()])]),
            ])
        );
    }

    #[test]
    fn merge_refuses_two_meanings() {
        let mut names = HashMap::from([("#a".to_owned(), "x".to_owned())]);
        let mut values = HashMap::new();
        let same = HashMap::from([("#a".to_owned(), "x".to_owned())]);
        assert!(merge(&mut names, &mut values, same, HashMap::new()).is_ok());
        let other = HashMap::from([("#a".to_owned(), "y".to_owned())]);
        assert!(merge(&mut names, &mut values, other, HashMap::new()).is_err());
    }
}
