//! Money as integer counts of minor units with an ISO 4217 currency. No floating point.
use core::{fmt, str::FromStr};

use crate::Error;

/// An ISO 4217 currency: its alphabetic code and the exponent of its minor unit
/// (CNY has 2: 1 yuan = 100 fen).
///
/// Only the currencies in this crate's table can be named, so a `Currency` always has the
/// right exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

/// ISO 4217 codes and minor-unit exponents (the standard's list of 2024, the currencies a
/// wearpay center is likely to meet).
const CURRENCIES: &[(&[u8; 3], u8)] = &[
    (b"AED", 2),
    (b"AUD", 2),
    (b"BHD", 3),
    (b"BRL", 2),
    (b"CAD", 2),
    (b"CHF", 2),
    (b"CLF", 4),
    (b"CLP", 0),
    (b"CNY", 2),
    (b"CZK", 2),
    (b"DKK", 2),
    (b"EUR", 2),
    (b"GBP", 2),
    (b"HKD", 2),
    (b"HUF", 2),
    (b"IDR", 2),
    (b"ILS", 2),
    (b"INR", 2),
    (b"IQD", 3),
    (b"ISK", 0),
    (b"JOD", 3),
    (b"JPY", 0),
    (b"KRW", 0),
    (b"KWD", 3),
    (b"KZT", 2),
    (b"LYD", 3),
    (b"MOP", 2),
    (b"MXN", 2),
    (b"MYR", 2),
    (b"NOK", 2),
    (b"NZD", 2),
    (b"OMR", 3),
    (b"PHP", 2),
    (b"PKR", 2),
    (b"PLN", 2),
    (b"RUB", 2),
    (b"SAR", 2),
    (b"SEK", 2),
    (b"SGD", 2),
    (b"THB", 2),
    (b"TND", 3),
    (b"TRY", 2),
    (b"TWD", 2),
    (b"USD", 2),
    (b"UYW", 4),
    (b"VND", 0),
    (b"XAF", 0),
    (b"XOF", 0),
    (b"ZAR", 2),
];

impl Currency {
    /// Chinese yuan renminbi, exponent 2.
    pub const CNY: Currency = Currency { code: *b"CNY", exponent: 2 };
    /// Hong Kong dollar, exponent 2.
    pub const HKD: Currency = Currency { code: *b"HKD", exponent: 2 };
    /// US dollar, exponent 2.
    pub const USD: Currency = Currency { code: *b"USD", exponent: 2 };
    /// Euro, exponent 2.
    pub const EUR: Currency = Currency { code: *b"EUR", exponent: 2 };
    /// Japanese yen, exponent 0.
    pub const JPY: Currency = Currency { code: *b"JPY", exponent: 0 };

    /// The currency with this alphabetic code (three upper-case letters).
    pub fn from_code(code: &str) -> Result<Self, Error> {
        CURRENCIES
            .iter()
            .find(|(c, _)| c.as_slice() == code.as_bytes())
            .map(|&(c, exponent)| Currency { code: *c, exponent })
            .ok_or(Error::UnknownCurrency)
    }

    /// The alphabetic code, e.g. `"CNY"`.
    pub fn code(&self) -> &str {
        // The table holds only ASCII letters.
        core::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// The minor-unit exponent: how many decimal places the currency has.
    pub const fn exponent(&self) -> u8 {
        self.exponent
    }

    /// 10^exponent: how many minor units make one major unit.
    pub const fn minor_per_major(&self) -> u64 {
        10u64.pow(self.exponent as u32)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_code(s)
    }
}

/// A non-negative amount, counted in minor units of a currency the context gives.
///
/// At most [`Amount::MAX`] = `i64::MAX`, so that every amount fits the ledger's signed
/// 64-bit columns (SQLite INTEGER, PostgreSQL BIGINT).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount {
    minor: u64,
}

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount { minor: 0 };
    /// The largest amount: `i64::MAX` minor units.
    pub const MAX: Amount = Amount { minor: i64::MAX as u64 };

    /// An amount of `minor` minor units.
    pub const fn from_minor(minor: u64) -> Result<Self, Error> {
        if minor > Self::MAX.minor {
            Err(Error::invalid("amount", "larger than i64::MAX minor units"))
        } else {
            Ok(Self { minor })
        }
    }

    /// The count of minor units.
    pub const fn minor(self) -> u64 {
        self.minor
    }

    /// The count of minor units as the ledger stores it.
    pub const fn minor_i64(self) -> i64 {
        // In range by construction.
        self.minor as i64
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// `self + other`, or `None` past [`Amount::MAX`].
    pub const fn checked_add(self, other: Amount) -> Option<Amount> {
        match self.minor.checked_add(other.minor) {
            Some(m) if m <= Self::MAX.minor => Some(Amount { minor: m }),
            _ => None,
        }
    }

    /// `self - other`, or `None` below zero.
    pub const fn checked_sub(self, other: Amount) -> Option<Amount> {
        match self.minor.checked_sub(other.minor) {
            Some(m) => Some(Amount { minor: m }),
            None => None,
        }
    }

    /// Parses a decimal amount in `currency`: `"1000.00"` or `"1000"` for CNY.
    ///
    /// Strict: ASCII digits only, no sign, no leading zeros (except a lone `0`), no grouping,
    /// no exponent, and either no fraction or exactly the currency's number of decimals.
    pub fn parse(s: &str, currency: Currency) -> Result<Self, Error> {
        const WHAT: &str = "amount";
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        if int.is_empty() {
            return Err(Error::invalid(WHAT, "no digits before the decimal point"));
        }
        if int.len() > 1 && int.starts_with('0') {
            return Err(Error::invalid(WHAT, "leading zero"));
        }
        let too_large = Error::invalid(WHAT, "too large");
        let mut major: u64 = 0;
        for b in int.bytes() {
            if !b.is_ascii_digit() {
                return Err(Error::invalid(WHAT, "not a decimal number"));
            }
            major = major.checked_mul(10).and_then(|m| m.checked_add(u64::from(b - b'0'))).ok_or(too_large.clone())?;
        }
        let mut minor = major.checked_mul(currency.minor_per_major()).ok_or(too_large.clone())?;
        if let Some(frac) = frac {
            if currency.exponent == 0 {
                return Err(Error::invalid(WHAT, "the currency has no minor unit"));
            }
            if frac.len() != usize::from(currency.exponent) {
                return Err(Error::invalid(WHAT, "wrong number of decimals for the currency"));
            }
            let mut f: u64 = 0;
            for b in frac.bytes() {
                if !b.is_ascii_digit() {
                    return Err(Error::invalid(WHAT, "not a decimal number"));
                }
                f = f * 10 + u64::from(b - b'0');
            }
            minor = minor.checked_add(f).ok_or(too_large.clone())?;
        }
        Self::from_minor(minor).map_err(|_| too_large)
    }

    /// Formats in `currency`'s major units: `100000` minor CNY is `"1000.00"`.
    pub fn display(self, currency: Currency) -> impl fmt::Display {
        Decimal { negative: false, minor: self.minor, exponent: currency.exponent }
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({} minor)", self.minor)
    }
}

/// A decimal rendering of minor units.
struct Decimal {
    negative: bool,
    minor: u64,
    exponent: u8,
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = 10u64.pow(u32::from(self.exponent));
        let sign = if self.negative { "-" } else { "" };
        if self.exponent == 0 {
            write!(f, "{sign}{}", self.minor)
        } else {
            let width = usize::from(self.exponent);
            write!(f, "{sign}{}.{:0width$}", self.minor / unit, self.minor % unit)
        }
    }
}

/// An amount with its currency: what an order costs, what a request pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// How much.
    pub amount: Amount,
    /// Of what.
    pub currency: Currency,
}

impl Money {
    /// `amount` of `currency`.
    pub const fn new(amount: Amount, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Parses `"1000.00 CNY"`: an amount as [`Amount::parse`] takes it, one space, and an
    /// ISO 4217 code.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (number, code) = s.split_once(' ').ok_or(Error::invalid("money", "expected \"<amount> <currency>\""))?;
        let currency = Currency::from_code(code)?;
        Ok(Self { amount: Amount::parse(number, currency)?, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount.display(self.currency), self.currency)
    }
}

impl FromStr for Money {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// A balance, which an overdraft can make negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignedMoney {
    /// Minor units; negative when overdrawn.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl fmt::Display for SignedMoney {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d =
            Decimal { negative: self.minor < 0, minor: self.minor.unsigned_abs(), exponent: self.currency.exponent };
        write!(f, "{d} {}", self.currency)
    }
}
