//! An event item's header attributes as the store writes and reads them,
//! without serde: the payload and the metadata (when there is any) are the
//! only parts serde encodes and decodes.
//!
//! Written ([`Header::into_item`]), each attribute is the value serde would
//! write for the header (a test holds them equal), built directly: no
//! intermediate item, no formatting machinery for numbers, ids and times.
//!
//! Read ([`Attributes`]), one pass over the item moves each attribute the
//! store reads into its place (no lookup by hash, nothing copied), and each
//! is then decoded on its own: strings moved out, numbers and ids parsed,
//! the timestamp read in the one form the store writes it (any other RFC
//! 3339 form still reads, through chrono). Decoded in a fixed order (the
//! header's), the first attribute at fault is the one named, so that one
//! item always gives one message: the item's own order is a hash map's.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Timelike, Utc};
use dynago::{AttributeValue, Item};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::payload::{Stored, PAYLOAD, PAYLOAD_JSON};

/// The attribute of a commit item that holds its events after the first,
/// each a map of the attributes in which it differs from the first (its
/// version, ids, type, schema version and payload, its timestamp and
/// metadata only where they differ). Left out when the commit is one event.
pub(crate) const NEXT_EVENTS: &str = "next_events";

/// The attribute of a commit item of several events: the version of its
/// last event.
pub(crate) const LAST_VERSION: &str = "last_version";

/// An event's header, borrowed from it, to be written.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    pub(crate) aggregate_type: &'a str,
    pub(crate) aggregate_id: &'a str,
    pub(crate) version: u64,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: &'a str,
    pub(crate) schema_version: u32,
    pub(crate) timestamp: DateTime<Utc>,
    /// The metadata's value; `None` when it is empty (left out).
    pub(crate) metadata: Option<AttributeValue>,
    pub(crate) commit_id: Uuid,
}

impl Header<'_> {
    /// The header's attributes, in an item with room for `more` (the
    /// payload, the keys).
    pub(crate) fn into_item(self, more: usize) -> Item {
        let mut item = Item::with_capacity(9 + more);
        let mut put = |name: &str, value: AttributeValue| {
            item.insert(name.to_owned(), value);
        };
        put(
            "aggregate_type",
            AttributeValue::S(self.aggregate_type.to_owned()),
        );
        put(
            "aggregate_id",
            AttributeValue::S(self.aggregate_id.to_owned()),
        );
        put("version", number_text(self.version));
        put("event_id", uuid_text(self.event_id));
        put("event_type", AttributeValue::S(self.event_type.to_owned()));
        put("schema_version", number_text(self.schema_version));
        put(
            "timestamp",
            AttributeValue::S(format_timestamp(&self.timestamp)),
        );
        if let Some(metadata) = self.metadata {
            put("metadata", metadata);
        }
        put("commit_id", uuid_text(self.commit_id));
        item
    }
}

fn number_text(n: impl itoa::Integer) -> AttributeValue {
    AttributeValue::N(itoa::Buffer::new().format(n).to_owned())
}

fn uuid_text(id: Uuid) -> AttributeValue {
    AttributeValue::S(
        id.hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .to_owned(),
    )
}

/// A timestamp as serde writes it (chrono's RFC 3339 form with `Z` and 0,
/// 3, 6 or 9 digits of fraction, as many as it needs), without chrono's
/// formatter for the years 0 to 9999; others (and a leap second) go to it.
pub(crate) fn format_timestamp(time: &DateTime<Utc>) -> String {
    let nanos = time.nanosecond();
    let Some(year) = u32::try_from(time.year())
        .ok()
        .filter(|&year| year <= 9999 && nanos < 1_000_000_000)
    else {
        return time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    };
    let mut text = String::with_capacity(30);
    for (value, width, then) in [
        (year, 4, '-'),
        (time.month(), 2, '-'),
        (time.day(), 2, 'T'),
        (time.hour(), 2, ':'),
        (time.minute(), 2, ':'),
    ] {
        push_digits(&mut text, value, width);
        text.push(then);
    }
    push_digits(&mut text, time.second(), 2);
    if nanos != 0 {
        let (fraction, width) = if nanos.is_multiple_of(1_000_000) {
            (nanos / 1_000_000, 3)
        } else if nanos.is_multiple_of(1_000) {
            (nanos / 1_000, 6)
        } else {
            (nanos, 9)
        };
        text.push('.');
        push_digits(&mut text, fraction, width);
    }
    text.push('Z');
    text
}

/// Writes the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place) % 10) as u8; // 0 to 9
        text.push(char::from(b'0' + digit));
    }
}

/// The attributes of one event item, each in its place until decoded.
#[derive(Debug, Default)]
pub(crate) struct Attributes {
    /// The partition key's value, when its name was given.
    pub(crate) partition: Option<AttributeValue>,
    /// The sort key's value.
    pub(crate) sort: Option<AttributeValue>,
    aggregate_type: Option<AttributeValue>,
    aggregate_id: Option<AttributeValue>,
    version: Option<AttributeValue>,
    event_id: Option<AttributeValue>,
    event_type: Option<AttributeValue>,
    schema_version: Option<AttributeValue>,
    timestamp: Option<AttributeValue>,
    metadata: Option<AttributeValue>,
    commit_id: Option<AttributeValue>,
    payload: Option<AttributeValue>,
    payload_json: Option<AttributeValue>,
    next_events: Option<AttributeValue>,
    last_version: Option<AttributeValue>,
}

/// The events of a commit item after its first ([`Attributes::following`]).
#[derive(Debug)]
pub(crate) struct Following {
    /// Each event's attributes, with those it shares with the first.
    pub(crate) events: Vec<Attributes>,
    /// The version the item says its last event is.
    pub(crate) last: Option<u64>,
}

/// What a decoder says is wrong with an attribute: the message of a
/// corrupt event, which names it.
type Reason = String;

impl Attributes {
    /// Takes the attributes of `item` the store reads, with the key
    /// attributes named `partition_key` and `sort_key` when given (names the
    /// store's own attributes never bear:
    /// [`check_key_names`](crate::keys::check_key_names)). Every other
    /// attribute is dropped.
    pub(crate) fn take(item: Item, partition_key: Option<&str>, sort_key: Option<&str>) -> Self {
        let mut attributes = Self::default();
        for (name, value) in item {
            let place = match name.as_str() {
                "aggregate_type" => &mut attributes.aggregate_type,
                "aggregate_id" => &mut attributes.aggregate_id,
                "version" => &mut attributes.version,
                "event_id" => &mut attributes.event_id,
                "event_type" => &mut attributes.event_type,
                "schema_version" => &mut attributes.schema_version,
                "timestamp" => &mut attributes.timestamp,
                "metadata" => &mut attributes.metadata,
                "commit_id" => &mut attributes.commit_id,
                PAYLOAD => &mut attributes.payload,
                PAYLOAD_JSON => &mut attributes.payload_json,
                NEXT_EVENTS => &mut attributes.next_events,
                LAST_VERSION => &mut attributes.last_version,
                other if Some(other) == sort_key => &mut attributes.sort,
                other if Some(other) == partition_key => &mut attributes.partition,
                _ => continue,
            };
            *place = Some(value);
        }
        attributes
    }

    /// The payload, in the form it is stored: the map form when present,
    /// else the JSON text; `None` when it has neither (or a JSON payload
    /// that is not a string).
    pub(crate) fn payload(&mut self) -> Option<Stored> {
        match (self.payload.take(), self.payload_json.take()) {
            (Some(value), _) => Some(Stored::Value(value)),
            (None, Some(AttributeValue::S(text))) => Some(Stored::Json(text)),
            (None, _) => None,
        }
    }

    pub(crate) fn aggregate_type(&mut self) -> Result<String, Reason> {
        string("aggregate_type", self.aggregate_type.take())
    }

    pub(crate) fn aggregate_id(&mut self) -> Result<String, Reason> {
        string("aggregate_id", self.aggregate_id.take())
    }

    pub(crate) fn version(&mut self) -> Result<u64, Reason> {
        number("version", self.version.take(), u64::MAX)
    }

    pub(crate) fn event_id(&mut self) -> Result<Uuid, Reason> {
        uuid("event_id", self.event_id.take())
    }

    pub(crate) fn event_type(&mut self) -> Result<String, Reason> {
        string("event_type", self.event_type.take())
    }

    pub(crate) fn schema_version(&mut self) -> Result<u32, Reason> {
        number("schema_version", self.schema_version.take(), u32::MAX)
    }

    pub(crate) fn timestamp(&mut self) -> Result<DateTime<Utc>, Reason> {
        let text = string("timestamp", self.timestamp.take())?;
        parse_timestamp(&text).map_err(|e| invalid("timestamp", &e))
    }

    /// The metadata, a missing or NULL attribute being empty metadata.
    pub(crate) fn metadata<T: DeserializeOwned + Default>(&mut self) -> Result<T, Reason> {
        match self.metadata.take() {
            None | Some(AttributeValue::Null(_)) => Ok(T::default()),
            Some(value) => serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value)
                .map_err(|e| invalid("metadata", &e)),
        }
    }

    pub(crate) fn commit_id(&mut self) -> Result<Uuid, Reason> {
        uuid("commit_id", self.commit_id.take())
    }

    /// How many events a commit item lists after its first (0 for an item
    /// of one event, or a list that is not one).
    pub(crate) fn following_count(&self) -> u64 {
        match &self.next_events {
            Some(AttributeValue::L(list)) => u64::try_from(list.len()).unwrap_or(u64::MAX),
            _ => 0,
        }
    }

    /// The events of a commit item after its first, each with the
    /// attributes it shares with the first (the aggregate, the timestamp,
    /// the metadata, the commit id) where its own map lacks them, and the version the item says its last event is; `None`
    /// for an item of one event. Taken before the first event's header is
    /// decoded (which moves the inherited values out).
    pub(crate) fn following(&mut self) -> Result<Option<Following>, Reason> {
        let last = match self.last_version.take() {
            None => None,
            Some(value) => Some(number(LAST_VERSION, Some(value), u64::MAX)?),
        };
        let list = match self.next_events.take() {
            None if last.is_none() => return Ok(None),
            None => return Err(missing(NEXT_EVENTS)),
            Some(AttributeValue::L(list)) => list,
            Some(other) => {
                return Err(invalid(
                    NEXT_EVENTS,
                    &format_args!("a list (L) was expected, not {}", kind(&other)),
                ))
            }
        };
        let mut following = Vec::with_capacity(list.len());
        for (index, value) in list.into_iter().enumerate() {
            let AttributeValue::M(map) = value else {
                return Err(invalid(
                    NEXT_EVENTS,
                    &format_args!("its member {index} is {}, not a map (M)", kind(&value)),
                ));
            };
            let mut next = Attributes::take(map, None, None);
            if next.next_events.is_some() || next.last_version.is_some() {
                return Err(invalid(
                    NEXT_EVENTS,
                    &format_args!("its member {index} holds events of its own"),
                ));
            }
            // What an event of the commit shares with its first.
            for (mine, first) in [
                (&mut next.aggregate_type, &self.aggregate_type),
                (&mut next.aggregate_id, &self.aggregate_id),
                (&mut next.timestamp, &self.timestamp),
                (&mut next.metadata, &self.metadata),
                (&mut next.commit_id, &self.commit_id),
            ] {
                if mine.is_none() {
                    mine.clone_from(first);
                }
            }
            following.push(next);
        }
        Ok(Some(Following {
            events: following,
            last,
        }))
    }
}

fn missing(name: &str) -> Reason {
    format!("it has no attribute `{name}`")
}

fn invalid(name: &str, reason: &dyn std::fmt::Display) -> Reason {
    format!("its attribute `{name}` is not valid: {reason}")
}

/// The kind of a DynamoDB value, as DynamoDB writes it.
fn kind(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown kind",
    }
}

fn string(name: &str, value: Option<AttributeValue>) -> Result<String, Reason> {
    match value {
        Some(AttributeValue::S(text)) => Ok(text),
        Some(other) => Err(invalid(
            name,
            &format_args!("a string (S) was expected, not {}", kind(&other)),
        )),
        None => Err(missing(name)),
    }
}

fn number<T: std::str::FromStr + std::fmt::Display>(
    name: &str,
    value: Option<AttributeValue>,
    largest: T,
) -> Result<T, Reason> {
    match value {
        Some(AttributeValue::N(text)) => text.parse().map_err(|_| {
            invalid(
                name,
                &format_args!("{text:?} is not a whole number from 0 to {largest}"),
            )
        }),
        Some(other) => Err(invalid(
            name,
            &format_args!("a number (N) was expected, not {}", kind(&other)),
        )),
        None => Err(missing(name)),
    }
}

fn uuid(name: &str, value: Option<AttributeValue>) -> Result<Uuid, Reason> {
    let text = string(name, value)?;
    Uuid::parse_str(&text).map_err(|e| invalid(name, &e))
}

/// Reads a timestamp as the store writes it (`2026-12-07T11:02:03.456789Z`:
/// chrono's RFC 3339 form with `Z` and 0, 3, 6 or 9 digits of fraction)
/// without chrono's general parser; any other form chrono reads as RFC 3339
/// (an offset, a space for `T`, a leap second) goes to it, as it did when
/// serde read the header.
pub(crate) fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_utc(text.as_bytes()) {
        Some(time) => Ok(time),
        None => text
            .parse::<DateTime<FixedOffset>>()
            .map(|time| time.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z`, seconds 0 to 59; `None` for anything
/// else.
fn parse_utc(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes.get(range)?.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let at = |index: usize, byte: u8| bytes.get(index) == Some(&byte);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)?;
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let (nanos, end) = match bytes.get(19) {
        Some(b'.') => {
            let fraction = bytes.get(20..)?;
            let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=9).contains(&len) {
                return None;
            }
            let value = digits(20..20 + len)?;
            (value * 10u32.pow(9 - u32::try_from(len).ok()?), 20 + len)
        }
        _ => (0, 19),
    };
    if bytes.len() != end + 1 || bytes[end] != b'Z' || second > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone};
    use proptest::prelude::*;

    fn by_chrono(text: &str) -> Option<DateTime<Utc>> {
        text.parse::<DateTime<FixedOffset>>()
            .ok()
            .map(|time| time.with_timezone(&Utc))
    }

    #[test]
    fn the_stores_own_timestamps_read_without_chrono_as_chrono_reads_them() {
        let times = [
            Utc.with_ymd_and_hms(2026, 12, 7, 11, 2, 3).single(),
            DateTime::from_timestamp(0, 1),
            DateTime::from_timestamp(1_765_000_000, 456_000_000),
            DateTime::from_timestamp(1_765_000_000, 456_789_000),
            DateTime::from_timestamp(1_765_000_000, 456_789_012),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).single(),
        ];
        for time in times.into_iter().map(|time| time.expect("a time")) {
            for format in [
                SecondsFormat::AutoSi,
                SecondsFormat::Secs,
                SecondsFormat::Millis,
                SecondsFormat::Micros,
                SecondsFormat::Nanos,
            ] {
                let text = time.to_rfc3339_opts(format, true);
                assert!(parse_utc(text.as_bytes()).is_some(), "{text}");
                assert_eq!(parse_timestamp(&text).ok(), by_chrono(&text), "{text}");
            }
            // The serde form, which the store writes.
            let written = serde_json::to_value(time).expect("a string");
            let text = written.as_str().expect("a string");
            assert_eq!(parse_timestamp(text).ok(), Some(time), "{text}");
        }
    }

    #[test]
    fn timestamps_are_written_as_serde_writes_them() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|day| day.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .map(|time| time.and_utc());
        let times = [
            DateTime::from_timestamp(0, 0),
            DateTime::from_timestamp(1_765_000_000, 456_000_000),
            DateTime::from_timestamp(1_765_000_000, 456_789_000),
            DateTime::from_timestamp(1_765_000_000, 456_789_012),
            DateTime::from_timestamp(1_765_000_000, 1),
            DateTime::from_timestamp(-62_135_596_800, 0),
            DateTime::from_timestamp(253_402_300_800, 0),
            DateTime::from_timestamp(-62_135_596_801, 5),
            leap,
        ];
        for time in times.into_iter().map(|time| time.expect("a time")) {
            let written = serde_json::to_value(time).expect("a string");
            assert_eq!(Some(format_timestamp(&time).as_str()), written.as_str());
        }
    }

    #[test]
    fn other_forms_go_to_chrono_and_read_as_before() {
        for text in [
            "2026-12-07T11:02:03+01:00",
            "2026-12-07 11:02:03Z",
            "2026-12-07t11:02:03z",
            "2016-12-31T23:59:60Z",
            "2026-12-07T11:02:03.1234567891Z",
            "2026-02-30T11:02:03Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T11:02:03.Z",
            "2026-12-07T11:02:03",
            "+2026-12-07T11:02:03Z",
            "",
            "2026-12-07T11:02:03Zjunk",
        ] {
            assert_eq!(parse_timestamp(text).ok(), by_chrono(text), "{text:?}");
        }
        assert!(parse_utc(b"2016-12-31T23:59:60Z").is_none());
    }

    proptest! {
        #[test]
        fn any_text_reads_as_chrono_reads_it(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,11})?(Z|z|\\+0[0-9]:[0-9]{2})?") {
            prop_assert_eq!(parse_timestamp(&text).ok(), by_chrono(&text), "{}", text);
        }

        #[test]
        fn any_time_is_written_as_serde_writes_it(seconds in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000, whole in 0u32..3) {
            // A third of the times with a fraction of whole milli- or
            // microseconds, which serde writes shorter.
            let nanos = match whole { 0 => nanos / 1_000_000 * 1_000_000, 1 => nanos / 1_000 * 1_000, _ => nanos };
            let time = DateTime::from_timestamp(seconds, nanos).expect("a time");
            let written = serde_json::to_value(time).expect("a string");
            let formatted = format_timestamp(&time);
            prop_assert_eq!(Some(formatted.as_str()), written.as_str());
        }

        #[test]
        fn any_time_reads_back(seconds in 0i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let time = DateTime::from_timestamp(seconds, nanos).expect("a time");
            let text = time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            prop_assert!(parse_utc(text.as_bytes()).is_some(), "{}", text);
            prop_assert_eq!(parse_timestamp(&text).ok(), Some(time), "{}", text);
        }
    }

    #[test]
    fn one_pass_places_each_attribute_and_drops_the_rest() {
        let item: Item = [
            ("pk", AttributeValue::S("account#a".into())),
            ("sk", AttributeValue::S("e#1".into())),
            ("version", AttributeValue::N("3".into())),
            ("payload_json", AttributeValue::S("{}".into())),
            ("other", AttributeValue::Bool(true)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let mut attributes = Attributes::take(item.clone(), Some("pk"), Some("sk"));
        assert_eq!(
            attributes.partition,
            Some(AttributeValue::S("account#a".into()))
        );
        assert_eq!(attributes.sort, Some(AttributeValue::S("e#1".into())));
        assert_eq!(attributes.version(), Ok(3));
        assert!(matches!(attributes.payload(), Some(Stored::Json(text)) if text == "{}"));
        assert_eq!(
            attributes.aggregate_type(),
            Err("it has no attribute `aggregate_type`".to_owned())
        );
        assert_eq!(Attributes::take(item, None, Some("sk")).partition, None);
    }

    #[test]
    fn a_value_of_the_wrong_kind_or_out_of_range_is_named() {
        let mut attributes = Attributes {
            version: Some(AttributeValue::S("3".into())),
            schema_version: Some(AttributeValue::N("4294967296".into())),
            event_id: Some(AttributeValue::S("not a uuid".into())),
            timestamp: Some(AttributeValue::S("yesterday".into())),
            ..Attributes::default()
        };
        assert_eq!(
            attributes.version(),
            Err("its attribute `version` is not valid: a number (N) was expected, not S".into())
        );
        assert_eq!(
            attributes.schema_version(),
            Err("its attribute `schema_version` is not valid: \"4294967296\" is not a whole number from 0 to 4294967295".into())
        );
        assert!(attributes
            .event_id()
            .is_err_and(|e| e.starts_with("its attribute `event_id` is not valid: ")));
        assert!(attributes
            .timestamp()
            .is_err_and(|e| e.starts_with("its attribute `timestamp` is not valid: ")));
    }
}

/// Probes of the review of the serde-free header codec: every decoder
/// against serde_dynamo, which read the header before (the same type, the
/// same attribute value), and the writer against serde's form at the edges.
#[cfg(test)]
mod probes {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde::de::DeserializeOwned;

    /// What serde_dynamo read from `value` as a `T`, as the header did.
    fn by_serde<T: DeserializeOwned>(value: Option<AttributeValue>) -> Option<T> {
        serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value?).ok()
    }

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    fn n(text: &str) -> AttributeValue {
        AttributeValue::N(text.to_owned())
    }

    /// Values of every kind, for every attribute.
    fn odd_kinds() -> Vec<AttributeValue> {
        use dynago::sdk::primitives::Blob;
        vec![
            AttributeValue::Null(true),
            AttributeValue::Null(false),
            AttributeValue::Bool(true),
            AttributeValue::B(Blob::new(vec![0x12; 16])),
            AttributeValue::B(Blob::new(b"account".to_vec())),
            AttributeValue::M(Default::default()),
            AttributeValue::L(vec![]),
            AttributeValue::L(vec![n("1"); 16]),
            AttributeValue::Ss(vec!["account".into()]),
            AttributeValue::Ns(vec!["1".into()]),
            AttributeValue::Bs(vec![Blob::new(vec![1])]),
            s(""),
            s("1"),
            n("1"),
            n("0"),
        ]
    }

    fn number_texts() -> Vec<String> {
        [
            "0",
            "1",
            "+1",
            "-0",
            "-1",
            "007",
            "00000000000000000000000001",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "1E0",
            "0x10",
            "",
            "+",
            "-",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999999999999999",
            "١",
            "1_000",
            "+0",
            "--1",
            "++1",
            "1\n",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    }

    fn check_number(text: &str) {
        let value = Some(n(text));
        let mut attributes = Attributes {
            version: value.clone(),
            schema_version: value.clone(),
            ..Attributes::default()
        };
        assert_eq!(
            attributes.version().ok(),
            by_serde::<u64>(value.clone()),
            "version {text:?}"
        );
        assert_eq!(
            attributes.schema_version().ok(),
            by_serde::<u32>(value),
            "schema_version {text:?}"
        );
    }

    fn check_uuid(value: Option<AttributeValue>) {
        let mut attributes = Attributes {
            event_id: value.clone(),
            commit_id: value.clone(),
            ..Attributes::default()
        };
        assert_eq!(
            attributes.event_id().ok(),
            by_serde::<Uuid>(value.clone()),
            "{value:?}"
        );
        assert_eq!(
            attributes.commit_id().ok(),
            by_serde::<Uuid>(value.clone()),
            "{value:?}"
        );
    }

    fn check_timestamp(text: &str) {
        let value = Some(s(text));
        let mut attributes = Attributes {
            timestamp: value.clone(),
            ..Attributes::default()
        };
        let new = attributes.timestamp().ok();
        let old = by_serde::<DateTime<Utc>>(value);
        assert_eq!(new, old, "{text:?}");
        // Leap seconds: equal instants could hide a different nanosecond.
        assert_eq!(
            new.map(|t| t.nanosecond()),
            old.map(|t| t.nanosecond()),
            "{text:?}"
        );
    }

    fn check_string(value: Option<AttributeValue>) {
        let mut attributes = Attributes {
            aggregate_type: value.clone(),
            aggregate_id: value.clone(),
            event_type: value.clone(),
            ..Attributes::default()
        };
        let old = by_serde::<String>(value.clone());
        assert_eq!(attributes.aggregate_type().ok(), old, "{value:?}");
        assert_eq!(attributes.aggregate_id().ok(), old, "{value:?}");
        assert_eq!(attributes.event_type().ok(), old, "{value:?}");
    }

    #[test]
    fn probe_numbers_read_as_serde_read_them() {
        for text in number_texts() {
            check_number(&text);
        }
        for value in odd_kinds() {
            let mut attributes = Attributes {
                version: Some(value.clone()),
                schema_version: Some(value.clone()),
                ..Attributes::default()
            };
            assert_eq!(
                attributes.version().ok(),
                by_serde::<u64>(Some(value.clone()))
            );
            assert_eq!(
                attributes.schema_version().ok(),
                by_serde::<u32>(Some(value))
            );
        }
        let mut missing = Attributes::default();
        assert!(missing.version().is_err() && missing.schema_version().is_err());
    }

    #[test]
    fn probe_uuids_in_every_form_read_as_serde_read_them() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let forms = [
            id.hyphenated().to_string(),
            id.hyphenated().to_string().to_uppercase(),
            id.simple().to_string(),
            id.simple().to_string().to_uppercase(),
            id.braced().to_string(),
            id.urn().to_string(),
            id.urn().to_string().to_uppercase(),
            format!(" {id}"),
            format!("{id} "),
            format!("{{{}", id.simple()),
            "00000000-0000-0000-0000-000000000000".into(),
            "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
            "0123456789abcdef0123456789abcdef0".into(),
            "0123456789abcdef0123456789abcde".into(),
            "01234567-89ab-cdef-0123-456789abcdeg".into(),
            "0123456789ab-cdef-0123-456789abcdef".into(),
            "urn:uuid:0123456789abcdef0123456789abcdef".into(),
            "{0123456789abcdef0123456789abcdef}".into(),
            "０１２３4567-89ab-cdef-0123-456789abcdef".into(),
            String::new(),
        ];
        for form in forms {
            check_uuid(Some(s(&form)));
        }
        for value in odd_kinds() {
            check_uuid(Some(value));
        }
        check_uuid(None);
    }

    #[test]
    fn probe_strings_read_as_serde_read_them() {
        for value in odd_kinds() {
            check_string(Some(value));
        }
        for text in [
            "",
            "#",
            "a#b#c",
            "é\u{0}\u{10ffff}",
            " account ",
            "\u{feff}account",
        ] {
            check_string(Some(s(text)));
        }
        check_string(None);
    }

    #[test]
    fn probe_timestamps_at_the_edges_read_as_serde_read_them() {
        let long_fraction = format!("2026-12-07T11:02:03.{}Z", "1".repeat(10_000));
        let long_junk = format!("2026-12-07T11:02:03Z{}", " ".repeat(10_000));
        let texts = [
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:00.000000001Z",
            "9999-12-31T23:59:59.999999999Z",
            "+10000-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "-0001-12-31T23:59:59Z",
            "-262143-01-01T00:00:00Z",
            "+262142-12-31T23:59:59Z",
            "+262143-12-31T23:59:59.999999999Z",
            "+262144-01-01T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "2016-12-31T23:59:60.999999999Z",
            "2026-12-07T11:02:60Z",
            "2026-12-07T11:02:59.9999999999Z",
            "2026-12-07T11:02:03.1Z",
            "2026-12-07T11:02:03.12Z",
            "2026-12-07T11:02:03.123Z",
            "2026-12-07T11:02:03.1234Z",
            "2026-12-07T11:02:03.12345Z",
            "2026-12-07T11:02:03.123456Z",
            "2026-12-07T11:02:03.1234567Z",
            "2026-12-07T11:02:03.12345678Z",
            "2026-12-07T11:02:03.123456789Z",
            "2026-12-07T11:02:03.000000000Z",
            "2026-12-07T11:02:03.0Z",
            "2026-12-07T11:02:03,5Z",
            "2026-12-07T11:02:03.Z",
            "2026-12-07T11:02:03.5",
            "2026-12-07t11:02:03z",
            "2026-12-07T11:02:03z",
            "2026-12-07t11:02:03Z",
            "2026-12-07 11:02:03Z",
            "2026-12-07T11:02:03 Z",
            "2026-12-07T11:02:03Z ",
            "2026-12-07T11:02:03Z\n",
            "2026-12-07T11:02:03Z\t",
            " 2026-12-07T11:02:03Z",
            "2026-12-07T11:02:03ZZ",
            "2026-12-07T11:02:03Zjunk",
            "2026-12-07T11:02:03UTC",
            "2026-12-07T11:02:03utc",
            "2026-12-07T11:02:03+00:00",
            "2026-12-07T11:02:03-00:00",
            "2026-12-07T11:02:03+0000",
            "2026-12-07T11:02:03+01:00",
            "2026-12-07T11:02:03+23:59",
            "2026-12-07T11:02:03+24:00",
            "2026-12-07T11:02:03-23:59",
            "2026-12-07T11:02:03.123456789+05:30",
            "2026-12-07T11:02:03+01",
            "2026-12-07T24:00:00Z",
            "2026-12-07T23:60:00Z",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-12-00T00:00:00Z",
            "2026-12-32T00:00:00Z",
            "2026-1-07T11:02:03Z",
            "2026-12-7T11:02:03Z",
            "2026-12-07T1:02:03Z",
            "2026-12-07T11:2:03Z",
            "2026-12-07T11:02:3Z",
            "2026 -12-07T11:02:03Z",
            "2026-12-07T11:02:03.1234567891234Z",
            "2026-12-07T11:02:03.-1Z",
            "2026-12-07T11:02:03.+1Z",
            "٢٠٢٦-12-07T11:02:03Z",
            "2026-12-07T11:02:0３Z",
            "2026-12-07T11:02:03.１Z",
            "2026-12-07T11:02:03Ｚ",
            "2026-12-07",
            "2026-12-07T",
            "2026-12-07T11:02:03",
            "2026-12-07T11:02",
            "",
            "Z",
            "+2026-12-07T11:02:03Z",
            "02026-12-07T11:02:03Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
        ];
        for text in texts {
            check_timestamp(text);
        }
        check_timestamp(&long_fraction);
        check_timestamp(&long_junk);
        let mut attributes = Attributes::default();
        assert!(attributes.timestamp().is_err());
        for value in odd_kinds() {
            let mut attributes = Attributes {
                timestamp: Some(value.clone()),
                ..Attributes::default()
            };
            assert_eq!(
                attributes.timestamp().ok(),
                by_serde::<DateTime<Utc>>(Some(value))
            );
        }
    }

    #[test]
    fn probe_metadata_reads_as_serde_read_it() {
        use crate::envelope::Metadata;
        let m = |entries: Vec<(&str, AttributeValue)>| {
            AttributeValue::M(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        };
        let values = [
            m(vec![]),
            m(vec![("correlation_id", s("c"))]),
            m(vec![("correlation_id", AttributeValue::Null(true))]),
            m(vec![("correlation_id", n("1"))]),
            m(vec![("unknown", s("x"))]),
            m(vec![("extra", m(vec![("user", s("ada"))]))]),
            m(vec![("extra", m(vec![("user", n("1"))]))]),
            m(vec![("extra", AttributeValue::Null(true))]),
            s("{}"),
            AttributeValue::L(vec![]),
            AttributeValue::L(vec![s("c"), s("d"), s("e"), m(vec![])]),
            AttributeValue::Bool(false),
        ];
        for value in values.into_iter().chain(odd_kinds()) {
            let mut attributes = Attributes {
                metadata: Some(value.clone()),
                ..Attributes::default()
            };
            let old = match &value {
                AttributeValue::Null(_) => Some(Metadata::default()),
                _ => by_serde::<Metadata>(Some(value.clone())),
            };
            assert_eq!(attributes.metadata::<Metadata>().ok(), old, "{value:?}");
        }
        assert_eq!(
            Attributes::default().metadata::<Metadata>(),
            Ok(Metadata::default())
        );
    }

    #[test]
    fn probe_timestamps_beyond_four_digit_years_and_leap_seconds_are_written_as_serde_writes_them()
    {
        let leap = |year, nanos| {
            NaiveDate::from_ymd_opt(year, 6, 30)
                .and_then(|day| day.and_hms_nano_opt(23, 59, 59, nanos))
                .map(|time| time.and_utc())
                .expect("a leap second")
        };
        let mut times = vec![
            leap(2016, 1_000_000_000),
            leap(2016, 1_999_999_999),
            leap(2016, 1_000_001_000),
            leap(0, 1_500_000_000),
            leap(-1, 1_000_000_001),
            leap(10_000, 1_000_000_000),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::UNIX_EPOCH,
        ];
        for year in [
            -262_143, -10_000, -1_000, -1, 0, 1, 999, 9_999, 10_000, 99_999, 262_142,
        ] {
            for nanos in [0, 1, 1_000, 1_000_000, 999_999_999, 120_000_000] {
                let time = Utc
                    .with_ymd_and_hms(year, 12, 31, 23, 59, 59)
                    .single()
                    .expect("a time")
                    .with_nanosecond(nanos)
                    .expect("a time");
                times.push(time);
            }
        }
        for time in times {
            let written =
                serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(time).expect("a value");
            assert_eq!(
                AttributeValue::S(format_timestamp(&time)),
                written,
                "{time:?}"
            );
            // And it reads back, leap seconds included.
            let read = parse_timestamp(&format_timestamp(&time)).expect("it reads back");
            assert_eq!((read, read.nanosecond()), (time, time.nanosecond()));
        }
    }

    proptest! {
        #[test]
        fn probe_any_number_text_reads_as_serde_read_it(text in "[-+ 0-9eE._x]{0,25}") {
            check_number(&text);
        }

        #[test]
        fn probe_any_uuid_text_reads_as_serde_read_it(text in "(urn:uuid:|\\{)?[-0-9a-fA-FgG]{30,38}\\}?") {
            check_uuid(Some(s(&text)));
        }

        #[test]
        fn probe_any_timestamp_text_reads_as_serde_read_it(
            text in "[-+]?[0-9]{3,6}-[0-9]{1,2}-[0-9]{1,3}[Tt _][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}([.,][0-9]{0,12})?[ ]?(Z|z|UTC|[-+][0-9]{2}:?[0-9]{0,2}|\\PC{0,2})?[ \t\n]?"
        ) {
            check_timestamp(&text);
        }

        #[test]
        fn probe_any_near_valid_timestamp_reads_as_serde_read_it(
            year in 0u32..10_000, month in 0u32..14, day in 0u32..33, hour in 0u32..26,
            minute in 0u32..62, second in 0u32..62, fraction in "([.][0-9]{0,11})?", zone in "Z|z|[+-]0[0-9]:[0-5][0-9]|"
        ) {
            let text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}");
            check_timestamp(&text);
        }

        #[test]
        fn probe_any_time_in_chronos_range_is_written_as_serde_writes_it(
            seconds in DateTime::<Utc>::MIN_UTC.timestamp()..DateTime::<Utc>::MAX_UTC.timestamp(),
            nanos in prop_oneof![Just(0u32), 0u32..1_000, 0u32..2_000_000_000],
        ) {
            // Nanoseconds past a second make a leap second, at 59 seconds only.
            let Some(time) = DateTime::from_timestamp(seconds, nanos % 1_000_000_000)
                .and_then(|t| if nanos >= 1_000_000_000 && t.second() == 59 { t.with_nanosecond(nanos) } else { Some(t) })
            else { return Ok(()) };
            let written = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(time).expect("a value");
            prop_assert_eq!(AttributeValue::S(format_timestamp(&time)), written);
        }
    }
}
