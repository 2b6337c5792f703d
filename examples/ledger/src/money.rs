//! Exact amounts of money, and the currencies they are in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An exact amount of money in minor units (cents): `Money::from_cents(1234)`
/// is 12.34.
///
/// Never a float: amounts are parsed from decimal text and added as integers,
/// so no cent is ever rounded away. Stored as a plain number of cents.
///
/// ```
/// use ledger::Money;
///
/// let amount: Money = "12.34".parse()?;
/// assert_eq!(amount.cents(), 1234);
/// assert_eq!(amount.to_string(), "12.34");
/// assert_eq!("5".parse::<Money>()?, Money::from_cents(500));
/// assert!("12.345".parse::<Money>().is_err());
/// assert!("-5".parse::<Money>().is_err());
/// # Ok::<(), ledger::ParseMoneyError>(())
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    /// No money.
    pub const ZERO: Money = Money(0);

    /// The amount of `cents` minor units.
    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// The amount in minor units.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Whether the amount is more than zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// The sum, or `None` when it does not fit.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// The difference, or `None` when it does not fit.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// The sum, stopping at the largest amount.
    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// The difference, stopping at the smallest amount.
    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let cents = self.0.unsigned_abs();
        // `pad` so that widths and alignment (`{:>10}`) apply.
        f.pad(&format!("{sign}{}.{:02}", cents / 100, cents % 100))
    }
}

/// Why text is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseMoneyError {
    /// There is no text.
    #[error("no amount given")]
    Empty,
    /// The amount is below zero.
    #[error("amount `{0}` is negative")]
    Negative(String),
    /// The amount has more than two decimals.
    #[error("amount `{0}` has more than 2 decimals")]
    TooManyDecimals(String),
    /// The text is not a decimal number.
    #[error("amount `{0}` is not a number like 12.34")]
    Invalid(String),
    /// The amount is larger than the ledger can hold.
    #[error("amount `{0}` is too large")]
    TooLarge(String),
}

impl FromStr for Money {
    type Err = ParseMoneyError;

    /// Reads `12.34`, `12.3`, `12` or `0.05`: digits, then optionally a point
    /// and one or two digits. No sign, no exponent, no separators.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ParseMoneyError::Empty);
        }
        match text.strip_prefix('-') {
            Some(rest) => match parse_unsigned(rest, text) {
                Ok(_) => Err(ParseMoneyError::Negative(text.to_owned())),
                Err(error) => Err(error),
            },
            None => parse_unsigned(text, text),
        }
    }
}

/// Parses digits with up to two decimals into cents; `original` names the
/// input in errors.
fn parse_unsigned(text: &str, original: &str) -> Result<Money, ParseMoneyError> {
    let invalid = || ParseMoneyError::Invalid(original.to_owned());
    let too_large = || ParseMoneyError::TooLarge(original.to_owned());
    let (units, fraction) = match text.split_once('.') {
        Some((units, fraction)) => (units, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(units) {
        return Err(invalid());
    }
    let fraction_cents = match fraction {
        None => 0,
        Some(digits) if !all_digits(digits) => return Err(invalid()),
        Some(digits) if digits.len() > 2 => {
            return Err(ParseMoneyError::TooManyDecimals(original.to_owned()))
        }
        // "5" after the point is 50 cents; "05" is 5.
        Some(digits) => digits
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(2)
            .fold(0, |cents, digit| cents * 10 + i64::from(digit - b'0')),
    };
    let units = units.bytes().try_fold(0i64, |value, digit| {
        value
            .checked_mul(10)
            .and_then(|value| value.checked_add(i64::from(digit - b'0')))
    });
    units
        .and_then(|units| units.checked_mul(100))
        .and_then(|cents| cents.checked_add(fraction_cents))
        .map(Money)
        .ok_or_else(too_large)
}

/// A currency, by its three-letter ISO 4217 code (`EUR`, `USD`, `JPY`).
///
/// ```
/// use ledger::Currency;
///
/// let euro: Currency = "eur".parse()?;
/// assert_eq!(euro.as_str(), "EUR");
/// assert!("euro".parse::<Currency>().is_err());
/// # Ok::<(), ledger::ParseCurrencyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// The code, in capitals.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// Text that is not a three-letter currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency `{0}` is not a three-letter code like EUR")]
pub struct ParseCurrencyError(pub String);

impl FromStr for Currency {
    type Err = ParseCurrencyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let code = text.trim();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Currency(code.to_ascii_uppercase()))
        } else {
            Err(ParseCurrencyError(text.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<i64, ParseMoneyError> {
        text.parse::<Money>().map(Money::cents)
    }

    #[test]
    fn reads_decimal_text_as_exact_cents() {
        assert_eq!(parse("12.34"), Ok(1234));
        assert_eq!(parse("12.3"), Ok(1230));
        assert_eq!(parse("12.03"), Ok(1203));
        assert_eq!(parse("5"), Ok(500));
        assert_eq!(parse("0.01"), Ok(1));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("007.50"), Ok(750));
        assert_eq!(parse(" 1.10 "), Ok(110));
        // The sum of many small amounts stays exact (0.1 + 0.2 is 0.3 here).
        let sum = parse("0.1")
            .and_then(|a| parse("0.2").map(|b| a + b))
            .map(Money::from_cents);
        assert_eq!(sum.map(|m| m.to_string()), Ok("0.30".to_owned()));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        assert_eq!(parse(""), Err(ParseMoneyError::Empty));
        assert_eq!(parse("-5"), Err(ParseMoneyError::Negative("-5".into())));
        assert_eq!(
            parse("-0.01"),
            Err(ParseMoneyError::Negative("-0.01".into()))
        );
        assert_eq!(
            parse("1.234"),
            Err(ParseMoneyError::TooManyDecimals("1.234".into()))
        );
        for garbage in [
            "abc", "1e3", "+5", "5.", ".5", "1,50", "1.2.3", "12 34", "0x10", "--5", "-", "NaN",
            "١٢",
        ] {
            assert_eq!(
                parse(garbage),
                Err(ParseMoneyError::Invalid(garbage.into())),
                "{garbage}"
            );
        }
    }

    #[test]
    fn refuses_amounts_that_do_not_fit() {
        assert_eq!(parse("92233720368547758.07"), Ok(i64::MAX));
        for huge in [
            "92233720368547758.08",
            "99999999999999999999",
            "1".repeat(40).as_str(),
        ] {
            assert_eq!(parse(huge), Err(ParseMoneyError::TooLarge(huge.into())));
        }
    }

    #[test]
    fn prints_two_decimals() {
        assert_eq!(Money::from_cents(1234).to_string(), "12.34");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
        assert_eq!(Money::from_cents(-250).to_string(), "-2.50");
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert_eq!(
            Money::from_cents(i64::MIN).to_string(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn adds_without_overflowing() {
        let max = Money::from_cents(i64::MAX);
        assert_eq!(max.checked_add(Money::from_cents(1)), None);
        assert_eq!(max.saturating_add(Money::from_cents(1)), max);
        assert_eq!(
            Money::from_cents(5).checked_sub(Money::from_cents(7)),
            Some(Money::from_cents(-2))
        );
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(
            "usd".parse::<Currency>().map(|c| c.to_string()),
            Ok("USD".into())
        );
        for bad in ["", "EU", "EURO", "E1R", "€€€"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
    }
}
