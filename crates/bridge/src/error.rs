//! The crate's one error type.

use core::net::SocketAddr;

/// Why the bridge could not start or a relay failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The band's link failed (listening, the link hello, sending or receiving).
    #[error("band link: {0}")]
    Link(#[from] wearpay_link::Error),
    /// The center could not be reached after every attempt.
    #[error("center {addr} unreachable after {attempts} attempts: {source}")]
    CenterUnreachable {
        /// The center's address.
        addr: SocketAddr,
        /// The attempts made.
        attempts: u32,
        /// The last attempt's failure.
        source: std::io::Error,
    },
    /// A socket failure on the center's side or the listener.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The Bluetooth stack failed (adapter, scan, connection, GATT operation).
    #[cfg(feature = "ble")]
    #[error("Bluetooth: {0}")]
    Ble(#[from] btleplug::Error),
    /// The band found over Bluetooth does not offer what the link needs.
    #[cfg(feature = "ble")]
    #[error("band over Bluetooth: {0}")]
    Band(&'static str),
}
