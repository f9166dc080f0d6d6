//! Refunds: partial, full, never more than paid, idempotent by id, reverse postings.
use wearpay_center::{Error, HistoryKind, RefundId, RefundRefusal, Store};
use wearpay_pay::{Amount, Outcome, ReasonCode, Timestamp};

use crate::common::{T0, World, cny, on_both, respond, tx};

on_both!(refunds_reverse_postings_up_to_the_amount_paid, refunds_of_what_was_not_paid_are_refused);

fn id(s: &str) -> RefundId {
    RefundId::new(s).unwrap()
}

async fn refunds_reverse_postings_up_to_the_amount_paid(store: &Store) {
    let w = World::new(store, "100.00").await;
    let order = w.order("ORD-1", "40.00").await;
    let paid = store.commit_payment(&w.record(1, &w.terminal, &order, "40.00", 1), T0, respond).await.unwrap();
    assert_eq!(paid.outcome(), Outcome::Approved);
    assert_eq!((w.balance(w.payer).await, w.balance(w.merchant_account).await), (6_000, 4_000));

    // Partial.
    let later = Timestamp(T0.0 + 3_600);
    let r1 = store.refund(&id("R-1"), &tx(1), cny("15.00").amount, later).await.unwrap();
    assert!(!r1.replayed);
    assert_eq!((r1.money, r1.paid, r1.refunded_total), (cny("15.00"), cny("40.00").amount, cny("15.00").amount));
    assert_eq!((r1.payer, r1.merchant, r1.created_at), (w.payer, w.merchant_account, later));
    assert_eq!((w.balance(w.payer).await, w.balance(w.merchant_account).await), (7_500, 2_500));

    // Idempotent by id: the same refund again books nothing more.
    let again = store.refund(&id("R-1"), &tx(1), cny("15.00").amount, Timestamp(later.0 + 60)).await.unwrap();
    assert!(again.replayed);
    assert_eq!((again.ledger_tx, again.created_at, again.money), (r1.ledger_tx, later, r1.money));
    assert_eq!(store.get_refund(&id("R-1")).await.unwrap().map(|r| r.ledger_tx), Some(r1.ledger_tx));
    assert!(store.get_refund(&id("R-404")).await.unwrap().is_none());
    // The same id for another amount or payment is a conflict.
    for (t, amount) in [(tx(1), "16.00"), (tx(2), "15.00")] {
        let r = store.refund(&id("R-1"), &t, cny(amount).amount, later).await;
        assert!(matches!(r, Err(Error::Refund(RefundRefusal::IdConflict))), "{r:?}");
    }

    // More than what remains is refused; exactly what remains is the full refund.
    let r = store.refund(&id("R-2"), &tx(1), cny("25.01").amount, later).await;
    assert!(
        matches!(r, Err(Error::Refund(RefundRefusal::ExceedsPaid { remaining })) if remaining == cny("25.00").amount),
        "{r:?}"
    );
    let r2 = store.refund(&id("R-2"), &tx(1), cny("25.00").amount, later).await.unwrap();
    assert_eq!(r2.refunded_total, cny("40.00").amount);
    let r = store.refund(&id("R-3"), &tx(1), cny("0.01").amount, later).await;
    assert!(
        matches!(r, Err(Error::Refund(RefundRefusal::ExceedsPaid { remaining })) if remaining == Amount::ZERO),
        "{r:?}"
    );
    assert_eq!((w.balance(w.payer).await, w.balance(w.merchant_account).await), (10_000, 0));
    assert_eq!(store.lookup_tx(&tx(1)).await.unwrap().unwrap().refunded, cny("40.00").amount);

    // The reverse postings, in both histories.
    let payer = store.history(w.payer, 10, None).await.unwrap();
    assert_eq!(
        payer.iter().map(|h| (h.kind, h.amount.minor)).collect::<Vec<_>>(),
        vec![
            (HistoryKind::Refund, 2_500),
            (HistoryKind::Refund, 1_500),
            (HistoryKind::Payment, -4_000),
            (HistoryKind::Deposit, 10_000)
        ]
    );
    assert_eq!(payer[0].refund_id, Some(id("R-2")));
    assert_eq!(payer[0].tx_id, Some(tx(1)));
    assert_eq!(payer[0].order_id, Some(order));
    let merchant = store.history(w.merchant_account, 10, None).await.unwrap();
    assert_eq!(merchant.iter().map(|h| h.amount.minor).collect::<Vec<_>>(), vec![-2_500, -1_500, 4_000]);

    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.postings, 2 + 2 + 2 + 2);
}

async fn refunds_of_what_was_not_paid_are_refused(store: &Store) {
    let w = World::new(store, "10.00").await;
    let order = w.order("ORD-1", "40.00").await;
    let declined = store.commit_payment(&w.record(1, &w.terminal, &order, "40.00", 1), T0, respond).await.unwrap();
    assert_eq!(declined.outcome(), Outcome::Declined(ReasonCode::InsufficientFunds));
    let before = store.ledger_check().await.unwrap();
    let r = store.refund(&id("R-1"), &tx(1), cny("1.00").amount, T0).await;
    assert!(matches!(r, Err(Error::Refund(RefundRefusal::NotApproved))), "{r:?}");
    let r = store.refund(&id("R-1"), &tx(404), cny("1.00").amount, T0).await;
    assert!(matches!(r, Err(Error::Refund(RefundRefusal::UnknownTransaction))), "{r:?}");
    let r = store.refund(&id("R-1"), &tx(1), Amount::ZERO, T0).await;
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    assert!(
        RefundId::new("").is_err() && RefundId::new("has space").is_err() && RefundId::new(&"x".repeat(65)).is_err()
    );
    // Nothing booked, and the refused id stays free.
    assert!(store.get_refund(&id("R-1")).await.unwrap().is_none());
    assert_eq!(store.ledger_check().await.unwrap(), before);
    assert_eq!(w.balance(w.payer).await, 1_000);
}
