//! Chain verification: the good paths, and one test per failure with its typed error.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
mod common;

use common::*;
use wearpay_crypto::{DEFAULT_SM2_ID, KeyAlgorithm};
use wearpay_pki::{
    Certificate, CertificateBuilder, CrlBuilder, Error, Item, KeyUsage, RevocationPolicy, RevocationReason, Role,
    UnixTime, Verifier, verify_chain,
};

const LEAF_ROLES: [Role; 6] =
    [Role::CenterSign, Role::CenterEnc, Role::CenterReceipt, Role::CenterPin, Role::Terminal, Role::TerminalEnc];

fn three_levels_all_roles(alg: KeyAlgorithm) {
    let pki = Pki::new(alg);
    for role in LEAF_ROLES {
        let (leaf, _) = pki.leaf(role, role.name());
        let roots = pki.roots();
        let chain = pki.chain();
        let path = verify_chain(P, &leaf, &chain, &roots, NOW, Some(role), &[]).unwrap();
        assert_eq!(path.certificates().len(), 3);
        assert_eq!(path.leaf(), &leaf);
        assert_eq!(path.anchor(), &pki.root);
        assert_eq!(path.public_key().unwrap(), leaf.public_key().unwrap());
        // Without a role, any leaf passes.
        verify_chain(P, &leaf, &chain, &roots, NOW, None, &[]).unwrap();
    }
    // The issuing CA verifies as a CA.
    verify_chain(P, &pki.ca, &[], &pki.roots(), NOW, Some(Role::IssuingCa), &[]).unwrap();
    // The root verifies as itself.
    verify_chain(P, &pki.root, &[], &pki.roots(), NOW, Some(Role::RootCa), &[]).unwrap();
}

#[test]
fn sm2_three_levels_every_role_verifies() {
    three_levels_all_roles(SM2);
}

#[test]
fn rsa_three_levels_every_role_verifies() {
    three_levels_all_roles(RSA);
}

#[test]
fn mixed_rsa_root_sm2_leaf_verifies() {
    let pki = Pki::new(RSA);
    let k = key(SM2);
    let leaf = CertificateBuilder::new(Role::Terminal, dn("CN=mixed"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap();
    verify_chain(P, &leaf, &pki.chain(), &pki.roots(), NOW, Some(Role::Terminal), &[]).unwrap();
}

#[test]
fn expired() {
    let pki = Pki::new(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band");
    let later = leaf.not_after().plus_secs(1);
    let err = verify_chain(P, &leaf, &pki.chain(), &pki.roots(), later, Some(Role::Terminal), &[]).unwrap_err();
    assert_eq!(err, Error::Expired { what: Item::Leaf, not_after: leaf.not_after() });
    assert!(err.to_string().starts_with("certificate expired on "), "{err}");
    // The last second of validity is still valid.
    verify_chain(P, &leaf, &pki.chain(), &pki.roots(), leaf.not_after(), None, &[]).unwrap();
}

#[test]
fn expired_issuing_ca_is_named() {
    let pki = Pki::new(SM2);
    let k = key(SM2);
    // A leaf that outlives its CA, checked after the CA has expired.
    let leaf = CertificateBuilder::new(Role::Terminal, dn("CN=long"), pk(&*k))
        .validity(NOW, pki.ca.not_after().plus_days(10))
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap();
    let at = pki.ca.not_after().plus_days(1);
    let err = verify_chain(P, &leaf, &pki.chain(), &pki.roots(), at, None, &[]).unwrap_err();
    assert!(matches!(&err, Error::Expired { what: Item::Ca(name), .. } if name.contains("Test Issuing CA")), "{err}");
}

#[test]
fn not_yet_valid() {
    let pki = Pki::new(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band");
    let before = leaf.not_before().minus_secs(1);
    let err = verify_chain(P, &leaf, &pki.chain(), &pki.roots(), before, None, &[]).unwrap_err();
    assert_eq!(err, Error::NotYetValid { what: Item::Leaf, not_before: leaf.not_before() });
}

#[test]
fn unknown_ca() {
    let pki = Pki::new(SM2);
    let other = Pki::fresh(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band");
    // Missing intermediate.
    let err = verify_chain(P, &leaf, &[], &pki.roots(), NOW, None, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownIssuer { what: Item::Leaf, issuer } if issuer.contains("Test Issuing CA")),
        "{err}"
    );
    // Another root (same names, other keys: the AKI does not match the other root's SKI).
    let other_root = [Pki::fresh(SM2).root];
    let err = verify_chain(P, &leaf, &pki.chain(), &other_root, NOW, None, &[]).unwrap_err();
    assert!(matches!(err, Error::UnknownIssuer { what: Item::Ca(_), .. }), "{err}");
    // A self-signed certificate that is not a trust anchor.
    let err = verify_chain(P, &other.root, &[], &pki.roots(), NOW, None, &[]).unwrap_err();
    assert!(matches!(err, Error::UnknownIssuer { .. }), "{err}");
}

#[test]
fn flipped_byte_in_signed_part() {
    let pki = Pki::new(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band-with-a-long-name-to-flip");
    let der = leaf.as_der();
    // Flip a byte inside the subject's common name: still well-formed DER.
    let pos = der.windows(4).position(|w| w == b"long").unwrap();
    let mut bad = der.to_vec();
    bad[pos] ^= 0x01;
    let bad = Certificate::from_der(&bad).unwrap();
    let err = verify_chain(P, &bad, &pki.chain(), &pki.roots(), NOW, None, &[]).unwrap_err();
    assert_eq!(err, Error::BadSignature { what: Item::Leaf });

    let rsa = Pki::new(RSA);
    let (leaf, _) = rsa.leaf(Role::CenterSign, "center-with-a-long-name");
    let mut bad = leaf.as_der().to_vec();
    let pos = bad.windows(4).position(|w| w == b"long").unwrap();
    bad[pos] ^= 0x20;
    let bad = Certificate::from_der(&bad).unwrap();
    let err = verify_chain(P, &bad, &rsa.chain(), &rsa.roots(), NOW, None, &[]).unwrap_err();
    assert_eq!(err, Error::BadSignature { what: Item::Leaf });
}

#[test]
fn issuer_that_is_not_a_ca() {
    let pki = Pki::new(SM2);
    let (leaf, leaf_key) = pki.leaf(Role::Terminal, "band");
    let k = key(SM2);
    // The builder refuses to let a leaf issue…
    let err = CertificateBuilder::new(Role::Terminal, dn("CN=rogue"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .sign(P, &leaf, &*leaf_key)
        .unwrap_err();
    assert!(matches!(err, Error::IssuerNotCa { .. }), "{err}");
    // …and the verifier refuses a certificate a leaf signed anyway.
    let rogue = CertificateBuilder::new(Role::Terminal, dn("CN=rogue"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .unchecked()
        .sign(P, &leaf, &*leaf_key)
        .unwrap();
    let chain = [pki.ca.clone(), leaf.clone()];
    let err = verify_chain(P, &rogue, &chain, &pki.roots(), NOW, None, &[]).unwrap_err();
    assert!(matches!(&err, Error::IssuerNotCa { what: Item::Ca(name) } if name.contains("CN=band")), "{err}");
}

#[test]
fn path_length_exceeded() {
    let pki = Pki::new(SM2);
    // The issuing CA has pathlen 0: it may not issue another CA.
    let k = key(SM2);
    let err = CertificateBuilder::new(Role::IssuingCa, dn("CN=sub CA"), pk(&*k))
        .validity(NOW, NOW.plus_days(10))
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap_err();
    assert!(matches!(err, Error::PathLenExceeded { path_len: 0, .. }), "{err}");
    let sub = CertificateBuilder::new(Role::IssuingCa, dn("CN=sub CA"), pk(&*k))
        .validity(NOW, NOW.plus_days(10))
        .unchecked()
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap();
    let k2 = key(SM2);
    let leaf = CertificateBuilder::new(Role::Terminal, dn("CN=deep"), pk(&*k2))
        .validity(NOW, NOW.plus_days(1))
        .sign(P, &sub, &*k)
        .unwrap();
    let chain = [sub, pki.ca.clone()];
    let err = verify_chain(P, &leaf, &chain, &pki.roots(), NOW, None, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::PathLenExceeded { what: Item::Ca(n), path_len: 0 } if n.contains("Issuing")),
        "{err}"
    );
}

#[test]
fn wrong_key_usage_for_role() {
    let pki = Pki::new(SM2);
    let (enc, _) = pki.leaf(Role::TerminalEnc, "band enc");
    let err = verify_chain(P, &enc, &pki.chain(), &pki.roots(), NOW, Some(Role::Terminal), &[]).unwrap_err();
    assert_eq!(err, Error::WrongKeyUsage { what: Item::Leaf, needed: KeyUsage::DIGITAL_SIGNATURE });
    let (sign, _) = pki.leaf(Role::CenterSign, "center sign");
    let err = verify_chain(P, &sign, &pki.chain(), &pki.roots(), NOW, Some(Role::CenterEnc), &[]).unwrap_err();
    assert_eq!(err, Error::WrongKeyUsage { what: Item::Leaf, needed: KeyUsage::KEY_ENCIPHERMENT });
    // A leaf is not a CA.
    let err = verify_chain(P, &sign, &pki.chain(), &pki.roots(), NOW, Some(Role::IssuingCa), &[]).unwrap_err();
    assert!(matches!(err, Error::NotCa { .. }), "{err}");
}

#[test]
fn wrong_extended_key_usage_for_role() {
    let pki = Pki::new(SM2);
    // A terminal certificate cannot act as the center's signing certificate…
    let (band, _) = pki.leaf(Role::Terminal, "band");
    let err = verify_chain(P, &band, &pki.chain(), &pki.roots(), NOW, Some(Role::CenterSign), &[]).unwrap_err();
    assert_eq!(err, Error::WrongExtendedKeyUsage { what: Item::Leaf, needed: "serverAuth" });
    // …nor the other way round…
    let (center, _) = pki.leaf(Role::CenterSign, "center");
    let err = verify_chain(P, &center, &pki.chain(), &pki.roots(), NOW, Some(Role::Terminal), &[]).unwrap_err();
    assert_eq!(err, Error::WrongExtendedKeyUsage { what: Item::Leaf, needed: "clientAuth" });
    // …and a channel certificate is not a receipt certificate.
    let err = verify_chain(P, &center, &pki.chain(), &pki.roots(), NOW, Some(Role::CenterReceipt), &[]).unwrap_err();
    assert!(matches!(err, Error::WrongExtendedKeyUsage { .. }), "{err}");
    // Receipts cannot authenticate a channel.
    let (receipt, _) = pki.leaf(Role::CenterReceipt, "receipts");
    let err = verify_chain(P, &receipt, &pki.chain(), &pki.roots(), NOW, Some(Role::CenterSign), &[]).unwrap_err();
    assert!(matches!(err, Error::WrongExtendedKeyUsage { .. }), "{err}");
}

#[test]
fn crl_signer_without_crl_sign() {
    let pki = Pki::new(SM2);
    // A leaf (digitalSignature, nonRepudiation) that signs a CRL.
    let (leaf, leaf_key) = pki.leaf(Role::Terminal, "band");
    let crl = CrlBuilder::new(NOW, NOW.plus_days(1), 1).sign(P, &leaf, &*leaf_key).unwrap();
    let err = crl.verify(P, &leaf, NOW).unwrap_err();
    assert!(matches!(err, Error::WrongKeyUsage { needed, .. } if needed == KeyUsage::CRL_SIGN), "{err}");
}

#[test]
fn revoked_serial() {
    let pki = Pki::new(SM2);
    let (band, _) = pki.leaf(Role::Terminal, "lost band");
    let (other, _) = pki.leaf(Role::Terminal, "kept band");
    let revoked_at = NOW.minus_secs(3600);
    let crl = CrlBuilder::new(NOW.minus_secs(60), NOW.plus_days(7), 3)
        .revoke(band.serial(), revoked_at, Some(RevocationReason::KeyCompromise))
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap();
    let crls = [crl];
    let err = verify_chain(P, &band, &pki.chain(), &pki.roots(), NOW, Some(Role::Terminal), &crls).unwrap_err();
    assert_eq!(
        err,
        Error::Revoked {
            what: Item::Leaf,
            serial: band.serial_hex(),
            reason: Some(RevocationReason::KeyCompromise),
            revoked_at,
        }
    );
    assert!(err.to_string().contains("keyCompromise"), "{err}");
    verify_chain(P, &other, &pki.chain(), &pki.roots(), NOW, Some(Role::Terminal), &crls).unwrap();
}

#[test]
fn revocation_policy_requires_a_crl_when_asked() {
    let pki = Pki::new(SM2);
    let (band, _) = pki.leaf(Role::Terminal, "band");
    let roots = pki.roots();
    let chain = pki.chain();
    let strict = Verifier::new(P, &roots).revocation(RevocationPolicy::RequireForLeaf);
    let err = strict.verify(&band, &chain, NOW, Some(Role::Terminal)).unwrap_err();
    assert!(matches!(err, Error::NoCrl { what: Item::Leaf, .. }), "{err}");
    let crls = [CrlBuilder::new(NOW, NOW.plus_days(1), 1).sign(P, &pki.ca, &*pki.ca_key).unwrap()];
    strict.crls(&crls).verify(&band, &chain, NOW, Some(Role::Terminal)).unwrap();
    let all = Verifier::new(P, &roots).crls(&crls).revocation(RevocationPolicy::RequireAll);
    let err = all.verify(&band, &chain, NOW, None).unwrap_err();
    assert!(matches!(err, Error::NoCrl { what: Item::Ca(_), .. }), "{err}");
}

#[test]
fn stale_or_forged_crl_is_an_error() {
    let pki = Pki::new(SM2);
    let (band, _) = pki.leaf(Role::Terminal, "band");
    let crl = CrlBuilder::new(NOW.minus_secs(7200), NOW.minus_secs(3600), 1).sign(P, &pki.ca, &*pki.ca_key).unwrap();
    let crls = [crl];
    let err = verify_chain(P, &band, &pki.chain(), &pki.roots(), NOW, None, &crls).unwrap_err();
    assert!(matches!(err, Error::Expired { what: Item::Crl(_), .. }), "{err}");

    let good = CrlBuilder::new(NOW, NOW.plus_days(1), 2).sign(P, &pki.ca, &*pki.ca_key).unwrap();
    // Move thisUpdate by a second: still a well-formed CRL, no longer the signed one.
    let der = flip_first_utc_time(good.as_der());
    let forged = wearpay_pki::Crl::from_der(&der).unwrap();
    let err = forged.verify(P, &pki.ca, NOW).unwrap_err();
    assert!(matches!(err, Error::BadSignature { what: Item::Crl(_) }), "{err}");
}

#[test]
fn signed_with_empty_sm2_id() {
    let pki = Pki::new(SM2);
    // The issuing CA's key, but signing with the empty distinguishing ID, as OpenSSL 3
    // does without `-sigopt distid:…`.
    let scalar = pki.ca_key.export().unwrap();
    let empty_id_key = P.sm2.from_secret(&scalar, b"").unwrap();
    let k = key(SM2);
    let cert = CertificateBuilder::new(Role::Terminal, dn("CN=empty id"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .unchecked()
        .sign(P, &pki.ca, &*empty_id_key)
        .unwrap();
    let err = verify_chain(P, &cert, &pki.chain(), &pki.roots(), NOW, None, &[]).unwrap_err();
    assert_eq!(err, Error::SignedWithEmptySm2Id { what: Item::Leaf });
    assert!(err.to_string().contains("empty SM2 ID"), "{err}");
    // The builder's own check catches it when not told otherwise.
    let err = CertificateBuilder::new(Role::Terminal, dn("CN=empty id"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .sign(P, &pki.ca, &*empty_id_key)
        .unwrap_err();
    assert!(matches!(err, Error::SignedWithEmptySm2Id { .. }), "{err}");
    // And with the right ID all is well.
    let right = P.sm2.from_secret(&scalar, DEFAULT_SM2_ID).unwrap();
    let cert = CertificateBuilder::new(Role::Terminal, dn("CN=right id"), pk(&*k))
        .validity(NOW, NOW.plus_days(1))
        .sign(P, &pki.ca, &*right)
        .unwrap();
    verify_chain(P, &cert, &pki.chain(), &pki.roots(), NOW, None, &[]).unwrap();
}

#[test]
fn intermediate_may_be_a_trust_anchor() {
    let pki = Pki::new(SM2);
    let (band, _) = pki.leaf(Role::Terminal, "band");
    let anchors = [pki.ca.clone()];
    let path = verify_chain(P, &band, &[], &anchors, NOW, Some(Role::Terminal), &[]).unwrap();
    assert_eq!(path.certificates().len(), 2);
}

#[test]
fn path_building_skips_a_same_named_wrong_ca() {
    let pki = Pki::new(SM2);
    let (band, _) = pki.leaf(Role::Terminal, "band");
    // Another issuing CA with the same name but another key, listed first.
    let k = key(SM2);
    let imposter = CertificateBuilder::new(Role::IssuingCa, pki.ca.subject().clone(), pk(&*k))
        .validity(NOW.minus_secs(10), NOW.plus_days(10))
        .sign(P, &pki.root, &*pki.root_key)
        .unwrap();
    let chain = [imposter, pki.ca.clone()];
    verify_chain(P, &band, &chain, &pki.roots(), NOW, Some(Role::Terminal), &[]).unwrap();
}

#[test]
fn time_is_what_the_caller_says() {
    let pki = Pki::new(SM2);
    let (band, _) = pki.leaf(Role::Terminal, "band");
    assert!(verify_chain(P, &band, &pki.chain(), &pki.roots(), UnixTime(0), None, &[]).is_err());
    assert!(verify_chain(P, &band, &pki.chain(), &pki.roots(), UnixTime(u64::MAX / 2), None, &[]).is_err());
}

/// A signature cache spares the signature checks of a chain seen before, and nothing else:
/// validity, role and revocation are checked every time, a failed signature is never
/// recorded, and one changed byte is a new certificate.
#[test]
fn a_signature_cache_skips_only_signatures_it_saw_verify() {
    use core::sync::atomic::{AtomicUsize, Ordering};
    use wearpay_pki::{MemorySignatureCache, SignatureCache};

    /// Counts what the verifier asks.
    #[derive(Debug)]
    struct Counting {
        inner: MemorySignatureCache,
        hits: AtomicUsize,
    }
    impl SignatureCache for Counting {
        fn contains(&self, id: &[u8; 32]) -> bool {
            let hit = self.inner.contains(id);
            self.hits.fetch_add(usize::from(hit), Ordering::Relaxed);
            hit
        }
        fn insert(&self, id: [u8; 32]) {
            self.inner.insert(id);
        }
    }

    let pki = Pki::new(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band-with-a-long-name-to-flip");
    let (roots, chain) = (pki.roots(), pki.chain());
    let cache = Counting { inner: MemorySignatureCache::new(16), hits: AtomicUsize::new(0) };
    let verifier = Verifier::new(P, &roots).signature_cache(&cache);
    verifier.verify(&leaf, &chain, NOW, Some(Role::Terminal)).unwrap();
    assert_eq!((cache.inner.len(), cache.hits.load(Ordering::Relaxed)), (2, 0), "leaf and CA recorded");
    verifier.verify(&leaf, &chain, NOW, Some(Role::Terminal)).unwrap();
    assert_eq!(cache.hits.load(Ordering::Relaxed), 2, "both signatures taken from the cache");

    // Everything but the signature is still checked.
    let later = leaf.not_after().plus_secs(1);
    assert!(matches!(verifier.verify(&leaf, &chain, later, None), Err(Error::Expired { .. })));
    assert!(
        verifier.verify(&leaf, &chain, NOW, Some(Role::CenterSign)).is_err(),
        "a terminal certificate is no center's"
    );
    let crl = CrlBuilder::new(NOW, NOW.plus_days(1), 1)
        .revoke(leaf.serial(), NOW, Some(RevocationReason::KeyCompromise))
        .sign(P, &pki.ca, &*pki.ca_key)
        .unwrap();
    let crls = [crl];
    assert!(matches!(verifier.crls(&crls).verify(&leaf, &chain, NOW, None), Err(Error::Revoked { .. })));

    // A flipped byte is another certificate: verified, refused, not recorded.
    let mut bad = leaf.as_der().to_vec();
    let pos = bad.windows(4).position(|w| w == b"long").unwrap();
    bad[pos] ^= 0x01;
    let bad = Certificate::from_der(&bad).unwrap();
    let before = cache.inner.len();
    assert_eq!(verifier.verify(&bad, &chain, NOW, None).unwrap_err(), Error::BadSignature { what: Item::Leaf });
    assert_eq!(cache.inner.len(), before);
    // Full, the cache starts afresh rather than grow.
    let small = MemorySignatureCache::new(1);
    Verifier::new(P, &roots).signature_cache(&small).verify(&leaf, &chain, NOW, None).unwrap();
    assert_eq!(small.len(), 1);
}

#[test]
fn certificate_cache_finds_exact_der_only() {
    use std::sync::Arc;
    use wearpay_pki::{CertificateCache, MemoryCertificateCache, parse_cached};

    let pki = Pki::new(SM2);
    let (leaf, _) = pki.leaf(Role::Terminal, "band-with-a-long-name-to-flip");
    let cache = MemoryCertificateCache::new(2);
    assert!(cache.get(leaf.as_der()).is_none());
    // Parsing through the cache does not keep: only the caller knows a path verified.
    let parsed = parse_cached(Some(&cache), leaf.as_der()).unwrap();
    assert!(cache.is_empty());
    assert_eq!(*parsed, leaf);
    cache.insert(parsed.clone());
    let again = parse_cached(Some(&cache), leaf.as_der()).unwrap();
    assert!(Arc::ptr_eq(&again, &parsed), "the kept certificate, not a fresh parse");

    // One byte more, less or different is another certificate.
    let mut flipped = leaf.as_der().to_vec();
    let pos = flipped.windows(4).position(|w| w == b"long").unwrap();
    flipped[pos] ^= 0x01;
    assert!(cache.get(&flipped).is_none());
    assert!(cache.get(&leaf.as_der()[..leaf.as_der().len() - 1]).is_none());
    let mut longer = leaf.as_der().to_vec();
    longer.push(0);
    assert!(cache.get(&longer).is_none());
    // Garbage is an error through the cache as without it.
    assert!(parse_cached(Some(&cache), &longer).is_err());
    assert!(parse_cached(None, &longer).is_err());

    // Keeping one already kept does not grow it; when full it starts afresh.
    cache.insert(parsed.clone());
    assert_eq!(cache.len(), 1);
    cache.insert(Arc::new(pki.ca.clone()));
    assert_eq!(cache.len(), 2);
    cache.insert(Arc::new(pki.root.clone()));
    assert_eq!(cache.len(), 1);
    assert!(cache.get(pki.root.as_der()).is_some() && cache.get(leaf.as_der()).is_none());
}
