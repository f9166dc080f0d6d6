//! Private and public key files: every format we write reads back, wrong passwords and
//! broken files give typed errors.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use wearpay_crypto::{KeyAlgorithm, PrivateKey};
use wearpay_pki::{
    DecodeErrorKind, Error, KeyEncryption, Pbes2Cipher, Pbes2Prf, keys, load_private_key, private_key_to_pem,
    public_key_from_spki, public_key_to_spki,
};

const FAST: u32 = 1000;

fn all_encryptions() -> Vec<KeyEncryption> {
    let mut v = Vec::new();
    for cipher in [Pbes2Cipher::Aes256Cbc, Pbes2Cipher::Sm4Cbc] {
        for prf in [Pbes2Prf::HmacSha256, Pbes2Prf::HmacSm3] {
            v.push(KeyEncryption { cipher, prf, iterations: FAST });
        }
    }
    v
}

fn same_key(a: &dyn PrivateKey, b: &dyn PrivateKey) {
    assert_eq!(pk(a), pk(b));
    // And it signs something the other's public key verifies.
    let sig = b.sign(b"msg").unwrap();
    P.verify(&pk(a), b.scheme(), b"msg", &sig).unwrap();
}

fn round_trips(alg: KeyAlgorithm) {
    let k = cached_key(alg, 5);
    let plain = private_key_to_pem(P, &*k, None).unwrap();
    assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    same_key(&*k, &*load_private_key(P, plain.as_bytes(), None).unwrap());
    // DER too.
    let der = wearpay_pki::private_key_to_pkcs8(&*k).unwrap();
    same_key(&*k, &*load_private_key(P, &der, None).unwrap());
    for how in all_encryptions() {
        let enc = private_key_to_pem(P, &*k, Some((b"correct horse", &how))).unwrap();
        assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{how:?}");
        same_key(&*k, &*load_private_key(P, enc.as_bytes(), Some(b"correct horse")).unwrap());
        assert_eq!(load_private_key(P, enc.as_bytes(), Some(b"wrong horse")).unwrap_err(), Error::WrongPassword);
        assert_eq!(load_private_key(P, enc.as_bytes(), None).unwrap_err(), Error::PasswordRequired);
    }
}

#[test]
fn sm2_keys_round_trip_plain_and_encrypted() {
    round_trips(SM2);
}

#[test]
fn rsa_keys_round_trip_plain_and_encrypted() {
    round_trips(RSA);
}

#[test]
fn wrong_password_never_loads_across_many_passwords() {
    // A wrong password may, about once in 256 tries, give valid padding; the key must
    // still not load.
    let k = cached_key(SM2, 5);
    let how = KeyEncryption { iterations: 1, ..KeyEncryption::OPENSSL };
    let enc = private_key_to_pem(P, &*k, Some((b"right", &how))).unwrap();
    for i in 0..600 {
        let pw = format!("wrong{i}");
        assert_eq!(load_private_key(P, enc.as_bytes(), Some(pw.as_bytes())).unwrap_err(), Error::WrongPassword);
    }
}

#[test]
fn sec1_and_pkcs1_load() {
    // SEC1 built from the PKCS#8 inner structure of an SM2 key.
    let k = cached_key(SM2, 5);
    let scalar = k.export().unwrap();
    let pubkey = pk(&*k);
    let wearpay_crypto::PublicKey::Sm2(point) = pubkey else { panic!() };
    let mut inner = vec![0x02, 0x01, 0x01, 0x04, 0x20];
    inner.extend_from_slice(&scalar);
    inner.extend_from_slice(&[0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d]);
    inner.extend_from_slice(&[0xa1, 0x44, 0x03, 0x42, 0x00]);
    inner.extend_from_slice(point.as_sec1());
    assert!(inner.len() < 128);
    let mut sec1 = vec![0x30, inner.len() as u8];
    sec1.extend_from_slice(&inner);
    let pem = wearpay_pki::pem::encode("EC PRIVATE KEY", &sec1);
    same_key(&*k, &*load_private_key(P, pem.as_bytes(), None).unwrap());
    // With an EC PARAMETERS block before it, as `openssl ecparam -genkey` writes.
    let params =
        wearpay_pki::pem::encode("EC PARAMETERS", &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d]);
    let both = format!("{params}{pem}");
    same_key(&*k, &*load_private_key(P, both.as_bytes(), None).unwrap());
    // A wrong public key inside is refused.
    let mut bad = sec1.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(load_private_key(P, &bad, None), Err(Error::Decode(_))));

    let r = cached_key(RSA, 5);
    let pkcs1 = r.export().unwrap();
    let pem = wearpay_pki::pem::encode("RSA PRIVATE KEY", &pkcs1);
    same_key(&*r, &*load_private_key(P, pem.as_bytes(), None).unwrap());
}

#[test]
fn spki_round_trips() {
    for alg in [SM2, RSA] {
        let k = cached_key(alg, 5);
        let spki = public_key_to_spki(&pk(&*k)).unwrap();
        assert_eq!(public_key_from_spki(&spki).unwrap(), pk(&*k));
    }
    // The SM2 OID as the algorithm itself (some tools write it) is accepted.
    let k = cached_key(SM2, 5);
    let wearpay_crypto::PublicKey::Sm2(point) = pk(&*k) else { panic!() };
    let mut body = vec![0x30, 0x0a, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03, 0x42, 0x00];
    body.extend_from_slice(point.as_sec1());
    let mut spki = vec![0x30, body.len() as u8];
    spki.extend_from_slice(&body);
    assert_eq!(public_key_from_spki(&spki).unwrap(), pk(&*k));
    // A P-256 key is not ours.
    let mut p256 = spki.clone();
    let pos = p256.windows(8).position(|w| w == [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d]).unwrap();
    p256[pos..pos + 8].copy_from_slice(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
    assert!(matches!(public_key_from_spki(&p256), Err(Error::UnsupportedAlgorithm(_))));
}

#[test]
fn broken_key_files_are_decode_errors() {
    let k = cached_key(SM2, 5);
    let pem = private_key_to_pem(P, &*k, None).unwrap();
    let der = wearpay_pki::private_key_to_pkcs8(&*k).unwrap();
    // Truncated DER.
    let err = load_private_key(P, &der[..der.len() - 3], None).unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err}");
    // Trailing garbage after DER.
    let mut long = der.to_vec();
    long.extend_from_slice(b"junk");
    assert!(matches!(load_private_key(P, &long, None).unwrap_err(), Error::Decode(_)));
    // PEM cut short: no END line.
    let cut = &pem[..pem.len() - 20];
    let err = load_private_key(P, cut.as_bytes(), None).unwrap_err();
    assert!(matches!(&err, Error::Decode(e) if e.kind == DecodeErrorKind::Truncated), "{err}");
    // Garbage after the END line.
    let err = load_private_key(P, format!("{}garbage\n", *pem).as_bytes(), None).unwrap_err();
    assert!(matches!(&err, Error::Decode(e) if e.kind == DecodeErrorKind::TrailingData), "{err}");
    // A certificate is not a key.
    let pki = Pki::new(SM2);
    let err = load_private_key(P, pki.root.to_pem().as_bytes(), None).unwrap_err();
    assert!(matches!(&err, Error::Decode(e) if matches!(e.kind, DecodeErrorKind::UnexpectedLabel { .. })), "{err}");
    // Legacy OpenSSL encryption is named.
    let legacy = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
    assert!(matches!(load_private_key(P, legacy.as_bytes(), None), Err(Error::UnsupportedAlgorithm(_))));
}

#[test]
fn corrupted_ciphertext_is_wrong_password_or_decode_error() {
    let k = cached_key(SM2, 5);
    let how = KeyEncryption { iterations: 1, ..KeyEncryption::SHANGMI };
    let enc = private_key_to_pem(P, &*k, Some((b"pw", &how))).unwrap();
    let block = wearpay_pki::pem::decode_one(enc.as_bytes(), &["ENCRYPTED PRIVATE KEY"], "key").unwrap();
    let mut der = block.der.to_vec();
    let n = der.len();
    der[n - 20] ^= 0x55;
    let err = keys::load_encrypted_pkcs8(P, &der, b"pw").unwrap_err();
    assert_eq!(err, Error::WrongPassword);
}
