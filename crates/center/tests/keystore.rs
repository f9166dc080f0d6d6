//! The center's key store: files, passwords, purposes and the PIN flow with the pay crate.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::{fs, path::Path};

use wearpay_center::keystore::{
    DEFAULT_PASSWORD_ENV, Error, FileKeyStore, KeyPurpose, KeyStore, PBKDF2_ITERATIONS, Password, PasswordSource,
};
use wearpay_crypto::{KeyAlgorithm, SigningKey, portable::PROVIDER};
use wearpay_pay::{EncipheredPin, Pan, Pin, PinBlock, TxId};
use wearpay_pki::keys::generate_key;

const PASSWORD: &[u8] = b"correct horse battery staple";
const ACCOUNT: &str = "acct-000042";

/// Fewer PBKDF2 iterations than the default, so the tests run quickly (the count is stored
/// in each file and honoured when opening).
const FAST: u32 = 1_000;

fn new_store(dir: &Path) -> FileKeyStore {
    FileKeyStore::create_with_iterations(dir, PASSWORD, KeyAlgorithm::Sm2, &PROVIDER, FAST).unwrap().0
}

fn pan() -> Pan {
    Pan::new("6222021234567890123").unwrap()
}

fn encipher(store: &dyn KeyStore, pin: &str, tx_id: &TxId) -> EncipheredPin {
    let pin_key = store.public_key(KeyPurpose::PinEnc).unwrap();
    PinBlock::encipher(&PROVIDER, &Pin::new(pin).unwrap(), &pan(), tx_id, &pin_key).unwrap()
}

#[test]
fn create_then_open_gives_the_same_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let (created, public) = FileKeyStore::create(&dir, PASSWORD, KeyAlgorithm::Sm2, &PROVIDER).unwrap();
    assert_eq!(created.public_keys(), public);
    for purpose in KeyPurpose::ALL {
        assert!(dir.join(purpose.file_name()).is_file(), "{purpose} file written");
    }
    let pem = fs::read_to_string(dir.join("channel-sign.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let sealed = fs::read(dir.join("pin-verification.secret")).unwrap();
    assert_eq!(sealed[25..29], PBKDF2_ITERATIONS.to_be_bytes(), "the default iteration count is stored");

    let opened = FileKeyStore::open(&dir, PASSWORD, &PROVIDER).unwrap();
    assert_eq!(opened.public_keys(), public);
    for purpose in KeyPurpose::KEY_PAIRS {
        assert_eq!(opened.public_key(purpose).unwrap(), *public.get(purpose).unwrap());
    }
    // One key per purpose.
    let all: Vec<_> = KeyPurpose::KEY_PAIRS.iter().map(|p| public.get(*p).unwrap().clone()).collect();
    for (i, a) in all.iter().enumerate() {
        assert!(all[i + 1..].iter().all(|b| a != b));
    }
    // The PIN-verification secret survives the round trip: a PVV made by one verifies in
    // the other.
    let tx_id = TxId::random(&PROVIDER).unwrap();
    let block = encipher(&created, "2468", &tx_id);
    let pvv = created.pin_verification_value_for_new_pin(&block, &pan(), &tx_id, ACCOUNT).unwrap();
    assert!(opened.verify_pin(&block, &pan(), &tx_id, ACCOUNT, &pvv).unwrap());
}

#[test]
fn create_refuses_to_overwrite_and_weak_passwords() {
    let tmp = tempfile::tempdir().unwrap();
    let _store = new_store(tmp.path());
    let before = fs::read(tmp.path().join("pin-verification.secret")).unwrap();
    let err = FileKeyStore::create(tmp.path(), PASSWORD, KeyAlgorithm::Sm2, &PROVIDER).unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { path } if path.ends_with("channel-sign.key")), "{err}");
    assert_eq!(fs::read(tmp.path().join("pin-verification.secret")).unwrap(), before);

    let other = tmp.path().join("other");
    let err = FileKeyStore::create(&other, b"", KeyAlgorithm::Sm2, &PROVIDER).unwrap_err();
    assert!(matches!(err, Error::BadPassword(_)), "{err}");
    let err = FileKeyStore::create(&other, b"short", KeyAlgorithm::Sm2, &PROVIDER).unwrap_err();
    assert!(matches!(err, Error::BadPassword(_)), "{err}");
    for iterations in [0, 999, 10_000_001] {
        let err = FileKeyStore::create_with_iterations(&other, PASSWORD, KeyAlgorithm::Sm2, &PROVIDER, iterations)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidIterations(n) if n == iterations), "{err}");
    }
    assert!(!other.exists());
}

#[test]
fn wrong_password_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    new_store(tmp.path());
    let err = FileKeyStore::open(tmp.path(), b"not the password", &PROVIDER).unwrap_err();
    assert!(matches!(err, Error::WrongPassword), "{err}");
    assert_eq!(err.to_string(), "wrong key-store password");
}

#[test]
fn tampered_secret_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    new_store(tmp.path());
    let path = tmp.path().join("pin-verification.secret");
    let original = fs::read(&path).unwrap();
    assert_eq!(original.len(), 89);
    assert!(original.starts_with(b"WPAY-PVS\x01"));

    // Flip one bit anywhere: in the ciphertext, the tag, the nonce, the salt, the
    // iteration count; each is refused, naming the file.
    for at in [9, 26, 29, 41, 60, 72, 88] {
        let mut bad = original.clone();
        bad[at] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        let err = FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap_err();
        assert!(matches!(&err, Error::Corrupt { path: p, .. } if *p == path), "byte {at}: {err}");
        assert!(err.to_string().contains("pin-verification.secret"), "{err}");
    }
    // Wrong magic, version, length.
    for bad in [
        [b"XPAY".as_slice(), &original[4..]].concat(),
        [&original[..8], &[2u8][..], &original[9..]].concat(),
        original[..88].to_vec(),
        [original.as_slice(), &[0u8]].concat(),
    ] {
        fs::write(&path, &bad).unwrap();
        let err = FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
    fs::write(&path, &original).unwrap();
    FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap();
}

#[test]
fn tampered_or_swapped_key_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    new_store(tmp.path());
    let path = tmp.path().join("receipt-sign.key");
    let original = fs::read(&path).unwrap();

    fs::write(&path, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    let err = FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { path: p, .. } if *p == path), "{err}");

    // The same key under two purposes.
    fs::copy(tmp.path().join("channel-sign.key"), &path).unwrap();
    let err = FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { path: p, .. } if *p == path), "{err}");

    // A key file sealed under another password, after channel-sign.key opened.
    let other = tempfile::tempdir().unwrap();
    FileKeyStore::create_with_iterations(other.path(), b"another password", KeyAlgorithm::Sm2, &PROVIDER, FAST)
        .unwrap();
    fs::copy(other.path().join("receipt-sign.key"), &path).unwrap();
    let err = FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { path: p, .. } if *p == path), "{err}");

    fs::write(&path, &original).unwrap();
    FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap();
}

#[test]
fn missing_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    new_store(tmp.path());
    for purpose in KeyPurpose::ALL {
        let path = tmp.path().join(purpose.file_name());
        let saved = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let err = FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap_err();
        assert!(matches!(&err, Error::MissingFile { path: p, purpose: q } if *p == path && *q == purpose), "{err}");
        assert!(err.to_string().contains(purpose.file_name()), "{err}");
        fs::write(&path, saved).unwrap();
    }
    let err = FileKeyStore::open(tmp.path().join("nowhere"), PASSWORD, &PROVIDER).unwrap_err();
    assert!(matches!(err, Error::MissingFile { purpose: KeyPurpose::ChannelSign, .. }), "{err}");
}

#[test]
fn signing_keys_verify_with_their_public_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let store = new_store(tmp.path());
    for purpose in [KeyPurpose::ChannelSign, KeyPurpose::ReceiptSign] {
        let key = store.signing_key(purpose).unwrap();
        assert_eq!(key.public_key(), store.public_key(purpose).unwrap());
        let sig = key.sign(b"wearpay test message").unwrap();
        PROVIDER.verify(&store.public_key(purpose).unwrap(), key.scheme(), b"wearpay test message", &sig).unwrap();
        assert!(PROVIDER.verify(&store.public_key(purpose).unwrap(), key.scheme(), b"another message", &sig).is_err());
    }
    // The receipt key is not the channel key.
    let sig = store.signing_key(KeyPurpose::ReceiptSign).unwrap().sign(b"m").unwrap();
    let channel = store.public_key(KeyPurpose::ChannelSign).unwrap();
    assert!(PROVIDER.verify(&channel, wearpay_crypto::SignatureScheme::Sm2Sm3, b"m", &sig).is_err());

    for purpose in [KeyPurpose::ChannelEnc, KeyPurpose::PinEnc, KeyPurpose::PinVerification] {
        let err = store.signing_key(purpose).unwrap_err();
        assert!(matches!(err, Error::WrongPurpose { role: "signing", .. }), "{err}");
    }
}

#[test]
fn channel_enc_decrypts_and_pin_key_is_not_handed_out() {
    let tmp = tempfile::tempdir().unwrap();
    let store = new_store(tmp.path());
    let key = store.decrypting_key(KeyPurpose::ChannelEnc).unwrap();
    let ct = PROVIDER.encrypt(&store.public_key(KeyPurpose::ChannelEnc).unwrap(), b"pre-master secret").unwrap();
    assert_eq!(key.decrypt(&ct).unwrap().as_slice(), b"pre-master secret");

    for purpose in [KeyPurpose::PinEnc, KeyPurpose::PinVerification, KeyPurpose::ChannelSign, KeyPurpose::ReceiptSign] {
        let err = store.decrypting_key(purpose).unwrap_err();
        assert!(matches!(err, Error::WrongPurpose { purpose: p, role: "decrypting" } if p == purpose), "{err}");
    }
    let err = store.public_key(KeyPurpose::PinVerification).unwrap_err();
    assert!(matches!(err, Error::WrongPurpose { .. }), "{err}");
}

#[test]
fn pin_flow_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Box<dyn KeyStore> = Box::new(new_store(tmp.path()));
    let pan = pan();

    // Enrollment: the band enciphers the chosen PIN; the store makes its PVV.
    let enroll_tx = TxId::random(&PROVIDER).unwrap();
    let block = encipher(&*store, "135790", &enroll_tx);
    let pvv = store.pin_verification_value_for_new_pin(&block, &pan, &enroll_tx, ACCOUNT).unwrap();
    // Keyed: not a function of the PIN alone, and bound to the account.
    let other_account = store.pin_verification_value_for_new_pin(&block, &pan, &enroll_tx, "acct-000043").unwrap();
    assert_ne!(pvv, other_account);

    // A payment with the right PIN.
    let tx_id = TxId::random(&PROVIDER).unwrap();
    let right = encipher(&*store, "135790", &tx_id);
    assert!(store.verify_pin(&right, &pan, &tx_id, ACCOUNT, &pvv).unwrap());
    // The right PIN for another account's PVV is not right.
    assert!(!store.verify_pin(&right, &pan, &tx_id, ACCOUNT, &other_account).unwrap());

    // A wrong PIN: Ok(false).
    for wrong in ["135791", "1357", "135790000000", "000000"] {
        let block = encipher(&*store, wrong, &tx_id);
        assert!(!store.verify_pin(&block, &pan, &tx_id, ACCOUNT, &pvv).unwrap(), "{wrong}");
    }

    // The block was enciphered for another transaction: an error, not a wrong try.
    let other_tx = TxId::random(&PROVIDER).unwrap();
    let err = store.verify_pin(&right, &pan, &other_tx, ACCOUNT, &pvv).unwrap_err();
    assert!(matches!(err, Error::BadPinBlock(_)), "{err}");
    let err = store.pin_verification_value_for_new_pin(&right, &pan, &other_tx, ACCOUNT).unwrap_err();
    assert!(matches!(err, Error::BadPinBlock(_)), "{err}");

    // Enciphered to another key than the store's PIN key.
    let stranger = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let foreign =
        PinBlock::encipher(&PROVIDER, &Pin::new("135790").unwrap(), &pan, &tx_id, &SigningKey::public_key(&*stranger))
            .unwrap();
    let err = store.verify_pin(&foreign, &pan, &tx_id, ACCOUNT, &pvv).unwrap_err();
    assert!(matches!(err, Error::BadPinBlock(_)), "{err}");

    // The channel-encryption key is a different key: a block to it is refused too.
    let channel_enc = store.public_key(KeyPurpose::ChannelEnc).unwrap();
    let misdirected = PinBlock::encipher(&PROVIDER, &Pin::new("135790").unwrap(), &pan, &tx_id, &channel_enc).unwrap();
    assert!(matches!(store.verify_pin(&misdirected, &pan, &tx_id, ACCOUNT, &pvv), Err(Error::BadPinBlock(_))));

    // An altered block.
    let mut altered = right.clone();
    altered.block[0] ^= 0x80;
    assert!(matches!(store.verify_pin(&altered, &pan, &tx_id, ACCOUNT, &pvv), Err(Error::BadPinBlock(_))));

    // PinChange: old PIN checked, new PIN's PVV made, old PIN no longer matches it.
    let change_tx = TxId::random(&PROVIDER).unwrap();
    let old = encipher(&*store, "135790", &change_tx);
    let new = encipher(&*store, "8642", &change_tx);
    assert!(store.verify_pin(&old, &pan, &change_tx, ACCOUNT, &pvv).unwrap());
    let new_pvv = store.pin_verification_value_for_new_pin(&new, &pan, &change_tx, ACCOUNT).unwrap();
    let pay_tx = TxId::random(&PROVIDER).unwrap();
    assert!(store.verify_pin(&encipher(&*store, "8642", &pay_tx), &pan, &pay_tx, ACCOUNT, &new_pvv).unwrap());
    assert!(!store.verify_pin(&encipher(&*store, "135790", &pay_tx), &pan, &pay_tx, ACCOUNT, &new_pvv).unwrap());
}

#[test]
fn rsa_store_round_trip_and_pin_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, public) =
        FileKeyStore::create_with_iterations(tmp.path(), PASSWORD, KeyAlgorithm::Rsa(2048), &PROVIDER, FAST).unwrap();
    assert_eq!(public.pin_enc.algorithm(), KeyAlgorithm::Rsa(2048));
    let opened = FileKeyStore::open(tmp.path(), PASSWORD, &PROVIDER).unwrap();
    assert_eq!(opened.public_keys(), public);

    let key = opened.signing_key(KeyPurpose::ChannelSign).unwrap();
    let sig = key.sign(b"hello").unwrap();
    PROVIDER.verify(&public.channel_sign, key.scheme(), b"hello", &sig).unwrap();

    let tx_id = TxId::random(&PROVIDER).unwrap();
    let block = encipher(&store, "4321", &tx_id);
    let pvv = store.pin_verification_value_for_new_pin(&block, &pan(), &tx_id, ACCOUNT).unwrap();
    assert!(opened.verify_pin(&block, &pan(), &tx_id, ACCOUNT, &pvv).unwrap());
    assert!(!opened.verify_pin(&encipher(&store, "4322", &tx_id), &pan(), &tx_id, ACCOUNT, &pvv).unwrap());
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new-dir");
    new_store(&dir);
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    for purpose in KeyPurpose::ALL {
        let mode = fs::metadata(dir.join(purpose.file_name())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{purpose}");
    }
}

#[test]
fn debug_shows_no_key_material() {
    let tmp = tempfile::tempdir().unwrap();
    let store = new_store(tmp.path());
    let text = format!("{store:?}");
    assert!(text.contains("FileKeyStore") && text.contains("SM2"), "{text}");
    assert!(text.contains("<secret>"), "{text}");
    let signing = format!("{:?}", store.signing_key(KeyPurpose::ChannelSign).unwrap());
    assert_eq!(signing, "StoreSigningKey(channel-sign, SM2)");
    let decrypting = format!("{:?}", store.decrypting_key(KeyPurpose::ChannelEnc).unwrap());
    assert_eq!(decrypting, "StoreDecryptingKey(channel-enc, SM2)");
    assert_eq!(format!("{:?}", Password::new("hunter2hunter2")), "Password(<redacted>)");
    // The sealed secret is not in the Debug text in any obvious encoding, and the text is
    // short: algorithms and the path only.
    assert!(text.len() < 400, "{text}");
}

#[test]
fn password_sources() {
    assert_eq!(PasswordSource::default(), PasswordSource::Env(DEFAULT_PASSWORD_ENV.to_owned()));
    assert_eq!("env:MY_PW".parse::<PasswordSource>().unwrap(), PasswordSource::Env("MY_PW".to_owned()));
    assert_eq!("file:/run/pw".parse::<PasswordSource>().unwrap(), PasswordSource::File("/run/pw".into()));
    assert_eq!(PasswordSource::File("/run/pw".into()).to_string(), "file:/run/pw");
    for bad in ["", "hunter2", "env:", "file:", "env:A=B"] {
        assert!(bad.parse::<PasswordSource>().is_err(), "{bad}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("password");
    fs::write(&pw, b"correct horse battery staple\n").unwrap();
    let source = PasswordSource::File(pw.clone());
    assert_eq!(source.read().unwrap().as_bytes(), PASSWORD);
    fs::write(&pw, b"correct horse battery staple\r\n").unwrap();
    assert_eq!(source.read().unwrap().as_bytes(), PASSWORD);
    fs::write(&pw, b"\n").unwrap();
    let err = source.read().unwrap_err();
    assert!(matches!(err, Error::PasswordUnavailable { .. }) && err.to_string().contains("empty"), "{err}");
    let missing = PasswordSource::File(tmp.path().join("absent"));
    let err = missing.read().unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");

    // The store opens with a password from a file.
    fs::write(&pw, b"correct horse battery staple\n").unwrap();
    let keys = tmp.path().join("keys");
    new_store(&keys);
    FileKeyStore::open_with(&keys, &source, &PROVIDER).unwrap();

    // An unset variable is named (the tests cannot set one: unsafe code is forbidden).
    let unset = PasswordSource::Env("WEARPAY_TEST_SURELY_UNSET_VARIABLE_4711".to_owned());
    let err = unset.read().unwrap_err();
    assert!(err.to_string().contains("env:WEARPAY_TEST_SURELY_UNSET_VARIABLE_4711"), "{err}");
    assert!(matches!(FileKeyStore::open_with(&keys, &unset, &PROVIDER), Err(Error::PasswordUnavailable { .. })));
}

#[test]
fn store_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FileKeyStore>();
    let tmp = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn KeyStore> = std::sync::Arc::new(new_store(tmp.path()));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let key = store.signing_key(KeyPurpose::ReceiptSign).unwrap();
                let msg = format!("receipt {i}");
                let sig = key.sign(msg.as_bytes()).unwrap();
                PROVIDER.verify(&key.public_key(), key.scheme(), msg.as_bytes(), &sig).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
