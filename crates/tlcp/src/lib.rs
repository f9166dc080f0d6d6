//! TLCP (GB/T 38636-2020, version 0x0101): the secure channel between a wearpay terminal
//! and its processing center.
//!
//! For now this crate is the wire codec only: [`codec`] for the presentation language,
//! [`msgs`] for records, alerts and handshake messages, [`suites`] for the cipher suites,
//! and [`deframer`] for cutting a byte stream into records and records into handshake
//! messages. It performs no I/O and no cryptography; byte-exactness is checked against
//! sessions recorded from Tongsuo.
#![no_std]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod client;
pub mod codec;
mod config;
mod conn;
pub mod deframer;
mod error;
mod handshake;
pub mod msgs;
mod pki_verify;
pub mod prf;
mod record_layer;
mod server;
pub mod session;
#[cfg(feature = "std")]
pub mod stream;
pub mod suites;
#[cfg(feature = "tokio")]
pub mod tokio_stream;
#[cfg(test)]
mod vectors_test;
pub mod verify;

pub use client::ClientConnection;
pub use config::{
    ClientConfig, DEFAULT_SUITES, MAX_SESSION_LIFETIME, Profile, SM1_SUITES, ServerConfig, UnixTime, usable_suites,
};
pub use conn::{Error, Event, HandshakeSummary, NegotiatedOrder};
pub use pki_verify::{PkiClientVerifier, PkiServerVerifier};
pub use server::ServerConnection;

pub use codec::{Codec, Reader};
pub use deframer::{BorrowedRecord, HandshakeJoiner, JoinedMessage, MessageDeframer, OpaqueRecord, read_record};
pub use error::InvalidMessage;
pub use suites::{BulkCipher, CipherSuite, HashAlgorithm, KeyExchange, SuiteParams};
