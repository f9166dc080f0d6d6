//! The wearpay band: its secure element, its screen and button, its clock, and the payment
//! flow of the patent's S1–S3 through a phone that is not trusted.
//!
//! # The flow
//!
//! [`Terminal::pay`] (over any `Read + Write` transport; [`Terminal::pay_over`] over any
//! [`Exchange`]) goes through these steps:
//!
//! 1. **Time.** The effective time is the phone's, held up by the floor of center time the
//!    band has seen signed; a phone clock behind the floor is refused
//!    ([`Error::ClockBehind`]) before a byte is sent. See [`clock`].
//! 2. **Connect and handshake** (S2, F1–F10): TLCP with the suites the secure element can
//!    run ([`suites_for`]), the center's certificates judged at the effective time, a
//!    stored session resumed when there is one.
//! 3. **Settle what is pending.** A payment whose answer was lost is settled first; a
//!    payment for the same order that cannot be settled stops the new one
//!    ([`Error::PendingPayment`]).
//! 4. **Fetch the order** from the center ([`wearpay_pay::OrderQuery`]), never from the
//!    phone, and **check** it: the one asked for, not expired at the effective time.
//! 5. **Show** merchant, amount and description, and **wait for the press** (no press:
//!    nothing is signed and nothing is sent, [`Error::NotApproved`]).
//! 6. **The mode's verification** (S3): quick, the secure element's worn attestation; PIN,
//!    the PIN typed on the band, enciphered to the center's PIN key for the provisioned
//!    PAN; biometric, the secure element's match; confirm, the displayed text itself.
//! 7. **Counter, signature, pending**: the next counter (persisted before use), the
//!    request signed inside the secure element, and stored as pending *before* it is sent.
//! 8. **Send**, then **check** the answer: the receipt verified with the center's receipt
//!    key and matched to the request; the time floor raised to the receipt's center time;
//!    the receipt stored and the pending request cleared, in one durable step. A decline
//!    is a definitive answer too.
//!
//! If the answer is lost, [`Terminal::resume_pending`] resends the stored request byte for
//! byte (the center answers a transaction it knows with its stored answer) or asks for the
//! transaction's status, until the center's answer is definitive: a payment happens exactly
//! once.
//!
//! # Parts
//!
//! - [`SecureElement`]: keys, counter, time floor, pending requests and receipts;
//!   [`SoftSe`] keeps them in one sealed file (`std`).
//! - [`SealedSessionStore`]: the TLCP sessions kept sealed between runs, so that the next
//!   connection resumes (`std`).
//! - [`UserInterface`]: the screen and button; [`ScriptedUi`] for tests, [`ConsoleUi`]
//!   (`std`).
//! - [`Clock`]: the phone's time; [`effective_time`] applies the floor.
//! - [`Provisioning`]: what enrollment gives the band, and its file.
//!
//! The core is `no_std` + `alloc`; the `std` feature (default) adds the software secure
//! element, the console, the system clock, provisioning files and the blocking driver.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod clock;
#[cfg(feature = "std")]
mod driver;

use wearpay_crypto::{CryptoProvider, portable};
use wearpay_shangmi::sm4::{Backend, Sm4Cbc, Sm4Gcm};

static SM4_CBC: Sm4Cbc = Sm4Cbc::with_backend(Backend::Portable);
static SM4_GCM: Sm4Gcm = Sm4Gcm::with_backend(Backend::Portable);

/// The band's cryptography: SM3 and SM4 from `shangmi`, in constant time (the record layer
/// never indexes a table with a key); SM4 on its portable back end, what a band's
/// microcontroller runs, whose keys are small. SM2 comes from the portable provider, whose
/// keys need no precomputed table: shangmi's fixed-base table for k·G takes about 88 KB of
/// heap, more than a band has, and a real band's secure element does SM2 itself.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    name: "band",
    sm2: portable::PROVIDER.sm2,
    sm4_cbc: &SM4_CBC,
    sm4_gcm: &SM4_GCM,
    ..wearpay_shangmi::PROVIDER
};
mod error;
mod provisioning;
mod se;
#[cfg(feature = "std")]
pub mod sessions;
#[cfg(feature = "std")]
pub mod soft_se;
mod terminal;
mod ui;

#[cfg(feature = "std")]
pub use clock::SystemClock;
pub use clock::{CLOCK_TOLERANCE, Clock, SetClock, effective_time};
#[cfg(feature = "std")]
pub use driver::Channel;
pub use error::Error;
pub use provisioning::{CenterKeys, Provisioning};
pub use se::{PendingRequest, SecureElement, SettledPayment, suites_for};
#[cfg(feature = "std")]
pub use sessions::{SealedSessionStore, SessionsDiscarded};
#[cfg(feature = "std")]
pub use soft_se::{SimulatedUser, SoftSe};
pub use terminal::{Exchange, PaymentOutcome, RENEW_BEFORE_SECS, Recovery, Terminal, TerminalOptions, check_order};
#[cfg(feature = "std")]
pub use ui::ConsoleUi;
pub use ui::{Approval, OrderScreen, Scripted, ScriptedUi, UserInterface};
