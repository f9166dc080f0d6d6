//! A hostile middle on the in-memory pair (the untrusted phone between band and center).
//!
//! Every flight is cut into records and handshake messages by parsing; for each message of
//! each flight, in the seed and the standard order, full and resumed, the middle flips a
//! bit, drops it, duplicates it, swaps it with its neighbour, truncates it, or replays the
//! same message from another session. Then the targeted attacks: stripping the strongest
//! suite or the seed_order request from the ClientHello, and replacing the
//! ClientKeyExchange with one the middle encrypted itself (the patent's flaw). Both ends
//! queue application data before the handshake; none may ever be delivered.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use wearpay_crypto::portable::PROVIDER;
use wearpay_pki::{Certificate, Role};
use wearpay_tlcp::codec::Codec;
use wearpay_tlcp::msgs::{
    AlertDescription, ClientExtension, ContentType, HandshakeMessage, HandshakePayload, HandshakeType,
};
use wearpay_tlcp::{CipherSuite, ClientConnection, Error, Profile, ServerConnection};

// ---- cutting flights into pieces ----

/// One piece of a flight: a plaintext handshake message (framed in its own record on the
/// way out), or a whole record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    typ: ContentType,
    bytes: Vec<u8>,
    /// A handshake message or a ChangeCipherSpec: something the middle attacks.
    unit: bool,
    /// A plaintext handshake message (type, u24 length, body).
    plain_handshake: bool,
}

/// Cuts a flight; `protected` is whether this direction has sent its ChangeCipherSpec.
fn decompose(flight: &[u8], protected: &mut bool) -> Vec<Piece> {
    let mut out = Vec::new();
    for r in records(flight) {
        match r.typ {
            ContentType::Handshake if !*protected => {
                for m in split_messages(&r.payload) {
                    out.push(Piece { typ: r.typ, bytes: m, unit: true, plain_handshake: true });
                }
            }
            ContentType::ChangeCipherSpec => {
                out.push(Piece { typ: r.typ, bytes: r.payload, unit: true, plain_handshake: false });
                *protected = true;
            }
            ContentType::Handshake => {
                out.push(Piece { typ: r.typ, bytes: r.payload, unit: true, plain_handshake: false })
            }
            _ => out.push(Piece { typ: r.typ, bytes: r.payload, unit: false, plain_handshake: false }),
        }
    }
    out
}

fn recompose(pieces: &[Piece]) -> Vec<u8> {
    encode_records(&pieces.iter().map(|p| Rec { typ: p.typ, payload: p.bytes.clone() }).collect::<Vec<_>>())
}

/// Where a bit is flipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pos {
    /// The first byte (a handshake message's type).
    Head,
    /// The middle of the body.
    Middle,
    /// The last byte.
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Attack {
    Flip(Pos),
    Drop,
    Duplicate,
    Reorder,
    Truncate,
    Replay,
}

const ATTACKS: [Attack; 8] = [
    Attack::Flip(Pos::Head),
    Attack::Flip(Pos::Middle),
    Attack::Flip(Pos::Last),
    Attack::Drop,
    Attack::Duplicate,
    Attack::Reorder,
    Attack::Truncate,
    Attack::Replay,
];

/// The byte a flip hits, or None when that position repeats another (tiny pieces).
fn flip_index(p: &Piece, pos: Pos) -> Option<(usize, u8)> {
    let len = p.bytes.len();
    let body = if p.plain_handshake { 4 } else { 0 };
    let (i, bit) = match pos {
        Pos::Head => (0, 0x01),
        // A handshake message's length field is left alone: the joiner would just wait.
        Pos::Middle if len > body => (body + (len - body) / 2, 0x10),
        Pos::Last if len > body => (len - 1, 0x80),
        _ => return None,
    };
    (pos == Pos::Head || i > 0).then_some((i, bit))
}

/// Applies `attack` to the `unit`-th unit of `pieces`. `other` is the same flight from
/// another session (for replay). Returns false when the attack does not apply (nothing to
/// swap with, a position that repeats another, a replay of identical bytes).
fn apply(attack: Attack, pieces: &mut Vec<Piece>, unit: usize, other: Option<&[Piece]>) -> bool {
    let units: Vec<usize> = pieces.iter().enumerate().filter(|(_, p)| p.unit).map(|(i, _)| i).collect();
    let at = units[unit];
    match attack {
        Attack::Flip(pos) => {
            let Some((i, bit)) = flip_index(&pieces[at], pos) else { return false };
            pieces[at].bytes[i] ^= bit;
        }
        Attack::Drop => {
            pieces.remove(at);
        }
        Attack::Duplicate => {
            let copy = pieces[at].clone();
            pieces.insert(at + 1, copy);
        }
        Attack::Reorder => {
            let Some(&with) = units.get(unit + 1).or(if unit > 0 { units.get(unit - 1) } else { None }) else {
                return false;
            };
            pieces.swap(at, with);
        }
        Attack::Truncate => {
            let p = &mut pieces[at];
            if p.plain_handshake && p.bytes.len() > 4 {
                // One byte short, the header's length fixed to match: the parser sees it.
                p.bytes.pop();
                let len = (p.bytes.len() - 4) as u32;
                p.bytes[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
            } else if p.plain_handshake {
                // Nothing but a header: cut into it.
                p.bytes.truncate(3);
            } else {
                p.bytes.pop();
            }
        }
        Attack::Replay => {
            let other_units: Vec<&Piece> = other.unwrap().iter().filter(|p| p.unit).collect();
            let replacement = other_units[unit];
            if replacement.bytes == pieces[at].bytes {
                return false;
            }
            pieces[at] = replacement.clone();
        }
    }
    true
}

// ---- running attacks ----

/// How a session is set up for attack: the profile, the suite, full or resumed.
#[derive(Debug, Clone, Copy)]
struct Setup {
    client: Profile,
    suite: CipherSuite,
    resumed: bool,
}

impl Setup {
    /// A fresh pair with data queued both ways; `other` uses another terminal (for
    /// replays). For a resumption, a clean full handshake first fills both stores.
    fn pair(&self, other: bool) -> (ClientConnection, ServerConnection) {
        let center = if self.suite.params().unwrap().key_exchange == wearpay_tlcp::KeyExchange::Rsa {
            rsa_center()
        } else {
            &pki().center
        };
        let mut sc = center_config(center, Profile::Auto);
        sc.suites = vec![self.suite];
        let sc = Arc::new(sc);
        let terminal = if other { &pki().terminal2 } else { &pki().terminal };
        let cc = Arc::new(terminal_config(terminal, self.client));
        if self.resumed {
            let mut c = ClientConnection::new(cc.clone(), NOW).unwrap();
            let mut s = ServerConnection::new(sc.clone());
            pump(&mut c, &mut s).unwrap();
            assert!(!c.is_handshaking());
        }
        let mut c = ClientConnection::new(cc, NOW).unwrap();
        let mut s = ServerConnection::new(sc);
        c.send_application_data(b"PAY 100.00 to merchant 7").unwrap();
        s.send_application_data(b"receipt 0001").unwrap();
        (c, s)
    }

    /// The flights of a clean session, cut into pieces.
    fn clean_flights(&self, other: bool) -> Vec<Vec<Piece>> {
        let (mut c, mut s) = self.pair(other);
        let flights = record_flights(&mut c, &mut s);
        assert!(c.error().is_none() && s.error().is_none(), "{:?} {:?}", c.error(), s.error());
        assert_eq!(completed(&events_client(&mut c)).resumed, self.resumed);
        let mut protected = [false, false];
        flights.iter().map(|(d, f)| decompose(f, &mut protected[usize::from(*d == Dir::ServerToClient)])).collect()
    }
}

/// How an attacked session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// One end detected it (the alert it sent); the other received that alert.
    Refused { detected_by: &'static str, alert: AlertDescription },
    /// Both ends detected it on their own (their alerts crossed).
    BothDetected { client: AlertDescription, server: AlertDescription },
    /// Nothing arrived to detect (the last message of a flight went missing): neither end
    /// completed; the transport's timeout ends it.
    Stalled,
}

/// Runs one attacked session and checks the rules: no application data delivered; either
/// one end failed with a fatal alert that the other received, or (only for a missing or cut
/// last message) both still wait.
fn attacked(
    setup: &Setup,
    flight: usize,
    unit: usize,
    attack: Attack,
    other: &[Vec<Piece>],
) -> Option<(Outcome, Option<Error>, Option<Error>)> {
    let (mut c, mut s) = setup.pair(false);
    let mut protected = [false, false];
    let mut applied = None;
    let mut last_unit = false;
    drive(&mut c, &mut s, NOW, &mut |dir, idx, bytes| {
        let mut pieces = decompose(&bytes, &mut protected[usize::from(dir == Dir::ServerToClient)]);
        if idx == flight {
            let after = pieces.iter().filter(|p| p.unit).count();
            last_unit = unit + 1 == after && pieces.last().is_some_and(|p| p.unit);
            applied = Some(apply(attack, &mut pieces, unit, other.get(flight).map(Vec::as_slice)));
        }
        recompose(&pieces)
    });
    assert!(applied.is_some(), "flight {flight} never came");
    if applied == Some(false) {
        return None;
    }
    let what = format!("{setup:?} flight {flight} unit {unit} {attack:?}");
    let (at_client, at_server) = (drain_client(&mut c), drain_server(&mut s));
    assert!(at_client.is_empty() && at_server.is_empty(), "{what}: data delivered {at_client:?} {at_server:?}");
    let (ce, se) = (c.error().cloned(), s.error().cloned());
    let outcome = match (&ce, &se) {
        (Some(Error::AlertReceived(a)), Some(e)) if e.alert() == Some(*a) => {
            Outcome::Refused { detected_by: "server", alert: *a }
        }
        (Some(e), Some(Error::AlertReceived(a))) if e.alert() == Some(*a) => {
            Outcome::Refused { detected_by: "client", alert: *a }
        }
        (Some(a), Some(b)) if a.alert().is_some() && b.alert().is_some() => {
            Outcome::BothDetected { client: a.alert().unwrap(), server: b.alert().unwrap() }
        }
        (None, None) => {
            assert!(
                matches!(attack, Attack::Drop | Attack::Truncate) && last_unit,
                "{what}: undetected, though something followed"
            );
            assert!(c.is_handshaking() && s.is_handshaking(), "{what}: an end completed");
            Outcome::Stalled
        }
        _ => panic!("{what}: client {ce:?}, server {se:?}"),
    };
    Some((outcome, ce, se))
}

/// Every attack on every unit of every flight of `setup`; returns a tally for the log.
fn every_attack(setup: Setup) -> BTreeMap<String, usize> {
    let clean = setup.clean_flights(false);
    let other = setup.clean_flights(true);
    assert_eq!(clean.len(), other.len());
    let mut tally = BTreeMap::new();
    let mut runs = 0;
    for (f, pieces) in clean.iter().enumerate() {
        let units = pieces.iter().filter(|p| p.unit).count();
        for u in 0..units {
            for attack in ATTACKS {
                let Some((outcome, ce, se)) = attacked(&setup, f, u, attack, &other) else {
                    // Nothing to swap with, a repeated position, or a replay of bytes that are
                    // the same in every session (the center's certificates, a CCS).
                    *tally.entry(String::from("not applicable")).or_default() += 1;
                    continue;
                };
                runs += 1;
                let key = match &outcome {
                    Outcome::Refused { detected_by, alert } => format!("{detected_by} sent {alert:?}"),
                    Outcome::BothDetected { client, server } => format!("client sent {client:?}, server {server:?}"),
                    Outcome::Stalled => String::from("stalled"),
                };
                *tally.entry(key).or_default() += 1;
                // Failures are typed: which error of the detecting end produced the alert.
                if let Some(e) = ce.iter().chain(se.iter()).find(|e| e.alert().is_some()) {
                    *tally.entry(format!("  {}", short(e))).or_default() += 1;
                }
                if std::env::var_os("HOSTILE_LOG").is_some() {
                    eprintln!("flight {f} unit {u} {attack:?}: {outcome:?} client {ce:?} server {se:?}");
                }
            }
        }
    }
    assert!(runs >= 30, "{setup:?}: only {runs} attacked sessions");
    eprintln!("{setup:?}: {runs} attacked sessions: {tally:#?}");
    tally
}

/// An error's variant, one level deep: `Certificate(Missing)`, `BadSignature`.
fn short(e: &Error) -> String {
    let text = format!("{e:?}");
    let cut = |t: &str| t.split(['(', ' ', '{']).next().unwrap().to_string();
    match e {
        Error::Certificate(inner) => format!("Certificate({})", cut(&format!("{inner:?}"))),
        Error::BadSignature(what) => format!("BadSignature({what})"),
        _ => cut(&text),
    }
}

fn setup(client: Profile, suite: CipherSuite, resumed: bool) -> Setup {
    Setup { client, suite, resumed }
}

#[test]
fn every_message_attacked_seed_order_gcm() {
    let t = every_attack(setup(Profile::Seed, CipherSuite::ECC_SM4_GCM_SM3, false));
    assert!(t.contains_key("server sent DecryptError") && t.contains_key("client sent BadRecordMac"));
}

#[test]
fn every_message_attacked_standard_order_gcm() {
    let t = every_attack(setup(Profile::Tlcp, CipherSuite::ECC_SM4_GCM_SM3, false));
    assert!(t.contains_key("server sent DecryptError") && t.contains_key("server sent BadRecordMac"));
}

#[test]
fn every_message_attacked_seed_order_cbc() {
    every_attack(setup(Profile::Seed, CipherSuite::ECC_SM4_CBC_SM3, false));
}

#[test]
fn every_message_attacked_standard_order_cbc() {
    every_attack(setup(Profile::Tlcp, CipherSuite::ECC_SM4_CBC_SM3, false));
}

#[test]
fn every_message_attacked_rsa() {
    every_attack(setup(Profile::Seed, CipherSuite::RSA_SM4_CBC_SHA256, false));
    every_attack(setup(Profile::Tlcp, CipherSuite::RSA_SM4_GCM_SM3, false));
}

#[test]
fn every_message_attacked_on_resumption() {
    every_attack(setup(Profile::Seed, CipherSuite::ECC_SM4_GCM_SM3, true));
    every_attack(setup(Profile::Tlcp, CipherSuite::ECC_SM4_CBC_SM3, true));
}

// ---- targeted attacks ----

/// Runs a pair through a middle that may edit each flight's pieces; returns the flights as
/// delivered.
fn intercept(
    c: &mut ClientConnection,
    s: &mut ServerConnection,
    mut edit: impl FnMut(usize, &mut Vec<Piece>),
) -> Vec<(Dir, Vec<Piece>)> {
    let mut protected = [false, false];
    let mut seen = Vec::new();
    drive(c, s, NOW, &mut |dir, idx, bytes| {
        let mut pieces = decompose(&bytes, &mut protected[usize::from(dir == Dir::ServerToClient)]);
        edit(idx, &mut pieces);
        seen.push((dir, pieces.clone()));
        recompose(&pieces)
    });
    seen
}

fn message(p: &Piece) -> HandshakeMessage {
    assert!(p.plain_handshake);
    HandshakeMessage::read_bytes(&p.bytes).unwrap()
}

fn encoded(m: &HandshakePayload) -> Vec<u8> {
    let mut out = Vec::new();
    HandshakeMessage::new(m.clone()).encode(&mut out);
    out
}

/// Rewrites the ClientHello in flight 0.
fn edit_client_hello(pieces: &mut [Piece], f: impl FnOnce(&mut wearpay_tlcp::msgs::ClientHelloPayload)) {
    let HandshakePayload::ClientHello(mut ch) = message(&pieces[0]).payload else { panic!("not a ClientHello") };
    f(&mut ch);
    pieces[0].bytes = encoded(&HandshakePayload::ClientHello(ch));
}

/// Checks the common rule and returns both errors.
fn no_data_both_failed(c: &mut ClientConnection, s: &mut ServerConnection) -> (Error, Error) {
    assert!(drain_client(c).is_empty() && drain_server(s).is_empty(), "application data was delivered");
    (c.error().cloned().expect("the client failed"), s.error().cloned().expect("the server failed"))
}

/// F3 downgrade: the middle strips the strongest suite. The center picks the next one, but
/// its transcript now differs from the terminal's: the terminal's CertificateVerify (which
/// covers the ClientHello) fails at the center; on a resumption, the Finished would.
#[test]
fn stripping_the_strongest_suite_is_detected() {
    for client in [Profile::Seed, Profile::Tlcp] {
        for resumed in [false, true] {
            let setup = setup(client, CipherSuite::ECC_SM4_GCM_SM3, resumed);
            let (mut c, mut s) = {
                // Both suites allowed at the center, so that it has something to fall to.
                let mut sc = center_config(&pki().center, Profile::Auto);
                sc.suites = vec![CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::ECC_SM4_CBC_SM3];
                let sc = Arc::new(sc);
                let cc = Arc::new(terminal_config(&pki().terminal, setup.client));
                if resumed {
                    let (mut c, mut s) =
                        (ClientConnection::new(cc.clone(), NOW).unwrap(), ServerConnection::new(sc.clone()));
                    pump(&mut c, &mut s).unwrap();
                }
                let mut c = ClientConnection::new(cc, NOW).unwrap();
                c.send_application_data(b"PAY").unwrap();
                (c, ServerConnection::new(sc))
            };
            let flights = intercept(&mut c, &mut s, |idx, pieces| {
                if idx == 0 {
                    edit_client_hello(pieces, |ch| {
                        assert_eq!(ch.cipher_suites.remove(0), CipherSuite::ECC_SM4_GCM_SM3);
                    });
                }
            });
            // The center did take the bait.
            let HandshakePayload::ServerHello(sh) = message(&flights[1].1[0]).payload else { panic!() };
            assert_eq!(sh.cipher_suite, CipherSuite::ECC_SM4_CBC_SM3);
            let (ce, se) = no_data_both_failed(&mut c, &mut s);
            // The stripped hello cannot resume a GCM session: a full handshake, refused at
            // the terminal's signature over the transcript.
            assert_eq!(se, Error::BadSignature("CertificateVerify"), "{client:?} resumed={resumed}");
            assert_eq!(ce, Error::AlertReceived(AlertDescription::DecryptError));
        }
    }
}

/// The seed-order request cannot be stripped unnoticed. A seed terminal aborts at once; an
/// auto terminal falls back to the standard order, and the transcripts differ: the center
/// refuses the terminal's CertificateVerify (full handshake) or the terminal refuses the
/// center's Finished (resumption).
#[test]
fn stripping_the_seed_order_request_is_detected() {
    let strip = |idx: usize, pieces: &mut Vec<Piece>| {
        if idx == 0 {
            edit_client_hello(pieces, |ch| {
                let before = ch.extensions.len();
                ch.extensions.retain(|e| *e != ClientExtension::SeedOrder);
                assert_eq!(ch.extensions.len(), before - 1);
            });
        }
    };
    // Seed: the terminal sees no echo and aborts.
    let (mut c, mut s) = setup(Profile::Seed, CipherSuite::ECC_SM4_GCM_SM3, false).pair(false);
    intercept(&mut c, &mut s, strip);
    let (ce, se) = no_data_both_failed(&mut c, &mut s);
    assert_eq!(ce, Error::SeedOrderRefused);
    assert_eq!(se, Error::AlertReceived(AlertDescription::HandshakeFailure));

    // Auto, full handshake: the standard order is used, and the signature over the
    // transcript (which holds the original hello) fails at the center.
    let (mut c, mut s) = setup(Profile::Auto, CipherSuite::ECC_SM4_GCM_SM3, false).pair(false);
    let flights = intercept(&mut c, &mut s, strip);
    let HandshakePayload::ServerHello(sh) = message(&flights[1].1[0]).payload else { panic!() };
    assert!(sh.find_extension(wearpay_tlcp::msgs::ExtensionType::SeedOrder).is_none());
    let (ce, se) = no_data_both_failed(&mut c, &mut s);
    assert_eq!(se, Error::BadSignature("CertificateVerify"));
    assert_eq!(ce, Error::AlertReceived(AlertDescription::DecryptError));

    // Auto, resumption (no CertificateVerify): the center's Finished covers the stripped
    // hello, the terminal's check covers the original: Finished mismatch.
    let (mut c, mut s) = setup(Profile::Auto, CipherSuite::ECC_SM4_GCM_SM3, true).pair(false);
    intercept(&mut c, &mut s, strip);
    let (ce, se) = no_data_both_failed(&mut c, &mut s);
    assert_eq!(ce, Error::BadFinished);
    assert_eq!(ce.alert(), Some(AlertDescription::DecryptError));
    assert_eq!(se, Error::AlertReceived(AlertDescription::DecryptError));
}

/// The center's encryption key, read from its Certificate message as the middle sees it.
fn center_enc_key(pieces: &[Piece]) -> wearpay_crypto::PublicKey {
    let cert = pieces
        .iter()
        .filter(|p| p.plain_handshake)
        .find_map(|p| match message(p).payload {
            HandshakePayload::Certificate(certs) => Some(certs[1].clone()),
            _ => None,
        })
        .unwrap();
    Certificate::from_der(&cert.0).unwrap().public_key().unwrap().clone()
}

/// The patent's flaw, fixed: the middle replaces the ClientKeyExchange with a pre-master
/// secret of its own, encrypted to the center's encryption certificate. As the patent
/// writes F6, the terminal's signature would not cover it and the middle would share the
/// keys; here it covers the whole transcript, so the center refuses it with decrypt_error.
#[test]
fn a_client_key_exchange_swapped_by_the_middle_fails_at_certificate_verify() {
    for (client, suite) in [
        (Profile::Seed, CipherSuite::ECC_SM4_GCM_SM3),
        (Profile::Tlcp, CipherSuite::ECC_SM4_CBC_SM3),
        (Profile::Seed, CipherSuite::RSA_SM4_GCM_SM3),
        (Profile::Tlcp, CipherSuite::RSA_SM4_CBC_SHA256),
    ] {
        let (mut c, mut s) = setup(client, suite, false).pair(false);
        let mut enc_key = None;
        let mut swapped = false;
        intercept(&mut c, &mut s, |idx, pieces| match idx {
            1 => enc_key = Some(center_enc_key(pieces)),
            2 => {
                let at = pieces
                    .iter()
                    .position(|p| p.plain_handshake && p.bytes[0] == u8::from(HandshakeType::ClientKeyExchange))
                    .unwrap();
                let mut pre_master = [0u8; 48];
                pre_master[..2].copy_from_slice(&[1, 1]);
                PROVIDER.fill_random(&mut pre_master[2..]).unwrap();
                let ct = PROVIDER.encrypt(enc_key.as_ref().unwrap(), &pre_master).unwrap();
                pieces[at].bytes = encoded(&HandshakePayload::ClientKeyExchange(ct));
                swapped = true;
            }
            _ => {}
        });
        assert!(swapped);
        let (ce, se) = no_data_both_failed(&mut c, &mut s);
        assert_eq!(se, Error::BadSignature("CertificateVerify"), "{client:?} {suite:?}");
        assert_eq!(se.alert(), Some(AlertDescription::DecryptError));
        assert_eq!(ce, Error::AlertReceived(AlertDescription::DecryptError));
    }
}

/// A ClientKeyExchange the center cannot decrypt (the terminal encrypted to a key that is
/// not the center's: SM2's C3 check fails, or RSA's padding) is no decryption oracle: the
/// center goes on with a random pre-master secret, accepts the CertificateVerify (it covers
/// the same bytes at both ends) and fails only at the Finished stage. The Finished travels
/// in a protected record under keys from that secret, so the failure shows as
/// bad_record_mac when that record is opened (a decrypt_error would need the record to
/// open, i.e. equal keys).
#[test]
fn an_undecryptable_client_key_exchange_fails_only_at_finished() {
    let (rsa_sign, rsa_enc) = rsa_keys();
    let sm2_wrong = sm2_key();
    let subject = format!("CN={SERVER_NAME},O=wearpay center");
    let ca = &pki().ca;
    // Centers whose encryption certificate is for another key than the one they decrypt with.
    let sm2_center = Identity { enc_cert: ca.issue(Role::CenterEnc, &subject, &*sm2_wrong), ..pki().center.clone() };
    let rsa_center = Identity {
        enc_cert: ca.issue(Role::CenterEnc, &subject, &**rsa_sign),
        enc_key: rsa_enc.clone(),
        ..rsa_center().clone()
    };
    for (center, suite) in [(&sm2_center, CipherSuite::ECC_SM4_GCM_SM3), (&rsa_center, CipherSuite::RSA_SM4_CBC_SM3)] {
        for client in [Profile::Seed, Profile::Tlcp] {
            let mut sc = center_config(center, Profile::Auto);
            sc.suites = vec![suite];
            let mut c = ClientConnection::new(Arc::new(terminal_config(&pki().terminal, client)), NOW).unwrap();
            let mut s = ServerConnection::new(Arc::new(sc));
            c.send_application_data(b"PAY").unwrap();
            s.send_application_data(b"receipt").unwrap();
            let flights = intercept(&mut c, &mut s, |_, _| {});
            let (ce, se) = no_data_both_failed(&mut c, &mut s);
            let types = |f: usize| flights[f].1.iter().map(|p| p.typ).collect::<Vec<_>>();
            let what = format!("{suite:?} {client:?}");
            match client {
                Profile::Seed => {
                    // The center went on past the ClientKeyExchange and CertificateVerify
                    // and sent its ChangeCipherSpec and Finished, no alert.
                    assert_eq!(types(3), [ContentType::ChangeCipherSpec, ContentType::Handshake], "{what}");
                    assert_eq!(ce, Error::BadRecordMac, "{what}");
                    assert_eq!(se, Error::AlertReceived(AlertDescription::BadRecordMac), "{what}");
                }
                _ => {
                    // The terminal's whole second flight, Finished included, drew only the
                    // center's alert, raised when the Finished record was opened.
                    assert_eq!(types(2).len(), 5, "{what}");
                    assert_eq!(types(3), [ContentType::Alert], "{what}");
                    assert_eq!(flights[3].1[0].bytes, fatal(AlertDescription::BadRecordMac), "{what}");
                    assert_eq!(se, Error::BadRecordMac, "{what}");
                    assert_eq!(ce, Error::AlertReceived(AlertDescription::BadRecordMac), "{what}");
                }
            }
            let done = |e: &wearpay_tlcp::Event| matches!(e, wearpay_tlcp::Event::HandshakeComplete(_));
            assert!(!events_client(&mut c).iter().any(done) && !events_server(&mut s).iter().any(done), "{what}");
        }
    }
}

// ---- the record layer ----

/// An established pair of `suite` (seed order, optionally a negotiated fragment limit),
/// with the writers that let the test speak for either end and their next sequence numbers.
fn established(
    center: &Identity,
    suite: CipherSuite,
    mfl: Option<usize>,
) -> (ClientConnection, ServerConnection, (Writer, u64), (Writer, u64)) {
    let mut sc = center_config(center, Profile::Auto);
    sc.suites = vec![suite];
    let mut cc = terminal_config(&pki().terminal, Profile::Seed);
    cc.max_fragment_length = mfl.map(|l| wearpay_tlcp::msgs::MaxFragmentLength::from_max_len(l).unwrap());
    let cc = Arc::new(cc);
    let mut c = ClientConnection::new(cc.clone(), NOW).unwrap();
    let mut s = ServerConnection::new(Arc::new(sc));
    let flights = record_flights(&mut c, &mut s);
    assert!(!c.is_handshaking() && !s.is_handshaking());
    let (cw, sw) = session_writers(&cc, &flights);
    let (cs, ss) = (sent_after_ccs(&flights, Dir::ClientToServer), sent_after_ccs(&flights, Dir::ServerToClient));
    (c, s, (cw, cs), (sw, ss))
}

/// Lucky Thirteen's distinguisher, at the protocol level: a CBC record with a bad MAC and
/// one with bad padding (under a correct MAC) end the same way, bad_record_mac, with the
/// same alert record. A correct record sealed the same way is accepted, which shows the
/// test's own sealing is right.
#[test]
fn cbc_bad_padding_and_bad_mac_are_one_bad_record_mac() {
    for suite in [CipherSuite::ECC_SM4_CBC_SM3, CipherSuite::RSA_SM4_CBC_SHA256] {
        let mut alerts = Vec::new();
        for spoil in [Spoil::Nothing, Spoil::Mac, Spoil::Padding] {
            // The RSA center for the SHA-256 MAC.
            let center = if suite == CipherSuite::ECC_SM4_CBC_SM3 { &pki().center } else { rsa_center() };
            let (mut c, mut s, (cw, cseq), (sw, sseq)) = established(center, suite, None);
            let rec = cw.seal_spoiled(cseq, ContentType::ApplicationData, b"PAY 100.00 to merchant 7", spoil);
            let result = s.handle_input(&encode_records(&[rec]), NOW);
            if spoil == Spoil::Nothing {
                result.unwrap();
                assert_eq!(drain_server(&mut s), vec![b"PAY 100.00 to merchant 7".to_vec()]);
                continue;
            }
            assert_eq!(result, Err(Error::BadRecordMac), "{suite:?} {spoil:?}");
            let out = records(&s.take_output());
            assert_eq!(out.len(), 1);
            assert_eq!(sw.open(sseq, &out[0]), fatal(AlertDescription::BadRecordMac));
            alerts.push(out[0].payload.len());
            c.handle_input(&encode_records(&out), NOW).unwrap_err();
            assert_eq!(c.error(), Some(&Error::AlertReceived(AlertDescription::BadRecordMac)));
        }
        assert_eq!(alerts[0], alerts[1], "the two alerts look alike on the wire");
    }
}

/// record_overflow: a plaintext record over 2^14 before the handshake, a record header
/// announcing more than any ciphertext may hold, and, with a negotiated 512-byte limit,
/// a protected record of 513 bytes at either end (512 passes).
#[test]
fn oversize_records_are_record_overflow() {
    // 2^14 + 1 bytes of plaintext handshake.
    let mut s = ServerConnection::new(Arc::new(center_config(&pki().center, Profile::Auto)));
    let big = Rec { typ: ContentType::Handshake, payload: vec![0; 16385] };
    assert_eq!(s.handle_input(&encode_records(&[big]), NOW), Err(Error::RecordOverflow));
    assert_eq!(
        records(&s.take_output()),
        [Rec { typ: ContentType::Alert, payload: fatal(AlertDescription::RecordOverflow) }]
    );

    // A header announcing 2^14 + 2049 bytes is refused on sight.
    let mut s = ServerConnection::new(Arc::new(center_config(&pki().center, Profile::Auto)));
    let header = [22, 1, 1, 0x48, 0x01];
    let e = s.handle_input(&header, NOW).unwrap_err();
    assert_eq!(e.alert(), Some(AlertDescription::RecordOverflow), "{e:?}");
    assert_eq!(
        records(&s.take_output()),
        [Rec { typ: ContentType::Alert, payload: fatal(AlertDescription::RecordOverflow) }]
    );

    // Over a negotiated max_fragment_length of 512, both ways.
    for to_server in [true, false] {
        let (mut c, mut s, (cw, cseq), (sw, sseq)) =
            established(&pki().center, CipherSuite::ECC_SM4_GCM_SM3, Some(512));
        let (w, seq) = if to_server { (&cw, cseq) } else { (&sw, sseq) };
        let ok = w.seal(seq, ContentType::ApplicationData, &[7; 512]);
        let over = w.seal(seq + 1, ContentType::ApplicationData, &[7; 513]);
        let input = encode_records(&[ok, over]);
        let (e, delivered) = if to_server {
            (s.handle_input(&input, NOW).unwrap_err(), drain_server(&mut s))
        } else {
            (c.handle_input(&input, NOW).unwrap_err(), drain_client(&mut c))
        };
        assert_eq!(e, Error::RecordOverflow);
        assert_eq!(delivered, vec![vec![7; 512]]);
        // The alert reaches the other end.
        if to_server {
            c.handle_input(&s.take_output(), NOW).unwrap_err();
            assert_eq!(c.error(), Some(&Error::AlertReceived(AlertDescription::RecordOverflow)));
        } else {
            s.handle_input(&c.take_output(), NOW).unwrap_err();
            assert_eq!(s.error(), Some(&Error::AlertReceived(AlertDescription::RecordOverflow)));
        }
    }
}

// ---- hellos the middle rewrites ----

/// Rewrites the ServerHello (flight 1) with `f` and runs the pair; returns both errors.
fn with_server_hello(
    client: wearpay_tlcp::ClientConfig,
    f: impl Fn(&mut wearpay_tlcp::msgs::ServerHelloPayload),
) -> (Error, Error) {
    let mut c = ClientConnection::new(Arc::new(client), NOW).unwrap();
    let mut s = ServerConnection::new(Arc::new(center_config(&pki().center, Profile::Auto)));
    c.send_application_data(b"PAY").unwrap();
    intercept(&mut c, &mut s, |idx, pieces| {
        if idx == 1 {
            let HandshakePayload::ServerHello(mut sh) = message(&pieces[0]).payload else { panic!() };
            f(&mut sh);
            pieces[0].bytes = encoded(&HandshakePayload::ServerHello(sh));
        }
    });
    no_data_both_failed(&mut c, &mut s)
}

/// The terminal checks the ServerHello before anything else does: a suite it did not
/// offer, an extension it did not ask for, a fragment limit it did not ask for, another
/// version; and a suite whose key exchange the center's certificate cannot serve.
#[test]
fn a_rewritten_server_hello_gets_the_right_alert() {
    use wearpay_tlcp::msgs::{MaxFragmentLength, ProtocolVersion, ServerExtension};
    let gcm_only = || {
        let mut cc = terminal_config(&pki().terminal, Profile::Seed);
        cc.suites = vec![CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::RSA_SM4_GCM_SM3];
        cc
    };
    type Rewrite = Box<dyn Fn(&mut wearpay_tlcp::msgs::ServerHelloPayload)>;
    let cases: Vec<(&str, Rewrite, AlertDescription)> = vec![
        (
            "suite not offered",
            Box::new(|sh| sh.cipher_suite = CipherSuite::ECC_SM4_CBC_SM3),
            AlertDescription::IllegalParameter,
        ),
        (
            "unsolicited session ticket",
            Box::new(|sh| sh.extensions.push(ServerExtension::SessionTicketAck)),
            AlertDescription::UnsupportedExtension,
        ),
        (
            "unsolicited max_fragment_length",
            Box::new(|sh| sh.extensions.push(ServerExtension::MaxFragmentLength(MaxFragmentLength::Pow9))),
            AlertDescription::IllegalParameter,
        ),
        (
            "TLS 1.2",
            Box::new(|sh| sh.server_version = ProtocolVersion::from(0x0303)),
            AlertDescription::ProtocolVersion,
        ),
        (
            "RSA suite, SM2 certificate",
            Box::new(|sh| sh.cipher_suite = CipherSuite::RSA_SM4_GCM_SM3),
            AlertDescription::UnsupportedCertificate,
        ),
    ];
    for (what, f, alert) in cases {
        let (ce, se) = with_server_hello(gcm_only(), f);
        assert_eq!(ce.alert(), Some(alert), "{what}: {ce:?}");
        assert_eq!(se, Error::AlertReceived(alert), "{what}");
    }
}

/// The center checks the ClientHello: another version is protocol_version, a second
/// ClientHello where the terminal's Certificate belongs is unexpected_message (not a
/// missing certificate).
#[test]
fn a_rewritten_or_repeated_client_hello_gets_the_right_alert() {
    use wearpay_tlcp::msgs::ProtocolVersion;
    let (mut c, mut s) = setup(Profile::Seed, CipherSuite::ECC_SM4_GCM_SM3, false).pair(false);
    intercept(&mut c, &mut s, |idx, pieces| {
        if idx == 0 {
            edit_client_hello(pieces, |ch| ch.client_version = ProtocolVersion::from(0x0303));
        }
    });
    let (ce, se) = no_data_both_failed(&mut c, &mut s);
    assert_eq!(se, Error::ProtocolVersion);
    assert_eq!(ce, Error::AlertReceived(AlertDescription::ProtocolVersion));

    let (mut c, mut s) = setup(Profile::Seed, CipherSuite::ECC_SM4_GCM_SM3, false).pair(false);
    intercept(&mut c, &mut s, |idx, pieces| {
        if idx == 0 {
            let again = pieces[0].clone();
            pieces.push(again);
        }
    });
    let (ce, se) = no_data_both_failed(&mut c, &mut s);
    assert!(matches!(se, Error::UnexpectedMessage { expected: "Certificate", .. }), "{se:?}");
    assert_eq!(ce, Error::AlertReceived(AlertDescription::UnexpectedMessage));
}
