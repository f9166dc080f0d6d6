//! The two backends behind one small query interface.
//!
//! Every statement is written once, with `$1`-style parameters that both SQLite and
//! PostgreSQL read, in the SQL both speak (`INSERT … ON CONFLICT … RETURNING`, partial
//! indexes, `SAVEPOINT`). Where the dialects differ (column types, identity columns) the
//! difference lives in the two migration directories, not here. Sums are cast back to
//! `BIGINT` because PostgreSQL's `SUM(bigint)` is `numeric`.
//!
//! Values go in as [`Arg`]s and come out through [`Row::get`], so that the same code binds
//! and decodes for either driver; the pools and transactions stay behind the [`Db`] and
//! [`Tx`] enums.
use core::time::Duration;

use sqlx::{
    Decode, Postgres, Row as _, Sqlite, Type,
    postgres::{PgPool, PgRow},
    sqlite::{SqlitePool, SqliteRow},
};

use crate::Error;

/// One bound parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I64(i64),
    OptI64(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
    OptBytes(Option<Vec<u8>>),
    Bool(bool),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I64(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::OptI64(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}
impl From<Option<Vec<u8>>> for Arg {
    fn from(v: Option<Vec<u8>>) -> Self {
        Arg::OptBytes(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

/// `args![a, b, c]`: the parameters `$1`, `$2`, `$3`.
macro_rules! args {
    ($($e:expr),* $(,)?) => { vec![$($crate::db::Arg::from($e)),*] };
}
pub(crate) use args;

/// A query for database `$db` with `$args` bound in order.
macro_rules! bound {
    ($db:ty, $sql:expr, $args:expr) => {{
        let mut q = sqlx::query::<$db>($sql);
        for a in $args {
            q = match a {
                Arg::I64(v) => q.bind(v),
                Arg::OptI64(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
                Arg::OptBytes(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
            };
        }
        q
    }};
}

/// A type both drivers decode.
pub(crate) trait Col:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}
impl<T> Col for T where T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres> {}

/// A result row of either backend.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    /// Column `i` (from 0).
    pub(crate) fn get<T: Col>(&self, i: usize) -> Result<T, Error> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get::<T, _>(i)?,
            Row::Postgres(r) => r.try_get::<T, _>(i)?,
        })
    }
}

/// An open transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    /// Runs a statement; returns the number of rows it changed.
    pub(crate) async fn execute(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<u64, Error> {
        Ok(match self {
            Tx::Sqlite(t) => bound!(Sqlite, sql, args).execute(&mut **t).await?.rows_affected(),
            Tx::Postgres(t) => bound!(Postgres, sql, args).execute(&mut **t).await?.rows_affected(),
        })
    }

    /// The first row, if any.
    pub(crate) async fn optional(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<Option<Row>, Error> {
        Ok(match self {
            Tx::Sqlite(t) => bound!(Sqlite, sql, args).fetch_optional(&mut **t).await?.map(Row::Sqlite),
            Tx::Postgres(t) => bound!(Postgres, sql, args).fetch_optional(&mut **t).await?.map(Row::Postgres),
        })
    }

    /// Exactly one row.
    pub(crate) async fn one(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<Row, Error> {
        Ok(match self {
            Tx::Sqlite(t) => Row::Sqlite(bound!(Sqlite, sql, args).fetch_one(&mut **t).await?),
            Tx::Postgres(t) => Row::Postgres(bound!(Postgres, sql, args).fetch_one(&mut **t).await?),
        })
    }

    /// Every row.
    pub(crate) async fn all(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<Row>, Error> {
        Ok(match self {
            Tx::Sqlite(t) => {
                bound!(Sqlite, sql, args).fetch_all(&mut **t).await?.into_iter().map(Row::Sqlite).collect()
            }
            Tx::Postgres(t) => {
                bound!(Postgres, sql, args).fetch_all(&mut **t).await?.into_iter().map(Row::Postgres).collect()
            }
        })
    }

    /// Makes the transaction's changes durable.
    pub(crate) async fn commit(self) -> Result<(), Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Undoes the transaction's changes now (dropping it would too, later).
    pub(crate) async fn rollback(self) -> Result<(), Error> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// Marks a point that [`Tx::rollback_to`] can return to, keeping what came before.
    pub(crate) async fn savepoint(&mut self, name: Savepoint) -> Result<(), Error> {
        self.execute(name.begin(), Vec::new()).await.map(drop)
    }

    /// Undoes everything since `name` and ends it.
    pub(crate) async fn rollback_to(&mut self, name: Savepoint) -> Result<(), Error> {
        self.execute(name.rollback(), Vec::new()).await?;
        self.execute(name.release(), Vec::new()).await.map(drop)
    }

    /// Ends `name`, keeping what was done since.
    pub(crate) async fn release(&mut self, name: Savepoint) -> Result<(), Error> {
        self.execute(name.release(), Vec::new()).await.map(drop)
    }
}

/// The savepoints the store uses (fixed names, so the SQL stays `'static`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Savepoint {
    /// Around the moves of money of one payment: undone together when it is declined.
    Money,
    /// Around one payment of a group commit: undone alone when it fails.
    Payment,
}

impl Savepoint {
    fn begin(self) -> &'static str {
        match self {
            Savepoint::Money => "SAVEPOINT money",
            Savepoint::Payment => "SAVEPOINT payment",
        }
    }
    fn rollback(self) -> &'static str {
        match self {
            Savepoint::Money => "ROLLBACK TO SAVEPOINT money",
            Savepoint::Payment => "ROLLBACK TO SAVEPOINT payment",
        }
    }
    fn release(self) -> &'static str {
        match self {
            Savepoint::Money => "RELEASE SAVEPOINT money",
            Savepoint::Payment => "RELEASE SAVEPOINT payment",
        }
    }
}

/// The connection pools of one store.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// SQLite allows one writer at a time: a pool of one connection queues the writers in
    /// the process (no busy-waiting on the file lock), and every write transaction starts
    /// with `BEGIN IMMEDIATE`, so it holds the write lock from its first read (a deferred
    /// transaction that reads and then writes could fail to upgrade, or act on a stale read
    /// should another process write the file). Readers have their own pool; in WAL mode they
    /// never block the writer.
    Sqlite { read: SqlitePool, write: SqlitePool },
    /// PostgreSQL: one pool; each write transaction is `READ COMMITTED` and moves money only
    /// with conditional `UPDATE … WHERE … RETURNING`, whose row locks serialize concurrent
    /// writers of the same rows.
    Postgres(PgPool),
}

impl Db {
    /// A transaction that may write.
    pub(crate) async fn begin_write(&self) -> Result<Tx, Error> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A read-only transaction on one consistent snapshot.
    pub(crate) async fn begin_read(&self) -> Result<Tx, Error> {
        Ok(match self {
            // A deferred transaction in WAL mode reads one snapshot from its first SELECT on.
            Db::Sqlite { read, .. } => Tx::Sqlite(read.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?),
        })
    }

    /// One read outside any transaction: the first row, if any.
    pub(crate) async fn optional(&self, sql: &'static str, args: Vec<Arg>) -> Result<Option<Row>, Error> {
        Ok(match self {
            Db::Sqlite { read, .. } => bound!(Sqlite, sql, args).fetch_optional(read).await?.map(Row::Sqlite),
            Db::Postgres(p) => bound!(Postgres, sql, args).fetch_optional(p).await?.map(Row::Postgres),
        })
    }

    /// One read outside any transaction: every row.
    pub(crate) async fn all(&self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<Row>, Error> {
        Ok(match self {
            Db::Sqlite { read, .. } => {
                bound!(Sqlite, sql, args).fetch_all(read).await?.into_iter().map(Row::Sqlite).collect()
            }
            Db::Postgres(p) => bound!(Postgres, sql, args).fetch_all(p).await?.into_iter().map(Row::Postgres).collect(),
        })
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// How long a PostgreSQL connection may wait for a row lock before its statement fails
/// (a safety net against a stuck transaction; normal waits are milliseconds).
pub(crate) const PG_LOCK_TIMEOUT: Duration = Duration::from_secs(30);
