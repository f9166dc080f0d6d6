//! The certificates and keys Tongsuo 8.5 made for the recorded TLCP sessions.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use wearpay_crypto::PublicKey;
use wearpay_pki::{Certificate, Role, files, verify_chain};

const SUITES: [&str; 2] = ["ecc_sm4_cbc_sm3", "ecc_sm4_gcm_sm3"];

#[test]
fn tongsuo_certificates_chain_to_their_ca() {
    for suite in SUITES {
        let dir = vectors().join(suite);
        let ca = files::read_certificate(dir.join("certs/ca.crt")).unwrap();
        assert!(ca.is_ca());
        assert_eq!(ca.subject().to_string(), "C=CN, O=Interop, CN=Interop SM2 Root CA");
        let at = ca.not_before().plus_days(1);
        for (name, role) in [
            ("srv_sign", Role::CenterSign),
            ("srv_enc", Role::CenterEnc),
            ("cli_sign", Role::Terminal),
            ("cli_enc", Role::TerminalEnc),
        ] {
            let cert = files::read_certificate(dir.join(format!("certs/{name}.crt"))).unwrap();
            let anchors = [ca.clone()];
            let path = verify_chain(P, &cert, &[], &anchors, at, Some(role), &[]).unwrap();
            assert_eq!(path.certificates().len(), 2, "{suite}/{name}");
            assert_eq!(path.anchor(), &ca);
            // The key files hold the matching private keys.
            let key = files::read_private_key(P, dir.join(format!("keys/{name}.key")), None).unwrap();
            assert_eq!(&pk(&*key), cert.public_key().unwrap());
            assert!(matches!(cert.public_key().unwrap(), PublicKey::Sm2(_)));
        }
        let ca_key = files::read_private_key(P, dir.join("keys/ca.key"), None).unwrap();
        assert_eq!(&pk(&*ca_key), ca.public_key().unwrap());
    }
}

#[test]
fn tongsuo_ca_signs_with_our_builder_and_its_chain_verifies() {
    let dir = vectors().join(SUITES[0]);
    let ca = files::read_certificate(dir.join("certs/ca.crt")).unwrap();
    let ca_key = files::read_private_key(P, dir.join("keys/ca.key"), None).unwrap();
    let band = key(SM2);
    let at = ca.not_before().plus_days(1);
    let cert = wearpay_pki::CertificateBuilder::new(Role::Terminal, dn("CN=band 7"), pk(&*band))
        .validity(at, at.plus_days(30))
        .sign(P, &ca, &*ca_key)
        .unwrap();
    assert_eq!(cert.authority_key_id(), ca.subject_key_id());
    let anchors: [Certificate; 1] = [ca];
    verify_chain(P, &cert, &[], &anchors, at.plus_secs(60), Some(Role::Terminal), &[]).unwrap();
}
