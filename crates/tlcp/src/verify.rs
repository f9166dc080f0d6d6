//! How each end checks the other's certificates. The traits keep the handshake free of
//! policy: the terminal checks against its preinstalled root and the center's name; the
//! center checks against its terminal CA and its registry, which knows at once when a
//! band is reported lost.
use alloc::{string::String, vec::Vec};
use core::fmt::Debug;

use wearpay_crypto::PublicKey;

use crate::config::UnixTime;
use crate::msgs::{AlertDescription, CertificateDer, DistinguishedName};

/// Why a peer's certificates were refused; each maps to its alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The chain does not end at a trusted root.
    #[error("unknown CA: {0}")]
    UnknownCa(String),
    /// The certificate is malformed, mis-signed or has the wrong usage.
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    /// Outside its validity period.
    #[error("certificate expired or not yet valid: {0}")]
    Expired(String),
    /// Revoked by its issuer or suspended by the registry.
    #[error("certificate revoked: {0}")]
    Revoked(String),
    /// A key type or algorithm this end does not take.
    #[error("unsupported certificate: {0}")]
    Unsupported(String),
    /// The peer sent no certificate though one is required.
    #[error("no certificate")]
    Missing,
}

impl CertError {
    /// The alert that reports this failure.
    pub fn alert(&self) -> AlertDescription {
        match self {
            Self::UnknownCa(_) => AlertDescription::UnknownCa,
            Self::BadCertificate(_) => AlertDescription::BadCertificate,
            Self::Expired(_) => AlertDescription::CertificateExpired,
            Self::Revoked(_) => AlertDescription::CertificateRevoked,
            Self::Unsupported(_) => AlertDescription::UnsupportedCertificate,
            Self::Missing => AlertDescription::HandshakeFailure,
        }
    }
}

/// The center's keys, from its verified certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeys {
    /// The subject of the signing certificate.
    pub subject: String,
    /// Verifies the ServerKeyExchange signature.
    pub sign_key: PublicKey,
    /// The ClientKeyExchange is encrypted to this key.
    pub enc_key: PublicKey,
}

/// A verified terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject of its signing certificate.
    pub subject: String,
    /// The serial number of its signing certificate, big-endian: the registry's key.
    pub serial: Vec<u8>,
    /// Verifies its CertificateVerify (and, above the channel, its payment requests).
    pub sign_key: PublicKey,
    /// The certificates as received.
    pub certs: Vec<CertificateDer>,
}

/// The terminal's check of the center (F5).
pub trait ServerCertVerifier: Send + Sync + Debug {
    /// Verifies [sign cert, enc cert, chain…] for `server_name` at `now`.
    fn verify_server(
        &self,
        certs: &[CertificateDer],
        server_name: &str,
        now: UnixTime,
    ) -> Result<ServerKeys, CertError>;
}

/// The center's check of a terminal (F7).
pub trait ClientCertVerifier: Send + Sync + Debug {
    /// Verifies [sign cert, (enc cert,) chain…] at `now`.
    fn verify_client(&self, certs: &[CertificateDer], now: UnixTime) -> Result<PeerIdentity, CertError>;

    /// Called before a session of `peer` is resumed, so a revoked terminal cannot come
    /// back on an old session. By default the certificates are checked again.
    fn allow_resumption(&self, peer: &PeerIdentity, now: UnixTime) -> Result<(), CertError> {
        self.verify_client(&peer.certs, now).map(|_| ())
    }

    /// The CA names put in the CertificateRequest.
    fn ca_names(&self) -> Vec<DistinguishedName> {
        Vec::new()
    }
}
