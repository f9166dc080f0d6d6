//! Portable constant-time SM4: the S-box as a Boolean circuit, without tables.
//!
//! Eight bytes at a time go through `Q ∘ S_aes ∘ P` (see `affine`), with `S_aes` evaluated as
//! the Boyar–Peralta–Calik circuit (113 gates; the form the RustCrypto `aes` crate's fixslice
//! back end uses, with its four NOTs left out and folded into `Q`'s constant here). The
//! circuit works on "spread" bit planes: plane i of a `u64` holding eight bytes is
//! `(x >> i) & 0x0101…01`, and since the circuit has only XOR and AND, every plane keeps its
//! bits in those positions. No branch and no memory index depends on the data.

use super::affine::{Lin, POST, POST_C, PRE, PRE_C};

const LSB: u64 = 0x0101_0101_0101_0101;

/// The AES S-box minus its constant (`A_aes·inv(x)`), on eight spread planes; `u[i]` is bit i.
#[allow(clippy::many_single_char_names, clippy::similar_names)]
fn aes_sbox_planes(u: [u64; 8]) -> [u64; 8] {
    let (u7, u6, u5, u4, u3, u2, u1, u0) = (u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7]);
    let y14 = u3 ^ u5;
    let y13 = u0 ^ u6;
    let y12 = y13 ^ y14;
    let t1 = u4 ^ y12;
    let y15 = t1 ^ u5;
    let t2 = y12 & y15;
    let y6 = y15 ^ u7;
    let y20 = t1 ^ u1;
    let y9 = u0 ^ u3;
    let y11 = y20 ^ y9;
    let t12 = y9 & y11;
    let y7 = u7 ^ y11;
    let y8 = u0 ^ u5;
    let t0 = u1 ^ u2;
    let y10 = y15 ^ t0;
    let y17 = y10 ^ y11;
    let t13 = y14 & y17;
    let t14 = t13 ^ t12;
    let y19 = y10 ^ y8;
    let t15 = y8 & y10;
    let t16 = t15 ^ t12;
    let y16 = t0 ^ y11;
    let y21 = y13 ^ y16;
    let t7 = y13 & y16;
    let y18 = u0 ^ y16;
    let y1 = t0 ^ u7;
    let y4 = y1 ^ u3;
    let t5 = y4 & u7;
    let t6 = t5 ^ t2;
    let t18 = t6 ^ t16;
    let t22 = t18 ^ y19;
    let y2 = y1 ^ u0;
    let t10 = y2 & y7;
    let t11 = t10 ^ t7;
    let t20 = t11 ^ t16;
    let t24 = t20 ^ y18;
    let y5 = y1 ^ u6;
    let t8 = y5 & y1;
    let t9 = t8 ^ t7;
    let t19 = t9 ^ t14;
    let t23 = t19 ^ y21;
    let y3 = y5 ^ y8;
    let t3 = y3 & y6;
    let t4 = t3 ^ t2;
    let t17 = t4 ^ y20;
    let t21 = t17 ^ t14;
    let t26 = t21 & t23;
    let t27 = t24 ^ t26;
    let t31 = t22 ^ t26;
    let t25 = t21 ^ t22;
    let t28 = t25 & t27;
    let t29 = t28 ^ t22;
    let z14 = t29 & y2;
    let z5 = t29 & y7;
    let t30 = t23 ^ t24;
    let t32 = t31 & t30;
    let t33 = t32 ^ t24;
    let t35 = t27 ^ t33;
    let t36 = t24 & t35;
    let t38 = t27 ^ t36;
    let t39 = t29 & t38;
    let t40 = t25 ^ t39;
    let t43 = t29 ^ t40;
    let z3 = t43 & y16;
    let tc12 = z3 ^ z5;
    let z12 = t43 & y13;
    let z13 = t40 & y5;
    let z4 = t40 & y1;
    let tc6 = z3 ^ z4;
    let t34 = t23 ^ t33;
    let t37 = t36 ^ t34;
    let t41 = t40 ^ t37;
    let z8 = t41 & y10;
    let z17 = t41 & y8;
    let t44 = t33 ^ t37;
    let z0 = t44 & y15;
    let z9 = t44 & y12;
    let z10 = t37 & y3;
    let z1 = t37 & y6;
    let tc5 = z1 ^ z0;
    let tc11 = tc6 ^ tc5;
    let z11 = t33 & y4;
    let t42 = t29 ^ t33;
    let t45 = t42 ^ t41;
    let z7 = t45 & y17;
    let tc8 = z7 ^ tc6;
    let z16 = t45 & y14;
    let z6 = t42 & y11;
    let tc16 = z6 ^ tc8;
    let z15 = t42 & y9;
    let tc20 = z15 ^ tc16;
    let tc1 = z15 ^ z16;
    let tc2 = z10 ^ tc1;
    let tc21 = tc2 ^ z11;
    let tc3 = z9 ^ tc2;
    let s0 = tc3 ^ tc16;
    let s3 = tc3 ^ tc11;
    let s1 = s3 ^ tc16;
    let tc13 = z13 ^ tc1;
    let z2 = t33 & u7;
    let tc4 = z0 ^ z2;
    let tc7 = z12 ^ tc4;
    let tc9 = z8 ^ tc7;
    let tc10 = tc8 ^ tc9;
    let tc17 = z14 ^ tc10;
    let s5 = tc21 ^ tc17;
    let tc26 = tc17 ^ tc20;
    let s2 = tc26 ^ z17;
    let tc14 = tc4 ^ tc12;
    let tc18 = tc13 ^ tc14;
    let s6 = tc10 ^ tc18;
    let s7 = z12 ^ tc18;
    let s4 = tc14 ^ s3;
    [s7, s6, s5, s4, s3, s2, s1, s0]
}

/// The AES S-box's constant with the circuit's four NOTs removed.
const CIRCUIT_C: u8 = 0x63;
/// `Q`'s constant for the circuit's output (`S_aes + 0x63`).
const POST_C_CIRCUIT: u8 = POST_C ^ POST.apply(CIRCUIT_C);

/// A linear byte map (plus a constant) on the eight bytes of `x`, given its planes.
#[inline(always)]
fn lin_planes(m: &Lin, c: u8, planes: &[u64; 8]) -> u64 {
    let mut out = u64::from(c) * LSB;
    for (plane, &col) in planes.iter().zip(&m.0) {
        // `col` is a public constant: the multiply spreads it into every byte whose bit is set.
        out ^= plane * u64::from(col);
    }
    out
}

#[inline(always)]
fn planes(x: u64) -> [u64; 8] {
    core::array::from_fn(|i| (x >> i) & LSB)
}

/// The SM4 S-box on each of the eight bytes of `x`.
#[inline]
pub(crate) fn sbox8(x: u64) -> u64 {
    let p = lin_planes(&PRE, PRE_C, &planes(x));
    let s = aes_sbox_planes(planes(p));
    lin_planes(&POST, POST_C_CIRCUIT, &s)
}

#[inline(always)]
fn l(b: u32) -> u32 {
    b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24)
}

/// τ on two words at once.
#[inline(always)]
fn tau2(a: u32, b: u32) -> (u32, u32) {
    let s = sbox8(u64::from(a) | (u64::from(b) << 32));
    (s as u32, (s >> 32) as u32)
}

/// The key-schedule τ (on one word).
pub(crate) fn tau(a: u32) -> u32 {
    sbox8(u64::from(a)) as u32
}

fn load(block: &[u8]) -> [u32; 4] {
    core::array::from_fn(|i| u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]))
}

fn store(x: [u32; 4], block: &mut [u8]) {
    for (i, w) in x.iter().rev().enumerate() {
        block[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
}

/// One block in place, with `rk` in the order to apply (reversed for decryption).
pub(crate) fn block(rk: &[u32; 32], block: &mut [u8]) {
    let mut x = load(block);
    for &k in rk {
        let t = tau(x[1] ^ x[2] ^ x[3] ^ k);
        x = [x[1], x[2], x[3], x[0] ^ l(t)];
    }
    store(x, block);
}

/// Two blocks side by side (the S-box circuit takes eight bytes).
fn pair(rk: &[u32; 32], data: &mut [u8]) {
    let (a, b) = data.split_at_mut(16);
    let mut x = load(a);
    let mut y = load(b);
    for &k in rk {
        let (s, t) = tau2(x[1] ^ x[2] ^ x[3] ^ k, y[1] ^ y[2] ^ y[3] ^ k);
        x = [x[1], x[2], x[3], x[0] ^ l(s)];
        y = [y[1], y[2], y[3], y[0] ^ l(t)];
    }
    store(x, a);
    store(y, b);
}

/// Whole blocks in place; `data.len()` must be a multiple of 16.
pub(crate) fn blocks(rk: &[u32; 32], data: &mut [u8]) {
    let mut pairs = data.chunks_exact_mut(32);
    for p in &mut pairs {
        pair(rk, p);
    }
    let rest = pairs.into_remainder();
    if !rest.is_empty() {
        block(rk, rest);
    }
}

/// XORs the keystream of counter blocks `nonce || ctr`, … into `data`.
pub(crate) fn ctr32(rk: &[u32; 32], nonce: &[u8; 12], mut ctr: u32, data: &mut [u8]) {
    let mut stream = zeroize::Zeroizing::new([0u8; 32]);
    for chunk in data.chunks_mut(32) {
        for b in stream.chunks_exact_mut(16) {
            b[..12].copy_from_slice(nonce);
            b[12..].copy_from_slice(&ctr.to_be_bytes());
            ctr = ctr.wrapping_add(1);
        }
        pair(rk, &mut stream[..]);
        for (d, s) in chunk.iter_mut().zip(stream.iter()) {
            *d ^= s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm4::tests::SBOX;

    #[test]
    fn circuit_sbox_matches_the_table_for_all_inputs() {
        for x in 0..=255u8 {
            let s = sbox8(u64::from(x) * LSB);
            assert_eq!(s, u64::from(SBOX[x as usize]) * LSB, "x = {x:#04x}");
        }
        // Distinct bytes in one word do not disturb each other.
        let s = sbox8(0x0011_2233_4455_66ffu64);
        let want = u64::from_le_bytes(0x0011_2233_4455_66ffu64.to_le_bytes().map(|b| SBOX[b as usize]));
        assert_eq!(s, want);
    }
}
