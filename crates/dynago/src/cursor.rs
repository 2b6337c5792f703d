//! Pagination cursors: DynamoDB's `LastEvaluatedKey`, sealed for a round trip
//! through a client.
//!
//! A cursor is URL-safe base64 of a format byte, the key as JSON, and a
//! 128-bit HMAC-SHA256 tag over the table, the index, the key condition and
//! the key. Decoding checks the tag before it parses anything, so a truncated,
//! edited or foreign cursor (one from another query or table) is an
//! [`Error::InvalidCursor`], never a panic and never a request that starts
//! at an unexpected place.

use std::collections::BTreeMap;

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
pub(crate) struct Scope<'a> {
    pub(crate) table: &'a str,
    pub(crate) index: Option<&'a str>,
    pub(crate) key_condition: &'a str,
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
        let mut mac = self.mac.clone();
        for part in [scope.table, scope.index.unwrap_or(""), scope.key_condition] {
            mac.update(&part.len().to_be_bytes());
            mac.update(part.as_bytes());
        }
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

    fn scope() -> Scope<'static> {
        Scope {
            table: "t",
            index: None,
            key_condition: "pk = :pk",
        }
    }

    fn key() -> Item {
        Item::from([
            ("pk".to_owned(), string_value("a")),
            ("sk".to_owned(), number_value(7)),
        ])
    }

    #[test]
    fn round_trip() {
        let k = CursorKey::new(None);
        let cursor = k.encode(&scope(), &key()).expect("encodes");
        assert!(cursor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(k.decode(&scope(), &cursor).expect("decodes"), key());
    }

    #[test]
    fn tampering_and_foreign_scopes_are_refused() {
        let k = CursorKey::new(None);
        let cursor = k.encode(&scope(), &key()).expect("encodes");
        let other = Scope {
            index: Some("gsi1"),
            ..scope()
        };
        assert!(k.decode(&other, &cursor).is_err());
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
