//! The IAM permissions a request asks for: each action on each resource
//! DynamoDB authorizes it as, read from the request's body.

use std::collections::HashMap;
use std::fmt;

/// One IAM permission a request asked for: an action (`dynamodb:PutItem`)
/// on a resource. A [`FaultProxy`](crate::FaultProxy) lists those of every
/// request it received ([`FaultProxy::permissions`](crate::FaultProxy::permissions)),
/// so that a test can hold the calls a program makes against the IAM
/// policy written for it.
///
/// A transaction asks for the actions of its items (`PutItem`,
/// `UpdateItem`, `DeleteItem`, `ConditionCheckItem`, `GetItem`) on their
/// tables, as DynamoDB authorizes it; a batch asks for `BatchWriteItem` or
/// `BatchGetItem` on each table it names.
///
/// ```
/// use dynago_local::{Permission, Resource};
///
/// let permission = Permission {
///     action: "dynamodb:PutItem".into(),
///     resource: Resource::Table("ledger".into()),
/// };
/// assert_eq!(
///     permission.resource.arn("eu-west-1", "123456789012"),
///     "arn:aws:dynamodb:eu-west-1:123456789012:table/ledger"
/// );
/// assert_eq!(permission.to_string(), "dynamodb:PutItem on table/ledger");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// The IAM action, with its service prefix: `dynamodb:Query`.
    pub action: String,
    /// What it is asked on.
    pub resource: Resource,
}

/// The resource of a [`Permission`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// A table, by name.
    Table(String),
    /// An index of a table (a `Query` or `Scan` with `IndexName`).
    Index {
        /// The table.
        table: String,
        /// The index.
        index: String,
    },
    /// A table's stream; `label` is the stream's label (the last part of
    /// its ARN), as the server named it.
    Stream {
        /// The table whose stream it is.
        table: String,
        /// The stream's label.
        label: String,
    },
    /// Every resource (`*`): `ListTables`, `ListStreams`.
    All,
    /// A request whose resource could not be read (a body that is not
    /// DynamoDB's JSON, a `GetRecords` on an iterator this proxy did not
    /// hand out): no policy allows it, so a test sees it.
    Unknown,
}

impl Resource {
    /// The resource's ARN in `region` and `account` (`*` for
    /// [`Resource::All`]; an ARN no policy names for [`Resource::Unknown`]).
    pub fn arn(&self, region: &str, account: &str) -> String {
        let table = |name: &str| format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
        match self {
            Resource::Table(name) => table(name),
            Resource::Index { table: name, index } => format!("{}/index/{index}", table(name)),
            Resource::Stream { table: name, label } => format!("{}/stream/{label}", table(name)),
            Resource::All => "*".to_owned(),
            Resource::Unknown => format!("arn:aws:dynamodb:{region}:{account}:unknown"),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Table(name) => write!(f, "table/{name}"),
            Resource::Index { table, index } => write!(f, "table/{table}/index/{index}"),
            Resource::Stream { table, label } => write!(f, "table/{table}/stream/{label}"),
            Resource::All => f.write_str("*"),
            Resource::Unknown => f.write_str("an unknown resource"),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)
    }
}

/// The streams of the shard iterators handed out, to tell which stream a
/// `GetRecords` reads (its request names only the iterator).
#[derive(Debug, Default)]
pub(super) struct Iterators(HashMap<String, Resource>);

impl Iterators {
    /// Notes the iterators of a successful `GetShardIterator` or
    /// `GetRecords` answer as iterators on `stream`.
    pub(super) fn handed_out(&mut self, operation: &str, answer: &[u8], stream: Resource) {
        let field = match operation {
            "GetShardIterator" => "ShardIterator",
            "GetRecords" => "NextShardIterator",
            _ => return,
        };
        if let Ok(serde_json::Value::Object(answer)) = serde_json::from_slice(answer) {
            if let Some(iterator) = answer.get(field).and_then(serde_json::Value::as_str) {
                self.0.insert(iterator.to_owned(), stream);
            }
        }
    }

    /// The stream of an iterator handed out before.
    fn stream_of(&self, iterator: &str) -> Resource {
        self.0.get(iterator).cloned().unwrap_or(Resource::Unknown)
    }
}

/// The permissions the request `body` of `operation` asks for.
pub(super) fn permissions_of(
    operation: &str,
    body: &[u8],
    iterators: &Iterators,
) -> Vec<Permission> {
    let request = match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(request)) => request,
        _ => serde_json::Map::new(),
    };
    let text = |name: &str| request.get(name).and_then(serde_json::Value::as_str);
    let table = || text("TableName").map_or(Resource::Unknown, |name| Resource::Table(name.into()));
    let permission = |action: &str, resource: Resource| Permission {
        action: format!("dynamodb:{action}"),
        resource,
    };
    match operation {
        "Query" | "Scan" => {
            let resource = match (text("TableName"), text("IndexName")) {
                (Some(table), Some(index)) => Resource::Index {
                    table: table.into(),
                    index: index.into(),
                },
                _ => table(),
            };
            vec![permission(operation, resource)]
        }
        "BatchGetItem" | "BatchWriteItem" => match request.get("RequestItems") {
            Some(serde_json::Value::Object(tables)) => tables
                .keys()
                .map(|name| permission(operation, Resource::Table(name.clone())))
                .collect(),
            _ => vec![permission(operation, Resource::Unknown)],
        },
        "TransactWriteItems" | "TransactGetItems" => transaction_items(&request)
            .map(|(action, table)| permission(action, table))
            .collect(),
        "DescribeStream" | "GetShardIterator" => {
            vec![permission(operation, stream(text("StreamArn")))]
        }
        "GetRecords" => {
            let resource = text("ShardIterator")
                .map_or(Resource::Unknown, |iterator| iterators.stream_of(iterator));
            vec![permission(operation, resource)]
        }
        "ListTables" | "ListStreams" => vec![permission(operation, Resource::All)],
        _ => vec![permission(operation, table())],
    }
}

/// The stream a request names by its ARN.
pub(super) fn stream(arn: Option<&str>) -> Resource {
    // arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
    let parts = arn
        .and_then(|arn| arn.split_once(":table/"))
        .and_then(|(_, path)| path.split_once("/stream/"));
    match parts {
        Some((table, label)) => Resource::Stream {
            table: table.into(),
            label: label.into(),
        },
        None => Resource::Unknown,
    }
}

/// The action and table of each item of a transaction.
fn transaction_items(
    request: &serde_json::Map<String, serde_json::Value>,
) -> impl Iterator<Item = (&'static str, Resource)> + '_ {
    let items = request
        .get("TransactItems")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    items.iter().map(|item| {
        let kinds = [
            ("Put", "PutItem"),
            ("Update", "UpdateItem"),
            ("Delete", "DeleteItem"),
            ("ConditionCheck", "ConditionCheckItem"),
            ("Get", "GetItem"),
        ];
        kinds
            .iter()
            .find_map(|(kind, action)| {
                let table = item.get(kind)?.get("TableName")?.as_str()?;
                Some((*action, Resource::Table(table.into())))
            })
            .unwrap_or(("TransactItem", Resource::Unknown))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(operation: &str, body: serde_json::Value) -> Vec<String> {
        let body = serde_json::to_vec(&body).expect("a JSON body");
        permissions_of(operation, &body, &Iterators::default())
            .into_iter()
            .map(|permission| permission.to_string())
            .collect()
    }

    #[test]
    fn an_item_operation_asks_for_its_action_on_its_table() {
        assert_eq!(
            of("PutItem", serde_json::json!({"TableName": "t", "Item": {}})),
            ["dynamodb:PutItem on table/t"]
        );
        assert_eq!(
            of("DescribeTable", serde_json::json!({"TableName": "t"})),
            ["dynamodb:DescribeTable on table/t"]
        );
    }

    #[test]
    fn a_query_of_an_index_asks_on_the_index() {
        assert_eq!(
            of(
                "Query",
                serde_json::json!({"TableName": "t", "IndexName": "by-owner"})
            ),
            ["dynamodb:Query on table/t/index/by-owner"]
        );
    }

    #[test]
    fn a_transaction_asks_for_the_actions_of_its_items() {
        let body = serde_json::json!({"TransactItems": [
            {"Put": {"TableName": "a"}},
            {"ConditionCheck": {"TableName": "b"}},
            {"Delete": {"TableName": "b"}},
            {"Update": {"TableName": "a"}},
        ]});
        assert_eq!(
            of("TransactWriteItems", body),
            [
                "dynamodb:PutItem on table/a",
                "dynamodb:ConditionCheckItem on table/b",
                "dynamodb:DeleteItem on table/b",
                "dynamodb:UpdateItem on table/a",
            ]
        );
    }

    #[test]
    fn a_batch_asks_on_each_table() {
        let body = serde_json::json!({"RequestItems": {"a": [], "b": []}});
        assert_eq!(
            of("BatchWriteItem", body),
            [
                "dynamodb:BatchWriteItem on table/a",
                "dynamodb:BatchWriteItem on table/b"
            ]
        );
    }

    #[test]
    fn get_records_asks_on_the_stream_its_iterator_was_handed_out_for() {
        let arn = "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/2026-12-07T00:00:00.000";
        let mut iterators = Iterators::default();
        iterators.handed_out(
            "GetShardIterator",
            br#"{"ShardIterator": "it-1"}"#,
            stream(Some(arn)),
        );
        let read = |iterator: &str| {
            permissions_of(
                "GetRecords",
                format!(r#"{{"ShardIterator": "{iterator}"}}"#).as_bytes(),
                &iterators,
            )
        };
        assert_eq!(
            read("it-1")[0].to_string(),
            "dynamodb:GetRecords on table/t/stream/2026-12-07T00:00:00.000"
        );
        assert_eq!(read("it-2")[0].resource, Resource::Unknown);
    }

    #[test]
    fn an_unreadable_body_asks_on_an_unknown_resource() {
        let permissions = permissions_of("PutItem", b"not json", &Iterators::default());
        assert_eq!(permissions[0].resource, Resource::Unknown);
    }
}
