//! `wearpay tlcp server` and `wearpay tlcp client`, run as processes on loopback with the
//! recorded sessions' certificates. Every process is bounded: killed on drop or timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

extern crate alloc;

use alloc::sync::Arc;
use core::time::Duration;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::Instant;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp/ecc_sm4_gcm_sm3");
const BIN: &str = env!("CARGO_BIN_EXE_wearpay");
const TIMEOUT: Duration = Duration::from_secs(60);

fn cert(name: &str) -> String {
    format!("{VECTORS}/certs/{name}.crt")
}

fn key(name: &str) -> String {
    format!("{VECTORS}/keys/{name}.key")
}

/// A running `wearpay tlcp server`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["tlcp", "server", "--listen", "127.0.0.1:0"])
            .args(["--sign-cert", &cert("srv_sign"), "--sign-key", &key("srv_sign")])
            .args(["--enc-cert", &cert("srv_enc"), "--enc-key", &key("srv_enc")])
            .args(["--ca", &cert("ca"), "--idle-timeout", "30"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Self { child, addr: String::new(), log };
        let line = rx.recv_timeout(TIMEOUT).expect("the server did not report its address");
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = server.child.wait();
            panic!("first line {line:?}; log: {}", server.log());
        };
        server.addr = addr.to_string();
        server
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a `--once` server to exit.
    fn wait(&mut self) -> ExitStatus {
        wait_bounded(&mut self.child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_bounded(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not finish in {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Run {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `wearpay tlcp client` against `addr` with the client vector certificates.
fn client(addr: &str, extra: &[&str], input: &[u8]) -> Run {
    let defaults = [
        ("--server-name", "localhost".to_string()),
        ("--sign-cert", cert("cli_sign")),
        ("--sign-key", key("cli_sign")),
        ("--enc-cert", cert("cli_enc")),
        ("--enc-key", key("cli_enc")),
        ("--ca", cert("ca")),
        ("--timeout", "20".to_string()),
    ];
    let mut cmd = Command::new(BIN);
    cmd.args(["tlcp", "client", "--connect", addr]);
    // `extra` overrides a default flag of the same name.
    for (flag, value) in &defaults {
        if !extra.contains(flag) {
            cmd.args([flag, value.as_str()]);
        }
    }
    let mut child =
        cmd.args(extra).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child);
    writer.join().unwrap();
    Run { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

#[test]
fn echo_round_trip() {
    let server = Server::start(&[]);
    let run = client(&server.addr, &[], b"hello wearpay\n");
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, b"hello wearpay\n");
    assert!(run.stderr.contains("connection 1: new session, ECC_SM4_GCM_SM3, seed order"), "{}", run.stderr);
    let log = server.log();
    assert!(log.contains("handshake complete"), "{log}");
    assert!(log.contains("CN=Interop TLCP Client"), "{log}");
    assert!(log.contains("closed cleanly"), "{log}");
}

#[test]
fn reconnect_resumes_the_session() {
    let server = Server::start(&[]);
    let run = client(&server.addr, &["--reconnect", "2"], b"OrderQuery");
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, b"OrderQueryOrderQueryOrderQuery");
    assert_eq!(run.stderr.matches("new session").count(), 1, "{}", run.stderr);
    assert_eq!(run.stderr.matches("resumed session").count(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("connection 3: resumed session"), "{}", run.stderr);
    let log = server.log();
    assert_eq!(log.matches("session=resumed").count(), 2, "{log}");
    assert_eq!(log.matches("session=new").count(), 1, "{log}");
}

#[test]
fn every_profile_pair() {
    for server_profile in ["seed", "tlcp", "auto"] {
        let server = Server::start(&["--profile", server_profile]);
        for client_profile in ["seed", "tlcp", "auto"] {
            let run = client(&server.addr, &["--profile", client_profile], b"ping");
            let what = format!("server {server_profile}, client {client_profile}: {}", run.stderr);
            match (server_profile, client_profile) {
                ("tlcp", "seed") => {
                    assert!(!run.status.success(), "{what}");
                    assert!(run.stderr.contains("did not confirm the seed order"), "{what}");
                }
                ("seed", "tlcp") => {
                    assert!(!run.status.success(), "{what}");
                    assert!(run.stderr.contains("server sent fatal alert handshake_failure"), "{what}");
                }
                _ => {
                    assert!(run.status.success(), "{what}");
                    assert_eq!(run.stdout, b"ping", "{what}");
                    let order = if server_profile == "tlcp" || client_profile == "tlcp" { "tlcp" } else { "seed" };
                    assert!(run.stderr.contains(&format!("{order} order")), "{what}");
                }
            }
            if !run.status.success() {
                assert_eq!(run.stderr.lines().count(), 1, "{what}");
            }
        }
    }
}

#[test]
fn a_wrong_server_name_fails_with_one_line() {
    let mut server = Server::start(&["--once"]);
    let run = client(&server.addr, &["--server-name", "bank.example"], b"ping");
    assert!(!run.status.success());
    assert!(run.stdout.is_empty());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("wearpay: handshake failed: "), "{}", lines[0]);
    assert!(lines[0].contains("bank.example"), "{}", lines[0]);
    assert!(lines[0].ends_with("(alert bad_certificate sent)"), "{}", lines[0]);
    // The server hears the alert and, serving once, exits non-zero.
    assert!(!server.wait().success());
    assert!(server.log().contains("client sent fatal alert bad_certificate"), "{}", server.log());
}

#[test]
fn an_untrusted_server_is_an_unknown_ca() {
    let server = Server::start(&[]);
    // Trusting the server's own leaf, not its root.
    let run = client(&server.addr, &["--ca", &cert("srv_enc")], b"ping");
    assert!(!run.status.success());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("(alert unknown_ca sent)"), "{}", run.stderr);
}

#[test]
fn cipher_restricts_the_suite() {
    let server = Server::start(&[]);
    let run = client(&server.addr, &["--cipher", "ECC-SM2-SM4-CBC-SM3"], b"cbc");
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, b"cbc");
    assert!(run.stderr.contains("ECC_SM4_CBC_SM3"), "{}", run.stderr);

    let gcm_only = Server::start(&["--cipher", "ECC_SM4_GCM_SM3"]);
    let run = client(&gcm_only.addr, &["--cipher", "ECC_SM4_CBC_SM3"], b"cbc");
    assert!(!run.status.success());
    assert_eq!(run.stderr.trim(), "wearpay: handshake failed: server sent fatal alert handshake_failure");
    assert!(gcm_only.log().contains("no cipher suite in common"), "{}", gcm_only.log());

    let run = client(&server.addr, &["--cipher", "NOT_A_SUITE"], b"");
    assert!(!run.status.success());
    assert_eq!(run.stderr.trim(), "wearpay: unknown cipher suite \"NOT_A_SUITE\"");
}

#[test]
fn small_fragments_carry_a_large_input() {
    let server = Server::start(&[]);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let run = client(&server.addr, &["--max-fragment", "512", "--profile", "tlcp"], &data);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout == data, "{} bytes back", run.stdout.len());
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused_before_connecting() {
    let run = client("127.0.0.1:9", &["--sign-key", &key("cli_enc")], b"");
    assert!(!run.status.success());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("does not match the signing certificate"), "{}", run.stderr);
}

/// Runs `wearpay bench <args>` and parses its JSON output.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let mut child =
        Command::new(BIN).arg("bench").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(wait_bounded(&mut child).success());
    serde_json::from_str(&out).unwrap()
}

#[test]
fn bench_handshake_reports_json() {
    let v = bench_json(&["handshake", "--seconds", "0.05", "--rounds", "1", "--suite", "ECC_SM4_GCM_SM3", "--json"]);
    assert_eq!(v["provider"], "shangmi", "the center's provider by default");
    let r = &v["results"][0];
    assert_eq!(r["suite"], "ECC_SM4_GCM_SM3");
    assert!(r["full_per_sec"].as_f64().unwrap() > 0.0);
    assert!(r["resumed_per_sec"].as_f64().unwrap() > 0.0);

    // --only full skips the resumed handshakes and says so with null.
    let v = bench_json(&[
        "handshake",
        "--seconds",
        "0.05",
        "--rounds",
        "1",
        "--suite",
        "ECC_SM4_CBC_SM3",
        "--only",
        "full",
        "--json",
    ]);
    let r = &v["results"][0];
    assert!(r["full_per_sec"].as_f64().unwrap() > 0.0);
    assert!(r["resumed_per_sec"].is_null(), "{r}");
    assert_eq!(r["resumed_rounds"].as_array().unwrap().len(), 0);
}

/// `bench crypto --json`: every operation the issue names, then the two under keys not seen
/// before, on both providers, in its unit.
#[test]
fn bench_crypto_reports_both_providers() {
    let v = bench_json(&["crypto", "--seconds", "0.02", "--rounds", "1", "--json"]);
    let ops: Vec<(&str, &str)> =
        v.as_array().unwrap().iter().map(|f| (f["op"].as_str().unwrap(), f["unit"].as_str().unwrap())).collect();
    assert_eq!(
        ops,
        [
            ("sm2_sign", "ops/s"),
            ("sm2_verify", "ops/s"),
            ("sm2_encrypt", "ops/s"),
            ("sm2_decrypt", "ops/s"),
            ("sm3", "MB/s"),
            ("sm4_gcm", "MB/s"),
            ("sm4_cbc_encrypt", "MB/s"),
            ("sm4_cbc_decrypt", "MB/s"),
            ("sm2_verify_new_key", "ops/s"),
            ("sm2_encrypt_new_key", "ops/s"),
        ]
    );
    for f in v.as_array().unwrap() {
        assert_eq!(f.as_object().unwrap().len(), 4, "{f}");
        assert!(f["shangmi"].as_f64().unwrap() > 0.0 && f["rustcrypto"].as_f64().unwrap() > 0.0, "{f}");
    }
}
