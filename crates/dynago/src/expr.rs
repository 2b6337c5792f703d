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

use serde::Serialize;

mod compile;
mod functions;
mod value;

pub(crate) use compile::{
    check_request, check_size, compile_expr, merge, Compiled, Invalid, Placeholders,
};
pub use compile::{Expression, Projection};
pub use functions::{attr_exists, attr_not_exists, attribute_type, size, AttributeType, Size};
pub use value::{number_set, raw, string_set, Raw};
pub(crate) use value::{value_of, Value};

/// The longest expression string DynamoDB takes (a condition, an update, a
/// key condition, a filter or a projection): 4 KB.
pub const MAX_EXPRESSION_SIZE: usize = 4 * 1024;

/// The most values an `IN` may list ([`Path::is_in`]).
///
/// ```
/// assert_eq!(dynago::expr::MAX_IN_VALUES, 100);
/// ```
pub const MAX_IN_VALUES: usize = 100;

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

impl Path {
    /// The field `name` of the map held at this path (`address.city`).
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let city = attr("address").field("city");
    /// assert_eq!(city.to_string(), "address.city");
    /// ```
    pub fn field(mut self, name: impl Into<String>) -> Self {
        self.rest.push(Segment::Field(name.into()));
        self
    }

    /// The element `index` of the list held at this path (`tags[0]`).
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let first = attr("tags").index(0);
    /// assert_eq!(first.to_string(), "tags[0]");
    /// ```
    pub fn index(mut self, index: usize) -> Self {
        self.rest.push(Segment::Index(index));
        self
    }

    /// The name of the top-level attribute of this path.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// assert_eq!(attr("address").field("city").attribute(), "address");
    /// ```
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
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let not_closed = attr("status").ne("closed");
    /// # let _ = not_closed;
    /// ```
    pub fn ne<T: Serialize>(self, value: T) -> Expr {
        self.compare("<>", value)
    }

    /// `path < value`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let cheap = attr("price").lt(10);
    /// # let _ = cheap;
    /// ```
    pub fn lt<T: Serialize>(self, value: T) -> Expr {
        self.compare("<", value)
    }

    /// `path <= value`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let small = attr("size").le(3);
    /// # let _ = small;
    /// ```
    pub fn le<T: Serialize>(self, value: T) -> Expr {
        self.compare("<=", value)
    }

    /// `path > value`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let late = attr("due").gt("2024-05-01");
    /// # let _ = late;
    /// ```
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
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let adult = attr("age").between(18, 130);
    /// # let _ = adult;
    /// ```
    pub fn between<L: Serialize, H: Serialize>(self, low: L, high: H) -> Expr {
        Expr(Node::Between {
            subject: Operand::Path(self),
            low: value_of(&low),
            high: value_of(&high),
        })
    }

    /// `path IN (v1, v2, ...)`: the value at `path` is one of `values`,
    /// 1 to [`MAX_IN_VALUES`] of them (DynamoDB's limit; more, or none, is
    /// [`Error::InvalidExpression`](crate::Error::InvalidExpression) before
    /// sending).
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
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let orders = attr("sk").begins_with("order#");
    /// # let _ = orders;
    /// ```
    pub fn begins_with<T: Serialize>(self, prefix: T) -> Expr {
        Expr(Node::Function {
            name: "begins_with",
            path: self,
            argument: Some(value_of(&prefix)),
        })
    }

    /// `contains(path, value)`: a substring of a string, a member of a set,
    /// an element of a list.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let tagged = attr("tags").contains("vip");
    /// # let _ = tagged;
    /// ```
    pub fn contains<T: Serialize>(self, value: T) -> Expr {
        Expr(Node::Function {
            name: "contains",
            path: self,
            argument: Some(value_of(&value)),
        })
    }

    /// `attribute_exists(path)`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let verified = attr("verified_at").exists();
    /// # let _ = verified;
    /// ```
    pub fn exists(self) -> Expr {
        attr_exists(self)
    }

    /// `attribute_not_exists(path)`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let absent = attr("pk").not_exists();
    /// # let _ = absent;
    /// ```
    pub fn not_exists(self) -> Expr {
        attr_not_exists(self)
    }

    /// `attribute_type(path, type)`.
    ///
    /// ```
    /// use dynago::expr::{attr, AttributeType};
    /// let listed = attr("tags").is_type(AttributeType::List);
    /// # let _ = listed;
    /// ```
    pub fn is_type(self, kind: AttributeType) -> Expr {
        attribute_type(self, kind)
    }

    /// `size(path)`, to compare: see [`Size`].
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let few = attr("tags").size().lt(5);
    /// # let _ = few;
    /// ```
    pub fn size(self) -> Size {
        size(self)
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
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let both = attr("a").eq(1).and(attr("b").eq(2));
    /// # let _ = both;
    /// ```
    pub fn and(self, other: Expr) -> Expr {
        Expr(Node::And(Box::new(self.0), Box::new(other.0)))
    }

    /// `(self) OR (other)`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// let either = attr("a").eq(1).or(attr("b").eq(2));
    /// # let _ = either;
    /// ```
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
    ///
    /// ```
    /// use dynago::expr::{attr, Expr};
    /// let any = Expr::any([1, 2, 3].map(|n| attr("n").eq(n)));
    /// assert!(any.is_some());
    /// assert!(Expr::any([]).is_none());
    /// ```
    pub fn any(exprs: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        exprs.into_iter().reduce(Expr::or)
    }
}

/// `NOT (expr)`.
///
/// ```
/// use dynago::expr::{attr, not};
/// let open = not(attr("closed_at").exists());
/// # let _ = open;
/// ```
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use crate::error::Error;

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
    fn in_takes_one_to_a_hundred_values() {
        let ok = compile_expr(&attr("n").is_in(0..MAX_IN_VALUES), "c");
        assert!(ok.invalid.is_none(), "{:?}", ok.invalid);
        for (values, why) in [
            (0..0, "at least one"),
            (0..MAX_IN_VALUES + 1, "at most 100"),
        ] {
            let c = compile_expr(&attr("n").is_in(values), "c");
            match c.invalid {
                Some(Invalid::Other(reason)) => assert!(reason.contains(why), "{reason}"),
                other => panic!("expected an invalid expression, got {other:?}"),
            }
        }
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
