//! Authorization end to end: real keys (a file key store, SM2 terminal keys), real
//! databases (SQLite, and PostgreSQL when `WEARPAY_TEST_POSTGRES` is set).
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[path = "store/common.rs"]
#[allow(dead_code, unused_imports, unused_macros)]
mod common;

use std::sync::Arc;

use common::T0;
use tempfile::TempDir;
use wearpay_center::{
    AccountId, NewAccount, NewMerchant, NewOrder, NewTerminal, Store, TerminalStatus,
    authorize::{Authorizer, AuthorizerConfig},
    keystore::{FileKeyStore, KeyPurpose, KeyStore},
};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, PublicKey, SigningKey, portable::PROVIDER};
use wearpay_pay::{
    BiometricMatch, Counter, Currency, Description, Evidence, HistoryQuery, MatcherId, MerchantId, MerchantName, Mode,
    Money, Order, OrderId, OrderQuery, Outcome, Pan, PayRequest, PayRequestBuilder, Pin, PinBlock, PinChange, Policy,
    Press, Proof, ReasonCode, Request, Response, TerminalSerial, Timestamp, TxId, TxState, TxStatusQuery,
    WornAttestation, confirm_text,
};

const PASSWORD: &[u8] = b"correct horse battery staple";
const RIGHT_PIN: &str = "135790";
const NOW: Timestamp = Timestamp(T0.0 + 5);

fn pan() -> Pan {
    Pan::new("6222021234567890123").unwrap()
}

fn cny(s: &str) -> Money {
    Money::parse(&format!("{s} CNY")).unwrap()
}

struct Fx {
    store: Store,
    auth: Authorizer,
    keys: Arc<FileKeyStore>,
    _key_dir: TempDir,
    terminal_key: Box<dyn PrivateKey>,
    serial: TerminalSerial,
    payer: AccountId,
    merchant_account: AccountId,
    merchant: MerchantId,
}

impl Fx {
    async fn new(store: &Store) -> Self {
        let key_dir = tempfile::tempdir().unwrap();
        let (keys, _) = FileKeyStore::create_with_iterations(
            key_dir.path().join("keys"),
            PASSWORD,
            KeyAlgorithm::Sm2,
            &PROVIDER,
            1_000,
        )
        .unwrap();
        let keys = Arc::new(keys);
        let payer =
            store.create_account(NewAccount::customer("Alice", Currency::CNY).with_pan(pan()), T0).await.unwrap().id;
        store.deposit(payer, cny("5000.00"), T0).await.unwrap();
        // Enrollment of the PIN: the band enciphers it, the key store makes the PVV.
        let enroll = TxId([7; 16]);
        let block = PinBlock::encipher(
            &PROVIDER,
            &Pin::new(RIGHT_PIN).unwrap(),
            &pan(),
            &enroll,
            &keys.public_key(KeyPurpose::PinEnc).unwrap(),
        )
        .unwrap();
        let pvv = keys.pin_verification_value_for_new_pin(&block, &pan(), &enroll, &payer.to_string()).unwrap();
        store.set_pin_verification(payer, Some(pvv.to_vec())).await.unwrap();

        let merchant_account =
            store.create_account(NewAccount::merchant("Tea House", Currency::CNY), T0).await.unwrap().id;
        let merchant = MerchantId::new("M-0001").unwrap();
        store
            .create_merchant(
                NewMerchant {
                    id: merchant.clone(),
                    name: MerchantName::new("Tea House").unwrap(),
                    account: merchant_account,
                },
                T0,
            )
            .await
            .unwrap();
        let serial = TerminalSerial::new(&[0x5e, 0, 0, 0, 1]).unwrap();
        store
            .enroll_terminal(
                NewTerminal { serial: serial.clone(), account: payer, certificate: vec![0x30, 0x03, 1, 2, 3] },
                T0,
            )
            .await
            .unwrap();
        let terminal_key = PROVIDER.sm2.generate(PROVIDER.random).unwrap();
        let auth = Authorizer::new(store.clone(), keys.clone(), &PROVIDER, AuthorizerConfig::default());
        Self {
            store: store.clone(),
            auth,
            keys,
            _key_dir: key_dir,
            terminal_key,
            serial,
            payer,
            merchant_account,
            merchant,
        }
    }

    fn peer_key(&self) -> PublicKey {
        SigningKey::public_key(&*self.terminal_key)
    }

    async fn order(&self, id: &str, amount: &str) -> Order {
        let order_id = OrderId::new(id).unwrap();
        self.store
            .create_order(
                NewOrder {
                    order_id: order_id.clone(),
                    merchant: self.merchant.clone(),
                    money: cny(amount),
                    description: Description::new("Two cups of tea").unwrap(),
                    expires_at: Timestamp(T0.0 + 30 * 86_400),
                },
                T0,
            )
            .await
            .unwrap();
        self.store.get_order(&order_id).await.unwrap().unwrap().order
    }

    fn proof(&self, order: &Order, mode: Mode, tx_id: &TxId, pin: &str) -> Proof {
        match mode {
            Mode::Quick => {
                Proof::Quick(WornAttestation { unlocked_at: Timestamp(T0.0 - 600), worn_since_unlock: true })
            }
            Mode::Pin => Proof::Pin(
                PinBlock::encipher(
                    &PROVIDER,
                    &Pin::new(pin).unwrap(),
                    &pan(),
                    tx_id,
                    &self.keys.public_key(KeyPurpose::PinEnc).unwrap(),
                )
                .unwrap(),
            ),
            Mode::Biometric => Proof::Biometric(BiometricMatch {
                matched: true,
                matcher: MatcherId::new("fp-1").unwrap(),
                score: 9_500,
            }),
            Mode::Confirm => Proof::Confirm(confirm_text(order)),
        }
    }

    /// A request signed by the terminal's key.
    fn request(&self, order: &Order, mode: Mode, tx: u8, counter: u64) -> PayRequest {
        self.request_with(order, mode, tx, counter, true, RIGHT_PIN, &*self.terminal_key)
    }

    #[allow(clippy::too_many_arguments)]
    fn request_with(
        &self,
        order: &Order,
        mode: Mode,
        tx: u8,
        counter: u64,
        press: bool,
        pin: &str,
        key: &dyn SigningKey,
    ) -> PayRequest {
        let tx_id = TxId([tx; 16]);
        let evidence =
            Evidence { press: press.then_some(Press { tx_id, at: T0 }), proof: self.proof(order, mode, &tx_id, pin) };
        PayRequestBuilder::for_order(order, tx_id, evidence, Counter(counter), T0).sign(key).unwrap()
    }

    async fn send(&self, bytes: &[u8]) -> Vec<u8> {
        self.auth.handle(self.serial.as_bytes(), &self.peer_key(), bytes, NOW).await
    }

    /// Sends a payment request; checks the receipt against the receipt key; the outcome.
    async fn pay(&self, req: &PayRequest) -> Outcome {
        let bytes = self.send(req.encode()).await;
        let Response::Pay(resp) = Response::decode(&bytes).unwrap() else { panic!("not a pay response") };
        let receipt_key = self.keys.public_key(KeyPurpose::ReceiptSign).unwrap();
        let receipt = resp.verify_receipt(&PROVIDER, &receipt_key, req).unwrap();
        assert_eq!(receipt.terminal, self.serial);
        resp.outcome
    }

    async fn balance(&self, account: AccountId) -> i64 {
        self.store.balance(account).await.unwrap().minor
    }

    async fn query(&self, request: Request) -> Response {
        Response::decode(&self.send(&request.encode().unwrap()).await).unwrap()
    }
}

use common::on_both;

on_both!(
    each_mode_approves,
    no_press_is_press_missing,
    bad_signature,
    replayed_request_gets_the_same_bytes,
    different_bytes_same_tx_id_conflict,
    five_wrong_pins_lock,
    suspended_terminal,
    malformed_and_oversize,
    stale_counter,
    queries,
    pin_change_needs_the_old_pin,
);

async fn each_mode_approves(store: &Store) {
    let fx = Fx::new(store).await;
    let before = fx.balance(fx.payer).await;
    for (i, mode) in Mode::ALL.into_iter().enumerate() {
        let n = u8::try_from(i).unwrap() + 1;
        let order = fx.order(&format!("ORD-{n}"), "10.00").await;
        assert_eq!(fx.pay(&fx.request(&order, mode, n, u64::from(n))).await, Outcome::Approved, "{mode}");
    }
    assert_eq!(fx.balance(fx.payer).await, before - 4_000);
    assert_eq!(fx.balance(fx.merchant_account).await, 4_000);
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok);
    assert_eq!(report.approved_payments, 4);
}

async fn no_press_is_press_missing(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    let before = fx.balance(fx.payer).await;
    for (i, mode) in Mode::ALL.into_iter().enumerate() {
        let n = u8::try_from(i).unwrap() + 1;
        let req = fx.request_with(&order, mode, n, u64::from(n), false, RIGHT_PIN, &*fx.terminal_key);
        assert_eq!(fx.pay(&req).await, Outcome::Declined(ReasonCode::PressMissing), "{mode}");
    }
    assert_eq!(fx.balance(fx.payer).await, before);
    assert_eq!(fx.balance(fx.merchant_account).await, 0);
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok);
    assert_eq!(report.approved_payments, 0);
    // The order is still open: a request with the press pays it.
    assert_eq!(fx.pay(&fx.request(&order, Mode::Quick, 9, 9)).await, Outcome::Approved);
}

async fn bad_signature(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    let stranger = PROVIDER.sm2.generate(PROVIDER.random).unwrap();
    let req = fx.request_with(&order, Mode::Quick, 1, 1, true, RIGHT_PIN, &*stranger);
    assert_eq!(fx.pay(&req).await, Outcome::Declined(ReasonCode::BadSignature));
    assert_eq!(fx.balance(fx.merchant_account).await, 0);
}

async fn replayed_request_gets_the_same_bytes(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    let req = fx.request(&order, Mode::Quick, 1, 1);
    let first = fx.send(req.encode()).await;
    let second = fx.send(req.encode()).await;
    assert_eq!(first, second);
    let Response::Pay(resp) = Response::decode(&first).unwrap() else { panic!() };
    assert_eq!(resp.outcome, Outcome::Approved);
    assert_eq!(fx.balance(fx.merchant_account).await, 1_000);
    assert_eq!(store.ledger_check().await.unwrap().approved_payments, 1);
    // A decline is replayed byte for byte too.
    let declined = fx.request_with(&order, Mode::Quick, 2, 2, false, RIGHT_PIN, &*fx.terminal_key);
    assert_eq!(fx.send(declined.encode()).await, fx.send(declined.encode()).await);
}

async fn different_bytes_same_tx_id_conflict(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    let other = fx.order("ORD-2", "20.00").await;
    assert_eq!(fx.pay(&fx.request(&order, Mode::Quick, 1, 1)).await, Outcome::Approved);
    let conflicting = fx.request(&other, Mode::Quick, 1, 2);
    assert_eq!(fx.pay(&conflicting).await, Outcome::Declined(ReasonCode::DuplicateConflict));
    assert_eq!(fx.balance(fx.merchant_account).await, 1_000);
    // The other order is still open.
    assert_eq!(fx.pay(&fx.request(&other, Mode::Quick, 3, 3)).await, Outcome::Approved);
}

async fn five_wrong_pins_lock(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    for n in 1..=5u8 {
        let req = fx.request_with(&order, Mode::Pin, n, u64::from(n), true, "000000", &*fx.terminal_key);
        let expected = if n < 5 { ReasonCode::WrongPin } else { ReasonCode::PinLocked };
        assert_eq!(fx.pay(&req).await, Outcome::Declined(expected), "try {n}");
    }
    assert!(store.pin_state(fx.payer).await.unwrap().locked);
    // The right PIN no longer helps…
    assert_eq!(fx.pay(&fx.request(&order, Mode::Pin, 6, 6)).await, Outcome::Declined(ReasonCode::PinLocked));
    // …until an administrator unlocks.
    store.unlock_pin(fx.payer, NOW).await.unwrap();
    assert_eq!(fx.pay(&fx.request(&order, Mode::Pin, 7, 7)).await, Outcome::Approved);
    assert_eq!(store.pin_state(fx.payer).await.unwrap().failures, 0);
}

async fn suspended_terminal(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    store.set_terminal_status(&fx.serial, TerminalStatus::Suspended, NOW).await.unwrap();
    assert_eq!(fx.pay(&fx.request(&order, Mode::Quick, 1, 1)).await, Outcome::Declined(ReasonCode::TerminalSuspended));
    assert_eq!(fx.query(Request::BalanceQuery).await, Response::Error { reason: ReasonCode::TerminalSuspended });
    store.set_terminal_status(&fx.serial, TerminalStatus::Active, NOW).await.unwrap();
    assert_eq!(fx.pay(&fx.request(&order, Mode::Quick, 2, 2)).await, Outcome::Approved);
}

async fn malformed_and_oversize(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    let before = store.ledger_check().await.unwrap();
    let error = |bytes: Vec<u8>| Response::decode(&bytes).unwrap();
    assert_eq!(error(fx.send(&[0xff, 0x00]).await), Response::Error { reason: ReasonCode::Malformed });
    assert_eq!(error(fx.send(&[]).await), Response::Error { reason: ReasonCode::Malformed });
    // A valid request cut short.
    let req = fx.request(&order, Mode::Quick, 1, 1);
    let cut = &req.encode()[..req.encode().len() - 3];
    assert_eq!(error(fx.send(cut).await), Response::Error { reason: ReasonCode::Malformed });
    let big = vec![0u8; 9_000];
    assert_eq!(error(fx.send(&big).await), Response::Error { reason: ReasonCode::TooLarge });
    let after = store.ledger_check().await.unwrap();
    assert_eq!(before, after);
    assert!(store.lookup_tx(req.tx_id()).await.unwrap().is_none());
    // The counter was not consumed: the whole request still pays.
    assert_eq!(fx.pay(&req).await, Outcome::Approved);
}

async fn stale_counter(store: &Store) {
    let fx = Fx::new(store).await;
    let a = fx.order("ORD-1", "10.00").await;
    let b = fx.order("ORD-2", "10.00").await;
    assert_eq!(fx.pay(&fx.request(&a, Mode::Quick, 1, 5)).await, Outcome::Approved);
    assert_eq!(fx.pay(&fx.request(&b, Mode::Quick, 2, 5)).await, Outcome::Declined(ReasonCode::StaleCounter));
    assert_eq!(fx.balance(fx.merchant_account).await, 1_000);
}

async fn queries(store: &Store) {
    let fx = Fx::new(store).await;
    let order = fx.order("ORD-1", "10.00").await;
    assert_eq!(
        fx.query(Request::OrderQuery(OrderQuery { order_id: order.order_id.clone() })).await,
        Response::Order(order.clone())
    );
    assert_eq!(
        fx.query(Request::OrderQuery(OrderQuery { order_id: OrderId::new("nope").unwrap() })).await,
        Response::Error { reason: ReasonCode::UnknownOrder }
    );
    assert_eq!(fx.query(Request::PolicyQuery).await, Response::Policy(Policy::default()));
    let tx_id = TxId([1; 16]);
    assert_eq!(
        fx.query(Request::TxStatus(TxStatusQuery { tx_id })).await,
        Response::TxStatus(wearpay_pay::TxStatus { tx_id, state: TxState::Unknown })
    );
    let req = fx.request(&order, Mode::Quick, 1, 1);
    let sent = fx.send(req.encode()).await;
    let Response::Pay(resp) = Response::decode(&sent).unwrap() else { panic!() };
    assert_eq!(
        fx.query(Request::TxStatus(TxStatusQuery { tx_id })).await,
        Response::TxStatus(wearpay_pay::TxStatus { tx_id, state: TxState::Done(resp) })
    );
    let Response::Balance(b) = fx.query(Request::BalanceQuery).await else { panic!() };
    assert_eq!(b.balance.minor, 500_000 - 1_000);
    let Response::History(h) = fx.query(Request::HistoryQuery(HistoryQuery { limit: 10, before: None })).await else {
        panic!()
    };
    assert_eq!(h.entries.len(), 1);
    assert_eq!(h.entries[0].tx_id, tx_id);
    assert_eq!(h.entries[0].amount.minor(), 1_000);
    assert_eq!(h.entries[0].outcome, Outcome::Approved);
}

/// `PinChange`: the old PIN must be right (a wrong one counts towards the lockout and
/// changes nothing); once changed, the old PIN is refused in PIN mode and the new one pays.
async fn pin_change_needs_the_old_pin(store: &Store) {
    let fx = Fx::new(store).await;
    let pin_key = fx.keys.public_key(KeyPurpose::PinEnc).unwrap();
    let change = |id: u8, old: &str, new: &str| {
        let id = TxId([id; 16]);
        let encipher =
            |pin: &str| PinBlock::encipher(&PROVIDER, &Pin::new(pin).unwrap(), &pan(), &id, &pin_key).unwrap();
        Request::PinChange(PinChange { id, old: encipher(old), new: encipher(new) })
    };
    let outcome = |r: Response| match r {
        Response::PinChange(r) => r.outcome,
        other => panic!("not a PIN change result: {other:?}"),
    };
    let stored = store.account(fx.payer).await.unwrap().unwrap().pin_verification;

    assert_eq!(outcome(fx.query(change(1, "000000", "2468")).await), Outcome::Declined(ReasonCode::WrongPin));
    assert_eq!(store.account(fx.payer).await.unwrap().unwrap().pin_verification, stored);
    assert_eq!(store.pin_state(fx.payer).await.unwrap().failures, 1);

    assert_eq!(outcome(fx.query(change(2, RIGHT_PIN, "2468")).await), Outcome::Approved);
    assert_eq!(store.pin_state(fx.payer).await.unwrap().failures, 0);
    let a = fx.order("ORD-1", "10.00").await;
    let old = fx.request_with(&a, Mode::Pin, 3, 3, true, RIGHT_PIN, &*fx.terminal_key);
    assert_eq!(fx.pay(&old).await, Outcome::Declined(ReasonCode::WrongPin));
    let new = fx.request_with(&a, Mode::Pin, 4, 4, true, "2468", &*fx.terminal_key);
    assert_eq!(fx.pay(&new).await, Outcome::Approved);
    assert!(store.ledger_check().await.unwrap().ok);
}
