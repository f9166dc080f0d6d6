//! Fresh databases and a small world of accounts, a merchant and terminals for each test.
use core::{convert::Infallible, str::FromStr};

use sqlx::{ConnectOptions, Connection, Executor, postgres::PgConnectOptions, sqlite::SqliteConnectOptions};
use tempfile::TempDir;
use wearpay_center::{
    AccountId, Decision, NewAccount, NewMerchant, NewOrder, NewTerminal, PaymentLimits, PaymentRecord, SQLITE_FILE,
    Store, StoreConfig,
};
use wearpay_pay::{
    Counter, Currency, Description, MerchantId, MerchantName, Mode, Money, OrderId, Policy, TerminalSerial, Timestamp,
    TxId,
};

/// 2025-06-01 10:00:00 in Asia/Shanghai (02:00 UTC).
pub const T0: Timestamp = Timestamp(1_748_743_200);
/// 2025-06-02 00:00:00 in Asia/Shanghai: the next day starts.
pub const NEXT_MIDNIGHT: Timestamp = Timestamp(1_748_793_600);

/// The environment variable with the URL of a PostgreSQL database whose role may create
/// databases.
const POSTGRES_URL: &str = "WEARPAY_TEST_POSTGRES";

/// A store on a database of its own, removed when dropped.
pub struct TestDb {
    pub store: Store,
    _dir: Option<TempDir>,
    postgres: Option<(PgConnectOptions, String)>,
}

impl TestDb {
    /// An SQLite ledger in a fresh temporary directory.
    pub async fn sqlite() -> Self {
        Self::sqlite_with(StoreConfig::default()).await
    }

    pub async fn sqlite_with(config: StoreConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("data"), config).await.unwrap();
        Self { store, _dir: Some(dir), postgres: None }
    }

    /// A fresh PostgreSQL database made from `WEARPAY_TEST_POSTGRES`, or `None` (the test
    /// skips) when that is not set — unless `WEARPAY_REQUIRE_INTEROP=1`, which the project's
    /// test script sets: then a missing or unreachable server fails the test.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(StoreConfig::default()).await
    }

    pub async fn postgres_with(config: StoreConfig) -> Option<Self> {
        let Ok(url) = std::env::var(POSTGRES_URL) else {
            assert!(
                std::env::var("WEARPAY_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "{POSTGRES_URL} is not set, and WEARPAY_REQUIRE_INTEROP=1 requires the PostgreSQL tests \
                 (./test.sh sets it up)"
            );
            eprintln!("skipped: {POSTGRES_URL} is not set (./test.sh sets it up)");
            return None;
        };
        let admin = PgConnectOptions::from_str(&url).unwrap_or_else(|e| panic!("{POSTGRES_URL}: {e}"));
        let name = fresh_name();
        let mut conn =
            admin.connect().await.unwrap_or_else(|e| panic!("PostgreSQL at {POSTGRES_URL} is unreachable: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        conn.close().await.unwrap();
        let store = Store::connect_postgres_with(admin.clone().database(&name), config).await.unwrap();
        Some(Self { store, _dir: None, postgres: Some((admin, name)) })
    }
}

impl TestDb {
    /// Runs `sql` on the database directly, behind the store's back (to show what the
    /// schema itself refuses).
    pub async fn raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        if let Some((admin, name)) = &self.postgres {
            let mut conn = admin.clone().database(name).connect().await?;
            let n = conn.execute(sql).await?.rows_affected();
            conn.close().await?;
            return Ok(n);
        }
        let dir = self._dir.as_ref().expect("an SQLite test database has its directory");
        let mut conn =
            SqliteConnectOptions::new().filename(dir.path().join("data").join(SQLITE_FILE)).connect().await?;
        let n = conn.execute(sql).await?.rows_affected();
        conn.close().await?;
        Ok(n)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else { return };
        // Drop runs inside the test's runtime, so the database is dropped from a thread with
        // a runtime of its own (also when the test panicked).
        let dropper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut conn = admin.connect().await?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
                conn.close().await
            })
        });
        if let Ok(Err(e)) = dropper.join() {
            eprintln!("could not drop the test database: {e}");
        }
    }
}

fn fresh_name() -> String {
    use core::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("wearpay_t_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Runs each named `async fn(&Store)` on a fresh SQLite and a fresh PostgreSQL database, as
/// the tests `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite().await;
                super::$name(&db.store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres().await {
                    super::$name(&db.store).await;
                }
            }
        }
    )*};
}
pub(crate) use on_both;

/// [`on_both`] for benchmarks: ignored unless asked for.
macro_rules! on_bench {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "benchmark: run with --release -- --ignored --nocapture"]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite_with(super::config()).await;
                super::$name(&db.store).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "benchmark: run with --release -- --ignored --nocapture"]
            async fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres_with(super::config()).await {
                    super::$name(&db.store).await;
                }
            }
        }
    )*};
}
pub(crate) use on_bench;

pub fn cny(s: &str) -> Money {
    Money::parse(&format!("{s} CNY")).unwrap()
}

pub fn tx(n: u128) -> TxId {
    TxId(n.to_be_bytes())
}

pub fn serial(n: u32) -> TerminalSerial {
    TerminalSerial::new(&[&[0x5e][..], &n.to_be_bytes()].concat()).unwrap()
}

/// A response builder that writes what it was told, so tests can see it was stored.
pub fn respond(d: &Decision<'_>) -> Result<Vec<u8>, Infallible> {
    Ok(format!(
        "response {} outcome={} balance={:?} at={} receipt={:?}",
        d.tx_id,
        d.outcome.code(),
        d.balance_after.map(|b| b.minor),
        d.center_time.0,
        d.receipt().terminal
    )
    .into_bytes())
}

/// A customer with a terminal, and a merchant.
pub struct World {
    pub store: Store,
    pub payer: AccountId,
    pub merchant_account: AccountId,
    pub merchant: MerchantId,
    pub terminal: TerminalSerial,
}

impl World {
    /// The world with `deposit` CNY (e.g. `"5000.00"`) on the payer's account.
    pub async fn new(store: &Store, deposit: &str) -> Self {
        Self::with_overdraft(store, deposit, "0.00").await
    }

    pub async fn with_overdraft(store: &Store, deposit: &str, overdraft: &str) -> Self {
        Self::build(store, deposit, overdraft, 0).await
    }

    /// Another world in the same store: its own payer, merchant `M-n` and terminal.
    pub async fn new_named(store: &Store, deposit: &str, n: u32) -> Self {
        Self::build(store, deposit, "0.00", n).await
    }

    async fn build(store: &Store, deposit: &str, overdraft: &str, n: u32) -> Self {
        let payer = store
            .create_account(NewAccount::customer("Alice", Currency::CNY).with_overdraft(cny(overdraft).amount), T0)
            .await
            .unwrap()
            .id;
        if cny(deposit).amount.minor() > 0 {
            store.deposit(payer, cny(deposit), T0).await.unwrap();
        }
        let merchant_account =
            store.create_account(NewAccount::merchant("Tea House", Currency::CNY), T0).await.unwrap().id;
        let merchant = MerchantId::new(&format!("M-{:04}", n + 1)).unwrap();
        store
            .create_merchant(
                NewMerchant {
                    id: merchant.clone(),
                    name: MerchantName::new("Tea House").unwrap(),
                    account: merchant_account,
                },
                T0,
            )
            .await
            .unwrap();
        let world = Self { store: store.clone(), payer, merchant_account, merchant, terminal: serial(n * 1_000 + 1) };
        world.enroll(n * 1_000 + 1).await;
        world
    }

    /// The same merchant, with a payer of its own holding `deposit` CNY and its terminal `n`.
    pub async fn another_payer(&self, deposit: &str, n: u32) -> Self {
        let payer = self.store.create_account(NewAccount::customer("Bob", Currency::CNY), T0).await.unwrap().id;
        self.store.deposit(payer, cny(deposit), T0).await.unwrap();
        let world =
            Self { payer, terminal: serial(n), merchant: self.merchant.clone(), store: self.store.clone(), ..*self };
        world.enroll(n).await;
        world
    }

    /// Enrolls terminal `n` on the payer's account.
    pub async fn enroll(&self, n: u32) -> TerminalSerial {
        let s = serial(n);
        self.store
            .enroll_terminal(
                NewTerminal { serial: s.clone(), account: self.payer, certificate: vec![0x30, 0x03, 1, 2, 3] },
                T0,
            )
            .await
            .unwrap();
        s
    }

    /// An open order of `amount` CNY, valid for 30 days.
    pub async fn order(&self, id: &str, amount: &str) -> OrderId {
        let order_id = OrderId::new(id).unwrap();
        self.store
            .create_order(
                NewOrder {
                    order_id: order_id.clone(),
                    merchant: self.merchant.clone(),
                    money: cny(amount),
                    description: Description::new("Two cups of tea").unwrap(),
                    expires_at: Timestamp(T0.0 + 30 * 86_400),
                },
                T0,
            )
            .await
            .unwrap();
        order_id
    }

    /// A quick-mode payment under the default policy.
    pub fn record(
        &self,
        tx_n: u128,
        terminal: &TerminalSerial,
        order: &OrderId,
        amount: &str,
        counter: u64,
    ) -> PaymentRecord {
        self.record_in(tx_n, terminal, order, cny(amount), Mode::Quick, counter)
    }

    pub fn record_in(
        &self,
        tx_n: u128,
        terminal: &TerminalSerial,
        order: &OrderId,
        money: Money,
        mode: Mode,
        counter: u64,
    ) -> PaymentRecord {
        PaymentRecord {
            tx_id: tx(tx_n),
            terminal: terminal.clone(),
            order_id: order.clone(),
            money,
            mode,
            counter: Counter(counter),
            request: format!("request {tx_n} {terminal} {order} {money} {mode} {counter}").into_bytes(),
            limits: PaymentLimits::from_policy(&Policy::default(), mode),
        }
    }

    pub async fn balance(&self, account: AccountId) -> i64 {
        self.store.balance(account).await.unwrap().minor
    }
}
