//! Helpers shared by the integration tests: hex, a seeded generator, the back ends to test.
#![allow(dead_code, clippy::unwrap_used)]

use wearpay_crypto::CryptoProvider;
use wearpay_shangmi::{provider_with, sm4::Backend};

/// Decodes hex (test vectors).
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// SplitMix64: reproducible inputs, so a failure can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        self.fill(&mut a);
        a
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The shangmi provider on every SM4 back end this CPU runs: the fast ones and the
/// forced portable fallback. Fails if a fast path is missing where the CPU has AES-NI,
/// so a broken detection cannot silently reduce the coverage.
pub fn providers() -> Vec<CryptoProvider> {
    let backends: Vec<Backend> = Backend::ALL.into_iter().filter(|b| b.is_supported()).collect();
    assert!(backends.contains(&Backend::Portable));
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("aes") && std::is_x86_feature_detected!("sse4.1") {
        assert!(backends.contains(&Backend::AesNi));
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("gfni")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("vaes")
    {
        assert!(backends.contains(&Backend::Gfni));
    }
    backends.into_iter().map(provider_with).collect()
}
