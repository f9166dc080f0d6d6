//! PKCS#10 certification requests, with a challengePassword attribute (enrollment puts an
//! activation proof there).
use alloc::{string::String, vec::Vec};
use core::{fmt, ops::Range};

use der::{
    Decode, Encode, Tag, Tagged,
    asn1::{Any, PrintableStringRef, SetOfVec, Utf8StringRef},
};
use spki::SubjectPublicKeyInfoOwned;
use wearpay_crypto::{CryptoProvider, PublicKey, SigningKey};
use x509_cert::{
    attr::Attribute,
    request::{CertReq, CertReqInfo, Version},
};

use crate::{
    DistinguishedName, Error, Item,
    cert::first_element,
    issue::sign_structure,
    keys,
    name::any_to_string,
    oid, pem,
    sig::{self, SignatureAlgorithm},
};

/// PEM label of a CSR.
pub const CSR_LABEL: &str = "CERTIFICATE REQUEST";
/// The label older tools (Netscape, some GmSSL versions) write.
pub const CSR_LABEL_OLD: &str = "NEW CERTIFICATE REQUEST";

/// The longest challengePassword PKCS#9 allows (ub-challenge-password).
pub const MAX_CHALLENGE_LEN: usize = 255;

/// A parsed PKCS#10 certification request.
#[derive(Clone)]
pub struct CertificateRequest {
    der: Vec<u8>,
    info: Range<usize>,
    subject: DistinguishedName,
    spki: Vec<u8>,
    public_key: Result<PublicKey, Error>,
    sig_alg: Result<SignatureAlgorithm, Error>,
    signature: Vec<u8>,
    challenge_password: Option<String>,
    attribute_oids: Vec<const_oid::ObjectIdentifier>,
}

impl CertificateRequest {
    /// Parses a DER CSR.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "certificate request";
        let req = CertReq::from_der(der).map_err(Error::der(WHAT))?;
        let spki = req.info.public_key.to_der().map_err(Error::der(WHAT))?;
        let signature = req
            .signature
            .as_bytes()
            .ok_or_else(|| Error::malformed(WHAT, "signature BIT STRING has unused bits"))?
            .to_vec();
        let mut challenge_password = None;
        let mut attribute_oids = Vec::new();
        for attr in req.info.attributes.iter() {
            attribute_oids.push(attr.oid);
            if attr.oid == oid::CHALLENGE_PASSWORD {
                let [value] = attr.values.as_slice() else {
                    return Err(Error::malformed(WHAT, "challengePassword must have one value"));
                };
                if !matches!(
                    value.tag(),
                    Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString | Tag::BmpString
                ) {
                    return Err(Error::malformed(WHAT, "challengePassword is not a directory string"));
                }
                challenge_password = Some(any_to_string(value));
            }
        }
        Ok(Self {
            der: der.to_vec(),
            info: first_element(der, WHAT)?,
            subject: DistinguishedName::from_x509(&req.info.subject)?,
            public_key: keys::public_key_from_spki_info(&req.info.public_key),
            spki,
            sig_alg: SignatureAlgorithm::from_alg_id(&req.algorithm),
            signature,
            challenge_password,
            attribute_oids,
        })
    }

    /// Parses a PEM CSR (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let block = pem::decode_one(pem, &[CSR_LABEL, CSR_LABEL_OLD], "certificate request")?;
        Self::from_der(&block.der)
    }

    /// Parses PEM or DER.
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        if pem::is_pem(input) { Self::from_pem(input) } else { Self::from_der(input) }
    }

    /// The CSR as PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(CSR_LABEL, &self.der)
    }

    /// The exact DER.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The requested subject.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The public key to certify.
    pub fn public_key(&self) -> Result<&PublicKey, Error> {
        self.public_key.as_ref().map_err(Clone::clone)
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The signature algorithm.
    pub fn signature_algorithm(&self) -> Result<SignatureAlgorithm, Error> {
        self.sig_alg.clone()
    }

    /// The challengePassword attribute, if present.
    pub fn challenge_password(&self) -> Option<&str> {
        self.challenge_password.as_deref()
    }

    /// The OIDs of all attributes, in order.
    pub fn attribute_oids(&self) -> &[const_oid::ObjectIdentifier] {
        &self.attribute_oids
    }

    /// Checks the self-signature (proof of possession of the private key). SM2 signatures
    /// made with the empty ID give [`Error::SignedWithEmptySm2Id`].
    pub fn verify(&self, provider: &CryptoProvider) -> Result<(), Error> {
        let key = self.public_key()?;
        sig::verify_signature(
            provider,
            key,
            self.signature_algorithm()?,
            &self.der[self.info.clone()],
            &self.signature,
            &Item::Request,
        )
    }
}

impl fmt::Debug for CertificateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateRequest")
            .field("subject", &alloc::format!("{}", self.subject))
            .finish_non_exhaustive()
    }
}

/// Builds and signs a CSR.
#[derive(Debug, Clone)]
pub struct CsrBuilder {
    subject: DistinguishedName,
    challenge_password: Option<String>,
}

impl CsrBuilder {
    /// A request for `subject`.
    pub fn new(subject: DistinguishedName) -> Self {
        Self { subject, challenge_password: None }
    }

    /// Adds a challengePassword: printable text (hex, for instance, for an HMAC), written
    /// as a PrintableString when it fits one and a UTF8String otherwise, at most 255
    /// characters.
    pub fn challenge_password(mut self, text: &str) -> Result<Self, Error> {
        if text.is_empty() || text.chars().count() > MAX_CHALLENGE_LEN {
            return Err(Error::InvalidRequest(alloc::format!(
                "challengePassword must be 1 to {MAX_CHALLENGE_LEN} characters"
            )));
        }
        self.challenge_password = Some(String::from(text));
        Ok(self)
    }

    /// Signs the request with `key` (it may live in a secure element).
    pub fn sign(self, provider: &CryptoProvider, key: &dyn SigningKey) -> Result<CertificateRequest, Error> {
        let spki = keys::public_key_to_spki(&key.public_key())?;
        let mut attributes = SetOfVec::new();
        if let Some(text) = &self.challenge_password {
            let value = match PrintableStringRef::new(text) {
                Ok(p) => Any::encode_from(&p),
                Err(_) => Any::encode_from(&Utf8StringRef::new(text).map_err(Error::encode)?),
            }
            .map_err(Error::encode)?;
            let mut values = SetOfVec::new();
            values.insert(value).map_err(Error::encode)?;
            attributes.insert(Attribute { oid: oid::CHALLENGE_PASSWORD, values }).map_err(Error::encode)?;
        }
        let info = CertReqInfo {
            version: Version::V1,
            subject: self.subject.to_x509()?,
            public_key: SubjectPublicKeyInfoOwned::from_der(&spki).map_err(Error::encode)?,
            attributes,
        };
        let info = info.to_der().map_err(Error::encode)?;
        let (der, _) = sign_structure(key, &info)?;
        let req = CertificateRequest::from_der(&der)?;
        req.verify(provider)?;
        Ok(req)
    }
}
