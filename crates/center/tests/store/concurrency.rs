//! Concurrent payments, retries and refunds: never an overdraft, never twice.
use tokio::task::JoinSet;
use wearpay_center::{Error, PaymentResult, RefundId, RefundRefusal, Store};
use wearpay_pay::{Outcome, ReasonCode};

use crate::common::{T0, World, cny, on_both, respond, tx};

on_both!(
    two_hundred_parallel_payments_never_overdraw,
    one_tx_id_retried_twenty_times_at_once_pays_once,
    one_order_paid_by_many_at_once_is_paid_once,
    parallel_refunds_never_exceed_the_payment,
);

const PAYMENTS: u32 = 200;

async fn two_hundred_parallel_payments_never_overdraw(store: &Store) {
    // 200 bands on one account, each paying its own order of 10.00 at the same time, with
    // funds for 100 of them and a half.
    let w = World::new(store, "1005.00").await;
    let initial = w.balance(w.payer).await;
    let mut records = Vec::new();
    for i in 0..PAYMENTS {
        let terminal = if i == 0 { w.terminal.clone() } else { w.enroll(i + 1).await };
        let order = w.order(&format!("ORD-{i}"), "10.00").await;
        records.push(w.record(u128::from(i) + 1, &terminal, &order, "10.00", 1));
    }
    let mut tasks = JoinSet::new();
    for record in records {
        let store = store.clone();
        tasks.spawn(async move { store.commit_payment(&record, T0, respond).await.unwrap().outcome() });
    }
    let (mut approved, mut insufficient) = (0i64, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Outcome::Approved => approved += 1,
            Outcome::Declined(ReasonCode::InsufficientFunds) => insufficient += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((approved, insufficient), (100, 100));
    let balance = w.balance(w.payer).await;
    assert_eq!(balance, initial - approved * 1_000);
    assert_eq!(balance, 500);
    assert_eq!(w.balance(w.merchant_account).await, approved * 1_000);
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.approved_payments, 100);
    assert_eq!(report.declined_payments, 100);
}

async fn one_tx_id_retried_twenty_times_at_once_pays_once(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "25.00").await;
    let record = w.record(1, &w.terminal, &order, "25.00", 1);
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let (store, record) = (store.clone(), record.clone());
        tasks.spawn(async move { store.commit_payment(&record, T0, respond).await.unwrap() });
    }
    let (mut new, mut replayed, mut responses) = (0, 0, Vec::new());
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.outcome(), Outcome::Approved);
        responses.push(r.response().unwrap().to_vec());
        match r {
            PaymentResult::Recorded(_) => new += 1,
            PaymentResult::Replayed(_) => replayed += 1,
            PaymentResult::DuplicateConflict => panic!("conflict"),
        }
    }
    assert_eq!((new, replayed), (1, 19));
    assert!(responses.windows(2).all(|p| p[0] == p[1]), "every retry gets the same bytes");
    assert_eq!(w.balance(w.payer).await, 7_500);
    assert_eq!(w.balance(w.merchant_account).await, 2_500);
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.approved_payments, report.declined_payments), (1, 0));
}

async fn one_order_paid_by_many_at_once_is_paid_once(store: &Store) {
    let w = World::new(store, "1000.00").await;
    let order = w.order("ORD-1", "25.00").await;
    let mut tasks = JoinSet::new();
    for i in 0..10u32 {
        let terminal = if i == 0 { w.terminal.clone() } else { w.enroll(i + 1).await };
        let (store, record) = (store.clone(), w.record(u128::from(i) + 1, &terminal, &order, "25.00", 1));
        tasks.spawn(async move { store.commit_payment(&record, T0, respond).await.unwrap().outcome() });
    }
    let mut outcomes = Vec::new();
    while let Some(o) = tasks.join_next().await {
        outcomes.push(o.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Approved).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Declined(ReasonCode::OrderPaid)).count(), 9);
    assert_eq!(w.balance(w.payer).await, 100_000 - 2_500);
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.approved_payments, 1);
}

async fn parallel_refunds_never_exceed_the_payment(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "10.00").await;
    store.commit_payment(&w.record(1, &w.terminal, &order, "10.00", 1), T0, respond).await.unwrap();

    // Ten refunds of 3.00 under distinct ids: three fit.
    let mut tasks = JoinSet::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.spawn(async move {
            store.refund(&RefundId::new(&format!("R-{i}")).unwrap(), &tx(1), cny("3.00").amount, T0).await
        });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::Refund(RefundRefusal::ExceedsPaid { .. })) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, refused), (3, 7));

    // Ten tries of one refund id at once: booked once.
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.spawn(
            async move { store.refund(&RefundId::new("R-last").unwrap(), &tx(1), cny("1.00").amount, T0).await },
        );
    }
    let mut replayed = 0;
    while let Some(r) = tasks.join_next().await {
        replayed += usize::from(r.unwrap().unwrap().replayed);
    }
    assert_eq!(replayed, 9);
    assert_eq!(w.balance(w.payer).await, 10_000);
    assert_eq!(w.balance(w.merchant_account).await, 0);
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
}
