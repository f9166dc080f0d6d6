//! Arithmetic modulo SM2's prime p and its group order n, on four 64-bit limbs.
//!
//! Both are Montgomery fields (R = 2^256). For p = 2^256 − 2^224 − 2^96 + 2^64 − 1 the
//! Montgomery factor −p⁻¹ mod 2^64 is 1, so each reduction round needs no extra multiply
//! and its products by the all-ones limbs of p fold into shifts; a special-form (Solinas)
//! reduction would need a chain of 32-bit-word additions and subtractions that does not
//! beat that on 64-bit limbs, and Montgomery lets the same code serve n as well.
//!
//! Elements of GF(p) are kept in a redundant form: any 256-bit representative of the
//! residue, not necessarily below p. Multiplication, squaring, addition and subtraction then
//! fold a carry out of bit 256 back in as 2^256 ≡ 2^256 − p, a short fixed addition, instead
//! of a compare-and-select against p; equality, zero tests and encoding reduce to the
//! canonical value first (one conditional subtraction, since 2^256 < 2p). Scalars stay
//! canonical.
//!
//! Every operation runs in constant time: no branch or index depends on a value, and the
//! final conditional subtractions are masked selections.
use zeroize::Zeroize;

/// `a + b + carry`, with the carry out. Carries are `bool`s rather than words: LLVM then
/// keeps them in the flags and emits one `adc` per limb instead of materialising each carry.
#[inline(always)]
const fn adc(a: u64, b: u64, carry: bool) -> (u64, bool) {
    let (s, c1) = a.overflowing_add(b);
    let (s, c2) = s.overflowing_add(carry as u64);
    (s, c1 | c2)
}

/// `a − b − borrow`, with the borrow out (as for [`adc`]).
#[inline(always)]
const fn sbb(a: u64, b: u64, borrow: bool) -> (u64, bool) {
    let (d, b1) = a.overflowing_sub(b);
    let (d, b2) = d.overflowing_sub(borrow as u64);
    (d, b1 | b2)
}

/// All ones if `bit`, else zero.
#[inline(always)]
const fn mask_of(bit: bool) -> u64 {
    (bit as u64).wrapping_neg()
}

/// `a − b − borrow` with the borrow out as a mask (all ones or zero), taken from the high
/// word of a 128-bit difference. Masks that select between secret values come from here
/// rather than from [`mask_of`]: a mask LLVM can trace to a flag becomes a `cmov` on it,
/// which the valgrind check in `ct/` reports, and it does not trace this form.
#[inline(always)]
const fn sbb_mask(a: u64, b: u64, borrow: bool) -> (u64, u64) {
    let t = (a as u128).wrapping_sub((b as u128) + (borrow as u128));
    (t as u64, (t >> 64) as u64)
}

/// `a + b·c + carry`, with the high word.
#[inline(always)]
const fn mac(a: u64, b: u64, c: u64, carry: u64) -> (u64, u64) {
    let t = (a as u128) + (b as u128) * (c as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

/// All ones if `x` is zero, else zero, without a branch.
#[inline(always)]
pub(crate) const fn is_zero_mask(x: u64) -> u64 {
    ((x | x.wrapping_neg()) >> 63).wrapping_sub(1)
}

/// All ones if `a == b`, else zero.
#[inline(always)]
pub(crate) const fn eq_mask(a: u64, b: u64) -> u64 {
    is_zero_mask(a ^ b)
}

/// `a·b` as (low, high) words.
#[inline(always)]
const fn mul_hi_lo(a: u64, b: u64) -> (u64, u64) {
    let t = (a as u128) * (b as u128);
    (t as u64, (t >> 64) as u64)
}

/// The 512-bit product of two 256-bit numbers, row by row: each row a_i·b is formed with
/// its own carry chain and then added in with another, which leaves the multiplications
/// free to overlap instead of chaining every product through the previous carry.
#[inline(always)]
const fn mul_wide(a: &[u64; 4], b: &[u64; 4]) -> [u64; 8] {
    /// a_i·b as five limbs.
    #[inline(always)]
    const fn row(ai: u64, b: &[u64; 4]) -> [u64; 5] {
        let (l0, h0) = mul_hi_lo(ai, b[0]);
        let (l1, h1) = mul_hi_lo(ai, b[1]);
        let (l2, h2) = mul_hi_lo(ai, b[2]);
        let (l3, h3) = mul_hi_lo(ai, b[3]);
        let (s1, c) = adc(l1, h0, false);
        let (s2, c) = adc(l2, h1, c);
        let (s3, c) = adc(l3, h2, c);
        // a_i·b < 2^320: no carry out of the top limb.
        [l0, s1, s2, s3, h3.wrapping_add(c as u64)]
    }
    /// acc + row·2^(64i), for the limbs i..i+5; the carry out goes into limb i + 5.
    #[inline(always)]
    const fn accumulate(acc: &mut [u64; 9], row: [u64; 5], i: usize) {
        let (x0, c) = adc(acc[i], row[0], false);
        let (x1, c) = adc(acc[i + 1], row[1], c);
        let (x2, c) = adc(acc[i + 2], row[2], c);
        let (x3, c) = adc(acc[i + 3], row[3], c);
        let (x4, c) = adc(acc[i + 4], row[4], c);
        acc[i] = x0;
        acc[i + 1] = x1;
        acc[i + 2] = x2;
        acc[i + 3] = x3;
        acc[i + 4] = x4;
        acc[i + 5] = c as u64;
    }
    let r = row(a[0], b);
    let mut acc = [r[0], r[1], r[2], r[3], r[4], 0, 0, 0, 0];
    accumulate(&mut acc, row(a[1], b), 1);
    accumulate(&mut acc, row(a[2], b), 2);
    accumulate(&mut acc, row(a[3], b), 3);
    // The product is below 2^512: acc[8] is zero.
    [acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]]
}

/// The 512-bit square: the cross products once, doubled, plus the diagonal.
#[inline(always)]
const fn square_wide(a: &[u64; 4]) -> [u64; 8] {
    let (r1, c) = mac(0, a[0], a[1], 0);
    let (r2, c) = mac(0, a[0], a[2], c);
    let (r3, r4) = mac(0, a[0], a[3], c);
    let (r3, c) = mac(r3, a[1], a[2], 0);
    let (r4, r5) = mac(r4, a[1], a[3], c);
    let (r5, r6) = mac(r5, a[2], a[3], 0);
    let r7 = r6 >> 63;
    let r6 = (r6 << 1) | (r5 >> 63);
    let r5 = (r5 << 1) | (r4 >> 63);
    let r4 = (r4 << 1) | (r3 >> 63);
    let r3 = (r3 << 1) | (r2 >> 63);
    let r2 = (r2 << 1) | (r1 >> 63);
    let r1 = r1 << 1;
    // The diagonal products are independent of each other: one carry chain adds them in.
    let (d0, d1) = mac(0, a[0], a[0], 0);
    let (d2, d3) = mac(0, a[1], a[1], 0);
    let (d4, d5) = mac(0, a[2], a[2], 0);
    let (d6, d7) = mac(0, a[3], a[3], 0);
    let r0 = d0;
    let (r1, c) = adc(r1, d1, false);
    let (r2, c) = adc(r2, d2, c);
    let (r3, c) = adc(r3, d3, c);
    let (r4, c) = adc(r4, d4, c);
    let (r5, c) = adc(r5, d5, c);
    let (r6, c) = adc(r6, d6, c);
    let (r7, _) = adc(r7, d7, c);
    [r0, r1, r2, r3, r4, r5, r6, r7]
}

/// Subtracts `m` from the 257-bit `(hi, r)` if the result is not negative: reduces a value
/// below 2m into [0, m).
#[inline(always)]
const fn sub_if_ge(r: [u64; 4], hi: bool, m: &[u64; 4]) -> [u64; 4] {
    let (w0, b) = sbb(r[0], m[0], false);
    let (w1, b) = sbb(r[1], m[1], b);
    let (w2, b) = sbb(r[2], m[2], b);
    let (w3, b) = sbb(r[3], m[3], b);
    // `keep` is all ones when (hi, r) < m: keep r, else take r − m. Hidden from the
    // optimiser, which otherwise turns the selection into a `cmov` or branch on it in some
    // inlining contexts (the valgrind check in `ct/` caught one in the scalar arithmetic).
    let (_, keep) = sbb_mask(hi as u64, 0, b);
    let keep = core::hint::black_box(keep);
    [w0 ^ (keep & (w0 ^ r[0])), w1 ^ (keep & (w1 ^ r[1])), w2 ^ (keep & (w2 ^ r[2])), w3 ^ (keep & (w3 ^ r[3]))]
}

/// Montgomery reduction of a 512-bit `t` < m·2^256: t·2^−256 mod m.
#[inline(always)]
const fn montgomery_reduce(t: [u64; 8], m: &[u64; 4], m_inv: u64) -> [u64; 4] {
    /// One round: clears r0 by adding k·m (k = r0·m_inv); returns the three limbs above it and
    /// the high word, which belongs to the next limb of t.
    #[inline(always)]
    const fn round(r0: u64, r1: u64, r2: u64, r3: u64, m: &[u64; 4], m_inv: u64) -> [u64; 4] {
        let k = r0.wrapping_mul(m_inv);
        let (_, c) = mac(r0, k, m[0], 0);
        let (r1, c) = mac(r1, k, m[1], c);
        let (r2, c) = mac(r2, k, m[2], c);
        let (r3, c) = mac(r3, k, m[3], c);
        [r1, r2, r3, c]
    }
    // Each round's high word goes into the next limb of t, with a one-bit carry beyond.
    let [r1, r2, r3, h] = round(t[0], t[1], t[2], t[3], m, m_inv);
    let (r4, c) = adc(t[4], h, false);
    let [r2, r3, r4, h] = round(r1, r2, r3, r4, m, m_inv);
    let (r5, c) = adc(t[5], h, c);
    let [r3, r4, r5, h] = round(r2, r3, r4, r5, m, m_inv);
    let (r6, c) = adc(t[6], h, c);
    let [r4, r5, r6, h] = round(r3, r4, r5, r6, m, m_inv);
    let (r7, c) = adc(t[7], h, c);
    sub_if_ge([r4, r5, r6, r7], c, m)
}

/// Montgomery reduction specialised to p: with −p⁻¹ ≡ 1 (mod 2^64) each round's multiplier
/// is the low limb k itself, and (t + k·p) / 2^64 = ⌊t / 2^64⌋ + k·(2^192 − 2^160 − 2^32 + 1),
/// which takes shifts and subtractions instead of four multiplications. For any t < 2^512
/// the result is below 2^256 + p; it is returned below 2^256, not necessarily below p.
#[inline(always)]
const fn montgomery_reduce_p(t: [u64; 8]) -> [u64; 4] {
    /// One round on the five limbs (k is the limb being cleared): returns r1..r4 + k·(…)
    /// with the carry out.
    #[inline(always)]
    const fn round(k: u64, r1: u64, r2: u64, r3: u64, r4: u64) -> (u64, u64, u64, u64, bool) {
        let (lo, hi) = (k << 32, k >> 32);
        // v = [k, 0, 0, k] − [lo, hi, lo, hi] = k·(2^192 − 2^160 − 2^32 + 1), never negative;
        // it does not depend on r, so only the additions below are on the critical path.
        let (v0, b) = sbb(k, lo, false);
        let (v1, b) = sbb(0, hi, b);
        let (v2, b) = sbb(0, lo, b);
        let (v3, _) = sbb(k, hi, b);
        let (r1, c) = adc(r1, v0, false);
        let (r2, c) = adc(r2, v1, c);
        let (r3, c) = adc(r3, v2, c);
        let (r4, c) = adc(r4, v3, c);
        (r1, r2, r3, r4, c)
    }
    let (r1, r2, r3, r4, c) = round(t[0], t[1], t[2], t[3], t[4]);
    let (r5, c2) = adc(t[5], 0, c);
    let (r2, r3, r4, r5, c) = round(r1, r2, r3, r4, r5);
    let (r6, c2) = adc(t[6], c2 as u64, c);
    let (r3, r4, r5, r6, c) = round(r2, r3, r4, r5, r6);
    let (r7, c2) = adc(t[7], c2 as u64, c);
    let (r4, r5, r6, r7, c) = round(r3, r4, r5, r6, r7);
    // The result is below 2^256 + p, so at most one of the two carries is set, and after
    // folding it in the value is below 2^256: no carry out.
    fold_carry_p([r4, r5, r6, r7], c | c2).0
}

/// r + c·(2^256 − p), with the carry out: folds a carry c out of bit 256 back in, since
/// 2^256 ≡ 2^256 − p = 2^224 + 2^96 − 2^64 + 1 (mod p).
#[inline(always)]
const fn fold_carry_p(r: [u64; 4], c: bool) -> ([u64; 4], bool) {
    // Hidden from the optimiser: it sees that the addend is one of two constants and
    // branches on c to pick it (the valgrind check in `ct/` caught that).
    let m = core::hint::black_box(mask_of(c));
    let (r0, k) = adc(r[0], m & 1, false);
    let (r1, k) = adc(r[1], m & 0xffff_ffff, k);
    let (r2, k) = adc(r[2], 0, k);
    let (r3, k) = adc(r[3], m & (1 << 32), k);
    ([r0, r1, r2, r3], k)
}

/// r − b·(2^256 − p), with the borrow out: folds a borrow b out of bit 256 back in.
#[inline(always)]
const fn fold_borrow_p(r: [u64; 4], b: bool) -> ([u64; 4], bool) {
    let m = core::hint::black_box(mask_of(b));
    let (r0, k) = sbb(r[0], m & 1, false);
    let (r1, k) = sbb(r[1], m & 0xffff_ffff, k);
    let (r2, k) = sbb(r[2], 0, k);
    let (r3, k) = sbb(r[3], m & (1 << 32), k);
    ([r0, r1, r2, r3], k)
}

/// a + b mod p for a, b < 2^256, below 2^256. A first carry leaves sum − p, which carries
/// again only if the sum was at least 2^256 + p; then sum − 2p < 2^256 − p, and the
/// second fold cannot carry.
#[inline(always)]
const fn add_p(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let (r0, c) = adc(a[0], b[0], false);
    let (r1, c) = adc(a[1], b[1], c);
    let (r2, c) = adc(a[2], b[2], c);
    let (r3, c) = adc(a[3], b[3], c);
    let (r, c) = fold_carry_p([r0, r1, r2, r3], c);
    fold_carry_p(r, c).0
}

/// a − b mod p for a, b < 2^256, below 2^256. After a borrow the limbs hold a − b + 2^256,
/// at least 1; taking 2^256 − p off borrows again only below 2^256 − p, and twice that is
/// far below 2^256, so the second fold cannot borrow.
#[inline(always)]
const fn sub_p(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let (r0, bw) = sbb(a[0], b[0], false);
    let (r1, bw) = sbb(a[1], b[1], bw);
    let (r2, bw) = sbb(a[2], b[2], bw);
    let (r3, bw) = sbb(a[3], b[3], bw);
    let (r, bw) = fold_borrow_p([r0, r1, r2, r3], bw);
    fold_borrow_p(r, bw).0
}

/// The canonical representative (below p) of a 256-bit one: 2^256 < 2p, so one
/// conditional subtraction.
#[inline(always)]
const fn canonical_p(a: [u64; 4]) -> [u64; 4] {
    sub_if_ge(a, false, &P)
}

/// Montgomery reduction modulo p to the canonical representative.
#[inline(always)]
const fn montgomery_reduce_p_canonical(t: [u64; 8]) -> [u64; 4] {
    canonical_p(montgomery_reduce_p(t))
}

/// p for the safegcd inversions.
static P_MODULUS: super::safegcd::Modulus = super::safegcd::Modulus::new(&P);

/// p, little-endian limbs.
const P: [u64; 4] = [0xffff_ffff_ffff_ffff, 0xffff_ffff_0000_0000, 0xffff_ffff_ffff_ffff, 0xffff_fffe_ffff_ffff];

#[inline(always)]
const fn add_mod(a: &[u64; 4], b: &[u64; 4], m: &[u64; 4]) -> [u64; 4] {
    let (r0, c) = adc(a[0], b[0], false);
    let (r1, c) = adc(a[1], b[1], c);
    let (r2, c) = adc(a[2], b[2], c);
    let (r3, c) = adc(a[3], b[3], c);
    sub_if_ge([r0, r1, r2, r3], c, m)
}

#[inline(always)]
const fn sub_mod(a: &[u64; 4], b: &[u64; 4], m: &[u64; 4]) -> [u64; 4] {
    let (r0, bw) = sbb(a[0], b[0], false);
    let (r1, bw) = sbb(a[1], b[1], bw);
    let (r2, bw) = sbb(a[2], b[2], bw);
    let (r3, bw) = sbb_mask(a[3], b[3], bw);
    // Add m back under the borrow mask.
    let (r0, c) = adc(r0, m[0] & bw, false);
    let (r1, c) = adc(r1, m[1] & bw, c);
    let (r2, c) = adc(r2, m[2] & bw, c);
    let (r3, _) = adc(r3, m[3] & bw, c);
    [r0, r1, r2, r3]
}

/// All ones if `a < m`.
#[inline(always)]
const fn lt_mask(a: &[u64; 4], m: &[u64; 4]) -> u64 {
    let (_, b) = sbb(a[0], m[0], false);
    let (_, b) = sbb(a[1], m[1], b);
    let (_, b) = sbb(a[2], m[2], b);
    let (_, b) = sbb(a[3], m[3], b);
    mask_of(b)
}

const fn limbs_from_be(bytes: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut i = 0;
    while i < 4 {
        let mut w = 0u64;
        let mut j = 0;
        while j < 8 {
            w = (w << 8) | bytes[(3 - i) * 8 + j] as u64;
            j += 1;
        }
        out[i] = w;
        i += 1;
    }
    out
}

fn limbs_to_be(limbs: &[u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&limbs[3 - i].to_be_bytes());
    }
    out
}

macro_rules! montgomery_field {
    (
        $(#[$doc:meta])* $name:ident, modulus: $m:expr, r2: $r2:expr, reduce: $reduce:expr,
        reduce_canonical: $reduce_canonical:expr, add: $add:expr, sub: $sub:expr,
        canonical: $canonical:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default)]
        pub struct $name(pub(crate) [u64; 4]);

        impl $name {
            /// The modulus, little-endian limbs.
            pub const MODULUS: [u64; 4] = $m;
            const R2: [u64; 4] = $r2;
            /// 0.
            pub const ZERO: Self = Self([0; 4]);
            /// 1.
            pub const ONE: Self = Self::from_canonical_limbs([1, 0, 0, 0]);

            /// From little-endian limbs already below the modulus (into Montgomery form).
            pub(crate) const fn from_canonical_limbs(limbs: [u64; 4]) -> Self {
                Self($reduce(mul_wide(&limbs, &Self::R2)))
            }

            /// The little-endian limbs of the value (out of Montgomery form).
            #[inline]
            pub(crate) fn to_canonical_limbs(self) -> [u64; 4] {
                let l = self.0;
                $reduce_canonical([l[0], l[1], l[2], l[3], 0, 0, 0, 0])
            }

            /// Parses 32 big-endian bytes; `None` unless the value is below the modulus.
            /// The check is constant time; only the one public bit decides the `Option`.
            pub fn from_be_bytes(bytes: &[u8; 32]) -> Option<Self> {
                let (v, ok) = Self::from_be_bytes_masked(bytes);
                if super::ct::declassify(ok) != 0 { Some(v) } else { None }
            }

            /// Parses 32 big-endian bytes, with an all-ones mask if they were below the
            /// modulus (else the value is meaningless).
            pub(crate) fn from_be_bytes_masked(bytes: &[u8; 32]) -> (Self, u64) {
                let limbs = limbs_from_be(bytes);
                let ok = lt_mask(&limbs, &Self::MODULUS);
                (Self::from_canonical_limbs(limbs), ok)
            }

            /// Reduces 32 big-endian bytes modulo the modulus (valid when the modulus
            /// exceeds 2^255, as both of SM2's do: one subtraction suffices).
            pub fn from_be_bytes_reduced(bytes: &[u8; 32]) -> Self {
                let limbs = sub_if_ge(limbs_from_be(bytes), false, &Self::MODULUS);
                Self::from_canonical_limbs(limbs)
            }

            /// The canonical 32 big-endian bytes.
            pub fn to_be_bytes(self) -> [u8; 32] {
                limbs_to_be(&self.to_canonical_limbs())
            }

            /// `self + rhs`.
            #[inline(always)]
            #[must_use]
            pub fn add(&self, rhs: &Self) -> Self {
                Self($add(&self.0, &rhs.0))
            }

            /// `self − rhs`.
            #[inline(always)]
            #[must_use]
            pub fn sub(&self, rhs: &Self) -> Self {
                Self($sub(&self.0, &rhs.0))
            }

            /// `−self`.
            #[inline(always)]
            #[must_use]
            pub fn neg(&self) -> Self {
                Self($sub(&[0; 4], &self.0))
            }

            /// `2·self`.
            #[inline(always)]
            #[must_use]
            pub fn double(&self) -> Self {
                self.add(self)
            }

            /// `self · rhs`.
            #[inline(always)]
            #[must_use]
            pub fn mul(&self, rhs: &Self) -> Self {
                Self($reduce(mul_wide(&self.0, &rhs.0)))
            }

            /// `self²`.
            #[inline(always)]
            #[must_use]
            pub fn square(&self) -> Self {
                Self($reduce(square_wide(&self.0)))
            }

            /// `self^(2^k)`.
            #[inline(always)]
            #[must_use]
            pub fn square_n(&self, k: u32) -> Self {
                let mut x = *self;
                for _ in 0..k {
                    x = x.square();
                }
                x
            }

            /// All ones if the value is zero, else zero.
            #[inline(always)]
            pub(crate) fn is_zero_mask(&self) -> u64 {
                let a = $canonical(self.0);
                is_zero_mask(a[0] | a[1] | a[2] | a[3])
            }

            /// Whether the value is zero (public values only: this is a branchable bool).
            pub fn is_zero_vartime(&self) -> bool {
                $canonical(self.0) == [0; 4]
            }

            /// All ones if the values are equal, else zero.
            #[inline(always)]
            pub(crate) fn eq_mask(&self, rhs: &Self) -> u64 {
                let (a, b) = ($canonical(self.0), $canonical(rhs.0));
                is_zero_mask((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]))
            }

            /// `a` where `mask` is zero, `b` where it is all ones.
            #[inline(always)]
            #[allow(dead_code, reason = "the point code selects field elements; scalars need not")]
            pub(crate) fn select(a: &Self, b: &Self, mask: u64) -> Self {
                // Hidden from the optimiser, which may otherwise turn a selection on a mask it
                // can trace to a comparison into a branch or a `cmov` on the secret (the
                // valgrind check in `ct/` caught one in the guarded point additions).
                let mask = core::hint::black_box(mask);
                Self([
                    a.0[0] ^ (mask & (a.0[0] ^ b.0[0])),
                    a.0[1] ^ (mask & (a.0[1] ^ b.0[1])),
                    a.0[2] ^ (mask & (a.0[2] ^ b.0[2])),
                    a.0[3] ^ (mask & (a.0[3] ^ b.0[3])),
                ])
            }

            /// `self^e` for a public exponent (little-endian limbs), by 4-bit windows.
            pub(crate) fn pow_vartime_exponent(&self, e: &[u64; 4]) -> Self {
                let mut table = [Self::ONE; 16];
                for i in 1..16 {
                    table[i] = table[i - 1].mul(self);
                }
                let mut acc = Self::ONE;
                for i in (0..64).rev() {
                    acc = acc.square_n(4);
                    let nibble = (e[i / 16] >> ((i % 16) * 4)) & 0xf;
                    // The exponent is public: indexing by it is fine.
                    acc = acc.mul(&table[nibble as usize]);
                }
                acc
            }

            /// `self⁻¹` by Fermat's little theorem (0 maps to 0), in constant time.
            pub fn invert_generic(&self) -> Self {
                let m = Self::MODULUS;
                let (e0, b) = sbb(m[0], 2, false);
                let (e1, b) = sbb(m[1], 0, b);
                let (e2, b) = sbb(m[2], 0, b);
                let (e3, _) = sbb(m[3], 0, b);
                self.pow_vartime_exponent(&[e0, e1, e2, e3])
            }
        }

        impl PartialEq for $name {
            /// Constant-time comparison.
            fn eq(&self, other: &Self) -> bool {
                super::ct::declassify(self.eq_mask(other)) != 0
            }
        }
        impl Eq for $name {}

        impl Zeroize for $name {
            fn zeroize(&mut self) {
                self.0.zeroize();
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                // Scalars may be secret: never printed.
                f.write_str(concat!(stringify!($name), "(…)"))
            }
        }
    };
}

montgomery_field!(
    /// An element of GF(p), p = 2^256 − 2^224 − 2^96 + 2^64 − 1, in Montgomery form.
    FieldElement,
    modulus: P,
    r2: [0x0000_0002_0000_0003, 0x0000_0002_ffff_ffff, 0x0000_0001_0000_0001, 0x0000_0004_0000_0002],
    reduce: montgomery_reduce_p,
    reduce_canonical: montgomery_reduce_p_canonical,
    add: add_p,
    sub: sub_p,
    canonical: canonical_p
);

montgomery_field!(
    /// An integer modulo the order n of SM2's base point, in Montgomery form.
    Scalar,
    modulus: [0x53bb_f409_39d5_4123, 0x7203_df6b_21c6_052b, 0xffff_ffff_ffff_ffff, 0xffff_fffe_ffff_ffff],
    r2: [0x9011_92af_7c11_4f20, 0x3464_504a_de6f_a2fa, 0x620f_c84c_3aff_e0d4, 0x1eb5_e412_a22b_3d3b],
    reduce: montgomery_reduce_n,
    reduce_canonical: montgomery_reduce_n,
    add: add_n,
    sub: sub_n,
    canonical: core::convert::identity
);

#[inline(always)]
const fn add_n(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    add_mod(a, b, &Scalar::MODULUS)
}

#[inline(always)]
const fn sub_n(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    sub_mod(a, b, &Scalar::MODULUS)
}

/// Montgomery reduction modulo n (−n⁻¹ mod 2^64 below).
#[inline(always)]
const fn montgomery_reduce_n(t: [u64; 8]) -> [u64; 4] {
    montgomery_reduce(t, &Scalar::MODULUS, 0x327f_9e88_7235_0975)
}

impl FieldElement {
    /// `self⁻¹` (0 maps to 0) by constant-time safegcd.
    #[must_use]
    pub fn invert(&self) -> Self {
        Self(super::safegcd::invert(&canonical_p(self.0), &P_MODULUS)).mul(&Self::R3)
    }

    /// `self⁻¹` (0 maps to 0) by Fermat, x^(p−2), along a fixed addition chain: 255
    /// squarings and 14 multiplications, the same for every input.
    #[must_use]
    pub fn invert_fermat(&self) -> Self {
        let x = *self;
        let x2 = x.square().mul(&x); // 2 ones
        let x3 = x2.square().mul(&x);
        let x6 = x3.square_n(3).mul(&x3);
        let x12 = x6.square_n(6).mul(&x6);
        let x15 = x12.square_n(3).mul(&x3);
        let x30 = x15.square_n(15).mul(&x15);
        let x31 = x30.square().mul(&x);
        let x32 = x31.square().mul(&x);
        // p − 2 = 1^31 0 1^128 0^32 1^62 0 1 (most significant bit first).
        let mut t = x31.square(); // 1^31 0
        for _ in 0..4 {
            t = t.square_n(32).mul(&x32);
        }
        t = t.square_n(32); // 0^32
        t = t.square_n(32).mul(&x32);
        t = t.square_n(30).mul(&x30);
        t.square_n(2).mul(&x)
    }
}

impl FieldElement {
    /// R³ mod p: the integer inverse of a Montgomery form aR is a⁻¹R⁻¹, and one Montgomery
    /// multiplication by R³ turns that into a⁻¹R.
    const R3: Self = Self::from_canonical_limbs(Self::R2);

    /// `self⁻¹` (0 maps to 0) by safegcd, in variable time: public values only.
    #[must_use]
    pub fn invert_vartime(&self) -> Self {
        Self(super::safegcd::invert_vartime(&canonical_p(self.0), &P_MODULUS)).mul(&Self::R3)
    }
}

impl FieldElement {
    /// `self / 2`: adds p when the value is odd (masked), then shifts right by one bit
    /// (below 2^256 + p before the shift, so below 2^256 after).
    #[inline(always)]
    #[must_use]
    pub fn halve(&self) -> Self {
        let a = self.0;
        let odd = (a[0] & 1).wrapping_neg();
        let (r0, c) = adc(a[0], P[0] & odd, false);
        let (r1, c) = adc(a[1], P[1] & odd, c);
        let (r2, c) = adc(a[2], P[2] & odd, c);
        let (r3, c) = adc(a[3], P[3] & odd, c);
        Self([(r0 >> 1) | (r1 << 63), (r1 >> 1) | (r2 << 63), (r2 >> 1) | (r3 << 63), (r3 >> 1) | ((c as u64) << 63)])
    }
}

impl Scalar {
    /// R³ mod n (see [`FieldElement::invert_vartime`]).
    const R3: Self = Self::from_canonical_limbs(Self::R2);

    /// `self⁻¹` (0 maps to 0) by constant-time safegcd.
    #[must_use]
    pub fn invert(&self) -> Self {
        static N_MODULUS: super::safegcd::Modulus = super::safegcd::Modulus::new(&Scalar::MODULUS);
        Self(super::safegcd::invert(&self.0, &N_MODULUS)).mul(&Self::R3)
    }

    /// Reduces an element of GF(p) modulo n (p < 2n, so at most one subtraction).
    pub(crate) fn from_field(x: &FieldElement) -> Self {
        let limbs = sub_if_ge(x.to_canonical_limbs(), false, &Self::MODULUS);
        Self::from_canonical_limbs(limbs)
    }
}

#[cfg(test)]
mod tests {
    //! The redundant form of GF(p) at its edges: representatives from p up to 2^256 − 1,
    //! which only arise inside the arithmetic, against num-bigint.
    #![allow(clippy::unwrap_used, clippy::std_instead_of_alloc)]
    use alloc::vec::Vec;

    use num_bigint::BigUint;

    use super::*;

    fn big(limbs: &[u64; 4]) -> BigUint {
        limbs.iter().rev().fold(BigUint::ZERO, |acc, &w| (acc << 64u32) + w)
    }

    fn limbs(x: &BigUint) -> [u64; 4] {
        let mut out = [0u64; 4];
        for (o, d) in out.iter_mut().zip(x.to_u64_digits()) {
            *o = d;
        }
        out
    }

    fn p() -> BigUint {
        big(&P)
    }

    /// The residue a representative stands for: raw·R⁻¹ mod p.
    fn value(raw: &[u64; 4]) -> BigUint {
        let r_inv = (BigUint::from(1u32) << 256u32).modpow(&(p() - 2u32), &p());
        big(raw) * r_inv % p()
    }

    fn be32(x: &BigUint) -> [u8; 32] {
        let b = x.to_bytes_be();
        let mut out = [0u8; 32];
        out[32 - b.len()..].copy_from_slice(&b);
        out
    }

    /// Representatives at the edges: 0, 1, 2, p − 2, p − 1, p, p + 1, p + 2, 2^255,
    /// 2^256 − p − 1, 2^256 − 2, 2^256 − 1.
    fn edges() -> Vec<[u64; 4]> {
        let p = p();
        let top = BigUint::from(1u32) << 256u32;
        let values = [
            BigUint::ZERO,
            BigUint::from(1u32),
            BigUint::from(2u32),
            &p - 2u32,
            &p - 1u32,
            p.clone(),
            &p + 1u32,
            &p + 2u32,
            BigUint::from(1u32) << 255u32,
            &top - &p - 1u32,
            &top - 2u32,
            &top - 1u32,
        ];
        values.iter().map(limbs).collect()
    }

    #[test]
    fn redundant_representatives() {
        let p = p();
        for a in edges() {
            let x = FieldElement(a);
            let va = value(&a);
            // Encoding, zero tests and equality see the residue, not the representative.
            assert_eq!(x.to_be_bytes(), be32(&va));
            assert_eq!(big(&x.to_canonical_limbs()), va);
            assert_eq!(x.is_zero_vartime(), va == BigUint::ZERO);
            assert_eq!(x.is_zero_mask() != 0, va == BigUint::ZERO);
            assert_eq!(x.invert_vartime().to_be_bytes(), x.invert_fermat().to_be_bytes());
            assert_eq!(x.invert().to_be_bytes(), x.invert_fermat().to_be_bytes());
            assert_eq!(x.halve().double(), x);
            assert_eq!(x.neg().to_be_bytes(), be32(&((&p - &va) % &p)));
            assert_eq!(x.square().to_be_bytes(), be32(&(&va * &va % &p)));
            for b in edges() {
                let y = FieldElement(b);
                let vb = value(&b);
                assert_eq!(x == y, va == vb, "{a:x?} {b:x?}");
                assert_eq!(x.eq_mask(&y) != 0, va == vb);
                assert_eq!(x.add(&y).to_be_bytes(), be32(&((&va + &vb) % &p)));
                assert_eq!(x.sub(&y).to_be_bytes(), be32(&((&va + &p - &vb) % &p)));
                assert_eq!(x.mul(&y).to_be_bytes(), be32(&(&va * &vb % &p)));
            }
        }
        // p and 0 are the same element, as are p + 1 and 1.
        assert_eq!(FieldElement(P), FieldElement::ZERO);
        assert_eq!(FieldElement(limbs(&(&p + 1u32))), FieldElement([1, 0, 0, 0]));
    }
}
