//! `wearpay bench payment`: what one payment costs the band over the air.
//!
//! A center (SQLite, in a temporary directory) and a bridge run in this process; a band
//! (the software secure element, a scripted user) pays through the bridge over the
//! simulated BLE link, once with a full handshake and then over resumed sessions, at
//! ATT_MTU 23 (BLE 4.2) and 247 (BLE 5 with data length extension). For each it reports
//! the bytes over the air (both directions, link-layer overheads included), the round
//! trips (the band's turns: it sends, then waits for the center) and the simulated airtime.
//!
//! It also reports the band's heap. The band runs on a thread of its own, and the binary's
//! allocator ([`crate::alloc_count`]) counts only what that thread allocates and frees: the
//! center, the bridge and the runtime are not counted. The band's state is built on its
//! thread (secure element, provisioning, session store), so "at rest" is what it holds
//! between payments and "peak" the most it holds during one, both in total. The band
//! takes full 16 KiB records (it asks for no smaller maximum fragment): each request's
//! answer is read into a buffer of a full record's size, which the payment figures include.
//! A payment's records are small, so the channel's input buffer never grows to a full record
//! there; a last probe therefore sends a 16 KiB record to the center's channel and has it
//! echoed back over the band's resumed session, and reports that peak as well.
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use core::time::Duration;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde_json::json;
use wearpay_bridge::{Bridge, BridgeConfig};
use wearpay_center::keystore::KeyPurpose;
use wearpay_center::node::{Center, CenterConfig, InitOptions, init};
use wearpay_center::{NewAccount, NewMerchant, NewOrder};
use wearpay_crypto::KeyAlgorithm;
use wearpay_link::AirProfile;
use wearpay_link::sim::{LinkConfig, LinkStats, SimPeripheral};
use wearpay_pay::{Currency, Description, MerchantId, MerchantName, Mode, Money, OrderId, Pan, Timestamp};
use wearpay_pki::{DistinguishedName, UnixTime};
use wearpay_shangmi::PROVIDER;
use wearpay_terminal::{
    Approval, Exchange, Provisioning, Scripted, ScriptedUi, SecureElement, SimulatedUser, SoftSe, SystemClock, Terminal,
};
use wearpay_tlcp::session::{MemorySessionStore, SessionStore};
use wearpay_tlcp::{ServerConfig, ServerConnection, stream::system_time};

use crate::alloc_count;

/// The goal for the band's heap at its peak.
const HEAP_GOAL: usize = 64 * 1024;
/// A full record's plaintext.
const FULL_RECORD: usize = 16 * 1024;
const DEVICE_SECRET: &[u8] = b"bench device secret";

#[derive(Debug, Args)]
pub struct PaymentArgs {
    /// Resumed payments measured per air profile (the median is reported).
    #[arg(long, default_value_t = 9)]
    payments: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Counts the band's turns: a read after a write is one round trip.
struct Turns<T> {
    inner: T,
    wrote: bool,
    turns: u32,
}

impl<T: Read> Read for Turns<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.wrote {
            self.turns += 1;
            self.wrote = false;
        }
        self.inner.read(buf)
    }
}

impl<T: Write> Write for Turns<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.wrote = true;
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One payment's cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    bytes_over_air: u64,
    payload_bytes: u64,
    round_trips: u32,
    airtime: Duration,
    heap: Heap,
}

/// The band thread's heap around one payment, in bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Heap {
    /// Held when it began: the band's state and the link.
    at_rest: usize,
    /// The most held at any moment during it (at rest included).
    peak: usize,
}

impl Heap {
    /// Measures `f` on the band's thread: what is held before it, and the most during it.
    fn measure<T>(f: impl FnOnce() -> T) -> (T, Heap) {
        let at_rest = alloc_count::reset_peak();
        let out = f();
        let peak = alloc_count::peak();
        let bytes = |n: isize| usize::try_from(n).unwrap_or(0);
        (out, Heap { at_rest: bytes(at_rest), peak: bytes(peak) })
    }

    fn json(&self) -> serde_json::Value {
        json!({"heap_at_rest_bytes": self.at_rest, "heap_peak_bytes": self.peak})
    }
}

fn cost(stats: &LinkStats, turns: u32, heap: Heap) -> Cost {
    let (up, down) = (stats.to_central, stats.to_peripheral);
    Cost {
        bytes_over_air: up.bytes_over_air + down.bytes_over_air,
        payload_bytes: up.fragment_bytes + down.fragment_bytes,
        round_trips: turns,
        airtime: up.airtime + down.airtime,
        heap,
    }
}

/// The payments the band makes through one bridge.
struct Leg {
    name: &'static str,
    profile: AirProfile,
    bridge: SocketAddr,
    orders: Vec<OrderId>,
}

/// What the band measured: per air profile (name, ATT_MTU, full, median resumed, the
/// largest resumed peak), and the full-record probe.
struct Measured {
    rows: Vec<(&'static str, u16, Cost, Cost, Heap)>,
    full_record: Heap,
    full_record_resumed: bool,
}

/// The band's side of the bench, on the band's own thread: everything it holds is made
/// here, so that the counting allocator sees all of it.
fn band_thread(se_path: PathBuf, provisioning: Provisioning, legs: Vec<Leg>, echo: SocketAddr) -> Result<Measured> {
    let mut se = SoftSe::open(&se_path, DEVICE_SECRET)?;
    let t = now();
    se.set_user(SimulatedUser {
        button: true,
        unlocked_at: Some(Timestamp(t.0 - 60)),
        worn_since_unlock: true,
        biometric: None,
    });
    let payments: usize = legs.iter().map(|l| l.orders.len()).sum();
    let ui = ScriptedUi::new(core::iter::repeat_n(Scripted::Press(Approval::Pressed), payments));
    let server_name = provisioning.server_name.clone();
    let sessions = Arc::new(MemorySessionStore::new(4, 3600));
    let mut band = Terminal::new(se, ui, SystemClock, provisioning, sessions.clone())?;

    let mut rows = Vec::new();
    for leg in legs {
        // A fresh session store: the first payment of each profile is a full handshake.
        sessions.remove(server_name.as_bytes());
        let mut full = None;
        let mut resumed = Vec::new();
        for (i, order) in leg.orders.iter().enumerate() {
            let link = SimPeripheral::connect(leg.bridge, LinkConfig::new(leg.profile))?;
            let stats = link.stats_handle();
            let mut transport = Turns { inner: link.into_stream(), wrote: false, turns: 0 };
            let (outcome, heap) = Heap::measure(|| band.pay(order, Mode::Quick, &mut transport));
            let outcome = outcome?;
            anyhow::ensure!(outcome.outcome.is_approved(), "the bench payment was declined: {:?}", outcome.outcome);
            let was_resumed = band.last_handshake().is_some_and(|h| h.resumed);
            let c = cost(&stats.get(), transport.turns, heap);
            if i == 0 {
                anyhow::ensure!(!was_resumed, "the first payment resumed a session");
                full = Some(c);
            } else {
                anyhow::ensure!(was_resumed, "payment {i} did not resume");
                resumed.push(c);
            }
        }
        let worst = resumed.iter().map(|c| c.heap).max_by_key(|h| h.peak).unwrap_or_default();
        resumed.sort_by_key(|c| c.airtime);
        let median = *resumed.get(resumed.len() / 2).context("no resumed payment")?;
        rows.push((leg.name, leg.profile.att_mtu, full.context("no full handshake")?, median, worst));
    }

    // A full record each way over the band's channel, resuming the last session.
    let tcp = TcpStream::connect(echo)?;
    let request = vec![0x5a_u8; FULL_RECORD];
    let (answer, full_record) = Heap::measure(|| -> Result<Vec<u8>> {
        let mut channel = band.connect(tcp)?;
        let answer = channel.exchange(&request)?;
        channel.close();
        Ok(answer)
    });
    anyhow::ensure!(answer? == request, "the echo differs from the record sent");
    let full_record_resumed = band.last_handshake().is_some_and(|h| h.resumed);
    Ok(Measured { rows, full_record, full_record_resumed })
}

/// The center's channel configuration echoing one connection's records back: the probe's
/// peer for a full record each way.
fn echo_once(listener: TcpListener, tls: Arc<ServerConfig>) -> Result<()> {
    let (mut tcp, _) = listener.accept()?;
    let mut conn = ServerConnection::new(tls);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let result = conn.handle_input(&buf[..n], system_time());
        while let Some(data) = conn.read_application_data() {
            conn.send_application_data(&data)?;
        }
        if conn.peer_closed() {
            conn.send_close_notify();
        }
        tcp.write_all(&conn.take_output())?;
        result?;
        if conn.peer_closed() {
            return Ok(());
        }
    }
}

fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

pub fn run(args: &PaymentArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let mut options = InitOptions::new("127.0.0.1:0".parse()?, "center.wearpay.bench");
    options.iterations = 1_000;
    let center = runtime.block_on(async {
        init(dir.path(), &options, &PROVIDER).await?;
        let config = CenterConfig::load(&dir.path().join("center.toml"))?;
        anyhow::Ok(Arc::new(Center::open(config).await?))
    })?;
    let rounds = args.payments.max(1);
    let profiles = [("BLE 4.2, ATT_MTU 23", AirProfile::ble42()), ("BLE 5, ATT_MTU 247", AirProfile::ble5_1m())];
    let orders = profiles.len() * (rounds + 1);

    // The bank's side: a funded account with a PAN, a merchant, an order per payment.
    let (account, order_ids) = runtime.block_on(async {
        let store = center.store();
        let t = now();
        let pan = Pan::new("6212345678900001")?;
        let account = store.create_account(NewAccount::customer("Bench", Currency::CNY).with_pan(pan), t).await?.id;
        store.deposit(account, Money::parse("10000.00 CNY")?, t).await?;
        let shop = store.create_account(NewAccount::merchant("Bench shop", Currency::CNY), t).await?.id;
        let merchant = MerchantId::new("M-BENCH")?;
        store
            .create_merchant(
                NewMerchant { id: merchant.clone(), name: MerchantName::new("Bench shop")?, account: shop },
                t,
            )
            .await?;
        let mut ids = Vec::new();
        for i in 0..orders {
            let order_id = OrderId::new(&format!("BENCH-{i}"))?;
            let new = NewOrder {
                order_id: order_id.clone(),
                merchant: merchant.clone(),
                money: Money::parse("1.00 CNY")?,
                description: Description::new("a cup of tea")?,
                expires_at: Timestamp(t.0 + 3600),
            };
            store.create_order(new, t).await?;
            ids.push(order_id);
        }
        anyhow::Ok((account, ids))
    })?;

    // The center serves on an ephemeral port.
    let listener = runtime.block_on(center.bind())?;
    let center_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let c = center.clone();
    let server = runtime.spawn(async move {
        c.serve(listener, async {
            let _ = stopped.await;
        })
        .await;
    });

    // The band, enrolled straight from its CSR (no HTTP needed here).
    let se_path = dir.path().join("se.state");
    let cert = {
        let mut se = SoftSe::create_with_iterations(&se_path, DEVICE_SECRET, 1_000)?;
        se.generate_key(KeyAlgorithm::Sm2)?;
        let csr = se.csr(DistinguishedName::parse("CN=bench band")?, None)?;
        runtime.block_on(center.enroll_terminal(&csr, account, "bench band", now()))?.1
    };
    let provisioning = Provisioning {
        band_certificate: cert,
        band_chain: vec![center.terminal_ca().certificate().clone()],
        trust_anchors: vec![center.root().clone()],
        center_chain: vec![center.center_ca().clone()],
        server_name: center.config().channel.server_name.clone(),
        receipt_certificate: center.certificate(KeyPurpose::ReceiptSign).context("receipt certificate")?.clone(),
        pin_certificate: center.certificate(KeyPurpose::PinEnc).context("PIN certificate")?.clone(),
        pan: Pan::new("6212345678900001")?,
        account_label: String::from("bench"),
    };

    let mut bridges = Vec::new();
    let mut legs = Vec::new();
    let mut next_order = order_ids.chunks(rounds + 1);
    for (name, profile) in profiles {
        let mut config = BridgeConfig::new("127.0.0.1:0".parse()?, center_addr);
        config.link = LinkConfig::new(profile);
        let bridge = Bridge::bind(config)?.spawn()?;
        let orders = next_order.next().context("out of orders")?.to_vec();
        legs.push(Leg { name, profile, bridge: bridge.addr(), orders });
        bridges.push(bridge);
    }
    let echo = TcpListener::bind("127.0.0.1:0")?;
    let echo_addr = echo.local_addr()?;
    let tls = center.tls().clone();
    let echo = std::thread::Builder::new().name("echo".into()).spawn(move || echo_once(echo, tls))?;
    let band = std::thread::Builder::new().name("band".into()).spawn(move || {
        alloc_count::count_this_thread(true);
        let measured = band_thread(se_path, provisioning, legs, echo_addr);
        alloc_count::count_this_thread(false);
        measured
    })?;
    let measured = band.join().map_err(|_| anyhow!("the band's thread panicked"))?;
    // The echo ends when the band closes; if the band failed early, it is left waiting.
    if measured.is_ok() {
        echo.join().map_err(|_| anyhow!("the echo thread panicked"))??;
    }
    let measured = measured?;
    for bridge in bridges {
        bridge.stop()?;
    }
    let _ = stop.send(());
    runtime.block_on(server)?;
    let results = &measured.rows;

    let probe = measured.full_record;
    let worst = results.iter().flat_map(|(.., full, _, worst)| [full.heap.peak, worst.peak]).chain([probe.peak]);
    let worst = worst.max().unwrap_or(0);
    if args.json {
        let rows: Vec<_> = results
            .iter()
            .map(|(name, mtu, full, resumed, resumed_heap)| {
                let row = |c: &Cost, heap: &Heap| {
                    let mut v = json!({
                        "bytes_over_air": c.bytes_over_air, "gatt_bytes": c.payload_bytes,
                        "round_trips": c.round_trips, "airtime_ms": c.airtime.as_secs_f64() * 1000.0,
                    });
                    if let (Some(v), serde_json::Value::Object(h)) = (v.as_object_mut(), heap.json()) {
                        v.extend(h);
                    }
                    v
                };
                json!({
                    "profile": name, "att_mtu": mtu,
                    "full": row(full, &full.heap), "resumed": row(resumed, resumed_heap),
                })
            })
            .collect();
        let report = json!({
            "payments": rows,
            "full_record_echo": {
                "record_bytes": FULL_RECORD, "resumed": measured.full_record_resumed,
                "heap_at_rest_bytes": probe.at_rest, "heap_peak_bytes": probe.peak,
            },
            "heap_peak_bytes": worst,
            "heap_goal_bytes": HEAP_GOAL,
        });
        println!("{report}");
    } else {
        println!("one quick-mode payment through the bridge (median of {rounds} resumed; heap: the largest):");
        println!(
            "{:<22} {:>8} {:>14} {:>12} {:>12} {:>14} {:>12}",
            "air profile", "session", "bytes on air", "round trips", "airtime", "heap at rest", "heap peak"
        );
        for (name, _, full, resumed, resumed_heap) in results {
            for (kind, c, heap) in [("full", full, &full.heap), ("resumed", resumed, resumed_heap)] {
                println!(
                    "{:<22} {:>8} {:>14} {:>12} {:>9.0} ms {:>12} B {:>10} B",
                    name,
                    kind,
                    c.bytes_over_air,
                    c.round_trips,
                    c.airtime.as_secs_f64() * 1000.0,
                    heap.at_rest,
                    heap.peak
                );
            }
        }
        println!(
            "a {FULL_RECORD}-byte record each way over the band's {} session: heap at rest {} B, peak {} B",
            if measured.full_record_resumed { "resumed" } else { "new" },
            probe.at_rest,
            probe.peak
        );
        println!(
            "band heap: counted on the band's thread only, everything it holds (secure element, certificates, \
             sessions, link); it takes full {FULL_RECORD}-byte records; largest peak {worst} B (goal: under {HEAP_GOAL} B)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
