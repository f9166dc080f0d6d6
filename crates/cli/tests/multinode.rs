//! Two `wearpay center serve` processes on one database behind one address (a round-robin
//! TCP proxy in the test, alternating backends per connection): bands resume their
//! sessions on whichever process a connection reaches, and a payment whose answer is lost
//! is retried on the other process and booked once. On SQLite, and on PostgreSQL when
//! `WEARPAY_TEST_POSTGRES` is set.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;
use common::{addr_in, json, ok, spawn, wearpay};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// TLCP's application_data content type: a request or an answer.
const APPLICATION_DATA: u8 = 23;

/// A round-robin TCP proxy: connection n goes to backend n mod 2. It can lose one answer:
/// the `nth` application-data record the backend sends on connection `conn` is dropped
/// and both sides are cut, as a phone losing its radio would.
struct Proxy {
    addr: SocketAddr,
    backends: Vec<SocketAddr>,
    /// The backend each connection went to, in order.
    routed: Mutex<Vec<usize>>,
    lose: Mutex<Option<(usize, usize)>>,
    accepted: AtomicUsize,
}

impl Proxy {
    fn start(backends: Vec<SocketAddr>) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            backends,
            routed: Mutex::new(Vec::new()),
            lose: Mutex::new(None),
            accepted: AtomicUsize::new(0),
        });
        let p = proxy.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let n = p.accepted.fetch_add(1, Ordering::SeqCst);
                let backend = n % p.backends.len();
                p.routed.lock().unwrap().push(backend);
                let Ok(server) = TcpStream::connect(p.backends[backend]) else { continue };
                let lose = p.lose.lock().unwrap().filter(|(conn, _)| *conn == n).map(|(_, nth)| nth);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client, server));
                std::thread::spawn(move || pump_answers(s2, c2, lose));
            }
        });
        proxy
    }

    /// Loses the `nth` answer of the next connection.
    fn lose_next_answer(&self, nth: usize) {
        *self.lose.lock().unwrap() = Some((self.accepted.load(Ordering::SeqCst), nth));
    }

    fn routed(&self) -> Vec<usize> {
        self.routed.lock().unwrap().clone()
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Backend to client, record by record, dropping the `lose`-th application-data record.
fn pump_answers(mut from: TcpStream, mut to: TcpStream, lose: Option<usize>) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut answers = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        pending.extend_from_slice(&buf[..n]);
        while pending.len() >= 5 {
            let len = 5 + usize::from(u16::from_be_bytes([pending[3], pending[4]]));
            if pending.len() < len {
                break;
            }
            let record: Vec<u8> = pending.drain(..len).collect();
            if record[0] == APPLICATION_DATA {
                answers += 1;
                if Some(answers) == lose {
                    // The answer never reaches the band: cut both sides.
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            if to.write_all(&record).is_err() {
                return;
            }
        }
    }
    let _ = to.write_all(&pending);
    let _ = to.shutdown(Shutdown::Write);
}

/// A fresh PostgreSQL database's URL (`None`: skipped) and how to drop it.
fn fresh_postgres() -> Option<(String, String, String)> {
    let Ok(url) = std::env::var("WEARPAY_TEST_POSTGRES") else {
        assert!(
            std::env::var("WEARPAY_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "WEARPAY_TEST_POSTGRES is not set, and WEARPAY_REQUIRE_INTEROP=1 requires the PostgreSQL tests"
        );
        eprintln!("skipped: WEARPAY_TEST_POSTGRES is not set");
        return None;
    };
    let name = format!(
        "wearpay_t_multinode_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
    );
    psql(&url, &format!("CREATE DATABASE {name}"));
    let (base, query) = url.split_once('?').map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').unwrap().0;
    let db_url = match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    };
    Some((url, name, db_url))
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql").args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().unwrap();
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
}

fn two_processes_one_database(postgres: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pg = if postgres {
        let Some(pg) = fresh_postgres() else { return };
        Some(pg)
    } else {
        None
    };
    let mut init = vec!["center", "init", "--dir", "c", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"];
    if let Some((_, _, url)) = &pg {
        init.extend(["--database", url.as_str()]);
    }
    ok(dir, &init);

    // The second process's config: a copy with its own addresses.
    let text = std::fs::read_to_string(dir.join("c/center.toml")).unwrap();
    assert_eq!(text.matches("listen = \"127.0.0.1:0\"").count(), 2, "{text}");
    let b_text = text
        .replacen("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{}\"", free_port()), 1)
        .replacen("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{}\"", free_port()), 1);
    std::fs::write(dir.join("c/center-b.toml"), &b_text).unwrap();

    let (a_process, a_lines) = spawn(dir, &["center", "serve", "--config", "c/center.toml"], 2, false);
    let (b_process, b_lines) = spawn(dir, &["center", "serve", "--config", "c/center-b.toml"], 2, false);
    let backends: Vec<SocketAddr> = [&a_lines[0], &b_lines[0]].iter().map(|l| addr_in(l).parse().unwrap()).collect();
    assert_ne!(backends[0], backends[1]);
    let proxy = Proxy::start(backends);
    let front = proxy.addr.to_string();
    let run = |args: &[&str], config: &str| {
        let mut v: Vec<&str> = vec!["center"];
        v.extend(args);
        v.extend(["--config", config]);
        ok(dir, &v)
    };

    // One band paying six times, one connection per payment: a full handshake, then five
    // resumptions, each on the other process than the one before.
    let routed_before = proxy.routed().len();
    let report = json(
        dir,
        &["load", "--config", "c/center.toml", "--center", &front, "--terminals", "1", "--payments", "6", "--json"],
    );
    assert_eq!(report["approved"], 6, "{report}");
    assert_eq!(report["handshakes"]["full"], 1, "{report}");
    assert_eq!(report["handshakes"]["resumed"], 5, "{report}");
    assert_eq!(report["ledger_check"]["ok"], true, "{report}");
    let routed = proxy.routed();
    let used = &routed[routed_before..];
    assert!(used.contains(&0) && used.contains(&1), "both processes served: {used:?}");

    // A band enrolled by activation code through B's API pays through the proxy; the
    // answer to its payment is lost on the way back, and its retry reaches the other
    // process, which answers with the decision already booked.
    let alice = json(
        dir,
        &[
            "center",
            "account",
            "create",
            "--name",
            "Alice",
            "--pan",
            "6212345678901234",
            "--json",
            "--config",
            "c/center.toml",
        ],
    );
    let alice = alice["account"].as_i64().unwrap().to_string();
    run(&["account", "deposit", "--account", &alice, "--amount", "50.00 CNY"], "c/center-b.toml");
    let code =
        json(dir, &["center", "activation", "create", "--account", &alice, "--json", "--config", "c/center.toml"]);
    let code = code["code"].as_str().unwrap().to_string();
    run(&["merchant", "create", "--id", "M-9", "--name", "Tea House"], "c/center.toml");
    run(&["order", "create", "--id", "ORD-9", "--merchant", "M-9", "--amount", "12.00 CNY"], "c/center.toml");
    let b_http = format!("http://{}", addr_in(&b_lines[1]));
    ok(dir, &["terminal", "init", "--dir", "band", "--activation", &code, "--center-url", &b_http]);

    proxy.lose_next_answer(2); // the first answer is the order, the second the payment's
    let lost_on = proxy.routed().len();
    let (paid, out, err) = wearpay(
        dir,
        &["terminal", "pay", "--dir", "band", "--center", &front, "--order", "ORD-9", "--mode", "quick", "--yes"],
    );
    assert!(!paid, "the band heard an answer that was lost: {out}{err}");
    let order = json(dir, &["center", "order", "show", "--id", "ORD-9", "--json", "--config", "c/center.toml"]);
    assert_eq!(order["status"], "paid", "the center did not book the payment: {order}");
    let settled = json(dir, &["terminal", "settle", "--dir", "band", "--center", &front, "--json"]);
    assert_eq!(settled["still_pending"].as_array().unwrap().len(), 0, "{settled}");
    assert_eq!(settled["settled"][0]["order"], "ORD-9", "{settled}");
    assert_eq!(settled["settled"][0]["approved"], true, "{settled}");
    let routed = proxy.routed();
    assert_ne!(routed[lost_on], routed[lost_on + 1], "the retry reached the same process: {routed:?}");

    // Booked once: 12.00 left the account once, and the ledger balances.
    let shown = json(dir, &["center", "account", "show", "--account", &alice, "--json", "--config", "c/center-b.toml"]);
    assert_eq!(shown["balance"], "38.00 CNY", "{shown}");
    let order = json(dir, &["center", "order", "show", "--id", "ORD-9", "--json", "--config", "c/center-b.toml"]);
    assert_eq!(order["status"], "paid");
    run(&["ledger-check"], "c/center.toml");

    drop((a_process, b_process));
    if let Some((admin, name, _)) = pg {
        psql(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

#[test]
fn two_processes_one_database_on_sqlite() {
    two_processes_one_database(false);
}

#[test]
fn two_processes_one_database_on_postgres() {
    two_processes_one_database(true);
}
