//! The software secure element's sealed file: it round-trips, refuses every alteration with
//! the right error, never reuses a counter value across reopening, and keeps its key sealed.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use wearpay_crypto::{KeyAlgorithm, PublicKey, SigningKey, portable::PROVIDER};
use wearpay_pay::{OrderId, Timestamp, TxId};
use wearpay_pki::private_key_to_pkcs8;
use wearpay_terminal::{Error, PendingRequest, SecureElement, SettledPayment, SoftSe};

const SECRET: &[u8] = b"device secret";

fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("band.se");
    (dir, path)
}

/// A state with a key, a counter, a floor, a pending request and a settled payment.
fn populated(path: &std::path::Path) -> (PublicKey, TxId) {
    let mut se = SoftSe::create_with_iterations(path, SECRET, 1_000).unwrap();
    let public = se.generate_key(KeyAlgorithm::Sm2).unwrap();
    se.next_counter().unwrap();
    se.next_counter().unwrap();
    let pending = TxId([1; 16]);
    se.store_pending(PendingRequest {
        tx_id: pending,
        order_id: OrderId::new("ORD-1").unwrap(),
        request: vec![0xa1, 0, 1],
    })
    .unwrap();
    se.store_pending(PendingRequest {
        tx_id: TxId([2; 16]),
        order_id: OrderId::new("ORD-2").unwrap(),
        request: vec![0xa1, 0, 2],
    })
    .unwrap();
    se.settle(SettledPayment { tx_id: TxId([2; 16]), request: vec![1], response: vec![2] }, Some(Timestamp(1_800)))
        .unwrap();
    (public, pending)
}

#[test]
fn the_state_round_trips_through_the_file() {
    let (_dir, path) = fresh();
    let (public, pending) = populated(&path);

    let se = SoftSe::open(&path, SECRET).unwrap();
    assert_eq!(se.public_key().unwrap(), public);
    assert_eq!(se.counter().0, 2);
    assert_eq!(se.time_floor(), Timestamp(1_800));
    let p = se.pending();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].tx_id, p[0].order_id.as_str(), p[0].request.as_slice()), (pending, "ORD-1", &[0xa1, 0, 1][..]));
    assert_eq!(se.settled(), vec![SettledPayment { tx_id: TxId([2; 16]), request: vec![1], response: vec![2] }]);

    // The reopened key signs, and the signature verifies with the public key from before.
    let sig = se.signing_key().unwrap().sign(b"hello").unwrap();
    PROVIDER.verify(&public, se.signing_key().unwrap().scheme(), b"hello", &sig).unwrap();
    // A lower center time does not lower the floor.
    let mut se = se;
    se.settle(SettledPayment { tx_id: TxId([3; 16]), request: vec![], response: vec![] }, Some(Timestamp(5))).unwrap();
    assert_eq!(SoftSe::open(&path, SECRET).unwrap().time_floor(), Timestamp(1_800));
}

#[test]
fn the_private_key_is_never_on_disk_in_clear() {
    let (_dir, path) = fresh();
    let mut se = SoftSe::create_with_iterations(&path, SECRET, 1_000).unwrap();
    let PublicKey::Sm2(public) = se.generate_key(KeyAlgorithm::Sm2).unwrap() else { panic!("not SM2") };
    let file = std::fs::read(&path).unwrap();
    // The PKCS#8 inside carries the public point and the sm2 curve's OID; in clear, both
    // would show. (A control: they do show in the clear encoding of a key.)
    let sm2_oid = [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let control = wearpay_pki::generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let control_der = private_key_to_pkcs8(&*control).unwrap();
    let PublicKey::Sm2(control_public) = SigningKey::public_key(&*control) else { panic!("not SM2") };
    assert!(contains(&control_der, &sm2_oid) && contains(&control_der, control_public.as_sec1()));
    assert!(!contains(&file, public.as_sec1()));
    assert!(!contains(&file, &sm2_oid));
    assert!(matches!(se.generate_key(KeyAlgorithm::Sm2), Err(Error::KeyExists)));
    // Nothing but the state file is left in the directory (the temporary file was renamed).
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [std::ffi::OsString::from("band.se")]);
}

#[test]
fn a_tampered_byte_anywhere_in_the_body_is_refused_as_tampering() {
    let (_dir, path) = fresh();
    populated(&path);
    let good = std::fs::read(&path).unwrap();
    // Every byte after the key-derivation header: nonce, length, ciphertext, tag.
    for i in (42..good.len()).step_by(7).chain([good.len() - 1]) {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let err = SoftSe::open(&path, SECRET).unwrap_err();
        let ok = if (54..58).contains(&i) {
            matches!(err, Error::StateTruncated)
        } else {
            matches!(err, Error::StateTampered)
        };
        assert!(ok, "byte {i}: {err}");
    }
    // The salt or the check value altered: the secret no longer opens it.
    for i in [12, 30] {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(SoftSe::open(&path, SECRET), Err(Error::WrongSecret)), "byte {i}");
    }
    std::fs::write(&path, &good).unwrap();
    SoftSe::open(&path, SECRET).unwrap();
}

#[test]
fn a_truncated_or_extended_file_is_refused_as_truncated() {
    let (_dir, path) = fresh();
    populated(&path);
    let good = std::fs::read(&path).unwrap();
    for cut in [5, 20, 57, 58, 70, good.len() - 17, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).unwrap();
        let err = SoftSe::open(&path, SECRET).unwrap_err();
        assert!(matches!(err, Error::StateTruncated), "cut at {cut}: {err}");
    }
    let mut longer = good.clone();
    longer.push(0);
    std::fs::write(&path, &longer).unwrap();
    assert!(matches!(SoftSe::open(&path, SECRET), Err(Error::StateTruncated)));
}

#[test]
fn a_wrong_secret_other_files_and_versions_are_refused() {
    let (_dir, path) = fresh();
    populated(&path);
    assert!(matches!(SoftSe::open(&path, b"another secret"), Err(Error::WrongSecret)));
    assert!(matches!(SoftSe::open(&path, b""), Err(Error::WrongSecret)));

    let good = std::fs::read(&path).unwrap();
    let mut other = good.clone();
    other[0] = b'X';
    std::fs::write(&path, &other).unwrap();
    assert!(matches!(SoftSe::open(&path, SECRET), Err(Error::NotSealedState)));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(SoftSe::open(&path, SECRET), Err(Error::NotSealedState)));

    let mut v2 = good.clone();
    v2[4] = 2;
    std::fs::write(&path, &v2).unwrap();
    assert!(matches!(SoftSe::open(&path, SECRET), Err(Error::UnsupportedStateVersion(2))));

    // An iteration count that would stall the band is refused before any work.
    let mut slow = good.clone();
    slow[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
    std::fs::write(&path, &slow).unwrap();
    assert!(matches!(SoftSe::open(&path, SECRET), Err(Error::StateMalformed(_))));

    assert!(matches!(SoftSe::open(path.with_extension("missing"), SECRET), Err(Error::Io(_))));
    // create refuses to overwrite.
    std::fs::write(&path, &good).unwrap();
    assert!(matches!(SoftSe::create_with_iterations(&path, SECRET, 1_000), Err(Error::Io(_))));
}

#[test]
fn counters_strictly_increase_across_reopening() {
    let (_dir, path) = fresh();
    let mut last = 0;
    {
        let mut se = SoftSe::create_with_iterations(&path, SECRET, 1_000).unwrap();
        for _ in 0..3 {
            let c = se.next_counter().unwrap().0;
            assert!(c > last);
            last = c;
        }
    }
    for _ in 0..3 {
        // Each value handed out was on disk before it was returned: a band that "crashes"
        // right after (drops the element without any further write) never sees it again.
        let mut se = SoftSe::open(&path, SECRET).unwrap();
        assert_eq!(se.counter().0, last);
        let c = se.next_counter().unwrap().0;
        assert_eq!(c, last + 1);
        last = c;
    }
    assert_eq!(last, 6);
}

#[test]
fn no_key_before_enrollment_and_an_rsa_key_works_too() {
    let (_dir, path) = fresh();
    let mut se = SoftSe::create_with_iterations(&path, SECRET, 1_000).unwrap();
    assert!(matches!(se.public_key(), Err(Error::NoKey)));
    assert!(matches!(se.signing_key(), Err(Error::NoKey)));
    let public = se.generate_key(KeyAlgorithm::Rsa(2048)).unwrap();
    assert_eq!(public.algorithm(), KeyAlgorithm::Rsa(2048));
    let csr = se.csr("CN=rsa band".parse().unwrap(), Some("otp-42")).unwrap();
    csr.verify(&PROVIDER).unwrap();
    assert_eq!(csr.public_key().unwrap(), &public);
    let reopened = SoftSe::open(&path, SECRET).unwrap();
    assert_eq!(reopened.public_key().unwrap(), public);
    let ct = PROVIDER.encrypt(&public, b"secret").unwrap();
    assert_eq!(reopened.decrypt(&ct).unwrap().as_slice(), b"secret");
}
