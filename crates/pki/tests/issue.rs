//! Issuance profiles, CSRs and CRLs as objects: what we write is what we meant.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use wearpay_pki::{
    AltName, Certificate, CertificateBuilder, CertificateRequest, Crl, CrlBuilder, CsrBuilder, DistinguishedName,
    Error, Item, KeyUsage, Object, RevocationReason, Role, SignatureAlgorithm, UnixTime, detect, oid,
};

#[test]
fn profiles_per_role() {
    let pki = Pki::new(SM2);
    assert!(pki.root.is_ca());
    assert_eq!(pki.root.basic_constraints().unwrap().path_len, Some(1));
    assert_eq!(pki.root.key_usage(), Some(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN));
    assert_eq!(pki.root.authority_key_id(), pki.root.subject_key_id());
    assert!(pki.root.is_self_issued());
    assert_eq!(pki.ca.basic_constraints().unwrap().path_len, Some(0));
    assert_eq!(pki.ca.authority_key_id(), pki.root.subject_key_id());
    assert_eq!(pki.ca.signature_algorithm().unwrap(), SignatureAlgorithm::Sm2Sm3);
    for role in
        [Role::CenterSign, Role::CenterEnc, Role::CenterReceipt, Role::CenterPin, Role::Terminal, Role::TerminalEnc]
    {
        let (leaf, _) = pki.leaf(role, role.name());
        assert_eq!(leaf.version(), 3);
        // No basicConstraints at all on leaves (an empty one breaks GmSSL).
        assert!(leaf.basic_constraints().is_none(), "{role}");
        assert!(leaf.extensions().iter().all(|e| e.oid != oid::BASIC_CONSTRAINTS));
        assert_eq!(leaf.key_usage(), Some(role.key_usage()), "{role}");
        assert!(leaf.extensions().iter().any(|e| e.oid == oid::KEY_USAGE && e.critical));
        let eku = leaf.extended_key_usage_names();
        match role {
            Role::CenterSign | Role::CenterEnc => assert_eq!(eku, ["serverAuth"]),
            Role::Terminal | Role::TerminalEnc => assert_eq!(eku, ["clientAuth"]),
            _ => assert!(eku.is_empty(), "{role}"),
        }
        assert_eq!(leaf.authority_key_id(), pki.ca.subject_key_id());
        assert_eq!(leaf.subject_key_id().unwrap().len(), 20);
        // 128-bit positive serials.
        assert_eq!(leaf.serial().len(), 16);
        assert!(leaf.serial()[0] & 0x80 == 0);
        assert_eq!(leaf.issuer(), pki.ca.subject());
    }
    assert_eq!(Role::CenterSign.key_usage(), KeyUsage::DIGITAL_SIGNATURE | KeyUsage::NON_REPUDIATION);
    assert_eq!(
        Role::TerminalEnc.key_usage(),
        KeyUsage::KEY_ENCIPHERMENT | KeyUsage::DATA_ENCIPHERMENT | KeyUsage::KEY_AGREEMENT
    );
    let rsa = Pki::new(RSA);
    assert_eq!(rsa.ca.signature_algorithm().unwrap(), SignatureAlgorithm::RsaSha256);
}

#[test]
fn center_sign_and_enc_share_a_subject_and_carry_alt_names() {
    let pki = Pki::new(SM2);
    let subject = dn("C=CN,O=wearpay,CN=center.wearpay.example");
    let mut certs = Vec::new();
    for role in [Role::CenterSign, Role::CenterEnc] {
        let k = key(SM2);
        let c = CertificateBuilder::new(role, subject.clone(), pk(&*k))
            .validity(NOW, NOW.plus_days(30))
            .alt_name(AltName::Dns("center.wearpay.example".into()))
            .alt_name(AltName::Ip("127.0.0.1".parse().unwrap()))
            .sign(P, &pki.ca, &*pki.ca_key)
            .unwrap();
        assert_eq!(c.subject_alt_names(), ["DNS:center.wearpay.example", "IP:127.0.0.1"]);
        certs.push(c);
    }
    assert_eq!(certs[0].subject(), certs[1].subject());
    assert_ne!(certs[0].serial(), certs[1].serial());
}

#[test]
fn names_parse_in_both_syntaxes() {
    let a = DistinguishedName::parse("CN=band 1,O=wearpay,C=CN").unwrap();
    let b = DistinguishedName::parse("/CN=band 1/O=wearpay/C=CN").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "CN=band 1, O=wearpay, C=CN");
    assert_eq!(a.common_name(), Some("band 1"));
    let c = DistinguishedName::parse(" C = CN , O = x\\,y , CN = z ").unwrap();
    assert_eq!(c.to_string(), "C=CN, O=x\\,y, CN=z");
    assert_eq!(DistinguishedName::parse(&c.to_string()).unwrap(), c);
    let d = DistinguishedName::parse("emailAddress=a@b.c,2.5.4.3=oid form,OU=unit,ST=BJ,L=Haidian").unwrap();
    assert_eq!(d.to_string(), "emailAddress=a@b.c, CN=oid form, OU=unit, ST=BJ, L=Haidian");
    for bad in ["", "CN", "XX=1", "C=China", "CN=", "/"] {
        assert!(matches!(DistinguishedName::parse(bad), Err(Error::InvalidName(_))), "{bad:?}");
    }
    // Round trip through DER.
    assert_eq!(DistinguishedName::from_der(a.as_der()).unwrap(), a);
}

#[test]
fn builder_refuses_mismatched_keys_and_bad_validity() {
    let pki = Pki::new(SM2);
    let k = key(SM2);
    let other = key(SM2);
    let err = CertificateBuilder::new(Role::Terminal, dn("CN=x"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .sign(P, &pki.ca, &*other)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
    let err = CertificateBuilder::new(Role::Terminal, dn("CN=x"), pk(&*k))
        .validity(NOW, NOW)
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
    let err = CertificateBuilder::new(Role::RootCa, dn("CN=x"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .self_sign(P, &*other);
    assert!(matches!(err, Err(Error::InvalidRequest(_))));
}

#[test]
fn dates_after_2049_use_generalized_time() {
    let k = key(SM2);
    let root = CertificateBuilder::new(Role::RootCa, dn("CN=long root"), pk(&*k))
        .validity(NOW, UnixTime::parse_rfc3339("2060-01-01T00:00:00Z").unwrap())
        .self_sign(P, &*k)
        .unwrap();
    assert_eq!(root.not_after().to_string(), "2060-01-01T00:00:00Z");
    let pos = root.as_der().windows(2).position(|w| w == [0x18, 0x0f]);
    assert!(pos.is_some(), "GeneralizedTime expected");
}

#[test]
fn csr_create_parse_verify_with_challenge() {
    for alg in [SM2, RSA] {
        let k = cached_key(alg, 3);
        let hmac_hex = "3f7a09c1d2e4b5a6978899aabbccddeeff00112233445566778899aabbccddee";
        let csr =
            CsrBuilder::new(dn("CN=band 9,O=wearpay")).challenge_password(hmac_hex).unwrap().sign(P, &*k).unwrap();
        csr.verify(P).unwrap();
        let again = CertificateRequest::parse(csr.to_pem().as_bytes()).unwrap();
        assert_eq!(again.subject().to_string(), "CN=band 9, O=wearpay");
        assert_eq!(again.challenge_password(), Some(hmac_hex));
        assert_eq!(again.public_key().unwrap(), &pk(&*k));
        again.verify(P).unwrap();
        // Non-printable text goes as UTF8String and reads back.
        let csr = CsrBuilder::new(dn("CN=终端")).challenge_password("口令 & more").unwrap().sign(P, &*k).unwrap();
        assert_eq!(CertificateRequest::from_der(csr.as_der()).unwrap().challenge_password(), Some("口令 & more"));
        // Without a challenge.
        let csr = CsrBuilder::new(dn("CN=plain")).sign(P, &*k).unwrap();
        assert_eq!(csr.challenge_password(), None);
    }
    assert!(CsrBuilder::new(dn("CN=x")).challenge_password(&"a".repeat(256)).is_err());
}

#[test]
fn tampered_csr_fails_its_self_signature() {
    let k = key(SM2);
    let csr = CsrBuilder::new(dn("CN=band long name")).challenge_password("0011").unwrap().sign(P, &*k).unwrap();
    let mut der = csr.as_der().to_vec();
    let pos = der.windows(4).position(|w| w == b"long").unwrap();
    der[pos] ^= 1;
    let bad = CertificateRequest::from_der(&der).unwrap();
    assert_eq!(bad.verify(P).unwrap_err(), Error::BadSignature { what: Item::Request });
    // A CSR signed with the empty SM2 ID says so.
    let empty = P.sm2.from_secret(&k.export().unwrap(), b"").unwrap();
    let err = CsrBuilder::new(dn("CN=e")).sign(P, &*empty).unwrap_err();
    assert_eq!(err, Error::SignedWithEmptySm2Id { what: Item::Request });
}

#[test]
fn crl_issue_parse_lookup() {
    let pki = Pki::new(SM2);
    let (a, _) = pki.leaf(Role::Terminal, "a");
    let (b, _) = pki.leaf(Role::Terminal, "b");
    let (c, _) = pki.leaf(Role::Terminal, "c");
    let reasons = [
        RevocationReason::KeyCompromise,
        RevocationReason::CessationOfOperation,
        RevocationReason::Superseded,
        RevocationReason::AffiliationChanged,
        RevocationReason::CertificateHold,
        RevocationReason::CaCompromise,
    ];
    let mut builder = CrlBuilder::new(NOW, NOW.plus_days(7), 4242);
    for (i, r) in reasons.iter().enumerate() {
        let mut serial = vec![0x11, i as u8 + 1];
        serial.extend_from_slice(&[0; 6]);
        builder = builder.revoke(&serial, NOW.minus_secs(i as u64 * 60), Some(*r));
    }
    builder = builder.revoke(a.serial(), NOW.minus_secs(5), Some(RevocationReason::KeyCompromise));
    builder = builder.revoke(b.serial(), NOW.minus_secs(5), None);
    let crl = builder.sign(P, &pki.ca, &*pki.ca_key).unwrap();
    let crl = Crl::parse(crl.to_pem().as_bytes()).unwrap();
    crl.verify(P, &pki.ca, NOW).unwrap();
    assert_eq!(crl.issuer(), pki.ca.subject());
    assert_eq!(crl.crl_number(), Some(&4242u64.to_be_bytes()[6..]));
    assert_eq!(crl.authority_key_id(), pki.ca.subject_key_id());
    assert_eq!(crl.this_update(), NOW);
    assert_eq!(crl.next_update(), Some(NOW.plus_days(7)));
    assert_eq!(crl.entries().len(), reasons.len() + 2);
    for (i, r) in reasons.iter().enumerate() {
        assert_eq!(crl.entries()[i].reason, Some(*r));
    }
    assert_eq!(crl.lookup(a.serial()).unwrap().reason, Some(RevocationReason::KeyCompromise));
    assert_eq!(crl.lookup(b.serial()).unwrap().reason, None);
    assert!(crl.lookup(c.serial()).is_none());
    // Lookup ignores a leading zero byte.
    let mut padded = vec![0];
    padded.extend_from_slice(a.serial());
    assert!(crl.lookup(&padded).is_some());
    // Time window and issuer.
    assert!(matches!(crl.verify(P, &pki.ca, NOW.minus_secs(1)), Err(Error::NotYetValid { .. })));
    assert!(matches!(crl.verify(P, &pki.ca, NOW.plus_days(8)), Err(Error::Expired { .. })));
    assert!(matches!(crl.verify(P, &pki.root, NOW), Err(Error::UnknownIssuer { .. })));
    // Reason names.
    assert_eq!("key-compromise".parse::<RevocationReason>().unwrap(), RevocationReason::KeyCompromise);
    assert_eq!("cessationOfOperation".parse::<RevocationReason>().unwrap(), RevocationReason::CessationOfOperation);
    assert!("lost".parse::<RevocationReason>().is_err());
}

#[test]
fn empty_crl_round_trips_and_detect_tells_objects_apart() {
    let pki = Pki::new(RSA);
    let crl = CrlBuilder::new(NOW, NOW.plus_days(1), 1).sign(P, &pki.ca, &*pki.ca_key).unwrap();
    assert!(crl.entries().is_empty());
    crl.verify(P, &pki.ca, NOW).unwrap();
    let k = cached_key(RSA, 3);
    let csr = CsrBuilder::new(dn("CN=r")).sign(P, &*k).unwrap();
    for (bytes, want) in [
        (pki.ca.to_pem().into_bytes(), "cert"),
        (pki.ca.as_der().to_vec(), "cert"),
        (crl.to_pem().into_bytes(), "crl"),
        (crl.as_der().to_vec(), "crl"),
        (csr.to_pem().into_bytes(), "csr"),
        (csr.as_der().to_vec(), "csr"),
    ] {
        let got = match detect(&bytes).unwrap() {
            Object::Certificate(_) => "cert",
            Object::Crl(_) => "crl",
            Object::Request(_) => "csr",
            _ => "?",
        };
        assert_eq!(got, want);
    }
}

#[test]
fn certificate_bundles_parse() {
    let pki = Pki::new(SM2);
    let bundle = format!("{}{}", pki.ca.to_pem(), pki.root.to_pem());
    let certs = Certificate::parse_all(bundle.as_bytes()).unwrap();
    assert_eq!(certs, vec![pki.ca.clone(), pki.root.clone()]);
    // `openssl x509 -text` output: text before the PEM block is allowed.
    let with_text = format!("Certificate:\n    Data: ...\n{}", pki.ca.to_pem());
    assert_eq!(Certificate::parse(with_text.as_bytes()).unwrap(), pki.ca);
}
