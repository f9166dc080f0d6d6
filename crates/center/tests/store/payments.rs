//! Payments: approval, replay, every decline, and inputs that are refused outright.
use std::sync::{Arc, Mutex};

use wearpay_center::{
    Error, HistoryKind, LedgerReport, OrderStatus, PaymentLimits, PaymentResult, Store, TerminalStatus,
};
use wearpay_pay::{Amount, Counter, Limits, Mode, Money, OrderId, Outcome, ReasonCode, Timestamp};

use crate::common::{T0, TestDb, World, cny, on_both, respond, serial, tx};

on_both!(
    approved_payment_is_booked_once,
    retry_with_same_bytes_replays_and_other_bytes_conflict,
    declines_are_recorded_and_change_nothing,
    overdraft_is_usable_to_its_limit,
    decline_recorded_by_the_authorization_layer,
    invalid_input_changes_nothing,
    failed_response_builder_records_nothing,
    second_payment_of_an_order_is_declined,
);

/// Everything a payment could change, to compare before and after.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    payer: i64,
    merchant: i64,
    postings: u64,
    approved: u64,
}

async fn snapshot(w: &World) -> Snapshot {
    let report: LedgerReport = w.store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    Snapshot {
        payer: w.balance(w.payer).await,
        merchant: w.balance(w.merchant_account).await,
        postings: report.postings,
        approved: report.approved_payments,
    }
}

fn recorded(r: &PaymentResult) -> &wearpay_center::Recorded {
    match r {
        PaymentResult::Recorded(r) => r,
        other => panic!("expected a new decision, got {other:?}"),
    }
}

async fn approved_payment_is_booked_once(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "12.34").await;
    let record = w.record(1, &w.terminal, &order, "12.34", 1);
    let seen = Arc::new(Mutex::new(None));
    let now = Timestamp(T0.0 + 5);
    let builder_saw = Arc::clone(&seen);
    let result = store
        .commit_payment(&record, now, move |d| {
            *builder_saw.lock().unwrap() = Some(d.receipt());
            respond(d)
        })
        .await
        .unwrap();
    let r = recorded(&result);
    assert_eq!(r.outcome, Outcome::Approved);
    assert_eq!(r.balance_after.unwrap().minor, 10_000 - 1_234);
    assert_eq!((r.payer, r.merchant), (w.payer, Some(w.merchant_account)));
    assert!(r.ledger_tx.is_some());
    assert_eq!(r.center_time, now);

    // The receipt the builder was given describes this payment.
    let receipt = seen.lock().unwrap().take().unwrap();
    assert_eq!(receipt.tx_id, tx(1));
    assert_eq!(receipt.order_id, order);
    assert_eq!(receipt.amount.minor(), 1_234);
    assert_eq!(receipt.mode, Mode::Quick);
    assert_eq!(receipt.terminal, w.terminal);
    assert_eq!(receipt.center_time, now);
    assert_eq!(receipt.outcome, Outcome::Approved);

    assert_eq!(w.balance(w.payer).await, 8_766);
    assert_eq!(w.balance(w.merchant_account).await, 1_234);
    let o = store.get_order(&order).await.unwrap().unwrap();
    assert_eq!((o.status, o.paid_tx), (OrderStatus::Paid, Some(tx(1))));
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().last_counter, Some(Counter(1)));

    let stored = store.lookup_tx(&tx(1)).await.unwrap().unwrap();
    assert_eq!(stored.outcome, Outcome::Approved);
    assert_eq!(stored.request, record.request);
    assert_eq!(stored.response, r.response);
    assert_eq!(stored.terminal, w.terminal);
    assert_eq!((stored.payer, stored.merchant), (w.payer, Some(w.merchant_account)));
    assert_eq!(stored.money, record.money);
    assert_eq!(stored.counter, Counter(1));
    assert_eq!(stored.day, 20250601);
    assert_eq!(stored.created_at, now);
    assert_eq!(stored.refunded, Amount::ZERO);
    assert_ne!(stored.request_hash, [0; 32]);
    assert!(store.lookup_tx(&tx(2)).await.unwrap().is_none());

    // Both sides see it in their history.
    let payer = store.history(w.payer, 10, None).await.unwrap();
    assert_eq!(payer[0].kind, HistoryKind::Payment);
    assert_eq!(payer[0].amount.minor, -1_234);
    assert_eq!(payer[0].tx_id, Some(tx(1)));
    assert_eq!(payer[0].order_id, Some(order.clone()));
    assert_eq!(payer[0].mode, Some(Mode::Quick));
    assert_eq!(payer[1].kind, HistoryKind::Deposit);
    let merchant = store.history(w.merchant_account, 10, None).await.unwrap();
    assert_eq!(merchant.len(), 1);
    assert_eq!(merchant[0].amount.minor, 1_234);
    assert_eq!(merchant[0].ledger_tx, payer[0].ledger_tx);

    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.approved_payments, 1);
    assert_eq!(report.postings, 4);
}

async fn retry_with_same_bytes_replays_and_other_bytes_conflict(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "10.00").await;
    let record = w.record(1, &w.terminal, &order, "10.00", 1);
    let first = store.commit_payment(&record, T0, respond).await.unwrap();
    let before = snapshot(&w).await;

    // A byte-identical retry, later: the stored answer, byte for byte; nothing moves.
    let retry = store.commit_payment(&record, Timestamp(T0.0 + 60), respond).await.unwrap();
    let PaymentResult::Replayed(stored) = &retry else { panic!("{retry:?}") };
    assert_eq!(retry.response(), first.response());
    assert_eq!(stored.outcome, Outcome::Approved);
    assert_eq!(stored.created_at, T0);
    assert_eq!(snapshot(&w).await, before);

    // The same id with other bytes, or from another terminal: a conflict, not recorded.
    let mut other = record.clone();
    other.request.push(0);
    let r = store.commit_payment(&other, T0, respond).await.unwrap();
    assert_eq!(r, PaymentResult::DuplicateConflict);
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::DuplicateConflict));
    assert_eq!(r.response(), None);
    let second_terminal = w.enroll(2).await;
    let mut elsewhere = record.clone();
    elsewhere.terminal = second_terminal;
    assert_eq!(store.commit_payment(&elsewhere, T0, respond).await.unwrap(), PaymentResult::DuplicateConflict);
    let r = store.record_decline(&other, ReasonCode::BadSignature, T0, respond).await.unwrap();
    assert_eq!(r, PaymentResult::DuplicateConflict);
    assert_eq!(snapshot(&w).await, before);
    assert_eq!(store.lookup_tx(&tx(1)).await.unwrap().unwrap().request, record.request);
}

async fn declines_are_recorded_and_change_nothing(store: &Store) {
    let w = World::new(store, "2000.00").await;
    let order = w.order("ORD-1", "100.00").await;
    let short_lived = w.order("ORD-SHORT", "1.00").await;
    let mut counter = 0;
    let mut n = 0;
    // Each case: a record, the clock, and the decline expected.
    let mut check = async |mut record: wearpay_center::PaymentRecord, now: Timestamp, reason: ReasonCode| {
        n += 1;
        counter += 1;
        record.tx_id = tx(1_000 + n);
        record.counter = Counter(counter);
        record.request = format!("request {n}").into_bytes();
        let before = snapshot(&w).await;
        let result = store.commit_payment(&record, now, respond).await.unwrap();
        assert_eq!(result.outcome(), Outcome::Declined(reason), "{reason}");
        let r = recorded(&result);
        assert_eq!(r.ledger_tx, None);
        assert_eq!(r.balance_after.unwrap().minor, before.payer);
        assert_eq!(snapshot(&w).await, before, "{reason} changed the ledger");
        let stored = store.lookup_tx(&record.tx_id).await.unwrap().unwrap();
        assert_eq!(stored.outcome, Outcome::Declined(reason));
        assert_eq!(stored.response, r.response);
        // The retry gets the same decline.
        let again = store.commit_payment(&record, now, respond).await.unwrap();
        assert!(matches!(&again, PaymentResult::Replayed(s) if s.outcome == Outcome::Declined(reason)), "{again:?}");
        assert_eq!(snapshot(&w).await, before);
    };
    let t = &w.terminal;
    check(w.record(0, t, &OrderId::new("ORD-404").unwrap(), "100.00", 0), T0, ReasonCode::UnknownOrder).await;
    check(w.record(0, t, &order, "100.01", 0), T0, ReasonCode::AmountMismatch).await;
    let usd = Money::parse("100.00 USD").unwrap();
    check(w.record_in(0, t, &order, usd, Mode::Quick, 0), T0, ReasonCode::CurrencyMismatch).await;
    let expiry = store.get_order(&short_lived).await.unwrap().unwrap().order.expires_at;
    check(w.record(0, t, &short_lived, "1.00", 0), expiry, ReasonCode::OrderExpired).await;
    // Mode not allowed, per-transaction limit, daily limit, funds.
    let mut no_mode = w.record(0, t, &order, "100.00", 0);
    no_mode.limits.mode = None;
    check(no_mode, T0, ReasonCode::ModeNotAllowed).await;
    let mut other_currency_policy = w.record(0, t, &order, "100.00", 0);
    other_currency_policy.limits.currency = wearpay_pay::Currency::USD;
    check(other_currency_policy, T0, ReasonCode::CurrencyMismatch).await;
    let mut low = w.record(0, t, &order, "100.00", 0);
    low.limits.mode = Some(Limits { per_transaction: cny("99.99").amount, daily: cny("1000.00").amount });
    check(low, T0, ReasonCode::LimitPerTx).await;
    let mut low_daily = w.record(0, t, &order, "100.00", 0);
    low_daily.limits.mode = Some(Limits { per_transaction: cny("100.00").amount, daily: cny("99.00").amount });
    check(low_daily, T0, ReasonCode::LimitDaily).await;
    let big = w.order("ORD-BIG", "2000.01").await;
    let mut high = w.record(0, t, &big, "2000.01", 0);
    high.limits = PaymentLimits::from_policy(&wearpay_pay::Policy::default(), Mode::Confirm);
    high.mode = Mode::Confirm;
    check(high, T0, ReasonCode::InsufficientFunds).await;
    // The order is still open and payable.
    assert_eq!(store.get_order(&order).await.unwrap().unwrap().status, OrderStatus::Open);

    // Terminal status and counter come before the order: a stale counter, then a suspended
    // and a revoked terminal.
    let before = snapshot(&w).await;
    let last = store.terminal(t).await.unwrap().unwrap().last_counter.unwrap();
    let mut stale = w.record(2_001, t, &order, "100.00", last.0);
    let r = store.commit_payment(&stale, T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::StaleCounter));
    stale.tx_id = tx(2_002);
    stale.counter = Counter(0);
    assert_eq!(
        store.commit_payment(&stale, T0, respond).await.unwrap().outcome(),
        Outcome::Declined(ReasonCode::StaleCounter)
    );
    assert_eq!(store.terminal(t).await.unwrap().unwrap().last_counter, Some(last));
    store.set_terminal_status(t, TerminalStatus::Suspended, T0).await.unwrap();
    let r = store.commit_payment(&w.record(2_003, t, &order, "100.00", last.0 + 1), T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::TerminalSuspended));
    store.set_terminal_status(t, TerminalStatus::Revoked, T0).await.unwrap();
    let r = store.commit_payment(&w.record(2_004, t, &order, "100.00", last.0 + 2), T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::TerminalRevoked));
    // None of these consumed the counter or changed the ledger.
    assert_eq!(store.terminal(t).await.unwrap().unwrap().last_counter, Some(last));
    assert_eq!(snapshot(&w).await, before);

    // Another terminal pays the order after all these declines.
    let t2 = w.enroll(2).await;
    let r = store.commit_payment(&w.record(3_000, &t2, &order, "100.00", 1), T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Approved);
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.declined_payments, 13);
}

async fn overdraft_is_usable_to_its_limit(store: &Store) {
    let w = World::with_overdraft(store, "10.00", "5.00").await;
    let a = w.order("ORD-A", "15.00").await;
    let b = w.order("ORD-B", "0.01").await;
    let r = store.commit_payment(&w.record(1, &w.terminal, &a, "15.00", 1), T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Approved);
    assert_eq!(recorded(&r).balance_after.unwrap().minor, -500);
    let r = store.commit_payment(&w.record(2, &w.terminal, &b, "0.01", 2), T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::InsufficientFunds));
    assert_eq!(recorded(&r).balance_after.unwrap().minor, -500);
    assert_eq!(w.balance(w.payer).await, -500);
    assert!(store.ledger_check().await.unwrap().ok);
}

async fn decline_recorded_by_the_authorization_layer(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "10.00").await;
    let before = snapshot(&w).await;

    // A wrong PIN is found after the counter check: the counter is consumed.
    let wrong_pin = w.record(1, &w.terminal, &order, "10.00", 7);
    let r = store.record_decline(&wrong_pin, ReasonCode::WrongPin, T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::WrongPin));
    assert_eq!(recorded(&r).balance_after.unwrap().minor, 10_000);
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().last_counter, Some(Counter(7)));
    // A bad signature is not: its counter was never authenticated.
    let forged = w.record(2, &w.terminal, &order, "10.00", 100);
    store.record_decline(&forged, ReasonCode::BadSignature, T0, respond).await.unwrap();
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().last_counter, Some(Counter(7)));
    assert_eq!(snapshot(&w).await, before);

    // Recorded: a retry gets the decline, even through commit_payment.
    let again = store.commit_payment(&wrong_pin, T0, respond).await.unwrap();
    assert!(matches!(&again, PaymentResult::Replayed(s) if s.outcome == Outcome::Declined(ReasonCode::WrongPin)));
    assert_eq!(again.response(), r.response());
    let again = store.record_decline(&forged, ReasonCode::BadSignature, T0, respond).await.unwrap();
    assert!(matches!(again, PaymentResult::Replayed(_)));
    assert_eq!(snapshot(&w).await, before);
    assert_eq!(store.get_order(&order).await.unwrap().unwrap().status, OrderStatus::Open);
}

async fn invalid_input_changes_nothing(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "10.00").await;
    let before = snapshot(&w).await;
    let good = w.record(1, &w.terminal, &order, "10.00", 1);

    let mut zero = good.clone();
    zero.money.amount = Amount::ZERO;
    let mut empty = good.clone();
    empty.request.clear();
    let mut huge = good.clone();
    huge.request = vec![0xa5; wearpay_pay::MAX_MESSAGE_LEN + 1];
    let mut counter = good.clone();
    counter.counter = Counter(u64::MAX);
    let mut time = good.clone();
    time.tx_id = tx(2);
    for (what, record) in [("zero", zero), ("empty", empty), ("huge", huge), ("counter", counter)] {
        let r = store.commit_payment(&record, T0, respond).await;
        assert!(matches!(r, Err(Error::Invalid { .. })), "{what}: {r:?}");
        let r = store.record_decline(&record, ReasonCode::BadEvidence, T0, respond).await;
        assert!(matches!(r, Err(Error::Invalid { .. })), "{what}: {r:?}");
    }
    let r = store.commit_payment(&time, Timestamp(u64::MAX), respond).await;
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    let mut unknown = good.clone();
    unknown.terminal = serial(404);
    let r = store.commit_payment(&unknown, T0, respond).await;
    assert!(matches!(r, Err(Error::NotFound { what: "terminal" })), "{r:?}");
    // A response the store will not keep.
    let r = store.commit_payment(&good, T0, |_| Ok::<_, core::convert::Infallible>(Vec::new())).await;
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");

    assert!(store.lookup_tx(&tx(1)).await.unwrap().is_none());
    assert!(store.lookup_tx(&tx(2)).await.unwrap().is_none());
    assert_eq!(snapshot(&w).await, before);
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().last_counter, None);
    assert_eq!(store.get_order(&order).await.unwrap().unwrap().status, OrderStatus::Open);
    // And the valid request still goes through.
    assert_eq!(store.commit_payment(&good, T0, respond).await.unwrap().outcome(), Outcome::Approved);
}

async fn failed_response_builder_records_nothing(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "10.00").await;
    let before = snapshot(&w).await;
    let record = w.record(1, &w.terminal, &order, "10.00", 1);
    let r = store.commit_payment(&record, T0, |_| Err::<Vec<u8>, _>(std::io::Error::other("key store offline"))).await;
    assert!(matches!(r, Err(Error::Response(_))), "{r:?}");
    assert!(store.lookup_tx(&tx(1)).await.unwrap().is_none());
    assert_eq!(snapshot(&w).await, before);
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().last_counter, None);
    assert_eq!(store.get_order(&order).await.unwrap().unwrap().status, OrderStatus::Open);
    // The band's retry is then decided afresh.
    assert_eq!(store.commit_payment(&record, T0, respond).await.unwrap().outcome(), Outcome::Approved);
}

async fn second_payment_of_an_order_is_declined(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "10.00").await;
    let t2 = w.enroll(2).await;
    let first = store.commit_payment(&w.record(1, &w.terminal, &order, "10.00", 1), T0, respond).await.unwrap();
    assert_eq!(first.outcome(), Outcome::Approved);
    let before = snapshot(&w).await;
    for (n, t) in [(2, &w.terminal), (3, &t2)] {
        let r = store.commit_payment(&w.record(n, t, &order, "10.00", 2), T0, respond).await.unwrap();
        assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::OrderPaid));
    }
    assert_eq!(snapshot(&w).await, before);
    let o = store.get_order(&order).await.unwrap().unwrap();
    assert_eq!(o.paid_tx, Some(tx(1)));
}

/// Behind the store's back, the schema itself refuses a second approved payment for an
/// order, a balance below its overdraft, and a refund above the payment.
async fn schema_refuses_what_the_store_never_does(db: &TestDb) {
    let store = &db.store;
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "10.00").await;
    store.commit_payment(&w.record(1, &w.terminal, &order, "10.00", 1), T0, respond).await.unwrap();
    let r = store.commit_payment(&w.record(2, &w.terminal, &order, "10.00", 2), T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::OrderPaid));
    for sql in [
        "UPDATE payments SET outcome = 0 WHERE outcome <> 0",
        "UPDATE accounts SET balance = -1 WHERE kind = 'customer'",
        "UPDATE payments SET refunded = amount + 1 WHERE outcome = 0",
        "UPDATE orders SET paid_tx_id = NULL",
        "UPDATE terminals SET status = 'lost'",
    ] {
        let e = db.raw(sql).await.expect_err(sql);
        let e = e.as_database_error().unwrap_or_else(|| panic!("{sql}: {e}"));
        assert!(e.is_unique_violation() || e.is_check_violation(), "{sql}: {e}");
    }
    // The store never changed.
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.approved_payments, report.declined_payments), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_refuses_sqlite() {
    schema_refuses_what_the_store_never_does(&TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_refuses_postgres() {
    if let Some(db) = TestDb::postgres().await {
        schema_refuses_what_the_store_never_does(&db).await;
    }
}
