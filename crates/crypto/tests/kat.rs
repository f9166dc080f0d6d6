//! Known-answer tests against the published vectors in `tests/data/`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{FixedRandom, hex, public_of, records, unhex_array};
use wearpay_crypto::{
    Error, GCM_TAG_LEN, HashAlgorithm, PublicKey, SignatureScheme, Sm2Ciphertext, Sm2PublicKey, hmac, pbkdf2_hmac,
    portable::PROVIDER as P,
    sm2::{message_digest, signature_from_der, signature_to_der, z_value},
};

fn alg(name: &str) -> HashAlgorithm {
    match name {
        "SM3" => HashAlgorithm::Sm3,
        "SHA256" => HashAlgorithm::Sha256,
        other => panic!("unknown hash {other}"),
    }
}

#[test]
fn hash_known_answers() {
    for r in records("hash.txt") {
        let h = P.hash(alg(r.text("alg")));
        let msg = r.bytes("msg");
        let md = r.bytes("md");
        assert_eq!(hex(h.hash(&msg).as_ref()), hex(&md), "line {}: one-shot", r.line);

        // Byte by byte, forking half way: the fork and the original both finish correctly.
        let mut ctx = h.start();
        let half = msg.len() / 2;
        for b in &msg[..half] {
            ctx.update(core::slice::from_ref(b));
        }
        let mut fork = ctx.fork();
        ctx.update(&msg[half..]);
        fork.update(&msg[half..]);
        assert_eq!(hex(ctx.finish().as_ref()), hex(&md), "line {}: incremental", r.line);
        assert_eq!(hex(fork.finish().as_ref()), hex(&md), "line {}: fork", r.line);
        assert_eq!(h.algorithm().output_len(), md.len());
    }
}

#[test]
fn hmac_known_answers() {
    for r in records("hmac.txt") {
        let a = alg(r.text("alg"));
        let (key, msg, mac) = (r.bytes("key"), r.bytes("msg"), r.bytes("mac"));
        let tag = P.hmac(a, &key).sign(&[&msg]);
        assert_eq!(hex(&tag.as_ref()[..mac.len()]), hex(&mac), "line {}", r.line);

        // Split into parts, and incrementally through start/finish.
        let k = hmac(P.hash(a), &key);
        let (x, y) = msg.split_at(msg.len() / 3);
        assert_eq!(k.sign(&[x, y]), tag, "line {}: parts", r.line);
        let mut ctx = k.start();
        ctx.update(x);
        ctx.update(y);
        assert_eq!(k.finish(ctx), tag, "line {}: start/finish", r.line);
        // The key is reusable.
        assert_eq!(k.sign(&[&msg]), tag, "line {}: reuse", r.line);
    }
}

#[test]
fn pbkdf2_known_answers() {
    for r in records("pbkdf2.txt") {
        let h = P.hash(alg(r.text("alg")));
        let dk = r.bytes("dk");
        let mut out = vec![0u8; dk.len()];
        let iter = u32::try_from(r.num("iter")).unwrap();
        pbkdf2_hmac(h, &r.bytes("pass"), &r.bytes("salt"), iter, &mut out);
        assert_eq!(hex(&out), hex(&dk), "line {}", r.line);
        // A shorter output is a prefix (the last block is truncated, not re-derived).
        let mut short = vec![0u8; dk.len() - 7];
        pbkdf2_hmac(h, &r.bytes("pass"), &r.bytes("salt"), iter, &mut short);
        assert_eq!(hex(&short), hex(&dk[..dk.len() - 7]), "line {}: truncated", r.line);
    }
}

#[test]
fn sm4_known_answers() {
    for r in records("sm4.txt") {
        let key = P.sm4_cbc.new_key(&r.bytes("key")).unwrap();
        let pt = r.bytes("pt");
        let ct = r.bytes("ct");
        let iv: [u8; 16] = if r.has("iv") { unhex_array(r.text("iv")) } else { [0; 16] };
        match r.text("mode") {
            "ECB" => {
                // CBC with a zero IV on one block is ECB; the key schedule is reused every call.
                let rounds = if r.has("iterations") { r.num("iterations") } else { 1 };
                let mut block = pt.clone();
                for _ in 0..rounds {
                    key.encrypt(&[0; 16], &mut block).unwrap();
                }
                assert_eq!(hex(&block), hex(&ct), "line {}", r.line);
                for _ in 0..rounds.min(1000) {
                    key.decrypt(&[0; 16], &mut block).unwrap();
                }
                if rounds == 1 {
                    assert_eq!(hex(&block), hex(&pt), "line {}: decrypt", r.line);
                }
            }
            "CBC" => {
                let mut buf = pt.clone();
                key.encrypt(&iv, &mut buf).unwrap();
                assert_eq!(hex(&buf), hex(&ct), "line {}: encrypt", r.line);
                key.decrypt(&iv, &mut buf).unwrap();
                assert_eq!(hex(&buf), hex(&pt), "line {}: decrypt", r.line);
            }
            other => panic!("mode {other}"),
        }
    }
    assert_eq!(P.sm4_cbc.key_len(), 16);
    assert!(matches!(P.sm4_cbc.new_key(&[0; 15]), Err(Error::InvalidLength)));
    assert!(matches!(P.sm4_cbc.new_key(&[0; 17]), Err(Error::InvalidLength)));
}

#[test]
fn sm4_gcm_rfc8998() {
    for r in records("sm4_gcm.txt") {
        let key = P.sm4_gcm.new_key(&r.bytes("key")).unwrap();
        let nonce = unhex_array(r.text("iv"));
        let aad = r.bytes("aad");
        let (pt, ct) = (r.bytes("pt"), r.bytes("ct"));
        let tag: [u8; GCM_TAG_LEN] = unhex_array(r.text("tag"));

        let mut buf = pt.clone();
        assert_eq!(key.seal(&nonce, &aad, &mut buf).unwrap(), tag, "line {}: tag", r.line);
        assert_eq!(hex(&buf), hex(&ct), "line {}: ciphertext", r.line);
        key.open(&nonce, &aad, &mut buf, &tag).unwrap();
        assert_eq!(buf, pt, "line {}: open", r.line);

        let mut bad = tag;
        bad[15] ^= 1;
        let mut buf = ct.clone();
        assert_eq!(key.open(&nonce, &aad, &mut buf, &bad), Err(Error::DecryptionFailed));
        let mut buf = ct.clone();
        buf[0] ^= 0x80;
        assert_eq!(key.open(&nonce, &aad, &mut buf, &tag), Err(Error::DecryptionFailed));
        let mut buf = ct.clone();
        assert_eq!(key.open(&nonce, &aad[1..], &mut buf, &tag), Err(Error::DecryptionFailed));
    }
    assert!(matches!(P.sm4_gcm.new_key(&[0; 32]), Err(Error::InvalidLength)));
}

fn sm2_example(kind: &str) -> common::Record {
    records("sm2.txt").into_iter().find(|r| r.text("example") == kind).unwrap()
}

#[test]
fn sm2_signature_example() {
    let r = sm2_example("sign");
    let (id, msg) = (r.bytes("id"), r.bytes("msg"));
    let public = Sm2PublicKey::from_sec1(&r.bytes("public")).unwrap();
    P.sm2.validate(&public).unwrap();

    // The private key yields the published public key.
    let key = P.sm2.from_secret(&r.bytes("d"), &id).unwrap();
    assert_eq!(public_of(&*key), PublicKey::Sm2(public));
    assert_eq!(hex(&key.export().unwrap()), hex(&r.bytes("d")));

    // Z and e.
    assert_eq!(hex(z_value(P.sm3, &id, &public).unwrap().as_ref()), hex(&r.bytes("z")));
    assert_eq!(hex(message_digest(P.sm3, &id, &public, &msg).unwrap().as_ref()), hex(&r.bytes("e")));

    // The published signature verifies; any change to it, the message or the ID does not.
    let (rr, ss): ([u8; 32], [u8; 32]) = (unhex_array(r.text("r")), unhex_array(r.text("s")));
    let sig = signature_to_der(&rr, &ss);
    P.sm2.verify(&public, &id, &msg, &sig).unwrap();
    P.verify(&PublicKey::Sm2(public), SignatureScheme::Sm2Sm3, &msg, &sig).unwrap();
    assert_eq!(P.sm2.verify(&public, &id, b"message digesT", &sig), Err(Error::BadSignature));
    assert_eq!(P.sm2.verify(&public, b"1234567812345679", &msg, &sig), Err(Error::BadSignature));
    let mut r2 = rr;
    r2[31] ^= 1;
    assert_eq!(P.sm2.verify(&public, &id, &msg, &signature_to_der(&r2, &ss)), Err(Error::BadSignature));
    let mut s2 = ss;
    s2[0] ^= 0x40;
    assert_eq!(P.sm2.verify(&public, &id, &msg, &signature_to_der(&rr, &s2)), Err(Error::BadSignature));

    // Our own signature verifies. It cannot equal the published one: the portable provider
    // derives k by RFC 6979 (hedged with fresh randomness), and `SigningKey::sign` takes no
    // random source through which the published k could be injected.
    let ours = key.sign(&msg).unwrap();
    P.sm2.verify(&public, &id, &msg, &ours).unwrap();
    assert_ne!(signature_from_der(&ours).unwrap(), (rr, ss));
}

#[test]
fn sm2_encryption_example() {
    let r = sm2_example("encrypt");
    let msg = r.bytes("msg");
    let public = Sm2PublicKey::from_sec1(&r.bytes("public")).unwrap();
    let mut raw = r.bytes("c1");
    raw.extend(r.bytes("c3"));
    raw.extend(r.bytes("c2"));
    let der = Sm2Ciphertext::from_c1c3c2(&raw).unwrap().to_der();

    // Decrypting the published ciphertext gives the message.
    let key = P.sm2.from_secret(&r.bytes("d"), wearpay_crypto::DEFAULT_SM2_ID).unwrap();
    assert_eq!(&key.decrypt(&der).unwrap()[..], &msg[..]);

    // The sm2 crate draws k as 32 big-endian bytes from the generator and rejects values
    // outside [1, n-1]; a source that returns the published k therefore reproduces the
    // published ciphertext byte for byte.
    let k = FixedRandom(r.bytes("k"));
    let ours = P.sm2.encrypt(&public, &msg, &k).unwrap();
    assert_eq!(hex(&ours), hex(&der));
    assert_eq!(hex(&Sm2Ciphertext::from_der(&ours).unwrap().to_c1c3c2()), hex(&raw));

    // A wrong check value fails.
    let mut bad = raw.clone();
    bad[65] ^= 1;
    let bad = Sm2Ciphertext::from_c1c3c2(&bad).unwrap().to_der();
    assert_eq!(key.decrypt(&bad).unwrap_err(), Error::DecryptionFailed);
}

#[test]
fn rsa_known_answers() {
    let r = &records("rsa.txt")[0];
    let rsa = P.rsa().unwrap();
    let der = r.bytes("key");
    let key = rsa.from_pkcs1_der(&der).unwrap();
    assert_eq!(hex(&key.export().unwrap()), hex(&der), "PKCS#1 export round trip");
    let msg = r.bytes("msg");
    let PublicKey::Rsa(public) = public_of(&*key) else { panic!("not RSA") };
    assert_eq!(public.bits(), 2048);
    assert_eq!(public.e, [1, 0, 1]);

    let sha = r.bytes("sig_sha256");
    assert_eq!(key.scheme(), SignatureScheme::RsaPkcs1Sha256);
    assert_eq!(hex(&key.sign(&msg).unwrap()), hex(&sha));
    rsa.verify(&public, SignatureScheme::RsaPkcs1Sha256, &msg, &sha).unwrap();

    let sm3 = r.bytes("sig_sm3");
    assert_eq!(hex(&key.sign_with(SignatureScheme::RsaPkcs1Sm3, &msg).unwrap()), hex(&sm3));
    rsa.verify(&public, SignatureScheme::RsaPkcs1Sm3, &msg, &sm3).unwrap();

    // Each signature is bound to its hash.
    assert_eq!(rsa.verify(&public, SignatureScheme::RsaPkcs1Sm3, &msg, &sha), Err(Error::BadSignature));
    assert_eq!(rsa.verify(&public, SignatureScheme::RsaPkcs1Sha256, &msg, &sm3), Err(Error::BadSignature));
    assert!(key.sign_with(SignatureScheme::Sm2Sm3, &msg).is_err());
    assert!(rsa.verify(&public, SignatureScheme::Sm2Sm3, &msg, &sha).is_err());
}
