//! Where each item of the store lives: partition and sort key values.
//!
//! | item | partition key | sort key |
//! |---|---|---|
//! | event | `{type}#{id}` | `e#{version, 20 digits}` |
//! | stream head | `{type}#{id}` | `head` |
//! | snapshot | `{type}#{id}` | `snapshot` |
//! | command record | `cmd#{type}#{command id}` | `command` |
//!
//! Zero-padded versions sort as numbers, so a range query reads events in
//! order; `e#…` < `head` < `snapshot` keeps the events of a partition together.

use dynago::{string_value, Key};

use crate::id::{AggregateId, CommandId};

pub(crate) const HEAD: &str = "head";
pub(crate) const SNAPSHOT: &str = "snapshot";
pub(crate) const COMMAND: &str = "command";

/// The partition of an aggregate: `{type}#{id}`.
pub(crate) fn stream(aggregate_type: &str, id: &AggregateId) -> String {
    format!("{aggregate_type}#{id}")
}

/// The sort key of event `version`.
pub(crate) fn event_sort(version: u64) -> String {
    format!("e#{version:020}")
}

pub(crate) fn event(aggregate_type: &str, id: &AggregateId, version: u64) -> Key {
    Key::new(string_value(stream(aggregate_type, id))).sort(string_value(event_sort(version)))
}

pub(crate) fn head(aggregate_type: &str, id: &AggregateId) -> Key {
    Key::new(string_value(stream(aggregate_type, id))).sort(string_value(HEAD))
}

pub(crate) fn snapshot(aggregate_type: &str, id: &AggregateId) -> Key {
    Key::new(string_value(stream(aggregate_type, id))).sort(string_value(SNAPSHOT))
}

pub(crate) fn command(aggregate_type: &str, id: &CommandId) -> Key {
    Key::new(string_value(format!("cmd#{aggregate_type}#{id}"))).sort(string_value(COMMAND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_by_version_and_before_head() {
        let mut keys = vec![
            event_sort(10),
            event_sort(9),
            HEAD.to_owned(),
            SNAPSHOT.to_owned(),
            event_sort(100),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                event_sort(9),
                event_sort(10),
                event_sort(100),
                HEAD.to_owned(),
                SNAPSHOT.to_owned()
            ]
        );
        assert_eq!(event_sort(u64::MAX).len(), 22);
    }
}
