//! The center's TLCP channel on real TCP loopback: a terminal with a certificate of our
//! own PKI queries an order and pays it; revoked in the registry, its next payment on the
//! live session is declined and a new handshake is refused with certificate_revoked.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

#[path = "store/common.rs"]
#[allow(dead_code, unused_imports, unused_macros)]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::T0;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wearpay_center::channel::{ChannelConfig, RegistryVerifier, serve_with};
use wearpay_center::{
    NewAccount, NewMerchant, NewOrder, NewTerminal, TerminalStatus,
    authorize::{Authorizer, AuthorizerConfig},
    keystore::{FileKeyStore, KeyPurpose, KeyStore},
};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, SigningKey, portable::PROVIDER};
use wearpay_pay::{
    Counter, Currency, Description, Evidence, MerchantId, MerchantName, Money, Order, OrderId, OrderQuery, Outcome,
    PayRequest, PayRequestBuilder, Press, Proof, ReasonCode, Request, Response, TerminalSerial, Timestamp, TxId,
    WornAttestation,
};
use wearpay_pki::{AltName, Certificate, CertificateBuilder, DAY, Role, generate_key};
use wearpay_tlcp::msgs::{AlertDescription, CertificateDer};
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::tokio_stream::TokioStream;
use wearpay_tlcp::{
    ClientConfig, ClientConnection, DEFAULT_SUITES, Error, Event, PkiClientVerifier, PkiServerVerifier, Profile,
    ServerConfig,
};

const SERVER_NAME: &str = "center.wearpay.test";
const NOW: Timestamp = Timestamp(T0.0 + 5);

fn now() -> Timestamp {
    NOW
}

fn der(c: &Certificate) -> CertificateDer {
    CertificateDer(c.as_der().to_vec())
}

fn cny(s: &str) -> Money {
    Money::parse(&format!("{s} CNY")).unwrap()
}

struct Ca {
    cert: Certificate,
    key: Box<dyn PrivateKey>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
        let t = system_time();
        let cert = CertificateBuilder::new(Role::RootCa, name.parse().unwrap(), SigningKey::public_key(&*key))
            .validity(t.minus_secs(DAY), t.plus_days(365))
            .self_sign(&PROVIDER, &*key)
            .unwrap();
        Self { cert, key }
    }

    fn issue(&self, role: Role, subject: &str, key: wearpay_crypto::PublicKey) -> Certificate {
        let t = system_time();
        let mut b =
            CertificateBuilder::new(role, subject.parse().unwrap(), key).validity(t.minus_secs(DAY), t.plus_days(30));
        if matches!(role, Role::CenterSign | Role::CenterEnc) {
            b = b.alt_name(AltName::Dns(SERVER_NAME.into()));
        }
        b.sign(&PROVIDER, &self.cert, &*self.key).unwrap()
    }
}

async fn connect(config: &Arc<ClientConfig>, addr: core::net::SocketAddr) -> TokioStream<ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    TokioStream::new(ClientConnection::new(config.clone(), system_time()).unwrap(), tcp)
}

/// Sends one request record and reads the one response record.
async fn exchange(tls: &mut TokioStream<ClientConnection, TcpStream>, request: &[u8]) -> Response {
    tls.write_all(request).await.unwrap();
    tls.flush().await.unwrap();
    let mut buf = vec![0u8; 20_000];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(n > 0, "the center closed instead of answering");
    Response::decode(&buf[..n]).unwrap()
}

fn pay_request(order: &Order, tx: u8, counter: u64, key: &dyn SigningKey) -> PayRequest {
    let tx_id = TxId([tx; 16]);
    let evidence = Evidence {
        press: Some(Press { tx_id, at: T0 }),
        proof: Proof::Quick(WornAttestation { unlocked_at: Timestamp(T0.0 - 600), worn_since_unlock: true }),
    };
    PayRequestBuilder::for_order(order, tx_id, evidence, Counter(counter), T0).sign(key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_over_tlcp_then_revocation_takes_effect() {
    let db = common::TestDb::sqlite().await;
    let store = db.store.clone();

    // The center's keys and channel certificates.
    let key_dir = tempfile::tempdir().unwrap();
    let (keys, _) = FileKeyStore::create_with_iterations(
        key_dir.path().join("keys"),
        b"correct horse battery staple",
        KeyAlgorithm::Sm2,
        &PROVIDER,
        1_000,
    )
    .unwrap();
    let keys = Arc::new(keys);
    let center_ca = Ca::new("CN=wearpay center root,O=wearpay");
    let terminal_ca = Ca::new("CN=wearpay terminal root,O=wearpay");
    let subject = format!("CN={SERVER_NAME},O=wearpay center");
    let sign_cert = center_ca.issue(Role::CenterSign, &subject, keys.public_key(KeyPurpose::ChannelSign).unwrap());
    let enc_cert = center_ca.issue(Role::CenterEnc, &subject, keys.public_key(KeyPurpose::ChannelEnc).unwrap());

    // The terminal: a signing and an encryption certificate of the terminal CA.
    let terminal_key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let terminal_enc_key = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let t_subject = "CN=band 0001,O=wearpay terminals";
    let t_sign = terminal_ca.issue(Role::Terminal, t_subject, SigningKey::public_key(&*terminal_key));
    let t_enc = terminal_ca.issue(Role::TerminalEnc, t_subject, SigningKey::public_key(&*terminal_enc_key));
    let serial = TerminalSerial::new(t_sign.serial()).unwrap();

    // The registry: a payer with funds, a merchant, the terminal enrolled, an order.
    let payer = store.create_account(NewAccount::customer("Alice", Currency::CNY), T0).await.unwrap().id;
    store.deposit(payer, cny("500.00"), T0).await.unwrap();
    let merchant_account = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), T0).await.unwrap().id;
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
    store
        .enroll_terminal(
            NewTerminal { serial: serial.clone(), account: payer, certificate: t_sign.as_der().to_vec() },
            T0,
        )
        .await
        .unwrap();
    let mut orders = Vec::new();
    for id in ["ORD-1", "ORD-2"] {
        let order_id = OrderId::new(id).unwrap();
        store
            .create_order(
                NewOrder {
                    order_id: order_id.clone(),
                    merchant: merchant.clone(),
                    money: cny("10.00"),
                    description: Description::new("Two cups of tea").unwrap(),
                    expires_at: Timestamp(T0.0 + 30 * 86_400),
                },
                T0,
            )
            .await
            .unwrap();
        orders.push(store.get_order(&order_id).await.unwrap().unwrap().order);
    }

    // The center.
    let sessions = Arc::new(MemorySessionStore::new(100, 3600));
    let registry = RegistryVerifier::new(
        PkiClientVerifier::new(PROVIDER, vec![terminal_ca.cert.clone()], vec![], vec![]),
        sessions.clone(),
    );
    let tls = Arc::new(ServerConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile: Profile::Auto,
        sign_key: keys.signing_key(KeyPurpose::ChannelSign).unwrap(),
        enc_key: keys.decrypting_key(KeyPurpose::ChannelEnc).unwrap(),
        cert_chain: vec![der(&sign_cert), der(&enc_cert)],
        verifier: Arc::new(registry.clone()),
        session_store: sessions,
        session_lifetime: 3600,
    });
    let authorizer = Authorizer::new(store.clone(), keys.clone(), &PROVIDER, AuthorizerConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ChannelConfig {
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        clock: now,
        registry: Some(registry.clone()),
        ..ChannelConfig::default()
    };
    let server = tokio::spawn(serve_with(listener, tls, authorizer, config, async {
        let _ = stopped.await;
    }));

    let client = Arc::new(ClientConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile: Profile::Auto,
        sign_key: terminal_key.clone(),
        cert_chain: vec![der(&t_sign), der(&t_enc)],
        verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![center_ca.cert.clone()], vec![])),
        server_name: SERVER_NAME.into(),
        session_store: Arc::new(MemorySessionStore::new(10, 3600)),
        max_fragment_length: None,
        offer_session_ticket: false,
    });

    // An order query, then a quick-mode payment: approved.
    let mut tls = connect(&client, addr).await;
    tls.handshake().await.unwrap();
    let query = Request::OrderQuery(OrderQuery { order_id: orders[0].order_id.clone() }).encode().unwrap();
    assert_eq!(exchange(&mut tls, &query).await, Response::Order(orders[0].clone()));
    let req = pay_request(&orders[0], 1, 1, &*terminal_key);
    let Response::Pay(resp) = exchange(&mut tls, req.encode()).await else { panic!("not a pay response") };
    assert_eq!(resp.outcome, Outcome::Approved);
    assert_eq!(store.balance(merchant_account).await.unwrap().minor, 1_000);

    // A second connection resumes the session while the terminal is active.
    let mut again = connect(&client, addr).await;
    again.handshake().await.unwrap();
    let resumed = again.take_events().iter().any(|e| matches!(e, Event::HandshakeComplete(s) if s.resumed));
    assert!(resumed, "the second connection did not resume");
    again.shutdown().await.unwrap();
    // A connection left waiting for a request until the shutdown.
    let mut idle = connect(&client, addr).await;
    idle.handshake().await.unwrap();

    // Revoked in the registry (the store only: the channel must notice by itself).
    store.set_terminal_status(&serial, TerminalStatus::Revoked, NOW).await.unwrap();
    let req = pay_request(&orders[1], 2, 2, &*terminal_key);
    let Response::Pay(resp) = exchange(&mut tls, req.encode()).await else { panic!("not a pay response") };
    assert_eq!(resp.outcome, Outcome::Declined(ReasonCode::TerminalRevoked));
    assert_eq!(store.balance(merchant_account).await.unwrap().minor, 1_000);
    // …and the center closed the session.
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
    assert_eq!(registry.status(serial.as_bytes()), TerminalStatus::Revoked);

    // A new handshake (the client offers its stored session) is refused.
    let mut refused = connect(&client, addr).await;
    let err = refused.handshake().await.unwrap_err();
    assert_eq!(refused.protocol_error(), Some(&Error::AlertReceived(AlertDescription::CertificateRevoked)), "{err}");
    // So is a full handshake by a client with no session to offer.
    let fresh =
        Arc::new(ClientConfig { session_store: Arc::new(MemorySessionStore::new(10, 3600)), ..clone_config(&client) });
    let mut refused = connect(&fresh, addr).await;
    let err = refused.handshake().await.unwrap_err();
    assert_eq!(refused.protocol_error(), Some(&Error::AlertReceived(AlertDescription::CertificateRevoked)), "{err}");

    // Graceful shutdown.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    assert!(idle.conn.peer_closed(), "the idle connection got no close_notify at shutdown");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
    assert!(store.ledger_check().await.unwrap().ok);
}

fn clone_config(c: &ClientConfig) -> ClientConfig {
    ClientConfig {
        provider: c.provider,
        suites: c.suites.clone(),
        profile: c.profile,
        sign_key: c.sign_key.clone(),
        cert_chain: c.cert_chain.clone(),
        verifier: c.verifier.clone(),
        server_name: c.server_name.clone(),
        session_store: c.session_store.clone(),
        max_fragment_length: c.max_fragment_length,
        offer_session_ticket: c.offer_session_ticket,
    }
}

#[test]
fn suspension_is_refused_as_revoked_and_reactivation_lifts_it_but_not_revocation() {
    let sessions = Arc::new(MemorySessionStore::new(10, 3600));
    let registry = RegistryVerifier::new(PkiClientVerifier::new(PROVIDER, vec![], vec![], vec![]), sessions);
    let serial = [0x5e, 1];
    assert_eq!(registry.status(&serial), TerminalStatus::Active);
    registry.set_status(&serial, TerminalStatus::Suspended);
    assert_eq!(registry.status(&serial), TerminalStatus::Suspended);
    registry.set_status(&serial, TerminalStatus::Active);
    assert_eq!(registry.status(&serial), TerminalStatus::Active);
    registry.set_status(&serial, TerminalStatus::Revoked);
    registry.set_status(&serial, TerminalStatus::Active);
    assert_eq!(registry.status(&serial), TerminalStatus::Revoked);
}
