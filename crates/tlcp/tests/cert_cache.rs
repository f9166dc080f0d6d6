//! Both verifiers with a certificate cache: a certificate seen again comes from the cache,
//! everything that depends on time, CRLs, names and roles is still checked at each use,
//! and only certificates of paths that verified are kept.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use wearpay_crypto::portable::PROVIDER;
use wearpay_pki::{Certificate, CertificateCache, MemoryCertificateCache};
use wearpay_tlcp::verify::{CertError, ClientCertVerifier, ServerCertVerifier};
use wearpay_tlcp::{PkiClientVerifier, PkiServerVerifier};

/// Counts the certificates taken from the cache.
#[derive(Debug)]
struct Counting {
    inner: MemoryCertificateCache,
    hits: AtomicUsize,
}

impl Counting {
    fn new() -> Arc<Self> {
        Arc::new(Self { inner: MemoryCertificateCache::new(16), hits: AtomicUsize::new(0) })
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    fn holds(&self, cert: &Certificate) -> bool {
        self.inner.get(cert.as_der()).is_some()
    }
}

impl CertificateCache for Counting {
    fn get(&self, der: &[u8]) -> Option<Arc<Certificate>> {
        let hit = self.inner.get(der);
        self.hits.fetch_add(usize::from(hit.is_some()), Ordering::Relaxed);
        hit
    }

    fn insert(&self, cert: Arc<Certificate>) {
        self.inner.insert(cert);
    }
}

fn center_checks(cache: &Arc<Counting>, crls: Vec<wearpay_pki::Crl>) -> PkiClientVerifier {
    PkiClientVerifier::new(PROVIDER, vec![pki().ca.cert.clone()], vec![], crls).with_certificate_cache(cache.clone())
}

#[test]
fn center_parses_a_band_once_and_still_checks_time_and_revocation() {
    let band = &pki().terminal;
    let cache = Counting::new();
    let verifier = center_checks(&cache, vec![]);
    let first = verifier.verify_client(&band.chain(), NOW).unwrap();
    assert_eq!((cache.inner.len(), cache.hits()), (2, 0), "signing and encryption certificates kept");
    assert!(cache.holds(&band.sign_cert) && cache.holds(&band.enc_cert));
    let second = verifier.verify_client(&band.chain(), NOW).unwrap();
    assert_eq!(cache.hits(), 2, "both taken from the cache");
    assert_eq!((&second.subject, &second.serial, &second.sign_key), (&first.subject, &first.serial, &first.sign_key));

    // A resumption reads the kept certificate too.
    verifier.allow_resumption(&first, NOW).unwrap();
    assert_eq!(cache.hits(), 3);

    // Kept certificates still expire.
    let later = band.sign_cert.not_after().plus_secs(1);
    assert!(matches!(verifier.verify_client(&band.chain(), later), Err(CertError::Expired(_))));
    assert!(matches!(verifier.allow_resumption(&first, later), Err(CertError::Expired(_))));

    // And are still revoked: a verifier with the CRL, sharing the cache.
    let crl = pki().ca.crl(&[band.sign_cert.serial()]);
    let revoking = center_checks(&cache, vec![crl]);
    let hits = cache.hits();
    assert!(matches!(revoking.verify_client(&band.chain(), NOW), Err(CertError::Revoked(_))));
    assert!(matches!(revoking.allow_resumption(&first, NOW), Err(CertError::Revoked(_))));
    assert!(cache.hits() > hits, "the refusals read the cache");
}

#[test]
fn only_certificates_of_verified_paths_are_kept() {
    let cache = Counting::new();
    let verifier = center_checks(&cache, vec![]);

    // A band of another CA: refused, nothing kept.
    let stranger = terminal_of(&pki().other_ca, "band 9999");
    assert!(matches!(verifier.verify_client(&stranger.chain(), NOW), Err(CertError::UnknownCa(_))));
    assert!(cache.inner.is_empty());

    // A good band sending an unrelated CA certificate along: the extra one is not kept.
    let band = &pki().terminal;
    let mut sent = band.chain();
    sent.push(der(&pki().other_ca.cert));
    verifier.verify_client(&sent, NOW).unwrap();
    assert!(cache.holds(&band.sign_cert) && cache.holds(&band.enc_cert));
    assert!(!cache.holds(&pki().other_ca.cert), "not on the verified path");
    assert_eq!(cache.inner.len(), 2);

    // Garbage is refused with or without a cache.
    let mut garbage = band.chain();
    garbage[0].0.push(0);
    assert!(matches!(verifier.verify_client(&garbage, NOW), Err(CertError::BadCertificate(_))));
}

#[test]
fn band_parses_the_center_once_and_still_checks_its_name() {
    let center = &pki().center;
    let cache = Counting::new();
    let verifier =
        PkiServerVerifier::new(PROVIDER, vec![pki().ca.cert.clone()], vec![]).with_certificate_cache(cache.clone());
    let first = verifier.verify_server(&center.chain(), SERVER_NAME, NOW).unwrap();
    assert_eq!((cache.inner.len(), cache.hits()), (2, 0));
    let second = verifier.verify_server(&center.chain(), SERVER_NAME, NOW).unwrap();
    assert_eq!(cache.hits(), 2);
    assert_eq!((second.subject, second.sign_key, second.enc_key), (first.subject, first.sign_key, first.enc_key));

    assert!(matches!(
        verifier.verify_server(&center.chain(), "someone.else.test", NOW),
        Err(CertError::BadCertificate(_))
    ));
    let later = center.sign_cert.not_after().plus_secs(1);
    assert!(matches!(verifier.verify_server(&center.chain(), SERVER_NAME, later), Err(CertError::Expired(_))));
    // The band's own certificates are no center's, cached or not.
    assert!(verifier.verify_server(&pki().terminal.chain(), SERVER_NAME, NOW).is_err());
    assert_eq!(cache.inner.len(), 2);
}
