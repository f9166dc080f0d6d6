//! Refunds: the reverse postings of an approved payment, never more than was paid.
use core::fmt;

use wearpay_pay::{Amount, Money, Timestamp, TxId};

use crate::{
    AccountId, Error, LedgerTxId, RefundId, Store,
    audit::{self, Event},
    db::{Tx, args},
    payment::{book, credit_in, debit_in},
    store::{amount, currency, to_ts, ts, tx_id},
};

/// Why a refund was refused. Nothing was booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefundRefusal {
    /// No payment with this transaction id.
    UnknownTransaction,
    /// The payment was declined: there is nothing to refund.
    NotApproved,
    /// The refunds would add up to more than was paid.
    ExceedsPaid {
        /// What may still be refunded.
        remaining: Amount,
    },
    /// The refund id was used for another transaction or amount.
    IdConflict,
    /// The merchant's balance and overdraft do not cover the refund.
    MerchantInsufficientFunds,
}

impl fmt::Display for RefundRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTransaction => f.write_str("no such payment"),
            Self::NotApproved => f.write_str("the payment was not approved"),
            Self::ExceedsPaid { remaining } => {
                write!(f, "more than was paid ({} minor units remain refundable)", remaining.minor())
            }
            Self::IdConflict => f.write_str("the refund id was used for another refund"),
            Self::MerchantInsufficientFunds => f.write_str("the merchant's funds do not cover the refund"),
        }
    }
}

/// A booked refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Its id.
    pub refund_id: RefundId,
    /// The payment refunded.
    pub tx_id: TxId,
    /// How much this refund gave back.
    pub money: Money,
    /// The payment's amount.
    pub paid: Amount,
    /// All refunds of the payment so far, this one included.
    pub refunded_total: Amount,
    /// The merchant account debited.
    pub merchant: AccountId,
    /// The payer account credited.
    pub payer: AccountId,
    /// Its ledger transaction.
    pub ledger_tx: LedgerTxId,
    /// When it was booked.
    pub created_at: Timestamp,
    /// Whether it had been booked before, by an earlier call with this id.
    pub replayed: bool,
}

impl Store {
    /// Refunds `amount` of the approved payment `tx_id`: debits the merchant (within its
    /// balance and overdraft) and credits the payer, in one ledger transaction. Partial
    /// refunds add up to at most the amount paid. Idempotent by `refund_id`: the same id,
    /// payment and amount again return the booked refund (`replayed`); the same id with
    /// another payment or amount is refused.
    pub async fn refund(
        &self,
        refund_id: &RefundId,
        tx_id: &TxId,
        amount: Amount,
        now: Timestamp,
    ) -> Result<Refund, Error> {
        if amount.is_zero() {
            return Err(Error::invalid("refund amount", "must be more than zero"));
        }
        let now_i = ts(now)?;
        let key = tx_id.0.to_vec();
        let mut tx = self.db.begin_write().await?;
        if let Some(done) = booked(&mut tx, refund_id).await? {
            return same(done, tx_id, amount);
        }
        let payment = tx
            .optional(
                "SELECT payer_account, merchant_account, amount, currency, outcome FROM payments \
                 WHERE tx_id = $1 AND outcome IS NOT NULL",
                args![key.clone()],
            )
            .await?
            .ok_or(Error::Refund(RefundRefusal::UnknownTransaction))?;
        let payer = AccountId(payment.get(0)?);
        let merchant = payment.get::<Option<i64>>(1)?.map(AccountId);
        let money = Money::new(amount, currency(&payment.get::<String>(3)?)?);
        let (Some(merchant), 0) = (merchant, payment.get::<i64>(4)?) else {
            return Err(Error::Refund(RefundRefusal::NotApproved));
        };

        // Claim the refund id; a concurrent call with the same id waits here for the first.
        let claimed = tx
            .optional(
                "INSERT INTO refunds (refund_id, tx_id, amount, currency, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (refund_id) DO NOTHING RETURNING refund_id",
                args![refund_id.as_str(), key.clone(), amount.minor_i64(), money.currency.code(), now_i],
            )
            .await?;
        if claimed.is_none() {
            let done =
                booked(&mut tx, refund_id).await?.ok_or(Error::Corrupt("a claimed refund without its booking"))?;
            return same(done, tx_id, amount);
        }

        let Some(totals) = tx
            .optional(
                "UPDATE payments SET refunded = refunded + $1 \
                 WHERE tx_id = $2 AND outcome = 0 AND refunded <= amount - $1 RETURNING refunded, amount",
                args![amount.minor_i64(), key.clone()],
            )
            .await?
        else {
            let row = tx.one("SELECT amount - refunded FROM payments WHERE tx_id = $1", args![key]).await?;
            return Err(Error::Refund(RefundRefusal::ExceedsPaid { remaining: crate::store::amount(row.get(0)?)? }));
        };
        let refunded_total = crate::store::amount(totals.get(0)?)?;
        let paid = crate::store::amount(totals.get(1)?)?;

        // The booking, then the payer's credit, then the merchant's conditional debit: the
        // balance rows are locked customer before merchant, as payments lock them, and the
        // merchant's (the hot one) only for its statement and the commit.
        let minor = amount.minor_i64();
        let ledger_tx =
            book(&mut tx, "refund", Some(key), now_i, &[(merchant, -minor), (payer, minor)], money.currency).await?;
        tx.execute("UPDATE refunds SET ledger_tx_id = $1 WHERE refund_id = $2", args![ledger_tx.0, refund_id.as_str()])
            .await?;
        credit_in(&mut tx, payer, money, minor).await?;
        // The merchant's event, in this transaction (outbox), before the hot row's lock.
        crate::webhook::enqueue_refund(&mut tx, refund_id, tx_id, money, paid, refunded_total, now).await?;
        if debit_in(&mut tx, merchant, money, minor).await?.is_none() {
            return Err(Error::Refund(RefundRefusal::MerchantInsufficientFunds));
        }
        let refund = Refund {
            refund_id: refund_id.clone(),
            tx_id: *tx_id,
            money,
            paid,
            refunded_total,
            merchant,
            payer,
            ledger_tx,
            created_at: now,
            replayed: false,
        };
        audit::append(&mut tx, now, Event::refund(&refund)).await?;
        tx.commit().await?;
        tracing::info!(refund = %refund_id, tx_id = %tx_id, amount = minor, "refund booked");
        Ok(refund)
    }

    /// The refund with this id, if booked.
    pub async fn get_refund(&self, refund_id: &RefundId) -> Result<Option<Refund>, Error> {
        let mut tx = self.db.begin_read().await?;
        let r = booked(&mut tx, refund_id).await?;
        tx.rollback().await?;
        Ok(r.map(|mut r| {
            r.replayed = false;
            r
        }))
    }
}

/// A booked refund, marked `replayed`.
async fn booked(tx: &mut Tx, refund_id: &RefundId) -> Result<Option<Refund>, Error> {
    let Some(row) = tx
        .optional(
            "SELECT r.tx_id, r.amount, r.currency, r.ledger_tx_id, r.created_at, p.amount, p.refunded, \
             p.merchant_account, p.payer_account \
             FROM refunds r JOIN payments p ON p.tx_id = r.tx_id WHERE r.refund_id = $1",
            args![refund_id.as_str()],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Refund {
        refund_id: refund_id.clone(),
        tx_id: tx_id(&row.get::<Vec<u8>>(0)?)?,
        money: Money::new(amount(row.get(1)?)?, currency(&row.get::<String>(2)?)?),
        ledger_tx: LedgerTxId(row.get::<Option<i64>>(3)?.ok_or(Error::Corrupt("a refund without its booking"))?),
        created_at: to_ts(row.get(4)?)?,
        paid: amount(row.get(5)?)?,
        refunded_total: amount(row.get(6)?)?,
        merchant: AccountId(row.get::<Option<i64>>(7)?.ok_or(Error::Corrupt("a refunded payment without merchant"))?),
        payer: AccountId(row.get(8)?),
        replayed: true,
    }))
}

/// The booked refund if the call repeats it, else the id conflict.
fn same(done: Refund, tx_id: &TxId, amount: Amount) -> Result<Refund, Error> {
    if done.tx_id == *tx_id && done.money.amount == amount {
        Ok(done)
    } else {
        Err(Error::Refund(RefundRefusal::IdConflict))
    }
}
