//! Where each item of the store lives: partition and sort key values.
//!
//! | item | partition key | sort key |
//! |---|---|---|
//! | commit (its events) | `{type}#{id}` | `e#{first version, 20 digits}` |
//! | snapshot | `{type}#{id}` | `snapshot` |
//! | command record | `cmd#{type}#{command id}` | `command` |
//!
//! Zero-padded versions sort as numbers, so a range query reads events in
//! order; `e#…` < `snapshot` keeps the events of a partition together.

use dynago::{string_value, Key};

use crate::id::{AggregateId, CommandId};

pub(crate) const SNAPSHOT: &str = "snapshot";
pub(crate) const COMMAND: &str = "command";

/// The partition key prefix of command records.
const COMMAND_PREFIX: &str = "cmd";

/// The attributes the store writes beside the keys, in its events,
/// snapshots and command records. A table whose key attribute bears one of
/// these names cannot hold the store's items (the attribute would be both
/// the key and a value): [`EventStore::new`](crate::EventStore::new)
/// refuses it.
pub const STORE_ATTRIBUTES: [&str; 23] = [
    // Events.
    "aggregate_type",
    "aggregate_id",
    "version",
    "event_id",
    "event_type",
    "schema_version",
    "timestamp",
    "metadata",
    "commit_id",
    "payload",
    "payload_json",
    "next_events",
    "last_version",
    // Snapshots.
    "state_version",
    "taken_at",
    "state",
    // Command records.
    "command_id",
    "results",
    "fingerprint",
    "recorded_at",
    "expires_at",
    "reserved",
    // Written by the table layer's conditional puts, where asked for.
    dynago::WRITE_ID_ATTRIBUTE,
];

/// Refuses key attribute names that the store also writes as values.
pub(crate) fn check_key_names(table: &str, keys: &[&str]) -> Result<(), String> {
    match keys.iter().find(|key| STORE_ATTRIBUTES.contains(key)) {
        Some(key) => Err(format!(
            "table `{table}` has the key attribute `{key}`, a name the event store writes as an attribute of its items (keys::STORE_ATTRIBUTES lists them); name the table's keys otherwise, such as `pk` and `sk`"
        )),
        None => Ok(()),
    }
}

/// Refuses an aggregate type that would make two streams share keys: an
/// empty one, one holding the separator `#` (the type `a#b` with the id `c`
/// and the type `a` with the id `b#c` would both be `a#b#c`), or the prefix
/// of command records. Ids need no such rule: the type ends at the first `#`.
pub(crate) fn check_aggregate_type(aggregate_type: &str) -> Result<(), String> {
    if aggregate_type.is_empty() {
        return Err("the aggregate type (Aggregate::TYPE) is empty".to_owned());
    }
    if aggregate_type.contains('#') {
        return Err(format!(
            "the aggregate type `{aggregate_type}` holds `#`, which separates the type from the id in the keys of its items"
        ));
    }
    if aggregate_type == COMMAND_PREFIX {
        return Err(format!(
            "the aggregate type `{COMMAND_PREFIX}` is the prefix of the store's command records"
        ));
    }
    Ok(())
}

/// The partition of an aggregate: `{type}#{id}`.
pub(crate) fn stream(aggregate_type: &str, id: &AggregateId) -> String {
    let id = id.as_str();
    let mut stream = String::with_capacity(aggregate_type.len() + 1 + id.len());
    stream.push_str(aggregate_type);
    stream.push('#');
    stream.push_str(id);
    stream
}

/// The sort key of event `version`: `e#` and 20 digits.
pub(crate) fn event_sort(version: u64) -> String {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(version);
    let mut sort = String::with_capacity(22);
    sort.push_str("e#");
    sort.extend(std::iter::repeat_n('0', 20 - digits.len()));
    sort.push_str(digits);
    sort
}

/// The version of an event sort key (`e#` and exactly 20 digits).
pub(crate) fn parse_event_sort(sort: &str) -> Option<u64> {
    let digits = sort.strip_prefix("e#")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn event(aggregate_type: &str, id: &AggregateId, version: u64) -> Key {
    Key::new(string_value(stream(aggregate_type, id))).sort(string_value(event_sort(version)))
}

pub(crate) fn snapshot(aggregate_type: &str, id: &AggregateId) -> Key {
    Key::new(string_value(stream(aggregate_type, id))).sort(string_value(SNAPSHOT))
}

pub(crate) fn command(aggregate_type: &str, id: &CommandId) -> Key {
    Key::new(string_value(format!(
        "{COMMAND_PREFIX}#{aggregate_type}#{id}"
    )))
    .sort(string_value(COMMAND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_by_version_and_before_the_snapshot() {
        let mut keys = vec![
            event_sort(10),
            event_sort(9),
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
                SNAPSHOT.to_owned()
            ]
        );
        assert_eq!(event_sort(u64::MAX).len(), 22);
        for version in [0, 1, 9, 10, 12_345, u64::MAX / 7, u64::MAX] {
            assert_eq!(event_sort(version), format!("e#{version:020}"));
        }
    }

    #[test]
    fn aggregate_types_that_would_share_keys_are_refused() {
        assert!(check_aggregate_type("account").is_ok());
        assert!(check_aggregate_type("bank-account_v2").is_ok());
        for bad in ["", "a#b", "#", "cmd"] {
            assert!(check_aggregate_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn event_sort_keys_parse_back() {
        for version in [0, 1, 7, 1_000_000, u64::MAX] {
            assert_eq!(parse_event_sort(&event_sort(version)), Some(version));
        }
        for bad in [
            "",
            "e#",
            "e#1",
            "snapshot",
            "e#0000000000000000000x",
            "e#000000000000000000001",
            "e#+0000000000000000001",
            "e#99999999999999999999",
            "E#00000000000000000001",
            "e#０0000000000000000001",
        ] {
            assert_eq!(parse_event_sort(bad), None, "{bad}");
        }
    }
}
