//! `wearpay center` and `wearpay load` end to end: the built binary makes a center, runs
//! it as its own process, and operators' commands and the load generator work against it.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core)]

mod common;
use common::{Process, json, ok, wearpay};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn operate_a_center_and_load_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let c = ["--config", "c/center.toml"];
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        let mut v = args.to_vec();
        v.extend(["--config", "c/center.toml"]);
        v
    };
    ok(dir, &["center", "init", "--dir", "c", "--listen", "127.0.0.1:0"]);
    let (fails, _, err) = wearpay(dir, &["center", "init", "--dir", "c"]);
    assert!(!fails && err.contains("exists already"), "{err}");
    ok(dir, &with(&["center", "check"]));

    // Accounts, a merchant, an order.
    let alice = json(
        dir,
        &[&with(&["center", "account", "create", "--name", "Alice", "--pan", "6212345678901234"])[..], &["--json"]]
            .concat(),
    );
    let alice_id = alice["account"].as_i64().unwrap().to_string();
    let deposited = json(
        dir,
        &[&with(&["center", "account", "deposit", "--amount", "80.00 CNY", "--json"])[..], &["--account", &alice_id]]
            .concat(),
    );
    assert_eq!(deposited["balance"], "80.00 CNY");
    ok(dir, &with(&["center", "merchant", "create", "--id", "M-7", "--name", "Noodle Bar"]));
    ok(dir, &with(&["center", "order", "create", "--id", "ORD-7", "--merchant", "M-7", "--amount", "30.00 CNY"]));
    let order = json(dir, &with(&["center", "order", "show", "--id", "ORD-7", "--json"]));
    assert_eq!(order["status"], "open");
    assert_eq!(order["amount"], "30.00 CNY");
    // Bad input is refused and changes nothing.
    let (fine, _, err) = wearpay(
        dir,
        &[&with(&["center", "account", "deposit", "--amount", "-5.00 CNY"])[..], &["--account", &alice_id]].concat(),
    );
    assert!(!fine, "{err}");
    let shown = json(dir, &[&with(&["center", "account", "show", "--json"])[..], &["--account", &alice_id]].concat());
    assert_eq!(shown["balance"], "80.00 CNY");

    // A band's CSR, enrolled; suspended and reactivated; its PIN set and unlocked.
    ok(dir, &["pki", "csr", "--key", "band.key", "--new", "sm2", "--subject", "CN=anything", "--out", "band.csr"]);
    ok(
        dir,
        &[
            &with(&["center", "terminal", "enroll", "--csr", "band.csr", "--out", "band.crt"])[..],
            &["--account", &alice_id],
        ]
        .concat(),
    );
    let cert = json(dir, &["pki", "show", "band.crt", "--json"]);
    let serial = cert["serial"].as_str().unwrap().to_string();
    assert!(cert["subject"].as_str().unwrap().contains(&format!("OU=account {alice_id}")), "{cert}");
    ok(dir, &["pki", "verify", "band.crt", "--ca", "c/pki/root/ca.crt", "--chain", "c/pki/terminal-ca/ca.crt"]);
    let t = json(dir, &[&with(&["center", "terminal", "suspend", "--json"])[..], &["--serial", &serial]].concat());
    assert_eq!(t["status"], "suspended");
    let t = json(dir, &[&with(&["center", "terminal", "reactivate", "--json"])[..], &["--serial", &serial]].concat());
    assert_eq!(t["status"], "active");
    std::fs::write(dir.join("pin"), "135790\n").unwrap();
    ok(dir, &[&with(&["center", "account", "set-pin", "--pin-file", "pin"])[..], &["--account", &alice_id]].concat());
    ok(dir, &[&with(&["center", "terminal", "unlock-pin"])[..], &["--serial", &serial]].concat());
    let shown = json(dir, &[&with(&["center", "account", "show", "--json"])[..], &["--account", &alice_id]].concat());
    assert_eq!(shown["pin_set"], true);
    assert_eq!(shown["pan"], "************1234");
    assert_eq!(shown["terminals"][0]["status"], "active");

    // The center as its own process; the load generator pays through it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wearpay"))
        .current_dir(dir)
        .args(["center", "serve"])
        .args(c)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let server = Process(child);
    let addr = line.split_whitespace().find(|w| w.starts_with("127.0.0.1:")).unwrap().to_string();
    let report = json(
        dir,
        &["load", "--config", "c/center.toml", "--terminals", "3", "--payments", "30", "--center", &addr, "--json"],
    );
    assert_eq!(report["approved"], 30, "{report}");
    assert_eq!(report["ledger_check"]["ok"], true, "{report}");
    assert_eq!(report["handshakes"]["full"], 3, "{report}");
    assert_eq!(report["handshakes"]["resumed"], 27, "{report}");
    assert!(report["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    // PIN mode too, in a center of the load generator's own.
    let report = json(
        dir,
        &["load", "--config", "c/center.toml", "--terminals", "2", "--payments", "6", "--mode", "pin", "--json"],
    );
    assert_eq!(report["approved"], 6, "{report}");

    // A lost band: revoked, in the CRL, refused for good.
    let out = ok(dir, &[&with(&["center", "terminal", "revoke"])[..], &["--serial", &serial]].concat());
    assert!(out.contains("revoked"), "{out}");
    let crl = json(dir, &["pki", "show", "c/crl/terminals.crl", "--json"]);
    assert!(crl.to_string().contains(&serial), "{crl}");
    let (fine, _, err) =
        wearpay(dir, &[&with(&["center", "terminal", "reactivate"])[..], &["--serial", &serial]].concat());
    assert!(!fine && err.contains("revoked"), "{err}");

    // Graceful stop on SIGTERM.
    let mut server = server;
    #[cfg(unix)]
    {
        let pid = server.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = server.0.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
    ok(dir, &with(&["center", "ledger-check"]));
    // Every payment and registry change is in the audit chain, sealed at shutdown.
    let audit = json(dir, &with(&["center", "audit", "verify", "--json"]));
    assert_eq!(audit["ok"], true, "{audit}");
    assert!(audit["entries"].as_u64().unwrap() >= 36, "{audit}");
    assert_eq!(audit["unsealed"], 0, "{audit}");
}

/// `wearpay center rotate`: new channel keys, every center certificate renewed, the old
/// ones kept; the center still checks and its audit trail records the rotation.
#[test]
fn rotate_the_center_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["center", "init", "--dir", "c", "--listen", "127.0.0.1:0"]);
    let before = std::fs::read_to_string(dir.join("c/certs/channel-sign.crt")).unwrap();
    let report = json(dir, &["center", "rotate", "--config", "c/center.toml", "--json"]);
    let certs = report["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 4, "{report}");
    let new_keys: Vec<&str> =
        certs.iter().filter(|c| c["new_key"] == true).map(|c| c["file"].as_str().unwrap()).collect();
    assert_eq!(new_keys, ["channel-sign.crt", "channel-enc.crt"]);
    assert_ne!(std::fs::read_to_string(dir.join("c/certs/channel-sign.crt")).unwrap(), before);
    for retired in report["retired"].as_array().unwrap() {
        assert!(dir.join(retired.as_str().unwrap()).exists(), "{retired}");
    }
    ok(dir, &["center", "check", "--config", "c/center.toml"]);
    let audit = json(dir, &["center", "audit", "verify", "--config", "c/center.toml", "--json"]);
    assert_eq!(audit["ok"], true, "{audit}");
}
