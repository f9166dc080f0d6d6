//! SM4 on x86-64 with AES-NI (4 blocks per 128-bit register) and AVX2 + VAES (8 blocks per
//! 256-bit register), in constant time.
//!
//! The S-box is `Q(S_aes(P(x)))` (see `affine`): `aesenclast` with a zero key computes
//! `S_aes` on every byte (after a ShiftRows, undone below by the byte shuffles that follow
//! anyway). Affine byte maps are two 16-entry `pshufb` lookups, one per nibble: the tables
//! are public constants and the secret only selects lanes inside a register, never a memory
//! address.
//!
//! Blocks are transposed so that register j holds word j of every block. The round state is
//! kept in `P`'s domain (`Y = P(X)` bytewise), so that the S-box output goes to the next
//! S-box input through `P·L·Q`, which is three bytewise maps and four byte shuffles
//! (`affine::W0`, `W8`, `W24`): one `aesenclast`, six lookups, four shuffles and a few XORs
//! per round, with a short dependency chain for the sequential CBC encryption.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::affine::{L_OF_POST_C, Lin, POST, POST_C, PRE, PRE_C, PRE_INV, W0, W8, W24};

/// Round keys in the form these rounds use: `k[i] = P(rk[i])` bytewise, in every lane.
#[derive(Clone, zeroize::Zeroize)]
pub(crate) struct FastKeys {
    k: [u32; 32],
}

impl FastKeys {
    pub(crate) fn new(rk: &[u32; 32]) -> Self {
        Self { k: rk.map(super::affine::pre_word) }
    }

    /// The words `P(rk[i])`.
    pub(crate) fn words(&self) -> &[u32; 32] {
        &self.k
    }
}

const fn tables(m: &Lin) -> [[u8; 16]; 2] {
    m.nibble_tables(0)
}

const TAB_PRE: [[u8; 16]; 2] = tables(&PRE);
const TAB_PRE_INV: [[u8; 16]; 2] = tables(&PRE_INV);
/// W0's table also adds `P(L(Q's constant))`, the constant part of `P·L·Q`: a constant in
/// every byte survives the byte shuffles unchanged.
const TAB_W0: [[u8; 16]; 2] = W0.nibble_tables(L_OF_POST_C);
const TAB_W8: [[u8; 16]; 2] = tables(&W8);
const TAB_W24: [[u8; 16]; 2] = tables(&W24);
// `P` adds its constant to every byte of the S-box input: kept in the round keys, so
// the state maps are linear. The initial and final maps are linear too: `Y = P_lin(X)` and
// the constant cancels in `z = Y1 + Y2 + Y3 + P(rk)` (three copies of it plus the key's).

/// pshufb index vectors: rotation of each 32-bit lane left by `8m` bits, after undoing
/// ShiftRows (`aesenclast` permuted the bytes: output byte p came from input byte SR[p]).
const fn perm(m: usize) -> [u8; 16] {
    const SR: [usize; 16] = [0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11];
    let mut inv = [0u8; 16];
    let mut p = 0;
    while p < 16 {
        inv[SR[p]] = p as u8;
        p += 1;
    }
    let mut idx = [0u8; 16];
    let mut q = 0;
    while q < 16 {
        let (l, k) = (q / 4, q % 4);
        idx[q] = inv[4 * l + ((k + 4 - m) & 3)];
        q += 1;
    }
    idx
}

const PERM: [[u8; 16]; 4] = [perm(0), perm(1), perm(2), perm(3)];
/// Byte order of each 32-bit word reversed: SM4 words are big-endian.
const BSWAP32: [u8; 16] = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];

#[inline]
#[target_feature(enable = "sse2")]
fn tab128(t: &[u8; 16]) -> __m128i {
    // SAFETY: `t` is 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(t.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn tab256(t: &[u8; 16]) -> __m256i {
    _mm256_broadcastsi128_si256(tab128(t))
}

/// One instantiation per register width; the bodies are the same text with other intrinsics.
macro_rules! sm4_simd {
    (
        mod $m:ident, feature = $feat:literal, V = $V:ty, bytes = $BYTES:expr, tab = $tab:ident,
        xor = $xor:ident, and = $and:ident, srli_epi16 = $srl:ident, shuffle = $shuf:ident,
        aesenclast = $aes:ident, set1_epi32 = $set1:ident, setzero = $zero:ident,
        unpacklo_epi32 = $ul32:ident, unpackhi_epi32 = $uh32:ident,
        unpacklo_epi64 = $ul64:ident, unpackhi_epi64 = $uh64:ident,
        loadu = $load:ident, storeu = $store:ident, shuffle_epi32 = $bcast:ident, add_epi32 = $add:ident,
        lanes = $lanes:expr, reg = $reg:ident, par = $par:literal
    ) => {
        #[allow(dead_code)] // Not every width uses every entry point.
        pub(crate) mod $m {
            use super::*;

            /// Bytes in one set of four registers (four words of `BYTES / 4` blocks).
            pub(crate) const SET: usize = 4 * $BYTES;

            #[inline]
            #[target_feature(enable = $feat)]
            fn lut(t: &[[u8; 16]; 2], mask: $V, x: $V) -> $V {
                let lo = $and(x, mask);
                let hi = $and($srl::<4>(x), mask);
                $xor($shuf($tab(&t[0]), lo), $shuf($tab(&t[1]), hi))
            }

            /// Hides `v`'s origin from the optimiser, which would otherwise push the byte
            /// shuffles below through the XOR (two shuffles instead of one each).
            #[inline]
            #[target_feature(enable = $feat)]
            fn opaque(mut v: $V) -> $V {
                // SAFETY: an empty instruction sequence: it reads and writes only the register.
                unsafe { core::arch::asm!("/* {0} */", inout($reg) v, options(pure, nomem, nostack, preserves_flags)) };
                v
            }

            #[inline]
            #[target_feature(enable = $feat)]
            fn transpose(x: [$V; 4]) -> [$V; 4] {
                let t0 = $ul32(x[0], x[1]);
                let t1 = $ul32(x[2], x[3]);
                let t2 = $uh32(x[0], x[1]);
                let t3 = $uh32(x[2], x[3]);
                [$ul64(t0, t1), $uh64(t0, t1), $ul64(t2, t3), $uh64(t2, t3)]
            }

            #[inline]
            #[target_feature(enable = $feat)]
            fn round_key(keys: &FastKeys, i: usize) -> $V {
                $set1(keys.k[i] as i32)
            }

            /// The 32 rounds over `N` independent sets of transposed words (register j holds
            /// word j of every block, as numbers); returns the output words in the same form.
            #[inline]
            #[target_feature(enable = $feat)]
            fn rounds<const N: usize>(keys: &FastKeys, x: [[$V; 4]; N]) -> [[$V; 4]; N] {
                let mask = $set1(0x0f0f_0f0f);
                let zero = $zero();
                let (p0, p8, p16, p24) = ($tab(&PERM[0]), $tab(&PERM[1]), $tab(&PERM[2]), $tab(&PERM[3]));
                let mut y = x.map(|xn| xn.map(|v| lut(&TAB_PRE, mask, v)));
                let k0 = round_key(keys, 0);
                let mut z = y.map(|yn| $xor($xor(yn[1], yn[2]), $xor(yn[3], k0)));
                for i in 0..32 {
                    let knext = round_key(keys, (i + 1) % 32);
                    for n in 0..N {
                        let [y0, y1, y2, y3] = y[n];
                        let s = $aes(z[n], zero);
                        let lo = $and(s, mask);
                        let hi = $and($srl::<4>(s), mask);
                        let a0 = opaque($xor($shuf($tab(&TAB_W0[0]), lo), $shuf($tab(&TAB_W0[1]), hi)));
                        let a8 = opaque($xor($shuf($tab(&TAB_W8[0]), lo), $shuf($tab(&TAB_W8[1]), hi)));
                        let a24 = opaque($xor($shuf($tab(&TAB_W24[0]), lo), $shuf($tab(&TAB_W24[1]), hi)));
                        let v = $xor($xor($shuf(a0, p0), $shuf(a8, p8)), $xor($shuf(a8, p16), $shuf(a24, p24)));
                        // Y[i+4] = Y[i] + P(L(S(..))); z[i+1] = Y[i+2] + Y[i+3] + Y[i+4] + P(rk[i+1]).
                        z[n] = $xor($xor($xor(y0, y2), $xor(y3, knext)), v);
                        y[n] = [y1, y2, y3, $xor(y0, v)];
                    }
                }
                // Output words in reverse order: (X35, X34, X33, X32).
                y.map(|yn| [yn[3], yn[2], yn[1], yn[0]].map(|v| lut(&TAB_PRE_INV, mask, v)))
            }

            #[inline]
            #[target_feature(enable = $feat)]
            fn load(src: &[u8]) -> $V {
                assert!(src.len() >= $BYTES);
                // SAFETY: `src` has at least BYTES readable bytes (asserted; the callers pass
                // exact slices, so the check is compiled out); `loadu` needs no alignment.
                unsafe { $load(src.as_ptr().cast()) }
            }

            #[inline]
            #[target_feature(enable = $feat)]
            fn store(dst: &mut [u8], v: $V) {
                assert!(dst.len() >= $BYTES);
                // SAFETY: as for `load`, for writing.
                unsafe { $store(dst.as_mut_ptr().cast(), v) }
            }

            /// Encrypts `N` sets in place; `data.len()` must be `N * SET`.
            #[inline]
            #[target_feature(enable = $feat)]
            fn sets<const N: usize>(keys: &FastKeys, data: &mut [u8]) {
                let bswap = $tab(&BSWAP32);
                let x: [[$V; 4]; N] = core::array::from_fn(|n| {
                    transpose(core::array::from_fn(|j| {
                        let at = n * SET + j * $BYTES;
                        $shuf(load(&data[at..at + $BYTES]), bswap)
                    }))
                });
                let out = rounds::<N>(keys, x);
                for (n, o) in out.into_iter().enumerate() {
                    for (j, v) in transpose(o).into_iter().enumerate() {
                        let at = n * SET + j * $BYTES;
                        store(&mut data[at..at + $BYTES], $shuf(v, bswap));
                    }
                }
            }

            /// Encrypts (with decryption keys: decrypts) whole blocks in place.
            /// `data.len()` must be a multiple of 16.
            #[target_feature(enable = $feat)]
            pub(crate) fn blocks(keys: &FastKeys, data: &mut [u8]) {
                let mut chunks = data.chunks_exact_mut($par * SET);
                for c in &mut chunks {
                    sets::<$par>(keys, c);
                }
                let rest = chunks.into_remainder();
                let mut chunks = rest.chunks_exact_mut(SET);
                for c in &mut chunks {
                    sets::<1>(keys, c);
                }
                let rest = chunks.into_remainder();
                if !rest.is_empty() {
                    let mut buf = zeroize::Zeroizing::new([0u8; SET]);
                    buf[..rest.len()].copy_from_slice(rest);
                    sets::<1>(keys, &mut buf[..]);
                    rest.copy_from_slice(&buf[..rest.len()]);
                }
            }

            /// One block in place, without a detour through memory: every lane carries it.
            #[target_feature(enable = $feat)]
            pub(crate) fn block(keys: &FastKeys, block: &mut [u8; 16]) {
                let b = $shuf($tab(block), $tab(&BSWAP32));
                let x = [$bcast::<0x00>(b), $bcast::<0x55>(b), $bcast::<0xaa>(b), $bcast::<0xff>(b)];
                let [o] = rounds::<1>(keys, [x]);
                let out = $ul64($ul32(o[0], o[1]), $ul32(o[2], o[3]));
                let out = $shuf(out, $tab(&BSWAP32));
                let mut bytes = [0u8; $BYTES];
                store(&mut bytes, out);
                block.copy_from_slice(&bytes[..16]);
            }

            /// XORs the GCM keystream (counter blocks `nonce || ctr`, `ctr + 1`, …) into `data`.
            /// The counter blocks are built in registers, already transposed.
            #[target_feature(enable = $feat)]
            pub(crate) fn ctr32(keys: &FastKeys, nonce: &[u8; 12], mut ctr: u32, data: &mut [u8]) {
                let bswap = $tab(&BSWAP32);
                let word = |i: usize| u32::from_be_bytes([nonce[4 * i], nonce[4 * i + 1], nonce[4 * i + 2], nonce[4 * i + 3]]);
                let fixed = [$set1(word(0) as i32), $set1(word(1) as i32), $set1(word(2) as i32)];
                // Lane l of a set holds block l of the set (lane order as `transpose` leaves it).
                let lanes = $lanes;
                let step = (SET / 16) as u32;
                let counters = |c: u32| $add($set1(c as i32), lanes);
                let mut chunks = data.chunks_exact_mut($par * SET);
                for chunk in &mut chunks {
                    let x: [[$V; 4]; $par] = core::array::from_fn(|n| {
                        [fixed[0], fixed[1], fixed[2], counters(ctr.wrapping_add(n as u32 * step))]
                    });
                    ctr = ctr.wrapping_add($par * step);
                    let out = rounds::<$par>(keys, x);
                    for (n, o) in out.into_iter().enumerate() {
                        for (j, v) in transpose(o).into_iter().enumerate() {
                            let at = n * SET + j * $BYTES;
                            let d = &mut chunk[at..at + $BYTES];
                            store(d, $xor(load(d), $shuf(v, bswap)));
                        }
                    }
                }
                for chunk in chunks.into_remainder().chunks_mut(SET) {
                    let [o] = rounds::<1>(keys, [[fixed[0], fixed[1], fixed[2], counters(ctr)]]);
                    ctr = ctr.wrapping_add(step);
                    let mut stream = zeroize::Zeroizing::new([0u8; SET]);
                    for (j, v) in transpose(o).into_iter().enumerate() {
                        store(&mut stream[j * $BYTES..(j + 1) * $BYTES], $shuf(v, bswap));
                    }
                    for (d, s) in chunk.iter_mut().zip(stream.iter()) {
                        *d ^= s;
                    }
                }
            }
        }
    };
}

sm4_simd! {
    mod aesni, feature = "sse2,ssse3,sse4.1,aes", V = __m128i, bytes = 16, tab = tab128,
    xor = _mm_xor_si128, and = _mm_and_si128, srli_epi16 = _mm_srli_epi16, shuffle = _mm_shuffle_epi8,
    aesenclast = _mm_aesenclast_si128, set1_epi32 = _mm_set1_epi32, setzero = _mm_setzero_si128,
    unpacklo_epi32 = _mm_unpacklo_epi32, unpackhi_epi32 = _mm_unpackhi_epi32,
    unpacklo_epi64 = _mm_unpacklo_epi64, unpackhi_epi64 = _mm_unpackhi_epi64,
    loadu = _mm_loadu_si128, storeu = _mm_storeu_si128, shuffle_epi32 = _mm_shuffle_epi32, add_epi32 = _mm_add_epi32,
    lanes = _mm_setr_epi32(0, 1, 2, 3), reg = xmm_reg, par = 2
}

// The same four-lane code with VEX encoding, for single blocks on CPUs that have AVX.
sm4_simd! {
    mod aesni_avx, feature = "sse2,ssse3,sse4.1,aes,avx", V = __m128i, bytes = 16, tab = tab128,
    xor = _mm_xor_si128, and = _mm_and_si128, srli_epi16 = _mm_srli_epi16, shuffle = _mm_shuffle_epi8,
    aesenclast = _mm_aesenclast_si128, set1_epi32 = _mm_set1_epi32, setzero = _mm_setzero_si128,
    unpacklo_epi32 = _mm_unpacklo_epi32, unpackhi_epi32 = _mm_unpackhi_epi32,
    unpacklo_epi64 = _mm_unpacklo_epi64, unpackhi_epi64 = _mm_unpackhi_epi64,
    loadu = _mm_loadu_si128, storeu = _mm_storeu_si128, shuffle_epi32 = _mm_shuffle_epi32, add_epi32 = _mm_add_epi32,
    lanes = _mm_setr_epi32(0, 1, 2, 3), reg = xmm_reg, par = 2
}

sm4_simd! {
    mod vaes, feature = "sse2,ssse3,sse4.1,aes,avx,avx2,vaes", V = __m256i, bytes = 32, tab = tab256,
    xor = _mm256_xor_si256, and = _mm256_and_si256, srli_epi16 = _mm256_srli_epi16, shuffle = _mm256_shuffle_epi8,
    aesenclast = _mm256_aesenclast_epi128, set1_epi32 = _mm256_set1_epi32, setzero = _mm256_setzero_si256,
    unpacklo_epi32 = _mm256_unpacklo_epi32, unpackhi_epi32 = _mm256_unpackhi_epi32,
    unpacklo_epi64 = _mm256_unpacklo_epi64, unpackhi_epi64 = _mm256_unpackhi_epi64,
    loadu = _mm256_loadu_si256, storeu = _mm256_storeu_si256, shuffle_epi32 = _mm256_shuffle_epi32,
    add_epi32 = _mm256_add_epi32,
    // The low 128-bit lane of a set holds blocks 0, 2, 4, 6 and the high one 1, 3, 5, 7.
    lanes = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7), reg = ymm_reg, par = 2
}

/// P(x) and Q(s) of `affine`, constants included, for the key schedule's τ.
const TAB_TAU_IN: [[u8; 16]; 2] = PRE.nibble_tables(PRE_C);
const TAB_TAU_OUT: [[u8; 16]; 2] = POST.nibble_tables(POST_C);

/// A byte map by nibble lookups (`lo[n] ^ hi[m]`), on every byte of `x`.
#[inline]
#[target_feature(enable = "ssse3")]
fn nibble_map(t: &[[u8; 16]; 2], x: __m128i) -> __m128i {
    let mask = _mm_set1_epi8(0x0f);
    let lo = _mm_shuffle_epi8(tab128(&t[0]), _mm_and_si128(x, mask));
    let hi = _mm_shuffle_epi8(tab128(&t[1]), _mm_and_si128(_mm_srli_epi16::<4>(x), mask));
    _mm_xor_si128(lo, hi)
}

/// The key schedule (GB/T 32907 §7.3) from `k` = MK ^ FK, with τ as Q(S_aes(P(x))) on AES-NI
/// instead of the portable circuit. The word fills all four columns of the state, so
/// `aesenclast`'s ShiftRows moves nothing and its SubBytes is S_aes on each byte.
#[target_feature(enable = "aes,ssse3")]
fn round_keys_impl(k: &mut [u32; 4], ck: &[u32; 32], rk: &mut [u32; 32]) {
    for (out, c) in rk.iter_mut().zip(ck) {
        let x = _mm_set1_epi32((k[1] ^ k[2] ^ k[3] ^ c) as i32);
        let s = _mm_aesenclast_si128(nibble_map(&TAB_TAU_IN, x), _mm_setzero_si128());
        let t = _mm_cvtsi128_si32(nibble_map(&TAB_TAU_OUT, s)) as u32;
        *out = super::key_round(k, t);
    }
}

/// The x86 back ends. Only constructed after the CPU was checked for their features
/// (`Backend::is_supported`), which is what makes the calls below sound.
#[derive(Clone, Copy)]
pub(crate) enum Simd {
    /// SSSE3, SSE4.1, AES-NI.
    AesNi,
    /// The above plus AVX, AVX2 and VAES.
    Vaes,
}

impl Simd {
    pub(crate) fn blocks(self, keys: &FastKeys, data: &mut [u8]) {
        match self {
            // SAFETY: `self` exists only where the CPU has the module's features (see the type).
            Simd::AesNi => unsafe { aesni::blocks(keys, data) },
            // SAFETY: as above.
            Simd::Vaes => unsafe { vaes::blocks(keys, data) },
        }
    }

    pub(crate) fn block(self, keys: &FastKeys, block: &mut [u8; 16]) {
        match self {
            // SAFETY: `self` exists only where the CPU has the module's features (see the type).
            Simd::AesNi => unsafe { aesni::block(keys, block) },
            // SAFETY: as above; VAES support implies AVX.
            Simd::Vaes => unsafe { aesni_avx::block(keys, block) },
        }
    }

    /// The encryption round keys from `k` = MK ^ FK (which it overwrites); both back ends
    /// have AES-NI.
    pub(crate) fn round_keys(self, k: &mut [u32; 4], ck: &[u32; 32], rk: &mut [u32; 32]) {
        // SAFETY: `self` exists only where the CPU has AES-NI and SSSE3 (see the type).
        unsafe { round_keys_impl(k, ck, rk) }
    }

    pub(crate) fn ctr32(self, keys: &FastKeys, nonce: &[u8; 12], ctr: u32, data: &mut [u8]) {
        match self {
            // SAFETY: `self` exists only where the CPU has the module's features (see the type).
            Simd::AesNi => unsafe { aesni::ctr32(keys, nonce, ctr, data) },
            // SAFETY: as above.
            Simd::Vaes => unsafe { vaes::ctr32(keys, nonce, ctr, data) },
        }
    }
}
