//! The band's time: the phone's clock, held up by a floor of what the center has signed.
//!
//! The band has no trustworthy clock of its own; the phone tells it the time, and the phone
//! is hostile. What the band can trust is the center's time in a receipt whose signature it
//! verified. It keeps the highest such time as a **floor** in the secure element and:
//!
//! - refuses to go on when the phone's time is below the floor by more than
//!   [`CLOCK_TOLERANCE`] ([`Error::ClockBehind`]): someone is winding the clock back;
//! - judges certificate validity and order expiry at the **effective time**
//!   `max(phone time, floor)`, so that an expired certificate or order never looks valid
//!   again, whatever the phone says.
use core::fmt::Debug;

use wearpay_pay::Timestamp;

use crate::Error;

/// How far the phone's clock may lag behind the floor (clocks drift, and the floor is the
/// center's clock): five minutes.
pub const CLOCK_TOLERANCE: u64 = 5 * 60;

/// Where the band gets the time: in practice the phone, over the link.
pub trait Clock: Debug {
    /// The time the phone reports, in Unix seconds.
    fn now(&self) -> Timestamp;
}

/// The effective time for a phone time `phone` and a floor `floor`: `max(phone, floor)`, or
/// [`Error::ClockBehind`] when `phone` is more than [`CLOCK_TOLERANCE`] below `floor`.
pub fn effective_time(phone: Timestamp, floor: Timestamp) -> Result<Timestamp, Error> {
    if phone.saturating_add(CLOCK_TOLERANCE) < floor {
        return Err(Error::ClockBehind { phone: phone.0, floor: floor.0 });
    }
    Ok(phone.max(floor))
}

/// The system clock (a simulator, or a band whose phone link passes the phone's time
/// through unchanged).
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(wearpay_tlcp::stream::system_time().0)
    }
}

/// A clock that says what it is told: the phone's last reported time, or a test's.
#[derive(Debug, Default, Clone)]
pub struct SetClock(alloc::sync::Arc<core::sync::atomic::AtomicU64>);

impl SetClock {
    /// A clock at `t`.
    pub fn new(t: Timestamp) -> Self {
        Self(alloc::sync::Arc::new(core::sync::atomic::AtomicU64::new(t.0)))
    }

    /// Sets the time (every clone sees it).
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, core::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for SetClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(core::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn effective_time_is_the_later_of_phone_and_floor() {
        let floor = Timestamp(1_000_000);
        assert_eq!(effective_time(Timestamp(1_000_500), floor).unwrap(), Timestamp(1_000_500));
        // Within the tolerance, the floor wins.
        assert_eq!(effective_time(Timestamp(1_000_000 - 299), floor).unwrap(), floor);
        assert_eq!(effective_time(Timestamp(1_000_000 - CLOCK_TOLERANCE), floor).unwrap(), floor);
        // Beyond it, refused.
        let err = effective_time(Timestamp(1_000_000 - CLOCK_TOLERANCE - 1), floor).unwrap_err();
        assert!(matches!(err, Error::ClockBehind { phone: 999_699, floor: 1_000_000 }), "{err}");
        // No floor yet: the phone's time.
        assert_eq!(effective_time(Timestamp(5), Timestamp(0)).unwrap(), Timestamp(5));
    }

    #[test]
    fn set_clock_is_shared_by_clones() {
        let a = SetClock::new(Timestamp(10));
        let b = a.clone();
        b.set(Timestamp(20));
        assert_eq!(a.now(), Timestamp(20));
    }
}
