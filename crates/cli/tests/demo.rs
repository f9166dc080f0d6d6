//! `wearpay demo` as a user runs it: the built binary, its narrative, its JSON summary, and
//! the set-up `--keep` leaves for the other commands.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;
use common::{json, ok, spawn, wearpay};

#[test]
fn the_narrative_tells_every_step_and_the_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(tmp.path(), &["demo"]);
    for section in [
        "[1] Set-up",
        "[2] Four payment modes",
        "[3] The phone starts a payment; nobody presses",
        "[4] Wrong PINs up to the lockout",
        "[5] A phone that tampers",
        "[6] The link drops",
        "[7] A lost band",
        "[8] The ledger and the audit trail",
    ] {
        assert!(out.contains(section), "no section {section:?} in:\n{out}");
    }
    // The F-steps of a full handshake and of a resumption, each on a line with its party.
    for (party, label) in [
        ("band", "F1 "),
        ("band", "F2 "),
        ("center", "F3 "),
        ("center", "F4 "),
        ("band", "F5 "),
        ("band", "F6 "),
        ("center", "F7 "),
        ("center", "F8–F9 "),
        ("band", "F9–F10 "),
        ("center", "F4–F7 "),
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(party) && l.contains(label)),
            "no {party} line with {label:?} in:\n{out}"
        );
    }
    for party in ["band", "phone", "center", "merchant", "bank"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(party)), "no line of the {party}");
    }
    assert!(out.contains("B on air") && out.contains("ms airtime") && out.contains("round trips"), "{out}");
    assert!(out.contains("every step behaved"), "{out}");
    // Not a terminal: no colours; and the lines fit a 100-column terminal.
    assert!(!out.contains('\x1b'), "colour codes in piped output");
    for line in out.lines() {
        assert!(line.chars().count() <= 100, "a line wider than 100 columns: {line:?}");
    }
}

#[test]
fn the_json_summary_says_what_happened() {
    let tmp = tempfile::tempdir().unwrap();
    let (fine, out, err) = wearpay(tmp.path(), &["demo", "--json"]);
    assert!(fine, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The narrative went to stderr, the one document to stdout.
    assert!(err.contains("[1] Set-up"), "{err}");
    assert_eq!(v["ok"], true, "{v:#}");
    let steps = v["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["setup", "modes", "no_press", "pin_lockout", "tamper", "drop", "lost", "final_check"]);
    assert!(steps.iter().all(|s| s["ok"] == true && !s["detail"].as_str().unwrap().is_empty()), "{v:#}");

    let payments = v["payments"].as_array().unwrap();
    let of = |step: &str| payments.iter().filter(move |p| p["step"] == step).collect::<Vec<_>>();
    // Four modes approved: the first over a full handshake, then resumed sessions.
    let modes = of("modes");
    let names: Vec<&str> = modes.iter().map(|p| p["mode"].as_str().unwrap()).collect();
    assert_eq!(names, ["quick", "pin", "biometric", "confirm"]);
    assert!(modes.iter().all(|p| p["outcome"] == "approved"), "{modes:#?}");
    assert_eq!(modes[0]["handshake"], "full");
    assert!(modes[1..].iter().all(|p| p["handshake"] == "resumed"), "{modes:#?}");
    for p in &modes {
        assert!(p["bytes_on_air"].as_u64().unwrap() > 500, "{p}");
        assert!(p["airtime_ms"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["round_trips"].as_u64().unwrap() >= 3, "{p}");
    }
    // A full handshake costs more on the air than a resumed one.
    assert!(modes[0]["bytes_on_air"].as_u64() > modes[1]["bytes_on_air"].as_u64());

    assert_eq!(of("no_press").len(), 1);
    assert_eq!(of("no_press")[0]["outcome"], "no_press");
    let pins = of("pin_lockout");
    let reasons: Vec<&str> = pins.iter().map(|p| p["reason"].as_str().unwrap_or("")).collect();
    assert_eq!(reasons, ["wrong_pin", "wrong_pin", "wrong_pin", "wrong_pin", "pin_locked", "pin_locked", ""]);
    assert_eq!(pins.last().unwrap()["outcome"], "approved");
    assert_eq!(of("tamper")[0]["outcome"], "refused");
    assert_eq!(of("tamper")[0]["handshake"], "failed");
    assert_eq!(of("drop")[0]["outcome"], "answer_lost");
    assert_eq!(v["drop"]["bookings"], 1, "{v:#}");
    assert_eq!(v["drop"]["recovered"], true);
    assert_eq!(v["drop"]["order_status"], "paid");
    assert_eq!(of("lost")[0]["outcome"], "refused");
    assert_eq!(of("lost")[0]["handshake"], "failed");

    assert_eq!(v["ledger"]["ok"], true, "{v:#}");
    assert_eq!(v["audit"]["ok"], true, "{v:#}");
    assert_eq!(v["audit"]["unsealed"], 0);
    // 200.00 less 12.00, 25.50, 8.80, 36.00, 18.00 and 9.90.
    assert_eq!(v["final_balance"], "89.80 CNY");
}

#[test]
fn a_kept_setup_works_with_the_other_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keep = dir.join("kept");
    let keep_s = keep.to_str().unwrap();
    let v = json(dir, &["demo", "--keep", keep_s, "--json"]);
    assert_eq!(v["ok"], true, "{v:#}");
    let balance = v["final_balance"].as_str().unwrap().to_string();
    let account = v["account"].as_i64().unwrap().to_string();
    let config = format!("{keep_s}/center/center.toml");

    // The ledger, read by the center's own command.
    let shown = json(dir, &["center", "account", "show", "--config", &config, "--account", &account, "--json"]);
    assert_eq!(shown["balance"], balance.as_str());
    assert_eq!(shown["terminals"].as_array().unwrap().len(), 2, "{shown}");

    // The center and a bridge as their own processes; the kept band asks its balance.
    let kept = &v["kept"];
    let (channel, sim) = (kept["channel"].as_str().unwrap(), kept["bridge_sim"].as_str().unwrap());
    let (_center, lines) = spawn(dir, &["center", "serve", "--config", &config], 1, false);
    assert!(lines[0].contains(channel), "{}", lines[0]);
    let (_bridge, _) = spawn(dir, &["bridge", "--sim", sim, "--center", channel, "--profile", "ble5"], 1, true);
    let b = json(dir, &["terminal", "balance", "--dir", &format!("{keep_s}/band"), "--bridge", sim, "--json"]);
    assert_eq!(b["balance"], balance.as_str());
    // The lost band is refused.
    let (fine, _, _) =
        wearpay(dir, &["terminal", "balance", "--dir", &format!("{keep_s}/first-band"), "--bridge", sim]);
    assert!(!fine, "the revoked band got its balance");

    // The directory is not empty now: a second demo there is refused.
    let (fine, _, err) = wearpay(dir, &["demo", "--keep", keep_s]);
    assert!(!fine);
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn a_non_empty_keep_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine\n").unwrap();
    let (fine, out, err) = wearpay(tmp.path(), &["demo", "--keep", "."]);
    assert!(!fine, "{out}");
    assert!(err.contains("not empty"), "{err}");
    // Nothing was written there.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}
