//! X.509 v2 CRLs: issue with reason codes, parse, verify, look up a serial.
use alloc::{string::String, vec::Vec};
use core::{fmt, ops::Range, str::FromStr};

use der::{
    Decode, Encode,
    asn1::{OctetString, Uint},
};
use wearpay_crypto::{CryptoProvider, SigningKey};
use x509_cert::{
    Version,
    crl::{CertificateList, RevokedCert, TbsCertList},
    ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason},
    serial_number::SerialNumber,
};

use crate::{
    Certificate, DistinguishedName, Error, Item, KeyUsage, UnixTime,
    cert::{Extension, first_element, serial_hex},
    issue::{extension, sign_structure},
    oid, pem,
    sig::{self, SignatureAlgorithm},
};

/// PEM label of a CRL.
pub const CRL_LABEL: &str = "X509 CRL";

/// CRL entry reason codes (RFC 5280 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationReason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1): a lost or stolen band.
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8): only in delta CRLs, which are not supported.
    RemoveFromCrl,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

const REASONS: [(RevocationReason, CrlReason, &str, &str); 10] = [
    (RevocationReason::Unspecified, CrlReason::Unspecified, "unspecified", "unspecified"),
    (RevocationReason::KeyCompromise, CrlReason::KeyCompromise, "keyCompromise", "key-compromise"),
    (RevocationReason::CaCompromise, CrlReason::CaCompromise, "cACompromise", "ca-compromise"),
    (RevocationReason::AffiliationChanged, CrlReason::AffiliationChanged, "affiliationChanged", "affiliation-changed"),
    (RevocationReason::Superseded, CrlReason::Superseded, "superseded", "superseded"),
    (
        RevocationReason::CessationOfOperation,
        CrlReason::CessationOfOperation,
        "cessationOfOperation",
        "cessation-of-operation",
    ),
    (RevocationReason::CertificateHold, CrlReason::CertificateHold, "certificateHold", "certificate-hold"),
    (RevocationReason::RemoveFromCrl, CrlReason::RemoveFromCRL, "removeFromCRL", "remove-from-crl"),
    (RevocationReason::PrivilegeWithdrawn, CrlReason::PrivilegeWithdrawn, "privilegeWithdrawn", "privilege-withdrawn"),
    (RevocationReason::AaCompromise, CrlReason::AaCompromise, "aACompromise", "aa-compromise"),
];

impl RevocationReason {
    fn row(self) -> &'static (RevocationReason, CrlReason, &'static str, &'static str) {
        // Every variant has a row.
        REASONS.iter().find(|r| r.0 == self).unwrap_or(&REASONS[0])
    }

    /// The RFC 5280 name (`keyCompromise`).
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// The command-line name (`key-compromise`).
    pub fn cli_name(self) -> &'static str {
        self.row().3
    }

    fn to_x509(self) -> CrlReason {
        self.row().1
    }

    fn from_x509(r: CrlReason) -> Self {
        REASONS.iter().find(|row| row.1 == r).map_or(Self::Unspecified, |row| row.0)
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RevocationReason {
    type Err = Error;
    /// Takes `key-compromise` or `keyCompromise` (any case).
    fn from_str(s: &str) -> Result<Self, Error> {
        REASONS
            .iter()
            .find(|r| r.2.eq_ignore_ascii_case(s) || r.3.eq_ignore_ascii_case(s))
            .map(|r| r.0)
            .ok_or_else(|| Error::InvalidRequest(alloc::format!("unknown revocation reason {s}")))
    }
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The serial: the DER INTEGER's content bytes (as [`Certificate::serial`]).
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revoked_at: UnixTime,
    /// The reason code, if the entry has one.
    pub reason: Option<RevocationReason>,
}

impl RevokedEntry {
    /// The serial in upper-case hex.
    pub fn serial_hex(&self) -> String {
        serial_hex(&self.serial)
    }
}

/// A parsed CRL.
#[derive(Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: Range<usize>,
    issuer: DistinguishedName,
    this_update: UnixTime,
    next_update: Option<UnixTime>,
    crl_number: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    entries: Vec<RevokedEntry>,
    extensions: Vec<Extension>,
    sig_alg: Result<SignatureAlgorithm, Error>,
    signature: Vec<u8>,
}

impl Crl {
    /// Parses a DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "CRL";
        let list = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).map_err(Error::der(WHAT))?;
        let tbs = &list.tbs_cert_list;
        if sig::alg_id_der(&tbs.signature) != sig::alg_id_der(&list.signature_algorithm) {
            return Err(Error::malformed(WHAT, "inner and outer signature algorithms differ"));
        }
        let signature = list
            .signature
            .as_bytes()
            .ok_or_else(|| Error::malformed(WHAT, "signature BIT STRING has unused bits"))?
            .to_vec();
        let mut entries = Vec::new();
        for rc in tbs.revoked_certificates.iter().flatten() {
            let mut reason = None;
            for ext in rc.crl_entry_extensions.iter().flatten() {
                if ext.extn_id == oid::CRL_REASON {
                    let r = CrlReason::from_der(ext.extn_value.as_bytes())
                        .map_err(|_| Error::malformed(WHAT, "bad reasonCode"))?;
                    reason = Some(RevocationReason::from_x509(r));
                } else if ext.critical {
                    return Err(Error::UnsupportedAlgorithm(alloc::format!(
                        "critical CRL entry extension {}",
                        ext.extn_id
                    )));
                }
            }
            entries.push(RevokedEntry {
                serial: rc.serial_number.as_bytes().to_vec(),
                revoked_at: UnixTime::from_x509(&rc.revocation_date),
                reason,
            });
        }
        let mut out = Self {
            der: der.to_vec(),
            tbs: first_element(der, WHAT)?,
            issuer: DistinguishedName::from_x509(&tbs.issuer)?,
            this_update: UnixTime::from_x509(&tbs.this_update),
            next_update: tbs.next_update.as_ref().map(UnixTime::from_x509),
            crl_number: None,
            authority_key_id: None,
            entries,
            extensions: Vec::new(),
            sig_alg: SignatureAlgorithm::from_alg_id(&list.signature_algorithm),
            signature,
        };
        for ext in tbs.crl_extensions.iter().flatten() {
            if out.extensions.iter().any(|e| e.oid == ext.extn_id) {
                return Err(Error::malformed(WHAT, "duplicate extension"));
            }
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == oid::CRL_NUMBER {
                let n = CrlNumber::from_der(value).map_err(|_| Error::malformed(WHAT, "bad cRLNumber"))?;
                out.crl_number = Some(n.0.as_bytes().to_vec());
            } else if ext.extn_id == oid::AUTHORITY_KEY_ID {
                let aki = AuthorityKeyIdentifier::from_der(value)
                    .map_err(|_| Error::malformed(WHAT, "bad authorityKeyIdentifier"))?;
                out.authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
            }
            out.extensions.push(Extension { oid: ext.extn_id, critical: ext.critical, value: value.to_vec() });
        }
        Ok(out)
    }

    /// Parses a PEM CRL.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let block = pem::decode_one(pem, &[CRL_LABEL], "CRL")?;
        Self::from_der(&block.der)
    }

    /// Parses PEM or DER.
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        if pem::is_pem(input) { Self::from_pem(input) } else { Self::from_der(input) }
    }

    /// The CRL as PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(CRL_LABEL, &self.der)
    }

    /// The exact DER.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The signed part (tbsCertList).
    pub fn tbs_der(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }

    /// The signature value.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The signature algorithm.
    pub fn signature_algorithm(&self) -> Result<SignatureAlgorithm, Error> {
        self.sig_alg.clone()
    }

    /// The issuing CA's name.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }

    /// thisUpdate.
    pub fn this_update(&self) -> UnixTime {
        self.this_update
    }

    /// nextUpdate, if present.
    pub fn next_update(&self) -> Option<UnixTime> {
        self.next_update
    }

    /// The cRLNumber (big-endian), if present.
    pub fn crl_number(&self) -> Option<&[u8]> {
        self.crl_number.as_deref()
    }

    /// The keyIdentifier of authorityKeyIdentifier, if present.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }

    /// The revoked certificates.
    pub fn entries(&self) -> &[RevokedEntry] {
        &self.entries
    }

    /// The CRL extensions.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The entry for `serial` (DER INTEGER content bytes, as [`Certificate::serial`]).
    pub fn lookup(&self, serial: &[u8]) -> Option<&RevokedEntry> {
        let norm = |s: &[u8]| -> Vec<u8> { Uint::new(s).map(|u| u.as_bytes().to_vec()).unwrap_or_else(|_| s.to_vec()) };
        let want = norm(serial);
        self.entries.iter().find(|e| norm(&e.serial) == want)
    }

    /// True if `issuer` is this CRL's issuer: same name and, when both carry them, the
    /// same key identifier.
    pub fn is_issued_by(&self, provider: &CryptoProvider, issuer: &Certificate) -> bool {
        if self.issuer != *issuer.subject() {
            return false;
        }
        match (&self.authority_key_id, issuer.key_id(provider)) {
            (Some(aki), Ok(ski)) => *aki == ski,
            _ => true,
        }
    }

    /// Verifies the CRL: issued by `issuer` (name and key identifier), signed by its key,
    /// which may sign CRLs (cRLSign when keyUsage is present), current at `time`
    /// (thisUpdate ≤ time ≤ nextUpdate), and with no critical extension this crate does not
    /// understand (delta CRLs and issuing distribution points are refused).
    pub fn verify(&self, provider: &CryptoProvider, issuer: &Certificate, time: UnixTime) -> Result<(), Error> {
        let what = Item::Crl(alloc::format!("{}", self.issuer));
        if !self.is_issued_by(provider, issuer) {
            return Err(Error::UnknownIssuer { what, issuer: alloc::format!("{}", self.issuer) });
        }
        if let Some(ext) =
            self.extensions.iter().find(|e| e.critical && e.oid != oid::CRL_NUMBER && e.oid != oid::AUTHORITY_KEY_ID)
        {
            return Err(Error::UnsupportedCriticalExtension { what, oid: alloc::format!("{}", ext.oid) });
        }
        if issuer.key_usage().is_some_and(|ku| !ku.contains(KeyUsage::CRL_SIGN)) {
            return Err(Error::WrongKeyUsage {
                what: Item::Ca(alloc::format!("{}", issuer.subject())),
                needed: KeyUsage::CRL_SIGN,
            });
        }
        sig::verify_signature(
            provider,
            issuer.public_key()?,
            self.signature_algorithm()?,
            self.tbs_der(),
            &self.signature,
            &what,
        )?;
        if time < self.this_update {
            return Err(Error::NotYetValid { what, not_before: self.this_update });
        }
        if let Some(next) = self.next_update
            && time > next
        {
            return Err(Error::Expired { what, not_after: next });
        }
        Ok(())
    }
}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &alloc::format!("{}", self.issuer))
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Builds and signs a CRL.
#[derive(Debug, Clone)]
pub struct CrlBuilder {
    this_update: UnixTime,
    next_update: UnixTime,
    number: u64,
    entries: Vec<RevokedEntry>,
}

impl CrlBuilder {
    /// A CRL current from `this_update` to `next_update`, numbered `number` (the cRLNumber
    /// must grow with every CRL the CA issues).
    pub fn new(this_update: UnixTime, next_update: UnixTime, number: u64) -> Self {
        Self { this_update, next_update, number, entries: Vec::new() }
    }

    /// Adds a revoked serial (DER INTEGER content or plain big-endian bytes).
    pub fn revoke(mut self, serial: &[u8], revoked_at: UnixTime, reason: Option<RevocationReason>) -> Self {
        self.entries.push(RevokedEntry { serial: serial.to_vec(), revoked_at, reason });
        self
    }

    /// Signs as `issuer` with `key` (which may live in an HSM).
    pub fn sign(self, provider: &CryptoProvider, issuer: &Certificate, key: &dyn SigningKey) -> Result<Crl, Error> {
        if issuer.public_key()? != &key.public_key() {
            return Err(Error::InvalidRequest(String::from(
                "the signing key does not belong to the issuer certificate",
            )));
        }
        if self.next_update <= self.this_update {
            return Err(Error::InvalidRequest(String::from("nextUpdate must be after thisUpdate")));
        }
        let alg = SignatureAlgorithm::for_scheme(key.scheme())?;
        let mut revoked: Vec<RevokedCert> = Vec::new();
        for e in &self.entries {
            let exts = match e.reason {
                Some(r) => Some(alloc::vec![extension(oid::CRL_REASON, false, &r.to_x509())?]),
                None => None,
            };
            revoked.push(RevokedCert {
                serial_number: SerialNumber::new(&e.serial)
                    .map_err(|err| Error::InvalidRequest(alloc::format!("serial: {err}")))?,
                revocation_date: e.revoked_at.to_x509()?,
                crl_entry_extensions: exts,
            });
        }
        let number = self.number.to_be_bytes();
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer.key_id(provider)?).map_err(Error::encode)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        let tbs = TbsCertList {
            version: Version::V2,
            signature: alg.to_alg_id()?,
            issuer: issuer.subject().to_x509()?,
            this_update: self.this_update.to_x509()?,
            next_update: Some(self.next_update.to_x509()?),
            revoked_certificates: if revoked.is_empty() { None } else { Some(revoked) },
            crl_extensions: Some(alloc::vec![
                extension(oid::AUTHORITY_KEY_ID, false, &aki)?,
                extension(oid::CRL_NUMBER, false, &CrlNumber(Uint::new(&number).map_err(Error::encode)?))?,
            ]),
        };
        let tbs = tbs.to_der().map_err(Error::encode)?;
        let (der, _) = sign_structure(key, &tbs)?;
        let crl = Crl::from_der(&der)?;
        sig::verify_signature(provider, &key.public_key(), alg, crl.tbs_der(), crl.signature(), &Item::Leaf)?;
        Ok(crl)
    }
}
