//! The SM2 field and scalar arithmetic against `num-bigint` as an oracle, on random and
//! boundary values.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use num_bigint::BigUint;
use proptest::prelude::*;
use wearpay_shangmi::sm2::field::{FieldElement, Scalar};

fn p() -> BigUint {
    BigUint::parse_bytes(b"fffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffff", 16).unwrap()
}

fn n() -> BigUint {
    BigUint::parse_bytes(b"fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123", 16).unwrap()
}

fn be32(x: &BigUint) -> [u8; 32] {
    let b = x.to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - b.len()..].copy_from_slice(&b);
    out
}

/// Random 256-bit values, biased towards the edges: near 0, near the modulus, near 2^256.
fn value() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![
        4 => prop::array::uniform32(any::<u8>()),
        1 => (0u64..64).prop_map(|k| be32(&BigUint::from(k))),
        1 => (1u64..64).prop_map(|k| be32(&(p() - k))),
        1 => (1u64..64).prop_map(|k| be32(&(n() - k))),
        1 => (0u8..64).prop_map(|k| { let mut v = [0xff; 32]; v[31] -= k; v }),
    ]
}

macro_rules! field_tests {
    ($name:ident, $t:ty, $modulus:expr) => {
        mod $name {
            use super::*;

            fn parse(bytes: &[u8; 32]) -> ($t, BigUint) {
                let m = $modulus;
                let big = BigUint::from_bytes_be(bytes) % &m;
                (<$t>::from_be_bytes_reduced(&be32(&big)), big)
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(2000))]

                #[test]
                fn encoding(bytes in value()) {
                    let m = $modulus;
                    let big = BigUint::from_bytes_be(&bytes);
                    match <$t>::from_be_bytes(&bytes) {
                        Some(x) => {
                            prop_assert!(big < m);
                            prop_assert_eq!(x.to_be_bytes(), bytes);
                        }
                        None => prop_assert!(big >= m),
                    }
                    // Reduction of any 256-bit value (both moduli exceed 2^255).
                    prop_assert_eq!(<$t>::from_be_bytes_reduced(&bytes).to_be_bytes(), be32(&(big % &m)));
                }

                #[test]
                fn ring_operations(a in value(), b in value()) {
                    let m = $modulus;
                    let ((x, xa), (y, yb)) = (parse(&a), parse(&b));
                    prop_assert_eq!(x.add(&y).to_be_bytes(), be32(&((&xa + &yb) % &m)));
                    prop_assert_eq!(x.sub(&y).to_be_bytes(), be32(&((&xa + &m - &yb) % &m)));
                    prop_assert_eq!(x.mul(&y).to_be_bytes(), be32(&((&xa * &yb) % &m)));
                    prop_assert_eq!(x.square().to_be_bytes(), be32(&((&xa * &xa) % &m)));
                    prop_assert_eq!(x.neg().to_be_bytes(), be32(&((&m - &xa) % &m)));
                    prop_assert_eq!(x.double().to_be_bytes(), be32(&((&xa * 2u32) % &m)));
                    prop_assert_eq!(x == y, xa == yb);
                }

                #[test]
                fn inversion(a in value()) {
                    let m = $modulus;
                    let (x, xa) = parse(&a);
                    for inv in [x.invert(), x.invert_generic()] {
                        if xa == BigUint::ZERO {
                            prop_assert_eq!(inv.to_be_bytes(), [0u8; 32]);
                        } else {
                            prop_assert_eq!(inv.to_be_bytes(), be32(&xa.modpow(&(&m - 2u32), &m)));
                            prop_assert_eq!(inv.mul(&x), <$t>::ONE);
                        }
                    }
                }
            }
        }
    };
}

field_tests!(field_p, FieldElement, p());
field_tests!(scalar_n, Scalar, n());

#[test]
fn constants() {
    assert_eq!(FieldElement::ONE.to_be_bytes(), be32(&BigUint::from(1u32)));
    assert_eq!(Scalar::ONE.to_be_bytes(), be32(&BigUint::from(1u32)));
    assert_eq!(FieldElement::ZERO.to_be_bytes(), [0; 32]);
    let limbs = |l: [u64; 4]| l.iter().rev().fold(BigUint::ZERO, |acc, &w| (acc << 64u32) + w);
    assert_eq!(limbs(FieldElement::MODULUS), p());
    assert_eq!(limbs(Scalar::MODULUS), n());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Halving in GF(p): odd and even values, 0, 1 and p − 1 among the edges of `value()`.
    #[test]
    fn field_halve(a in value()) {
        let big = BigUint::from_bytes_be(&a) % p();
        let x = FieldElement::from_be_bytes_reduced(&be32(&big));
        let half = x.halve();
        prop_assert_eq!(half.double(), x);
        // 2⁻¹ = (p + 1) / 2.
        let inv2 = (p() + 1u32) / 2u32;
        prop_assert_eq!(half.to_be_bytes(), be32(&((&big * inv2) % p())));
    }
}

/// The inversions of GF(p) (safegcd in variable and in constant time, Fermat) against
/// num-bigint.
fn check_invert_vartime(big: &BigUint) {
    let x = FieldElement::from_be_bytes(&be32(big)).unwrap();
    for inv in [x.invert_vartime(), x.invert(), x.invert_fermat()] {
        if *big == BigUint::ZERO {
            assert_eq!(inv.to_be_bytes(), [0u8; 32]);
        } else {
            assert_eq!(inv.to_be_bytes(), be32(&big.modpow(&(p() - 2u32), &p())));
            assert_eq!(inv.mul(&x), FieldElement::ONE);
        }
    }
}

#[test]
fn invert_vartime_edges() {
    let p = p();
    let r_inv = (BigUint::from(1u32) << 256u32).modpow(&(&p - 2u32), &p);
    let mut values: Vec<BigUint> = (0u32..40).map(BigUint::from).collect();
    values.extend((1u32..40).map(|k| &p - k));
    values.push(BigUint::from(1u32) << 255u32);
    values.push((BigUint::from(1u32) << 255u32) - 1u32);
    values.push(&p >> 1u32);
    // Values whose Montgomery forms, which the inversion sees, are 1, 2, p − 1 and p − 2.
    for raw in [BigUint::from(1u32), BigUint::from(2u32), &p - 1u32, &p - 2u32] {
        values.push((raw * &r_inv) % &p);
    }
    for v in &values {
        check_invert_vartime(v);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn invert_vartime(a in value()) {
        check_invert_vartime(&(BigUint::from_bytes_be(&a) % p()));
    }
}
