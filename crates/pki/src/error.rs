//! The one error type of the crate.
use alloc::string::String;
use core::fmt;

use crate::{KeyUsage, RevocationReason, UnixTime};

/// What a decoding error is about and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The object being decoded: "certificate", "CRL", "private key", "PEM"…
    pub what: &'static str,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// How an input failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends inside a structure.
    Truncated,
    /// Bytes follow the structure (DER), or text follows the last PEM block.
    TrailingData,
    /// Not PEM, or a PEM block whose base64 or boundaries are broken.
    Pem,
    /// A PEM block with another label than the one expected.
    UnexpectedLabel {
        /// The labels that would have been accepted.
        expected: &'static str,
        /// The label found.
        found: String,
    },
    /// Well-formed DER that breaks the structure's rules (details for logs).
    Malformed(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::Truncated => write!(f, "malformed {}: truncated", self.what),
            DecodeErrorKind::TrailingData => write!(f, "malformed {}: trailing data", self.what),
            DecodeErrorKind::Pem => write!(f, "malformed {}: bad PEM", self.what),
            DecodeErrorKind::UnexpectedLabel { expected, found } => {
                write!(f, "expected {expected} but found a PEM block labelled \"{found}\"")
            }
            DecodeErrorKind::Malformed(detail) => write!(f, "malformed {}: {detail}", self.what),
        }
    }
}

impl DecodeError {
    pub(crate) fn new(what: &'static str, kind: DecodeErrorKind) -> Self {
        Self { what, kind }
    }

    /// Maps a `der` error, telling truncation and trailing data apart from the rest.
    pub(crate) fn from_der(what: &'static str, err: &der::Error) -> Self {
        let kind = match err.kind() {
            der::ErrorKind::Incomplete { .. } => DecodeErrorKind::Truncated,
            der::ErrorKind::TrailingData { .. } => DecodeErrorKind::TrailingData,
            der::ErrorKind::Pem(_) => DecodeErrorKind::Pem,
            _ => DecodeErrorKind::Malformed(alloc::format!("{err}")),
        };
        Self { what, kind }
    }
}

/// Which object of a verification an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// The end-entity certificate being verified (depth 0).
    Leaf,
    /// A CA certificate of the path (an intermediate or the trust anchor), by subject name.
    Ca(String),
    /// A certificate signing request.
    Request,
    /// The CRL of the named issuer.
    Crl(String),
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Leaf => f.write_str("certificate"),
            Self::Ca(name) => write!(f, "CA certificate \"{name}\""),
            Self::Request => f.write_str("certificate request"),
            Self::Crl(issuer) => write!(f, "CRL of \"{issuer}\""),
        }
    }
}

/// Everything that can go wrong in this crate.
///
/// The `Display` text is one line meant for a person (`certificate expired on …`); match on
/// the variant in code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Truncated, trailing garbage, bad PEM, or DER that is not the expected structure.
    #[error("{0}")]
    Decode(DecodeError),
    /// An algorithm, curve, key size or encryption scheme this crate does not take.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The key file is encrypted and the password does not open it.
    #[error("wrong password for the encrypted private key")]
    WrongPassword,
    /// The key file is encrypted and no password was given.
    #[error("the private key is encrypted: a password is needed")]
    PasswordRequired,
    /// A distinguished name in text form could not be parsed.
    #[error("invalid name \"{0}\"")]
    InvalidName(String),
    /// An issuance request the profile does not allow (for example a validity that ends
    /// before it starts).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The crypto provider failed (a key it refuses, the random source, a hardware key).
    #[error("crypto provider: {0}")]
    Crypto(wearpay_crypto::Error),
    /// The validity period ended before the verification time.
    #[error("{what} expired on {not_after}")]
    Expired {
        /// Which object.
        what: Item,
        /// The end of its validity (nextUpdate for a CRL).
        not_after: UnixTime,
    },
    /// The validity period starts after the verification time.
    #[error("{what} is not valid before {not_before}")]
    NotYetValid {
        /// Which object.
        what: Item,
        /// The start of its validity (thisUpdate for a CRL).
        not_before: UnixTime,
    },
    /// No intermediate or trust anchor issued this certificate.
    #[error("{what} was issued by \"{issuer}\", which is not a trusted or given CA")]
    UnknownIssuer {
        /// The certificate whose issuer is missing.
        what: Item,
        /// Its issuer's name.
        issuer: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error("{what} has a bad signature")]
    BadSignature {
        /// Which object.
        what: Item,
    },
    /// The SM2 signature verifies only with the empty distinguishing ID (OpenSSL 3 signs
    /// that way unless given `-sigopt distid:1234567812345678`), not with `1234567812345678`.
    #[error(
        "{what} is signed with an empty SM2 ID instead of 1234567812345678 (re-sign with -sigopt distid:1234567812345678)"
    )]
    SignedWithEmptySm2Id {
        /// Which object.
        what: Item,
    },
    /// A certificate that signed another is not a CA (basicConstraints missing or CA:FALSE).
    #[error("{what} is not a CA but issued a certificate")]
    IssuerNotCa {
        /// The issuing certificate.
        what: Item,
    },
    /// A certificate expected to be a CA (for a CA role) is not one.
    #[error("{what} is not a CA certificate")]
    NotCa {
        /// Which certificate.
        what: Item,
    },
    /// A CA's pathLenConstraint allows fewer CAs below it than the path has.
    #[error("{what} allows {path_len} CA certificate(s) below it; the path has more")]
    PathLenExceeded {
        /// The constraining CA.
        what: Item,
        /// Its pathLenConstraint.
        path_len: u8,
    },
    /// The key usage extension lacks a bit the role (or certificate signing) needs.
    #[error("{what} lacks key usage {needed}")]
    WrongKeyUsage {
        /// Which certificate.
        what: Item,
        /// The bits that were needed.
        needed: KeyUsage,
    },
    /// The extended key usage does not fit the expected role.
    #[error("{what} has the wrong extended key usage: {needed}")]
    WrongExtendedKeyUsage {
        /// Which certificate.
        what: Item,
        /// What the role needs (for example "serverAuth").
        needed: &'static str,
    },
    /// The certificate's serial is on its issuer's CRL.
    #[error("{what} (serial {serial}) was revoked on {revoked_at}{}", reason.map(|r| alloc::format!(" ({r})")).unwrap_or_default())]
    Revoked {
        /// Which certificate.
        what: Item,
        /// Its serial number in hex.
        serial: String,
        /// The CRL entry's reason code, if any.
        reason: Option<RevocationReason>,
        /// The revocation date.
        revoked_at: UnixTime,
    },
    /// Revocation checking was required but no CRL of this issuer was given.
    #[error("no CRL of \"{issuer}\" was given to check {what}")]
    NoCrl {
        /// The certificate that could not be checked.
        what: Item,
        /// The issuer whose CRL is missing.
        issuer: String,
    },
    /// A critical extension this crate does not understand.
    #[error("{what} has an unsupported critical extension {oid}")]
    UnsupportedCriticalExtension {
        /// Which object.
        what: Item,
        /// The extension's OID.
        oid: String,
    },
    /// A file could not be read or written (the `files` helpers).
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        reason: String,
    },
    /// The path is longer than the verifier allows, or loops.
    #[error("certificate path is too long")]
    PathTooLong,
}

impl From<wearpay_crypto::Error> for Error {
    fn from(e: wearpay_crypto::Error) -> Self {
        Self::Crypto(e)
    }
}

impl Error {
    pub(crate) fn decode(what: &'static str, kind: DecodeErrorKind) -> Self {
        Self::Decode(DecodeError::new(what, kind))
    }

    pub(crate) fn der(what: &'static str) -> impl Fn(der::Error) -> Self {
        move |e| Self::Decode(DecodeError::from_der(what, &e))
    }

    pub(crate) fn malformed(what: &'static str, detail: &str) -> Self {
        Self::decode(what, DecodeErrorKind::Malformed(String::from(detail)))
    }

    /// An encoding error while building a structure (a bug or an absurd input).
    pub(crate) fn encode(e: der::Error) -> Self {
        Self::InvalidRequest(alloc::format!("cannot encode: {e}"))
    }
}
