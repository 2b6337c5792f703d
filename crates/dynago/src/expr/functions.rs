//! DynamoDB's functions on paths (`attribute_exists`, `attribute_type`,
//! `size`, ...) and the types they take.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::value::value_of;
use super::{Expr, Node, Operand, Path};

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
    ///
    /// ```
    /// use dynago::expr::{attr, size};
    /// let expr = size(attr("tags")).eq(3);
    /// # let _ = expr;
    /// ```
    pub fn eq<T: Serialize>(self, n: T) -> Expr {
        self.compare("=", n)
    }

    /// `size(path) <> n`.
    ///
    /// ```
    /// use dynago::expr::{attr, size};
    /// let expr = size(attr("tags")).ne(3);
    /// # let _ = expr;
    /// ```
    pub fn ne<T: Serialize>(self, n: T) -> Expr {
        self.compare("<>", n)
    }

    /// `size(path) < n`.
    ///
    /// ```
    /// use dynago::expr::{attr, size};
    /// let expr = size(attr("tags")).lt(3);
    /// # let _ = expr;
    /// ```
    pub fn lt<T: Serialize>(self, n: T) -> Expr {
        self.compare("<", n)
    }

    /// `size(path) <= n`.
    ///
    /// ```
    /// use dynago::expr::{attr, size};
    /// let expr = size(attr("tags")).le(3);
    /// # let _ = expr;
    /// ```
    pub fn le<T: Serialize>(self, n: T) -> Expr {
        self.compare("<=", n)
    }

    /// `size(path) > n`.
    ///
    /// ```
    /// use dynago::expr::{attr, size};
    /// let expr = size(attr("tags")).gt(3);
    /// # let _ = expr;
    /// ```
    pub fn gt<T: Serialize>(self, n: T) -> Expr {
        self.compare(">", n)
    }

    /// `size(path) >= n`.
    ///
    /// ```
    /// use dynago::expr::{attr, size};
    /// let expr = size(attr("tags")).ge(3);
    /// # let _ = expr;
    /// ```
    pub fn ge<T: Serialize>(self, n: T) -> Expr {
        self.compare(">=", n)
    }

    /// `size(path) BETWEEN low AND high`.
    ///
    /// ```
    /// use dynago::expr::{attr, size};
    /// let expr = size(attr("tags")).between(1, 3);
    /// # let _ = expr;
    /// ```
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
