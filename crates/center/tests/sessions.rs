//! Two center processes on one database share the channel's sessions: a band that made its
//! session on one resumes on the other; the row is sealed (no master secret in it) and a
//! tampered one is refused with a full handshake; a revocation on one process stops
//! resumption on the other and declines its live session's next payment. On SQLite, and on
//! PostgreSQL when `WEARPAY_TEST_POSTGRES` is set.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;
use common::{Serving, TestPostgres, band_config_with, now};

use std::sync::Arc;

use sqlx::{ConnectOptions, Connection, sqlite::SqliteConnectOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wearpay_center::node::{CenterConfig, InitOptions, SessionStorage, init};
use wearpay_center::{NewAccount, NewMerchant, NewOrder, SQLITE_FILE, TerminalStatus};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, portable::PROVIDER};
use wearpay_pay::{
    Counter, Currency, Description, Evidence, MerchantId, MerchantName, Money, Order, OrderId, OrderQuery, Outcome,
    PayRequestBuilder, Press, Request, Response, Timestamp, TxId, WornAttestation,
};
use wearpay_pki::{CsrBuilder, DistinguishedName, UnixTime, generate_key};
use wearpay_tlcp::session::{MemorySessionStore, SessionStore};
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::tokio_stream::TokioStream;
use wearpay_tlcp::{ClientConfig, ClientConnection, Event};

/// One row of `tlcp_sessions`: (id, terminal_serial, sealed, created_at, expires_at).
type Row = (Vec<u8>, String, Vec<u8>, i64, i64);

/// The database behind the centers, read and changed behind their backs.
struct Db {
    dir: tempfile::TempDir,
    postgres: Option<TestPostgres>,
}

impl Db {
    async fn run(&self, sql: &str, bind: Option<(Vec<u8>, Vec<u8>)>) -> Vec<Row> {
        macro_rules! on {
            ($conn:expr) => {{
                let mut conn = $conn;
                let rows = match bind {
                    Some((a, b)) => {
                        sqlx::query(sql).bind(a).bind(b).execute(&mut conn).await.unwrap();
                        Vec::new()
                    }
                    None => sqlx::query_as::<_, Row>(sql).fetch_all(&mut conn).await.unwrap(),
                };
                conn.close().await.unwrap();
                rows
            }};
        }
        match &self.postgres {
            Some(pg) => on!(pg.connect().await),
            None => {
                let file = self.dir.path().join("data").join(SQLITE_FILE);
                on!(SqliteConnectOptions::new().filename(file).connect().await.unwrap())
            }
        }
    }

    async fn rows(&self) -> Vec<Row> {
        self.run(
            "SELECT id, terminal_serial, sealed, created_at, expires_at FROM tlcp_sessions ORDER BY created_at",
            None,
        )
        .await
    }

    async fn drop_database(&self) {
        if let Some(pg) = &self.postgres {
            pg.drop_database().await;
        }
    }
}

/// A band: its key, its client configuration and the session store it resumes from.
struct Band {
    key: Arc<dyn PrivateKey>,
    config: Arc<ClientConfig>,
    sessions: Arc<MemorySessionStore>,
    counter: u64,
}

type Tls = TokioStream<ClientConnection, TcpStream>;

impl Band {
    /// Connects: the stream and whether the handshake resumed (`None`: it failed).
    async fn connect(&self, addr: std::net::SocketAddr) -> (Tls, Option<bool>) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = TokioStream::new(ClientConnection::new(self.config.clone(), system_time()).unwrap(), tcp);
        if tls.handshake().await.is_err() {
            return (tls, None);
        }
        let resumed = tls.take_events().into_iter().find_map(|e| match e {
            Event::HandshakeComplete(s) => Some(s.resumed),
            Event::PeerClosed => None,
        });
        (tls, resumed)
    }

    /// Pays `order` on `tls`: the outcome, or `None` when the center closed instead.
    async fn pay(&mut self, tls: &mut Tls, order: &Order) -> Option<Outcome> {
        self.counter += 1;
        let tx_id = TxId::random(&PROVIDER).unwrap();
        let evidence = Evidence::quick(
            Press { tx_id, at: now() },
            WornAttestation { unlocked_at: Timestamp(now().0 - 60), worn_since_unlock: true },
        );
        let request = PayRequestBuilder::for_order(order, tx_id, evidence, Counter(self.counter), now())
            .sign(&*self.key)
            .unwrap();
        if tls.write_all(request.encode()).await.is_err() || tls.flush().await.is_err() {
            return None;
        }
        let mut buf = vec![0u8; 20_000];
        match tls.read(&mut buf).await {
            Ok(n) if n > 0 => match Response::decode(&buf[..n]).unwrap() {
                Response::Pay(answer) => Some(answer.outcome),
                other => panic!("not a payment answer: {other:?}"),
            },
            _ => None,
        }
    }

    /// The session the band holds: (its ID, its master secret).
    fn session(&self) -> (Vec<u8>, Vec<u8>) {
        let session = self.sessions.get(self.config.server_name.as_bytes(), UnixTime::now()).unwrap();
        (session.id.clone(), session.master_secret.to_vec())
    }
}

/// Asks for `order` on `tls`.
async fn ask(tls: &mut Tls, order: &Order) -> Response {
    let query = Request::OrderQuery(OrderQuery { order_id: order.order_id.clone() }).encode().unwrap();
    tls.write_all(&query).await.unwrap();
    tls.flush().await.unwrap();
    let mut buf = vec![0u8; 20_000];
    let n = tls.read(&mut buf).await.unwrap();
    Response::decode(&buf[..n]).unwrap()
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn two_centers_share_sessions(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
    o.iterations = 1_000;
    let pg = if postgres {
        let Some(pg) = TestPostgres::create("sessions").await else { return };
        o.database = Some(pg.url.clone());
        Some(pg)
    } else {
        None
    };
    init(dir.path(), &o, &PROVIDER).await.unwrap();
    let db = Db { dir, postgres: pg };
    let config = CenterConfig::load(&db.dir.path().join("center.toml")).unwrap();
    assert_eq!(config.channel.sessions, SessionStorage::Database, "the default");
    let a = Serving::open(config.clone()).await;
    let b = Serving::open(config.clone()).await;
    assert_ne!(a.addr, b.addr);

    // The bank's side: a funded customer, a merchant with orders, a band enrolled via A.
    let store = a.center.store().clone();
    let t = now();
    let payer = store.create_account(NewAccount::customer("Alice", Currency::CNY), t).await.unwrap().id;
    store.deposit(payer, Money::parse("100.00 CNY").unwrap(), t).await.unwrap();
    let shop = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), t).await.unwrap().id;
    let merchant = MerchantId::new("M-1").unwrap();
    let name = MerchantName::new("Tea House").unwrap();
    store.create_merchant(NewMerchant { id: merchant.clone(), name, account: shop }, t).await.unwrap();
    let mut orders = Vec::new();
    for n in 1..=6 {
        let new = NewOrder {
            order_id: OrderId::new(&format!("O-{n}")).unwrap(),
            merchant: merchant.clone(),
            money: Money::parse("1.00 CNY").unwrap(),
            description: Description::new("tea").unwrap(),
            expires_at: Timestamp(t.0 + 600),
        };
        orders.push(store.create_order(new, t).await.unwrap().order);
    }
    let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let csr = CsrBuilder::new(DistinguishedName::parse("CN=band").unwrap()).sign(&PROVIDER, &*key).unwrap();
    let (terminal, cert) = a.center.enroll_terminal(&csr, payer, "Alice's band", t).await.unwrap();
    let band_config = |sessions: Arc<MemorySessionStore>| band_config_with(&a.center, key.clone(), &cert, sessions);
    let sessions = Arc::new(MemorySessionStore::new(4, 3600));
    let mut band = Band { key: key.clone(), config: band_config(sessions.clone()), sessions, counter: 0 };

    // A full handshake and a payment on A; the band resumes on B and pays there.
    let (mut tls, resumed) = band.connect(a.addr).await;
    assert_eq!(resumed, Some(false));
    assert_eq!(band.pay(&mut tls, &orders[0]).await, Some(Outcome::Approved));
    drop(tls);
    let (mut tls, resumed) = band.connect(b.addr).await;
    assert_eq!(resumed, Some(true), "B did not resume the session made on A");
    assert_eq!(band.pay(&mut tls, &orders[1]).await, Some(Outcome::Approved));
    drop(tls);

    // The row: the band's terminal, the lifetime, and no master secret in clear.
    let rows = db.rows().await;
    assert_eq!(rows.len(), 1, "one session");
    let (id, serial, sealed, created, expires) = &rows[0];
    assert_eq!(id.len(), 32);
    assert_eq!(serial, &terminal.serial.to_string());
    assert_eq!(expires - created, i64::try_from(config.channel.session_lifetime_secs).unwrap());
    let (held, master) = band.session();
    assert_eq!(&held, id);
    assert!(!contains(sealed, &master), "the master secret is in the row in clear");
    assert!(!contains(sealed, &master[..16]), "part of the master secret is in the row");
    assert!(!contains(sealed, cert.as_der()), "the row shows the terminal's certificate");
    let sealed_first = sealed.clone();

    // Expired rows are purged; live ones stay.
    let shared = a.center.database_sessions().unwrap();
    db.run(
        "INSERT INTO tlcp_sessions (id, terminal_serial, sealed, created_at, expires_at) VALUES ($1, 'AB', $2, 1, 2)",
        Some((vec![7; 32], vec![0; 40])),
    )
    .await;
    assert_eq!(shared.purge_expired(UnixTime::now()).await.unwrap(), 1);
    assert_eq!(db.rows().await.len(), 1);

    // A second session made on A, its row altered in the database: B refuses it and makes
    // a full handshake instead, and the band still pays.
    let fresh = || Arc::new(MemorySessionStore::new(4, 3600));
    let other = fresh();
    let mut second = Band { key: key.clone(), config: band_config(other.clone()), sessions: other, counter: 100 };
    let (mut tls, resumed) = second.connect(a.addr).await;
    assert_eq!(resumed, Some(false));
    assert_eq!(second.pay(&mut tls, &orders[2]).await, Some(Outcome::Approved));
    drop(tls);
    let second_id = second.session().0;
    let sealed = db.rows().await.into_iter().find(|r| r.0 == second_id).unwrap().2;
    let mut altered = sealed.clone();
    let at = altered.len() / 2;
    altered[at] ^= 0x01;
    db.run("UPDATE tlcp_sessions SET sealed = $1 WHERE id = $2", Some((altered, second_id))).await;
    let (mut tls, resumed) = second.connect(b.addr).await;
    assert_eq!(resumed, Some(false), "B resumed a session from a tampered row");
    assert_eq!(second.pay(&mut tls, &orders[3]).await, Some(Outcome::Approved));
    drop(tls);
    // A sealed session moved under another session's ID does not open there either.
    let other = fresh();
    let third = Band { key: key.clone(), config: band_config(other.clone()), sessions: other, counter: 200 };
    let (mut tls, resumed) = third.connect(a.addr).await;
    assert_eq!(resumed, Some(false));
    // Once the band has an answer, its session is in the database.
    assert!(matches!(ask(&mut tls, &orders[5]).await, Response::Order(_)));
    drop(tls);
    let third_id = third.session().0;
    assert!(db.rows().await.iter().any(|r| r.0 == third_id));
    db.run("UPDATE tlcp_sessions SET sealed = $1 WHERE id = $2", Some((sealed_first.clone(), third_id))).await;
    assert_eq!(third.connect(b.addr).await.1, Some(false), "B resumed a session moved from another row");

    // A live connection on A, then the band is revoked through B: the session resumes on
    // no process any more, and A's live connection's next payment is declined.
    let (mut live, resumed) = band.connect(a.addr).await;
    assert_eq!(resumed, Some(true));
    b.center.set_terminal_status(&terminal.serial, TerminalStatus::Revoked, now()).await.unwrap();
    assert!(db.rows().await.iter().all(|r| r.1 != terminal.serial.to_string()), "the revoked band's rows remain");
    let (mut tls, resumed) = band.connect(a.addr).await;
    assert_ne!(resumed, Some(true), "A resumed a session of a band revoked on B");
    assert_eq!(band.pay(&mut tls, &orders[4]).await, None, "A served a band revoked on B");
    let declined = band.pay(&mut live, &orders[5]).await;
    assert!(declined.is_some_and(|o| !o.is_approved()), "{declined:?}");
    assert_eq!(store.balance(shop).await.unwrap().minor, 400);

    a.stop().await;
    b.stop().await;
    assert!(store.ledger_check().await.unwrap().ok);
    store.close().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_centers_share_sessions_on_sqlite() {
    two_centers_share_sessions(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_centers_share_sessions_on_postgres() {
    two_centers_share_sessions(true).await;
}

/// `sessions = "memory"` keeps sessions in the process: nothing is written, and the other
/// process cannot resume them. A config without the key loads (database, the default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_sessions_stay_in_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
    o.iterations = 1_000;
    init(dir.path(), &o, &PROVIDER).await.unwrap();
    let path = dir.path().join("center.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("sessions = \"database\""), "{text}");
    std::fs::write(&path, text.replace("sessions = \"database\"\n", "")).unwrap();
    assert_eq!(CenterConfig::load(&path).unwrap().channel.sessions, SessionStorage::Database);
    std::fs::write(&path, text.replace("sessions = \"database\"", "sessions = \"memory\"")).unwrap();
    let config = CenterConfig::load(&path).unwrap();
    assert_eq!(config.channel.sessions, SessionStorage::Memory);
    std::fs::write(&path, text.replace("sessions = \"database\"", "sessions = \"disk\"")).unwrap();
    assert!(CenterConfig::load(&path).is_err());

    let a = Serving::open(config.clone()).await;
    let b = Serving::open(config.clone()).await;
    assert!(a.center.database_sessions().is_none());
    let t = now();
    let store = a.center.store().clone();
    let payer = store.create_account(NewAccount::customer("Bob", Currency::CNY), t).await.unwrap().id;
    let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let csr = CsrBuilder::new(DistinguishedName::parse("CN=band").unwrap()).sign(&PROVIDER, &*key).unwrap();
    let (_, cert) = a.center.enroll_terminal(&csr, payer, "Bob's band", t).await.unwrap();
    let sessions = Arc::new(MemorySessionStore::new(4, 3600));
    let band = Band {
        key: key.clone(),
        config: band_config_with(&a.center, key.clone(), &cert, sessions.clone()),
        sessions,
        counter: 0,
    };
    let (mut tls, resumed) = band.connect(a.addr).await;
    assert_eq!(resumed, Some(false));
    // An answer: the center has kept the session by now.
    let query = Request::OrderQuery(OrderQuery { order_id: OrderId::new("O-0").unwrap() }).encode().unwrap();
    tls.write_all(&query).await.unwrap();
    tls.flush().await.unwrap();
    assert!(tls.read(&mut [0u8; 20_000]).await.unwrap() > 0);
    drop(tls);
    assert_eq!(band.connect(a.addr).await.1, Some(true), "A resumes its own session");
    assert_eq!(band.connect(b.addr).await.1, Some(false), "B resumed a session kept in A's memory");
    let db = Db { dir, postgres: None };
    assert!(db.rows().await.is_empty(), "a memory session was written to the database");
    a.stop().await;
    b.stop().await;
}
