//! The DER and raw encodings of SM2 signatures and ciphertexts: round trips, and strict
//! rejection (never a panic) of everything that is not canonical.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestRng, unhex};
use wearpay_crypto::{
    DEFAULT_SM2_ID, Error, Sm2Ciphertext, Sm2PublicKey,
    portable::PROVIDER as P,
    sm2::{signature_from_der, signature_to_der},
};

/// Interesting 32-byte integers: zero, small, high bit set, leading zero bytes, all ones.
fn edge_scalars(rng: &mut TestRng) -> Vec<[u8; 32]> {
    let mut v = vec![[0u8; 32], [0xff; 32]];
    let mut one = [0u8; 32];
    one[31] = 1;
    v.push(one);
    let mut x7f = [0u8; 32];
    x7f[31] = 0x7f;
    v.push(x7f);
    let mut x80 = [0u8; 32];
    x80[31] = 0x80;
    v.push(x80);
    let mut hi = [0u8; 32];
    hi[0] = 0x80;
    v.push(hi);
    for zeros in 0..32 {
        let mut a: [u8; 32] = rng.array();
        a[..zeros].fill(0);
        v.push(a);
        if zeros < 32 {
            a[zeros] |= 0x80;
            v.push(a);
            a[zeros] &= 0x7f;
            v.push(a);
        }
    }
    v
}

#[test]
fn signature_der_round_trip() {
    let mut rng = TestRng::new(0x5167);
    let edges = edge_scalars(&mut rng);
    for r in &edges {
        for s in &edges {
            let der = signature_to_der(r, s);
            assert!(der.len() <= 72);
            assert_eq!(signature_from_der(&der).unwrap(), (*r, *s));
        }
    }
}

#[test]
fn signature_der_known_encoding() {
    let mut r = [0u8; 32];
    r[31] = 1;
    let mut s = [0u8; 32];
    s[31] = 0x80;
    assert_eq!(signature_to_der(&r, &s), unhex("3007 020101 02020080"));
    let r = [0xff; 32];
    let der = signature_to_der(&r, &r);
    assert_eq!(&der[..5], &unhex("3046022100"));
    assert_eq!(der.len(), 72);
}

/// Hand-made bad encodings of (1, 1) and friends.
#[test]
fn signature_der_rejects_non_canonical() {
    let bad = [
        "",                          // empty
        "30",                        // no length
        "3007 020101 020101",        // length too long for content
        "3005 020101 020101",        // length too short: trailing bytes in the integer
        "3106 020101 020101",        // SET, not SEQUENCE
        "3006 030101 020101",        // BIT STRING, not INTEGER
        "3006 020101 040101",        // OCTET STRING, not INTEGER
        "3006 020101 020101 00",     // trailing byte after the sequence
        "3009 020101 020101 020101", // a third integer
        "3003 020101",               // only r
        "3000",                      // nothing
        "3007 02020001 020101",      // non-minimal r: 00 01
        "3007 020101 02020001",      // non-minimal s
        "3007 0202007f 020101",      // non-minimal: 00 7f
        "3006 020181 020101",        // negative r
        "3006 020101 0201ff",        // negative s
        "3005 0200 020101",          // empty integer
        "308106 020101 020101",      // non-minimal sequence length
        "3007 02810101 020101",      // long-form integer length for a short value
        "3080 020101 020101 0000",   // indefinite length
        "3084000000060201010201 01", // 4-byte length
    ];
    for hex in bad {
        assert_eq!(signature_from_der(&unhex(hex)), Err(Error::Encoding), "{hex}");
    }
    // 33 significant bytes (> 2^256) do not fit.
    let mut long = unhex("3026 022101");
    long.extend([0u8; 32]);
    long.extend(unhex("020101"));
    assert_eq!(signature_from_der(&long), Err(Error::Encoding));
    // Zero is a well-formed integer; it is verification that refuses it.
    assert_eq!(signature_from_der(&unhex("3006 020100 020101")).unwrap().0, [0; 32]);
}

#[test]
fn signature_der_truncation_and_mutation_never_panic() {
    let key = P.sm2.generate(&common::SeededRandom::new(3)).unwrap();
    let wearpay_crypto::PublicKey::Sm2(public) = common::public_of(&*key) else { panic!() };
    let mut rng = TestRng::new(99);
    for _ in 0..20 {
        let len = rng.below(64);
        let msg = rng.bytes(len);
        let der = key.sign(&msg).unwrap();
        for cut in 0..der.len() {
            assert_eq!(signature_from_der(&der[..cut]), Err(Error::Encoding), "cut at {cut}");
            assert_eq!(P.sm2.verify(&public, DEFAULT_SM2_ID, &msg, &der[..cut]), Err(Error::BadSignature));
        }
        let mut extended = der.clone();
        extended.push(0);
        assert_eq!(signature_from_der(&extended), Err(Error::Encoding));
        assert_eq!(P.sm2.verify(&public, DEFAULT_SM2_ID, &msg, &extended), Err(Error::BadSignature));
        // Any single-byte change either fails to parse or re-encodes to itself (DER is
        // canonical), and never verifies.
        for _ in 0..50 {
            let mut m = der.clone();
            let i = rng.below(m.len());
            m[i] ^= 1 << rng.below(8);
            if let Ok((r, s)) = signature_from_der(&m) {
                assert_eq!(signature_to_der(&r, &s), m);
            }
            assert!(P.sm2.verify(&public, DEFAULT_SM2_ID, &msg, &m).is_err());
        }
    }
}

fn sample_ciphertext(rng: &mut TestRng, c2_len: usize) -> Sm2Ciphertext {
    Sm2Ciphertext { x: rng.array(), y: rng.array(), c3: rng.array(), c2: rng.bytes(c2_len) }
}

#[test]
fn ciphertext_round_trips() {
    let mut rng = TestRng::new(0xc1c3c2);
    for len in (0..300).chain([1000, 65_535, 65_536, 100_000]) {
        let mut ct = sample_ciphertext(&mut rng, len);
        if len % 3 == 0 {
            ct.x[..len % 32].fill(0); // leading zeros in the coordinates
            ct.y[0] |= 0x80;
        }
        let der = ct.to_der();
        assert_eq!(Sm2Ciphertext::from_der(&der).unwrap(), ct, "DER, c2 of {len}");
        let raw = ct.to_c1c3c2();
        assert_eq!(raw.len(), 97 + len);
        assert_eq!(raw[0], 4);
        assert_eq!(Sm2Ciphertext::from_c1c3c2(&raw).unwrap(), ct, "raw, c2 of {len}");
    }
}

#[test]
fn ciphertext_der_known_layout() {
    // GM/T 0009: SEQUENCE { INTEGER x, INTEGER y, OCTET STRING c3 (32), OCTET STRING c2 }.
    let ct = Sm2Ciphertext { x: [0x01; 32], y: [0x80; 32], c3: [0x33; 32], c2: vec![0xcc; 3] };
    let der = ct.to_der();
    let mut expect = unhex("306c 0220");
    expect.extend([0x01; 32]);
    expect.extend(unhex("022100"));
    expect.extend([0x80; 32]);
    expect.extend(unhex("0420"));
    expect.extend([0x33; 32]);
    expect.extend(unhex("0403 cccccc"));
    assert_eq!(der, expect);
}

#[test]
fn ciphertext_der_rejects_non_canonical() {
    let mut rng = TestRng::new(5);
    let ct = sample_ciphertext(&mut rng, 40);
    let good = ct.to_der();
    Sm2Ciphertext::from_der(&good).unwrap();

    // Truncated at every length, and extended.
    for cut in 0..good.len() {
        assert_eq!(Sm2Ciphertext::from_der(&good[..cut]), Err(Error::Encoding), "cut at {cut}");
    }
    let mut long = good.clone();
    long.push(0);
    assert_eq!(Sm2Ciphertext::from_der(&long), Err(Error::Encoding));

    // Builds SEQUENCE { parts } with a correct outer length.
    let seq = |parts: &[Vec<u8>]| {
        let body: Vec<u8> = parts.concat();
        let mut out = vec![0x30];
        if body.len() < 0x80 {
            out.push(body.len() as u8);
        } else {
            out.extend([0x81, body.len() as u8]);
        }
        out.extend(body);
        out
    };
    let tlv = |tag: u8, v: &[u8]| {
        let mut out = vec![tag, v.len() as u8];
        out.extend_from_slice(v);
        out
    };
    let x = tlv(2, &ct.x[..]);
    let x = if ct.x[0] & 0x80 != 0 { tlv(2, &[&[0u8][..], &ct.x[..]].concat()) } else { x };
    let y = tlv(2, &[&[0u8][..], &ct.y[..]].concat());
    let y = if ct.y[0] & 0x80 != 0 { y } else { tlv(2, &ct.y[..]) };
    let c3 = tlv(4, &ct.c3);
    let c2 = tlv(4, &ct.c2);
    assert_eq!(seq(&[x.clone(), y.clone(), c3.clone(), c2.clone()]), good, "the test builder matches");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("missing c2", seq(&[x.clone(), y.clone(), c3.clone()])),
        ("extra field", seq(&[x.clone(), y.clone(), c3.clone(), c2.clone(), tlv(4, b"")])),
        ("c3 of 31 bytes", seq(&[x.clone(), y.clone(), tlv(4, &ct.c3[..31]), c2.clone()])),
        ("c3 of 33 bytes", seq(&[x.clone(), y.clone(), tlv(4, &[&ct.c3[..], &[0]].concat()), c2.clone()])),
        ("c3 as INTEGER", seq(&[x.clone(), y.clone(), tlv(2, &ct.c3), c2.clone()])),
        ("c2 as BIT STRING", seq(&[x.clone(), y.clone(), c3.clone(), tlv(3, &ct.c2)])),
        ("x as OCTET STRING", seq(&[tlv(4, &ct.x), y.clone(), c3.clone(), c2.clone()])),
        ("negative x", seq(&[tlv(2, &[0x80; 32]), y.clone(), c3.clone(), c2.clone()])),
        ("non-minimal x", seq(&[tlv(2, &[&[0u8, 0x01][..], &[0; 31]].concat()), y.clone(), c3.clone(), c2.clone()])),
        ("x of 33 significant bytes", seq(&[tlv(2, &[0x01; 33]), y.clone(), c3.clone(), c2.clone()])),
        ("empty x", seq(&[tlv(2, &[]), y.clone(), c3.clone(), c2.clone()])),
        ("order C1C2C3", seq(&[x.clone(), y.clone(), c2.clone(), c3.clone()])),
        ("SET", {
            let mut v = seq(&[x.clone(), y.clone(), c3.clone(), c2.clone()]);
            v[0] = 0x31;
            v
        }),
    ];
    for (what, der) in cases {
        assert_eq!(Sm2Ciphertext::from_der(&der), Err(Error::Encoding), "{what}");
    }
}

#[test]
fn ciphertext_raw_rejects_bad_shapes() {
    let mut rng = TestRng::new(6);
    let raw = sample_ciphertext(&mut rng, 10).to_c1c3c2();
    for cut in 0..97 {
        assert_eq!(Sm2Ciphertext::from_c1c3c2(&raw[..cut]), Err(Error::Encoding), "cut at {cut}");
    }
    // An empty C2 is a well-formed encoding (97 bytes).
    assert_eq!(Sm2Ciphertext::from_c1c3c2(&raw[..97]).unwrap().c2, b"");
    for prefix in [0x00, 0x02, 0x03, 0x05, 0x06, 0x07] {
        let mut bad = raw.clone();
        bad[0] = prefix;
        assert_eq!(Sm2Ciphertext::from_c1c3c2(&bad), Err(Error::Encoding), "prefix {prefix:02x}");
    }
}

#[test]
fn decrypt_never_panics_on_malformed_ciphertexts() {
    let key = P.sm2.generate(&common::SeededRandom::new(11)).unwrap();
    let wearpay_crypto::PublicKey::Sm2(public) = common::public_of(&*key) else { panic!() };
    let good = P.sm2.encrypt(&public, b"pre-master secret", &common::SeededRandom::new(12)).unwrap();
    assert_eq!(&key.decrypt(&good).unwrap()[..], b"pre-master secret");
    for cut in 0..good.len() {
        assert_eq!(key.decrypt(&good[..cut]).unwrap_err(), Error::DecryptionFailed, "cut at {cut}");
    }
    let mut rng = TestRng::new(13);
    for _ in 0..300 {
        let mut m = good.clone();
        let i = rng.below(m.len());
        m[i] ^= 1 << rng.below(8);
        assert!(key.decrypt(&m).is_err(), "byte {i}");
    }
    // A C1 that is not on the curve, and the point at infinity's usual stand-ins.
    let ct = Sm2Ciphertext::from_der(&good).unwrap();
    for (x, y) in [([0u8; 32], [0u8; 32]), (ct.x, ct.x), ([0xff; 32], [0xff; 32])] {
        let bad = Sm2Ciphertext { x, y, ..ct.clone() };
        assert_eq!(key.decrypt(&bad.to_der()).unwrap_err(), Error::DecryptionFailed);
    }
    // Random junk of many lengths.
    for len in 0..200 {
        assert!(key.decrypt(&rng.bytes(len)).is_err());
    }
}

#[test]
fn public_key_shapes() {
    let key = P.sm2.generate(&common::SeededRandom::new(21)).unwrap();
    let wearpay_crypto::PublicKey::Sm2(public) = common::public_of(&*key) else { panic!() };
    let sec1 = public.as_sec1();
    assert_eq!(Sm2PublicKey::from_sec1(sec1).unwrap(), public);
    assert_eq!(Sm2PublicKey::from_sec1(&sec1[..64]), Err(Error::InvalidPublicKey));
    assert_eq!(Sm2PublicKey::from_sec1(&[sec1.as_slice(), &[0]].concat()), Err(Error::InvalidPublicKey));
    // Compressed points are not accepted here.
    let mut compressed = vec![0x02 | (sec1[64] & 1)];
    compressed.extend(&sec1[1..33]);
    assert_eq!(Sm2PublicKey::from_sec1(&compressed), Err(Error::InvalidPublicKey));
    let mut not4 = *sec1;
    not4[0] = 0x06;
    assert_eq!(Sm2PublicKey::from_sec1(&not4), Err(Error::InvalidPublicKey));
    // Right shape, off the curve: the provider refuses it for every operation.
    let mut off = *sec1;
    off[64] ^= 1;
    let off = Sm2PublicKey::from_sec1(&off).unwrap();
    assert_eq!(P.sm2.validate(&off), Err(Error::InvalidPublicKey));
    let sig = key.sign(b"m").unwrap();
    assert_eq!(P.sm2.verify(&off, DEFAULT_SM2_ID, b"m", &sig), Err(Error::InvalidPublicKey));
    assert_eq!(P.sm2.encrypt(&off, b"m", P.random), Err(Error::InvalidPublicKey));
    let zero = Sm2PublicKey::from_sec1(&[&[4u8][..], &[0; 64]].concat()).unwrap();
    assert_eq!(P.sm2.validate(&zero), Err(Error::InvalidPublicKey));
    assert!(format!("{public:?}").starts_with("Sm2PublicKey("));
}
