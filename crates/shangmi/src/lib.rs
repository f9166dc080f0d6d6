//! Fast, constant-time ShangMi cryptography for wearpay's crypto provider.
//!
//! - [`sm4`]: SM4 with its S-box computed by GFNI (sixteen blocks per AVX-512 register), through
//!   the AES-NI instruction (AVX2 + VAES on eight blocks per register where the CPU has it) or,
//!   anywhere, a Boolean circuit; never a secret-indexed table. CBC and GCM (RFC 8998) through the `wearpay-crypto` traits.
//! - [`sm3`]: SM3 with an unrolled compression function, built for BMI2 as well (chosen at run
//!   time).
//! - [`sm2`]: SM2 signatures and encryption on its own constant-time field and point
//!   arithmetic (fixed-base comb for k·G, windowed ladder for k·P).
//!
//! [`PROVIDER`] plugs all three into a [`CryptoProvider`]; RSA, SHA-256, AES and randomness
//! come from the portable provider.
//!
//! ```
//! use wearpay_crypto::portable;
//! use wearpay_shangmi::PROVIDER;
//!
//! let digest = PROVIDER.sm3.hash(b"abc");
//! assert_eq!(digest, portable::PROVIDER.sm3.hash(b"abc"));
//!
//! let key = PROVIDER.sm4_gcm.new_key(&[7; 16]).unwrap();
//! let mut record = *b"pay 12.00 CNY";
//! let tag = key.seal(&[1; 12], b"header", &mut record).unwrap();
//! key.open(&[1; 12], b"header", &mut record, &tag).unwrap();
//! assert_eq!(&record, b"pay 12.00 CNY");
//! ```
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod sm2;
pub mod sm3;
pub mod sm4;

use wearpay_crypto::{CryptoProvider, portable};

/// The ShangMi provider on the detected SM4 back end ([`sm4::Backend::detected`]).
pub static PROVIDER: CryptoProvider = CryptoProvider {
    name: "shangmi",
    sm3: &sm3::SM3,
    sm4_cbc: &sm4::CBC,
    sm4_gcm: &sm4::GCM,
    sm2: &sm2::SM2,
    ..portable::PROVIDER
};

/// The ShangMi provider, as [`PROVIDER`].
pub fn provider() -> CryptoProvider {
    PROVIDER
}

static CBC_BY_BACKEND: [sm4::Sm4Cbc; 4] = [
    sm4::Sm4Cbc::with_backend(sm4::Backend::Portable),
    sm4::Sm4Cbc::with_backend(sm4::Backend::AesNi),
    sm4::Sm4Cbc::with_backend(sm4::Backend::Vaes),
    sm4::Sm4Cbc::with_backend(sm4::Backend::Gfni),
];
static GCM_BY_BACKEND: [sm4::Sm4Gcm; 4] = [
    sm4::Sm4Gcm::with_backend(sm4::Backend::Portable),
    sm4::Sm4Gcm::with_backend(sm4::Backend::AesNi),
    sm4::Sm4Gcm::with_backend(sm4::Backend::Vaes),
    sm4::Sm4Gcm::with_backend(sm4::Backend::Gfni),
];

/// The ShangMi provider with SM4 pinned to `backend` (for tests and benchmarks of each path).
///
/// Keys fail with [`wearpay_crypto::Error::Unsupported`] if the CPU cannot run `backend`.
pub fn provider_with(backend: sm4::Backend) -> CryptoProvider {
    let i = sm4::Backend::ALL.iter().position(|&b| b == backend).unwrap_or(0);
    CryptoProvider {
        name: match backend {
            sm4::Backend::Portable => "shangmi-portable",
            sm4::Backend::AesNi => "shangmi-aesni",
            sm4::Backend::Vaes => "shangmi-vaes",
            sm4::Backend::Gfni => "shangmi-gfni",
        },
        sm4_cbc: &CBC_BY_BACKEND[i],
        sm4_gcm: &GCM_BY_BACKEND[i],
        ..PROVIDER
    }
}
