//! The values of expressions: anything serde serializes, and the values
//! serde cannot tell apart (sets, attribute values as they are).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::error::Error;
use crate::item::to_attribute_value;

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

/// A value that serializes as a string set (`SS`), a number set (`NS`) or
/// as the attribute value it holds: for the values serde cannot tell
/// (`ADD` and `DELETE` take sets), made by [`string_set`], [`number_set`] and
/// [`raw`].
#[derive(Debug, Clone, PartialEq)]
///
/// ```
/// use dynago::expr::{attr, Raw};
/// use dynago::AttributeValue;
/// let expr = attr("flags").contains(Raw(AttributeValue::S("new".into())));
/// # let _ = expr;
/// ```
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
