//! The wearpay processing center's storage: a double-entry ledger, the order book, the
//! terminal registry, and the daily-limit and PIN try counters, on SQLite (a file in the
//! data directory, the embedded default) or PostgreSQL, behind one API, [`Store`].
//!
//! The center must never create, lose or double-move money, whatever the phone in the
//! middle does. The store's part of that promise:
//!
//! - **Exactly once.** A payment request is keyed by the band's `tx_id`. The first call
//!   claims it and decides; every later call with the same bytes from the same terminal
//!   gets the stored decision and response, byte for byte, and different bytes are a
//!   `duplicate_conflict`. Concurrent retries wait for the first decision.
//! - **One transaction per change**, with conditional updates: the payer is debited only
//!   `WHERE balance >= amount - overdraft_limit`, an order is paid only `WHERE status =
//!   'open'`, a daily counter grows only `WHERE spent <= limit - amount`, a counter
//!   advances only `WHERE last_counter < counter`. On PostgreSQL their row locks serialize
//!   concurrent writers; on SQLite one writer connection runs `BEGIN IMMEDIATE`
//!   transactions. Parallel payments cannot overdraw, and a unique index allows one
//!   approved payment per order.
//! - **Double entry.** Every movement of money is one ledger transaction whose postings
//!   sum to zero; balances are kept in step, and [`Store::ledger_check`] proves it.
//! - **Declines change nothing** but the record of the decline (and the consumed counter).
//! - **Audited.** Every payment decision and every administrative change appends an entry
//!   to an SM3 hash chain in the same transaction, whose head is signed from time to time;
//!   [`Store::audit_verify`] finds any entry changed, put in or taken out (see [`audit`]).
//! - **No clock.** Every operation that depends on the time takes `now`; days are counted
//!   in the configured time zone ([`StoreConfig::time_zone`], Asia/Shanghai by default).
//!
//! Money is `i64` minor units with an ISO 4217 code everywhere; there is no floating point.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn core::error::Error>> {
//! use wearpay_center::{Location, NewAccount, Store, StoreConfig};
//! use wearpay_pay::{Currency, Money, Timestamp};
//!
//! let store = Store::open(&Location::parse("/var/lib/wearpay"), StoreConfig::default()).await?;
//! let now = Timestamp(1_750_000_000);
//! let alice = store.create_account(NewAccount::customer("Alice", Currency::CNY), now).await?;
//! store.deposit(alice.id, Money::parse("500.00 CNY")?, now).await?;
//! assert!(store.ledger_check().await?.ok);
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod authorize;
pub mod channel;
mod db;
mod error;
mod group_commit;
pub mod http;
pub mod keystore;
mod ledger;
pub mod metrics;
pub mod node;
mod payment;
mod refund;
pub mod renewal;
pub mod sessions;
mod store;
mod types;
pub mod webhook;

/// SM3 over the concatenation of `parts`, through the ShangMi provider the center runs on
/// (audit chain, token and request digests, key ids).
pub(crate) fn sm3(parts: &[&[u8]]) -> [u8; 32] {
    let digest = wearpay_shangmi::PROVIDER.sm3.start().finish_with(parts);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

pub use audit::{
    AuditActor, AuditCheckpoint, AuditCheckpointer, AuditEntry, AuditFinding, AuditKind, AuditReport, AuditStatus,
    CheckpointSource,
};
pub use chrono_tz::Tz;
pub use error::{BoxError, Error};
pub use ledger::{Deposit, HistoryItem, HistoryKind, LedgerReport, MAX_HISTORY_PAGE};
pub use payment::{Decision, PaymentLimits, PaymentRecord, PaymentResult, Recorded, StoredTx, day_key};
pub use refund::{Refund, RefundRefusal};
pub use store::{Backend, Location, SQLITE_FILE, Store, StoreConfig};
pub use types::{
    Account, AccountId, AccountKind, LedgerTxId, Merchant, NewAccount, NewMerchant, NewOrder, NewTerminal, OrderStatus,
    PinState, RefundId, StoredOrder, Terminal, TerminalStatus,
};
pub use webhook::{
    WebhookDispatcher, WebhookEvent, WebhookKind, WebhookRejected, WebhookSecret, WebhookSettings, WebhookState,
    verify_webhook,
};
