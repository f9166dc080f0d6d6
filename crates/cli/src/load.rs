//! `wearpay load`: many simulated bands paying a center through real TLCP channels on
//! loopback, then a proof that no money was made or lost.
//!
//! Set-up goes straight to the center's registry (accounts, a merchant, bands enrolled from
//! their CSRs, one order per payment). Each band then pays its share one payment per
//! connection, as a band does for each purchase: connect (resuming its TLCP session after
//! the first), ask for the order, send the signed `PayRequest`, check the signed receipt.
//! A payment's latency runs from the TCP connect to the verified receipt.
//!
//! Unless `--center ADDR` names a running center, the center is served in this process
//! from the same config, on an ephemeral loopback port: clients and server then share the
//! machine's cores, which the report says.
extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wearpay_center::keystore::{KeyPurpose, KeyStore};
use wearpay_center::node::{Center, CenterConfig};
use wearpay_center::{AccountId, NewAccount, NewMerchant, NewOrder};
use wearpay_crypto::{CryptoProvider, KeyAlgorithm, PrivateKey, PublicKey};
use wearpay_pay::{
    BiometricMatch, Counter, Currency, Description, Evidence, MatcherId, MerchantId, MerchantName, Mode, Money, Order,
    OrderId, OrderQuery, Outcome, Pan, PayRequestBuilder, Pin, PinBlock, Press, Request, Response, Timestamp, TxId,
    WornAttestation, confirm_text,
};
use wearpay_pki::{CsrBuilder, DistinguishedName, UnixTime, generate_key};
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::tokio_stream::TokioStream;
use wearpay_tlcp::{ClientConfig, ClientConnection, DEFAULT_SUITES, Event, PkiServerVerifier, Profile};

/// `wearpay load`
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The center's config file.
    #[arg(long)]
    config: PathBuf,
    /// Simulated bands, each paying its share in turn (concurrency).
    #[arg(long, default_value_t = 16)]
    terminals: usize,
    /// Payments in all.
    #[arg(long, default_value_t = 2000)]
    payments: usize,
    /// The payment mode every band uses.
    #[arg(long, value_enum, default_value = "quick")]
    mode: ModeArg,
    /// Each payment's amount, in the config's limit currency.
    #[arg(long, default_value = "1.00")]
    amount: String,
    /// A running center's channel address; default: serve one in this process.
    #[arg(long)]
    center: Option<SocketAddr>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Quick,
    Pin,
    Biometric,
    Confirm,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Quick => Mode::Quick,
            ModeArg::Pin => Mode::Pin,
            ModeArg::Biometric => Mode::Biometric,
            ModeArg::Confirm => Mode::Confirm,
        }
    }
}

/// The PIN every load account gets.
const LOAD_PIN: &str = "246810";

/// One simulated band.
struct Band {
    config: Arc<ClientConfig>,
    key: Arc<dyn PrivateKey>,
    pan: Pan,
    receipt_key: PublicKey,
    orders: Vec<Order>,
}

/// What the bands saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    approved: Vec<(OrderId, TxId)>,
    declined: BTreeMap<String, u64>,
    errors: Vec<String>,
    full: u64,
    resumed: u64,
}

pub fn run(args: LoadArgs) -> Result<ExitCode> {
    if args.terminals == 0 || args.payments == 0 {
        bail!("--terminals and --payments must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_async(args))
}

fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

async fn run_async(args: LoadArgs) -> Result<ExitCode> {
    let config = CenterConfig::load(&args.config).with_context(|| format!("loading {}", args.config.display()))?;
    let center = Arc::new(Center::open(config).await.context("opening the center")?);
    let mode = Mode::from(args.mode);
    let policy = center.config().policy()?;
    let money = Money { amount: wearpay_pay::Amount::parse(&args.amount, policy.currency)?, currency: policy.currency };

    eprintln!("setting up {} bands and {} orders…", args.terminals, args.payments);
    let setup_started = Instant::now();
    let (bands, merchant_account) = set_up(&center, &args, mode, money).await?;
    let before = center.store().ledger_check().await?;
    if !before.ok {
        bail!("the ledger is not balanced before the run: {before}");
    }
    let merchant_before = center.store().balance(merchant_account).await?.minor;
    eprintln!("set up in {:.1} s", setup_started.elapsed().as_secs_f64());

    // The center: the caller's, or ours on an ephemeral port.
    let (addr, server) = match args.center {
        Some(addr) => (addr, None),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let c = center.clone();
            let task = tokio::spawn(async move {
                c.serve(listener, async {
                    let _ = stopped.await;
                })
                .await;
            });
            (addr, Some((stop, task)))
        }
    };

    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let progress = tokio::spawn(show_progress(done.clone(), args.payments));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let pin_key = center.keys().public_key(KeyPurpose::PinEnc)?;
    for band in bands {
        let (done, failed, pin_key) = (done.clone(), failed.clone(), pin_key.clone());
        let provider = center.provider();
        tasks.spawn(async move { pay_all(band, addr, mode, provider, &pin_key, &done, &failed).await });
    }
    let mut tally = Tally::default();
    while let Some(t) = tasks.join_next().await {
        let t = t?;
        tally.latencies_us.extend(t.latencies_us);
        tally.approved.extend(t.approved);
        for (k, v) in t.declined {
            *tally.declined.entry(k).or_default() += v;
        }
        tally.errors.extend(t.errors);
        tally.full += t.full;
        tally.resumed += t.resumed;
    }
    let elapsed = started.elapsed();
    progress.abort();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    if let Some((stop, task)) = server {
        let _ = stop.send(());
        task.await?;
    }

    // The checks: the ledger balances, every approved payment is booked once against its
    // order, and the merchant got exactly what the bands were told was approved.
    let after = center.store().ledger_check().await?;
    let mut problems = Vec::new();
    if !after.ok {
        problems.push(format!("ledger check failed: {after}"));
    }
    if after.currency_totals != before.currency_totals {
        problems.push(String::from("the sum of all balances changed"));
    }
    let booked = after.approved_payments - before.approved_payments;
    if booked != tally.approved.len() as u64 {
        problems.push(format!("{} approvals told to bands, {booked} approved payments booked", tally.approved.len()));
    }
    for (order_id, tx_id) in &tally.approved {
        let order = center.store().get_order(order_id).await?;
        if order.as_ref().and_then(|o| o.paid_tx) != Some(*tx_id) {
            problems.push(format!("order {order_id} is not booked to its approved transaction {tx_id}"));
        }
    }
    let merchant_gain = center.store().balance(merchant_account).await?.minor - merchant_before;
    let expected_gain = i64::try_from(money.amount.minor())? * i64::try_from(tally.approved.len())?;
    if merchant_gain != expected_gain {
        problems.push(format!("the merchant gained {merchant_gain} minor units, expected {expected_gain}"));
    }
    center.store().close().await;

    let report = Report::new(&args, mode, &tally, elapsed, problems, server_is_local(&args));
    if args.json {
        println!("{}", report.json());
    } else {
        report.print();
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn server_is_local(args: &LoadArgs) -> bool {
    args.center.is_none()
}

/// Accounts with funds, a merchant, the bands enrolled, an order per payment.
async fn set_up(center: &Center, args: &LoadArgs, mode: Mode, money: Money) -> Result<(Vec<Band>, AccountId)> {
    let provider = center.provider();
    let store = center.store();
    let t = now();
    let mut run = [0u8; 4];
    provider.fill_random(&mut run)?;
    let run = hex::encode_upper(run);
    let currency: Currency = money.currency;

    let merchant_account = store.create_account(NewAccount::merchant(&format!("Load {run}"), currency), t).await?.id;
    let merchant = MerchantId::new(&format!("LOAD-{run}"))?;
    store
        .create_merchant(
            NewMerchant {
                id: merchant.clone(),
                name: MerchantName::new(&format!("Load test {run}"))?,
                account: merchant_account,
            },
            t,
        )
        .await?;

    let per_band = args.payments.div_ceil(args.terminals);
    let trust = vec![center.root().clone()];
    let server_name = center.config().channel.server_name.clone();
    let receipt_key = center.keys().public_key(KeyPurpose::ReceiptSign)?;
    let mut bands = Vec::with_capacity(args.terminals);
    let pin = Pin::new(LOAD_PIN)?;
    let mut next_order = 0usize;
    for i in 0..args.terminals {
        // 19-digit PANs unique to this run.
        let pan = Pan::new(&format!("62{:08}{:09}", u32::from_str_radix(&run, 16)? % 100_000_000, i))?;
        let account = store
            .create_account(NewAccount::customer(&format!("Load {run} band {i}"), currency).with_pan(pan.clone()), t)
            .await?
            .id;
        let share = per_band.min(args.payments - next_order.min(args.payments));
        let funds =
            Money { amount: wearpay_pay::Amount::from_minor(money.amount.minor() * (share as u64 + 1))?, currency };
        store.deposit(account, funds, t).await?;
        if mode == Mode::Pin {
            center.set_pin(account, &pin).await?;
        }
        let key: Arc<dyn PrivateKey> = generate_key(provider, KeyAlgorithm::Sm2)?.into();
        let csr = CsrBuilder::new(DistinguishedName::parse(&format!("CN=load band {i}"))?).sign(provider, &*key)?;
        let (_, cert) = center.enroll_terminal(&csr, account, &format!("load band {i}"), t).await?;
        let mut chain = vec![CertificateDer(cert.as_der().to_vec())];
        chain.extend(center.terminal_ca().chain().iter().map(|c| CertificateDer(c.as_der().to_vec())));
        chain.push(CertificateDer(center.terminal_ca().certificate().as_der().to_vec()));
        chain.dedup();
        let config = Arc::new(ClientConfig {
            provider: *provider,
            suites: DEFAULT_SUITES.to_vec(),
            profile: Profile::Seed,
            sign_key: key.clone(),
            cert_chain: chain,
            verifier: Arc::new(PkiServerVerifier::new(*provider, trust.clone(), vec![])),
            server_name: server_name.clone(),
            session_store: Arc::new(MemorySessionStore::new(4, 3600)),
            max_fragment_length: None,
            offer_session_ticket: false,
        });
        let mut orders = Vec::with_capacity(share);
        for _ in 0..share {
            let order_id = OrderId::new(&format!("LOAD-{run}-{next_order}"))?;
            next_order += 1;
            let new = NewOrder {
                order_id: order_id.clone(),
                merchant: merchant.clone(),
                money,
                description: Description::new("load test")?,
                expires_at: Timestamp(t.0 + 24 * 3600),
            };
            orders.push(store.create_order(new, t).await?.order);
        }
        bands.push(Band { config, key, pan, receipt_key: receipt_key.clone(), orders });
    }
    Ok((bands, merchant_account))
}

/// One band pays its orders, one connection each.
async fn pay_all(
    band: Band,
    addr: SocketAddr,
    mode: Mode,
    provider: &'static CryptoProvider,
    pin_key: &PublicKey,
    done: &AtomicUsize,
    failed: &AtomicU64,
) -> Tally {
    let mut tally = Tally::default();
    let mut counter = 0u64;
    for order in &band.orders {
        counter += 1;
        let started = Instant::now();
        match pay_one(&band, order, Counter(counter), addr, mode, provider, pin_key, &mut tally).await {
            Ok(None) => {
                tally.latencies_us.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            Ok(Some(reason)) => {
                *tally.declined.entry(reason).or_default() += 1;
            }
            Err(e) => {
                failed.fetch_add(1, Ordering::Relaxed);
                if tally.errors.len() < 5 {
                    tally.errors.push(format!("{}: {e:#}", order.order_id));
                }
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

/// `Ok(None)` approved, `Ok(Some(reason))` declined.
#[allow(clippy::too_many_arguments)]
async fn pay_one(
    band: &Band,
    order: &Order,
    counter: Counter,
    addr: SocketAddr,
    mode: Mode,
    provider: &'static CryptoProvider,
    pin_key: &PublicKey,
    tally: &mut Tally,
) -> Result<Option<String>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = TokioStream::new(ClientConnection::new(band.config.clone(), system_time())?, tcp);
    tls.handshake().await?;
    for e in tls.take_events() {
        if let Event::HandshakeComplete(s) = e {
            if s.resumed { tally.resumed += 1 } else { tally.full += 1 }
        }
    }
    // The band asks for the order by id: the phone cannot change merchant or amount.
    let query = Request::OrderQuery(OrderQuery { order_id: order.order_id.clone() }).encode()?;
    let Response::Order(fetched) = exchange(&mut tls, &query).await? else { bail!("no order in the answer") };
    if fetched != *order {
        bail!("the center's order differs from the one created");
    }
    let t = now();
    let tx_id = TxId::random(provider)?;
    let press = Press { tx_id, at: t };
    let evidence = match mode {
        Mode::Quick => {
            Evidence::quick(press, WornAttestation { unlocked_at: Timestamp(t.0 - 60), worn_since_unlock: true })
        }
        Mode::Pin => {
            Evidence::pin(press, PinBlock::encipher(provider, &Pin::new(LOAD_PIN)?, &band.pan, &tx_id, pin_key)?)
        }
        Mode::Biometric => Evidence::biometric(
            press,
            BiometricMatch { matched: true, matcher: MatcherId::new("load-matcher")?, score: 9_900 },
        ),
        Mode::Confirm => Evidence::confirm(press, confirm_text(&fetched)),
    };
    let request = PayRequestBuilder::for_order(&fetched, tx_id, evidence, counter, t).sign(&*band.key)?;
    let Response::Pay(answer) = exchange(&mut tls, request.encode()).await? else { bail!("no pay response") };
    let outcome = match answer.outcome {
        Outcome::Approved => {
            answer.verify_receipt(provider, &band.receipt_key, &request).context("the receipt does not verify")?;
            None
        }
        Outcome::Declined(reason) => Some(reason.name().to_string()),
    };
    if outcome.is_none() {
        tally.approved.push((order.order_id.clone(), tx_id));
    }
    let _ = tls.shutdown().await;
    Ok(outcome)
}

async fn exchange(tls: &mut TokioStream<ClientConnection, TcpStream>, request: &[u8]) -> Result<Response> {
    tls.write_all(request).await?;
    tls.flush().await?;
    let mut buf = vec![0u8; wearpay_pay::MAX_MESSAGE_LEN + 1024];
    let n = tls.read(&mut buf).await?;
    if n == 0 {
        bail!("the center closed the connection");
    }
    Ok(Response::decode(&buf[..n])?)
}

async fn show_progress(done: Arc<AtomicUsize>, total: usize) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let n = done.load(Ordering::Relaxed);
        let width = 30;
        let filled = n * width / total.max(1);
        let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-3);
        eprint!("\r[{}{}] {n}/{total} payments, {rate:.0}/s ", "=".repeat(filled), " ".repeat(width - filled));
        let _ = std::io::stderr().flush();
    }
}

struct Report {
    mode: Mode,
    terminals: usize,
    payments: usize,
    approved: usize,
    declined: BTreeMap<String, u64>,
    errors: Vec<String>,
    elapsed: Duration,
    p50_ms: f64,
    p99_ms: f64,
    full: u64,
    resumed: u64,
    problems: Vec<String>,
    local_center: bool,
}

impl Report {
    fn new(args: &LoadArgs, mode: Mode, t: &Tally, elapsed: Duration, problems: Vec<String>, local: bool) -> Self {
        let mut lat = t.latencies_us.clone();
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            lat[i] as f64 / 1000.0
        };
        Self {
            mode,
            terminals: args.terminals,
            payments: args.payments,
            approved: t.approved.len(),
            declined: t.declined.clone(),
            errors: t.errors.clone(),
            elapsed,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            full: t.full,
            resumed: t.resumed,
            problems,
            local_center: local,
        }
    }

    fn rate(&self) -> f64 {
        self.approved as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn ok(&self) -> bool {
        self.problems.is_empty() && self.errors.is_empty() && self.declined.is_empty()
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "mode": self.mode.name(),
            "terminals": self.terminals,
            "payments": self.payments,
            "approved": self.approved,
            "declined": self.declined,
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "payments_per_second": self.rate(),
            "latency_ms": { "p50": self.p50_ms, "p99": self.p99_ms },
            "handshakes": { "full": self.full, "resumed": self.resumed },
            "center_in_process": self.local_center,
            "ledger_check": { "ok": self.problems.is_empty(), "problems": self.problems },
        })
    }

    fn print(&self) {
        println!(
            "{} payments ({} mode) by {} bands in {:.2} s{}",
            self.payments,
            self.mode,
            self.terminals,
            self.elapsed.as_secs_f64(),
            if self.local_center { " (center in this process)" } else { "" }
        );
        println!("  approved           {}", self.approved);
        for (reason, n) in &self.declined {
            println!("  declined {reason:<10} {n}");
        }
        println!("  payments/s         {:.0}", self.rate());
        println!("  latency p50 / p99  {:.2} ms / {:.2} ms", self.p50_ms, self.p99_ms);
        println!("  handshakes         {} full, {} resumed", self.full, self.resumed);
        for e in &self.errors {
            println!("  error: {e}");
        }
        if self.problems.is_empty() {
            println!("  ledger check       ok: balanced, sum of balances unchanged, each approval booked once");
        } else {
            for p in &self.problems {
                println!("  LEDGER CHECK FAILED: {p}");
            }
        }
    }
}
