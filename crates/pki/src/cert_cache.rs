//! Parsed certificates kept for reuse.
use alloc::sync::Arc;

use crate::{Certificate, Error};

/// Keeps parsed certificates, so that one seen again (a band's at each of its full
/// handshakes, the center's at each of a band's) is not parsed again: parsing is most of
/// what a handshake spends on certificates once their signatures are cached (see
/// [`crate::SignatureCache`]).
///
/// An entry is found by its exact DER bytes, and parsing depends on nothing else, so a kept
/// certificate is the one parsing would give. Validity, the chain, key usage and revocation
/// are checked at every use. Callers keep only certificates of paths that verified, so that
/// a peer cannot fill the cache with certificates of its own making.
pub trait CertificateCache: Send + Sync + core::fmt::Debug {
    /// The certificate parsed from exactly `der`, if kept.
    fn get(&self, der: &[u8]) -> Option<Arc<Certificate>>;
    /// Keeps `cert`.
    fn insert(&self, cert: Arc<Certificate>);
}

/// The certificate in `der`: from `cache` if it holds it, else parsed (and not kept: see
/// [`CertificateCache`]).
pub fn parse_cached(cache: Option<&dyn CertificateCache>, der: &[u8]) -> Result<Arc<Certificate>, Error> {
    if let Some(cert) = cache.and_then(|c| c.get(der)) {
        return Ok(cert);
    }
    Certificate::from_der(der).map(Arc::new)
}

/// A [`CertificateCache`] in memory, of at most `capacity` certificates; when full it starts
/// afresh (certificates recur, so it refills with those in use).
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct MemoryCertificateCache {
    /// By a keyed hash of the DER; a hit is confirmed by comparing the DER itself, so the
    /// DER is stored once, in the certificate.
    certs: std::sync::Mutex<std::collections::HashMap<u64, Arc<Certificate>>>,
    hasher: std::collections::hash_map::RandomState,
    capacity: usize,
}

#[cfg(feature = "std")]
impl MemoryCertificateCache {
    /// An empty cache of at most `capacity` certificates.
    pub fn new(capacity: usize) -> Self {
        Self { certs: std::sync::Mutex::default(), hasher: std::collections::hash_map::RandomState::new(), capacity }
    }

    /// How many certificates it holds.
    pub fn len(&self) -> usize {
        self.certs.lock().map_or(0, |c| c.len())
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, der: &[u8]) -> u64 {
        use core::hash::BuildHasher;
        self.hasher.hash_one(der)
    }
}

#[cfg(feature = "std")]
impl CertificateCache for MemoryCertificateCache {
    fn get(&self, der: &[u8]) -> Option<Arc<Certificate>> {
        let key = self.key(der);
        let certs = self.certs.lock().ok()?;
        certs.get(&key).filter(|c| c.as_der() == der).cloned()
    }

    fn insert(&self, cert: Arc<Certificate>) {
        let key = self.key(cert.as_der());
        if let Ok(mut certs) = self.certs.lock() {
            if certs.len() >= self.capacity && !certs.contains_key(&key) {
                certs.clear();
            }
            // Two certificates whose hashes collide take turns in the slot.
            certs.insert(key, cert);
        }
    }
}
