//! Certificate checks at both ends with real certificates issued for the purpose: the
//! center's check of a terminal (F7) and the terminal's check of the center (F5). Each
//! refusal ends in its typed error at the checking end, the right fatal alert, that alert
//! received by the other end, and no application data delivered.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
mod common;

use std::sync::Arc;

use common::*;
use wearpay_crypto::portable::PROVIDER;
use wearpay_pki::{DAY, Role, UnixTime};
use wearpay_tlcp::msgs::{AlertDescription, HandshakePayload, HandshakeType};
use wearpay_tlcp::verify::CertError;
use wearpay_tlcp::{
    ClientConfig, ClientConnection, Error, PkiClientVerifier, PkiServerVerifier, Profile, ServerConfig,
    ServerConnection,
};

/// Runs a pair with data queued both ways; returns both ends and the flights.
fn run(cc: ClientConfig, sc: ServerConfig) -> (ClientConnection, ServerConnection, Vec<(Dir, Vec<u8>)>) {
    let mut c = ClientConnection::new(Arc::new(cc), NOW).unwrap();
    let mut s = ServerConnection::new(Arc::new(sc));
    c.send_application_data(b"PAY 100.00").unwrap();
    s.send_application_data(b"receipt").unwrap();
    let flights = record_flights(&mut c, &mut s);
    (c, s, flights)
}

fn ok(cc: ClientConfig, sc: ServerConfig) {
    let (mut c, mut s, _) = run(cc, sc);
    assert!(c.error().is_none() && s.error().is_none(), "{:?} {:?}", c.error(), s.error());
    assert_eq!(drain_server(&mut s), vec![b"PAY 100.00".to_vec()]);
    assert_eq!(drain_client(&mut c), vec![b"receipt".to_vec()]);
}

/// The center refuses the terminal with `alert`; returns its typed error.
fn center_refuses(cc: ClientConfig, sc: ServerConfig, alert: AlertDescription) -> CertError {
    let (mut c, mut s, _) = run(cc, sc);
    assert!(drain_client(&mut c).is_empty() && drain_server(&mut s).is_empty());
    assert_refused(s.error(), c.error(), alert);
    match s.error() {
        Some(Error::Certificate(e)) => e.clone(),
        other => panic!("not a certificate error: {other:?}"),
    }
}

/// The terminal refuses the center with `alert`; returns its typed error.
fn terminal_refuses(cc: ClientConfig, sc: ServerConfig, alert: AlertDescription) -> CertError {
    let (mut c, mut s, flights) = run(cc, sc);
    assert!(drain_client(&mut c).is_empty() && drain_server(&mut s).is_empty());
    assert_refused(c.error(), s.error(), alert);
    // F5 fails before the terminal sends anything of its own: its second flight is the alert.
    assert_eq!(records(&flights[2].1).len(), 1);
    match c.error() {
        Some(Error::Certificate(e)) => e.clone(),
        other => panic!("not a certificate error: {other:?}"),
    }
}

fn center() -> ServerConfig {
    center_config(&pki().center, Profile::Auto)
}

fn terminal(id: &Identity) -> ClientConfig {
    terminal_config(id, Profile::Seed)
}

/// A terminal whose certificates (both) are valid from `not_before` to `not_after`.
fn terminal_valid(not_before: UnixTime, not_after: UnixTime) -> Identity {
    let (sign_key, enc_key) = (sm2_key(), sm2_key());
    let ca = &pki().ca;
    let subject = "CN=band 0042,O=wearpay terminals";
    Identity {
        sign_cert: ca.issue_window(Role::Terminal, subject, &*sign_key, not_before, not_after),
        enc_cert: ca.issue_window(Role::TerminalEnc, subject, &*enc_key, not_before, not_after),
        sign_key,
        enc_key,
    }
}

// ---- the center's check of a terminal ----

#[test]
fn a_good_terminal_is_accepted_with_one_or_two_certificates() {
    ok(terminal(&pki().terminal), center());
    // GmSSL's form: the signing certificate alone.
    let mut cc = terminal(&pki().terminal);
    cc.cert_chain.truncate(1);
    ok(cc, center());
}

#[test]
fn a_missing_client_certificate_is_a_handshake_failure() {
    // A terminal with no certificate sends an empty Certificate message.
    let mut cc = terminal(&pki().terminal);
    cc.cert_chain.clear();
    let (c, s, flights) = run(cc, center());
    let HandshakePayload::Certificate(sent) = &plaintext_messages(&flights[2].1)[0].payload else { panic!() };
    assert!(sent.is_empty());
    assert_eq!(s.error(), Some(&Error::Certificate(CertError::Missing)));
    assert_refused(s.error(), c.error(), AlertDescription::HandshakeFailure);

    // A terminal that skips the Certificate message altogether (the middle removes it).
    let mut c = ClientConnection::new(Arc::new(terminal(&pki().terminal)), NOW).unwrap();
    let mut s = ServerConnection::new(Arc::new(center()));
    c.send_application_data(b"PAY").unwrap();
    drive(&mut c, &mut s, NOW, &mut |_, idx, bytes| {
        if idx != 2 {
            return bytes;
        }
        let recs: Vec<Rec> =
            records(&bytes).into_iter().filter(|r| r.payload[0] != u8::from(HandshakeType::Certificate)).collect();
        encode_records(&recs)
    });
    assert!(drain_server(&mut s).is_empty());
    assert_eq!(s.error(), Some(&Error::Certificate(CertError::Missing)));
    assert_refused(s.error(), c.error(), AlertDescription::HandshakeFailure);
}

#[test]
fn a_terminal_of_another_ca_is_refused_with_unknown_ca() {
    let stranger = terminal_of(&pki().other_ca, "band 6666");
    let e = center_refuses(terminal(&stranger), center(), AlertDescription::UnknownCa);
    assert!(matches!(e, CertError::UnknownCa(_)), "{e:?}");
}

#[test]
fn a_revoked_terminal_is_refused_with_certificate_revoked() {
    let t = &pki().terminal;
    let crl = pki().ca.crl(&[t.sign_cert.serial()]);
    let mut sc = center();
    sc.verifier = Arc::new(PkiClientVerifier::new(PROVIDER, vec![pki().ca.cert.clone()], vec![], vec![crl.clone()]));
    let e = center_refuses(terminal(t), sc, AlertDescription::CertificateRevoked);
    assert!(matches!(e, CertError::Revoked(_)), "{e:?}");

    // The same CRL does not touch another terminal.
    let mut sc = center();
    sc.verifier = Arc::new(PkiClientVerifier::new(PROVIDER, vec![pki().ca.cert.clone()], vec![], vec![crl]));
    ok(terminal(&pki().terminal2), sc);
}

#[test]
fn an_expired_or_not_yet_valid_terminal_is_refused_with_certificate_expired() {
    let expired = terminal_valid(NOW.minus_secs(400 * DAY), NOW.minus_secs(DAY));
    let e = center_refuses(terminal(&expired), center(), AlertDescription::CertificateExpired);
    assert!(matches!(&e, CertError::Expired(m) if m.contains("expired")), "{e:?}");

    let early = terminal_valid(NOW.plus_days(1), NOW.plus_days(400));
    let e = center_refuses(terminal(&early), center(), AlertDescription::CertificateExpired);
    assert!(matches!(&e, CertError::Expired(m) if m.contains("not valid before")), "{e:?}");

    // The window is checked at the time the caller gives, not at some clock.
    let mut c = ClientConnection::new(Arc::new(terminal(&expired)), NOW.minus_secs(10 * DAY)).unwrap();
    let mut s = ServerConnection::new(Arc::new(center()));
    pump_at(&mut c, &mut s, NOW.minus_secs(10 * DAY)).unwrap();
    assert!(!s.is_handshaking() && s.error().is_none() && c.error().is_none());
}

#[test]
fn wrong_key_usage_or_eku_is_a_bad_certificate() {
    let ca = &pki().ca;
    let subject = "CN=band 0077,O=wearpay terminals";
    let t = &pki().terminal;

    // A center signing certificate (serverAuth) used as a terminal's: wrong EKU.
    let mut id = t.clone();
    id.sign_cert = ca.issue(Role::CenterSign, subject, &*t.sign_key);
    let e = center_refuses(terminal(&id), center(), AlertDescription::BadCertificate);
    assert!(matches!(&e, CertError::BadCertificate(m) if m.contains("extended key usage")), "{e:?}");

    // A terminal encryption certificate (no digitalSignature) used to sign: wrong key usage.
    let mut id = t.clone();
    id.sign_cert = ca.issue(Role::TerminalEnc, subject, &*t.sign_key);
    let e = center_refuses(terminal(&id), center(), AlertDescription::BadCertificate);
    assert!(matches!(&e, CertError::BadCertificate(m) if m.contains("lacks key usage")), "{e:?}");

    // A good signing certificate with a center encryption certificate beside it.
    let mut id = t.clone();
    id.enc_cert = ca.issue(Role::CenterEnc, subject, &*t.enc_key);
    let e = center_refuses(terminal(&id), center(), AlertDescription::BadCertificate);
    assert!(matches!(&e, CertError::BadCertificate(m) if m.contains("extended key usage")), "{e:?}");
}

/// A terminal that presents someone else's certificate cannot sign for it: the check of
/// the certificate passes, the CertificateVerify fails.
#[test]
fn another_terminals_certificate_without_its_key_fails_at_certificate_verify() {
    let mut cc = terminal(&pki().terminal);
    cc.cert_chain = pki().terminal2.chain();
    let (c, s, _) = run(cc, center());
    assert_eq!(s.error(), Some(&Error::BadSignature("CertificateVerify")));
    assert_refused(s.error(), c.error(), AlertDescription::DecryptError);
}

// ---- the terminal's check of the center ----

#[test]
fn a_center_with_another_name_is_a_bad_certificate() {
    let mut cc = terminal(&pki().terminal);
    cc.server_name = "bank.example".into();
    let e = terminal_refuses(cc, center(), AlertDescription::BadCertificate);
    assert!(matches!(&e, CertError::BadCertificate(m) if m.contains("bank.example")), "{e:?}");
}

#[test]
fn a_center_under_an_unknown_root_is_unknown_ca() {
    let mut cc = terminal(&pki().terminal);
    cc.verifier = Arc::new(PkiServerVerifier::new(PROVIDER, vec![pki().other_ca.cert.clone()], vec![]));
    let e = terminal_refuses(cc, center(), AlertDescription::UnknownCa);
    assert!(matches!(e, CertError::UnknownCa(_)), "{e:?}");
}

#[test]
fn an_expired_center_certificate_is_certificate_expired() {
    let c = &pki().center;
    let subject = format!("CN={SERVER_NAME},O=wearpay center");
    for (what, from, to) in [
        ("signing", NOW.minus_secs(400 * DAY), NOW.minus_secs(DAY)),
        ("encryption", NOW.minus_secs(400 * DAY), NOW.minus_secs(1)),
        ("signing, not yet valid", NOW.plus_days(1), NOW.plus_days(300)),
    ] {
        let mut id = c.clone();
        if what == "encryption" {
            id.enc_cert = pki().ca.issue_window(Role::CenterEnc, &subject, &*c.enc_key, from, to);
        } else {
            id.sign_cert = pki().ca.issue_window(Role::CenterSign, &subject, &*c.sign_key, from, to);
        }
        let e = terminal_refuses(
            terminal(&pki().terminal),
            center_config(&id, Profile::Auto),
            AlertDescription::CertificateExpired,
        );
        assert!(matches!(e, CertError::Expired(_)), "{what}: {e:?}");
    }
}

#[test]
fn a_center_presenting_a_terminal_certificate_is_a_bad_certificate() {
    let c = &pki().center;
    let mut id = c.clone();
    id.sign_cert = pki().ca.issue(Role::Terminal, &format!("CN={SERVER_NAME},O=not a center"), &*c.sign_key);
    let e = terminal_refuses(
        terminal(&pki().terminal),
        center_config(&id, Profile::Auto),
        AlertDescription::BadCertificate,
    );
    assert!(matches!(&e, CertError::BadCertificate(m) if m.contains("extended key usage")), "{e:?}");
}
