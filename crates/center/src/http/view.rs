//! How records look in the API's JSON. Amounts are decimal strings in the currency's
//! major unit ("12.50"), next to their ISO 4217 code: exact, and what people read.
extern crate alloc;

use alloc::{format, string::String};

use chrono::NaiveDate;
use serde::Serialize;
use wearpay_pay::{Currency, Pan, Timestamp};

use super::ApiError;
use crate::{Account, Terminal, Tz};

/// `minor` units of `currency` as a decimal: `-1250` CNY is `"-12.50"`.
pub(crate) fn decimal(minor: i64, currency: Currency) -> String {
    let exponent = currency.exponent();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let unit = 10u64.pow(u32::from(exponent));
    let width = usize::from(exponent);
    format!("{sign}{}.{:0width$}", abs / unit, abs % unit)
}

/// The PAN as receipts print it: the last four digits.
pub(crate) fn masked(pan: &Pan) -> String {
    let s = pan.as_str();
    let keep = s.len().saturating_sub(4);
    format!("{}{}", "*".repeat(keep), &s[keep..])
}

/// A time as RFC 3339 in the center's time zone.
pub(crate) fn local_time(at: Timestamp, tz: Tz) -> String {
    i64::try_from(at.0)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.with_timezone(&tz).to_rfc3339())
        .unwrap_or_default()
}

/// The calendar day `YYYY-MM-DD` in `tz` as `[start, end)` in Unix seconds.
pub(crate) fn day_bounds(day: &str, tz: Tz) -> Result<(NaiveDate, Timestamp, Timestamp), ApiError> {
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("invalid_input", "day must be YYYY-MM-DD"))?;
    let next = date.succ_opt().ok_or(ApiError::bad_request("invalid_input", "day out of range"))?;
    let start = day_start(date, tz)?;
    let end = day_start(next, tz)?;
    Ok((date, start, end))
}

/// The first second of `date` in `tz` (its midnight, or the first hour that exists where a
/// clock change skips midnight).
fn day_start(date: NaiveDate, tz: Tz) -> Result<Timestamp, ApiError> {
    use chrono::TimeZone;
    let out_of_range = || ApiError::bad_request("invalid_input", "day out of range");
    for hour in 0..3 {
        let local = date.and_hms_opt(hour, 0, 0).ok_or_else(out_of_range)?;
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return u64::try_from(t.timestamp()).map(Timestamp).map_err(|_| out_of_range());
        }
    }
    Err(out_of_range())
}

/// An account.
#[derive(Debug, Serialize)]
pub(crate) struct AccountView {
    account: i64,
    name: String,
    kind: &'static str,
    currency: String,
    balance: String,
    overdraft_limit: String,
    /// The last four digits only.
    pan: Option<String>,
    pin_set: bool,
    pin_locked: bool,
    pin_failures: u32,
    reporting_secret_set: bool,
    created_at: u64,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        let c = a.currency();
        Self {
            account: a.id.0,
            name: a.name.clone(),
            kind: a.kind.as_str(),
            currency: String::from(c.code()),
            balance: decimal(a.balance.minor, c),
            overdraft_limit: decimal(a.overdraft_limit.minor_i64(), c),
            pan: a.pan.as_ref().map(masked),
            pin_set: a.pin_verification.is_some(),
            pin_locked: a.pin.locked,
            pin_failures: a.pin.failures,
            reporting_secret_set: a.report_secret_hash.is_some(),
            created_at: a.created_at.0,
        }
    }
}

/// A terminal.
#[derive(Debug, Serialize)]
pub(crate) struct TerminalView {
    serial: String,
    account: i64,
    status: &'static str,
    last_counter: Option<u64>,
    enrolled_at: u64,
    status_changed_at: u64,
    /// The serial of the certificate that replaced this one at a renewal.
    replaced_by: Option<String>,
}

impl From<&Terminal> for TerminalView {
    fn from(t: &Terminal) -> Self {
        Self {
            serial: t.serial.to_string(),
            account: t.account.0,
            status: t.status.as_str(),
            last_counter: t.last_counter.map(|c| c.0),
            enrolled_at: t.enrolled_at.0,
            status_changed_at: t.status_changed_at.0,
            replaced_by: t.replaced_by.as_ref().map(ToString::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decimals_and_days() {
        assert_eq!(decimal(-1250, Currency::CNY), "-12.50");
        assert_eq!(decimal(5, Currency::CNY), "0.05");
        assert_eq!(decimal(i64::MIN, Currency::CNY), "-92233720368547758.08");
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(decimal(1200, jpy), "1200");
        // 2025-06-01 in Shanghai is 2025-05-31T16:00Z to 2025-06-01T16:00Z.
        let (_, start, end) = day_bounds("2025-06-01", Tz::Asia__Shanghai).unwrap();
        assert_eq!((start.0, end.0), (1_748_707_200, 1_748_793_600));
        // A day of 23 hours where the clocks go forward.
        let (_, start, end) = day_bounds("2025-03-30", Tz::Europe__Berlin).unwrap();
        assert_eq!(end.0 - start.0, 23 * 3600);
        assert!(day_bounds("2025-02-30", Tz::UTC).is_err());
        assert!(day_bounds("yesterday", Tz::UTC).is_err());
    }
}
