//! The phone bridge: relays the band's BLE link to the processing center over TCP.
//!
//! The phone is hostile by assumption (DESIGN.md, "Parties and trust"): the band and the
//! center run their secure channel end to end through it, and nothing the phone does can
//! move money or make either end accept a forged message. The honest bridge therefore
//! needs to understand nothing: for each band that connects it opens a TCP connection to
//! the center and copies bytes both ways, the data of each MSG from the band to the
//! center's socket and what each socket read returns to the band as one MSG (at most
//! 65535 bytes). It neither parses nor keeps them, and logs only sizes and timings.
//!
//! - [`Bridge`] accepts bands on the simulated link ([`wearpay_link::sim`]) and relays
//!   several at once, each in two threads (one per direction, over
//!   [`wearpay_link::sim::SimLink::split`]). When either side drops, the other is closed:
//!   the channel's session is dead anyway, and the band reconnects (resuming its session).
//!   If the center cannot be reached, the bridge retries with doubling backoff, then tells
//!   the band ERROR (busy) and closes.
//! - [`FaultPlan`] turns the bridge hostile, for tests: seeded bit flips, drops,
//!   duplicates, reordering, delays, truncation, replays (also of a recorded session into
//!   a new center connection) and injected chunks.
//! - With the `ble` feature, [`ble`] runs the same relay as a real BLE central.
#![warn(missing_docs)]

extern crate alloc;

#[cfg(feature = "ble")]
pub mod ble;
mod error;
mod hostile;
mod relay;

pub use error::Error;
pub use hostile::{Fault, FaultCounts, FaultPlan};
pub use relay::{Bridge, BridgeConfig, BridgeHandle, ConnectionReport, EndedBy, Flow, RunningBridge};
