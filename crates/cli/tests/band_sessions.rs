//! The band across runs of the command: the second `wearpay terminal pay` resumes the first's
//! TLCP session, a damaged sessions file costs a full handshake and nothing else, and a
//! revoked band's resumption is refused and said so. And what one payment costs the band
//! (`wearpay bench payment`): airtime, round trips and its heap at the peak.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;
use common::{Process, addr_in, json, ok, spawn, wearpay};
use std::path::Path;

/// `wearpay center serve` in `dir`, and the channel and HTTP addresses it prints.
fn serve(dir: &Path) -> (Process, String) {
    let (center, lines) = spawn(dir, &["center", "serve", "--config", "c/center.toml"], 2, false);
    (center, format!("{} {}", addr_in(&lines[0]), addr_in(&lines[1])))
}

#[test]
fn a_second_pay_resumes_and_a_revoked_band_is_told_its_resumption_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let center = |args: &[&str]| {
        let mut v = vec!["center"];
        v.extend(args);
        v.extend(["--config", "c/center.toml"]);
        ok(dir, &v)
    };
    ok(dir, &["center", "init", "--dir", "c", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    let (_center, addrs) = serve(dir);
    let (channel, http) = addrs.split_once(' ').unwrap();
    let account: serde_json::Value =
        serde_json::from_str(&center(&["account", "create", "--name", "Bob", "--pan", "6212345678905678", "--json"]))
            .unwrap();
    let account = account["account"].as_i64().unwrap().to_string();
    center(&["account", "deposit", "--account", &account, "--amount", "100.00 CNY"]);
    let code: serde_json::Value =
        serde_json::from_str(&center(&["activation", "create", "--account", &account, "--json"])).unwrap();
    center(&["merchant", "create", "--id", "M-1", "--name", "Tea House"]);
    for n in 1..=5 {
        center(&["order", "create", "--id", &format!("ORD-{n}"), "--merchant", "M-1", "--amount", "1.00 CNY"]);
    }
    let url = format!("http://{http}");
    ok(
        dir,
        &["terminal", "init", "--dir", "band", "--activation", code["code"].as_str().unwrap(), "--center-url", &url],
    );

    let pay = |order: &str| {
        let args = ["terminal", "pay", "--dir", "band", "--center", channel, "--order", order, "--mode", "quick"];
        wearpay(dir, &[&args[..], &["--yes", "--json"]].concat())
    };
    let paid = |order: &str| {
        let (fine, out, err) = pay(order);
        assert!(fine, "{order}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["approved"], true, "{v}");
        (v["handshake"].clone(), err)
    };

    // The first command has no session; the second resumes the one the first kept.
    let (h, _) = paid("ORD-1");
    assert_eq!((h["kind"].as_str(), h["session_offered"].as_bool()), (Some("full"), Some(false)), "{h}");
    let sessions = dir.join("band/tlcp.sessions");
    assert!(sessions.exists(), "the session was not kept");
    let (h, _) = paid("ORD-2");
    assert_eq!((h["kind"].as_str(), h["resumed"].as_bool()), (Some("resumed"), Some(true)), "{h}");
    // Other commands resume too, and say so.
    let b = json(dir, &["terminal", "balance", "--dir", "band", "--center", channel, "--json"]);
    assert_eq!((b["balance"].as_str(), b["handshake"]["kind"].as_str()), (Some("98.00 CNY"), Some("resumed")), "{b}");
    let line = ok(dir, &["terminal", "balance", "--dir", "band", "--center", channel]);
    assert!(line.contains("handshake: resumed"), "{line}");

    // An altered sessions file: a warning, a full handshake, and the payment goes through.
    let mut bytes = std::fs::read(&sessions).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x04;
    std::fs::write(&sessions, &bytes).unwrap();
    let (h, err) = paid("ORD-3");
    assert_eq!(h["kind"], "full", "{h}");
    assert!(err.contains("warning") && err.contains("does not authenticate"), "{err}");
    // A truncated one likewise; then the new session resumes again.
    let bytes = std::fs::read(&sessions).unwrap();
    std::fs::write(&sessions, &bytes[..7]).unwrap();
    let (h, err) = paid("ORD-4");
    assert_eq!(h["kind"], "full", "{h}");
    assert!(err.contains("truncated"), "{err}");
    let b = json(dir, &["terminal", "balance", "--dir", "band", "--center", channel, "--json"]);
    assert_eq!(b["handshake"]["kind"], "resumed", "{b}");

    // The band is reported lost: its saved session is refused, and the command says so.
    let list = json(dir, &["center", "terminal", "list", "--config", "c/center.toml", "--account", &account, "--json"]);
    center(&["terminal", "revoke", "--serial", list[0]["serial"].as_str().unwrap()]);
    let (fine, out, err) = pay("ORD-5");
    assert!(!fine, "a revoked band paid: {out}");
    assert!(err.contains("refused to resume the band's TLCP session"), "{err}");
    // And it stays refused, the certificate now named as the reason.
    let (fine, _, err) = pay("ORD-5");
    assert!(!fine);
    assert!(err.to_lowercase().contains("revoked"), "{err}");
    let order = json(dir, &["center", "order", "show", "--id", "ORD-5", "--json", "--config", "c/center.toml"]);
    assert_eq!(order["status"], "open");
    let b = json(dir, &["center", "account", "show", "--account", &account, "--json", "--config", "c/center.toml"]);
    assert_eq!(b["balance"], "96.00 CNY");
}

#[test]
fn bench_payment_reports_the_band_heap_and_a_resumed_payment_meets_its_goals() {
    let tmp = tempfile::tempdir().unwrap();
    let report = json(tmp.path(), &["bench", "payment", "--payments", "2", "--json"]);
    let goal = 64 * 1024;
    assert_eq!(report["heap_goal_bytes"], goal);
    let payments = report["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 2, "{report}");
    let mut peaks = Vec::new();
    for p in payments {
        for kind in ["full", "resumed"] {
            let (rest, peak) = (&p[kind]["heap_at_rest_bytes"], &p[kind]["heap_peak_bytes"]);
            let (rest, peak) = (rest.as_u64().unwrap(), peak.as_u64().unwrap());
            // A payment holds more than the band at rest, and all of it under the goal.
            assert!(0 < rest && rest < peak && peak < goal, "{kind} at MTU {}: {rest} / {peak}", p["att_mtu"]);
            peaks.push(peak);
        }
    }
    // A full handshake needs more than a resumed one.
    assert!(peaks[0] > peaks[1], "{peaks:?}");
    let probe = &report["full_record_echo"];
    assert_eq!(probe["record_bytes"], 16 * 1024);
    let peak = probe["heap_peak_bytes"].as_u64().unwrap();
    // A full record each way needs at least the record, and stays under the goal too.
    assert!(16 * 1024 < peak && peak < goal, "{probe}");
    assert_eq!(report["heap_peak_bytes"].as_u64().unwrap(), peaks.into_iter().max().unwrap().max(peak));

    let ble5 = payments.iter().find(|p| p["att_mtu"] == 247).unwrap();
    let resumed = &ble5["resumed"];
    assert!(resumed["round_trips"].as_u64().unwrap() <= 3, "{resumed}");
    assert!(resumed["bytes_over_air"].as_u64().unwrap() <= 1_200, "{resumed}");
    assert!(ble5["full"]["round_trips"].as_u64().unwrap() > resumed["round_trips"].as_u64().unwrap());
}
