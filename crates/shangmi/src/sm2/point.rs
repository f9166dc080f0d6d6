//! Points of the SM2 curve y² = x³ − 3x + b over GF(p), and the scalar multiplications.
//!
//! Points are kept in Jacobian coordinates (x = X/Z², y = Y/Z³, Z = 0 for the point at
//! infinity), with the a = −3 doubling. The addition formulas are not complete, so every
//! caller either guards the exceptional cases with masked selections (constant time) or
//! proves they cannot occur; the comments at each use say which.
//!
//! - [`mul_base`]: k·G for a secret k, by a fixed-base comb over 43 signed 6-bit windows
//!   with a table of 43 × 32 affine multiples of G built once; every lookup reads the whole
//!   row.
//! - [`mul_point`]: k·P for a secret k and a public P, by 5 doublings and one mixed addition
//!   per signed 5-bit window, with a 16-entry affine table read whole.
//! - [`mul_double_vartime`]: u1·G + u2·P for public scalars (verification), by interleaved
//!   wNAF: width 8 over a table of odd multiples of G built once, width 5 for P.
use alloc::{boxed::Box, vec, vec::Vec};

use super::field::{FieldElement as Fe, Scalar, eq_mask, is_zero_mask};

/// b of the curve, in Montgomery form.
const B: Fe = Fe::from_canonical_limbs([
    0xddbc_bd41_4d94_0e93,
    0xf397_89f5_15ab_8f92,
    0x4d5a_9e4b_cf65_09a7,
    0x28e9_fa9e_9d9f_5e34,
]);
const GX: Fe = Fe::from_canonical_limbs([
    0x715a_4589_334c_74c7,
    0x8fe3_0bbf_f266_0be1,
    0x5f99_0446_6a39_c994,
    0x32c4_ae2c_1f19_8119,
]);
const GY: Fe = Fe::from_canonical_limbs([
    0x02df_32e5_2139_f0a0,
    0xd0a9_877c_c62a_4740,
    0x59bd_cee3_6b69_2153,
    0xbc37_36a2_f4f6_779c,
]);

/// A point in affine coordinates (never the point at infinity).
#[derive(Clone, Copy, Debug, Default)]
pub struct Affine {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
}

/// A point in Jacobian coordinates; Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

/// The base point G.
pub const GENERATOR: Affine = Affine { x: GX, y: GY };

impl Affine {
    /// The x coordinate.
    pub fn x(&self) -> Fe {
        self.x
    }

    /// The y coordinate.
    pub fn y(&self) -> Fe {
        self.y
    }

    /// Parses an uncompressed `04 ‖ x ‖ y` point, checking that the coordinates are canonical
    /// and the point is on the curve (public input: variable time).
    pub fn from_sec1(bytes: &[u8; 65]) -> Option<Self> {
        if bytes[0] != 0x04 {
            return None;
        }
        let x = Fe::from_be_bytes(bytes[1..33].try_into().ok()?)?;
        let y = Fe::from_be_bytes(bytes[33..65].try_into().ok()?)?;
        let p = Self { x, y };
        p.is_on_curve().then_some(p)
    }

    /// Whether y² = x³ − 3x + b.
    pub fn is_on_curve(&self) -> bool {
        let rhs = self.x.square().mul(&self.x).sub(&self.x.double().add(&self.x)).add(&B);
        self.y.square() == rhs
    }

    /// `04 ‖ x ‖ y`.
    pub fn to_sec1(self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[0] = 0x04;
        out[1..33].copy_from_slice(&self.x.to_be_bytes());
        out[33..].copy_from_slice(&self.y.to_be_bytes());
        out
    }

    fn to_jacobian(self) -> Jacobian {
        Jacobian { x: self.x, y: self.y, z: Fe::ONE }
    }
}

impl Jacobian {
    /// The point at infinity.
    pub const IDENTITY: Self = Self { x: Fe::ONE, y: Fe::ONE, z: Fe::ZERO };

    /// All ones if this is the point at infinity.
    #[inline(always)]
    fn is_identity_mask(&self) -> u64 {
        self.z.is_zero_mask()
    }

    #[inline(always)]
    fn select(a: &Self, b: &Self, mask: u64) -> Self {
        Self { x: Fe::select(&a.x, &b.x, mask), y: Fe::select(&a.y, &b.y, mask), z: Fe::select(&a.z, &b.z, mask) }
    }

    /// `2·self` for a = −3 (4M + 4S): dbl-2001-b's values, with Z3 = 2·Y·Z taken as a
    /// product and 8Y⁴ as half of (4Y²)², which trades a squaring for a multiplication but
    /// saves five of its sixteen additions. Also right for the point at infinity (Z stays 0);
    /// the curve has no point of order 2.
    #[inline(always)]
    #[must_use]
    pub fn double(&self) -> Self {
        let zz = self.z.square();
        let y2 = self.y.double();
        let yy4 = y2.square();
        let z3 = self.y.mul(&self.z).double();
        // alpha = 3·(X − Z²)·(X + Z²) = 3X² − 3Z⁴ (a = −3).
        let t = self.x.sub(&zz).mul(&self.x.add(&zz));
        let alpha = t.double().add(&t);
        // 8Y⁴.
        let y4_8 = yy4.square().halve();
        // beta4 = 4·X·Y².
        let beta4 = yy4.mul(&self.x);
        let x3 = alpha.square().sub(&beta4.double());
        let y3 = alpha.mul(&beta4.sub(&x3)).sub(&y4_8);
        Self { x: x3, y: y3, z: z3 }
    }

    /// `self + q` for q affine, without the exceptional cases: wrong if `self` is the point
    /// at infinity or ±q (8M + 3S). Returns also H and R, which are both zero exactly when
    /// self = q (and H alone when self = −q), for the guarded callers.
    #[inline(always)]
    fn add_affine_unchecked(&self, q: &Affine) -> (Self, Fe, Fe) {
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        let hh = h.square();
        let hhh = hh.mul(&h);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&hhh));
        let z3 = self.z.mul(&h);
        (Self { x: x3, y: y3, z: z3 }, h, r)
    }

    /// `self + q` for q affine, or `self` when `q_is_identity` is all ones; handles `self`
    /// at infinity; constant time. The caller guarantees self ≠ ±q when both are finite.
    #[inline(always)]
    fn add_affine_guarded(&self, q: &Affine, q_is_identity: u64) -> Self {
        let (sum, _, _) = self.add_affine_unchecked(q);
        let sum = Self::select(&sum, &q.to_jacobian(), self.is_identity_mask());
        Self::select(&sum, self, q_is_identity)
    }

    /// `self + q` for q affine, or `self` when `q_is_identity` is all ones, for any `self`,
    /// in constant time: the guarded sum, with the doubling selected when self = q (the sum
    /// formula gives Z = 0, the right answer, for self = −q).
    #[inline(always)]
    fn add_affine_complete(&self, q: &Affine, q_is_identity: u64) -> Self {
        let (sum, h, r) = self.add_affine_unchecked(q);
        let same = h.is_zero_mask() & r.is_zero_mask() & !self.is_identity_mask();
        let sum = Self::select(&sum, &self.double(), same);
        let sum = Self::select(&sum, &q.to_jacobian(), self.is_identity_mask());
        Self::select(&sum, self, q_is_identity)
    }

    /// `self + q` without the exceptional cases (12M + 4S); returns H and R as above.
    #[inline(always)]
    fn add_unchecked(&self, q: &Self) -> (Self, Fe, Fe) {
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = q.x.mul(&z1z1);
        let s1 = self.y.mul(&q.z).mul(&z2z2);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        let hh = h.square();
        let hhh = hh.mul(&h);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = self.z.mul(&q.z).mul(&h);
        (Self { x: x3, y: y3, z: z3 }, h, r)
    }

    /// `self + q` for any two points, in constant time: the guarded sum, and the doubling
    /// selected when self = q (the sum formula gives Z = 0, the right answer, for self = −q).
    #[must_use]
    pub fn add_complete(&self, q: &Self) -> Self {
        let (sum, h, r) = self.add_unchecked(q);
        let same = h.is_zero_mask() & r.is_zero_mask() & !self.is_identity_mask() & !q.is_identity_mask();
        let sum = Self::select(&sum, &self.double(), same);
        let sum = Self::select(&sum, q, self.is_identity_mask());
        Self::select(&sum, self, q.is_identity_mask())
    }

    /// `self + q` for any two points, branching on public data (verification only).
    fn add_vartime(&self, q: &Self) -> Self {
        if self.z.is_zero_vartime() {
            return *q;
        }
        if q.z.is_zero_vartime() {
            return *self;
        }
        let (sum, h, r) = self.add_unchecked(q);
        if h.is_zero_vartime() {
            return if r.is_zero_vartime() { self.double() } else { Self::IDENTITY };
        }
        sum
    }

    /// `self + q` for q affine, branching on public data (verification only).
    fn add_affine_vartime(&self, q: &Affine) -> Self {
        if self.z.is_zero_vartime() {
            return q.to_jacobian();
        }
        let (sum, h, r) = self.add_affine_unchecked(q);
        if h.is_zero_vartime() {
            return if r.is_zero_vartime() { self.double() } else { Self::IDENTITY };
        }
        sum
    }

    /// `-self`.
    #[must_use]
    pub fn neg(&self) -> Self {
        Self { x: self.x, y: self.y.neg(), z: self.z }
    }

    /// Whether this is the point at infinity (public points only).
    pub fn is_identity_vartime(&self) -> bool {
        self.z.is_zero_vartime()
    }

    /// The affine point, or `None` at infinity; one constant-time inversion.
    pub fn to_affine(self) -> Option<Affine> {
        if self.z.is_zero_vartime() {
            return None;
        }
        Some(self.to_affine_unchecked())
    }

    /// The affine point, for a point known not to be at infinity; constant time.
    #[inline(always)]
    pub(crate) fn to_affine_unchecked(self) -> Affine {
        let zinv = self.z.invert();
        let zinv2 = zinv.square();
        Affine { x: self.x.mul(&zinv2), y: self.y.mul(&zinv2).mul(&zinv) }
    }

    /// Two finite points in affine coordinates with one inversion (Montgomery's trick: the
    /// inverse of Z1·Z2 times Z2 is Z1⁻¹, and times Z1 is Z2⁻¹); constant time.
    pub(crate) fn to_affine_pair_unchecked(a: &Self, b: &Self) -> (Affine, Affine) {
        let inv = a.z.mul(&b.z).invert();
        let from = |p: &Self, zinv: Fe| {
            let zinv2 = zinv.square();
            Affine { x: p.x.mul(&zinv2), y: p.y.mul(&zinv2).mul(&zinv) }
        };
        (from(a, inv.mul(&b.z)), from(b, inv.mul(&a.z)))
    }

    /// Whether the affine x of this (finite) point, reduced mod n, is `r`, without an
    /// inversion: compares X with x·Z² for the (at most two) x < p with x ≡ r mod n.
    pub(crate) fn x_mod_n_is_vartime(&self, r: &Scalar) -> bool {
        let zz = self.z.square();
        let r_limbs = r.to_canonical_limbs();
        // r < n < p, so r itself is a candidate.
        let x = Fe::from_canonical_limbs(r_limbs);
        if x.mul(&zz).eq_vartime(&self.x) {
            return true;
        }
        // r + n, if below p.
        let (sum, carry) = add_limbs(&r_limbs, &Scalar::MODULUS);
        if carry != 0 || !lt_limbs(&sum, &Fe::MODULUS) {
            return false;
        }
        Fe::from_canonical_limbs(sum).mul(&zz).eq_vartime(&self.x)
    }
}

impl Fe {
    fn eq_vartime(&self, rhs: &Self) -> bool {
        self.to_canonical_limbs() == rhs.to_canonical_limbs()
    }
}

fn add_limbs(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], u64) {
    let mut out = [0u64; 4];
    let mut carry = 0u64;
    for i in 0..4 {
        let t = a[i] as u128 + b[i] as u128 + carry as u128;
        out[i] = t as u64;
        carry = (t >> 64) as u64;
    }
    (out, carry)
}

fn lt_limbs(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// Normalizes points to affine with one variable-time inversion (Montgomery's trick);
/// public data only, and no point may be at infinity. `out` has the length of `points`.
fn batch_to_affine_into(points: &[Jacobian], out: &mut [Affine]) {
    // The prefix products Z_0⋯Z_(i−1) are kept in `out[i].x` until the second pass.
    let mut acc = Fe::ONE;
    for (p, o) in points.iter().zip(out.iter_mut()) {
        o.x = acc;
        acc = acc.mul(&p.z);
    }
    let mut inv = acc.invert_vartime();
    for (p, o) in points.iter().zip(out.iter_mut()).rev() {
        let zinv = inv.mul(&o.x);
        inv = inv.mul(&p.z);
        let zinv2 = zinv.square();
        *o = Affine { x: p.x.mul(&zinv2), y: p.y.mul(&zinv2).mul(&zinv) };
    }
}

/// [`batch_to_affine_into`] into a new vector.
fn batch_to_affine(points: &[Jacobian]) -> Vec<Affine> {
    let mut out = vec![Affine::default(); points.len()];
    batch_to_affine_into(points, &mut out);
    out
}

// ---- scalar recoding ----

/// Bits `[start, start + len)` of a little-endian 256-bit number (zero beyond bit 255;
/// `start` may be −1, reading a zero). The position is public; the value may be secret.
#[inline(always)]
fn bits(k: &[u64; 4], start: isize, len: u32) -> u64 {
    let (k, start) = if start < 0 {
        // Only start = −1 occurs: shift the whole number left by one.
        return (bits(k, 0, len - 1) << 1) & ((1 << len) - 1);
    } else {
        (k, start as usize)
    };
    let limb = start / 64;
    let shift = start % 64;
    if limb >= 4 {
        return 0;
    }
    let mut v = k[limb] >> shift;
    if shift + len as usize > 64 && limb + 1 < 4 {
        v |= k[limb + 1] << (64 - shift);
    }
    v & ((1 << len) - 1)
}

/// Booth recoding of a window of `w` bits plus the bit below it (a `w + 1`-bit value):
/// (magnitude in [0, 2^(w−1)], all-ones mask if negative), without branches.
#[inline(always)]
fn booth(window: u64, w: u32) -> (u64, u64) {
    let negative = ((window >> w) & 1).wrapping_neg();
    let d = ((1u64 << (w + 1)) - window - 1) & negative | window & !negative;
    ((d >> 1) + (d & 1), negative)
}

// ---- k·G ----

const COMB_WINDOW: u32 = 6;
const COMB_ROWS: usize = 43; // ⌈257 / 6⌉: Booth digits need one bit above the scalar.
const COMB_ENTRIES: usize = 32; // 1..=2^(w−1)

/// The fixed-base comb of a point B: row i holds j·2^(6i)·B for j = 1..=32, affine (88 KiB).
/// G has one; so may a public key that is encrypted to again and again.
pub struct CombTable(Box<[[Affine; COMB_ENTRIES]; COMB_ROWS]>);

impl core::fmt::Debug for CombTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CombTable").finish_non_exhaustive()
    }
}

impl CombTable {
    /// The comb of `b`, a point on the curve other than infinity (about 0.6 ms).
    pub fn new(b: &Affine) -> Self {
        let mut points = Vec::with_capacity(COMB_ROWS * COMB_ENTRIES);
        let mut base = b.to_jacobian();
        for _ in 0..COMB_ROWS {
            let mut multiple = base;
            points.push(multiple);
            // j·B for j ≥ 2: never ±B or infinity, since 32 < n.
            let b2 = base.double();
            points.push(b2);
            multiple = b2;
            for _ in 2..COMB_ENTRIES {
                multiple = multiple.add_vartime(&base);
                points.push(multiple);
            }
            for _ in 0..COMB_WINDOW {
                base = base.double();
            }
        }
        let affine = batch_to_affine(&points);
        let mut table = Box::new([[Affine::default(); COMB_ENTRIES]; COMB_ROWS]);
        for (row, chunk) in table.iter_mut().zip(affine.chunks_exact(COMB_ENTRIES)) {
            row.copy_from_slice(chunk);
        }
        Self(table)
    }

    /// G's, built on first use.
    pub(crate) fn get() -> &'static Self {
        static TABLE: once_cell::race::OnceBox<CombTable> = once_cell::race::OnceBox::new();
        TABLE.get_or_init(|| Box::new(Self::new(&GENERATOR)))
    }

    /// k·B for a secret k (k < n), in constant time.
    pub fn mul(&self, k: &Scalar) -> Jacobian {
        let k = k.to_canonical_limbs();
        let mut acc = Jacobian::IDENTITY;
        // Rows in increasing order: before row i the accumulator holds S·B with
        // |S| < 2^(6i) · 32/63, and row i adds d·2^(6i)·B with 1 ≤ |d| ≤ 32. For i ≤ 41,
        // S ≡ ±d·2^(6i) (mod n) would need |S ∓ d·2^(6i)| < 2^(6i+6) ≤ 2^252 < n to be 0,
        // impossible; for the top row (bits 252–255, so 0 ≤ d ≤ 16) and k < n, working the
        // congruence out shows no collision either. B has order n (the cofactor is 1), so
        // this holds for any B. The guarded addition covers S = 0 (the accumulator at
        // infinity) and d = 0.
        for (i, row) in self.0.iter().enumerate() {
            let window = bits(&k, (i as u32 * COMB_WINDOW) as isize - 1, COMB_WINDOW + 1);
            let (digit, negative) = booth(window, COMB_WINDOW);
            let mut q = lookup_affine(row, digit);
            q.y = Fe::select(&q.y, &q.y.neg(), negative);
            acc = acc.add_affine_guarded(&q, is_zero_mask(digit));
        }
        acc
    }
}

/// Entry `index` (1-based) of `row`, reading every entry; zero if `index` is 0.
#[inline(always)]
fn lookup_affine<const N: usize>(row: &[Affine; N], index: u64) -> Affine {
    let mut masks = [0u64; N];
    for (j, m) in masks.iter_mut().enumerate() {
        *m = eq_mask(index, j as u64 + 1);
    }
    // The masks pass the optimiser's view all at once, which leaves the scan below free to
    // use vector instructions: at most one mask is set, so OR-ing the masked entries
    // selects it.
    let masks = opaque_masks(masks);
    let mut acc = [0u64; 8];
    for (entry, &m) in row.iter().zip(masks.iter()) {
        for k in 0..4 {
            acc[k] |= m & entry.x.0[k];
            acc[k + 4] |= m & entry.y.0[k];
        }
    }
    Affine { x: Fe([acc[0], acc[1], acc[2], acc[3]]), y: Fe([acc[4], acc[5], acc[6], acc[7]]) }
}

/// Hides the masks of a table scan from the optimiser. Without it LLVM sees that at most
/// one comparison succeeds and turns the masked selections into a branch on the secret
/// index (the valgrind check in `ct/` caught exactly that).
#[inline(always)]
fn opaque_masks<const N: usize>(masks: [u64; N]) -> [u64; N] {
    core::hint::black_box(masks)
}

/// k·G for a secret k (k < n), in constant time.
pub fn mul_base(k: &Scalar) -> Jacobian {
    CombTable::get().mul(k)
}

// ---- k·P ----

const LADDER_WINDOW: u32 = 5;
const LADDER_WINDOWS: usize = 52; // ⌈257 / 5⌉
const LADDER_ENTRIES: usize = 16;

/// k·P for a secret k (k < n) and a public point P on the curve, in constant time in k.
///
/// The table of multiples of P depends on P alone, so it is made affine with one
/// variable-time inversion, and the additions are mixed (8M + 3S instead of 12M + 4S) with
/// smaller entries to scan.
pub fn mul_point(k: &Scalar, p: &Affine) -> Jacobian {
    let k = k.to_canonical_limbs();
    // j·P for j = 1..=16; jP ≠ ±P for 2 ≤ j ≤ 16 < n − 1, so the plain sums are right, and
    // none is at infinity.
    let mut multiples = [p.to_jacobian(); LADDER_ENTRIES];
    multiples[1] = multiples[0].double();
    for j in 2..LADDER_ENTRIES {
        multiples[j] = multiples[j - 1].add_affine_unchecked(p).0;
    }
    let mut table = [Affine::default(); LADDER_ENTRIES];
    batch_to_affine_into(&multiples, &mut table);
    let window = |i: usize| bits(&k, (i as u32 * LADDER_WINDOW) as isize - 1, LADDER_WINDOW + 1);
    let (digit, _) = booth(window(LADDER_WINDOWS - 1), LADDER_WINDOW);
    let top = lookup_affine(&table, digit);
    // The top window's digit is 0 or positive; at 0 the accumulator starts at infinity.
    let mut acc = Jacobian::select(&top.to_jacobian(), &Jacobian::IDENTITY, is_zero_mask(digit));
    for i in (0..LADDER_WINDOWS - 1).rev() {
        for _ in 0..LADDER_WINDOW {
            acc = acc.double();
        }
        let (digit, negative) = booth(window(i), LADDER_WINDOW);
        let mut q = lookup_affine(&table, digit);
        q.y = Fe::select(&q.y, &q.y.neg(), negative);
        // Before window i the accumulator is V·P with V = 32·(⌊k / 2^(5i+5)⌋ + a carry bit),
        // 0 ≤ V < n + 32, and the digit is at most 16 in size: V ≡ ±d (mod n) only for V = 0
        // = d (both at infinity, guarded) or V = n ± d, which needs i = 0. So only the last
        // addition takes the complete formula (k = n − 2, for instance, reaches it).
        let q_is_identity = is_zero_mask(digit);
        acc =
            if i == 0 { acc.add_affine_complete(&q, q_is_identity) } else { acc.add_affine_guarded(&q, q_is_identity) };
    }
    acc
}

// ---- u1·G + u2·P, public ----

/// Width-w NAF digits of a public scalar, least significant first.
fn wnaf(k: &[u64; 4], w: u32) -> [i8; 257] {
    let mut digits = [0i8; 257];
    let mut limbs = [k[0], k[1], k[2], k[3], 0u64];
    let window = 1i64 << w;
    let mut i = 0;
    while limbs.iter().any(|&l| l != 0) {
        if limbs[0] & 1 == 1 {
            let mut d = (limbs[0] & (window as u64 - 1)) as i64;
            if d >= window / 2 {
                d -= window;
            }
            digits[i] = d as i8;
            // limbs −= d
            let (sub, add) = if d >= 0 { (d as u64, 0) } else { (0, (-d) as u64) };
            let mut borrow = sub;
            let mut carry = add;
            for l in &mut limbs {
                let (v, b) = l.overflowing_sub(borrow);
                let (v, c) = v.overflowing_add(carry);
                *l = v;
                borrow = b as u64;
                carry = c as u64;
            }
        }
        // limbs >>= 1
        for j in 0..4 {
            limbs[j] = (limbs[j] >> 1) | (limbs[j + 1] << 63);
        }
        limbs[4] >>= 1;
        i += 1;
    }
    digits
}

/// wNAF width for G in verification: odd multiples up to 127·G, about 256 / 9 additions.
const G_WNAF_WIDTH: u32 = 8;
/// wNAF width for P in verification: its tables are built per call or per key, so they stay
/// small.
const P_WNAF_WIDTH: u32 = 5;

/// Q, 3Q, 5Q, …, (2^(w−1) − 1)·Q for w = [`G_WNAF_WIDTH`], affine, for Q = G or one of the
/// other bases of [`SplitOddMultiplesOfG`].
struct OddMultiplesOfG([Affine; 1 << (G_WNAF_WIDTH - 2)]);

impl OddMultiplesOfG {
    /// The table of `q` (a multiple of G).
    fn of(q: &Affine) -> Self {
        Self(odd_multiples(q))
    }
}

/// Q, 3Q, 5Q, …, (2N − 1)·Q for a point Q on the curve, made affine with one variable-time
/// inversion, which the cheaper mixed additions repay. None is at infinity: the multipliers
/// are below n.
fn odd_multiples<const N: usize>(q: &Affine) -> [Affine; N] {
    let q1 = q.to_jacobian();
    let q2 = q1.double();
    let mut multiples = [q1; N];
    for j in 1..N {
        multiples[j] = multiples[j - 1].add_vartime(&q2);
    }
    let mut table = [Affine::default(); N];
    batch_to_affine_into(&multiples, &mut table);
    table
}

/// u1·G + u2·P for public u1, u2 and P, in variable time: one chain of doublings shared by
/// both wNAF expansions (Shamir's trick), mixed additions from the affine tables of G and P.
pub fn mul_double_vartime(u1: &Scalar, u2: &Scalar, p: &Affine) -> Jacobian {
    mul_double_vartime_with(u1, u2, &OddMultiples::new(p))
}

/// P, 3P, …, (2^(w−1) − 1)·P for w = [`P_WNAF_WIDTH`], affine: what u1·G + u2·P needs of P.
/// It depends on P alone, so a verifier may keep it for a key it sees again.
#[derive(Clone, Debug)]
pub struct OddMultiples([Affine; 1 << (P_WNAF_WIDTH - 2)]);

impl OddMultiples {
    /// The table of `p`.
    pub fn new(p: &Affine) -> Self {
        Self(odd_multiples(p))
    }

    /// u1·G + u2·P for public u1 and u2, in variable time ([`mul_double_vartime_with`]).
    pub fn mul_double_vartime(&self, u1: &Scalar, u2: &Scalar) -> Jacobian {
        mul_double_vartime_with(u1, u2, self)
    }

    /// P itself.
    pub fn point(&self) -> &Affine {
        &self.0[0]
    }
}

/// [`mul_double_vartime`] with P's table already made.
pub fn mul_double_vartime_with(u1: &Scalar, u2: &Scalar, p: &OddMultiples) -> Jacobian {
    let g_digits = wnaf(&u1.to_canonical_limbs(), G_WNAF_WIDTH);
    let p_digits = wnaf(&u2.to_canonical_limbs(), P_WNAF_WIDTH);
    sum_of_wnafs(&[(&g_digits, &SplitOddMultiplesOfG::get().0[0].0), (&p_digits, &p.0)])
}

/// Σ dᵢ·Tᵢ for wNAF digit strings dᵢ and the odd multiples Tᵢ of their points, with one
/// chain of doublings shared by all (Shamir's trick) and mixed additions; variable time.
fn sum_of_wnafs(terms: &[(&[i8; 257], &[Affine])]) -> Jacobian {
    let top = |digits: &[i8; 257]| digits.iter().rposition(|&d| d != 0).map_or(0, |t| t + 1);
    let len = terms.iter().map(|(digits, _)| top(digits)).max().unwrap_or(0);
    let mut acc = Jacobian::IDENTITY;
    for i in (0..len).rev() {
        // Above the top digit the accumulator is still at infinity.
        if i + 1 < len {
            acc = acc.double();
        }
        for (digits, table) in terms {
            let d = digits[i];
            if d != 0 {
                let mut q = table[usize::from(d.unsigned_abs()) / 2];
                if d < 0 {
                    q.y = q.y.neg();
                }
                acc = acc.add_affine_vartime(&q);
            }
        }
    }
    acc
}

/// Verification with a prepared key splits each scalar into [`SPLIT`] chunks of
/// [`CHUNK_BITS`] bits: u·P = Σ uᵢ·(2^(CHUNK_BITS·i)·P), so the chain of doublings shared by
/// all the terms is [`CHUNK_BITS`] long instead of 256, for the same number of additions.
/// The tables of the bases 2^(CHUNK_BITS·i)·G are built once; those of P's once per key
/// ([`SplitOddMultiples`]). With four chunks a key's tables cost about 42 µs to make and a
/// verification then takes 23 µs instead of 48 µs here (which keys get them: see
/// `sm2::prepared`); two chunks would cost 25 µs and save less (32 µs a verification).
pub const SPLIT: usize = 4;
/// The bits of each chunk.
pub const CHUNK_BITS: usize = 256 / SPLIT;
const CHUNK_LIMBS: usize = CHUNK_BITS / 64;

/// Chunk `i` of a scalar's limbs.
fn chunk(k: &[u64; 4], i: usize) -> [u64; 4] {
    core::array::from_fn(|l| if l < CHUNK_LIMBS { k[i * CHUNK_LIMBS + l] } else { 0 })
}

/// The bases 2^(CHUNK_BITS·i)·Q for i < [`SPLIT`]: [`CHUNK_BITS`] doublings apart, made
/// affine with one inversion.
fn split_points(q: &Affine) -> [Affine; SPLIT] {
    let mut parts = [q.to_jacobian(); SPLIT];
    for i in 1..SPLIT {
        let mut x = parts[i - 1];
        for _ in 0..CHUNK_BITS {
            x = x.double();
        }
        parts[i] = x;
    }
    // 2^(CHUNK_BITS·i) < n, so no base is at infinity.
    let mut affine = [Affine::default(); SPLIT];
    batch_to_affine_into(&parts, &mut affine);
    affine
}

/// The odd multiples of each base 2^(CHUNK_BITS·i)·G, for [`G_WNAF_WIDTH`].
struct SplitOddMultiplesOfG([OddMultiplesOfG; SPLIT]);

impl SplitOddMultiplesOfG {
    fn get() -> &'static Self {
        static TABLES: once_cell::race::OnceBox<SplitOddMultiplesOfG> = once_cell::race::OnceBox::new();
        TABLES.get_or_init(|| {
            let parts = split_points(&GENERATOR);
            Box::new(Self(core::array::from_fn(|i| OddMultiplesOfG::of(&parts[i]))))
        })
    }
}

/// What u1·G + u2·P needs of a public key P kept for many verifications: the odd multiples
/// of each base 2^(CHUNK_BITS·i)·P. Making it costs 192 doublings and four small tables,
/// about a verification; each verification with it then costs about half of one without.
#[derive(Clone, Debug)]
pub struct SplitOddMultiples([OddMultiples; SPLIT]);

impl SplitOddMultiples {
    /// The tables of `p`.
    pub fn new(p: &Affine) -> Self {
        let parts = split_points(p);
        Self(core::array::from_fn(|i| OddMultiples::new(&parts[i])))
    }

    /// u1·G + u2·P for public u1 and u2, in variable time.
    pub fn mul_double_vartime(&self, u1: &Scalar, u2: &Scalar) -> Jacobian {
        let g = SplitOddMultiplesOfG::get();
        let (u1, u2) = (u1.to_canonical_limbs(), u2.to_canonical_limbs());
        let g_digits: [[i8; 257]; SPLIT] = core::array::from_fn(|i| wnaf(&chunk(&u1, i), G_WNAF_WIDTH));
        let p_digits: [[i8; 257]; SPLIT] = core::array::from_fn(|i| wnaf(&chunk(&u2, i), P_WNAF_WIDTH));
        let terms: [(&[i8; 257], &[Affine]); 2 * SPLIT] = core::array::from_fn(|j| {
            let i = j / 2;
            if j % 2 == 0 { (&g_digits[i], &g.0[i].0[..]) } else { (&p_digits[i], &self.0[i].0[..]) }
        });
        sum_of_wnafs(&terms)
    }
}
