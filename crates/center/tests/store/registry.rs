//! Accounts, deposits, merchants, orders, terminals, counters and PIN try counters.
use wearpay_center::{
    AccountKind, Backend, Error, HistoryKind, Location, NewAccount, NewMerchant, NewOrder, NewTerminal, OrderStatus,
    PinState, SQLITE_FILE, Store, StoreConfig, TerminalStatus,
};
use wearpay_pay::{Counter, Currency, Description, MerchantId, MerchantName, OrderId, Pan, Timestamp};

use crate::common::{NEXT_MIDNIGHT, T0, World, cny, on_both, serial};

on_both!(
    accounts_are_created_and_read,
    deposits_come_from_one_funding_account,
    merchants_and_orders,
    terminals_change_status_and_revoked_is_final,
    counters_only_increase,
    pin_locks_after_five_wrong_and_unlocks,
);

async fn accounts_are_created_and_read(store: &Store) {
    let pan = Pan::new("6222020200112233445").unwrap();
    let alice = store
        .create_account(
            NewAccount::customer("Alice", Currency::CNY).with_overdraft(cny("100.00").amount).with_pan(pan.clone()),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(alice.kind, AccountKind::Customer);
    assert_eq!(alice.balance.minor, 0);
    assert_eq!(alice.currency(), Currency::CNY);
    assert_eq!(alice.overdraft_limit.minor(), 10_000);
    assert_eq!(alice.pan.as_ref(), Some(&pan));
    assert_eq!(alice.pin, PinState::default());
    assert_eq!(alice.created_at, T0);
    assert_eq!(store.account(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.account_by_pan(&pan).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.balance(alice.id).await.unwrap().minor, 0);

    // A PAN belongs to one account, and only to a customer's.
    let again = store.create_account(NewAccount::customer("Mallory", Currency::CNY).with_pan(pan.clone()), T0).await;
    assert!(matches!(again, Err(Error::AlreadyExists { what: "account" })), "{again:?}");
    let merchant_pan = store.create_account(NewAccount::merchant("Shop", Currency::CNY).with_pan(pan), T0).await;
    assert!(matches!(merchant_pan, Err(Error::Invalid { .. })), "{merchant_pan:?}");
    for bad in ["", "tab\there", &"x".repeat(129)] {
        let r = store.create_account(NewAccount::customer(bad, Currency::CNY), T0).await;
        assert!(matches!(r, Err(Error::Invalid { .. })), "{bad:?}: {r:?}");
    }

    let missing = wearpay_center::AccountId(9_999);
    assert!(store.account(missing).await.unwrap().is_none());
    assert!(matches!(store.balance(missing).await, Err(Error::NotFound { what: "account" })));

    // PIN verification value and reporting secret.
    store.set_pin_verification(alice.id, Some(vec![7; 32])).await.unwrap();
    store.set_report_secret_hash(alice.id, Some(vec![9; 32])).await.unwrap();
    let a = store.account(alice.id).await.unwrap().unwrap();
    assert_eq!(a.pin_verification, Some(vec![7; 32]));
    assert_eq!(a.report_secret_hash, Some(vec![9; 32]));
    assert!(matches!(store.set_pin_verification(alice.id, Some(Vec::new())).await, Err(Error::Invalid { .. })));
    let shop = store.create_account(NewAccount::merchant("Shop", Currency::CNY), T0).await.unwrap();
    assert!(matches!(store.set_pin_verification(shop.id, Some(vec![1; 32])).await, Err(Error::Invalid { .. })));
    assert!(matches!(store.set_pin_verification(missing, None).await, Err(Error::NotFound { .. })));
    assert!(store.ledger_check().await.unwrap().ok);
}

async fn deposits_come_from_one_funding_account(store: &Store) {
    let alice = store.create_account(NewAccount::customer("Alice", Currency::CNY), T0).await.unwrap();
    let bob = store.create_account(NewAccount::customer("Bob", Currency::CNY), T0).await.unwrap();
    let d1 = store.deposit(alice.id, cny("500.00"), T0).await.unwrap();
    let d2 = store.deposit(alice.id, cny("0.25"), Timestamp(T0.0 + 1)).await.unwrap();
    let d3 = store.deposit(bob.id, cny("1.00"), T0).await.unwrap();
    assert_eq!(d1.balance.minor, 50_000);
    assert_eq!(d2.balance.minor, 50_025);
    assert_eq!(d1.funding_account, d2.funding_account);
    assert_eq!(d1.funding_account, d3.funding_account);
    assert_eq!(store.balance(alice.id).await.unwrap().minor, 50_025);
    let funding = store.account(d1.funding_account).await.unwrap().unwrap();
    assert_eq!(funding.kind, AccountKind::System);
    assert_eq!(funding.balance.minor, -50_125);

    // Refused, and nothing booked.
    let usd = wearpay_pay::Money::parse("1.00 USD").unwrap();
    assert!(matches!(store.deposit(alice.id, usd, T0).await, Err(Error::Invalid { .. })));
    assert!(matches!(store.deposit(alice.id, cny("0.00"), T0).await, Err(Error::Invalid { .. })));
    assert!(matches!(store.deposit(funding.id, cny("1.00"), T0).await, Err(Error::Invalid { .. })));
    assert!(matches!(
        store.deposit(wearpay_center::AccountId(9_999), cny("1.00"), T0).await,
        Err(Error::NotFound { .. })
    ));

    let history = store.history(alice.id, 10, None).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].kind, HistoryKind::Deposit);
    assert_eq!(history[0].amount.minor, 25);
    assert_eq!(history[0].at, Timestamp(T0.0 + 1));
    assert_eq!(history[1].amount.minor, 50_000);
    let older = store.history(alice.id, 10, Some(history[0].cursor)).await.unwrap();
    assert_eq!(older, history[1..].to_vec());
    assert!(matches!(store.history(alice.id, 0, None).await, Err(Error::Invalid { .. })));

    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.currency_totals, vec![(Currency::CNY, 0)]);
    assert_eq!(report.postings, 6);
    assert_eq!(report.accounts, 3);
}

async fn merchants_and_orders(store: &Store) {
    let w = World::new(store, "0.00").await;
    let name = MerchantName::new("Noodle Bar").unwrap();
    // A merchant needs a merchant account of its own.
    let r = store
        .create_merchant(NewMerchant { id: MerchantId::new("M-2").unwrap(), name: name.clone(), account: w.payer }, T0)
        .await;
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    let r = store
        .create_merchant(NewMerchant { id: w.merchant.clone(), name: name.clone(), account: w.merchant_account }, T0)
        .await;
    assert!(matches!(r, Err(Error::AlreadyExists { .. })), "{r:?}");
    let m = store.merchant(&w.merchant).await.unwrap().unwrap();
    assert_eq!(m.account, w.merchant_account);
    assert_eq!(m.name.as_str(), "Tea House");
    assert!(store.merchant(&MerchantId::new("nobody").unwrap()).await.unwrap().is_none());

    let new = |id: &str, money, expires_at| NewOrder {
        order_id: OrderId::new(id).unwrap(),
        merchant: w.merchant.clone(),
        money,
        description: Description::new("Tea").unwrap(),
        expires_at,
    };
    let later = Timestamp(T0.0 + 600);
    let order = store.create_order(new("ORD-1", cny("12.50"), later), T0).await.unwrap();
    assert_eq!(order.status, OrderStatus::Open);
    assert_eq!(order.merchant_account, w.merchant_account);
    assert_eq!(order.order.merchant_name.as_str(), "Tea House");
    assert_eq!(order.order.amount.minor(), 1250);
    assert_eq!(order.order.expires_at, later);
    assert_eq!(order.paid_tx, None);
    assert_eq!(store.get_order(&OrderId::new("ORD-1").unwrap()).await.unwrap(), Some(order.clone()));
    assert_eq!(order.status_at(later), OrderStatus::Expired);
    assert_eq!(order.status_at(T0), OrderStatus::Open);
    assert!(store.get_order(&OrderId::new("ORD-404").unwrap()).await.unwrap().is_none());

    let dup = store.create_order(new("ORD-1", cny("1.00"), later), T0).await;
    assert!(matches!(dup, Err(Error::AlreadyExists { what: "order" })), "{dup:?}");
    let usd = wearpay_pay::Money::parse("1.00 USD").unwrap();
    assert!(matches!(store.create_order(new("ORD-2", usd, later), T0).await, Err(Error::Invalid { .. })));
    assert!(matches!(store.create_order(new("ORD-2", cny("0.00"), later), T0).await, Err(Error::Invalid { .. })));
    assert!(matches!(store.create_order(new("ORD-2", cny("1.00"), T0), T0).await, Err(Error::Invalid { .. })));
    let mut unknown = new("ORD-2", cny("1.00"), later);
    unknown.merchant = MerchantId::new("M-404").unwrap();
    assert!(matches!(store.create_order(unknown, T0).await, Err(Error::NotFound { what: "merchant" })));

    assert_eq!(store.expire_orders(T0).await.unwrap(), 0);
    assert_eq!(store.expire_orders(later).await.unwrap(), 1);
    let expired = store.get_order(&OrderId::new("ORD-1").unwrap()).await.unwrap().unwrap();
    assert_eq!(expired.status, OrderStatus::Expired);
}

async fn terminals_change_status_and_revoked_is_final(store: &Store) {
    let w = World::new(store, "0.00").await;
    let t = store.terminal(&w.terminal).await.unwrap().unwrap();
    assert_eq!(t.status, TerminalStatus::Active);
    assert_eq!(t.account, w.payer);
    assert_eq!(t.last_counter, None);
    assert_eq!(t.certificate, vec![0x30, 0x03, 1, 2, 3]);
    assert_eq!((t.enrolled_at, t.status_changed_at), (T0, T0));

    let dup = store
        .enroll_terminal(NewTerminal { serial: w.terminal.clone(), account: w.payer, certificate: vec![1] }, T0)
        .await;
    assert!(matches!(dup, Err(Error::AlreadyExists { what: "terminal" })), "{dup:?}");
    let on_merchant = store
        .enroll_terminal(NewTerminal { serial: serial(9), account: w.merchant_account, certificate: vec![1] }, T0)
        .await;
    assert!(matches!(on_merchant, Err(Error::Invalid { .. })), "{on_merchant:?}");
    let no_cert =
        store.enroll_terminal(NewTerminal { serial: serial(9), account: w.payer, certificate: vec![] }, T0).await;
    assert!(matches!(no_cert, Err(Error::Invalid { .. })), "{no_cert:?}");

    let t1 = Timestamp(T0.0 + 10);
    let s = store.set_terminal_status(&w.terminal, TerminalStatus::Suspended, t1).await.unwrap();
    assert_eq!((s.status, s.status_changed_at), (TerminalStatus::Suspended, t1));
    // The same status again changes nothing, not even the time.
    let s = store.set_terminal_status(&w.terminal, TerminalStatus::Suspended, Timestamp(T0.0 + 20)).await.unwrap();
    assert_eq!(s.status_changed_at, t1);
    let s = store.set_terminal_status(&w.terminal, TerminalStatus::Active, Timestamp(T0.0 + 30)).await.unwrap();
    assert_eq!(s.status, TerminalStatus::Active);
    let s = store.set_terminal_status(&w.terminal, TerminalStatus::Revoked, Timestamp(T0.0 + 40)).await.unwrap();
    assert_eq!(s.status, TerminalStatus::Revoked);
    for back in [TerminalStatus::Active, TerminalStatus::Suspended] {
        let r = store.set_terminal_status(&w.terminal, back, Timestamp(T0.0 + 50)).await;
        assert!(matches!(r, Err(Error::TerminalRevoked)), "{r:?}");
    }
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().status, TerminalStatus::Revoked);
    assert_eq!(store.revoked_terminals().await.unwrap(), vec![(w.terminal.clone(), Timestamp(T0.0 + 40))]);
    assert!(matches!(
        store.set_terminal_status(&serial(404), TerminalStatus::Suspended, T0).await,
        Err(Error::NotFound { what: "terminal" })
    ));

    let second = w.enroll(2).await;
    let mine = store.terminals_of(w.payer).await.unwrap();
    assert_eq!(mine.iter().map(|t| t.serial.clone()).collect::<Vec<_>>(), vec![w.terminal.clone(), second]);
    assert!(store.terminal(&serial(404)).await.unwrap().is_none());
}

async fn counters_only_increase(store: &Store) {
    let w = World::new(store, "0.00").await;
    store.advance_counter(&w.terminal, Counter(0)).await.unwrap();
    store.advance_counter(&w.terminal, Counter(1)).await.unwrap();
    for stale in [1, 0] {
        let r = store.advance_counter(&w.terminal, Counter(stale)).await;
        assert!(matches!(r, Err(Error::StaleCounter { counter, last: Some(1) }) if counter == stale), "{r:?}");
    }
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().last_counter, Some(Counter(1)));
    store.advance_counter(&w.terminal, Counter(1_000)).await.unwrap();
    let r = store.advance_counter(&w.terminal, Counter(999)).await;
    assert!(matches!(r, Err(Error::StaleCounter { last: Some(1_000), .. })), "{r:?}");
    assert_eq!(store.terminal(&w.terminal).await.unwrap().unwrap().last_counter, Some(Counter(1_000)));
    assert!(matches!(store.advance_counter(&w.terminal, Counter(u64::MAX)).await, Err(Error::Invalid { .. })));
    assert!(matches!(store.advance_counter(&serial(404), Counter(5)).await, Err(Error::NotFound { .. })));
}

async fn pin_locks_after_five_wrong_and_unlocks(store: &Store) {
    let w = World::new(store, "0.00").await;
    let a = w.payer;
    let state = |failures, locked| PinState { failures, locked };
    for i in 1..=4 {
        assert_eq!(store.record_pin_attempt(a, false, T0).await.unwrap(), state(i, false));
    }
    // A right PIN resets the count.
    assert_eq!(store.record_pin_attempt(a, true, T0).await.unwrap(), state(0, false));
    for i in 1..=4 {
        assert_eq!(store.record_pin_attempt(a, false, T0).await.unwrap(), state(i, false));
    }
    assert_eq!(store.record_pin_attempt(a, false, T0).await.unwrap(), state(5, true));
    // Locked: nothing counts, not even the right PIN.
    assert_eq!(store.record_pin_attempt(a, true, T0).await.unwrap(), state(5, true));
    assert_eq!(store.record_pin_attempt(a, false, T0).await.unwrap(), state(5, true));
    assert_eq!(store.pin_state(a).await.unwrap(), state(5, true));
    assert_eq!(store.account(a).await.unwrap().unwrap().pin, state(5, true));
    // An administrator unlocks.
    assert_eq!(store.unlock_pin(a, T0).await.unwrap(), state(0, false));
    assert_eq!(store.record_pin_attempt(a, false, T0).await.unwrap(), state(1, false));
    // A new PIN verification value starts afresh.
    store.set_pin_verification(a, Some(vec![3; 32])).await.unwrap();
    assert_eq!(store.pin_state(a).await.unwrap(), state(0, false));
    let missing = wearpay_center::AccountId(9_999);
    assert!(matches!(store.record_pin_attempt(missing, false, T0).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.unlock_pin(missing, T0).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn pin_lockout_threshold_is_configurable() {
    let db = crate::common::TestDb::sqlite_with(StoreConfig { pin_max_tries: 3, ..StoreConfig::default() }).await;
    let w = World::new(&db.store, "0.00").await;
    for _ in 0..2 {
        assert!(!db.store.record_pin_attempt(w.payer, false, T0).await.unwrap().locked);
    }
    assert!(db.store.record_pin_attempt(w.payer, false, T0).await.unwrap().locked);
}

#[tokio::test]
async fn sqlite_is_a_wal_file_made_on_first_start_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let location = Location::parse(data.to_str().unwrap());
    assert_eq!(location, Location::Sqlite(data.clone()));
    let store = Store::open(&location, StoreConfig::default()).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    let alice = store.create_account(NewAccount::customer("Alice", Currency::CNY), T0).await.unwrap();
    store.deposit(alice.id, cny("1.00"), T0).await.unwrap();
    assert!(data.join(SQLITE_FILE).is_file());
    assert!(data.join(format!("{SQLITE_FILE}-wal")).is_file(), "WAL mode");
    store.close().await;

    // Reopening runs no migration twice and finds everything.
    let store =
        Store::open(&Location::parse(&format!("sqlite://{}", data.display())), StoreConfig::default()).await.unwrap();
    assert_eq!(store.balance(alice.id).await.unwrap().minor, 100);
    assert!(store.ledger_check().await.unwrap().ok);
    store.close().await;
}

#[test]
fn locations_and_days() {
    assert!(matches!(Location::parse("postgres://u:p@h/db"), Location::Postgres(_)));
    assert!(matches!(Location::parse("postgresql://h/db"), Location::Postgres(_)));
    assert_eq!(format!("{:?}", Location::parse("postgres://u:secret@h/db")), "Postgres(..)");
    assert_eq!(Location::parse("sqlite:///var/lib/x"), Location::Sqlite("/var/lib/x".into()));

    let shanghai = StoreConfig::default().time_zone;
    assert_eq!(wearpay_center::day_key(T0, shanghai).unwrap(), 20250601);
    assert_eq!(wearpay_center::day_key(Timestamp(NEXT_MIDNIGHT.0 - 1), shanghai).unwrap(), 20250601);
    assert_eq!(wearpay_center::day_key(NEXT_MIDNIGHT, shanghai).unwrap(), 20250602);
    // In UTC that moment is still the first of June.
    assert_eq!(wearpay_center::day_key(NEXT_MIDNIGHT, wearpay_center::Tz::UTC).unwrap(), 20250601);
    assert_eq!(wearpay_center::day_key(Timestamp(0), wearpay_center::Tz::UTC).unwrap(), 19700101);
    assert!(wearpay_center::day_key(Timestamp(u64::MAX), shanghai).is_err());
}
