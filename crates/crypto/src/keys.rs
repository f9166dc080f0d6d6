use alloc::{boxed::Box, vec::Vec};
use core::fmt::Debug;

use zeroize::Zeroizing;

use crate::{Error, SecureRandom, sm2::Sm2PublicKey};

/// Public-key algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// SM2 on the recommended curve sm2p256v1.
    Sm2,
    /// RSA with the given modulus length in bits.
    Rsa(usize),
}

/// How a signature is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// SM2 over SM3(Z ‖ M), Z bound to the distinguishing ID; DER (r, s).
    Sm2Sm3,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SM3 (the TLCP RSA_*_SM3 suites).
    RsaPkcs1Sm3,
}

/// An RSA public key: big-endian modulus and exponent.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// Modulus, big-endian, no leading zeros.
    pub n: Vec<u8>,
    /// Public exponent, big-endian.
    pub e: Vec<u8>,
}

impl RsaPublicKey {
    /// Modulus length in bits.
    pub fn bits(&self) -> usize {
        let first = self.n.iter().position(|&b| b != 0).unwrap_or(self.n.len());
        match self.n.get(first) {
            Some(b) => (self.n.len() - first) * 8 - b.leading_zeros() as usize,
            None => 0,
        }
    }
}

impl Debug for RsaPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits())
    }
}

/// A public key of either family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// SM2.
    Sm2(Sm2PublicKey),
    /// RSA.
    Rsa(RsaPublicKey),
}

impl PublicKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Sm2(_) => KeyAlgorithm::Sm2,
            Self::Rsa(k) => KeyAlgorithm::Rsa(k.bits()),
        }
    }
}

/// A private key that signs. It may live in a secure element or an HSM.
pub trait SigningKey: Send + Sync + Debug {
    /// The key's public half.
    fn public_key(&self) -> PublicKey;
    /// The scheme [`SigningKey::sign`] uses.
    fn scheme(&self) -> SignatureScheme;
    /// Signs `msg` (the whole message; SM2 keys hash Z ‖ M with their distinguishing ID).
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error>;
    /// Signs with a named scheme: an RSA key serves both the SHA-256 and the SM3 suites.
    fn sign_with(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, Error> {
        if scheme == self.scheme() { self.sign(msg) } else { Err(Error::Unsupported("signature scheme for this key")) }
    }
}

/// A private key that decrypts. It may live in a secure element or an HSM.
pub trait DecryptingKey: Send + Sync + Debug {
    /// The key's public half.
    fn public_key(&self) -> PublicKey;
    /// Decrypts an SM2 ciphertext (DER: C1, C3, C2) or an RSAES-PKCS1-v1_5 block.
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// A private key held in memory, which can both sign and decrypt and be exported.
pub trait PrivateKey: SigningKey + DecryptingKey {
    /// The secret in its standard inner encoding: the 32-byte SM2 scalar, or PKCS#1
    /// `RSAPrivateKey` DER. Hardware keys answer [`Error::NotExportable`].
    fn export(&self) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// RSA operations of a provider.
pub trait Rsa: Send + Sync + Debug {
    /// Generates a key of `bits` (2048 or 3072).
    fn generate(&self, bits: usize, rng: &dyn SecureRandom) -> Result<Box<dyn PrivateKey>, Error>;
    /// Loads a key from PKCS#1 `RSAPrivateKey` DER.
    #[allow(clippy::wrong_self_convention, reason = "the provider is a factory; `from` names what it loads")]
    fn from_pkcs1_der(&self, der: &[u8]) -> Result<Box<dyn PrivateKey>, Error>;
    /// Verifies an RSASSA-PKCS1-v1_5 signature.
    fn verify(&self, key: &RsaPublicKey, scheme: SignatureScheme, msg: &[u8], sig: &[u8]) -> Result<(), Error>;
    /// RSAES-PKCS1-v1_5 encryption.
    fn encrypt(&self, key: &RsaPublicKey, msg: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, Error>;
}

impl dyn PrivateKey {
    /// The key's public half (both supertraits have it; this picks one so callers need not).
    pub fn public_key(&self) -> PublicKey {
        SigningKey::public_key(self)
    }
}
