//! `wearpay bench payment`: what one payment costs the band over the air.
//!
//! A center (SQLite, in a temporary directory) and a bridge run in this process; a band
//! (the software secure element, a scripted user) pays through the bridge over the
//! simulated BLE link, once with a full handshake and then over resumed sessions, at
//! ATT_MTU 23 (BLE 4.2) and 247 (BLE 5 with data length extension). For each it reports
//! the bytes over the air (both directions, link-layer overheads included), the round
//! trips (the band's turns: it sends, then waits for the center) and the simulated airtime.
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use core::time::Duration;
use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use wearpay_bridge::{Bridge, BridgeConfig};
use wearpay_center::keystore::KeyPurpose;
use wearpay_center::node::{Center, CenterConfig, InitOptions, init};
use wearpay_center::{NewAccount, NewMerchant, NewOrder};
use wearpay_crypto::{KeyAlgorithm, portable::PROVIDER};
use wearpay_link::AirProfile;
use wearpay_link::sim::{LinkConfig, LinkStats, SimPeripheral};
use wearpay_pay::{Currency, Description, MerchantId, MerchantName, Mode, Money, OrderId, Pan, Timestamp};
use wearpay_pki::{DistinguishedName, UnixTime};
use wearpay_terminal::{
    Approval, Provisioning, Scripted, ScriptedUi, SecureElement, SimulatedUser, SoftSe, SystemClock, Terminal,
};
use wearpay_tlcp::session::{MemorySessionStore, SessionStore};

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
}

fn cost(stats: &LinkStats, turns: u32) -> Cost {
    let (up, down) = (stats.to_central, stats.to_peripheral);
    Cost {
        bytes_over_air: up.bytes_over_air + down.bytes_over_air,
        payload_bytes: up.fragment_bytes + down.fragment_bytes,
        round_trips: turns,
        airtime: up.airtime + down.airtime,
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
    let mut se = SoftSe::create_with_iterations(dir.path().join("se.state"), b"bench device secret", 1_000)?;
    se.generate_key(KeyAlgorithm::Sm2)?;
    let csr = se.csr(DistinguishedName::parse("CN=bench band")?, None)?;
    let (_, cert) = runtime.block_on(center.enroll_terminal(&csr, account, "bench band", now()))?;
    let t = now();
    se.set_user(SimulatedUser {
        button: true,
        unlocked_at: Some(Timestamp(t.0 - 60)),
        worn_since_unlock: true,
        biometric: None,
    });
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
    let ui = ScriptedUi::new(core::iter::repeat_n(Scripted::Press(Approval::Pressed), orders));
    let server_name = provisioning.server_name.clone();
    let sessions = Arc::new(MemorySessionStore::new(4, 3600));
    let mut band = Terminal::new(se, ui, SystemClock, provisioning, sessions.clone())?;

    let mut results = Vec::new();
    let mut next_order = order_ids.iter();
    for (name, profile) in profiles {
        let mut config = BridgeConfig::new("127.0.0.1:0".parse()?, center_addr);
        config.link = LinkConfig::new(profile);
        let bridge = Bridge::bind(config)?.spawn()?;
        let bridge_addr: SocketAddr = bridge.addr();
        // A fresh session store: the first payment of each profile is a full handshake.
        sessions.remove(server_name.as_bytes());
        let mut full = None;
        let mut resumed = Vec::new();
        for i in 0..=rounds {
            let link = SimPeripheral::connect(bridge_addr, LinkConfig::new(profile))?;
            let stats = link.stats_handle();
            let mut transport = Turns { inner: link.into_stream(), wrote: false, turns: 0 };
            let order = next_order.next().context("out of orders")?;
            let outcome = band.pay(order, Mode::Quick, &mut transport)?;
            anyhow::ensure!(outcome.outcome.is_approved(), "the bench payment was declined: {:?}", outcome.outcome);
            let was_resumed = band.last_handshake().is_some_and(|h| h.resumed);
            let c = cost(&stats.get(), transport.turns);
            if i == 0 {
                anyhow::ensure!(!was_resumed, "the first payment resumed a session");
                full = Some(c);
            } else {
                anyhow::ensure!(was_resumed, "payment {i} did not resume");
                resumed.push(c);
            }
        }
        bridge.stop()?;
        resumed.sort_by_key(|c| c.airtime);
        let median = resumed[resumed.len() / 2];
        results.push((name, profile.att_mtu, full.context("no full handshake")?, median));
    }
    let _ = stop.send(());
    runtime.block_on(server)?;

    if args.json {
        let rows: Vec<_> = results
            .iter()
            .map(|(name, mtu, full, resumed)| {
                let row = |c: &Cost| {
                    json!({
                        "bytes_over_air": c.bytes_over_air, "gatt_bytes": c.payload_bytes,
                        "round_trips": c.round_trips, "airtime_ms": c.airtime.as_secs_f64() * 1000.0,
                    })
                };
                json!({"profile": name, "att_mtu": mtu, "full": row(full), "resumed": row(resumed)})
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("one quick-mode payment through the bridge (median of {rounds} resumed):");
        println!(
            "{:<22} {:>8} {:>14} {:>12} {:>12}",
            "air profile", "session", "bytes on air", "round trips", "airtime"
        );
        for (name, _, full, resumed) in &results {
            for (kind, c) in [("full", full), ("resumed", resumed)] {
                println!(
                    "{:<22} {:>8} {:>14} {:>12} {:>9.0} ms",
                    name,
                    kind,
                    c.bytes_over_air,
                    c.round_trips,
                    c.airtime.as_secs_f64() * 1000.0
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
