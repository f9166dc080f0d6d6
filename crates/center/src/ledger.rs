//! Deposits, the ledger's self-check, and account history.
use wearpay_pay::{Currency, HistoryCursor, Mode, Money, OrderId, SignedMoney, Timestamp, TxId};

use crate::{
    AccountId, AccountKind, Error, LedgerTxId, RefundId, Store,
    audit::{self, Event},
    db::args,
    payment::{book, credit_in, debit_in},
    store::{currency, to_ts, ts, tx_id},
};

/// A booked deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deposit {
    /// Its ledger transaction.
    pub ledger_tx: LedgerTxId,
    /// The account's balance after it.
    pub balance: SignedMoney,
    /// The system account it came from.
    pub funding_account: AccountId,
}

/// What the ledger check found. `ok` is true when every list is empty and every currency
/// sums to zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerReport {
    /// Whether the ledger is sound.
    pub ok: bool,
    /// The sum of all postings per currency (each must be zero).
    pub currency_totals: Vec<(Currency, i64)>,
    /// Ledger transactions whose postings do not sum to zero per currency, or that have
    /// fewer than two postings.
    pub unbalanced_ledger_txs: Vec<LedgerTxId>,
    /// Accounts whose balance is not the sum of their postings: (account, balance, sum).
    pub balance_mismatches: Vec<(AccountId, i64, i64)>,
    /// Approved payments without exactly one payment ledger transaction.
    pub approved_without_one_booking: Vec<TxId>,
    /// Payment ledger transactions whose payment is not approved.
    pub bookings_without_approval: Vec<LedgerTxId>,
    /// Orders whose status disagrees with their approved payment (paid without one, or
    /// not paid with one).
    pub order_mismatches: Vec<OrderId>,
    /// Payments whose refunded total is not the sum of their refunds.
    pub refund_mismatches: Vec<TxId>,
    /// How many accounts there are.
    pub accounts: u64,
    /// How many postings.
    pub postings: u64,
    /// How many approved payments.
    pub approved_payments: u64,
    /// How many declined payment requests were recorded.
    pub declined_payments: u64,
}

/// One line for operators: the counts, then each kind of problem found.
impl core::fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}: {} accounts, {} postings, {} approved and {} declined payments",
            if self.ok { "balanced" } else { "NOT balanced" },
            self.accounts,
            self.postings,
            self.approved_payments,
            self.declined_payments
        )?;
        for (currency, total) in self.currency_totals.iter().filter(|(_, t)| *t != 0) {
            write!(f, "; {currency} postings sum to {total}, not 0")?;
        }
        let problems = [
            ("unbalanced ledger transactions", self.unbalanced_ledger_txs.len()),
            ("balance mismatches", self.balance_mismatches.len()),
            ("approved payments not booked once", self.approved_without_one_booking.len()),
            ("bookings without approval", self.bookings_without_approval.len()),
            ("order mismatches", self.order_mismatches.len()),
            ("refund mismatches", self.refund_mismatches.len()),
        ];
        for (what, n) in problems.into_iter().filter(|(_, n)| *n > 0) {
            write!(f, "; {n} {what}")?;
        }
        Ok(())
    }
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryKind {
    /// A payment: a debit for the payer, a credit for the merchant.
    Payment,
    /// A refund: the reverse.
    Refund,
    /// A deposit from the bank's funding account.
    Deposit,
}

/// One posting on an account, with what it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// Its position: pass it as `before` for older entries.
    pub cursor: HistoryCursor,
    /// What it records.
    pub kind: HistoryKind,
    /// The amount posted: negative for a debit.
    pub amount: SignedMoney,
    /// When.
    pub at: Timestamp,
    /// Its ledger transaction.
    pub ledger_tx: LedgerTxId,
    /// The payment (of a payment or refund).
    pub tx_id: Option<TxId>,
    /// The order paid (of a payment or refund).
    pub order_id: Option<OrderId>,
    /// The payment's mode (of a payment or refund).
    pub mode: Option<Mode>,
    /// The refund's id.
    pub refund_id: Option<RefundId>,
}

/// The most history entries one call returns.
pub const MAX_HISTORY_PAGE: u32 = 1000;

impl Store {
    /// Credits `money` to a customer or merchant account from the bank's funding account
    /// for that currency (a system account, created on first use, allowed any overdraft),
    /// as one ledger transaction.
    pub async fn deposit(&self, account: AccountId, money: Money, now: Timestamp) -> Result<Deposit, Error> {
        if money.amount.is_zero() {
            return Err(Error::invalid("deposit amount", "must be more than zero"));
        }
        let now_i = ts(now)?;
        let mut tx = self.db.begin_write().await?;
        let row = tx
            .optional("SELECT currency, kind FROM accounts WHERE id = $1", args![account.0])
            .await?
            .ok_or(Error::NotFound { what: "account" })?;
        if currency(&row.get::<String>(0)?)? != money.currency {
            return Err(Error::invalid("deposit currency", "differs from the account's"));
        }
        if AccountKind::parse(&row.get::<String>(1)?)? == AccountKind::System {
            return Err(Error::invalid("deposit account", "must not be a system account"));
        }
        let name = format!("funding {}", money.currency.code());
        tx.execute(
            "INSERT INTO accounts (name, currency, kind, overdraft_limit, created_at) \
             VALUES ($1, $2, 'system', 9223372036854775807, $3) ON CONFLICT DO NOTHING",
            args![name.clone(), money.currency.code(), now_i],
        )
        .await?;
        let funding = AccountId(
            tx.optional(
                "SELECT id FROM accounts WHERE kind = 'system' AND name = $1 AND currency = $2",
                args![name, money.currency.code()],
            )
            .await?
            .ok_or(Error::invalid("funding account", "a system account of that name has another currency"))?
            .get(0)?,
        );
        // The funding account before the credited one (system, then customer or merchant:
        // the lock order every operation follows).
        let minor = money.amount.minor_i64();
        let ledger_tx =
            book(&mut tx, "deposit", None, now_i, &[(funding, -minor), (account, minor)], money.currency).await?;
        debit_in(&mut tx, funding, money, minor).await?.ok_or(Error::Overflow)?;
        let balance = credit_in(&mut tx, account, money, minor).await?;
        let deposit = Deposit {
            ledger_tx,
            balance: SignedMoney { minor: balance, currency: money.currency },
            funding_account: funding,
        };
        audit::append(&mut tx, now, Event::deposit(account, money, &deposit)).await?;
        tx.commit().await?;
        Ok(deposit)
    }

    /// Checks the whole ledger on one consistent snapshot: all postings sum to zero per
    /// currency and per ledger transaction; every balance is the sum of its account's
    /// postings; every approved payment has exactly one payment booking and every payment
    /// booking an approved payment; orders agree with their payments; refunded totals agree
    /// with the refunds.
    pub async fn ledger_check(&self) -> Result<LedgerReport, Error> {
        let mut tx = self.db.begin_read().await?;
        let mut report = LedgerReport::default();
        for row in tx
            .all(
                "SELECT currency, CAST(SUM(amount) AS BIGINT) FROM postings GROUP BY currency ORDER BY currency",
                args![],
            )
            .await?
        {
            report.currency_totals.push((currency(&row.get::<String>(0)?)?, row.get(1)?));
        }
        for row in tx
            .all(
                "SELECT ledger_tx_id FROM postings GROUP BY ledger_tx_id, currency HAVING SUM(amount) <> 0 \
                 UNION SELECT l.id FROM ledger_txs l WHERE \
                 (SELECT COUNT(*) FROM postings p WHERE p.ledger_tx_id = l.id) < 2 ORDER BY 1",
                args![],
            )
            .await?
        {
            report.unbalanced_ledger_txs.push(LedgerTxId(row.get(0)?));
        }
        for row in tx
            .all(
                "SELECT id, balance, total FROM (SELECT a.id, a.balance, CAST(COALESCE((SELECT SUM(p.amount) \
                 FROM postings p WHERE p.account_id = a.id), 0) AS BIGINT) AS total FROM accounts a) t \
                 WHERE balance <> total ORDER BY id",
                args![],
            )
            .await?
        {
            report.balance_mismatches.push((AccountId(row.get(0)?), row.get(1)?, row.get(2)?));
        }
        for row in tx
            .all(
                "SELECT p.tx_id FROM payments p WHERE p.outcome = 0 AND \
                 (SELECT COUNT(*) FROM ledger_txs l WHERE l.kind = 'payment' AND l.tx_id = p.tx_id) <> 1 \
                 ORDER BY p.tx_id",
                args![],
            )
            .await?
        {
            report.approved_without_one_booking.push(tx_id(&row.get::<Vec<u8>>(0)?)?);
        }
        for row in tx
            .all(
                "SELECT l.id FROM ledger_txs l LEFT JOIN payments p ON p.tx_id = l.tx_id \
                 WHERE l.kind = 'payment' AND (p.outcome IS NULL OR p.outcome <> 0) ORDER BY l.id",
                args![],
            )
            .await?
        {
            report.bookings_without_approval.push(LedgerTxId(row.get(0)?));
        }
        for row in tx
            .all(
                "SELECT o.order_id FROM orders o WHERE \
                 (o.status = 'paid' AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.tx_id = o.paid_tx_id \
                   AND p.order_id = o.order_id AND p.outcome = 0)) \
                 OR (o.status <> 'paid' AND EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.order_id \
                   AND p.outcome = 0)) ORDER BY o.order_id",
                args![],
            )
            .await?
        {
            let id: String = row.get(0)?;
            report.order_mismatches.push(OrderId::new(&id).map_err(|_| Error::Corrupt("order id"))?);
        }
        for row in tx
            .all(
                "SELECT p.tx_id FROM payments p WHERE p.refunded <> CAST(COALESCE((SELECT SUM(r.amount) \
                 FROM refunds r WHERE r.tx_id = p.tx_id), 0) AS BIGINT) ORDER BY p.tx_id",
                args![],
            )
            .await?
        {
            report.refund_mismatches.push(tx_id(&row.get::<Vec<u8>>(0)?)?);
        }
        let counts = tx
            .one(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM postings), \
                 (SELECT COUNT(*) FROM payments WHERE outcome = 0), (SELECT COUNT(*) FROM payments WHERE outcome > 0)",
                args![],
            )
            .await?;
        let count = |i| counts.get::<i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
        report.accounts = count(0)?;
        report.postings = count(1)?;
        report.approved_payments = count(2)?;
        report.declined_payments = count(3)?;
        tx.rollback().await?;
        report.ok = report.currency_totals.iter().all(|(_, sum)| *sum == 0)
            && report.unbalanced_ledger_txs.is_empty()
            && report.balance_mismatches.is_empty()
            && report.approved_without_one_booking.is_empty()
            && report.bookings_without_approval.is_empty()
            && report.order_mismatches.is_empty()
            && report.refund_mismatches.is_empty();
        if !report.ok {
            tracing::error!(?report, "ledger check failed");
        }
        Ok(report)
    }

    /// The account's postings, newest first: at most `limit` (1 to [`MAX_HISTORY_PAGE`]),
    /// older than `before` when given.
    pub async fn history(
        &self,
        account: AccountId,
        limit: u32,
        before: Option<HistoryCursor>,
    ) -> Result<Vec<HistoryItem>, Error> {
        if limit == 0 || limit > MAX_HISTORY_PAGE {
            return Err(Error::invalid("history limit", "must be 1 to 1000"));
        }
        let before = match before {
            Some(c) => i64::try_from(c.0).unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        let rows = self
            .db
            .all(
                "SELECT p.id, p.amount, p.currency, l.kind, l.created_at, l.id, l.tx_id, pay.order_id, pay.mode, \
                 r.refund_id FROM postings p JOIN ledger_txs l ON l.id = p.ledger_tx_id \
                 LEFT JOIN payments pay ON pay.tx_id = l.tx_id LEFT JOIN refunds r ON r.ledger_tx_id = l.id \
                 WHERE p.account_id = $1 AND p.id < $2 ORDER BY p.id DESC LIMIT $3",
                args![account.0, before, i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let kind = match row.get::<String>(3)?.as_str() {
                    "payment" => HistoryKind::Payment,
                    "refund" => HistoryKind::Refund,
                    "deposit" => HistoryKind::Deposit,
                    _ => return Err(Error::Corrupt("ledger transaction kind")),
                };
                Ok(HistoryItem {
                    cursor: HistoryCursor(u64::try_from(row.get::<i64>(0)?).map_err(|_| Error::Corrupt("posting id"))?),
                    kind,
                    amount: SignedMoney { minor: row.get(1)?, currency: currency(&row.get::<String>(2)?)? },
                    at: to_ts(row.get(4)?)?,
                    ledger_tx: LedgerTxId(row.get(5)?),
                    tx_id: row.get::<Option<Vec<u8>>>(6)?.map(|b| tx_id(&b)).transpose()?,
                    order_id: row
                        .get::<Option<String>>(7)?
                        .map(|s| OrderId::new(&s).map_err(|_| Error::Corrupt("order id")))
                        .transpose()?,
                    mode: row
                        .get::<Option<i64>>(8)?
                        .map(|m| u64::try_from(m).ok().and_then(Mode::from_code).ok_or(Error::Corrupt("mode")))
                        .transpose()?,
                    refund_id: row
                        .get::<Option<String>>(9)?
                        .map(|s| RefundId::new(&s).map_err(|_| Error::Corrupt("refund id")))
                        .transpose()?,
                })
            })
            .collect()
    }
}
