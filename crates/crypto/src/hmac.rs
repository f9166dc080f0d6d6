//! HMAC (RFC 2104) and PBKDF2 (RFC 8018) over any provider hash, so a faster hash makes
//! both faster with no second implementation.
use alloc::boxed::Box;
use core::fmt;

use zeroize::Zeroize;

use crate::{Hash, HashContext, HashOutput};

/// An HMAC value.
pub type Tag = HashOutput;

/// An HMAC key with its inner and outer pads already absorbed.
pub struct HmacKey {
    inner: Box<dyn HashContext>,
    outer: Box<dyn HashContext>,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// Prepares an HMAC key for `hash`.
pub fn hmac(hash: &dyn Hash, key: &[u8]) -> HmacKey {
    let block_len = hash.algorithm().block_len();
    let mut k = [0u8; 128];
    if key.len() > block_len {
        let d = hash.hash(key);
        k[..d.as_ref().len()].copy_from_slice(d.as_ref());
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut pad = [0u8; 128];
    for (p, k) in pad.iter_mut().zip(&k).take(block_len) {
        *p = k ^ 0x36;
    }
    let mut inner = hash.start();
    inner.update(&pad[..block_len]);
    for (p, k) in pad.iter_mut().zip(&k).take(block_len) {
        *p = k ^ 0x5c;
    }
    let mut outer = hash.start();
    outer.update(&pad[..block_len]);
    k.zeroize();
    pad.zeroize();
    HmacKey { inner, outer }
}

impl HmacKey {
    /// The HMAC of the concatenation of `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> Tag {
        let inner = self.inner.finish_with(parts);
        self.outer.finish_with(&[inner.as_ref()])
    }

    /// Starts an incremental HMAC; finish it with [`HmacKey::finish`].
    pub fn start(&self) -> Box<dyn HashContext> {
        self.inner.fork()
    }

    /// Completes an HMAC started with [`HmacKey::start`].
    pub fn finish(&self, inner: Box<dyn HashContext>) -> Tag {
        let inner = inner.finish();
        self.outer.finish_with(&[inner.as_ref()])
    }
}

/// PBKDF2 with HMAC over `hash` (RFC 8018 §5.2), filling `out`.
pub fn pbkdf2_hmac(hash: &dyn Hash, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    let key = hmac(hash, password);
    let hlen = hash.algorithm().output_len();
    for (i, chunk) in out.chunks_mut(hlen).enumerate() {
        let block_index = u32::try_from(i + 1).unwrap_or(u32::MAX).to_be_bytes();
        let mut u = key.sign(&[salt, &block_index]);
        let mut t = u;
        for _ in 1..iterations {
            u = key.sign(&[u.as_ref()]);
            let mut acc = [0u8; HashOutput::MAX_LEN];
            for ((a, x), y) in acc.iter_mut().zip(t.as_ref()).zip(u.as_ref()) {
                *a = x ^ y;
            }
            t = HashOutput::new(&acc[..hlen]);
            acc.zeroize();
        }
        chunk.copy_from_slice(&t.as_ref()[..chunk.len()]);
    }
}
