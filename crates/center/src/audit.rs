//! The audit trail: every authorization decision and every administrative action, in an
//! append-only log whose entries are chained by SM3, with the chain's head signed from time
//! to time (a *checkpoint*) by the key store's [`KeyPurpose::AuditSign`] key.
//!
//! # The chain
//!
//! Entries are numbered `seq` = 1, 2, 3… without gaps. Entry `seq` stores the hash of the
//! one before it and its own:
//!
//! ```text
//! hash(seq) = SM3( "wearpay audit v1"                16 bytes
//!                ‖ prev_hash                         32 bytes: hash(seq - 1), or 32 zero bytes for seq 1
//!                ‖ seq                               u64, big-endian
//!                ‖ at                                u64, big-endian (Unix seconds)
//!                ‖ len(kind)    ‖ kind               each text: its length in bytes as a
//!                ‖ len(actor)   ‖ actor              u32, big-endian, then its UTF-8
//!                ‖ len(subject) ‖ subject
//!                ‖ len(details) ‖ details )
//! ```
//!
//! Every variable field carries its length, so two different entries never hash the same
//! bytes. `kind` is an [`AuditKind`] (`payment_approved`, `payment_declined:limit_daily`,
//! `terminal_revoked`…), `actor` an [`AuditActor`] (`terminal:<serial hex>`, `admin`,
//! `merchant:<id>`, `system`), `subject` what the entry is about (`payment:<tx_id hex>`,
//! `account:<id>`, `terminal:<serial hex>`, `order:<id>`, `merchant:<id>`, `refund:<id>`,
//! `activation_code:<id>`),
//! and `details` a canonical JSON object: keys sorted, no white space, integers and strings
//! only, strings escaped as RFC 8785 does.
//!
//! # Appending
//!
//! An entry is appended inside the database transaction of the change it records, so it
//! exists if and only if the change committed. The append is the transaction's last
//! statement: it first updates the one-row `audit_head` table (`seq = seq + 1 … RETURNING`),
//! whose row lock on PostgreSQL (and the single `BEGIN IMMEDIATE` writer on SQLite) is held
//! until the commit, so concurrent writers take their turn and the chain stays one line.
//! Taking that lock last keeps the lock order of the ledger (system, customer, merchant
//! accounts, then the head) and holds the head only for the append and the commit.
//!
//! # Checkpoints
//!
//! [`Store::audit_checkpoint`] signs the current head:
//!
//! ```text
//! signature = Sign( "wearpay audit checkpoint v1" ‖ seq (u64, big-endian) ‖ hash(seq) )
//! ```
//!
//! records it in `audit_checkpoints` and appends it, as one line, to a checkpoint file kept
//! apart from the database:
//!
//! ```text
//! wearpay-audit-checkpoint-v1 <seq> <at> <head hex> <algorithm> <key id hex> <signature hex>
//! ```
//!
//! `algorithm` is `sm2-sm3`, `rsa-pkcs1-sha256` or `rsa-pkcs1-sm3`; the key id is the hex
//! SM3 of the key's SubjectPublicKeyInfo DER. The database row is committed before the line
//! is written, so every line names entries that exist. [`AuditCheckpointer`] checkpoints
//! after every N entries (default [`DEFAULT_CHECKPOINT_EVERY`]) and at shutdown.
//!
//! # Verification
//!
//! [`Store::audit_verify`] recomputes the chain from entry 1 and checks every checkpoint, in
//! the database and in the file, against it. Editing an entry breaks its hash; removing or
//! inserting one breaks the numbering or the links; rewriting the chain from some point on
//! breaks the signed checkpoints after it; cutting the tail (with its checkpoints in the
//! database) leaves a checkpoint in the file naming entries that are gone. What no one can
//! detect is the loss of entries after the last checkpoint anyone kept: the report counts
//! them as *unsealed*.
//!
//! [`KeyPurpose::AuditSign`]: crate::keystore::KeyPurpose::AuditSign
extern crate alloc;

use alloc::{collections::BTreeMap, string::String, sync::Arc, vec::Vec};
use core::{fmt, future::Future, time::Duration};
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use wearpay_crypto::{CryptoProvider, PublicKey, SignatureScheme, SigningKey};
use wearpay_pay::{Counter, MerchantId, Money, Outcome, ReasonCode, TerminalSerial, Timestamp};

use crate::{
    Account, AccountId, Decision, Deposit, Error, LedgerTxId, Merchant, Refund, Store, StoredOrder, Terminal,
    TerminalStatus,
    db::{Row, Tx, args},
    store::{serial, to_ts, ts},
};

/// What every entry hash starts with.
pub const ENTRY_CONTEXT: &[u8; 16] = b"wearpay audit v1";

/// What every checkpoint signature covers first.
pub const CHECKPOINT_CONTEXT: &[u8; 27] = b"wearpay audit checkpoint v1";

/// The first word of each line of a checkpoint file.
pub const CHECKPOINT_LINE_TAG: &str = "wearpay-audit-checkpoint-v1";

/// How many entries [`AuditCheckpointer`] lets pass between checkpoints by default.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// The `prev_hash` of entry 1.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Entries read per query while verifying.
const VERIFY_PAGE: i64 = 4096;

/// Findings kept in a report; later ones are only counted.
const MAX_FINDINGS: usize = 1000;

// ---- entries ----------------------------------------------------------------------------

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// A payment approved and booked.
    PaymentApproved,
    /// A payment request declined, with the reason the terminal was given.
    PaymentDeclined(ReasonCode),
    /// A refund booked.
    Refund,
    /// A deposit booked.
    Deposit,
    /// An account opened.
    AccountCreated,
    /// A merchant registered.
    MerchantCreated,
    /// An order opened.
    OrderCreated,
    /// Open orders past their time marked expired.
    OrdersExpired,
    /// A terminal enrolled.
    TerminalEnrolled,
    /// A terminal suspended.
    TerminalSuspended,
    /// A terminal revoked.
    TerminalRevoked,
    /// A suspended terminal made active again.
    TerminalReactivated,
    /// An administrator unlocked PIN mode of an account.
    PinUnlocked,
    /// Too many wrong PINs in a row locked PIN mode of an account.
    PinLocked,
    /// An administrator made an activation code for an account.
    ActivationCodeCreated,
    /// A band enrolled with an activation code, which is now spent.
    ActivationCodeUsed,
    /// An enrollment with an existing activation code was refused.
    ActivationCodeRefused,
    /// An administrator set a merchant's webhook endpoint (and a new secret).
    WebhookConfigured,
    /// A band asked for a new certificate for its key, and the center issued one.
    TerminalRenewalIssued,
    /// A band used its new certificate: it took over the terminal, whose old certificate
    /// is revoked as superseded.
    TerminalRenewed,
    /// An operator rotated the center's channel keys and renewed its certificates.
    KeysRotated,
}

impl AuditKind {
    const SIMPLE: [(AuditKind, &'static str); 20] = [
        (Self::PaymentApproved, "payment_approved"),
        (Self::Refund, "refund"),
        (Self::Deposit, "deposit"),
        (Self::AccountCreated, "account_created"),
        (Self::MerchantCreated, "merchant_created"),
        (Self::OrderCreated, "order_created"),
        (Self::OrdersExpired, "orders_expired"),
        (Self::TerminalEnrolled, "terminal_enrolled"),
        (Self::TerminalSuspended, "terminal_suspended"),
        (Self::TerminalRevoked, "terminal_revoked"),
        (Self::TerminalReactivated, "terminal_reactivated"),
        (Self::PinUnlocked, "pin_unlocked"),
        (Self::PinLocked, "pin_locked"),
        (Self::ActivationCodeCreated, "activation_code_created"),
        (Self::ActivationCodeUsed, "activation_code_used"),
        (Self::ActivationCodeRefused, "activation_code_refused"),
        (Self::WebhookConfigured, "webhook_configured"),
        (Self::TerminalRenewalIssued, "terminal_renewal_issued"),
        (Self::TerminalRenewed, "terminal_renewed"),
        (Self::KeysRotated, "keys_rotated"),
    ];
    const DECLINED_PREFIX: &'static str = "payment_declined:";

    /// The kind as stored: the [`fmt::Display`] text back to the kind.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(reason) = s.strip_prefix(Self::DECLINED_PREFIX) {
            return ReasonCode::from_name(reason).map(Self::PaymentDeclined);
        }
        Self::SIMPLE.iter().find(|(_, name)| *name == s).map(|(k, _)| *k)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Self::PaymentDeclined(reason) = self {
            return write!(f, "{}{}", Self::DECLINED_PREFIX, reason.name());
        }
        let name = Self::SIMPLE.iter().find(|(k, _)| k == self).map_or("unknown", |(_, n)| n);
        f.write_str(name)
    }
}

/// Who caused an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditActor {
    /// A terminal, by its certificate serial (payments).
    Terminal(TerminalSerial),
    /// The bank's administration (accounts, deposits, refunds, terminals, PIN unlocks).
    Admin,
    /// A merchant (its orders).
    Merchant(MerchantId),
    /// The center itself (PIN locks, order expiry).
    System,
}

impl AuditActor {
    /// The actor as stored: the [`fmt::Display`] text back to the actor.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "system" => Some(Self::System),
            _ => {
                if let Some(hex_text) = s.strip_prefix("terminal:") {
                    // Only the upper-case hex the registry writes, so the text round-trips.
                    let t = serial(hex_text).ok()?;
                    (t.to_string() == hex_text).then_some(Self::Terminal(t))
                } else {
                    s.strip_prefix("merchant:").and_then(|id| MerchantId::new(id).ok()).map(Self::Merchant)
                }
            }
        }
    }
}

impl fmt::Display for AuditActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Terminal(s) => write!(f, "terminal:{s}"),
            Self::Admin => f.write_str("admin"),
            Self::Merchant(id) => write!(f, "merchant:{}", id.as_str()),
            Self::System => f.write_str("system"),
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its number: 1, 2, 3…
    pub seq: u64,
    /// When (the `now` of the operation).
    pub at: Timestamp,
    /// What it records.
    pub kind: AuditKind,
    /// Who caused it.
    pub actor: AuditActor,
    /// What it is about: `payment:<tx_id hex>`, `account:<id>`, `terminal:<serial hex>`…
    pub subject: String,
    /// The particulars, as canonical JSON.
    pub details: String,
    /// The hash of the entry before (zeros for the first).
    pub prev_hash: [u8; 32],
    /// Its hash, as stored.
    pub hash: [u8; 32],
}

impl AuditEntry {
    /// The hash its fields and `prev_hash` should have (see the module's documentation).
    pub fn computed_hash(&self) -> [u8; 32] {
        entry_hash(
            &self.prev_hash,
            self.seq,
            self.at.0,
            &self.kind.to_string(),
            &self.actor.to_string(),
            &self.subject,
            &self.details,
        )
    }
}

/// The chaining rule (see the module's documentation).
pub fn entry_hash(
    prev_hash: &[u8; 32],
    seq: u64,
    at: u64,
    kind: &str,
    actor: &str,
    subject: &str,
    details: &str,
) -> [u8; 32] {
    let mut h = wearpay_shangmi::PROVIDER.sm3.start();
    h.update(ENTRY_CONTEXT);
    h.update(prev_hash);
    h.update(&seq.to_be_bytes());
    h.update(&at.to_be_bytes());
    for field in [kind, actor, subject, details] {
        // Texts in the log are far below 4 GiB; saturating keeps this total anyway.
        h.update(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(field.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

/// The message a checkpoint signs.
pub fn checkpoint_message(seq: u64, head: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_CONTEXT.len() + 8 + 32);
    m.extend_from_slice(CHECKPOINT_CONTEXT);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head);
    m
}

/// An entry's particulars, written as canonical JSON: keys sorted, no white space.
#[derive(Debug, Clone, Default)]
pub(crate) struct Details(BTreeMap<&'static str, Value>);

#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    Text(String),
}

impl Details {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn int(mut self, key: &'static str, v: i64) -> Self {
        self.0.insert(key, Value::Int(v));
        self
    }

    /// Left out when `None`.
    pub(crate) fn opt_int(self, key: &'static str, v: Option<i64>) -> Self {
        match v {
            Some(v) => self.int(key, v),
            None => self,
        }
    }

    pub(crate) fn text(mut self, key: &'static str, v: impl Into<String>) -> Self {
        self.0.insert(key, Value::Text(v.into()));
        self
    }

    fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, k);
            out.push(':');
            match v {
                Value::Int(n) => out.push_str(&n.to_string()),
                Value::Text(s) => json_string(&mut out, s),
            }
        }
        out.push('}');
        out
    }
}

/// A JSON string as RFC 8785 writes it: only `"`, `\` and control characters escaped.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&alloc::format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An entry to append, before its `seq`, time and hashes are known.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    kind: AuditKind,
    actor: AuditActor,
    subject: String,
    details: Details,
}

impl Event {
    fn new(kind: AuditKind, actor: AuditActor, subject: String, details: Details) -> Self {
        Self { kind, actor, subject, details }
    }

    /// A payment decision (approved or declined), by the paying terminal.
    pub(crate) fn payment(d: &Decision<'_>, counter: Counter, request_hash: &[u8; 32], booked: Booked) -> Self {
        let kind = match d.outcome {
            Outcome::Approved => AuditKind::PaymentApproved,
            Outcome::Declined(reason) => AuditKind::PaymentDeclined(reason),
        };
        let details = Details::new()
            .text("order_id", d.order_id.as_str())
            .int("amount", d.money.amount.minor_i64())
            .text("currency", d.money.currency.code())
            .text("mode", d.mode.name())
            .text("counter", counter.0.to_string())
            .text("request_sm3", hex::encode(request_hash))
            .int("payer", booked.payer.0)
            .opt_int("merchant", booked.merchant.map(|m| m.0))
            .opt_int("ledger_tx", booked.ledger_tx.map(|l| l.0))
            .opt_int("balance_after", d.balance_after.map(|b| b.minor));
        Self::new(kind, AuditActor::Terminal(d.terminal.clone()), alloc::format!("payment:{}", d.tx_id), details)
    }

    /// A refund booked.
    pub(crate) fn refund(r: &Refund) -> Self {
        let details = Details::new()
            .text("tx_id", r.tx_id.to_string())
            .int("amount", r.money.amount.minor_i64())
            .text("currency", r.money.currency.code())
            .int("refunded_total", r.refunded_total.minor_i64())
            .int("merchant", r.merchant.0)
            .int("payer", r.payer.0)
            .int("ledger_tx", r.ledger_tx.0);
        Self::new(AuditKind::Refund, AuditActor::Admin, alloc::format!("refund:{}", r.refund_id.as_str()), details)
    }

    /// A deposit booked.
    pub(crate) fn deposit(account: AccountId, money: Money, d: &Deposit) -> Self {
        let details = Details::new()
            .int("amount", money.amount.minor_i64())
            .text("currency", money.currency.code())
            .int("funding_account", d.funding_account.0)
            .int("ledger_tx", d.ledger_tx.0)
            .int("balance_after", d.balance.minor);
        Self::new(AuditKind::Deposit, AuditActor::Admin, alloc::format!("account:{}", account.0), details)
    }

    /// An account opened. (Its PAN is not logged.)
    pub(crate) fn account_created(a: &Account) -> Self {
        let details = Details::new()
            .text("name", a.name.as_str())
            .text("kind", a.kind.as_str())
            .text("currency", a.balance.currency.code())
            .int("overdraft_limit", a.overdraft_limit.minor_i64())
            .int("has_pan", i64::from(a.pan.is_some()));
        Self::new(AuditKind::AccountCreated, AuditActor::Admin, alloc::format!("account:{}", a.id.0), details)
    }

    /// A merchant registered.
    pub(crate) fn merchant_created(m: &Merchant) -> Self {
        let details = Details::new().text("name", m.name.as_str()).int("account", m.account.0);
        Self::new(AuditKind::MerchantCreated, AuditActor::Admin, alloc::format!("merchant:{}", m.id.as_str()), details)
    }

    /// An order opened, by its merchant.
    pub(crate) fn order_created(o: &StoredOrder) -> Self {
        let details = Details::new()
            .int("amount", o.order.amount.minor_i64())
            .text("currency", o.order.currency.code())
            .int("expires_at", i64::try_from(o.order.expires_at.0).unwrap_or(i64::MAX))
            .int("merchant_account", o.merchant_account.0);
        let actor = AuditActor::Merchant(o.order.merchant_id.clone());
        Self::new(AuditKind::OrderCreated, actor, alloc::format!("order:{}", o.order.order_id.as_str()), details)
    }

    /// Open orders expired by the center.
    pub(crate) fn orders_expired(count: u64) -> Self {
        let details = Details::new().int("count", i64::try_from(count).unwrap_or(i64::MAX));
        Self::new(AuditKind::OrdersExpired, AuditActor::System, String::from("orders"), details)
    }

    /// A terminal enrolled.
    pub(crate) fn terminal_enrolled(t: &Terminal) -> Self {
        let details = Details::new()
            .int("account", t.account.0)
            .text("certificate_sm3", hex::encode(crate::sm3(&[&t.certificate])));
        Self::new(AuditKind::TerminalEnrolled, AuditActor::Admin, alloc::format!("terminal:{}", t.serial), details)
    }

    /// A terminal's status changed from `from` to `t.status`.
    pub(crate) fn terminal_status(t: &Terminal, from: TerminalStatus) -> Self {
        let kind = match t.status {
            TerminalStatus::Active => AuditKind::TerminalReactivated,
            TerminalStatus::Suspended => AuditKind::TerminalSuspended,
            TerminalStatus::Revoked => AuditKind::TerminalRevoked,
        };
        let details = Details::new().text("from", from.as_str()).text("to", t.status.as_str());
        Self::new(kind, AuditActor::Admin, alloc::format!("terminal:{}", t.serial), details)
    }

    /// A new certificate (serial `new`, valid until `not_after`) issued to the band of
    /// terminal `current` for the same key, at its request over the channel.
    pub(crate) fn terminal_renewal_issued(current: &TerminalSerial, new: &TerminalSerial, not_after: u64) -> Self {
        let details =
            Details::new().text("new", new.to_string()).int("not_after", i64::try_from(not_after).unwrap_or(i64::MAX));
        let subject = alloc::format!("terminal:{current}");
        Self::new(AuditKind::TerminalRenewalIssued, AuditActor::Terminal(current.clone()), subject, details)
    }

    /// The band's first handshake with certificate `new` moved terminal `old` to it.
    pub(crate) fn terminal_renewed(old: &TerminalSerial, new: &TerminalSerial) -> Self {
        let details = Details::new().text("replaces", old.to_string());
        Self::new(
            AuditKind::TerminalRenewed,
            AuditActor::Terminal(new.clone()),
            alloc::format!("terminal:{new}"),
            details,
        )
    }

    /// The center's certificates replaced by `wearpay center rotate`: for each, its file
    /// name and new serial.
    pub(crate) fn keys_rotated(certificates: &[(&'static str, String)]) -> Self {
        let details = certificates.iter().fold(Details::new(), |d, (name, serial)| d.text(name, serial.clone()));
        Self::new(AuditKind::KeysRotated, AuditActor::Admin, alloc::string::String::from("center:keys"), details)
    }

    /// An administrator's PIN unlock.
    pub(crate) fn pin_unlocked(account: AccountId) -> Self {
        Self::new(AuditKind::PinUnlocked, AuditActor::Admin, alloc::format!("account:{}", account.0), Details::new())
    }

    /// A merchant's webhook endpoint set, with a new secret (which is not recorded).
    pub(crate) fn webhook_configured(merchant: &MerchantId, url: &str) -> Self {
        let details = Details::new().text("url", url);
        let subject = alloc::format!("merchant:{}", merchant.as_str());
        Self::new(AuditKind::WebhookConfigured, AuditActor::Admin, subject, details)
    }

    /// PIN mode locked after `failures` wrong PINs in a row.
    pub(crate) fn pin_locked(account: AccountId, failures: u32) -> Self {
        let details = Details::new().int("failures", i64::from(failures));
        Self::new(AuditKind::PinLocked, AuditActor::System, alloc::format!("account:{}", account.0), details)
    }

    /// An activation code made for `account`, usable until `expires_at`. Its secret is not
    /// recorded; its id (which alone enrolls nothing) is the subject.
    pub(crate) fn activation_code_created(id: &str, account: AccountId, expires_at: Timestamp) -> Self {
        let details =
            Details::new().int("account", account.0).int("expires_at", i64::try_from(expires_at.0).unwrap_or(i64::MAX));
        let subject = alloc::format!("activation_code:{id}");
        Self::new(AuditKind::ActivationCodeCreated, AuditActor::Admin, subject, details)
    }

    /// An activation code spent on enrolling the terminal `serial` to `account`, by that
    /// terminal.
    pub(crate) fn activation_code_used(id: &str, account: AccountId, serial: &TerminalSerial) -> Self {
        let details = Details::new().int("account", account.0).text("terminal", serial.to_string());
        let subject = alloc::format!("activation_code:{id}");
        Self::new(AuditKind::ActivationCodeUsed, AuditActor::Terminal(serial.clone()), subject, details)
    }

    /// An enrollment with the activation code `id` of `account` refused by the center:
    /// `reason` is `wrong_proof`, `used` or `expired`.
    pub(crate) fn activation_code_refused(id: &str, account: AccountId, reason: &'static str) -> Self {
        let details = Details::new().int("account", account.0).text("reason", reason);
        let subject = alloc::format!("activation_code:{id}");
        Self::new(AuditKind::ActivationCodeRefused, AuditActor::System, subject, details)
    }
}

/// What a payment booked, for its entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Booked {
    pub(crate) payer: AccountId,
    pub(crate) merchant: Option<AccountId>,
    pub(crate) ledger_tx: Option<LedgerTxId>,
}

/// Appends `event` at `at` in `tx`, which must commit right after: the head stays locked
/// until then. Returns the entry's `seq`.
pub(crate) async fn append(tx: &mut Tx, at: Timestamp, event: Event) -> Result<u64, Error> {
    let at_i = ts(at)?;
    let Event { kind, actor, subject, details } = event;
    let (kind, actor, details) = (kind.to_string(), actor.to_string(), details.to_json());
    let head = tx.one("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash", args![]).await?;
    let seq_i: i64 = head.get(0)?;
    let seq = u64::try_from(seq_i).map_err(|_| Error::Corrupt("audit head"))?;
    let prev = hash32(&head.get::<Vec<u8>>(1)?, "audit head hash")?;
    let hash = entry_hash(&prev, seq, at.0, &kind, &actor, &subject, &details);
    tx.execute(
        "INSERT INTO audit_log (seq, at, kind, actor, subject, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![seq_i, at_i, kind, actor, subject, details, prev.to_vec(), hash.to_vec()],
    )
    .await?;
    tx.execute("UPDATE audit_head SET hash = $1 WHERE id = 1", args![hash.to_vec()]).await?;
    Ok(seq)
}

fn hash32(b: &[u8], what: &'static str) -> Result<[u8; 32], Error> {
    <[u8; 32]>::try_from(b).map_err(|_| Error::Corrupt(what))
}

// ---- checkpoints ------------------------------------------------------------------------

/// A signed head of the chain: entries 1 to `seq` hash to `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// The last entry covered.
    pub seq: u64,
    /// Its hash.
    pub head: [u8; 32],
    /// The signature over [`checkpoint_message`].
    pub signature: Vec<u8>,
    /// Hex SM3 of the signing key's SubjectPublicKeyInfo DER.
    pub key_id: String,
    /// `sm2-sm3`, `rsa-pkcs1-sha256` or `rsa-pkcs1-sm3`.
    pub algorithm: String,
    /// When it was made.
    pub at: Timestamp,
}

impl AuditCheckpoint {
    /// Its line in a checkpoint file (without the newline).
    pub fn to_line(&self) -> String {
        alloc::format!(
            "{CHECKPOINT_LINE_TAG} {} {} {} {} {} {}",
            self.seq,
            self.at.0,
            hex::encode(self.head),
            self.algorithm,
            self.key_id,
            hex::encode(&self.signature)
        )
    }

    /// Reads a line of a checkpoint file; `None` if it is not one.
    pub fn parse_line(line: &str) -> Option<Self> {
        let mut words = line.split(' ');
        if words.next()? != CHECKPOINT_LINE_TAG {
            return None;
        }
        let seq = decimal(words.next()?)?;
        let at = Timestamp(decimal(words.next()?)?);
        let head = <[u8; 32]>::try_from(hex::decode(words.next()?).ok()?).ok()?;
        let algorithm = words.next()?;
        scheme_from_name(algorithm)?;
        let key_id = words.next()?;
        if key_id.len() != 64 || !key_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let signature = hex::decode(words.next()?).ok().filter(|s| !s.is_empty())?;
        if words.next().is_some() || seq == 0 {
            return None;
        }
        Some(Self { seq, head, signature, key_id: key_id.into(), algorithm: algorithm.into(), at })
    }
}

/// A decimal `u64` without sign or leading zeros.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn scheme_name(s: SignatureScheme) -> Option<&'static str> {
    match s {
        SignatureScheme::Sm2Sm3 => Some("sm2-sm3"),
        SignatureScheme::RsaPkcs1Sha256 => Some("rsa-pkcs1-sha256"),
        SignatureScheme::RsaPkcs1Sm3 => Some("rsa-pkcs1-sm3"),
        _ => None,
    }
}

fn scheme_from_name(s: &str) -> Option<SignatureScheme> {
    match s {
        "sm2-sm3" => Some(SignatureScheme::Sm2Sm3),
        "rsa-pkcs1-sha256" => Some(SignatureScheme::RsaPkcs1Sha256),
        "rsa-pkcs1-sm3" => Some(SignatureScheme::RsaPkcs1Sm3),
        _ => None,
    }
}

/// The key id of a checkpoint key: hex SM3 of its SubjectPublicKeyInfo DER.
pub fn audit_key_id(key: &PublicKey) -> Result<String, Error> {
    let spki = wearpay_pki::keys::public_key_to_spki(key)
        .map_err(|_| Error::invalid("audit signing key", "has no SubjectPublicKeyInfo encoding"))?;
    Ok(hex::encode(crate::sm3(&[&spki])))
}

/// Where the chain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditStatus {
    /// The last entry (0 before the first).
    pub head_seq: u64,
    /// Its hash (zeros before the first).
    pub head_hash: [u8; 32],
    /// The last entry a checkpoint in the database covers (0 if none).
    pub sealed_seq: u64,
}

impl AuditStatus {
    /// Entries after the last checkpoint.
    pub fn unsealed(&self) -> u64 {
        self.head_seq.saturating_sub(self.sealed_seq)
    }
}

// ---- verification -----------------------------------------------------------------------

/// Where a checkpoint was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointSource {
    /// The `audit_checkpoints` table.
    Database,
    /// The checkpoint file, at this line (from 1).
    File {
        /// The line.
        line: u64,
    },
}

/// Something [`Store::audit_verify`] found wrong. Each names the first `seq` it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditFinding {
    /// The entry's fields (or its stored hash) were changed: they no longer hash to it.
    ModifiedEntry {
        /// The entry.
        seq: u64,
    },
    /// The entry was put in: the next entry's link skips it and names the one before.
    InsertedEntry {
        /// The entry.
        seq: u64,
    },
    /// Entries `seq` to `last` are missing: the numbering jumps over them.
    DeletedEntries {
        /// The first missing entry.
        seq: u64,
        /// The last missing entry.
        last: u64,
    },
    /// The entry's `prev_hash` is not the hash of the entry before it: an entry before it
    /// was removed or replaced and the rest renumbered, or the link itself was edited.
    BrokenLink {
        /// The entry whose link is broken.
        seq: u64,
    },
    /// The log goes on past its recorded head (`audit_head`): entries written behind the
    /// store's back from `seq` on.
    BeyondHead {
        /// The first entry past the head.
        seq: u64,
    },
    /// A checkpoint, or the recorded head, names entries that are not there: the tail from
    /// `seq` on was cut off.
    TailTruncated {
        /// The first missing entry.
        seq: u64,
        /// The entry the checkpoint (or head) covers.
        named: u64,
        /// Where the evidence came from; `None` for the recorded head.
        source: Option<CheckpointSource>,
    },
    /// A checkpoint's head is not the recomputed hash of its entry: the chain up to `seq`
    /// was rewritten.
    CheckpointMismatch {
        /// The checkpoint's entry.
        seq: u64,
        /// Where it was read.
        source: CheckpointSource,
    },
    /// A checkpoint's signature does not verify with the audit key (or it names another key
    /// or algorithm).
    BadCheckpointSignature {
        /// The checkpoint's entry.
        seq: u64,
        /// Where it was read.
        source: CheckpointSource,
    },
    /// A checkpoint in the file is missing from the database (whose checkpoints were
    /// deleted).
    CheckpointMissing {
        /// The checkpoint's entry.
        seq: u64,
    },
    /// A line of the checkpoint file does not parse.
    CheckpointFileCorrupt {
        /// The line (from 1).
        line: u64,
    },
}

impl AuditFinding {
    /// The first entry it concerns (0 for a corrupt file line).
    pub fn seq(&self) -> u64 {
        match *self {
            Self::ModifiedEntry { seq }
            | Self::InsertedEntry { seq }
            | Self::DeletedEntries { seq, .. }
            | Self::BrokenLink { seq }
            | Self::BeyondHead { seq }
            | Self::TailTruncated { seq, .. }
            | Self::CheckpointMismatch { seq, .. }
            | Self::BadCheckpointSignature { seq, .. }
            | Self::CheckpointMissing { seq } => seq,
            Self::CheckpointFileCorrupt { .. } => 0,
        }
    }
}

/// What [`Store::audit_verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditReport {
    /// Whether the log and its checkpoints are intact (no findings).
    pub ok: bool,
    /// Entries read.
    pub entries: u64,
    /// The highest `seq` read (0 for an empty log).
    pub last_seq: u64,
    /// Checkpoints checked (database and file).
    pub checkpoints: u64,
    /// The last entry covered by a checkpoint that verified.
    pub sealed_seq: u64,
    /// Entries after it: not an error, but nothing yet shows that they were not removed.
    pub unsealed: u64,
    /// What is wrong, by `seq` (at most 1000; see `more_findings`).
    pub findings: Vec<AuditFinding>,
    /// Findings beyond those listed.
    pub more_findings: u64,
}

impl AuditReport {
    /// The finding at the lowest `seq`: where the trouble starts.
    pub fn first(&self) -> Option<&AuditFinding> {
        self.findings.first()
    }

    fn add(&mut self, f: AuditFinding) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(f);
        } else {
            self.more_findings += 1;
        }
    }
}

/// One stored entry, as text, before any parsing (a forged one may not parse).
struct RawEntry {
    seq: u64,
    at: u64,
    kind: String,
    actor: String,
    subject: String,
    details: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

fn raw_from(r: &Row) -> Result<RawEntry, Error> {
    Ok(RawEntry {
        seq: u64::try_from(r.get::<i64>(0)?).map_err(|_| Error::Corrupt("audit seq"))?,
        at: u64::try_from(r.get::<i64>(1)?).map_err(|_| Error::Corrupt("audit time"))?,
        kind: r.get(2)?,
        actor: r.get(3)?,
        subject: r.get(4)?,
        details: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

fn checkpoint_from(r: &Row) -> Result<AuditCheckpoint, Error> {
    Ok(AuditCheckpoint {
        seq: u64::try_from(r.get::<i64>(0)?).map_err(|_| Error::Corrupt("checkpoint seq"))?,
        // A mangled head is kept as zeros: it then fails its signature, as it should.
        head: <[u8; 32]>::try_from(r.get::<Vec<u8>>(1)?.as_slice()).unwrap_or([0; 32]),
        signature: r.get(2)?,
        key_id: r.get(3)?,
        algorithm: r.get(4)?,
        at: to_ts(r.get(5)?)?,
    })
}

/// A checkpoint file as read: the checkpoints with their line numbers, and the numbers of
/// the lines that do not parse.
type CheckpointFile = (Vec<(u64, AuditCheckpoint)>, Vec<u64>);

fn read_checkpoint_file(path: &Path) -> Result<CheckpointFile, Error> {
    let text = fs::read(path).map_err(|source| Error::AuditFile { path: path.to_owned(), source })?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let n = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
        if line.is_empty() {
            continue;
        }
        match core::str::from_utf8(line).ok().and_then(AuditCheckpoint::parse_line) {
            Some(cp) => good.push((n, cp)),
            None => bad.push(n),
        }
    }
    Ok((good, bad))
}

fn append_checkpoint_line(path: &Path, cp: &AuditCheckpoint) -> Result<(), Error> {
    let err = |source: io::Error| Error::AuditFile { path: path.to_owned(), source };
    let mut file = fs::OpenOptions::new().create(true).append(true).open(path).map_err(err)?;
    let mut line = cp.to_line();
    line.push('\n');
    io::Write::write_all(&mut file, line.as_bytes()).map_err(err)?;
    file.sync_data().map_err(err)
}

impl Store {
    /// Where the chain stands: its head and the last checkpoint in the database.
    pub async fn audit_status(&self) -> Result<AuditStatus, Error> {
        let row = self
            .db
            .optional(
                "SELECT seq, hash, (SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints) FROM audit_head WHERE id = 1",
                args![],
            )
            .await?
            .ok_or(Error::Corrupt("the audit head is missing"))?;
        let n = |i| row.get::<i64>(i).and_then(|v| u64::try_from(v).map_err(|_| Error::Corrupt("audit head")));
        Ok(AuditStatus {
            head_seq: n(0)?,
            head_hash: hash32(&row.get::<Vec<u8>>(1)?, "audit head hash")?,
            sealed_seq: n(2)?,
        })
    }

    /// Up to `limit` entries (1 to 1000) after `after`, in order.
    pub async fn audit_entries(&self, after: u64, limit: u32) -> Result<Vec<AuditEntry>, Error> {
        if limit == 0 || limit > 1000 {
            return Err(Error::invalid("audit page", "must be 1 to 1000 entries"));
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.db
            .all(
                "SELECT seq, at, kind, actor, subject, details, prev_hash, hash FROM audit_log \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                args![after, i64::from(limit)],
            )
            .await?
            .iter()
            .map(|r| {
                let raw = raw_from(r)?;
                Ok(AuditEntry {
                    seq: raw.seq,
                    at: Timestamp(raw.at),
                    kind: AuditKind::parse(&raw.kind).ok_or(Error::Corrupt("audit kind"))?,
                    actor: AuditActor::parse(&raw.actor).ok_or(Error::Corrupt("audit actor"))?,
                    subject: raw.subject,
                    details: raw.details,
                    prev_hash: hash32(&raw.prev_hash, "audit prev_hash")?,
                    hash: hash32(&raw.hash, "audit hash")?,
                })
            })
            .collect()
    }

    /// The checkpoints in the database, oldest first.
    pub async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, Error> {
        self.db
            .all("SELECT seq, head_hash, signature, key_id, algorithm, at FROM audit_checkpoints ORDER BY seq", args![])
            .await?
            .iter()
            .map(checkpoint_from)
            .collect()
    }

    /// Signs the chain's current head with `signer` (the key store's audit key), records the
    /// checkpoint, and appends it as one line to `file` (created if missing, synced) when
    /// given. `None` when there is nothing new to seal: no entries, or a checkpoint covers
    /// the head already.
    ///
    /// The database row commits before the line is written: a line in the file always names
    /// entries that exist. If the line cannot be written the error is returned and the
    /// checkpoint stays in the database only; the next one's line covers its entries. The signer is called inline (an SM2 signature takes a fraction of
    /// a millisecond; an HSM round trip blocks this task for its duration).
    pub async fn audit_checkpoint(
        &self,
        signer: &dyn SigningKey,
        now: Timestamp,
        file: Option<&Path>,
    ) -> Result<Option<AuditCheckpoint>, Error> {
        let at = ts(now)?;
        let algorithm = scheme_name(signer.scheme())
            .ok_or(Error::invalid("audit signing key", "signs with a scheme that has no checkpoint name"))?;
        let key_id = audit_key_id(&signer.public_key())?;
        let status = self.audit_status().await?;
        if status.head_seq == 0 || status.sealed_seq >= status.head_seq {
            return Ok(None);
        }
        let signature =
            signer.sign(&checkpoint_message(status.head_seq, &status.head_hash)).map_err(Error::AuditSign)?;
        let cp = AuditCheckpoint {
            seq: status.head_seq,
            head: status.head_hash,
            signature,
            key_id,
            algorithm: algorithm.into(),
            at: now,
        };
        let seq = i64::try_from(cp.seq).map_err(|_| Error::Corrupt("audit head"))?;
        let mut tx = self.db.begin_write().await?;
        // Two checkpointers racing: the second finds the row and leaves it.
        let inserted = tx
            .execute(
                "INSERT INTO audit_checkpoints (seq, head_hash, signature, key_id, algorithm, at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq) DO NOTHING",
                args![seq, cp.head.to_vec(), cp.signature.clone(), cp.key_id.clone(), algorithm, at],
            )
            .await?;
        tx.commit().await?;
        if inserted == 0 {
            return Ok(None);
        }
        if let Some(path) = file {
            append_checkpoint_line(path, &cp)?;
        }
        tracing::info!(seq = cp.seq, "audit checkpoint signed");
        Ok(Some(cp))
    }

    /// [`Store::audit_verify_with`] with the portable crypto provider.
    pub async fn audit_verify(&self, key: &PublicKey, checkpoint_file: Option<&Path>) -> Result<AuditReport, Error> {
        self.audit_verify_with(&wearpay_crypto::portable::PROVIDER, key, checkpoint_file).await
    }

    /// Recomputes the chain from its first entry and checks every checkpoint (in the
    /// database, and in `checkpoint_file` when given) against it and against `key`, the
    /// audit key's public half: see [`AuditFinding`] for what it reports. The log is read on
    /// one consistent snapshot, page by page; the file is read first, so that its lines
    /// name only entries already committed.
    ///
    /// An error means the check could not run (the database or the file could not be
    /// read); what it found wrong is in the report.
    pub async fn audit_verify_with(
        &self,
        provider: &CryptoProvider,
        key: &PublicKey,
        checkpoint_file: Option<&Path>,
    ) -> Result<AuditReport, Error> {
        let mut report = AuditReport::default();
        let (file_cps, bad_lines) = match checkpoint_file {
            Some(path) => read_checkpoint_file(path)?,
            None => (Vec::new(), Vec::new()),
        };
        let key_id = audit_key_id(key)?;

        let mut tx = self.db.begin_read().await?;
        let db_cps: Vec<AuditCheckpoint> = tx
            .all("SELECT seq, head_hash, signature, key_id, algorithm, at FROM audit_checkpoints ORDER BY seq", args![])
            .await?
            .iter()
            .map(checkpoint_from)
            .collect::<Result<_, _>>()?;
        let head = tx.optional("SELECT seq, hash FROM audit_head WHERE id = 1", args![]).await?;

        // The recomputed chain's hash at every seq some checkpoint names.
        let wanted: alloc::collections::BTreeSet<u64> =
            db_cps.iter().map(|c| c.seq).chain(file_cps.iter().map(|(_, c)| c.seq)).collect();
        let mut chain_at: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
        let mut chain = GENESIS_HASH;
        // The stored hashes of the last two entries read, for telling an insertion.
        let mut stored_prev: Option<Vec<u8>> = Some(GENESIS_HASH.to_vec());
        let mut stored_prev2: Option<Vec<u8>> = None;
        let mut expected = 1u64;
        let mut last_hash: Option<Vec<u8>> = None;
        loop {
            let after = i64::try_from(expected - 1).unwrap_or(i64::MAX);
            let page = tx
                .all(
                    "SELECT seq, at, kind, actor, subject, details, prev_hash, hash FROM audit_log \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                    args![after, VERIFY_PAGE],
                )
                .await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                let e = raw_from(row)?;
                report.entries += 1;
                if e.seq != expected {
                    report.add(AuditFinding::DeletedEntries { seq: expected, last: e.seq - 1 });
                } else if stored_prev.as_deref() != Some(e.prev_hash.as_slice()) {
                    if e.seq >= 2 && stored_prev2.as_deref() == Some(e.prev_hash.as_slice()) {
                        report.add(AuditFinding::InsertedEntry { seq: e.seq - 1 });
                    } else {
                        report.add(AuditFinding::BrokenLink { seq: e.seq });
                    }
                } else if let Ok(prev) = <[u8; 32]>::try_from(e.prev_hash.as_slice()) {
                    let own = entry_hash(&prev, e.seq, e.at, &e.kind, &e.actor, &e.subject, &e.details);
                    if own.as_slice() != e.hash.as_slice() {
                        report.add(AuditFinding::ModifiedEntry { seq: e.seq });
                    }
                }
                chain = entry_hash(&chain, e.seq, e.at, &e.kind, &e.actor, &e.subject, &e.details);
                if wanted.contains(&e.seq) {
                    chain_at.insert(e.seq, chain);
                }
                stored_prev2 = stored_prev.take();
                stored_prev = Some(e.hash.clone());
                last_hash = Some(e.hash);
                report.last_seq = e.seq;
                expected = e.seq.saturating_add(1);
            }
            if i64::try_from(page.len()).unwrap_or(i64::MAX) < VERIFY_PAGE {
                break;
            }
        }
        tx.rollback().await?;

        // The recorded head must be the last entry.
        if let Some(head) = head {
            let head_seq = u64::try_from(head.get::<i64>(0)?).map_err(|_| Error::Corrupt("audit head"))?;
            let head_hash: Vec<u8> = head.get(1)?;
            if head_seq > report.last_seq {
                let seq = report.last_seq + 1;
                report.add(AuditFinding::TailTruncated { seq, named: head_seq, source: None });
            } else if head_seq < report.last_seq {
                report.add(AuditFinding::BeyondHead { seq: head_seq + 1 });
            } else if head_seq > 0 && last_hash.as_deref() != Some(head_hash.as_slice()) {
                report.add(AuditFinding::ModifiedEntry { seq: head_seq });
            }
        }

        let in_db: alloc::collections::BTreeSet<u64> = db_cps.iter().map(|c| c.seq).collect();
        let checked = db_cps
            .iter()
            .map(|c| (CheckpointSource::Database, c))
            .chain(file_cps.iter().map(|(line, c)| (CheckpointSource::File { line: *line }, c)));
        for (source, cp) in checked {
            report.checkpoints += 1;
            let signed = cp.key_id == key_id
                && scheme_from_name(&cp.algorithm).is_some_and(|s| {
                    provider.verify(key, s, &checkpoint_message(cp.seq, &cp.head), &cp.signature).is_ok()
                });
            if !signed {
                report.add(AuditFinding::BadCheckpointSignature { seq: cp.seq, source });
                continue;
            }
            if matches!(source, CheckpointSource::File { .. }) && !in_db.contains(&cp.seq) {
                report.add(AuditFinding::CheckpointMissing { seq: cp.seq });
            }
            match chain_at.get(&cp.seq) {
                None if cp.seq > report.last_seq => {
                    let seq = report.last_seq + 1;
                    report.add(AuditFinding::TailTruncated { seq, named: cp.seq, source: Some(source) });
                }
                // The entry itself is missing: already reported as deleted.
                None => {}
                Some(h) if *h != cp.head => report.add(AuditFinding::CheckpointMismatch { seq: cp.seq, source }),
                Some(_) => report.sealed_seq = report.sealed_seq.max(cp.seq),
            }
        }
        for line in bad_lines {
            report.add(AuditFinding::CheckpointFileCorrupt { line });
        }
        report.unsealed = report.last_seq.saturating_sub(report.sealed_seq);
        report.findings.sort_by_key(AuditFinding::seq);
        report.findings.dedup();
        report.ok = report.findings.is_empty() && report.more_findings == 0;
        if !report.ok {
            tracing::error!(first = ?report.first(), findings = report.findings.len(), "audit log check failed");
        }
        Ok(report)
    }
}

// ---- the checkpointer -------------------------------------------------------------------

/// Seals the log as the server runs: a checkpoint once at least `every` entries are
/// unsealed (looked at every `poll` interval, default 1 s) and one at shutdown.
#[derive(Debug, Clone)]
pub struct AuditCheckpointer {
    store: Store,
    signer: Arc<dyn SigningKey>,
    file: Option<PathBuf>,
    every: u64,
    poll: Duration,
}

impl AuditCheckpointer {
    /// A checkpointer for `store` signing with `signer` (the key store's
    /// [`KeyPurpose::AuditSign`](crate::keystore::KeyPurpose::AuditSign) key), every
    /// [`DEFAULT_CHECKPOINT_EVERY`] entries, with no file.
    pub fn new(store: Store, signer: Arc<dyn SigningKey>) -> Self {
        Self { store, signer, file: None, every: DEFAULT_CHECKPOINT_EVERY, poll: Duration::from_secs(1) }
    }

    /// Checkpoints once this many entries are unsealed (at least 1).
    #[must_use]
    pub fn every(mut self, entries: u64) -> Self {
        self.every = entries.max(1);
        self
    }

    /// Also appends every checkpoint to this file (keep it off the database's disk).
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// How often [`AuditCheckpointer::run`] looks at the head (at least 10 ms).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll = interval.max(Duration::from_millis(10));
        self
    }

    /// A checkpoint if at least `every` entries are unsealed.
    pub async fn checkpoint_if_due(&self, now: Timestamp) -> Result<Option<AuditCheckpoint>, Error> {
        if self.store.audit_status().await?.unsealed() < self.every {
            return Ok(None);
        }
        self.checkpoint_now(now).await
    }

    /// A checkpoint if any entry is unsealed.
    pub async fn checkpoint_now(&self, now: Timestamp) -> Result<Option<AuditCheckpoint>, Error> {
        self.store.audit_checkpoint(&*self.signer, now, self.file.as_deref()).await
    }

    /// Runs until `shutdown` completes, then seals what is left. `clock` gives the time of
    /// each checkpoint. A failed periodic checkpoint is logged and tried again at the next
    /// look; a failed final one is returned.
    pub async fn run<F, C>(&self, shutdown: F, clock: C) -> Result<(), Error>
    where
        F: Future<Output = ()>,
        C: Fn() -> Timestamp,
    {
        let mut ticks = tokio::time::interval(self.poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticks.tick() => {
                    if let Err(e) = self.checkpoint_if_due(clock()).await {
                        tracing::error!(error = %e, "audit checkpoint failed; trying again");
                    }
                }
            }
        }
        self.checkpoint_now(clock()).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        let mut kinds: Vec<AuditKind> = AuditKind::SIMPLE.iter().map(|(k, _)| *k).collect();
        kinds.extend(ReasonCode::ALL.iter().map(|r| AuditKind::PaymentDeclined(*r)));
        for k in kinds {
            assert_eq!(AuditKind::parse(&k.to_string()), Some(k), "{k}");
        }
        assert_eq!(AuditKind::PaymentDeclined(ReasonCode::LimitDaily).to_string(), "payment_declined:limit_daily");
        assert_eq!(AuditKind::parse("payment_declined:no_such_reason"), None);
        assert_eq!(AuditKind::parse("Deposit"), None);
    }

    #[test]
    fn actors_round_trip() {
        let t = TerminalSerial::new(&[0x5e, 0, 0, 0, 1]).ok();
        let m = MerchantId::new("M-0001").ok();
        for a in [
            t.map(AuditActor::Terminal),
            Some(AuditActor::Admin),
            m.map(AuditActor::Merchant),
            Some(AuditActor::System),
        ] {
            let a = a.expect("valid test ids");
            assert_eq!(AuditActor::parse(&a.to_string()), Some(a.clone()), "{a}");
        }
        assert_eq!(AuditActor::Terminal(TerminalSerial::new(&[0xab, 1]).expect("serial")).to_string(), "terminal:AB01");
        // Lower-case hex would not round-trip to the same text, so it is not an actor.
        assert_eq!(AuditActor::parse("terminal:ab01"), None);
        assert_eq!(AuditActor::parse("root"), None);
    }

    #[test]
    fn details_are_canonical_json() {
        let d = Details::new().text("z", "a\"b\\c\n\u{1}é").int("a", -5).opt_int("m", None).text("b", "");
        assert_eq!(d.to_json(), r#"{"a":-5,"b":"","z":"a\"b\\c\n\u0001é"}"#);
        assert_eq!(Details::new().to_json(), "{}");
    }

    #[test]
    fn fields_are_length_prefixed() {
        // Moving a byte from one field to the next must change the hash.
        let p = GENESIS_HASH;
        assert_ne!(entry_hash(&p, 1, 0, "ab", "c", "", "{}"), entry_hash(&p, 1, 0, "a", "bc", "", "{}"));
        assert_ne!(entry_hash(&p, 1, 0, "a", "", "b", "{}"), entry_hash(&p, 1, 0, "a", "b", "", "{}"));
    }

    #[test]
    fn checkpoint_lines_round_trip_and_reject_junk() {
        let cp = AuditCheckpoint {
            seq: 42,
            head: [7; 32],
            signature: vec![1, 2, 3],
            key_id: "ab".repeat(32),
            algorithm: "sm2-sm3".into(),
            at: Timestamp(1_750_000_000),
        };
        let line = cp.to_line();
        assert_eq!(AuditCheckpoint::parse_line(&line), Some(cp));
        for bad in [
            String::new(),
            line.replace("sm2-sm3", "md5"),
            line.replace(" 42 ", " 042 "),
            line.replace(" 42 ", " 0 "),
            alloc::format!("{line} extra"),
            line.replacen(CHECKPOINT_LINE_TAG, "wearpay-audit-checkpoint-v2", 1),
        ] {
            assert_eq!(AuditCheckpoint::parse_line(&bad), None, "{bad}");
        }
    }
}
