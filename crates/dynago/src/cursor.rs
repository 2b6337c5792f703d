//! Pagination cursors: DynamoDB's `LastEvaluatedKey`, sealed for a round trip
//! through a client.
//!
//! A cursor is URL-safe base64 of a format byte, the key as JSON, and a
//! 128-bit HMAC-SHA256 tag over the table, the index, the key condition (with
//! the names and values of its placeholders), the direction and the key. Decoding checks the tag before it parses anything, so a truncated,
//! edited or foreign cursor (one from another query or table) is an
//! [`Error::InvalidCursor`], never a panic and never a request that starts
//! at an unexpected place.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::key::KeyPart;
use crate::value::Item;

const FORMAT: u8 = 1;
const TAG_LEN: usize = 16;
/// Longer cursors are refused before decoding: a key is at most 2 KB of
/// partition key and 1 KB of sort key, for the table and an index.
const MAX_CURSOR_LEN: usize = 16 * 1024;
/// The key used when no secret is configured: cursors are then checked for
/// integrity but can be forged by whoever reads this source.
const DEFAULT_SECRET: &[u8] = b"dynago cursor integrity key, v1.";

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks the cursors of one table.
#[derive(Clone)]
pub(crate) struct CursorKey {
    mac: HmacSha256,
}

/// What a cursor is bound to: the query it continues.
///
/// The key condition counts with the names and values of its placeholders
/// (`pk = :pk` on another partition is another query) and the direction;
/// the filter, the projection and the limit do not (they may change from one
/// page to the next without moving the start).
pub(crate) struct Scope<'a> {
    pub(crate) table: &'a str,
    pub(crate) index: Option<&'a str>,
    pub(crate) key_condition: &'a str,
    pub(crate) names: &'a HashMap<String, String>,
    pub(crate) values: &'a HashMap<String, AttributeValue>,
    pub(crate) ascending: bool,
}

/// The `:value` and `#name` placeholders that `expression` uses, sorted.
fn placeholders(expression: &str) -> BTreeSet<&str> {
    let bytes = expression.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' || bytes[i] == b'#' {
            let start = i;
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if i > start + 1 {
                // ASCII on both ends: the slice is on character boundaries.
                found.insert(&expression[start..i]);
            }
        } else {
            i += 1;
        }
    }
    found
}

/// A value as bytes for the MAC: key values exactly, anything else by its
/// debug form (key conditions only take key values).
fn value_bytes(value: Option<&AttributeValue>) -> Vec<u8> {
    match value.map(|v| (KeyPart::from_value(v), v)) {
        None => b"-".to_vec(),
        Some((Some(KeyPart::S(s)), _)) => [b"S".as_slice(), s.as_bytes()].concat(),
        Some((Some(KeyPart::N(n)), _)) => [b"N".as_slice(), n.as_bytes()].concat(),
        Some((Some(KeyPart::B(b)), _)) => [b"B".as_slice(), &b].concat(),
        Some((None, v)) => format!("?{v:?}").into_bytes(),
    }
}

impl CursorKey {
    pub(crate) fn new(secret: Option<&[u8]>) -> Self {
        let secret = secret.unwrap_or(DEFAULT_SECRET);
        // HMAC takes keys of any length, so this cannot fail.
        let mac = match HmacSha256::new_from_slice(secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        Self { mac }
    }

    /// The MAC over a cursor's scope and body, ready to finalize or verify.
    fn mac(&self, scope: &Scope<'_>, body: &[u8]) -> HmacSha256 {
        fn part(mac: &mut HmacSha256, bytes: &[u8]) {
            mac.update(&bytes.len().to_be_bytes());
            mac.update(bytes);
        }
        let mut mac = self.mac.clone();
        for text in [scope.table, scope.index.unwrap_or(""), scope.key_condition] {
            part(&mut mac, text.as_bytes());
        }
        for placeholder in placeholders(scope.key_condition) {
            part(&mut mac, placeholder.as_bytes());
            let resolved = if placeholder.starts_with('#') {
                scope
                    .names
                    .get(placeholder)
                    .map_or_else(|| b"-".to_vec(), |n| [b"=", n.as_bytes()].concat())
            } else {
                value_bytes(scope.values.get(placeholder))
            };
            part(&mut mac, &resolved);
        }
        mac.update(&[u8::from(scope.ascending)]);
        mac.update(&[FORMAT]);
        mac.update(body);
        mac
    }

    /// Seals a `LastEvaluatedKey`.
    pub(crate) fn encode(&self, scope: &Scope<'_>, key: &Item) -> Result<String> {
        let parts = key
            .iter()
            .map(|(name, value)| {
                KeyPart::from_value(value)
                    .map(|part| (name.as_str(), part))
                    .ok_or_else(|| Error::InvalidCursor {
                        reason: format!(
                            "the last evaluated key's attribute `{name}` is not a key type"
                        ),
                    })
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let body = serde_json::to_vec(&parts).map_err(|e| Error::InvalidCursor {
            reason: format!("cannot encode the last evaluated key: {e}"),
        })?;
        let mut bytes = Vec::with_capacity(1 + body.len() + TAG_LEN);
        bytes.push(FORMAT);
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&self.mac(scope, &body).finalize().into_bytes()[..TAG_LEN]);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a cursor sealed by [`encode`](Self::encode) for the same scope.
    pub(crate) fn decode(&self, scope: &Scope<'_>, cursor: &str) -> Result<Item> {
        let invalid = |reason: &str| Error::InvalidCursor {
            reason: reason.to_owned(),
        };
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(invalid("it is longer than any cursor this library writes"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| invalid("it is not URL-safe base64"))?;
        let (format, rest) = bytes.split_first().ok_or_else(|| invalid("it is empty"))?;
        if *format != FORMAT {
            return Err(invalid("its format is unknown"));
        }
        if rest.len() < TAG_LEN {
            return Err(invalid("it is truncated"));
        }
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        // `verify_truncated_left` compares in constant time.
        self.mac(scope, body)
            .verify_truncated_left(tag)
            .map_err(|_| {
                invalid("its signature does not match: it was altered, or belongs to another query or table")
            })?;
        let parts: BTreeMap<String, KeyPart> =
            serde_json::from_slice(body).map_err(|_| invalid("its key does not parse"))?;
        if parts.is_empty() {
            return Err(invalid("its key is empty"));
        }
        Ok(parts
            .into_iter()
            .map(|(name, part)| (name, part.into_value()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{number_value, string_value};

    fn names() -> HashMap<String, String> {
        HashMap::new()
    }

    fn values() -> HashMap<String, AttributeValue> {
        HashMap::from([(":pk".to_owned(), string_value("a"))])
    }

    fn scope<'a>(
        names: &'a HashMap<String, String>,
        values: &'a HashMap<String, AttributeValue>,
    ) -> Scope<'a> {
        Scope {
            table: "t",
            index: None,
            key_condition: "pk = :pk",
            names,
            values,
            ascending: true,
        }
    }

    fn key() -> Item {
        Item::from([
            ("pk".to_owned(), string_value("a")),
            ("sk".to_owned(), number_value(7)),
        ])
    }

    #[test]
    fn placeholders_of_an_expression() {
        let found: Vec<&str> = placeholders("#p = :p AND #s BETWEEN :lo_1 AND :hi, :p")
            .into_iter()
            .collect();
        assert_eq!(found, vec!["#p", "#s", ":hi", ":lo_1", ":p"]);
        assert!(placeholders("pk = x AND : #").is_empty());
    }

    #[test]
    fn round_trip() {
        let (names, values) = (names(), values());
        let scope = || scope(&names, &values);
        let k = CursorKey::new(None);
        let cursor = k.encode(&scope(), &key()).expect("encodes");
        assert!(cursor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(k.decode(&scope(), &cursor).expect("decodes"), key());
    }

    #[test]
    fn tampering_and_foreign_scopes_are_refused() {
        let (names, values) = (names(), values());
        let scope = || scope(&names, &values);
        let k = CursorKey::new(None);
        let cursor = k.encode(&scope(), &key()).expect("encodes");
        let other = Scope {
            index: Some("gsi1"),
            ..scope()
        };
        assert!(k.decode(&other, &cursor).is_err());
        let descending = Scope {
            ascending: false,
            ..scope()
        };
        assert!(k.decode(&descending, &cursor).is_err());
        let other_values = HashMap::from([(":pk".to_owned(), string_value("b"))]);
        let other_partition = Scope {
            values: &other_values,
            ..scope()
        };
        assert!(k.decode(&other_partition, &cursor).is_err());
        // A value the key condition does not use (a filter's) does not count.
        let mut filter_values = values.clone();
        filter_values.insert(":min".to_owned(), number_value(3));
        let filtered = Scope {
            values: &filter_values,
            ..scope()
        };
        assert!(k.decode(&filtered, &cursor).is_ok());
        let secret = CursorKey::new(Some(b"0123456789abcdef"));
        assert!(secret.decode(&scope(), &cursor).is_err());
        let mut bytes = cursor.into_bytes();
        bytes[4] = if bytes[4] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(bytes).expect("ascii");
        assert!(matches!(
            k.decode(&scope(), &edited),
            Err(Error::InvalidCursor { .. })
        ));
        for junk in ["", "!!!", "AQ", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            assert!(k.decode(&scope(), junk).is_err(), "{junk}");
        }
    }
}
