//! Shared set-up for the channel tests: real certificates and keys (the Tongsuo vector
//! certificates, and a PKI of our own issued with `wearpay_pki`), an in-memory pair, and a
//! driver that lets a middle see and rewrite every flight.
#![allow(dead_code, clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
use std::sync::{Arc, OnceLock};

use wearpay_crypto::{
    AeadKey, CbcKey, HashAlgorithm, HmacKey, KeyAlgorithm, PrivateKey, SigningKey, portable::PROVIDER,
};
use wearpay_pki::{
    AltName, Certificate, CertificateBuilder, Crl, CrlBuilder, DAY, RevocationReason, Role, UnixTime, generate_key,
    load_private_key,
};
use wearpay_tlcp::codec::Codec;
use wearpay_tlcp::msgs::{
    AlertDescription, AlertLevel, AlertMessage, CertificateDer, ContentType, HandshakeMessage, RecordHeader,
};
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::{
    ClientConfig, ClientConnection, DEFAULT_SUITES, Error, Event, PkiClientVerifier, PkiServerVerifier, Profile,
    ServerConfig, ServerConnection, read_record,
};

// ---- the Tongsuo vector certificates (SM2 only) ----

pub fn vectors() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/tlcp/ecc_sm4_gcm_sm3")
}

pub fn cert(name: &str) -> Certificate {
    Certificate::parse(&std::fs::read(vectors().join("certs").join(format!("{name}.crt"))).unwrap()).unwrap()
}

pub fn key(name: &str) -> Box<dyn PrivateKey> {
    load_private_key(&PROVIDER, &std::fs::read(vectors().join("keys").join(format!("{name}.key"))).unwrap(), None)
        .unwrap()
}

pub fn der(c: &Certificate) -> CertificateDer {
    CertificateDer(c.as_der().to_vec())
}

/// A time inside every certificate's validity, vector or issued here.
pub const NOW: UnixTime = UnixTime(1_830_000_000);

pub fn server_config(profile: Profile) -> ServerConfig {
    let sign: Arc<dyn PrivateKey> = key("srv_sign").into();
    let enc: Arc<dyn PrivateKey> = key("srv_enc").into();
    ServerConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile,
        sign_key: sign,
        enc_key: enc,
        cert_chain: vec![der(&cert("srv_sign")), der(&cert("srv_enc"))],
        verifier: Arc::new(PkiClientVerifier::new(PROVIDER, vec![cert("ca")], vec![], vec![])),
        session_store: Arc::new(MemorySessionStore::new(100, 3600)),
        session_lifetime: 3600,
    }
}

pub fn client_config(profile: Profile) -> ClientConfig {
    let sign: Arc<dyn PrivateKey> = key("cli_sign").into();
    ClientConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile,
        sign_key: sign,
        cert_chain: vec![der(&cert("cli_sign")), der(&cert("cli_enc"))],
        verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![cert("ca")], vec![])),
        server_name: "localhost".into(),
        session_store: Arc::new(MemorySessionStore::new(10, 3600)),
        max_fragment_length: None,
        offer_session_ticket: false,
    }
}

// ---- a PKI of our own ----

/// The center's name in the certificates issued here.
pub const SERVER_NAME: &str = "center.wearpay.test";

/// A certificate authority: a self-signed root and its key.
#[derive(Debug)]
pub struct Ca {
    pub cert: Certificate,
    pub key: Arc<dyn PrivateKey>,
}

impl Ca {
    /// A root CA valid ten years either side of [`NOW`].
    pub fn new(name: &str, alg: KeyAlgorithm) -> Self {
        let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, alg).unwrap().into();
        let cert = CertificateBuilder::new(Role::RootCa, name.parse().unwrap(), SigningKey::public_key(&*key))
            .validity(NOW.minus_secs(3650 * DAY), NOW.plus_days(3650))
            .self_sign(&PROVIDER, &*key)
            .unwrap();
        Self { cert, key }
    }

    /// Issues a certificate for `key` in `role`, valid from `not_before` to `not_after`.
    pub fn issue_window(
        &self,
        role: Role,
        subject: &str,
        key: &dyn PrivateKey,
        not_before: UnixTime,
        not_after: UnixTime,
    ) -> Certificate {
        let mut b = CertificateBuilder::new(role, subject.parse().unwrap(), SigningKey::public_key(key))
            .validity(not_before, not_after);
        if matches!(role, Role::CenterSign | Role::CenterEnc) {
            b = b.alt_name(AltName::Dns(SERVER_NAME.into()));
        }
        b.sign(&PROVIDER, &self.cert, &*self.key).unwrap()
    }

    /// Issues a certificate valid a month before [`NOW`] to a year after.
    pub fn issue(&self, role: Role, subject: &str, key: &dyn PrivateKey) -> Certificate {
        self.issue_window(role, subject, key, NOW.minus_secs(30 * DAY), NOW.plus_days(365))
    }

    /// A CRL current at [`NOW`] revoking `serials`.
    pub fn crl(&self, serials: &[&[u8]]) -> Crl {
        let mut b = CrlBuilder::new(NOW.minus_secs(DAY), NOW.plus_days(7), 1);
        for s in serials {
            b = b.revoke(s, NOW.minus_secs(3600), Some(RevocationReason::KeyCompromise));
        }
        b.sign(&PROVIDER, &self.cert, &*self.key).unwrap()
    }
}

/// One end's keys and certificates: a signing pair and an encryption pair.
#[derive(Debug, Clone)]
pub struct Identity {
    pub sign_key: Arc<dyn PrivateKey>,
    pub sign_cert: Certificate,
    pub enc_key: Arc<dyn PrivateKey>,
    pub enc_cert: Certificate,
}

impl Identity {
    /// [sign, enc] as sent in a Certificate message.
    pub fn chain(&self) -> Vec<CertificateDer> {
        vec![der(&self.sign_cert), der(&self.enc_cert)]
    }
}

pub fn sm2_key() -> Arc<dyn PrivateKey> {
    generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap().into()
}

/// The SM2 PKI every test binary shares: made once per binary.
#[derive(Debug)]
pub struct Pki {
    /// The root both the center's and the terminals' certificates chain to.
    pub ca: Ca,
    /// An unrelated root.
    pub other_ca: Ca,
    /// The center, all SM2.
    pub center: Identity,
    /// A terminal, all SM2.
    pub terminal: Identity,
    /// A second terminal of the same CA.
    pub terminal2: Identity,
}

fn center_of(ca: &Ca, sign_key: Arc<dyn PrivateKey>, enc_key: Arc<dyn PrivateKey>) -> Identity {
    let subject = format!("CN={SERVER_NAME},O=wearpay center");
    Identity {
        sign_cert: ca.issue(Role::CenterSign, &subject, &*sign_key),
        enc_cert: ca.issue(Role::CenterEnc, &subject, &*enc_key),
        sign_key,
        enc_key,
    }
}

pub fn terminal_of(ca: &Ca, name: &str) -> Identity {
    let (sign_key, enc_key) = (sm2_key(), sm2_key());
    let subject = format!("CN={name},O=wearpay terminals");
    Identity {
        sign_cert: ca.issue(Role::Terminal, &subject, &*sign_key),
        enc_cert: ca.issue(Role::TerminalEnc, &subject, &*enc_key),
        sign_key,
        enc_key,
    }
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = Ca::new("CN=wearpay test root,O=wearpay", KeyAlgorithm::Sm2);
        let other_ca = Ca::new("CN=some other root,O=elsewhere", KeyAlgorithm::Sm2);
        let center = center_of(&ca, sm2_key(), sm2_key());
        let terminal = terminal_of(&ca, "band 0001");
        let terminal2 = terminal_of(&ca, "band 0002");
        Pki { ca, other_ca, center, terminal, terminal2 }
    })
}

/// The two RSA-2048 keys of this test binary (generation is slow: once per binary).
pub fn rsa_keys() -> &'static (Arc<dyn PrivateKey>, Arc<dyn PrivateKey>) {
    static KEYS: OnceLock<(Arc<dyn PrivateKey>, Arc<dyn PrivateKey>)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let a = std::thread::spawn(|| -> Arc<dyn PrivateKey> {
            generate_key(&PROVIDER, KeyAlgorithm::Rsa(2048)).unwrap().into()
        });
        let b: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Rsa(2048)).unwrap().into();
        (a.join().unwrap(), b)
    })
}

/// A center whose signing and encryption keys are both RSA, certified by the SM2 root: it
/// serves the RSA suites.
pub fn rsa_center() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| {
        let (sign, enc) = rsa_keys();
        center_of(&pki().ca, sign.clone(), enc.clone())
    })
}

/// The client verifier of the center: trusts the root of our PKI.
pub fn client_verifier() -> PkiClientVerifier {
    PkiClientVerifier::new(PROVIDER, vec![pki().ca.cert.clone()], vec![], vec![])
}

/// A center with `id`'s keys, checking terminals against our root.
pub fn center_config(id: &Identity, profile: Profile) -> ServerConfig {
    ServerConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile,
        sign_key: id.sign_key.clone(),
        enc_key: id.enc_key.clone(),
        cert_chain: id.chain(),
        verifier: Arc::new(client_verifier()),
        session_store: Arc::new(MemorySessionStore::new(100, 3600)),
        session_lifetime: 3600,
    }
}

/// A terminal with `id`'s keys, expecting [`SERVER_NAME`] under our root.
pub fn terminal_config(id: &Identity, profile: Profile) -> ClientConfig {
    ClientConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile,
        sign_key: id.sign_key.clone(),
        cert_chain: id.chain(),
        verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![pki().ca.cert.clone()], vec![])),
        server_name: SERVER_NAME.into(),
        session_store: Arc::new(MemorySessionStore::new(10, 3600)),
        max_fragment_length: None,
        offer_session_ticket: false,
    }
}

// ---- driving a pair ----

/// Runs both ends in memory until neither has anything to send; stops at the first error.
pub fn pump(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), String> {
    pump_at(client, server, NOW)
}

/// [`pump`] at another time.
pub fn pump_at(client: &mut ClientConnection, server: &mut ServerConnection, now: UnixTime) -> Result<(), String> {
    for _ in 0..64 {
        let c2s = client.take_output();
        if !c2s.is_empty() {
            server.handle_input(&c2s, now).map_err(|e| format!("server: {e}"))?;
        }
        let s2c = server.take_output();
        if !s2c.is_empty() {
            client.handle_input(&s2c, now).map_err(|e| format!("client: {e}"))?;
        }
        if c2s.is_empty() && s2c.is_empty() {
            return Ok(());
        }
    }
    Err("did not settle".into())
}

/// Which way a flight goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

/// Runs both ends through `middle`, which sees each flight (everything one end sent in one
/// turn, numbered from 0) and returns what to deliver. Errors do not stop the run: the
/// fatal alert an end sends is delivered like anything else. Stops when both are quiet.
pub fn drive(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    now: UnixTime,
    middle: &mut dyn FnMut(Dir, usize, Vec<u8>) -> Vec<u8>,
) {
    let mut flight = 0;
    for _ in 0..64 {
        let c2s = client.take_output();
        let quiet_c = c2s.is_empty();
        if !quiet_c {
            let c2s = middle(Dir::ClientToServer, flight, c2s);
            flight += 1;
            if !c2s.is_empty() {
                let _ = server.handle_input(&c2s, now);
            }
        }
        let s2c = server.take_output();
        let quiet_s = s2c.is_empty();
        if !quiet_s {
            let s2c = middle(Dir::ServerToClient, flight, s2c);
            flight += 1;
            if !s2c.is_empty() {
                let _ = client.handle_input(&s2c, now);
            }
        }
        if quiet_c && quiet_s {
            return;
        }
    }
    panic!("the pair did not settle");
}

/// Records every flight and passes it on unchanged.
pub fn record_flights(client: &mut ClientConnection, server: &mut ServerConnection) -> Vec<(Dir, Vec<u8>)> {
    record_flights_at(client, server, NOW)
}

/// [`record_flights`] at another time.
pub fn record_flights_at(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    now: UnixTime,
) -> Vec<(Dir, Vec<u8>)> {
    let mut flights = Vec::new();
    drive(client, server, now, &mut |dir, _, bytes| {
        flights.push((dir, bytes.clone()));
        bytes
    });
    flights
}

pub fn events_client(c: &mut ClientConnection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

pub fn events_server(s: &mut ServerConnection) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Every application data record the client has received, in order.
pub fn drain_client(c: &mut ClientConnection) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| c.read_application_data()).collect()
}

/// Every application data record the server has received, in order.
pub fn drain_server(s: &mut ServerConnection) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| s.read_application_data()).collect()
}

/// The summary of the one HandshakeComplete event among `events`.
pub fn completed(events: &[Event]) -> wearpay_tlcp::HandshakeSummary {
    let done: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::HandshakeComplete(s) => Some(s.clone()),
            Event::PeerClosed => None,
        })
        .collect();
    assert_eq!(done.len(), 1, "expected one completion in {events:?}");
    done.into_iter().next().unwrap()
}

// ---- looking at the wire ----

/// One record as sent: its type and its (possibly protected) fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub typ: ContentType,
    pub payload: Vec<u8>,
}

impl Rec {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.payload.len()).unwrap();
        RecordHeader { typ: self.typ, version: wearpay_tlcp::msgs::ProtocolVersion::Tlcp1_1, length: len }.encode(out);
        out.extend_from_slice(&self.payload);
    }
}

/// Splits a flight into its records; the flight must be whole records.
pub fn records(mut bytes: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let r = read_record(bytes).unwrap().expect("a whole record");
        out.push(Rec { typ: r.typ, payload: r.payload.to_vec() });
        bytes = &bytes[r.encoded_len()..];
    }
    out
}

pub fn encode_records(recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        r.encode(&mut out);
    }
    out
}

/// Splits the joined plaintext of consecutive handshake records into whole messages (type,
/// u24 length, body), as encoded.
pub fn split_messages(mut joined: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !joined.is_empty() {
        assert!(joined.len() >= 4, "partial handshake header");
        let len = usize::from(joined[1]) << 16 | usize::from(joined[2]) << 8 | usize::from(joined[3]);
        out.push(joined[..4 + len].to_vec());
        joined = &joined[4 + len..];
    }
    out
}

/// The plaintext handshake messages of a flight (before any ChangeCipherSpec), decoded.
pub fn plaintext_messages(flight: &[u8]) -> Vec<HandshakeMessage> {
    let mut joined = Vec::new();
    for r in records(flight) {
        match r.typ {
            ContentType::Handshake => joined.extend_from_slice(&r.payload),
            _ => break,
        }
    }
    split_messages(&joined).iter().map(|m| HandshakeMessage::read_bytes(m).unwrap()).collect()
}

/// The alerts sent in the clear in a flight (before keys are in use).
pub fn plaintext_alerts(flight: &[u8]) -> Vec<AlertMessage> {
    records(flight)
        .into_iter()
        .filter(|r| r.typ == ContentType::Alert && r.payload.len() == 2)
        .map(|r| AlertMessage::read_bytes(&r.payload).unwrap())
        .collect()
}

// ---- outcomes ----

/// The fatal alert an error sends.
pub fn alert_of(e: &Error) -> Option<AlertDescription> {
    e.alert()
}

/// Asserts that a refused handshake ended as it should: `failing` (the end that detects the
/// problem) holds `expected` and sent `alert`; the other end received it.
pub fn assert_refused(failing: Option<&Error>, other: Option<&Error>, alert: AlertDescription) {
    let failing = failing.expect("the detecting end failed");
    assert_eq!(failing.alert(), Some(alert), "detecting end: {failing:?}");
    assert_eq!(other, Some(&Error::AlertReceived(alert)), "the peer received the alert");
}

/// A fatal alert record's payload.
pub fn fatal(description: AlertDescription) -> Vec<u8> {
    let mut out = Vec::new();
    AlertMessage { level: AlertLevel::Fatal, description }.encode(&mut out);
    out
}

// ---- speaking for an end: record protection rebuilt from the master secret ----

/// How a CBC record is spoiled on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoil {
    /// A correct record.
    Nothing,
    /// Correct padding, a MAC with one bit flipped.
    Mac,
    /// A correct MAC, a padding byte that does not repeat the length.
    Padding,
}

/// One direction's record protection, so a test can seal (and open) records in an end's
/// name. Only the suites' generic constructions (GB/T 38636 §6.3) are used.
pub enum Writer {
    Gcm { key: Box<dyn AeadKey>, salt: [u8; 4] },
    Cbc { key: Box<dyn CbcKey>, mac: HmacKey, mac_len: usize },
}

fn record_aad(seq: u64, typ: ContentType, len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&seq.to_be_bytes());
    a[8] = u8::from(typ);
    a[9..11].copy_from_slice(&[1, 1]);
    a[11..].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    a
}

impl Writer {
    fn nonce(salt: &[u8; 4], explicit: &[u8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(salt);
        n[4..].copy_from_slice(explicit);
        n
    }

    /// A correct record of `plain` at sequence number `seq`.
    pub fn seal(&self, seq: u64, typ: ContentType, plain: &[u8]) -> Rec {
        self.seal_spoiled(seq, typ, plain, Spoil::Nothing)
    }

    /// A record of `plain` at `seq`, spoiled as asked (CBC only).
    pub fn seal_spoiled(&self, seq: u64, typ: ContentType, plain: &[u8], spoil: Spoil) -> Rec {
        match self {
            Self::Gcm { key, salt } => {
                assert_eq!(spoil, Spoil::Nothing);
                let explicit = seq.to_be_bytes();
                let mut body = plain.to_vec();
                let tag =
                    key.seal(&Self::nonce(salt, &explicit), &record_aad(seq, typ, plain.len()), &mut body).unwrap();
                Rec { typ, payload: [&explicit[..], &body, &tag].concat() }
            }
            Self::Cbc { key, mac, .. } => {
                let mut tag = mac.sign(&[&record_aad(seq, typ, plain.len()), plain]).as_ref().to_vec();
                if spoil == Spoil::Mac {
                    tag[0] ^= 1;
                }
                let mut body = [plain, &tag].concat();
                // At least two padding bytes besides the length byte, so one can be spoiled.
                let pad = 15 - body.len() % 16 + if body.len() % 16 >= 14 { 16 } else { 0 };
                body.resize(body.len() + pad + 1, pad as u8);
                if spoil == Spoil::Padding {
                    let at = body.len() - 2;
                    body[at] ^= 1;
                }
                let iv = [0x5a; 16];
                key.encrypt(&iv, &mut body).unwrap();
                Rec { typ, payload: [&iv[..], &body].concat() }
            }
        }
    }

    /// Opens a correct record at `seq`.
    pub fn open(&self, seq: u64, rec: &Rec) -> Vec<u8> {
        match self {
            Self::Gcm { key, salt } => {
                let (explicit, rest) = rec.payload.split_at(8);
                let (body, tag) = rest.split_at(rest.len() - 16);
                let mut body = body.to_vec();
                let tag: [u8; 16] = tag.try_into().unwrap();
                key.open(&Self::nonce(salt, explicit), &record_aad(seq, rec.typ, body.len()), &mut body, &tag).unwrap();
                body
            }
            Self::Cbc { key, mac, mac_len } => {
                let (iv, body) = rec.payload.split_at(16);
                let mut body = body.to_vec();
                key.decrypt(iv.try_into().unwrap(), &mut body).unwrap();
                let pad = usize::from(*body.last().unwrap());
                body.truncate(body.len() - pad - 1);
                let tag = body.split_off(body.len() - mac_len);
                let want = mac.sign(&[&record_aad(seq, rec.typ, body.len()), &body]);
                assert_eq!(want.as_ref(), &tag[..]);
                body
            }
        }
    }
}

/// The (client, server) writers of the session `flights` established, from the master
/// secret the terminal stored under its server name.
pub fn session_writers(cc: &ClientConfig, flights: &[(Dir, Vec<u8>)]) -> (Writer, Writer) {
    use wearpay_tlcp::msgs::HandshakePayload;
    let stored = cc.session_store.get(cc.server_name.as_bytes(), NOW).unwrap();
    let HandshakePayload::ClientHello(ch) = &plaintext_messages(&flights[0].1)[0].payload else { panic!() };
    let HandshakePayload::ServerHello(sh) = &plaintext_messages(&flights[1].1)[0].payload else { panic!() };
    let p = stored.suite.params().unwrap();
    let hash = match p.hash {
        wearpay_tlcp::HashAlgorithm::Sm3 => HashAlgorithm::Sm3,
        wearpay_tlcp::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
    };
    let (m, k, iv) = (p.mac_key_len, p.enc_key_len, p.fixed_iv_len);
    let kb = wearpay_tlcp::prf::key_block(
        &PROVIDER,
        hash,
        &stored.master_secret[..],
        &ch.random,
        &sh.random,
        2 * (m + k + iv),
    );
    let side = |mac_key: &[u8], key: &[u8], iv: &[u8]| {
        if p.bulk == wearpay_tlcp::BulkCipher::Sm4Gcm {
            Writer::Gcm { key: PROVIDER.sm4_gcm.new_key(key).unwrap(), salt: iv.try_into().unwrap() }
        } else {
            Writer::Cbc {
                key: PROVIDER.sm4_cbc.new_key(key).unwrap(),
                mac: PROVIDER.hmac(hash, mac_key),
                mac_len: hash.output_len(),
            }
        }
    };
    (
        side(&kb[..m], &kb[2 * m..2 * m + k], &kb[2 * (m + k)..2 * (m + k) + iv]),
        side(&kb[m..2 * m], &kb[2 * m + k..2 * (m + k)], &kb[2 * (m + k) + iv..]),
    )
}

/// How many protected records `dir` has sent in `flights`: its next sequence number.
pub fn sent_after_ccs(flights: &[(Dir, Vec<u8>)], dir: Dir) -> u64 {
    let all: Vec<Rec> = flights.iter().filter(|(d, _)| *d == dir).flat_map(|(_, f)| records(f)).collect();
    let ccs = all.iter().position(|r| r.typ == ContentType::ChangeCipherSpec).unwrap();
    (all.len() - ccs - 1) as u64
}
