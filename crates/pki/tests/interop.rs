//! Interoperability with Debian's OpenSSL 3 and Python's gmssl, on real files.
//!
//! A missing tool skips the test with a note, or fails it when `WEARPAY_REQUIRE_INTEROP`
//! is set (as `./test.sh` and CI do).
#![allow(clippy::unwrap_used)]
mod common;

use std::{path::Path, process::Command};

use common::*;
use wearpay_crypto::{KeyAlgorithm, PublicKey};
use wearpay_pki::{
    Certificate, CertificateBuilder, CertificateRequest, CrlBuilder, CsrBuilder, Error, Item, KeyEncryption,
    Pbes2Cipher, Pbes2Prf, RevocationReason, Role, files, load_private_key, private_key_to_pem, public_key_from_spki,
    verify_chain,
};

const DISTID: &str = "distid:1234567812345678";

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    run(Command::new("openssl").current_dir(dir).args(args))
}

fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, out) = openssl(dir, args);
    assert!(ok, "openssl {} failed:\n{out}", args.join(" "));
    out
}

/// `openssl verify` of `cert` against the trust anchor `ca`, through `untrusted`.
///
/// OpenSSL 3.0's `verify` applies `-vfyopt distid:…` to the target certificate only and
/// checks the other signatures of the chain with the empty SM2 ID, so an SM2 chain is
/// checked link by link: the intermediate against the root, then the leaf against the
/// intermediate as a partial-chain anchor.
fn openssl_verify(dir: &Path, alg: KeyAlgorithm, ca: &str, untrusted: Option<&str>, cert: &str, purpose: Option<&str>) {
    let at = NOW.secs().to_string();
    let verify_one = |anchor: &str, untrusted: Option<&str>, target: &str, purpose: Option<&str>, partial: bool| {
        let mut args = vec!["verify", "-attime", &at, "-CAfile", anchor];
        if alg == KeyAlgorithm::Sm2 {
            args.extend(["-vfyopt", DISTID]);
        }
        if partial {
            args.push("-partial_chain");
        }
        if let Some(u) = untrusted {
            args.extend(["-untrusted", u]);
        }
        if let Some(p) = purpose {
            args.extend(["-purpose", p]);
        }
        args.push(target);
        let out = openssl_ok(dir, &args);
        assert!(out.contains(&format!("{target}: OK")), "{out}");
    };
    match (alg, untrusted) {
        (KeyAlgorithm::Sm2, Some(inter)) => {
            verify_one(ca, None, inter, None, false);
            verify_one(inter, None, cert, purpose, true);
        }
        _ => verify_one(ca, untrusted, cert, purpose, false),
    }
}

fn our_certificates_pass_openssl_verify(alg: KeyAlgorithm) {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new(alg);
    write(d, "root.crt", pki.root.to_pem());
    write(d, "ca.crt", pki.ca.to_pem());
    openssl_verify(d, alg, "root.crt", None, "ca.crt", None);
    for role in
        [Role::CenterSign, Role::CenterEnc, Role::CenterReceipt, Role::CenterPin, Role::Terminal, Role::TerminalEnc]
    {
        let (leaf, _) = pki.leaf(role, role.name());
        let name = format!("{}.crt", role.name());
        write(d, &name, leaf.to_pem());
        let purpose = match role {
            Role::CenterSign | Role::CenterEnc => Some("sslserver"),
            Role::Terminal | Role::TerminalEnc => Some("sslclient"),
            _ => None,
        };
        openssl_verify(d, alg, "root.crt", Some("ca.crt"), &name, purpose);
        // OpenSSL reads the profile we meant.
        let text = openssl_ok(d, &["x509", "-in", &name, "-noout", "-text"]);
        assert!(!text.contains("Basic Constraints"), "leaf with basicConstraints:\n{text}");
        assert!(text.contains("X509v3 Subject Key Identifier") && text.contains("X509v3 Authority Key Identifier"));
        if alg == KeyAlgorithm::Sm2 {
            assert!(text.contains("SM2-with-SM3") || text.contains("SM2-SM3"), "{text}");
        }
    }
}

#[test]
fn openssl_verifies_our_sm2_certificates_three_levels_all_roles() {
    our_certificates_pass_openssl_verify(SM2);
}

#[test]
fn openssl_verifies_our_rsa_certificates_three_levels_all_roles() {
    our_certificates_pass_openssl_verify(RSA);
}

#[test]
fn openssl_verifies_our_csrs() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in [SM2, RSA] {
        let k = cached_key(alg, 6);
        let csr = CsrBuilder::new(dn("C=CN,O=wearpay,CN=band 12"))
            .challenge_password("a1b2c3d4e5f6")
            .unwrap()
            .sign(P, &*k)
            .unwrap();
        write(d, "req.csr", csr.to_pem());
        let mut args = vec!["req", "-verify", "-noout", "-text", "-in", "req.csr"];
        if alg == SM2 {
            args.extend(["-vfyopt", DISTID]);
        }
        let out = openssl_ok(d, &args);
        assert!(out.contains("verify OK"), "{out}");
        assert!(out.contains("a1b2c3d4e5f6"), "challengePassword not shown:\n{out}");
    }
}

#[test]
fn openssl_parses_our_crls_and_gmssl_checks_their_signatures() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in [SM2, RSA] {
        let pki = Pki::new(alg);
        let (band, _) = pki.leaf(Role::Terminal, "lost band");
        let crl = CrlBuilder::new(NOW, NOW.plus_days(7), 77)
            .revoke(band.serial(), NOW.minus_secs(60), Some(RevocationReason::KeyCompromise))
            .revoke(&[0x42, 0x01], NOW.minus_secs(60), Some(RevocationReason::CessationOfOperation))
            .sign(P, &pki.ca, &*pki.ca_key)
            .unwrap();
        write(d, "ca.crt", pki.ca.to_pem());
        write(d, "ca.crl", crl.to_pem());
        let text = openssl_ok(d, &["crl", "-in", "ca.crl", "-noout", "-text"]);
        for want in ["Key Compromise", "Cessation Of Operation", "X509v3 CRL Number", "77", &band.serial_hex()] {
            assert!(text.contains(want), "{want} missing from:\n{text}");
        }
        if alg == RSA {
            // OpenSSL can check RSA CRL signatures itself.
            let out = openssl_ok(d, &["crl", "-in", "ca.crl", "-noout", "-CAfile", "ca.crt"]);
            assert!(out.contains("verify OK"), "{out}");
        } else if have_gmssl() {
            gmssl_verify(d, &pki.ca, crl.tbs_der(), crl.signature(), true);
            // And a tampered CRL fails there too.
            let mut tbs = crl.tbs_der().to_vec();
            let n = tbs.len();
            tbs[n - 1] ^= 1;
            gmssl_verify(d, &pki.ca, &tbs, crl.signature(), false);
        }
    }
}

/// Checks an SM2 signature with Python's gmssl (raw r‖s hex, ID 1234567812345678).
fn gmssl_verify(dir: &Path, signer: &Certificate, msg: &[u8], sig_der: &[u8], expect: bool) {
    let PublicKey::Sm2(pk) = signer.public_key().unwrap() else { panic!("not SM2") };
    let (r, s) = wearpay_crypto::sm2::signature_from_der(sig_der).unwrap();
    let script = format!(
        r#"
import sys
from gmssl import sm2
c = sm2.CryptSM2(private_key="00", public_key="04" + "{x}")
c.public_key = "{x}"  # gmssl strips leading '0'/'4' characters: set it exactly
ok = c.verify_with_sm3("{sig}", bytes.fromhex(open("msg.hex").read().strip()))
print("VALID" if ok else "INVALID")
"#,
        x = hex::encode(&pk.as_sec1()[1..]),
        sig = hex::encode([r, s].concat()),
    );
    write(dir, "msg.hex", hex::encode(msg));
    write(dir, "check.py", script);
    let (ok, out) = run(Command::new("python3").current_dir(dir).arg("check.py"));
    assert!(ok, "{out}");
    assert_eq!(out.trim(), if expect { "VALID" } else { "INVALID" });
}

#[test]
fn gmssl_checks_our_certificate_signatures() {
    if !have_gmssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band");
    gmssl_verify(dir.path(), &pki.ca, leaf.tbs_der(), leaf.signature(), true);
    gmssl_verify(dir.path(), &pki.root, pki.ca.tbs_der(), pki.ca.signature(), true);
}

#[test]
fn openssl_keys_load() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &[&str])] = &[
        ("sm2.pem", &["genpkey", "-algorithm", "SM2", "-out", "sm2.pem"]),
        (
            "sm2-aes.pem",
            &["genpkey", "-algorithm", "SM2", "-aes-256-cbc", "-pass", "pass:s3cret", "-out", "sm2-aes.pem"],
        ),
        ("rsa.pem", &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"]),
        (
            "rsa-aes.pem",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:3072",
                "-aes-256-cbc",
                "-pass",
                "pass:s3cret",
                "-out",
                "rsa-aes.pem",
            ],
        ),
        (
            "sm2-sm4.pem",
            &["pkcs8", "-topk8", "-in", "sm2.pem", "-v2", "sm4-cbc", "-passout", "pass:s3cret", "-out", "sm2-sm4.pem"],
        ),
        ("sm2-params.pem", &["ecparam", "-name", "SM2", "-genkey", "-out", "sm2-params.pem"]),
        ("sm2-sec1.pem", &["ec", "-in", "sm2.pem", "-out", "sm2-sec1.pem"]),
        ("rsa-pkcs1.pem", &["rsa", "-in", "rsa.pem", "-traditional", "-out", "rsa-pkcs1.pem"]),
        ("sm2.der", &["pkey", "-in", "sm2.pem", "-outform", "DER", "-out", "sm2.der"]),
    ];
    for (file, args) in cases {
        openssl_ok(d, args);
        let pass_args: Vec<&str> =
            if file.contains("aes") || file.contains("sm4") { vec!["-passin", "pass:s3cret"] } else { vec![] };
        let mut pub_args = vec!["pkey", "-in", file, "-pubout", "-outform", "DER", "-out", "pub.der"];
        if file.ends_with(".der") {
            pub_args.extend(["-inform", "DER"]);
        }
        pub_args.extend(pass_args.iter().copied());
        openssl_ok(d, &pub_args);
        let expected = public_key_from_spki(&std::fs::read(d.join("pub.der")).unwrap()).unwrap();
        let password: Option<&[u8]> = if pass_args.is_empty() { None } else { Some(b"s3cret") };
        let key = files::read_private_key(P, d.join(file), password).unwrap();
        assert_eq!(pk(&*key), expected, "{file}");
        if password.is_some() {
            assert_eq!(files::read_private_key(P, d.join(file), Some(b"nope")).unwrap_err(), Error::WrongPassword);
        }
    }
}

#[test]
fn openssl_reads_our_keys() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in [SM2, RSA] {
        let k = cached_key(alg, 7);
        let spki = wearpay_pki::public_key_to_spki(&pk(&*k)).unwrap();
        let openssl_readable = [
            None,
            Some(KeyEncryption { iterations: 2048, ..KeyEncryption::OPENSSL }),
            Some(KeyEncryption { cipher: Pbes2Cipher::Sm4Cbc, prf: Pbes2Prf::HmacSha256, iterations: 2048 }),
        ];
        for how in openssl_readable {
            let pem = private_key_to_pem(P, &*k, how.as_ref().map(|h| (&b"pw0rd"[..], h))).unwrap();
            write(d, "ours.pem", pem.as_bytes());
            openssl_ok(
                d,
                &["pkey", "-in", "ours.pem", "-passin", "pass:pw0rd", "-pubout", "-outform", "DER", "-out", "pub.der"],
            );
            assert_eq!(std::fs::read(d.join("pub.der")).unwrap(), spki, "{alg:?} {how:?}");
        }
    }
}

/// An OpenSSL root and an OpenSSL-made band certificate, signed with or without the
/// distinguishing ID.
#[test]
fn openssl_made_sm2_csr_and_certificates_are_accepted() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ok(d, &["genpkey", "-algorithm", "SM2", "-out", "ca.key"]);
    openssl_ok(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-sm3",
            "-sigopt",
            DISTID,
            "-subj",
            "/C=CN/O=OpenSSL/CN=OpenSSL SM2 Root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.crt",
        ],
    );
    openssl_ok(d, &["genpkey", "-algorithm", "SM2", "-out", "band.key"]);
    openssl_ok(
        d,
        &[
            "req",
            "-new",
            "-key",
            "band.key",
            "-sm3",
            "-sigopt",
            DISTID,
            "-subj",
            "/C=CN/O=OpenSSL/CN=band 1",
            "-out",
            "band.csr",
        ],
    );
    write(d, "ext.cnf", "keyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=clientAuth\n");
    let x509_req = |out: &str, sign_id: bool| {
        let mut args =
            vec!["x509", "-req", "-in", "band.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-sm3", "-vfyopt", DISTID];
        if sign_id {
            args.extend(["-sigopt", DISTID]);
        }
        args.extend(["-days", "10", "-extfile", "ext.cnf", "-out", out]);
        openssl_ok(d, &args);
    };
    x509_req("band.crt", true);
    x509_req("band-noid.crt", false);

    let now = wearpay_pki::UnixTime::now();
    let ca = files::read_certificate(d.join("ca.crt")).unwrap();
    let anchors = [ca.clone()];
    // The CSR verifies, and our CA can certify its key.
    let csr = files::read_csr(d.join("band.csr")).unwrap();
    csr.verify(P).unwrap();
    assert_eq!(csr.subject().to_string(), "C=CN, O=OpenSSL, CN=band 1");
    // OpenSSL's certificate verifies for the terminal role.
    let band = files::read_certificate(d.join("band.crt")).unwrap();
    verify_chain(P, &band, &[], &anchors, now, Some(Role::Terminal), &[]).unwrap();
    // The root itself is accepted as a CA.
    verify_chain(P, &ca, &[], &anchors, now, Some(Role::RootCa), &[]).unwrap();
    // Signed with the empty ID (OpenSSL 3.0's default): a typed error that says so.
    let noid = files::read_certificate(d.join("band-noid.crt")).unwrap();
    let err = verify_chain(P, &noid, &[], &anchors, now, None, &[]).unwrap_err();
    assert_eq!(err, Error::SignedWithEmptySm2Id { what: Item::Leaf });

    // Our builder, driven by the OpenSSL CA key we load, certifies the OpenSSL CSR, and
    // OpenSSL verifies the result.
    let ca_key = files::read_private_key(P, d.join("ca.key"), None).unwrap();
    let ours = CertificateBuilder::new(Role::Terminal, csr.subject().clone(), csr.public_key().unwrap().clone())
        .validity(now.minus_secs(60), now.plus_days(5))
        .sign(P, &ca, &*ca_key)
        .unwrap();
    write(d, "ours.crt", ours.to_pem());
    let out = openssl_ok(d, &["verify", "-vfyopt", DISTID, "-purpose", "sslclient", "-CAfile", "ca.crt", "ours.crt"]);
    assert!(out.contains("ours.crt: OK"), "{out}");

    // An OpenSSL CSR without the ID says so too.
    openssl_ok(d, &["req", "-new", "-key", "band.key", "-sm3", "-subj", "/CN=no id", "-out", "noid.csr"]);
    let noid_csr = CertificateRequest::parse(&std::fs::read(d.join("noid.csr")).unwrap()).unwrap();
    assert_eq!(noid_csr.verify(P).unwrap_err(), Error::SignedWithEmptySm2Id { what: Item::Request });
}

#[test]
fn openssl_made_rsa_certificates_are_accepted() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ok(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-sha256",
            "-subj",
            "/CN=OpenSSL RSA Root",
            "-days",
            "30",
            "-out",
            "ca.crt",
        ],
    );
    openssl_ok(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-subj",
            "/CN=center",
            "-out",
            "srv.csr",
        ],
    );
    write(d, "ext.cnf", "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
    openssl_ok(
        d,
        &[
            "x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-sha256", "-days", "5", "-extfile",
            "ext.cnf", "-out", "srv.crt",
        ],
    );
    let ca = files::read_certificate(d.join("ca.crt")).unwrap();
    let srv = files::read_certificate(d.join("srv.crt")).unwrap();
    let anchors = [ca];
    let now = wearpay_pki::UnixTime::now();
    verify_chain(P, &srv, &[], &anchors, now, Some(Role::CenterSign), &[]).unwrap();
    verify_chain(P, &srv, &[], &anchors, now, Some(Role::CenterEnc), &[]).unwrap();
    files::read_csr(d.join("srv.csr")).unwrap().verify(P).unwrap();
    load_private_key(P, &std::fs::read(d.join("srv.key")).unwrap(), None).unwrap();
}
