//! Cryptography for wearpay, behind a provider.
//!
//! Protocol code never names a cipher crate: it asks a [`CryptoProvider`] — a plain struct of
//! trait objects, in the manner of rustls — for hashes, HMAC, block-cipher modes, randomness
//! and the public-key operations. Private keys are trait objects too ([`SigningKey`],
//! [`DecryptingKey`]), so that a key can live where it cannot be read: the band's secure
//! element, or the center's key store in front of an HSM.
//!
//! [`portable::PROVIDER`] implements everything on the RustCrypto crates and runs anywhere
//! `alloc` does.
//!
//! ```
//! use wearpay_crypto::{HashAlgorithm, ct_eq, portable::PROVIDER};
//!
//! let key = PROVIDER.hmac(HashAlgorithm::Sm3, b"key");
//! let tag = key.sign(&[b"The quick brown fox ", b"jumps over the lazy dog"]);
//! let again = key.sign(&[b"The quick brown fox jumps over the lazy dog"]);
//! assert!(ct_eq(tag.as_ref(), again.as_ref()));
//! assert_eq!(format!("{tag:?}"), "bd4a34077888162b210645b8ebf74b9af357303789357a27c7fc457244ebd398");
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cipher;
mod error;
mod hash;
mod hmac;
mod keys;
pub mod portable;
mod provider;
mod random;
pub mod sm2;

pub use cipher::{
    AeadCipher, AeadKey, BlockCipher, CbcCipher, CbcKey, GCM_NONCE_LEN, GCM_TAG_LEN, pkcs7_pad, pkcs7_unpad,
};
pub use error::Error;
pub use hash::{Hash, HashAlgorithm, HashContext, HashOutput};
pub use hmac::{HmacKey, Tag, hmac, pbkdf2_hmac};
pub use keys::{DecryptingKey, KeyAlgorithm, PrivateKey, PublicKey, Rsa, RsaPublicKey, SignatureScheme, SigningKey};
pub use provider::{Capabilities, CryptoProvider};
pub use random::SecureRandom;
pub use sm2::{DEFAULT_SM2_ID, Sm2, Sm2Ciphertext, Sm2PublicKey};

/// Secret bytes that are wiped when dropped.
pub use zeroize::{Zeroize, Zeroizing};

/// Compares two byte strings in constant time (for MACs, Finished messages, PIN values).
///
/// Unequal lengths compare unequal; only the length is allowed to leak.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
