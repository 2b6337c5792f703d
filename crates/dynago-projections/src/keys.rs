//! Where a projection's items live in the view table.
//!
//! Every item of a projection has the partition key `{projection name}`;
//! the sort key says what it is:
//!
//! | item | sort key |
//! |---|---|
//! | the view of an aggregate ([`ViewKind::PerAggregate`](crate::ViewKind)) | `a#{aggregate id}` |
//! | a view under a key ([`ViewKind::Keyed`](crate::ViewKind)) | `k#{view key}` |
//! | the position of a source aggregate in keyed views | `p#{aggregate id}` |
//! | the lease and checkpoint of a stream shard | `l#{shard id}` |
//! | a parked event | `x#{aggregate id}#{version, 20 digits}` |
//! | the fence a reset puts up while it deletes | `reset` |
//!
//! One partition per projection lets its views be listed in pages by one
//! query, and a reset find everything it must delete.

use dynago::{string_value, Key, Query, Table};
use dynago_es::AggregateId;

pub(crate) const AGGREGATE_VIEW: &str = "a#";
pub(crate) const KEYED_VIEW: &str = "k#";
pub(crate) const POSITION: &str = "p#";
pub(crate) const LEASE: &str = "l#";
pub(crate) const PARKED: &str = "x#";
/// The sort key of the fence of a reset: while it stands, no worker or
/// Lambda batch writes the projection.
pub(crate) const FENCE: &str = "reset";

/// Refuses a projection name that would share or break keys.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the projection's name (Projection::NAME) is empty".into());
    }
    if name.contains('#') {
        return Err(format!("the projection name `{name}` holds `#`"));
    }
    Ok(())
}

/// Every item of `projection` whose sort key begins with `prefix`, read
/// strongly (a query of its partition; page it yourself or stream it).
pub(crate) fn under(table: &Table, projection: &str, prefix: &str) -> Query {
    table
        .query("#pk = :pk AND begins_with(#sk, :prefix)")
        .name("#pk", table.partition_key())
        .name("#sk", table.sort_key().unwrap_or_default().to_owned())
        .value(":pk", string_value(projection))
        .value(":prefix", string_value(prefix))
        .consistent_read(true)
}

pub(crate) fn key(projection: &str, sort: String) -> Key {
    Key::new(string_value(projection)).sort(string_value(sort))
}

pub(crate) fn aggregate_view(id: &AggregateId) -> String {
    format!("{AGGREGATE_VIEW}{id}")
}

pub(crate) fn keyed_view(key: &str) -> String {
    format!("{KEYED_VIEW}{key}")
}

pub(crate) fn position(id: &AggregateId) -> String {
    format!("{POSITION}{id}")
}

pub(crate) fn lease(shard: &str) -> String {
    format!("{LEASE}{shard}")
}

pub(crate) fn parked(id: &AggregateId, version: u64) -> String {
    format!("{PARKED}{id}#{version:020}")
}

/// The prefix of the sort keys of `id`'s parked events (and of those of
/// the aggregates whose id begins with `id#`).
pub(crate) fn parked_prefix(id: &AggregateId) -> String {
    format!("{PARKED}{id}#")
}

/// The aggregate and version of a parked event's sort key.
pub(crate) fn parse_parked(sort: &str) -> Option<(AggregateId, u64)> {
    let rest = sort.strip_prefix(PARKED)?;
    let (id, version) = rest.rsplit_once('#')?;
    if version.len() != 20 {
        return None;
    }
    Some((AggregateId::new(id), version.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_keys_parse_back_even_with_separators_in_the_id() {
        for id in ["acc-1", "a#b", "#"] {
            let id = AggregateId::new(id);
            assert_eq!(parse_parked(&parked(&id, 42)), Some((id, 42)));
        }
        assert_eq!(parse_parked("x#acc-1#12"), None);
        assert_eq!(parse_parked("a#acc-1"), None);
    }

    #[test]
    fn names_that_would_break_keys_are_refused() {
        assert!(check_name("accounts").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a#b").is_err());
    }
}
