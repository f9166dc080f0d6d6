//! The operations API over real HTTP on loopback, against a whole center made by `init`
//! (SQLite): tokens and their scope, orders and refunds, the daily report against the
//! ledger, the admin endpoints, enrollment by activation code end to end, the lost-band
//! report and the CRL it regenerates, and the OpenAPI document against the router.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[macro_use]
mod common;
use common::{TestPostgres, now};

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{ConnectOptions, sqlite::SqliteConnectOptions};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wearpay_center::http::{ActivationCode, ApiRole, activation_proof, route_table, tokens};
use wearpay_center::keystore::{KeyPurpose, KeyStore};
use wearpay_center::node::{ADMIN_TOKEN_FILE, Center, CenterConfig, InitOptions, init};
use wearpay_center::{
    AccountId, NewAccount, NewMerchant, NewOrder, NewTerminal, PaymentLimits, PaymentRecord, SQLITE_FILE, Store,
    TerminalStatus,
};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, SigningKey, portable::PROVIDER};
use wearpay_pay::{
    Counter, Currency, Description, MerchantId, MerchantName, Mode, Money, OrderId, Policy, ReasonCode, TerminalSerial,
    Timestamp, TxId,
};
use wearpay_pki::{
    Certificate, CertificateRequest, Crl, CsrBuilder, DistinguishedName, Role, UnixTime, Verifier, generate_key,
};

/// A center serving its API on an ephemeral loopback port.
struct Env {
    dir: tempfile::TempDir,
    postgres: Option<TestPostgres>,
    center: Arc<Center>,
    base: String,
    admin: String,
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Env {
    async fn new() -> Self {
        Self::on(false).await.unwrap()
    }

    /// A center on SQLite, or on a fresh PostgreSQL database (`None`: skipped).
    async fn on(postgres: bool) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
        o.iterations = 1_000;
        o.http = Some("127.0.0.1:0".parse().unwrap());
        let postgres = if postgres {
            let pg = TestPostgres::create("http").await?;
            o.database = Some(pg.url.clone());
            Some(pg)
        } else {
            None
        };
        init(dir.path(), &o, &PROVIDER).await.unwrap();
        let config = CenterConfig::load(&dir.path().join("center.toml")).unwrap();
        let center = Arc::new(Center::open(config).await.unwrap());
        let listener = center.bind_http().await.unwrap().expect("[http] listen is set");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let c = center.clone();
        let server = tokio::spawn(async move {
            c.serve_http(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let admin = std::fs::read_to_string(dir.path().join(ADMIN_TOKEN_FILE)).unwrap().trim().to_owned();
        Some(Self { dir, postgres, center, base, admin, client: Client::new(), stop: Some(stop), server: Some(server) })
    }

    fn store(&self) -> &Store {
        self.center.store()
    }

    /// A new merchant token, added to the running center's tokens file.
    fn merchant_token(&self, id: &str) -> String {
        let token = tokens::new_token(&PROVIDER, ApiRole::Merchant(MerchantId::new(id).unwrap())).unwrap();
        let path = self.dir.path().join("secrets/api-tokens.toml");
        tokens::append_token(&path, &token, now()).unwrap();
        token.token.as_str().to_owned()
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "get" => self.client.get(url),
            "post" => self.client.post(url),
            _ => self.client.request(reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), url),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call("get", path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("post", path, token, Some(body)).await
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.server.take().unwrap().await.unwrap();
        assert!(self.store().ledger_check().await.unwrap().ok);
        self.store().close().await;
        if let Some(pg) = self.postgres.take() {
            pg.drop_database().await;
        }
    }

    /// Every activation code's stored secret, as the database holds it.
    async fn stored_secrets(&self) -> Vec<Vec<u8>> {
        let sql = "SELECT sealed_secret FROM activation_codes";
        match &self.postgres {
            Some(pg) => {
                let mut conn = pg.connect().await;
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap();
                rows.into_iter().map(|r| r.0).collect()
            }
            None => {
                let file = self.dir.path().join("data").join(SQLITE_FILE);
                let mut conn = SqliteConnectOptions::new().filename(file).connect().await.unwrap();
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap();
                rows.into_iter().map(|r| r.0).collect()
            }
        }
    }
}

fn err_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_else(|| panic!("not an API error: {v}"))
}

/// No error body carries SQL, file paths or driver names.
fn no_internals(v: &Value) {
    let text = v.to_string().to_lowercase();
    for word in ["select ", "insert ", "sqlite", "postgres", "/tmp", "center.db", ".key", "database error"] {
        assert!(!text.contains(word), "{word:?} leaked in {v}");
    }
}

/// A merchant (with its account) and a customer with a terminal and money, in the store.
struct Shop {
    merchant: MerchantId,
    account: AccountId,
    payer: AccountId,
    terminal: TerminalSerial,
}

async fn shop(store: &Store, n: u8, at: Timestamp) -> Shop {
    let account = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), at).await.unwrap().id;
    let merchant = MerchantId::new(&format!("M-{n}")).unwrap();
    let name = MerchantName::new("Tea House").unwrap();
    store.create_merchant(NewMerchant { id: merchant.clone(), name, account }, at).await.unwrap();
    let payer = store.create_account(NewAccount::customer("Alice", Currency::CNY), at).await.unwrap().id;
    store.deposit(payer, Money::parse("1000.00 CNY").unwrap(), at).await.unwrap();
    let terminal = TerminalSerial::new(&[0x5e, n]).unwrap();
    store
        .enroll_terminal(NewTerminal { serial: terminal.clone(), account: payer, certificate: vec![0x30, 0x00] }, at)
        .await
        .unwrap();
    Shop { merchant, account, payer, terminal }
}

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

    /// A quick-mode payment of `order` decided at `at` (the store's real path).
    async fn pay(&self, store: &Store, order: &OrderId, amount: &str, counter: u64, at: Timestamp) -> TxId {
        let tx_id = TxId::random(&PROVIDER).unwrap();
        let record = PaymentRecord {
            tx_id,
            terminal: self.terminal.clone(),
            order_id: order.clone(),
            money: Money::parse(&format!("{amount} CNY")).unwrap(),
            mode: Mode::Quick,
            counter: Counter(counter),
            request: format!("request {tx_id} {counter}").into_bytes(),
            limits: PaymentLimits::from_policy(&Policy::default(), Mode::Quick),
        };
        store.commit_payment(&record, at, |_| Ok::<_, Infallible>(b"response".to_vec())).await.unwrap();
        tx_id
    }
}

on_both!(
    tokens_are_required_and_scoped,
    orders_and_refunds,
    daily_report_totals_match_the_ledger,
    enrollment_by_activation_code,
    a_lost_band_is_revoked_and_listed_in_the_crl,
    admin_endpoints,
);

async fn tokens_are_required_and_scoped(env: Env) {
    let t = now();
    let _a = shop(env.store(), 1, t).await;
    let b = shop(env.store(), 2, t).await;
    let token_a = env.merchant_token("M-1");
    let token_b = env.merchant_token("M-2");
    let order_b = b.order(env.store(), "B-1", "10.00", t).await;
    b.pay(env.store(), &order_b, "10.00", 1, t).await;

    // The files hold hashes and roles, never a token, and are the center user's only.
    let file = std::fs::read_to_string(env.dir.path().join("secrets/api-tokens.toml")).unwrap();
    for token in [&env.admin, &token_a, &token_b] {
        assert!(token.starts_with("wpt_") && !file.contains(token.as_str()));
    }
    #[cfg(unix)]
    for f in ["secrets/api-tokens.toml", ADMIN_TOKEN_FILE] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.dir.path().join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{f} is readable by others");
    }

    // No token, a wrong one, another scheme: 401 with a Bearer challenge.
    let resp = env.client.get(format!("{}/v1/orders/B-1", env.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let (s, v) = env.get("/v1/admin/balances", Some("wpt_0000")).await;
    assert_eq!((s, err_code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let resp = env
        .client
        .get(format!("{}/v1/admin/balances", env.base))
        .header("authorization", format!("Basic {}", env.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // A token is not a prefix match.
    let (s, _) = env.get("/v1/admin/balances", Some(&env.admin[..env.admin.len() - 1])).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Roles: a merchant on an admin route, the admin on a merchant route.
    let (s, v) = env.get("/v1/admin/balances", Some(&token_a)).await;
    assert_eq!((s, err_code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, _) = env.post("/v1/admin/accounts/1/lost", Some(&token_a), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.get("/v1/orders/B-1", Some(&env.admin)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Merchant A sees none of B's data.
    let (s, _) = env.get("/v1/orders/B-1", Some(&token_b)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = env.get("/v1/orders/B-1", Some(&token_a)).await;
    assert_eq!((s, err_code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
    let before = env.store().balance(b.account).await.unwrap();
    let (s, _) =
        env.post("/v1/orders/B-1/refunds", Some(&token_a), json!({"refund_id": "R-steal", "amount": "10.00"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(env.store().balance(b.account).await.unwrap(), before);
    let day = chrono::DateTime::from_timestamp(i64::try_from(t.0).unwrap(), 0)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let (s, v) = env.get(&format!("/v1/transactions?day={day}"), Some(&token_a)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["payments"].as_array().unwrap().len(), 0, "{v}");
    let (_, v) = env.get(&format!("/v1/transactions?day={day}"), Some(&token_b)).await;
    assert_eq!(v["payments"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = env.get(&format!("/v1/reports/daily?day={day}"), Some(&token_a)).await;
    assert_eq!(v["totals"]["payments_count"], 0, "{v}");

    // A token for a merchant that is not registered opens nothing.
    let ghost = env.merchant_token("M-9");
    let (s, _) = env.get("/v1/orders/B-1", Some(&ghost)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    env.stop().await;
}

async fn orders_and_refunds(env: Env) {
    let t = now();
    let s1 = shop(env.store(), 1, t).await;
    let token = env.merchant_token("M-1");
    let tok = Some(token.as_str());

    // Create, and the bad inputs around it.
    let body = json!({"order_id": "O-1", "amount": "25.00", "currency": "CNY", "description": "two teas"});
    let (s, v) = env.post("/v1/orders", tok, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["amount"].as_str(), v["merchant"].as_str()),
        (Some("open"), Some("25.00"), Some("M-1"))
    );
    let (s, v) = env.post("/v1/orders", tok, body).await;
    assert_eq!((s, err_code(&v)), (StatusCode::CONFLICT, "already_exists"));
    let (s, v) = env.post("/v1/orders", tok, json!({"order_id": "O-2", "amount": "1.001", "currency": "CNY"})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::BAD_REQUEST, "invalid_input"));
    let (s, v) = env.post("/v1/orders", tok, json!({"order_id": "O-2", "amount": "1.00", "currency": "XXX"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = env.post("/v1/orders", tok, json!({"order_id": "O-2", "amount": "1.00"})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    let resp = env
        .client
        .post(format!("{}/v1/orders", env.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"order_id\": \"O-2\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(err_code(&v), "malformed_json");
    let resp = env
        .client
        .post(format!("{}/v1/orders", env.base))
        .bearer_auth(&token)
        .body("order_id=O-2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, v) = env.get("/v1/orders/O-404", tok).await;
    assert_eq!((s, err_code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    no_internals(&v);
    let (s, v) = env.get("/v1/nothing-here", tok).await;
    assert_eq!((s, err_code(&v)), (StatusCode::NOT_FOUND, "no_route"));

    // Not paid yet: nothing to refund.
    let (s, v) = env.post("/v1/orders/O-1/refunds", tok, json!({"refund_id": "R-0", "amount": "1.00"})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::CONFLICT, "order_not_paid"));

    // Paid by a band.
    let tx = s1.pay(env.store(), &OrderId::new("O-1").unwrap(), "25.00", 1, now()).await;
    let (_, v) = env.get("/v1/orders/O-1", tok).await;
    assert_eq!(v["status"], "paid");
    assert_eq!(v["paid_tx_id"], tx.to_string());
    let payer_before = env.store().balance(s1.payer).await.unwrap().minor;

    // A partial refund, then the same refund id again: the first result, booked once.
    let (s, first) = env.post("/v1/orders/O-1/refunds", tok, json!({"refund_id": "R-1", "amount": "10.00"})).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!((first["refunded_total"].as_str(), first["replayed"].as_bool()), (Some("10.00"), Some(false)));
    let (s, again) = env.post("/v1/orders/O-1/refunds", tok, json!({"refund_id": "R-1", "amount": "10.00"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["replayed"], true);
    for k in ["refund_id", "tx_id", "amount", "created_at"] {
        assert_eq!(again[k], first[k], "{k}");
    }
    assert_eq!(env.store().balance(s1.payer).await.unwrap().minor, payer_before + 1_000);
    // The same id for another amount is a conflict.
    let (s, v) = env.post("/v1/orders/O-1/refunds", tok, json!({"refund_id": "R-1", "amount": "5.00"})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::CONFLICT, "refund_id_conflict"));
    // Above what remains of the payment: refused, nothing moves.
    let (s, v) = env.post("/v1/orders/O-1/refunds", tok, json!({"refund_id": "R-2", "amount": "15.01"})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_paid"));
    assert!(v["error"]["message"].as_str().unwrap().contains("1500"), "{v}");
    assert_eq!(env.store().balance(s1.payer).await.unwrap().minor, payer_before + 1_000);
    let (s, v) = env.post("/v1/orders/O-1/refunds", tok, json!({"refund_id": "R 2", "amount": "1.00"})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::BAD_REQUEST, "invalid_input"));
    // The rest, in full.
    let (s, v) = env.post("/v1/orders/O-1/refunds", tok, json!({"refund_id": "R-2", "amount": "15.00"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = env.get("/v1/orders/O-1", tok).await;
    assert_eq!((v["refunded"].as_str(), v["refundable"].as_str()), (Some("25.00"), Some("0.00")));
    assert_eq!(env.store().balance(s1.payer).await.unwrap().minor, payer_before + 2_500);

    let (s, v) = env.get("/v1/admin/ledger/check", Some(&env.admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["approved_payments"], 1);
    env.stop().await;
}

/// Days in Shanghai around now, for the report: the start of today, as Unix seconds.
fn shanghai_midnight(at: Timestamp) -> Timestamp {
    use chrono::TimeZone;
    let local = chrono::DateTime::from_timestamp(i64::try_from(at.0).unwrap(), 0)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai);
    let midnight = chrono_tz::Asia::Shanghai.from_local_datetime(&local.date_naive().and_hms_opt(0, 0, 0).unwrap());
    Timestamp(u64::try_from(midnight.unwrap().timestamp()).unwrap())
}

fn shanghai_day(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(at.0).unwrap(), 0)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string()
}

fn minor(decimal: &str) -> i64 {
    let (sign, digits) = decimal.strip_prefix('-').map_or((1, decimal), |d| (-1, d));
    let (whole, cents) = digits.split_once('.').unwrap();
    sign * (whole.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap())
}

async fn daily_report_totals_match_the_ledger(env: Env) {
    // The refunds below are booked at the real time: keep clear of midnight in Shanghai.
    let mut t = now();
    let next = shanghai_midnight(t).0 + 86_400;
    if next - t.0 < 120 {
        tokio::time::sleep(Duration::from_secs(next - t.0 + 2)).await;
        t = now();
    }
    let midnight = shanghai_midnight(t);
    let (today, yesterday) = (shanghai_day(t), shanghai_day(Timestamp(midnight.0 - 1)));
    let early = Timestamp(midnight.0 - 3_600);
    let s1 = shop(env.store(), 1, early).await;
    let other = shop(env.store(), 2, early).await;
    let token = env.merchant_token("M-1");
    let tok = Some(token.as_str());

    let (a, b, c, d) = (
        s1.order(env.store(), "A", "10.00", early).await,
        s1.order(env.store(), "B", "20.00", early).await,
        s1.order(env.store(), "C", "30.00", early).await,
        s1.order(env.store(), "D", "40.00", early).await,
    );
    // Yesterday's last second, then today's first, then now.
    s1.pay(env.store(), &a, "10.00", 1, Timestamp(midnight.0 - 1)).await;
    let start_of_today = env.store().balance(s1.account).await.unwrap().minor;
    s1.pay(env.store(), &b, "20.00", 2, midnight).await;
    s1.pay(env.store(), &c, "30.00", 3, t).await;
    // Declined (the amount is not the order's): listed, but moves nothing.
    let declined = s1.pay(env.store(), &d, "39.00", 4, t).await;
    assert_eq!(
        env.store().lookup_tx(&declined).await.unwrap().unwrap().outcome,
        wearpay_pay::Outcome::Declined(ReasonCode::AmountMismatch)
    );
    // Another merchant's business the same day.
    let e = other.order(env.store(), "E", "50.00", early).await;
    other.pay(env.store(), &e, "50.00", 1, t).await;
    // Refunds today, of yesterday's payment and of today's.
    for (order, id, amount) in [("A", "R-A", "1.00"), ("B", "R-B", "2.50")] {
        let (s, v) =
            env.post(&format!("/v1/orders/{order}/refunds"), tok, json!({"refund_id": id, "amount": amount})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let end_of_today = env.store().balance(s1.account).await.unwrap().minor;

    let (s, r) = env.get(&format!("/v1/reports/daily?day={today}"), tok).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let totals = &r["totals"];
    assert_eq!(totals["payments_count"], 2, "{r}");
    assert_eq!(totals["payments"], "50.00");
    assert_eq!(totals["refunds_count"], 2);
    assert_eq!(totals["refunds"], "3.50");
    // The ledger's word: the net is the merchant account's change over the day.
    assert_eq!(totals["net_minor"].as_i64().unwrap(), end_of_today - start_of_today);
    assert_eq!(minor(totals["net"].as_str().unwrap()), end_of_today - start_of_today);
    let entries = r["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    let sum: i64 = entries.iter().map(|e| minor(e["amount"].as_str().unwrap())).sum();
    assert_eq!(sum, end_of_today - start_of_today);
    assert_eq!(entries[0]["order_id"], "B");
    assert!(entries[0]["local_time"].as_str().unwrap().ends_with("T00:00:00+08:00"), "{r}");
    assert_eq!(r["time_zone"], "Asia/Shanghai");

    let (_, y) = env.get(&format!("/v1/reports/daily?day={yesterday}&format=json"), tok).await;
    assert_eq!(y["totals"]["payments_count"], 1, "{y}");
    assert_eq!(y["totals"]["net_minor"].as_i64().unwrap(), start_of_today);

    // The CSV says the same.
    let resp = env
        .client
        .get(format!("{}/v1/reports/daily?day={today}&format=csv", env.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "kind,local_time,tx_id,order_id,refund_id,mode,amount,currency");
    assert_eq!(lines.len(), 1 + 4 + 4, "{csv}");
    let net: Vec<&str> = lines.last().unwrap().split(',').collect();
    assert_eq!(net[0], "net");
    assert_eq!(minor(net[6]), end_of_today - start_of_today);

    // Transactions: today's three decided payments (one declined) and two refunds.
    let (_, v) = env.get(&format!("/v1/transactions?day={today}"), tok).await;
    let payments = v["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 3, "{v}");
    assert!(payments.iter().any(|p| p["outcome"] == "amount_mismatch"));
    assert_eq!(v["refunds"].as_array().unwrap().len(), 2);

    for bad in ["day=2025-13-01", "day=today", "day=2025-06-01&format=xml", ""] {
        let (s, v) = env.get(&format!("/v1/reports/daily?{bad}"), tok).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    env.stop().await;
}

/// A band's key and a CSR for it whose challengePassword is `proof(spki)`.
fn band_csr(key: &dyn PrivateKey, subject: &str, proof: impl FnOnce(&[u8]) -> String) -> CertificateRequest {
    let plain = CsrBuilder::new(DistinguishedName::parse(subject).unwrap()).sign(&PROVIDER, key).unwrap();
    let password = proof(plain.spki_der());
    CsrBuilder::new(DistinguishedName::parse(subject).unwrap())
        .challenge_password(&password)
        .unwrap()
        .sign(&PROVIDER, key)
        .unwrap()
}

async fn customer_with_pan(env: &Env, pan: &str) -> (i64, String) {
    let (s, v) = env
        .post(
            "/v1/admin/accounts",
            Some(&env.admin),
            json!({"name": "Alice", "currency": "CNY", "kind": "customer", "pan": pan}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (v["account"].as_i64().unwrap(), v["reporting_secret"].as_str().unwrap().to_owned())
}

async fn new_code(env: &Env, account: i64) -> ActivationCode {
    let (s, v) = env
        .post(
            &format!("/v1/admin/accounts/{account}/activation-codes"),
            Some(&env.admin),
            json!({"label": "Alice's band"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let code = ActivationCode::parse(v["activation_code"].as_str().unwrap()).unwrap();
    assert_eq!(v["activation_id"], code.id());
    assert!(v["expires_at"].as_u64().unwrap() >= now().0 + 7 * 86_400 - 5);
    code
}

/// HMAC-SM3 by Debian's openssl, when it is there.
fn openssl_hmac_sm3(key: &[u8], data: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, data).unwrap();
    let out = Command::new("openssl")
        .args(["mac", "-digest", "SM3", "-macopt", &format!("hexkey:{}", hex::encode(key)), "-in"])
        .arg(&input)
        .arg("HMAC")
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_lowercase())
}

async fn enrollment_by_activation_code(env: Env) {
    let (account, _) = customer_with_pan(&env, "6212345678901234").await;
    let code = new_code(&env, account).await;

    // The proof is HMAC-SM3 as an independent implementation computes it.
    let secret = hex::decode(code.to_string().split_once('-').unwrap().1).unwrap();
    if let Some(theirs) = openssl_hmac_sm3(&secret, b"spki bytes") {
        assert_eq!(activation_proof(&PROVIDER, &secret, b"spki bytes"), theirs);
    } else {
        assert!(std::env::var_os("WEARPAY_REQUIRE_INTEROP").is_none(), "openssl is required");
    }

    // The database keeps the secret sealed: not in clear, in any form.
    let stored = env.stored_secrets().await;
    assert_eq!(stored.len(), 1);
    let text = hex::encode(&secret);
    for haystack in &stored {
        assert!(!haystack.windows(secret.len()).any(|w| w == secret.as_slice()));
        assert!(!haystack.windows(text.len()).any(|w| w == text.as_bytes()));
    }
    if env.postgres.is_none() {
        let data = env.dir.path().join("data");
        let db = std::fs::read(data.join(SQLITE_FILE)).unwrap();
        let wal = std::fs::read(data.join(format!("{SQLITE_FILE}-wal"))).unwrap_or_default();
        for haystack in [&db, &wal] {
            assert!(!haystack.windows(secret.len()).any(|w| w == secret.as_slice()));
            assert!(!haystack.windows(text.len()).any(|w| w == text.as_bytes()));
        }
    }

    let band: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let enroll = |id: &str, csr: &CertificateRequest| json!({"activation_id": id, "csr_pem": csr.to_pem()});

    // The phone swaps in a CSR for its own key: it cannot make the proof for that key.
    let phone = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let band_spki = band_csr(&*band, "CN=x", |_| String::from("0")).spki_der().to_vec();
    let swapped = band_csr(&*phone, "CN=x", |_| code.proof(&PROVIDER, &band_spki));
    let (s, v) = env.post("/v1/enroll", None, enroll(code.id(), &swapped)).await;
    assert_eq!((s, err_code(&v)), (StatusCode::FORBIDDEN, "activation_refused"));
    let guessed = band_csr(&*phone, "CN=x", |spki| activation_proof(&PROVIDER, b"a guess", spki));
    let (s, _) = env.post("/v1/enroll", None, enroll(code.id(), &guessed)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.post("/v1/enroll", None, enroll("00112233aabbccdd", &guessed)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an unknown id is answered like a wrong proof");
    let (s, v) = env
        .post("/v1/enroll", None, json!({"activation_id": code.id(), "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----"}))
        .await;
    assert_eq!((s, err_code(&v)), (StatusCode::BAD_REQUEST, "invalid_csr"));
    assert!(env.store().terminals_of(AccountId(account)).await.unwrap().is_empty());

    // The band's own CSR, asking for a subject of its choosing: enrolled with the registry's.
    let csr = band_csr(&*band, "CN=center.wearpay.test,O=wearpay center", |spki| code.proof(&PROVIDER, spki));
    let (s, e) = env.post("/v1/enroll", None, enroll(code.id(), &csr)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let cert = Certificate::parse(e["certificate_pem"].as_str().unwrap().as_bytes()).unwrap();
    let root = Certificate::parse(e["root_pem"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(root.as_der(), env.center.root().as_der());
    let chain: Vec<Certificate> = e["terminal_ca_chain_pem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Certificate::parse(p.as_str().unwrap().as_bytes()).unwrap())
        .collect();
    Verifier::new(&PROVIDER, std::slice::from_ref(&root))
        .verify(&cert, &chain, UnixTime::now(), Some(Role::Terminal))
        .unwrap();
    assert_eq!(cert.public_key().unwrap(), &SigningKey::public_key(&*band));
    let subject = cert.subject().to_string();
    assert!(subject.contains(&format!("OU=account {account}")) && subject.contains("Alice"), "{subject}");
    assert!(!subject.contains("center.wearpay.test"), "{subject}");
    assert_eq!(e["pan"], "6212345678901234");
    assert_eq!(e["account"], account);
    assert_eq!(e["server_name"], "center.wearpay.test");
    // What the band checks receipts and enciphers PINs with chains to the same root.
    let center_ca = Certificate::parse(e["center_ca_pem"].as_str().unwrap().as_bytes()).unwrap();
    for (field, role, purpose) in [
        ("receipt_sign_pem", Role::CenterReceipt, KeyPurpose::ReceiptSign),
        ("pin_enc_pem", Role::CenterPin, KeyPurpose::PinEnc),
    ] {
        let c = Certificate::parse(e[field].as_str().unwrap().as_bytes()).unwrap();
        Verifier::new(&PROVIDER, std::slice::from_ref(&root))
            .verify(&c, std::slice::from_ref(&center_ca), UnixTime::now(), Some(role))
            .unwrap();
        assert_eq!(c.public_key().unwrap(), &env.center.keys().public_key(purpose).unwrap());
    }
    let terminals = env.store().terminals_of(AccountId(account)).await.unwrap();
    assert_eq!(terminals.len(), 1);
    assert_eq!(terminals[0].status, TerminalStatus::Active);
    assert_eq!(terminals[0].serial.to_string(), e["terminal_serial"]);
    assert_eq!(terminals[0].certificate, cert.as_der());

    // Spent: a second use fails, with the same CSR or another.
    let (s, v) = env.post("/v1/enroll", None, enroll(code.id(), &csr)).await;
    assert_eq!((s, err_code(&v)), (StatusCode::GONE, "activation_used"));
    let other: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let csr2 = band_csr(&*other, "CN=y", |spki| code.proof(&PROVIDER, spki));
    let (s, _) = env.post("/v1/enroll", None, enroll(code.id(), &csr2)).await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(env.store().terminals_of(AccountId(account)).await.unwrap().len(), 1);

    // Expired: a code made eight days ago with the default week.
    let old = env
        .center
        .create_activation_code(
            AccountId(account),
            "",
            Duration::from_secs(7 * 86_400),
            Timestamp(now().0 - 8 * 86_400),
        )
        .await
        .unwrap();
    let csr3 = band_csr(&*other, "CN=y", |spki| old.code.proof(&PROVIDER, spki));
    let (s, v) = env.post("/v1/enroll", None, enroll(old.code.id(), &csr3)).await;
    assert_eq!((s, err_code(&v)), (StatusCode::GONE, "activation_expired"));

    // Codes only for customer accounts with a PAN.
    let (_, m) = env
        .post("/v1/admin/accounts", Some(&env.admin), json!({"name": "Shop", "currency": "CNY", "kind": "merchant"}))
        .await;
    let (s, v) =
        env.post(&format!("/v1/admin/accounts/{}/activation-codes", m["account"]), Some(&env.admin), json!({})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::BAD_REQUEST, "invalid_input"));
    let (s, _) = env.post("/v1/admin/accounts/999/activation-codes", Some(&env.admin), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Two bands racing with one code, each with a valid proof for its own key: one wins.
    let race = new_code(&env, account).await;
    let (k1, k2) =
        (generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap(), generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap());
    let c1 = band_csr(&*k1, "CN=one", |spki| race.proof(&PROVIDER, spki));
    let c2 = band_csr(&*k2, "CN=two", |spki| race.proof(&PROVIDER, spki));
    let (r1, r2) = tokio::join!(
        env.post("/v1/enroll", None, enroll(race.id(), &c1)),
        env.post("/v1/enroll", None, enroll(race.id(), &c2))
    );
    let mut outcomes = [r1.0, r2.0];
    outcomes.sort();
    assert_eq!(outcomes, [StatusCode::CREATED, StatusCode::GONE], "{} / {}", r1.1, r2.1);
    assert_eq!(env.store().terminals_of(AccountId(account)).await.unwrap().len(), 2);

    // Rate-limited per address: ten calls a minute, all made above.
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(env.post("/v1/enroll", None, enroll(code.id(), &guessed)).await.0);
    }
    assert_eq!(statuses, [StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
    env.stop().await;
}

async fn a_lost_band_is_revoked_and_listed_in_the_crl(env: Env) {
    let (account, reporting_secret) = customer_with_pan(&env, "6212345678901235").await;
    let mut serials = Vec::new();
    for _ in 0..2 {
        let code = new_code(&env, account).await;
        let key = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
        let csr = band_csr(&*key, "CN=band", |spki| code.proof(&PROVIDER, spki));
        let (s, e) = env.post("/v1/enroll", None, json!({"activation_id": code.id(), "csr_pem": csr.to_pem()})).await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        serials.push(e["terminal_serial"].as_str().unwrap().to_owned());
    }
    // The store keeps the secret's hash only.
    let stored = env.store().account(AccountId(account)).await.unwrap().unwrap().report_secret_hash.unwrap();
    assert_ne!(stored, reporting_secret.as_bytes());

    // A wrong secret, or another account's: 403 and nothing changes.
    for (acct, secret) in [(account, "0".repeat(40)), (account + 100, reporting_secret.clone())] {
        let (s, v) = env.post("/v1/lost", None, json!({"account": acct, "reporting_secret": secret})).await;
        assert_eq!((s, err_code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
    }
    for t in env.store().terminals_of(AccountId(account)).await.unwrap() {
        assert_eq!(t.status, TerminalStatus::Active);
    }

    let (s, v) = env.post("/v1/lost", None, json!({"account": account, "reporting_secret": reporting_secret})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let revoked: BTreeSet<String> =
        v["revoked"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    assert_eq!(revoked, serials.iter().cloned().collect());
    for t in env.store().terminals_of(AccountId(account)).await.unwrap() {
        assert_eq!(t.status, TerminalStatus::Revoked);
    }

    // The CRL served lists both, signed by the terminal CA; PEM by default, DER on request.
    let pem = env.client.get(format!("{}/crl", env.base)).send().await.unwrap();
    assert_eq!(pem.status(), StatusCode::OK);
    let crl = Crl::parse(&pem.bytes().await.unwrap()).unwrap();
    crl.verify(&PROVIDER, env.center.terminal_ca().certificate(), UnixTime::now()).unwrap();
    for s in &serials {
        assert!(crl.lookup(&hex::decode(s).unwrap()).is_some(), "{s} not in the CRL");
    }
    let der =
        env.client.get(format!("{}/crl", env.base)).header("accept", "application/pkix-crl").send().await.unwrap();
    assert_eq!(der.headers()["content-type"], "application/pkix-crl");
    let der = der.bytes().await.unwrap();
    assert_eq!(der.first(), Some(&0x30));
    assert_eq!(Crl::parse(&der).unwrap().as_der(), crl.as_der());

    // Again: nothing left to revoke. The admin's report needs no secret.
    let (s, v) = env.post(&format!("/v1/admin/accounts/{account}/lost"), Some(&env.admin), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["revoked"].as_array().unwrap().len(), 0);
    let (s, _) = env.post("/v1/admin/accounts/4242/lost", Some(&env.admin), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Reporting is rate-limited per address too.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = env.post("/v1/lost", None, json!({"account": account, "reporting_secret": "x"})).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    env.stop().await;
}

async fn admin_endpoints(env: Env) {
    let admin = Some(env.admin.as_str());
    let (s, v) = env.get("/health", None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));

    let (customer, _) = customer_with_pan(&env, "6212345678901236").await;
    let (s, m) = env
        .post("/v1/admin/accounts", admin, json!({"name": "Tea House", "currency": "CNY", "kind": "merchant"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(m.get("reporting_secret").is_none());
    let shop = m["account"].as_i64().unwrap();
    let (s, v) =
        env.post("/v1/admin/merchants", admin, json!({"id": "M-7", "name": "Tea House", "account": shop})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.post("/v1/admin/merchants", admin, json!({"id": "M-8", "name": "Tea", "account": customer})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::BAD_REQUEST, "invalid_input"));
    let (s, v) =
        env.post("/v1/admin/accounts", admin, json!({"name": "", "currency": "CNY", "kind": "customer"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = env.post("/v1/admin/accounts", admin, json!({"name": "X", "currency": "CNY", "kind": "system"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The PAN is unique.
    let (s, v) = env
        .post(
            "/v1/admin/accounts",
            admin,
            json!({"name": "Eve", "currency": "CNY", "kind": "customer", "pan": "6212345678901236"}),
        )
        .await;
    assert_eq!((s, err_code(&v)), (StatusCode::CONFLICT, "already_exists"));
    no_internals(&v);

    let (s, v) = env.post(&format!("/v1/admin/accounts/{customer}/deposits"), admin, json!({"amount": "500.00"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["balance"], "500.00");
    let (s, _) = env.post(&format!("/v1/admin/accounts/{customer}/deposits"), admin, json!({"amount": "-1"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = env.get(&format!("/v1/admin/accounts/{customer}"), admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((v["balance"].as_str(), v["pan"].as_str()), (Some("500.00"), Some("************1236")));
    assert_eq!(v["reporting_secret_set"], true);
    assert!(v.get("reporting_secret").is_none());
    let (s, _) = env.get("/v1/admin/accounts/0", admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.get("/v1/admin/accounts/77", admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, v) = env.get("/v1/admin/balances", admin).await;
    let list = v.as_array().unwrap();
    assert!(list.iter().any(|b| b["account"] == customer && b["balance"] == "500.00"), "{v}");
    let (_, v) = env.get(&format!("/v1/admin/balances?after={customer}&limit=1"), admin).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(v[0]["account"].as_i64().unwrap() > customer);
    let (s, _) = env.get("/v1/admin/balances?limit=0", admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, v) = env.get(&format!("/v1/admin/accounts/{customer}/transactions?limit=10"), admin).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!((v[0]["kind"].as_str(), v[0]["amount"].as_str()), (Some("deposit"), Some("500.00")));

    // A terminal through its life.
    let code = new_code(&env, customer).await;
    let key = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let csr = band_csr(&*key, "CN=band", |spki| code.proof(&PROVIDER, spki));
    let (_, e) = env.post("/v1/enroll", None, json!({"activation_id": code.id(), "csr_pem": csr.to_pem()})).await;
    let serial = e["terminal_serial"].as_str().unwrap().to_owned();
    let (_, v) = env.get(&format!("/v1/admin/accounts/{customer}/terminals"), admin).await;
    assert_eq!(v[0]["serial"], serial.as_str());
    let path = |action: &str| format!("/v1/admin/terminals/{serial}/{action}");
    let (s, v) = env.post(&path("suspend"), admin, json!({})).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("suspended")));
    let (_, v) = env.post(&path("reactivate"), admin, json!({})).await;
    assert_eq!(v["status"], "active");
    let (s, v) = env.post(&path("unlock-pin"), admin, json!({})).await;
    assert_eq!((s, v["locked"].as_bool()), (StatusCode::OK, Some(false)));
    let (_, v) = env.post(&path("revoke"), admin, json!({})).await;
    assert_eq!(v["status"], "revoked");
    let (s, v) = env.post(&path("reactivate"), admin, json!({})).await;
    assert_eq!((s, err_code(&v)), (StatusCode::CONFLICT, "terminal_revoked"));
    let (_, v) = env.get(&format!("/v1/admin/terminals/{serial}"), admin).await;
    assert_eq!(v["status"], "revoked");
    let (s, _) = env.get("/v1/admin/terminals/zz", admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.get("/v1/admin/terminals/0102", admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env.call("delete", &path("revoke"), admin, None).await;
    assert_eq!((s, err_code(&v)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));

    let (_, v) = env.get("/v1/admin/ledger/check", admin).await;
    assert_eq!(v["ok"], true, "{v}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_the_router() {
    let env = Env::new().await;
    let (s, doc) = env.get("/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"].is_object(), "{method} {path}");
            documented.insert((method.clone(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> =
        route_table().into_iter().map(|(m, p)| (m.to_owned(), p.to_owned())).collect();
    assert_eq!(documented, routed);
    // And the router serves each of them (the table is not just a list): never the
    // fallback's no_route or method_not_allowed.
    for (method, path) in &routed {
        let concrete = path.replace("{id}", "1").replace("{serial}", "01");
        let (s, v) = env.call(method, &concrete, Some(&env.admin), None).await;
        let c = v["error"]["code"].as_str().unwrap_or("");
        assert!(c != "no_route" && c != "method_not_allowed", "{method} {path}: {s} {v}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_values_open_only_under_their_label() {
    let env = Env::new().await;
    let keys = env.center.keys();
    let sealed = keys.seal("activation-code:0011", b"twenty bytes secret!").unwrap();
    assert!(!sealed.windows(20).any(|w| w == b"twenty bytes secret!"));
    assert_eq!(keys.open("activation-code:0011", &sealed).unwrap().as_slice(), b"twenty bytes secret!");
    // Fresh nonce each time.
    assert_ne!(keys.seal("activation-code:0011", b"twenty bytes secret!").unwrap(), sealed);
    assert!(keys.open("activation-code:0012", &sealed).is_err());
    let mut altered = sealed.clone();
    *altered.last_mut().unwrap() ^= 1;
    assert!(keys.open("activation-code:0011", &altered).is_err());
    assert!(keys.open("activation-code:0011", &sealed[..20]).is_err());
    // Another center's key store cannot open it.
    let other = Env::new().await;
    assert!(other.center.keys().open("activation-code:0011", &sealed).is_err());
    other.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_names_the_tokens_file() {
    let env = Env::new().await;
    let toml = std::fs::read_to_string(env.dir.path().join("center.toml")).unwrap();
    assert!(toml.contains("tokens = \"secrets/api-tokens.toml\""), "{toml}");
    assert_eq!(env.center.config().http.public_rate_per_minute, 10);
    // A config without the field gets the default.
    let trimmed = toml.replace("tokens = \"secrets/api-tokens.toml\"\n", "");
    let path = env.dir.path().join("other.toml");
    std::fs::write(&path, trimmed).unwrap();
    assert_eq!(CenterConfig::load(&path).unwrap().http.tokens, Path::new("secrets/api-tokens.toml"));
    env.stop().await;
}
