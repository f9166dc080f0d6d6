//! Modular inversion by Bernstein–Yang divsteps ("safegcd"), in the form of libsecp256k1's
//! `modinv64`: batches of divsteps on the low limbs give a 2×2 transition matrix, which is
//! then applied to the full-width numbers.
//!
//! - [`invert_vartime`]: batches of 62 divsteps that skip runs of zeros and stop as soon
//!   as g is zero; its running time depends on the input, so public values only.
//! - [`invert`]: always 10 batches of 59 divsteps (590 suffice for 256-bit inputs), each
//!   step a fixed sequence of masked operations; constant time.
//!
//! Numbers are in signed-62 form: five `i64` limbs of 62 bits each (the top one signed),
//! value Σ vᵢ·2^(62i).

const M62: u64 = u64::MAX >> 2;

/// A modulus in signed-62 form, with its inverse modulo 2^62.
pub(crate) struct Modulus {
    limbs: [i64; 5],
    inv62: u64,
}

impl Modulus {
    /// From an odd 256-bit modulus in little-endian limbs.
    pub(crate) const fn new(m: &[u64; 4]) -> Self {
        // m⁻¹ mod 2^64 by Newton's iteration (each step doubles the correct low bits; an
        // odd m is its own inverse mod 8).
        let mut inv = m[0];
        let mut i = 0;
        while i < 5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m[0].wrapping_mul(inv)));
            i += 1;
        }
        Self { limbs: to_signed62(m), inv62: inv & M62 }
    }
}

const fn to_signed62(a: &[u64; 4]) -> [i64; 5] {
    [
        (a[0] & M62) as i64,
        ((a[0] >> 62 | a[1] << 2) & M62) as i64,
        ((a[1] >> 60 | a[2] << 4) & M62) as i64,
        ((a[2] >> 58 | a[3] << 6) & M62) as i64,
        (a[3] >> 56) as i64,
    ]
}

/// From signed-62 limbs that hold a value in [0, 2^256), each limb in [0, 2^62).
fn from_signed62(v: &[i64; 5]) -> [u64; 4] {
    let v = v.map(|l| l as u64);
    [v[0] | v[1] << 62, v[1] >> 2 | v[2] << 60, v[2] >> 4 | v[3] << 58, v[3] >> 6 | v[4] << 56]
}

/// The transition matrix of a batch of divsteps, scaled by 2^62: [u v; q r].
struct Trans {
    u: i64,
    v: i64,
    q: i64,
    r: i64,
}

/// 62 divsteps on the low 64 bits of f (odd) and g, starting from `eta` (which is −delta);
/// returns the new eta and the matrix.
fn divsteps_62(mut eta: i64, f0: u64, g0: u64) -> (i64, Trans) {
    let (mut u, mut v, mut q, mut r) = (1u64, 0u64, 0u64, 1u64);
    let (mut f, mut g) = (f0, g0);
    let mut i = 62u32;
    loop {
        // A sentinel bit stops the count of zeros at i.
        let zeros = (g | (u64::MAX << i)).trailing_zeros();
        // That many divsteps only halve g.
        g >>= zeros;
        u <<= zeros;
        v <<= zeros;
        eta -= i64::from(zeros);
        i -= zeros;
        if i == 0 {
            break;
        }
        // f and g are both odd here.
        let w;
        if eta < 0 {
            // Swap: (f, g) ← (g, −f).
            eta = -eta;
            (f, g) = (g, f.wrapping_neg());
            (u, q) = (q, u.wrapping_neg());
            (v, r) = (r, v.wrapping_neg());
            // Cancel up to 6 low bits of g at once, but no more than i (the batch ends) or
            // eta + 1 (after which the sign of eta flips again).
            let limit = (eta as u32 + 1).min(i);
            let m = (u64::MAX >> (64 - limit)) & 63;
            // f·(f² − 2) ≡ −f⁻¹ (mod 64).
            w = f.wrapping_mul(g).wrapping_mul(f.wrapping_mul(f).wrapping_sub(2)) & m;
        } else {
            let limit = (eta as u32 + 1).min(i);
            let m = (u64::MAX >> (64 - limit)) & 15;
            // f + ((f + 1) & 4)·2 ≡ f⁻¹ (mod 16).
            let fi = f.wrapping_add(((f.wrapping_add(1)) & 4) << 1);
            w = fi.wrapping_neg().wrapping_mul(g) & m;
        }
        g = g.wrapping_add(f.wrapping_mul(w));
        q = q.wrapping_add(u.wrapping_mul(w));
        r = r.wrapping_add(v.wrapping_mul(w));
    }
    (eta, Trans { u: u as i64, v: v as i64, q: q as i64, r: r as i64 })
}

#[inline(always)]
fn mul(a: i64, b: i64) -> i128 {
    i128::from(a) * i128::from(b)
}

/// (d, e) ← t·(d, e) / 2^62 modulo the modulus, keeping both in (−2m, m).
fn update_de(d: &mut [i64; 5], e: &mut [i64; 5], t: &Trans, m: &Modulus) {
    let (u, v, q, r) = (t.u, t.v, t.q, t.r);
    // Add multiples of m to make the low 62 bits vanish: [u, q] if d < 0 and [v, r] if
    // e < 0 first, which keeps the results in range.
    // Hidden from the optimiser, which could otherwise select on the signs.
    let sd = core::hint::black_box(d[4] >> 63);
    let se = core::hint::black_box(e[4] >> 63);
    let mut md = (u & sd) + (v & se);
    let mut me = (q & sd) + (r & se);
    let mut cd = mul(u, d[0]) + mul(v, e[0]);
    let mut ce = mul(q, d[0]) + mul(r, e[0]);
    md -= (m.inv62.wrapping_mul(cd as u64).wrapping_add(md as u64) & M62) as i64;
    me -= (m.inv62.wrapping_mul(ce as u64).wrapping_add(me as u64) & M62) as i64;
    cd += mul(m.limbs[0], md);
    ce += mul(m.limbs[0], me);
    debug_assert!(cd as u64 & M62 == 0 && ce as u64 & M62 == 0);
    cd >>= 62;
    ce >>= 62;
    for i in 1..5 {
        cd += mul(u, d[i]) + mul(v, e[i]) + mul(m.limbs[i], md);
        ce += mul(q, d[i]) + mul(r, e[i]) + mul(m.limbs[i], me);
        d[i - 1] = (cd as u64 & M62) as i64;
        e[i - 1] = (ce as u64 & M62) as i64;
        cd >>= 62;
        ce >>= 62;
    }
    d[4] = cd as i64;
    e[4] = ce as i64;
}

/// (f, g) ← t·(f, g) / 2^62 (exact) on the low `len` limbs.
fn update_fg(len: usize, f: &mut [i64; 5], g: &mut [i64; 5], t: &Trans) {
    let (u, v, q, r) = (t.u, t.v, t.q, t.r);
    let mut cf = mul(u, f[0]) + mul(v, g[0]);
    let mut cg = mul(q, f[0]) + mul(r, g[0]);
    debug_assert!(cf as u64 & M62 == 0 && cg as u64 & M62 == 0);
    cf >>= 62;
    cg >>= 62;
    for i in 1..len {
        cf += mul(u, f[i]) + mul(v, g[i]);
        cg += mul(q, f[i]) + mul(r, g[i]);
        f[i - 1] = (cf as u64 & M62) as i64;
        g[i - 1] = (cg as u64 & M62) as i64;
        cf >>= 62;
        cg >>= 62;
    }
    f[len - 1] = cf as i64;
    g[len - 1] = cg as i64;
}

/// r·sign(f) brought from (−2m, m) into [0, m), in constant time.
fn normalize(r: &mut [i64; 5], f_top: i64, m: &Modulus) {
    let carry = |r: &mut [i64; 5]| {
        for i in 0..4 {
            r[i + 1] += r[i] >> 62;
            r[i] &= M62 as i64;
        }
    };
    // Add m if negative, giving (−m, m); negate if f is; add m again if negative.
    let add = core::hint::black_box(r[4] >> 63);
    for (l, ml) in r.iter_mut().zip(m.limbs) {
        *l += ml & add;
    }
    let negate = core::hint::black_box(f_top >> 63);
    for l in r.iter_mut() {
        *l = (*l ^ negate) - negate;
    }
    carry(r);
    let add = core::hint::black_box(r[4] >> 63);
    for (l, ml) in r.iter_mut().zip(m.limbs) {
        *l += ml & add;
    }
    carry(r);
}

/// x⁻¹ mod m for x < m (0 maps to 0), in variable time.
pub(crate) fn invert_vartime(x: &[u64; 4], m: &Modulus) -> [u64; 4] {
    let mut d = [0i64; 5];
    let mut e = [1i64, 0, 0, 0, 0];
    let mut f = m.limbs;
    let mut g = to_signed62(x);
    let mut len = 5;
    let mut eta = -1i64;
    loop {
        let (new_eta, t) = divsteps_62(eta, f[0] as u64, g[0] as u64);
        eta = new_eta;
        update_de(&mut d, &mut e, &t, m);
        update_fg(len, &mut f, &mut g, &t);
        if g[0] == 0 && g[1..len].iter().all(|&l| l == 0) {
            break;
        }
        // Drop the top limb once both f and g fit in one fewer.
        let (fnl, gnl) = (f[len - 1], g[len - 1]);
        if len >= 2 && (fnl ^ (fnl >> 63)) == 0 && (gnl ^ (gnl >> 63)) == 0 {
            f[len - 2] |= ((fnl as u64) << 62) as i64;
            g[len - 2] |= ((gnl as u64) << 62) as i64;
            len -= 1;
        }
    }
    // f is now ±gcd = ±1 (or ±m for x = 0, with d = 0).
    normalize(&mut d, f[len - 1], m);
    from_signed62(&d)
}

/// 59 divsteps on the low 64 bits of f (odd) and g, starting from `zeta` (−delta − 1/2),
/// in constant time; returns the new zeta and the matrix (scaled by 2^62: it starts at
/// 8·identity, and 3 + 59 = 62).
fn divsteps_59(mut zeta: i64, f0: u64, g0: u64) -> (i64, Trans) {
    let (mut u, mut v, mut q, mut r) = (8u64, 0u64, 0u64, 8u64);
    let (mut f, mut g) = (f0, g0);
    for _ in 3..62 {
        // Masks for zeta < 0 and for g odd, hidden from the optimiser so that it keeps
        // the arithmetic rather than branching on them.
        let c1 = core::hint::black_box(zeta >> 63) as u64;
        let c2 = core::hint::black_box((g & 1).wrapping_neg());
        // g += ±f (and likewise the matrix rows) when g is odd, negated when zeta < 0.
        let x = (f ^ c1).wrapping_sub(c1);
        let y = (u ^ c1).wrapping_sub(c1);
        let z = (v ^ c1).wrapping_sub(c1);
        g = g.wrapping_add(x & c2);
        q = q.wrapping_add(y & c2);
        r = r.wrapping_add(z & c2);
        // On a swap (zeta < 0 and g odd) zeta becomes −zeta − 2, else zeta − 1; f += g then
        // turns (f, g) into (g, g − f) as the divstep requires.
        let swap = c1 & c2;
        zeta = (zeta ^ swap as i64) - 1;
        f = f.wrapping_add(g & swap);
        u = u.wrapping_add(q & swap);
        v = v.wrapping_add(r & swap);
        g >>= 1;
        u <<= 1;
        v <<= 1;
    }
    (zeta, Trans { u: u as i64, v: v as i64, q: q as i64, r: r as i64 })
}

/// x⁻¹ mod m for x < m (0 maps to 0), in constant time.
pub(crate) fn invert(x: &[u64; 4], m: &Modulus) -> [u64; 4] {
    let mut d = [0i64; 5];
    let mut e = [1i64, 0, 0, 0, 0];
    let mut f = m.limbs;
    let mut g = to_signed62(x);
    let mut zeta = -1i64;
    for _ in 0..10 {
        let (new_zeta, t) = divsteps_59(zeta, f[0] as u64, g[0] as u64);
        zeta = new_zeta;
        update_de(&mut d, &mut e, &t, m);
        update_fg(5, &mut f, &mut g, &t);
    }
    // g is now 0 and f is ±1 (or ±m for x = 0, with d = 0).
    normalize(&mut d, f[4], m);
    from_signed62(&d)
}
