//! Cross-checks with Debian's `openssl` 3 command line: `enc -sm4-cbc` and `dgst -sm3`.
//! (OpenSSL 3.0's `enc` has no AEAD modes, so SM4-GCM is covered by RFC 8998 and the
//! differential tests instead.)
//!
//! Skipped with a message if `openssl` is missing or lacks SM3/SM4, unless
//! `WEARPAY_REQUIRE_INTEROP=1`, which turns that into a failure.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::{
    io::Write,
    process::{Command, Stdio},
};

use common::{Rng, providers};
use wearpay_shangmi::PROVIDER;

/// Runs `openssl args…` with `input` on stdin; `None` if it cannot run or fails.
fn openssl(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

/// Whether the interop tests can run; panics if they must and cannot.
fn available() -> bool {
    let ok = openssl(&["dgst", "-sm3", "-binary"], b"abc").is_some()
        && openssl(&["enc", "-sm4-cbc", "-K", &"00".repeat(16), "-iv", &"00".repeat(16), "-nopad"], &[0; 16]).is_some();
    if !ok {
        assert!(
            std::env::var("WEARPAY_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "WEARPAY_REQUIRE_INTEROP=1 but `openssl` with SM3/SM4 is not available"
        );
        eprintln!("skipped: no `openssl` binary with SM3 and SM4-CBC");
    }
    ok
}

#[test]
fn sm3_agrees_with_openssl() {
    if !available() {
        return;
    }
    let mut rng = Rng::new(0x0553);
    for len in [0usize, 1, 55, 56, 63, 64, 65, 1000, 16384, 100_000] {
        let data = rng.bytes(len);
        let want = openssl(&["dgst", "-sm3", "-binary"], &data).unwrap();
        assert_eq!(PROVIDER.sm3.hash(&data).as_ref(), &want[..], "len {len}");
    }
}

#[test]
fn sm4_cbc_agrees_with_openssl() {
    if !available() {
        return;
    }
    let mut rng = Rng::new(0x05c4);
    for p in providers() {
        for len in [16usize, 32, 48, 256, 4096, 16384] {
            let key: [u8; 16] = rng.array();
            let iv: [u8; 16] = rng.array();
            let data = rng.bytes(len);
            let (k, i) = (hex::encode(key), hex::encode(iv));
            let want = openssl(&["enc", "-sm4-cbc", "-K", &k, "-iv", &i, "-nopad"], &data).unwrap();
            let c = p.sm4_cbc.new_key(&key).unwrap();
            let mut buf = data.clone();
            c.encrypt(&iv, &mut buf).unwrap();
            assert_eq!(buf, want, "{} len {len}", p.name);
            let back = openssl(&["enc", "-d", "-sm4-cbc", "-K", &k, "-iv", &i, "-nopad"], &buf).unwrap();
            assert_eq!(back, data, "{} len {len}", p.name);
        }
    }
}
