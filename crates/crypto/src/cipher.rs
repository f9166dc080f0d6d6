use alloc::{boxed::Box, vec::Vec};
use core::fmt::Debug;

use crate::Error;

/// Block ciphers the channel may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockCipher {
    /// SM4, GB/T 32907-2016.
    Sm4,
    /// SM1: classified, available only inside certified hardware.
    Sm1,
    /// AES-256 (only for reading PBES2 keys written by OpenSSL).
    Aes256,
}

/// Length of a GCM nonce.
pub const GCM_NONCE_LEN: usize = 12;
/// Length of a GCM tag.
pub const GCM_TAG_LEN: usize = 16;

/// A block cipher in CBC mode, without padding (the record layer and PBES2 pad differently).
pub trait CbcCipher: Send + Sync + Debug {
    /// Which cipher this is.
    fn cipher(&self) -> BlockCipher;
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// Expands a key.
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CbcKey>, Error>;
}

/// An expanded CBC key; zeroized on drop.
pub trait CbcKey: Send + Sync {
    /// Encrypts whole 16-byte blocks in place.
    fn encrypt(&self, iv: &[u8; 16], blocks: &mut [u8]) -> Result<(), Error>;
    /// Decrypts whole 16-byte blocks in place.
    fn decrypt(&self, iv: &[u8; 16], blocks: &mut [u8]) -> Result<(), Error>;
}

/// An AEAD with a 12-byte nonce and a 16-byte tag (SM4-GCM, RFC 8998).
pub trait AeadCipher: Send + Sync + Debug {
    /// Which cipher this is.
    fn cipher(&self) -> BlockCipher;
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// Expands a key.
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>, Error>;
}

/// An expanded AEAD key; zeroized on drop.
pub trait AeadKey: Send + Sync {
    /// Encrypts `in_out` in place and returns the tag.
    fn seal(&self, nonce: &[u8; GCM_NONCE_LEN], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; GCM_TAG_LEN], Error>;
    /// Checks the tag and decrypts `in_out` in place; on failure `in_out` is unspecified.
    fn open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<(), Error>;
}

/// Appends PKCS#7 padding to a whole number of 16-byte blocks.
pub fn pkcs7_pad(data: &mut Vec<u8>) {
    let n = 16 - data.len() % 16;
    data.resize(data.len() + n, n as u8);
}

/// Strips PKCS#7 padding. Only for data at rest (keys, sealed files); the record layer
/// checks its own padding in constant time.
pub fn pkcs7_unpad(data: &[u8]) -> Result<&[u8], Error> {
    let n = *data.last().ok_or(Error::DecryptionFailed)? as usize;
    if n == 0 || n > 16 || n > data.len() || !data.len().is_multiple_of(16) {
        return Err(Error::DecryptionFailed);
    }
    let (body, pad) = data.split_at(data.len() - n);
    if pad.iter().any(|&b| b as usize != n) {
        return Err(Error::DecryptionFailed);
    }
    Ok(body)
}
