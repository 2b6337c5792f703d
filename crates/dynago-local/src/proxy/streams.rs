//! DynamoDB Streams situations that no emulator produces, made from the
//! real server's answers: records of one read out of order, and shards
//! split from a closed parent that must be read first.

use hyper::body::Bytes;

/// The suffix of the synthetic parent of a shard.
pub(super) const PARENT_SUFFIX: &str = "-closed-parent";

/// The prefix of the iterators the proxy hands out for synthetic parents.
const PARENT_ITERATOR: &str = "dynago-closed-parent:";

fn json(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

fn bytes(value: &serde_json::Value) -> Option<Bytes> {
    serde_json::to_vec(value).ok().map(Bytes::from)
}

/// The proxy's own answer to a request for a synthetic parent shard: an
/// iterator on it, then no record and no next iterator (a closed shard
/// read to its end). `None` for any other request.
pub(super) fn parent_answer(operation: Option<&str>, body: &[u8]) -> Option<Bytes> {
    let request = json(body)?;
    match operation? {
        "GetShardIterator" => {
            let shard = request.get("ShardId")?.as_str()?;
            shard.ends_with(PARENT_SUFFIX).then(|| {
                bytes(&serde_json::json!({ "ShardIterator": format!("{PARENT_ITERATOR}{shard}") }))
            })?
        }
        "GetRecords" => {
            let iterator = request.get("ShardIterator")?.as_str()?;
            iterator
                .starts_with(PARENT_ITERATOR)
                .then(|| bytes(&serde_json::json!({ "Records": [] })))?
        }
        _ => None,
    }
}

/// A `DescribeStream` answer in which every shard without a parent has
/// one: a closed shard `{id}-closed-parent`, listed before it, as after a
/// split.
pub(super) fn add_parents(body: &[u8]) -> Option<Bytes> {
    let mut answer = json(body)?;
    let shards = answer
        .get_mut("StreamDescription")?
        .get_mut("Shards")?
        .as_array_mut()?;
    let mut with_parents = Vec::with_capacity(shards.len() * 2);
    for mut shard in shards.drain(..) {
        let orphan = shard.get("ParentShardId").is_none();
        let id = shard
            .get("ShardId")
            .and_then(|id| id.as_str())
            .map(str::to_owned);
        if let (true, Some(id)) = (orphan, id) {
            let parent = format!("{id}{PARENT_SUFFIX}");
            with_parents.push(serde_json::json!({
                "ShardId": parent,
                "SequenceNumberRange": {
                    "StartingSequenceNumber": "0",
                    "EndingSequenceNumber": "0"
                }
            }));
            if let Some(fields) = shard.as_object_mut() {
                fields.insert("ParentShardId".into(), parent.into());
            }
        }
        with_parents.push(shard);
    }
    *shards = with_parents;
    bytes(&answer)
}

/// A `GetRecords` answer with its records in an order drawn from `seed`:
/// the records of one item, or of one transaction, no longer in the order
/// they were written.
pub(super) fn shuffle_records(body: &[u8], seed: u64) -> Option<Bytes> {
    let mut answer = json(body)?;
    let records = answer.get_mut("Records")?.as_array_mut()?;
    fastrand::Rng::with_seed(seed).shuffle(records);
    bytes(&answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_orphan_shard_gets_a_closed_parent_served_by_the_proxy() {
        let answer = serde_json::json!({"StreamDescription": {"Shards": [
            {"ShardId": "s1", "SequenceNumberRange": {"StartingSequenceNumber": "1"}},
            {"ShardId": "s2", "ParentShardId": "s1"}
        ]}});
        let patched = add_parents(&serde_json::to_vec(&answer).expect("json")).expect("patched");
        let patched: serde_json::Value = serde_json::from_slice(&patched).expect("json");
        let ids: Vec<_> = patched["StreamDescription"]["Shards"]
            .as_array()
            .expect("shards")
            .iter()
            .map(|s| {
                (
                    s["ShardId"].as_str().map(str::to_owned),
                    s["ParentShardId"].as_str().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                (Some("s1-closed-parent".into()), None),
                (Some("s1".into()), Some("s1-closed-parent".into())),
                (Some("s2".into()), Some("s1".into())),
            ]
        );
        let iterator = parent_answer(
            Some("GetShardIterator"),
            br#"{"ShardId":"s1-closed-parent"}"#,
        )
        .expect("an iterator");
        let iterator: serde_json::Value = serde_json::from_slice(&iterator).expect("json");
        let request = serde_json::json!({"ShardIterator": iterator["ShardIterator"]});
        let records = parent_answer(
            Some("GetRecords"),
            &serde_json::to_vec(&request).expect("json"),
        )
        .expect("records");
        assert_eq!(&records[..], br#"{"Records":[]}"#);
        assert!(parent_answer(Some("GetShardIterator"), br#"{"ShardId":"s1"}"#).is_none());
        assert!(parent_answer(Some("GetRecords"), br#"{"ShardIterator":"real"}"#).is_none());
    }

    #[test]
    fn shuffled_records_are_the_same_records() {
        let answer =
            serde_json::json!({"Records": (0..20).collect::<Vec<_>>(), "NextShardIterator": "x"});
        let shuffled =
            shuffle_records(&serde_json::to_vec(&answer).expect("json"), 3).expect("shuffled");
        let shuffled: serde_json::Value = serde_json::from_slice(&shuffled).expect("json");
        let mut records: Vec<i64> = shuffled["Records"]
            .as_array()
            .expect("records")
            .iter()
            .filter_map(serde_json::Value::as_i64)
            .collect();
        assert_ne!(
            records,
            (0..20).collect::<Vec<_>>(),
            "a shuffle of 20 moves something"
        );
        records.sort_unstable();
        assert_eq!(records, (0..20).collect::<Vec<_>>());
        assert_eq!(shuffled["NextShardIterator"], "x");
    }
}
