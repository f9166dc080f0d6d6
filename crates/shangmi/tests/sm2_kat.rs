//! SM2 against the worked examples of GB/T 32918 (the same data file the portable provider's
//! tests read), and the edge cases: extreme scalars, out-of-range signatures, bad points,
//! non-canonical encodings, empty and 64 KiB messages.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::path::PathBuf;

use common::{Rng, unhex};
use wearpay_crypto::{
    DEFAULT_SM2_ID, Error, PrivateKey, PublicKey, SecureRandom, SignatureScheme, Sm2Ciphertext, Sm2PublicKey,
    sm2::{signature_from_der, signature_to_der},
};
use wearpay_shangmi::{
    PROVIDER as S,
    sm2::{field::Scalar, point},
};

/// One `example = …` record of the crypto crate's `sm2.txt`.
fn example(kind: &str) -> Vec<(String, Vec<u8>)> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "crypto", "tests", "data", "sm2.txt"].iter().collect();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut records: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line.split_once(" = ").unwrap();
        if k == "example" {
            records.push(Vec::new());
        }
        let v = v.trim();
        let bytes = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(t) => t.as_bytes().to_vec(),
            None if k == "example" => v.as_bytes().to_vec(),
            None => unhex(v),
        };
        records.last_mut().unwrap().push((k.to_owned(), bytes));
    }
    records.into_iter().find(|r| r[0].1 == kind.as_bytes()).unwrap()
}

fn field(r: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
    r.iter().find(|(k, _)| k == name).unwrap().1.clone()
}

/// A random source that hands out the given bytes, over and over.
#[derive(Debug)]
struct Fixed(Vec<u8>);

impl SecureRandom for Fixed {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
        Ok(())
    }
}

fn sm2_public(key: &dyn PrivateKey) -> Sm2PublicKey {
    match wearpay_crypto::SigningKey::public_key(key) {
        PublicKey::Sm2(k) => k,
        PublicKey::Rsa(_) => panic!("not SM2"),
    }
}

const N: &str = "fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123";
const P: &str = "fffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffff";

/// n − k, big-endian.
fn n_minus(k: u8) -> Vec<u8> {
    let mut n = unhex(N);
    let mut borrow = u16::from(k);
    for b in n.iter_mut().rev() {
        let v = u16::from(*b).wrapping_sub(borrow);
        *b = v as u8;
        borrow = u16::from(v > 0xff);
    }
    n
}

#[test]
fn signature_example_reproduced_with_the_published_k() {
    let r = example("sign");
    let (id, msg, d) = (field(&r, "id"), field(&r, "msg"), field(&r, "d"));
    let public = Sm2PublicKey::from_sec1(&field(&r, "public")).unwrap();
    S.sm2.validate(&public).unwrap();

    // The published k as the nonce source reproduces (r, s) exactly.
    let k: &'static Fixed = Box::leak(Box::new(Fixed(field(&r, "k"))));
    let key = S.sm2.from_secret_with_random(&d, &id, k).unwrap();
    assert_eq!(sm2_public(&*key), public);
    assert_eq!(key.export().unwrap().as_slice(), &d[..]);
    let sig = key.sign(&msg).unwrap();
    let (rr, ss) = signature_from_der(&sig).unwrap();
    assert_eq!(rr.to_vec(), field(&r, "r"));
    assert_eq!(ss.to_vec(), field(&r, "s"));

    S.sm2.verify(&public, &id, &msg, &sig).unwrap();
    S.verify(&PublicKey::Sm2(public), SignatureScheme::Sm2Sm3, &msg, &sig).unwrap();
    assert_eq!(S.sm2.verify(&public, &id, b"message digesT", &sig), Err(Error::BadSignature));
    assert_eq!(S.sm2.verify(&public, b"1234567812345679", &msg, &sig), Err(Error::BadSignature));
    let mut r2 = rr;
    r2[31] ^= 1;
    assert_eq!(S.sm2.verify(&public, &id, &msg, &signature_to_der(&r2, &ss)), Err(Error::BadSignature));
    let mut s2 = ss;
    s2[0] ^= 0x40;
    assert_eq!(S.sm2.verify(&public, &id, &msg, &signature_to_der(&rr, &s2)), Err(Error::BadSignature));

    // With fresh nonces: a different signature that still verifies.
    let key = S.sm2.from_secret(&d, &id).unwrap();
    let ours = key.sign(&msg).unwrap();
    S.sm2.verify(&public, &id, &msg, &ours).unwrap();
    assert_ne!(signature_from_der(&ours).unwrap(), (rr, ss));
}

#[test]
fn encryption_example_reproduced_with_the_published_k() {
    let r = example("encrypt");
    let msg = field(&r, "msg");
    let public = Sm2PublicKey::from_sec1(&field(&r, "public")).unwrap();
    let mut raw = field(&r, "c1");
    raw.extend(field(&r, "c3"));
    raw.extend(field(&r, "c2"));
    let der = Sm2Ciphertext::from_c1c3c2(&raw).unwrap().to_der();

    let key = S.sm2.from_secret(&field(&r, "d"), DEFAULT_SM2_ID).unwrap();
    assert_eq!(&key.decrypt(&der).unwrap()[..], &msg[..]);

    let ours = S.sm2.encrypt(&public, &msg, &Fixed(field(&r, "k"))).unwrap();
    assert_eq!(ours, der);

    // A wrong check value, a changed C2 or C1 moved to another curve point all fail.
    let mut bad = raw.clone();
    bad[70] ^= 1;
    assert_eq!(key.decrypt(&Sm2Ciphertext::from_c1c3c2(&bad).unwrap().to_der()).unwrap_err(), Error::DecryptionFailed);
    let mut bad = raw.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(key.decrypt(&Sm2Ciphertext::from_c1c3c2(&bad).unwrap().to_der()).unwrap_err(), Error::DecryptionFailed);
    let mut ct = Sm2Ciphertext::from_der(&der).unwrap();
    let g = point::GENERATOR.to_sec1();
    ct.x.copy_from_slice(&g[1..33]);
    ct.y.copy_from_slice(&g[33..]);
    assert_eq!(key.decrypt(&ct.to_der()).unwrap_err(), Error::DecryptionFailed);
}

#[test]
fn extreme_private_scalars() {
    let one = {
        let mut v = vec![0u8; 32];
        v[31] = 1;
        v
    };
    // d = 1: the public key is G.
    let key = S.sm2.from_secret(&one, DEFAULT_SM2_ID).unwrap();
    assert_eq!(sm2_public(&*key).as_sec1(), &point::GENERATOR.to_sec1());
    // d = n − 2 (the largest allowed): the public key is −2G.
    let key2 = S.sm2.from_secret(&n_minus(2), DEFAULT_SM2_ID).unwrap();
    let two_g = S.sm2.from_secret(&[&[0u8; 31][..], &[2]].concat(), DEFAULT_SM2_ID).unwrap();
    let (a, b) = (sm2_public(&*key2), sm2_public(&*two_g));
    assert_eq!(a.as_sec1()[..33], b.as_sec1()[..33]);
    assert_ne!(a.as_sec1()[33..], b.as_sec1()[33..]);
    for key in [&key, &key2, &two_g] {
        let public = sm2_public(&**key);
        for msg in [&b""[..], b"x", &vec![0x5a; 65536][..]] {
            let sig = key.sign(msg).unwrap();
            S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &sig).unwrap();
            wearpay_crypto::portable::PROVIDER.sm2.verify(&public, DEFAULT_SM2_ID, msg, &sig).unwrap();
            let ct = S.sm2.encrypt(&public, msg.get(..1000).unwrap_or(msg).max(b"m"), S.random).unwrap();
            assert_eq!(&key.decrypt(&ct).unwrap()[..], msg.get(..1000).unwrap_or(msg).max(b"m"));
        }
    }
    // Out of range: 0, n − 1, n, n + 1, 2^256 − 1; and wrong lengths.
    let mut n_plus_1 = unhex(N);
    n_plus_1[31] += 1;
    for bad in [vec![0u8; 32], n_minus(1), unhex(N), n_plus_1, vec![0xff; 32], vec![1; 31], vec![1; 33], vec![]] {
        assert_eq!(S.sm2.from_secret(&bad, DEFAULT_SM2_ID).unwrap_err(), Error::InvalidKey, "{}", hex::encode(&bad));
    }
    // An ID too long for its 16-bit bit length.
    assert!(S.sm2.from_secret(&one, &[b'a'; 8192]).is_err());
}

#[test]
fn scalar_multiples_of_g_at_the_edges() {
    // k·G for k = n − j equals −(j·G), for the constant-time comb and the ladder alike.
    for j in 1u8..=40 {
        let k = Scalar::from_be_bytes(&n_minus(j).try_into().unwrap()).unwrap();
        let mut small = [0u8; 32];
        small[31] = j;
        let small = Scalar::from_be_bytes(&small).unwrap();
        let a = point::mul_base(&k).to_affine().unwrap();
        let b = point::mul_base(&small).to_affine().unwrap();
        let c = point::mul_point(&k, &point::GENERATOR).to_affine().unwrap();
        let d = point::mul_point(&small, &point::GENERATOR).to_affine().unwrap();
        assert_eq!(a.x(), b.x(), "n - {j}");
        assert_eq!(a.y(), b.y().neg(), "n - {j}");
        assert_eq!(c.x(), a.x(), "ladder n - {j}");
        assert_eq!(c.y(), a.y(), "ladder n - {j}");
        assert_eq!(d.x(), b.x(), "ladder {j}");
        assert_eq!(d.y(), b.y(), "ladder {j}");
        // And through the verification path: 0·… is not used there, so take u1 = k, u2 = 1
        // with P = G, giving (k + 1)·G.
        let e = point::mul_double_vartime(&k, &Scalar::ONE, &point::GENERATOR).to_affine();
        let f = point::mul_base(&k.add(&Scalar::ONE)).to_affine();
        match (e, f) {
            (Some(e), Some(f)) => assert!(e.x() == f.x() && e.y() == f.y(), "double n - {j}"),
            (None, None) => assert_eq!(j, 1),
            _ => panic!("infinity mismatch at n - {j}"),
        }
    }
    // 0·G and n·G (as 0) are the point at infinity.
    assert!(point::mul_base(&Scalar::ZERO).to_affine().is_none());
    assert!(point::mul_point(&Scalar::ZERO, &point::GENERATOR).to_affine().is_none());
}

#[test]
fn signatures_out_of_range_are_refused() {
    let key = S.sm2.generate(S.random).unwrap();
    let public = sm2_public(&*key);
    let msg = b"pay 1.00";
    let sig = key.sign(msg).unwrap();
    let (r, s) = signature_from_der(&sig).unwrap();
    let n: [u8; 32] = unhex(N).try_into().unwrap();
    let zero = [0u8; 32];
    let mut r_plus_n = r;
    // r + n, when it fits: r ≡ r + n (mod n), still refused.
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let v = u16::from(r[i]) + u16::from(n[i]) + carry;
        r_plus_n[i] = v as u8;
        carry = v >> 8;
    }
    for (rr, ss) in [(zero, s), (r, zero), (n, s), (r, n), ([0xff; 32], s), (r, [0xff; 32])] {
        assert_eq!(S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &signature_to_der(&rr, &ss)), Err(Error::BadSignature));
    }
    if carry == 0 {
        assert_eq!(
            S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &signature_to_der(&r_plus_n, &s)),
            Err(Error::BadSignature)
        );
    }
    // r + s = n.
    let s_neg = Scalar::from_be_bytes(&r).unwrap().neg().to_be_bytes();
    assert_eq!(S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &signature_to_der(&r, &s_neg)), Err(Error::BadSignature));
    // Not DER, trailing bytes, non-minimal integers.
    let mut trailing = sig.clone();
    trailing.push(0);
    assert_eq!(S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &trailing), Err(Error::BadSignature));
    assert_eq!(S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &[]), Err(Error::BadSignature));
    assert_eq!(S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &[0x30, 0x06, 2, 1, 0, 2, 1, 1]), Err(Error::BadSignature));
    assert_eq!(
        S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &[0x30, 0x08, 2, 2, 0, 1, 2, 2, 0, 1]),
        Err(Error::BadSignature)
    );
    S.sm2.verify(&public, DEFAULT_SM2_ID, msg, &sig).unwrap();
}

#[test]
fn invalid_public_points_are_refused() {
    let key = S.sm2.generate(S.random).unwrap();
    let good = *sm2_public(&*key).as_sec1();
    let sig = key.sign(b"m").unwrap();
    let mut cases: Vec<[u8; 65]> = Vec::new();
    // Off the curve.
    let mut off = good;
    off[64] ^= 1;
    cases.push(off);
    // (0, 0), and the would-be encoding of infinity padded to 65 bytes.
    cases.push([&[4u8][..], &[0u8; 64]].concat().try_into().unwrap());
    // x or y replaced by itself + p (non-canonical; the same residue).
    let p: [u8; 32] = unhex(P).try_into().unwrap();
    for half in [1usize, 33] {
        let mut v = good;
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(good[half + i]) + u16::from(p[i]) + carry;
            v[half + i] = s as u8;
            carry = s >> 8;
        }
        if carry == 0 {
            cases.push(v);
        }
    }
    // Coordinates equal to p, and all ones.
    cases.push([&[4u8][..], &p, &good[33..]].concat().try_into().unwrap());
    cases.push([&[4u8][..], &[0xffu8; 64][..]].concat().try_into().unwrap());
    for bad in cases {
        let public = Sm2PublicKey::from_sec1(&bad).unwrap();
        assert_eq!(S.sm2.validate(&public), Err(Error::InvalidPublicKey), "{}", hex::encode(bad));
        assert_eq!(S.sm2.verify(&public, DEFAULT_SM2_ID, b"m", &sig), Err(Error::InvalidPublicKey));
        assert_eq!(S.sm2.encrypt(&public, b"m", S.random), Err(Error::InvalidPublicKey));
        // As C1 of a ciphertext.
        let ct = Sm2Ciphertext {
            x: bad[1..33].try_into().unwrap(),
            y: bad[33..].try_into().unwrap(),
            c3: [0; 32],
            c2: vec![1, 2, 3],
        };
        assert_eq!(key.decrypt(&ct.to_der()).unwrap_err(), Error::DecryptionFailed);
    }
    S.sm2.validate(&Sm2PublicKey::from_sec1(&good).unwrap()).unwrap();
}

#[test]
fn message_lengths_and_malformed_ciphertexts() {
    let key = S.sm2.generate(S.random).unwrap();
    let public = sm2_public(&*key);
    let mut rng = Rng::new(0x5e2);
    for len in [1usize, 31, 32, 33, 48, 64, 65, 1000, 65536] {
        let msg = rng.bytes(len);
        let ct = S.sm2.encrypt(&public, &msg, S.random).unwrap();
        assert_eq!(&key.decrypt(&ct).unwrap()[..], &msg[..], "len {len}");
        let parsed = Sm2Ciphertext::from_der(&ct).unwrap();
        assert_eq!(parsed.c2.len(), len);
        assert_ne!(parsed.c2, msg);
    }
    let sig = key.sign(&[]).unwrap();
    S.sm2.verify(&public, DEFAULT_SM2_ID, &[], &sig).unwrap();
    let big = rng.bytes(65536);
    let sig = key.sign(&big).unwrap();
    S.sm2.verify(&public, DEFAULT_SM2_ID, &big, &sig).unwrap();

    assert_eq!(S.sm2.encrypt(&public, &[], S.random), Err(Error::InvalidLength));
    let ct = S.sm2.encrypt(&public, b"secret", S.random).unwrap();
    for bad in [vec![], vec![0x30, 0], ct[..ct.len() - 1].to_vec(), [&ct[..], &[0]].concat()] {
        assert_eq!(key.decrypt(&bad).unwrap_err(), Error::DecryptionFailed);
    }
    // An empty C2.
    let mut parsed = Sm2Ciphertext::from_der(&ct).unwrap();
    parsed.c2.clear();
    assert_eq!(key.decrypt(&parsed.to_der()).unwrap_err(), Error::DecryptionFailed);
    // Another key cannot decrypt it.
    let other = S.sm2.generate(S.random).unwrap();
    assert_eq!(other.decrypt(&ct).unwrap_err(), Error::DecryptionFailed);
}

#[test]
fn a_failing_random_source_is_reported() {
    #[derive(Debug)]
    struct Broken;
    impl SecureRandom for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), Error> {
            Err(Error::Random)
        }
    }
    assert_eq!(S.sm2.generate(&Broken).unwrap_err(), Error::Random);
    let key = S.sm2.from_secret_with_random(&[7; 32], DEFAULT_SM2_ID, &Broken).unwrap();
    assert_eq!(key.sign(b"m").unwrap_err(), Error::Random);
    assert_eq!(S.sm2.encrypt(&sm2_public(&*key), b"m", &Broken).unwrap_err(), Error::Random);
}

#[test]
fn out_of_range_nonces_are_drawn_again() {
    // A source whose first draw is n (out of range) and second is the published k.
    #[derive(Debug)]
    struct Sequence(std::sync::Mutex<Vec<Vec<u8>>>);
    impl SecureRandom for Sequence {
        fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
            let next = self.0.lock().unwrap().remove(0);
            dest.copy_from_slice(&next);
            Ok(())
        }
    }
    let r = example("sign");
    let k = field(&r, "k");
    let seq: &'static Sequence =
        Box::leak(Box::new(Sequence(std::sync::Mutex::new(vec![unhex(N), vec![0; 32], k.clone()]))));
    let key = S.sm2.from_secret_with_random(&field(&r, "d"), &field(&r, "id"), seq).unwrap();
    let (rr, ss) = signature_from_der(&key.sign(&field(&r, "msg")).unwrap()).unwrap();
    assert_eq!((rr.to_vec(), ss.to_vec()), (field(&r, "r"), field(&r, "s")));
}
