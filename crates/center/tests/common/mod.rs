//! What the center's test files share: the clock, a PostgreSQL database of their own, a
//! center serving on loopback and a band's channel configuration.
#![allow(dead_code)]

use core::time::Duration;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{ConnectOptions, Connection, Executor, postgres::PgConnectOptions};
use wearpay_center::node::{Center, CenterConfig};
use wearpay_crypto::{PrivateKey, portable::PROVIDER};
use wearpay_pay::Timestamp;
use wearpay_pki::{Certificate, UnixTime};
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::{MemorySessionStore, SessionStore};
use wearpay_tlcp::{ClientConfig, DEFAULT_SUITES, PkiServerVerifier, Profile};

/// The environment variable with the URL of a PostgreSQL database whose role may create
/// databases (`./test.sh` sets it up).
const POSTGRES_URL: &str = "WEARPAY_TEST_POSTGRES";

/// Runs each named `async fn(Env)` of the test file on SQLite and on PostgreSQL, as
/// `NAME::sqlite` and `NAME::postgres`; the file's `Env::on(postgres)` makes the center
/// (`None` when PostgreSQL is not configured: that half skips).
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Env::on(false).await.unwrap()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(env) = super::Env::on(true).await {
                    super::$name(env).await;
                }
            }
        }
    )*};
}

/// The system clock as a payment timestamp.
pub fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

/// A fresh PostgreSQL database made for one test; [`TestPostgres::drop_database`] removes it.
pub struct TestPostgres {
    /// The options of the database the role connects to first (to create and drop).
    pub admin: PgConnectOptions,
    /// The new database's name.
    pub name: String,
    /// Its URL, for a center's `[database] url`.
    pub url: String,
}

impl TestPostgres {
    /// A database named after `label`, the process and a counter; `None` (the test skips)
    /// without `WEARPAY_TEST_POSTGRES`, unless `WEARPAY_REQUIRE_INTEROP=1` requires it.
    pub async fn create(label: &str) -> Option<Self> {
        let Ok(url) = std::env::var(POSTGRES_URL) else {
            assert!(
                std::env::var("WEARPAY_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "{POSTGRES_URL} is not set, and WEARPAY_REQUIRE_INTEROP=1 requires the PostgreSQL tests"
            );
            eprintln!("skipped: {POSTGRES_URL} is not set");
            return None;
        };
        let admin = PgConnectOptions::from_str(&url).unwrap_or_else(|e| panic!("{POSTGRES_URL}: {e}"));
        static N: AtomicU32 = AtomicU32::new(0);
        let name =
            format!("wearpay_t_{label}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), now().0);
        let mut conn =
            admin.connect().await.unwrap_or_else(|e| panic!("PostgreSQL at {POSTGRES_URL} is unreachable: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        conn.close().await.unwrap();
        let (base, query) = url.split_once('?').map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
        let base = base.rsplit_once('/').unwrap().0;
        let url = match query {
            Some(q) => format!("{base}/{name}?{q}"),
            None => format!("{base}/{name}"),
        };
        Some(Self { admin, name, url })
    }

    /// A connection to the test's database, behind the center's back.
    pub async fn connect(&self) -> sqlx::PgConnection {
        self.admin.clone().database(&self.name).connect().await.unwrap()
    }

    /// Drops the database, whatever still holds connections to it. A role without
    /// pg_signal_backend cannot end an autovacuum worker that happens to be in it, so a
    /// refusal is tried again while the worker finishes.
    pub async fn drop_database(&self) {
        let mut conn = self.admin.connect().await.unwrap();
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        for attempt in 1.. {
            match conn.execute(drop.as_str()).await {
                Ok(_) => break,
                Err(e) if attempt < 50 => {
                    eprintln!("dropping {} (attempt {attempt}): {e}", self.name);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("dropping {}: {e}", self.name),
            }
        }
        conn.close().await.unwrap();
    }
}

/// A center serving its channel on an ephemeral loopback port until [`Serving::stop`].
pub struct Serving {
    pub center: Arc<Center>,
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Serving {
    /// Opens the center of `config` and serves it.
    pub async fn open(config: CenterConfig) -> Self {
        Self::start(Arc::new(Center::open(config).await.unwrap())).await
    }

    /// Serves `center`.
    pub async fn start(center: Arc<Center>) -> Self {
        let listener = center.bind().await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let c = center.clone();
        let server = tokio::spawn(async move {
            c.serve(listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self { center, addr, stop: Some(stop), server: Some(server) }
    }

    /// Stops serving and waits for the listener to finish.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.server.take().unwrap().await.unwrap();
    }
}

/// A band's channel configuration against `center`: its key, its certificate sent with the
/// terminal CA's, the center's root trusted, and a fresh session store of its own.
pub fn band_config(center: &Center, key: Arc<dyn PrivateKey>, cert: &Certificate) -> Arc<ClientConfig> {
    band_config_with(center, key, cert, Arc::new(MemorySessionStore::new(4, 3600)))
}

/// [`band_config`] resuming from `sessions`.
pub fn band_config_with(
    center: &Center,
    key: Arc<dyn PrivateKey>,
    cert: &Certificate,
    sessions: Arc<dyn SessionStore>,
) -> Arc<ClientConfig> {
    Arc::new(ClientConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile: Profile::Seed,
        sign_key: key,
        cert_chain: vec![
            CertificateDer(cert.as_der().to_vec()),
            CertificateDer(center.terminal_ca().certificate().as_der().to_vec()),
        ],
        verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![center.root().clone()], vec![])),
        server_name: center.config().channel.server_name.clone(),
        session_store: sessions,
        max_fragment_length: None,
        offer_session_ticket: false,
    })
}

/// Debian's openssl reads the CRL and lists `serial_hex` with `reason` (skipped without
/// openssl unless interop is required).
pub fn openssl_lists(crl: &std::path::Path, serial_hex: &str, reason: &str) {
    let out = match std::process::Command::new("openssl").args(["crl", "-noout", "-text", "-in"]).arg(crl).output() {
        Ok(o) => o,
        Err(_) if std::env::var_os("WEARPAY_REQUIRE_INTEROP").is_none() => return,
        Err(e) => panic!("openssl: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(serial_hex), "{text}");
    assert!(text.contains(reason), "{text}");
}
