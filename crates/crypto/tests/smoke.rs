//! Round trips through the portable provider's public interface.
#![allow(clippy::unwrap_used)]

use wearpay_crypto::{PublicKey, SignatureScheme, portable::PROVIDER as P};

#[test]
fn sm2_sign_verify_encrypt_decrypt_round_trip() {
    let key = P.sm2.generate(P.random).unwrap();
    let sig = key.sign(b"hello").unwrap();
    let public = wearpay_crypto::SigningKey::public_key(&*key);
    P.verify(&public, SignatureScheme::Sm2Sm3, b"hello", &sig).unwrap();
    assert!(P.verify(&public, SignatureScheme::Sm2Sm3, b"hellO", &sig).is_err());
    let ct = P.encrypt(&public, b"pre-master secret").unwrap();
    assert_eq!(&key.decrypt(&ct).unwrap()[..], b"pre-master secret");
    let scalar = key.export().unwrap();
    let again = P.sm2.from_secret(&scalar, wearpay_crypto::DEFAULT_SM2_ID).unwrap();
    assert_eq!(wearpay_crypto::SigningKey::public_key(&*again), public);
    assert!(matches!(public, PublicKey::Sm2(_)));
}

#[test]
fn rsa_sign_verify_encrypt_decrypt_round_trip() {
    let rsa = P.rsa.unwrap();
    let key = rsa.generate(2048, P.random).unwrap();
    let public = wearpay_crypto::SigningKey::public_key(&*key);
    let sig = key.sign(b"hello").unwrap();
    P.verify(&public, SignatureScheme::RsaPkcs1Sha256, b"hello", &sig).unwrap();
    assert!(P.verify(&public, SignatureScheme::RsaPkcs1Sha256, b"hellx", &sig).is_err());
    let ct = P.encrypt(&public, b"pms").unwrap();
    assert_eq!(&key.decrypt(&ct).unwrap()[..], b"pms");
    let again = rsa.from_pkcs1_der(&key.export().unwrap()).unwrap();
    assert_eq!(wearpay_crypto::SigningKey::public_key(&*again), public);
}
