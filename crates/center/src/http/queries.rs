//! What the API reads and writes beyond the store's own operations: activation codes, a
//! merchant's day, and the list of balances. Written once for both backends, like the
//! store's statements (see `db.rs`).
use wearpay_pay::{
    Currency, MerchantId, Mode, OrderId, Outcome, ReasonCode, SignedMoney, TerminalSerial, Timestamp, TxId,
};

use crate::{
    AccountId, AccountKind, Error, RefundId, Store,
    audit::{self, Event},
    db::{Row, args},
    store::{currency, to_ts, ts, tx_id, unique},
};

/// An activation code as stored (its secret sealed by the key store).
#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub(crate) account: AccountId,
    pub(crate) label: String,
    pub(crate) sealed_secret: Vec<u8>,
    pub(crate) expires_at: Timestamp,
    pub(crate) used_at: Option<Timestamp>,
}

/// A new activation code's row.
#[derive(Debug, Clone)]
pub(crate) struct NewCode<'a> {
    pub(crate) id: &'a str,
    pub(crate) account: AccountId,
    pub(crate) label: &'a str,
    pub(crate) sealed_secret: Vec<u8>,
    pub(crate) expires_at: Timestamp,
}

/// What a ledger posting on an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostingKind {
    Payment,
    Refund,
    Deposit,
}

impl PostingKind {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Refund => "refund",
            Self::Deposit => "deposit",
        }
    }
}

/// One posting on an account with what it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Posting {
    pub(crate) kind: PostingKind,
    pub(crate) at: Timestamp,
    pub(crate) amount: SignedMoney,
    pub(crate) tx_id: Option<TxId>,
    pub(crate) order_id: Option<OrderId>,
    pub(crate) mode: Option<Mode>,
    pub(crate) refund_id: Option<RefundId>,
}

/// A payment request decided for a merchant (approved or declined).
#[derive(Debug, Clone)]
pub(crate) struct PaymentLine {
    pub(crate) tx_id: TxId,
    pub(crate) order_id: OrderId,
    pub(crate) amount: i64,
    pub(crate) currency: Currency,
    pub(crate) mode: Mode,
    pub(crate) outcome: Outcome,
    pub(crate) refunded: i64,
    pub(crate) at: Timestamp,
}

/// A refund of one of a merchant's payments.
#[derive(Debug, Clone)]
pub(crate) struct RefundLine {
    pub(crate) refund_id: RefundId,
    pub(crate) tx_id: TxId,
    pub(crate) order_id: OrderId,
    pub(crate) amount: i64,
    pub(crate) currency: Currency,
    pub(crate) at: Timestamp,
}

/// An account's balance, for the list.
#[derive(Debug, Clone)]
pub(crate) struct BalanceLine {
    pub(crate) account: AccountId,
    pub(crate) name: String,
    pub(crate) kind: AccountKind,
    pub(crate) balance: SignedMoney,
}

fn order_id(s: &str) -> Result<OrderId, Error> {
    OrderId::new(s).map_err(|_| Error::Corrupt("order id"))
}

fn mode(code: i64) -> Result<Mode, Error> {
    u64::try_from(code).ok().and_then(Mode::from_code).ok_or(Error::Corrupt("mode"))
}

fn outcome(code: i64) -> Result<Outcome, Error> {
    if code == 0 {
        return Ok(Outcome::Approved);
    }
    u16::try_from(code).ok().and_then(ReasonCode::from_code).map(Outcome::Declined).ok_or(Error::Corrupt("outcome"))
}

fn code_from(r: &Row) -> Result<CodeRecord, Error> {
    Ok(CodeRecord {
        account: AccountId(r.get(0)?),
        label: r.get(1)?,
        sealed_secret: r.get(2)?,
        expires_at: to_ts(r.get(3)?)?,
        used_at: r.get::<Option<i64>>(4)?.map(to_ts).transpose()?,
    })
}

impl Store {
    pub(crate) async fn insert_activation_code(&self, new: NewCode<'_>, now: Timestamp) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "INSERT INTO activation_codes (id, account_id, label, sealed_secret, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![new.id, new.account.0, new.label, new.sealed_secret, ts(now)?, ts(new.expires_at)?],
        )
        .await
        .map_err(|e| unique(e, "activation code"))?;
        audit::append(&mut tx, now, Event::activation_code_created(new.id, new.account, new.expires_at)).await?;
        tx.commit().await
    }

    pub(crate) async fn activation_code(&self, id: &str) -> Result<Option<CodeRecord>, Error> {
        self.db
            .optional(
                "SELECT account_id, label, sealed_secret, expires_at, used_at FROM activation_codes WHERE id = $1",
                args![id],
            )
            .await?
            .map(|r| code_from(&r))
            .transpose()
    }

    /// Marks the code used at `now` if it is unused and unexpired: whether this call got it.
    /// Of two concurrent calls, one gets it.
    pub(crate) async fn claim_activation_code(&self, id: &str, now: Timestamp) -> Result<bool, Error> {
        let now = ts(now)?;
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute(
                "UPDATE activation_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1",
                args![now, id],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Gives back a code claimed at `claimed_at` whose enrollment then failed.
    pub(crate) async fn release_activation_code(&self, id: &str, claimed_at: Timestamp) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "UPDATE activation_codes SET used_at = NULL \
             WHERE id = $1 AND used_at = $2 AND terminal_serial IS NULL",
            args![id, ts(claimed_at)?],
        )
        .await?;
        tx.commit().await
    }

    /// Records which terminal a used code enrolled to `account`, and that the code is spent.
    pub(crate) async fn bind_activation_code(
        &self,
        id: &str,
        account: AccountId,
        serial: &TerminalSerial,
        now: Timestamp,
    ) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        tx.execute("UPDATE activation_codes SET terminal_serial = $1 WHERE id = $2", args![serial.to_string(), id])
            .await?;
        audit::append(&mut tx, now, Event::activation_code_used(id, account, serial)).await?;
        tx.commit().await
    }

    /// Records a refused enrollment with the code `id` of `account` (see
    /// [`Event::activation_code_refused`] for `reason`).
    pub(crate) async fn record_activation_refusal(
        &self,
        id: &str,
        account: AccountId,
        reason: &'static str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        audit::append(&mut tx, now, Event::activation_code_refused(id, account, reason)).await?;
        tx.commit().await
    }

    /// The postings on `account` whose ledger transactions fall in `[from, to)`, in order,
    /// read on one snapshot.
    pub(crate) async fn postings_between(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Posting>, Error> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .all(
                "SELECT l.kind, l.created_at, p.amount, p.currency, l.tx_id, pay.order_id, pay.mode, r.refund_id \
                 FROM postings p JOIN ledger_txs l ON l.id = p.ledger_tx_id \
                 LEFT JOIN payments pay ON pay.tx_id = l.tx_id LEFT JOIN refunds r ON r.ledger_tx_id = l.id \
                 WHERE p.account_id = $1 AND l.created_at >= $2 AND l.created_at < $3 ORDER BY p.id",
                args![account.0, ts(from)?, ts(to)?],
            )
            .await?;
        tx.rollback().await?;
        rows.iter()
            .map(|r| {
                let kind = match r.get::<String>(0)?.as_str() {
                    "payment" => PostingKind::Payment,
                    "refund" => PostingKind::Refund,
                    "deposit" => PostingKind::Deposit,
                    _ => return Err(Error::Corrupt("ledger transaction kind")),
                };
                Ok(Posting {
                    kind,
                    at: to_ts(r.get(1)?)?,
                    amount: SignedMoney { minor: r.get(2)?, currency: currency(&r.get::<String>(3)?)? },
                    tx_id: r.get::<Option<Vec<u8>>>(4)?.map(|b| tx_id(&b)).transpose()?,
                    order_id: r.get::<Option<String>>(5)?.map(|s| order_id(&s)).transpose()?,
                    mode: r.get::<Option<i64>>(6)?.map(mode).transpose()?,
                    refund_id: r
                        .get::<Option<String>>(7)?
                        .map(|s| RefundId::new(&s).map_err(|_| Error::Corrupt("refund id")))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// The payment requests for `merchant`'s orders decided in `[from, to)`, approved or
    /// declined, and the refunds of its payments booked then, read on one snapshot.
    /// (A decline records no merchant account: the orders say whose it was.)
    pub(crate) async fn merchant_activity(
        &self,
        merchant: &MerchantId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<PaymentLine>, Vec<RefundLine>), Error> {
        let (from, to) = (ts(from)?, ts(to)?);
        let mut tx = self.db.begin_read().await?;
        let payments = tx
            .all(
                "SELECT p.tx_id, p.order_id, p.amount, p.currency, p.mode, p.outcome, p.refunded, p.created_at \
                 FROM payments p JOIN orders o ON o.order_id = p.order_id \
                 WHERE o.merchant_id = $1 AND p.outcome IS NOT NULL AND p.created_at >= $2 AND p.created_at < $3 \
                 ORDER BY p.created_at, p.tx_id",
                args![merchant.as_str(), from, to],
            )
            .await?;
        let refunds = tx
            .all(
                "SELECT r.refund_id, r.tx_id, p.order_id, r.amount, r.currency, r.created_at \
                 FROM refunds r JOIN payments p ON p.tx_id = r.tx_id JOIN orders o ON o.order_id = p.order_id \
                 WHERE o.merchant_id = $1 AND r.created_at >= $2 AND r.created_at < $3 \
                 ORDER BY r.created_at, r.refund_id",
                args![merchant.as_str(), from, to],
            )
            .await?;
        tx.rollback().await?;
        let payments = payments
            .iter()
            .map(|r| {
                Ok(PaymentLine {
                    tx_id: tx_id(&r.get::<Vec<u8>>(0)?)?,
                    order_id: order_id(&r.get::<String>(1)?)?,
                    amount: r.get(2)?,
                    currency: currency(&r.get::<String>(3)?)?,
                    mode: mode(r.get(4)?)?,
                    outcome: outcome(r.get(5)?)?,
                    refunded: r.get(6)?,
                    at: to_ts(r.get(7)?)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let refunds = refunds
            .iter()
            .map(|r| {
                Ok(RefundLine {
                    refund_id: RefundId::new(&r.get::<String>(0)?).map_err(|_| Error::Corrupt("refund id"))?,
                    tx_id: tx_id(&r.get::<Vec<u8>>(1)?)?,
                    order_id: order_id(&r.get::<String>(2)?)?,
                    amount: r.get(3)?,
                    currency: currency(&r.get::<String>(4)?)?,
                    at: to_ts(r.get(5)?)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok((payments, refunds))
    }

    /// Up to `limit` accounts' balances, by id, after `after`.
    pub(crate) async fn balances(&self, after: i64, limit: u32) -> Result<Vec<BalanceLine>, Error> {
        self.db
            .all(
                "SELECT id, name, kind, balance, currency FROM accounts WHERE id > $1 ORDER BY id LIMIT $2",
                args![after, i64::from(limit)],
            )
            .await?
            .iter()
            .map(|r| {
                let kind: String = r.get(2)?;
                Ok(BalanceLine {
                    account: AccountId(r.get(0)?),
                    name: r.get(1)?,
                    kind: kind.parse().map_err(|_| Error::Corrupt("account kind"))?,
                    balance: SignedMoney { minor: r.get(3)?, currency: currency(&r.get::<String>(4)?)? },
                })
            })
            .collect()
    }
}
