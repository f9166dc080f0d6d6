//! Property and differential tests with fixed seeds: the provider against independent
//! implementations (the `hmac`, `pbkdf2` and `cbc` crates) and against its own inverses.
#![allow(clippy::unwrap_used)]

mod common;

use cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use common::{SeededRandom, TestRng, public_of, records};
use hmac::{KeyInit, Mac};
use wearpay_crypto::{
    DEFAULT_SM2_ID, Error, GCM_NONCE_LEN, HashAlgorithm, PublicKey, SignatureScheme, Sm2Ciphertext, ct_eq, hmac,
    pbkdf2_hmac, pkcs7_pad, pkcs7_unpad, portable::PROVIDER as P,
};

fn reference_hmac(alg: HashAlgorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    match alg {
        HashAlgorithm::Sm3 => {
            let mut m = <hmac::Hmac<sm3::Sm3> as KeyInit>::new_from_slice(key).unwrap();
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        HashAlgorithm::Sha256 => {
            let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        _ => unreachable!(),
    }
}

#[test]
fn hmac_matches_the_hmac_crate() {
    let mut rng = TestRng::new(0x4d4143);
    for i in 0..400 {
        let alg = if i % 2 == 0 { HashAlgorithm::Sm3 } else { HashAlgorithm::Sha256 };
        // Key lengths around the 64-byte block, where the key is hashed first.
        let key_len = match i % 4 {
            0 => rng.below(200),
            1 => 63 + rng.below(3),
            _ => rng.below(70),
        };
        let key = rng.bytes(key_len);
        let msg_len = rng.below(300);
        let msg = rng.bytes(msg_len);
        let ours = hmac(P.hash(alg), &key).sign(&[&msg]);
        assert_eq!(ours.as_ref(), reference_hmac(alg, &key, &msg), "case {i}: {alg:?} key {key_len} msg {msg_len}");
        // Any split of the message into parts gives the same tag.
        let cut = rng.below(msg.len() + 1);
        assert_eq!(hmac(P.hash(alg), &key).sign(&[&msg[..cut], &[], &msg[cut..]]), ours);
    }
}

#[test]
fn pbkdf2_matches_the_pbkdf2_crate() {
    let mut rng = TestRng::new(0x9b4d);
    for i in 0..200 {
        let pw_len = rng.below(100);
        let pw = rng.bytes(pw_len);
        let salt_len = rng.below(40);
        let salt = rng.bytes(salt_len);
        let iter = 1 + rng.below(40) as u32;
        let out_len = 1 + rng.below(100);
        let mut ours = vec![0u8; out_len];
        let mut theirs = vec![0u8; out_len];
        if i % 2 == 0 {
            pbkdf2_hmac(P.sm3, &pw, &salt, iter, &mut ours);
            pbkdf2::pbkdf2_hmac::<sm3::Sm3>(&pw, &salt, iter, &mut theirs);
        } else {
            pbkdf2_hmac(P.sha256, &pw, &salt, iter, &mut ours);
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&pw, &salt, iter, &mut theirs);
        }
        assert_eq!(ours, theirs, "case {i}: iter {iter} out {out_len}");
    }
}

#[test]
fn hash_is_split_invariant() {
    let mut rng = TestRng::new(0x4853);
    for alg in [HashAlgorithm::Sm3, HashAlgorithm::Sha256] {
        let h = P.hash(alg);
        for _ in 0..200 {
            let len = rng.below(500);
            let msg = rng.bytes(len);
            let whole = h.hash(&msg);
            let mut ctx = h.start();
            let mut rest = &msg[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len());
                ctx.update(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(ctx.finish(), whole);
        }
    }
}

/// The `cbc` crate over `sm4`, as the reference.
fn reference_cbc(key: &[u8; 16], iv: &[u8; 16], data: &[u8], encrypt: bool) -> Vec<u8> {
    let mut out = data.to_vec();
    if encrypt {
        let mut m = cbc::Encryptor::<sm4::Sm4>::new(key.into(), iv.into());
        for block in out.chunks_exact_mut(16) {
            m.encrypt_block(block.try_into().unwrap());
        }
    } else {
        let mut m = cbc::Decryptor::<sm4::Sm4>::new(key.into(), iv.into());
        for block in out.chunks_exact_mut(16) {
            m.decrypt_block(block.try_into().unwrap());
        }
    }
    out
}

#[test]
fn sm4_cbc_matches_the_cbc_crate_and_round_trips() {
    let mut rng = TestRng::new(0x5334);
    for i in 0..300 {
        let key_bytes: [u8; 16] = rng.array();
        let iv: [u8; 16] = rng.array();
        let key = P.sm4_cbc.new_key(&key_bytes).unwrap();
        let blocks = rng.below(40);
        let pt = rng.bytes(16 * blocks);
        let mut buf = pt.clone();
        key.encrypt(&iv, &mut buf).unwrap();
        assert_eq!(buf, reference_cbc(&key_bytes, &iv, &pt, true), "case {i}: {blocks} blocks");
        assert_eq!(reference_cbc(&key_bytes, &iv, &buf, false), pt);
        key.decrypt(&iv, &mut buf).unwrap();
        assert_eq!(buf, pt, "case {i}: round trip");

        // With PKCS#7 for arbitrary lengths.
        let len = rng.below(100);
        let msg = rng.bytes(len);
        let mut padded = msg.clone();
        pkcs7_pad(&mut padded);
        key.encrypt(&iv, &mut padded).unwrap();
        key.decrypt(&iv, &mut padded).unwrap();
        assert_eq!(pkcs7_unpad(&padded).unwrap(), &msg[..]);

        // Partial blocks are refused, in both directions, without touching the buffer.
        let odd = 16 * rng.below(4) + 1 + rng.below(15);
        let mut junk = rng.bytes(odd);
        let before = junk.clone();
        assert_eq!(key.encrypt(&iv, &mut junk), Err(Error::InvalidLength));
        assert_eq!(key.decrypt(&iv, &mut junk), Err(Error::InvalidLength));
        assert_eq!(junk, before);
    }
}

#[test]
fn aes256_cbc_known_answer_and_round_trip() {
    let aes = P.cbc(wearpay_crypto::BlockCipher::Aes256).unwrap();
    for r in records("aes256_cbc.txt") {
        let key = aes.new_key(&r.bytes("key")).unwrap();
        let iv: [u8; 16] = common::unhex_array(r.text("iv"));
        let mut buf = r.bytes("pt");
        key.encrypt(&iv, &mut buf).unwrap();
        assert_eq!(buf, r.bytes("ct"), "line {}", r.line);
        key.decrypt(&iv, &mut buf).unwrap();
        assert_eq!(buf, r.bytes("pt"));
    }
    assert_eq!(aes.key_len(), 32);
    assert!(aes.new_key(&[0; 16]).is_err());
    assert_eq!(P.cbc(wearpay_crypto::BlockCipher::Sm1).unwrap_err(), Error::Unsupported("SM1"));
}

#[test]
fn sm4_gcm_round_trip_and_every_bit_flip_fails() {
    let mut rng = TestRng::new(0x67636d);
    for i in 0..200 {
        let key = P.sm4_gcm.new_key(&rng.array::<16>()).unwrap();
        let nonce: [u8; GCM_NONCE_LEN] = rng.array();
        let aad_len = rng.below(40);
        let aad = rng.bytes(aad_len);
        let pt_len = rng.below(100);
        let pt = rng.bytes(pt_len);
        let mut ct = pt.clone();
        let tag = key.seal(&nonce, &aad, &mut ct).unwrap();
        let mut opened = ct.clone();
        key.open(&nonce, &aad, &mut opened, &tag).unwrap();
        assert_eq!(opened, pt, "case {i}");

        // Every bit of ciphertext, tag and AAD (all of them for the first cases, a sample after).
        let total_bits = 8 * (ct.len() + tag.len() + aad.len() + nonce.len());
        let bits: Vec<usize> =
            if i < 10 { (0..total_bits).collect() } else { (0..16).map(|_| rng.below(total_bits)).collect() };
        for bit in bits {
            let (mut c, mut t, mut a, mut n) = (ct.clone(), tag, aad.clone(), nonce);
            let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
            if byte < c.len() {
                c[byte] ^= mask;
            } else if byte < c.len() + 16 {
                t[byte - c.len()] ^= mask;
            } else if byte < c.len() + 16 + a.len() {
                a[byte - c.len() - 16] ^= mask;
            } else {
                n[byte - c.len() - 16 - a.len()] ^= mask;
            }
            assert_eq!(key.open(&n, &a, &mut c, &t), Err(Error::DecryptionFailed), "case {i}, bit {bit}");
        }
        // A longer or shorter AAD fails too.
        let mut c = ct.clone();
        let mut longer = aad.clone();
        longer.push(0);
        assert_eq!(key.open(&nonce, &longer, &mut c, &tag), Err(Error::DecryptionFailed));
    }
}

#[test]
fn pkcs7_unpad_rejects_every_bad_padding() {
    for len in 0..=64usize {
        let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut padded = msg.clone();
        pkcs7_pad(&mut padded);
        assert_eq!(padded.len() % 16, 0);
        assert!(padded.len() > msg.len() && padded.len() <= msg.len() + 16);
        assert_eq!(pkcs7_unpad(&padded).unwrap(), &msg[..], "len {len}");
    }
    assert_eq!(pkcs7_unpad(&[]), Err(Error::DecryptionFailed));
    let mut rng = TestRng::new(7);
    for blocks in 1..=3 {
        let body = rng.bytes(16 * blocks);
        // Every value of the last byte: valid exactly for 1..=16 with matching pad bytes.
        for last in 0..=255u8 {
            let mut v = body.clone();
            let n = v.len();
            v[n - 1] = last;
            let valid_n = (1..=16).contains(&last) && v[n - last as usize..].iter().all(|&b| b == last);
            assert_eq!(pkcs7_unpad(&v).is_ok(), valid_n, "last byte {last}");
        }
        // Correct length byte, one wrong pad byte anywhere in the pad.
        for n in 2..=16usize {
            for wrong in 0..n - 1 {
                let mut v = body.clone();
                let len = v.len();
                v[len - n..].fill(n as u8);
                v[len - n + wrong] ^= 0x01;
                assert_eq!(pkcs7_unpad(&v), Err(Error::DecryptionFailed), "n {n}, byte {wrong}");
            }
        }
    }
    // Not a whole number of blocks.
    for len in (1..48).filter(|l| l % 16 != 0) {
        assert_eq!(pkcs7_unpad(&vec![1u8; len]), Err(Error::DecryptionFailed), "len {len}");
    }
}

#[test]
fn sm2_sign_verify_random_messages() {
    let rng_src = SeededRandom::new(0x534d32);
    let key = P.sm2.generate(&rng_src).unwrap();
    let other = P.sm2.generate(&rng_src).unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    let PublicKey::Sm2(other_public) = public_of(&*other) else { panic!() };
    let alice_id = b"ALICE123@YAHOO.COM";
    let alice = P.sm2.from_secret(&key.export().unwrap(), alice_id).unwrap();
    let mut rng = TestRng::new(1);
    for i in 0..60 {
        let len = rng.below(200);
        let msg = rng.bytes(len);
        let sig = key.sign(&msg).unwrap();
        P.sm2.verify(&public, DEFAULT_SM2_ID, &msg, &sig).unwrap();
        P.verify(&PublicKey::Sm2(public), SignatureScheme::Sm2Sm3, &msg, &sig).unwrap();
        assert_eq!(P.sm2.verify(&public, alice_id, &msg, &sig), Err(Error::BadSignature), "case {i}: wrong ID");
        assert_eq!(P.sm2.verify(&other_public, DEFAULT_SM2_ID, &msg, &sig), Err(Error::BadSignature));
        let mut changed = msg.clone();
        if changed.is_empty() {
            changed.push(0);
        } else {
            let j = rng.below(changed.len());
            changed[j] ^= 1 << rng.below(8);
        }
        assert_eq!(P.sm2.verify(&public, DEFAULT_SM2_ID, &changed, &sig), Err(Error::BadSignature));
        // The same key under another ID.
        let sig = alice.sign(&msg).unwrap();
        P.sm2.verify(&public, alice_id, &msg, &sig).unwrap();
        assert_eq!(P.sm2.verify(&public, DEFAULT_SM2_ID, &msg, &sig), Err(Error::BadSignature));
    }
    // RSA schemes do not apply to an SM2 key.
    let sig = key.sign(b"x").unwrap();
    assert!(P.verify(&PublicKey::Sm2(public), SignatureScheme::RsaPkcs1Sha256, b"x", &sig).is_err());
}

#[test]
fn sm2_signatures_are_hedged() {
    // RFC 6979 plus fresh randomness: two signatures of the same message differ, both verify.
    let key = P.sm2.generate(&SeededRandom::new(2)).unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    let (a, b) = (key.sign(b"same").unwrap(), key.sign(b"same").unwrap());
    assert_ne!(a, b);
    P.sm2.verify(&public, DEFAULT_SM2_ID, b"same", &a).unwrap();
    P.sm2.verify(&public, DEFAULT_SM2_ID, b"same", &b).unwrap();
}

#[test]
fn sm2_encrypt_decrypt_random_lengths_and_tampering() {
    let key = P.sm2.generate(&SeededRandom::new(3)).unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    let src = SeededRandom::new(4);
    let mut rng = TestRng::new(5);
    for i in 0..60 {
        let len = 1 + rng.below(300);
        let msg = rng.bytes(len);
        let der = P.sm2.encrypt(&public, &msg, &src).unwrap();
        assert_eq!(&key.decrypt(&der).unwrap()[..], &msg[..], "case {i}: {len} bytes");
        let mut ct = Sm2Ciphertext::from_der(&der).unwrap();
        assert_eq!(ct.c2.len(), len);
        // Flip one bit of C3 or C2: the check value catches it.
        if rng.below(2) == 0 {
            ct.c3[rng.below(32)] ^= 1 << rng.below(8);
        } else {
            let j = rng.below(len);
            ct.c2[j] ^= 1 << rng.below(8);
        }
        assert_eq!(key.decrypt(&ct.to_der()).unwrap_err(), Error::DecryptionFailed, "case {i}");
    }
    assert_eq!(P.sm2.encrypt(&public, b"", &src), Err(Error::InvalidLength));
    assert!(P.sm2.encrypt(&public, b"x", &common::FailingRandom).is_err());
    // Seeded generation is reproducible; different seeds give different keys.
    let a = P.sm2.generate(&SeededRandom::new(3)).unwrap();
    assert_eq!(public_of(&*a), PublicKey::Sm2(public));
    assert_ne!(public_of(&*P.sm2.generate(&SeededRandom::new(30)).unwrap()), PublicKey::Sm2(public));
    assert!(P.sm2.generate(&common::FailingRandom).is_err());
}

#[test]
fn rsa_sign_verify_encrypt_decrypt() {
    let rsa = P.rsa().unwrap();
    let key = rsa.from_pkcs1_der(&records("rsa.txt")[0].bytes("key")).unwrap();
    let PublicKey::Rsa(public) = public_of(&*key) else { panic!() };
    let other = P.rsa().unwrap().generate(2048, &SeededRandom::new(77)).unwrap();
    let PublicKey::Rsa(other_public) = public_of(&*other) else { panic!() };
    assert_eq!(other_public.bits(), 2048);
    let mut rng = TestRng::new(6);
    let src = SeededRandom::new(8);
    for i in 0..12 {
        let len = rng.below(300);
        let msg = rng.bytes(len);
        for scheme in [SignatureScheme::RsaPkcs1Sha256, SignatureScheme::RsaPkcs1Sm3] {
            let sig = key.sign_with(scheme, &msg).unwrap();
            assert_eq!(sig.len(), 256);
            rsa.verify(&public, scheme, &msg, &sig).unwrap();
            P.verify(&PublicKey::Rsa(public.clone()), scheme, &msg, &sig).unwrap();
            assert_eq!(rsa.verify(&other_public, scheme, &msg, &sig), Err(Error::BadSignature), "case {i}");
            let mut bad = sig.clone();
            bad[rng.below(256)] ^= 1 << rng.below(8);
            assert_eq!(rsa.verify(&public, scheme, &msg, &bad), Err(Error::BadSignature));
            assert_eq!(rsa.verify(&public, scheme, &msg, &sig[1..]), Err(Error::BadSignature));
        }
        // Encryption: up to k − 11 = 245 bytes.
        let len = 1 + rng.below(245);
        let msg = rng.bytes(len);
        let ct = rsa.encrypt(&public, &msg, &src).unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(&key.decrypt(&ct).unwrap()[..], &msg[..], "case {i}: {len} bytes");
        // A tampered block never yields the message. The rsa crate uses implicit rejection:
        // a bad padding gives a deterministic synthetic plaintext rather than an error.
        let mut bad = ct.clone();
        bad[rng.below(256)] ^= 1 << rng.below(8);
        match key.decrypt(&bad) {
            Ok(pt) => {
                assert_ne!(&pt[..], &msg[..]);
                assert_eq!(key.decrypt(&bad).unwrap()[..], pt[..], "implicit rejection is deterministic");
            }
            Err(e) => assert_eq!(e, Error::DecryptionFailed),
        }
        assert_eq!(key.decrypt(&ct[1..]).unwrap_err(), Error::DecryptionFailed);
    }
    assert_eq!(rsa.encrypt(&public, &[0; 246], &src), Err(Error::InvalidLength));
    // A public key that is not one.
    let junk = wearpay_crypto::RsaPublicKey { n: vec![], e: vec![1, 0, 1] };
    assert_eq!(rsa.verify(&junk, SignatureScheme::RsaPkcs1Sha256, b"m", &[0; 256]), Err(Error::InvalidPublicKey));
    assert!(rsa.encrypt(&junk, b"m", &src).is_err());
    assert!(rsa.generate(1024, &src).is_err());
    assert!(rsa.from_pkcs1_der(&[0x30, 0x00]).is_err());
}

#[test]
fn ct_eq_is_equality() {
    let mut rng = TestRng::new(9);
    for _ in 0..500 {
        let len = rng.below(40);
        let a = rng.bytes(len);
        let mut b = a.clone();
        assert!(ct_eq(&a, &b));
        if !b.is_empty() && rng.below(2) == 0 {
            let j = rng.below(b.len());
            b[j] ^= 1 << rng.below(8);
            assert!(!ct_eq(&a, &b));
        } else {
            b.push(0);
            assert!(!ct_eq(&a, &b));
        }
    }
}

#[test]
fn provider_shape() {
    assert_eq!(P.name, "rustcrypto");
    let caps = P.capabilities();
    assert!(caps.sm2 && caps.sm3 && caps.sm4 && caps.rsa && !caps.sm1);
    assert_eq!(P.hash(HashAlgorithm::Sm3).algorithm(), HashAlgorithm::Sm3);
    assert_eq!(P.hash(HashAlgorithm::Sha256).algorithm(), HashAlgorithm::Sha256);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    P.fill_random(&mut a).unwrap();
    P.fill_random(&mut b).unwrap();
    assert_ne!(a, b);
    assert_eq!(format!("{:?}", P.sm3.hash(b"abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    assert_eq!(format!("{:?}", P.hmac(HashAlgorithm::Sm3, b"k")), "HmacKey(..)");
}

#[test]
fn sm2_verify_rejects_out_of_range_scalars() {
    // GB/T 32918.2 §7.1 B1/B2: r and s must lie in [1, n − 1].
    let n = common::unhex_array::<32>("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123");
    let key = P.sm2.generate(&SeededRandom::new(10)).unwrap();
    let PublicKey::Sm2(public) = public_of(&*key) else { panic!() };
    let (r, s) = wearpay_crypto::sm2::signature_from_der(&key.sign(b"m").unwrap()).unwrap();
    let mut n_plus_1 = n;
    n_plus_1[31] += 1;
    let mut n_plus_r = [0u8; 32]; // r + n, the same residue: must still be refused
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let v = u16::from(r[i]) + u16::from(n[i]) + carry;
        n_plus_r[i] = v as u8;
        carry = v >> 8;
    }
    let mut bad = vec![[0u8; 32], n, n_plus_1, [0xff; 32]];
    if carry == 0 {
        bad.push(n_plus_r);
    }
    for v in bad {
        for sig in [wearpay_crypto::sm2::signature_to_der(&v, &s), wearpay_crypto::sm2::signature_to_der(&r, &v)] {
            assert_eq!(P.sm2.verify(&public, DEFAULT_SM2_ID, b"m", &sig), Err(Error::BadSignature));
        }
    }
    P.sm2.verify(&public, DEFAULT_SM2_ID, b"m", &wearpay_crypto::sm2::signature_to_der(&r, &s)).unwrap();
}
