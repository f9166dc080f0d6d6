//! `wearpay terminal …`: a simulated band on this computer.
//!
//! The band's state lives in one directory: `se.state` (the software secure element,
//! sealed under the device secret), `device.secret` (which stands for the secret a real
//! band's hardware keeps; 0600), `provisioning.txt` (what enrollment returned) and
//! `tlcp.sessions` (the channel sessions the next command resumes, sealed like the state;
//! a damaged one is set aside with a warning and costs one full handshake). It talks
//! to the center through a bridge over the simulated BLE link (`--bridge ADDR`), or straight
//! over TCP (`--center ADDR`) for testing.
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use core::time::Duration;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use wearpay_crypto::{KeyAlgorithm, Zeroizing};
use wearpay_link::AirProfile;
use wearpay_link::sim::{LinkConfig, SimPeripheral};
use wearpay_pay::{Mode, OrderId, Outcome, Pin};
use wearpay_pki::UnixTime;
use wearpay_terminal::{
    Approval, ConsoleUi, PaymentOutcome, Provisioning, Scripted, ScriptedUi, SealedSessionStore, SecureElement,
    SimulatedUser, SoftSe, SystemClock, Terminal, UserInterface,
};
use wearpay_tlcp::msgs::AlertDescription;
use wearpay_tlcp::session::SessionStore;

use crate::fixture::{self, BAND_PROVISIONING_FILE, BAND_SECRET_FILE, BAND_STATE_FILE, now};

/// `wearpay terminal …`
#[derive(Debug, Args)]
pub struct TerminalArgs {
    #[command(subcommand)]
    command: TerminalCommand,
}

#[derive(Debug, Subcommand)]
enum TerminalCommand {
    /// Make a band: its secure element and key, a CSR proving the activation code, and
    /// enrollment with the center's HTTP API.
    Init(InitArgs),
    /// Pay an order: the band fetches it from the center, shows it, waits for the press.
    Pay(PayArgs),
    /// Settle payments whose answer was lost (resend byte for byte, or ask their status).
    Settle(ConnectArgs),
    /// The receipts the band keeps (no connection needed).
    Receipts(DirArgs),
    /// The account's balance, asked of the center.
    Balance(ConnectArgs),
    /// The account's latest payments, asked of the center.
    History(ConnectArgs),
    /// Change the account's PIN (the old one is needed).
    ChangePin(ChangePinArgs),
    /// Renew the band's certificate over the secure channel (same key, new certificate and
    /// the center's current receipt and PIN certificates).
    Renew(RenewArgs),
}

#[derive(Debug, Args)]
struct DirArgs {
    /// The band's directory.
    #[arg(long)]
    dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Alg {
    Sm2,
    Rsa,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The band's directory (made; must not hold a band).
    #[arg(long)]
    dir: PathBuf,
    /// The activation code the bank gave the user.
    #[arg(long)]
    activation: String,
    /// The center's HTTP API, e.g. http://127.0.0.1:7080.
    #[arg(long)]
    center_url: String,
    /// The key algorithm the secure element generates.
    #[arg(long, value_enum, default_value = "sm2")]
    alg: Alg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AirArg {
    Ble42,
    Ble5,
}

#[derive(Debug, Args)]
struct ConnectArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The bridge's simulated BLE address (`wearpay bridge --sim`).
    #[arg(long, conflicts_with = "center")]
    bridge: Option<SocketAddr>,
    /// Straight to the center's channel over TCP, without a bridge (testing).
    #[arg(long)]
    center: Option<SocketAddr>,
    /// The simulated radio.
    #[arg(long, value_enum, default_value = "ble5")]
    air: AirArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Quick,
    Pin,
    Biometric,
    Confirm,
}

#[derive(Debug, Args)]
struct PayArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The order to pay (the band asks the center for it).
    #[arg(long)]
    order: String,
    /// How the user proves it is them.
    #[arg(long, value_enum)]
    mode: ModeArg,
    /// Press the button without asking (scripts).
    #[arg(long)]
    yes: bool,
    /// The PIN, for scripts (else it is asked on the console).
    #[arg(long)]
    pin: Option<String>,
    /// Simulate a band taken off the wrist since it was unlocked (quick mode is refused).
    #[arg(long)]
    not_worn: bool,
    /// Simulate a finger the matcher rejects (biometric mode is refused).
    #[arg(long)]
    wrong_finger: bool,
}

#[derive(Debug, Args)]
struct ChangePinArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The current PIN.
    #[arg(long)]
    old: String,
    /// The new PIN.
    #[arg(long)]
    new: String,
}

#[derive(Debug, Args)]
struct RenewArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Only if a certificate the band relies on ends within 30 days (what a band does on
    /// its own).
    #[arg(long)]
    if_due: bool,
}

const SESSIONS_FILE: &str = "tlcp.sessions";
/// How long the band offers a session after its full handshake: a center's default.
const SESSION_LIFETIME: u64 = 3600;

pub fn run(args: TerminalArgs) -> Result<ExitCode> {
    match args.command {
        TerminalCommand::Init(a) => init(&a),
        TerminalCommand::Pay(a) => pay(&a),
        TerminalCommand::Settle(a) => with_band(&a, ScriptedUi::new([]), |band, t, offered| {
            let recovery = band.resume_pending(t)?;
            if a.dir.json {
                let settled: Vec<_> = recovery.settled.iter().map(outcome_json).collect();
                let pending: Vec<_> = recovery.still_pending.iter().map(ToString::to_string).collect();
                let handshake = handshake_json(band, offered);
                println!("{}", json!({"settled": settled, "still_pending": pending, "handshake": handshake}));
            } else {
                recovery.settled.iter().for_each(|o| println!("{}", outcome_line(o)));
                println!("{} settled, {} still pending", recovery.settled.len(), recovery.still_pending.len());
                println!("{}", handshake_line(band, offered));
            }
            Ok(if recovery.still_pending.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
        TerminalCommand::Receipts(a) => receipts(&a),
        TerminalCommand::Balance(a) => with_band(&a, ScriptedUi::new([]), |band, t, offered| {
            let b = band.balance(t)?;
            if a.dir.json {
                println!("{}", json!({"balance": b.balance.to_string(), "handshake": handshake_json(band, offered)}));
            } else {
                println!("balance {}", b.balance);
                println!("{}", handshake_line(band, offered));
            }
            Ok(ExitCode::SUCCESS)
        }),
        TerminalCommand::History(a) => with_band(&a, ScriptedUi::new([]), |band, t, offered| {
            let h = band.history(t, 20)?;
            for e in &h.entries {
                let amount = e.amount.display(e.currency);
                println!("{} {:?} {} {} {}", e.at.0, e.kind, amount, e.currency, e.tx_id);
            }
            println!("{}", handshake_line(band, offered));
            Ok(ExitCode::SUCCESS)
        }),
        TerminalCommand::ChangePin(a) => with_band(&a.connect, ScriptedUi::new([]), |band, t, offered| {
            let outcome = band.change_pin(&Pin::new(&a.old)?, &Pin::new(&a.new)?, t)?;
            println!("PIN change: {}", outcome_name(outcome));
            println!("{}", handshake_line(band, offered));
            Ok(if outcome.is_approved() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
        TerminalCommand::Renew(a) => renew(&a),
    }
}

fn renew(a: &RenewArgs) -> Result<ExitCode> {
    let dir = &a.connect.dir.dir;
    let (mut b, sessions) = band(dir, ScriptedUi::new([]), fixture::wearer(true, true)?)?;
    let before = b.provisioning().band_certificate.clone();
    if a.if_due && !b.renewal_due()? {
        let until = b.provisioning().earliest_expiry();
        if a.connect.dir.json {
            println!("{}", json!({"renewed": false, "serial": before.serial_hex(), "earliest_expiry": until}));
        } else {
            println!("renewal not due: the band's certificates last until {}", UnixTime(until));
        }
        return Ok(ExitCode::SUCCESS);
    }
    keeping_sessions(&mut b, &sessions, &a.connect, |b, t, offered| {
        let provisioning = b.renew(t)?;
        // Kept before anything else: the band pays with this certificate from now on.
        provisioning.save(dir.join(BAND_PROVISIONING_FILE))?;
        let cert = &provisioning.band_certificate;
        if a.connect.dir.json {
            println!(
                "{}",
                json!({
                    "renewed": true,
                    "replaces": before.serial_hex(),
                    "serial": cert.serial_hex(),
                    "not_after": cert.not_after().secs(),
                    "handshake": handshake_json(b, offered),
                })
            );
        } else {
            println!(
                "band certificate renewed: serial {} replaces {}, valid until {}",
                cert.serial_hex(),
                before.serial_hex(),
                cert.not_after()
            );
            println!("{}", handshake_line(b, offered));
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn init(a: &InitArgs) -> Result<ExitCode> {
    let alg = match a.alg {
        Alg::Sm2 => KeyAlgorithm::Sm2,
        Alg::Rsa => KeyAlgorithm::Rsa(2048),
    };
    let band = fixture::enroll_band(&a.dir, &a.activation, &a.center_url, alg)?;
    let pan = band.provisioning.pan.as_str();
    println!(
        "{}: band {} enrolled to account {} (PAN ****{})",
        a.dir.display(),
        band.serial,
        band.account,
        &pan[pan.len().saturating_sub(4)..]
    );
    Ok(ExitCode::SUCCESS)
}

fn open_se(dir: &Path) -> Result<SoftSe> {
    let secret = Zeroizing::new(
        std::fs::read(dir.join(BAND_SECRET_FILE))
            .with_context(|| format!("{} is not a band directory", dir.display()))?,
    );
    let secret = secret.strip_suffix(b"\n").unwrap_or(&secret);
    Ok(SoftSe::open(dir.join(BAND_STATE_FILE), secret)?)
}

/// A `Read + Write` to the center: through the bridge's simulated BLE, or TCP.
enum Transport {
    Ble(Box<wearpay_link::sim::LinkStream>),
    Tcp(TcpStream),
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Ble(s) => s.read(buf),
            Transport::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Transport::Ble(s) => s.write(buf),
            Transport::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Ble(s) => s.flush(),
            Transport::Tcp(s) => s.flush(),
        }
    }
}

fn connect(a: &ConnectArgs) -> Result<Transport> {
    match (a.bridge, a.center) {
        (Some(addr), _) => {
            let profile = match a.air {
                AirArg::Ble42 => AirProfile::ble42(),
                AirArg::Ble5 => AirProfile::ble5_1m(),
            };
            let link = SimPeripheral::connect(addr, LinkConfig::new(profile))
                .with_context(|| format!("no bridge at {addr}"))?;
            Ok(Transport::Ble(Box::new(link.into_stream())))
        }
        (None, Some(addr)) => {
            let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .with_context(|| format!("no center at {addr}"))?;
            tcp.set_nodelay(true)?;
            Ok(Transport::Tcp(tcp))
        }
        (None, None) => bail!("give --bridge ADDR (through the phone) or --center ADDR"),
    }
}

type Band<U> = Terminal<SoftSe, U, SystemClock>;

/// The band, and the sessions it kept from earlier commands (it resumes them).
fn band<U: UserInterface>(dir: &Path, ui: U, user: SimulatedUser) -> Result<(Band<U>, Arc<SealedSessionStore>)> {
    let mut se = open_se(dir)?;
    se.set_user(user);
    let provisioning = Provisioning::load(dir.join(BAND_PROVISIONING_FILE), now().max(se.time_floor()))?;
    let at = UnixTime(now().max(se.time_floor()).0);
    let (sessions, discarded) = SealedSessionStore::load(dir.join(SESSIONS_FILE), &se, SESSION_LIFETIME, at);
    if let Some(why) = discarded {
        // The file is a cache: the only cost is a full handshake.
        eprintln!("wearpay: warning: the band's saved sessions are set aside ({why}); a full handshake follows");
    }
    let sessions = Arc::new(sessions);
    Ok((Terminal::new(se, ui, SystemClock, provisioning, sessions.clone())?, sessions))
}

fn with_band(
    a: &ConnectArgs,
    ui: ScriptedUi,
    f: impl FnOnce(&mut Band<ScriptedUi>, Transport, bool) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let (mut b, sessions) = band(&a.dir.dir, ui, fixture::wearer(true, true)?)?;
    keeping_sessions(&mut b, &sessions, a, f)
}

/// Runs `command` over a new connection (told whether a stored session is offered), then
/// saves the band's sessions for the next command. A session the center would not resume
/// is dropped when the command fails, and the failure says the resumption was refused.
fn keeping_sessions<U: UserInterface>(
    b: &mut Band<U>,
    sessions: &SealedSessionStore,
    a: &ConnectArgs,
    command: impl FnOnce(&mut Band<U>, Transport, bool) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let server_name = b.provisioning().server_name.clone();
    let at = UnixTime(b.effective_time()?.0);
    let offered = sessions.has_session(&server_name, at);
    let result = connect(a).and_then(|t| command(b, t, offered));
    let refused = offered && !b.last_handshake().is_some_and(|h| h.resumed);
    if result.is_err() && refused {
        sessions.remove(server_name.as_bytes());
    }
    if let Err(e) = sessions.save(UnixTime(b.effective_time().unwrap_or(now()).0)) {
        eprintln!("wearpay: warning: the band's sessions were not saved: {e}");
    }
    match result {
        Err(e) if refused => {
            let why = if revoked(&e) {
                "the center refused to resume the band's TLCP session, and refuses its certificate: \
                 the band is revoked or suspended"
            } else {
                "the center refused to resume the band's TLCP session"
            };
            Err(e.context(why))
        }
        other => other,
    }
}

/// Whether the center refused the band's certificate as revoked (or suspended).
fn revoked(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let tlcp = match cause.downcast_ref::<wearpay_terminal::Error>() {
            Some(wearpay_terminal::Error::Channel(t)) => Some(t),
            _ => cause.downcast_ref::<wearpay_tlcp::Error>(),
        };
        matches!(tlcp, Some(wearpay_tlcp::Error::AlertReceived(AlertDescription::CertificateRevoked)))
    })
}

/// How the channel was opened, for `--json`.
fn handshake_json<U: UserInterface>(b: &Band<U>, offered: bool) -> serde_json::Value {
    match b.last_handshake() {
        Some(h) => json!({
            "kind": if h.resumed { "resumed" } else { "full" },
            "resumed": h.resumed,
            "suite": h.suite.to_string(),
            "session_offered": offered,
        }),
        None => serde_json::Value::Null,
    }
}

/// How the channel was opened, as a line.
fn handshake_line<U: UserInterface>(b: &Band<U>, offered: bool) -> String {
    match b.last_handshake() {
        Some(h) if h.resumed => format!("handshake: resumed ({})", h.suite),
        Some(h) if offered => format!("handshake: full ({}; the center did not resume the saved session)", h.suite),
        Some(h) => format!("handshake: full ({})", h.suite),
        None => String::from("handshake: none"),
    }
}

fn pay(a: &PayArgs) -> Result<ExitCode> {
    let order = OrderId::new(&a.order)?;
    let mode = match a.mode {
        ModeArg::Quick => Mode::Quick,
        ModeArg::Pin => Mode::Pin,
        ModeArg::Biometric => Mode::Biometric,
        ModeArg::Confirm => Mode::Confirm,
    };
    let user = fixture::wearer(!a.not_worn, !a.wrong_finger)?;
    if a.yes || a.pin.is_some() {
        let mut script = vec![Scripted::Press(if a.yes { Approval::Pressed } else { Approval::Declined })];
        if let Some(pin) = &a.pin {
            script.push(Scripted::Pin(pin.clone()));
        }
        let (mut b, sessions) = band(&a.connect.dir.dir, ScriptedUi::new(script), user)?;
        keeping_sessions(&mut b, &sessions, &a.connect, |b, t, offered| finish_pay(b, t, offered, a, &order, mode))
    } else {
        let (mut b, sessions) = band(&a.connect.dir.dir, ConsoleUi::new(), user)?;
        keeping_sessions(&mut b, &sessions, &a.connect, |b, t, offered| finish_pay(b, t, offered, a, &order, mode))
    }
}

fn finish_pay<U: UserInterface>(
    b: &mut Band<U>,
    t: Transport,
    offered: bool,
    a: &PayArgs,
    order: &OrderId,
    mode: Mode,
) -> Result<ExitCode> {
    let outcome = b.pay(order, mode, t)?;
    if a.connect.dir.json {
        let mut v = outcome_json(&outcome);
        v["handshake"] = handshake_json(b, offered);
        println!("{v}");
    } else {
        println!("{}", outcome_line(&outcome));
        println!("{}", handshake_line(b, offered));
    }
    Ok(if outcome.outcome.is_approved() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn outcome_name(o: Outcome) -> String {
    match o {
        Outcome::Approved => String::from("approved"),
        Outcome::Declined(r) => format!("declined ({})", r.name()),
    }
}

fn outcome_line(o: &PaymentOutcome) -> String {
    let balance = o.balance_after.map(|b| format!("; balance {b}")).unwrap_or_default();
    format!("{} {} in {} mode: {} (tx {}){balance}", o.order_id, o.money, o.mode, outcome_name(o.outcome), o.tx_id)
}

fn outcome_json(o: &PaymentOutcome) -> serde_json::Value {
    json!({
        "tx_id": o.tx_id.to_string(),
        "order": o.order_id.as_str(),
        "amount": o.money.to_string(),
        "mode": o.mode.name(),
        "approved": o.outcome.is_approved(),
        "outcome": outcome_name(o.outcome),
        "center_time": o.receipt.as_ref().map(|r| r.center_time.0),
        "balance_after": o.balance_after.map(|b| b.to_string()),
        "recovered": o.recovered,
    })
}

fn receipts(a: &DirArgs) -> Result<ExitCode> {
    let (b, _) = band(&a.dir, ScriptedUi::new([]), SimulatedUser::default())?;
    let list = b.receipts()?;
    if a.json {
        println!("{}", serde_json::Value::Array(list.iter().map(outcome_json).collect()));
    } else {
        list.iter().for_each(|o| println!("{}", outcome_line(o)));
        let pending = b.pending();
        if !pending.is_empty() {
            println!("{} payment(s) pending: run `wearpay terminal settle`", pending.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
