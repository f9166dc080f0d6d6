//! What each end of the channel is configured with.
use alloc::{string::String, sync::Arc, vec::Vec};
use core::fmt;

use wearpay_crypto::{CryptoProvider, DecryptingKey, SigningKey};

use crate::msgs::{CertificateDer, MaxFragmentLength};
use crate::session::SessionStore;
use crate::suites::{BulkCipher, CipherSuite};
use crate::verify::{ClientCertVerifier, ServerCertVerifier};

/// Seconds since the Unix epoch, as the caller's clock says. The protocol never reads a
/// clock itself.
pub use wearpay_pki::UnixTime;

/// The order of the Finished messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The patent's order (F8–F10): the center's Finished first, the terminal's second with
    /// its first application data. Asked for with the `seed_order` extension; required.
    Seed,
    /// GB/T 38636's order: the terminal's Finished first. Any conforming TLCP peer.
    Tlcp,
    /// Ask for the seed order, and fall back to the standard order if the peer ignores it.
    Auto,
}

impl Profile {
    /// Parses `seed`, `tlcp` or `auto`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "seed" => Some(Self::Seed),
            "tlcp" => Some(Self::Tlcp),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Seed => "seed",
            Self::Tlcp => "tlcp",
            Self::Auto => "auto",
        })
    }
}

/// The cipher suites wearpay implements, in its order of preference.
pub const DEFAULT_SUITES: &[CipherSuite] = &[
    CipherSuite::ECC_SM4_GCM_SM3,
    CipherSuite::ECC_SM4_CBC_SM3,
    CipherSuite::RSA_SM4_GCM_SM3,
    CipherSuite::RSA_SM4_CBC_SM3,
    CipherSuite::RSA_SM4_GCM_SHA256,
    CipherSuite::RSA_SM4_CBC_SHA256,
];

/// The SM1 suites, usable only when the provider has SM1 (a hardware secure element).
pub const SM1_SUITES: &[CipherSuite] = &[CipherSuite::ECC_SM1_SM3, CipherSuite::RSA_SM1_SM3];

/// The suites of `wanted` this provider can run (F1: the offer follows the secure chip).
pub fn usable_suites(provider: &CryptoProvider, wanted: &[CipherSuite]) -> Vec<CipherSuite> {
    let caps = provider.capabilities();
    wanted
        .iter()
        .copied()
        .filter(|s| match s.params() {
            Some(p) => {
                (p.bulk != BulkCipher::Sm1Cbc || caps.sm1)
                    && (p.key_exchange != crate::suites::KeyExchange::Rsa || caps.rsa)
            }
            None => false,
        })
        .collect()
}

/// The terminal's side.
pub struct ClientConfig {
    /// All cryptography.
    pub provider: CryptoProvider,
    /// Suites to offer, best first; those the provider cannot run are dropped.
    pub suites: Vec<CipherSuite>,
    /// Which Finished order to ask for.
    pub profile: Profile,
    /// The terminal's signing key (in the secure element).
    pub sign_key: Arc<dyn SigningKey>,
    /// [signing certificate, encryption certificate if any, then any chain].
    pub cert_chain: Vec<CertificateDer>,
    /// Checks the center's certificates (F5).
    pub verifier: Arc<dyn ServerCertVerifier>,
    /// The name the center's signing certificate must carry.
    pub server_name: String,
    /// Where sessions are kept for resumption.
    pub session_store: Arc<dyn SessionStore>,
    /// Smaller records for a band with little memory (RFC 6066).
    pub max_fragment_length: Option<MaxFragmentLength>,
    /// Offer the session_ticket extension (Tongsuo's servers answer it).
    pub offer_session_ticket: bool,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("provider", &self.provider.name)
            .field("suites", &self.suites)
            .field("profile", &self.profile)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The center's side.
pub struct ServerConfig {
    /// All cryptography.
    pub provider: CryptoProvider,
    /// Suites to accept, in the center's order of preference.
    pub suites: Vec<CipherSuite>,
    /// `Auto` serves both orders on one port; `Seed` refuses clients that do not ask for
    /// it; `Tlcp` ignores the request.
    pub profile: Profile,
    /// The channel signing key (ServerKeyExchange).
    pub sign_key: Arc<dyn SigningKey>,
    /// The channel encryption key (decrypts the ClientKeyExchange).
    pub enc_key: Arc<dyn DecryptingKey>,
    /// [signing certificate, encryption certificate, then any chain].
    pub cert_chain: Vec<CertificateDer>,
    /// Checks terminals' certificates (F7), at every handshake and every resumption.
    pub verifier: Arc<dyn ClientCertVerifier>,
    /// Where sessions are kept for resumption.
    pub session_store: Arc<dyn SessionStore>,
    /// How long a session may be resumed, in seconds (at most 24 hours).
    pub session_lifetime: u64,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("provider", &self.provider.name)
            .field("suites", &self.suites)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The longest a session may be resumed.
pub const MAX_SESSION_LIFETIME: u64 = 24 * 60 * 60;
