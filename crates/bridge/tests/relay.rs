#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
//! The bridge between a real center (from `init`, on loopback) and bands that pay over the
//! simulated BLE link with the real TLCP client: honest, failing on either side, and
//! hostile under many seeds, with the ledger checked after each.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wearpay_bridge::{Bridge, BridgeConfig, EndedBy, Fault, FaultCounts, FaultPlan, RunningBridge};
use wearpay_center::keystore::{KeyPurpose, KeyStore};
use wearpay_center::node::{Center, CenterConfig, InitOptions, init};
use wearpay_center::{AccountId, NewAccount, NewMerchant, NewOrder};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, PublicKey, portable::PROVIDER};
use wearpay_link::sim::{Direction, DropAfter, LinkConfig, LinkStream, SimPeripheral};
use wearpay_link::{AirProfile, Command, ErrorStatus};
use wearpay_pay::{
    Counter, Currency, Description, Evidence, MerchantId, MerchantName, Money, Order, OrderId, OrderQuery, Outcome,
    PayRequest, PayRequestBuilder, Press, Request, Response, Timestamp, TxId, WornAttestation,
};
use wearpay_pki::{CsrBuilder, DistinguishedName, UnixTime, generate_key};
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::stream::{Stream, system_time};
use wearpay_tlcp::{ClientConfig, ClientConnection, DEFAULT_SUITES, PkiServerVerifier, Profile};

fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

/// A center served on loopback from a tokio runtime of its own, with a merchant.
struct Env {
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    center: Arc<Center>,
    addr: SocketAddr,
    stop: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
    merchant: MerchantId,
    next_order: std::sync::atomic::AtomicUsize,
}

/// A band: its key and certificate in a client config, and the center's receipt key.
struct Band {
    config: Arc<ClientConfig>,
    key: Arc<dyn PrivateKey>,
    receipt_key: PublicKey,
    account: AccountId,
    counter: u64,
}

impl Env {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut options = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
        options.iterations = 1_000;
        let center = rt.block_on(async {
            init(dir.path(), &options, &PROVIDER).await.unwrap();
            Center::open(CenterConfig::load(&dir.path().join("center.toml")).unwrap()).await.unwrap()
        });
        let center = Arc::new(center);
        let t = now();
        let merchant = MerchantId::new("M-TEA").unwrap();
        let (listener, addr) = rt.block_on(async {
            let store = center.store();
            let shop = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), t).await.unwrap().id;
            let name = MerchantName::new("Tea House").unwrap();
            store.create_merchant(NewMerchant { id: merchant.clone(), name, account: shop }, t).await.unwrap();
            let listener = center.bind().await.unwrap();
            let addr = listener.local_addr().unwrap();
            (listener, addr)
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let c = center.clone();
        let server = rt.spawn(async move {
            c.serve(listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self { rt, _dir: dir, center, addr, stop: Some((stop, server)), merchant, next_order: Default::default() }
    }

    /// A band enrolled to a new customer account holding 1000.00 CNY.
    fn band(&self, name: &str) -> Band {
        let t = now();
        self.rt.block_on(async {
            let store = self.center.store();
            let account = store.create_account(NewAccount::customer(name, Currency::CNY), t).await.unwrap().id;
            store.deposit(account, Money::parse("1000.00 CNY").unwrap(), t).await.unwrap();
            let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
            let csr = CsrBuilder::new(DistinguishedName::parse("CN=band").unwrap()).sign(&PROVIDER, &*key).unwrap();
            let (_, cert) = self.center.enroll_terminal(&csr, account, name, t).await.unwrap();
            let ca = self.center.terminal_ca().certificate();
            let config = Arc::new(ClientConfig {
                provider: PROVIDER,
                suites: DEFAULT_SUITES.to_vec(),
                profile: Profile::Seed,
                sign_key: key.clone(),
                cert_chain: vec![CertificateDer(cert.as_der().to_vec()), CertificateDer(ca.as_der().to_vec())],
                verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![self.center.root().clone()], vec![])),
                server_name: self.center.config().channel.server_name.clone(),
                session_store: Arc::new(MemorySessionStore::new(4, 3600)),
                max_fragment_length: None,
                offer_session_ticket: false,
            });
            let receipt_key = self.center.keys().public_key(KeyPurpose::ReceiptSign).unwrap();
            Band { config, key, receipt_key, account, counter: 0 }
        })
    }

    /// A new order of `amount` at the merchant.
    fn order(&self, amount: &str) -> Order {
        let n = self.next_order.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = now();
        let new = NewOrder {
            order_id: OrderId::new(&format!("O-{n}")).unwrap(),
            merchant: self.merchant.clone(),
            money: Money::parse(amount).unwrap(),
            description: Description::new("tea").unwrap(),
            expires_at: Timestamp(t.0 + 3600),
        };
        self.rt.block_on(self.center.store().create_order(new, t)).unwrap().order
    }

    fn stop_center(&mut self) {
        if let Some((stop, server)) = self.stop.take() {
            let _ = stop.send(());
            self.rt.block_on(server).unwrap();
        }
    }

    fn balance(&self, account: AccountId) -> i64 {
        self.rt.block_on(self.center.store().balance(account)).unwrap().minor
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop_center();
    }
}

fn honest_bridge(center: SocketAddr, profile: AirProfile) -> RunningBridge {
    let mut config = BridgeConfig::new("127.0.0.1:0".parse().unwrap(), center);
    config.link = LinkConfig::new(profile);
    Bridge::bind(config).unwrap().spawn().unwrap()
}

fn link_config(recv_timeout: Duration) -> LinkConfig {
    LinkConfig { recv_timeout, ..LinkConfig::default() }
}

type Tls = Stream<ClientConnection, LinkStream>;

fn connect(band: &Band, bridge: SocketAddr, link: LinkConfig) -> Result<Tls, String> {
    let link = SimPeripheral::connect(bridge, link).map_err(|e| format!("link: {e}"))?;
    let conn = ClientConnection::new(band.config.clone(), system_time()).map_err(|e| format!("tlcp: {e}"))?;
    let mut tls = Stream::new(conn, link.into_stream());
    tls.complete_handshake().map_err(|e| format!("handshake: {e}"))?;
    Ok(tls)
}

fn exchange(tls: &mut Tls, request: &[u8]) -> Result<Response, String> {
    tls.write_all(request).map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; wearpay_pay::MAX_MESSAGE_LEN + 1024];
    let n = tls.read(&mut buf).map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err(String::from("closed instead of answering"));
    }
    Response::decode(&buf[..n]).map_err(|e| format!("response: {e}"))
}

/// What the band knows of one payment.
#[derive(Default)]
struct Payment {
    /// The signed request, once made (the band keeps it to retry the same bytes).
    request: Option<PayRequest>,
    /// The outcome, once a response verified.
    outcome: Option<Outcome>,
}

/// One attempt of the band to pay `order` through `bridge`: asks for the order (and checks
/// it is the one shown), signs the request once, sends it, checks the receipt.
fn attempt(
    band: &mut Band,
    order: &Order,
    bridge: SocketAddr,
    link: LinkConfig,
    p: &mut Payment,
) -> Result<(), String> {
    let mut tls = connect(band, bridge, link)?;
    if p.request.is_none() {
        let query = Request::OrderQuery(OrderQuery { order_id: order.order_id.clone() }).encode().unwrap();
        let Response::Order(fetched) = exchange(&mut tls, &query)? else { return Err(String::from("no order")) };
        // The band shows merchant and amount from the center, not from the phone.
        assert_eq!(fetched, *order, "the center's order reached the band changed");
        let tx_id = TxId::random(&PROVIDER).unwrap();
        let t = now();
        let evidence = Evidence::quick(
            Press { tx_id, at: t },
            WornAttestation { unlocked_at: Timestamp(t.0 - 60), worn_since_unlock: true },
        );
        band.counter += 1;
        let signed =
            PayRequestBuilder::for_order(&fetched, tx_id, evidence, Counter(band.counter), t).sign(&*band.key).unwrap();
        p.request = Some(signed);
    }
    let request = p.request.as_ref().unwrap();
    let Response::Pay(answer) = exchange(&mut tls, request.encode())? else {
        return Err(String::from("no pay answer"));
    };
    assert_eq!(answer.tx_id, *request.tx_id(), "an answer to another request");
    if answer.outcome == Outcome::Approved {
        answer.verify_receipt(&PROVIDER, &band.receipt_key, request).map_err(|e| format!("receipt: {e}"))?;
    }
    p.outcome = Some(answer.outcome);
    let _ = tls.close();
    Ok(())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn honest_bridge_relays_payments_of_several_bands_with_air_stats() {
    let env = Env::new();
    let bridge = honest_bridge(env.addr, AirProfile::ble42());
    let addr = bridge.addr();
    let bands: Vec<Band> = (0..3).map(|i| env.band(&format!("band {i}"))).collect();
    let accounts: Vec<AccountId> = bands.iter().map(|b| b.account).collect();
    let orders: Vec<Vec<Order>> = (0..3).map(|_| vec![env.order("12.50 CNY"), env.order("0.99 CNY")]).collect();
    // Three bands pay at once, two payments each (the second resumes the session).
    let paid: Vec<_> = thread::scope(|s| {
        let handles: Vec<_> = bands
            .into_iter()
            .zip(&orders)
            .map(|(mut band, orders)| {
                s.spawn(move || {
                    orders
                        .iter()
                        .map(|o| {
                            let mut p = Payment::default();
                            attempt(&mut band, o, addr, link_config(Duration::from_secs(20)), &mut p).unwrap();
                            p.outcome
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for outcomes in &paid {
        assert_eq!(outcomes, &[Some(Outcome::Approved), Some(Outcome::Approved)]);
    }
    for a in accounts {
        assert_eq!(env.balance(a), 100_000 - 1_250 - 99);
    }
    let handle = bridge.handle().clone();
    wait_for("six reports", || handle.reports().len() == 6);
    for r in handle.reports() {
        assert_eq!(r.att_mtu, 23);
        assert!(matches!(r.ended_by, EndedBy::Band | EndedBy::Center), "{r:?}");
        // The band's bytes went to the center and back, fragment by fragment on the air.
        assert!(r.to_center.bytes > 0 && r.to_band.bytes > 0, "{r:?}");
        assert_eq!(r.link.to_central.messages, r.to_center.chunks);
        // What the center sent after the band hung up (its close_notify) may find no band.
        let delivered = r.link.to_peripheral.messages;
        assert!(delivered <= r.to_band.chunks && delivered + 1 >= r.to_band.chunks, "{r:?}");
        assert!(r.link.to_peripheral.fragments * 20 >= r.to_band.bytes);
        assert!(r.link.to_peripheral.airtime > Duration::ZERO && r.link.to_central.airtime > Duration::ZERO);
        assert!(r.link.to_peripheral.bytes_over_air > r.to_band.bytes);
    }
    assert_eq!(handle.fault_counts(), FaultCounts::default());
    bridge.stop().unwrap();
    let check = env.rt.block_on(env.center.store().ledger_check()).unwrap();
    assert!(check.ok, "{check}");
    assert_eq!(check.approved_payments, 6);
}

/// A stand-in center that shows what the bridge does to its TCP side.
fn plain_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

#[test]
fn band_dropping_closes_the_center_connection() {
    let (center, addr) = plain_listener();
    let bridge = honest_bridge(addr, AirProfile::ble5_1m());
    let mut band = SimPeripheral::connect(bridge.addr(), LinkConfig::new(AirProfile::ble5_1m())).unwrap();
    let (mut tcp, _) = center.accept().unwrap();
    band.send(Command::Msg, b"half a ClientHello").unwrap();
    let mut got = [0u8; 18];
    tcp.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"half a ClientHello");
    // The center's bytes come back as one MSG.
    tcp.write_all(b"ServerHello").unwrap();
    assert_eq!(band.recv().unwrap().data, b"ServerHello");
    drop(band);
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    assert_eq!(tcp.read(&mut got).unwrap(), 0, "the center side stayed open");
    assert!(started.elapsed() < Duration::from_secs(2));
    let handle = bridge.handle().clone();
    wait_for("the report", || handle.reports().len() == 1);
    let r = &handle.reports()[0];
    assert_eq!(r.ended_by, EndedBy::Band);
    assert_eq!((r.to_center.bytes, r.to_band.bytes), (18, 11));
    assert_eq!(r.att_mtu, 247);
    bridge.stop().unwrap();
}

#[test]
fn band_dropping_mid_payment_books_nothing_and_the_band_pays_on_reconnect() {
    let env = Env::new();
    let bridge = honest_bridge(env.addr, AirProfile::ble42());
    let mut band = env.band("dropper");
    let order = env.order("3.00 CNY");
    // The band's link dies after its first flight and part of the second.
    let lossy = LinkConfig {
        drop_after: Some(DropAfter { direction: Direction::ToCentral, bytes: 600 }),
        ..link_config(Duration::from_secs(20))
    };
    let mut p = Payment::default();
    assert!(attempt(&mut band, &order, bridge.addr(), lossy, &mut p).is_err());
    assert!(p.request.is_none());
    let handle = bridge.handle().clone();
    wait_for("the report", || handle.reports().len() == 1);
    assert_eq!(handle.reports()[0].ended_by, EndedBy::Band);
    assert_eq!(handle.active(), 0);
    let stored = env.rt.block_on(env.center.store().get_order(&order.order_id)).unwrap().unwrap();
    assert_eq!(stored.paid_tx, None);
    // Reconnected, the band pays.
    attempt(&mut band, &order, bridge.addr(), link_config(Duration::from_secs(20)), &mut p).unwrap();
    assert_eq!(p.outcome, Some(Outcome::Approved));
    bridge.stop().unwrap();
}

#[test]
fn center_dropping_closes_the_band_link() {
    // A stand-in center that hangs up.
    let (center, addr) = plain_listener();
    let bridge = honest_bridge(addr, AirProfile::ble42());
    let mut band = SimPeripheral::connect(bridge.addr(), LinkConfig::default()).unwrap();
    let (tcp, _) = center.accept().unwrap();
    drop(tcp);
    let started = Instant::now();
    assert!(matches!(band.recv_timeout(Duration::from_secs(5)), Err(wearpay_link::Error::Disconnected)));
    assert!(started.elapsed() < Duration::from_secs(2));
    let handle = bridge.handle().clone();
    wait_for("the report", || handle.reports().len() == 1);
    assert_eq!(handle.reports()[0].ended_by, EndedBy::Center);
    bridge.stop().unwrap();

    // The real center stopping: a band with a live session reads end of stream.
    let mut env = Env::new();
    let bridge = honest_bridge(env.addr, AirProfile::ble42());
    let band = env.band("idle");
    let mut tls = connect(&band, bridge.addr(), link_config(Duration::from_secs(20))).unwrap();
    env.stop_center();
    let mut buf = [0u8; 64];
    assert_eq!(tls.read(&mut buf).unwrap(), 0);
    // Not only the center's close_notify: the bridge has closed the link itself.
    let link = tls.sock.link_mut();
    assert!(matches!(link.recv_timeout(Duration::from_secs(5)), Err(wearpay_link::Error::Disconnected)));
    assert!(matches!(link.send(Command::Msg, b"anyone?"), Err(wearpay_link::Error::Disconnected)));
    let handle = bridge.handle().clone();
    wait_for("the report", || handle.reports().len() == 1);
    assert_eq!(handle.reports()[0].ended_by, EndedBy::Center);
    bridge.stop().unwrap();
}

#[test]
fn unreachable_center_gets_the_band_a_busy_error_after_retries() {
    let (gone, addr) = plain_listener();
    drop(gone);
    let mut config = BridgeConfig::new("127.0.0.1:0".parse().unwrap(), addr);
    config.connect_attempts = 3;
    config.connect_backoff = Duration::from_millis(100);
    let bridge = Bridge::bind(config).unwrap().spawn().unwrap();
    let started = Instant::now();
    let mut band = SimPeripheral::connect(bridge.addr(), LinkConfig::default()).unwrap();
    let m = band.recv_timeout(Duration::from_secs(10)).unwrap();
    // Waited 100 + 200 ms between the three attempts.
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert_eq!(m.error_status(), Some(ErrorStatus::Busy));
    assert!(matches!(band.recv_timeout(Duration::from_secs(5)), Err(wearpay_link::Error::Disconnected)));
    let handle = bridge.handle().clone();
    wait_for("the report", || handle.reports().len() == 1);
    assert_eq!(handle.reports()[0].ended_by, EndedBy::CenterUnreachable);
    // The bridge goes on accepting.
    let mut again = SimPeripheral::connect(bridge.addr(), LinkConfig::default()).unwrap();
    assert_eq!(again.recv_timeout(Duration::from_secs(10)).unwrap().error_status(), Some(ErrorStatus::Busy));
    bridge.stop().unwrap();
}

#[test]
fn shutdown_closes_live_connections() {
    let (center, addr) = plain_listener();
    let bridge = honest_bridge(addr, AirProfile::ble42());
    let mut bands: Vec<_> =
        (0..3).map(|_| SimPeripheral::connect(bridge.addr(), LinkConfig::default()).unwrap()).collect();
    let centers: Vec<_> = (0..3).map(|_| center.accept().unwrap().0).collect();
    let handle = bridge.handle().clone();
    wait_for("three live connections", || handle.active() == 3);
    let started = Instant::now();
    bridge.stop().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    for band in &mut bands {
        assert!(matches!(band.recv_timeout(Duration::from_secs(5)), Err(wearpay_link::Error::Disconnected)));
    }
    for mut c in centers {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let r = c.read(&mut [0u8; 8]);
        assert!(matches!(r, Ok(0)) || matches!(r, Err(ref e) if e.kind() == ErrorKind::ConnectionReset), "{r:?}");
    }
    assert_eq!(handle.reports().len(), 3);
}

fn hostile_bridge(center: SocketAddr, plan: FaultPlan) -> RunningBridge {
    let mut config = BridgeConfig::new("127.0.0.1:0".parse().unwrap(), center);
    config.faults = Some(plan);
    config.connect_attempts = 2;
    Bridge::bind(config).unwrap().spawn().unwrap()
}

/// What the ledger holds for the payer account of `band`: (tx_id, order) of each payment.
fn booked(env: &Env, account: AccountId) -> Vec<(TxId, OrderId)> {
    let history = env.rt.block_on(env.center.store().history(account, 1000, None)).unwrap();
    history.into_iter().filter_map(|h| Some((h.tx_id?, h.order_id?))).collect()
}

/// The band's view against the ledger's: every booked payment is one the band signed,
/// booked once, for its own order, and the band holds its verified receipt; a payment the
/// band has no answer for is not booked.
fn check_ledger(env: &Env, account: AccountId, payments: &[(Order, Payment)]) {
    let booked = booked(env, account);
    let mut per_order = BTreeMap::<OrderId, u32>::new();
    let mut per_tx = BTreeSet::new();
    for (tx, order) in &booked {
        *per_order.entry(order.clone()).or_default() += 1;
        assert!(per_tx.insert(*tx), "one tx_id booked twice");
    }
    assert!(per_order.values().all(|&n| n == 1), "an order paid twice: {per_order:?}");
    for (tx, order_id) in &booked {
        let (_, p) = payments.iter().find(|(o, _)| o.order_id == *order_id).expect("a payment for an unknown order");
        let request = p.request.as_ref().expect("booked without a request the band signed");
        assert_eq!(request.tx_id(), tx, "booked under a transaction the band did not sign");
        let stored = env.rt.block_on(env.center.store().lookup_tx(tx)).unwrap().unwrap();
        assert_eq!(stored.request, request.encode(), "the stored request is not the band's bytes");
        assert_eq!(p.outcome, Some(Outcome::Approved), "booked, but the band has no verified receipt");
    }
    for (order, p) in payments {
        let is_booked = booked.iter().any(|(_, o)| *o == order.order_id);
        assert_eq!(is_booked, p.outcome == Some(Outcome::Approved), "{}: band and ledger disagree", order.order_id);
    }
    let check = env.rt.block_on(env.center.store().ledger_check()).unwrap();
    assert!(check.ok, "{check}");
}

#[test]
fn hostile_bridge_under_fifty_seeds_moves_no_money_without_the_band() {
    const SEEDS: u64 = 50;
    const WORKERS: u64 = 5;
    const PAYMENTS: usize = 2;
    let env = Env::new();
    // The band's way out when its phone misbehaves: another, honest phone.
    let honest = honest_bridge(env.addr, AirProfile::ble42());
    let honest_addr = honest.addr();
    let started = Instant::now();
    let results: Vec<(FaultCounts, u64, u64)> = thread::scope(|s| {
        let env = &env;
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                s.spawn(move || {
                    let mut band = env.band(&format!("hostile worker {w}"));
                    let mut counts = FaultCounts::default();
                    let (mut through_hostile, mut recovered) = (0, 0);
                    let mut payments = Vec::new();
                    for seed in (w..SEEDS).step_by(WORKERS as usize) {
                        let bridge = hostile_bridge(env.addr, FaultPlan::random(seed));
                        for _ in 0..PAYMENTS {
                            let order = env.order("1.00 CNY");
                            let mut p = Payment::default();
                            for _ in 0..2 {
                                let link = link_config(Duration::from_millis(400));
                                if attempt(&mut band, &order, bridge.addr(), link, &mut p).is_ok() {
                                    through_hostile += 1;
                                    break;
                                }
                            }
                            // A request that may have reached the center is sent again, the
                            // same bytes, through the honest phone: it is decided once.
                            if p.outcome.is_none() && p.request.is_some() {
                                attempt(&mut band, &order, honest_addr, link_config(Duration::from_secs(20)), &mut p)
                                    .unwrap();
                                recovered += 1;
                            }
                            payments.push((order, p));
                        }
                        counts.add(&bridge.handle().fault_counts());
                        bridge.stop().unwrap();
                        check_ledger(env, band.account, &payments);
                    }
                    (counts, through_hostile, recovered)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut counts = FaultCounts::default();
    let (mut through_hostile, mut recovered) = (0, 0);
    for (c, h, r) in results {
        counts.add(&c);
        through_hostile += h;
        recovered += r;
    }
    eprintln!(
        "{SEEDS} seeds in {:.1} s: {through_hostile} payments completed through the hostile bridge, \
         {recovered} recovered through an honest one; faults: {counts}",
        started.elapsed().as_secs_f64()
    );
    // Every kind of fault was committed, and some payments got through anyway.
    for f in Fault::ALL {
        assert!(counts.get(f) > 0, "{f} never happened");
    }
    assert!(through_hostile > 0);
    honest.stop().unwrap();
    let check = env.rt.block_on(env.center.store().ledger_check()).unwrap();
    assert!(check.ok, "{check}");
}

#[test]
fn a_recorded_session_replayed_to_the_center_books_nothing() {
    let env = Env::new();
    let bridge = hostile_bridge(env.addr, FaultPlan::new(9).with(Fault::ReplaySession, 1.0));
    let mut band = env.band("replayed");
    let mut payments = Vec::new();
    for _ in 0..3 {
        let order = env.order("5.00 CNY");
        let mut p = Payment::default();
        attempt(&mut band, &order, bridge.addr(), link_config(Duration::from_secs(20)), &mut p).unwrap();
        assert_eq!(p.outcome, Some(Outcome::Approved));
        payments.push((order, p));
    }
    let handle = bridge.handle().clone();
    bridge.stop().unwrap();
    // From the second connection on, each replayed a recorded session, PayRequest and all.
    assert_eq!(handle.fault_counts().get(Fault::ReplaySession), 2);
    check_ledger(&env, band.account, &payments);
    assert_eq!(env.balance(band.account), 100_000 - 3 * 500);
}
