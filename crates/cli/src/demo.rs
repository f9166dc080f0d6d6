//! `wearpay demo`: the whole system in one process, and what protects the user.
//!
//! In a temporary directory (or `--keep DIR`) the bank makes the PKI and a center (SQLite),
//! which serves its TLCP channel and its HTTP API on loopback; a phone's bridge listens for
//! bands on the simulated BLE link. The bank opens an account through the admin API and
//! hands out an activation code, with which a band enrolls itself (`POST /v1/enroll`). A
//! merchant creates orders with its own API token, and the band pays them through the
//! bridge. Then, step by step, what must not work does not: a payment the phone starts
//! without the press, a wrong PIN up to the lockout, a phone that tampers with what it
//! relays, a link lost just as the answer comes, a band reported lost. Each step checks
//! the ledger, and the demo ends with the ledger check and the audit trail's verification.
//!
//! The narrative names the party of each line. The handshake's F-steps are read off the
//! bytes that cross the band's link: a tap on the band's transport cuts them into TLCP
//! records and reads the plaintext handshake messages (the protocol code is not asked).
//! The demo exits 1, naming the step, if anything does not behave as it should.
extern crate alloc;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::RefCell;
use core::fmt::Write as _;
use core::net::SocketAddr;
use core::time::Duration;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use wearpay_bridge::{Bridge, BridgeConfig, Fault, FaultPlan, RunningBridge};
use wearpay_center::http::{ApiRole, tokens};
use wearpay_center::node::{ADMIN_TOKEN_FILE, CenterConfig, InitOptions};
use wearpay_center::{AccountId, TerminalStatus};
use wearpay_crypto::{KeyAlgorithm, Zeroizing};
use wearpay_link::AirProfile;
use wearpay_link::sim::{LinkConfig, LinkStats, LinkStream, SimPeripheral};
use wearpay_pay::{MerchantId, Mode, OrderId, Outcome, Pin, SignedMoney, TerminalSerial};
use wearpay_pki::{Crl, UnixTime, files};
use wearpay_shangmi::PROVIDER;
use wearpay_terminal::{
    Approval, OrderScreen, PaymentOutcome, Scripted, SoftSe, SystemClock, Terminal, TerminalOptions, UserInterface,
};
use wearpay_tlcp::deframer::{HandshakeJoiner, MessageDeframer, OpaqueRecord};
use wearpay_tlcp::msgs::{
    AlertDescription, ClientHelloPayload, ContentType, ExtensionType, HandshakePayload, HandshakeType,
    ServerHelloPayload,
};
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::{CipherSuite, Profile};

use crate::fixture::{self, ServedCenter};

/// `wearpay demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Build everything in DIR (new or empty) and leave it there, ready for the other
    /// commands (`wearpay center serve`, `bridge`, `terminal …`).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Print one JSON summary on standard output; the narrative goes to standard error.
    #[arg(long)]
    json: bool,
    /// The band's handshake order: the patent's (seed), GB/T 38636's (tlcp), or ask for
    /// the first and take either (auto).
    #[arg(long, value_enum, default_value = "seed")]
    profile: ProfileArg,
    /// The simulated radio between band and phone.
    #[arg(long, value_enum, default_value = "ble5")]
    air: AirArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    Seed,
    Tlcp,
    Auto,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AirArg {
    /// Bluetooth 4.2: ATT_MTU 23, 27-byte link-layer payloads.
    Ble42,
    /// Bluetooth 5, LE 1M with data length extension: ATT_MTU 247.
    Ble5,
}

const SERVER_NAME: &str = "center.wearpay.demo";
const MERCHANT: &str = "M-0001";
const MERCHANT_NAME: &str = "Tea House";
const HOLDER: &str = "Alice";
const PAN: &str = "6212345678901234";
const DEPOSIT: &str = "200.00";
const PIN: &str = "2468";
const WRONG_PIN: &str = "1357";
/// How long the band waits for the press in the demo (30 s on a real band).
const PRESS_TIMEOUT: Duration = Duration::from_millis(300);
/// The hostile phone's seed: its bit flips end the handshake at once (a flip in a record's
/// length field would instead leave the band waiting for bytes that never come).
const TAMPER_SEED: u64 = 7;
/// The band's longest wait for the link in the tamper step.
const TAMPER_RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// Where the first band lives; its replacement, after the loss, lives in `band/`.
const FIRST_BAND_DIR: &str = "first-band";
const BAND_DIR: &str = "band";
const CENTER_DIR: &str = "center";

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let (root, _temp) = match &args.keep {
        Some(dir) => {
            prepare_keep_dir(dir)?;
            (dir.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new().prefix("wearpay-demo-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let narrator = Narrator::new(args.json);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut demo = Demo::new(runtime, narrator, root, &args);
    let ok = demo.run_all();
    let summary = demo.finish(ok, args.keep.is_some());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(if ok && summary["ok"] == true { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `--keep DIR` must be new or empty: the demo writes a whole center and bands there.
fn prepare_keep_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        ensure!(dir.is_dir(), "--keep {}: not a directory", dir.display());
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!("--keep {}: the directory is not empty; give a new or empty one", dir.display());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))
}

// ---- the narrative ------------------------------------------------------------------------

/// Writes the narrative: numbered sections, one party per line; colours on a terminal only.
struct Narrator {
    out: Box<dyn Write>,
    color: bool,
    /// Whether the narrative goes to standard error (`--json`).
    on_stderr: bool,
}

impl Narrator {
    fn new(on_stderr: bool) -> Self {
        let (out, is_terminal): (Box<dyn Write>, bool) = if on_stderr {
            (Box::new(io::stderr()), io::stderr().is_terminal())
        } else {
            (Box::new(io::stdout()), io::stdout().is_terminal())
        };
        let color = is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self { out, color, on_stderr }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { String::from(text) }
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    fn title(&mut self, text: &str) {
        let t = self.paint("1", text);
        self.line(&t);
    }

    fn section(&mut self, n: usize, title: &str) {
        let t = self.paint("1", &format!("[{n}] {title}"));
        self.line("");
        self.line(&t);
    }

    fn party(&self, party: &str) -> String {
        let code = match party {
            "band" => "36",
            "phone" => "33",
            "center" => "35",
            "merchant" => "32",
            "bank" => "34",
            _ => "1",
        };
        let padded = format!("{party:<PARTY_WIDTH$}");
        self.paint(code, &padded)
    }

    /// `  party    text`
    fn say(&mut self, party: &str, text: &str) {
        let p = self.party(party);
        self.wrapped(&format!("  {p}"), 2 + PARTY_WIDTH, text);
    }

    /// `  party    F2     text`: a line of the handshake.
    fn wire(&mut self, line: &WireLine) {
        let p = self.party(line.party);
        let label = self.paint("2", &format!("{:<LABEL_WIDTH$}", line.label));
        self.wrapped(&format!("  {p}{label}"), 2 + PARTY_WIDTH + LABEL_WIDTH, &line.text);
    }

    fn ok(&mut self, text: &str) {
        let mark = self.paint("32", "  ✓ ");
        self.wrapped(&mark, 4, text);
    }

    fn fail(&mut self, text: &str) {
        let mark = self.paint("31", "  ✗ ");
        self.wrapped(&mark, 4, text);
    }

    /// `prefix` (`indent` columns wide) and `text`, wrapped at word boundaries to
    /// [`WIDTH`] columns, continuation lines indented under the text.
    fn wrapped(&mut self, prefix: &str, indent: usize, text: &str) {
        let room = WIDTH.saturating_sub(indent).max(20);
        let mut lines: Vec<String> = vec![String::new()];
        for word in text.split(' ') {
            let last = lines.last_mut().map_or(0, |l| l.chars().count());
            if last > 0 && last + 1 + word.chars().count() > room {
                lines.push(String::new());
            }
            if let Some(l) = lines.last_mut() {
                if !l.is_empty() {
                    l.push(' ');
                }
                l.push_str(word);
            }
        }
        // A no-break space keeps a number with its unit.
        for (i, l) in lines.iter().map(|l| l.replace('\u{a0}', " ")).enumerate() {
            if i == 0 {
                self.line(&format!("{prefix}{l}"));
            } else {
                self.line(&format!("{:indent$}{l}", ""));
            }
        }
    }
}

/// The narrative's width in columns.
const WIDTH: usize = 100;
const PARTY_WIDTH: usize = 9;
const LABEL_WIDTH: usize = 7;

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

fn short(tx: &impl core::fmt::Display) -> String {
    let s = tx.to_string();
    format!("{}…", &s[..s.len().min(8)])
}

// ---- the band's screen and button -----------------------------------------------------------

/// The band's screen and button, scripted: each payment is given its answers (presses, PIN
/// digits); with none left, the wait for the press runs out, as it would on the wrist.
/// What the band shows is kept for the narrative; a PIN never is.
#[derive(Debug, Default)]
struct DemoUi {
    answers: VecDeque<Scripted>,
    events: Vec<String>,
    screens: usize,
}

impl UserInterface for DemoUi {
    fn confirm(&mut self, screen: &OrderScreen, timeout: Duration) -> Result<Approval, wearpay_terminal::Error> {
        self.screens += 1;
        let text = screen.text.replace('\n', " · ");
        self.events.push(format!("shows “{text}”"));
        let mode = screen.mode;
        match self.answers.pop_front() {
            Some(Scripted::Press(a)) => {
                self.events.push(match a {
                    Approval::Pressed => format!("waits for the press ({mode} mode): the wearer presses"),
                    Approval::Declined => format!("waits for the press ({mode} mode): the wearer declines"),
                    Approval::TimedOut => format!("waits for the press ({mode} mode): nobody presses"),
                });
                Ok(a)
            }
            Some(Scripted::Pin(_)) => Err(wearpay_terminal::Error::Ui("a PIN where a press was expected")),
            None => {
                std::thread::sleep(timeout);
                self.events.push(format!(
                    "waits for the press ({mode} mode): nobody presses; {} ms later it gives up",
                    timeout.as_millis()
                ));
                Ok(Approval::TimedOut)
            }
        }
    }

    fn read_pin(&mut self, _prompt: &str) -> Result<Pin, wearpay_terminal::Error> {
        match self.answers.pop_front() {
            Some(Scripted::Pin(digits)) => {
                let digits = Zeroizing::new(digits);
                self.events.push(String::from(
                    "the wearer types the PIN on the band; it is enciphered there to the center's PIN key",
                ));
                Ok(Pin::new(&digits)?)
            }
            _ => Err(wearpay_terminal::Error::Ui("no PIN was entered")),
        }
    }

    fn message(&mut self, text: &str) {
        self.events.push(String::from(text));
    }

    fn outcome(&mut self, _outcome: &PaymentOutcome) {}
}

// ---- the tap on the band's link ---------------------------------------------------------------

/// What crossed the band's link, in order, as the band wrote and read it.
#[derive(Debug)]
struct Chunk {
    at: Duration,
    from_band: bool,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct TapLog {
    chunks: Vec<Chunk>,
    /// The band's turns: a read after a write is one round trip.
    turns: u32,
    wrote: bool,
    cut: Option<Cut>,
}

/// Drops the link once the band has sent `after_requests` requests and the next answer
/// reaches it: the center has answered (and booked), the band never hears it.
#[derive(Debug)]
struct Cut {
    after_requests: usize,
    sent: usize,
    deframer: MessageDeframer,
    done: bool,
}

/// The band's transport: the BLE link stream, with a log of what crossed it.
struct Tap {
    inner: LinkStream,
    log: Rc<RefCell<TapLog>>,
    started: Instant,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        {
            let mut log = self.log.borrow_mut();
            if log.wrote {
                log.turns += 1;
                log.wrote = false;
            }
        }
        let n = self.inner.read(buf)?;
        let mut log = self.log.borrow_mut();
        if let Some(cut) = log.cut.as_mut()
            && !cut.done
            && n > 0
            && cut.sent >= cut.after_requests
        {
            cut.done = true;
            self.inner.link_mut().close();
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the BLE link dropped"));
        }
        if n > 0 {
            let at = self.started.elapsed();
            log.chunks.push(Chunk { at, from_band: false, bytes: buf[..n].to_vec() });
        }
        Ok(n)
    }
}

impl Write for Tap {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut log = self.log.borrow_mut();
        log.wrote = true;
        let at = self.started.elapsed();
        log.chunks.push(Chunk { at, from_band: true, bytes: buf[..n].to_vec() });
        if let Some(cut) = log.cut.as_mut() {
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let taken = cut.deframer.push(rest);
                rest = &rest[taken..];
                while let Ok(Some(record)) = cut.deframer.pop() {
                    if record.typ == ContentType::ApplicationData {
                        cut.sent += 1;
                    }
                }
                if taken == 0 {
                    break;
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// ---- reading the records ----------------------------------------------------------------------

/// What one TLCP record held, as far as an onlooker can tell.
#[derive(Debug)]
enum Item {
    ClientHello(Box<ClientHelloPayload>),
    ServerHello(Box<ServerHelloPayload>),
    Handshake(HandshakeType),
    /// A handshake message under the new keys: the Finished.
    Sealed,
    ChangeCipherSpec,
    /// An alert, with its description when it is in the clear.
    Alert(Option<&'static str>),
    AppData,
    /// Bytes that are not TLCP records (or not a handshake message).
    Garbled,
}

#[derive(Debug)]
struct Rec {
    at: Duration,
    from_band: bool,
    len: usize,
    items: Vec<Item>,
}

/// One direction's reader.
#[derive(Default)]
struct Side {
    deframer: MessageDeframer,
    joiner: HandshakeJoiner,
    encrypted: bool,
    broken: bool,
}

impl Side {
    fn items(&mut self, record: &OpaqueRecord) -> Vec<Item> {
        match record.typ {
            ContentType::Handshake if self.encrypted => vec![Item::Sealed],
            ContentType::Handshake => {
                if self.joiner.push(&record.payload).is_err() {
                    self.broken = true;
                    return vec![Item::Garbled];
                }
                let mut items = Vec::new();
                loop {
                    match self.joiner.pop() {
                        Ok(Some(m)) => items.push(match m.message.payload {
                            HandshakePayload::ClientHello(ch) => Item::ClientHello(Box::new(ch)),
                            HandshakePayload::ServerHello(sh) => Item::ServerHello(Box::new(sh)),
                            _ => Item::Handshake(m.message.typ),
                        }),
                        Ok(None) => break,
                        Err(_) => {
                            self.broken = true;
                            items.push(Item::Garbled);
                            break;
                        }
                    }
                }
                items
            }
            ContentType::ChangeCipherSpec => {
                self.encrypted = true;
                vec![Item::ChangeCipherSpec]
            }
            ContentType::Alert if self.encrypted => vec![Item::Alert(None)],
            ContentType::Alert => {
                let description =
                    record.payload.get(1).map(|d| AlertDescription::from(*d).as_str().unwrap_or("unknown"));
                vec![Item::Alert(description)]
            }
            ContentType::ApplicationData => vec![Item::AppData],
            _ => vec![Item::Garbled],
        }
    }
}

/// Cuts both directions of `chunks` into records, in the order they crossed the link.
fn records(chunks: &[Chunk]) -> Vec<Rec> {
    let mut sides = [Side::default(), Side::default()];
    let mut out = Vec::new();
    for c in chunks {
        let side = &mut sides[usize::from(c.from_band)];
        let mut rest = &c.bytes[..];
        while !rest.is_empty() && !side.broken {
            let taken = side.deframer.push(rest);
            rest = &rest[taken..];
            loop {
                match side.deframer.pop() {
                    Ok(Some(record)) => {
                        let items = side.items(&record);
                        out.push(Rec { at: c.at, from_band: c.from_band, len: 5 + record.payload.len(), items });
                    }
                    Ok(None) => break,
                    Err(_) => {
                        side.broken = true;
                        out.push(Rec { at: c.at, from_band: c.from_band, len: 0, items: vec![Item::Garbled] });
                        break;
                    }
                }
            }
            if taken == 0 {
                break;
            }
        }
    }
    out
}

/// One line of the handshake as seen on the link.
#[derive(Debug, Clone)]
struct WireLine {
    party: &'static str,
    label: &'static str,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandshakeKind {
    Full,
    Resumed,
    /// The handshake did not complete.
    Failed,
}

impl HandshakeKind {
    fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Resumed => "resumed",
            Self::Failed => "failed",
        }
    }
}

/// The link's story: the F-steps, then the requests and answers.
#[derive(Debug)]
struct WireStory {
    lines: Vec<WireLine>,
    kind: HandshakeKind,
    /// Application-data records the band sent (requests).
    requests: usize,
}

fn suite_name(s: CipherSuite) -> String {
    s.as_str().map_or_else(|| format!("{s:?}"), String::from)
}

/// Derives the F-steps (PROTOCOL.md's table) from the records: what each flight held.
/// `requests` and `answers` name the application data of each direction, in order.
fn story(recs: &[Rec], requests: &[&str], answers: &[&str]) -> WireStory {
    let mut lines: Vec<WireLine> = Vec::new();
    let (mut offered, mut resumed, mut full) = (Vec::new(), false, false);
    let (mut band_finished, mut center_finished) = (false, false);
    let (mut up, mut down) = (0usize, 0usize);
    let name = |names: &[&str], i: usize| names.get(i).map_or_else(|| String::from("data"), |s| String::from(*s));
    let mut i = 0;
    while i < recs.len() {
        let from_band = recs[i].from_band;
        let mut end = i;
        while end < recs.len() && recs[end].from_band == from_band {
            end += 1;
        }
        let flight = &recs[i..end];
        i = end;
        let bytes: usize = flight.iter().map(|r| r.len).sum();
        let at = flight.last().map_or(Duration::ZERO, |r| r.at);
        let items: Vec<&Item> = flight.iter().flat_map(|r| r.items.iter()).collect();
        let has = |t: HandshakeType| items.iter().any(|it| matches!(it, Item::Handshake(h) if *h == t));
        let has_ccs = items.iter().any(|it| matches!(it, Item::ChangeCipherSpec));
        let app: Vec<usize> =
            flight.iter().filter(|r| r.items.iter().any(|it| matches!(it, Item::AppData))).map(|r| r.len).collect();
        let first_line = lines.len();
        let mut push = |party, label, text: String| lines.push(WireLine { party, label, text });
        if from_band {
            if let Some(ch) = items.iter().find_map(|it| if let Item::ClientHello(ch) = it { Some(ch) } else { None }) {
                offered = ch.session_id.as_slice().to_vec();
                // The signalling value is no suite.
                let suites: Vec<String> =
                    ch.cipher_suites.iter().map(|s| suite_name(*s)).filter(|n| !n.ends_with("_SCSV")).collect();
                let rsa = suites.iter().filter(|n| n.starts_with("RSA")).count();
                let mut offer: Vec<&str> =
                    suites.iter().filter(|n| !n.starts_with("RSA")).map(String::as_str).collect();
                let more = format!("{rsa} RSA suites");
                if rsa > 0 {
                    offer.push(&more);
                }
                push("band", "F1", format!("offers what its secure element runs: {}", offer.join(", ")));
                let seed = if ch.find_extension(ExtensionType::SeedOrder).is_some() { ", seed_order" } else { "" };
                let resume = if offered.is_empty() { "" } else { ", the session id to resume" };
                push("band", "F2", format!("→ ClientHello: random, {} suites{seed}{resume}", suites.len()));
            }
            if has(HandshakeType::ClientKeyExchange) {
                full = true;
                push(
                    "band",
                    "F5",
                    String::from("checks the center's chain against its root; → ClientKeyExchange (SM2)"),
                );
                push("band", "F6", String::from("→ Certificate, CertificateVerify: signs the whole transcript"));
            }
            if has_ccs {
                band_finished = true;
                let label = "F9–F10";
                let with = if app.is_empty() {
                    String::new()
                } else {
                    up += 1;
                    format!(", and the first request: {}", name(requests, up - 1))
                };
                push("band", label, format!("→ ChangeCipherSpec, Finished{with}"));
            } else {
                for len in &app {
                    up += 1;
                    push("band", "", format!("→ {} ({len} B, encrypted)", name(requests, up - 1)));
                }
            }
        } else {
            if let Some(sh) = items.iter().find_map(|it| if let Item::ServerHello(sh) = it { Some(sh) } else { None }) {
                resumed = !offered.is_empty() && sh.session_id.as_slice() == offered.as_slice();
                let session = match (resumed, offered.is_empty()) {
                    (true, _) => "resumes the band's session",
                    (false, true) => "a new session",
                    (false, false) => "no resumption: a new session",
                };
                let seed =
                    if sh.find_extension(ExtensionType::SeedOrder).is_some() { ", seed order agreed" } else { "" };
                push("center", "F3", format!("→ ServerHello: {}, {session}{seed}", suite_name(sh.cipher_suite)));
            }
            if has(HandshakeType::Certificate) {
                push(
                    "center",
                    "F4",
                    String::from("→ Certificate [sign, enc], ServerKeyExchange, CertificateRequest, Done"),
                );
            }
            let alert = items.iter().find_map(|it| if let Item::Alert(Some(d)) = it { Some(*d) } else { None });
            if full
                && !has_ccs
                && let Some(d) = alert
            {
                push("center", "F7", format!("checks the band's certificate, status, signature → alert: {d}"));
            }
            if has_ccs {
                if resumed {
                    push("center", "F4–F7", String::from("skipped: new keys from the session's master secret"));
                } else if full {
                    push(
                        "center",
                        "F7",
                        String::from("checks the band's certificate, status, signature; decrypts the secret"),
                    );
                }
                center_finished = true;
                let label = if band_finished { "F8" } else { "F8–F9" };
                push("center", label, String::from("→ ChangeCipherSpec, Finished"));
            }
            for len in &app {
                down += 1;
                push("center", "", format!("→ {} ({len} B, encrypted)", name(answers, down - 1)));
            }
        }
        let f7_alert = !from_band && full && !has_ccs;
        for it in &items {
            match it {
                Item::Alert(Some(d)) if !f7_alert => {
                    push(if from_band { "band" } else { "center" }, "", format!("→ alert: {d}"));
                }
                Item::Alert(None) if !band_finished || !center_finished => {
                    push(if from_band { "band" } else { "center" }, "", String::from("→ alert (encrypted)"));
                }
                Item::Garbled if !from_band => push("band", "", String::from("receives bytes that are not TLCP")),
                _ => {}
            }
        }
        // The flight's size and arrival on its last line.
        if lines.len() > first_line
            && let Some(last) = lines.last_mut()
        {
            if app.is_empty() || last.label.starts_with('F') {
                let _ = write!(last.text, " [{}\u{a0}B,\u{a0}+{}\u{a0}ms]", thousands(bytes as u64), at.as_millis());
            } else {
                let _ = write!(last.text, " [+{}\u{a0}ms]", at.as_millis());
            }
        }
    }
    let kind = match (band_finished && center_finished, resumed) {
        (false, _) => HandshakeKind::Failed,
        (true, true) => HandshakeKind::Resumed,
        (true, false) => HandshakeKind::Full,
    };
    WireStory { lines, kind, requests: up }
}

// ---- the HTTP API ------------------------------------------------------------------------------

/// A client of the center's operations API.
struct Api {
    agent: ureq::Agent,
    base: String,
    admin: Zeroizing<String>,
    merchant: Zeroizing<String>,
}

impl Api {
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let result = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                match body {
                    Some(b) => r.send_json(b),
                    None => r.send_empty(),
                }
            }
        };
        let mut response = result.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().with_context(|| format!("{method} {path}: reading"))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// A call that must succeed; its JSON answer.
    fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Result<Value> {
        let (status, v) = self.call(method, path, Some(token), body)?;
        if !(200..300).contains(&status) {
            let message = v["error"]["message"].as_str().map_or_else(|| v.to_string(), String::from);
            bail!("{method} {path}: {status}: {message}");
        }
        Ok(v)
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.ok(method, path, &self.admin, body)
    }

    fn merchant(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.ok(method, path, &self.merchant, body)
    }
}

// ---- the demo ----------------------------------------------------------------------------------

type Band = Terminal<SoftSe, DemoUi, SystemClock>;

/// One payment attempt, for the summary.
#[derive(Debug)]
struct PaymentRecord {
    step: &'static str,
    order: String,
    mode: Mode,
    outcome: String,
    reason: Option<String>,
    amount: String,
    cost: Cost,
    handshake: HandshakeKind,
    wall: Duration,
    tx_id: Option<String>,
    /// Approved later, by the band's recovery of a lost answer.
    recovered: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    bytes_on_air: u64,
    airtime: Duration,
    round_trips: u32,
}

impl Cost {
    fn of(stats: &LinkStats, turns: u32) -> Self {
        Self {
            bytes_on_air: stats.to_central.bytes_over_air + stats.to_peripheral.bytes_over_air,
            airtime: stats.to_central.airtime + stats.to_peripheral.airtime,
            round_trips: turns,
        }
    }
}

/// What a payment attempt did.
struct Attempt {
    result: Result<PaymentOutcome, wearpay_terminal::Error>,
    story: WireStory,
    cost: Cost,
    wall: Duration,
}

/// How the band reaches the center for one attempt.
#[derive(Debug, Clone, Copy, Default)]
struct Route {
    /// Another bridge than the honest one.
    bridge: Option<SocketAddr>,
    /// The band's longest wait on the link.
    recv_timeout: Option<Duration>,
    /// Drop the link when the answer to the `n`th request reaches the band.
    cut_after: Option<usize>,
}

#[derive(Debug)]
struct StepRecord {
    number: usize,
    name: &'static str,
    ok: bool,
    detail: String,
    wall: Duration,
}

/// What the steps share.
struct World {
    served: ServedCenter,
    api: Api,
    bridge: RunningBridge,
    band: Band,
    band_serial: TerminalSerial,
    account: AccountId,
    merchant_account: i64,
    reporting_secret: Zeroizing<String>,
}

/// A step: its name in the summary, its title, what it does.
type Step = (&'static str, &'static str, fn(&mut Demo) -> Result<String>);

struct Demo {
    runtime: tokio::runtime::Runtime,
    out: Narrator,
    root: PathBuf,
    air: AirProfile,
    air_name: &'static str,
    profile: Profile,
    profile_name: &'static str,
    world: Option<World>,
    steps: Vec<StepRecord>,
    payments: Vec<PaymentRecord>,
    next_order: u32,
    /// Whether the F-steps of a full and of a resumed handshake were shown.
    shown_full: bool,
    shown_resumed: bool,
    drop_summary: Value,
    ledger: Value,
    audit: Value,
    final_balance: Option<SignedMoney>,
    account: Option<AccountId>,
    /// Each order's amount, as the merchant set it.
    amounts: BTreeMap<String, String>,
    started: Instant,
}

impl Demo {
    fn new(runtime: tokio::runtime::Runtime, out: Narrator, root: PathBuf, args: &DemoArgs) -> Self {
        let (air, air_name) = match args.air {
            AirArg::Ble42 => (AirProfile::ble42(), "BLE 4.2, ATT_MTU 23"),
            AirArg::Ble5 => (AirProfile::ble5_1m(), "BLE 5, ATT_MTU 247"),
        };
        let (profile, profile_name) = match args.profile {
            ProfileArg::Seed => (Profile::Seed, "seed"),
            ProfileArg::Tlcp => (Profile::Tlcp, "tlcp"),
            ProfileArg::Auto => (Profile::Auto, "auto"),
        };
        Self {
            runtime,
            out,
            root,
            air,
            air_name,
            profile,
            profile_name,
            world: None,
            steps: Vec::new(),
            payments: Vec::new(),
            next_order: 0,
            shown_full: false,
            shown_resumed: false,
            drop_summary: Value::Null,
            ledger: Value::Null,
            audit: Value::Null,
            final_balance: None,
            account: None,
            amounts: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    fn w(&mut self) -> Result<&mut World> {
        self.world.as_mut().ok_or_else(|| anyhow!("the set-up did not finish"))
    }

    /// Runs the steps in order, stopping at the first that fails.
    fn run_all(&mut self) -> bool {
        self.out.title(&format!(
            "wearpay demo: a band pays through an untrusted phone ({} profile, {})",
            self.profile_name, self.air_name
        ));
        let steps: [Step; 8] = [
            ("setup", "Set-up: the PKI, a center, the phone's bridge, a band activated", Self::setup),
            ("modes", "Four payment modes, each approved", Self::modes),
            ("no_press", "The phone starts a payment; nobody presses", Self::no_press),
            ("pin_lockout", "Wrong PINs up to the lockout, the bank's unlock, the right PIN", Self::pin_lockout),
            ("tamper", "A phone that tampers with what it relays", Self::tamper),
            ("drop", "The link drops as the answer comes: exactly once", Self::link_drop),
            ("lost", "A lost band: reported, revoked, refused; a new band", Self::lost_band),
            ("final_check", "The ledger and the audit trail", Self::final_check),
        ];
        for (i, (name, title, f)) in steps.into_iter().enumerate() {
            let number = i + 1;
            self.out.section(number, title);
            let started = Instant::now();
            let result = f(self);
            let wall = started.elapsed();
            match result {
                Ok(detail) => {
                    self.out.ok(&format!("{detail} ({}\u{a0}ms)", wall.as_millis()));
                    self.steps.push(StepRecord { number, name, ok: true, detail, wall });
                }
                Err(e) => {
                    let detail = format!("{e:#}");
                    self.out.fail(&format!("step {number} ({name}) did not behave: {detail}"));
                    self.steps.push(StepRecord { number, name, ok: false, detail, wall });
                    return false;
                }
            }
        }
        true
    }

    // ---- helpers ---------------------------------------------------------------------------

    fn balance(&mut self) -> Result<SignedMoney> {
        let account = self.w()?.account;
        let center = self.w()?.served.center.clone();
        Ok(self.runtime.block_on(center.store().balance(account))?)
    }

    /// The merchant creates an order through the API.
    fn new_order(&mut self, amount: &str, description: &str) -> Result<OrderId> {
        self.next_order += 1;
        let id = format!("ORD-{:04}", self.next_order);
        let body = json!({"order_id": id, "amount": amount, "currency": "CNY", "description": description,
                          "expires_in": 600});
        let v = self.w()?.api.merchant("POST", "/v1/orders", Some(body))?;
        ensure!(v["status"] == "open", "the new order is not open: {v}");
        self.out.say("merchant", &format!("creates order {id}: {amount} CNY, “{description}” (POST /v1/orders)"));
        self.amounts.insert(id.clone(), format!("{amount} CNY"));
        Ok(OrderId::new(&id)?)
    }

    fn order_view(&mut self, order: &OrderId) -> Result<Value> {
        let path = format!("/v1/orders/{}", order.as_str());
        self.w()?.api.merchant("GET", &path, None)
    }

    /// The band pays `order` in `mode` with the wearer's `script`; records and narrates it.
    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &mut self,
        step: &'static str,
        order: &OrderId,
        mode: Mode,
        script: Vec<Scripted>,
        route: Route,
        labels: (&[&str], &[&str]),
        verbose: bool,
    ) -> Result<Attempt> {
        let air = self.air;
        let w = self.w()?;
        let mut config = LinkConfig::new(air);
        if let Some(t) = route.recv_timeout {
            config.recv_timeout = t;
        }
        let addr = route.bridge.unwrap_or_else(|| w.bridge.addr());
        w.band.ui_mut().answers = script.into();
        w.band.ui_mut().events.clear();
        let started = Instant::now();
        let link = SimPeripheral::connect(addr, config).context("the phone's bridge does not answer")?;
        let stats = link.stats_handle();
        let log = Rc::new(RefCell::new(TapLog::default()));
        if let Some(n) = route.cut_after {
            log.borrow_mut().cut =
                Some(Cut { after_requests: n, sent: 0, deframer: MessageDeframer::new(), done: false });
        }
        let tap = Tap { inner: link.into_stream(), log: log.clone(), started };
        let result = w.band.pay(order, mode, tap);
        let wall = started.elapsed();
        let events = core::mem::take(&mut w.band.ui_mut().events);
        let log = log.borrow();
        let cost = Cost::of(&stats.get(), log.turns);
        let story = story(&records(&log.chunks), labels.0, labels.1);
        // The F-steps of the first full handshake and of the first resumption.
        let show = verbose
            && match story.kind {
                HandshakeKind::Full => !core::mem::replace(&mut self.shown_full, true),
                HandshakeKind::Resumed => !core::mem::replace(&mut self.shown_resumed, true),
                HandshakeKind::Failed => true,
            };
        if show {
            for line in &story.lines {
                self.out.wire(line);
            }
        }
        if verbose {
            for e in &events {
                self.out.say("band", e);
            }
        }
        let (outcome, reason, tx_id) = match &result {
            Ok(o) => match o.outcome {
                Outcome::Approved => ("approved", None, Some(o.tx_id.to_string())),
                Outcome::Declined(r) => ("declined", Some(r.name().to_string()), Some(o.tx_id.to_string())),
            },
            Err(wearpay_terminal::Error::NotApproved(_)) => ("no_press", None, None),
            Err(wearpay_terminal::Error::ResponseLost { tx_id, .. }) => ("answer_lost", None, Some(tx_id.to_string())),
            Err(e) => ("refused", Some(e.to_string()), None),
        };
        let amount = self.amounts.get(order.as_str()).cloned().unwrap_or_default();
        self.payments.push(PaymentRecord {
            step,
            order: order.as_str().to_string(),
            mode,
            outcome: outcome.to_string(),
            reason,
            amount,
            cost,
            handshake: story.kind,
            wall,
            tx_id,
            recovered: false,
        });
        Ok(Attempt { result, story, cost, wall })
    }

    /// `phone    relayed …`: the link's cost of an attempt.
    fn cost_line(&mut self, a: &Attempt) {
        let c = a.cost;
        let trips = if c.round_trips == 1 { "round trip" } else { "round trips" };
        self.out.say(
            "phone",
            &format!(
                "relayed {} B over BLE: {:.1} ms airtime, {} {trips}, {} ms, {} handshake",
                thousands(c.bytes_on_air),
                ms(c.airtime),
                c.round_trips,
                a.wall.as_millis(),
                a.story.kind.name()
            ),
        );
    }

    /// An approved payment: checks the answer, the receipt and the ledger.
    fn pay_approved(&mut self, step: &'static str, amount: &str, description: &str, mode: Mode) -> Result<Attempt> {
        let order = self.new_order(amount, description)?;
        let before = self.balance()?;
        self.out.say("phone", &format!("asks the band to pay {} in {mode} mode", order.as_str()));
        let mut script = vec![Scripted::Press(Approval::Pressed)];
        if mode == Mode::Pin {
            script.push(Scripted::Pin(String::from(PIN)));
        }
        let a = self.attempt(
            step,
            &order,
            mode,
            script,
            Route::default(),
            (&["order query", "pay request"], &["the order", "answer + receipt"]),
            true,
        )?;
        let outcome = a.result.as_ref().map_err(|e| anyhow!("{mode} payment failed: {e}"))?;
        ensure!(outcome.outcome.is_approved(), "{mode} payment declined: {:?}", outcome.outcome);
        ensure!(outcome.receipt.is_some(), "{mode} payment approved without a receipt");
        let after = self.balance()?;
        let paid = outcome.money.amount.minor_i64();
        ensure!(
            after.minor == before.minor - paid,
            "{mode}: the balance went from {before} to {after}, not down by {}",
            outcome.money
        );
        ensure!(outcome.balance_after == Some(after), "{mode}: the band was told another balance than the ledger's");
        self.out.say(
            "center",
            &format!(
                "approves tx {}: {HOLDER} {before} → {after}; the band checks the signed receipt",
                short(&outcome.tx_id)
            ),
        );
        self.cost_line(&a);
        Ok(a)
    }

    // ---- the steps -------------------------------------------------------------------------

    fn setup(&mut self) -> Result<String> {
        let center_dir = self.root.join(CENTER_DIR);
        let mut options = InitOptions::new("127.0.0.1:0".parse()?, SERVER_NAME);
        options.http = Some("127.0.0.1:0".parse()?);
        let t = Instant::now();
        let center = self.runtime.block_on(fixture::make_center(&center_dir, &options))?;
        self.out.say(
            "bank",
            &format!(
                "makes the PKI (root, center and terminal CAs), the center's SM2 keys, certificates ({}\u{a0}ms)",
                t.elapsed().as_millis()
            ),
        );
        let served = ServedCenter::start(&self.runtime, center)?;
        let http = served.http.context("the center serves no HTTP API")?;
        self.out
            .say("center", &format!("serves TLCP on {} and its HTTP API on {http}; ledger on SQLite", served.channel));

        // The bank's side, through the admin API.
        let admin_token = Zeroizing::new(
            std::fs::read_to_string(center_dir.join(ADMIN_TOKEN_FILE)).context("reading the admin token")?,
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let mut api = Api {
            agent,
            base: format!("http://{http}"),
            admin: Zeroizing::new(String::from(admin_token.trim())),
            merchant: Zeroizing::new(String::new()),
        };
        let v = api.admin(
            "POST",
            "/v1/admin/accounts",
            Some(json!({"name": HOLDER, "currency": "CNY", "kind": "customer", "pan": PAN})),
        )?;
        let account = AccountId(v["account"].as_i64().context("no account number")?);
        let reporting_secret =
            Zeroizing::new(String::from(v["reporting_secret"].as_str().context("no reporting secret")?));
        api.admin("POST", &format!("/v1/admin/accounts/{}/deposits", account.0), Some(json!({"amount": DEPOSIT})))?;
        self.out.say(
            "bank",
            &format!(
                "opens {HOLDER}'s account {} (PAN ****{}), deposits {DEPOSIT} CNY; {HOLDER} keeps a reporting secret",
                account.0,
                &PAN[PAN.len() - 4..]
            ),
        );
        self.runtime.block_on(served.center.set_pin(account, &Pin::new(PIN)?))?;
        self.out.say("bank", "sets her PIN: only its keyed verification value is stored, by the key store");
        let m = api.admin(
            "POST",
            "/v1/admin/accounts",
            Some(json!({"name": MERCHANT_NAME, "currency": "CNY", "kind": "merchant"})),
        )?;
        let merchant_account = m["account"].as_i64().context("no merchant account")?;
        api.admin(
            "POST",
            "/v1/admin/merchants",
            Some(json!({"id": MERCHANT, "name": MERCHANT_NAME, "account": merchant_account})),
        )?;
        // The merchant's API token, as `wearpay center token add --merchant` makes it.
        let token = tokens::new_token(&PROVIDER, ApiRole::Merchant(MerchantId::new(MERCHANT)?))?;
        let token_file = center_dir.join(format!("secrets/merchant-{MERCHANT}.token"));
        files::write_new(&token_file, format!("{}\n", token.token.as_str()).as_bytes(), true)?;
        tokens::append_token(
            &served.center.config().path(&served.center.config().http.tokens),
            &token,
            fixture::now(),
        )?;
        api.merchant = Zeroizing::new(token.token.as_str().to_string());
        self.out.say(
            "bank",
            &format!("registers merchant {MERCHANT} “{MERCHANT_NAME}” (account {merchant_account}) and its API token"),
        );

        // The phone.
        let mut config = BridgeConfig::new("127.0.0.1:0".parse()?, served.channel);
        config.link = LinkConfig::new(self.air);
        let bridge = Bridge::bind(config)?.spawn()?;
        self.out.say(
            "phone",
            &format!("its bridge takes bands on the simulated BLE link at {} ({})", bridge.addr(), self.air_name),
        );

        // The band, activated by code.
        let code = api.admin(
            "POST",
            &format!("/v1/admin/accounts/{}/activation-codes", account.0),
            Some(json!({"label": "Alice's band"})),
        )?;
        let code_text = Zeroizing::new(String::from(code["activation_code"].as_str().context("no activation code")?));
        self.out.say(
            "bank",
            &format!(
                "gives {HOLDER} activation code {}-… (one use; the rest is her secret)",
                code["activation_id"].as_str().unwrap_or("?")
            ),
        );
        let t = Instant::now();
        let band_dir = self.root.join(FIRST_BAND_DIR);
        let enrolled = fixture::enroll_band(&band_dir, &code_text, &api.base, KeyAlgorithm::Sm2)?;
        self.out
            .say("band", "makes its SM2 key in its secure element; its CSR proves the code (HMAC-SM3 over the key)");
        self.out.say(
            "center",
            &format!(
                "POST /v1/enroll: certifies band {} for account {} ({}\u{a0}ms)",
                enrolled.serial,
                enrolled.account,
                t.elapsed().as_millis()
            ),
        );
        ensure!(enrolled.account == account.0, "the band enrolled to account {}, not {}", enrolled.account, account.0);
        let serial = TerminalSerial::new(enrolled.provisioning.band_certificate.serial())?;
        let band = self.make_band(enrolled)?;
        let terminals = api.admin("GET", &format!("/v1/admin/accounts/{}/terminals", account.0), None)?;
        ensure!(
            terminals.as_array().is_some_and(|t| t.len() == 1 && t[0]["status"] == "active"),
            "the center does not list one active band: {terminals}"
        );
        self.out.say("band", "checks the center's certificates against the root it was given, keeps them");
        let detail =
            format!("center up; {HOLDER}'s band {} active on account {} with {DEPOSIT} CNY", short(&serial), account.0);
        self.account = Some(account);
        self.world =
            Some(World { served, api, bridge, band, band_serial: serial, account, merchant_account, reporting_secret });
        Ok(detail)
    }

    fn make_band(&self, enrolled: fixture::EnrolledBand) -> Result<Band> {
        let mut se = enrolled.se;
        se.set_user(fixture::wearer(true, true)?);
        let sessions = Arc::new(MemorySessionStore::new(4, 3600));
        let band = Terminal::new(se, DemoUi::default(), SystemClock, enrolled.provisioning, sessions)?
            .with_options(TerminalOptions { press_timeout: PRESS_TIMEOUT, profile: self.profile });
        Ok(band)
    }

    fn modes(&mut self) -> Result<String> {
        let plan = [
            (Mode::Quick, "12.00", "Green tea"),
            (Mode::Pin, "25.50", "Lunch set"),
            (Mode::Biometric, "8.80", "Oolong"),
            (Mode::Confirm, "36.00", "Tea set, gift box"),
        ];
        let mut kinds = Vec::new();
        for (mode, amount, description) in plan {
            let a = self.pay_approved("modes", amount, description, mode)?;
            kinds.push(a.story.kind);
        }
        // The band keeps its session: one full handshake, then resumptions.
        if kinds[0] == HandshakeKind::Full {
            ensure!(
                kinds[1..].iter().all(|k| *k == HandshakeKind::Resumed),
                "the band did not resume its session: {kinds:?}"
            );
        }
        let balance = self.balance()?;
        Ok(format!("quick, pin, biometric and confirm approved; {HOLDER}'s balance {balance}"))
    }

    fn no_press(&mut self) -> Result<String> {
        let order = self.new_order("15.00", "Milk tea")?;
        let before = self.balance()?;
        self.out.say("phone", &format!("starts a payment of {} on its own; nobody touches the band", order.as_str()));
        let a = self.attempt(
            "no_press",
            &order,
            Mode::Quick,
            Vec::new(),
            Route::default(),
            (&["order query"], &["the order"]),
            true,
        )?;
        match &a.result {
            Err(wearpay_terminal::Error::NotApproved(Approval::TimedOut)) => {}
            other => bail!("without a press the band did not stop: {other:?}"),
        }
        self.out.say("band", "signs nothing and sends nothing: no press, no payment request");
        self.cost_line(&a);
        ensure!(a.story.requests == 1, "the band sent {} requests; only the order query may go", a.story.requests);
        ensure!(self.w()?.band.pending().is_empty(), "the band kept a pending payment");
        let after = self.balance()?;
        ensure!(after == before, "the balance moved from {before} to {after}");
        let view = self.order_view(&order)?;
        ensure!(view["status"] == "open", "the order is {}, not open", view["status"]);
        Ok(format!("no press: no request signed, {} still open, {HOLDER}'s balance {after}", order.as_str()))
    }

    fn pin_lockout(&mut self) -> Result<String> {
        let order = self.new_order("18.00", "Noodles")?;
        let before = self.balance()?;
        let max = self.w()?.served.center.store().config().pin_max_tries.max(1);
        let pin_attempt = |demo: &mut Self, pin: &str| -> Result<(Attempt, Option<&'static str>)> {
            let script = vec![Scripted::Press(Approval::Pressed), Scripted::Pin(String::from(pin))];
            let a = demo.attempt("pin_lockout", &order, Mode::Pin, script, Route::default(), (&[], &[]), false)?;
            let reason = match &a.result {
                Ok(o) => match o.outcome {
                    Outcome::Approved => None,
                    Outcome::Declined(r) => Some(r.name()),
                },
                Err(e) => bail!("the PIN payment failed: {e}"),
            };
            Ok((a, reason))
        };
        self.out.say("band", "the wearer presses, then types a wrong PIN; each try is a new signed request");
        for n in 1..=max {
            let (a, reason) = pin_attempt(self, WRONG_PIN)?;
            let want = if n < max { "wrong_pin" } else { "pin_locked" };
            ensure!(reason == Some(want), "wrong PIN {n} of {max}: {reason:?}, expected {want}");
            self.out.say(
                "center",
                &format!(
                    "wrong PIN {n} of {max} → declined {want} ({} B on air, {} ms)",
                    thousands(a.cost.bytes_on_air),
                    a.wall.as_millis()
                ),
            );
        }
        let (_, reason) = pin_attempt(self, PIN)?;
        ensure!(reason == Some("pin_locked"), "the right PIN while locked: {reason:?}, expected pin_locked");
        self.out.say("center", "the right PIN now → still declined pin_locked: PIN mode is locked");
        let serial = self.w()?.band_serial.to_string();
        let v = self.w()?.api.admin("POST", &format!("/v1/admin/terminals/{serial}/unlock-pin"), None)?;
        ensure!(v["locked"] == false, "the unlock did not unlock: {v}");
        self.out.say("bank", "unlocks PIN mode for the account (POST /v1/admin/terminals/…/unlock-pin)");
        let (a, reason) = pin_attempt(self, PIN)?;
        ensure!(reason.is_none(), "the right PIN after the unlock: declined {reason:?}");
        let after = self.balance()?;
        ensure!(after.minor == before.minor - 1800, "the balance went from {before} to {after}, not down by 18.00");
        self.out.say("center", &format!("the right PIN → approved: {HOLDER} {before} → {after}"));
        self.cost_line(&a);
        let declined = self.payments.iter().filter(|p| p.step == "pin_lockout" && p.outcome == "declined").count();
        ensure!(declined == usize::try_from(max)? + 1, "{declined} declined PIN attempts, expected {}", max + 1);
        Ok(format!("{max} wrong PINs locked PIN mode; unlocked by the bank; the right PIN paid"))
    }

    fn tamper(&mut self) -> Result<String> {
        let order = self.new_order("99.00", "Tea pot")?;
        let before = self.balance()?;
        let mut config = BridgeConfig::new("127.0.0.1:0".parse()?, self.w()?.served.channel);
        config.link = LinkConfig::new(self.air);
        let mut plan = FaultPlan::new(TAMPER_SEED).with(Fault::BitFlip, 1.0);
        plan.to_center = false;
        config.faults = Some(plan);
        let hostile = Bridge::bind(config)?.spawn()?;
        self.out.say(
            "phone",
            &format!("turns hostile: flips bits in all it relays to the band, and asks for {}", order.as_str()),
        );
        let route = Route { bridge: Some(hostile.addr()), recv_timeout: Some(TAMPER_RECV_TIMEOUT), cut_after: None };
        let script = vec![Scripted::Press(Approval::Pressed)];
        let screens = self.w()?.band.ui().screens;
        let a = self.attempt("tamper", &order, Mode::Quick, script, route, (&[], &[]), true)?;
        let flips = hostile.handle().fault_counts().get(Fault::BitFlip);
        hostile.stop()?;
        let err = match &a.result {
            Err(
                e @ (wearpay_terminal::Error::Channel(_)
                | wearpay_terminal::Error::ChannelClosed
                | wearpay_terminal::Error::Io(_)),
            ) => e.to_string(),
            other => bail!("the band did not refuse the tampered channel: {other:?}"),
        };
        self.out.say("phone", &format!("flipped bits in {flips} chunk(s) on their way to the band"));
        self.out.say("band", &format!("refuses: {err}"));
        self.cost_line(&a);
        ensure!(flips > 0, "the hostile phone flipped nothing");
        ensure!(self.w()?.band.ui().screens == screens, "the band showed an order over a tampered channel");
        ensure!(self.w()?.band.pending().is_empty(), "the band signed a payment over a tampered channel");
        let after = self.balance()?;
        ensure!(after == before, "money moved: {before} → {after}");
        let view = self.order_view(&order)?;
        ensure!(view["status"] == "open", "the order is {}, not open", view["status"]);
        self.out.say("center", &format!("books nothing: {} open, {HOLDER} {after}", order.as_str()));
        Ok(format!("{flips} chunk(s) tampered with; the band refused, no money moved"))
    }

    fn link_drop(&mut self) -> Result<String> {
        let order = self.new_order("9.90", "Jasmine tea")?;
        let before = self.balance()?;
        self.out.say("phone", &format!("asks the band to pay {} in quick mode", order.as_str()));
        let route = Route { cut_after: Some(2), ..Route::default() };
        let script = vec![Scripted::Press(Approval::Pressed)];
        let labels: (&[&str], &[&str]) = (&["order query", "pay request"], &["the order"]);
        let a = self.attempt("drop", &order, Mode::Quick, script, route, labels, true)?;
        let tx_id = match &a.result {
            Err(wearpay_terminal::Error::ResponseLost { tx_id, .. }) => *tx_id,
            other => bail!("the payment did not lose its answer: {other:?}"),
        };
        self.out
            .say("phone", "the BLE link drops just as the center's answer reaches the band: the band never reads it");
        ensure!(self.w()?.band.pending() == [tx_id], "the band does not hold the request as pending");
        self.out.say("band", &format!("keeps the signed request of tx {} as pending", short(&tx_id)));
        let booked = self.balance()?;
        ensure!(booked.minor == before.minor - 990, "the center did not book it once: {before} → {booked}");

        // The band reconnects and settles: the same bytes again.
        let link = SimPeripheral::connect(self.w()?.bridge.addr(), LinkConfig::new(self.air))?;
        let stats = link.stats_handle();
        let started = Instant::now();
        let recovery = self.w()?.band.resume_pending(link.into_stream())?;
        let wall = started.elapsed();
        let settled = match recovery.settled.as_slice() {
            [one] if recovery.still_pending.is_empty() => one.clone(),
            _ => bail!("the recovery did not settle the one pending payment: {recovery:?}"),
        };
        ensure!(settled.tx_id == tx_id && settled.recovered, "settled another transaction: {settled:?}");
        ensure!(settled.outcome.is_approved(), "the recovered answer is a decline: {:?}", settled.outcome);
        let cost = Cost::of(&stats.get(), 0);
        self.out.say(
            "band",
            &format!(
                "reconnects and resends the stored request byte for byte ({} B on air, {} ms)",
                thousands(cost.bytes_on_air),
                wall.as_millis()
            ),
        );
        self.out.say("center", "knows the transaction: answers with its stored answer, books nothing new");
        ensure!(self.w()?.band.pending().is_empty(), "the band still holds a pending payment");
        let lost = Some(tx_id.to_string());
        if let Some(p) = self.payments.iter_mut().find(|p| p.tx_id == lost) {
            p.recovered = true;
        }

        // Once in the ledger, once on the order, once in the merchant's list.
        let after = self.balance()?;
        ensure!(after == booked, "the retry moved money: {booked} → {after}");
        let view = self.order_view(&order)?;
        ensure!(
            view["status"] == "paid" && view["paid_tx_id"] == tx_id.to_string(),
            "the order is not paid by tx {tx_id}: {view}"
        );
        let account = self.w()?.account.0;
        let history = self.w()?.api.admin("GET", &format!("/v1/admin/accounts/{account}/transactions"), None)?;
        let bookings = history.as_array().map_or(0, |h| h.iter().filter(|e| e["tx_id"] == tx_id.to_string()).count());
        ensure!(bookings == 1, "{bookings} ledger postings of tx {tx_id} on the account, expected 1");
        self.out.say(
            "bank",
            &format!("the ledger holds tx {} once; {} is paid by it; {HOLDER} {after}", short(&tx_id), order.as_str()),
        );

        // The phone asks again: the order is paid.
        let again = self.attempt(
            "drop",
            &order,
            Mode::Quick,
            vec![Scripted::Press(Approval::Pressed)],
            Route::default(),
            (&[], &[]),
            false,
        )?;
        let refusal = match &again.result {
            Ok(o) => match o.outcome {
                Outcome::Declined(r) => r.name().to_string(),
                Outcome::Approved => bail!("the paid order was paid again"),
            },
            Err(e) => e.to_string(),
        };
        ensure!(self.balance()? == after, "paying the order again moved money");
        self.out.say("phone", &format!("asks to pay {} again → {refusal}", order.as_str()));
        self.drop_summary = json!({
            "tx_id": tx_id.to_string(), "order": order.as_str(), "recovered": settled.recovered,
            "bookings": bookings, "order_status": view["status"], "second_attempt": refusal,
        });
        Ok(format!("answer lost, request resent, tx {} booked exactly once", short(&tx_id)))
    }

    fn lost_band(&mut self) -> Result<String> {
        let account = self.w()?.account.0;
        let secret = self.w()?.reporting_secret.clone();
        let serial = self.w()?.band_serial.clone();
        let (status, v) = self.w()?.api.call(
            "POST",
            "/v1/lost",
            None,
            Some(json!({"account": account, "reporting_secret": secret.as_str()})),
        )?;
        ensure!(status == 200, "the lost-band report was refused: {status} {v}");
        ensure!(
            v["revoked"].as_array().is_some_and(|r| r.iter().any(|s| s == serial.to_string().as_str())),
            "the report did not revoke the band: {v}"
        );
        self.out.say(HOLDER, "reports her band lost: POST /v1/lost with her reporting secret");
        self.out.say("center", &format!("revokes band {serial} at once and publishes a new CRL"));

        let order = self.new_order("50.00", "Anything the finder likes")?;
        let before = self.balance()?;
        self.out.say("phone", &format!("(the finder's) asks the lost band to pay {}", order.as_str()));
        let screens = self.w()?.band.ui().screens;
        let a = self.attempt(
            "lost",
            &order,
            Mode::Quick,
            vec![Scripted::Press(Approval::Pressed)],
            Route::default(),
            (&[], &[]),
            true,
        )?;
        let err = match &a.result {
            Ok(o) => bail!("the revoked band got an answer: {:?}", o.outcome),
            Err(e) => e.to_string(),
        };
        ensure!(a.story.kind == HandshakeKind::Failed, "the revoked band completed a handshake");
        ensure!(self.w()?.band.ui().screens == screens, "the revoked band was shown an order");
        self.out.say("band", &format!("refused at the handshake: {err}"));
        let after = self.balance()?;
        ensure!(after == before, "money moved: {before} → {after}");

        // The CRL, as anyone fetches it, signed by the terminal CA.
        let (status, crl) = self.w()?.api.call("GET", "/crl", None, None)?;
        ensure!(status == 200, "GET /crl: {status}");
        let pem = crl.as_str().context("the CRL is not PEM text")?;
        let crl = Crl::from_pem(pem.as_bytes())?;
        let ca = self.w()?.served.center.terminal_ca().certificate().clone();
        crl.verify(&PROVIDER, &ca, UnixTime::now()).context("the CRL does not verify with the terminal CA")?;
        ensure!(crl.entries().iter().any(|e| e.serial == serial.as_bytes()), "the CRL does not list {serial}");
        self.out.say("center", &format!("GET /crl: signed by the terminal CA, lists {serial}"));
        let center = self.w()?.served.center.clone();
        let t = self.runtime.block_on(center.store().terminal(&serial))?;
        ensure!(t.is_some_and(|t| t.status == TerminalStatus::Revoked), "the registry does not hold the band revoked");

        // A new band for Alice.
        let code = self.w()?.api.admin(
            "POST",
            &format!("/v1/admin/accounts/{account}/activation-codes"),
            Some(json!({"label": "Alice's new band"})),
        )?;
        let code_text = Zeroizing::new(String::from(code["activation_code"].as_str().context("no activation code")?));
        let base = self.w()?.api.base.clone();
        let enrolled = fixture::enroll_band(&self.root.join(BAND_DIR), &code_text, &base, KeyAlgorithm::Sm2)?;
        let new_serial = enrolled.serial.clone();
        self.out.say("bank", "gives her a new activation code");
        self.out.say("band", &format!("(the new one) enrolls as {new_serial}, in {BAND_DIR}/"));
        let band = self.make_band(enrolled)?;
        let air = self.air;
        let w = self.w()?;
        w.band = band;
        w.band_serial = TerminalSerial::new(&hex::decode(&new_serial)?)?;
        let link = SimPeripheral::connect(w.bridge.addr(), LinkConfig::new(air))?;
        let seen = w.band.balance(link.into_stream())?;
        let ledger = self.balance()?;
        ensure!(seen.balance == ledger, "the new band sees {}, the ledger holds {ledger}", seen.balance);
        self.out.say("band", &format!("(the new one) asks for the balance: {} — the ledger's", seen.balance));
        Ok(format!("band {} revoked, refused, on the CRL; the new band {} works", short(&serial), short(&new_serial)))
    }

    fn final_check(&mut self) -> Result<String> {
        let v = self.w()?.api.admin("GET", "/v1/admin/ledger/check", None)?;
        self.out.say("bank", &format!("GET /v1/admin/ledger/check: {}", v["summary"].as_str().unwrap_or("?")));
        ensure!(v["ok"] == true, "the ledger check failed: {v}");
        let balance = self.balance()?;
        let approved: i64 = self
            .payments
            .iter()
            .filter(|p| p.outcome == "approved" || p.recovered)
            .filter_map(|p| wearpay_pay::Money::parse(&p.amount).ok())
            .map(|m| m.amount.minor_i64())
            .sum();
        let deposit = wearpay_pay::Money::parse(&format!("{DEPOSIT} CNY"))?.amount.minor_i64();
        ensure!(
            balance.minor == deposit - approved,
            "{HOLDER}'s balance {balance} is not the deposit less the approved payments"
        );
        let merchant = self.w()?.merchant_account;
        let m = self.w()?.api.admin("GET", &format!("/v1/admin/accounts/{merchant}"), None)?;
        self.out.say(
            "bank",
            &format!(
                "{HOLDER} {balance}; {MERCHANT_NAME} {} CNY; every posting balances",
                m["balance"].as_str().unwrap_or("?")
            ),
        );
        self.ledger = json!({"ok": true, "summary": v["summary"], "approved_payments": v["approved_payments"],
                             "declined_payments": v["declined_payments"]});
        self.final_balance = Some(balance);

        // Stop the center: it seals the audit chain with a last signed checkpoint.
        let world = self.world.take().context("the set-up did not finish")?;
        world.bridge.stop()?;
        let center = world.served.stop(&self.runtime)?;
        self.out.say("center", "stops; signs a last checkpoint of its audit chain");
        let report = self.runtime.block_on(center.audit_verify())?;
        self.runtime.block_on(center.store().close());
        self.audit = json!({"ok": report.ok, "entries": report.entries, "checkpoints": report.checkpoints,
                            "sealed_through": report.sealed_seq, "unsealed": report.unsealed});
        ensure!(report.ok, "the audit trail does not verify: {:?}", report.findings.first());
        ensure!(report.unsealed == 0, "{} audit entries are not sealed by a checkpoint", report.unsealed);
        self.out.say(
            "center",
            &format!(
                "audit verify: {} entries, SM3 hash chain and {} signed checkpoints intact",
                report.entries, report.checkpoints
            ),
        );
        Ok(format!("ledger balanced, audit trail of {} entries verified", report.entries))
    }

    // ---- the end ---------------------------------------------------------------------------

    /// Stops what runs, leaves `--keep` ready, prints the closing lines; the JSON summary.
    fn finish(&mut self, ok: bool, keep: bool) -> Value {
        if let Some(world) = self.world.take() {
            let _ = world.bridge.stop();
            if let Ok(center) = world.served.stop(&self.runtime) {
                self.runtime.block_on(center.store().close());
            }
        }
        let mut kept = Value::Null;
        if keep && ok {
            match self.keep_ready() {
                Ok(v) => kept = v,
                Err(e) => self.out.fail(&format!("could not leave the set-up ready: {e:#}")),
            }
        }
        let wall = self.started.elapsed();
        let all_ok = ok && self.steps.iter().all(|s| s.ok) && self.steps.len() == 8;
        self.out.line("");
        if all_ok {
            self.out.title(&format!("demo: every step behaved ({:.1} s)", wall.as_secs_f64()));
        } else {
            let failed = self.steps.iter().find(|s| !s.ok);
            let text = failed.map_or_else(
                || String::from("demo FAILED"),
                |s| format!("demo FAILED at step {} ({}): {}", s.number, s.name, s.detail),
            );
            self.out.fail(&text);
            if !self.out.on_stderr {
                eprintln!("wearpay: {text}");
            }
        }
        let payments: Vec<Value> = self
            .payments
            .iter()
            .map(|p| {
                json!({
                    "step": p.step, "order": p.order, "mode": p.mode.name(), "outcome": p.outcome,
                    "reason": p.reason, "amount": p.amount, "bytes_on_air": p.cost.bytes_on_air,
                    "airtime_ms": ms(p.cost.airtime), "round_trips": p.cost.round_trips,
                    "handshake": p.handshake.name(), "wall_ms": ms(p.wall), "tx_id": p.tx_id,
                    "recovered": p.recovered,
                })
            })
            .collect();
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| json!({"number": s.number, "name": s.name, "ok": s.ok, "detail": s.detail, "wall_ms": ms(s.wall)}))
            .collect();
        json!({
            "ok": all_ok,
            "profile": self.profile_name,
            "air": self.air_name,
            "dir": keep.then(|| self.root.display().to_string()),
            "account": self.account.map(|a| a.0),
            "final_balance": self.final_balance.map(|b| b.to_string()),
            "steps": steps,
            "payments": payments,
            "drop": self.drop_summary,
            "ledger": self.ledger,
            "audit": self.audit,
            "kept": kept,
            "wall_ms": ms(wall),
        })
    }

    /// Gives the kept center fixed loopback ports and prints how to use the set-up.
    fn keep_ready(&mut self) -> Result<Value> {
        // Three free ports, held together so that they differ.
        let holders = [
            std::net::TcpListener::bind("127.0.0.1:0")?,
            std::net::TcpListener::bind("127.0.0.1:0")?,
            std::net::TcpListener::bind("127.0.0.1:0")?,
        ];
        let [channel, http, sim] = [holders[0].local_addr()?, holders[1].local_addr()?, holders[2].local_addr()?];
        drop(holders);
        let path = self.root.join(CENTER_DIR).join("center.toml");
        let mut config = CenterConfig::load(&path)?;
        config.channel.listen = channel;
        config.http.listen = Some(http);
        std::fs::write(&path, config.to_toml()?).with_context(|| format!("writing {}", path.display()))?;
        let dir = self.root.display().to_string();
        let account = self.account.map_or(1, |a| a.0);
        let air = if self.air.att_mtu == AirProfile::ble42().att_mtu { "ble42" } else { "ble5" };
        let commands = vec![
            format!("wearpay center serve --config {dir}/center/center.toml &"),
            format!("wearpay bridge --sim {sim} --center {channel} --profile {air} &"),
            format!("wearpay center account show --config {dir}/center/center.toml --account {account}"),
            format!("wearpay terminal balance --dir {dir}/band --bridge {sim} --air {air}"),
            format!("wearpay terminal receipts --dir {dir}/{FIRST_BAND_DIR}"),
            format!("wearpay center audit verify --config {dir}/center/center.toml"),
        ];
        self.out.line("");
        self.out.title(&format!("The set-up is kept in {dir}:"));
        self.out.line("  center/       the center (config, SQLite ledger, keys, CAs; merchant token in secrets/)");
        self.out.line(&format!("  band/         {HOLDER}'s band; {FIRST_BAND_DIR}/ is the one she lost (revoked)"));
        self.out.line("Try:");
        for c in &commands {
            self.out.line(&format!("  {c}"));
        }
        Ok(json!({"dir": dir, "center_config": path.display().to_string(), "channel": channel.to_string(),
                  "http": http.to_string(), "bridge_sim": sim.to_string(), "commands": commands}))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(world) = self.world.take() {
            let _ = world.bridge.stop();
            let _ = world.served.stop(&self.runtime);
        }
    }
}
