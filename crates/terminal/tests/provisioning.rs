//! What enrollment gives the band: the bundle round-trips through its text and its file,
//! the center's receipt and PIN certificates are checked for their roles, a band
//! certificate for another key is refused, and a band provisioned with the wrong receipt
//! key refuses the real center's receipts and keeps the payment pending.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::sync::Arc;

use common::{World, system_now};
use wearpay_crypto::{KeyAlgorithm, SigningKey, portable::PROVIDER};
use wearpay_pay::{Mode, Outcome, Renewed};
use wearpay_pki::{Role, generate_key};
use wearpay_terminal::{Approval, Error, Provisioning, Scripted, ScriptedUi, SecureElement, SoftSe, Terminal};
use wearpay_tlcp::session::MemorySessionStore;

#[test]
fn the_bundle_round_trips_through_text_and_file() {
    let world = World::new();
    let band = world.enroll_band("band-1");
    let p = band.provisioning().clone();
    let text = p.to_text();
    assert!(text.starts_with("wearpay-provisioning 1\nserver-name center.wearpay.test\naccount Alice\npan "));
    assert_eq!(Provisioning::from_text(&text).unwrap(), p);
    // With chains in both places, every section comes back in its place.
    let mut with_chains = p.clone();
    with_chains.band_chain = vec![world.terminal_ca.cert.clone()];
    with_chains.center_chain = vec![world.center_ca.cert.clone()];
    assert_eq!(Provisioning::from_text(&with_chains.to_text()).unwrap(), with_chains);

    let path = world.dir.path().join("band.provisioning");
    p.save(&path).unwrap();
    assert_eq!(Provisioning::load(&path, system_now()).unwrap(), p);
    // The certificates are ordinary PEM: the first one is the band's.
    let first = wearpay_pki::Certificate::parse_all(text.split_once("band-certificate\n").unwrap().1.as_bytes());
    assert_eq!(first.unwrap()[0], p.band_certificate);
}

#[test]
fn malformed_bundles_are_refused() {
    let world = World::new();
    let text = world.enroll_band("band-1").provisioning().to_text();
    let cases: Vec<(String, &str)> = vec![
        (text.replace("wearpay-provisioning 1", "wearpay-provisioning 2"), "version"),
        (text.replace("server-name center.wearpay.test\n", ""), "no server-name"),
        (text.replace("pan 6222021234567890123", "pan 12AB"), "bad pan"),
        (text.replace("account Alice", "account Alice\naccount Bob"), "repeated header"),
        (text.replace("account Alice", "colour blue"), "unknown header"),
        (text.replace("center-pin\n", "center-receipt\n"), "repeated section"),
        (text.replace("trust-anchor\n", "band-chain-x\n"), "garbage in a section"),
        (text.replace("BEGIN CERTIFICATE-----\nMII", "BEGIN CERTIFICATE-----\nXII"), "bad certificate"),
    ];
    for (bad, why) in cases {
        assert!(Provisioning::from_text(&bad).is_err(), "accepted: {why}");
    }
    // A missing trust anchor.
    let start = text.find("trust-anchor\n").unwrap();
    let end = text.find("center-receipt\n").unwrap();
    let no_anchor = format!("{}{}", &text[..start], &text[end..]);
    assert!(matches!(Provisioning::from_text(&no_anchor), Err(Error::Provisioning(_))));
}

#[test]
fn the_center_certificates_must_have_their_roles() {
    let world = World::new();
    let p = world.enroll_band("band-1").provisioning().clone();
    p.verify(&PROVIDER, system_now()).unwrap();
    // Receipt and PIN certificates swapped: each has the other's key usage.
    let swapped = Provisioning {
        receipt_certificate: p.pin_certificate.clone(),
        pin_certificate: p.receipt_certificate.clone(),
        ..p.clone()
    };
    let err = swapped.verify(&PROVIDER, system_now()).unwrap_err();
    assert!(matches!(err, Error::Pki(wearpay_pki::Error::WrongKeyUsage { .. })), "{err}");
    // A channel certificate (serverAuth) cannot stand in for the receipt certificate.
    let key = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let channel = world.center_ca.issue(Role::CenterSign, "CN=center.wearpay.test", SigningKey::public_key(&*key), 30);
    let wrong = Provisioning { receipt_certificate: channel, ..p.clone() };
    assert!(matches!(wrong.verify(&PROVIDER, system_now()), Err(Error::Pki(_))));
    // Another root: not trusted.
    let other = common::Ca::new("CN=someone else");
    let foreign = Provisioning { trust_anchors: vec![other.cert.clone()], ..p.clone() };
    assert!(matches!(foreign.verify(&PROVIDER, system_now()), Err(Error::Pki(_))));
    // Expired by then.
    let later = wearpay_pay::Timestamp(system_now().0 + 400 * 86_400);
    assert!(matches!(p.verify(&PROVIDER, later), Err(Error::Pki(wearpay_pki::Error::Expired { .. }))));
}

#[test]
fn a_band_certificate_for_another_key_is_refused() {
    let world = World::new();
    let p = world.enroll_band("band-1").provisioning().clone();
    let mut se = SoftSe::create_with_iterations(world.se_path("other.se"), common::DEVICE_SECRET, 1_000).unwrap();
    se.generate_key(KeyAlgorithm::Sm2).unwrap();
    let mut band =
        Terminal::new(se, ScriptedUi::default(), world.clock.clone(), p, Arc::new(MemorySessionStore::new(4, 60)))
            .unwrap();
    let order = world.order("ORD-1", "1.00");
    let err = band.pay(&order, Mode::Quick, world.connect()).unwrap_err();
    assert!(matches!(err, Error::CertificateMismatch), "{err}");
}

#[test]
fn a_receipt_that_does_not_verify_leaves_the_payment_pending() {
    let world = World::new();
    let good = world.enroll_band("band-1");
    // The same band, provisioned with a receipt certificate for a key the center does not
    // sign with.
    let key = generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap();
    let impostor = world.center_ca.issue(Role::CenterReceipt, "CN=wearpay receipts", SigningKey::public_key(&*key), 30);
    let p = Provisioning { receipt_certificate: impostor, ..good.provisioning().clone() };
    drop(good);
    let mut se = SoftSe::open(world.se_path("band-1"), common::DEVICE_SECRET).unwrap();
    se.set_user(common::willing_user());
    let mut band = Terminal::new(
        se,
        ScriptedUi::new([Scripted::Press(Approval::Pressed)]),
        world.clock.clone(),
        p.clone(),
        Arc::new(MemorySessionStore::new(4, 60)),
    )
    .unwrap();
    let order = world.order("ORD-1", "1.00");
    let err = band.pay(&order, Mode::Quick, world.connect()).unwrap_err();
    assert!(matches!(err, Error::BadReceipt(_)), "{err}");
    // Not settled: still pending, no receipt stored, the floor not raised.
    assert_eq!(band.pending().len(), 1);
    assert!(band.receipts().unwrap().is_empty());
    assert_eq!(band.se().time_floor().0, 0);

    // Correctly provisioned again, the band settles it from the center's stored answer.
    let se = SoftSe::open(world.se_path("band-1"), common::DEVICE_SECRET).unwrap();
    let fixed = Provisioning { receipt_certificate: world.provisioning.receipt_certificate.clone(), ..p };
    let mut band =
        Terminal::new(se, ScriptedUi::default(), world.clock.clone(), fixed, Arc::new(MemorySessionStore::new(4, 60)))
            .unwrap();
    let recovery = band.resume_pending(world.connect()).unwrap();
    assert_eq!(recovery.settled.len(), 1);
    assert_eq!(recovery.settled[0].outcome, Outcome::Approved);
    assert_eq!(world.balance(world.merchant_account), 100);
}

/// What a renewal returns is kept only when every certificate checks out: the band's for
/// its own key and subject, from a CA it trusts, and the center's in their roles.
#[test]
fn a_renewal_is_kept_only_when_every_certificate_checks_out() {
    let world = World::new();
    let band = world.enroll_band("band-1");
    let p = band.provisioning().clone();
    let key = band.se().signing_key().unwrap().public_key();
    let subject = p.band_certificate.subject().to_string();
    let der = |c: &wearpay_pki::Certificate| c.as_der().to_vec();
    let renewed = |cert: wearpay_pki::Certificate| Renewed {
        certificate: der(&cert),
        chain: vec![der(&world.terminal_ca.cert)],
        receipt_certificate: der(&p.receipt_certificate),
        pin_certificate: der(&p.pin_certificate),
    };
    let at = system_now();

    let good = renewed(world.terminal_ca.issue(Role::Terminal, &subject, key.clone(), 365));
    let next = p.renewed(&good, &key, &PROVIDER, at).unwrap();
    assert_ne!(next.band_certificate.serial(), p.band_certificate.serial());
    assert_eq!(next.pan, p.pan);
    assert!(next.earliest_expiry() >= p.earliest_expiry());

    let other = SigningKey::public_key(&*generate_key(&PROVIDER, KeyAlgorithm::Sm2).unwrap());
    let for_other = renewed(world.terminal_ca.issue(Role::Terminal, &subject, other, 365));
    assert!(matches!(p.renewed(&for_other, &key, &PROVIDER, at), Err(Error::CertificateMismatch)));
    let renamed = renewed(world.terminal_ca.issue(Role::Terminal, "CN=someone else", key.clone(), 365));
    assert!(matches!(p.renewed(&renamed, &key, &PROVIDER, at), Err(Error::Provisioning(_))));
    let rogue = common::Ca::new("CN=rogue CA");
    let mut untrusted = renewed(rogue.issue(Role::Terminal, &subject, key.clone(), 365));
    untrusted.chain = vec![der(&rogue.cert)];
    assert!(matches!(p.renewed(&untrusted, &key, &PROVIDER, at), Err(Error::Pki(_))));
    let mut swapped = good.clone();
    swapped.receipt_certificate = der(&p.pin_certificate);
    assert!(p.renewed(&swapped, &key, &PROVIDER, at).is_err(), "a PIN certificate taken for the receipt key");
    let mut garbage = good;
    garbage.pin_certificate = vec![0x30, 0x00];
    assert!(p.renewed(&garbage, &key, &PROVIDER, at).is_err());
}
