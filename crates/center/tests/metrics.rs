//! Operations over real TCP and HTTP on loopback, against whole centers made by `init`:
//! `GET /metrics` counts full and resumed handshakes, refused and failed ones, approved and
//! declined payments and the audit queue, and only for the admin token; a flood of
//! connections that never finish their handshake stays under the cap while a band still
//! pays afterwards; a burst of full handshakes from one address is refused past its bucket
//! (resumptions are free) and let in again after the refill; and activation codes made,
//! spent and refused land in an audit trail that still verifies.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wearpay_center::http::{ActivationCode, ApiRole, activation_proof, tokens};
use wearpay_center::node::{ADMIN_TOKEN_FILE, Center, CenterConfig, InitOptions, init};
use wearpay_center::{AccountId, AuditActor, AuditKind, NewAccount, NewMerchant, NewOrder, TerminalStatus};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, portable::PROVIDER};
use wearpay_pay::{
    Counter, Currency, Description, Evidence, MerchantId, MerchantName, Money, Order, OrderId, Outcome,
    PayRequestBuilder, PayResponse, Press, ReasonCode, Response, TerminalSerial, Timestamp, TxId, WornAttestation,
};
use wearpay_pki::{CertificateRequest, CsrBuilder, DistinguishedName, UnixTime, generate_key};
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::tokio_stream::TokioStream;
use wearpay_tlcp::{ClientConfig, ClientConnection, DEFAULT_SUITES, PkiServerVerifier, Profile};

type Tls = TokioStream<ClientConnection, TcpStream>;

fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

/// A center serving its channel and its API on ephemeral loopback ports.
struct Env {
    dir: tempfile::TempDir,
    center: Arc<Center>,
    channel: SocketAddr,
    base: String,
    admin: String,
    http: Client,
    stops: Vec<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
}

impl Env {
    async fn new(edit: impl FnOnce(&mut CenterConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
        o.iterations = 1_000;
        o.http = Some("127.0.0.1:0".parse().unwrap());
        init(dir.path(), &o, &PROVIDER).await.unwrap();
        let mut config = CenterConfig::load(&dir.path().join("center.toml")).unwrap();
        edit(&mut config);
        let center = Arc::new(Center::open(config).await.unwrap());
        let channel_listener = center.bind().await.unwrap();
        let channel = channel_listener.local_addr().unwrap();
        let http_listener = center.bind_http().await.unwrap().unwrap();
        let base = format!("http://{}", http_listener.local_addr().unwrap());
        let (stop_channel, channel_stopped) = oneshot::channel::<()>();
        let (stop_http, http_stopped) = oneshot::channel::<()>();
        let c = center.clone();
        let channel_server = tokio::spawn(async move {
            c.serve(channel_listener, async {
                let _ = channel_stopped.await;
            })
            .await;
        });
        let c = center.clone();
        let http_server = tokio::spawn(async move {
            c.serve_http(http_listener, async {
                let _ = http_stopped.await;
            })
            .await
            .unwrap();
        });
        let admin = std::fs::read_to_string(dir.path().join(ADMIN_TOKEN_FILE)).unwrap().trim().to_owned();
        Self {
            dir,
            center,
            channel,
            base,
            admin,
            http: Client::new(),
            stops: vec![stop_channel, stop_http],
            servers: vec![channel_server, http_server],
        }
    }

    /// `GET /metrics` with `token`: status, content type and body.
    async fn scrape_with(&self, token: Option<&str>) -> (StatusCode, String, String) {
        let mut req = self.http.get(format!("{}/metrics", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let kind = resp.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, kind, resp.text().await.unwrap())
    }

    /// The metrics, scraped with the admin token and parsed.
    async fn metrics(&self) -> Scrape {
        let (status, _, text) = self.scrape_with(Some(&self.admin)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        Scrape::parse(&text)
    }

    /// Scrapes until `done` holds (at most ten seconds).
    async fn metrics_until(&self, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = self.metrics().await;
            if done(&m) {
                return m;
            }
            assert!(Instant::now() < deadline, "never: {what}\n{}", m.text);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn stop(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for server in self.servers.drain(..) {
            server.await.unwrap();
        }
        assert!(self.center.store().ledger_check().await.unwrap().ok);
        let report = self.center.audit_verify().await.unwrap();
        assert!(report.ok, "{:?}", report.first());
        self.center.store().close().await;
    }
}

/// One scrape: every sample by its series, as the text writes it.
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        assert!(text.ends_with("# EOF\n"), "not OpenMetrics: {text}");
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                (series.to_owned(), value.parse::<f64>().unwrap())
            })
            .collect();
        Self { text: text.to_owned(), samples }
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let series = if labels.is_empty() {
            name.to_owned()
        } else {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            format!("{name}{{{}}}", l.join(","))
        };
        self.samples.get(&series).copied()
    }

    /// A sample that must be there.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", self.text))
    }

    fn handshakes(&self, kind: &str, outcome: &str) -> f64 {
        self.value("wearpay_handshakes_total", &[("kind", kind), ("outcome", outcome)])
    }

    fn rejected(&self, reason: &str) -> f64 {
        self.value("wearpay_handshakes_rejected_total", &[("reason", reason)])
    }

    fn in_flight(&self) -> f64 {
        self.value("wearpay_handshakes_in_flight", &[])
    }
}

/// A merchant with orders to pay and a customer with money.
struct Shop {
    merchant: MerchantId,
    payer: AccountId,
}

async fn shop(center: &Center) -> Shop {
    let store = center.store();
    let t = now();
    let payer = store.create_account(NewAccount::customer("Alice", Currency::CNY), t).await.unwrap().id;
    store.deposit(payer, Money::parse("500.00 CNY").unwrap(), t).await.unwrap();
    let account = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), t).await.unwrap().id;
    let merchant = MerchantId::new("M-1").unwrap();
    let name = MerchantName::new("Tea House").unwrap();
    store.create_merchant(NewMerchant { id: merchant.clone(), name, account }, t).await.unwrap();
    Shop { merchant, payer }
}

async fn order(center: &Center, shop: &Shop, id: &str) -> Order {
    let new = NewOrder {
        order_id: OrderId::new(id).unwrap(),
        merchant: shop.merchant.clone(),
        money: Money::parse("12.50 CNY").unwrap(),
        description: Description::new("tea").unwrap(),
        expires_at: Timestamp(now().0 + 600),
    };
    center.store().create_order(new, now()).await.unwrap().order
}

/// An enrolled band: its key, its certificate chain and its terminal's serial.
struct Band {
    key: Arc<dyn PrivateKey>,
    chain: Vec<CertificateDer>,
    serial: TerminalSerial,
}

async fn enroll(center: &Center, payer: AccountId) -> Band {
    let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let csr = CsrBuilder::new(DistinguishedName::parse("CN=band").unwrap()).sign(&PROVIDER, &*key).unwrap();
    let (terminal, cert) = center.enroll_terminal(&csr, payer, "Alice's band", now()).await.unwrap();
    let chain = vec![
        CertificateDer(cert.as_der().to_vec()),
        CertificateDer(center.terminal_ca().certificate().as_der().to_vec()),
    ];
    Band { key, chain, serial: terminal.serial }
}

impl Band {
    /// A client with its own session cache: connections through it resume.
    fn client(&self, center: &Center) -> Arc<ClientConfig> {
        Arc::new(ClientConfig {
            provider: PROVIDER,
            suites: DEFAULT_SUITES.to_vec(),
            profile: Profile::Seed,
            sign_key: self.key.clone(),
            cert_chain: self.chain.clone(),
            verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![center.root().clone()], vec![])),
            server_name: center.config().channel.server_name.clone(),
            session_store: Arc::new(MemorySessionStore::new(4, 3600)),
            max_fragment_length: None,
            offer_session_ticket: false,
        })
    }
}

/// Connects and runs the handshake: the stream and whether it resumed a session.
async fn connect(addr: SocketAddr, client: &Arc<ClientConfig>) -> std::io::Result<(Tls, bool)> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = TokioStream::new(ClientConnection::new(client.clone(), system_time()).unwrap(), tcp);
    tokio::time::timeout(Duration::from_secs(20), tls.handshake()).await.unwrap()?;
    let resumed = tls.conn.summary().unwrap().resumed;
    Ok((tls, resumed))
}

/// Pays `order` on `tls` in quick mode with `counter`.
async fn pay(tls: &mut Tls, band: &Band, order: &Order, counter: u64) -> PayResponse {
    let tx_id = TxId::random(&PROVIDER).unwrap();
    let evidence = Evidence::quick(
        Press { tx_id, at: now() },
        WornAttestation { unlocked_at: Timestamp(now().0 - 60), worn_since_unlock: true },
    );
    let request =
        PayRequestBuilder::for_order(order, tx_id, evidence, Counter(counter), now()).sign(&*band.key).unwrap();
    tls.write_all(request.encode()).await.unwrap();
    tls.flush().await.unwrap();
    let mut buf = vec![0u8; 20_000];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(n > 0, "the center closed instead of answering");
    let Response::Pay(answer) = Response::decode(&buf[..n]).unwrap() else { panic!("not a pay response") };
    answer
}

async fn close(mut tls: Tls) {
    let _ = tls.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_handshakes_payments_and_queues() {
    let env = Env::new(|_| {}).await;
    let shop = shop(&env.center).await;
    let tea = order(&env.center, &shop, "O-1").await;
    let band = enroll(&env.center, shop.payer).await;
    let client = band.client(&env.center);
    // A merchant endpoint nobody answers (the discard port): its events stay queued.
    env.center.configure_webhook(&shop.merchant, "https://127.0.0.1:9/hook", now()).await.unwrap();

    // Nothing yet, and every series an alert needs is there at zero.
    let m = env.metrics().await;
    for (kind, outcome) in [("full", "ok"), ("resumed", "ok"), ("full", "refused"), ("full", "failed")] {
        assert_eq!(m.handshakes(kind, outcome), 0.0);
    }
    assert_eq!(m.rejected("cap") + m.rejected("rate"), 0.0);
    assert_eq!(m.value("wearpay_payment_duration_seconds_count", &[]), 0.0);

    // A full handshake and an approved payment; then a resumed one and a declined payment.
    let (mut tls, resumed) = connect(env.channel, &client).await.unwrap();
    assert!(!resumed);
    let answer = pay(&mut tls, &band, &tea, 1).await;
    assert_eq!(answer.outcome, Outcome::Approved);
    let m = env.metrics().await;
    assert_eq!(m.value("wearpay_channel_connections", &[]), 1.0, "the band's connection is open");
    close(tls).await;
    let (mut tls, resumed) = connect(env.channel, &client).await.unwrap();
    assert!(resumed);
    let answer = pay(&mut tls, &band, &tea, 2).await;
    assert_eq!(answer.outcome, Outcome::Declined(ReasonCode::OrderPaid));
    close(tls).await;

    let m = env.metrics_until("both connections closed", |m| m.value("wearpay_channel_connections", &[]) == 0.0).await;
    assert_eq!(m.handshakes("full", "ok"), 1.0);
    assert_eq!(m.handshakes("resumed", "ok"), 1.0);
    assert_eq!(m.handshakes("full", "failed") + m.handshakes("full", "refused"), 0.0);
    assert_eq!(m.value("wearpay_handshake_duration_seconds_count", &[("kind", "full")]), 1.0);
    assert_eq!(m.value("wearpay_handshake_duration_seconds_count", &[("kind", "resumed")]), 1.0);
    assert_eq!(m.value("wearpay_payments_total", &[("mode", "quick"), ("outcome", "approved")]), 1.0);
    assert_eq!(m.value("wearpay_payments_total", &[("mode", "quick"), ("outcome", "order_paid")]), 1.0);
    assert_eq!(m.value("wearpay_payment_duration_seconds_count", &[]), 2.0);
    // Both payments took more than nothing and less than the slowest bucket.
    let sum = m.value("wearpay_payment_duration_seconds_sum", &[]);
    assert!(sum > 0.0 && sum < 20.0, "{sum}");
    let within = m.value("wearpay_payment_duration_seconds_bucket", &[("le", "+Inf")]);
    assert_eq!(within, 2.0);
    assert_eq!(m.in_flight(), 0.0);
    assert_eq!(m.value("wearpay_queue_depth", &[("queue", "handshake_permit")]), 0.0);
    // The audit queue is read from the store at the scrape: every entry so far, as none is
    // sealed yet (the checkpointer signs every 1000).
    let audit = env.center.store().audit_status().await.unwrap();
    assert!(audit.unsealed() >= 6, "{audit:?}");
    assert_eq!(m.value("wearpay_queue_depth", &[("queue", "audit_unsealed")]), audit.unsealed() as f64);
    // The approved payment's event waits for a receiver that does not answer.
    assert_eq!(env.center.store().pending_webhooks().await.unwrap(), 1);
    assert_eq!(m.value("wearpay_queue_depth", &[("queue", "webhooks_pending")]), 1.0);

    // A connection that sends half a hello and goes: failed. A suspended band: refused.
    let mut raw = TcpStream::connect(env.channel).await.unwrap();
    raw.write_all(&[0x16, 0x01, 0x01, 0x00, 0x40, 0x01]).await.unwrap();
    drop(raw);
    env.center.set_terminal_status(&band.serial, TerminalStatus::Suspended, now()).await.unwrap();
    assert!(connect(env.channel, &band.client(&env.center)).await.is_err());
    let m = env
        .metrics_until("a failed and a refused handshake", |m| {
            m.handshakes("full", "failed") == 1.0 && m.handshakes("full", "refused") == 1.0
        })
        .await;
    assert_eq!(m.handshakes("full", "ok"), 1.0);
    assert_eq!(m.value("wearpay_handshake_duration_seconds_count", &[("kind", "full")]), 1.0);

    // Only the admin token reads them.
    let (s, _, _) = env.scrape_with(None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let merchant = tokens::new_token(&PROVIDER, ApiRole::Merchant(shop.merchant.clone())).unwrap();
    tokens::append_token(&env.dir.path().join("secrets/api-tokens.toml"), &merchant, now()).unwrap();
    let (s, _, _) = env.scrape_with(Some(merchant.token.as_str())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, kind, _) = env.scrape_with(Some(&env.admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unfinished_handshakes_stays_under_the_cap() {
    const CAP: u32 = 4;
    const FLOOD: usize = 20;
    let env = Env::new(|c| {
        c.channel.max_concurrent_handshakes = CAP;
        c.channel.handshake_timeout_secs = 6;
        // Only the cap is under test here.
        c.channel.handshakes_per_address_per_minute = 1_000_000;
        c.channel.handshake_burst_per_address = 10_000;
    })
    .await;
    let shop = shop(&env.center).await;
    let tea = order(&env.center, &shop, "O-1").await;
    let band = enroll(&env.center, shop.payer).await;

    // Connections that never send a byte: each holds a slot until the handshake timeout.
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        flood.push(TcpStream::connect(env.channel).await.unwrap());
    }
    let m = env
        .metrics_until("the connections beyond the cap are rejected", |m| {
            let in_flight = m.in_flight();
            assert!(in_flight <= f64::from(CAP), "{in_flight} handshakes at once, over the cap of {CAP}");
            m.rejected("cap") >= (FLOOD - CAP as usize) as f64
        })
        .await;
    assert_eq!(m.in_flight(), f64::from(CAP), "the first connections hold every slot");
    assert_eq!(m.rejected("cap"), (FLOOD - CAP as usize) as f64);
    assert_eq!(m.rejected("rate"), 0.0);
    // The rejected ones were closed by the center at once; the others are still waiting.
    let mut closed = 0;
    for tcp in &mut flood {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut byte)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, FLOOD - CAP as usize);

    // The flood goes away; a band pays.
    drop(flood);
    let m = env.metrics_until("the slots are free", |m| m.in_flight() == 0.0).await;
    assert!(m.handshakes("full", "failed") <= f64::from(CAP));
    let (mut tls, _) = connect(env.channel, &band.client(&env.center)).await.unwrap();
    assert_eq!(pay(&mut tls, &band, &tea, 1).await.outcome, Outcome::Approved);
    close(tls).await;
    let m =
        env.metrics_until("the flood's handshakes ended", |m| m.handshakes("full", "failed") == f64::from(CAP)).await;
    assert_eq!(m.handshakes("full", "ok"), 1.0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_handshakes_from_one_address_are_limited_and_resumptions_are_free() {
    // One token every six seconds, three at once.
    let env = Env::new(|c| {
        c.channel.handshakes_per_address_per_minute = 10;
        c.channel.handshake_burst_per_address = 3;
        c.http.metrics_public = true;
    })
    .await;
    let shop = shop(&env.center).await;
    let band = enroll(&env.center, shop.payer).await;

    // The metrics are open in this center.
    let (s, _, text) = env.scrape_with(None).await;
    assert_eq!(s, StatusCode::OK, "{text}");

    let resuming = band.client(&env.center);
    let (tls, resumed) = connect(env.channel, &resuming).await.unwrap();
    assert!(!resumed);
    close(tls).await;
    // Resumptions give their token back: many more than the bucket holds. A resumption
    // holds its token until the center has finished its handshake, which on a loaded
    // machine can be after the band has closed: wait for that before the next one.
    for i in 1..=6 {
        let (tls, resumed) = connect(env.channel, &resuming).await.unwrap();
        assert!(resumed);
        close(tls).await;
        env.metrics_until("the resumption counted", |m| m.handshakes("resumed", "ok") == f64::from(i)).await;
    }
    for _ in 0..2 {
        let (tls, resumed) = connect(env.channel, &band.client(&env.center)).await.unwrap();
        assert!(!resumed);
        close(tls).await;
    }
    // A fourth full handshake is one too many: closed before its hello is read.
    let err = connect(env.channel, &band.client(&env.center)).await.unwrap_err();
    let refused_at = Instant::now();
    let m = env.metrics_until("a rate rejection", |m| m.rejected("rate") == 1.0).await;
    assert!(err.kind() != std::io::ErrorKind::TimedOut, "{err}");
    assert_eq!(m.handshakes("full", "ok"), 3.0);
    assert_eq!(m.handshakes("resumed", "ok"), 6.0);
    assert_eq!(m.handshakes("full", "failed"), 0.0, "a rejected connection is not a handshake");
    assert_eq!(m.rejected("cap"), 0.0);

    // After the refill, one more.
    tokio::time::sleep(Duration::from_millis(6_100).saturating_sub(refused_at.elapsed())).await;
    let (tls, resumed) = connect(env.channel, &band.client(&env.center)).await.unwrap();
    assert!(!resumed);
    close(tls).await;
    let m = env.metrics_until("the fourth full handshake", |m| m.handshakes("full", "ok") == 4.0).await;
    assert_eq!(m.rejected("rate"), 1.0);
    env.stop().await;
}

/// A CSR for `key` whose challengePassword is `proof(spki)`.
fn band_csr(key: &dyn PrivateKey, proof: impl FnOnce(&[u8]) -> String) -> CertificateRequest {
    let subject = DistinguishedName::parse("CN=band").unwrap();
    let plain = CsrBuilder::new(subject.clone()).sign(&PROVIDER, key).unwrap();
    let password = proof(plain.spki_der());
    CsrBuilder::new(subject).challenge_password(&password).unwrap().sign(&PROVIDER, key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_codes_are_audited() {
    let env = Env::new(|_| {}).await;
    let admin = env.admin.clone();
    let (s, v) = env
        .post(
            "/v1/admin/accounts",
            Some(&admin),
            json!({"name": "Alice", "currency": "CNY", "kind": "customer", "pan": "6212345678901234"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let account = v["account"].as_i64().unwrap();
    let path = format!("/v1/admin/accounts/{account}/activation-codes");
    let (s, v) = env.post(&path, Some(&admin), json!({"label": "Alice's band"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let code = ActivationCode::parse(v["activation_code"].as_str().unwrap()).unwrap();
    let expires_at = v["expires_at"].as_i64().unwrap();
    let secret = code.to_string().split_once('-').unwrap().1.to_owned();

    let band: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let enroll = |csr: &CertificateRequest| json!({"activation_id": code.id(), "csr_pem": csr.to_pem()});
    // A wrong proof, the right one, and the spent code again.
    let wrong = band_csr(&*band, |spki| activation_proof(&PROVIDER, b"a guess", spki));
    let (s, _) = env.post("/v1/enroll", None, enroll(&wrong)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let right = band_csr(&*band, |spki| code.proof(&PROVIDER, spki));
    let (s, e) = env.post("/v1/enroll", None, enroll(&right)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let serial = e["terminal_serial"].as_str().unwrap().to_owned();
    let (s, _) = env.post("/v1/enroll", None, enroll(&right)).await;
    assert_eq!(s, StatusCode::GONE);

    let entries = env.center.store().audit_entries(0, 1000).await.unwrap();
    let subject = format!("activation_code:{}", code.id());
    let about_code: Vec<_> = entries.iter().filter(|e| e.subject == subject).collect();
    let kinds: Vec<AuditKind> = about_code.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::ActivationCodeCreated,
            AuditKind::ActivationCodeRefused,
            AuditKind::ActivationCodeUsed,
            AuditKind::ActivationCodeRefused
        ]
    );
    let created = about_code[0];
    assert_eq!(created.actor, AuditActor::Admin);
    let details: Value = serde_json::from_str(&created.details).unwrap();
    assert_eq!(details, json!({"account": account, "expires_at": expires_at}));
    let reasons: Vec<Value> =
        [about_code[1], about_code[3]].iter().map(|e| serde_json::from_str::<Value>(&e.details).unwrap()).collect();
    assert_eq!(reasons[0], json!({"account": account, "reason": "wrong_proof"}));
    assert_eq!(reasons[1], json!({"account": account, "reason": "used"}));
    let used = about_code[2];
    assert_eq!(used.actor.to_string(), format!("terminal:{serial}"));
    assert_eq!(serde_json::from_str::<Value>(&used.details).unwrap(), json!({"account": account, "terminal": serial}));
    // The enrollment itself is recorded just before the code is spent.
    let enrolled = entries.iter().position(|e| e.kind == AuditKind::TerminalEnrolled).unwrap();
    assert_eq!(entries[enrolled + 1].subject, subject);
    // The secret is nowhere in the trail, in any case.
    for e in &entries {
        let all = format!("{} {} {}", e.subject, e.details, e.actor).to_lowercase();
        assert!(!all.contains(&secret), "the code's secret is in entry {}", e.seq);
    }
    env.stop().await;
}
