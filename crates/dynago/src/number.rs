//! DynamoDB numbers: the value a number's text stands for, compared as
//! DynamoDB compares numbers, and the floating-point values a number can
//! hold.
//!
//! DynamoDB sends and takes numbers as decimal text, and keeps their value,
//! not their text: `1.50`, `1.5` and `15E-1` are one number, `-0` is `0`,
//! and an item stored under `1.50` comes back under `1.5`. A float that has
//! no DynamoDB number (NaN, the infinities, `-0.0`, magnitudes beyond
//! 1E+126 or below 1E-130, every subnormal among them) cannot be stored as
//! one without changing or failing: [`check_floats`] finds them before
//! anything is written.

use std::fmt;

use serde::ser::{self, Serialize};

/// A decimal number in canonical form: its sign, its significant digits
/// (no leading or trailing zero) and the exponent of its first digit, so
/// that two texts of one number give equal values. Zero has no digits and
/// no sign.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Decimal {
    negative: bool,
    digits: String,
    /// The value is `d.ddd × 10^exponent`.
    exponent: i64,
}

impl Decimal {
    /// Parses DynamoDB's number grammar: an optional sign, digits with at
    /// most one `.` (at least one digit), and an optional exponent (`e` or
    /// `E`, an optional sign, digits). `None` for any other text.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (coefficient, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((coefficient, exponent)) => {
                let digits = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (coefficient, exponent.parse::<i64>().ok()?)
            }
            None => (unsigned, 0),
        };
        let (integer, fraction) = coefficient.split_once('.').unwrap_or((coefficient, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (integer.is_empty() && fraction.is_empty())
            || !all_digits(integer)
            || !all_digits(fraction)
        {
            return None;
        }
        let leading = integer
            .bytes()
            .chain(fraction.bytes())
            .take_while(|&b| b == b'0')
            .count();
        let mut digits: String = integer
            .chars()
            .chain(fraction.chars())
            .skip(leading)
            .collect();
        digits.truncate(digits.trim_end_matches('0').len());
        if digits.is_empty() {
            return Some(Self {
                negative: false,
                digits,
                exponent: 0,
            });
        }
        // The first significant digit is `leading` places into the digits,
        // whose first place is `10^(integer.len() - 1)`.
        let integer_len = i64::try_from(integer.len()).ok()?;
        let leading = i64::try_from(leading).ok()?;
        let exponent = (integer_len - 1 - leading).checked_add(exponent)?;
        Some(Self {
            negative,
            digits,
            exponent,
        })
    }
}

/// The canonical text: `0`, or `[-]d[.ddd]E<exponent>` (`1.5E0`, `-7E-2`).
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(first) = self.digits.get(..1) else {
            return f.write_str("0");
        };
        let sign = if self.negative { "-" } else { "" };
        let rest = &self.digits[1..];
        let point = if rest.is_empty() { "" } else { "." };
        write!(f, "{sign}{first}{point}{rest}E{}", self.exponent)
    }
}

/// The text two spellings of one number share: the canonical form of a
/// number, the text itself for anything that is not one (compared as
/// text, as before).
pub(crate) fn canonical_text(text: &str) -> String {
    Decimal::parse(text).map_or_else(|| text.to_owned(), |decimal| decimal.to_string())
}

/// Where floating-point values are about to go, which says which of them
/// are refused by [`check_floats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FloatTarget {
    /// A DynamoDB number (`N`), as `serde_dynamo` writes floats: it holds
    /// zero and magnitudes from 1E-130 to below 1E+126, and no sign of
    /// zero (`-0` is stored as `0`). NaN, the infinities, `-0.0`, and every
    /// magnitude outside that range (subnormals among them) are refused.
    DynamoDbNumber,
    /// A JSON number, as `serde_json` writes floats: every finite value
    /// (`-0.0` and subnormals included) is kept; NaN and the infinities,
    /// which `serde_json` would write as `null`, are refused.
    Json,
}

/// A floating-point value [`check_floats`] refused: where it is, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatError {
    path: String,
    value: f64,
    target: FloatTarget,
}

impl FloatError {
    /// Where the value is in the serialized form: fields, variants and
    /// indexes, separated by dots (`Deposited.rates.2`); `[key]` stands for
    /// a map's entry. Empty for the value itself.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The refused value.
    pub fn value(&self) -> f64 {
        self.value
    }
}

impl fmt::Display for FloatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.value;
        let at = if self.path.is_empty() {
            String::new()
        } else {
            format!(" at `{}`", self.path)
        };
        match self.target {
            FloatTarget::DynamoDbNumber if value == 0.0 => write!(
                f,
                "the float -0.0{at} has no DynamoDB number (DynamoDB stores -0 as 0): it would load as 0.0"
            ),
            FloatTarget::DynamoDbNumber if value.is_finite() => write!(
                f,
                "the float {value:e}{at} has no DynamoDB number (DynamoDB numbers are 0 or of magnitude 1E-130 to below 1E+126)"
            ),
            FloatTarget::DynamoDbNumber => {
                write!(f, "the float {value}{at} has no DynamoDB number")
            }
            FloatTarget::Json => write!(
                f,
                "the float {value}{at} has no JSON number (serde_json would write it as null)"
            ),
        }
    }
}

impl std::error::Error for FloatError {}

/// Checks that every `f32` and `f64` that `value` serializes is one that
/// `target` holds exactly, so that what is written reads back bit for bit
/// instead of failing or changing. Walks the serialized form once, writing
/// nothing.
///
/// ```
/// use dynago::number::{check_floats, FloatTarget};
///
/// assert!(check_floats(&[0.1, 1e-300], FloatTarget::Json).is_ok());
/// let err = check_floats(&[0.1, 1e-300], FloatTarget::DynamoDbNumber).expect_err("1e-300");
/// assert_eq!(err.path(), "1");
/// assert!(check_floats(&f64::NAN, FloatTarget::Json).is_err());
/// assert!(check_floats(&-0.0, FloatTarget::DynamoDbNumber).is_err());
/// ```
///
/// # Errors
///
/// The first value refused, with its place. A `Serialize` implementation
/// that fails fails here too, with its own message as the path.
pub fn check_floats<T: Serialize + ?Sized>(
    value: &T,
    target: FloatTarget,
) -> Result<(), FloatError> {
    check_floats_noting_whole(value, target).map(drop)
}

/// As [`check_floats`], and counts the floats of `value` with a whole
/// value (`1.0`): a DynamoDB number writes one as `1`, which a reader that
/// is not told the type (a `serde_json::Value`) takes for an integer, so a
/// caller can check that the value read back holds as many.
///
/// ```
/// use dynago::number::{check_floats_noting_whole, FloatTarget};
///
/// assert_eq!(check_floats_noting_whole(&1.5, FloatTarget::DynamoDbNumber), Ok(0));
/// assert_eq!(check_floats_noting_whole(&(1, 2.0, 3.0), FloatTarget::DynamoDbNumber), Ok(2));
/// ```
///
/// # Errors
///
/// As [`check_floats`].
pub fn check_floats_noting_whole<T: Serialize + ?Sized>(
    value: &T,
    target: FloatTarget,
) -> Result<usize, FloatError> {
    let mut walker = Walker {
        target,
        path: Vec::new(),
        refused: None,
        whole: 0,
    };
    match value.serialize(&mut walker) {
        Ok(()) => Ok(walker.whole),
        Err(Stop) => Err(walker.refused.unwrap_or(FloatError {
            path: String::new(),
            value: f64::NAN,
            target,
        })),
    }
}

/// Whether `target` holds `value` exactly.
fn holds(target: FloatTarget, value: f64) -> bool {
    match target {
        FloatTarget::Json => value.is_finite(),
        FloatTarget::DynamoDbNumber => {
            let magnitude = value.abs();
            // The shortest text of a double at or above the double nearest
            // 1E-130 is at least 1E-130, and below 1E+126 for those below
            // the double nearest 1E+126, whose own text is 1E+126.
            (value == 0.0 && value.is_sign_positive()) || (1e-130..1e126).contains(&magnitude)
        }
    }
}

/// One step into a serialized value.
enum Segment {
    Name(&'static str),
    Index(usize),
    Entry,
}

/// A serializer that writes nothing and stops at the first float its
/// target does not hold.
struct Walker {
    target: FloatTarget,
    path: Vec<Segment>,
    refused: Option<FloatError>,
    /// The floats with a whole value met.
    whole: usize,
}

/// The walk stopped: a float was refused (or a `Serialize` failed).
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl Walker {
    fn float(&mut self, value: f64) -> Result<(), Stop> {
        if holds(self.target, value) {
            self.whole += usize::from(value.fract() == 0.0);
            return Ok(());
        }
        let path = self
            .path
            .iter()
            .map(|segment| match segment {
                Segment::Name(name) => (*name).to_owned(),
                Segment::Index(index) => index.to_string(),
                Segment::Entry => "[key]".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(".");
        self.refused = Some(FloatError {
            path,
            value,
            target: self.target,
        });
        Err(Stop)
    }

    fn within<T: Serialize + ?Sized>(&mut self, segment: Segment, value: &T) -> Result<(), Stop> {
        self.path.push(segment);
        let result = value.serialize(&mut *self);
        self.path.pop();
        result
    }
}

/// The walker inside a sequence, a tuple, a map or a struct.
struct Compound<'a> {
    walker: &'a mut Walker,
    index: usize,
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let index = self.index;
        self.index += 1;
        self.walker.within(Segment::Index(index), value)
    }
}

macro_rules! nothing_to_check {
    ($($method:ident($($ty:ty)?)),* $(,)?) => {$(
        fn $method(self $(, _: $ty)?) -> Result<(), Stop> {
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut Walker {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    nothing_to_check!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
    );

    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.float(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.float(v)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.within(Segment::Name(variant), value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound {
            walker: self,
            index: 0,
        })
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(None)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(None)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.path.push(Segment::Name(variant));
        self.serialize_seq(None)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(None)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(None)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.path.push(Segment::Name(variant));
        self.serialize_seq(None)
    }
}

/// The compound serializers: elements are walked under their index, fields
/// under their name; a variant's name is left when it ends.
macro_rules! compound {
    (@end $leave:literal) => {
        fn end(self) -> Result<(), Stop> {
            if $leave {
                self.walker.path.pop();
            }
            Ok(())
        }
    };
    ($($trait:ident: $method:ident, leaving $leave:literal;)*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                self.element(value)
            }

            compound!(@end $leave);
        }
    )*};
    ($($trait:ident: $method:ident(name), leaving $leave:literal;)*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;

            fn $method<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), Stop> {
                self.walker.within(Segment::Name(name), value)
            }

            compound!(@end $leave);
        }
    )*};
}

compound! {
    SerializeSeq: serialize_element, leaving false;
    SerializeTuple: serialize_element, leaving false;
    SerializeTupleStruct: serialize_field, leaving false;
    SerializeTupleVariant: serialize_field, leaving true;
}

compound! {
    SerializeStruct: serialize_field(name), leaving false;
    SerializeStructVariant: serialize_field(name), leaving true;
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        self.walker.within(Segment::Entry, key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.walker.within(Segment::Entry, value)
    }

    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn canonical(text: &str) -> Option<String> {
        Decimal::parse(text).map(|decimal| decimal.to_string())
    }

    #[test]
    fn spellings_of_one_number_are_one_canonical_form() {
        for (spellings, form) in [
            (
                &["1.5", "1.50", "01.5", "+1.5", "15E-1", "0.15e1", "150e-2"][..],
                "1.5E0",
            ),
            (
                &["0", "-0", "+0", "0.0", "-0.000", "0E5", "00", ".0", "0."][..],
                "0",
            ),
            (
                &["100", "1E+2", "1e2", "100.000", "0.001E5", "10E1"][..],
                "1E2",
            ),
            (&["-7", "-7.0", "-0.7E1", "-70e-1"][..], "-7E0"),
            (&["0.07", ".07", "7E-2", "7.0e-2"][..], "7E-2"),
            (
                &[
                    "123456789012345678901234567",
                    "1.23456789012345678901234567E26",
                ][..],
                "1.23456789012345678901234567E26",
            ),
            (&["5.", "5", "0005"][..], "5E0"),
        ] {
            for spelling in spellings {
                assert_eq!(canonical(spelling).as_deref(), Some(form), "{spelling}");
            }
        }
    }

    #[test]
    fn different_numbers_have_different_forms() {
        let numbers = [
            "7", "70", "0.7", "-7", "7.000001", "17", "71", "1E-130", "1E125",
        ];
        let forms: std::collections::HashSet<_> = numbers
            .iter()
            .map(|n| canonical(n).expect("a number"))
            .collect();
        assert_eq!(forms.len(), numbers.len(), "{forms:?}");
    }

    #[test]
    fn texts_that_are_not_numbers_have_no_form() {
        for text in [
            "",
            "-",
            "+",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "1,5",
            " 1",
            "1 ",
            "NaN",
            "inf",
            "-inf",
            "0x10",
            "1_000",
            "++1",
            "1e99999999999999999999",
            "١",
        ] {
            assert_eq!(canonical(text), None, "{text:?}");
            assert_eq!(canonical_text(text), text, "compared as text");
        }
    }

    #[test]
    fn every_f64_text_is_its_value() {
        // The texts floats are written as (their shortest `Display`) parse
        // to the canonical form of the float's exact shortest digits.
        for value in [
            0.1,
            0.12000000000000001,
            1.0 / 3.0,
            1e-130,
            9.9e125,
            123.456,
            -2.5,
        ] {
            let display = canonical(&value.to_string()).expect("a number");
            let exp = canonical(&format!("{value:e}")).expect("a number");
            assert_eq!(display, exp, "{value}");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// One number spelled two ways: its digits with the point moved and
        /// the exponent made up for it, zeros padded on either end.
        fn spellings() -> impl Strategy<Value = (String, String)> {
            (
                any::<bool>(),
                "[0-9]{1,15}",
                0usize..16,
                -40i64..40,
                (0usize..3, 0usize..3, -5i64..5, any::<bool>()),
            )
                .prop_map(
                    |(negative, digits, point, exponent, (before, after, shift, upper))| {
                        let sign = if negative { "-" } else { "" };
                        let spell = |digits: &str, point: usize, exponent: i64, e: &str| {
                            let (integer, fraction) = digits.split_at(point);
                            format!("{sign}{integer}.{fraction}{e}{exponent}")
                        };
                        let point = point.min(digits.len());
                        let first = spell(&digits, point, exponent, "e");
                        // The same digits padded with zeros on both ends, the
                        // point moved by `shift` places and the exponent made up
                        // for it.
                        let padded = format!(
                            "{}{digits}{}",
                            "0".repeat(before + 5),
                            "0".repeat(after + 5)
                        );
                        let at = i64::try_from(point + before + 5).unwrap_or(0);
                        let moved = at + shift;
                        let second = spell(
                            &padded,
                            usize::try_from(moved).unwrap_or(0),
                            exponent - shift,
                            if upper { "E" } else { "e" },
                        );
                        (first, second)
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn every_spelling_of_a_number_has_its_canonical_form((first, second) in spellings()) {
                prop_assert_eq!(canonical(&first), canonical(&second), "{} {}", first, second);
                prop_assert!(canonical(&first).is_some());
            }

            /// With at most 15 significant digits, two texts are one
            /// number exactly when they parse to one double.
            #[test]
            fn canonical_forms_are_equal_when_values_are(
                (a, _) in spellings(),
                (b, _) in spellings(),
            ) {
                let parse = |t: &str| t.parse::<f64>().expect("a float");
                prop_assert_eq!(
                    canonical(&a) == canonical(&b),
                    parse(&a) == parse(&b),
                    "{} {}", a, b
                );
            }
        }
    }

    #[derive(serde::Serialize)]
    enum Event {
        Rated {
            rates: Vec<f64>,
            by: BTreeMap<String, f32>,
        },
        Pair(u8, f64),
    }

    #[test]
    fn floats_a_target_does_not_hold_are_found_with_their_place() {
        let rated = |rates: Vec<f64>| Event::Rated {
            rates,
            by: BTreeMap::from([("a".to_owned(), 1.5)]),
        };
        for target in [FloatTarget::Json, FloatTarget::DynamoDbNumber] {
            assert_eq!(check_floats(&rated(vec![0.1, -3.0, 1e100]), target), Ok(()));
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let err = check_floats(&rated(vec![0.1, bad]), target).expect_err("refused");
                assert_eq!(err.path(), "Rated.rates.1");
                assert!(err.to_string().contains("at `Rated.rates.1`"), "{err}");
            }
        }
        let err =
            check_floats(&Event::Pair(1, -0.0), FloatTarget::DynamoDbNumber).expect_err("-0.0");
        assert_eq!(err.path(), "Pair.1");
        assert!(err.to_string().contains("-0.0"), "{err}");
        for tiny_or_huge in [5e-324, f64::MIN_POSITIVE, 1e-131, 1e126, f64::MAX, -1e200] {
            let err =
                check_floats(&tiny_or_huge, FloatTarget::DynamoDbNumber).expect_err("out of range");
            assert_eq!(err.value().to_bits(), tiny_or_huge.to_bits());
            assert_eq!(check_floats(&tiny_or_huge, FloatTarget::Json), Ok(()));
        }
        assert_eq!(check_floats(&-0.0, FloatTarget::Json), Ok(()));
        let below_1e126 = f64::from_bits(1e126_f64.to_bits() - 1);
        for edge in [1e-130, -1e-130, below_1e126, -below_1e126, 0.0] {
            assert_eq!(
                check_floats(&edge, FloatTarget::DynamoDbNumber),
                Ok(()),
                "{edge}"
            );
        }
        let by = BTreeMap::from([("a".to_owned(), f32::NAN)]);
        let err = check_floats(&by, FloatTarget::Json).expect_err("NaN");
        assert_eq!(err.path(), "[key]");
    }

    #[test]
    fn the_range_check_agrees_with_the_shortest_text() {
        // Near the edges, a float is held exactly when its shortest text is
        // within DynamoDB's range.
        for edge in [1e-130_f64, 1e126_f64] {
            let mut value = edge;
            for _ in 0..3 {
                value = f64::from_bits(value.to_bits() - 1);
            }
            for _ in 0..6 {
                let decimal = Decimal::parse(&format!("{value:e}")).expect("a number");
                let in_range = (-130..=125).contains(&decimal.exponent);
                assert_eq!(
                    holds(FloatTarget::DynamoDbNumber, value),
                    in_range,
                    "{value:e}"
                );
                value = f64::from_bits(value.to_bits() + 1);
            }
        }
    }
}
