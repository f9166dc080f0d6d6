//! Broken input: truncated and trailing-garbage DER and PEM give typed decode errors, and
//! random mutations never panic the parsers.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use wearpay_pki::{
    Certificate, CertificateRequest, Crl, CrlBuilder, CsrBuilder, DecodeErrorKind, Error, RevocationReason, Role,
    UnixTime, detect, verify_chain,
};

type Parser = fn(&[u8]) -> Result<(), Error>;

fn parse_cert(b: &[u8]) -> Result<(), Error> {
    Certificate::parse(b).map(|_| ())
}
fn parse_csr(b: &[u8]) -> Result<(), Error> {
    CertificateRequest::parse(b).map(|_| ())
}
fn parse_crl(b: &[u8]) -> Result<(), Error> {
    Crl::parse(b).map(|_| ())
}

struct Samples {
    items: Vec<(&'static str, Vec<u8>, String, Parser)>,
}

fn samples() -> Samples {
    let pki = Pki::new(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band");
    let k = cached_key(SM2, 4);
    let csr = CsrBuilder::new(dn("CN=band,O=wearpay")).challenge_password("abcdef0123").unwrap().sign(P, &*k).unwrap();
    let crl = CrlBuilder::new(NOW, NOW.plus_days(1), 7)
        .revoke(leaf.serial(), NOW, Some(RevocationReason::KeyCompromise))
        .revoke(&[1, 2, 3], NOW, None)
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap();
    let tongsuo = std::fs::read(vectors().join("ecc_sm4_cbc_sm3/certs/srv_sign.crt")).unwrap();
    let tongsuo = Certificate::parse(&tongsuo).unwrap();
    Samples {
        items: vec![
            ("certificate", leaf.as_der().to_vec(), leaf.to_pem(), parse_cert as Parser),
            ("tongsuo certificate", tongsuo.as_der().to_vec(), tongsuo.to_pem(), parse_cert),
            ("csr", csr.as_der().to_vec(), csr.to_pem(), parse_csr),
            ("crl", crl.as_der().to_vec(), crl.to_pem(), parse_crl),
        ],
    }
}

fn kind(e: &Error) -> Option<&DecodeErrorKind> {
    match e {
        Error::Decode(d) => Some(&d.kind),
        _ => None,
    }
}

#[test]
fn truncated_der_is_a_decode_error() {
    for (name, der, _, parse) in samples().items {
        for cut in [1, 2, 10, der.len() / 2, der.len() - 1] {
            let err = parse(&der[..der.len() - cut]).unwrap_err();
            assert!(kind(&err).is_some(), "{name} cut {cut}: {err}");
        }
        // Cutting one byte is reported as truncation.
        let err = parse(&der[..der.len() - 1]).unwrap_err();
        assert_eq!(kind(&err), Some(&DecodeErrorKind::Truncated), "{name}: {err}");
        assert!(parse(&[]).is_err());
    }
}

#[test]
fn trailing_garbage_after_der_is_a_decode_error() {
    for (name, der, _, parse) in samples().items {
        for junk in [&[0u8][..], b"\x30\x00", b"garbage"] {
            let mut long = der.clone();
            long.extend_from_slice(junk);
            let err = parse(&long).unwrap_err();
            assert_eq!(kind(&err), Some(&DecodeErrorKind::TrailingData), "{name} + {junk:?}: {err}");
        }
    }
}

#[test]
fn truncated_pem_is_a_decode_error() {
    for (name, _, pem, parse) in samples().items {
        for cut in [2, 5, 26, 30, pem.len() / 2] {
            let err = parse(&pem.as_bytes()[..pem.len() - cut]).unwrap_err();
            assert!(kind(&err).is_some(), "{name} cut {cut}: {err}");
        }
        // Without its END line.
        let body = pem.rsplit_once("-----END").unwrap().0;
        let err = parse(body.as_bytes()).unwrap_err();
        assert_eq!(kind(&err), Some(&DecodeErrorKind::Truncated), "{name}: {err}");
        // With base64 lines missing.
        let lines: Vec<&str> = pem.lines().collect();
        let short = [&lines[..2], &lines[lines.len() - 1..]].concat().join("\n");
        assert!(kind(&parse(short.as_bytes()).unwrap_err()).is_some(), "{name}");
    }
}

#[test]
fn trailing_garbage_after_pem_is_a_decode_error() {
    for (name, der, pem, parse) in samples().items {
        let err = parse(format!("{pem}trailing words\n").as_bytes()).unwrap_err();
        assert_eq!(kind(&err), Some(&DecodeErrorKind::TrailingData), "{name}: {err}");
        // Garbage inside the encoded DER.
        let mut long = der.clone();
        long.extend_from_slice(b"\x00\x00");
        let label = pem.lines().next().unwrap().trim_start_matches("-----BEGIN ").trim_end_matches("-----");
        let bad = wearpay_pki::pem::encode(label, &long);
        let err = parse(bad.as_bytes()).unwrap_err();
        assert_eq!(kind(&err), Some(&DecodeErrorKind::TrailingData), "{name}: {err}");
        // Two blocks where one is expected.
        let err = parse(format!("{pem}{pem}").as_bytes()).unwrap_err();
        assert!(kind(&err).is_some(), "{name}: {err}");
        // Whitespace after the block is fine.
        parse(format!("{pem}\n\n  \n").as_bytes()).unwrap();
        // CRLF line ends are fine.
        parse(pem.replace('\n', "\r\n").as_bytes()).unwrap();
    }
}

#[test]
fn wrong_pem_label_says_what_it_found() {
    let s = samples();
    let (_, _, csr_pem, _) = &s.items[2];
    let err = Certificate::parse(csr_pem.as_bytes()).unwrap_err();
    assert!(
        matches!(kind(&err), Some(DecodeErrorKind::UnexpectedLabel { found, .. }) if found == "CERTIFICATE REQUEST"),
        "{err}"
    );
}

#[test]
fn random_mutations_never_panic() {
    let s = samples();
    let pki = Pki::new(SM2);
    let roots = pki.roots();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut accepted = 0usize;
    for (name, der, pem, parse) in &s.items {
        for i in 0..1500 {
            let mut m = der.clone();
            match rng.below(4) {
                0 => {
                    // Flip 1 to 4 bytes.
                    for _ in 0..=rng.below(4) {
                        let p = rng.below(m.len());
                        m[p] ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    let p = rng.below(m.len());
                    m[p] = rng.next() as u8;
                }
                2 => {
                    // Delete or duplicate a range.
                    let a = rng.below(m.len());
                    let b = (a + rng.below(16)).min(m.len());
                    if rng.below(2) == 0 {
                        m.drain(a..b);
                    } else {
                        let chunk = m[a..b].to_vec();
                        m.splice(a..a, chunk);
                    }
                }
                _ => {
                    // Length bytes are the interesting ones: hit a small value near a tag.
                    let p = rng.below(m.len());
                    m[p] = [0x00, 0x7f, 0x80, 0x81, 0x82, 0xff][rng.below(6)];
                }
            }
            if let Ok(()) = parse(&m) {
                accepted += 1;
                // Whatever parses must also survive verification and detection.
                if let Ok(c) = Certificate::from_der(&m) {
                    let _ = verify_chain(P, &c, &[], &roots, NOW, Some(Role::Terminal), &[]);
                    let _ = c.to_pem();
                }
                if let Ok(c) = CertificateRequest::from_der(&m) {
                    let _ = c.verify(P);
                }
                if let Ok(c) = Crl::from_der(&m) {
                    let _ = c.verify(P, &pki.ca, NOW);
                }
            }
            let _ = detect(&m);
            // And the PEM text mutated.
            if i % 5 == 0 {
                let mut t = pem.clone().into_bytes();
                let p = rng.below(t.len());
                t[p] = rng.next() as u8;
                let _ = parse(&t);
                let _ = detect(&t);
                let _ = wearpay_pki::load_private_key(P, &t, Some(b"x"));
            }
        }
        eprintln!("{name}: mutations done");
    }
    // Some single-bit flips in signature bytes or names still parse: the parser is not
    // rejecting everything.
    assert!(accepted > 0);
}

#[test]
fn key_mutations_never_panic() {
    let k = cached_key(SM2, 4);
    let how = wearpay_pki::KeyEncryption { iterations: 2, ..wearpay_pki::KeyEncryption::OPENSSL };
    let enc = wearpay_pki::private_key_to_pem(P, &*k, Some((b"pw", &how))).unwrap();
    let enc = wearpay_pki::pem::decode_one(enc.as_bytes(), &["ENCRYPTED PRIVATE KEY"], "key").unwrap().der.to_vec();
    let plain = wearpay_pki::private_key_to_pkcs8(&*k).unwrap().to_vec();
    let mut rng = Rng(42);
    for base in [&plain, &enc] {
        for _ in 0..1500 {
            let mut m = base.clone();
            let p = rng.below(m.len());
            m[p] ^= 1 << rng.below(8);
            if rng.below(3) == 0 {
                m.truncate(rng.below(m.len()));
            }
            let _ = wearpay_pki::load_private_key(P, &m, Some(b"pw"));
        }
    }
}

#[test]
fn time_parsing() {
    assert_eq!(UnixTime::parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), UnixTime(0));
    assert_eq!(UnixTime::parse_rfc3339("2027-01-01").unwrap().to_string(), "2027-01-01T00:00:00Z");
    assert_eq!(UnixTime::parse_rfc3339("2027-01-01T12:30:00.250Z").unwrap().to_string(), "2027-01-01T12:30:00Z");
    assert_eq!(UnixTime::parse_rfc3339("2027-01-01T12:30:00+00:00").unwrap().to_string(), "2027-01-01T12:30:00Z");
    assert!(UnixTime::parse_rfc3339("yesterday").is_err());
    assert!(UnixTime::parse_rfc3339("2027-01-01T12:30:00+08:00").is_err());
}
