//! The typed update builder: SET, REMOVE, ADD and DELETE actions on paths,
//! compiled with generated placeholders, and how an update is combined with
//! a condition, an optimistic lock and a write id.

use std::collections::HashMap;
use std::fmt::Write as _;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::condition::{none_if_empty, WriteCondition, LOCK_VERSION};
use crate::error::{Error, Result};
use crate::expr::{check_size, merge, value_of, Invalid, Path, Placeholders, Value};
use crate::table::Table;
use crate::value::number_value;
use crate::write::WRITE_ID_ATTRIBUTE;

/// The actions of one update, each on a path; built with the methods below
/// and sent by [`Table::update_item`] or in a transaction
/// ([`transact::Update::of`](crate::transact::Update::of)).
///
/// Every name and value gets a generated placeholder (`#u0`, `:u0`, ...), so
/// reserved words and dotted names need no care. Paths are anything that
/// turns into a [`Path`]: a `&str` is one top-level attribute, as
/// [`attr`](crate::expr::attr) makes it.
///
/// ```
/// use dynago::expr::{attr, string_set};
/// use dynago::UpdateExpression;
///
/// let update = UpdateExpression::new()
///     .set("status", "open")
///     .set(attr("address").field("city"), "London")
///     .set_if_not_exists("opened_at", "2024-05-01")
///     .increment("logins", 1)
///     .append("history", ["logged in"])
///     .remove("reset_token")
///     .add("tags", string_set(["verified"]))
///     .delete("flags", string_set(["new"]));
/// assert_eq!(update.len(), 8);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct UpdateExpression {
    actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Set(Path, SetValue),
    Remove(Path),
    Add(Path, Value),
    Delete(Path, Value),
}

#[derive(Debug, Clone, PartialEq)]
enum SetValue {
    Value(Value),
    IfNotExists(Value),
    Append(Value),
    Prepend(Value),
    Plus(Value),
    Minus(Value),
}

impl UpdateExpression {
    /// An update with no action yet.
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// assert!(UpdateExpression::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// `SET path = value`.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new()
    ///     .set("status", "open")
    ///     .set(attr("address").field("city"), "London");
    /// # let _ = update;
    /// ```
    pub fn set(self, path: impl Into<Path>, value: impl Serialize) -> Self {
        self.push(Action::Set(path.into(), SetValue::Value(value_of(&value))))
    }

    /// `SET path = if_not_exists(path, value)`: sets the value only where
    /// the item has none.
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().set_if_not_exists("created_at", "2024-05-01");
    /// # let _ = update;
    /// ```
    pub fn set_if_not_exists(self, path: impl Into<Path>, value: impl Serialize) -> Self {
        self.push(Action::Set(
            path.into(),
            SetValue::IfNotExists(value_of(&value)),
        ))
    }

    /// `SET path = list_append(if_not_exists(path, []), list)`: adds the
    /// elements of `list` at the end of the list at `path` (made if missing).
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().append("history", ["logged in"]);
    /// # let _ = update;
    /// ```
    pub fn append(self, path: impl Into<Path>, list: impl Serialize) -> Self {
        self.push(Action::Set(path.into(), SetValue::Append(value_of(&list))))
    }

    /// `SET path = list_append(list, if_not_exists(path, []))`: adds the
    /// elements of `list` at the start of the list at `path`.
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().prepend("recent", ["newest"]);
    /// # let _ = update;
    /// ```
    pub fn prepend(self, path: impl Into<Path>, list: impl Serialize) -> Self {
        self.push(Action::Set(path.into(), SetValue::Prepend(value_of(&list))))
    }

    /// `SET path = if_not_exists(path, 0) + by`: an atomic counter, which
    /// starts from 0 where the item has none.
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().increment("views", 1);
    /// # let _ = update;
    /// ```
    pub fn increment<N: crate::Number>(self, path: impl Into<Path>, by: N) -> Self {
        self.push(Action::Set(
            path.into(),
            SetValue::Plus(Ok(number_value(by))),
        ))
    }

    /// `SET path = if_not_exists(path, 0) - by`.
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().decrement("stock", 2);
    /// # let _ = update;
    /// ```
    pub fn decrement<N: crate::Number>(self, path: impl Into<Path>, by: N) -> Self {
        self.push(Action::Set(
            path.into(),
            SetValue::Minus(Ok(number_value(by))),
        ))
    }

    /// `REMOVE path`: removes an attribute, a map's field or a list's element.
    ///
    /// ```
    /// use dynago::expr::attr;
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().remove("reset_token").remove(attr("tags").index(0));
    /// # let _ = update;
    /// ```
    pub fn remove(self, path: impl Into<Path>) -> Self {
        self.push(Action::Remove(path.into()))
    }

    /// `ADD path value`: adds a number to the number at `path` (0 if
    /// missing), or the members of a set (see
    /// [`string_set`](crate::expr::string_set)) to the set at `path`.
    ///
    /// ```
    /// use dynago::expr::string_set;
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().add("logins", 1).add("tags", string_set(["vip"]));
    /// # let _ = update;
    /// ```
    pub fn add(self, path: impl Into<Path>, value: impl Serialize) -> Self {
        self.push(Action::Add(path.into(), value_of(&value)))
    }

    /// `DELETE path set`: removes the members of `set` from the set at `path`.
    ///
    /// ```
    /// use dynago::expr::string_set;
    /// use dynago::UpdateExpression;
    /// let update = UpdateExpression::new().delete("tags", string_set(["trial"]));
    /// # let _ = update;
    /// ```
    pub fn delete(self, path: impl Into<Path>, set: impl Serialize) -> Self {
        self.push(Action::Delete(path.into(), value_of(&set)))
    }

    /// How many actions the update holds.
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// assert_eq!(UpdateExpression::new().set("a", 1).remove("b").len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the update holds no action.
    ///
    /// ```
    /// use dynago::UpdateExpression;
    /// assert!(!UpdateExpression::new().remove("b").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Whether an action of this update writes the top-level attribute `name`.
    fn touches(&self, name: &str) -> bool {
        self.actions.iter().any(|action| match action {
            Action::Set(path, _)
            | Action::Remove(path)
            | Action::Add(path, _)
            | Action::Delete(path, _) => path.attribute() == name,
        })
    }

    /// The update expression, with `extra` SET actions (already written with
    /// their own placeholders) after the builder's.
    fn compile(&self, extra: &[String]) -> (String, Placeholders) {
        let mut p = Placeholders::new("u");
        let mut clauses: [(&str, Vec<String>); 4] = [
            ("SET", Vec::new()),
            ("REMOVE", Vec::new()),
            ("ADD", Vec::new()),
            ("DELETE", Vec::new()),
        ];
        for action in &self.actions {
            let mut out = String::new();
            let clause = match action {
                Action::Set(path, value) => {
                    let mut target = String::new();
                    p.path(path, &mut target);
                    let what = || format!("the value set at `{path}`");
                    out.push_str(&target);
                    out.push_str(" = ");
                    match value {
                        SetValue::Value(v) => p.value(v, what, &mut out),
                        SetValue::IfNotExists(v) => {
                            let _ = write!(out, "if_not_exists({target}, ");
                            p.value(v, what, &mut out);
                            out.push(')');
                        }
                        SetValue::Append(v) => {
                            let _ = write!(out, "list_append(if_not_exists({target}, ");
                            p.value(&Ok(AttributeValue::L(Vec::new())), String::new, &mut out);
                            out.push_str("), ");
                            p.value(v, what, &mut out);
                            out.push(')');
                        }
                        SetValue::Prepend(v) => {
                            out.push_str("list_append(");
                            p.value(v, what, &mut out);
                            let _ = write!(out, ", if_not_exists({target}, ");
                            p.value(&Ok(AttributeValue::L(Vec::new())), String::new, &mut out);
                            out.push_str("))");
                        }
                        SetValue::Plus(v) | SetValue::Minus(v) => {
                            let _ = write!(out, "if_not_exists({target}, ");
                            p.value(&Ok(number_value(0)), String::new, &mut out);
                            out.push_str(if matches!(value, SetValue::Plus(_)) {
                                ") + "
                            } else {
                                ") - "
                            });
                            p.value(v, what, &mut out);
                        }
                    }
                    0
                }
                Action::Remove(path) => {
                    p.path(path, &mut out);
                    1
                }
                Action::Add(path, v) => {
                    p.path(path, &mut out);
                    out.push(' ');
                    p.value(v, || format!("the value added at `{path}`"), &mut out);
                    2
                }
                Action::Delete(path, v) => {
                    p.path(path, &mut out);
                    out.push(' ');
                    p.value(v, || format!("the set deleted from `{path}`"), &mut out);
                    3
                }
            };
            clauses[clause].1.push(out);
        }
        clauses[0].1.extend(extra.iter().cloned());
        let text = clauses
            .iter()
            .filter(|(_, actions)| !actions.is_empty())
            .map(|(clause, actions)| format!("{clause} {}", actions.join(", ")))
            .collect::<Vec<_>>()
            .join(" ");
        (text, p)
    }
}

/// The placeholders of the write id.
const WRITE_ID_NAME: &str = "#dynago_wid";
const WRITE_ID_VALUE: &str = ":dynago_wid";
/// The value placeholder of the version a locked update stores.
const LOCK_NEXT: &str = ":dynago_next";

/// An update ready for the SDK.
#[derive(Debug)]
pub(crate) struct PreparedUpdate {
    pub(crate) update: String,
    pub(crate) condition: Option<String>,
    pub(crate) names: Option<HashMap<String, String>>,
    pub(crate) values: Option<HashMap<String, AttributeValue>>,
}

/// Combines `update` with the lock and the free condition of `condition`
/// and, if given, a write id: the lock's version is checked and bumped in
/// the same request, the write id set, and a send that finds its own write
/// id refused (by the lock, whose version moved, or by a condition on the
/// write id), so that a resend never applies twice.
pub(crate) fn prepare(
    table: &Table,
    update: &UpdateExpression,
    condition: &WriteCondition,
    write_id: Option<&str>,
) -> Result<PreparedUpdate> {
    let invalid = |reason: String| Error::InvalidExpression {
        table: table.name().to_owned(),
        reason,
    };
    let mut extra = Vec::new();
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    if let Some(lock) = &condition.lock {
        if update.touches(lock.attribute()) {
            return Err(invalid(format!(
                "the update writes `{}`, the version attribute of its optimistic lock, which the lock sets itself",
                lock.attribute()
            )));
        }
        extra.push(format!("{LOCK_VERSION} = {LOCK_NEXT}"));
        names.insert(LOCK_VERSION.to_owned(), lock.attribute().to_owned());
        values.insert(
            LOCK_NEXT.to_owned(),
            number_value(lock.next_checked(table.name())?),
        );
    }
    if let Some(id) = write_id {
        if update.touches(WRITE_ID_ATTRIBUTE) {
            return Err(invalid(format!(
                "the update writes `{WRITE_ID_ATTRIBUTE}`, which holds its write id"
            )));
        }
        extra.push(format!("{WRITE_ID_NAME} = {WRITE_ID_VALUE}"));
        names.insert(WRITE_ID_NAME.to_owned(), WRITE_ID_ATTRIBUTE.to_owned());
        values.insert(WRITE_ID_VALUE.to_owned(), AttributeValue::S(id.to_owned()));
    }
    if update.is_empty() {
        return Err(invalid("an update needs at least one action".to_owned()));
    }
    for key in std::iter::once(table.partition_key()).chain(table.sort_key()) {
        if update.touches(key) {
            return Err(invalid(format!(
                "the update writes `{key}`, an attribute of the table's key, which DynamoDB does not update"
            )));
        }
    }
    let (text, placeholders) = update.compile(&extra);
    if let Some(invalid) = placeholders.invalid {
        return Err(invalid.into_error(table.name()));
    }
    let mut condition_text = match condition.compile(table.partition_key()) {
        Some(c) => {
            let c = c.checked(table)?;
            merge(&mut names, &mut values, c.names, c.values)
                .map_err(|e| e.into_error(table.name()))?;
            Some(c.expression)
        }
        None => None,
    };
    // A resend finds its own write id: under a lock, the version it checks
    // has moved already; without one, this guard refuses it.
    if write_id.is_some() && condition.lock.is_none() {
        let guard = format!(
            "(attribute_not_exists({WRITE_ID_NAME}) OR {WRITE_ID_NAME} <> {WRITE_ID_VALUE})"
        );
        condition_text = Some(match condition_text {
            Some(c) => format!("({c}) AND {guard}"),
            None => guard,
        });
    }
    merge(
        &mut names,
        &mut values,
        placeholders.names,
        placeholders.values,
    )
    .map_err(|e: Invalid| e.into_error(table.name()))?;
    check_size(table.name(), "UpdateExpression", &text)?;
    if let Some(c) = &condition_text {
        check_size(table.name(), "ConditionExpression", c)?;
    }
    Ok(PreparedUpdate {
        update: text,
        condition: condition_text,
        names: none_if_empty(names),
        values: none_if_empty(values),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{attr, string_set};

    #[test]
    fn clauses_group_and_placeholders_are_shared() {
        let update = UpdateExpression::new()
            .set("status", "open")
            .remove(attr("status").field("old"))
            .increment("count", 2)
            .add("tags", string_set(["x"]))
            .append(attr("a.b"), [1])
            .delete("tags", string_set(["y"]));
        let (text, p) = update.compile(&["#x = :x".to_owned()]);
        assert_eq!(
            text,
            "SET #u0 = :u0, #u2 = if_not_exists(#u2, :u1) + :u2, \
             #u4 = list_append(if_not_exists(#u4, :u4), :u5), #x = :x \
             REMOVE #u0.#u1 ADD #u3 :u3 DELETE #u3 :u6"
        );
        assert_eq!(p.names["#u1"], "old");
        assert_eq!(p.names["#u4"], "a.b");
        assert_eq!(p.values[":u1"], AttributeValue::N("0".into()));
        assert!(p.invalid.is_none());
    }
}
