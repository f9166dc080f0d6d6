//! The SM2 point arithmetic against itself by independent routes: the interleaved wNAF of
//! verification, plain and split into 64-bit chunks, against the constant-time comb and
//! ladder, the doubling against the complete addition, on random and edge-case scalars.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use proptest::prelude::*;
use wearpay_shangmi::sm2::{
    field::Scalar,
    point::{self, Affine, GENERATOR, Jacobian},
};

fn n_minus(j: u64) -> Scalar {
    Scalar::ZERO.sub(&scalar(j))
}

fn scalar(j: u64) -> Scalar {
    let mut bytes = [0u8; 32];
    bytes[24..].copy_from_slice(&j.to_be_bytes());
    Scalar::from_be_bytes(&bytes).unwrap()
}

/// Affine coordinates, or `None` at infinity, as bytes for comparison.
fn coords(p: Jacobian) -> Option<([u8; 32], [u8; 32])> {
    p.to_affine().map(|a| (a.x().to_be_bytes(), a.y().to_be_bytes()))
}

/// u1·G + u2·P by the constant-time routes and the complete addition.
fn reference(u1: &Scalar, u2: &Scalar, p: &Affine) -> Option<([u8; 32], [u8; 32])> {
    coords(point::mul_base(u1).add_complete(&point::mul_point(u2, p)))
}

fn edge_scalars() -> Vec<Scalar> {
    let mut v = vec![Scalar::ZERO, scalar(1), scalar(2), scalar(3), scalar(127), scalar(128), scalar(255)];
    v.extend([n_minus(1), n_minus(2), n_minus(3), n_minus(127)]);
    // All bits set below 2^255, and a value with long runs of zeros.
    v.push(Scalar::from_be_bytes(&[0x7f; 32]).unwrap());
    let mut sparse = [0u8; 32];
    sparse[0] = 0x80;
    sparse[31] = 1;
    v.push(Scalar::from_be_bytes(&sparse).unwrap());
    // At the edges of the 64-bit chunks of the split verification: a chunk of all ones (its
    // wNAF runs one digit past the chunk), a chunk that is zero, a lone bit at a boundary.
    let limbs = |l: [u64; 4]| {
        let mut bytes = [0u8; 32];
        for (i, limb) in l.iter().enumerate() {
            bytes[24 - 8 * i..32 - 8 * i].copy_from_slice(&limb.to_be_bytes());
        }
        Scalar::from_be_bytes(&bytes).unwrap()
    };
    v.extend([
        limbs([u64::MAX, 0, 0, 0]),
        limbs([0, 1, 0, 0]),
        limbs([u64::MAX, u64::MAX, u64::MAX, 0]),
        limbs([0, 0, 0, 1 << 63]),
        limbs([1, 0, u64::MAX, 0]),
        limbs([u64::MAX, 0, u64::MAX, 0x7fff_ffff_ffff_ffff]),
    ]);
    v
}

#[test]
fn double_scalar_multiplication_at_the_edges() {
    let p = point::mul_base(&scalar(0x1234_5678)).to_affine().unwrap();
    for base in [GENERATOR, p] {
        let split = point::SplitOddMultiples::new(&base);
        for u1 in edge_scalars() {
            for u2 in edge_scalars() {
                let want = reference(&u1, &u2, &base);
                assert_eq!(coords(point::mul_double_vartime(&u1, &u2, &base)), want);
                assert_eq!(coords(split.mul_double_vartime(&u1, &u2)), want, "split");
            }
        }
    }
    // With P = G: u1 + u2 = n gives the point at infinity, u1 = u2 needs the doubling inside
    // the additions.
    for j in [1, 2, 3, 1000] {
        assert!(point::mul_double_vartime(&n_minus(j), &scalar(j), &GENERATOR).is_identity_vartime());
        let both = point::mul_double_vartime(&scalar(j), &scalar(j), &GENERATOR);
        assert_eq!(coords(both), coords(point::mul_base(&scalar(2 * j))));
        let split = point::SplitOddMultiples::new(&GENERATOR);
        assert!(split.mul_double_vartime(&n_minus(j), &scalar(j)).is_identity_vartime());
        assert_eq!(coords(split.mul_double_vartime(&scalar(j), &scalar(j))), coords(point::mul_base(&scalar(2 * j))));
    }
}

#[test]
fn comb_of_a_point_matches_the_ladder() {
    let p = point::mul_base(&scalar(0x1234_5678)).to_affine().unwrap();
    for base in [GENERATOR, p] {
        let comb = point::CombTable::new(&base);
        for k in edge_scalars().into_iter().filter(|k| !k.is_zero_vartime()) {
            assert_eq!(coords(comb.mul(&k)), coords(point::mul_point(&k, &base)));
        }
    }
}

#[test]
fn doubling_matches_addition() {
    for k in edge_scalars().into_iter().chain([scalar(5), scalar(0xdead_beef)]) {
        let p = point::mul_base(&k);
        assert_eq!(coords(p.double()), coords(p.add_complete(&p)));
        assert_eq!(coords(p.double()), coords(point::mul_base(&k.add(&k))));
    }
    assert!(Jacobian::IDENTITY.double().is_identity_vartime());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn double_scalar_multiplication(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), c in any::<[u8; 32]>()) {
        let (u1, u2, k) = (Scalar::from_be_bytes_reduced(&a), Scalar::from_be_bytes_reduced(&b), Scalar::from_be_bytes_reduced(&c));
        let Some(p) = point::mul_base(&k).to_affine() else { return Ok(()) };
        let want = reference(&u1, &u2, &p);
        prop_assert_eq!(coords(point::mul_double_vartime(&u1, &u2, &p)), want);
        prop_assert_eq!(coords(point::SplitOddMultiples::new(&p).mul_double_vartime(&u1, &u2)), want);
    }

    #[test]
    fn comb_multiplication(a in any::<[u8; 32]>()) {
        static COMB: std::sync::OnceLock<(Affine, point::CombTable)> = std::sync::OnceLock::new();
        let (p, comb) = COMB.get_or_init(|| {
            let p = point::mul_base(&scalar(0xfeed_f00d)).to_affine().unwrap();
            (p, point::CombTable::new(&p))
        });
        let k = Scalar::from_be_bytes_reduced(&a);
        prop_assert_eq!(coords(comb.mul(&k)), coords(point::mul_point(&k, p)));
    }
}
