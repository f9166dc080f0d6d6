//! A whole center from `init`: the directory it makes opens, enrolls a band from its CSR
//! (with a subject of the center's choosing), serves a payment over TLCP on loopback, and a
//! revocation refuses the band at once and lands in a CRL that verifies. Configuration
//! mistakes are refused with errors that name them.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;
use common::{Serving, band_config, openssl_lists};

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wearpay_center::keystore::KeyPurpose;
use wearpay_center::node::{Center, CenterConfig, Error, InitOptions, init};
use wearpay_center::{NewAccount, NewMerchant, NewOrder, TerminalStatus};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, portable::PROVIDER};
use wearpay_pay::{
    Counter, Currency, Description, Evidence, MerchantId, MerchantName, Mode, Money, OrderId, OrderQuery, Outcome,
    PayRequestBuilder, Press, Request, Response, Timestamp, TxId, WornAttestation,
};
use wearpay_pki::{CsrBuilder, DistinguishedName, Role, UnixTime, Verifier, files, generate_key};
use wearpay_tlcp::ClientConnection;
use wearpay_tlcp::msgs::AlertDescription;
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::tokio_stream::TokioStream;

fn options() -> InitOptions {
    let mut o = InitOptions::new("127.0.0.1:0".parse().unwrap(), "center.wearpay.test");
    o.iterations = 1_000;
    o
}

fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

async fn new_center(dir: &Path) -> Center {
    init(dir, &options(), &PROVIDER).await.unwrap();
    Center::open(CenterConfig::load(&dir.join("center.toml")).unwrap()).await.unwrap()
}

async fn exchange(tls: &mut TokioStream<ClientConnection, TcpStream>, request: &[u8]) -> Response {
    tls.write_all(request).await.unwrap();
    tls.flush().await.unwrap();
    let mut buf = vec![0u8; 20_000];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(n > 0, "the center closed instead of answering");
    Response::decode(&buf[..n]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_enroll_pay_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let center = Arc::new(new_center(dir.path()).await);
    let store = center.store().clone();
    let t = now();

    // Secrets are in 0600 files, not in the config.
    let toml = std::fs::read_to_string(dir.path().join("center.toml")).unwrap();
    let secret = std::fs::read_to_string(dir.path().join("secrets/keystore.pass")).unwrap();
    assert!(!toml.contains(secret.trim()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secrets/keystore.pass")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the password file is readable by others");
    }

    let payer = store.create_account(NewAccount::customer("Alice", Currency::CNY), t).await.unwrap().id;
    store.deposit(payer, Money::parse("100.00 CNY").unwrap(), t).await.unwrap();
    let shop = store.create_account(NewAccount::merchant("Tea House", Currency::CNY), t).await.unwrap().id;
    let merchant = MerchantId::new("M-1").unwrap();
    let name = MerchantName::new("Tea House").unwrap();
    store.create_merchant(NewMerchant { id: merchant.clone(), name, account: shop }, t).await.unwrap();
    let mut orders = Vec::new();
    for id in ["O-1", "O-2"] {
        let new = NewOrder {
            order_id: OrderId::new(id).unwrap(),
            merchant: merchant.clone(),
            money: Money::parse("12.50 CNY").unwrap(),
            description: Description::new("tea").unwrap(),
            expires_at: Timestamp(t.0 + 600),
        };
        orders.push(store.create_order(new, t).await.unwrap().order);
    }

    // The band's CSR asks for a subject of its own: the center ignores it.
    let band_key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let csr = CsrBuilder::new(DistinguishedName::parse("CN=center.wearpay.test,O=wearpay center").unwrap())
        .sign(&PROVIDER, &*band_key)
        .unwrap();
    let (terminal, cert) = center.enroll_terminal(&csr, payer, "Alice's band", t).await.unwrap();
    assert!(!cert.subject().to_string().contains("center.wearpay.test"), "{}", cert.subject());
    assert!(cert.subject().to_string().contains(&format!("OU=account {}", payer.0)), "{}", cert.subject());
    let chain = [center.terminal_ca().certificate().clone()];
    Verifier::new(&PROVIDER, std::slice::from_ref(center.root()))
        .verify(&cert, &chain, UnixTime::now(), Some(Role::Terminal))
        .unwrap();
    assert!(cert.not_after().secs() <= t.0 + 365 * 86_400);
    // A merchant account cannot hold a terminal.
    let other = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let other_csr = CsrBuilder::new(DistinguishedName::parse("CN=x").unwrap()).sign(&PROVIDER, &*other).unwrap();
    assert!(matches!(center.enroll_terminal(&other_csr, shop, "", t).await, Err(Error::Config { .. })));

    // The center serves on an ephemeral port.
    let serving = Serving::start(center.clone()).await;
    let addr = serving.addr;
    let client = band_config(&center, band_key.clone(), &cert);
    let connect = || async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        TokioStream::new(ClientConnection::new(client.clone(), system_time()).unwrap(), tcp)
    };
    let mut tls = connect().await;
    tls.handshake().await.unwrap();
    let query = Request::OrderQuery(OrderQuery { order_id: orders[0].order_id.clone() }).encode().unwrap();
    let Response::Order(order) = exchange(&mut tls, &query).await else { panic!("no order") };
    let tx_id = TxId::random(&PROVIDER).unwrap();
    let evidence = Evidence::quick(
        Press { tx_id, at: now() },
        WornAttestation { unlocked_at: Timestamp(now().0 - 60), worn_since_unlock: true },
    );
    let request = PayRequestBuilder::for_order(&order, tx_id, evidence, Counter(1), now()).sign(&*band_key).unwrap();
    let Response::Pay(answer) = exchange(&mut tls, request.encode()).await else { panic!("no pay response") };
    assert_eq!(answer.outcome, Outcome::Approved);
    // The band checks the receipt with the receipt certificate, which chains to the root.
    let receipt_cert = center.certificate(KeyPurpose::ReceiptSign).unwrap();
    Verifier::new(&PROVIDER, std::slice::from_ref(center.root()))
        .verify(receipt_cert, std::slice::from_ref(center.center_ca()), UnixTime::now(), Some(Role::CenterReceipt))
        .unwrap();
    answer.verify_receipt(&PROVIDER, receipt_cert.public_key().unwrap(), &request).unwrap();
    assert_eq!(store.balance(shop).await.unwrap().minor, 1_250);

    // Revoked through the center: the live session's next payment and any new handshake
    // are refused, and the CRL lists the band.
    center.set_terminal_status(&terminal.serial, TerminalStatus::Revoked, now()).await.unwrap();
    let tx_id = TxId::random(&PROVIDER).unwrap();
    let evidence = Evidence::quick(
        Press { tx_id, at: now() },
        WornAttestation { unlocked_at: Timestamp(now().0 - 60), worn_since_unlock: true },
    );
    let request =
        PayRequestBuilder::for_order(&orders[1], tx_id, evidence, Counter(2), now()).sign(&*band_key).unwrap();
    let Response::Pay(answer) = exchange(&mut tls, request.encode()).await else { panic!("no pay response") };
    assert!(!answer.outcome.is_approved());
    assert_eq!(store.balance(shop).await.unwrap().minor, 1_250);
    let mut again = connect().await;
    again.handshake().await.unwrap_err();
    assert_eq!(again.protocol_error(), Some(&wearpay_tlcp::Error::AlertReceived(AlertDescription::CertificateRevoked)));
    let crl = files::read_crl(center.crl_path()).unwrap();
    crl.verify(&PROVIDER, center.terminal_ca().certificate(), UnixTime::now()).unwrap();
    assert!(crl.lookup(terminal.serial.as_bytes()).is_some());
    openssl_lists(&center.crl_path(), &hex::encode_upper(terminal.serial.as_bytes()), "Key Compromise");
    // Revocation is final.
    assert!(center.set_terminal_status(&terminal.serial, TerminalStatus::Active, now()).await.is_err());

    serving.stop().await;
    assert!(store.ledger_check().await.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_refuses_an_existing_center() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &options(), &PROVIDER).await.unwrap();
    let before = std::fs::read(dir.path().join("secrets/keystore.pass")).unwrap();
    let err = init(dir.path(), &options(), &PROVIDER).await.unwrap_err();
    assert!(err.to_string().contains("exists already"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("secrets/keystore.pass")).unwrap(), before);
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in the config");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &options(), &PROVIDER).await.unwrap();
    let path = dir.path().join("center.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    let load_err = |from: &str, to: &str| {
        std::fs::write(&path, &good).unwrap();
        edit(&path, from, to);
        CenterConfig::load(&path).unwrap_err().to_string()
    };
    assert!(load_err("profile = \"auto\"", "profile = \"fast\"").contains("channel.profile"));
    assert!(load_err("time_zone = \"Asia/Shanghai\"", "time_zone = \"Mars/Olympus\"").contains("time_zone"));
    assert!(load_err("[keys]", "[keys]\npasword = 1").contains("unknown field"));
    assert!(load_err("per_transaction = \"1000.00\"", "per_transaction = \"4000.00\"").contains("above daily"));
    assert!(load_err("[limits.quick]", "[limits.sneaky]").contains("unknown mode"));
    assert!(load_err("password = \"file:secrets/keystore.pass\"", "password = \"hunter2\"").contains("keys.password"));

    // A mode left out of [limits] is off.
    std::fs::write(&path, &good).unwrap();
    let text = good.replace("[limits.pin]\nper_transaction = \"50000.00\"\ndaily = \"200000.00\"\n", "");
    std::fs::write(&path, &text).unwrap();
    let policy = CenterConfig::load(&path).unwrap().policy().unwrap();
    assert!(policy.limits(Mode::Pin).is_none());
    assert_eq!(policy.limits(Mode::Quick).unwrap().per_transaction.minor(), 100_000);

    // The files must fit: a wrong key-store password, or certificates swapped between
    // purposes, stop the center before it serves.
    std::fs::write(&path, &good).unwrap();
    let pass = dir.path().join("secrets/keystore.pass");
    let saved = std::fs::read(&pass).unwrap();
    std::fs::write(&pass, "not the password\n").unwrap();
    let err = Center::open(CenterConfig::load(&path).unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::KeyStore(_)), "{err}");
    std::fs::write(&pass, saved).unwrap();
    let certs = dir.path().join("certs");
    std::fs::rename(certs.join("receipt-sign.crt"), certs.join("tmp.crt")).unwrap();
    std::fs::rename(certs.join("channel-sign.crt"), certs.join("receipt-sign.crt")).unwrap();
    std::fs::rename(certs.join("tmp.crt"), certs.join("channel-sign.crt")).unwrap();
    let err = Center::open(CenterConfig::load(&path).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("is not for the key store's"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_cas_are_used_and_their_password_read_from_its_source() {
    // A first center's CAs, reused by a second one with --ca.
    let first = tempfile::tempdir().unwrap();
    init(first.path(), &options(), &PROVIDER).await.unwrap();
    let second = tempfile::tempdir().unwrap();
    let mut o = options();
    let password = first.path().join("secrets/ca.pass");
    o.ca = Some((first.path().join("pki"), wearpay_center::keystore::PasswordSource::File(password)));
    init(second.path(), &o, &PROVIDER).await.unwrap();
    assert!(!second.path().join("pki").exists(), "new CAs were made despite --ca");
    let config = CenterConfig::load(&second.path().join("center.toml")).unwrap();
    let center = Center::open(config).await.unwrap();
    let root = files::read_certificate(first.path().join("pki/root/ca.crt")).unwrap();
    assert_eq!(center.root().as_der(), root.as_der());
    // Its channel certificate is issued by the first center's center CA.
    let issuer = files::read_certificate(first.path().join("pki/center-ca/ca.crt")).unwrap();
    assert_eq!(center.certificate(KeyPurpose::ChannelSign).unwrap().issuer(), issuer.subject());
}

/// `rotate`: new channel keys and certificates, receipt and PIN certificates renewed for the
/// same keys, everything previous kept under `retired/`. A process still on the old keys
/// and one started after the rotation both serve the same band, which trusts the root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_rolls_the_channel_keys_with_an_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let before = Arc::new(new_center(dir.path()).await);
    let payer = before.store().create_account(NewAccount::customer("Alice", Currency::CNY), now()).await.unwrap().id;
    let band_key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into();
    let csr = CsrBuilder::new(DistinguishedName::parse("CN=band").unwrap()).sign(&PROVIDER, &*band_key).unwrap();
    let (_, cert) = before.enroll_terminal(&csr, payer, "band", now()).await.unwrap();

    let config = CenterConfig::load(&dir.path().join("center.toml")).unwrap();
    let report = wearpay_center::node::rotate_with_iterations(&config, &PROVIDER, UnixTime::now(), 1_000).unwrap();
    assert_eq!(report.certificates.len(), 4);
    for rotated in &report.certificates {
        let old = before.certificate(rotated.purpose).unwrap();
        let new = &rotated.certificate;
        assert_eq!(rotated.replaces, old.serial_hex());
        assert_ne!(new.serial(), old.serial());
        assert_eq!(new.subject(), old.subject());
        assert_eq!(rotated.new_key, new.public_key().unwrap() != old.public_key().unwrap(), "{}", rotated.purpose);
        assert!(new.not_after().secs() <= UnixTime::now().secs() + 90 * 86_400);
    }
    let new_keys: Vec<KeyPurpose> = report.certificates.iter().filter(|r| r.new_key).map(|r| r.purpose).collect();
    assert_eq!(new_keys, [KeyPurpose::ChannelSign, KeyPurpose::ChannelEnc]);
    assert_eq!(report.retired.len(), 6);
    assert!(report.retired.iter().all(|p| p.exists()), "{:?}", report.retired);

    let after = Arc::new(Center::open(config.clone()).await.unwrap());
    assert_ne!(
        after.certificate(KeyPurpose::ChannelSign).unwrap().public_key().unwrap(),
        before.certificate(KeyPurpose::ChannelSign).unwrap().public_key().unwrap()
    );
    // The band's own configuration does not change: both processes serve it.
    for center in [before, after] {
        let serving = Serving::start(center.clone()).await;
        let client = band_config(&center, band_key.clone(), &cert);
        let addr = serving.addr;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = TokioStream::new(ClientConnection::new(client, system_time()).unwrap(), tcp);
        tls.handshake().await.unwrap();
        let Response::Balance(b) = exchange(&mut tls, &Request::BalanceQuery.encode().unwrap()).await else {
            panic!("no balance")
        };
        assert_eq!(b.balance.minor, 0);
        serving.stop().await;
    }
}
