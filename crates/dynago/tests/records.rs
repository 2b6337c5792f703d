//! Records that know their key and version: `Table::save` and
//! `Table::load`, over `put_item` and `get_item`.
use crate::common;

use common::{n, raw_item};
use dynago::{Error, Key, Record};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Customer {
    id: u32,
    name: String,
    #[serde(default)]
    version: u64,
}

impl Record for Customer {
    type Id = u32;
    const VERSION: Option<&'static str> = Some("version");

    fn id(&self) -> u32 {
        self.id
    }

    fn key(id: &u32) -> Key {
        Key::new("customer").sort(*id)
    }
}

/// A record without a version: saves overwrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    day: u32,
    text: String,
}

impl Record for Note {
    type Id = u32;

    fn id(&self) -> u32 {
        self.day
    }

    fn key(day: &u32) -> Key {
        Key::new("note").sort(*day)
    }
}

fn customer(name: &str, version: u64) -> Customer {
    Customer {
        id: 7,
        name: name.into(),
        version,
    }
}

#[tokio::test]
async fn a_saved_record_is_stored_with_the_next_version_and_loaded_by_its_id() {
    let table = common::table().await;
    assert_eq!(table.load::<Customer>(&7).await.expect("load"), None);
    let saved = table.save(&customer("Ada", 0)).await.expect("create");
    assert_eq!(saved, customer("Ada", 1));
    let raw = raw_item(&table, &Customer::key(&7)).await.expect("stored");
    assert_eq!(raw.get("version"), Some(&n(1)));
    let loaded = table.load::<Customer>(&7).await.expect("load");
    assert_eq!(loaded, Some(saved.clone()));

    let renamed = table
        .save(&Customer {
            name: "Ada L.".into(),
            ..saved.clone()
        })
        .await
        .expect("update");
    assert_eq!(renamed, customer("Ada L.", 2));
}

#[tokio::test]
async fn a_save_from_a_stale_version_is_a_conflict_and_changes_nothing() {
    let table = common::table().await;
    let first = table.save(&customer("Ada", 0)).await.expect("create");
    table.save(&first).await.expect("version 2");
    let stale = table.save(&first).await.expect_err("version 1 is stale");
    assert!(
        matches!(
            stale,
            Error::VersionConflict {
                expected: 1,
                actual: Some(2),
                ..
            }
        ),
        "{stale:?}"
    );
    assert!(stale.is_conflict());
    // A second create of the same id is a conflict too: version 0 never
    // replaces.
    let again = table.save(&customer("Bob", 0)).await.expect_err("exists");
    assert!(again.is_conflict(), "{again:?}");
    let stored = table.load::<Customer>(&7).await.expect("load");
    assert_eq!(stored.map(|c| (c.name, c.version)), Some(("Ada".into(), 2)));
}

#[tokio::test]
async fn a_record_without_a_version_is_overwritten() {
    let table = common::table().await;
    let note = Note {
        day: 3,
        text: "first".into(),
    };
    assert_eq!(table.save(&note).await.expect("save"), note);
    let second = Note {
        text: "second".into(),
        ..note
    };
    table.save(&second).await.expect("overwrite");
    assert_eq!(table.load::<Note>(&3).await.expect("load"), Some(second));
}

#[tokio::test]
async fn a_version_attribute_that_is_no_whole_number_is_refused_before_sending() {
    #[derive(Debug, Serialize, Deserialize)]
    struct Odd {
        id: u32,
        version: String,
    }
    impl Record for Odd {
        type Id = u32;
        const VERSION: Option<&'static str> = Some("version");
        fn id(&self) -> u32 {
            self.id
        }
        fn key(id: &u32) -> Key {
            Key::new("odd").sort(*id)
        }
    }
    let table = common::table().await;
    let sent = table.request_count();
    let error = table
        .save(&Odd {
            id: 1,
            version: "one".into(),
        })
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, Error::Serialize { what, .. } if what.contains("`version`")),
        "{error:?}"
    );
    assert_eq!(table.request_count(), sent, "nothing sent");
}

/// Findings of an outside review: a save must never answer an error for a
/// write that landed, nor succeed without the lock guarding it.
mod refused_before_sending {
    use super::*;

    async fn refused<R: Record + std::fmt::Debug>(record: R) -> Error {
        let table = common::table().await;
        let sent = table.request_count();
        let error = table.save(&record).await.expect_err("refused");
        assert_eq!(table.request_count(), sent, "nothing sent for {record:?}");
        assert_eq!(
            raw_item(&table, &R::key(&record.id())).await,
            None,
            "nothing stored"
        );
        error
    }

    macro_rules! record {
        ($name:ident { $($field:tt)* } version $attribute:expr) => {
            // Some fields are only written, never read: what is tested.
            #[allow(dead_code)]
            #[derive(Debug, Serialize, Deserialize)]
            struct $name { id: u32, $($field)* }
            impl Record for $name {
                type Id = u32;
                const VERSION: Option<&'static str> = $attribute;
                fn id(&self) -> u32 { self.id }
                fn key(id: &u32) -> Key { Key::new(stringify!($name)).sort(*id) }
            }
        };
    }

    #[tokio::test]
    async fn a_lock_at_the_last_version_there_is() {
        record!(Big { version: u64 } version Some("version"));
        let error = refused(Big {
            id: 1,
            version: u64::MAX,
        })
        .await;
        assert!(
            matches!(&error, Error::VersionExhausted { attribute, .. } if attribute == "version"),
            "{error:?}"
        );
        assert!(!error.is_conflict() && !error.is_retryable());
    }

    #[tokio::test]
    async fn a_version_field_too_narrow_for_the_next_version() {
        record!(Small { version: u32 } version Some("version"));
        let error = refused(Small {
            id: 1,
            version: u32::MAX,
        })
        .await;
        assert!(matches!(error, Error::Serialize { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn a_record_that_does_not_read_back_as_written() {
        record!(Skippy { #[serde(skip_serializing)] note: String, version: u64 } version Some("version"));
        let error = refused(Skippy {
            id: 1,
            note: "kept only here".into(),
            version: 0,
        })
        .await;
        assert!(matches!(error, Error::Serialize { .. }), "{error:?}");
        record!(Plain { #[serde(skip_serializing)] note: String } version None);
        let error = refused(Plain {
            id: 1,
            note: "kept only here".into(),
        })
        .await;
        assert!(matches!(error, Error::Serialize { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn a_version_attribute_the_record_does_not_write() {
        record!(Renamed { #[serde(rename = "v")] version: u64 } version Some("version"));
        let error = refused(Renamed { id: 1, version: 0 }).await;
        assert!(
            matches!(&error, Error::Serialize { what, .. } if what.contains("`version`")),
            "{error:?}"
        );
        #[derive(Debug, Serialize, Deserialize)]
        struct Meta {
            version: u64,
        }
        record!(Nested { meta: Meta } version Some("meta.version"));
        let error = refused(Nested {
            id: 1,
            meta: Meta { version: 0 },
        })
        .await;
        assert!(matches!(error, Error::Serialize { .. }), "{error:?}");
    }
}
