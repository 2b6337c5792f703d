//! How typed expressions become DynamoDB's text: generated placeholders,
//! placeholders merged from several expressions, and the checks before
//! sending.

use std::collections::HashMap;
use std::fmt::Write as _;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Expr, Node, Operand, Path, Segment, Value, MAX_EXPRESSION_SIZE};
use crate::error::{Error, Result};

/// Why an expression cannot be sent, found while it was built; reported by
/// the request that sends it, with its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// A value did not serialize.
    Serialize { what: String, message: String },
    /// Anything else.
    Other(String),
}

impl Invalid {
    pub(crate) fn into_error(self, table: &str) -> Error {
        match self {
            Invalid::Serialize { what, message } => Error::Serialize {
                what: format!("{what} (table `{table}`)"),
                source: <serde_dynamo::Error as serde::ser::Error>::custom(message),
            },
            Invalid::Other(reason) => Error::InvalidExpression {
                table: table.to_owned(),
                reason,
            },
        }
    }
}

/// Builds one expression's text, giving each name and value a placeholder
/// of its own: `#{prefix}{n}` and `:{prefix}{n}`. Every kind of expression
/// of one request has its prefix, so that they never clash.
#[derive(Debug)]
pub(crate) struct Placeholders {
    prefix: &'static str,
    pub(crate) names: HashMap<String, String>,
    by_name: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
    pub(crate) invalid: Option<Invalid>,
}

impl Placeholders {
    pub(crate) fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            names: HashMap::new(),
            by_name: HashMap::new(),
            values: HashMap::new(),
            invalid: None,
        }
    }

    /// The placeholder of the name `name` (one per name).
    pub(crate) fn name(&mut self, name: &str) -> String {
        if let Some(placeholder) = self.by_name.get(name) {
            return placeholder.clone();
        }
        let placeholder = format!("#{}{}", self.prefix, self.by_name.len());
        self.by_name.insert(name.to_owned(), placeholder.clone());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    /// Writes `path` with placeholders for its names.
    pub(crate) fn path(&mut self, path: &Path, out: &mut String) {
        let first = self.name(&path.first);
        out.push_str(&first);
        for segment in &path.rest {
            match segment {
                Segment::Field(name) => {
                    let placeholder = self.name(name);
                    out.push('.');
                    out.push_str(&placeholder);
                }
                Segment::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
    }

    /// Writes a placeholder for `value` (each value its own).
    pub(crate) fn value(&mut self, value: &Value, what: impl FnOnce() -> String, out: &mut String) {
        let placeholder = format!(":{}{}", self.prefix, self.values.len());
        match value {
            Ok(value) => {
                self.values.insert(placeholder.clone(), value.clone());
            }
            Err(message) => {
                self.invalid.get_or_insert_with(|| Invalid::Serialize {
                    what: what(),
                    message: message.clone(),
                });
                self.values
                    .insert(placeholder.clone(), AttributeValue::Null(true));
            }
        }
        out.push_str(&placeholder);
    }

    fn operand(&mut self, operand: &Operand, out: &mut String) -> String {
        match operand {
            Operand::Path(path) => {
                self.path(path, out);
                path.to_string()
            }
            Operand::Size(path) => {
                out.push_str("size(");
                self.path(path, out);
                out.push(')');
                format!("size({path})")
            }
        }
    }

    fn node(&mut self, node: &Node, out: &mut String) {
        match node {
            Node::Compare { left, op, right } => {
                let subject = self.operand(left, out);
                let _ = write!(out, " {op} ");
                self.value(
                    right,
                    || format!("the value compared with `{subject}`"),
                    out,
                );
            }
            Node::Between { subject, low, high } => {
                let subject = self.operand(subject, out);
                out.push_str(" BETWEEN ");
                self.value(low, || format!("the low bound for `{subject}`"), out);
                out.push_str(" AND ");
                self.value(high, || format!("the high bound for `{subject}`"), out);
            }
            Node::In { subject, values } => {
                let subject = self.operand(subject, out);
                if values.is_empty() {
                    self.invalid.get_or_insert_with(|| {
                        Invalid::Other(format!("`{subject} IN` needs at least one value"))
                    });
                }
                if values.len() > super::MAX_IN_VALUES {
                    let n = values.len();
                    self.invalid.get_or_insert_with(|| {
                        Invalid::Other(format!("`{subject} IN` takes at most 100 values, not {n}"))
                    });
                }
                out.push_str(" IN (");
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.value(value, || format!("a value `{subject}` may be IN"), out);
                }
                out.push(')');
            }
            Node::Function {
                name,
                path,
                argument,
            } => {
                let _ = write!(out, "{name}(");
                self.path(path, out);
                if let Some(argument) = argument {
                    out.push_str(", ");
                    self.value(
                        argument,
                        || format!("the argument of `{name}({path}, ..)`"),
                        out,
                    );
                }
                out.push(')');
            }
            Node::And(left, right) => self.binary(left, "AND", right, out),
            Node::Or(left, right) => self.binary(left, "OR", right, out),
            Node::Not(inner) => {
                out.push_str("NOT (");
                self.node(inner, out);
                out.push(')');
            }
        }
    }

    fn binary(&mut self, left: &Node, op: &str, right: &Node, out: &mut String) {
        out.push('(');
        self.node(left, out);
        let _ = write!(out, ") {op} (");
        self.node(right, out);
        out.push(')');
    }

    /// Writes the condition `expr`.
    pub(crate) fn expr(&mut self, expr: &Expr, out: &mut String) {
        self.node(&expr.0, out);
    }
}

/// Adds `names` and `values` to those of a request, refusing a placeholder
/// defined twice with two meanings.
pub(crate) fn merge(
    into_names: &mut HashMap<String, String>,
    into_values: &mut HashMap<String, AttributeValue>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
) -> std::result::Result<(), Invalid> {
    for (placeholder, name) in names {
        match into_names.get(&placeholder) {
            Some(existing) if *existing != name => {
                return Err(Invalid::Other(format!(
                    "the name placeholder `{placeholder}` stands for both `{existing}` and `{name}`"
                )))
            }
            _ => {
                into_names.insert(placeholder, name);
            }
        }
    }
    for (placeholder, value) in values {
        match into_values.get(&placeholder) {
            Some(existing) if *existing != value => {
                return Err(Invalid::Other(format!(
                    "the value placeholder `{placeholder}` is defined twice with two values"
                )))
            }
            _ => {
                into_values.insert(placeholder, value);
            }
        }
    }
    Ok(())
}

/// Refuses an expression longer than DynamoDB takes, before it is sent.
pub(crate) fn check_size(table: &str, kind: &'static str, expression: &str) -> Result<()> {
    if expression.len() > MAX_EXPRESSION_SIZE {
        return Err(Error::ExpressionTooLarge {
            table: table.to_owned(),
            expression: kind,
            size: expression.len(),
            limit: MAX_EXPRESSION_SIZE,
        });
    }
    Ok(())
}

/// An expression as a request takes it: a string with hand-written
/// placeholders (defined with the request's `name` and `value` methods), or
/// a typed [`Expr`]. Made by `From`, so that both are accepted where either
/// is.
///
/// ```
/// use dynago::expr::{attr, Expression};
///
/// let raw: Expression = "pk = :pk".into();
/// let typed: Expression = attr("pk").eq("user#1").into();
/// # let _ = (raw, typed);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Expression(pub(crate) ExpressionKind);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExpressionKind {
    Raw(String),
    Typed(Expr),
}

impl From<&str> for Expression {
    fn from(raw: &str) -> Self {
        Expression(ExpressionKind::Raw(raw.to_owned()))
    }
}

impl From<String> for Expression {
    fn from(raw: String) -> Self {
        Expression(ExpressionKind::Raw(raw))
    }
}

impl From<&String> for Expression {
    fn from(raw: &String) -> Self {
        Expression(ExpressionKind::Raw(raw.clone()))
    }
}

impl From<Expr> for Expression {
    fn from(expr: Expr) -> Self {
        Expression(ExpressionKind::Typed(expr))
    }
}

/// A projection as a query takes it: a string (`"pk, sk, #n"`, its
/// placeholders defined by hand) or typed paths, each name given its
/// placeholder.
///
/// ```
/// use dynago::expr::{attr, Projection};
///
/// let raw: Projection = "pk, sk".into();
/// let typed: Projection = [attr("name"), attr("address").field("city")].into();
/// # let _ = (raw, typed);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Projection(pub(crate) ProjectionKind);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ProjectionKind {
    Raw(String),
    Paths(Vec<Path>),
}

impl From<&str> for Projection {
    fn from(raw: &str) -> Self {
        Projection(ProjectionKind::Raw(raw.to_owned()))
    }
}

impl From<String> for Projection {
    fn from(raw: String) -> Self {
        Projection(ProjectionKind::Raw(raw))
    }
}

impl From<&String> for Projection {
    fn from(raw: &String) -> Self {
        Projection(ProjectionKind::Raw(raw.clone()))
    }
}

impl From<Vec<Path>> for Projection {
    fn from(paths: Vec<Path>) -> Self {
        Projection(ProjectionKind::Paths(paths))
    }
}

impl<const N: usize> From<[Path; N]> for Projection {
    fn from(paths: [Path; N]) -> Self {
        Projection(ProjectionKind::Paths(paths.into()))
    }
}

impl From<Path> for Projection {
    fn from(path: Path) -> Self {
        Projection(ProjectionKind::Paths(vec![path]))
    }
}

/// An expression compiled for a request: its text, with the names and
/// values its placeholders stand for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Compiled {
    pub(crate) text: String,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
    pub(crate) invalid: Option<Invalid>,
}

impl Compiled {
    /// Adds its names and values to a request's, noting the first reason
    /// why the request cannot be sent in `invalid`; returns its text.
    pub(crate) fn into_request(
        self,
        names: &mut HashMap<String, String>,
        values: &mut HashMap<String, AttributeValue>,
        invalid: &mut Option<Invalid>,
    ) -> String {
        if let Some(reason) = self.invalid {
            invalid.get_or_insert(reason);
        }
        if let Err(reason) = merge(names, values, self.names, self.values) {
            invalid.get_or_insert(reason);
        }
        self.text
    }
}

/// Refuses a request that cannot be sent: the reason found while it was
/// built, or an expression over 4 KB (`expressions`: each kind and text).
pub(crate) fn check_request<'a>(
    table: &str,
    invalid: Option<&Invalid>,
    expressions: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
) -> Result<()> {
    if let Some(invalid) = invalid {
        return Err(invalid.clone().into_error(table));
    }
    for (kind, text) in expressions {
        if let Some(text) = text {
            check_size(table, kind, text)?;
        }
    }
    Ok(())
}

impl Expression {
    /// Compiles with placeholders `#{prefix}n` and `:{prefix}n`.
    pub(crate) fn compile(self, prefix: &'static str) -> Compiled {
        match self.0 {
            ExpressionKind::Raw(text) => Compiled {
                text,
                ..Compiled::default()
            },
            ExpressionKind::Typed(expr) => compile_expr(&expr, prefix),
        }
    }
}

impl Projection {
    /// Compiles with placeholders `#{prefix}n`.
    pub(crate) fn compile(self, prefix: &'static str) -> Compiled {
        match self.0 {
            ProjectionKind::Raw(text) => Compiled {
                text,
                ..Compiled::default()
            },
            ProjectionKind::Paths(paths) => {
                let mut placeholders = Placeholders::new(prefix);
                let mut text = String::new();
                for (i, path) in paths.iter().enumerate() {
                    if i > 0 {
                        text.push_str(", ");
                    }
                    placeholders.path(path, &mut text);
                }
                if paths.is_empty() {
                    placeholders.invalid = Some(Invalid::Other(
                        "a projection needs at least one attribute".to_owned(),
                    ));
                }
                Compiled {
                    text,
                    names: placeholders.names,
                    values: placeholders.values,
                    invalid: placeholders.invalid,
                }
            }
        }
    }
}

/// Compiles a typed condition with placeholders `#{prefix}n` and `:{prefix}n`.
pub(crate) fn compile_expr(expr: &Expr, prefix: &'static str) -> Compiled {
    let mut placeholders = Placeholders::new(prefix);
    let mut text = String::new();
    placeholders.expr(expr, &mut text);
    Compiled {
        text,
        names: placeholders.names,
        values: placeholders.values,
        invalid: placeholders.invalid,
    }
}
