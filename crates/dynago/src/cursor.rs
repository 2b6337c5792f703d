//! Pagination cursors: DynamoDB's `LastEvaluatedKey`, sealed for a round trip
//! through a client.
//!
//! A cursor is URL-safe base64 of a format byte (which also says whether it
//! continues a query or a scan), the key as JSON, and a 128-bit HMAC-SHA256
//! tag over the table, the index, the key condition (with the names and
//! values of its placeholders), the direction, a scan's segment and the key.
//! Decoding checks the tag before it parses anything, so a truncated,
//! edited or foreign cursor (one from another query, scan, segment or table)
//! is an [`Error::InvalidCursor`], never a panic and never a request that
//! starts at an unexpected place.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::key::{KeyPart, KeySchema};
use crate::value::Item;

/// The format byte of a query's cursor.
const FORMAT: u8 = 1;
/// The format byte of a scan's cursor: the same layout, another kind.
const SCAN_FORMAT: u8 = 2;
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

/// What a cursor is bound to: the query or scan it continues.
///
/// The kind counts, and a scan's segment; so does a query's key condition,
/// with the names and values of its placeholders (`pk = :pk` on another
/// partition is another query), and its direction; the filter, the
/// projection and the limit do not (they may change from one page to the
/// next without moving the start). A scan has no key condition (`""`) and
/// goes one way (`ascending`).
pub(crate) struct Scope<'a> {
    pub(crate) table: &'a str,
    pub(crate) index: Option<&'a str>,
    pub(crate) kind: Kind,
    pub(crate) key_condition: &'a str,
    pub(crate) names: &'a HashMap<String, String>,
    pub(crate) values: &'a HashMap<String, AttributeValue>,
    pub(crate) ascending: bool,
}

/// The read a cursor continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A query.
    Query,
    /// A scan: of everything, or of one segment of a parallel scan.
    Scan(Option<Segment>),
}

/// One segment of a parallel scan: `index` of `total` (`index < total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) index: u32,
    pub(crate) total: u32,
}

impl Kind {
    fn format(self) -> u8 {
        match self {
            Kind::Query => FORMAT,
            Kind::Scan(_) => SCAN_FORMAT,
        }
    }
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
        // A query's cursor is signed as it was before scans had cursors.
        if let Kind::Scan(segment) = scope.kind {
            let segment = segment.map_or_else(Vec::new, |s| {
                [s.index.to_be_bytes(), s.total.to_be_bytes()].concat()
            });
            part(&mut mac, &segment);
        }
        mac.update(&[scope.kind.format()]);
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
                        table: scope.table.to_owned(),
                        reason: format!(
                            "the last evaluated key's attribute `{name}` is not a key type"
                        ),
                    })
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let body = serde_json::to_vec(&parts).map_err(|e| Error::InvalidCursor {
            table: scope.table.to_owned(),
            reason: format!("cannot encode the last evaluated key: {e}"),
        })?;
        let mut bytes = Vec::with_capacity(1 + body.len() + TAG_LEN);
        bytes.push(scope.kind.format());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&self.mac(scope, &body).finalize().into_bytes()[..TAG_LEN]);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a cursor sealed by [`encode`](Self::encode) for the same scope.
    pub(crate) fn decode(&self, scope: &Scope<'_>, cursor: &str) -> Result<Item> {
        let invalid = |reason: &str| Error::InvalidCursor {
            table: scope.table.to_owned(),
            reason: reason.to_owned(),
        };
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(invalid("it is longer than any cursor this library writes"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| invalid("it is not URL-safe base64"))?;
        let (format, rest) = bytes.split_first().ok_or_else(|| invalid("it is empty"))?;
        match (*format, scope.kind) {
            (FORMAT, Kind::Scan(_)) => {
                return Err(invalid("it continues a query, not a scan"));
            }
            (SCAN_FORMAT, Kind::Query) => {
                return Err(invalid("it continues a scan, not a query"));
            }
            (format, kind) if format != kind.format() => {
                return Err(invalid("its format is unknown"));
            }
            _ => {}
        }
        if rest.len() < TAG_LEN {
            return Err(invalid("it is truncated"));
        }
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        // `verify_truncated_left` compares in constant time.
        self.mac(scope, body)
            .verify_truncated_left(tag)
            .map_err(|_| {
                invalid("its signature does not match: it was altered, or belongs to another query, scan, segment or table")
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

/// Checks that a decoded cursor's key can be a `LastEvaluatedKey` of a query
/// or a scan on the table `table` with the keys `keys` (on its index `index`, if any): the
/// table's key attributes, at most an index's two more, and values that
/// DynamoDB takes as keys.
///
/// A cursor sealed by this crate always passes; one forged by whoever holds
/// the signing key (anyone, without a
/// [`cursor_secret`](crate::TableOptions::cursor_secret)) is refused here,
/// before a request is sent, rather than by DynamoDB.
pub(crate) fn check_key(
    table: &str,
    keys: &KeySchema,
    index: Option<&str>,
    key: &Item,
) -> Result<()> {
    let invalid = |reason: String| Error::InvalidCursor {
        table: table.to_owned(),
        reason: format!("its key does not fit this read: {reason}"),
    };
    let table_keys = [Some(&keys.partition), keys.sort.as_ref()];
    for name in table_keys.into_iter().flatten() {
        if !key.contains_key(name) {
            return Err(invalid(format!("it lacks the key attribute `{name}`")));
        }
    }
    let table_count = 1 + usize::from(keys.sort.is_some());
    let others = key.len() - table_count;
    match index {
        None if others > 0 => {
            return Err(invalid(format!(
                "it holds {others} attributes beyond the table's keys"
            )))
        }
        Some(_) if others > 2 => {
            return Err(invalid(format!(
                "it holds {others} attributes beyond the table's keys, an index has at most 2"
            )))
        }
        _ => {}
    }
    for (name, value) in key {
        let usable = match value {
            AttributeValue::S(s) => !s.is_empty(),
            AttributeValue::B(b) => !b.as_ref().is_empty(),
            AttributeValue::N(n) => is_number(n),
            _ => false,
        };
        if !usable {
            return Err(invalid(format!(
                "its attribute `{name}` is not a usable key value"
            )));
        }
    }
    Ok(())
}

/// Whether `n` is a decimal number as DynamoDB writes them: an optional
/// sign, digits with an optional fraction, and an optional exponent.
fn is_number(n: &str) -> bool {
    let unsigned = n.strip_prefix(['-', '+']).unwrap_or(n);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.len() <= 4 && digits(e)
    });
    !(integer.is_empty() && fraction.is_empty())
        && digits(integer)
        && digits(fraction)
        && exponent_ok
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
            kind: Kind::Query,
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

    #[test]
    fn query_scan_and_segment_cursors_are_not_interchangeable() {
        let (names, values) = (names(), values());
        let k = CursorKey::new(None);
        let query = || scope(&names, &values);
        let scan = |segment: Option<(u32, u32)>| Scope {
            kind: Kind::Scan(segment.map(|(index, total)| Segment { index, total })),
            key_condition: "",
            ..scope(&names, &values)
        };
        let reads = [
            query(),
            scan(None),
            scan(Some((0, 2))),
            scan(Some((1, 2))),
            scan(Some((0, 3))),
        ];
        for (i, from) in reads.iter().enumerate() {
            let cursor = k.encode(from, &key()).expect("encodes");
            for (j, to) in reads.iter().enumerate() {
                let decoded = k.decode(to, &cursor);
                if i == j {
                    assert_eq!(decoded.expect("its own cursor"), key());
                } else {
                    assert!(
                        matches!(decoded, Err(Error::InvalidCursor { .. })),
                        "{i} in {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_of_index_queries_may_hold_two_more_attributes() {
        let keys = KeySchema {
            partition: "pk".into(),
            sort: Some("sk".into()),
        };
        let mut key = key();
        assert!(check_key("t", &keys, None, &key).is_ok());
        key.insert("gpk".into(), string_value("x"));
        assert!(check_key("t", &keys, None, &key).is_err());
        assert!(check_key("t", &keys, Some("gsi1"), &key).is_ok());
        key.insert("gsk".into(), number_value(1));
        assert!(check_key("t", &keys, Some("gsi1"), &key).is_ok());
        key.insert("more".into(), string_value("y"));
        assert!(check_key("t", &keys, Some("gsi1"), &key).is_err());
        key.remove("more");
        key.remove("sk");
        let err = check_key("t", &keys, Some("gsi1"), &key).expect_err("no sort key");
        assert!(err.to_string().contains("`sk`"), "{err}");
        assert!(
            err.to_string()
                .starts_with("invalid cursor for table `t`: "),
            "{err}"
        );
    }

    /// Untrusted cursors, thousands of them: whatever a client sends,
    /// decoding never panics, and refuses everything it did not seal with
    /// `InvalidCursor` only.
    mod fuzz {
        use super::*;
        use proptest::collection::{btree_map, vec};
        use proptest::prelude::*;
        use proptest::sample::Index;

        const CASES: u32 = 3_000;

        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: CASES,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        fn table_keys() -> KeySchema {
            KeySchema {
                partition: "pk".into(),
                sort: Some("sk".into()),
            }
        }

        /// What the query `pk = :pk` on `a` makes of `cursor`: the key to
        /// start from, or `None` for an `InvalidCursor`; any other error
        /// fails the test (a panic fails it anyway).
        fn decode_untrusted(cursor: &str) -> Option<Item> {
            let (names, values) = (names(), values());
            let result = CursorKey::new(None)
                .decode(&scope(&names, &values), cursor)
                .and_then(|key| check_key("t", &table_keys(), None, &key).map(|()| key));
            match result {
                Ok(key) => Some(key),
                Err(Error::InvalidCursor { reason, .. }) => {
                    assert!(!reason.is_empty());
                    None
                }
                Err(other) => panic!("{cursor:?}: not an InvalidCursor: {other:?}"),
            }
        }

        /// A cursor of `body` signed with the test scope's key: what only
        /// the holder of the key can make.
        fn signed(body: &[u8]) -> String {
            let (names, values) = (names(), values());
            let mac = CursorKey::new(None).mac(&scope(&names, &values), body);
            let mut bytes = vec![FORMAT];
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
            URL_SAFE_NO_PAD.encode(bytes)
        }

        fn real_cursor() -> String {
            let (names, values) = (names(), values());
            CursorKey::new(None)
                .encode(&scope(&names, &values), &key())
                .expect("encodes")
        }

        #[derive(Debug, Clone)]
        enum Edit {
            Replace(Index, u8),
            Delete(Index),
            Insert(Index, u8),
            Truncate(Index),
        }

        fn edit() -> impl Strategy<Value = Edit> {
            prop_oneof![
                (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
                any::<Index>().prop_map(Edit::Delete),
                (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
                any::<Index>().prop_map(Edit::Truncate),
            ]
        }

        /// A byte of the base64 alphabet most of the time, any ASCII else.
        fn ascii(byte: u8) -> u8 {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            if byte < 192 {
                ALPHABET[usize::from(byte) % ALPHABET.len()]
            } else {
                byte % 128
            }
        }

        fn apply(cursor: &str, edits: &[Edit]) -> String {
            let mut bytes = cursor.as_bytes().to_vec();
            for edit in edits {
                let len = bytes.len();
                match edit {
                    Edit::Replace(i, b) if len > 0 => bytes[i.index(len)] = ascii(*b),
                    Edit::Delete(i) if len > 0 => {
                        bytes.remove(i.index(len));
                    }
                    Edit::Insert(i, b) => bytes.insert(i.index(len + 1), ascii(*b)),
                    Edit::Truncate(i) => bytes.truncate(i.index(len + 1)),
                    _ => {}
                }
            }
            String::from_utf8(bytes).expect("ASCII edits of an ASCII cursor")
        }

        /// Any key part, usable as a key value or not.
        fn part() -> impl Strategy<Value = KeyPart> {
            prop_oneof![
                any::<String>().prop_map(KeyPart::S),
                "[a-z]{1,8}".prop_map(KeyPart::S),
                any::<String>().prop_map(KeyPart::N),
                "-?[0-9]{1,5}(\\.[0-9]{1,3})?(E-?[0-9]{1,2})?".prop_map(KeyPart::N),
                vec(any::<u8>(), 0..8).prop_map(KeyPart::B),
            ]
        }

        fn attribute() -> impl Strategy<Value = String> {
            prop_oneof![Just("pk".to_owned()), Just("sk".to_owned()), "[a-z]{0,4}"]
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn arbitrary_strings_are_refused(cursor in any::<String>()) {
                prop_assert!(decode_untrusted(&cursor).is_none());
            }

            #[test]
            fn strings_of_the_cursor_alphabet_are_refused(cursor in "[A-Za-z0-9_-]{0,400}") {
                prop_assert!(decode_untrusted(&cursor).is_none());
            }

            #[test]
            fn arbitrary_bytes_in_base64_are_refused(
                body in vec(any::<u8>(), 0..300),
                with_format in any::<bool>(),
            ) {
                let mut bytes = if with_format { vec![FORMAT] } else { Vec::new() };
                bytes.extend(body);
                prop_assert!(decode_untrusted(&URL_SAFE_NO_PAD.encode(&bytes)).is_none());
            }

            #[test]
            fn edited_cursors_are_refused(edits in vec(edit(), 1..4)) {
                let real = real_cursor();
                let edited = apply(&real, &edits);
                let decoded = decode_untrusted(&edited);
                if edited == real {
                    prop_assert_eq!(decoded, Some(key()));
                } else {
                    prop_assert!(decoded.is_none(), "{edited:?} decodes");
                }
            }

            #[test]
            fn signed_garbage_is_refused(body in vec(any::<u8>(), 0..200)) {
                // Valid JSON of key parts is what `signed_keys` covers.
                prop_assume!(serde_json::from_slice::<BTreeMap<String, KeyPart>>(&body).is_err());
                prop_assert!(decode_untrusted(&signed(&body)).is_none());
            }

            #[test]
            fn signed_keys_must_fit_the_table(parts in btree_map(attribute(), part(), 0..4)) {
                let body = serde_json::to_vec(&parts).expect("serializes");
                let decoded = decode_untrusted(&signed(&body));
                let usable = |part: &KeyPart| match part {
                    KeyPart::S(s) => !s.is_empty(),
                    KeyPart::B(b) => !b.is_empty(),
                    KeyPart::N(n) => is_number(n),
                };
                let fits = parts.len() == 2
                    && parts.contains_key("pk")
                    && parts.contains_key("sk")
                    && parts.values().all(usable);
                prop_assert_eq!(decoded.is_some(), fits, "{:?}", parts);
            }
        }

        #[test]
        fn oversized_and_deeply_nested_cursors_are_refused() {
            assert!(decode_untrusted(&"A".repeat(MAX_CURSOR_LEN + 1)).is_none());
            let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
            assert!(decode_untrusted(&signed(deep.as_bytes())).is_none());
            let deep = format!(
                "{{\"pk\":{{\"S\":\"a\"}},\"sk\":{}{}",
                "{\"M\":".repeat(5_000),
                "}".repeat(5_001)
            );
            assert!(decode_untrusted(&signed(deep.as_bytes())).is_none());
        }

        #[test]
        fn numbers_are_checked_as_dynamodb_writes_them() {
            for good in [
                "0", "-1", "12.5", ".5", "5.", "1E10", "1e-130", "-0.001", "+3",
            ] {
                assert!(is_number(good), "{good}");
            }
            for bad in [
                "", "-", ".", "e5", "1e", "1e+", "NaN", "inf", "1,5", "1 ", "0x10", "1e99999",
                "--1",
            ] {
                assert!(!is_number(bad), "{bad}");
            }
        }
    }
}
