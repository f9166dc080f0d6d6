//! The wearpay payment protocol: what the band and the processing center say to each other
//! inside the secure channel.
//!
//! - Messages are deterministic CBOR maps with integer keys (RFC 8949 §4.2.1), each carrying
//!   the protocol [`VERSION`] under key 0 and its type under key 1. Decoding is strict: an
//!   unknown version, an unknown or repeated or out-of-order key, a non-shortest integer, an
//!   indefinite length, trailing bytes or more than [`MAX_MESSAGE_LEN`] bytes are refused, so
//!   every accepted message has exactly one encoding and `encode(decode(x)) == x`.
//! - Values are parsed once into domain types ([`Amount`], [`Currency`], [`TxId`],
//!   [`OrderId`], …); nothing in this crate uses floating point.
//! - A [`PayRequest`] is signed by the terminal's key through [`wearpay_crypto::SigningKey`]
//!   (so the secure element signs) over `wearpay pay-request v1` ‖ the request's encoding
//!   without its signature, and verified over the exact bytes received.
//! - Receipts are [`Signed`] COSE_Sign1-style with the center's receipt key.
//! - PINs travel as ISO 9564-1 format 4 blocks with SM4 in place of AES ([`pin`]).
//!
//! The wire format is specified in `docs/PROTOCOL.md` ("Payment messages").
//!
//! ```
//! use wearpay_pay::{Money, Request, Response, OrderId, OrderQuery};
//!
//! let money: Money = "1000.00 CNY".parse()?;
//! assert_eq!(money.amount.minor(), 100_000);
//!
//! let query = Request::OrderQuery(OrderQuery { order_id: OrderId::new("ORD-1")? });
//! let bytes = query.encode()?;
//! assert_eq!(Request::decode(&bytes)?, query);
//! assert!(Response::decode(&bytes).is_err());
//! # Ok::<(), wearpay_pay::Error>(())
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod cbor;
mod error;
mod ids;
mod mode;
mod money;
pub mod pin;
mod policy;
mod reason;
mod renewal;
mod request;
mod response;
mod signed;

pub use error::Error;
pub use ids::{
    Counter, Description, HistoryCursor, MatcherId, MerchantId, MerchantName, OrderId, TerminalSerial, Timestamp, TxId,
};
pub use mode::{
    BiometricMatch, ConfirmText, Evidence, EvidenceRules, Mode, Press, Proof, WornAttestation, confirm_text,
};
pub use money::{Amount, Currency, Money, SignedMoney};
pub use pin::{EncipheredPin, Pan, Pin, PinBlock};
pub use policy::{Limits, Policy};
pub use reason::ReasonCode;
pub use renewal::{MAX_CERTIFICATE_LEN, MAX_CHAIN, Renew, Renewed};
pub use request::{
    HistoryQuery, MAX_HISTORY, OrderQuery, PAY_REQUEST_CONTEXT, PayRequest, PayRequestBuilder, PinChange, Request,
    TxStatusQuery,
};
pub use response::{
    Balance, EntryKind, History, HistoryEntry, Order, Outcome, PayResponse, PinChangeResult, Receipt, Response,
    TxState, TxStatus,
};
pub use signed::{ORDER_CONTEXT, RECEIPT_CONTEXT, SigAlg, Signed, SignedPayload};

/// The protocol version every message carries under key 0.
pub const VERSION: u64 = 1;

/// The largest encoded message either side sends or accepts, in bytes.
pub const MAX_MESSAGE_LEN: usize = 8 * 1024;
