//! Deciding and recording a payment exactly once.
use chrono::Datelike;
use chrono_tz::Tz;
use wearpay_pay::{
    Amount, Counter, Currency, Limits, MAX_MESSAGE_LEN, Mode, Money, OrderId, Outcome, Policy, ReasonCode, Receipt,
    SignedMoney, TerminalSerial, Timestamp, TxId,
};

use crate::{
    AccountId, Error, LedgerTxId, Store, TerminalStatus,
    audit::{self, Booked, Event},
    db::{Savepoint, Tx, args},
    error::BoxError,
    store::{amount, counter_i64, currency, serial, to_ts, ts, tx_id},
};

/// The limits a payment must fit, in the policy's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentLimits {
    /// The currency of the limits; a payment in another is declined `currency_mismatch`.
    pub currency: Currency,
    /// The mode's limits, or `None` when the mode is not allowed (`mode_not_allowed`).
    pub mode: Option<Limits>,
    /// A daily limit over all modes together, per terminal, if the center has one.
    pub daily_all_modes: Option<Amount>,
}

impl PaymentLimits {
    /// The limits `policy` sets for `mode`.
    pub fn from_policy(policy: &Policy, mode: Mode) -> Self {
        Self { currency: policy.currency, mode: policy.limits(mode).copied(), daily_all_modes: None }
    }
}

/// A payment request, as the authorization layer hands it to the ledger once the request
/// is verified (signature, evidence).
///
/// The payer is the account of the terminal, and the payee the account of the order's
/// merchant: the store finds both itself, so that no caller can pair them wrongly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The band's transaction id: the idempotency key.
    pub tx_id: TxId,
    /// The serial of the paying terminal's certificate.
    pub terminal: TerminalSerial,
    /// The order paid.
    pub order_id: OrderId,
    /// The amount and currency requested (must equal the order's).
    pub money: Money,
    /// The mode.
    pub mode: Mode,
    /// The request's counter (must be above the terminal's last).
    pub counter: Counter,
    /// The request exactly as received: a retry must match it byte for byte.
    pub request: Vec<u8>,
    /// The limits to apply.
    pub limits: PaymentLimits,
}

/// What was decided, handed to the response builder before the transaction commits, so
/// that the response (with its signed receipt) is stored with the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The transaction.
    pub tx_id: TxId,
    /// The paying terminal.
    pub terminal: &'a TerminalSerial,
    /// The order.
    pub order_id: &'a OrderId,
    /// The amount and currency requested.
    pub money: Money,
    /// The mode.
    pub mode: Mode,
    /// Approved, or declined with its reason.
    pub outcome: Outcome,
    /// The payer's balance after the decision.
    pub balance_after: Option<SignedMoney>,
    /// The center's time of the decision (the `now` given).
    pub center_time: Timestamp,
}

impl Decision<'_> {
    /// The receipt to sign for this decision.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            tx_id: self.tx_id,
            order_id: self.order_id.clone(),
            amount: self.money.amount,
            currency: self.money.currency,
            mode: self.mode,
            terminal: self.terminal.clone(),
            center_time: self.center_time,
            outcome: self.outcome,
        }
    }
}

/// A decision made and recorded by this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The transaction.
    pub tx_id: TxId,
    /// What was decided.
    pub outcome: Outcome,
    /// The payer's balance after it.
    pub balance_after: Option<SignedMoney>,
    /// The response the builder made, as stored.
    pub response: Vec<u8>,
    /// When.
    pub center_time: Timestamp,
    /// The paying account.
    pub payer: AccountId,
    /// The paid account, when the order was found.
    pub merchant: Option<AccountId>,
    /// The ledger transaction of an approved payment.
    pub ledger_tx: Option<LedgerTxId>,
}

/// What became of a payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentResult {
    /// Decided now (approved or declined) and recorded.
    Recorded(Recorded),
    /// The same terminal sent these exact bytes before: its stored decision, unchanged.
    Replayed(StoredTx),
    /// The transaction id is taken by different bytes (or another terminal): declined
    /// `duplicate_conflict`, and nothing recorded.
    DuplicateConflict,
}

impl PaymentResult {
    /// The outcome to report.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Recorded(r) => r.outcome,
            Self::Replayed(s) => s.outcome,
            Self::DuplicateConflict => Outcome::Declined(ReasonCode::DuplicateConflict),
        }
    }

    /// The response to send, as stored (none for a conflict: the caller answers that one).
    pub fn response(&self) -> Option<&[u8]> {
        match self {
            Self::Recorded(r) => Some(&r.response),
            Self::Replayed(s) => Some(&s.response),
            Self::DuplicateConflict => None,
        }
    }
}

/// A recorded payment request and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTx {
    /// The transaction.
    pub tx_id: TxId,
    /// The paying terminal.
    pub terminal: TerminalSerial,
    /// The paying account.
    pub payer: AccountId,
    /// The paid account, when the order was found.
    pub merchant: Option<AccountId>,
    /// The order.
    pub order_id: OrderId,
    /// The amount and currency requested.
    pub money: Money,
    /// The mode.
    pub mode: Mode,
    /// The request's counter.
    pub counter: Counter,
    /// The decision.
    pub outcome: Outcome,
    /// The request, exactly as received.
    pub request: Vec<u8>,
    /// SM3 of the request.
    pub request_hash: [u8; 32],
    /// The response, exactly as first sent.
    pub response: Vec<u8>,
    /// How much of it was refunded.
    pub refunded: Amount,
    /// When it was decided.
    pub created_at: Timestamp,
    /// Its day (`yyyymmdd`) in the center's time zone.
    pub day: u32,
}

/// The largest response the store keeps.
const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The calendar day of `now` in `tz`, as `yyyymmdd` (e.g. `20250131`).
pub fn day_key(now: Timestamp, tz: Tz) -> Result<u32, Error> {
    let secs = ts(now)?;
    let utc = chrono::DateTime::from_timestamp(secs, 0).ok_or(Error::invalid("time", "outside the calendar"))?;
    let local = utc.with_timezone(&tz);
    let year = u32::try_from(local.year()).map_err(|_| Error::invalid("time", "outside the calendar"))?;
    Ok(year * 10_000 + local.month() * 100 + local.day())
}

/// A record's values, checked and converted once.
struct Prepared {
    tx_id: Vec<u8>,
    serial: String,
    now: i64,
    day: i64,
    amount: i64,
    counter: i64,
    hash: [u8; 32],
}

impl Prepared {
    fn new(r: &PaymentRecord, now: Timestamp, tz: Tz) -> Result<Self, Error> {
        if r.money.amount.is_zero() {
            return Err(Error::invalid("payment amount", "must be more than zero"));
        }
        if r.request.is_empty() || r.request.len() > MAX_MESSAGE_LEN {
            return Err(Error::invalid("payment request", "must be 1 to 8192 bytes"));
        }
        Ok(Self {
            tx_id: r.tx_id.0.to_vec(),
            serial: r.terminal.to_string(),
            now: ts(now)?,
            day: i64::from(day_key(now, tz)?),
            amount: r.money.amount.minor_i64(),
            counter: counter_i64(r.counter)?,
            hash: crate::sm3(&[&r.request]),
        })
    }
}

/// The claim on a transaction id.
enum Claim {
    /// Ours to decide: the payer's account.
    New(AccountId),
    /// Decided before (or taken): the answer.
    Done(Box<PaymentResult>),
}

/// A decision before its response is built.
struct Decided {
    outcome: Outcome,
    balance_after: Option<SignedMoney>,
    merchant: Option<AccountId>,
    ledger_tx: Option<LedgerTxId>,
    /// The merchant's credit, still to be made (approvals only).
    credit: Option<(AccountId, Money)>,
}

/// An approval's effects.
struct Approved {
    merchant: AccountId,
    balance_after: SignedMoney,
    ledger_tx: LedgerTxId,
}

impl Store {
    /// The calendar day of `now` in the store's time zone, as `yyyymmdd`.
    pub fn day_of(&self, now: Timestamp) -> Result<u32, Error> {
        day_key(now, self.config.time_zone)
    }

    /// Decides and records a payment exactly once, in one database transaction:
    ///
    /// 1. claims `tx_id` (a known one returns [`PaymentResult::Replayed`] for the same
    ///    terminal and bytes, else [`PaymentResult::DuplicateConflict`]; concurrent
    ///    retries wait for the first and get its answer);
    /// 2. checks that the terminal is active and advances its counter (declines
    ///    `terminal_suspended`, `terminal_revoked`, `stale_counter`);
    /// 3. marks the order paid if it is open, unexpired, and of this amount and currency
    ///    (`unknown_order`, `order_paid`, `order_expired`, `currency_mismatch`,
    ///    `amount_mismatch`); a unique index allows one approved payment per order;
    /// 4. checks the mode and the limits, adding to the terminal's daily counters
    ///    (`currency_mismatch` against the limits' currency, `mode_not_allowed`,
    ///    `limit_per_tx`, `limit_daily`);
    /// 5. books the ledger transaction and debits the payer only if balance plus
    ///    overdraft covers the amount (`insufficient_funds`);
    /// 6. calls `respond` with the decision, stores the response it returns, credits the
    ///    merchant (approvals), and commits.
    ///
    /// A decline at step 3 or later undoes steps 3–5 (the counter stays consumed) and is
    /// recorded like an approval: a retry gets the same answer. If `respond` fails, nothing
    /// at all is recorded.
    ///
    /// Balance rows are locked in one order by every operation (system, then customer, then
    /// merchant accounts), so concurrent payments, refunds and deposits cannot deadlock; the
    /// merchant's row, which every payment to it locks, is held only for its last statement
    /// and the commit.
    pub async fn commit_payment<F, E>(
        &self,
        record: &PaymentRecord,
        now: Timestamp,
        respond: F,
    ) -> Result<PaymentResult, Error>
    where
        F: FnOnce(&Decision<'_>) -> Result<Vec<u8>, E> + Send + 'static,
        E: Into<BoxError>,
    {
        self.submit(record, now, None, respond).await
    }

    /// Records a payment request that the authorization layer declined before the ledger
    /// (a bad signature, bad evidence, a wrong PIN…), so that a retry gets the same answer.
    /// Nothing else changes, except that a request declined after its counter was found
    /// fresh (a reason after `stale_counter`) consumes that counter. A known `tx_id` is
    /// answered as by [`Store::commit_payment`].
    pub async fn record_decline<F, E>(
        &self,
        record: &PaymentRecord,
        reason: ReasonCode,
        now: Timestamp,
        respond: F,
    ) -> Result<PaymentResult, Error>
    where
        F: FnOnce(&Decision<'_>) -> Result<Vec<u8>, E> + Send + 'static,
        E: Into<BoxError>,
    {
        self.submit(record, now, Some(reason), respond).await
    }

    /// Hands the payment to the group committer, which decides it in a transaction shared
    /// with the payments queued beside it, and answers once that transaction is durable.
    async fn submit<F, E>(
        &self,
        record: &PaymentRecord,
        now: Timestamp,
        decline: Option<ReasonCode>,
        respond: F,
    ) -> Result<PaymentResult, Error>
    where
        F: FnOnce(&Decision<'_>) -> Result<Vec<u8>, E> + Send + 'static,
        E: Into<BoxError>,
    {
        let prepared = Prepared::new(record, now, self.config.time_zone)?;
        let job = PaymentJob {
            record: record.clone(),
            prepared,
            now,
            decline,
            respond: Box::new(move |d| respond(d).map_err(Into::into)),
        };
        self.committer.submit(job).await
    }

    /// The recorded payment request with this id, if any.
    pub async fn lookup_tx(&self, id: &TxId) -> Result<Option<StoredTx>, Error> {
        self.db.optional(STORED_TX_SELECT, args![id.0.to_vec()]).await?.map(|r| stored_from(&r)).transpose()
    }
}

/// Builds the response to a decision (signs the receipt) inside the payment's transaction.
pub(crate) type Respond = Box<dyn FnOnce(&Decision<'_>) -> Result<Vec<u8>, BoxError> + Send>;

/// One payment request waiting for the group committer.
pub(crate) struct PaymentJob {
    record: PaymentRecord,
    prepared: Prepared,
    now: Timestamp,
    /// `Some` when the authorization layer has already declined it.
    decline: Option<ReasonCode>,
    respond: Respond,
}

impl core::fmt::Debug for PaymentJob {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PaymentJob").field("tx_id", &self.record.tx_id).field("decline", &self.decline).finish()
    }
}

impl PaymentJob {
    /// Claims the `tx_id` and decides the payment (the steps of [`Store::commit_payment`])
    /// in `tx`, leaving the commit to the caller.
    pub(crate) async fn run(self, tx: &mut Tx) -> Result<PaymentResult, Error> {
        let Self { record, prepared: p, now, decline, respond } = self;
        let payer = match claim(tx, &p, &record).await? {
            Claim::New(payer) => payer,
            Claim::Done(result) => return Ok(*result),
        };
        let decided = match decline {
            None => decide(tx, &p, &record, payer).await?,
            Some(reason) => {
                if reason.code() > ReasonCode::StaleCounter.code() && reason.code() < ReasonCode::Malformed.code() {
                    tx.execute(
                        "UPDATE terminals SET last_counter = $1 WHERE serial = $2 AND last_counter < $1",
                        args![p.counter, p.serial.clone()],
                    )
                    .await?;
                }
                Decided {
                    outcome: Outcome::Declined(reason),
                    balance_after: Some(balance_in(tx, payer).await?),
                    merchant: None,
                    ledger_tx: None,
                    credit: None,
                }
            }
        };
        finish(tx, &p, &record, now, payer, decided, respond).await
    }
}

async fn claim(tx: &mut Tx, p: &Prepared, r: &PaymentRecord) -> Result<Claim, Error> {
    // The payer is the terminal's account, read in the same statement.
    let inserted = tx
        .optional(
            "INSERT INTO payments (tx_id, terminal_serial, payer_account, order_id, amount, currency, mode, counter, \
             request, request_hash, created_at, day) \
             SELECT $1, serial, account_id, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM terminals WHERE serial = $2 \
             ON CONFLICT (tx_id) DO NOTHING RETURNING payer_account",
            args![
                p.tx_id.clone(),
                p.serial.clone(),
                r.order_id.as_str(),
                p.amount,
                r.money.currency.code(),
                i64::from(r.mode.code()),
                p.counter,
                r.request.clone(),
                p.hash.to_vec(),
                p.now,
                p.day
            ],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok(Claim::New(AccountId(row.get(0)?)));
    }
    // Taken (or no such terminal).
    let Some(stored) =
        tx.optional(STORED_TX_SELECT, args![p.tx_id.clone()]).await?.map(|row| stored_from(&row)).transpose()?
    else {
        return Err(Error::NotFound { what: "terminal" });
    };
    Ok(Claim::Done(Box::new(if stored.terminal == r.terminal && stored.request == r.request {
        PaymentResult::Replayed(stored)
    } else {
        tracing::warn!(tx_id = %r.tx_id, "transaction id reused with different request bytes");
        PaymentResult::DuplicateConflict
    })))
}

async fn decide(tx: &mut Tx, p: &Prepared, r: &PaymentRecord, payer: AccountId) -> Result<Decided, Error> {
    let fresh = tx
        .execute(
            "UPDATE terminals SET last_counter = $1 WHERE serial = $2 AND status = 'active' AND last_counter < $1",
            args![p.counter, p.serial.clone()],
        )
        .await?;
    if fresh == 0 {
        let status = tx
            .one("SELECT status FROM terminals WHERE serial = $1", args![p.serial.clone()])
            .await?
            .get::<String>(0)?;
        let reason = match TerminalStatus::parse(&status)? {
            TerminalStatus::Suspended => ReasonCode::TerminalSuspended,
            TerminalStatus::Revoked => ReasonCode::TerminalRevoked,
            TerminalStatus::Active => ReasonCode::StaleCounter,
        };
        return declined(tx, payer, reason).await;
    }
    tx.savepoint(Savepoint::Money).await?;
    match move_money(tx, p, r, payer).await? {
        Ok(a) => {
            tx.release(Savepoint::Money).await?;
            Ok(Decided {
                outcome: Outcome::Approved,
                balance_after: Some(a.balance_after),
                merchant: Some(a.merchant),
                ledger_tx: Some(a.ledger_tx),
                credit: Some((a.merchant, r.money)),
            })
        }
        Err(reason) => {
            tx.rollback_to(Savepoint::Money).await?;
            declined(tx, payer, reason).await
        }
    }
}

async fn declined(tx: &mut Tx, payer: AccountId, reason: ReasonCode) -> Result<Decided, Error> {
    Ok(Decided {
        outcome: Outcome::Declined(reason),
        balance_after: Some(balance_in(tx, payer).await?),
        merchant: None,
        ledger_tx: None,
        credit: None,
    })
}

/// Steps 3 to 5, inside the savepoint: `Ok(Err(reason))` is a decline to undo. The
/// merchant's credit is left to [`finish`], the last statement before the commit.
async fn move_money(
    tx: &mut Tx,
    p: &Prepared,
    r: &PaymentRecord,
    payer: AccountId,
) -> Result<Result<Approved, ReasonCode>, Error> {
    // The order: open, unexpired, this amount and currency — then paid, by this payment.
    let paid = tx
        .optional(
            "UPDATE orders SET status = 'paid', paid_tx_id = $1 WHERE order_id = $2 AND status = 'open' \
             AND expires_at > $3 AND currency = $4 AND amount = $5 \
             RETURNING (SELECT account_id FROM merchants WHERE merchants.id = orders.merchant_id)",
            args![p.tx_id.clone(), r.order_id.as_str(), p.now, r.money.currency.code(), p.amount],
        )
        .await?;
    let Some(paid) = paid else {
        return Ok(Err(order_refusal(tx, p, r).await?));
    };
    let merchant = AccountId(paid.get(0)?);

    // The mode and its limits, and the terminal's daily counters (this mode's and all
    // modes'), in one statement: both rows must accept the amount.
    let limits = &r.limits;
    let amount = r.money.amount;
    if limits.currency != r.money.currency {
        return Ok(Err(ReasonCode::CurrencyMismatch));
    }
    let Some(mode_limits) = limits.mode else {
        return Ok(Err(ReasonCode::ModeNotAllowed));
    };
    if amount > mode_limits.per_transaction {
        return Ok(Err(ReasonCode::LimitPerTx));
    }
    let all_modes = limits.daily_all_modes.unwrap_or(Amount::MAX);
    if amount > mode_limits.daily || amount > all_modes {
        return Ok(Err(ReasonCode::LimitDaily));
    }
    let counted = tx
        .all(
            "INSERT INTO daily_spend (terminal_serial, scope, day, spent) VALUES ($1, $2, $3, $4), ($1, 0, $3, $4) \
             ON CONFLICT (terminal_serial, scope, day) DO UPDATE SET spent = daily_spend.spent + excluded.spent \
             WHERE daily_spend.spent <= (CASE WHEN excluded.scope = 0 THEN $6 ELSE $5 END) - excluded.spent \
             RETURNING scope",
            args![
                p.serial.clone(),
                i64::from(r.mode.code()),
                p.day,
                p.amount,
                mode_limits.daily.minor_i64(),
                all_modes.minor_i64()
            ],
        )
        .await?;
    if counted.len() != 2 {
        return Ok(Err(ReasonCode::LimitDaily));
    }

    // The booking first (inserts lock no balance), then the payer's debit, which holds the
    // payer's row until the commit: only if balance and overdraft cover the amount.
    let ledger_tx = book(
        tx,
        "payment",
        Some(p.tx_id.clone()),
        p.now,
        &[(payer, -p.amount), (merchant, p.amount)],
        r.money.currency,
    )
    .await?;
    let Some(balance) = debit_in(tx, payer, r.money, p.amount).await? else {
        let row = tx.one("SELECT currency FROM accounts WHERE id = $1", args![payer.0]).await?;
        return Ok(Err(if currency(&row.get::<String>(0)?)? != r.money.currency {
            ReasonCode::CurrencyMismatch
        } else {
            ReasonCode::InsufficientFunds
        }));
    };
    Ok(Ok(Approved { merchant, balance_after: SignedMoney { minor: balance, currency: r.money.currency }, ledger_tx }))
}

/// Why the order refused the payment, checked in the order of the reason codes.
async fn order_refusal(tx: &mut Tx, p: &Prepared, r: &PaymentRecord) -> Result<ReasonCode, Error> {
    let Some(row) = tx
        .optional(
            "SELECT status, expires_at, currency, amount FROM orders WHERE order_id = $1",
            args![r.order_id.as_str()],
        )
        .await?
    else {
        return Ok(ReasonCode::UnknownOrder);
    };
    let status: String = row.get(0)?;
    let expires_at: i64 = row.get(1)?;
    let order_currency: String = row.get(2)?;
    let order_amount: i64 = row.get(3)?;
    Ok(if status == "paid" {
        ReasonCode::OrderPaid
    } else if status == "expired" || p.now >= expires_at {
        ReasonCode::OrderExpired
    } else if order_currency != r.money.currency.code() {
        ReasonCode::CurrencyMismatch
    } else if order_amount != p.amount {
        ReasonCode::AmountMismatch
    } else {
        // Not reachable: the conditional update saw the same row.
        ReasonCode::OrderPaid
    })
}

/// Debits `amount` from the account if its balance and overdraft cover it (written so that
/// no intermediate value can leave the signed 64-bit range): the new balance, or `None`.
pub(crate) async fn debit_in(tx: &mut Tx, account: AccountId, money: Money, amount: i64) -> Result<Option<i64>, Error> {
    tx.optional(
        "UPDATE accounts SET balance = balance - $1 \
         WHERE id = $2 AND currency = $3 AND balance >= $1 - overdraft_limit RETURNING balance",
        args![amount, account.0, money.currency.code()],
    )
    .await?
    .map(|r| r.get(0))
    .transpose()
}

/// Credits `amount` to the account: the new balance. Fails (and so aborts the transaction)
/// if the account is of another currency or the balance would overflow.
pub(crate) async fn credit_in(tx: &mut Tx, account: AccountId, money: Money, amount: i64) -> Result<i64, Error> {
    tx.optional(
        "UPDATE accounts SET balance = balance + $1 \
         WHERE id = $2 AND currency = $3 AND balance <= 9223372036854775807 - $1 RETURNING balance",
        args![amount, account.0, money.currency.code()],
    )
    .await?
    .map(|r| r.get(0))
    .transpose()?
    .ok_or(Error::Overflow)
}

/// Books one ledger transaction and its postings, which must sum to zero.
pub(crate) async fn book(
    tx: &mut Tx,
    kind: &'static str,
    payment: Option<Vec<u8>>,
    now: i64,
    postings: &[(AccountId, i64); 2],
    currency: Currency,
) -> Result<LedgerTxId, Error> {
    if postings[0].1.checked_add(postings[1].1) != Some(0) {
        return Err(Error::Corrupt("postings do not balance"));
    }
    let id: i64 = tx
        .one(
            "INSERT INTO ledger_txs (kind, tx_id, created_at) VALUES ($1, $2, $3) RETURNING id",
            args![kind, payment, now],
        )
        .await?
        .get(0)?;
    tx.execute(
        "INSERT INTO postings (ledger_tx_id, account_id, amount, currency) VALUES ($1, $2, $3, $4), ($1, $5, $6, $4)",
        args![id, postings[0].0.0, postings[0].1, currency.code(), postings[1].0.0, postings[1].1],
    )
    .await?;
    Ok(LedgerTxId(id))
}

pub(crate) async fn balance_in(tx: &mut Tx, account: AccountId) -> Result<SignedMoney, Error> {
    let row = tx.one("SELECT balance, currency FROM accounts WHERE id = $1", args![account.0]).await?;
    Ok(SignedMoney { minor: row.get(0)?, currency: currency(&row.get::<String>(1)?)? })
}

/// Builds the response, stores the decision with it, and credits the merchant of an
/// approved payment; the group committer commits.
async fn finish(
    tx: &mut Tx,
    p: &Prepared,
    r: &PaymentRecord,
    now: Timestamp,
    payer: AccountId,
    decided: Decided,
    respond: Respond,
) -> Result<PaymentResult, Error> {
    let decision = Decision {
        tx_id: r.tx_id,
        terminal: &r.terminal,
        order_id: &r.order_id,
        money: r.money,
        mode: r.mode,
        outcome: decided.outcome,
        balance_after: decided.balance_after,
        center_time: now,
    };
    let response = respond(&decision).map_err(Error::Response)?;
    if response.is_empty() || response.len() > MAX_RESPONSE_LEN {
        return Err(Error::invalid("payment response", "must be 1 to 65536 bytes"));
    }
    tx.execute(
        "UPDATE payments SET outcome = $1, merchant_account = $2, response = $3 WHERE tx_id = $4",
        args![i64::from(decided.outcome.code()), decided.merchant.map(|m| m.0), response.clone(), p.tx_id.clone()],
    )
    .await?;
    // The merchant's event, in the payment's own transaction (outbox): it exists if and
    // only if the payment is booked.
    if decided.outcome == Outcome::Approved {
        crate::webhook::enqueue_payment(tx, &decision).await?;
    }
    // Last: the merchant's row is the one every payment to that merchant locks, so it is
    // held only for this statement and the commit.
    if let Some((merchant, money)) = decided.credit {
        credit_in(tx, merchant, money, money.amount.minor_i64()).await?;
    }
    let booked = Booked { payer, merchant: decided.merchant, ledger_tx: decided.ledger_tx };
    audit::append(tx, now, Event::payment(&decision, r.counter, &p.hash, booked)).await?;
    match decided.outcome {
        Outcome::Approved => tracing::debug!(tx_id = %r.tx_id, "payment approved"),
        Outcome::Declined(reason) => tracing::info!(tx_id = %r.tx_id, %reason, "payment declined"),
    }
    Ok(PaymentResult::Recorded(Recorded {
        tx_id: r.tx_id,
        outcome: decided.outcome,
        balance_after: decided.balance_after,
        response,
        center_time: now,
        payer,
        merchant: decided.merchant,
        ledger_tx: decided.ledger_tx,
    }))
}

pub(crate) const STORED_TX_SELECT: &str = "SELECT tx_id, terminal_serial, payer_account, merchant_account, order_id, \
     amount, currency, mode, counter, outcome, request, request_hash, response, refunded, created_at, day \
     FROM payments WHERE tx_id = $1 AND outcome IS NOT NULL";

/// Maps any conversion failure of a stored `what` to [`Error::Corrupt`].
fn corrupt<E>(what: &'static str) -> impl Fn(E) -> Error {
    move |_| Error::Corrupt(what)
}

pub(crate) fn stored_from(row: &crate::db::Row) -> Result<StoredTx, Error> {
    let money = Money::new(amount(row.get(5)?)?, currency(&row.get::<String>(6)?)?);
    let mode = u64::try_from(row.get::<i64>(7)?).ok().and_then(Mode::from_code).ok_or(Error::Corrupt("mode"))?;
    let outcome = u64::try_from(row.get::<i64>(9)?)
        .map_err(corrupt("outcome"))
        .and_then(|c| Outcome::from_code(c).map_err(|_| Error::Corrupt("outcome")))?;
    Ok(StoredTx {
        tx_id: tx_id(&row.get::<Vec<u8>>(0)?)?,
        terminal: serial(&row.get::<String>(1)?)?,
        payer: AccountId(row.get(2)?),
        merchant: row.get::<Option<i64>>(3)?.map(AccountId),
        order_id: OrderId::new(&row.get::<String>(4)?).map_err(corrupt("order id"))?,
        money,
        mode,
        counter: Counter(u64::try_from(row.get::<i64>(8)?).map_err(corrupt("counter"))?),
        outcome,
        request: row.get(10)?,
        request_hash: <[u8; 32]>::try_from(row.get::<Vec<u8>>(11)?.as_slice()).map_err(corrupt("request hash"))?,
        response: row.get::<Option<Vec<u8>>>(12)?.ok_or(Error::Corrupt("a decision without its response"))?,
        refunded: amount(row.get(13)?)?,
        created_at: to_ts(row.get(14)?)?,
        day: u32::try_from(row.get::<i64>(15)?).map_err(corrupt("day"))?,
    })
}
