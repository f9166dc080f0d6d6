//! Deterministic mutation testing of everything a peer's bytes reach: the deframer, the
//! joiner, every handshake message decoder, the record openers and each handshake state.
//!
//! A real handshake between [`ClientConnection`] and [`ServerConnection`] is captured
//! flight by flight. Randomness is pinned (signatures included), so every run sees the same
//! bytes and a fresh connection fed the flights before one reaches exactly the state the
//! captured peer was in; public-key results are memoised so that replaying costs little; each flight is then mutated thousands of times (bit flips, truncations, insertions,
//! duplicated chunks, garbage, record-level edits) by a fixed-seed xorshift and fed to a
//! fresh connection at that point. The same is done with the byte streams recorded from
//! Tongsuo. For every mutation:
//!
//! - nothing panics;
//! - an error other than a received alert leaves a fatal alert record (type 21) as the last
//!   thing in the output, and in plaintext it is the alert the error names;
//! - no application data is delivered unless the flight arrived intact up to the end of its
//!   data record (the data record is last in every flight, so: unless the mutated bytes
//!   start with the original flight), and then it is exactly what was sent.
// A std-only test: the no_std import lints do not apply.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use wearpay_crypto::{
    CryptoProvider, DEFAULT_SM2_ID, DecryptingKey, PrivateKey, PublicKey, SecureRandom, SignatureScheme, SigningKey,
    Sm2, Sm2PublicKey, Zeroizing, portable::PROVIDER,
};
use wearpay_pki::{Certificate, UnixTime, load_private_key};
use wearpay_tlcp::msgs::{AlertDescription, AlertLevel, CertificateDer, ContentType, DistinguishedName};
use wearpay_tlcp::session::NoSessionStore;
use wearpay_tlcp::verify::{CertError, ClientCertVerifier, PeerIdentity, ServerCertVerifier, ServerKeys};
use wearpay_tlcp::{
    CipherSuite, ClientConfig, ClientConnection, DEFAULT_SUITES, Error, PkiClientVerifier, PkiServerVerifier, Profile,
    ServerConfig, ServerConnection, read_record,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp");

/// A time inside every vector certificate's validity.
const NOW: UnixTime = UnixTime(1_830_000_000);

/// Mutations per flight.
const MUTATIONS: usize = 2000;

// ---- a fixed-seed PRNG --------------------------------------------------------------------

/// xorshift64* (Vigna): small, fast and the same everywhere.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n`; `n` must be non-zero.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

// ---- pinned randomness and memoised signatures ------------------------------------------

/// A random source that gives the same bytes on every connection: a stream seeded by its
/// tag and the request length. Bytes queued with [`script`] on this thread come first, which
/// lets a connection take the randoms of a recorded session.
#[derive(Debug)]
struct Pinned {
    seed: u64,
    scripted: bool,
}

thread_local! {
    static SCRIPT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Makes the next requests of exactly these lengths on this thread return these bytes.
fn script(values: Vec<Vec<u8>>) {
    SCRIPT.with(|s| *s.borrow_mut() = values);
}

impl SecureRandom for Pinned {
    fn fill(&self, dest: &mut [u8]) -> Result<(), wearpay_crypto::Error> {
        let scripted = self
            .scripted
            .then(|| {
                SCRIPT.with(|s| {
                    let mut s = s.borrow_mut();
                    let next = s.first().filter(|v| v.len() == dest.len()).is_some();
                    next.then(|| s.remove(0))
                })
            })
            .flatten();
        if let Some(v) = scripted {
            dest.copy_from_slice(&v);
            return Ok(());
        }
        let mut rng = XorShift::new(self.seed ^ (dest.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        dest.iter_mut().for_each(|b| *b = rng.byte());
        // Below the SM2 group order, so a scalar drawn from it is accepted at once.
        if let Some(first) = dest.first_mut() {
            *first &= 0x7f;
        }
        Ok(())
    }
}

static CLIENT_RANDOM: Pinned = Pinned { seed: 0x0c11_e417, scripted: true };
static SERVER_RANDOM: Pinned = Pinned { seed: 0x5e4f_e417, scripted: true };
/// What the keys hedge their RFC 6979 signature nonces with.
static SIGNING_RANDOM: Pinned = Pinned { seed: 0x5167_0000, scripted: false };

/// SM2 whose verifications and encryptions are memoised: replaying the flights before the
/// one under test then costs no public-key operation, which keeps thousands of mutations
/// per flight within seconds. A memoised encryption is only correct under [`Pinned`]
/// randomness, which is the only randomness the providers using it have.
#[derive(Debug)]
struct MemoSm2;

type Memo2 = Mutex<HashMap<Vec<u8>, Result<Vec<u8>, wearpay_crypto::Error>>>;

fn memo_sm2() -> &'static Memo2 {
    static MEMO: OnceLock<Memo2> = OnceLock::new();
    MEMO.get_or_init(Memo2::default)
}

/// Length-prefixed concatenation, an unambiguous key.
fn memo_key(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for p in parts {
        key.extend_from_slice(&(p.len() as u32).to_be_bytes());
        key.extend_from_slice(p);
    }
    key
}

fn memoised(
    key: Vec<u8>,
    f: impl FnOnce() -> Result<Vec<u8>, wearpay_crypto::Error>,
) -> Result<Vec<u8>, wearpay_crypto::Error> {
    if let Some(r) = memo_sm2().lock().unwrap().get(&key) {
        return r.clone();
    }
    let r = f();
    memo_sm2().lock().unwrap().insert(key, r.clone());
    r
}

impl Sm2 for MemoSm2 {
    fn generate(&self, rng: &dyn SecureRandom) -> Result<Box<dyn PrivateKey>, wearpay_crypto::Error> {
        PROVIDER.sm2.generate(rng)
    }
    fn from_secret(&self, scalar: &[u8], id: &[u8]) -> Result<Box<dyn PrivateKey>, wearpay_crypto::Error> {
        PROVIDER.sm2.from_secret(scalar, id)
    }
    fn validate(&self, public: &Sm2PublicKey) -> Result<(), wearpay_crypto::Error> {
        PROVIDER.sm2.validate(public)
    }
    fn verify(&self, public: &Sm2PublicKey, id: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), wearpay_crypto::Error> {
        let key = memo_key(&[b"verify", public.as_sec1(), id, msg, sig]);
        memoised(key, || PROVIDER.sm2.verify(public, id, msg, sig).map(|()| Vec::new())).map(|_| ())
    }
    fn encrypt(
        &self,
        public: &Sm2PublicKey,
        msg: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, wearpay_crypto::Error> {
        memoised(memo_key(&[b"encrypt", public.as_sec1(), msg]), || PROVIDER.sm2.encrypt(public, msg, rng))
    }
}

static MEMO_SM2: MemoSm2 = MemoSm2;

/// The portable provider with pinned randomness and memoised SM2.
fn pinned(random: &'static Pinned) -> CryptoProvider {
    CryptoProvider { random, sm2: &MEMO_SM2, ..PROVIDER }
}

type SignatureKey = (SignatureScheme, Vec<u8>);

/// A key whose signatures and decryptions are memoised, so the same message always gets
/// the same signature (SM2 signing is hedged with fresh randomness), and cheaply.
#[derive(Debug)]
struct Memo {
    key: Box<dyn PrivateKey>,
    signatures: Mutex<HashMap<SignatureKey, Vec<u8>>>,
}

impl Memo {
    fn new(key: Box<dyn PrivateKey>) -> Self {
        Self { key, signatures: Mutex::new(HashMap::new()) }
    }
}

impl SigningKey for Memo {
    fn public_key(&self) -> PublicKey {
        SigningKey::public_key(&*self.key)
    }
    fn scheme(&self) -> SignatureScheme {
        self.key.scheme()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, wearpay_crypto::Error> {
        self.sign_with(self.scheme(), msg)
    }
    fn sign_with(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, wearpay_crypto::Error> {
        let mut memo = self.signatures.lock().unwrap();
        if let Some(sig) = memo.get(&(scheme, msg.to_vec())) {
            return Ok(sig.clone());
        }
        let sig = self.key.sign_with(scheme, msg)?;
        memo.insert((scheme, msg.to_vec()), sig.clone());
        Ok(sig)
    }
}

impl DecryptingKey for Memo {
    fn public_key(&self) -> PublicKey {
        DecryptingKey::public_key(&*self.key)
    }
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, wearpay_crypto::Error> {
        let pk = DecryptingKey::public_key(&*self.key);
        let PublicKey::Sm2(pk) = pk else { return self.key.decrypt(ciphertext) };
        let key = memo_key(&[b"decrypt", pk.as_sec1(), ciphertext]);
        memoised(key, || self.key.decrypt(ciphertext).map(|p| p.to_vec())).map(Zeroizing::new)
    }
}

/// Certificate checks memoised by the exact certificates: the intact flights' certificates
/// are checked once, a mutated one each time.
#[derive(Debug)]
struct MemoVerifier<V> {
    inner: V,
    server: Mutex<HashMap<Vec<u8>, Result<ServerKeys, CertError>>>,
    client: Mutex<HashMap<Vec<u8>, Result<PeerIdentity, CertError>>>,
}

impl<V> MemoVerifier<V> {
    fn new(inner: V) -> Self {
        Self { inner, server: Mutex::default(), client: Mutex::default() }
    }
}

fn certs_key(certs: &[CertificateDer], extra: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = certs.iter().map(|c| c.0.as_slice()).collect();
    parts.push(extra);
    memo_key(&parts)
}

impl ServerCertVerifier for MemoVerifier<PkiServerVerifier> {
    fn verify_server(&self, certs: &[CertificateDer], name: &str, now: UnixTime) -> Result<ServerKeys, CertError> {
        let key = certs_key(certs, &[name.as_bytes(), &now.0.to_be_bytes()].concat());
        if let Some(r) = self.server.lock().unwrap().get(&key) {
            return r.clone();
        }
        let r = self.inner.verify_server(certs, name, now);
        self.server.lock().unwrap().insert(key, r.clone());
        r
    }
}

impl ClientCertVerifier for MemoVerifier<PkiClientVerifier> {
    fn verify_client(&self, certs: &[CertificateDer], now: UnixTime) -> Result<PeerIdentity, CertError> {
        let key = certs_key(certs, &now.0.to_be_bytes());
        if let Some(r) = self.client.lock().unwrap().get(&key) {
            return r.clone();
        }
        let r = self.inner.verify_client(certs, now);
        self.client.lock().unwrap().insert(key, r.clone());
        r
    }

    fn ca_names(&self) -> Vec<DistinguishedName> {
        self.inner.ca_names()
    }
}

// ---- configuration from the recorded sessions' certificates ------------------------------

fn vector_file(session: &str, path: &str) -> Vec<u8> {
    let path = format!("{VECTORS}/{session}/{path}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cert(name: &str) -> Certificate {
    Certificate::parse(&vector_file("ecc_sm4_gcm_sm3", &format!("certs/{name}.crt"))).unwrap()
}

/// A key of the recorded sessions, signing with pinned randomness (the crypto crate's test
/// hook), so its signatures are the same in every run.
fn key(name: &str) -> Arc<Memo> {
    let pem = vector_file("ecc_sm4_gcm_sm3", &format!("keys/{name}.key"));
    let scalar = load_private_key(&PROVIDER, &pem, None).unwrap().export().unwrap();
    let key = PROVIDER.sm2.from_secret_with_random(&scalar, DEFAULT_SM2_ID, &SIGNING_RANDOM).unwrap();
    Arc::new(Memo::new(key))
}

fn der(name: &str) -> CertificateDer {
    CertificateDer(cert(name).as_der().to_vec())
}

/// The center, with pinned randomness and no session cache (so nothing is resumed).
fn server_config(profile: Profile) -> Arc<ServerConfig> {
    Arc::new(ServerConfig {
        provider: pinned(&SERVER_RANDOM),
        suites: DEFAULT_SUITES.to_vec(),
        profile,
        sign_key: key("srv_sign"),
        enc_key: key("srv_enc"),
        cert_chain: vec![der("srv_sign"), der("srv_enc")],
        verifier: Arc::new(MemoVerifier::new(PkiClientVerifier::new(
            pinned(&SERVER_RANDOM),
            vec![cert("ca")],
            vec![],
            vec![],
        ))),
        session_store: Arc::new(NoSessionStore),
        session_lifetime: 3600,
    })
}

/// The terminal, likewise.
fn client_config(profile: Profile, suites: &[CipherSuite], offer_session_ticket: bool) -> Arc<ClientConfig> {
    Arc::new(ClientConfig {
        provider: pinned(&CLIENT_RANDOM),
        suites: suites.to_vec(),
        profile,
        sign_key: key("cli_sign"),
        cert_chain: vec![der("cli_sign"), der("cli_enc")],
        verifier: Arc::new(MemoVerifier::new(PkiServerVerifier::new(pinned(&CLIENT_RANDOM), vec![cert("ca")], vec![]))),
        server_name: "localhost".into(),
        session_store: Arc::new(NoSessionStore),
        max_fragment_length: None,
        offer_session_ticket,
    })
}

// ---- either end ------------------------------------------------------------------------------

/// Which end a flight goes to: enough to make a fresh one.
#[derive(Clone)]
enum Receiver {
    Client(Arc<ClientConfig>),
    Server(Arc<ServerConfig>),
}

enum Endpoint {
    Client(ClientConnection),
    Server(ServerConnection),
}

impl Receiver {
    /// A fresh connection with `queued` application data waiting for the handshake. A
    /// client's ClientHello is discarded: the captured one was what the peer saw.
    fn fresh(&self, queued: &[u8]) -> Endpoint {
        let mut end = match self {
            Self::Client(cfg) => {
                let mut c = ClientConnection::new(cfg.clone(), NOW).unwrap();
                c.take_output();
                Endpoint::Client(c)
            }
            Self::Server(cfg) => Endpoint::Server(ServerConnection::new(cfg.clone())),
        };
        if !queued.is_empty() {
            end.send_application_data(queued);
        }
        end
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Client(_) => "client",
            Self::Server(_) => "server",
        }
    }
}

impl Endpoint {
    fn handle_input(&mut self, data: &[u8]) -> Result<(), Error> {
        match self {
            Self::Client(c) => c.handle_input(data, NOW),
            Self::Server(s) => s.handle_input(data, NOW),
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        match self {
            Self::Client(c) => c.take_output(),
            Self::Server(s) => s.take_output(),
        }
    }

    fn read_all(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let next = match self {
                Self::Client(c) => c.read_application_data(),
                Self::Server(s) => s.read_application_data(),
            };
            match next {
                Some(d) => out.push(d),
                None => return out,
            }
        }
    }

    fn error(&self) -> Option<&Error> {
        match self {
            Self::Client(c) => c.error(),
            Self::Server(s) => s.error(),
        }
    }

    fn send_application_data(&mut self, data: &[u8]) {
        match self {
            Self::Client(c) => c.send_application_data(data).unwrap(),
            Self::Server(s) => s.send_application_data(data).unwrap(),
        }
    }
}

// ---- capturing a handshake -------------------------------------------------------------------

const UP: &[u8] = b"OrderQuery from the band";
const DOWN: &[u8] = b"Order from the center";

/// One flight of a captured handshake.
struct Flight {
    name: String,
    receiver: Receiver,
    /// Application data the receiver had queued from the start.
    queued: &'static [u8],
    /// The flights the receiver got before this one.
    before: Vec<Vec<u8>>,
    bytes: Vec<u8>,
    /// What the receiver's application reads when the flight arrives intact.
    delivers: Vec<Vec<u8>>,
    /// What the receiver sends in answer, or the error the intact flight must end in.
    answer: Result<Vec<u8>, Error>,
    /// Random values the receiver takes first (see [`script`]).
    script: Vec<Vec<u8>>,
}

/// Runs a handshake, with application data queued at both ends, flight by flight.
fn capture(cc: Arc<ClientConfig>, sc: Arc<ServerConfig>, label: &str) -> Vec<Flight> {
    let receivers = [Receiver::Server(sc), Receiver::Client(cc.clone())];
    let queued = [DOWN, UP];
    let mut ends = [receivers[0].fresh(DOWN), Endpoint::Client(ClientConnection::new(cc, NOW).unwrap())];
    ends[1].send_application_data(UP);
    let mut before: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    let mut flights = Vec::new();
    let mut to = 0;
    let mut bytes = ends[1].take_output();
    while !bytes.is_empty() {
        assert!(flights.len() < 10, "{label}: the handshake does not settle");
        let name = format!("{label}, flight {} to the {}", flights.len(), receivers[to].name());
        ends[to].handle_input(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let answer = ends[to].take_output();
        flights.push(Flight {
            name,
            receiver: receivers[to].clone(),
            queued: queued[to],
            before: before[to].clone(),
            bytes: bytes.clone(),
            delivers: ends[to].read_all(),
            answer: Ok(answer.clone()),
            script: Vec::new(),
        });
        before[to].push(bytes);
        bytes = answer;
        to = 1 - to;
    }
    let delivered: Vec<Vec<u8>> = flights.iter().flat_map(|f| f.delivers.clone()).collect();
    assert_eq!(delivered.len(), 2, "{label}: both sides' data arrived");
    assert!(delivered.contains(&UP.to_vec()) && delivered.contains(&DOWN.to_vec()), "{label}");
    flights
}

impl Flight {
    /// A fresh receiver in the state this flight finds it in.
    fn receiver_at(&self) -> Endpoint {
        script(self.script.clone());
        let mut end = self.receiver.fresh(self.queued);
        for earlier in &self.before {
            end.handle_input(earlier).unwrap_or_else(|e| panic!("{}: replaying an earlier flight: {e}", self.name));
            end.take_output();
            assert!(end.read_all().is_empty());
        }
        end
    }
}

// ---- mutations -------------------------------------------------------------------------------

/// Where records start in `bytes`, as far as they frame.
fn record_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Ok(Some(r)) = read_record(&bytes[at..]) {
        spans.push((at, at + r.encoded_len()));
        at += r.encoded_len();
    }
    spans
}

/// Offsets worth hitting more often than the certificates' bulk: record headers, and the
/// headers and first fields of the plaintext handshake messages in each record.
fn hot_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut hot = Vec::new();
    for (start, end) in record_spans(bytes) {
        hot.extend(start..start + 5);
        if bytes[start] != 22 {
            continue;
        }
        let mut at = start + 5;
        while at + 4 <= end {
            let len = usize::from(bytes[at + 1]) << 16 | usize::from(bytes[at + 2]) << 8 | usize::from(bytes[at + 3]);
            hot.extend(at..(at + 4 + len.min(48)).min(end));
            at += 4 + len;
        }
    }
    if hot.is_empty() {
        hot.push(0);
    }
    hot
}

/// One mutation of `orig`.
fn mutate(rng: &mut XorShift, orig: &[u8], hot: &[usize], spans: &[(usize, usize)]) -> Vec<u8> {
    let mut m = orig.to_vec();
    let len = m.len();
    let pos = |rng: &mut XorShift, len: usize| -> usize {
        if len == 0 {
            0
        } else if rng.below(2) == 0 {
            hot[rng.below(hot.len())].min(len - 1)
        } else {
            rng.below(len)
        }
    };
    match rng.below(12) {
        // One bit.
        0 | 1 => {
            let p = pos(rng, len);
            m[p] ^= 1 << rng.below(8);
        }
        // A few bits anywhere.
        2 => {
            for _ in 0..1 + rng.below(8) {
                let p = rng.below(len);
                m[p] ^= 1 << rng.below(8);
            }
        }
        // A byte set to a boundary value.
        3 => {
            let p = pos(rng, len);
            m[p] = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 20, 21, 22, 23][rng.below(11)];
        }
        // Truncated.
        4 => m.truncate(rng.below(len)),
        // Bytes inserted.
        5 => {
            let p = pos(rng, len);
            let n = 1 + rng.below(16);
            let junk = rng.bytes(n);
            m.splice(p..p, junk);
        }
        // A chunk duplicated, at once or elsewhere.
        6 => {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(64)).min(len);
            let chunk = m[a..b].to_vec();
            let at = if rng.below(2) == 0 { b } else { rng.below(len + 1) };
            m.splice(at..at, chunk);
        }
        // A range overwritten with garbage.
        7 => {
            let a = pos(rng, len);
            let b = (a + 1 + rng.below(32)).min(len);
            let junk = rng.bytes(b - a);
            m[a..b].copy_from_slice(&junk);
        }
        // A record dropped, duplicated, or two swapped.
        8 if !spans.is_empty() => {
            let i = rng.below(spans.len());
            let (a, b) = spans[i];
            match rng.below(3) {
                0 => {
                    m.drain(a..b);
                }
                1 => {
                    let rec = m[a..b].to_vec();
                    m.splice(b..b, rec);
                }
                _ => {
                    let j = rng.below(spans.len());
                    let mut recs: Vec<Vec<u8>> = spans.iter().map(|&(x, y)| orig[x..y].to_vec()).collect();
                    recs.swap(i, j);
                    m = recs.concat();
                }
            }
        }
        // A record's length field rewritten.
        9 if !spans.is_empty() => {
            let (a, b) = spans[rng.below(spans.len())];
            let body = b - a - 5;
            let new = match rng.below(4) {
                0 => body.wrapping_sub(1),
                1 => body + 1,
                2 => rng.below(0x4800 + 2),
                _ => rng.below(0x10000),
            } as u16;
            m[a + 3..a + 5].copy_from_slice(&new.to_be_bytes());
        }
        // A plaintext handshake message's length rewritten.
        10 => {
            let p = hot[rng.below(hot.len())];
            if p + 4 <= len {
                let v = rng.byte();
                m[p + 1 + rng.below(3)] = v;
            }
        }
        // Garbage after a valid prefix, or instead of everything.
        _ => {
            let keep = if rng.below(2) == 0 { rng.below(len + 1) } else { 0 };
            m.truncate(keep);
            let n = rng.below(300);
            m.extend(rng.bytes(n));
        }
    }
    m
}

// ---- the checks ------------------------------------------------------------------------------

/// The last record of `out`, checking that everything in it frames.
fn last_record(out: &[u8]) -> Option<(u8, Vec<u8>)> {
    let mut at = 0;
    let mut last = None;
    while at < out.len() {
        let r = read_record(&out[at..]).expect("our own output frames").expect("our output is whole records");
        last = Some((u8::from(r.typ), r.payload.to_vec()));
        at += r.encoded_len();
    }
    last
}

/// Asserts what a failed connection must have sent.
fn check_alert(err: &Error, out: &[u8], what: &str) {
    if matches!(err, Error::AlertReceived(_) | Error::Closed) {
        return;
    }
    let alert = err.alert().unwrap_or_else(|| panic!("{what}: {err:?} has no alert"));
    let (typ, payload) = last_record(out).unwrap_or_else(|| panic!("{what}: {err:?} but nothing sent"));
    assert_eq!(typ, u8::from(ContentType::Alert), "{what}: {err:?}: last record is not an alert");
    if payload.len() == 2 {
        // In plaintext: fatal, and the alert the error names.
        assert_eq!(payload[0], u8::from(AlertLevel::Fatal), "{what}: {err:?}");
        assert_eq!(AlertDescription::from(payload[1]), alert, "{what}: {err:?}");
    }
}

/// Feeds `mutated` (in two pieces, or byte by byte) to a connection in the state `flight`
/// finds it in, and checks the outcome. Returns the error, if any.
fn feed(flight: &Flight, mutated: &[u8], split: Option<usize>, what: &str) -> Option<Error> {
    let mut end = flight.receiver_at();
    let result = match split {
        Some(at) => end.handle_input(&mutated[..at]).and_then(|()| end.handle_input(&mutated[at..])),
        None => mutated.chunks(1).try_for_each(|b| end.handle_input(b)),
    };
    let out = end.take_output();
    let data = end.read_all();
    if let Err(e) = &result {
        assert_eq!(end.error(), Some(e), "{what}: the error is kept");
        check_alert(e, &out, what);
    }
    if mutated.starts_with(&flight.bytes) {
        // Intact up to its data record (the last one): what was sent, at most.
        assert!(data.is_empty() || data == flight.delivers, "{what}: wrong data {data:?}");
    } else {
        assert!(data.is_empty(), "{what}: application data delivered from a mutated flight: {data:?}");
    }
    if mutated == flight.bytes.as_slice() {
        assert_eq!(data, flight.delivers, "{what}");
        match &flight.answer {
            Ok(answer) => {
                assert!(result.is_ok(), "{what}: the intact flight failed: {result:?}");
                assert_eq!(&out, answer, "{what}: the replay is deterministic");
            }
            Err(e) => assert_eq!(result.as_ref(), Err(e), "{what}: the intact flight"),
        }
    }
    result.err()
}

/// Mutates `flight` `n` times with `seed` and feeds each; fails with the first mutations
/// that panicked or broke a rule.
fn mutate_flight(flight: &Flight, seed: u64, n: usize) -> HashMap<String, usize> {
    let hot = hot_offsets(&flight.bytes);
    let spans = record_spans(&flight.bytes);
    let mut rng = XorShift::new(seed);
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut failures = Vec::new();
    for i in 0..n {
        let mutated = mutate(&mut rng, &flight.bytes, &hot, &spans);
        let split = if rng.below(64) == 0 { None } else { Some(rng.below(mutated.len() + 1)) };
        let what = format!("{} (seed {seed:#x}, mutation {i}, split {split:?})", flight.name);
        match catch_unwind(AssertUnwindSafe(|| feed(flight, &mutated, split, &what))) {
            Ok(err) => {
                let key = err.map_or_else(|| String::from("ok"), |e| alert_name(&e));
                *outcomes.entry(key).or_default() += 1;
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| String::from(*s)))
                    .unwrap_or_default();
                failures.push(format!("{what}: {msg}\n  input: {}", hex::encode(&mutated)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} mutations failed; first:\n{}",
        failures.len(),
        failures[..3.min(failures.len())].join("\n")
    );
    outcomes
}

fn alert_name(e: &Error) -> String {
    match e.alert() {
        Some(a) => format!("{a:?}"),
        None => format!("{e:?}"),
    }
}

/// Captures a handshake and mutates each of its flights.
fn mutate_handshake(cc: Arc<ClientConfig>, sc: Arc<ServerConfig>, label: &str, seed: u64) {
    let flights = capture(cc, sc, label);
    std::thread::scope(|scope| {
        for (i, flight) in flights.iter().enumerate() {
            scope.spawn(move || {
                // Replayed intact, the flight finds a fresh receiver exactly where the captured
                // one was: it is accepted and answered byte for byte as before.
                assert_eq!(feed(flight, &flight.bytes, Some(flight.bytes.len() / 2), &flight.name), None);
                let t = std::time::Instant::now();
                let outcomes = mutate_flight(flight, seed.wrapping_add(i as u64 * 0x1_0000), MUTATIONS);
                let mut outcomes: Vec<_> = outcomes.into_iter().collect();
                outcomes.sort();
                println!(
                    "{}: {} bytes, {MUTATIONS} mutations in {:?}: {outcomes:?}",
                    flight.name,
                    flight.bytes.len(),
                    t.elapsed()
                );
            });
        }
    });
}

#[test]
fn seed_order_gcm_flights() {
    let cc = client_config(Profile::Seed, DEFAULT_SUITES, false);
    mutate_handshake(cc, server_config(Profile::Auto), "seed/GCM", 0x5eed_0001);
}

#[test]
fn tlcp_order_cbc_flights() {
    let cc = client_config(Profile::Tlcp, &[CipherSuite::ECC_SM4_CBC_SM3], false);
    mutate_handshake(cc, server_config(Profile::Tlcp), "tlcp/CBC", 0x7c1c_0002);
}

// ---- the recorded Tongsuo streams --------------------------------------------------------------

/// A recorded stream up to its first application data record: everything a peer of ours
/// parses before the handshake fails (the Tongsuo peer hashed a hello we did not send).
fn recorded_stream(session: &str, dir: &str) -> Vec<u8> {
    let bytes = vector_file(session, &format!("raw.{dir}.bin"));
    let spans = record_spans(&bytes);
    assert_eq!(spans.last().map(|s| s.1), Some(bytes.len()), "{session} {dir} frames");
    let end = spans.iter().find(|&&(a, _)| bytes[a] == 23).map_or(bytes.len(), |s| s.0);
    bytes[..end].to_vec()
}

/// The randoms of a recorded session, from its transcript.
fn recorded_values(session: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let json: serde_json::Value = serde_json::from_slice(&vector_file(session, "transcript.json")).unwrap();
    let get = |k: &str| hex::decode(json["derived"][k].as_str().unwrap()).unwrap();
    (get("client_random"), get("server_random"), get("pre_master_secret"))
}

/// Tongsuo's server stream fed to our client, which takes the recorded client random and
/// pre-master secret: the ServerKeyExchange signature then verifies, the keys are Tongsuo's
/// and its encrypted Finished opens, and only the Finished check fails (it covers Tongsuo's
/// ClientHello, not ours).
fn recorded_to_client(session: &str) -> Flight {
    let (client_random, _, pre_master) = recorded_values(session);
    let cc = client_config(Profile::Tlcp, DEFAULT_SUITES, true);
    Flight {
        name: format!("{session}: Tongsuo's server stream to our client"),
        receiver: Receiver::Client(cc),
        queued: b"",
        before: Vec::new(),
        bytes: recorded_stream(session, "s2c"),
        delivers: Vec::new(),
        answer: Err(Error::BadFinished),
        script: vec![client_random, pre_master[2..].to_vec()],
    }
}

/// Tongsuo's client stream fed to our server, which takes the recorded server random: the
/// client's certificates verify and the pre-master secret decrypts, and the
/// CertificateVerify fails (it covers Tongsuo's ServerHello, not ours).
fn recorded_to_server(session: &str) -> Flight {
    let (_, server_random, _) = recorded_values(session);
    Flight {
        name: format!("{session}: Tongsuo's client stream to our server"),
        receiver: Receiver::Server(server_config(Profile::Auto)),
        queued: b"",
        before: Vec::new(),
        bytes: recorded_stream(session, "c2s"),
        delivers: Vec::new(),
        answer: Err(Error::BadSignature("CertificateVerify")),
        script: vec![server_random],
    }
}

#[test]
fn recorded_tongsuo_streams() {
    let flights: Vec<Flight> = ["ecc_sm4_cbc_sm3", "ecc_sm4_gcm_sm3"]
        .iter()
        .flat_map(|s| [recorded_to_client(s), recorded_to_server(s)])
        .collect();
    std::thread::scope(|scope| {
        for (i, flight) in flights.iter().enumerate() {
            scope.spawn(move || {
                // The intact stream gets exactly as far as it can.
                assert!(feed(flight, &flight.bytes, Some(flight.bytes.len()), &flight.name).is_some());
                let t = std::time::Instant::now();
                let outcomes = mutate_flight(flight, 0x7095_0000 + i as u64, MUTATIONS);
                let mut outcomes: Vec<_> = outcomes.into_iter().collect();
                outcomes.sort();
                println!(
                    "{}: {} bytes, {MUTATIONS} mutations in {:?}: {outcomes:?}",
                    flight.name,
                    flight.bytes.len(),
                    t.elapsed()
                );
            });
        }
    });
}

/// Regression: the record MAC and the GCM AAD are computed over version 0x0101, not over
/// the header's bytes, so a record whose minor version was changed in transit used to be
/// accepted (and its data delivered). Every record must now say TLCP 1.1.
#[test]
fn a_record_with_another_version_is_refused() {
    for (label, cc, sc) in [
        ("seed/GCM", client_config(Profile::Seed, DEFAULT_SUITES, false), server_config(Profile::Auto)),
        (
            "tlcp/CBC",
            client_config(Profile::Tlcp, &[CipherSuite::ECC_SM4_CBC_SM3], false),
            server_config(Profile::Tlcp),
        ),
    ] {
        for flight in capture(cc, sc, label) {
            for (start, _) in record_spans(&flight.bytes) {
                for minor in [0x00, 0x02, 0xff] {
                    let mut bytes = flight.bytes.clone();
                    bytes[start + 2] = minor;
                    let what = format!("{}: record at {start} with version 0x01{minor:02x}", flight.name);
                    let err = feed(&flight, &bytes, Some(bytes.len()), &what);
                    assert_eq!(err, Some(Error::ProtocolVersion), "{what}");
                }
            }
        }
    }
}
