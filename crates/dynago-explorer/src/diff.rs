//! What an event changed in a state: the difference of two JSON values,
//! path by path.

use serde_json::Value;

/// One difference between two states, at `path` (`/balance`,
/// `/holder/name`, `/items/2`; the empty path is the whole state).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub(crate) path: String,
    pub(crate) before: Option<Value>,
    pub(crate) after: Option<Value>,
}

/// The changes that turn `before` into `after`: the members and elements
/// that differ, with the values on each side (none where one side lacks
/// it), in the order of the paths.
pub(crate) fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(&mut String::new(), before, after, &mut changes);
    changes
}

fn walk(path: &mut String, before: &Value, after: &Value, changes: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                within(path, &escape(name), old.get(name), new.get(name), changes);
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            for index in 0..old.len().max(new.len()) {
                within(
                    path,
                    &index.to_string(),
                    old.get(index),
                    new.get(index),
                    changes,
                );
            }
        }
        (old, new) if !same(old, new) => changes.push(Change {
            path: path.clone(),
            before: Some(old.clone()),
            after: Some(new.clone()),
        }),
        _ => {}
    }
}

fn within(
    path: &mut String,
    step: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    changes: &mut Vec<Change>,
) {
    let length = path.len();
    path.push('/');
    path.push_str(step);
    match (before, after) {
        (Some(old), Some(new)) => walk(path, old, new, changes),
        (old, new) => changes.push(Change {
            path: path.clone(),
            before: old.cloned(),
            after: new.cloned(),
        }),
    }
    path.truncate(length);
}

/// Whether two JSON values are the same value: numbers by what they are
/// worth, so that `2` read from DynamoDB (which keeps no float type) equals
/// the `2.0` a state serializes.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i128(), y.as_i128()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A member name as a JSON Pointer step (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.path.as_str()).collect()
    }

    #[test]
    fn equal_states_differ_nowhere() {
        let state = json!({ "balance": 5, "holder": { "name": "Ada" } });
        assert!(diff(&state, &state).is_empty());
    }

    #[test]
    fn changed_added_and_removed_members_are_named_by_their_paths() {
        let before = json!({ "balance": 5, "holder": { "name": "Ada" }, "gone": true });
        let after = json!({ "balance": 12, "holder": { "name": "Ada", "city": "Paris" } });
        let changes = diff(&before, &after);
        assert_eq!(paths(&changes), ["/balance", "/gone", "/holder/city"]);
        assert_eq!(changes[0].before, Some(json!(5)));
        assert_eq!(changes[0].after, Some(json!(12)));
        assert_eq!(changes[1].after, None);
        assert_eq!(changes[2].before, None);
    }

    #[test]
    fn numbers_are_compared_by_value() {
        assert!(diff(&json!({ "rate": 2 }), &json!({ "rate": 2.0 })).is_empty());
        assert!(same(&json!([1, 2.5]), &json!([1.0, 2.5])));
        assert!(!same(&json!(1), &json!(1.5)));
        assert!(!same(&json!(u64::MAX), &json!(u64::MAX - 1)));
    }

    #[test]
    fn arrays_differ_element_by_element() {
        let changes = diff(&json!([1, 2]), &json!([1, 3, 4]));
        assert_eq!(paths(&changes), ["/1", "/2"]);
    }

    #[test]
    fn a_value_of_another_kind_is_one_change_and_names_escape() {
        let changes = diff(&json!({ "a/b~": 1 }), &json!({ "a/b~": [1] }));
        assert_eq!(paths(&changes), ["/a~1b~0"]);
        assert_eq!(diff(&json!(1), &json!("1"))[0].path, "");
    }
}
