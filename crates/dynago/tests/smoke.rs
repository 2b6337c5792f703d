//! Smoke test of the main operations.
use crate::common;

use dynago::{number_value, string_value, Key};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Row {
    name: String,
    n: u32,
    version: Option<u64>,
}

#[tokio::test]
async fn put_get_query() {
    let table = common::table().await;
    for n in 0..5u32 {
        table
            .put_item(
                Key::new(string_value("p")).sort(number_value(n)),
                &Row {
                    name: format!("r{n}"),
                    n,
                    version: None,
                },
            )
            .send()
            .await
            .expect("put");
    }
    let row: Option<Row> = table
        .get_item(Key::new(string_value("p")).sort(number_value(3)))
        .send()
        .await
        .expect("get");
    assert_eq!(row.expect("exists").n, 3);
    let page = table
        .query("pk = :p")
        .value(":p", string_value("p"))
        .limit(2)
        .send::<Row>()
        .await
        .expect("query");
    assert_eq!(page.items.len(), 2);
    let next = table
        .query("pk = :p")
        .value(":p", string_value("p"))
        .limit(10)
        .cursor(page.cursor.expect("more"))
        .send::<Row>()
        .await
        .expect("query");
    assert_eq!(
        next.items.iter().map(|r| r.n).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let err = table
        .put_item(
            Key::new(string_value("p")).sort(number_value(1)),
            &Row {
                name: "x".into(),
                n: 1,
                version: None,
            },
        )
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect_err("exists");
    assert_eq!(
        err.version_conflict(),
        Some(dynago::LockVersions {
            expected: 0,
            actual: None
        })
    );
}
