use alloc::vec::Vec;

use crate::{
    AeadCipher, BlockCipher, CbcCipher, Error, Hash, HashAlgorithm, HmacKey, PublicKey, Rsa, SecureRandom,
    SignatureScheme, Sm2, hmac,
};

/// Everything cryptographic wearpay needs, as a plain struct of trait objects.
///
/// Copy one and replace a field to override a single algorithm: a secure element adds SM1,
/// a test pins the random source, the fast provider swaps in its own SM2.
#[derive(Debug, Clone, Copy)]
pub struct CryptoProvider {
    /// A short name for logs and benchmarks.
    pub name: &'static str,
    /// SM3.
    pub sm3: &'static dyn Hash,
    /// SHA-256.
    pub sha256: &'static dyn Hash,
    /// SM4 in CBC mode.
    pub sm4_cbc: &'static dyn CbcCipher,
    /// SM4-GCM.
    pub sm4_gcm: &'static dyn AeadCipher,
    /// SM1 in CBC mode: only hardware has it.
    pub sm1_cbc: Option<&'static dyn CbcCipher>,
    /// AES-256-CBC, for reading keys OpenSSL protects with it.
    pub aes256_cbc: Option<&'static dyn CbcCipher>,
    /// SM2.
    pub sm2: &'static dyn Sm2,
    /// RSA, where the provider has it.
    pub rsa: Option<&'static dyn Rsa>,
    /// The random source.
    pub random: &'static dyn SecureRandom,
}

/// Which algorithms a provider (or the secure element behind it) can run: this is what the
/// terminal offers in F1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Capabilities {
    /// SM1 (hardware only).
    pub sm1: bool,
    /// SM2.
    pub sm2: bool,
    /// SM3.
    pub sm3: bool,
    /// SM4.
    pub sm4: bool,
    /// RSA.
    pub rsa: bool,
}

impl CryptoProvider {
    /// The hash for `alg`.
    pub fn hash(&self, alg: HashAlgorithm) -> &'static dyn Hash {
        match alg {
            HashAlgorithm::Sm3 => self.sm3,
            HashAlgorithm::Sha256 => self.sha256,
        }
    }

    /// An HMAC key over `alg`.
    pub fn hmac(&self, alg: HashAlgorithm, key: &[u8]) -> HmacKey {
        hmac(self.hash(alg), key)
    }

    /// The CBC mode of `cipher`, if this provider has it.
    pub fn cbc(&self, cipher: BlockCipher) -> Result<&'static dyn CbcCipher, Error> {
        match cipher {
            BlockCipher::Sm4 => Ok(self.sm4_cbc),
            BlockCipher::Sm1 => self.sm1_cbc.ok_or(Error::Unsupported("SM1")),
            BlockCipher::Aes256 => self.aes256_cbc.ok_or(Error::Unsupported("AES-256")),
        }
    }

    /// The RSA implementation, if any.
    pub fn rsa(&self) -> Result<&'static dyn Rsa, Error> {
        self.rsa.ok_or(Error::Unsupported("RSA"))
    }

    /// What this provider can do.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities { sm1: self.sm1_cbc.is_some(), sm2: true, sm3: true, sm4: true, rsa: self.rsa.is_some() }
    }

    /// Fills `dest` from the provider's random source.
    pub fn fill_random(&self, dest: &mut [u8]) -> Result<(), Error> {
        self.random.fill(dest)
    }

    /// Verifies `sig` over `msg` by `key`; SM2 uses the default distinguishing ID.
    pub fn verify(&self, key: &PublicKey, scheme: SignatureScheme, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        match (key, scheme) {
            (PublicKey::Sm2(k), SignatureScheme::Sm2Sm3) => self.sm2.verify(k, crate::DEFAULT_SM2_ID, msg, sig),
            (PublicKey::Rsa(k), SignatureScheme::RsaPkcs1Sha256 | SignatureScheme::RsaPkcs1Sm3) => {
                self.rsa()?.verify(k, scheme, msg, sig)
            }
            _ => Err(Error::BadSignature),
        }
    }

    /// Encrypts `msg` to `key`: an SM2 DER ciphertext, or an RSAES-PKCS1-v1_5 block.
    pub fn encrypt(&self, key: &PublicKey, msg: &[u8]) -> Result<Vec<u8>, Error> {
        match key {
            PublicKey::Sm2(k) => self.sm2.encrypt(k, msg, self.random),
            PublicKey::Rsa(k) => self.rsa()?.encrypt(k, msg, self.random),
        }
    }
}
