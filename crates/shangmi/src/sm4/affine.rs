//! The SM4 S-box as an affine conjugate of the AES S-box, derived at compile time.
//!
//! GB/T 32907's S-box is `S(x) = A·I(A·x + c) + c` with `I` the inverse in GF(2^8) modulo
//! f = x^8+x^7+x^6+x^5+x^4+x^2+1, `A` the circulant matrix below and `c = 0xd3` (Liu et al.,
//! "Algebraic structure of the SM4 S-box"). The AES field (modulo x^8+x^4+x^3+x+1) is
//! isomorphic to SM4's through `M`, which sends x to a root β of f, so
//! `I(y) = M⁻¹·I_aes(M·y)`. With the AES S-box `S_aes(z) = A_aes·I_aes(z) + 0x63`:
//!
//! ```text
//! S(x) = Q(S_aes(P(x))),   P(x) = M·A·x + M·c,
//!                          Q(s) = A·M⁻¹·A_aes⁻¹·(s + 0x63) + c
//! ```
//!
//! Every matrix here is computed by `const fn` from those definitions (nothing is copied from
//! elsewhere), and the tests check the composition against the standard table for all 256
//! inputs. All of it is public data: nothing here is ever indexed by a secret.

/// A linear map on bytes, as the images of the eight unit vectors (`cols[j]` = image of bit j).
#[derive(Clone, Copy)]
pub(crate) struct Lin(pub(crate) [u8; 8]);

impl Lin {
    pub(crate) const fn apply(&self, x: u8) -> u8 {
        let mut out = 0;
        let mut j = 0;
        while j < 8 {
            if (x >> j) & 1 == 1 {
                out ^= self.0[j];
            }
            j += 1;
        }
        out
    }

    /// `self ∘ inner`.
    const fn after(&self, inner: &Lin) -> Lin {
        let mut cols = [0u8; 8];
        let mut j = 0;
        while j < 8 {
            cols[j] = self.apply(inner.0[j]);
            j += 1;
        }
        Lin(cols)
    }

    /// The inverse, by search (the maps here are bijections; 8 × 256 steps at compile time).
    const fn inverse(&self) -> Lin {
        let mut cols = [0u8; 8];
        let mut j = 0;
        while j < 8 {
            let mut x = 0u16;
            while x < 256 {
                if self.apply(x as u8) == 1 << j {
                    cols[j] = x as u8;
                }
                x += 1;
            }
            j += 1;
        }
        Lin(cols)
    }

    /// From rows: `rows[i]` bit j is the coefficient of input bit j in output bit i.
    const fn from_rows(rows: [u8; 8]) -> Lin {
        let mut cols = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            let mut j = 0;
            while j < 8 {
                cols[j] |= ((rows[i] >> j) & 1) << i;
                j += 1;
            }
            i += 1;
        }
        Lin(cols)
    }

    /// Bitwise shift of each byte (`s > 0` left, `s < 0` right), as a linear map.
    const fn shift(s: i32) -> Lin {
        let mut cols = [0u8; 8];
        let mut j = 0;
        while j < 8 {
            let t = j as i32 + s;
            if t >= 0 && t < 8 {
                cols[j] = 1 << t;
            }
            j += 1;
        }
        Lin(cols)
    }

    const fn add(&self, other: &Lin) -> Lin {
        let mut cols = [0u8; 8];
        let mut j = 0;
        while j < 8 {
            cols[j] = self.0[j] ^ other.0[j];
            j += 1;
        }
        Lin(cols)
    }

    /// The two 16-entry tables a nibble-wise lookup needs: `lo[n] ^ hi[m] == F(m << 4 | n) ^ k`.
    pub(crate) const fn nibble_tables(&self, k: u8) -> [[u8; 16]; 2] {
        let mut t = [[0u8; 16]; 2];
        let mut n = 0;
        while n < 16 {
            t[0][n] = self.apply(n as u8) ^ k;
            t[1][n] = self.apply((n as u8) << 4);
            n += 1;
        }
        t
    }
}

/// Multiplication in GF(2^8) modulo `poly` (with its x^8 term).
const fn gf_mul(mut a: u8, mut b: u8, poly: u16) -> u8 {
    let mut r = 0u8;
    while b != 0 {
        if b & 1 == 1 {
            r ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= (poly & 0xff) as u8;
        }
        b >>= 1;
    }
    r
}

const AES_POLY: u16 = 0x11b;
/// f = x^8+x^7+x^6+x^5+x^4+x^2+1.
const SM4_POLY: u16 = 0x1f5;

/// GB/T 32907's affine matrix `A` (rows, bit j = coefficient of input bit j) and constant.
const SM4_A: Lin = Lin::from_rows([0xa7, 0x4f, 0x9e, 0x3d, 0x7a, 0xf4, 0xe9, 0xd3]);
const SM4_C: u8 = 0xd3;

/// The AES affine map: bit i of the output is y_i + y_{i+4} + y_{i+5} + y_{i+6} + y_{i+7}.
const AES_A: Lin = {
    let mut cols = [0u8; 8];
    let mut j = 0;
    while j < 8 {
        cols[j] = 0x1fu8.rotate_left(j as u32);
        j += 1;
    }
    Lin(cols)
};
const AES_C: u8 = 0x63;

/// The isomorphism from SM4's field to AES's: x ↦ the least root β of f in the AES field.
const ISO: Lin = {
    let mut beta = 2u16;
    let mut found = 0u8;
    while beta < 256 && found == 0 {
        // f(β) by Horner's rule.
        let mut acc = 0u8;
        let mut k = 8i32;
        while k >= 0 {
            acc = gf_mul(acc, beta as u8, AES_POLY) ^ (((SM4_POLY >> k) & 1) as u8);
            k -= 1;
        }
        if acc == 0 {
            found = beta as u8;
        }
        beta += 1;
    }
    let mut cols = [0u8; 8];
    let mut p = 1u8;
    let mut j = 0;
    while j < 8 {
        cols[j] = p;
        p = gf_mul(p, found, AES_POLY);
        j += 1;
    }
    Lin(cols)
};

/// Linear part of `P`, the map into the AES field.
pub(crate) const PRE: Lin = ISO.after(&SM4_A);
/// Constant of `P`.
pub(crate) const PRE_C: u8 = ISO.apply(SM4_C);
/// Inverse of [`PRE`] (leaves the pre-transformed domain at the end of the rounds).
pub(crate) const PRE_INV: Lin = PRE.inverse();
/// Linear part of `Q`, the map back from an AES S-box output.
pub(crate) const POST: Lin = SM4_A.after(&ISO.inverse()).after(&AES_A.inverse());
/// Constant of `Q` for a full AES S-box output (which includes `+ 0x63`).
pub(crate) const POST_C: u8 = POST.apply(AES_C) ^ SM4_C;

/// The output map of the S-box around an inversion in the AES field: `S(x) =
/// GF_POST·I_aes(P(x)) + c`, which is what `gf2p8affineinv` computes from `P(x)` (see `gfni`).
pub(crate) const GF_POST: Lin = SM4_A.after(&ISO.inverse());
/// The constant `c` of GB/T 32907's S-box.
pub(crate) const GF_POST_C: u8 = SM4_C;

/// Bytewise pieces of `PRE ∘ L ∘ POST` (see `x86`): the SM4 linear layer `L` after the S-box,
/// carried into the pre-transformed domain of the next round's S-box input.
///
/// `L = I + R24 + R2·(I + R8 + R16)` and a 2-bit word rotation splits into bytewise shifts,
/// `R2 = SHL2 + R8·SHR6`, so with `W_0 = P(I + SHL2)Q`, `W_8 = P(SHL2 + SHR6)Q` and
/// `W_24 = P(I + SHR6)Q` (all bytewise): `P·L·Q = W_0 + R8·W_8 + R16·W_8 + R24·W_24`.
pub(crate) const W0: Lin = PRE.after(&Lin([1, 2, 4, 8, 16, 32, 64, 128]).add(&Lin::shift(2))).after(&POST);
pub(crate) const W8: Lin = PRE.after(&Lin::shift(2).add(&Lin::shift(-6))).after(&POST);
pub(crate) const W24: Lin = PRE.after(&Lin([1, 2, 4, 8, 16, 32, 64, 128]).add(&Lin::shift(-6))).after(&POST);

/// The same split for the GFNI single-block path, around the AES-field inverse instead of
/// the AES S-box: `PRE ∘ L ∘ S` on a word whose bytes are `P(x)` is
/// `GF_W0·I + R8·GF_W8·I + R16·GF_W8·I + R24·GF_W24·I` (bytewise, `I` the inverse) plus
/// [`GF_L_C`] in every byte, so each term is one `gf2p8affineinv` and the state never leaves
/// `P`'s domain.
pub(crate) const GF_W0: Lin = PRE.after(&Lin([1, 2, 4, 8, 16, 32, 64, 128]).add(&Lin::shift(2))).after(&GF_POST);
pub(crate) const GF_W8: Lin = PRE.after(&Lin::shift(2).add(&Lin::shift(-6))).after(&GF_POST);
pub(crate) const GF_W24: Lin = PRE.after(&Lin([1, 2, 4, 8, 16, 32, 64, 128]).add(&Lin::shift(-6))).after(&GF_POST);
/// `P(L(c))` for the S-box constant `c` in every byte: `P(rotl(c, 2))` in every byte.
pub(crate) const GF_L_C: u8 = PRE.apply(GF_POST_C.rotate_left(2));

/// `P` applied to each byte of a word (for round keys; constant time: no table, no branch
/// on the data).
pub(crate) fn pre_word(w: u32) -> u32 {
    lin_word_ct(&PRE, w) ^ u32::from_ne_bytes([PRE_C; 4])
}

/// A linear byte map on each byte of `w`, without branches or indexing on `w`.
pub(crate) fn lin_word_ct(m: &Lin, w: u32) -> u32 {
    let mut out = 0u32;
    for (j, &col) in m.0.iter().enumerate() {
        let bits = (w >> j) & 0x0101_0101;
        out ^= bits * u32::from(col);
    }
    out
}

/// The word constant the linear layer adds when the S-box outputs carry `POST_C`:
/// `P(L(c·0x01010101))`, which is `P(rotl(c, 2))` in every byte.
pub(crate) const L_OF_POST_C: u8 = PRE.apply(POST_C.rotate_left(2));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm4::tests::SBOX;

    /// The AES S-box from its definition (inverse, then affine).
    fn aes_sbox(z: u8) -> u8 {
        let inv = (1..=255u8).find(|&b| gf_mul(z, b, AES_POLY) == 1).unwrap_or(0);
        AES_A.apply(inv) ^ AES_C
    }

    #[test]
    fn sm4_sbox_definition_matches_the_table() {
        let inv = |y: u8| (1..=255u8).find(|&b| gf_mul(y, b, SM4_POLY) == 1).unwrap_or(0);
        for x in 0..=255u8 {
            assert_eq!(SM4_A.apply(inv(SM4_A.apply(x) ^ SM4_C)) ^ SM4_C, SBOX[x as usize], "x = {x:#04x}");
        }
    }

    #[test]
    fn iso_is_a_field_isomorphism() {
        for a in 0..=255u8 {
            for b in [1u8, 2, 3, 0x53, 0xca, 0xff, a] {
                assert_eq!(ISO.apply(gf_mul(a, b, SM4_POLY)), gf_mul(ISO.apply(a), ISO.apply(b), AES_POLY));
            }
        }
    }

    #[test]
    fn composed_sbox_matches_the_table_for_all_inputs() {
        for x in 0..=255u8 {
            let s = aes_sbox(PRE.apply(x) ^ PRE_C);
            assert_eq!(POST.apply(s) ^ POST_C, SBOX[x as usize], "x = {x:#04x}");
        }
    }

    #[test]
    fn inversion_form_matches_the_table_for_all_inputs() {
        // What the GFNI back end computes: an affine map, the AES-field inverse, an affine map.
        let inv_aes = |z: u8| (1..=255u8).find(|&b| gf_mul(z, b, AES_POLY) == 1).unwrap_or(0);
        for x in 0..=255u8 {
            assert_eq!(GF_POST.apply(inv_aes(PRE.apply(x) ^ PRE_C)) ^ GF_POST_C, SBOX[x as usize], "x = {x:#04x}");
        }
    }

    #[test]
    fn nibble_tables_compose_to_the_map() {
        let [lo, hi] = POST.nibble_tables(POST_C);
        for x in 0..=255u8 {
            assert_eq!(lo[(x & 15) as usize] ^ hi[(x >> 4) as usize], POST.apply(x) ^ POST_C);
        }
        for x in 0..=255u8 {
            assert_eq!(PRE_INV.apply(PRE.apply(x)), x);
        }
    }

    #[test]
    fn the_inversion_form_of_the_linear_layer_splits_into_bytewise_maps() {
        // PRE·L·S(x) for a word x, directly and through GF_W0/GF_W8/GF_W24 of the inverse of
        // P(x) (what the GFNI single-block rounds compute).
        let l = |b: u32| b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24);
        let inv_aes = |z: u8| (1..=255u8).find(|&b| gf_mul(z, b, AES_POLY) == 1).unwrap_or(0);
        for seed in 0..2000u32 {
            let x = seed.wrapping_mul(0x9e37_79b9) ^ (seed << 11);
            let s = u32::from_le_bytes(x.to_le_bytes().map(|b| SBOX[b as usize]));
            let direct = lin_word_ct(&PRE, l(s));
            let i = u32::from_le_bytes(x.to_le_bytes().map(|b| inv_aes(PRE.apply(b) ^ PRE_C)));
            let (w0, w8, w24) = (lin_word_ct(&GF_W0, i), lin_word_ct(&GF_W8, i), lin_word_ct(&GF_W24, i));
            let split =
                w0 ^ w8.rotate_left(8) ^ w8.rotate_left(16) ^ w24.rotate_left(24) ^ u32::from_ne_bytes([GF_L_C; 4]);
            assert_eq!(direct, split, "x = {x:#010x}");
        }
    }

    #[test]
    fn the_linear_layer_splits_into_bytewise_maps() {
        // P·L·Q(s) for a word of S-box outputs, computed directly and through W0/W8/W24.
        let l = |b: u32| b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24);
        for seed in 0..2000u32 {
            let s = seed.wrapping_mul(0x9e37_79b9) ^ (seed << 7);
            let q = u32::from_le_bytes(s.to_le_bytes().map(|b| POST.apply(b)));
            let direct = lin_word_ct(&PRE, l(q));
            let w0 = lin_word_ct(&W0, s);
            let w8 = lin_word_ct(&W8, s);
            let w24 = lin_word_ct(&W24, s);
            let split = w0 ^ w8.rotate_left(8) ^ w8.rotate_left(16) ^ w24.rotate_left(24);
            assert_eq!(direct, split);
        }
        // The constant part: P(L(c in every byte)).
        let c = u32::from_ne_bytes([POST_C; 4]);
        assert_eq!(lin_word_ct(&PRE, l(c)), u32::from_ne_bytes([L_OF_POST_C; 4]));
    }
}
