//! The band pays a real center over TLCP on loopback TCP: every mode, a missing press, a
//! wrong PIN, a lost answer settled exactly once, session resumption, and the queries.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use common::{Loss, MERCHANT_ID, MERCHANT_NAME, RIGHT_PIN, Tap, World, relay};
use wearpay_pay::{Mode, Outcome, Pin, ReasonCode, Receipt};
use wearpay_terminal::{Approval, Error, Scripted, SecureElement};

/// Pays one order in `mode` and checks everything the band must have done.
fn pays_in(mode: Mode) {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    let payer_before = world.balance(world.payer);
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    if mode == Mode::Pin {
        band.ui_mut().push(Scripted::Pin(RIGHT_PIN.into()));
    }

    let outcome = band.pay(&order, mode, world.connect()).unwrap();

    assert_eq!(outcome.outcome, Outcome::Approved, "{mode}");
    assert_eq!(outcome.mode, mode);
    assert!(!outcome.recovered);
    // The band showed the center's merchant and amount before the press.
    let screen = &band.ui().screens[0];
    assert_eq!(screen.merchant_name.as_str(), MERCHANT_NAME);
    assert_eq!(screen.merchant_id.as_str(), MERCHANT_ID);
    assert_eq!(screen.money, common::cny("10.00"));
    assert_eq!(screen.text, "Pay 10.00 CNY\nTo Tea House (M-0001)\nOrder ORD-1\nTwo cups of tea");
    assert_eq!(band.ui().pin_prompts.len(), usize::from(mode == Mode::Pin));
    // The receipt: verified, for this transaction, stored; nothing left pending.
    let receipt: &Receipt = outcome.receipt.as_ref().unwrap();
    assert_eq!(receipt.tx_id, outcome.tx_id);
    assert_eq!(receipt.outcome, Outcome::Approved);
    assert_eq!(band.receipts().unwrap(), vec![outcome.clone()]);
    assert!(band.pending().is_empty());
    // The time floor is the center's time from the receipt.
    assert_eq!(band.se().time_floor(), receipt.center_time);
    assert_eq!(band.se().counter().0, 1);
    // The money moved once.
    assert_eq!(world.balance(world.payer), payer_before - 1_000);
    assert_eq!(world.balance(world.merchant_account), 1_000);
    assert_eq!(world.paid_tx(&order), Some(outcome.tx_id));
    assert!(world.ledger_ok());
    // The user saw the outcome.
    assert_eq!(band.ui().outcomes, vec![outcome]);
}

#[test]
fn quick_mode_pays() {
    pays_in(Mode::Quick);
}

#[test]
fn pin_mode_pays() {
    pays_in(Mode::Pin);
}

#[test]
fn biometric_mode_pays() {
    pays_in(Mode::Biometric);
}

#[test]
fn confirm_mode_pays() {
    pays_in(Mode::Confirm);
}

#[test]
fn without_a_press_nothing_is_signed_or_sent() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    for answer in [Some(Approval::Declined), None] {
        if let Some(a) = answer {
            band.ui_mut().push(Scripted::Press(a));
        }
        let (tap, written) = Tap::new(world.connect());
        let err = band.pay(&order, Mode::Quick, tap).unwrap_err();
        let expected = answer.unwrap_or(Approval::TimedOut);
        assert!(matches!(err, Error::NotApproved(a) if a == expected), "{err}");
        // One application-data record left the band: the order query. No payment request.
        let types = common::record_types(&written.lock().unwrap());
        assert_eq!(types.iter().filter(|t| **t == common::APPLICATION_DATA).count(), 1, "{types:?}");
    }
    assert_eq!(band.ui().screens.len(), 2);
    assert_eq!(band.se().counter().0, 0, "a counter was taken");
    assert!(band.pending().is_empty());
    assert!(band.receipts().unwrap().is_empty());
    assert_eq!(world.balance(world.merchant_account), 0);
    assert_eq!(world.paid_tx(&order), None);
}

#[test]
fn the_secure_element_without_a_press_refuses_too() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    let mut user = band.se().user().clone();
    user.button = false;
    band.se_mut().set_user(user);
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let err = band.pay(&order, Mode::Quick, world.connect()).unwrap_err();
    assert!(matches!(err, Error::NoPress), "{err}");
    assert_eq!(band.se().counter().0, 0);
    assert_eq!(world.paid_tx(&order), None);
}

#[test]
fn a_band_not_worn_since_unlock_does_not_pay_quick() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    let mut user = band.se().user().clone();
    user.worn_since_unlock = false;
    band.se_mut().set_user(user);
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let err = band.pay(&order, Mode::Quick, world.connect()).unwrap_err();
    assert!(matches!(err, Error::VerificationFailed(Mode::Quick)), "{err}");
    assert_eq!(band.se().counter().0, 0);
    assert_eq!(world.paid_tx(&order), None);
}

#[test]
fn a_wrong_pin_is_declined_with_a_verified_receipt() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    band.ui_mut().push(Scripted::Pin("000000".into()));

    let outcome = band.pay(&order, Mode::Pin, world.connect()).unwrap();

    assert_eq!(outcome.outcome, Outcome::Declined(ReasonCode::WrongPin));
    let receipt = outcome.receipt.as_ref().unwrap();
    assert_eq!(receipt.outcome, Outcome::Declined(ReasonCode::WrongPin));
    // A decline is definitive: stored, not pending, nothing booked.
    assert!(band.pending().is_empty());
    assert_eq!(band.receipts().unwrap(), vec![outcome.clone()]);
    assert_eq!(world.balance(world.merchant_account), 0);
    assert_eq!(world.paid_tx(&order), None);

    // The right PIN then pays the same order.
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    band.ui_mut().push(Scripted::Pin(RIGHT_PIN.into()));
    let again = band.pay(&order, Mode::Pin, world.connect()).unwrap();
    assert_eq!(again.outcome, Outcome::Approved);
    assert_ne!(again.tx_id, outcome.tx_id);
    assert_eq!(band.se().counter().0, 2);
    assert_eq!(world.balance(world.merchant_account), 1_000);
}

#[test]
fn a_lost_answer_is_settled_by_resume_pending_exactly_once() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    let payer_before = world.balance(world.payer);
    band.ui_mut().push(Scripted::Press(Approval::Pressed));

    // The phone forwards the payment request, then the link dies before the answer.
    let phone = relay(world.addr, Loss::Response(2));
    let err = band.pay(&order, Mode::Quick, std::net::TcpStream::connect(phone).unwrap()).unwrap_err();
    let Error::ResponseLost { tx_id, .. } = err else { panic!("{err}") };
    assert_eq!(band.pending(), vec![tx_id]);
    // The center did book it.
    assert_eq!(world.paid_tx(&order), Some(tx_id));
    assert_eq!(world.balance(world.payer), payer_before - 1_000);

    let recovery = band.resume_pending(world.connect()).unwrap();
    assert!(recovery.still_pending.is_empty());
    let [outcome] = recovery.settled.as_slice() else { panic!("{recovery:?}") };
    assert_eq!(outcome.tx_id, tx_id);
    assert_eq!(outcome.outcome, Outcome::Approved);
    assert!(outcome.recovered);
    assert_eq!(outcome.receipt.as_ref().unwrap().tx_id, tx_id);
    assert!(band.pending().is_empty());
    assert_eq!(band.receipts().unwrap().len(), 1);

    // Again: nothing pending, nothing resent. The account was debited exactly once.
    let recovery = band.resume_pending(world.connect()).unwrap();
    assert!(recovery.settled.is_empty() && recovery.still_pending.is_empty());
    assert_eq!(world.balance(world.payer), payer_before - 1_000);
    assert_eq!(world.balance(world.merchant_account), 1_000);
    assert!(world.ledger_ok());
}

#[test]
fn paying_an_order_with_a_pending_payment_settles_it_instead_of_paying_twice() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let phone = relay(world.addr, Loss::Response(2));
    let err = band.pay(&order, Mode::Quick, std::net::TcpStream::connect(phone).unwrap()).unwrap_err();
    let Error::ResponseLost { tx_id, .. } = err else { panic!("{err}") };

    // The user tries again: the band settles the pending payment and asks nothing.
    let outcome = band.pay(&order, Mode::Quick, world.connect()).unwrap();
    assert_eq!(outcome.tx_id, tx_id);
    assert_eq!(outcome.outcome, Outcome::Approved);
    assert!(outcome.recovered);
    assert_eq!(band.ui().screens.len(), 1, "the user was asked twice");
    assert_eq!(band.se().counter().0, 1);
    assert_eq!(world.balance(world.merchant_account), 1_000);
}

#[test]
fn a_request_lost_on_the_way_is_decided_when_resent() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    // The phone drops the payment request itself.
    let phone = relay(world.addr, Loss::Request(2));
    let err = band.pay(&order, Mode::Quick, std::net::TcpStream::connect(phone).unwrap()).unwrap_err();
    let Error::ResponseLost { tx_id, .. } = err else { panic!("{err}") };
    assert_eq!(world.paid_tx(&order), None);

    // Resent byte for byte, the center decides it now.
    let recovery = band.resume_pending(world.connect()).unwrap();
    assert_eq!(recovery.settled.len(), 1);
    assert_eq!(recovery.settled[0].tx_id, tx_id);
    assert_eq!(recovery.settled[0].outcome, Outcome::Approved);
    assert_eq!(world.paid_tx(&order), Some(tx_id));
    assert_eq!(world.balance(world.merchant_account), 1_000);
}

#[test]
fn the_second_payment_resumes_the_tlcp_session() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let first = world.order("ORD-1", "10.00");
    let second = world.order("ORD-2", "12.50");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    band.pay(&first, Mode::Quick, world.connect()).unwrap();
    assert!(!band.last_handshake().unwrap().resumed);

    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let outcome = band.pay(&second, Mode::Confirm, world.connect()).unwrap();
    assert_eq!(outcome.outcome, Outcome::Approved);
    assert!(band.last_handshake().unwrap().resumed, "the second connection did a full handshake");
    assert_eq!(band.se().counter().0, 2);
    assert_eq!(world.balance(world.merchant_account), 2_250);
    assert_eq!(band.receipts().unwrap().len(), 2);
}

#[test]
fn balance_history_and_pin_change() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let paid = band.pay(&order, Mode::Biometric, world.connect()).unwrap();

    let balance = band.balance(world.connect()).unwrap();
    assert_eq!(balance.balance.minor, world.balance(world.payer));
    let history = band.history(world.connect(), 10).unwrap();
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].tx_id, paid.tx_id);

    let right = Pin::new(RIGHT_PIN).unwrap();
    let new = Pin::new("24680").unwrap();
    let wrong = Pin::new("1111").unwrap();
    assert_eq!(band.change_pin(&wrong, &new, world.connect()).unwrap(), Outcome::Declined(ReasonCode::WrongPin));
    assert_eq!(band.change_pin(&right, &new, world.connect()).unwrap(), Outcome::Approved);

    // The new PIN pays; the old one no longer does.
    let order2 = world.order("ORD-2", "1.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    band.ui_mut().push(Scripted::Pin(RIGHT_PIN.into()));
    let old = band.pay(&order2, Mode::Pin, world.connect()).unwrap();
    assert_eq!(old.outcome, Outcome::Declined(ReasonCode::WrongPin));
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    band.ui_mut().push(Scripted::Pin("24680".into()));
    assert_eq!(band.pay(&order2, Mode::Pin, world.connect()).unwrap().outcome, Outcome::Approved);
}

#[test]
fn a_paid_order_is_refused_before_the_press() {
    let world = World::new();
    let mut band = world.enroll_band("band-1");
    let order = world.order("ORD-1", "10.00");
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    band.pay(&order, Mode::Quick, world.connect()).unwrap();
    band.ui_mut().push(Scripted::Press(Approval::Pressed));
    let err = band.pay(&order, Mode::Quick, world.connect()).unwrap_err();
    assert!(matches!(err, Error::Refused(ReasonCode::OrderPaid)), "{err}");
    assert_eq!(band.ui().screens.len(), 1);
    assert_eq!(band.se().counter().0, 1);
}
