//! Issuing certificates: profiles by [`Role`], signed by a key that may live in an HSM.
use alloc::{string::String, vec, vec::Vec};

use const_oid::ObjectIdentifier as Oid;
use der::{
    Decode, Encode, Sequence,
    asn1::{AnyRef, BitString, Ia5String, OctetString},
    flagset::FlagSet,
};
use spki::AlgorithmIdentifierOwned;
use wearpay_crypto::{CryptoProvider, PublicKey, SigningKey};
use x509_cert::{
    Version,
    ext::{
        Extension as X509Extension,
        pkix::{
            AuthorityKeyIdentifier, BasicConstraints as X509BasicConstraints, ExtendedKeyUsage,
            KeyUsage as X509KeyUsage, SubjectAltName, SubjectKeyIdentifier, name::GeneralName,
        },
    },
    name::Name,
    serial_number::SerialNumber,
    time::Validity,
};

use crate::{
    Certificate, DistinguishedName, Error, Item, Role, UnixTime, keys, oid,
    sig::{self, SignatureAlgorithm},
};

/// The tbsCertificate as written (x509-cert's own type cannot be built field by field).
#[derive(Sequence)]
struct TbsCertificateOut<'a> {
    #[asn1(context_specific = "0", default = "Default::default")]
    version: Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: AnyRef<'a>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<X509Extension>>,
}

/// Any signed structure: `SEQUENCE { tbs, signatureAlgorithm, signature }`.
#[derive(Sequence)]
pub(crate) struct SignedOut<'a> {
    pub(crate) tbs: AnyRef<'a>,
    pub(crate) algorithm: AlgorithmIdentifierOwned,
    pub(crate) signature: BitString,
}

/// Signs `tbs` with `key` and wraps it into `SEQUENCE { tbs, alg, BIT STRING sig }`.
pub(crate) fn sign_structure(key: &dyn SigningKey, tbs: &[u8]) -> Result<(Vec<u8>, SignatureAlgorithm), Error> {
    let alg = SignatureAlgorithm::for_scheme(key.scheme())?;
    let signature = key.sign(tbs)?;
    let out = SignedOut {
        tbs: AnyRef::from_der(tbs).map_err(Error::encode)?,
        algorithm: alg.to_alg_id()?,
        signature: BitString::from_bytes(&signature).map_err(Error::encode)?,
    };
    Ok((out.to_der().map_err(Error::encode)?, alg))
}

pub(crate) fn extension(oid: Oid, critical: bool, value: &impl Encode) -> Result<X509Extension, Error> {
    Ok(X509Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(Error::encode)?).map_err(Error::encode)?,
    })
}

/// A positive random serial of 128 bits from the provider's random source.
pub fn random_serial(provider: &CryptoProvider) -> Result<Vec<u8>, Error> {
    let mut serial = vec![0u8; 16];
    provider.fill_random(&mut serial)?;
    // Positive and exactly 128 bits long: clear the sign bit, set the next one.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// A subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AltName {
    /// dNSName.
    Dns(String),
    /// iPAddress.
    Ip(core::net::IpAddr),
}

/// Builds and signs a certificate for one [`Role`].
///
/// ```no_run
/// # use wearpay_pki::*;
/// # fn f(ca: &Certificate, ca_key: &dyn wearpay_crypto::SigningKey, band_key: wearpay_crypto::PublicKey) -> Result<(), Error> {
/// let p = &wearpay_crypto::portable::PROVIDER;
/// let now = UnixTime::from_secs(1_800_000_000);
/// let cert = CertificateBuilder::new(Role::Terminal, "CN=band 42,O=wearpay".parse()?, band_key)
///     .validity(now, now.plus_days(365))
///     .sign(p, ca, ca_key)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CertificateBuilder {
    role: Role,
    subject: DistinguishedName,
    public_key: PublicKey,
    not_before: UnixTime,
    not_after: UnixTime,
    path_len: Option<u8>,
    serial: Option<Vec<u8>>,
    alt_names: Vec<AltName>,
    unchecked_issuer: bool,
}

impl CertificateBuilder {
    /// Starts a certificate for `public_key` named `subject` in `role`. The validity must be
    /// set with [`CertificateBuilder::validity`] (no clock is read here).
    pub fn new(role: Role, subject: DistinguishedName, public_key: PublicKey) -> Self {
        Self {
            role,
            subject,
            public_key,
            not_before: UnixTime(0),
            not_after: UnixTime(0),
            path_len: role.default_path_len(),
            serial: None,
            alt_names: Vec::new(),
            unchecked_issuer: false,
        }
    }

    /// The validity period.
    pub fn validity(mut self, not_before: UnixTime, not_after: UnixTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// The pathLenConstraint of a CA certificate (`None`: unlimited). Ignored for leaves.
    pub fn path_len(mut self, path_len: Option<u8>) -> Self {
        self.path_len = path_len;
        self
    }

    /// A fixed serial (big-endian, positive); by default 128 random bits.
    pub fn serial(mut self, serial: &[u8]) -> Self {
        self.serial = Some(serial.to_vec());
        self
    }

    /// Adds a subjectAltName entry.
    pub fn alt_name(mut self, name: AltName) -> Self {
        self.alt_names.push(name);
        self
    }

    /// Skips the checks of [`CertificateBuilder::sign`] (issuer is a CA, pathlen, the
    /// signature made verifies): only for making broken certificates that test a verifier.
    pub fn unchecked(mut self) -> Self {
        self.unchecked_issuer = true;
        self
    }

    /// Signs as `issuer` with `issuer_key` (which must be the key of `issuer`'s certificate;
    /// it may live in an HSM).
    pub fn sign(
        self,
        provider: &CryptoProvider,
        issuer: &Certificate,
        issuer_key: &dyn SigningKey,
    ) -> Result<Certificate, Error> {
        if issuer.public_key()? != &issuer_key.public_key() {
            return Err(Error::InvalidRequest(String::from(
                "the signing key does not belong to the issuer certificate",
            )));
        }
        if !issuer.is_ca() && !self.unchecked_issuer {
            return Err(Error::IssuerNotCa { what: Item::Ca(alloc::format!("{}", issuer.subject())) });
        }
        if self.role.is_ca() && !self.unchecked_issuer && issuer.basic_constraints().and_then(|b| b.path_len) == Some(0)
        {
            return Err(Error::PathLenExceeded { what: Item::Ca(alloc::format!("{}", issuer.subject())), path_len: 0 });
        }
        let issuer_key_id = issuer.key_id(provider)?;
        self.build(provider, issuer.subject(), &issuer_key_id, issuer_key)
    }

    /// Signs the certificate with its own key (a root CA). `key` must hold the builder's
    /// public key.
    pub fn self_sign(self, provider: &CryptoProvider, key: &dyn SigningKey) -> Result<Certificate, Error> {
        if key.public_key() != self.public_key {
            return Err(Error::InvalidRequest(String::from("the signing key does not match the certificate key")));
        }
        let spki = keys::public_key_to_spki(&self.public_key)?;
        let own_id = sig::key_identifier(provider, &spki)?;
        let subject = self.subject.clone();
        self.build(provider, &subject, &own_id, key)
    }

    fn build(
        self,
        provider: &CryptoProvider,
        issuer: &DistinguishedName,
        issuer_key_id: &[u8],
        key: &dyn SigningKey,
    ) -> Result<Certificate, Error> {
        if self.not_after <= self.not_before {
            return Err(Error::InvalidRequest(String::from("the validity must end after it starts")));
        }
        let spki = keys::public_key_to_spki(&self.public_key)?;
        let serial = match &self.serial {
            Some(s) => s.clone(),
            None => random_serial(provider)?,
        };
        let alg = SignatureAlgorithm::for_scheme(key.scheme())?;
        let role = self.role;

        let mut extensions = Vec::new();
        if role.is_ca() {
            let bc = X509BasicConstraints { ca: true, path_len_constraint: self.path_len };
            extensions.push(extension(oid::BASIC_CONSTRAINTS, true, &bc)?);
        }
        let ku = X509KeyUsage(FlagSet::new_truncated(role.key_usage().bits()));
        extensions.push(extension(oid::KEY_USAGE, true, &ku)?);
        if let Some(purpose) = role.extended_key_usage() {
            extensions.push(extension(oid::EXT_KEY_USAGE, false, &ExtendedKeyUsage(vec![purpose]))?);
        }
        if !self.alt_names.is_empty() {
            let mut names = Vec::new();
            for n in &self.alt_names {
                names.push(match n {
                    AltName::Dns(d) => GeneralName::DnsName(
                        Ia5String::new(d)
                            .map_err(|_| Error::InvalidRequest(alloc::format!("DNS name {d} is not ASCII")))?,
                    ),
                    AltName::Ip(ip) => GeneralName::from(*ip),
                });
            }
            extensions.push(extension(oid::SUBJECT_ALT_NAME, false, &SubjectAltName(names))?);
        }
        let ski = sig::key_identifier(provider, &spki)?;
        extensions.push(extension(
            oid::SUBJECT_KEY_ID,
            false,
            &SubjectKeyIdentifier(OctetString::new(ski).map_err(Error::encode)?),
        )?);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_key_id).map_err(Error::encode)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        extensions.push(extension(oid::AUTHORITY_KEY_ID, false, &aki)?);

        let tbs = TbsCertificateOut {
            version: Version::V3,
            serial_number: SerialNumber::new(&serial)
                .map_err(|e| Error::InvalidRequest(alloc::format!("serial: {e}")))?,
            signature: alg.to_alg_id()?,
            issuer: issuer.to_x509()?,
            validity: Validity::new(self.not_before.to_x509()?, self.not_after.to_x509()?),
            subject: self.subject.to_x509()?,
            subject_public_key_info: AnyRef::from_der(&spki).map_err(Error::encode)?,
            extensions: Some(extensions),
        };
        let tbs = tbs.to_der().map_err(Error::encode)?;
        let (der, _) = sign_structure(key, &tbs)?;
        let cert = Certificate::from_der(&der)?;
        // Check what the key (perhaps an HSM) produced before handing it out.
        if !self.unchecked_issuer {
            cert.verify_signature(provider, &key.public_key(), &Item::Leaf)?;
        }
        Ok(cert)
    }
}
