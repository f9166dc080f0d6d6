use std::path::PathBuf;

use crate::RefundRefusal;

/// A boxed error from a caller's callback.
pub type BoxError = Box<dyn core::error::Error + Send + Sync + 'static>;

/// Why a store operation failed. Whatever the error, the operation changed nothing: each
/// one runs in a single database transaction that is rolled back on any failure.
///
/// The text is for logs and operators; a terminal is only ever told a reason code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused or failed (connection, constraint, I/O…).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No such record.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for: `account`, `merchant`, `terminal`, `order`…
        what: &'static str,
    },
    /// A record with this key (or this unique value, such as a PAN) exists already.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What: `account`, `merchant`, `terminal`, `order`…
        what: &'static str,
    },
    /// An input outside its domain; nothing was written.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was checked.
        what: &'static str,
        /// What is wrong with it (never the value).
        why: &'static str,
    },
    /// The counter is not above the last one accepted from this terminal; nothing changed.
    #[error("stale counter {counter} (last accepted: {last:?})")]
    StaleCounter {
        /// The counter offered.
        counter: u64,
        /// The last one accepted.
        last: Option<u64>,
    },
    /// A revoked terminal stays revoked.
    #[error("the terminal is revoked")]
    TerminalRevoked,
    /// The refund was refused; nothing was booked.
    #[error("refund refused: {0}")]
    Refund(RefundRefusal),
    /// The store was closed while the payment waited.
    #[error("the store is closed")]
    Closed,
    /// The commit a payment shared with others failed: it did not happen, and a retry of
    /// the same request is safe.
    #[error("the commit this payment shared with others failed, so it did not happen: {0}")]
    GroupCommit(String),
    /// The caller's response builder failed; the payment was not recorded.
    #[error("building the response failed: {0}")]
    Response(#[source] BoxError),
    /// A stored value does not parse (a currency or status this code does not know).
    #[error("stored data is invalid: {0}")]
    Corrupt(&'static str),
    /// An amount would leave the signed 64-bit range of the ledger's columns.
    #[error("amount out of range")]
    Overflow,
    /// The audit key refused to sign a checkpoint; nothing was recorded.
    #[error("signing the audit checkpoint failed: {0}")]
    AuditSign(#[source] wearpay_crypto::Error),
    /// The audit checkpoint file could not be read or written.
    #[error("audit checkpoint file {}: {source}", path.display())]
    AuditFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying the whole operation may succeed: a PostgreSQL serialization
    /// failure or deadlock, a lock or connection-pool timeout, a busy SQLite file.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::PoolTimedOut) => true,
            // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available;
            // SQLite (extended codes): BUSY and LOCKED and their variants.
            Error::Database(sqlx::Error::Database(e)) => matches!(
                e.code().as_deref(),
                Some("40001" | "40P01" | "55P03" | "5" | "261" | "517" | "773" | "6" | "262")
            ),
            _ => false,
        }
    }

    /// Whether the database refused a duplicate key.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    pub(crate) const fn invalid(what: &'static str, why: &'static str) -> Self {
        Error::Invalid { what, why }
    }
}
