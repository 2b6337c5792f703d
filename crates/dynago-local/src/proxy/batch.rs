//! Batches answered in part ([`FaultPlan::unprocessed`](crate::FaultPlan::unprocessed)):
//! the request split, the held-back part added to the answer.

use hyper::body::Bytes;

/// A batch request split by [`FaultPlan::unprocessed`](crate::FaultPlan::unprocessed): the body to
/// forward, and per table what was held back.
#[derive(Debug, PartialEq)]
pub(super) struct Split {
    pub(super) forward: Bytes,
    /// `UnprocessedKeys` (a table's `KeysAndAttributes`) or
    /// `UnprocessedItems` (a table's writes), by table.
    pub(super) held_back: serde_json::Map<String, serde_json::Value>,
    pub(super) count: u64,
}

/// Holds back the keys or writes at odd positions of each table of the
/// batch request `body` of `operation`; `None` when there is nothing to
/// hold back (not a batch, not JSON, one key a table).
pub(super) fn split_batch(operation: Option<&str>, body: &[u8]) -> Option<Split> {
    let get = match operation? {
        "BatchGetItem" => true,
        "BatchWriteItem" => false,
        _ => return None,
    };
    let mut request: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    let tables = request.get_mut("RequestItems")?.as_object_mut()?;
    let mut held_back = serde_json::Map::new();
    let mut count = 0;
    for (table, requests) in tables.iter_mut() {
        let list = if get {
            requests
                .get_mut("Keys")
                .and_then(serde_json::Value::as_array_mut)
        } else {
            requests.as_array_mut()
        };
        let Some(list) = list else { continue };
        let (kept, held): (Vec<_>, Vec<_>) = std::mem::take(list)
            .into_iter()
            .enumerate()
            .partition(|(index, _)| index % 2 == 0);
        list.extend(kept.into_iter().map(|(_, value)| value));
        if held.is_empty() {
            continue;
        }
        count += held.len() as u64;
        let held: Vec<serde_json::Value> = held.into_iter().map(|(_, value)| value).collect();
        let entry = if get {
            // The keys with the table's other members (ConsistentRead,
            // ProjectionExpression, ...), as DynamoDB gives them back.
            let mut keys_and_attributes = requests.as_object().cloned().unwrap_or_default();
            keys_and_attributes.insert("Keys".into(), serde_json::Value::Array(held));
            serde_json::Value::Object(keys_and_attributes)
        } else {
            serde_json::Value::Array(held)
        };
        held_back.insert(table.clone(), entry);
    }
    if count == 0 {
        return None;
    }
    let forward = serde_json::to_vec(&request).ok()?;
    Some(Split {
        forward: Bytes::from(forward),
        held_back,
        count,
    })
}

/// The batch answer `body` with `held_back` added to its unprocessed keys
/// or items (`None` when the answer is not a JSON object).
pub(super) fn add_unprocessed(
    operation: Option<&str>,
    body: &[u8],
    held_back: serde_json::Map<String, serde_json::Value>,
) -> Option<Bytes> {
    let get = operation == Some("BatchGetItem");
    let member = if get {
        "UnprocessedKeys"
    } else {
        "UnprocessedItems"
    };
    let mut answer: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    let unprocessed = answer
        .entry(member)
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if !unprocessed.is_object() {
        *unprocessed = serde_json::Value::Object(serde_json::Map::new());
    }
    let unprocessed = unprocessed.as_object_mut()?;
    for (table, held) in held_back {
        match unprocessed.get_mut(&table) {
            // DynamoDB left some of this table's too: add ours.
            Some(existing) => {
                let list = if get {
                    existing
                        .get_mut("Keys")
                        .and_then(serde_json::Value::as_array_mut)
                } else {
                    existing.as_array_mut()
                };
                let held = if get {
                    held.get("Keys").cloned()
                } else {
                    Some(held)
                };
                if let (Some(list), Some(serde_json::Value::Array(held))) = (list, held) {
                    list.extend(held);
                }
            }
            None => {
                unprocessed.insert(table, held);
            }
        }
    }
    serde_json::to_vec(&answer).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_split_at_odd_positions_and_merged_into_the_answer() {
        let body = br#"{"RequestItems":{"a":{"Keys":[{"pk":{"S":"0"}},{"pk":{"S":"1"}},{"pk":{"S":"2"}}],"ConsistentRead":true},"b":{"Keys":[{"pk":{"S":"only"}}]}}}"#;
        let split = split_batch(Some("BatchGetItem"), body).expect("a split");
        assert_eq!(split.count, 1);
        let forward: serde_json::Value = serde_json::from_slice(&split.forward).expect("json");
        assert_eq!(
            forward["RequestItems"]["a"]["Keys"],
            serde_json::json!([{"pk":{"S":"0"}},{"pk":{"S":"2"}}])
        );
        assert_eq!(forward["RequestItems"]["a"]["ConsistentRead"], true);
        assert_eq!(forward["RequestItems"]["b"]["Keys"][0]["pk"]["S"], "only");
        assert_eq!(
            serde_json::Value::Object(split.held_back.clone()),
            serde_json::json!({"a":{"Keys":[{"pk":{"S":"1"}}],"ConsistentRead":true}})
        );
        // DynamoDB left one of its own: both are listed.
        let answer = br#"{"Responses":{"a":[]},"UnprocessedKeys":{"a":{"Keys":[{"pk":{"S":"2"}}],"ConsistentRead":true}}}"#;
        let merged =
            add_unprocessed(Some("BatchGetItem"), answer, split.held_back).expect("a JSON answer");
        let merged: serde_json::Value = serde_json::from_slice(&merged).expect("json");
        assert_eq!(
            merged["UnprocessedKeys"]["a"]["Keys"],
            serde_json::json!([{"pk":{"S":"2"}},{"pk":{"S":"1"}}])
        );

        let body = br#"{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"0"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"1"}}}}]}}"#;
        let split = split_batch(Some("BatchWriteItem"), body).expect("a split");
        let merged =
            add_unprocessed(Some("BatchWriteItem"), b"{}", split.held_back).expect("a JSON answer");
        let merged: serde_json::Value = serde_json::from_slice(&merged).expect("json");
        assert_eq!(
            merged,
            serde_json::json!({"UnprocessedItems":{"t":[{"DeleteRequest":{"Key":{"pk":{"S":"1"}}}}]}})
        );
        // Nothing to hold back.
        assert_eq!(
            split_batch(
                Some("BatchWriteItem"),
                br#"{"RequestItems":{"t":[{"PutRequest":{}}]}}"#
            ),
            None
        );
        assert_eq!(split_batch(Some("PutItem"), body), None);
        assert_eq!(split_batch(Some("BatchWriteItem"), b"not json"), None);
    }
}
