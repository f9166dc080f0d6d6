//! Chain verification: path building, signatures, validity at a given time, CA constraints,
//! key usage for a role, revocation.
use alloc::{string::ToString, vec, vec::Vec};
use core::borrow::Borrow;

use wearpay_crypto::{CryptoProvider, PublicKey};

use crate::{Certificate, Crl, EkuRule, Error, Item, KeyUsage, RevocationReason, Role, UnixTime, oid};

/// How revocation is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RevocationPolicy {
    /// Check each certificate against its issuer's CRL when one was given.
    #[default]
    IfCrlGiven,
    /// As [`RevocationPolicy::IfCrlGiven`], and the leaf's issuer's CRL must be among
    /// those given (the center checking a band).
    RequireForLeaf,
    /// Every certificate below the trust anchor must be covered by a given CRL.
    RequireAll,
}

/// Remembers certificate signatures that verified, so that a certificate seen again (a
/// band's chain at each full handshake, the center's at each of a band's) is not verified
/// again. An entry records only that these exact certificate bytes carry a valid signature
/// by this exact issuer key; validity, constraints, key usage and revocation are checked
/// every time. Only successes are recorded.
pub trait SignatureCache: Send + Sync + core::fmt::Debug {
    /// Whether the signature `id` (see [`signature_id`]) verified before.
    fn contains(&self, id: &[u8; 32]) -> bool;
    /// Records that signature `id` verified.
    fn insert(&self, id: [u8; 32]);
}

/// What a [`SignatureCache`] keys a signature by: SM3 over the issuer's
/// SubjectPublicKeyInfo (length first) and the whole certificate.
pub fn signature_id(provider: &CryptoProvider, issuer: &Certificate, cert: &Certificate) -> [u8; 32] {
    let mut h = provider.sm3.start();
    let spki = issuer.spki_der();
    h.update(&(spki.len() as u64).to_be_bytes());
    h.update(spki);
    h.update(cert.as_der());
    let mut id = [0u8; 32];
    id.copy_from_slice(h.finish().as_ref());
    id
}

/// A [`SignatureCache`] in memory, of at most `capacity` signatures; when full it starts
/// afresh (certificates recur, so it refills with those in use).
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct MemorySignatureCache {
    seen: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    capacity: usize,
}

#[cfg(feature = "std")]
impl MemorySignatureCache {
    /// An empty cache of at most `capacity` signatures.
    pub fn new(capacity: usize) -> Self {
        Self { seen: std::sync::Mutex::new(std::collections::HashSet::new()), capacity }
    }

    /// How many signatures it holds.
    pub fn len(&self) -> usize {
        self.seen.lock().map_or(0, |s| s.len())
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(feature = "std")]
impl SignatureCache for MemorySignatureCache {
    fn contains(&self, id: &[u8; 32]) -> bool {
        self.seen.lock().is_ok_and(|s| s.contains(id))
    }

    fn insert(&self, id: [u8; 32]) {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= self.capacity {
                seen.clear();
            }
            seen.insert(id);
        }
    }
}

/// A verified path, leaf first, trust anchor last.
#[derive(Debug, Clone)]
pub struct VerifiedPath<'a> {
    certs: Vec<&'a Certificate>,
}

impl<'a> VerifiedPath<'a> {
    /// The end-entity certificate.
    pub fn leaf(&self) -> &'a Certificate {
        self.certs[0]
    }

    /// The trust anchor the path ends at.
    pub fn anchor(&self) -> &'a Certificate {
        self.certs[self.certs.len() - 1]
    }

    /// Every certificate, leaf first, anchor last.
    pub fn certificates(&self) -> &[&'a Certificate] {
        &self.certs
    }

    /// The leaf's public key.
    pub fn public_key(&self) -> Result<&'a PublicKey, Error> {
        self.leaf().public_key()
    }
}

/// Verifies certificate paths against a set of trust anchors.
///
/// ```no_run
/// # use wearpay_pki::*;
/// # fn f(band: &Certificate, cas: &[Certificate], roots: &[Certificate], crls: &[Crl]) -> Result<(), Error> {
/// let now = UnixTime::from_secs(1_800_000_000); // from the caller, never from a clock here
/// let path = Verifier::new(&wearpay_crypto::portable::PROVIDER, roots)
///     .crls(crls)
///     .revocation(RevocationPolicy::RequireForLeaf)
///     .verify(band, cas, now, Some(Role::Terminal))?;
/// let band_key = path.public_key()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Verifier<'a> {
    provider: &'a CryptoProvider,
    anchors: &'a [Certificate],
    crls: &'a [Crl],
    revocation: RevocationPolicy,
    max_depth: usize,
    cache: Option<&'a dyn SignatureCache>,
}

fn what_of(depth: usize, cert: &Certificate) -> Item {
    if depth == 0 { Item::Leaf } else { Item::Ca(cert.subject().to_string()) }
}

/// Could `issuer` have issued `cert`? Names must chain; key identifiers, when both are
/// present, must agree.
fn may_have_issued(provider: &CryptoProvider, issuer: &Certificate, cert: &Certificate) -> bool {
    if issuer.subject() != cert.issuer() {
        return false;
    }
    match (cert.authority_key_id(), issuer.subject_key_id()) {
        (Some(aki), Some(ski)) => aki == ski,
        (Some(aki), None) => issuer.key_id(provider).is_ok_and(|id| id == aki),
        _ => true,
    }
}

impl<'a> Verifier<'a> {
    /// A verifier trusting `anchors` (self-signed roots, or any CA certificate the caller
    /// trusts directly).
    pub fn new(provider: &'a CryptoProvider, anchors: &'a [Certificate]) -> Self {
        Self { provider, anchors, crls: &[], revocation: RevocationPolicy::IfCrlGiven, max_depth: 8, cache: None }
    }

    /// Skips the signature check of a certificate whose signature by the same issuer key
    /// `cache` saw verify before, and records those that verify.
    pub fn signature_cache(mut self, cache: &'a dyn SignatureCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Checks that `issuer` signed `cert`, through the cache if there is one.
    fn check_signature(&self, issuer: &Certificate, cert: &Certificate, what: &Item) -> Result<(), Error> {
        let key = issuer.public_key()?;
        let Some(cache) = self.cache else { return cert.verify_signature(self.provider, key, what) };
        let id = signature_id(self.provider, issuer, cert);
        if cache.contains(&id) {
            return Ok(());
        }
        cert.verify_signature(self.provider, key, what)?;
        cache.insert(id);
        Ok(())
    }

    /// CRLs to check revocation against.
    pub fn crls(mut self, crls: &'a [Crl]) -> Self {
        self.crls = crls;
        self
    }

    /// How strictly to check revocation.
    pub fn revocation(mut self, policy: RevocationPolicy) -> Self {
        self.revocation = policy;
        self
    }

    /// The longest path accepted, anchor included (8 by default).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Verifies `leaf` at `time`, building the path through `intermediates` (certificates, or
    /// shared ones such as a [`crate::CertificateCache`] gives) to one of the trust anchors,
    /// and checks it fits `role` (no role check with `None`).
    ///
    /// Checks, leaf upward: validity at `time`, a known issuer (names chain, AKI/SKI agree
    /// when present), the signature (SM2 with ID `1234567812345678`), no unknown critical
    /// extension; then that every issuer is a CA with keyCertSign and its pathLenConstraint
    /// holds; then key usage and extended key usage for `role`; then revocation.
    pub fn verify(
        &self,
        leaf: &'a Certificate,
        intermediates: &'a [impl Borrow<Certificate>],
        time: UnixTime,
        role: Option<Role>,
    ) -> Result<VerifiedPath<'a>, Error> {
        let p = self.provider;
        let mut path: Vec<&'a Certificate> = vec![leaf];
        let mut at_anchor = self.anchors.iter().any(|a| a == leaf);
        loop {
            let depth = path.len() - 1;
            let cert = path[depth];
            let what = what_of(depth, cert);
            cert.check_validity(time, &what)?;
            if let Some(ext) = cert.unknown_critical_extensions().next() {
                return Err(Error::UnsupportedCriticalExtension { what, oid: ext.oid.to_string() });
            }
            if at_anchor {
                break;
            }
            if path.len() >= self.max_depth {
                return Err(Error::PathTooLong);
            }
            let candidates = self
                .anchors
                .iter()
                .map(|c| (c, true))
                .chain(intermediates.iter().map(|c| (c.borrow(), false)))
                .filter(|(c, _)| !path.contains(c))
                .filter(|(c, _)| may_have_issued(p, c, cert));
            let mut first_err = None;
            let mut chosen = None;
            for (cand, is_anchor) in candidates {
                let result = self.check_signature(cand, cert, &what);
                match result {
                    Ok(()) => {
                        chosen = Some((cand, is_anchor));
                        break;
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            match (chosen, first_err) {
                (Some((issuer, is_anchor)), _) => {
                    path.push(issuer);
                    at_anchor = is_anchor;
                }
                (None, Some(e)) => return Err(e),
                (None, None) => return Err(Error::UnknownIssuer { what, issuer: cert.issuer().to_string() }),
            }
        }

        self.check_ca_constraints(&path)?;
        if let Some(role) = role {
            check_role(leaf, role)?;
        }
        self.check_revocation(&path, time)?;
        Ok(VerifiedPath { certs: path })
    }

    fn check_ca_constraints(&self, path: &[&Certificate]) -> Result<(), Error> {
        let last = path.len() - 1;
        for (i, ca) in path.iter().enumerate().skip(1) {
            let what = what_of(i, ca);
            // A v1 certificate has no extensions; one is accepted as a trust anchor only.
            let v1_anchor = i == last && ca.version() < 3;
            if !ca.is_ca() && !v1_anchor {
                return Err(Error::IssuerNotCa { what });
            }
            if ca.key_usage().is_some_and(|ku| !ku.contains(KeyUsage::KEY_CERT_SIGN)) {
                return Err(Error::WrongKeyUsage { what, needed: KeyUsage::KEY_CERT_SIGN });
            }
            if let Some(limit) = ca.basic_constraints().and_then(|b| b.path_len) {
                // CA certificates between this one and the leaf, self-issued ones excepted.
                let below = path[1..i].iter().filter(|c| !c.is_self_issued()).count();
                if below > limit as usize {
                    return Err(Error::PathLenExceeded { what, path_len: limit });
                }
            }
        }
        Ok(())
    }

    fn check_revocation(&self, path: &[&Certificate], time: UnixTime) -> Result<(), Error> {
        for i in 0..path.len() - 1 {
            let (cert, issuer) = (path[i], path[i + 1]);
            let what = what_of(i, cert);
            let crl =
                self.crls.iter().filter(|c| c.is_issued_by(self.provider, issuer)).max_by_key(|c| c.this_update());
            let Some(crl) = crl else {
                let required = match self.revocation {
                    RevocationPolicy::RequireAll => true,
                    RevocationPolicy::RequireForLeaf => i == 0,
                    _ => false,
                };
                if required {
                    return Err(Error::NoCrl { what, issuer: issuer.subject().to_string() });
                }
                continue;
            };
            crl.verify(self.provider, issuer, time)?;
            if let Some(entry) = crl.lookup(cert.serial())
                && entry.reason != Some(RevocationReason::RemoveFromCrl)
            {
                return Err(Error::Revoked {
                    what,
                    serial: cert.serial_hex(),
                    reason: entry.reason,
                    revoked_at: entry.revoked_at,
                });
            }
        }
        Ok(())
    }
}

/// Checks that `cert` fits `role`: CA roles need a CA with keyCertSign; the others need
/// the role's key usage bits ([`Role::required_key_usage`]) and extended key usage
/// ([`Role::eku_rule`]); both extensions must be present for a leaf role.
pub fn check_role(cert: &Certificate, role: Role) -> Result<(), Error> {
    let what = Item::Leaf;
    if role.is_ca() && !cert.is_ca() {
        return Err(Error::NotCa { what });
    }
    let needed = role.required_key_usage();
    match cert.key_usage() {
        Some(ku) if ku.contains(needed) => {}
        None if role.is_ca() => {}
        _ => return Err(Error::WrongKeyUsage { what, needed }),
    }
    match role.eku_rule() {
        EkuRule::Any => {}
        EkuRule::Requires(purpose) => {
            let ok = cert.extended_key_usage().is_some_and(|e| e.contains(&purpose));
            if !ok {
                let needed = if purpose == oid::KP_SERVER_AUTH { "serverAuth" } else { "clientAuth" };
                return Err(Error::WrongExtendedKeyUsage { what, needed });
            }
        }
        EkuRule::NoChannelAuth => {
            let channel = [oid::KP_SERVER_AUTH, oid::KP_CLIENT_AUTH, oid::ANY_EKU];
            if cert.extended_key_usage().is_some_and(|e| e.iter().any(|o| channel.contains(o))) {
                return Err(Error::WrongExtendedKeyUsage { what, needed: "no serverAuth or clientAuth" });
            }
        }
    }
    Ok(())
}

/// Verifies `leaf` at `time` against `trust_anchors`, through `intermediates`, for
/// `expected_role` (none: no role check), checking revocation with `crls` where they cover
/// a certificate of the path. See [`Verifier`] for stricter revocation policies.
pub fn verify_chain<'a>(
    provider: &'a CryptoProvider,
    leaf: &'a Certificate,
    intermediates: &'a [Certificate],
    trust_anchors: &'a [Certificate],
    time: UnixTime,
    expected_role: Option<Role>,
    crls: &'a [Crl],
) -> Result<VerifiedPath<'a>, Error> {
    Verifier::new(provider, trust_anchors).crls(crls).verify(leaf, intermediates, time, expected_role)
}
