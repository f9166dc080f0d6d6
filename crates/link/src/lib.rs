//! The BLE link between the wearable band and the phone bridge.
//!
//! The band is a GATT server (BLE peripheral) offering one service, [`SERVICE_UUID`]; the
//! bridge is the central. The bytes they carry are those of the secure channel (TLCP
//! records); this layer never looks inside them. The framing follows the design of
//! CTAP-BLE (FIDO CTAP 2.1, "Bluetooth Smart / Bluetooth Low Energy Technology"):
//!
//! - the central writes to [`WRITE_CHARACTERISTIC_UUID`] (Write Without Response);
//! - the band sends notifications on [`NOTIFY_CHARACTERISTIC_UUID`];
//! - the band states in [`CONTROL_POINT_LENGTH_CHARACTERISTIC_UUID`] (readable, 2 bytes big
//!   endian, 20..=512) the longest value it takes in one write.
//!
//! # Framing
//!
//! A message is a [`Command`] and up to 65535 bytes of data. It is cut into fragments, each
//! one GATT value of at most `min(ATT_MTU − 3, 512, control point length)` bytes
//! ([`max_fragment_len`]). The first fragment has a 3-byte header, the others a 1-byte one:
//!
//! ```text
//! initial fragment:       continuation fragment (SEQ = 0, 1, …, 0x7F, 0, …):
//! +-----+------+------+--------------+      +-----+---------------------+
//! | CMD | HLEN | LLEN | DATA …       |      | SEQ | DATA …              |
//! +-----+------+------+--------------+      +-----+---------------------+
//!   1     1      1     ≤ max − 3              1     ≤ max − 1
//!  1xxx xxxx  total DATA length,            0xxx xxxx
//!             big endian, ≤ 65535
//! ```
//!
//! The high bit tells an initial fragment (a command: PING 0x81, KEEPALIVE 0x82, MSG 0x83,
//! CANCEL 0xBE, ERROR 0xBF) from a continuation. A receiver ([`Reassembler`]) refuses any
//! fragment that breaks these rules or comes more than 3 s after the previous one, answers
//! with an ERROR carrying an [`ErrorStatus`] ([`Error::status`]), and is then ready for a
//! new message.
//!
//! ```
//! use wearpay_link::{fragment, max_fragment_len, Command, Instant, Reassembler};
//!
//! let max = max_fragment_len(23, 512)?; // 20 bytes
//! let data = [7u8; 50];
//! let fragments: Vec<Vec<u8>> = fragment(Command::Msg, &data, max)?.map(|f| f.to_vec()).collect();
//! assert_eq!(fragments.len(), 3); // 17 + 19 + 14 bytes of data
//! assert_eq!(&fragments[0][..3], &[0x83, 0x00, 50]);
//! assert_eq!(fragments[1][0], 0x00);
//!
//! let mut rx = Reassembler::new(max)?;
//! let mut done = None;
//! for (i, f) in fragments.iter().enumerate() {
//!     done = rx.push(f, Instant::from_millis(10 * i as u64))?;
//! }
//! assert_eq!(done.unwrap().data, data);
//! # Ok::<(), wearpay_link::Error>(())
//! ```
//!
//! The core is `no_std` + `alloc` and reads no clock: time comes in as [`Instant`]. The
//! [`air`] module models what fragments cost on air. With the `std` feature (on by
//! default), [`sim`] runs a simulated BLE link over a local TCP socket.
#![no_std]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod air;
mod command;
mod error;
mod frame;
#[cfg(feature = "std")]
pub mod sim;
mod uuid;

pub use air::{AirProfile, AirStats};
pub use command::{Command, ErrorStatus, KeepaliveStatus};
pub use error::Error;
pub use frame::{
    ATT_HEADER_LEN, ATT_MTU_MAX, ATT_MTU_MIN, CONT_HEADER_LEN, CONTROL_POINT_LENGTH_MAX, CONTROL_POINT_LENGTH_MIN,
    DEFAULT_FRAGMENT_TIMEOUT, Fragment, Fragmenter, INIT_HEADER_LEN, Instant, MAX_ATTRIBUTE_VALUE_LEN, MAX_MESSAGE_LEN,
    Message, Reassembler, check_att_mtu, fragment, fragment_count, max_fragment_len, negotiate_att_mtu,
};
pub use uuid::{
    CONTROL_POINT_LENGTH_CHARACTERISTIC_UUID, NOTIFY_CHARACTERISTIC_UUID, SERVICE_UUID, Uuid, WRITE_CHARACTERISTIC_UUID,
};
