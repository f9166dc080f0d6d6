//! What the center's test files share: the clock, and a PostgreSQL database of their own.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{ConnectOptions, Connection, Executor, postgres::PgConnectOptions};
use wearpay_pay::Timestamp;
use wearpay_pki::UnixTime;

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

    /// Drops the database, whatever still holds connections to it.
    pub async fn drop_database(&self) {
        let mut conn = self.admin.connect().await.unwrap();
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await.unwrap();
        conn.close().await.unwrap();
    }
}
