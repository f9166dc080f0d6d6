//! The whole system as separate processes, driven only through the commands the README
//! shows: a center, a bridge (the phone) on the simulated BLE link, and a band enrolled
//! with an activation code, paying in each mode.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core)]

mod common;
use common::{addr_in, json, ok, spawn, wearpay};
use std::path::Path;

fn balance(dir: &Path, account: &str) -> String {
    let v = json(dir, &["center", "account", "show", "--config", "c/center.toml", "--account", account, "--json"]);
    v["balance"].as_str().unwrap().to_string()
}

#[test]
fn a_band_pays_through_a_bridge_in_every_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let c = ["--config", "c/center.toml"];
    let center = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["center".into()];
        v.extend(args.iter().map(|s| s.to_string()));
        v.extend(c.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| ok(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());

    ok(dir, &["center", "init", "--dir", "c", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    let (_center, lines) = spawn(dir, &["center", "serve", "--config", "c/center.toml"], 2, false);
    let channel = addr_in(&lines[0]);
    let http = addr_in(&lines[1]);

    // The bank: Alice's account, funds, a PIN, an activation code; a merchant and orders.
    let alice: serde_json::Value = serde_json::from_str(&run(center(&[
        "account",
        "create",
        "--name",
        "Alice",
        "--pan",
        "6212345678901234",
        "--json",
    ])))
    .unwrap();
    let alice = alice["account"].as_i64().unwrap().to_string();
    run(center(&["account", "deposit", "--account", &alice, "--amount", "200.00 CNY"]));
    std::fs::write(dir.join("pin"), "2468\n").unwrap();
    run(center(&["account", "set-pin", "--account", &alice, "--pin-file", "pin"]));
    let code: serde_json::Value =
        serde_json::from_str(&run(center(&["activation", "create", "--account", &alice, "--json"]))).unwrap();
    let code = code["code"].as_str().unwrap().to_string();
    run(center(&["merchant", "create", "--id", "M-1", "--name", "Tea House"]));
    for n in 1..=7 {
        run(center(&["order", "create", "--id", &format!("ORD-{n}"), "--merchant", "M-1", "--amount", "10.00 CNY"]));
    }

    // The phone's bridge, and the band enrolling through the center's HTTP API.
    let sim = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (_bridge, _) = spawn(dir, &["bridge", "--sim", &sim, "--center", &channel], 1, true);
    let url = format!("http://{http}");
    ok(dir, &["terminal", "init", "--dir", "band", "--activation", &code, "--center-url", &url]);
    // The code is spent.
    let (again, _, err) =
        wearpay(dir, &["terminal", "init", "--dir", "band2", "--activation", &code, "--center-url", &url]);
    assert!(!again, "{err}");

    let pay = |order: &str, mode: &str, extra: &[&str]| {
        let mut args =
            vec!["terminal", "pay", "--dir", "band", "--bridge", &sim, "--order", order, "--mode", mode, "--json"];
        args.extend(extra);
        wearpay(dir, &args)
    };
    for (order, mode, extra) in [
        ("ORD-1", "quick", vec!["--yes"]),
        ("ORD-2", "pin", vec!["--yes", "--pin", "2468"]),
        ("ORD-3", "biometric", vec!["--yes"]),
        ("ORD-4", "confirm", vec!["--yes"]),
    ] {
        let (fine, out, err) = pay(order, mode, &extra);
        assert!(fine, "{mode}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["approved"], true, "{v}");
        assert_eq!(v["order"], order);
    }
    assert_eq!(balance(dir, &alice), "160.00 CNY");

    // No press: nothing is signed or sent, and no money moves.
    let (fine, _, err) = pay("ORD-5", "quick", &[]);
    assert!(!fine, "paid without a press: {err}");
    // A wrong PIN is declined by the center.
    let (fine, out, _) = pay("ORD-5", "pin", &["--yes", "--pin", "1111"]);
    assert!(!fine);
    assert!(out.contains("wrong_pin"), "{out}");
    // A band taken off the wrist cannot use quick mode.
    let (fine, _, _) = pay("ORD-5", "quick", &["--yes", "--not-worn"]);
    assert!(!fine);
    assert_eq!(balance(dir, &alice), "160.00 CNY");
    let show = center(&["order", "show", "--id", "ORD-5", "--json"]);
    let order = json(dir, &show.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(order["status"], "open");

    // The band keeps its receipts; the center agrees on the balance.
    let receipts = json(dir, &["terminal", "receipts", "--dir", "band", "--json"]);
    let approved = receipts.as_array().unwrap().iter().filter(|r| r["approved"] == true).count();
    assert_eq!(approved, 4, "{receipts}");
    let b = json(dir, &["terminal", "balance", "--dir", "band", "--bridge", &sim, "--json"]);
    assert_eq!(b["balance"], "160.00 CNY");

    // A tampered secure-element file is refused with a clear error.
    std::fs::create_dir(dir.join("copy")).unwrap();
    for f in ["se.state", "device.secret", "provisioning.txt"] {
        std::fs::copy(dir.join("band").join(f), dir.join("copy").join(f)).unwrap();
    }
    let mut state = std::fs::read(dir.join("copy/se.state")).unwrap();
    let last = state.len() - 20;
    state[last] ^= 1;
    std::fs::write(dir.join("copy/se.state"), state).unwrap();
    let (fine, _, err) = wearpay(dir, &["terminal", "receipts", "--dir", "copy"]);
    assert!(!fine && err.contains("tamper"), "{err}");

    // The band renews its certificate through the phone: not yet due on its own, so asked
    // for; its next payment moves the terminal to the new serial.
    let renew = |extra: &[&str]| {
        let mut args = vec!["terminal", "renew", "--dir", "band", "--bridge", &sim, "--json"];
        args.extend(extra);
        json(dir, &args)
    };
    assert_eq!(renew(&["--if-due"])["renewed"], false);
    let renewed = renew(&[]);
    assert_eq!(renewed["renewed"], true, "{renewed}");
    let old = active_serial(dir, &alice);
    assert_eq!(renewed["replaces"], old.as_str());
    let (fine, out, err) = pay("ORD-6", "quick", &["--yes"]);
    assert!(fine, "{out}{err}");
    let serial = active_serial(dir, &alice);
    assert_eq!(renewed["serial"], serial.as_str(), "the terminal moved to the new certificate");
    let list = json(dir, &["center", "terminal", "list", "--config", "c/center.toml", "--account", &alice, "--json"]);
    let row = |s: &str| list.as_array().unwrap().iter().find(|t| t["serial"] == s).unwrap().clone();
    assert_eq!(row(&old)["status"], "revoked");
    assert_eq!(row(&old)["replaced_by"], serial.as_str(), "the list says the old certificate was renewed");
    assert!(row(&serial)["replaced_by"].is_null());
    let lines = ok(dir, &["center", "terminal", "list", "--config", "c/center.toml", "--account", &alice]);
    assert!(lines.contains(&format!("{old}: account {alice}, revoked, renewed as {serial}")), "{lines}");
    assert_eq!(balance(dir, &alice), "150.00 CNY");

    // The band is lost: revoked, it can pay no more.
    run(center(&["terminal", "revoke", "--serial", &serial]));
    let (fine, _, _) = pay("ORD-7", "quick", &["--yes"]);
    assert!(!fine, "a revoked band paid");
    assert_eq!(balance(dir, &alice), "150.00 CNY");

    run(center(&["ledger-check"]));
}

/// The serial of the account's one active terminal.
fn active_serial(dir: &Path, account: &str) -> String {
    let v = json(dir, &["center", "terminal", "list", "--config", "c/center.toml", "--account", account, "--json"]);
    let active = v.as_array().unwrap().iter().find(|t| t["status"] == "active").unwrap();
    active["serial"].as_str().unwrap().to_string()
}

/// Every command line the README shows is one the binary takes: its subcommand exists and
/// each of its flags is in that subcommand's help, so the README cannot drift from the code.
#[test]
fn the_readme_commands_exist() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut in_shell = false;
    for line in readme.lines().map(str::trim) {
        if line.starts_with("```") {
            in_shell = line == "```sh";
            continue;
        }
        if !in_shell || !line.starts_with("wearpay ") {
            continue;
        }
        let line = line.split(" #").next().unwrap().trim_end_matches('&').trim();
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        let command: Vec<&str> = words.iter().copied().take_while(|w| !w.starts_with('-')).collect();
        let mut args = command.clone();
        args.push("--help");
        let help = ok(tmp.path(), &args);
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            assert!(help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")), "{line}: no {flag}");
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} README commands found");
}
