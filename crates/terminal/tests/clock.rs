//! The band's time floor against a real center: a phone clock wound back is refused, and
//! an expired order or center certificate stays expired whatever the phone says.
//!
//! The center's clock is moved in these tests (it is what signs the floor), so they run
//! one after the other.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::sync::Mutex;

use common::{Setup, Tap, World, set_center_offset, system_now};
use wearpay_pay::{Mode, Outcome, Timestamp};
use wearpay_terminal::{Approval, CLOCK_TOLERANCE, Error, Scripted, SecureElement};
use wearpay_tlcp::verify::CertError;

/// The center's clock is shared by the tests of this file.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_phone_clock_behind_the_floor_is_refused_before_anything_is_sent() {
    let _one = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    set_center_offset(0);
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let first = world.order("ORD-1", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let paid = band.pay(&first, Mode::Quick, world.connect()).unwrap();
    let floor = paid.receipt.unwrap().center_time;
    assert_eq!(band.se().time_floor(), floor);

    // The phone says an hour ago.
    world.clock.set(Timestamp(floor.0 - 3_600));
    let second = world.order("ORD-2", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let (tap, written) = Tap::new(world.connect());
    let err = band.pay(&second, Mode::Quick, tap).unwrap_err();
    assert!(matches!(err, Error::ClockBehind { phone, floor: f } if phone == floor.0 - 3_600 && f == floor.0), "{err}");
    assert!(written.lock().unwrap().is_empty(), "bytes were sent");
    assert_eq!(band.ui().screens.len(), 1);

    // A little behind (clock drift) is fine: the floor stands in for it.
    world.clock.set(Timestamp(floor.0 - CLOCK_TOLERANCE + 10));
    let outcome = band.pay(&second, Mode::Quick, world.connect()).unwrap();
    assert_eq!(outcome.outcome, Outcome::Approved);
    assert_eq!(outcome.receipt.unwrap().tx_id, outcome.tx_id);
}

#[test]
fn an_expired_order_is_refused_even_when_the_phone_says_otherwise() {
    let _one = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // The center signs a time 1000 s ahead: that becomes the band's floor F.
    set_center_offset(1_000);
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let first = world.order("ORD-1", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let floor = band.pay(&first, Mode::Quick, world.connect()).unwrap().receipt.unwrap().center_time;
    set_center_offset(0);

    // An order that expires 100 s before F, still open at the center; the phone says
    // 200 s before F, when the order would still look valid.
    let expires_at = Timestamp(floor.0 - 100);
    assert!(expires_at > system_now());
    let order = world.order_until("ORD-2", "10.00", expires_at);
    world.clock.set(Timestamp(floor.0 - 200));
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let err = band.pay(&order, Mode::Quick, world.connect()).unwrap_err();
    assert!(matches!(&err, Error::OrderExpired { expires_at: e, .. } if *e == expires_at), "{err}");
    // Refused before it was shown, signed or counted.
    assert_eq!(band.ui().screens.len(), 1);
    assert_eq!(band.se().counter().0, 1);
    assert_eq!(world.paid_tx(&order), None);
}

#[test]
fn an_expired_center_certificate_stays_expired_when_the_clock_is_wound_back() {
    let _one = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    set_center_offset(0);
    let world = World::with(Setup { channel_cert_days: 3 });
    let not_after = world.channel_not_after;
    let mut band = world.enroll_band("band-1");
    let first = world.order_until("ORD-1", "10.00", Timestamp(not_after.0 + 86_400));

    // A receipt from a center whose clock is already past its channel certificates' end
    // (a replayed or a late center): the floor moves past that end.
    set_center_offset(i64::try_from(not_after.0 + 100 - system_now().0).unwrap());
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let floor = band.pay(&first, Mode::Quick, world.connect()).unwrap().receipt.unwrap().center_time;
    assert!(floor > not_after);
    set_center_offset(0);

    // The phone now claims a time before the end: the certificates are still judged at the
    // floor, and the handshake fails.
    world.clock.set(Timestamp(not_after.0 - 100));
    let second = world.order("ORD-2", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let err = band.pay(&second, Mode::Quick, world.connect()).unwrap_err();
    assert!(matches!(&err, Error::Channel(wearpay_tlcp::Error::Certificate(CertError::Expired(_)))), "{err}");
    assert_eq!(band.se().counter().0, 1);
}
