//! A band renews its certificate over the channel: the center issues a certificate for the
//! key the channel authenticated, with the registry's subject; the band's first handshake
//! with it moves the terminal (status, counter, the day's spending) to the new serial and
//! revokes the old certificate as superseded. Payments made before the renewal stay the
//! band's. A request for another key, from a suspended band, or a renewal of a band revoked
//! before it used the new certificate is refused. On SQLite, and on PostgreSQL when
//! `WEARPAY_TEST_POSTGRES` is set.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[macro_use]
mod common;
use common::{Serving, TestPostgres, band_config, now, openssl_lists};

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wearpay_center::keystore::KeyPurpose;
use wearpay_center::node::{Center, CenterConfig, InitOptions, init};
use wearpay_center::{AccountId, AuditKind, NewAccount, NewMerchant, NewOrder, Terminal, TerminalStatus};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, portable::PROVIDER};
use wearpay_pay::{
    Counter, Currency, Description, Evidence, MerchantId, MerchantName, Money, Order, OrderId, OrderQuery, Outcome,
    PayRequest, PayRequestBuilder, Press, ReasonCode, Renew, Renewed, Request, Response, Timestamp, TxId, TxState,
    TxStatusQuery, WornAttestation,
};
use wearpay_pki::{Certificate, CsrBuilder, DistinguishedName, Role, UnixTime, Verifier, files, generate_key};
use wearpay_tlcp::ClientConnection;
use wearpay_tlcp::msgs::AlertDescription;
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::tokio_stream::TokioStream;

type Tls = TokioStream<ClientConnection, TcpStream>;

/// A center serving on an ephemeral port, a funded customer and a merchant.
struct Env {
    _dir: tempfile::TempDir,
    postgres: Option<TestPostgres>,
    serving: Serving,
    center: Arc<Center>,
    payer: AccountId,
    merchant: MerchantId,
}

impl Env {
    async fn on(postgres: bool) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
        o.iterations = 1_000;
        let postgres = if postgres {
            let pg = TestPostgres::create("renewal").await?;
            o.database = Some(pg.url.clone());
            Some(pg)
        } else {
            None
        };
        init(dir.path(), &o, &PROVIDER).await.unwrap();
        let serving = Serving::open(CenterConfig::load(&dir.path().join("center.toml")).unwrap()).await;
        let center = serving.center.clone();
        let store = center.store();
        let t = now();
        let payer = store.create_account(NewAccount::customer("Alice", Currency::CNY), t).await.unwrap().id;
        store.deposit(payer, Money::parse("10000.00 CNY").unwrap(), t).await.unwrap();
        let shop = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), t).await.unwrap().id;
        let merchant = MerchantId::new("M-1").unwrap();
        let name = MerchantName::new("Tea House").unwrap();
        store.create_merchant(NewMerchant { id: merchant.clone(), name, account: shop }, t).await.unwrap();
        Some(Self { _dir: dir, postgres, serving, center, payer, merchant })
    }

    async fn order(&self, id: &str, amount: &str) -> Order {
        let new = NewOrder {
            order_id: OrderId::new(id).unwrap(),
            merchant: self.merchant.clone(),
            money: Money::parse(amount).unwrap(),
            description: Description::new("tea").unwrap(),
            expires_at: Timestamp(now().0 + 600),
        };
        self.center.store().create_order(new, now()).await.unwrap().order
    }

    /// A band enrolled to the payer, with a key of its own.
    async fn band(&self) -> Band {
        let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
        let csr = CsrBuilder::new(DistinguishedName::parse("CN=band").unwrap()).sign(&PROVIDER, &*key).unwrap();
        let (terminal, cert) = self.center.enroll_terminal(&csr, self.payer, "Alice's band", now()).await.unwrap();
        Band { key, cert, terminal }
    }

    /// A full handshake with the band's current certificate (a fresh session store each
    /// time).
    async fn connect(&self, band: &Band) -> Result<Tls, Tls> {
        let config = band_config(&self.center, band.key.clone(), &band.cert);
        let tcp = TcpStream::connect(self.serving.addr).await.unwrap();
        let mut tls = TokioStream::new(ClientConnection::new(config, system_time()).unwrap(), tcp);
        match tls.handshake().await {
            Ok(()) => Ok(tls),
            Err(_) => Err(tls),
        }
    }

    async fn terminal(&self, band: &Band) -> Terminal {
        self.center.store().terminal(&band.terminal.serial).await.unwrap().unwrap()
    }

    async fn finish(self) {
        assert!(self.center.store().ledger_check().await.unwrap().ok);
        let report = self.center.audit_verify().await.unwrap();
        assert!(report.ok, "{report:?}");
        self.serving.stop().await;
        if let Some(pg) = &self.postgres {
            pg.drop_database().await;
        }
    }
}

/// A band's key, its current certificate and the registry's row for it.
struct Band {
    key: Arc<dyn PrivateKey>,
    cert: Certificate,
    terminal: Terminal,
}

/// Sends one request and reads one answer; `None` when the center closed instead.
async fn exchange(tls: &mut Tls, request: &[u8]) -> Option<Response> {
    tls.write_all(request).await.ok()?;
    tls.flush().await.ok()?;
    let mut buf = vec![0u8; 20_000];
    match tls.read(&mut buf).await {
        Ok(n) if n > 0 => Some(Response::decode(&buf[..n]).unwrap()),
        _ => None,
    }
}

fn pay_request(band: &Band, order: &Order, counter: u64) -> PayRequest {
    let tx_id = TxId::random(&PROVIDER).unwrap();
    let evidence = Evidence::quick(
        Press { tx_id, at: now() },
        WornAttestation { unlocked_at: Timestamp(now().0 - 60), worn_since_unlock: true },
    );
    PayRequestBuilder::for_order(order, tx_id, evidence, Counter(counter), now()).sign(&*band.key).unwrap()
}

async fn pay(tls: &mut Tls, request: &PayRequest) -> Outcome {
    match exchange(tls, request.encode()).await {
        Some(Response::Pay(p)) => p.outcome,
        other => panic!("no payment response: {other:?}"),
    }
}

async fn renew(tls: &mut Tls, key: &dyn PrivateKey) -> Response {
    let csr = CsrBuilder::new(DistinguishedName::parse("CN=a subject the center must not use").unwrap())
        .sign(&PROVIDER, key)
        .unwrap();
    exchange(tls, &Request::Renew(Renew { csr: csr.as_der().to_vec() }).encode().unwrap()).await.unwrap()
}

/// The renewed certificate, checked as a band checks it.
fn check_renewed(env: &Env, band: &Band, renewed: &Renewed) -> Certificate {
    let cert = Certificate::from_der(&renewed.certificate).unwrap();
    let chain: Vec<Certificate> = renewed.chain.iter().map(|c| Certificate::from_der(c).unwrap()).collect();
    let verifier = Verifier::new(&PROVIDER, std::slice::from_ref(env.center.root()));
    verifier.verify(&cert, &chain, UnixTime::now(), Some(Role::Terminal)).unwrap();
    assert_eq!(cert.public_key().unwrap(), band.cert.public_key().unwrap(), "same key");
    assert_eq!(cert.subject(), band.cert.subject(), "the registry's subject, not the CSR's");
    assert_ne!(cert.serial(), band.cert.serial());
    assert!(cert.not_after().secs() <= now().0 + 365 * 86_400);
    for (der, purpose) in
        [(&renewed.receipt_certificate, KeyPurpose::ReceiptSign), (&renewed.pin_certificate, KeyPurpose::PinEnc)]
    {
        assert_eq!(der.as_slice(), env.center.certificate(purpose).unwrap().as_der());
    }
    cert
}

fn crl_entry(env: &Env, serial: &[u8]) -> Option<wearpay_pki::RevocationReason> {
    let crl = files::read_crl(env.center.crl_path()).unwrap();
    crl.verify(&PROVIDER, env.center.terminal_ca().certificate(), UnixTime::now()).unwrap();
    crl.lookup(serial).map(|entry| entry.reason.unwrap())
}

async fn renewal_moves_the_terminal(env: Env) {
    let mut band = env.band().await;
    let old = band.terminal.serial.clone();
    let mut orders = Vec::new();
    for i in 0..5 {
        orders.push(env.order(&format!("O-{i}"), "1000.00 CNY").await);
    }

    // Two payments with the first certificate (the daily quick limit is 3000.00 CNY).
    let mut tls = env.connect(&band).await.unwrap();
    let first = pay_request(&band, &orders[0], 1);
    assert_eq!(pay(&mut tls, &first).await, Outcome::Approved);
    assert_eq!(pay(&mut tls, &pay_request(&band, &orders[1], 2)).await, Outcome::Approved);

    // The renewal: nothing changes in the registry until the new certificate is used.
    let Response::Renewed(renewed) = renew(&mut tls, &*band.key).await else { panic!("not renewed") };
    let cert = check_renewed(&env, &band, &renewed);
    assert_eq!(env.terminal(&band).await.status, TerminalStatus::Active);
    assert_eq!(env.terminal(&band).await.replaced_by, None);
    assert_eq!(crl_entry(&env, old.as_bytes()), None);
    // The old certificate still pays until then (a lost answer must cost nothing).
    assert_eq!(pay(&mut tls, &pay_request(&band, &orders[2], 3)).await, Outcome::Approved);
    drop(tls);

    // The first handshake with the new certificate moves the terminal to it.
    let previous = std::mem::replace(&mut band.cert, cert);
    let mut tls = env.connect(&band).await.unwrap();
    // The center decides after its side of the handshake: an answer means it has.
    assert!(matches!(exchange(&mut tls, &Request::BalanceQuery.encode().unwrap()).await, Some(Response::Balance(_))));
    let new = wearpay_pay::TerminalSerial::new(band.cert.serial()).unwrap();
    let moved = env.center.store().terminal(&new).await.unwrap().unwrap();
    assert_eq!(moved.status, TerminalStatus::Active);
    assert_eq!(moved.account, env.payer);
    assert_eq!(moved.last_counter, Some(Counter(3)), "the counter carries over");
    assert_eq!(moved.replaced_by, None);
    let superseded = env.terminal(&band).await;
    assert_eq!(superseded.status, TerminalStatus::Revoked);
    assert_eq!(superseded.replaced_by, Some(new.clone()), "the registry says which certificate replaced it");
    assert_eq!(crl_entry(&env, old.as_bytes()), Some(wearpay_pki::RevocationReason::Superseded));
    openssl_lists(&env.center.crl_path(), &hex::encode_upper(old.as_bytes()), "Superseded");

    // A replayed counter is stale under the new serial too, and the day's spending came
    // along: 3000.00 CNY already paid, so the next 1000.00 is over the daily limit.
    assert_eq!(pay(&mut tls, &pay_request(&band, &orders[3], 3)).await, Outcome::Declined(ReasonCode::StaleCounter));
    assert_eq!(pay(&mut tls, &pay_request(&band, &orders[4], 4)).await, Outcome::Declined(ReasonCode::LimitDaily));
    // The band's payment from before the renewal is still its own: its status, and a
    // byte-identical retry that gets the stored answer.
    let status = Request::TxStatus(TxStatusQuery { tx_id: *first.tx_id() }).encode().unwrap();
    let Some(Response::TxStatus(s)) = exchange(&mut tls, &status).await else { panic!("no status") };
    assert!(matches!(s.state, TxState::Done(ref p) if p.outcome == Outcome::Approved), "{s:?}");
    assert_eq!(pay(&mut tls, &first).await, Outcome::Approved);
    let q = Request::OrderQuery(OrderQuery { order_id: orders[0].order_id.clone() }).encode().unwrap();
    assert_eq!(exchange(&mut tls, &q).await, Some(Response::Error { reason: ReasonCode::OrderPaid }));
    drop(tls);

    // The old certificate is refused from now on.
    band.cert = previous;
    let refused = env.connect(&band).await.unwrap_err();
    assert_eq!(
        refused.protocol_error(),
        Some(&wearpay_tlcp::Error::AlertReceived(AlertDescription::CertificateRevoked))
    );

    let kinds: Vec<AuditKind> =
        env.center.store().audit_entries(0, 1000).await.unwrap().iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&AuditKind::TerminalRenewalIssued) && kinds.contains(&AuditKind::TerminalRenewed));
    env.finish().await;
}

async fn renewals_are_refused_where_they_must_be(env: Env) {
    let band = env.band().await;
    let mut tls = env.connect(&band).await.unwrap();
    // A request for another key, and bytes that are no request at all.
    let other = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    assert_eq!(renew(&mut tls, &*other).await, Response::Error { reason: ReasonCode::BadCsr });
    let junk = Request::Renew(Renew { csr: vec![0x30, 0x03, 1, 2, 3] }).encode().unwrap();
    assert_eq!(exchange(&mut tls, &junk).await, Some(Response::Error { reason: ReasonCode::BadCsr }));
    drop(tls);

    // A suspended band gets nothing (it cannot even connect).
    let serial = band.terminal.serial.clone();
    env.center.set_terminal_status(&serial, TerminalStatus::Suspended, now()).await.unwrap();
    assert!(env.connect(&band).await.is_err());
    env.center.set_terminal_status(&serial, TerminalStatus::Active, now()).await.unwrap();

    // Renewed, then reported lost before the band used the new certificate: the new one is
    // refused too, and the CRL lists both.
    let mut tls = env.connect(&band).await.unwrap();
    let Response::Renewed(renewed) = renew(&mut tls, &*band.key).await else { panic!("not renewed") };
    drop(tls);
    env.center.set_terminal_status(&serial, TerminalStatus::Revoked, now()).await.unwrap();
    let cert = check_renewed(&env, &band, &renewed);
    let thief = Band { key: band.key.clone(), cert: cert.clone(), terminal: band.terminal.clone() };
    // The certificate itself verifies; the center closes once it finds no terminal for it.
    if let Ok(mut tls) = env.connect(&thief).await {
        assert_eq!(exchange(&mut tls, &Request::BalanceQuery.encode().unwrap()).await, None);
    }
    let new = wearpay_pay::TerminalSerial::new(cert.serial()).unwrap();
    assert!(env.center.store().terminal(&new).await.unwrap().is_none());
    assert_eq!(crl_entry(&env, serial.as_bytes()), Some(wearpay_pki::RevocationReason::KeyCompromise));
    assert_eq!(crl_entry(&env, new.as_bytes()), Some(wearpay_pki::RevocationReason::KeyCompromise));
    env.finish().await;
}

on_both!(renewal_moves_the_terminal, renewals_are_refused_where_they_must_be);
