//! Client and server in memory: every suite, every profile pairing, full and resumed, with
//! real keys and certificates, application data up to 1 MiB, record boundaries around 2^14
//! and small negotiated fragments; profile interplay, suite choice, renegotiation,
//! close_notify and session resumption policy.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use common::*;
use wearpay_crypto::{KeyAlgorithm, portable::PROVIDER};
use wearpay_pki::{Role, UnixTime};
use wearpay_tlcp::codec::Codec;
use wearpay_tlcp::msgs::{
    AlertDescription, ClientHelloPayload, ContentType, HandshakeMessage, HandshakePayload, MaxFragmentLength,
    ServerExtension,
};
use wearpay_tlcp::session::{MemorySessionStore, SessionStore};
use wearpay_tlcp::verify::{CertError, ClientCertVerifier, PeerIdentity};
use wearpay_tlcp::{
    CipherSuite, ClientConfig, ClientConnection, DEFAULT_SUITES, Error, Event, NegotiatedOrder, PkiClientVerifier,
    Profile, SM1_SUITES, ServerConfig, ServerConnection,
};

/// The center that serves `suite`: SM2 keys for the ECC suites, RSA keys for the RSA ones.
fn center_for(suite: CipherSuite) -> &'static Identity {
    if suite.params().unwrap().key_exchange == wearpay_tlcp::KeyExchange::Rsa { rsa_center() } else { &pki().center }
}

/// Deterministic test data of `len` bytes, different per `tag`.
fn data(len: usize, tag: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag) ^ (i >> 8) as u8).collect()
}

/// Sends `len` bytes each way on an established pair and checks they arrive intact. Returns
/// the plaintext length of each record received by the server and by the client.
fn exchange(c: &mut ClientConnection, s: &mut ServerConnection, len: usize) -> (Vec<usize>, Vec<usize>) {
    let up = data(len, 1);
    let down = data(len, 2);
    c.send_application_data(&up).unwrap();
    s.send_application_data(&down).unwrap();
    pump(c, s).unwrap();
    let at_server = drain_server(s);
    let at_client = drain_client(c);
    assert_eq!(at_server.concat(), up, "client to server, {len} bytes");
    assert_eq!(at_client.concat(), down, "server to client, {len} bytes");
    (at_server.iter().map(Vec::len).collect(), at_client.iter().map(Vec::len).collect())
}

/// A full handshake or a resumption between `cc` and `sc`: checks both summaries and the
/// exporter, and returns the established pair.
fn handshake(
    cc: &Arc<ClientConfig>,
    sc: &Arc<ServerConfig>,
    suite: CipherSuite,
    order: NegotiatedOrder,
    resumed: bool,
) -> (ClientConnection, ServerConnection) {
    let mut c = ClientConnection::new(cc.clone(), NOW).unwrap();
    let mut s = ServerConnection::new(sc.clone());
    pump(&mut c, &mut s).unwrap_or_else(|e| panic!("{suite:?} {order:?} resumed={resumed}: {e}"));
    let cs = completed(&events_client(&mut c));
    let ss = completed(&events_server(&mut s));
    for (who, sum) in [("client", &cs), ("server", &ss)] {
        assert_eq!(sum.suite, suite, "{who}");
        assert_eq!(sum.order, order, "{who} {suite:?}");
        assert_eq!(sum.resumed, resumed, "{who} {suite:?} {order:?}");
    }
    assert_eq!(cs.session_id, ss.session_id);
    assert_eq!(cs.session_id.len(), 32);
    let terminal = wearpay_pki::Certificate::from_der(&cc.cert_chain[0].0).unwrap();
    assert_eq!(ss.peer_subject, terminal.subject().to_string());
    assert_eq!(s.peer().unwrap().serial, terminal.serial());
    if !resumed {
        assert!(cs.peer_subject.contains(SERVER_NAME), "{}", cs.peer_subject);
    }
    let (mut a, mut b) = ([0u8; 40], [0u8; 40]);
    c.export_keying_material(b"EXPORTER-wearpay", Some(b"order 42"), &mut a).unwrap();
    s.export_keying_material(b"EXPORTER-wearpay", Some(b"order 42"), &mut b).unwrap();
    assert_eq!(a, b);
    (c, s)
}

/// The Tongsuo vector certificates (as deployed stacks issue them) on both ends: seed
/// order, full then resumed, data both ways, equal exporters.
#[test]
fn tongsuo_vector_certificates_full_then_resumed() {
    let server_cfg = Arc::new(server_config(Profile::Auto));
    let client_cfg = Arc::new(client_config(Profile::Seed));
    for round in 0..2 {
        let mut c = ClientConnection::new(client_cfg.clone(), NOW).unwrap();
        let mut s = ServerConnection::new(server_cfg.clone());
        c.send_application_data(b"OrderQuery").unwrap();
        pump(&mut c, &mut s).unwrap();
        let summary = completed(&events_client(&mut c));
        assert_eq!(summary.order, NegotiatedOrder::Seed);
        assert_eq!(summary.suite, CipherSuite::ECC_SM4_GCM_SM3);
        assert_eq!(summary.resumed, round == 1);
        // The center is named on resumption too, from the stored session.
        assert!(summary.peer_subject.contains("CN=localhost"), "{summary:?}");
        assert_eq!(s.read_application_data().unwrap(), b"OrderQuery");
        s.send_application_data(b"Order").unwrap();
        pump(&mut c, &mut s).unwrap();
        assert_eq!(c.read_application_data().unwrap(), b"Order");
        assert!(s.peer().unwrap().subject.contains("Interop TLCP Client"));
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        c.export_keying_material(b"wearpay test", Some(b"ctx"), &mut a).unwrap();
        s.export_keying_material(b"wearpay test", Some(b"ctx"), &mut b).unwrap();
        assert_eq!(a, b);
    }
}

/// The order a client and a center of these profiles agree on, if they agree.
fn expected_order(client: Profile, server: Profile) -> NegotiatedOrder {
    match (client, server) {
        (Profile::Tlcp, _) | (_, Profile::Tlcp) => NegotiatedOrder::Tlcp,
        _ => NegotiatedOrder::Seed,
    }
}

/// Every client profile against the auto center and the fixed one that matches it; each full
/// then resumed, with records of 2^14 - 1, 2^14 and 2^14 + 1 bytes both ways.
fn suite_matrix(suite: CipherSuite) {
    let pairings = [
        (Profile::Seed, Profile::Auto),
        (Profile::Seed, Profile::Seed),
        (Profile::Tlcp, Profile::Auto),
        (Profile::Tlcp, Profile::Tlcp),
        (Profile::Auto, Profile::Auto),
        (Profile::Auto, Profile::Seed),
        (Profile::Auto, Profile::Tlcp),
    ];
    for (cp, sp) in pairings {
        let mut sc = center_config(center_for(suite), sp);
        sc.suites = vec![suite];
        let sc = Arc::new(sc);
        let cc = Arc::new(terminal_config(&pki().terminal, cp));
        let order = expected_order(cp, sp);
        let mut session = Vec::new();
        for resumed in [false, true] {
            let (mut c, mut s) = handshake(&cc, &sc, suite, order, resumed);
            let id = c.summary().unwrap().session_id.clone();
            if resumed {
                assert_eq!(id, session, "the session resumed is the one established");
            }
            session = id;
            assert_eq!(exchange(&mut c, &mut s, 16383), (vec![16383], vec![16383]));
            assert_eq!(exchange(&mut c, &mut s, 16384), (vec![16384], vec![16384]));
            assert_eq!(exchange(&mut c, &mut s, 16385), (vec![16384, 1], vec![16384, 1]));
        }
    }
}

#[test]
fn matrix_ecc_sm4_gcm_sm3() {
    suite_matrix(CipherSuite::ECC_SM4_GCM_SM3);
}

#[test]
fn matrix_ecc_sm4_cbc_sm3() {
    suite_matrix(CipherSuite::ECC_SM4_CBC_SM3);
}

#[test]
fn matrix_rsa_sm4_gcm_sm3() {
    suite_matrix(CipherSuite::RSA_SM4_GCM_SM3);
}

#[test]
fn matrix_rsa_sm4_cbc_sm3() {
    suite_matrix(CipherSuite::RSA_SM4_CBC_SM3);
}

#[test]
fn matrix_rsa_sm4_gcm_sha256() {
    suite_matrix(CipherSuite::RSA_SM4_GCM_SHA256);
}

#[test]
fn matrix_rsa_sm4_cbc_sha256() {
    suite_matrix(CipherSuite::RSA_SM4_CBC_SHA256);
}

/// 1 MiB each way, for each bulk cipher and each PRF hash, full and resumed.
#[test]
fn one_mebibyte_both_ways() {
    for (suite, profile, resumed) in [
        (CipherSuite::ECC_SM4_GCM_SM3, Profile::Seed, false),
        (CipherSuite::ECC_SM4_CBC_SM3, Profile::Tlcp, true),
        (CipherSuite::RSA_SM4_CBC_SHA256, Profile::Auto, false),
    ] {
        let mut sc = center_config(center_for(suite), Profile::Auto);
        sc.suites = vec![suite];
        let sc = Arc::new(sc);
        let cc = Arc::new(terminal_config(&pki().terminal, profile));
        let order = expected_order(profile, Profile::Auto);
        if resumed {
            handshake(&cc, &sc, suite, order, false);
        }
        let (mut c, mut s) = handshake(&cc, &sc, suite, order, resumed);
        let (up, down) = exchange(&mut c, &mut s, 1 << 20);
        assert_eq!(up, vec![16384; 64]);
        assert_eq!(down, vec![16384; 64]);
    }
}

/// The data queued before the handshake goes with the terminal's Finished (F9–F10) in the
/// seed order, and arrives.
#[test]
fn data_queued_before_the_handshake_is_delivered() {
    for profile in [Profile::Seed, Profile::Tlcp] {
        let sc = Arc::new(center_config(&pki().center, Profile::Auto));
        let cc = Arc::new(terminal_config(&pki().terminal, profile));
        let mut c = ClientConnection::new(cc, NOW).unwrap();
        let mut s = ServerConnection::new(sc);
        c.send_application_data(b"OrderQuery").unwrap();
        s.send_application_data(b"Hello band").unwrap();
        let flights = record_flights(&mut c, &mut s);
        assert_eq!(drain_server(&mut s), vec![b"OrderQuery".to_vec()]);
        assert_eq!(drain_client(&mut c), vec![b"Hello band".to_vec()]);
        if profile == Profile::Seed {
            // F9–F10: the terminal's last flight is ChangeCipherSpec, Finished, its data.
            let last_client = flights.iter().rev().find(|(d, _)| *d == Dir::ClientToServer).unwrap();
            let types: Vec<_> = records(&last_client.1).iter().map(|r| r.typ).collect();
            assert_eq!(types, [ContentType::ChangeCipherSpec, ContentType::Handshake, ContentType::ApplicationData]);
        }
    }
}

/// The largest plaintext a protected record of `payload_len` bytes can hold.
fn max_plaintext(suite: CipherSuite, payload_len: usize) -> usize {
    let p = suite.params().unwrap();
    if p.bulk == wearpay_tlcp::BulkCipher::Sm4Gcm {
        payload_len - 8 - 16
    } else {
        // IV, then plaintext ‖ MAC ‖ padding (at least its length byte).
        payload_len - 16 - p.mac_key_len - 1
    }
}

fn cbc_payload_len(mac_len: usize, plaintext: usize) -> usize {
    16 + (plaintext + mac_len + 1).div_ceil(16) * 16
}

/// RFC 6066: the center echoes the limit; every record either end sends afterwards, the
/// center's certificates included, carries at most that much plaintext.
#[test]
fn max_fragment_length_512_and_4096() {
    for limit in [512, 4096] {
        for suite in [CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::ECC_SM4_CBC_SM3] {
            let mfl = MaxFragmentLength::from_max_len(limit).unwrap();
            let mut sc = center_config(&pki().center, Profile::Auto);
            sc.suites = vec![suite];
            let mut cc = terminal_config(&pki().terminal, Profile::Seed);
            cc.max_fragment_length = Some(mfl);
            let mut c = ClientConnection::new(Arc::new(cc), NOW).unwrap();
            let mut s = ServerConnection::new(Arc::new(sc));
            let flights = record_flights(&mut c, &mut s);
            assert!(!c.is_handshaking() && !s.is_handshaking(), "{:?} {:?}", c.error(), s.error());
            assert_eq!((c.max_fragment_len(), s.max_fragment_len()), (limit, limit));

            // The ClientHello asks, the ServerHello echoes the same code.
            let HandshakePayload::ClientHello(ch) = &plaintext_messages(&flights[0].1)[0].payload else { panic!() };
            assert!(ch.extensions.contains(&wearpay_tlcp::msgs::ClientExtension::MaxFragmentLength(mfl)));
            let HandshakePayload::ServerHello(sh) = &plaintext_messages(&flights[1].1)[0].payload else { panic!() };
            assert!(sh.extensions.contains(&ServerExtension::MaxFragmentLength(mfl)));

            // Every record after the ClientHello (which precedes the agreement) is within
            // the limit; with 512 the center's certificates had to be split.
            let mut protected = [false, false];
            let mut split = false;
            for (i, (dir, flight)) in flights.iter().enumerate().skip(1) {
                let d = usize::from(*dir == Dir::ServerToClient);
                let recs = records(flight);
                for r in &recs {
                    let plain = if protected[d] { max_plaintext(suite, r.payload.len()) } else { r.payload.len() };
                    assert!(plain <= limit, "flight {i}: a {:?} record of {plain} bytes", r.typ);
                    if r.typ == ContentType::ChangeCipherSpec {
                        protected[d] = true;
                    }
                }
                let plain_hs = recs.iter().take_while(|r| r.typ == ContentType::Handshake).count();
                split |= plain_hs > plaintext_messages(flight).len();
            }
            assert_eq!(split, limit == 512, "the certificates fit in 4096 bytes but not in 512");

            // Application data: parse every record each sender emits, then deliver it.
            let p = suite.params().unwrap();
            for len in [limit - 1, limit, limit + 1, 3 * limit + 7, 10_000] {
                let up = data(len, 3);
                let down = data(len, 4);
                c.send_application_data(&up).unwrap();
                s.send_application_data(&down).unwrap();
                let (c_out, s_out) = (c.take_output(), s.take_output());
                for out in [&c_out, &s_out] {
                    let recs = records(out);
                    assert_eq!(recs.len(), len.div_ceil(limit), "{len} bytes in records of {limit}");
                    for r in &recs {
                        assert_eq!(r.typ, ContentType::ApplicationData);
                        if p.bulk == wearpay_tlcp::BulkCipher::Sm4Gcm {
                            assert!(max_plaintext(suite, r.payload.len()) <= limit);
                        } else {
                            assert!(r.payload.len() <= cbc_payload_len(p.mac_key_len, limit));
                        }
                    }
                }
                s.handle_input(&c_out, NOW).unwrap();
                c.handle_input(&s_out, NOW).unwrap();
                // Each record read is one record's plaintext: exact sizes on arrival.
                for (got, sent) in [(drain_server(&mut s), &up), (drain_client(&mut c), &down)] {
                    assert!(got.iter().all(|r| r.len() <= limit));
                    assert_eq!(got.len(), len.div_ceil(limit));
                    assert_eq!(&got.concat(), sent);
                }
            }
        }
    }
}

/// A terminal restricted to one suite gets that suite.
#[test]
fn a_client_restricted_to_one_suite_gets_it() {
    for &suite in DEFAULT_SUITES {
        let sc = Arc::new(center_config(center_for(suite), Profile::Auto));
        let mut cc = terminal_config(&pki().terminal, Profile::Auto);
        cc.suites = vec![suite];
        let (mut c, mut s) = handshake(&Arc::new(cc), &sc, suite, NegotiatedOrder::Seed, false);
        exchange(&mut c, &mut s, 100);
    }
}

/// F3: the center's order of preference decides, not the terminal's.
#[test]
fn the_server_preference_order_wins() {
    let reversed: Vec<_> = DEFAULT_SUITES.iter().rev().copied().collect();
    // The RSA center's first choice among everything offered backwards.
    let mut cc = terminal_config(&pki().terminal, Profile::Seed);
    cc.suites = reversed.clone();
    let sc = Arc::new(center_config(rsa_center(), Profile::Auto));
    handshake(&Arc::new(cc), &sc, CipherSuite::RSA_SM4_GCM_SM3, NegotiatedOrder::Seed, false);
    // The SM2 center likewise.
    let mut cc = terminal_config(&pki().terminal, Profile::Seed);
    cc.suites = reversed;
    let sc = Arc::new(center_config(&pki().center, Profile::Auto));
    handshake(&Arc::new(cc), &sc, CipherSuite::ECC_SM4_GCM_SM3, NegotiatedOrder::Seed, false);
    // A center that prefers CBC gets CBC from a terminal that prefers GCM.
    let cc = Arc::new(terminal_config(&pki().terminal, Profile::Seed));
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.suites = vec![CipherSuite::ECC_SM4_CBC_SM3, CipherSuite::ECC_SM4_GCM_SM3];
    handshake(&cc, &Arc::new(sc), CipherSuite::ECC_SM4_CBC_SM3, NegotiatedOrder::Seed, false);
}

/// A center with an SM2 signing key and an RSA encryption key, certified by an RSA root:
/// RSA certificate signatures, an SM2 ServerKeyExchange signature, an RSA key exchange.
#[test]
fn mixed_keys_under_an_rsa_root() {
    let rsa_root = Ca::new("CN=wearpay RSA root,O=wearpay", KeyAlgorithm::Rsa(2048));
    let sign = sm2_key();
    let enc = rsa_keys().1.clone();
    let subject = format!("CN={SERVER_NAME},O=wearpay center");
    let center = Identity {
        sign_cert: rsa_root.issue(Role::CenterSign, &subject, &*sign),
        enc_cert: rsa_root.issue(Role::CenterEnc, &subject, &*enc),
        sign_key: sign,
        enc_key: enc,
    };
    let sc = Arc::new(center_config(&center, Profile::Auto));
    let mut cc = terminal_config(&pki().terminal, Profile::Auto);
    cc.verifier = Arc::new(wearpay_tlcp::PkiServerVerifier::new(PROVIDER, vec![rsa_root.cert.clone()], vec![]));
    let cc = Arc::new(cc);
    for resumed in [false, true] {
        let (mut c, mut s) = handshake(&cc, &sc, CipherSuite::RSA_SM4_GCM_SM3, NegotiatedOrder::Seed, resumed);
        exchange(&mut c, &mut s, 5000);
    }
}

// ---- profile interplay ----

/// Runs a pair to its end, errors and all.
fn run(cc: ClientConfig, sc: ServerConfig) -> (ClientConnection, ServerConnection, Vec<(Dir, Vec<u8>)>) {
    let mut c = ClientConnection::new(Arc::new(cc), NOW).unwrap();
    let mut s = ServerConnection::new(Arc::new(sc));
    c.send_application_data(b"must not arrive").unwrap();
    s.send_application_data(b"must not arrive either").unwrap();
    let flights = record_flights(&mut c, &mut s);
    (c, s, flights)
}

#[test]
fn a_seed_terminal_refuses_a_center_that_does_not_confirm() {
    let (mut c, mut s, _) =
        run(terminal_config(&pki().terminal, Profile::Seed), center_config(&pki().center, Profile::Tlcp));
    assert_eq!(c.error(), Some(&Error::SeedOrderRefused));
    assert_refused(c.error(), s.error(), AlertDescription::HandshakeFailure);
    assert!(drain_client(&mut c).is_empty() && drain_server(&mut s).is_empty());
}

#[test]
fn an_auto_terminal_falls_back_to_the_standard_order() {
    let cc = Arc::new(terminal_config(&pki().terminal, Profile::Auto));
    let sc = Arc::new(center_config(&pki().center, Profile::Tlcp));
    let mut c = ClientConnection::new(cc, NOW).unwrap();
    let mut s = ServerConnection::new(sc);
    let flights = record_flights(&mut c, &mut s);
    assert_eq!(completed(&events_client(&mut c)).order, NegotiatedOrder::Tlcp);
    // It asked; the center did not echo.
    let HandshakePayload::ClientHello(ch) = &plaintext_messages(&flights[0].1)[0].payload else { panic!() };
    assert!(ch.extensions.contains(&wearpay_tlcp::msgs::ClientExtension::SeedOrder));
    let HandshakePayload::ServerHello(sh) = &plaintext_messages(&flights[1].1)[0].payload else { panic!() };
    assert!(!sh.extensions.contains(&ServerExtension::SeedOrder));
    // Standard order: the terminal's second flight ends with its ChangeCipherSpec and Finished.
    let types: Vec<_> = records(&flights[2].1).iter().map(|r| r.typ).collect();
    assert_eq!(types.last(), Some(&ContentType::Handshake));
    assert!(types.contains(&ContentType::ChangeCipherSpec));
}

#[test]
fn a_seed_center_refuses_a_standard_terminal() {
    let (mut c, mut s, _) =
        run(terminal_config(&pki().terminal, Profile::Tlcp), center_config(&pki().center, Profile::Seed));
    assert_eq!(s.error(), Some(&Error::SeedOrderRequired));
    assert_refused(s.error(), c.error(), AlertDescription::HandshakeFailure);
    assert!(drain_client(&mut c).is_empty() && drain_server(&mut s).is_empty());
}

// ---- no common suite, SM1 ----

#[test]
fn no_common_suite_is_a_handshake_failure() {
    // Disjoint lists.
    let mut cc = terminal_config(&pki().terminal, Profile::Seed);
    cc.suites = vec![CipherSuite::ECC_SM4_CBC_SM3];
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.suites = vec![CipherSuite::ECC_SM4_GCM_SM3];
    let (c, s, flights) = run(cc, sc);
    assert_eq!(s.error(), Some(&Error::NoCommonSuite));
    assert_refused(s.error(), c.error(), AlertDescription::HandshakeFailure);
    assert_eq!(flights.len(), 2, "ClientHello, then the alert alone");
    // Only RSA suites offered to a center whose keys are SM2.
    let mut cc = terminal_config(&pki().terminal, Profile::Seed);
    cc.suites = DEFAULT_SUITES[2..].to_vec();
    let (c, s, _) = run(cc, center_config(&pki().center, Profile::Auto));
    assert_eq!(s.error(), Some(&Error::NoCommonSuite));
    assert_refused(s.error(), c.error(), AlertDescription::HandshakeFailure);
}

/// The raw cipher_suites field of a ClientHello record.
fn raw_suites(client_hello_record: &[u8]) -> Vec<[u8; 2]> {
    let body = &client_hello_record[4..];
    let sid_len = usize::from(body[34]);
    let at = 35 + sid_len;
    let len = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    body[at + 2..at + 2 + len].chunks(2).map(|c| [c[0], c[1]]).collect()
}

#[test]
fn the_software_provider_offers_no_sm1_suite() {
    assert!(!PROVIDER.capabilities().sm1);
    let mut cc = terminal_config(&pki().terminal, Profile::Seed);
    cc.suites = [SM1_SUITES, DEFAULT_SUITES].concat();
    let cc = Arc::new(cc);
    let mut c = ClientConnection::new(cc.clone(), NOW).unwrap();
    let out = c.take_output();
    let recs = records(&out);
    let offered = raw_suites(&recs[0].payload);
    assert!(!offered.contains(&[0xe0, 0x03]) && !offered.contains(&[0xe0, 0x09]), "{offered:02x?}");
    let mut want: Vec<[u8; 2]> = DEFAULT_SUITES.iter().map(|s| u16::from(*s).to_be_bytes()).collect();
    want.push([0x00, 0xff]);
    assert_eq!(offered, want);
    let HandshakePayload::ClientHello(ClientHelloPayload { cipher_suites, .. }) =
        HandshakeMessage::read_bytes(&recs[0].payload).unwrap().payload
    else {
        panic!()
    };
    assert_eq!(cipher_suites.len(), DEFAULT_SUITES.len() + 1);

    // A terminal configured with SM1 alone has nothing to offer.
    let mut only_sm1 = terminal_config(&pki().terminal, Profile::Seed);
    only_sm1.suites = SM1_SUITES.to_vec();
    assert_eq!(ClientConnection::new(Arc::new(only_sm1), NOW).unwrap_err(), Error::NoUsableSuite);

    // A center configured with SM1 alone has nothing in common with anyone.
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.suites = SM1_SUITES.to_vec();
    let (c, s, _) = run(terminal_config(&pki().terminal, Profile::Seed), sc);
    assert_eq!(s.error(), Some(&Error::NoCommonSuite));
    assert_refused(s.error(), c.error(), AlertDescription::HandshakeFailure);
}

// ---- renegotiation ----

/// Re-seals an end's records one sequence number later, after a record was injected in
/// its name.
struct Shifted<'a> {
    w: &'a Writer,
    next: u64,
}

impl Shifted<'_> {
    fn pass(&mut self, out: &[u8]) -> Vec<u8> {
        let recs: Vec<Rec> = records(out)
            .iter()
            .map(|r| {
                let plain = self.w.open(self.next, r);
                self.next += 1;
                self.w.seal(self.next, r.typ, &plain)
            })
            .collect();
        encode_records(&recs)
    }
}

/// A ClientHello after the handshake (and a HelloRequest the other way) gets a
/// no_renegotiation warning; the connection goes on.
#[test]
fn renegotiation_is_refused_with_a_warning_and_the_connection_continues() {
    let sc = Arc::new({
        let mut sc = center_config(&pki().center, Profile::Auto);
        sc.suites = vec![CipherSuite::ECC_SM4_GCM_SM3];
        sc
    });
    let cc = Arc::new(terminal_config(&pki().terminal, Profile::Seed));
    let mut c = ClientConnection::new(cc.clone(), NOW).unwrap();
    let mut s = ServerConnection::new(sc);
    let flights = record_flights(&mut c, &mut s);
    assert!(!c.is_handshaking() && !s.is_handshaking());

    // The traffic keys, from the master secret the terminal stored and both randoms.
    let (client_w, server_w) = session_writers(&cc, &flights);
    // Records each end has protected so far: the Finished (seed order, nothing queued).
    let (client_seq, server_seq) =
        (sent_after_ccs(&flights, Dir::ClientToServer), sent_after_ccs(&flights, Dir::ServerToClient));
    assert_eq!((client_seq, server_seq), (1, 1));

    // The terminal "sends" a new ClientHello under its traffic keys.
    let hello = ClientConnection::new(cc.clone(), NOW).unwrap().take_output();
    let hello = &records(&hello)[0];
    let injected = client_w.seal(client_seq, ContentType::Handshake, &hello.payload);
    s.handle_input(&encode_records(&[injected]), NOW).unwrap();
    let answer = records(&s.take_output());
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].typ, ContentType::Alert);
    assert_eq!(server_w.open(server_seq, &answer[0]), [1, u8::from(AlertDescription::NoRenegotiation)]);
    c.handle_input(&encode_records(&answer), NOW).unwrap();
    assert!(c.error().is_none() && s.error().is_none());

    // The connection continues (the terminal's records re-sealed past the injected one).
    let mut client_shift = Shifted { w: &client_w, next: client_seq };
    c.send_application_data(b"after renegotiation").unwrap();
    s.handle_input(&client_shift.pass(&c.take_output()), NOW).unwrap();
    assert_eq!(drain_server(&mut s), vec![b"after renegotiation".to_vec()]);
    s.send_application_data(b"still here").unwrap();
    c.handle_input(&s.take_output(), NOW).unwrap();
    assert_eq!(drain_client(&mut c), vec![b"still here".to_vec()]);

    // The other way: a HelloRequest in the center's name gets the same answer.
    let hello_request = server_w.seal(server_seq + 2, ContentType::Handshake, &[0, 0, 0, 0]);
    c.handle_input(&encode_records(&[hello_request]), NOW).unwrap();
    let answer = records(&c.take_output());
    assert_eq!(answer.len(), 1);
    assert_eq!(client_w.open(client_seq + 1, &answer[0]), [1, u8::from(AlertDescription::NoRenegotiation)]);
    s.handle_input(&client_shift.pass(&encode_records(&answer)), NOW).unwrap();
    let mut server_shift = Shifted { w: &server_w, next: server_seq + 2 };
    s.send_application_data(b"and on").unwrap();
    c.handle_input(&server_shift.pass(&s.take_output()), NOW).unwrap();
    assert_eq!(drain_client(&mut c), vec![b"and on".to_vec()]);
    assert!(c.error().is_none() && s.error().is_none());
}

// ---- close_notify ----

#[test]
fn close_notify_both_ways() {
    let cc = Arc::new(terminal_config(&pki().terminal, Profile::Seed));
    let sc = Arc::new(center_config(&pki().center, Profile::Auto));
    let (mut c, mut s) = handshake(&cc, &sc, CipherSuite::ECC_SM4_GCM_SM3, NegotiatedOrder::Seed, false);
    c.send_application_data(b"last words").unwrap();
    c.send_close_notify();
    assert_eq!(c.send_application_data(b"too late"), Err(Error::Closed));
    pump(&mut c, &mut s).unwrap();
    assert_eq!(drain_server(&mut s), vec![b"last words".to_vec()]);
    assert_eq!(events_server(&mut s), vec![Event::PeerClosed]);
    assert!(s.peer_closed() && !c.peer_closed());
    // The center may still answer before closing its side.
    s.send_application_data(b"receipt").unwrap();
    s.send_close_notify();
    pump(&mut c, &mut s).unwrap();
    assert_eq!(drain_client(&mut c), vec![b"receipt".to_vec()]);
    assert_eq!(events_client(&mut c), vec![Event::PeerClosed]);
    assert!(c.peer_closed());
    assert!(c.error().is_none() && s.error().is_none());
}

// ---- session resumption policy ----

/// The ClientHello's session ID and whether the handshake was resumed, at `now`.
fn connect_at(cc: &Arc<ClientConfig>, sc: &Arc<ServerConfig>, now: UnixTime) -> (bool, bool) {
    let mut c = ClientConnection::new(cc.clone(), now).unwrap();
    let mut s = ServerConnection::new(sc.clone());
    let hello = c.take_output();
    let HandshakePayload::ClientHello(ch) = &plaintext_messages(&hello)[0].payload else { panic!() };
    let offered = !ch.session_id.is_empty();
    s.handle_input(&hello, now).unwrap();
    pump_at(&mut c, &mut s, now).unwrap();
    let cs = completed(&events_client(&mut c));
    assert_eq!(completed(&events_server(&mut s)).resumed, cs.resumed);
    (offered, cs.resumed)
}

#[test]
fn sessions_expire_with_the_store_lifetime() {
    // The center's store forgets first: the terminal offers, the center does a full handshake.
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.session_store = Arc::new(MemorySessionStore::new(100, 600));
    let sc = Arc::new(sc);
    let cc = Arc::new(terminal_config(&pki().terminal, Profile::Seed));
    assert_eq!(connect_at(&cc, &sc, NOW), (false, false));
    assert_eq!(connect_at(&cc, &sc, NOW.plus_secs(599)), (true, true));
    assert_eq!(connect_at(&cc, &sc, NOW.plus_secs(600)), (true, false));
    // The new session lives again from its own start.
    assert_eq!(connect_at(&cc, &sc, NOW.plus_secs(1199)), (true, true));

    // The terminal's store forgets first: it offers nothing.
    let sc = Arc::new(center_config(&pki().center, Profile::Auto));
    let mut cc = terminal_config(&pki().terminal, Profile::Seed);
    cc.session_store = Arc::new(MemorySessionStore::new(10, 600));
    let cc = Arc::new(cc);
    assert_eq!(connect_at(&cc, &sc, NOW), (false, false));
    assert_eq!(connect_at(&cc, &sc, NOW.plus_secs(600)), (false, false));
}

/// `ServerConfig::session_lifetime` bounds resumption even when the store keeps sessions
/// longer.
#[test]
fn the_center_session_lifetime_bounds_resumption() {
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.session_store = Arc::new(MemorySessionStore::new(100, 3600));
    sc.session_lifetime = 60;
    let sc = Arc::new(sc);
    let cc = Arc::new(terminal_config(&pki().terminal, Profile::Seed));
    assert_eq!(connect_at(&cc, &sc, NOW), (false, false));
    assert_eq!(connect_at(&cc, &sc, NOW.plus_secs(59)), (true, true));
    assert_eq!(connect_at(&cc, &sc, NOW.plus_secs(60)), (true, false));
}

#[test]
fn a_full_store_evicts_the_oldest_session() {
    let store = Arc::new(MemorySessionStore::new(2, 3600));
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.session_store = store.clone();
    let sc = Arc::new(sc);
    let terminals: Vec<_> = (0..3).map(|_| Arc::new(terminal_config(&pki().terminal, Profile::Seed))).collect();
    for (i, cc) in terminals.iter().enumerate() {
        assert_eq!(connect_at(cc, &sc, NOW.plus_secs(i as u64)), (false, false));
    }
    assert_eq!(store.len(), 2);
    // The two newest resume; the oldest was evicted and must do a full handshake.
    assert_eq!(connect_at(&terminals[1], &sc, NOW.plus_secs(10)), (true, true));
    assert_eq!(connect_at(&terminals[2], &sc, NOW.plus_secs(10)), (true, true));
    assert_eq!(connect_at(&terminals[0], &sc, NOW.plus_secs(10)), (true, false));
}

#[test]
fn remove_peer_deletes_one_terminals_sessions() {
    let store = Arc::new(MemorySessionStore::new(100, 3600));
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.session_store = store.clone();
    let sc = Arc::new(sc);
    let one = Arc::new(terminal_config(&pki().terminal, Profile::Seed));
    let two = Arc::new(terminal_config(&pki().terminal2, Profile::Seed));
    assert_eq!(connect_at(&one, &sc, NOW), (false, false));
    assert_eq!(connect_at(&two, &sc, NOW), (false, false));
    assert_eq!(store.len(), 2);
    store.remove_peer(pki().terminal.sign_cert.serial());
    assert_eq!(store.len(), 1);
    assert_eq!(connect_at(&one, &sc, NOW), (true, false));
    assert_eq!(connect_at(&two, &sc, NOW), (true, true));
}

/// The center's registry: PKI checks, then its own list of terminals reported lost.
#[derive(Debug)]
struct Registry {
    pki: PkiClientVerifier,
    lost: Mutex<HashSet<Vec<u8>>>,
    resumptions_asked: Mutex<usize>,
}

impl Registry {
    fn check(&self, peer: &PeerIdentity) -> Result<(), CertError> {
        if self.lost.lock().unwrap().contains(&peer.serial) {
            return Err(CertError::Revoked(format!("{} was reported lost", peer.subject)));
        }
        Ok(())
    }
}

impl ClientCertVerifier for Registry {
    fn verify_client(
        &self,
        certs: &[wearpay_tlcp::msgs::CertificateDer],
        now: UnixTime,
    ) -> Result<PeerIdentity, CertError> {
        let peer = self.pki.verify_client(certs, now)?;
        self.check(&peer)?;
        Ok(peer)
    }

    fn allow_resumption(&self, peer: &PeerIdentity, now: UnixTime) -> Result<(), CertError> {
        *self.resumptions_asked.lock().unwrap() += 1;
        self.check(peer)?;
        self.pki.allow_resumption(peer, now)
    }

    fn ca_names(&self) -> Vec<wearpay_tlcp::msgs::DistinguishedName> {
        self.pki.ca_names()
    }
}

/// A terminal revoked after its full handshake cannot come back on its session: the center
/// refuses the resumption, runs a full handshake, and that fails with certificate_revoked.
#[test]
fn a_revoked_terminal_cannot_resume() {
    let registry =
        Arc::new(Registry { pki: client_verifier(), lost: Mutex::default(), resumptions_asked: Mutex::default() });
    let store = Arc::new(MemorySessionStore::new(100, 3600));
    let mut sc = center_config(&pki().center, Profile::Auto);
    sc.verifier = registry.clone();
    sc.session_store = store.clone();
    let sc = Arc::new(sc);
    let cc = Arc::new(terminal_config(&pki().terminal, Profile::Seed));
    assert_eq!(connect_at(&cc, &sc, NOW), (false, false));
    assert_eq!(connect_at(&cc, &sc, NOW), (true, true));
    assert_eq!(*registry.resumptions_asked.lock().unwrap(), 1);

    registry.lost.lock().unwrap().insert(pki().terminal.sign_cert.serial().to_vec());
    let mut c = ClientConnection::new(cc.clone(), NOW).unwrap();
    let mut s = ServerConnection::new(sc.clone());
    c.send_application_data(b"pay 100").unwrap();
    let flights = record_flights(&mut c, &mut s);
    assert_eq!(*registry.resumptions_asked.lock().unwrap(), 2);
    // The terminal offered its session; the center answered with a new one and its
    // certificates: a full handshake.
    let HandshakePayload::ClientHello(ch) = &plaintext_messages(&flights[0].1)[0].payload else { panic!() };
    let center_flight = plaintext_messages(&flights[1].1);
    let HandshakePayload::ServerHello(sh) = &center_flight[0].payload else { panic!() };
    assert!(!ch.session_id.is_empty());
    assert_ne!(sh.session_id, ch.session_id);
    assert!(matches!(center_flight[1].payload, HandshakePayload::Certificate(_)));
    assert!(matches!(s.error(), Some(Error::Certificate(CertError::Revoked(_)))), "{:?}", s.error());
    assert_refused(s.error(), c.error(), AlertDescription::CertificateRevoked);
    assert!(drain_server(&mut s).is_empty());
    assert_eq!(store.len(), 0, "the revoked terminal's session is gone");
}

/// The center may be named by a subjectAltName (the vector signing certificate carries
/// `IP:127.0.0.1` and `DNS:localhost`), not only by its CN.
#[test]
fn the_center_is_found_by_its_alternative_names() {
    for name in ["127.0.0.1", "localhost"] {
        let mut cc = client_config(Profile::Seed);
        cc.server_name = name.into();
        let mut c = ClientConnection::new(Arc::new(cc), NOW).unwrap();
        let mut s = ServerConnection::new(Arc::new(server_config(Profile::Auto)));
        pump(&mut c, &mut s).unwrap();
        assert!(!c.is_handshaking(), "{name}");
    }
    let mut cc = client_config(Profile::Seed);
    cc.server_name = "127.0.0.2".into();
    let mut c = ClientConnection::new(Arc::new(cc), NOW).unwrap();
    let mut s = ServerConnection::new(Arc::new(server_config(Profile::Auto)));
    assert!(pump(&mut c, &mut s).is_err());
}
