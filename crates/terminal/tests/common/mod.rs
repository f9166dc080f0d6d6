//! A small world for the band's tests: a PKI, a real processing center (SQLite store, file
//! key store, authorizer, TLCP channel on loopback TCP) with a payer, a merchant and orders,
//! and a band (a `SoftSe` enrolled with a certificate from its own CSR).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;
use wearpay_center::channel::{ChannelConfig, RegistryVerifier, serve_with};
use wearpay_center::{
    AccountId, NewAccount, NewMerchant, NewOrder, NewTerminal, Store, StoreConfig,
    authorize::{Authorizer, AuthorizerConfig},
    keystore::{FileKeyStore, KeyPurpose, KeyStore},
};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, PublicKey, SigningKey, portable::PROVIDER};
use wearpay_pay::{
    BiometricMatch, Currency, Description, MatcherId, MerchantId, MerchantName, Money, OrderId, Pan, Pin, PinBlock,
    TerminalSerial, Timestamp, TxId,
};
use wearpay_pki::{AltName, Certificate, CertificateBuilder, DAY, Role, UnixTime, generate_key};
use wearpay_terminal::{Provisioning, ScriptedUi, SecureElement, SetClock, SimulatedUser, SoftSe, Terminal};
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::{DEFAULT_SUITES, PkiClientVerifier, Profile, ServerConfig};

pub const SERVER_NAME: &str = "center.wearpay.test";
pub const RIGHT_PIN: &str = "135790";
pub const DEVICE_SECRET: &[u8] = b"band device secret 0001";
pub const MERCHANT_NAME: &str = "Tea House";
pub const MERCHANT_ID: &str = "M-0001";

/// Seconds added to the system time to make the center's clock.
static CENTER_OFFSET: AtomicI64 = AtomicI64::new(0);

fn center_clock() -> Timestamp {
    Timestamp(system_now().0.saturating_add_signed(CENTER_OFFSET.load(Ordering::SeqCst)))
}

/// Moves the center's clock `secs` away from the system time.
pub fn set_center_offset(secs: i64) {
    CENTER_OFFSET.store(secs, Ordering::SeqCst);
}

pub fn system_now() -> Timestamp {
    Timestamp(wearpay_tlcp::stream::system_time().0)
}

pub fn pan() -> Pan {
    Pan::new("6222021234567890123").unwrap()
}

pub fn cny(s: &str) -> Money {
    Money::parse(&format!("{s} CNY")).unwrap()
}

pub fn fingerprint_match() -> BiometricMatch {
    BiometricMatch { matched: true, matcher: MatcherId::new("fp-se-2").unwrap(), score: 9_500 }
}

/// A user wearing the band since ten minutes ago, finger on the sensor, pressing.
pub fn willing_user() -> SimulatedUser {
    SimulatedUser {
        button: true,
        unlocked_at: Some(Timestamp(system_now().0 - 600)),
        worn_since_unlock: true,
        biometric: Some(fingerprint_match()),
    }
}

pub struct Ca {
    pub cert: Certificate,
    key: Box<dyn PrivateKey>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
        let t = UnixTime(system_now().0);
        let cert = CertificateBuilder::new(Role::RootCa, name.parse().unwrap(), SigningKey::public_key(&*key))
            .validity(t.minus_secs(DAY), t.plus_days(365))
            .self_sign(&PROVIDER, &*key)
            .unwrap();
        Self { cert, key }
    }

    /// A certificate valid from a day ago until `days` from now.
    pub fn issue(&self, role: Role, subject: &str, key: PublicKey, days: u64) -> Certificate {
        let t = UnixTime(system_now().0);
        let mut b =
            CertificateBuilder::new(role, subject.parse().unwrap(), key).validity(t.minus_secs(DAY), t.plus_days(days));
        if matches!(role, Role::CenterSign | Role::CenterEnc) {
            b = b.alt_name(AltName::Dns(SERVER_NAME.into()));
        }
        b.sign(&PROVIDER, &self.cert, &*self.key).unwrap()
    }
}

/// How the world is made.
pub struct Setup {
    /// Days the center's channel certificates stay valid.
    pub channel_cert_days: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Self { channel_cert_days: 30 }
    }
}

pub type Band = Terminal<SoftSe, ScriptedUi, SetClock>;

pub struct World {
    pub dir: TempDir,
    pub rt: tokio::runtime::Runtime,
    pub store: Store,
    pub keys: Arc<FileKeyStore>,
    pub addr: SocketAddr,
    pub center_ca: Ca,
    pub terminal_ca: Ca,
    pub payer: AccountId,
    pub merchant_account: AccountId,
    pub provisioning: Provisioning,
    pub clock: SetClock,
    pub channel_not_after: Timestamp,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl World {
    pub fn new() -> Self {
        Self::with(Setup::default())
    }

    pub fn with(setup: Setup) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let store = rt.block_on(Store::open_sqlite(&dir.path().join("data"), StoreConfig::default())).unwrap();
        let (keys, _) = FileKeyStore::create_with_iterations(
            dir.path().join("keys"),
            b"correct horse battery staple",
            KeyAlgorithm::Sm2,
            &PROVIDER,
            1_000,
        )
        .unwrap();
        let keys = Arc::new(keys);

        // The PKI: a root for the center's certificates, another for the bands'.
        let center_ca = Ca::new("CN=wearpay center root,O=wearpay");
        let terminal_ca = Ca::new("CN=wearpay terminal root,O=wearpay");
        let subject = format!("CN={SERVER_NAME},O=wearpay center");
        let days = setup.channel_cert_days;
        let sign_cert =
            center_ca.issue(Role::CenterSign, &subject, keys.public_key(KeyPurpose::ChannelSign).unwrap(), days);
        let enc_cert =
            center_ca.issue(Role::CenterEnc, &subject, keys.public_key(KeyPurpose::ChannelEnc).unwrap(), days);
        let receipt_cert = center_ca.issue(
            Role::CenterReceipt,
            "CN=wearpay receipts,O=wearpay center",
            keys.public_key(KeyPurpose::ReceiptSign).unwrap(),
            365,
        );
        let pin_cert = center_ca.issue(
            Role::CenterPin,
            "CN=wearpay PIN,O=wearpay center",
            keys.public_key(KeyPurpose::PinEnc).unwrap(),
            365,
        );

        // The ledger: a payer with a PAN, funds and a PIN; a merchant.
        let (payer, merchant_account) = rt.block_on(async {
            let t0 = system_now();
            let payer = store
                .create_account(NewAccount::customer("Alice", Currency::CNY).with_pan(pan()), t0)
                .await
                .unwrap()
                .id;
            store.deposit(payer, cny("5000.00"), t0).await.unwrap();
            let enroll = TxId([7; 16]);
            let block = PinBlock::encipher(
                &PROVIDER,
                &Pin::new(RIGHT_PIN).unwrap(),
                &pan(),
                &enroll,
                &keys.public_key(KeyPurpose::PinEnc).unwrap(),
            )
            .unwrap();
            let pvv = keys.pin_verification_value_for_new_pin(&block, &pan(), &enroll, &payer.to_string()).unwrap();
            store.set_pin_verification(payer, Some(pvv.to_vec())).await.unwrap();
            let merchant_account =
                store.create_account(NewAccount::merchant(MERCHANT_NAME, Currency::CNY), t0).await.unwrap().id;
            store
                .create_merchant(
                    NewMerchant {
                        id: MerchantId::new(MERCHANT_ID).unwrap(),
                        name: MerchantName::new(MERCHANT_NAME).unwrap(),
                        account: merchant_account,
                    },
                    t0,
                )
                .await
                .unwrap();
            (payer, merchant_account)
        });

        // The center on loopback.
        let sessions = Arc::new(MemorySessionStore::new(100, 3600));
        let registry = RegistryVerifier::new(
            PkiClientVerifier::new(PROVIDER, vec![terminal_ca.cert.clone()], vec![], vec![]),
            sessions.clone(),
        );
        let der = |c: &Certificate| CertificateDer(c.as_der().to_vec());
        let tls = Arc::new(ServerConfig {
            provider: PROVIDER,
            suites: DEFAULT_SUITES.to_vec(),
            profile: Profile::Auto,
            sign_key: keys.signing_key(KeyPurpose::ChannelSign).unwrap(),
            enc_key: keys.decrypting_key(KeyPurpose::ChannelEnc).unwrap(),
            cert_chain: vec![der(&sign_cert), der(&enc_cert)],
            verifier: Arc::new(registry.clone()),
            session_store: sessions,
            session_lifetime: 3600,
        });
        let authorizer = Authorizer::new(store.clone(), keys.clone(), &PROVIDER, AuthorizerConfig::default());
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ChannelConfig {
            handshake_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            clock: center_clock,
            registry: Some(registry),
            ..ChannelConfig::default()
        };
        rt.spawn(serve_with(listener, tls, authorizer, config, async {
            let _ = stopped.await;
        }));

        // What enrollment gives a band; its certificate comes with `enroll_band`.
        let provisioning = Provisioning {
            band_certificate: terminal_ca.cert.clone(),
            band_chain: vec![],
            trust_anchors: vec![center_ca.cert.clone()],
            center_chain: vec![],
            server_name: SERVER_NAME.into(),
            receipt_certificate: receipt_cert,
            pin_certificate: pin_cert,
            pan: pan(),
            account_label: "Alice".into(),
        };
        let channel_not_after = Timestamp(sign_cert.not_after().0);
        Self {
            dir,
            rt,
            store,
            keys,
            addr,
            center_ca,
            terminal_ca,
            payer,
            merchant_account,
            provisioning,
            clock: SetClock::new(system_now()),
            channel_not_after,
            stop: Some(stop),
        }
    }

    pub fn se_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new band: a `SoftSe` that generates its key, a CSR, a certificate from the
    /// terminal CA for the CSR's subject and key, and the registry enrollment.
    pub fn enroll_band(&self, name: &str) -> Band {
        let mut se = SoftSe::create_with_iterations(self.se_path(name), DEVICE_SECRET, 1_000).unwrap();
        se.set_user(willing_user());
        se.generate_key(KeyAlgorithm::Sm2).unwrap();
        let csr = se.csr(format!("CN={name},O=wearpay terminals").parse().unwrap(), Some("activation-1234")).unwrap();
        csr.verify(&PROVIDER).unwrap();
        assert_eq!(csr.challenge_password(), Some("activation-1234"));
        let cert =
            self.terminal_ca.issue(Role::Terminal, &csr.subject().to_string(), csr.public_key().unwrap().clone(), 30);
        let serial = TerminalSerial::new(cert.serial()).unwrap();
        self.rt
            .block_on(self.store.enroll_terminal(
                NewTerminal { serial, account: self.payer, certificate: cert.as_der().to_vec() },
                system_now(),
            ))
            .unwrap();
        let provisioning = Provisioning { band_certificate: cert, ..self.provisioning.clone() };
        Terminal::new(
            se,
            ScriptedUi::default(),
            self.clock.clone(),
            provisioning,
            Arc::new(MemorySessionStore::new(8, 3600)),
        )
        .unwrap()
    }

    /// An open order of the merchant for `amount` CNY, expiring at `expires_at`.
    pub fn order_until(&self, id: &str, amount: &str, expires_at: Timestamp) -> OrderId {
        let order_id = OrderId::new(id).unwrap();
        self.rt
            .block_on(self.store.create_order(
                NewOrder {
                    order_id: order_id.clone(),
                    merchant: MerchantId::new(MERCHANT_ID).unwrap(),
                    money: cny(amount),
                    description: Description::new("Two cups of tea").unwrap(),
                    expires_at,
                },
                system_now(),
            ))
            .unwrap();
        order_id
    }

    /// An open order, expiring in a day.
    pub fn order(&self, id: &str, amount: &str) -> OrderId {
        self.order_until(id, amount, Timestamp(system_now().0 + 86_400))
    }

    pub fn connect(&self) -> TcpStream {
        let tcp = TcpStream::connect(self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp
    }

    /// Balance in minor units.
    pub fn balance(&self, account: AccountId) -> i64 {
        self.rt.block_on(self.store.balance(account)).unwrap().minor
    }

    pub fn ledger_ok(&self) -> bool {
        self.rt.block_on(self.store.ledger_check()).unwrap().ok
    }

    pub fn paid_tx(&self, order: &OrderId) -> Option<TxId> {
        self.rt.block_on(self.store.get_order(order)).unwrap().unwrap().paid_tx
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ---- transports for the tests ----

/// TLCP record content types.
pub const APPLICATION_DATA: u8 = 23;

/// Splits a byte stream into (content type, length) of each record.
pub fn record_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        types.push(rest[0]);
        rest = &rest[(5 + len).min(rest.len())..];
    }
    types
}

/// A transport that keeps a copy of everything the band writes.
pub struct Tap {
    pub inner: TcpStream,
    pub written: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    pub fn new(inner: TcpStream) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        (Self { inner, written: written.clone() }, written)
    }
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for Tap {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Which record a [`relay`] loses.
#[derive(Clone, Copy, Debug)]
pub enum Loss {
    /// The band's `n`-th application-data record (1-based) never reaches the center.
    Request(usize),
    /// The center's `n`-th application-data record never reaches the band.
    Response(usize),
}

fn read_record(from: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 5];
    from.read_exact(&mut header).ok()?;
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let mut record = header.to_vec();
    record.resize(5 + len, 0);
    from.read_exact(&mut record[5..]).ok()?;
    Some(record)
}

/// Pumps records `from` → `to`; at the `lose`-th application-data record, drops it and
/// cuts both connections (the phone's link died at the worst moment).
fn pump(mut from: TcpStream, mut to: TcpStream, lose: Option<usize>, others: [TcpStream; 2]) {
    let mut seen = 0;
    while let Some(record) = read_record(&mut from) {
        if record[0] == APPLICATION_DATA {
            seen += 1;
            if Some(seen) == lose {
                for s in others.iter().chain([&from, &to]) {
                    let _ = s.shutdown(Shutdown::Both);
                }
                return;
            }
        }
        if to.write_all(&record).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A phone that relays one connection to `center` record by record and loses one record.
/// Returns the address the band connects to.
pub fn relay(center: SocketAddr, loss: Loss) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (band, _) = listener.accept().unwrap();
        let upstream = TcpStream::connect(center).unwrap();
        let (up_lose, down_lose) = match loss {
            Loss::Request(n) => (Some(n), None),
            Loss::Response(n) => (None, Some(n)),
        };
        let (b1, b2, b3) = (band.try_clone().unwrap(), band.try_clone().unwrap(), band.try_clone().unwrap());
        let (u1, u2, u3) =
            (upstream.try_clone().unwrap(), upstream.try_clone().unwrap(), upstream.try_clone().unwrap());
        let up = std::thread::spawn(move || pump(b1, u1, up_lose, [b3, u3]));
        pump(u2, b2, down_lose, [band, upstream]);
        let _ = up.join();
    });
    addr
}
