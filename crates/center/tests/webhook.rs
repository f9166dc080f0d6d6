//! Merchant webhooks end to end, on SQLite and PostgreSQL: a real axum receiver on
//! loopback checks every request with `verify_webhook`; payments and refunds each deliver
//! one event with the right data; a receiver that fails twice (a 500, then a timeout) gets
//! the event on the third attempt with the same id after growing waits; one that always
//! fails leaves the event `failed` after `max_attempts`; the queue survives a restart and
//! is delivered by `Center::serve`; declined and rolled-back payments enqueue nothing; the
//! admin routes configure an endpoint (audited, secret sealed) and list the queue.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[macro_use]
mod common;
use common::{TestPostgres, now};

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection, Executor, sqlite::SqliteConnectOptions};
use wearpay_center::node::{ADMIN_TOKEN_FILE, Center, CenterConfig, InitOptions, init};
use wearpay_center::webhook::{DEFAULT_TOLERANCE, WebhookSettings};
use wearpay_center::{
    AccountId, AuditKind, Error, NewAccount, NewMerchant, NewOrder, NewTerminal, PaymentLimits, PaymentRecord,
    RefundId, SQLITE_FILE, Store, WebhookDispatcher, WebhookRejected, WebhookState, verify_webhook,
};
use wearpay_crypto::portable::PROVIDER;
use wearpay_pay::{
    Amount, Counter, Currency, Description, MerchantId, MerchantName, Mode, Money, OrderId, Outcome, Policy,
    ReasonCode, TerminalSerial, Timestamp, TxId,
};

// ---- the receiver -------------------------------------------------------------------------

/// What the receiver does with its n-th request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Ok,
    Status(u16),
    /// Answers only after the dispatcher has given up waiting.
    Hang,
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    event_type: String,
    signature: String,
    verified: Result<(), WebhookRejected>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Debug, Default)]
struct ReceiverState {
    secret: Mutex<String>,
    plan: Mutex<Vec<Answer>>,
    seen: Mutex<Vec<Received>>,
}

/// An HTTP receiver on loopback: `base` is its URL.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(plan: Vec<Answer>) -> Self {
        let state = Arc::new(ReceiverState { plan: Mutex::new(plan), ..ReceiverState::default() });
        let app = Router::new().route("/hooks", post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state, _server: server }
    }

    fn set_secret(&self, secret: &str) {
        *self.state.secret.lock().unwrap() = secret.to_owned();
    }

    fn seen(&self) -> Vec<Received> {
        self.state.seen.lock().unwrap().clone()
    }
}

async fn receive(State(st): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let signature = header("wearpay-signature");
    let secret = st.secret.lock().unwrap().clone();
    let verified = verify_webhook(&secret, &signature, &body, now(), DEFAULT_TOLERANCE);
    let answer = {
        let mut seen = st.seen.lock().unwrap();
        let n = seen.len();
        seen.push(Received {
            event_id: header("wearpay-event-id"),
            event_type: header("wearpay-event-type"),
            signature,
            verified,
            body: body.to_vec(),
        });
        st.plan.lock().unwrap().get(n).copied().unwrap_or(Answer::Ok)
    };
    if verified.is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    match answer {
        Answer::Ok => StatusCode::NO_CONTENT,
        Answer::Status(s) => StatusCode::from_u16(s).unwrap(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK
        }
    }
}

// ---- the center ---------------------------------------------------------------------------

/// A center made by `init`, with plain-http endpoints allowed (the receiver is on loopback).
struct Env {
    dir: tempfile::TempDir,
    config: CenterConfig,
    postgres: Option<TestPostgres>,
    center: Arc<Center>,
}

impl Env {
    async fn on(postgres: bool) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
        o.iterations = 1_000;
        o.http = Some("127.0.0.1:0".parse().unwrap());
        let postgres = if postgres {
            let pg = TestPostgres::create("webhook").await?;
            o.database = Some(pg.url.clone());
            Some(pg)
        } else {
            None
        };
        init(dir.path(), &o, &PROVIDER).await.unwrap();
        let mut config = CenterConfig::load(&dir.path().join("center.toml")).unwrap();
        // Existing files have no [webhooks] section: its defaults apply.
        assert_eq!(config.webhooks.max_attempts, 12);
        assert!(!config.webhooks.allow_http);
        config.webhooks.allow_http = true;
        config.webhooks.poll_interval_ms = 50;
        let center = Arc::new(Center::open(config.clone()).await.unwrap());
        Some(Self { dir, config, postgres, center })
    }

    fn store(&self) -> &Store {
        self.center.store()
    }

    /// A dispatcher with fast settings: a 1 s timeout, backoff from 10 s.
    fn dispatcher(&self, max_attempts: u32) -> WebhookDispatcher {
        let settings = WebhookSettings {
            max_attempts,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(1),
            allow_http: true,
            ..WebhookSettings::default()
        };
        WebhookDispatcher::new(self.store().clone(), self.center.keys().clone(), &PROVIDER, settings).unwrap()
    }

    /// Makes the database itself refuse (or accept again) any change of `account`'s
    /// balance: a failure injected in the middle of a booking.
    async fn refuse_balance_updates(&self, account: AccountId, refuse: bool) {
        let id = account.0;
        match &self.postgres {
            Some(pg) => {
                let mut conn = pg.connect().await;
                let sql = if refuse {
                    format!(
                        "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
                         BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
                         CREATE TRIGGER test_refuse BEFORE UPDATE OF balance ON accounts FOR EACH ROW \
                         WHEN (NEW.id = {id}) EXECUTE FUNCTION test_refuse();"
                    )
                } else {
                    String::from("DROP TRIGGER test_refuse ON accounts; DROP FUNCTION test_refuse();")
                };
                conn.execute(sql.as_str()).await.unwrap();
                conn.close().await.unwrap();
            }
            None => {
                let file = self.dir.path().join("data").join(SQLITE_FILE);
                let mut conn = SqliteConnectOptions::new().filename(file).connect().await.unwrap();
                let sql = if refuse {
                    format!(
                        "CREATE TRIGGER test_refuse BEFORE UPDATE OF balance ON accounts WHEN NEW.id = {id} \
                         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
                    )
                } else {
                    String::from("DROP TRIGGER test_refuse;")
                };
                conn.execute(sql.as_str()).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    async fn finish(self) {
        assert!(self.store().ledger_check().await.unwrap().ok);
        self.store().close().await;
        if let Some(pg) = &self.postgres {
            pg.drop_database().await;
        }
    }
}

/// A merchant, and a customer with a terminal and money.
struct Shop {
    merchant: MerchantId,
    merchant_account: AccountId,
    terminal: TerminalSerial,
}

async fn shop(store: &Store, at: Timestamp) -> Shop {
    let merchant_account = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), at).await.unwrap().id;
    let merchant = MerchantId::new("M-1").unwrap();
    let name = MerchantName::new("Tea House").unwrap();
    store.create_merchant(NewMerchant { id: merchant.clone(), name, account: merchant_account }, at).await.unwrap();
    let payer = store.create_account(NewAccount::customer("Alice", Currency::CNY), at).await.unwrap().id;
    store.deposit(payer, Money::parse("1000.00 CNY").unwrap(), at).await.unwrap();
    let terminal = TerminalSerial::new(&[0x5e, 1]).unwrap();
    store
        .enroll_terminal(NewTerminal { serial: terminal.clone(), account: payer, certificate: vec![0x30, 0x00] }, at)
        .await
        .unwrap();
    Shop { merchant, merchant_account, terminal }
}

static COUNTER: AtomicU32 = AtomicU32::new(1);

impl Shop {
    async fn order(&self, store: &Store, id: &str, amount: &str, at: Timestamp) -> OrderId {
        let order_id = OrderId::new(id).unwrap();
        let new = NewOrder {
            order_id: order_id.clone(),
            merchant: self.merchant.clone(),
            money: Money::parse(&format!("{amount} CNY")).unwrap(),
            description: Description::new("tea").unwrap(),
            expires_at: Timestamp(at.0 + 3 * 86_400),
        };
        store.create_order(new, at).await.unwrap();
        order_id
    }

    fn record(&self, order: &OrderId, amount: &str) -> PaymentRecord {
        let tx_id = TxId::random(&PROVIDER).unwrap();
        let counter = u64::from(COUNTER.fetch_add(1, Ordering::Relaxed));
        PaymentRecord {
            tx_id,
            terminal: self.terminal.clone(),
            order_id: order.clone(),
            money: Money::parse(&format!("{amount} CNY")).unwrap(),
            mode: Mode::Quick,
            counter: Counter(counter),
            request: format!("request {tx_id} {counter}").into_bytes(),
            limits: PaymentLimits::from_policy(&Policy::default(), Mode::Quick),
        }
    }

    /// A quick-mode payment through the store's real path: its outcome and tx id.
    async fn pay(&self, store: &Store, order: &OrderId, amount: &str, at: Timestamp) -> (Outcome, TxId) {
        let record = self.record(order, amount);
        let result = store.commit_payment(&record, at, |_| Ok::<_, Infallible>(b"response".to_vec())).await.unwrap();
        (result.outcome(), record.tx_id)
    }
}

on_both!(
    a_payment_and_a_refund_deliver_one_event_each,
    a_failing_receiver_gets_the_event_on_the_third_attempt,
    a_receiver_that_always_fails_leaves_the_event_failed,
    the_queue_survives_a_restart_and_serve_delivers_it,
    declined_and_rolled_back_payments_enqueue_nothing,
    the_admin_routes_configure_and_list,
);

async fn a_payment_and_a_refund_deliver_one_event_each(env: Env) {
    let t = now();
    let shop = shop(env.store(), t).await;
    let receiver = Receiver::start(vec![]).await;
    let secret = env.center.configure_webhook(&shop.merchant, &receiver.url, t).await.unwrap();
    receiver.set_secret(secret.as_str());

    let order = shop.order(env.store(), "O-1", "12.34", t).await;
    let (outcome, tx_id) = shop.pay(env.store(), &order, "12.34", t).await;
    assert_eq!(outcome, Outcome::Approved);
    let refund_id = RefundId::new("R-1").unwrap();
    env.store().refund(&refund_id, &tx_id, Amount::from_minor(234).unwrap(), t).await.unwrap();
    // The same refund again is a replay: no second event.
    assert!(env.store().refund(&refund_id, &tx_id, Amount::from_minor(234).unwrap(), t).await.unwrap().replayed);
    assert_eq!(env.store().pending_webhooks().await.unwrap(), 2);

    let d = env.dispatcher(12);
    let report = d.run_once(t).await.unwrap();
    assert_eq!((report.claimed, report.delivered), (2, 2));
    // Nothing more to send, now or later.
    assert_eq!(d.run_once(Timestamp(t.0 + 86_400)).await.unwrap().claimed, 0);
    assert_eq!(env.store().pending_webhooks().await.unwrap(), 0);

    let mut seen = receiver.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    seen.sort_by_key(|r| r.event_type.clone());
    for r in &seen {
        assert_eq!(r.verified, Ok(()), "{r:?}");
        assert_eq!(r.json()["id"], r.event_id.as_str());
        assert_eq!(r.json()["type"], r.event_type.as_str());
        assert!(r.event_id.starts_with("evt_") && r.event_id.len() == 36);
        let e = env.store().webhook_event(&r.event_id).await.unwrap().unwrap();
        assert_eq!((e.state, e.attempts, e.last_status), (WebhookState::Delivered, 1, Some(204)));
        assert_eq!(e.body.as_bytes(), r.body.as_slice());
    }
    assert_ne!(seen[0].event_id, seen[1].event_id);
    let payment = seen[0].json();
    assert_eq!(payment["type"], "payment.approved");
    assert_eq!(payment["created_at"], t.0);
    assert_eq!(
        payment["data"],
        json!({"tx_id": tx_id.to_string(), "order_id": "O-1", "merchant_id": "M-1", "amount": 1234,
               "currency": "CNY", "mode": "quick"})
    );
    let refund = seen[1].json();
    assert_eq!(refund["type"], "refund.succeeded");
    assert_eq!(
        refund["data"],
        json!({"refund_id": "R-1", "tx_id": tx_id.to_string(), "order_id": "O-1", "merchant_id": "M-1",
               "amount": 234, "currency": "CNY", "mode": "quick", "paid": 1234, "refunded_total": 234})
    );

    // What the receiver got does not verify once changed, under another secret, or late.
    let r = &seen[0];
    let mut tampered = r.body.clone();
    let at = tampered.iter().position(|b| *b == b'4').unwrap();
    tampered[at] = b'5';
    assert_eq!(
        verify_webhook(secret.as_str(), &r.signature, &tampered, t, DEFAULT_TOLERANCE),
        Err(WebhookRejected::BadSignature)
    );
    let other = "whsec_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    assert_eq!(verify_webhook(other, &r.signature, &r.body, t, DEFAULT_TOLERANCE), Err(WebhookRejected::BadSignature));
    assert_eq!(
        verify_webhook(secret.as_str(), &r.signature, &r.body, Timestamp(t.0 + 3600), DEFAULT_TOLERANCE),
        Err(WebhookRejected::Stale)
    );
    assert_eq!(verify_webhook(secret.as_str(), &r.signature, &r.body, t, DEFAULT_TOLERANCE), Ok(()));
    env.finish().await;
}

async fn a_failing_receiver_gets_the_event_on_the_third_attempt(env: Env) {
    let t0 = now();
    let shop = shop(env.store(), t0).await;
    let receiver = Receiver::start(vec![Answer::Status(500), Answer::Hang, Answer::Ok]).await;
    let secret = env.center.configure_webhook(&shop.merchant, &receiver.url, t0).await.unwrap();
    receiver.set_secret(secret.as_str());
    let order = shop.order(env.store(), "O-1", "5.00", t0).await;
    shop.pay(env.store(), &order, "5.00", t0).await;
    let d = env.dispatcher(12);

    // 1: a 500. The wait is in [5, 10) s.
    let r = d.run_once(t0).await.unwrap();
    assert_eq!((r.claimed, r.retrying), (1, 1));
    let e = env.store().webhook_events(Some(WebhookState::Pending), 10).await.unwrap().remove(0);
    assert_eq!((e.attempts, e.last_status, e.last_error.as_deref()), (1, Some(500), Some("HTTP 500")));
    let wait1 = e.next_attempt_at.0 - t0.0;
    assert!((5..10).contains(&wait1), "{wait1}");
    // Not due a second early.
    assert_eq!(d.run_once(Timestamp(e.next_attempt_at.0 - 1)).await.unwrap().claimed, 0);

    // 2: no answer within the timeout. The wait doubles: [10, 20) s.
    let t1 = e.next_attempt_at;
    let started = std::time::Instant::now();
    let r = d.run_once(t1).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "the timeout did not cut the attempt short");
    assert_eq!((r.claimed, r.retrying), (1, 1));
    let e = env.store().webhook_event(&e.id).await.unwrap().unwrap();
    assert_eq!((e.attempts, e.last_status, e.last_error.as_deref()), (2, None, Some("timed out")));
    let wait2 = e.next_attempt_at.0 - t1.0;
    assert!((10..20).contains(&wait2) && wait2 > wait1, "{wait1} then {wait2}");

    // 3: delivered.
    let t2 = e.next_attempt_at;
    let r = d.run_once(t2).await.unwrap();
    assert_eq!((r.claimed, r.delivered), (1, 1));
    let e = env.store().webhook_event(&e.id).await.unwrap().unwrap();
    assert_eq!((e.state, e.attempts, e.last_error), (WebhookState::Delivered, 3, None));
    assert_eq!(e.delivered_at, Some(t2));

    let seen = receiver.seen();
    assert_eq!(seen.len(), 3);
    for r in &seen {
        assert_eq!(r.event_id, e.id, "every attempt carries the same event id");
        assert_eq!(r.verified, Ok(()));
        assert_eq!(r.body, seen[0].body);
    }
    // Each attempt is signed when it is sent.
    assert!(seen[0].signature.starts_with(&format!("t={},", t0.0)));
    assert!(seen[1].signature.starts_with(&format!("t={},", t1.0)));
    env.finish().await;
}

async fn a_receiver_that_always_fails_leaves_the_event_failed(env: Env) {
    let t = now();
    let shop = shop(env.store(), t).await;
    let receiver = Receiver::start(vec![Answer::Status(503); 10]).await;
    let secret = env.center.configure_webhook(&shop.merchant, &receiver.url, t).await.unwrap();
    receiver.set_secret(secret.as_str());
    let order = shop.order(env.store(), "O-1", "5.00", t).await;
    shop.pay(env.store(), &order, "5.00", t).await;
    let d = env.dispatcher(3);
    let mut at = t;
    for attempt in 1..=3 {
        let r = d.run_once(at).await.unwrap();
        assert_eq!(r.claimed, 1, "attempt {attempt}");
        let e = env.store().webhook_events(None, 10).await.unwrap().remove(0);
        assert_eq!(e.attempts, attempt);
        if attempt < 3 {
            assert_eq!((r.retrying, e.state), (1, WebhookState::Pending));
            at = e.next_attempt_at;
        } else {
            assert_eq!((r.failed, e.state, e.last_status), (1, WebhookState::Failed, Some(503)));
        }
    }
    // Given up: never sent again.
    assert_eq!(d.run_once(Timestamp(t.0 + 30 * 86_400)).await.unwrap().claimed, 0);
    assert_eq!(receiver.seen().len(), 3);
    assert_eq!(env.store().pending_webhooks().await.unwrap(), 0);
    assert_eq!(env.store().webhook_events(Some(WebhookState::Failed), 10).await.unwrap().len(), 1);
    env.finish().await;
}

async fn the_queue_survives_a_restart_and_serve_delivers_it(env: Env) {
    let t = now();
    let shop = shop(env.store(), t).await;
    let receiver = Receiver::start(vec![]).await;
    let secret = env.center.configure_webhook(&shop.merchant, &receiver.url, t).await.unwrap();
    receiver.set_secret(secret.as_str());
    let order = shop.order(env.store(), "O-1", "7.00", t).await;
    let (_, tx_id) = shop.pay(env.store(), &order, "7.00", t).await;
    assert_eq!(env.store().pending_webhooks().await.unwrap(), 1);

    // The center goes away before delivering; a new one over the same database and keys
    // sends the event from `serve`.
    let Env { dir, config, postgres, center } = env;
    center.store().close().await;
    drop(center);
    assert!(receiver.seen().is_empty());
    let center = Arc::new(Center::open(config.clone()).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let c = center.clone();
    let serving = tokio::spawn(async move {
        c.serve(listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.seen().is_empty() {
        assert!(std::time::Instant::now() < deadline, "not delivered by serve");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    serving.await.unwrap();
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].verified, Ok(()));
    assert_eq!(seen[0].json()["data"]["tx_id"], tx_id.to_string());
    let e = center.store().webhook_event(&seen[0].event_id).await.unwrap().unwrap();
    assert_eq!(e.state, WebhookState::Delivered);
    Env { dir, config, postgres, center }.finish().await;
}

async fn declined_and_rolled_back_payments_enqueue_nothing(env: Env) {
    let t = now();
    let shop = shop(env.store(), t).await;
    let receiver = Receiver::start(vec![]).await;
    let secret = env.center.configure_webhook(&shop.merchant, &receiver.url, t).await.unwrap();
    receiver.set_secret(secret.as_str());
    let store = env.store();

    // Declined by the ledger: the wrong amount, then more than the payer has.
    let o1 = shop.order(store, "O-1", "5.00", t).await;
    assert_eq!(shop.pay(store, &o1, "6.00", t).await.0, Outcome::Declined(ReasonCode::AmountMismatch));
    let o2 = shop.order(store, "O-2", "5000.00", t).await;
    let mut record = shop.record(&o2, "5000.00");
    record.limits.mode = Some(wearpay_pay::Limits { per_transaction: Amount::MAX, daily: Amount::MAX });
    let declined =
        store.commit_payment(&record, t, |_| Ok::<_, Infallible>(b"response".to_vec())).await.unwrap().outcome();
    assert_eq!(declined, Outcome::Declined(ReasonCode::InsufficientFunds));
    // Declined by the authorization layer before the ledger.
    let record = shop.record(&o1, "5.00");
    store
        .record_decline(&record, ReasonCode::BadSignature, t, |_| Ok::<_, Infallible>(b"response".to_vec()))
        .await
        .unwrap();
    // The response builder fails: nothing is recorded.
    let record = shop.record(&o1, "5.00");
    let failed = store.commit_payment(&record, t, |_| Err::<Vec<u8>, _>(std::io::Error::other("no key"))).await;
    assert!(matches!(failed, Err(Error::Response(_))), "{failed:?}");
    // The booking fails after the event was written: the database refuses the merchant's
    // credit (a payment) and debit (a refund), which come after the event. The payment or
    // refund is rolled back, its event with it.
    let o4 = shop.order(store, "O-4", "5.00", t).await;
    let (outcome, paid) = shop.pay(store, &o4, "5.00", t).await;
    assert_eq!(outcome, Outcome::Approved);
    let delivered = env.dispatcher(3).run_once(t).await.unwrap();
    assert_eq!(delivered.delivered, 1);
    env.refuse_balance_updates(shop.merchant_account, true).await;
    let record = shop.record(&o1, "5.00");
    let failed = store.commit_payment(&record, t, |_| Ok::<_, Infallible>(b"response".to_vec())).await;
    assert!(matches!(failed, Err(Error::Database(_))), "{failed:?}");
    assert!(store.lookup_tx(&record.tx_id).await.unwrap().is_none());
    let refused = store.refund(&RefundId::new("R-1").unwrap(), &paid, Amount::from_minor(100).unwrap(), t).await;
    assert!(matches!(refused, Err(Error::Database(_))), "{refused:?}");
    assert!(store.get_refund(&RefundId::new("R-1").unwrap()).await.unwrap().is_none());
    env.refuse_balance_updates(shop.merchant_account, false).await;
    assert_eq!(receiver.seen().len(), 1);
    assert_eq!(store.webhook_events(None, 100).await.unwrap().len(), 1);

    assert_eq!(env.dispatcher(3).run_once(t).await.unwrap().claimed, 0);
    assert_eq!(receiver.seen().len(), 1);
    // A merchant without an endpoint gets no events at all.
    let other = MerchantId::new("M-2").unwrap();
    let account = store.create_account(NewAccount::merchant("Bakery", Currency::CNY), t).await.unwrap().id;
    store
        .create_merchant(NewMerchant { id: other.clone(), name: MerchantName::new("Bakery").unwrap(), account }, t)
        .await
        .unwrap();
    let o3 = OrderId::new("O-3").unwrap();
    store
        .create_order(
            NewOrder {
                order_id: o3.clone(),
                merchant: other,
                money: Money::parse("1.00 CNY").unwrap(),
                description: Description::new("bread").unwrap(),
                expires_at: Timestamp(t.0 + 600),
            },
            t,
        )
        .await
        .unwrap();
    assert_eq!(shop.pay(store, &o3, "1.00", t).await.0, Outcome::Approved);
    assert_eq!(store.pending_webhooks().await.unwrap(), 0);
    assert_eq!(store.webhook_events(None, 100).await.unwrap().len(), 1);
    env.finish().await;
}

async fn the_admin_routes_configure_and_list(env: Env) {
    let t = now();
    let shop = shop(env.store(), t).await;
    let receiver = Receiver::start(vec![]).await;
    let listener = env.center.bind_http().await.unwrap().unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let c = env.center.clone();
    let server = tokio::spawn(async move {
        c.serve_http(listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let admin = std::fs::read_to_string(env.dir.path().join(ADMIN_TOKEN_FILE)).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let put = |path: &str, token: &str, body: Value| {
        client.put(format!("{base}{path}")).bearer_auth(token).json(&body).send()
    };

    let resp = put("/v1/admin/merchants/M-1/webhook", &admin, json!({"url": receiver.url})).await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!((v["merchant"].as_str(), v["url"].as_str()), (Some("M-1"), Some(receiver.url.as_str())));
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() == 70);
    receiver.set_secret(&secret);

    // Refusals: a bad URL, an unknown merchant, no admin token.
    for (path, url, status) in [
        ("/v1/admin/merchants/M-1/webhook", "ftp://example.test/h", 400),
        ("/v1/admin/merchants/M-1/webhook", "not a url", 400),
        ("/v1/admin/merchants/M-9/webhook", "https://example.test/h", 404),
    ] {
        let resp = put(path, &admin, json!({"url": url})).await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path} {url}");
    }
    let resp = put("/v1/admin/merchants/M-1/webhook", "wpt_nope", json!({"url": receiver.url})).await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::UNAUTHORIZED);

    // The change is audited (the URL, never the secret), and the secret is stored sealed.
    let entries = env.store().audit_entries(0, 1000).await.unwrap();
    let configured: Vec<_> = entries.iter().filter(|e| e.kind == AuditKind::WebhookConfigured).collect();
    assert_eq!(configured.len(), 1);
    assert_eq!(configured[0].subject, "merchant:M-1");
    assert!(configured[0].details.contains(&receiver.url));
    assert!(entries.iter().all(|e| !e.details.contains(&secret[6..])));
    let report = env.center.audit_verify().await.unwrap();
    assert!(report.ok, "{report:?}");

    // An event, listed by state before and after delivery.
    let order = shop.order(env.store(), "O-1", "3.00", t).await;
    shop.pay(env.store(), &order, "3.00", t).await;
    let list = |q: &'static str| {
        let (client, base, admin) = (client.clone(), base.clone(), admin.clone());
        async move {
            let resp = client.get(format!("{base}/v1/admin/webhooks{q}")).bearer_auth(admin).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = list("?state=pending").await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["type"], "payment.approved");
    assert_eq!(v[0]["state"], "pending");
    assert_eq!(v[0]["merchant"], "M-1");
    assert!(v[0].get("body").is_none());
    env.dispatcher(3).run_once(t).await.unwrap();
    assert_eq!(list("?state=pending").await.1.as_array().unwrap().len(), 0);
    let (_, v) = list("?state=delivered").await;
    assert_eq!((v[0]["attempts"].as_u64(), v[0]["last_status"].as_u64()), (Some(1), Some(204)));
    assert_eq!(list("").await.1.as_array().unwrap().len(), 1);
    assert_eq!(list("?state=bogus").await.0, 400);
    assert_eq!(list("?limit=0").await.0, 400);
    assert_eq!(receiver.seen().len(), 1);
    assert_eq!(receiver.seen()[0].verified, Ok(()));

    // A new secret replaces the old one: later events are signed with it.
    let resp = put("/v1/admin/merchants/M-1/webhook", &admin, json!({"url": receiver.url})).await.unwrap();
    let second = resp.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, secret);
    receiver.set_secret(&second);
    let order = shop.order(env.store(), "O-2", "3.00", t).await;
    shop.pay(env.store(), &order, "3.00", t).await;
    env.dispatcher(3).run_once(t).await.unwrap();
    assert_eq!(receiver.seen()[1].verified, Ok(()));
    assert_eq!(
        verify_webhook(&secret, &receiver.seen()[1].signature, &receiver.seen()[1].body, t, DEFAULT_TOLERANCE),
        Err(WebhookRejected::BadSignature)
    );

    stop.send(()).unwrap();
    server.await.unwrap();
    env.finish().await;
}
