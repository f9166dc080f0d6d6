//! SM4 on x86-64 with GFNI and AVX-512: sixteen blocks per 512-bit register, in constant time.
//!
//! The S-box is `GF_POST·I(P(x)) + c` (see `affine`): `gf2p8affine` applies the affine map `P`
//! into the AES field and `gf2p8affineinv` inverts there and applies the output map, two
//! instructions for 64 bytes with no table at all. The linear layer is four dword rotations
//! (`vprold`) folded with three-input XORs (`vpternlogd`). Blocks are transposed so that
//! register j holds word j of every block, as in the AES-NI back end.
//!
//! CBC encryption is sequential, so it has its own single-block rounds (`cbc_encrypt_impl`),
//! built for latency: the words stay in `P`'s domain from block to block, and the S-box and
//! linear layer of a round are three `gf2p8affineinv` side by side, three rotations and two
//! `vpternlogd` (see `affine::GF_W0`). Other single blocks (GCM's H and tag mask) stay on the
//! AES-NI path.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::affine::{GF_L_C, GF_POST, GF_POST_C, GF_W0, GF_W8, GF_W24, Lin, PRE, PRE_C, PRE_INV};

/// A byte map as the 8×8 bit matrix `gf2p8affine` takes: byte 7 − i of the qword is the row
/// of output bit i.
const fn matrix(m: &Lin) -> i64 {
    let mut q = 0u64;
    let mut i = 0;
    while i < 8 {
        let mut row = 0u64;
        let mut j = 0;
        while j < 8 {
            row |= (((m.0[j] >> i) & 1) as u64) << j;
            j += 1;
        }
        q |= row << (8 * (7 - i));
        i += 1;
    }
    q as i64
}

const IN_MATRIX: i64 = matrix(&PRE);
const OUT_MATRIX: i64 = matrix(&GF_POST);
const IN_C: i32 = PRE_C as i32;
const OUT_C: i32 = GF_POST_C as i32;
/// Byte order of each 32-bit word reversed: SM4 words are big-endian.
const BSWAP32: [u8; 16] = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];
/// Bytes per register and per set of four registers (16 blocks).
const BYTES: usize = 64;
const SET: usize = 4 * BYTES;
/// Sets in flight at once, to cover the GFNI latency.
const PAR: usize = 4;

/// `a ^ b ^ c`.
#[inline]
#[target_feature(enable = "avx512f")]
fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<0x96>(a, b, c)
}

/// T(z) = L(τ(z)) on every word.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
fn t(z: __m512i) -> __m512i {
    let y = _mm512_gf2p8affine_epi64_epi8::<IN_C>(z, _mm512_set1_epi64(IN_MATRIX));
    let s = _mm512_gf2p8affineinv_epi64_epi8::<OUT_C>(y, _mm512_set1_epi64(OUT_MATRIX));
    let u = xor3(s, _mm512_rol_epi32::<2>(s), _mm512_rol_epi32::<10>(s));
    xor3(u, _mm512_rol_epi32::<18>(s), _mm512_rol_epi32::<24>(s))
}

/// The 32 rounds over `N` sets of transposed words; returns the output words, same form.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
fn rounds<const N: usize>(rk: &[u32; 32], mut x: [[__m512i; 4]; N]) -> [[__m512i; 4]; N] {
    for &k in rk {
        let k = _mm512_set1_epi32(k as i32);
        for xn in &mut x {
            let [x0, x1, x2, x3] = *xn;
            let v = t(xor3(x1, x2, _mm512_xor_si512(x3, k)));
            *xn = [x1, x2, x3, _mm512_xor_si512(x0, v)];
        }
    }
    x.map(|xn| [xn[3], xn[2], xn[1], xn[0]])
}

/// The 4×4 word transpose inside each 128-bit lane (its own inverse).
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose(x: [__m512i; 4]) -> [__m512i; 4] {
    let t0 = _mm512_unpacklo_epi32(x[0], x[1]);
    let t1 = _mm512_unpacklo_epi32(x[2], x[3]);
    let t2 = _mm512_unpackhi_epi32(x[0], x[1]);
    let t3 = _mm512_unpackhi_epi32(x[2], x[3]);
    [
        _mm512_unpacklo_epi64(t0, t1),
        _mm512_unpackhi_epi64(t0, t1),
        _mm512_unpacklo_epi64(t2, t3),
        _mm512_unpackhi_epi64(t2, t3),
    ]
}

#[inline]
#[target_feature(enable = "avx512f")]
fn bswap_table() -> __m512i {
    // SAFETY: `BSWAP32` is 16 readable bytes; `loadu` has no alignment requirement.
    _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(BSWAP32.as_ptr().cast()) })
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load(src: &[u8]) -> __m512i {
    assert!(src.len() >= BYTES);
    // SAFETY: `src` has at least 64 readable bytes (asserted; the callers pass exact slices,
    // so the check is compiled out); `loadu` needs no alignment.
    unsafe { _mm512_loadu_si512(src.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store(dst: &mut [u8], v: __m512i) {
    assert!(dst.len() >= BYTES);
    // SAFETY: as for `load`, for writing.
    unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), v) }
}

/// Runs `N` sets in place; `data.len()` must be `N * SET`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,gfni")]
fn sets<const N: usize>(rk: &[u32; 32], data: &mut [u8]) {
    let bswap = bswap_table();
    let x: [[__m512i; 4]; N] = core::array::from_fn(|n| {
        transpose(core::array::from_fn(|j| {
            let at = n * SET + j * BYTES;
            _mm512_shuffle_epi8(load(&data[at..at + BYTES]), bswap)
        }))
    });
    let out = rounds::<N>(rk, x);
    for (n, o) in out.into_iter().enumerate() {
        for (j, v) in transpose(o).into_iter().enumerate() {
            let at = n * SET + j * BYTES;
            store(&mut data[at..at + BYTES], _mm512_shuffle_epi8(v, bswap));
        }
    }
}

/// Encrypts (with decryption keys: decrypts) whole blocks in place; `data.len()` must be a
/// multiple of 16.
#[target_feature(enable = "avx512f,avx512bw,gfni")]
fn blocks_impl(rk: &[u32; 32], data: &mut [u8]) {
    let mut chunks = data.chunks_exact_mut(PAR * SET);
    for c in &mut chunks {
        sets::<PAR>(rk, c);
    }
    let rest = chunks.into_remainder();
    let mut chunks = rest.chunks_exact_mut(SET);
    for c in &mut chunks {
        sets::<1>(rk, c);
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let mut buf = zeroize::Zeroizing::new([0u8; SET]);
        buf[..rest.len()].copy_from_slice(rest);
        sets::<1>(rk, &mut buf[..]);
        rest.copy_from_slice(&buf[..rest.len()]);
    }
}

/// XORs the keystream of counter blocks `nonce || ctr`, `ctr + 1`, … into `data`; the counter
/// blocks are built in registers, already transposed.
#[target_feature(enable = "avx512f,avx512bw,gfni")]
fn ctr32_impl(rk: &[u32; 32], nonce: &[u8; 12], mut ctr: u32, data: &mut [u8]) {
    let bswap = bswap_table();
    let word = |i: usize| u32::from_be_bytes([nonce[4 * i], nonce[4 * i + 1], nonce[4 * i + 2], nonce[4 * i + 3]]);
    let fixed =
        [_mm512_set1_epi32(word(0) as i32), _mm512_set1_epi32(word(1) as i32), _mm512_set1_epi32(word(2) as i32)];
    // After `transpose`, dword j of 128-bit lane k holds block 4j + k of the set.
    let lanes = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const STEP: u32 = (SET / 16) as u32;
    let counters = |c: u32| _mm512_add_epi32(_mm512_set1_epi32(c as i32), lanes);
    let mut chunks = data.chunks_exact_mut(PAR * SET);
    for chunk in &mut chunks {
        let x: [[__m512i; 4]; PAR] =
            core::array::from_fn(|n| [fixed[0], fixed[1], fixed[2], counters(ctr.wrapping_add(n as u32 * STEP))]);
        ctr = ctr.wrapping_add(PAR as u32 * STEP);
        let out = rounds::<PAR>(rk, x);
        for (n, o) in out.into_iter().enumerate() {
            for (j, v) in transpose(o).into_iter().enumerate() {
                let at = n * SET + j * BYTES;
                let d = &mut chunk[at..at + BYTES];
                store(d, _mm512_xor_si512(load(d), _mm512_shuffle_epi8(v, bswap)));
            }
        }
    }
    for chunk in chunks.into_remainder().chunks_mut(SET) {
        let [o] = rounds::<1>(rk, [[fixed[0], fixed[1], fixed[2], counters(ctr)]]);
        ctr = ctr.wrapping_add(STEP);
        let mut stream = zeroize::Zeroizing::new([0u8; SET]);
        for (j, v) in transpose(o).into_iter().enumerate() {
            store(&mut stream[j * BYTES..(j + 1) * BYTES], _mm512_shuffle_epi8(v, bswap));
        }
        for (d, s) in chunk.iter_mut().zip(stream.iter()) {
            *d ^= s;
        }
    }
}

/// The single-block maps: into and out of `P`'s domain (linear parts only; `P`'s constant
/// rides in the round keys, see `x86::FastKeys`) and the three terms of a round.
const PRE_LIN: i64 = matrix(&PRE);
const PRE_INV_LIN: i64 = matrix(&PRE_INV);
const W0_MATRIX: i64 = matrix(&GF_W0);
const W8_MATRIX: i64 = matrix(&GF_W8);
const W24_MATRIX: i64 = matrix(&GF_W24);
const W0_C: i32 = GF_L_C as i32;

#[inline]
#[target_feature(enable = "avx512f,avx512vl,gfni")]
fn xor3x(a: __m128i, b: __m128i, c: __m128i) -> __m128i {
    _mm_ternarylogic_epi32::<0x96>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f,avx512vl,gfni")]
fn load16(src: &[u8]) -> __m128i {
    assert!(src.len() >= 16);
    // SAFETY: `src` has at least 16 readable bytes (asserted, and compiled out for the exact
    // chunks the caller passes); `loadu` needs no alignment.
    unsafe { _mm_loadu_si128(src.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512vl,gfni")]
fn store16(dst: &mut [u8], v: __m128i) {
    assert!(dst.len() >= 16);
    // SAFETY: as for `load16`, for writing.
    unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), v) }
}

/// The 32 rounds of one block on its words `Y = P(X)` (each word in every lane); `k` holds
/// `P(rk[i])`. Returns `(Y35, Y34, Y33, Y32)`.
///
/// Only the newest word is on the critical path: `z = Y1 + Y2 + Y3 + k` for the next round is
/// `q + v` with `q = Y0 + Y2 + Y3 + k` known early, and `v = P(L(S(..)))` is three
/// independent `gf2p8affineinv`, rotations by 8, 16, 24 and two three-way XORs.
#[inline]
#[target_feature(enable = "avx512f,avx512vl,gfni")]
fn single_rounds(k: &[u32; 32], y: [__m128i; 4]) -> [__m128i; 4] {
    let (m0, m8, m24) = (_mm_set1_epi64x(W0_MATRIX), _mm_set1_epi64x(W8_MATRIX), _mm_set1_epi64x(W24_MATRIX));
    let key = |i: usize| _mm_set1_epi32(k[i % 32] as i32);
    let [mut y0, mut y1, mut y2, mut y3] = y;
    let mut z = xor3x(y1, y2, _mm_xor_si128(y3, key(0)));
    for i in 0..32 {
        let a0 = _mm_gf2p8affineinv_epi64_epi8::<W0_C>(z, m0);
        let a8 = _mm_gf2p8affineinv_epi64_epi8::<0>(z, m8);
        let a24 = _mm_gf2p8affineinv_epi64_epi8::<0>(z, m24);
        let t = xor3x(a0, _mm_rol_epi32::<8>(a8), _mm_rol_epi32::<16>(a8));
        let r24 = _mm_rol_epi32::<24>(a24);
        // After the last round this `z` is unused (the next block's first one needs its own).
        z = xor3x(t, r24, xor3x(y0, y2, _mm_xor_si128(y3, key(i + 1))));
        let y4 = xor3x(t, r24, y0);
        (y0, y1, y2, y3) = (y1, y2, y3, y4);
    }
    [y3, y2, y1, y0]
}

/// CBC encryption in place; `data.len()` must be a multiple of 16. `k` holds `P(rk[i])`.
///
/// The chaining value never leaves `P`'s domain: `P` is linear and bytewise, so
/// `P(plaintext ^ chain) = P(plaintext) ^ P(chain)`, and only the stored ciphertext goes
/// back through `P⁻¹`.
#[target_feature(enable = "avx512f,avx512vl,gfni")]
fn cbc_encrypt_impl(k: &[u32; 32], iv: &[u8; 16], data: &mut [u8]) {
    // SAFETY: `BSWAP32` is 16 readable bytes; `loadu` has no alignment requirement.
    let bswap = unsafe { _mm_loadu_si128(BSWAP32.as_ptr().cast()) };
    let (pre, pre_inv) = (_mm_set1_epi64x(PRE_LIN), _mm_set1_epi64x(PRE_INV_LIN));
    let words = |b: __m128i| {
        let y = _mm_gf2p8affine_epi64_epi8::<0>(_mm_shuffle_epi8(b, bswap), pre);
        [
            _mm_shuffle_epi32::<0x00>(y),
            _mm_shuffle_epi32::<0x55>(y),
            _mm_shuffle_epi32::<0xaa>(y),
            _mm_shuffle_epi32::<0xff>(y),
        ]
    };
    let mut chain = words(load16(iv));
    for block in data.chunks_exact_mut(16) {
        let p = words(load16(block));
        let y = core::array::from_fn(|j| _mm_xor_si128(p[j], chain[j]));
        chain = single_rounds(k, y);
        let out = _mm_unpacklo_epi64(_mm_unpacklo_epi32(chain[0], chain[1]), _mm_unpacklo_epi32(chain[2], chain[3]));
        store16(block, _mm_shuffle_epi8(_mm_gf2p8affine_epi64_epi8::<0>(out, pre_inv), bswap));
    }
}

/// The key schedule (GB/T 32907 §7.3) from `k` = MK ^ FK: each round's S-box is the same two
/// GFNI instructions as the rounds', on one word, instead of the portable circuit (about
/// three times faster; a channel expands four keys per handshake).
#[target_feature(enable = "gfni")]
fn round_keys_impl(k: &mut [u32; 4], ck: &[u32; 32], rk: &mut [u32; 32]) {
    let (m_in, m_out) = (_mm_set1_epi64x(IN_MATRIX), _mm_set1_epi64x(OUT_MATRIX));
    for (out, c) in rk.iter_mut().zip(ck) {
        let x = _mm_cvtsi32_si128((k[1] ^ k[2] ^ k[3] ^ c) as i32);
        let s = _mm_gf2p8affineinv_epi64_epi8::<OUT_C>(_mm_gf2p8affine_epi64_epi8::<IN_C>(x, m_in), m_out);
        // τ is bytewise, so the byte order of the word in the register does not matter.
        let t = _mm_cvtsi128_si32(s) as u32;
        *out = super::key_round(k, t);
    }
}

/// Whether this CPU has what this module runs on.
#[cfg(feature = "std")]
pub(crate) fn is_supported() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("gfni")
}

/// The GFNI back end. Only constructed for a key whose back end is `Backend::Gfni`, which
/// `Sm4Key` accepts only after [`is_supported`] said yes: that is what makes the calls below
/// sound (as for `x86::Simd`).
#[derive(Clone, Copy)]
pub(crate) struct Gfni;

impl Gfni {
    pub(crate) fn blocks(self, rk: &[u32; 32], data: &mut [u8]) {
        // SAFETY: `self` exists only where the CPU has the features (see the type).
        unsafe { blocks_impl(rk, data) }
    }

    pub(crate) fn ctr32(self, rk: &[u32; 32], nonce: &[u8; 12], ctr: u32, data: &mut [u8]) {
        // SAFETY: as above.
        unsafe { ctr32_impl(rk, nonce, ctr, data) }
    }

    /// The encryption round keys from `k` = MK ^ FK (which it overwrites).
    pub(crate) fn round_keys(self, k: &mut [u32; 4], ck: &[u32; 32], rk: &mut [u32; 32]) {
        // SAFETY: as above.
        unsafe { round_keys_impl(k, ck, rk) }
    }

    /// CBC encryption of whole blocks in place, with the keys of `x86::FastKeys`.
    pub(crate) fn cbc_encrypt(self, keys: &super::x86::FastKeys, iv: &[u8; 16], data: &mut [u8]) {
        // SAFETY: as above.
        unsafe { cbc_encrypt_impl(keys.words(), iv, data) }
    }
}
