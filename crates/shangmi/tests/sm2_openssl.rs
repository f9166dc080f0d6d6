//! SM2 cross-checks with Debian's `openssl` 3 command line: signatures both ways (with the
//! default distinguishing ID), and encryption both ways in GM/T 0009 DER.
//!
//! Skipped with a message if `openssl` is missing or lacks SM2, unless
//! `WEARPAY_REQUIRE_INTEROP` is set, which turns that into a failure.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

use common::{Rng, unhex};
use wearpay_crypto::{
    DEFAULT_SM2_ID, PrivateKey, PublicKey, Sm2Ciphertext, Sm2PublicKey,
    sm2::{signature_from_der, signature_to_der},
};
use wearpay_shangmi::PROVIDER as S;

/// Runs `openssl args…` with `input` on stdin: (success, stdout).
fn openssl_run(args: &[&str], input: &[u8]) -> (bool, Vec<u8>) {
    let Ok(mut child) =
        Command::new("openssl").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
    else {
        return (false, Vec::new());
    };
    let mut pipe = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (out.status.success(), out.stdout)
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let (ok, out) = openssl_run(args, b"");
    assert!(ok, "`openssl {}` failed", args.join(" "));
    out
}

/// Whether the interop tests can run; panics if they must and cannot.
fn available() -> bool {
    let ok = openssl_run(&["genpkey", "-algorithm", "SM2"], b"").0;
    if !ok {
        assert!(
            std::env::var_os("WEARPAY_REQUIRE_INTEROP").is_none(),
            "WEARPAY_REQUIRE_INTEROP is set but `openssl` with SM2 is not available"
        );
        let _ = writeln!(std::io::stderr(), "skipped: no `openssl` binary with SM2");
    }
    ok
}

/// A fresh temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("wearpay-shangmi-sm2-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
    fn file(&self, name: &str, contents: &[u8]) -> String {
        std::fs::write(self.0.join(name), contents).unwrap();
        self.path(name)
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sm2_public(key: &dyn PrivateKey) -> Sm2PublicKey {
    match wearpay_crypto::SigningKey::public_key(key) {
        PublicKey::Sm2(k) => k,
        PublicKey::Rsa(_) => panic!("not SM2"),
    }
}

/// SubjectPublicKeyInfo of an SM2 key.
fn sm2_spki(public: &Sm2PublicKey) -> Vec<u8> {
    let mut out = unhex("3059301306072a8648ce3d020106082a811ccf5501822d034200");
    out.extend_from_slice(public.as_sec1());
    out
}

/// PKCS#8 PrivateKeyInfo of an SM2 key.
fn sm2_pkcs8(scalar: &[u8], public: &Sm2PublicKey) -> Vec<u8> {
    let mut out = unhex("308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420");
    out.extend_from_slice(scalar);
    out.extend(unhex("a144034200"));
    out.extend_from_slice(public.as_sec1());
    out
}

/// An openssl-generated SM2 key: (PEM path, scalar, public key).
fn openssl_key(dir: &Dir, name: &str) -> (String, Vec<u8>, Sm2PublicKey) {
    let pem = dir.path(name);
    openssl(&["genpkey", "-algorithm", "SM2", "-out", &pem]);
    let der = openssl(&["pkey", "-in", &pem, "-outform", "DER"]);
    let spki = openssl(&["pkey", "-in", &pem, "-pubout", "-outform", "DER"]);
    let marker = unhex("0201010420");
    let at = der.windows(marker.len()).position(|w| w == marker).unwrap() + marker.len();
    (pem, der[at..at + 32].to_vec(), Sm2PublicKey::from_sec1(&spki[spki.len() - 65..]).unwrap())
}

#[test]
fn signatures_both_ways() {
    if !available() {
        return;
    }
    let dir = Dir::new("sign");
    let mut rng = Rng::new(0x0551);
    let ours = S.sm2.generate(S.random).unwrap();
    let public = sm2_public(&*ours);
    let spki = dir.file("ours.spki.der", &sm2_spki(&public));
    let p8 = dir.file("ours.p8.der", &sm2_pkcs8(&ours.export().unwrap(), &public));
    // openssl derives the same public key from our scalar.
    assert_eq!(openssl(&["pkey", "-inform", "DER", "-in", &p8, "-pubout", "-outform", "DER"]), sm2_spki(&public));
    let (their_pem, their_scalar, their_public) = openssl_key(&dir, "theirs.pem");
    // And we derive openssl's public key from its scalar.
    assert_eq!(sm2_public(&*S.sm2.from_secret(&their_scalar, DEFAULT_SM2_ID).unwrap()), their_public);
    let distid = format!("distid:{}", core::str::from_utf8(DEFAULT_SM2_ID).unwrap());

    for i in 0..8 {
        let len = [0, 1, 32, 100, 1000, 65536, rng.below(300), 7][i];
        let msg = rng.bytes(len);
        let m = dir.file("msg", &msg);
        let verify = |sigfile: &str| {
            openssl_run(
                &[
                    "pkeyutl", "-verify", "-pubin", "-inkey", &spki, "-keyform", "DER", "-rawin", "-digest", "sm3",
                    "-pkeyopt", &distid, "-in", &m, "-sigfile", sigfile,
                ],
                b"",
            )
            .0
        };
        let sig = ours.sign(&msg).unwrap();
        assert!(verify(&dir.file("sig", &sig)), "case {i}: openssl rejects our signature");
        let (r, mut s) = signature_from_der(&sig).unwrap();
        s[31] ^= 1;
        assert!(!verify(&dir.file("bad", &signature_to_der(&r, &s))), "case {i}: openssl accepts a changed one");

        for (key, key_public, form) in [(&their_pem, &their_public, "PEM"), (&p8, &public, "DER")] {
            let out = dir.path("their.sig");
            openssl(&[
                "pkeyutl", "-sign", "-inkey", key, "-keyform", form, "-rawin", "-digest", "sm3", "-pkeyopt", &distid,
                "-in", &m, "-out", &out,
            ]);
            let their_sig = dir.read("their.sig");
            S.sm2.verify(key_public, DEFAULT_SM2_ID, &msg, &their_sig).unwrap();
            assert!(S.sm2.verify(key_public, b"another id", &msg, &their_sig).is_err());
        }
    }
}

#[test]
fn encryption_both_ways() {
    if !available() {
        return;
    }
    let dir = Dir::new("encrypt");
    let mut rng = Rng::new(0xe2c);
    let (their_pem, their_scalar, their_public) = openssl_key(&dir, "theirs.pem");
    let their_key_here = S.sm2.from_secret(&their_scalar, DEFAULT_SM2_ID).unwrap();
    let their_spki = dir.file("theirs.spki.der", &sm2_spki(&their_public));
    for (i, len) in [1usize, 16, 32, 48, 100, 257, 4096].into_iter().enumerate() {
        let msg = rng.bytes(len);
        // Ours, decrypted by openssl.
        let ct = S.sm2.encrypt(&their_public, &msg, S.random).unwrap();
        let c = dir.file("ct", &ct);
        assert_eq!(openssl(&["pkeyutl", "-decrypt", "-inkey", &their_pem, "-in", &c]), msg, "case {i}");
        // Theirs, decrypted by us.
        let m = dir.file("msg", &msg);
        let out = dir.path("their.ct");
        openssl(&["pkeyutl", "-encrypt", "-pubin", "-inkey", &their_spki, "-keyform", "DER", "-in", &m, "-out", &out]);
        let their_ct = dir.read("their.ct");
        assert!(Sm2Ciphertext::from_der(&their_ct).is_ok());
        assert_eq!(&their_key_here.decrypt(&their_ct).unwrap()[..], &msg[..], "case {i}");
    }
}
