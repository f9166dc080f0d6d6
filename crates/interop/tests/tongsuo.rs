//! Live TLCP over TCP on 127.0.0.1 between wearpay-tlcp and Tongsuo 8.5's NTLS, both ways,
//! for every suite both implement; each socket operation is bounded by `IO_TIMEOUT`.
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use tongsuo::ssl::{ErrorCode, ShutdownResult, Ssl, SslContext, SslSession, SslSessionRef, SslStream};
use wearpay_crypto::KeyAlgorithm;
use wearpay_interop::{
    Credentials, Result, TestPki, accept, connect, linger_close, listen, our_client_config, our_server_config, pattern,
    tongsuo_context, tongsuo_name,
};
use wearpay_tlcp::stream::{Stream, system_time};
use wearpay_tlcp::suites::CipherSuite;
use wearpay_tlcp::{
    ClientConfig, ClientConnection, Error as TlcpError, Event, HandshakeSummary, NegotiatedOrder, Profile,
    ServerConfig, ServerConnection,
};

const ECC_SUITES: [CipherSuite; 2] = [CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::ECC_SM4_CBC_SM3];
const RSA_SUITES: [CipherSuite; 4] = [
    CipherSuite::RSA_SM4_GCM_SM3,
    CipherSuite::RSA_SM4_CBC_SM3,
    CipherSuite::RSA_SM4_GCM_SHA256,
    CipherSuite::RSA_SM4_CBC_SHA256,
];

/// What each connection sends and expects echoed: a short order, 40 000 bytes (three
/// records each way), and a last line.
fn messages() -> Vec<Vec<u8>> {
    vec![b"OrderQuery amount=12.34 CNY".to_vec(), pattern(40_000, 7), b"bye".to_vec()]
}

fn vectors() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::vectors().expect("the Tongsuo-made certificates in shared/vectors/tlcp"))
}

/// An SM2 root of ours with RSA-2048 center and terminal certificates (RSA keys are slow
/// to make: once per test binary).
fn rsa_pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::issue("Interop RSA Test CA", KeyAlgorithm::Rsa(2048)).expect("issue RSA certificates"))
}

// ---- Tongsuo's ends ----

/// What Tongsuo's end saw of one connection.
#[derive(Debug)]
struct TongsuoReport {
    cipher: String,
    reused: bool,
    peer_subject: String,
    echoed: usize,
}

fn report<S>(s: &SslStream<S>, echoed: usize) -> TongsuoReport {
    let ssl = s.ssl();
    TongsuoReport {
        cipher: ssl.current_cipher().map(|c| c.name().to_string()).unwrap_or_default(),
        reused: ssl.session_reused(),
        peer_subject: ssl.peer_certificate().map(|c| format!("{:?}", c.subject_name())).unwrap_or_default(),
        echoed,
    }
}

/// A Tongsuo NTLS server for `conns` connections, each echoing every byte until the
/// client's close_notify, then answering it with its own.
fn spawn_tongsuo_server(
    listener: TcpListener,
    ctx: SslContext,
    conns: usize,
) -> JoinHandle<Result<Vec<TongsuoReport>, String>> {
    std::thread::spawn(move || {
        let mut reports = Vec::new();
        for i in 0..conns {
            let sock = accept(&listener).map_err(|e| e.to_string())?;
            let ssl = Ssl::new(&ctx).map_err(|e| e.to_string())?;
            let mut s = ssl.accept(sock).map_err(|e| format!("Tongsuo server, connection {i}: handshake: {e}"))?;
            let mut echoed = 0;
            let mut buf = vec![0u8; 1 << 15];
            loop {
                match s.ssl_read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        s.write_all(&buf[..n]).map_err(|e| format!("Tongsuo server: write: {e}"))?;
                        echoed += n;
                    }
                    Err(e) if e.code() == ErrorCode::ZERO_RETURN => break,
                    Err(e) => return Err(format!("Tongsuo server, connection {i}: read: {e}")),
                }
            }
            s.shutdown().map_err(|e| format!("Tongsuo server: shutdown: {e}"))?;
            reports.push(report(&s, echoed));
        }
        Ok(reports)
    })
}

/// A Tongsuo NTLS client: handshake (offering `session` if given), each message echoed,
/// then a complete two-way close. Gives back its report and its session.
fn tongsuo_client(
    addr: SocketAddr,
    ctx: &SslContext,
    session: Option<&SslSessionRef>,
) -> Result<(TongsuoReport, Option<SslSession>), String> {
    let sock = connect(addr).map_err(|e| e.to_string())?;
    let mut ssl = Ssl::new(ctx).map_err(|e| e.to_string())?;
    if let Some(session) = session {
        // SAFETY: `session` was made by an earlier connection on this same `ctx`, which is
        // what SSL_set_session requires (rust-openssl marks it unsafe for that reason only).
        #[allow(unsafe_code)]
        unsafe {
            ssl.set_session(session).map_err(|e| e.to_string())?;
        }
    }
    let mut s = ssl.connect(sock).map_err(|e| format!("Tongsuo client: handshake: {e}"))?;
    let mut echoed = 0;
    for msg in messages() {
        s.write_all(&msg).map_err(|e| format!("Tongsuo client: write: {e}"))?;
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).map_err(|e| format!("Tongsuo client: read: {e}"))?;
        if back != msg {
            return Err(String::from("Tongsuo client: the echo differs"));
        }
        echoed += msg.len();
    }
    // close_notify, then wait for the server's.
    if s.shutdown().map_err(|e| format!("Tongsuo client: shutdown: {e}"))? == ShutdownResult::Sent {
        let mut rest = [0u8; 64];
        match s.ssl_read(&mut rest) {
            Err(e) if e.code() == ErrorCode::ZERO_RETURN => {}
            other => return Err(format!("Tongsuo client: expected the server's close_notify, got {other:?}")),
        }
        s.shutdown().map_err(|e| format!("Tongsuo client: second shutdown: {e}"))?;
    }
    let session = s.ssl().session().map(ToOwned::to_owned);
    Ok((report(&s, echoed), session))
}

// ---- our ends ----

fn completion(events: Vec<Event>) -> Result<HandshakeSummary, String> {
    events
        .into_iter()
        .find_map(|e| match e {
            Event::HandshakeComplete(s) => Some(s),
            Event::PeerClosed => None,
        })
        .ok_or_else(|| String::from("no HandshakeComplete event"))
}

/// Our terminal over TCP: handshake, each message echoed, close_notify both ways.
fn our_client(addr: SocketAddr, config: &Arc<ClientConfig>) -> Result<HandshakeSummary, String> {
    let sock = connect(addr).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(config.clone(), system_time()).map_err(|e| e.to_string())?;
    let mut st = Stream::new(conn, sock);
    if let Err(e) = st.complete_handshake() {
        let ours = st.conn.error().map(ToString::to_string).unwrap_or_default();
        linger_close(st.sock);
        return Err(format!("our client: handshake: {e} ({ours})"));
    }
    let summary = completion(st.take_events())?;
    for msg in messages() {
        st.write_all(&msg).map_err(|e| format!("our client: write: {e}"))?;
        let mut back = vec![0u8; msg.len()];
        st.read_exact(&mut back).map_err(|e| format!("our client: read: {e}"))?;
        if back != msg {
            return Err(String::from("our client: the echo differs"));
        }
    }
    st.close().map_err(|e| format!("our client: close: {e}"))?;
    let mut rest = [0u8; 64];
    let n = st.read(&mut rest).map_err(|e| format!("our client: reading the close: {e}"))?;
    if n != 0 || !st.conn.peer_closed() {
        return Err(String::from("our client: no close_notify from Tongsuo"));
    }
    Ok(summary)
}

/// What our center saw of one connection.
#[derive(Debug)]
struct OurServerReport {
    summary: HandshakeSummary,
    peer_subject: String,
    echoed: usize,
}

/// Our center for `conns` connections, each echoing until close_notify, then closing.
/// A failed handshake ends the thread with our error.
fn spawn_our_server(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    conns: usize,
) -> JoinHandle<Result<Vec<OurServerReport>, TlcpError>> {
    std::thread::spawn(move || {
        let mut reports = Vec::new();
        for _ in 0..conns {
            let sock = accept(&listener).map_err(|_| TlcpError::Closed)?;
            let mut st = Stream::new(ServerConnection::new(config.clone()), sock);
            if st.complete_handshake().is_err() {
                let e = st.conn.error().cloned().unwrap_or(TlcpError::Closed);
                linger_close(st.sock);
                return Err(e);
            }
            let summary = completion(st.take_events()).map_err(|_| TlcpError::HandshakeNotComplete)?;
            let peer_subject = st.conn.peer().map(|p| p.subject.clone()).unwrap_or_default();
            let mut echoed = 0;
            let mut buf = vec![0u8; 1 << 15];
            loop {
                let n = st.read(&mut buf).map_err(|_| st.conn.error().cloned().unwrap_or(TlcpError::Closed))?;
                if n == 0 {
                    break;
                }
                st.write_all(&buf[..n]).map_err(|_| TlcpError::Closed)?;
                echoed += n;
            }
            st.close().map_err(|_| TlcpError::Closed)?;
            reports.push(OurServerReport { summary, peer_subject, echoed });
        }
        Ok(reports)
    })
}

fn total_len() -> usize {
    messages().iter().map(Vec::len).sum()
}

// ---- scenarios ----

/// Our client against a Tongsuo server: a full handshake, then a second connection.
///
/// Without session_ticket, the second connection resumes the session by its ID. With it,
/// Tongsuo issues a NewSessionTicket and, as OpenSSL does for ticketed sessions, an empty
/// session ID; our client keeps no tickets, so there is nothing to resume and both
/// connections are full handshakes.
fn client_to_tongsuo(pki: &TestPki, client: &Credentials, suite: CipherSuite, profile: Profile, ticket: bool) {
    let what = format!("our client ({profile}, session_ticket {ticket}) -> Tongsuo server, {suite:?}");
    let (listener, addr) = listen().expect("listen");
    let ctx = tongsuo_context(true, &pki.ca, &pki.server, tongsuo_name(suite)).expect("Tongsuo server context");
    let server = spawn_tongsuo_server(listener, ctx, 2);
    let config = Arc::new(our_client_config(&pki.ca, client, profile, &[suite], ticket));

    let first = our_client(addr, &config);
    let second = first.as_ref().ok().map(|_| our_client(addr, &config));
    let tongsuo = if second.is_some() { server.join().expect("Tongsuo server thread") } else { Err(String::new()) };
    let first = first.unwrap_or_else(|e| panic!("{what}: first connection: {e}"));
    assert_eq!(first.suite, suite, "{what}");
    // Tongsuo ignores seed_order: `auto` falls back to the standard order.
    assert_eq!(first.order, NegotiatedOrder::Tlcp, "{what}");
    assert!(!first.resumed, "{what}");
    assert!(first.peer_subject.contains("CN=localhost"), "{what}: {}", first.peer_subject);
    assert_eq!(first.session_id.is_empty(), ticket, "{what}: session ID {:02x?}", first.session_id);
    let second = second.expect("second connection ran").unwrap_or_else(|e| panic!("{what}: second connection: {e}"));
    assert_eq!(second.resumed, !ticket, "{what}: {second:?}");
    if !ticket {
        assert_eq!(second.session_id, first.session_id, "{what}");
    }
    let reports = tongsuo.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(reports.len(), 2);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.cipher, tongsuo_name(suite), "{what}");
        assert_eq!(r.echoed, total_len(), "{what}");
        assert_eq!(r.reused, i == 1 && !ticket, "{what}: Tongsuo's view of resumption");
        assert!(r.peer_subject.contains("sign"), "{what}: {}", r.peer_subject);
    }
}

/// A Tongsuo client against our server: a full handshake, then a second connection offering
/// the SSL_SESSION, which our server must resume by session ID (it issues no tickets).
fn tongsuo_to_server(pki: &TestPki, suite: CipherSuite, profile: Profile) {
    let what = format!("Tongsuo client -> our server ({profile}), {suite:?}");
    let (listener, addr) = listen().expect("listen");
    let config = Arc::new(our_server_config(&pki.ca, &pki.server, profile, &[suite]));
    let server = spawn_our_server(listener, config, 2);
    let ctx = tongsuo_context(false, &pki.ca, &pki.client, tongsuo_name(suite)).expect("Tongsuo client context");

    let first = tongsuo_client(addr, &ctx, None);
    let second = match &first {
        Ok((_, Some(session))) => Some(tongsuo_client(addr, &ctx, Some(session))),
        _ => None,
    };
    let ours = server.join().expect("our server thread");
    let (first, session) = first.unwrap_or_else(|e| panic!("{what}: first connection: {e}; our server: {ours:?}"));
    assert!(session.is_some(), "{what}: Tongsuo kept no session");
    assert_eq!(first.cipher, tongsuo_name(suite), "{what}");
    assert!(!first.reused, "{what}");
    assert_eq!(first.echoed, total_len(), "{what}");
    let (second, _) = second.expect("second ran").unwrap_or_else(|e| panic!("{what}: resumption: {e}; ours: {ours:?}"));
    assert!(second.reused, "{what}: Tongsuo did not resume");
    let reports = ours.unwrap_or_else(|e| panic!("{what}: our server: {e}"));
    assert_eq!(reports.len(), 2);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.summary.suite, suite, "{what}");
        assert_eq!(r.summary.order, NegotiatedOrder::Tlcp, "{what}");
        assert_eq!(r.summary.resumed, i == 1, "{what}: our view of resumption");
        assert_eq!(r.echoed, total_len(), "{what}");
        assert!(r.peer_subject.contains("Interop"), "{what}: {}", r.peer_subject);
    }
    assert_eq!(reports[1].summary.session_id, reports[0].summary.session_id, "{what}");
}

// ---- 1. our client, Tongsuo server (ECC) ----

#[test]
fn ecc_our_client_to_tongsuo_server_tlcp_profile() {
    for suite in ECC_SUITES {
        client_to_tongsuo(vectors(), &vectors().client, suite, Profile::Tlcp, false);
    }
}

#[test]
fn ecc_our_client_to_tongsuo_server_auto_profile_falls_back() {
    for suite in ECC_SUITES {
        client_to_tongsuo(vectors(), &vectors().client, suite, Profile::Auto, false);
    }
}

#[test]
fn ecc_our_client_offering_session_ticket_to_tongsuo_server() {
    for suite in ECC_SUITES {
        for profile in [Profile::Tlcp, Profile::Auto] {
            client_to_tongsuo(vectors(), &vectors().client, suite, profile, true);
        }
    }
}

/// Regression: when the server acknowledges session_ticket on an abbreviated handshake, it
/// sends a NewSessionTicket before its ChangeCipherSpec (RFC 5077 §3.1; Tongsuo does). Our
/// client once refused it on resumption with unexpected_message.
///
/// A session with an ID (no ticket offered), then a resumption offering session_ticket,
/// which Tongsuo answers with a resumed handshake and a fresh ticket.
#[test]
fn ecc_our_client_resumes_when_tongsuo_also_sends_a_ticket() {
    let pki = vectors();
    let suite = CipherSuite::ECC_SM4_GCM_SM3;
    let (listener, addr) = listen().expect("listen");
    let ctx = tongsuo_context(true, &pki.ca, &pki.server, tongsuo_name(suite)).expect("context");
    let server = spawn_tongsuo_server(listener, ctx, 2);
    let without = Arc::new(our_client_config(&pki.ca, &pki.client, Profile::Tlcp, &[suite], false));
    let mut with = our_client_config(&pki.ca, &pki.client, Profile::Tlcp, &[suite], true);
    with.session_store = without.session_store.clone();
    let with = Arc::new(with);
    let first = our_client(addr, &without).expect("full handshake");
    assert!(!first.session_id.is_empty());
    let second = our_client(addr, &with);
    let reports = server.join().expect("thread");
    let second = second.unwrap_or_else(|e| panic!("resumption with a ticket: {e}; Tongsuo: {reports:?}"));
    assert!(second.resumed);
    assert!(reports.expect("Tongsuo")[1].reused);
}

/// A terminal set to `seed` must refuse a center that does not confirm the seed order.
#[test]
fn ecc_seed_profile_refuses_tongsuo_server() {
    let pki = vectors();
    let suite = CipherSuite::ECC_SM4_GCM_SM3;
    let (listener, addr) = listen().expect("listen");
    let ctx = tongsuo_context(true, &pki.ca, &pki.server, tongsuo_name(suite)).expect("context");
    let server = spawn_tongsuo_server(listener, ctx, 1);
    let config = Arc::new(our_client_config(&pki.ca, &pki.client, Profile::Seed, &[suite], false));
    let err = our_client(addr, &config).expect_err("seed order must be refused");
    assert!(err.contains("did not confirm the seed order"), "{err}");
    let tongsuo = server.join().expect("thread").expect_err("Tongsuo must see our alert");
    assert!(tongsuo.contains("handshake failure"), "{tongsuo}");
}

// ---- 2. Tongsuo client, our server (ECC) ----

#[test]
fn ecc_tongsuo_client_to_our_server_auto_profile() {
    for suite in ECC_SUITES {
        tongsuo_to_server(vectors(), suite, Profile::Auto);
    }
}

#[test]
fn ecc_tongsuo_client_to_our_server_tlcp_profile() {
    for suite in ECC_SUITES {
        tongsuo_to_server(vectors(), suite, Profile::Tlcp);
    }
}

// ---- 3. RSA suites, both ways ----

#[test]
fn rsa_our_client_to_tongsuo_server() {
    let pki = rsa_pki();
    for suite in RSA_SUITES {
        client_to_tongsuo(pki, &pki.client, suite, Profile::Tlcp, false);
    }
}

#[test]
fn rsa_tongsuo_client_to_our_server() {
    let pki = rsa_pki();
    for suite in RSA_SUITES {
        tongsuo_to_server(pki, suite, Profile::Auto);
    }
}

/// A band keeps its SM2 key even when the center runs an RSA suite: its CertificateVerify
/// is then SM2 over SM3 of the transcript, also in the _SHA256 suites (Tongsuo picks the
/// signature's hash by key type).
#[test]
fn rsa_suites_with_an_sm2_terminal_to_tongsuo_server() {
    let pki = rsa_pki();
    let band = pki.issue_terminal(KeyAlgorithm::Sm2).expect("issue an SM2 terminal");
    for suite in RSA_SUITES {
        client_to_tongsuo(pki, &band, suite, Profile::Auto, false);
    }
}

// ---- 4. refusals ----

/// A Tongsuo client whose certificates come from another CA: our center answers unknown_ca
/// and Tongsuo reports that alert.
#[test]
fn tongsuo_client_from_another_ca_gets_unknown_ca() {
    let pki = vectors();
    let other = TestPki::issue("Some Other CA", KeyAlgorithm::Sm2).expect("issue");
    let suite = CipherSuite::ECC_SM4_GCM_SM3;
    let (listener, addr) = listen().expect("listen");
    let server =
        spawn_our_server(listener, Arc::new(our_server_config(&pki.ca, &pki.server, Profile::Auto, &[suite])), 1);
    // Tongsuo trusts our center's CA but presents the other CA's terminal certificates.
    let ctx = tongsuo_context(false, &pki.ca, &other.client, tongsuo_name(suite)).expect("context");
    let Err(err) = tongsuo_client(addr, &ctx, None) else { panic!("the handshake must fail") };
    let ours = server.join().expect("thread").expect_err("our server must refuse");
    assert!(
        matches!(&ours, TlcpError::Certificate(wearpay_tlcp::verify::CertError::UnknownCa(_))),
        "our server: {ours:?}"
    );
    assert!(err.contains("unknown ca"), "Tongsuo's error does not name the alert: {err}");
    eprintln!("Tongsuo client, refused: {err}");
}

/// A center set to `seed` refuses a terminal that does not ask for the seed order, as
/// Tongsuo never does: handshake_failure, which Tongsuo reports.
#[test]
fn tongsuo_client_to_seed_only_server_gets_handshake_failure() {
    let pki = vectors();
    let suite = CipherSuite::ECC_SM4_CBC_SM3;
    let (listener, addr) = listen().expect("listen");
    let server =
        spawn_our_server(listener, Arc::new(our_server_config(&pki.ca, &pki.server, Profile::Seed, &[suite])), 1);
    let ctx = tongsuo_context(false, &pki.ca, &pki.client, tongsuo_name(suite)).expect("context");
    let Err(err) = tongsuo_client(addr, &ctx, None) else { panic!("the handshake must fail") };
    let ours = server.join().expect("thread").expect_err("our server must refuse");
    assert_eq!(ours, TlcpError::SeedOrderRequired);
    assert!(err.contains("handshake failure"), "Tongsuo's error does not name the alert: {err}");
}
