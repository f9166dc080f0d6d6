use crate::ReasonCode;

/// Why a payment message could not be built, decoded, verified or deciphered.
///
/// The text is for logs. What a peer may learn is [`Error::reason_code`], which hides
/// which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message is longer than [`crate::MAX_MESSAGE_LEN`].
    #[error("message of {len} bytes is larger than the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Key 0 carried a protocol version this implementation does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u64),
    /// Key 1 carried a message type that is not defined (for this direction).
    #[error("unknown message type {0}")]
    UnknownMessageType(u64),
    /// The input ended inside an item.
    #[error("message truncated")]
    Truncated,
    /// Bytes followed the message.
    #[error("trailing bytes after the message")]
    TrailingBytes,
    /// Well-formed CBOR, but not in the deterministic encoding (a non-shortest integer or
    /// length, or an indefinite length).
    #[error("non-deterministic CBOR encoding")]
    NonCanonical,
    /// A map key that is unknown here, repeated, or out of ascending order.
    #[error("unexpected map key {0}")]
    UnexpectedKey(u64),
    /// A required map key is absent.
    #[error("missing map key {0}")]
    MissingKey(u64),
    /// The CBOR structure does not match the schema (wrong type, wrong array length, …).
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A value outside its domain: an empty order id, an amount too large, a PIN too short…
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was being parsed.
        what: &'static str,
        /// What is wrong with it (never the value itself).
        why: &'static str,
    },
    /// A currency code that is not in this crate's ISO 4217 table.
    #[error("unknown currency")]
    UnknownCurrency,
    /// A signature did not verify, or was made with an algorithm the key cannot use.
    #[error("signature verification failed")]
    BadSignature,
    /// An enciphered PIN was refused: its envelope did not decrypt or named another
    /// transaction, or the deciphered PIN field was not format 4.
    #[error("PIN block refused: {0}")]
    BadPinBlock(&'static str),
    /// A cryptographic operation failed (signing, encryption, randomness).
    #[error("cryptographic operation failed: {0}")]
    Crypto(wearpay_crypto::Error),
}

impl From<wearpay_crypto::Error> for Error {
    fn from(e: wearpay_crypto::Error) -> Self {
        Self::Crypto(e)
    }
}

impl Error {
    /// The reason code to tell the peer: a decoding failure is `malformed`, a bad PIN block
    /// `bad_evidence`, a local crypto failure `internal`.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::TooLarge { .. } => ReasonCode::TooLarge,
            Self::UnsupportedVersion(_) => ReasonCode::UnsupportedVersion,
            Self::BadSignature => ReasonCode::BadSignature,
            Self::BadPinBlock(_) => ReasonCode::BadEvidence,
            Self::Crypto(_) => ReasonCode::Internal,
            Self::UnknownMessageType(_)
            | Self::Truncated
            | Self::TrailingBytes
            | Self::NonCanonical
            | Self::UnexpectedKey(_)
            | Self::MissingKey(_)
            | Self::Malformed(_)
            | Self::Invalid { .. }
            | Self::UnknownCurrency => ReasonCode::Malformed,
        }
    }

    pub(crate) const fn invalid(what: &'static str, why: &'static str) -> Self {
        Self::Invalid { what, why }
    }
}
