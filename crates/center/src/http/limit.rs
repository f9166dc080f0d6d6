//! A per-address limit on calls to a public endpoint: at most `n` in each minute.
//!
//! Fixed one-minute windows per client address; IPv6 addresses count per /64, since one
//! host usually holds a whole /64. The table is pruned when it grows, so a flood of
//! addresses cannot make it grow without bound.
use core::{net::IpAddr, time::Duration};
use std::{collections::HashMap, sync::Mutex, time::Instant};

use super::ApiError;

const WINDOW: Duration = Duration::from_secs(60);

/// Addresses kept before stale windows are dropped.
const PRUNE_AT: usize = 10_000;

/// The limiter of one endpoint.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_window: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub(crate) fn per_minute(n: u32) -> Self {
        Self { per_window: n.max(1), windows: Mutex::new(HashMap::new()) }
    }

    /// Counts a call from `addr`: `429` with the seconds to wait once its window is full.
    pub(crate) fn check(&self, addr: IpAddr) -> Result<(), ApiError> {
        self.check_at(addr, Instant::now())
    }

    fn check_at(&self, addr: IpAddr, now: Instant) -> Result<(), ApiError> {
        let key = match addr {
            IpAddr::V4(_) => addr,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
            },
        };
        let mut windows = self.windows.lock().map_err(|_| ApiError::internal(&"rate limiter poisoned"))?;
        if windows.len() >= PRUNE_AT {
            windows.retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
        }
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_window {
            let wait = WINDOW.saturating_sub(now.saturating_duration_since(*start)).as_secs().max(1);
            tracing::warn!(client = %key, "public endpoint rate limit reached");
            return Err(ApiError::too_many(wait));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limits_per_address_and_window() {
        let limiter = RateLimiter::per_minute(3);
        let t = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            limiter.check_at(a, t).unwrap();
        }
        let err = limiter.check_at(a, t + Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert_eq!(err.retry_after, Some(50));
        limiter.check_at(b, t).unwrap();
        limiter.check_at(a, t + WINDOW).unwrap();
        // One /64 is one client.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        for i in 0..3 {
            limiter.check_at(v6(&format!("2001:db8::{i}")), t).unwrap();
        }
        assert!(limiter.check_at(v6("2001:db8::ffff:1"), t).is_err());
        limiter.check_at(v6("2001:db8:0:1::1"), t).unwrap();
    }
}
