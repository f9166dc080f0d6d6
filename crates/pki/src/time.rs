//! Time as the caller gives it: verification never reads a clock.
use core::{fmt, str::FromStr, time::Duration};

use der::{
    DateTime,
    asn1::{GeneralizedTime, UtcTime},
};
use x509_cert::time::Time;

use crate::Error;

/// Seconds since 1970-01-01T00:00:00Z.
///
/// Verification takes one from the caller (the band keeps a floor of time from what the
/// center signs); only [`UnixTime::now`], behind the `std` feature, reads the system clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

/// One day in seconds.
pub const DAY: u64 = 86_400;

impl UnixTime {
    /// From seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0
    }

    /// The system clock (tools and the center; never inside verification).
    #[cfg(feature = "std")]
    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self(d.as_secs())
    }

    /// This time plus `days` days (saturating).
    pub const fn plus_days(self, days: u64) -> Self {
        Self(self.0.saturating_add(days.saturating_mul(DAY)))
    }

    /// This time plus `secs` seconds (saturating).
    pub const fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// This time minus `secs` seconds (saturating at the epoch).
    pub const fn minus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }

    /// Parses RFC 3339 `2027-01-01T00:00:00Z` (UTC only) or a bare date `2027-01-01`
    /// (midnight UTC).
    pub fn parse_rfc3339(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let bad = || Error::InvalidRequest(alloc::format!("not an RFC 3339 UTC time: {s}"));
        let dt = if s.len() == 10 {
            DateTime::from_str(&alloc::format!("{s}T00:00:00Z")).map_err(|_| bad())?
        } else {
            let normalized = s.replace('t', "T").replace('z', "Z").replace(' ', "T").replace("+00:00", "Z");
            // Accept fractional seconds by dropping them.
            let normalized = match (normalized.find('.'), normalized.ends_with('Z')) {
                (Some(dot), true) => alloc::format!("{}Z", &normalized[..dot]),
                _ => normalized,
            };
            DateTime::from_str(&normalized).map_err(|_| bad())?
        };
        Ok(Self(dt.unix_duration().as_secs()))
    }

    pub(crate) fn from_x509(t: &Time) -> Self {
        Self(t.to_unix_duration().as_secs())
    }

    /// The X.509 encoding: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
    pub(crate) fn to_x509(self) -> Result<Time, Error> {
        let dt = DateTime::from_unix_duration(Duration::from_secs(self.0))
            .map_err(|_| Error::InvalidRequest(alloc::format!("time out of range: {} s", self.0)))?;
        if dt.year() < 2050 {
            Ok(Time::UtcTime(UtcTime::from_date_time(dt).map_err(Error::encode)?))
        } else {
            Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
        }
    }
}

impl fmt::Display for UnixTime {
    /// RFC 3339 in UTC: `2027-01-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::from_unix_duration(Duration::from_secs(self.0)) {
            Ok(dt) => write!(f, "{dt}"),
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}
