//! SM2 of this crate against the portable (RustCrypto) provider on thousands of random keys
//! and messages: the same public keys, and each side's signatures and ciphertexts accepted
//! by the other.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use common::Rng;
use wearpay_crypto::{DEFAULT_SM2_ID, Error, PrivateKey, PublicKey, Sm2PublicKey, portable::PROVIDER as P};
use wearpay_shangmi::PROVIDER as S;

fn sm2_public(key: &dyn PrivateKey) -> Sm2PublicKey {
    match wearpay_crypto::SigningKey::public_key(key) {
        PublicKey::Sm2(k) => k,
        PublicKey::Rsa(_) => panic!("not SM2"),
    }
}

const ROUNDS: usize = 2000;

#[test]
fn keys_signatures_and_ciphertexts_agree_with_the_portable_provider() {
    let mut rng = Rng::new(0x5172);
    for i in 0..ROUNDS {
        let scalar = rng.bytes(32);
        let id_len = rng.below(40);
        let id = if i % 3 == 0 { DEFAULT_SM2_ID.to_vec() } else { rng.bytes(id_len) };
        let ours = S.sm2.from_secret(&scalar, &id);
        let theirs = P.sm2.from_secret(&scalar, &id);
        let (ours, theirs) = match (ours, theirs) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => {
                assert_eq!(a.err(), b.err(), "round {i}: key acceptance differs");
                continue;
            }
        };
        let public = sm2_public(&*ours);
        assert_eq!(public, sm2_public(&*theirs), "round {i}: public key");
        assert_eq!(ours.export().unwrap(), theirs.export().unwrap());

        let random_len = rng.below(600);
        let len = [0, 1, 32, 100, random_len][i % 5];
        let msg = rng.bytes(len);
        // Signatures, both ways.
        let sig = ours.sign(&msg).unwrap();
        P.sm2.verify(&public, &id, &msg, &sig).unwrap_or_else(|e| panic!("round {i}: portable rejects ours: {e}"));
        S.sm2.verify(&public, &id, &msg, &sig).unwrap();
        let sig = theirs.sign(&msg).unwrap();
        S.sm2.verify(&public, &id, &msg, &sig).unwrap_or_else(|e| panic!("round {i}: we reject portable's: {e}"));
        // A changed message or signature: both refuse.
        let mut other = msg.clone();
        other.push(1);
        assert_eq!(S.sm2.verify(&public, &id, &other, &sig), Err(Error::BadSignature));
        let mut bad = sig.clone();
        let at = 4 + rng.below(bad.len() - 4);
        bad[at] ^= 1 << rng.below(8);
        assert_eq!(
            S.sm2.verify(&public, &id, &msg, &bad).is_ok(),
            P.sm2.verify(&public, &id, &msg, &bad).is_ok(),
            "round {i}: tampered signature"
        );

        // Encryption, both ways (every fourth round: the portable provider is slow).
        if i % 4 == 0 {
            let msg = if msg.is_empty() { vec![0x42] } else { msg };
            let ct = S.sm2.encrypt(&public, &msg, S.random).unwrap();
            assert_eq!(&theirs.decrypt(&ct).unwrap()[..], &msg[..], "round {i}: portable decrypts ours");
            let ct = P.sm2.encrypt(&public, &msg, P.random).unwrap();
            assert_eq!(&ours.decrypt(&ct).unwrap()[..], &msg[..], "round {i}: we decrypt portable's");
            let mut bad = ct.clone();
            let at = bad.len() - 1 - rng.below(msg.len().min(bad.len() - 1));
            bad[at] ^= 1;
            assert_eq!(ours.decrypt(&bad).is_ok(), theirs.decrypt(&bad).is_ok(), "round {i}: tampered ciphertext");
        }
    }
}

#[test]
fn generation_draws_the_same_keys() {
    // Both providers sample a scalar from 32 random bytes with the same rejection rule, so a
    // pinned source gives both the same key.
    struct Seeded(std::sync::Mutex<Rng>);
    impl std::fmt::Debug for Seeded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Seeded")
        }
    }
    impl wearpay_crypto::SecureRandom for Seeded {
        fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
            self.0.lock().unwrap().fill(dest);
            Ok(())
        }
    }
    for seed in 0..50 {
        let a = S.sm2.generate(&Seeded(std::sync::Mutex::new(Rng::new(seed)))).unwrap();
        let b = P.sm2.generate(&Seeded(std::sync::Mutex::new(Rng::new(seed)))).unwrap();
        assert_eq!(a.export().unwrap(), b.export().unwrap());
        assert_eq!(sm2_public(&*a), sm2_public(&*b));
    }
}

#[test]
fn point_validation_agrees() {
    let mut rng = Rng::new(0xba5e);
    for i in 0..3000 {
        let mut sec1 = [0u8; 65];
        sec1[0] = 4;
        if i % 2 == 0 {
            // A valid point with a flipped bit now and then.
            let key = P.sm2.from_secret(&rng.bytes(32), DEFAULT_SM2_ID);
            let Ok(key) = key else { continue };
            sec1 = *sm2_public(&*key).as_sec1();
            if i % 4 == 0 {
                sec1[1 + rng.below(64)] ^= 1 << rng.below(8);
            }
        } else {
            rng.fill(&mut sec1[1..]);
        }
        let public = Sm2PublicKey::from_sec1(&sec1).unwrap();
        assert_eq!(S.sm2.validate(&public), P.sm2.validate(&public), "case {i}: {}", hex::encode(sec1));
    }
}

/// Keys prepared at their first verification are kept, and get the split tables from their
/// third (see `sm2::prepared`): a key seen again, under its own ID or another, with good
/// and bad signatures, before and after, gives exactly the portable provider's answers, and
/// a point off the curve is refused every time.
#[test]
fn a_key_verified_again_gives_the_same_answers() {
    let mut rng = Rng::new(0x5173);
    for round in 0..50 {
        let scalar = rng.bytes(32);
        let id_len = 1 + rng.below(20);
        let other_id = rng.bytes(id_len);
        let (Ok(default), Ok(other)) =
            (S.sm2.from_secret(&scalar, DEFAULT_SM2_ID), S.sm2.from_secret(&scalar, &other_id))
        else {
            continue;
        };
        let public = sm2_public(&*default);
        let msg_len = rng.below(100);
        let msg = rng.bytes(msg_len);
        let by_default = default.sign(&msg).unwrap();
        let by_other = other.sign(&msg).unwrap();
        let mut bad = by_default.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        // Several times each, in an order that warms the map with either ID first.
        for _ in 0..3 {
            let cases: [(&[u8], &[u8], &[u8]); 5] = if round % 2 == 0 {
                [
                    (DEFAULT_SM2_ID, &msg, &by_default),
                    (&other_id, &msg, &by_other),
                    (DEFAULT_SM2_ID, &msg, &by_other),
                    (&other_id, &msg, &by_default),
                    (DEFAULT_SM2_ID, &msg, &bad),
                ]
            } else {
                [
                    (&other_id, &msg, &by_other),
                    (DEFAULT_SM2_ID, &msg, &by_default),
                    (&other_id, &msg, &by_default),
                    (DEFAULT_SM2_ID, b"another message", &by_default),
                    (DEFAULT_SM2_ID, &msg, &bad),
                ]
            };
            for (i, (id, m, sig)) in cases.into_iter().enumerate() {
                assert_eq!(
                    S.sm2.verify(&public, id, m, sig).is_ok(),
                    P.sm2.verify(&public, id, m, sig).is_ok(),
                    "round {round}, case {i}"
                );
            }
            assert!(S.sm2.verify(&public, DEFAULT_SM2_ID, &msg, &by_default).is_ok());
            assert!(S.sm2.verify(&public, &other_id, &msg, &by_other).is_ok());
        }
    }
    // Off the curve: refused, and never kept.
    let mut sec1 = [0u8; 65];
    sec1[0] = 4;
    sec1[64] = 1;
    let off = Sm2PublicKey::from_sec1(&sec1).unwrap();
    for _ in 0..3 {
        assert_eq!(
            S.sm2.verify(&off, DEFAULT_SM2_ID, b"m", &[0x30, 0x06, 2, 1, 1, 2, 1, 1]),
            Err(Error::InvalidPublicKey)
        );
    }
}

/// A key encrypted to again and again gets its comb after a few dozen encryptions (see
/// `sm2::prepared`): every ciphertext, before and after, decrypts under the portable
/// provider, for two keys used in turn.
#[test]
fn a_key_encrypted_to_again_gives_ciphertexts_the_portable_provider_decrypts() {
    let mut rng = Rng::new(0x5174);
    let keys: Vec<_> = (0..2).map(|_| P.sm2.from_secret(&rng.bytes(32), DEFAULT_SM2_ID).unwrap()).collect();
    let mut seen = std::collections::HashSet::new();
    for i in 0..120 {
        let key = &keys[i % 2];
        let public = sm2_public(&**key);
        let len = 1 + rng.below(100);
        let msg = rng.bytes(len);
        let ct = S.sm2.encrypt(&public, &msg, S.random).unwrap();
        assert_eq!(&key.decrypt(&ct).unwrap()[..], &msg[..], "encryption {i}");
        // C1 is fresh each time.
        assert!(seen.insert(ct[..80].to_vec()), "encryption {i} repeats a C1");
    }
}
