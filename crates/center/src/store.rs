//! Opening a store, and the registry: accounts, merchants, orders, terminals, PIN counters.
use core::{fmt, str::FromStr, time::Duration};
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use wearpay_pay::{
    Amount, Counter, Currency, Description, MerchantId, MerchantName, Order, OrderId, Pan, SignedMoney, TerminalSerial,
    Timestamp, TxId,
};

use crate::{
    Account, AccountId, AccountKind, Error, Merchant, NewAccount, NewMerchant, NewOrder, NewTerminal, OrderStatus,
    PinState, StoredOrder, Terminal, TerminalStatus,
    audit::{self, Event},
    db::{Db, PG_LOCK_TIMEOUT, Row, Tx, args},
    group_commit::Committer,
    types::check_name,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The file the SQLite backend keeps in its data directory.
pub const SQLITE_FILE: &str = "center.db";

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The time zone whose calendar days the daily limits count (default Asia/Shanghai).
    pub time_zone: Tz,
    /// Consecutive wrong PINs that lock PIN mode (default 5).
    pub pin_max_tries: u32,
    /// PostgreSQL: the pool size; SQLite: the number of reader connections (the writer is
    /// always one). Default 8.
    pub max_connections: u32,
    /// How long an operation may wait for a free connection (default 30 s).
    pub acquire_timeout: Duration,
    /// SQLite: how long a statement waits for another process's lock (default 5 s).
    pub busy_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            time_zone: Tz::Asia__Shanghai,
            pin_max_tries: 5,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the ledger lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file, [`SQLITE_FILE`], in this data directory (made on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by `postgres://` URL.
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite://DIR` or a bare path is
    /// an SQLite data directory.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_owned())
        } else {
            Location::Sqlite(PathBuf::from(s.strip_prefix("sqlite://").unwrap_or(s)))
        }
    }
}

impl FromStr for Location {
    type Err = core::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

/// Never shows a PostgreSQL URL, which may hold a password.
impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Location::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, one file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The center's ledger and registry, on SQLite or PostgreSQL, with one API.
///
/// Every method that changes state runs in one database transaction and changes nothing
/// when it fails. Every method that depends on the time takes it as `now`: the store never
/// reads a clock. Cloning is cheap and shares the connection pools.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) config: StoreConfig,
    /// Decides and commits payments in groups (see `group_commit`).
    pub(crate) committer: Committer,
}

impl Store {
    /// Opens the store at `location`, creating it and bringing its schema up to date.
    pub async fn open(location: &Location, config: StoreConfig) -> Result<Self, Error> {
        match location {
            Location::Sqlite(dir) => Self::open_sqlite(dir, config).await,
            Location::Postgres(url) => Self::connect_postgres(url, config).await,
        }
    }

    fn with_db(db: Db, config: StoreConfig) -> Self {
        Self { committer: Committer::start(db.clone()), db, config }
    }

    /// Opens (creating on first start) the SQLite ledger in `data_dir`: WAL, `synchronous =
    /// FULL` (a commit is on disk when it returns), foreign keys on, a busy timeout, one
    /// writer connection whose transactions all begin `IMMEDIATE`, and reader connections.
    pub async fn open_sqlite(data_dir: &Path, config: StoreConfig) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::DataDir { path: data_dir.to_owned(), source })?;
        let file = data_dir.join(SQLITE_FILE);
        let base = SqliteConnectOptions::new()
            .filename(&file)
            .foreign_keys(true)
            .busy_timeout(config.busy_timeout)
            .synchronous(SqliteSynchronous::Full);
        // A local file does not go stale: no ping before each use.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(base.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal))
            .await?;
        SQLITE_MIGRATIONS.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .test_before_acquire(false)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(base.read_only(true))
            .await?;
        Ok(Self::with_db(Db::Sqlite { read, write }, config))
    }

    /// Connects to the PostgreSQL database at `url` and brings its schema up to date.
    pub async fn connect_postgres(url: &str, config: StoreConfig) -> Result<Self, Error> {
        Self::connect_postgres_with(PgConnectOptions::from_str(url)?, config).await
    }

    /// Connects to PostgreSQL with these options and brings the schema up to date.
    pub async fn connect_postgres_with(options: PgConnectOptions, config: StoreConfig) -> Result<Self, Error> {
        let lock_timeout = PG_LOCK_TIMEOUT.as_millis().to_string();
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options.options([("lock_timeout", lock_timeout.as_str())]))
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Self::with_db(Db::Postgres(pool), config))
    }

    /// Closes every connection, after those in use are returned.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    // ---- accounts ---------------------------------------------------------------------

    /// Creates an account with a zero balance. A PAN is for customer accounts only and is
    /// unique.
    pub async fn create_account(&self, new: NewAccount, now: Timestamp) -> Result<Account, Error> {
        check_name(&new.name)?;
        if new.pan.is_some() && new.kind != AccountKind::Customer {
            return Err(Error::invalid("account", "only customer accounts have a PAN"));
        }
        let now = ts(now)?;
        let mut tx = self.db.begin_write().await?;
        let row = tx
            .one(
                "INSERT INTO accounts (name, currency, kind, overdraft_limit, pan, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                args![
                    new.name,
                    new.currency.code(),
                    new.kind.as_str(),
                    new.overdraft_limit.minor_i64(),
                    new.pan.as_ref().map(|p| p.as_str().to_owned()),
                    now
                ],
            )
            .await
            .map_err(|e| unique(e, "account"))?;
        let id = AccountId(row.get(0)?);
        let account = account_in(&mut tx, id).await?.ok_or(Error::NotFound { what: "account" })?;
        audit::append(&mut tx, account.created_at, Event::account_created(&account)).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// The account, if it exists.
    pub async fn account(&self, id: AccountId) -> Result<Option<Account>, Error> {
        self.db.optional(ACCOUNT_SELECT_BY_ID, args![id.0]).await?.map(|r| account_from(&r)).transpose()
    }

    /// The account with this PAN, if any.
    pub async fn account_by_pan(&self, pan: &Pan) -> Result<Option<Account>, Error> {
        self.db
            .optional(
                "SELECT id, name, kind, currency, balance, overdraft_limit, pan, pin_verification, pin_tries, \
                 pin_locked, report_secret_hash, created_at FROM accounts WHERE pan = $1",
                args![pan.as_str()],
            )
            .await?
            .map(|r| account_from(&r))
            .transpose()
    }

    /// The account's balance.
    pub async fn balance(&self, id: AccountId) -> Result<SignedMoney, Error> {
        let row = self
            .db
            .optional("SELECT balance, currency FROM accounts WHERE id = $1", args![id.0])
            .await?
            .ok_or(Error::NotFound { what: "account" })?;
        Ok(SignedMoney { minor: row.get(0)?, currency: currency(&row.get::<String>(1)?)? })
    }

    /// Stores (or, with `None`, clears) the keyed PIN verification value the key store
    /// computed for a customer account, and resets its try counter. Clearing disables PIN
    /// mode for the account.
    pub async fn set_pin_verification(&self, id: AccountId, value: Option<Vec<u8>>) -> Result<(), Error> {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 64) {
            return Err(Error::invalid("PIN verification value", "must be 1 to 64 bytes"));
        }
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute(
                "UPDATE accounts SET pin_verification = $1, pin_tries = 0, pin_locked = $2 \
                 WHERE id = $3 AND kind = 'customer'",
                args![value, false, id.0],
            )
            .await?;
        if n == 0 {
            return Err(missing_or_not_customer(&mut tx, id).await);
        }
        tx.commit().await
    }

    /// Stores (or clears) the hash of the account's reporting secret.
    pub async fn set_report_secret_hash(&self, id: AccountId, hash: Option<Vec<u8>>) -> Result<(), Error> {
        if hash.as_ref().is_some_and(|v| v.is_empty() || v.len() > 256) {
            return Err(Error::invalid("reporting secret hash", "must be 1 to 256 bytes"));
        }
        let mut tx = self.db.begin_write().await?;
        if tx.execute("UPDATE accounts SET report_secret_hash = $1 WHERE id = $2", args![hash, id.0]).await? == 0 {
            return Err(Error::NotFound { what: "account" });
        }
        tx.commit().await
    }

    // ---- PIN try counter ----------------------------------------------------------------

    /// The account's PIN try counter.
    pub async fn pin_state(&self, id: AccountId) -> Result<PinState, Error> {
        let row = self
            .db
            .optional("SELECT pin_tries, pin_locked FROM accounts WHERE id = $1", args![id.0])
            .await?
            .ok_or(Error::NotFound { what: "account" })?;
        pin_state_from(&row)
    }

    /// Counts one PIN check: a right PIN (`ok`) resets the count; a wrong one adds to it
    /// and, at [`StoreConfig::pin_max_tries`] in a row, locks PIN mode. While locked,
    /// nothing is counted and the state returned says `locked`: the payment must then be
    /// declined `pin_locked`, whether or not this PIN was right.
    pub async fn record_pin_attempt(&self, id: AccountId, ok: bool, now: Timestamp) -> Result<PinState, Error> {
        ts(now)?;
        let mut tx = self.db.begin_write().await?;
        let row = if ok {
            tx.optional(
                "UPDATE accounts SET pin_tries = 0 WHERE id = $1 AND NOT pin_locked RETURNING pin_tries, pin_locked",
                args![id.0],
            )
            .await?
        } else {
            tx.optional(
                "UPDATE accounts SET pin_tries = pin_tries + 1, pin_locked = (pin_tries + 1 >= $1) \
                 WHERE id = $2 AND NOT pin_locked RETURNING pin_tries, pin_locked",
                args![i64::from(self.config.pin_max_tries.max(1)), id.0],
            )
            .await?
        };
        let counted = row.is_some();
        let state = match row {
            Some(row) => pin_state_from(&row)?,
            None => {
                let row = tx
                    .optional("SELECT pin_tries, pin_locked FROM accounts WHERE id = $1", args![id.0])
                    .await?
                    .ok_or(Error::NotFound { what: "account" })?;
                pin_state_from(&row)?
            }
        };
        // Counted and now locked: this attempt locked PIN mode.
        if counted && state.locked {
            audit::append(&mut tx, now, Event::pin_locked(id, state.failures)).await?;
        }
        tx.commit().await?;
        if state.locked {
            tracing::warn!(account = id.0, "PIN mode locked");
        }
        Ok(state)
    }

    /// An administrator's unlock: PIN mode open again, try counter at zero.
    pub async fn unlock_pin(&self, id: AccountId, now: Timestamp) -> Result<PinState, Error> {
        ts(now)?;
        let mut tx = self.db.begin_write().await?;
        let row = tx
            .optional(
                "UPDATE accounts SET pin_tries = 0, pin_locked = $1 WHERE id = $2 RETURNING pin_tries, pin_locked",
                args![false, id.0],
            )
            .await?
            .ok_or(Error::NotFound { what: "account" })?;
        let state = pin_state_from(&row)?;
        audit::append(&mut tx, now, Event::pin_unlocked(id)).await?;
        tx.commit().await?;
        Ok(state)
    }

    // ---- merchants and orders ------------------------------------------------------------

    /// Registers a merchant on an existing merchant account (one merchant per account).
    pub async fn create_merchant(&self, new: NewMerchant, now: Timestamp) -> Result<Merchant, Error> {
        let now_i = ts(now)?;
        let mut tx = self.db.begin_write().await?;
        require_kind(&mut tx, new.account, AccountKind::Merchant, "merchant account", "must be a merchant account")
            .await?;
        tx.execute(
            "INSERT INTO merchants (id, name, account_id, created_at) VALUES ($1, $2, $3, $4)",
            args![new.id.as_str(), new.name.as_str(), new.account.0, now_i],
        )
        .await
        .map_err(|e| unique(e, "merchant"))?;
        let merchant = Merchant { id: new.id, name: new.name, account: new.account, created_at: now };
        audit::append(&mut tx, now, Event::merchant_created(&merchant)).await?;
        tx.commit().await?;
        Ok(merchant)
    }

    /// The merchant, if registered.
    pub async fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>, Error> {
        let Some(row) = self
            .db
            .optional("SELECT id, name, account_id, created_at FROM merchants WHERE id = $1", args![id.as_str()])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Merchant {
            id: MerchantId::new(&row.get::<String>(0)?).map_err(|_| Error::Corrupt("merchant id"))?,
            name: MerchantName::new(&row.get::<String>(1)?).map_err(|_| Error::Corrupt("merchant name"))?,
            account: AccountId(row.get(2)?),
            created_at: to_ts(row.get(3)?)?,
        }))
    }

    /// Creates an open order. Its currency must be its merchant account's, and it must
    /// expire after `now`.
    pub async fn create_order(&self, new: NewOrder, now: Timestamp) -> Result<StoredOrder, Error> {
        if new.money.amount.is_zero() {
            return Err(Error::invalid("order amount", "must be more than zero"));
        }
        if new.expires_at <= now {
            return Err(Error::invalid("order expiry", "must be after now"));
        }
        let (now_i, expires) = (ts(now)?, ts(new.expires_at)?);
        let mut tx = self.db.begin_write().await?;
        let row = tx
            .optional(
                "SELECT a.currency FROM merchants m JOIN accounts a ON a.id = m.account_id WHERE m.id = $1",
                args![new.merchant.as_str()],
            )
            .await?
            .ok_or(Error::NotFound { what: "merchant" })?;
        if currency(&row.get::<String>(0)?)? != new.money.currency {
            return Err(Error::invalid("order currency", "differs from the merchant account's"));
        }
        tx.execute(
            "INSERT INTO orders (order_id, merchant_id, amount, currency, description, expires_at, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)",
            args![
                new.order_id.as_str(),
                new.merchant.as_str(),
                new.money.amount.minor_i64(),
                new.money.currency.code(),
                new.description.as_str(),
                expires,
                now_i
            ],
        )
        .await
        .map_err(|e| unique(e, "order"))?;
        let order = order_in(&mut tx, &new.order_id).await?.ok_or(Error::NotFound { what: "order" })?;
        audit::append(&mut tx, now, Event::order_created(&order)).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// The order, with its merchant's name, if it exists.
    pub async fn get_order(&self, id: &OrderId) -> Result<Option<StoredOrder>, Error> {
        self.db.optional(ORDER_SELECT, args![id.as_str()]).await?.map(|r| order_from(&r)).transpose()
    }

    /// Marks every open order whose time has passed at `now` as expired; returns how many.
    /// (Payments check the time themselves; this only tidies the stored status.)
    pub async fn expire_orders(&self, now: Timestamp) -> Result<u64, Error> {
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute("UPDATE orders SET status = 'expired' WHERE status = 'open' AND expires_at <= $1", args![ts(now)?])
            .await?;
        if n > 0 {
            audit::append(&mut tx, now, Event::orders_expired(n)).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    // ---- terminals ---------------------------------------------------------------------

    /// Enrolls an active terminal paying from a customer account.
    pub async fn enroll_terminal(&self, new: NewTerminal, now: Timestamp) -> Result<Terminal, Error> {
        if new.certificate.is_empty() || new.certificate.len() > MAX_CERTIFICATE_LEN {
            return Err(Error::invalid("terminal certificate", "must be 1 to 16384 bytes"));
        }
        let now_i = ts(now)?;
        let mut tx = self.db.begin_write().await?;
        require_kind(&mut tx, new.account, AccountKind::Customer, "terminal account", "must be a customer account")
            .await?;
        tx.execute(
            "INSERT INTO terminals (serial, account_id, status, last_counter, certificate, enrolled_at, status_changed_at) \
             VALUES ($1, $2, 'active', -1, $3, $4, $4)",
            args![new.serial.to_string(), new.account.0, new.certificate.clone(), now_i],
        )
        .await
        .map_err(|e| unique(e, "terminal"))?;
        let terminal = Terminal {
            serial: new.serial,
            account: new.account,
            status: TerminalStatus::Active,
            last_counter: None,
            certificate: new.certificate,
            enrolled_at: now,
            status_changed_at: now,
            replaced_by: None,
        };
        audit::append(&mut tx, now, Event::terminal_enrolled(&terminal)).await?;
        tx.commit().await?;
        Ok(terminal)
    }

    /// Changes a terminal's status at once (the next payment sees it). Revoked is final:
    /// changing a revoked terminal fails with [`Error::TerminalRevoked`]. Setting the
    /// status it already has changes nothing. A suspended or revoked terminal's stored
    /// channel sessions are deleted with it (see [`crate::sessions`]).
    pub async fn set_terminal_status(
        &self,
        serial: &TerminalSerial,
        status: TerminalStatus,
        now: Timestamp,
    ) -> Result<Terminal, Error> {
        let now_i = ts(now)?;
        let key = serial.to_string();
        let mut tx = self.db.begin_write().await?;
        let current = tx
            .optional("SELECT status FROM terminals WHERE serial = $1", args![key.clone()])
            .await?
            .ok_or(Error::NotFound { what: "terminal" })?
            .get::<String>(0)?;
        let current = TerminalStatus::parse(&current)?;
        if current == TerminalStatus::Revoked && status != TerminalStatus::Revoked {
            return Err(Error::TerminalRevoked);
        }
        if current != status {
            tx.execute(
                "UPDATE terminals SET status = $1, status_changed_at = $2 WHERE serial = $3 AND status <> 'revoked'",
                args![status.as_str(), now_i, key.clone()],
            )
            .await?;
            tracing::info!(terminal = %key, from = %current, to = %status, "terminal status changed");
        }
        if status != TerminalStatus::Active {
            // No center process may resume a session of a terminal that may not pay.
            tx.execute("DELETE FROM tlcp_sessions WHERE terminal_serial = $1", args![key.clone()]).await?;
        }
        let terminal = terminal_in(&mut tx, &key).await?.ok_or(Error::NotFound { what: "terminal" })?;
        if current != status {
            audit::append(&mut tx, now, Event::terminal_status(&terminal, current)).await?;
        }
        tx.commit().await?;
        Ok(terminal)
    }

    /// The terminal, if enrolled.
    pub async fn terminal(&self, serial: &TerminalSerial) -> Result<Option<Terminal>, Error> {
        self.db.optional(TERMINAL_SELECT, args![serial.to_string()]).await?.map(|r| terminal_from(&r)).transpose()
    }

    /// The terminals paying from an account.
    pub async fn terminals_of(&self, account: AccountId) -> Result<Vec<Terminal>, Error> {
        self.db
            .all(
                "SELECT serial, account_id, status, last_counter, certificate, enrolled_at, status_changed_at, \
                 replaced_by FROM terminals WHERE account_id = $1 ORDER BY enrolled_at, serial",
                args![account.0],
            )
            .await?
            .iter()
            .map(terminal_from)
            .collect()
    }

    /// Every revoked terminal's certificate serial with the time it was revoked, oldest first:
    /// what the terminal CA's CRL lists.
    pub async fn revoked_terminals(&self) -> Result<Vec<(TerminalSerial, Timestamp)>, Error> {
        self.db
            .all(
                "SELECT serial, status_changed_at FROM terminals WHERE status = 'revoked' \
                 ORDER BY status_changed_at, serial",
                args![],
            )
            .await?
            .iter()
            .map(|r| Ok((serial(&r.get::<String>(0)?)?, to_ts(r.get(1)?)?)))
            .collect()
    }

    /// Accepts `counter` from the terminal if it is above the last one accepted, and makes it
    /// the last one; otherwise [`Error::StaleCounter`] and nothing changes.
    /// ([`Store::commit_payment`] does the same within the payment's transaction.)
    pub async fn advance_counter(&self, serial: &TerminalSerial, counter: Counter) -> Result<(), Error> {
        let c = counter_i64(counter)?;
        let key = serial.to_string();
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute(
                "UPDATE terminals SET last_counter = $1 WHERE serial = $2 AND last_counter < $1",
                args![c, key.clone()],
            )
            .await?;
        if n == 0 {
            let last = tx
                .optional("SELECT last_counter FROM terminals WHERE serial = $1", args![key])
                .await?
                .ok_or(Error::NotFound { what: "terminal" })?
                .get::<i64>(0)?;
            return Err(Error::StaleCounter { counter: counter.0, last: u64::try_from(last).ok() });
        }
        tx.commit().await
    }
}

/// The largest certificate the registry keeps.
const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

const ACCOUNT_SELECT_BY_ID: &str = "SELECT id, name, kind, currency, balance, overdraft_limit, pan, \
     pin_verification, pin_tries, pin_locked, report_secret_hash, created_at FROM accounts WHERE id = $1";

pub(crate) async fn account_in(tx: &mut Tx, id: AccountId) -> Result<Option<Account>, Error> {
    tx.optional(ACCOUNT_SELECT_BY_ID, args![id.0]).await?.map(|r| account_from(&r)).transpose()
}

fn account_from(r: &Row) -> Result<Account, Error> {
    let pan = match r.get::<Option<String>>(6)? {
        Some(s) => Some(Pan::new(&s).map_err(|_| Error::Corrupt("account PAN"))?),
        None => None,
    };
    Ok(Account {
        id: AccountId(r.get(0)?),
        name: r.get(1)?,
        kind: AccountKind::parse(&r.get::<String>(2)?)?,
        balance: SignedMoney { minor: r.get(4)?, currency: currency(&r.get::<String>(3)?)? },
        overdraft_limit: amount(r.get(5)?)?,
        pan,
        pin_verification: r.get(7)?,
        pin: PinState { failures: u32::try_from(r.get::<i64>(8)?).unwrap_or(u32::MAX), locked: r.get(9)? },
        report_secret_hash: r.get(10)?,
        created_at: to_ts(r.get(11)?)?,
    })
}

fn pin_state_from(r: &Row) -> Result<PinState, Error> {
    Ok(PinState { failures: u32::try_from(r.get::<i64>(0)?).unwrap_or(u32::MAX), locked: r.get(1)? })
}

async fn missing_or_not_customer(tx: &mut Tx, id: AccountId) -> Error {
    match tx.optional("SELECT kind FROM accounts WHERE id = $1", args![id.0]).await {
        Ok(Some(_)) => Error::invalid("account", "must be a customer account"),
        Ok(None) => Error::NotFound { what: "account" },
        Err(e) => e,
    }
}

const ORDER_SELECT: &str = "SELECT o.order_id, o.merchant_id, m.name, o.amount, o.currency, o.description, \
     o.expires_at, o.status, o.paid_tx_id, o.created_at, m.account_id \
     FROM orders o JOIN merchants m ON m.id = o.merchant_id WHERE o.order_id = $1";

pub(crate) async fn order_in(tx: &mut Tx, id: &OrderId) -> Result<Option<StoredOrder>, Error> {
    tx.optional(ORDER_SELECT, args![id.as_str()]).await?.map(|r| order_from(&r)).transpose()
}

fn order_from(r: &Row) -> Result<StoredOrder, Error> {
    let corrupt = |_| Error::Corrupt("order");
    let order = Order {
        order_id: OrderId::new(&r.get::<String>(0)?).map_err(corrupt)?,
        merchant_id: MerchantId::new(&r.get::<String>(1)?).map_err(corrupt)?,
        merchant_name: MerchantName::new(&r.get::<String>(2)?).map_err(corrupt)?,
        amount: amount(r.get(3)?)?,
        currency: currency(&r.get::<String>(4)?)?,
        description: Description::new(&r.get::<String>(5)?).map_err(corrupt)?,
        expires_at: to_ts(r.get(6)?)?,
    };
    Ok(StoredOrder {
        order,
        status: OrderStatus::parse(&r.get::<String>(7)?)?,
        paid_tx: r.get::<Option<Vec<u8>>>(8)?.map(|b| tx_id(&b)).transpose()?,
        created_at: to_ts(r.get(9)?)?,
        merchant_account: AccountId(r.get(10)?),
    })
}

const TERMINAL_SELECT: &str = "SELECT serial, account_id, status, last_counter, certificate, enrolled_at, \
     status_changed_at, replaced_by FROM terminals WHERE serial = $1";

pub(crate) async fn terminal_in(tx: &mut Tx, key: &str) -> Result<Option<Terminal>, Error> {
    tx.optional(TERMINAL_SELECT, args![key]).await?.map(|r| terminal_from(&r)).transpose()
}

fn terminal_from(r: &Row) -> Result<Terminal, Error> {
    Ok(Terminal {
        serial: serial(&r.get::<String>(0)?)?,
        account: AccountId(r.get(1)?),
        status: TerminalStatus::parse(&r.get::<String>(2)?)?,
        last_counter: u64::try_from(r.get::<i64>(3)?).ok().map(Counter),
        certificate: r.get(4)?,
        enrolled_at: to_ts(r.get(5)?)?,
        status_changed_at: to_ts(r.get(6)?)?,
        replaced_by: r.get::<Option<String>>(7)?.map(|s| serial(&s)).transpose()?,
    })
}

/// A unique violation as [`Error::AlreadyExists`]; anything else unchanged.
pub(crate) fn unique(e: Error, what: &'static str) -> Error {
    if e.is_unique_violation() { Error::AlreadyExists { what } } else { e }
}

// ---- conversions between the domain types and the columns ---------------------------------

/// A time as stored (seconds, signed 64-bit).
pub(crate) fn ts(t: Timestamp) -> Result<i64, Error> {
    i64::try_from(t.0).map_err(|_| Error::invalid("time", "beyond the signed 64-bit range"))
}

pub(crate) fn to_ts(v: i64) -> Result<Timestamp, Error> {
    u64::try_from(v).map(Timestamp).map_err(|_| Error::Corrupt("negative time"))
}

pub(crate) fn counter_i64(c: Counter) -> Result<i64, Error> {
    i64::try_from(c.0).map_err(|_| Error::invalid("counter", "beyond the signed 64-bit range"))
}

pub(crate) fn currency(code: &str) -> Result<Currency, Error> {
    Currency::from_code(code).map_err(|_| Error::Corrupt("unknown currency"))
}

pub(crate) fn amount(v: i64) -> Result<Amount, Error> {
    u64::try_from(v).ok().and_then(|m| Amount::from_minor(m).ok()).ok_or(Error::Corrupt("negative amount"))
}

pub(crate) fn tx_id(b: &[u8]) -> Result<TxId, Error> {
    <[u8; 16]>::try_from(b).map(TxId).map_err(|_| Error::Corrupt("transaction id"))
}

pub(crate) fn serial(hex_text: &str) -> Result<TerminalSerial, Error> {
    hex::decode(hex_text).ok().and_then(|b| TerminalSerial::new(&b).ok()).ok_or(Error::Corrupt("terminal serial"))
}

/// Fails unless `account` exists and is of `kind` (merchants sit on merchant accounts,
/// terminals pay from customer accounts).
async fn require_kind(
    tx: &mut Tx,
    account: AccountId,
    kind: AccountKind,
    what: &'static str,
    why: &'static str,
) -> Result<(), Error> {
    let found = tx
        .optional("SELECT kind FROM accounts WHERE id = $1", args![account.0])
        .await?
        .ok_or(Error::NotFound { what: "account" })?
        .get::<String>(0)?;
    if AccountKind::parse(&found)? != kind {
        return Err(Error::invalid(what, why));
    }
    Ok(())
}
