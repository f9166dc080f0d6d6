//! The channel's cost: CPU per full handshake on each side (ECC and RSA suites), resumed
//! handshakes, record protection throughput, and the server's session store when full,
//! through the public API only.
//!
//! Client and server run in one thread; `iter_custom` adds up only the time spent inside
//! the side being measured (`client/...`, `server/...`), or both (`both/...`). The
//! provider is `shangmi`, as the center runs it.
#![allow(clippy::unwrap_used)]
extern crate alloc;

use alloc::sync::Arc;
use core::time::Duration;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wearpay_crypto::{KeyAlgorithm, PrivateKey, SigningKey};
use wearpay_pki::{AltName, Certificate, CertificateBuilder, Role, UnixTime, generate_key, load_private_key};
use wearpay_shangmi::PROVIDER;
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::{MemorySessionStore, NoSessionStore, SessionStore};
use wearpay_tlcp::{
    CipherSuite, ClientConfig, ClientConnection, PkiClientVerifier, PkiServerVerifier, Profile, ServerConfig,
    ServerConnection,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp/ecc_sm4_gcm_sm3");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{path}")).unwrap()
}

fn cert(name: &str) -> Certificate {
    Certificate::parse(&read(&format!("certs/{name}.crt"))).unwrap()
}

fn key(name: &str) -> Arc<dyn PrivateKey> {
    load_private_key(&PROVIDER, &read(&format!("keys/{name}.key")), None).unwrap().into()
}

fn der(c: &Certificate) -> CertificateDer {
    CertificateDer(c.as_der().to_vec())
}

/// Signing key, encryption key, [signing, encryption] certificates.
type CenterKeys = (Arc<dyn PrivateKey>, Arc<dyn PrivateKey>, Vec<CertificateDer>);

/// The recorded sessions' PKI, plus an RSA center issued now by the same CA.
struct Fixture {
    now: UnixTime,
    ca: Certificate,
    ecc_center: CenterKeys,
    rsa_center: CenterKeys,
}

impl Fixture {
    fn new() -> Self {
        let now = UnixTime::now();
        let ca = cert("ca");
        let ca_key = key("ca");
        let issue = |role: Role| {
            let k = generate_key(&PROVIDER, KeyAlgorithm::Rsa(2048)).unwrap();
            let c = CertificateBuilder::new(
                role,
                "C=CN,O=Interop,CN=localhost".parse().unwrap(),
                SigningKey::public_key(k.as_ref()),
            )
            .validity(now.minus_secs(3600), now.plus_days(7))
            .alt_name(AltName::Dns("localhost".into()))
            .sign(&PROVIDER, &ca, ca_key.as_ref())
            .unwrap();
            let k: Arc<dyn PrivateKey> = k.into();
            (k, der(&c))
        };
        let (rs, rsc) = issue(Role::CenterSign);
        let (re, rec) = issue(Role::CenterEnc);
        Self {
            now,
            ecc_center: (key("srv_sign"), key("srv_enc"), vec![der(&cert("srv_sign")), der(&cert("srv_enc"))]),
            rsa_center: (rs, re, vec![rsc, rec]),
            ca,
        }
    }

    fn server(&self, suite: CipherSuite) -> Arc<ServerConfig> {
        let rsa = suite.params().unwrap().key_exchange == wearpay_tlcp::KeyExchange::Rsa;
        let (sign, enc, chain) = if rsa { self.rsa_center.clone() } else { self.ecc_center.clone() };
        Arc::new(ServerConfig {
            provider: PROVIDER,
            suites: vec![suite],
            profile: Profile::Auto,
            sign_key: sign,
            enc_key: enc,
            cert_chain: chain,
            verifier: Arc::new(PkiClientVerifier::new(PROVIDER, vec![self.ca.clone()], vec![], vec![])),
            session_store: Arc::new(MemorySessionStore::new(1024, 3600)),
            session_lifetime: 3600,
        })
    }

    fn client(&self, suite: CipherSuite, store: Arc<dyn SessionStore>) -> Arc<ClientConfig> {
        Arc::new(ClientConfig {
            provider: PROVIDER,
            suites: vec![suite],
            profile: Profile::Seed,
            sign_key: key("cli_sign"),
            cert_chain: vec![der(&cert("cli_sign")), der(&cert("cli_enc"))],
            verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![self.ca.clone()], vec![])),
            server_name: "localhost".into(),
            session_store: store,
            max_fragment_length: None,
            offer_session_ticket: false,
        })
    }
}

/// Time spent in each side.
#[derive(Default)]
struct Split {
    client: Duration,
    server: Duration,
}

fn timed<T>(acc: &mut Duration, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    *acc += t.elapsed();
    r
}

/// One handshake, both ends in this thread, each side's time added to `split`.
fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>, now: UnixTime, split: &mut Split) -> bool {
    let mut c = timed(&mut split.client, || ClientConnection::new(client.clone(), now).unwrap());
    let mut s = timed(&mut split.server, || ServerConnection::new(server.clone()));
    loop {
        let to_server = timed(&mut split.client, || c.take_output());
        let to_client = timed(&mut split.server, || s.take_output());
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        if !to_server.is_empty() {
            timed(&mut split.server, || s.handle_input(&to_server, now).unwrap());
        }
        if !to_client.is_empty() {
            timed(&mut split.client, || c.handle_input(&to_client, now).unwrap());
        }
    }
    let resumed = c.summary().unwrap().resumed;
    timed(&mut split.client, || drop(c));
    timed(&mut split.server, || drop(s));
    resumed
}

fn bench_handshakes(c: &mut Criterion) {
    let fx = Fixture::new();
    let now = fx.now;
    for (group_name, resume) in [("handshake_full", false), ("handshake_resumed", true)] {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(if resume { 50 } else { 10 });
        for suite in [CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::RSA_SM4_GCM_SM3] {
            let server = fx.server(suite);
            let store: Arc<dyn SessionStore> =
                if resume { Arc::new(MemorySessionStore::new(1, 3600)) } else { Arc::new(NoSessionStore) };
            let client = fx.client(suite, store);
            if resume {
                handshake(&client, &server, now, &mut Split::default());
            }
            for side in ["client", "server", "both"] {
                group.bench_function(BenchmarkId::new(side, suite), |b| {
                    b.iter_custom(|iters| {
                        let mut split = Split::default();
                        for _ in 0..iters {
                            assert_eq!(handshake(&client, &server, now, &mut split), resume);
                        }
                        match side {
                            "client" => split.client,
                            "server" => split.server,
                            _ => split.client + split.server,
                        }
                    });
                });
            }
        }
        group.finish();
    }
}

fn bench_records(c: &mut Criterion) {
    let fx = Fixture::new();
    let now = fx.now;
    let mut group = c.benchmark_group("record_seal_open");
    for suite in [CipherSuite::ECC_SM4_CBC_SM3, CipherSuite::ECC_SM4_GCM_SM3] {
        let server = fx.server(suite);
        let client = fx.client(suite, Arc::new(NoSessionStore));
        let mut cli = ClientConnection::new(client, now).unwrap();
        let mut srv = ServerConnection::new(server);
        for _ in 0..8 {
            let a = cli.take_output();
            let b = srv.take_output();
            if !a.is_empty() {
                srv.handle_input(&a, now).unwrap();
            }
            if !b.is_empty() {
                cli.handle_input(&b, now).unwrap();
            }
        }
        assert!(!cli.is_handshaking() && !srv.is_handshaking());
        for size in [256usize, 16 * 1024] {
            let data = vec![0x5au8; size];
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(BenchmarkId::new(suite.to_string(), size), |b| {
                b.iter(|| {
                    cli.send_application_data(&data).unwrap();
                    let wire = cli.take_output();
                    srv.handle_input(&wire, now).unwrap();
                    let got = srv.read_application_data().unwrap();
                    assert_eq!(got.len(), size);
                    got
                });
            });
        }
    }
    group.finish();
}

/// A new session into a full store of a center's size: it evicts the oldest.
fn bench_session_store(c: &mut Criterion) {
    use wearpay_crypto::Zeroizing;
    use wearpay_tlcp::session::StoredSession;
    const CAPACITY: usize = 100_000;
    let session = |created: u64| StoredSession {
        id: Vec::new(),
        suite: CipherSuite::ECC_SM4_GCM_SM3,
        master_secret: Zeroizing::new([0; 48]),
        created: UnixTime(created),
        peer: None,
        peer_subject: String::new(),
    };
    let store = MemorySessionStore::new(CAPACITY, 3600);
    let mut n = 0u64;
    let mut put = || {
        n += 1;
        store.put(&n.to_be_bytes(), session(n / 1000));
    };
    for _ in 0..CAPACITY {
        put();
    }
    c.bench_function("session_store/put_full_100k", |b| b.iter(&mut put));
}

criterion_group!(benches, bench_handshakes, bench_records, bench_session_store);
criterion_main!(benches);
