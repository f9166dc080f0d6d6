//! `wearpay pki` end to end: the built binary on real files, checked by OpenSSL where it is
//! installed (required when `WEARPAY_REQUIRE_INTEROP` is set).
#![allow(clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

const DISTID: &str = "distid:1234567812345678";

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn wearpay(dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_wearpay"))
        .current_dir(dir)
        .env_remove("WEARPAY_CA_PASSWORD")
        .args(args)
        .output()
        .unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = wearpay(dir, args);
    assert!(o.ok, "wearpay {} failed:\n{}{}", args.join(" "), o.stdout, o.stderr);
    o.stdout
}

/// Runs a command expected to fail; returns its stdout and stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let o = wearpay(dir, args);
    assert!(!o.ok, "wearpay {} should have failed:\n{}{}", args.join(" "), o.stdout, o.stderr);
    format!("{}{}", o.stdout, o.stderr)
}

/// The rule for external tools: missing and `WEARPAY_REQUIRE_INTEROP` set fails the test;
/// missing otherwise prints a note and the caller returns early.
fn have_openssl() -> bool {
    if Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    if std::env::var_os("WEARPAY_REQUIRE_INTEROP").is_some() {
        panic!("`openssl` is required (WEARPAY_REQUIRE_INTEROP is set) but was not found");
    }
    eprintln!("note: `openssl` not available; skipping this interoperability check");
    false
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {} failed:\n{text}", args.join(" "));
    text
}

/// A root and an issuing CA made by the command line.
fn two_cas(d: &Path, alg: &str) {
    ok(d, &["pki", "init-ca", "--dir", "root", "--alg", alg, "--subject", "/C=CN/O=wearpay/CN=CLI Root"]);
    ok(
        d,
        &[
            "pki",
            "init-ca",
            "--dir",
            "issuing",
            "--parent",
            "root",
            "--alg",
            alg,
            "--subject",
            "C=CN,O=wearpay,CN=CLI Issuing CA",
        ],
    );
    for f in
        ["root/ca.crt", "root/ca.key", "root/crlnumber", "root/revoked.json", "issuing/ca.crt", "issuing/chain.pem"]
    {
        assert!(d.join(f).exists(), "{f} missing");
    }
}

const ROLES: [&str; 6] = ["center-sign", "center-enc", "center-receipt", "center-pin", "terminal", "terminal-enc"];

fn lifecycle(alg: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_cas(d, alg);
    for role in ROLES {
        let out = ok(
            d,
            &[
                "pki",
                "issue",
                "--ca",
                "issuing",
                "--role",
                role,
                "--subject",
                &format!("/O=wearpay/CN={role}"),
                "--out",
                role,
                "--alg",
                alg,
                "--days",
                "30",
            ],
        );
        assert!(out.contains(&format!("{role}.crt")), "{out}");
        let cert = format!("{role}.crt");
        let out =
            ok(d, &["pki", "verify", "--ca", "root/ca.crt", "--chain", "issuing/chain.pem", "--role", role, &cert]);
        assert_eq!(out, format!("{cert}: OK\n"));
        if have_openssl() {
            // OpenSSL 3.0 applies -vfyopt to the target only: check link by link.
            let mut args = vec!["verify", "-CAfile", "issuing/ca.crt", "-partial_chain"];
            if alg == "sm2" {
                args.extend(["-vfyopt", DISTID]);
            }
            args.push(&cert);
            assert!(openssl(d, &args).contains(": OK"));
            let key = format!("{role}.key");
            openssl(d, &["pkey", "-in", &key, "-noout"]);
        }
    }
    if have_openssl() {
        let mut args = vec!["verify", "-CAfile", "root/ca.crt"];
        if alg == "sm2" {
            args.extend(["-vfyopt", DISTID]);
        }
        args.push("issuing/ca.crt");
        openssl(d, &args);
    }
    // A second band, then lose the first one.
    ok(
        d,
        &[
            "pki",
            "issue",
            "--ca",
            "issuing",
            "--role",
            "terminal",
            "--subject",
            "CN=band 2",
            "--out",
            "band2",
            "--alg",
            alg,
        ],
    );
    let out = ok(d, &["pki", "revoke", "--ca", "issuing", "--cert", "terminal.crt", "--reason", "key-compromise"]);
    assert!(out.contains("keyCompromise"), "{out}");
    assert!(fails(d, &["pki", "revoke", "--ca", "issuing", "--cert", "terminal.crt"]).contains("already revoked"));
    ok(d, &["pki", "crl", "--ca", "issuing", "--out", "issuing.crl", "--days", "3"]);
    let out = wearpay(
        d,
        &[
            "pki",
            "verify",
            "--ca",
            "root/ca.crt",
            "--chain",
            "issuing/chain.pem",
            "--crl",
            "issuing.crl",
            "terminal.crt",
        ],
    );
    assert!(!out.ok);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(lines[0].starts_with("terminal.crt: certificate (serial "), "{}", lines[0]);
    assert!(lines[0].contains("revoked") && lines[0].contains("keyCompromise"), "{}", lines[0]);
    ok(
        d,
        &[
            "pki",
            "verify",
            "--ca",
            "root/ca.crt",
            "--chain",
            "issuing/chain.pem",
            "--crl",
            "issuing.crl",
            "--require-crl",
            "band2.crt",
        ],
    );
    // Without a CRL, --require-crl says what is missing.
    let msg = fails(
        d,
        &["pki", "verify", "--ca", "root/ca.crt", "--chain", "issuing/chain.pem", "--require-crl", "band2.crt"],
    );
    assert!(msg.contains("no CRL"), "{msg}");
    // The CRL number grows.
    ok(d, &["pki", "crl", "--ca", "issuing", "--out", "issuing2.crl"]);
    let shown = ok(d, &["pki", "show", "--json", "issuing2.crl"]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["type"], "crl");
    assert_eq!(v["crl_number"], "2");
    assert_eq!(v["revoked"][0]["reason"], "keyCompromise");
    if have_openssl() {
        let text = openssl(d, &["crl", "-in", "issuing.crl", "-noout", "-text"]);
        assert!(text.contains("Key Compromise"), "{text}");
    }
}

#[test]
fn sm2_lifecycle_init_issue_verify_revoke_crl() {
    lifecycle("sm2");
}

#[test]
fn rsa_lifecycle_init_issue_verify_revoke_crl() {
    lifecycle("rsa");
}

#[test]
fn verify_says_what_is_wrong_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_cas(d, "sm2");
    ok(
        d,
        &[
            "pki",
            "issue",
            "--ca",
            "issuing",
            "--role",
            "terminal",
            "--subject",
            "CN=band",
            "--out",
            "terminal",
            "--days",
            "10",
        ],
    );
    let check = |args: &[&str], want: &str| {
        let o = wearpay(d, args);
        assert!(!o.ok, "{args:?} passed");
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{}", o.stdout);
        assert!(lines[0].starts_with("terminal.crt: "), "{}", lines[0]);
        assert!(lines[0].contains(want), "wanted {want:?} in {:?}", lines[0]);
    };
    let base = ["pki", "verify", "--ca", "root/ca.crt", "--chain", "issuing/chain.pem"];
    check(&[&base[..], &["--at", "2099-01-01", "terminal.crt"]].concat(), "certificate expired on 20");
    check(&[&base[..], &["--at", "2001-01-01T00:00:00Z", "terminal.crt"]].concat(), "certificate is not valid before");
    check(&[&base[..], &["--role", "center-sign", "terminal.crt"]].concat(), "serverAuth");
    check(&[&base[..], &["--role", "terminal-enc", "terminal.crt"]].concat(), "keyEncipherment");
    check(
        &["pki", "verify", "--ca", "root/ca.crt", "terminal.crt"],
        "was issued by \"C=CN, O=wearpay, CN=CLI Issuing CA\"",
    );
    // A flipped byte in the signed part.
    let mut der = std::fs::read(d.join("terminal.crt")).unwrap();
    let text = String::from_utf8(der.clone()).unwrap();
    let block = text.lines().filter(|l| !l.starts_with("-----")).collect::<String>();
    let _ = &mut der;
    let raw = base64_decode(&block);
    let mut bad = raw.clone();
    let pos = bad.windows(4).position(|w| w == b"band").unwrap();
    bad[pos] ^= 1;
    std::fs::write(d.join("terminal.crt"), &bad).unwrap();
    check(&[&base[..], &["terminal.crt"]].concat(), "bad signature");
    // Garbage.
    std::fs::write(d.join("terminal.crt"), b"not a certificate").unwrap();
    check(&[&base[..], &["terminal.crt"]].concat(), "malformed");
    // JSON output.
    std::fs::write(d.join("terminal.crt"), &raw).unwrap();
    let out = ok(d, &[&base[..], &["--json", "terminal.crt"]].concat());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["path"].as_array().unwrap().len(), 3);
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn csr_then_issue_with_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_cas(d, "sm2");
    let hmac = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    ok(
        d,
        &[
            "pki",
            "csr",
            "--key",
            "band.key",
            "--new",
            "sm2",
            "--subject",
            "/C=CN/O=wearpay/CN=band 5",
            "--out",
            "band.csr",
            "--challenge",
            hmac,
        ],
    );
    // The key file is not overwritten by a second --new.
    assert!(
        fails(d, &["pki", "csr", "--key", "band.key", "--new", "sm2", "--subject", "CN=x", "--out", "x.csr"])
            .contains("already exists")
    );
    let shown: serde_json::Value = serde_json::from_str(&ok(d, &["pki", "show", "--json", "band.csr"])).unwrap();
    assert_eq!(shown["challenge_password"], hmac);
    assert_eq!(shown["signature"], "valid");
    assert_eq!(shown["subject"], "C=CN, O=wearpay, CN=band 5");
    let msg = fails(
        d,
        &[
            "pki",
            "issue",
            "--ca",
            "issuing",
            "--role",
            "terminal",
            "--csr",
            "band.csr",
            "--expect-challenge",
            "00",
            "--out",
            "band",
        ],
    );
    assert!(msg.contains("challengePassword"), "{msg}");
    ok(
        d,
        &[
            "pki",
            "issue",
            "--ca",
            "issuing",
            "--role",
            "terminal",
            "--csr",
            "band.csr",
            "--expect-challenge",
            hmac,
            "--out",
            "band",
        ],
    );
    ok(d, &["pki", "verify", "--ca", "root/ca.crt", "--chain", "issuing/chain.pem", "--role", "terminal", "band.crt"]);
    // A CSR with an existing RSA key.
    if have_openssl() {
        openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"]);
        ok(d, &["pki", "csr", "--key", "rsa.key", "--subject", "CN=rsa band", "--out", "rsa.csr"]);
        assert!(openssl(d, &["req", "-verify", "-noout", "-in", "rsa.csr"]).contains("verify OK"));
        assert!(openssl(d, &["req", "-verify", "-noout", "-vfyopt", DISTID, "-in", "band.csr"]).contains("verify OK"));
    }
}

#[test]
fn openssl_made_csr_and_certificates() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    two_cas(d, "sm2");
    openssl(d, &["genpkey", "-algorithm", "SM2", "-out", "o.key"]);
    openssl(
        d,
        &["req", "-new", "-key", "o.key", "-sm3", "-sigopt", DISTID, "-subj", "/CN=openssl band", "-out", "o.csr"],
    );
    ok(d, &["pki", "issue", "--ca", "issuing", "--role", "terminal", "--csr", "o.csr", "--out", "o"]);
    assert!(!d.join("o.key.tmp").exists());
    ok(d, &["pki", "verify", "--ca", "root/ca.crt", "--chain", "issuing/chain.pem", "--role", "terminal", "o.crt"]);
    let text = openssl(
        d,
        &["verify", "-CAfile", "issuing/ca.crt", "-partial_chain", "-vfyopt", DISTID, "-purpose", "sslclient", "o.crt"],
    );
    assert!(text.contains("o.crt: OK"), "{text}");

    // OpenSSL as the CA: a root with the ID, and a band certificate signed without it.
    openssl(d, &["genpkey", "-algorithm", "SM2", "-out", "oca.key"]);
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "oca.key",
            "-sm3",
            "-sigopt",
            DISTID,
            "-subj",
            "/CN=OpenSSL Root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "oca.crt",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n").unwrap();
    for (out, with_id) in [("signed.crt", true), ("noid.crt", false)] {
        let mut args =
            vec!["x509", "-req", "-in", "o.csr", "-CA", "oca.crt", "-CAkey", "oca.key", "-sm3", "-vfyopt", DISTID];
        if with_id {
            args.extend(["-sigopt", DISTID]);
        }
        args.extend(["-days", "5", "-extfile", "ext.cnf", "-out", out]);
        openssl(d, &args);
    }
    assert_eq!(ok(d, &["pki", "verify", "--ca", "oca.crt", "--role", "terminal", "signed.crt"]), "signed.crt: OK\n");
    let msg = fails(d, &["pki", "verify", "--ca", "oca.crt", "noid.crt"]);
    assert!(msg.starts_with("noid.crt: certificate is signed with an empty SM2 ID"), "{msg}");
    // `show` reads OpenSSL's files too.
    let shown = ok(d, &["pki", "show", "signed.crt"]);
    assert!(shown.contains("CN=openssl band") && shown.contains("clientAuth"), "{shown}");
}

#[test]
fn encrypted_ca_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pw.txt"), "root secret\n").unwrap();
    ok(d, &["pki", "init-ca", "--dir", "root", "--password-file", "pw.txt"]);
    let key = std::fs::read_to_string(d.join("root/ca.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(d.join("root/ca.key")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let msg = fails(d, &["pki", "init-ca", "--dir", "issuing", "--parent", "root"]);
    assert!(msg.contains("encrypted") && msg.contains("--ca-password-file"), "{msg}");
    assert!(!d.join("issuing/ca.key").exists(), "a key was left behind");
    std::fs::write(d.join("bad.txt"), "wrong\n").unwrap();
    let msg = fails(d, &["pki", "init-ca", "--dir", "issuing", "--parent", "root", "--ca-password-file", "bad.txt"]);
    assert!(msg.contains("wrong password"), "{msg}");
    // The issuing CA's own key: SM4-CBC + HMAC-SM3, its password from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_wearpay"))
        .current_dir(d)
        .env("ISSUING_PW", "issuing pass")
        .args(["pki", "init-ca", "--dir", "issuing", "--parent", "root", "--ca-password-file", "pw.txt"])
        .args(["--key-cipher", "sm4", "--password-env", "ISSUING_PW"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_wearpay"))
        .current_dir(d)
        .env("WEARPAY_CA_PASSWORD", "issuing pass")
        .args(["pki", "issue", "--ca", "issuing", "--role", "terminal", "--subject", "CN=t", "--out", "t"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(
        d,
        &[
            "pki",
            "issue",
            "--ca",
            "root",
            "--ca-password-file",
            "pw.txt",
            "--role",
            "center-sign",
            "--subject",
            "CN=center",
            "--out",
            "center",
            "--dns",
            "center.example",
            "--ip",
            "127.0.0.1",
        ],
    );
    let shown = ok(d, &["pki", "show", "center.crt"]);
    assert!(shown.contains("DNS:center.example") && shown.contains("IP:127.0.0.1"), "{shown}");
    if have_openssl() {
        openssl(d, &["pkey", "-in", "root/ca.key", "-passin", "pass:root secret", "-noout"]);
    }
    // An SM4/HMAC-SM3 protected band key, password from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_wearpay"))
        .current_dir(d)
        .env("BAND_PW", "band pass")
        .args([
            "pki",
            "csr",
            "--key",
            "b.key",
            "--new",
            "sm2",
            "--key-cipher",
            "sm4",
            "--password-env",
            "BAND_PW",
            "--subject",
            "CN=b",
            "--out",
            "b.csr",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_wearpay"))
        .current_dir(d)
        .env("BAND_PW", "band pass")
        .args([
            "pki",
            "csr",
            "--key",
            "b.key",
            "--password-env",
            "BAND_PW",
            "--subject",
            "CN=b again",
            "--out",
            "b2.csr",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tongsuo_certificates_verify_on_the_command_line() {
    let vectors = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp/ecc_sm4_cbc_sm3"));
    let d = vectors.join("certs");
    for (cert, role) in [
        ("srv_sign.crt", "center-sign"),
        ("srv_enc.crt", "center-enc"),
        ("cli_sign.crt", "terminal"),
        ("cli_enc.crt", "terminal-enc"),
    ] {
        let out = ok(&d, &["pki", "verify", "--ca", "ca.crt", "--role", role, "--at", "2027-06-01", cert]);
        assert_eq!(out, format!("{cert}: OK\n"));
    }
    let shown = ok(&d, &["pki", "show", "srv_sign.crt"]);
    assert!(shown.contains("DNS:localhost") && shown.contains("SM2-with-SM3"), "{shown}");
}

#[test]
fn init_ca_refuses_to_overwrite_and_show_rejects_junk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["pki", "init-ca", "--dir", "root", "--alg", "rsa", "--days", "10"]);
    assert!(fails(d, &["pki", "init-ca", "--dir", "root"]).contains("already holds a CA"));
    std::fs::write(d.join("junk.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    assert!(fails(d, &["pki", "show", "junk.pem"]).contains("truncated"));
    let shown = ok(d, &["pki", "show", "root/ca.crt"]);
    assert!(shown.contains("sha256WithRSAEncryption") && shown.contains("RSA-2048"), "{shown}");
    // Unknown role names are refused by the argument parser.
    assert!(!wearpay(d, &["pki", "issue", "--ca", "root", "--role", "bank", "--subject", "CN=x", "--out", "x"]).ok);
}
