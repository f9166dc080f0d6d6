//! GCM over SM4 (NIST SP 800-38D with a 96-bit nonce, as RFC 8998 uses it).
//!
//! The counter blocks go through the back end in batches; GHASH is the `ghash` crate's, which
//! uses PCLMULQDQ where the CPU has it and is constant time either way.
use ghash::{GHash, universal_hash::UniversalHash};
use subtle::ConstantTimeEq;
use wearpay_crypto::{Error, GCM_NONCE_LEN, GCM_TAG_LEN};
use zeroize::{Zeroize, Zeroizing};

use super::Sm4Key;

/// Bytes encrypted, then hashed, at a time (a multiple of 16 that stays in the L1 cache).
const CHUNK: usize = 1024;

/// Longest plaintext GCM allows: 2^32 − 2 blocks of keystream (SP 800-38D §5.2.1.1).
const MAX_TEXT: u64 = ((1 << 32) - 2) * 16;

/// An SM4-GCM key: the block cipher key and the GHASH key H = E(0).
pub(crate) struct GcmKey {
    key: Sm4Key,
    /// Zeroized on drop by the `ghash` crate's `zeroize` feature.
    ghash: GHash,
}

impl GcmKey {
    pub(crate) fn new(key: Sm4Key) -> Self {
        let mut h = Zeroizing::new([0u8; 16]);
        key.encrypt_block(&mut h);
        let ghash = GHash::new(&(*h).into());
        Self { key, ghash }
    }

    fn tag(&self, nonce: &[u8; GCM_NONCE_LEN], aad_len: usize, text_len: usize, mut g: GHash) -> [u8; GCM_TAG_LEN] {
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&((aad_len as u64) * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&((text_len as u64) * 8).to_be_bytes());
        g.update_padded(&lengths);
        let s: [u8; 16] = g.finalize().into();
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(nonce);
        j0[15] = 1;
        self.key.encrypt_block(&mut j0);
        for (t, x) in j0.iter_mut().zip(s) {
            *t ^= x;
        }
        j0
    }

    fn check_lengths(aad: &[u8], text: &[u8]) -> Result<(), Error> {
        if text.len() as u64 > MAX_TEXT || aad.len() as u64 > u64::MAX / 8 {
            return Err(Error::InvalidLength);
        }
        Ok(())
    }

    pub(crate) fn seal(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN], Error> {
        Self::check_lengths(aad, in_out)?;
        let mut g = self.ghash.clone();
        g.update_padded(aad);
        // One pass: each batch is encrypted, then hashed while still in cache. Only the last
        // batch can be shorter than BATCH (a multiple of 16), so only it is padded.
        let mut ctr = 2u32;
        for chunk in in_out.chunks_mut(CHUNK) {
            self.key.ctr32(nonce, ctr, chunk);
            ctr = ctr.wrapping_add((CHUNK / 16) as u32);
            g.update_padded(chunk);
        }
        Ok(self.tag(nonce, aad.len(), in_out.len(), g))
    }

    pub(crate) fn open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<(), Error> {
        Self::check_lengths(aad, in_out)?;
        let mut g = self.ghash.clone();
        g.update_padded(aad);
        g.update_padded(in_out);
        let mut expected = self.tag(nonce, aad.len(), in_out.len(), g);
        let ok = bool::from(expected.ct_eq(tag));
        expected.zeroize();
        if !ok {
            // Nothing was decrypted: no unauthenticated plaintext is ever released.
            return Err(Error::DecryptionFailed);
        }
        self.key.ctr32(nonce, 2, in_out);
        Ok(())
    }
}
