//! `wearpay terminal …`: a simulated band on this computer.
//!
//! The band's state lives in one directory: `se.state` (the software secure element,
//! sealed under the device secret), `device.secret` (which stands for the secret a real
//! band's hardware keeps; 0600) and `provisioning.txt` (what enrollment returned). It talks
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
use serde::Deserialize;
use serde_json::json;
use wearpay_center::http::ActivationCode;
use wearpay_crypto::{KeyAlgorithm, Zeroizing, portable::PROVIDER};
use wearpay_link::AirProfile;
use wearpay_link::sim::{LinkConfig, SimPeripheral};
use wearpay_pay::{BiometricMatch, MatcherId, Mode, OrderId, Outcome, Pan, Pin, Timestamp};
use wearpay_pki::{Certificate, DistinguishedName, UnixTime, files};
use wearpay_terminal::{
    Approval, ConsoleUi, PaymentOutcome, Provisioning, Scripted, ScriptedUi, SecureElement, SimulatedUser, SoftSe,
    SystemClock, Terminal, UserInterface,
};
use wearpay_tlcp::session::MemorySessionStore;

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

const STATE_FILE: &str = "se.state";
const SECRET_FILE: &str = "device.secret";
const PROVISIONING_FILE: &str = "provisioning.txt";

pub fn run(args: TerminalArgs) -> Result<ExitCode> {
    match args.command {
        TerminalCommand::Init(a) => init(&a),
        TerminalCommand::Pay(a) => pay(&a),
        TerminalCommand::Settle(a) => with_band(&a, ScriptedUi::new([]), |band, t| {
            let recovery = band.resume_pending(t)?;
            if a.dir.json {
                let settled: Vec<_> = recovery.settled.iter().map(outcome_json).collect();
                let pending: Vec<_> = recovery.still_pending.iter().map(ToString::to_string).collect();
                println!("{}", json!({"settled": settled, "still_pending": pending}));
            } else {
                recovery.settled.iter().for_each(|o| println!("{}", outcome_line(o)));
                println!("{} settled, {} still pending", recovery.settled.len(), recovery.still_pending.len());
            }
            Ok(if recovery.still_pending.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
        TerminalCommand::Receipts(a) => receipts(&a),
        TerminalCommand::Balance(a) => with_band(&a, ScriptedUi::new([]), |band, t| {
            let b = band.balance(t)?;
            if a.dir.json {
                println!("{}", json!({"balance": b.balance.to_string()}));
            } else {
                println!("balance {}", b.balance);
            }
            Ok(ExitCode::SUCCESS)
        }),
        TerminalCommand::History(a) => with_band(&a, ScriptedUi::new([]), |band, t| {
            let h = band.history(t, 20)?;
            for e in &h.entries {
                let amount = e.amount.display(e.currency);
                println!("{} {:?} {} {} {}", e.at.0, e.kind, amount, e.currency, e.tx_id);
            }
            Ok(ExitCode::SUCCESS)
        }),
        TerminalCommand::ChangePin(a) => with_band(&a.connect, ScriptedUi::new([]), |band, t| {
            let outcome = band.change_pin(&Pin::new(&a.old)?, &Pin::new(&a.new)?, t)?;
            println!("PIN change: {}", outcome_name(outcome));
            Ok(if outcome.is_approved() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
    }
}

fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

/// The JSON `POST /v1/enroll` returns.
#[derive(Debug, Deserialize)]
struct Enrollment {
    account: i64,
    pan: String,
    terminal_serial: String,
    certificate_pem: String,
    terminal_ca_chain_pem: Vec<String>,
    root_pem: String,
    center_ca_pem: String,
    receipt_sign_pem: String,
    pin_enc_pem: String,
    server_name: String,
}

fn cert(pem_text: &str) -> Result<Certificate> {
    Ok(Certificate::from_pem(pem_text.as_bytes())?)
}

fn init(a: &InitArgs) -> Result<ExitCode> {
    let code = ActivationCode::parse(&a.activation)?;
    if a.dir.join(STATE_FILE).exists() {
        bail!("{} holds a band already", a.dir.display());
    }
    std::fs::create_dir_all(&a.dir).with_context(|| format!("making {}", a.dir.display()))?;
    // The device secret stands for the one a real band's hardware keeps.
    let mut secret = Zeroizing::new([0u8; 32]);
    PROVIDER.fill_random(secret.as_mut())?;
    let secret_hex = Zeroizing::new(hex::encode(secret.as_ref()));
    files::write_new(a.dir.join(SECRET_FILE), secret_hex.as_bytes(), true)?;
    let mut se = SoftSe::create(a.dir.join(STATE_FILE), secret_hex.as_bytes())?;
    let alg = match a.alg {
        Alg::Sm2 => KeyAlgorithm::Sm2,
        Alg::Rsa => KeyAlgorithm::Rsa(2048),
    };
    let public = se.generate_key(alg)?;
    let spki = wearpay_pki::keys::public_key_to_spki(&public)?;
    // The proof binds the code to this key: a phone that swaps in its own CSR cannot make it.
    let proof = code.proof(&PROVIDER, &spki);
    let csr = se.csr(DistinguishedName::parse("CN=wearpay band")?, Some(&proof))?;

    let url = format!("{}/v1/enroll", a.center_url.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(&url)
        .send_json(json!({"activation_id": code.id(), "csr_pem": csr.to_pem()}))
        .with_context(|| format!("reaching {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.body_mut().read_json().context("the center's answer is not JSON")?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("refused");
        bail!("enrollment refused ({status}): {message}");
    }
    let e: Enrollment = serde_json::from_value(body).context("the enrollment answer is incomplete")?;
    let root = cert(&e.root_pem)?;
    let provisioning = Provisioning {
        band_certificate: cert(&e.certificate_pem)?,
        band_chain: e.terminal_ca_chain_pem.iter().map(|p| cert(p)).collect::<Result<_>>()?,
        // The bank's root is the trust anchor; enrollment over plain HTTP gives it to the
        // band, which in production comes preinstalled (see THREAT_MODEL.md).
        trust_anchors: vec![root],
        center_chain: vec![cert(&e.center_ca_pem)?],
        server_name: e.server_name,
        receipt_certificate: cert(&e.receipt_sign_pem)?,
        pin_certificate: cert(&e.pin_enc_pem)?,
        pan: Pan::new(&e.pan)?,
        account_label: format!("account {}", e.account),
    };
    provisioning.verify(&PROVIDER, now()).context("the center's certificates do not verify")?;
    provisioning.save(a.dir.join(PROVISIONING_FILE))?;
    println!(
        "{}: band {} enrolled to account {} (PAN ****{})",
        a.dir.display(),
        e.terminal_serial,
        e.account,
        &e.pan[e.pan.len().saturating_sub(4)..]
    );
    Ok(ExitCode::SUCCESS)
}

fn open_se(dir: &Path) -> Result<SoftSe> {
    let secret = Zeroizing::new(
        std::fs::read(dir.join(SECRET_FILE)).with_context(|| format!("{} is not a band directory", dir.display()))?,
    );
    let secret = secret.strip_suffix(b"\n").unwrap_or(&secret);
    Ok(SoftSe::open(dir.join(STATE_FILE), secret)?)
}

/// What the simulated wearer does: unlocked a minute ago, worn since, a finger the matcher
/// accepts (each can be turned off).
fn wearer(not_worn: bool, wrong_finger: bool) -> Result<SimulatedUser> {
    let t = now();
    Ok(SimulatedUser {
        button: true,
        unlocked_at: Some(Timestamp(t.0.saturating_sub(60))),
        worn_since_unlock: !not_worn,
        biometric: Some(BiometricMatch {
            matched: !wrong_finger,
            matcher: MatcherId::new("sim-fingerprint")?,
            score: if wrong_finger { 1_200 } else { 9_800 },
        }),
    })
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

fn band<U: UserInterface>(dir: &Path, ui: U, user: SimulatedUser) -> Result<Band<U>> {
    let mut se = open_se(dir)?;
    se.set_user(user);
    let provisioning = Provisioning::load(dir.join(PROVISIONING_FILE), now().max(se.time_floor()))?;
    let sessions = Arc::new(MemorySessionStore::new(4, 3600));
    Ok(Terminal::new(se, ui, SystemClock, provisioning, sessions)?)
}

fn with_band(
    a: &ConnectArgs,
    ui: ScriptedUi,
    f: impl FnOnce(&mut Band<ScriptedUi>, Transport) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let mut b = band(&a.dir.dir, ui, wearer(false, false)?)?;
    let t = connect(a)?;
    f(&mut b, t)
}

fn pay(a: &PayArgs) -> Result<ExitCode> {
    let order = OrderId::new(&a.order)?;
    let mode = match a.mode {
        ModeArg::Quick => Mode::Quick,
        ModeArg::Pin => Mode::Pin,
        ModeArg::Biometric => Mode::Biometric,
        ModeArg::Confirm => Mode::Confirm,
    };
    let user = wearer(a.not_worn, a.wrong_finger)?;
    if a.yes || a.pin.is_some() {
        let mut script = vec![Scripted::Press(if a.yes { Approval::Pressed } else { Approval::Declined })];
        if let Some(pin) = &a.pin {
            script.push(Scripted::Pin(pin.clone()));
        }
        let mut b = band(&a.connect.dir.dir, ScriptedUi::new(script), user)?;
        finish_pay(&mut b, a, &order, mode)
    } else {
        let mut b = band(&a.connect.dir.dir, ConsoleUi::new(), user)?;
        finish_pay(&mut b, a, &order, mode)
    }
}

fn finish_pay<U: UserInterface>(b: &mut Band<U>, a: &PayArgs, order: &OrderId, mode: Mode) -> Result<ExitCode> {
    let t = connect(&a.connect)?;
    let outcome = b.pay(order, mode, t)?;
    if a.connect.dir.json {
        let mut v = outcome_json(&outcome);
        if let Some(h) = b.last_handshake() {
            v["handshake"] = json!({"suite": format!("{:?}", h.suite), "resumed": h.resumed});
        }
        println!("{v}");
    } else {
        println!("{}", outcome_line(&outcome));
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
    let b = band(&a.dir, ScriptedUi::new([]), SimulatedUser::default())?;
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
