//! Stream record images as items of the table.

use std::collections::HashMap;

use dynago::Item;

/// A stream record's image (the Streams API's own attribute values) as an
/// item of the DynamoDB API, through `serde_dynamo`'s common form.
pub(crate) fn to_item(
    image: HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Item {
    Item::from(serde_dynamo::Item::from(image))
}
