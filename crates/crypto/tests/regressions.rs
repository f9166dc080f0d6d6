//! One test for each bug found in the portable provider, so it stays fixed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{SeededRandom, public_of, unhex};
use wearpay_crypto::{DEFAULT_SM2_ID, Error, PublicKey, portable::PROVIDER as P};

/// n − 1 for sm2p256v1.
const N_MINUS_1: &str = "fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54122";

/// GB/T 32918.1 §6.1 takes private keys from [1, n − 2]: for d = n − 1, 1 + d ≡ 0 has no
/// inverse, so the key could never sign. It used to load and then fail on every signature.
#[test]
fn sm2_private_key_n_minus_1_is_rejected() {
    let d = unhex(N_MINUS_1);
    assert_eq!(P.sm2.from_secret(&d, DEFAULT_SM2_ID).unwrap_err(), Error::InvalidKey);
    // n − 2 is the largest valid key, and signs.
    let mut d2 = d.clone();
    d2[31] -= 1;
    let key = P.sm2.from_secret(&d2, DEFAULT_SM2_ID).unwrap();
    let sig = key.sign(b"edge").unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    P.sm2.verify(&public, DEFAULT_SM2_ID, b"edge", &sig).unwrap();
    // 0 and n are not keys either.
    assert_eq!(P.sm2.from_secret(&[0; 32], DEFAULT_SM2_ID).unwrap_err(), Error::InvalidKey);
    let mut n = d;
    n[31] += 1;
    assert_eq!(P.sm2.from_secret(&n, DEFAULT_SM2_ID).unwrap_err(), Error::InvalidKey);
}

/// `from_secret` takes "its 32-byte scalar", but shorter slices (24 to 31 bytes) used to be
/// left-padded silently, so a truncated key file loaded as a different key.
#[test]
fn sm2_private_key_must_be_32_bytes() {
    let mut rng = common::TestRng::new(1);
    let d = rng.bytes(32);
    P.sm2.from_secret(&d, DEFAULT_SM2_ID).unwrap();
    for len in [0, 1, 24, 31, 33, 64] {
        let mut v = d.clone();
        v.resize(len, 0x11);
        assert_eq!(P.sm2.from_secret(&v, DEFAULT_SM2_ID).unwrap_err(), Error::InvalidKey, "{len} bytes");
    }
}

/// The distinguishing ID is a byte string (GB/T 32918.2 §5.5: ENTL is its length in bits),
/// but keys with a non-UTF-8 ID used to be refused, and signatures under one never verified.
#[test]
fn sm2_non_utf8_distinguishing_id() {
    let id = [0xff, 0x00, 0x80, 0xc3, 0x28, b'I', b'D'];
    let key = P.sm2.from_secret(&SeededRandom::new(7).bytes32(), &id).unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    let sig = key.sign(b"msg").unwrap();
    P.sm2.verify(&public, &id, b"msg", &sig).unwrap();
    assert_eq!(P.sm2.verify(&public, DEFAULT_SM2_ID, b"msg", &sig), Err(Error::BadSignature));
    // The empty ID is legal too.
    let key = P.sm2.from_secret(&SeededRandom::new(8).bytes32(), b"").unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    P.sm2.verify(&public, b"", b"msg", &key.sign(b"msg").unwrap()).unwrap();
}

/// ENTL is 16 bits, so an ID may be at most 8191 bytes; a longer one is refused up front
/// rather than on every signature.
#[test]
fn sm2_distinguishing_id_length_limit() {
    let d = SeededRandom::new(9).bytes32();
    let id = vec![b'a'; 8191];
    let key = P.sm2.from_secret(&d, &id).unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    P.sm2.verify(&public, &id, b"m", &key.sign(b"m").unwrap()).unwrap();
    let id = vec![b'a'; 8192];
    assert!(P.sm2.from_secret(&d, &id).is_err());
    assert!(P.sm2.verify(&public, &id, b"m", &key.sign(b"m").unwrap()).is_err());
}

trait Bytes32 {
    fn bytes32(&self) -> Vec<u8>;
}

impl Bytes32 for SeededRandom {
    fn bytes32(&self) -> Vec<u8> {
        let mut v = vec![0u8; 32];
        wearpay_crypto::SecureRandom::fill(self, &mut v).unwrap();
        v
    }
}
