//! Daily limits per terminal and mode, counted in Asia/Shanghai days on an injected clock.
use wearpay_center::{PaymentRecord, Store};
use wearpay_pay::{Mode, Outcome, ReasonCode, Timestamp};

use crate::common::{NEXT_MIDNIGHT, T0, World, cny, on_both, respond};

on_both!(
    daily_limit_rolls_over_at_midnight_in_shanghai,
    limits_count_per_terminal_and_mode,
    a_declined_payment_does_not_count_against_the_limit,
);

/// Pays `order` in `mode` with terminal 1 at `now`; returns the outcome.
async fn pay(w: &World, n: u128, amount: &str, mode: Mode, counter: u64, now: Timestamp) -> Outcome {
    let order = w.order(&format!("ORD-{n}"), amount).await;
    let record: PaymentRecord = w.record_in(n, &w.terminal, &order, cny(amount), mode, counter);
    w.store.commit_payment(&record, now, respond).await.unwrap().outcome()
}

async fn daily_limit_rolls_over_at_midnight_in_shanghai(store: &Store) {
    // Quick mode: 1000.00 per payment, 3000.00 per day (Policy::default()).
    let w = World::new(store, "10000.00").await;
    let evening = Timestamp(NEXT_MIDNIGHT.0 - 3_600); // 23:00 in Shanghai, 15:00 UTC
    assert_eq!(pay(&w, 1, "1000.01", Mode::Quick, 1, evening).await, Outcome::Declined(ReasonCode::LimitPerTx));
    for n in 2..=4 {
        assert_eq!(pay(&w, n, "1000.00", Mode::Quick, n as u64, evening).await, Outcome::Approved);
    }
    let last_second = Timestamp(NEXT_MIDNIGHT.0 - 1);
    assert_eq!(pay(&w, 5, "0.01", Mode::Quick, 5, last_second).await, Outcome::Declined(ReasonCode::LimitDaily));
    // Midnight in Shanghai (16:00 UTC, still the same UTC day): a new day, a new limit.
    assert_eq!(pay(&w, 6, "1000.00", Mode::Quick, 6, NEXT_MIDNIGHT).await, Outcome::Approved);
    assert_eq!(pay(&w, 7, "1000.00", Mode::Quick, 7, NEXT_MIDNIGHT).await, Outcome::Approved);
    assert_eq!(pay(&w, 8, "1000.00", Mode::Quick, 8, Timestamp(NEXT_MIDNIGHT.0 + 3_600)).await, Outcome::Approved);
    assert_eq!(
        pay(&w, 9, "0.01", Mode::Quick, 9, Timestamp(NEXT_MIDNIGHT.0 + 86_399)).await,
        Outcome::Declined(ReasonCode::LimitDaily)
    );
    assert_eq!(pay(&w, 10, "0.01", Mode::Quick, 10, Timestamp(NEXT_MIDNIGHT.0 + 86_400)).await, Outcome::Approved);
    assert_eq!(store.lookup_tx(&crate::common::tx(4)).await.unwrap().unwrap().day, 20250601);
    assert_eq!(store.lookup_tx(&crate::common::tx(6)).await.unwrap().unwrap().day, 20250602);
    assert_eq!(w.balance(w.payer).await, 1_000_000 - 600_001);
    assert!(store.ledger_check().await.unwrap().ok);
}

async fn limits_count_per_terminal_and_mode(store: &Store) {
    let w = World::new(store, "100000.00").await;
    for n in 1..=3 {
        assert_eq!(pay(&w, n, "1000.00", Mode::Quick, n as u64, T0).await, Outcome::Approved);
    }
    assert_eq!(pay(&w, 4, "1.00", Mode::Quick, 4, T0).await, Outcome::Declined(ReasonCode::LimitDaily));
    // Biometric mode has a counter of its own.
    assert_eq!(pay(&w, 5, "1.00", Mode::Biometric, 5, T0).await, Outcome::Approved);
    // So does another terminal of the same account.
    let t2 = w.enroll(2).await;
    let order = w.order("ORD-T2", "1000.00").await;
    let r = store.commit_payment(&w.record(6, &t2, &order, "1000.00", 1), T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Approved);

    // A limit over all modes together counts every mode's payments of the day.
    let order = w.order("ORD-ALL", "1.00").await;
    let mut record = w.record_in(7, &w.terminal, &order, cny("1.00"), Mode::Pin, 7);
    record.limits.daily_all_modes = Some(cny("3001.00").amount);
    let r = store.commit_payment(&record, T0, respond).await.unwrap();
    assert_eq!(r.outcome(), Outcome::Declined(ReasonCode::LimitDaily), "3000.00 quick + 1.00 biometric + 1.00");
    record.tx_id = crate::common::tx(8);
    record.counter = wearpay_pay::Counter(8);
    record.request.push(b'!');
    record.limits.daily_all_modes = Some(cny("3002.00").amount);
    assert_eq!(store.commit_payment(&record, T0, respond).await.unwrap().outcome(), Outcome::Approved);
    assert!(store.ledger_check().await.unwrap().ok);
}

async fn a_declined_payment_does_not_count_against_the_limit(store: &Store) {
    let w = World::new(store, "2500.00").await;
    assert_eq!(pay(&w, 1, "1000.00", Mode::Quick, 1, T0).await, Outcome::Approved);
    assert_eq!(pay(&w, 2, "1000.00", Mode::Quick, 2, T0).await, Outcome::Approved);
    // The limit is counted before the funds; the decline for funds undoes the count.
    assert_eq!(pay(&w, 3, "1000.00", Mode::Quick, 3, T0).await, Outcome::Declined(ReasonCode::InsufficientFunds));
    store.deposit(w.payer, cny("1000.00"), T0).await.unwrap();
    assert_eq!(pay(&w, 4, "1000.00", Mode::Quick, 4, T0).await, Outcome::Approved);
    assert_eq!(pay(&w, 5, "0.01", Mode::Quick, 5, T0).await, Outcome::Declined(ReasonCode::LimitDaily));
    assert_eq!(w.balance(w.payer).await, 50_000);
}
