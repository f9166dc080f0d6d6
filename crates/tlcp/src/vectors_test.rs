//! The key schedule, record protection and handshake signatures against the two sessions
//! recorded byte for byte between Tongsuo 8.5's `s_client` and `s_server`
//! (`shared/vectors/tlcp/README.md`).
//!
//! Everything is recomputed from the wire bytes and the server's encryption key, with the
//! crate's own deframer, joiner, PRF and record openers; `transcript.json` and `keylog.txt`
//! are only compared against. This lives inside the crate because the record layer is
//! crate-private.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use alloc::{format, string::String, vec::Vec};

use serde_json::Value;
use wearpay_crypto::{HashAlgorithm, PrivateKey, PublicKey, SignatureScheme, Zeroizing, portable::PROVIDER};
use wearpay_pki::Certificate;

use crate::codec::Codec;
use crate::deframer::{HandshakeJoiner, JoinedMessage, MessageDeframer, OpaqueRecord};
use crate::handshake::{CLIENT_FINISHED, PRE_MASTER_LEN, SERVER_FINISHED, server_key_exchange_content};
use crate::msgs::{
    AlertDescription, AlertLevel, AlertMessage, ChangeCipherSpec, ContentType, HandshakePayload, HandshakeType,
    ProtocolVersion,
};
use crate::prf::{self, MASTER_SECRET_LEN, MasterSecret};
use crate::record_layer::{DirectionKeys, RecordOpener, crypto_hash};
use crate::suites::{BulkCipher, CipherSuite, SuiteParams};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp");

const SESSIONS: [(&str, CipherSuite); 2] =
    [("ecc_sm4_cbc_sm3", CipherSuite::ECC_SM4_CBC_SM3), ("ecc_sm4_gcm_sm3", CipherSuite::ECC_SM4_GCM_SM3)];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    C2s,
    S2c,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Self::C2s => "c2s",
            Self::S2c => "s2c",
        }
    }
}

/// One direction of a recorded session, cut at its ChangeCipherSpec.
struct Stream {
    /// Every record as framed on the wire.
    records: Vec<OpaqueRecord>,
    /// The handshake messages of the plaintext records before the ChangeCipherSpec.
    plain_messages: Vec<JoinedMessage>,
    /// The records after the ChangeCipherSpec, still protected.
    protected: Vec<OpaqueRecord>,
}

/// A recorded session, parsed with the crate's own deframer and joiner.
struct Session {
    name: &'static str,
    params: SuiteParams,
    c2s: Stream,
    s2c: Stream,
    transcript: Value,
    /// Derived once from the ClientKeyExchange: (master secret, key block).
    secrets: core::cell::OnceCell<([u8; MASTER_SECRET_LEN], Vec<u8>)>,
}

fn read(name: &str, file: &str) -> Vec<u8> {
    let path = format!("{VECTORS}/{name}/{file}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("expected a hex string, got {v}"))).unwrap()
}

fn private_key(name: &str, key: &str) -> alloc::boxed::Box<dyn PrivateKey> {
    wearpay_pki::load_private_key(&PROVIDER, &read(name, &format!("keys/{key}.key")), None).unwrap()
}

fn certificate(name: &str, cert: &str) -> Certificate {
    Certificate::parse(&read(name, &format!("certs/{cert}.crt"))).unwrap()
}

/// Frames a whole stream, offering the bytes in pieces of `step` so that records and
/// headers straddle pushes.
fn deframe(bytes: &[u8], step: usize) -> Vec<OpaqueRecord> {
    let mut deframer = MessageDeframer::new();
    let mut records = Vec::new();
    for piece in bytes.chunks(step) {
        let mut piece = piece;
        while !piece.is_empty() {
            let taken = deframer.push(piece);
            piece = &piece[taken..];
            while let Some(record) = deframer.pop().expect("the recorded stream frames") {
                records.push(record);
            }
        }
    }
    assert_eq!(deframer.buffered(), 0, "the stream ends on a record boundary");
    records
}

fn stream(name: &str, dir: Dir) -> Stream {
    let bytes = read(name, &format!("raw.{}.bin", dir.name()));
    let records = deframe(&bytes, bytes.len());
    // Arrival in small pieces must not change the framing.
    for step in [1, 5, 7, 100] {
        assert_eq!(deframe(&bytes, step), records, "{name} {dir:?}: pieces of {step}");
    }
    let wire: Vec<u8> = records.iter().flat_map(Codec::get_encoding).collect();
    assert_eq!(wire, bytes, "{name} {dir:?}: records re-encode to the stream");

    let ccs = records.iter().position(|r| r.typ == ContentType::ChangeCipherSpec).expect("a ChangeCipherSpec");
    assert_eq!(ChangeCipherSpec::read_bytes(&records[ccs].payload), Ok(ChangeCipherSpec));
    let mut joiner = HandshakeJoiner::new();
    let mut plain_messages = Vec::new();
    for record in &records[..ccs] {
        assert_eq!(record.typ, ContentType::Handshake, "{name} {dir:?}: only handshake before the CCS");
        joiner.push(&record.payload).unwrap();
        while let Some(m) = joiner.pop().unwrap() {
            assert_eq!(m.message.get_encoding(), m.encoded, "{name}: {:?} re-encodes exactly", m.message.typ);
            plain_messages.push(m);
        }
    }
    assert!(joiner.is_empty(), "no message straddles the ChangeCipherSpec");
    let protected = records[ccs + 1..].to_vec();
    Stream { records, plain_messages, protected }
}

impl Session {
    fn load(name: &'static str, suite: CipherSuite) -> Self {
        let transcript: Value = serde_json::from_slice(&read(name, "transcript.json")).unwrap();
        Self {
            name,
            params: *suite.params().unwrap(),
            c2s: stream(name, Dir::C2s),
            s2c: stream(name, Dir::S2c),
            transcript,
            secrets: core::cell::OnceCell::new(),
        }
    }

    fn all() -> Vec<Self> {
        SESSIONS.iter().map(|&(name, suite)| Self::load(name, suite)).collect()
    }

    fn stream(&self, dir: Dir) -> &Stream {
        match dir {
            Dir::C2s => &self.c2s,
            Dir::S2c => &self.s2c,
        }
    }

    fn derived(&self, key: &str) -> Vec<u8> {
        unhex(&self.transcript["derived"][key])
    }

    fn hash(&self) -> HashAlgorithm {
        crypto_hash(&self.params)
    }

    /// The plaintext message of type `typ` sent in `dir`.
    fn message(&self, dir: Dir, typ: HandshakeType) -> &JoinedMessage {
        let found = self.stream(dir).plain_messages.iter().find(|m| m.message.typ == typ);
        found.unwrap_or_else(|| panic!("{}: no {typ:?} in {dir:?}", self.name))
    }

    fn client_random(&self) -> [u8; 32] {
        match &self.message(Dir::C2s, HandshakeType::ClientHello).message.payload {
            HandshakePayload::ClientHello(ch) => ch.random,
            other => panic!("{other:?}"),
        }
    }

    fn server_random(&self) -> [u8; 32] {
        match &self.message(Dir::S2c, HandshakeType::ServerHello).message.payload {
            HandshakePayload::ServerHello(sh) => sh.random,
            other => panic!("{other:?}"),
        }
    }

    /// F5 in reverse: the pre-master secret out of the ClientKeyExchange, with the
    /// center's encryption key.
    fn pre_master(&self) -> Vec<u8> {
        let HandshakePayload::ClientKeyExchange(ciphertext) =
            &self.message(Dir::C2s, HandshakeType::ClientKeyExchange).message.payload
        else {
            panic!("not a ClientKeyExchange")
        };
        private_key(self.name, "srv_enc").decrypt(ciphertext).unwrap().to_vec()
    }

    fn secrets(&self) -> &([u8; MASTER_SECRET_LEN], Vec<u8>) {
        self.secrets.get_or_init(|| {
            let (cr, sr) = (self.client_random(), self.server_random());
            let master = *prf::master_secret(&PROVIDER, self.hash(), &self.pre_master(), &cr, &sr);
            let kb = prf::key_block(&PROVIDER, self.hash(), &master, &cr, &sr, self.params.key_block_len());
            (master, kb.to_vec())
        })
    }

    fn master(&self) -> [u8; MASTER_SECRET_LEN] {
        self.secrets().0
    }

    fn key_block(&self) -> Vec<u8> {
        self.secrets().1.clone()
    }

    /// The key block cut as GB/T 38636 §6.5 says: client MAC, server MAC, client key,
    /// server key, client IV, server IV.
    fn cut(&self, kb: &[u8]) -> [Vec<u8>; 6] {
        let (m, k, iv) = (self.params.mac_key_len, self.params.enc_key_len, self.params.fixed_iv_len);
        let mut rest = kb;
        let mut take = |n: usize| {
            let (a, b) = rest.split_at(n);
            rest = b;
            a.to_vec()
        };
        let out = [take(m), take(m), take(k), take(k), take(iv), take(iv)];
        assert!(rest.is_empty());
        out
    }

    /// An opener for `dir` built from a key block (possibly a tampered one).
    fn opener_from(&self, kb: &[u8], dir: Dir) -> RecordOpener {
        let [cmac, smac, ckey, skey, civ, siv] = self.cut(kb);
        let keys = match dir {
            Dir::C2s => DirectionKeys { mac_key: &cmac, enc_key: &ckey, iv: &civ },
            Dir::S2c => DirectionKeys { mac_key: &smac, enc_key: &skey, iv: &siv },
        };
        RecordOpener::new(&PROVIDER, &self.params, &keys).unwrap()
    }

    fn opener(&self, dir: Dir) -> RecordOpener {
        self.opener_from(&self.key_block(), dir)
    }

    /// Opens every protected record of `dir` in order: (type, plaintext).
    fn open_all(&self, dir: Dir) -> Vec<(ContentType, Vec<u8>)> {
        let mut opener = self.opener(dir);
        let mut out = Vec::new();
        for (i, record) in self.stream(dir).protected.iter().enumerate() {
            let mut fragment = record.payload.clone();
            opener
                .open(record.typ, &mut fragment)
                .unwrap_or_else(|_| panic!("{} {dir:?}: protected record {i} ({:?}) opens", self.name, record.typ));
            out.push((record.typ, fragment));
        }
        out
    }

    /// The Finished message out of the first protected record of `dir`.
    fn finished(&self, dir: Dir) -> JoinedMessage {
        let (typ, plain) = self.open_all(dir).swap_remove(0);
        assert_eq!(typ, ContentType::Handshake);
        let mut joiner = HandshakeJoiner::new();
        joiner.push(&plain).unwrap();
        let finished = joiner.pop().unwrap().expect("a whole Finished");
        assert!(joiner.is_empty() && joiner.pop().unwrap().is_none(), "only the Finished in its record");
        assert_eq!(finished.message.typ, HandshakeType::Finished);
        finished
    }

    /// Every handshake message in transcript order. Tongsuo's server sends its
    /// NewSessionTicket after the client's Finished and before its own ChangeCipherSpec.
    fn handshake_in_order(&self) -> Vec<JoinedMessage> {
        let c = &self.c2s.plain_messages;
        let s = &self.s2c.plain_messages;
        assert_eq!((c.len(), s.len()), (4, 6), "{}: plaintext messages per direction", self.name);
        let mut all = Vec::new();
        all.push(c[0].clone()); // ClientHello
        all.extend_from_slice(&s[..5]); // ServerHello .. ServerHelloDone
        all.extend_from_slice(&c[1..]); // Certificate, ClientKeyExchange, CertificateVerify
        all.push(self.finished(Dir::C2s));
        all.push(s[5].clone()); // NewSessionTicket
        all.push(self.finished(Dir::S2c));
        all
    }

    /// SM3 of the concatenated encodings of `messages`.
    fn transcript_hash(&self, messages: &[JoinedMessage]) -> Vec<u8> {
        let mut ctx = PROVIDER.hash(self.hash()).start();
        for m in messages {
            ctx.update(&m.encoded);
        }
        ctx.finish().as_ref().to_vec()
    }
}

fn pos_of(all: &[JoinedMessage], typ: HandshakeType, nth: usize) -> usize {
    all.iter().enumerate().filter(|(_, m)| m.message.typ == typ).nth(nth).map(|(i, _)| i).unwrap()
}

#[test]
fn every_record_and_handshake_message_parses_and_matches_the_transcript() {
    for s in Session::all() {
        for dir in [Dir::C2s, Dir::S2c] {
            let expected = s.transcript["records"][dir.name()].as_array().unwrap();
            let records = &s.stream(dir).records;
            assert_eq!(records.len(), expected.len(), "{} {dir:?}: record count", s.name);
            for (i, (r, e)) in records.iter().zip(expected).enumerate() {
                assert_eq!(r.typ.as_str(), e["type"].as_str(), "{} {dir:?} record {i}: type", s.name);
                assert_eq!(r.version, ProtocolVersion::Tlcp1_1);
                assert_eq!(Some(r.payload.len() as u64), e["len"].as_u64(), "{} {dir:?} record {i}: len", s.name);
                assert_eq!(r.get_encoding(), unhex(&e["hex"]), "{} {dir:?} record {i}: bytes", s.name);
            }
        }

        let all = s.handshake_in_order();
        let expected = s.transcript["handshake_messages"].as_array().unwrap();
        assert_eq!(all.len(), expected.len(), "{}: handshake message count", s.name);
        for (i, (m, e)) in all.iter().zip(expected).enumerate() {
            assert_eq!(m.message.typ.as_str(), e["type"].as_str(), "{}: message {i} type", s.name);
            assert_eq!(m.encoded, unhex(&e["hex"]), "{}: message {i} bytes", s.name);
            assert_eq!(m.message.get_encoding(), m.encoded, "{}: message {i} re-encodes", s.name);
        }
        // The transcript's "all" hash is what the server's Finished covers: every message
        // before it, the ticket included.
        assert_eq!(
            s.transcript_hash(&all[..all.len() - 1]),
            s.derived("handshake_hash_sm3_all"),
            "{}: SM3 over every handshake message before the server's Finished",
            s.name
        );

        // The negotiated suite and the certificates are the ones the folder holds.
        let HandshakePayload::ServerHello(sh) = &all[1].message.payload else { panic!() };
        assert_eq!(sh.cipher_suite, s.params.suite);
        assert_eq!(s.client_random().to_vec(), s.derived("client_random"));
        assert_eq!(s.server_random().to_vec(), s.derived("server_random"));
        for (dir, names) in [(Dir::S2c, ["srv_sign", "srv_enc"]), (Dir::C2s, ["cli_sign", "cli_enc"])] {
            let HandshakePayload::Certificate(certs) = &s.message(dir, HandshakeType::Certificate).message.payload
            else {
                panic!()
            };
            for (der, name) in certs.iter().zip(names) {
                assert_eq!(der.0, certificate(s.name, name).as_der(), "{} {dir:?}: {name} certificate", s.name);
            }
        }
    }
}

#[test]
fn pre_master_secret_decrypts_from_the_client_key_exchange() {
    for s in Session::all() {
        let pms = s.pre_master();
        assert_eq!(pms.len(), PRE_MASTER_LEN);
        assert_eq!(pms[..2], [0x01, 0x01], "{}: client_version first", s.name);
        assert_eq!(pms, s.derived("pre_master_secret"), "{}", s.name);

        // Another key, or a ciphertext with one bit changed, does not give it back.
        let HandshakePayload::ClientKeyExchange(ct) =
            &s.message(Dir::C2s, HandshakeType::ClientKeyExchange).message.payload
        else {
            panic!()
        };
        let other = private_key(s.name, "cli_enc").decrypt(ct).map(|p| p.to_vec());
        assert!(other.is_err() || other.is_ok_and(|p| p != pms), "{}: decrypts only with srv_enc", s.name);
        let mut tampered = ct.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let decrypted = private_key(s.name, "srv_enc").decrypt(&tampered).map(|p| p.to_vec());
        assert!(decrypted.is_err() || decrypted.is_ok_and(|p| p != pms), "{}: C2 is authenticated by C3", s.name);
    }
}

#[test]
fn master_secret_matches_the_key_log_and_the_transcript() {
    for s in Session::all() {
        let master = s.master();
        assert_eq!(master.to_vec(), s.derived("master_secret_computed"), "{}", s.name);
        assert_eq!(master.to_vec(), s.derived("master_secret_keylog"), "{}", s.name);

        let keylog = String::from_utf8(read(s.name, "keylog.txt")).unwrap();
        let line = keylog.lines().find(|l| l.starts_with("CLIENT_RANDOM ")).expect("a CLIENT_RANDOM line");
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(hex::decode(fields[1]).unwrap(), s.client_random(), "{}: key log client random", s.name);
        assert_eq!(hex::decode(fields[2]).unwrap(), master, "{}: key log master secret", s.name);
    }
}

#[test]
fn key_block_matches_the_transcript() {
    for s in Session::all() {
        let kb = s.key_block();
        let (mac, key, iv) = match s.params.bulk {
            BulkCipher::Sm4Gcm => (0, 16, 4),
            _ => (32, 16, 16),
        };
        assert_eq!(kb.len(), 2 * (mac + key + iv), "{}: key block length", s.name);
        let expected = &s.transcript["derived"]["key_block"];
        let names = ["client_mac", "server_mac", "client_key", "server_key", "client_iv", "server_iv"];
        for (part, name) in s.cut(&kb).iter().zip(names) {
            assert_eq!(*part, unhex(&expected[name]), "{}: {name}", s.name);
        }
        // The handshake's route: the master secret with its HMAC key prepared once.
        let (cr, sr) = (s.client_random(), s.server_random());
        let master = MasterSecret::derive(&PROVIDER, s.hash(), &s.pre_master(), &cr, &sr);
        assert_eq!(master.bytes(), &s.master(), "{}: prepared master secret", s.name);
        assert_eq!(*master.key_block(&cr, &sr, kb.len()), kb, "{}: key block under the prepared key", s.name);
    }
}

#[test]
fn server_key_exchange_signature_verifies() {
    for s in Session::all() {
        let HandshakePayload::Certificate(certs) = &s.message(Dir::S2c, HandshakeType::Certificate).message.payload
        else {
            panic!()
        };
        let HandshakePayload::ServerKeyExchange(sig) =
            &s.message(Dir::S2c, HandshakeType::ServerKeyExchange).message.payload
        else {
            panic!()
        };
        let sign_cert = certificate(s.name, "srv_sign");
        let sign_key = sign_cert.public_key().unwrap();
        assert!(matches!(sign_key, PublicKey::Sm2(_)));
        // client_random ‖ server_random ‖ u24(len) ‖ the encryption certificate as sent.
        let enc_der = &certs[1].0;
        let content = server_key_exchange_content(&s.client_random(), &s.server_random(), enc_der);
        assert_eq!(content.len(), 64 + 3 + enc_der.len());
        assert_eq!(content[64..67], u32::try_from(enc_der.len()).unwrap().to_be_bytes()[1..]);
        PROVIDER.verify(sign_key, SignatureScheme::Sm2Sm3, &content, sig).unwrap();

        // Bound to this handshake, this certificate and this key.
        let mut other = content.clone();
        other[0] ^= 1;
        assert!(PROVIDER.verify(sign_key, SignatureScheme::Sm2Sm3, &other, sig).is_err(), "{}", s.name);
        let signing_der = &certs[0].0;
        let wrong_cert = server_key_exchange_content(&s.client_random(), &s.server_random(), signing_der);
        assert!(PROVIDER.verify(sign_key, SignatureScheme::Sm2Sm3, &wrong_cert, sig).is_err(), "{}", s.name);
        let enc_key = certificate(s.name, "srv_enc");
        let enc_key = enc_key.public_key().unwrap();
        assert!(PROVIDER.verify(enc_key, SignatureScheme::Sm2Sm3, &content, sig).is_err(), "{}", s.name);
    }
}

#[test]
fn certificate_verify_signature_covers_the_transcript() {
    for s in Session::all() {
        let all = s.handshake_in_order();
        let cv = pos_of(&all, HandshakeType::CertificateVerify, 0);
        let HandshakePayload::CertificateVerify(sig) = &all[cv].message.payload else { panic!() };
        let cli = certificate(s.name, "cli_sign");
        let key = cli.public_key().unwrap();
        let th = s.transcript_hash(&all[..cv]);
        PROVIDER.verify(key, SignatureScheme::Sm2Sm3, &th, sig).unwrap();
        // Not over one message fewer, nor by the server's key.
        let short = s.transcript_hash(&all[..cv - 1]);
        assert!(PROVIDER.verify(key, SignatureScheme::Sm2Sm3, &short, sig).is_err(), "{}", s.name);
        let srv = certificate(s.name, "srv_sign");
        assert!(PROVIDER.verify(srv.public_key().unwrap(), SignatureScheme::Sm2Sm3, &th, sig).is_err());
    }
}

#[test]
fn every_protected_record_opens_and_both_finished_verify() {
    for s in Session::all() {
        let master = s.master();
        let all = s.handshake_in_order();

        let client_fin = pos_of(&all, HandshakeType::Finished, 0);
        let server_fin = pos_of(&all, HandshakeType::Finished, 1);
        assert_eq!(all[client_fin + 1].message.typ, HandshakeType::NewSessionTicket);
        assert_eq!(server_fin, client_fin + 2, "the ticket sits between the two Finished messages");

        for (at, label, key) in
            [(client_fin, CLIENT_FINISHED, "client_verify_data"), (server_fin, SERVER_FINISHED, "server_verify_data")]
        {
            let HandshakePayload::Finished(received) = all[at].message.payload else { panic!() };
            let th = s.transcript_hash(&all[..at]);
            let expected = prf::verify_data(&PROVIDER, s.hash(), &master, label, &th);
            assert_eq!(received, expected, "{}: {key}", s.name);
            let prepared = MasterSecret::new(&PROVIDER, s.hash(), Zeroizing::new(master));
            assert_eq!(prepared.verify_data(label, &th), received, "{}: {key} under the prepared key", s.name);
            assert_eq!(received.to_vec(), s.derived(key), "{}: {key}", s.name);
        }
        // Leaving the ticket out of the server's hash gives another value.
        let mut without_ticket: Vec<JoinedMessage> = all[..server_fin].to_vec();
        without_ticket.remove(client_fin + 1);
        let th = s.transcript_hash(&without_ticket);
        let HandshakePayload::Finished(server_vd) = all[server_fin].message.payload else { panic!() };
        assert_ne!(prf::verify_data(&PROVIDER, s.hash(), &master, SERVER_FINISHED, &th), server_vd);

        // Every record after each ChangeCipherSpec, in order, against the decrypted ones.
        let expected = s.transcript["application_records_decrypted"].as_array().unwrap();
        for dir in [Dir::C2s, Dir::S2c] {
            let opened = s.open_all(dir);
            assert_eq!(opened.len(), s.stream(dir).protected.len());
            let (first, rest) = opened.split_first().unwrap();
            assert_eq!(first.0, ContentType::Handshake, "{} {dir:?}: Finished first", s.name);
            let want: Vec<&Value> = expected.iter().filter(|e| e["dir"] == dir.name()).collect();
            assert_eq!(rest.len(), want.len(), "{} {dir:?}: records after Finished", s.name);
            for ((typ, plain), e) in rest.iter().zip(&want) {
                assert_eq!(typ.as_str(), e["type"].as_str(), "{} {dir:?}", s.name);
                assert_eq!(e["mac_ok"], true);
                assert_eq!(*plain, unhex(&e["plaintext_hex"]), "{} {dir:?}: {typ:?}", s.name);
                if *typ == ContentType::ApplicationData && !plain.is_empty() {
                    assert_eq!(plain.as_slice(), e["plaintext"].as_str().unwrap().as_bytes());
                }
            }
            // Each side ends with close_notify, and sent an empty record before its data.
            let (last_typ, last) = rest.last().unwrap();
            assert_eq!(*last_typ, ContentType::Alert);
            let alert = AlertMessage::read_bytes(last).unwrap();
            assert_eq!((alert.level, alert.description), (AlertLevel::Warning, AlertDescription::CloseNotify));
            assert_eq!(rest[0], (ContentType::ApplicationData, Vec::new()), "{} {dir:?}: empty record", s.name);
        }
        let data: Vec<Vec<u8>> = s.open_all(Dir::C2s).into_iter().map(|(_, p)| p).collect();
        assert_eq!(data[2], b"hello tlcp from tongsuo client\nCLOSE\n");
    }
}

/// An opener for `dir` that has already opened the first `n` protected records.
fn advanced(s: &Session, dir: Dir, n: usize) -> RecordOpener {
    let mut opener = s.opener(dir);
    for record in &s.stream(dir).protected[..n] {
        let mut fragment = record.payload.clone();
        opener.open(record.typ, &mut fragment).unwrap();
    }
    opener
}

#[test]
fn any_bit_flip_in_a_protected_record_fails_to_open() {
    for s in Session::all() {
        for dir in [Dir::C2s, Dir::S2c] {
            for (i, record) in s.stream(dir).protected.iter().enumerate() {
                for bit in 0..record.payload.len() * 8 {
                    let mut fragment = record.payload.clone();
                    fragment[bit / 8] ^= 1 << (bit % 8);
                    let mut opener = advanced(&s, dir, i);
                    assert!(
                        opener.open(record.typ, &mut fragment).is_err(),
                        "{} {dir:?} record {i}: flipped bit {bit} opened",
                        s.name
                    );
                }
                // Nor a truncated one, nor one with a byte added.
                for cut in [1, 16, record.payload.len()] {
                    let mut fragment = record.payload[..record.payload.len() - cut].to_vec();
                    assert!(advanced(&s, dir, i).open(record.typ, &mut fragment).is_err(), "{} cut {cut}", s.name);
                }
                let mut longer = record.payload.clone();
                longer.push(0);
                assert!(advanced(&s, dir, i).open(record.typ, &mut longer).is_err());
                // The content type and the sequence number are authenticated too.
                for typ in [ContentType::Handshake, ContentType::ApplicationData, ContentType::Alert] {
                    if typ != record.typ {
                        let mut fragment = record.payload.clone();
                        assert!(advanced(&s, dir, i).open(typ, &mut fragment).is_err(), "{} {typ:?}", s.name);
                    }
                }
                let n = s.stream(dir).protected.len();
                let mut fragment = record.payload.clone();
                assert!(advanced(&s, dir, (i + 1) % n).open(record.typ, &mut fragment).is_err(), "{} seq", s.name);
            }
        }
    }
}

#[test]
fn wrong_keys_fail_to_open() {
    for s in Session::all() {
        let kb = s.key_block();
        for dir in [Dir::C2s, Dir::S2c] {
            let record = &s.stream(dir).protected[0];
            // One bit of every byte of the key block: each key and IV of this direction
            // must matter (the CBC IVs of the key block are unused: each record carries its
            // own) and the other direction's must not.
            let (m, k, iv) = (s.params.mac_key_len, s.params.enc_key_len, s.params.fixed_iv_len);
            let mine = |byte: usize| -> bool {
                let side = if dir == Dir::C2s { 0 } else { 1 };
                let in_part = |start: usize, len: usize| byte >= start + side * len && byte < start + (side + 1) * len;
                in_part(0, m)
                    || in_part(2 * m, k)
                    || (s.params.bulk == BulkCipher::Sm4Gcm && in_part(2 * m + 2 * k, iv))
            };
            for byte in 0..kb.len() {
                let mut tampered = kb.clone();
                tampered[byte] ^= 0x80;
                let mut fragment = record.payload.clone();
                let opened = s.opener_from(&tampered, dir).open(record.typ, &mut fragment);
                assert_eq!(opened.is_err(), mine(byte), "{} {dir:?}: key block byte {byte}", s.name);
            }
            // The other direction's keys.
            let other = if dir == Dir::C2s { Dir::S2c } else { Dir::C2s };
            let mut fragment = record.payload.clone();
            assert!(s.opener(other).open(record.typ, &mut fragment).is_err(), "{} {dir:?}", s.name);
            // The key block of the other session's master secret and randoms.
            let (other_name, other_suite) = SESSIONS.iter().copied().find(|(n, _)| *n != s.name).unwrap();
            let foreign = Session::load(other_name, other_suite);
            let len = s.params.key_block_len();
            let (cr, sr) = (foreign.client_random(), foreign.server_random());
            let foreign_kb = prf::key_block(&PROVIDER, s.hash(), &foreign.master(), &cr, &sr, len);
            let mut fragment = record.payload.clone();
            assert!(s.opener_from(&foreign_kb, dir).open(record.typ, &mut fragment).is_err(), "{}", s.name);
        }
    }
}
