//! X.509 v3 certificates, parsed once and kept with their exact DER.
use alloc::{
    string::{String, ToString},
    vec::Vec,
};
use core::{fmt, ops::Range};

use const_oid::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use wearpay_crypto::{CryptoProvider, HashAlgorithm, PublicKey};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints as X509BasicConstraints, ExtendedKeyUsage, KeyUsage as X509KeyUsage,
    SubjectAltName, SubjectKeyIdentifier, name::GeneralName,
};

use crate::{
    DecodeErrorKind, DistinguishedName, Error, Item, KeyUsage, UnixTime, keys,
    name::any_to_string,
    oid, pem,
    sig::{self, SignatureAlgorithm},
};

/// PEM label of a certificate.
pub const CERTIFICATE_LABEL: &str = "CERTIFICATE";

/// One extension as it appears in the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Its OID.
    pub oid: Oid,
    /// The critical flag.
    pub critical: bool,
    /// The DER inside the OCTET STRING.
    pub value: Vec<u8>,
}

impl Extension {
    /// The usual name of the extension, or its OID.
    pub fn name(&self) -> String {
        oid::extension_name(&self.oid).map_or_else(|| self.oid.to_string(), String::from)
    }
}

/// The basicConstraints extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraints {
    /// cA.
    pub ca: bool,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
}

/// Extensions this crate understands; a critical extension outside this list fails
/// verification.
const UNDERSTOOD: [Oid; 6] = [
    oid::BASIC_CONSTRAINTS,
    oid::KEY_USAGE,
    oid::EXT_KEY_USAGE,
    oid::SUBJECT_KEY_ID,
    oid::AUTHORITY_KEY_ID,
    oid::SUBJECT_ALT_NAME,
];

/// A parsed X.509 certificate.
///
/// Parsing checks the whole structure (strict DER, no trailing bytes) and decodes the
/// extensions this crate uses; it does not check the signature or the dates — that is
/// [`crate::verify_chain`]'s job.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Range<usize>,
    version: u8,
    serial: Vec<u8>,
    sig_alg_oid: Oid,
    sig_alg: Option<SignatureAlgorithm>,
    signature: Vec<u8>,
    issuer: DistinguishedName,
    subject: DistinguishedName,
    not_before: UnixTime,
    not_after: UnixTime,
    spki: Vec<u8>,
    public_key: Result<PublicKey, Error>,
    extensions: Vec<Extension>,
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
    ext_key_usage: Option<Vec<Oid>>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    subject_alt_names: Vec<String>,
}

/// The byte range of the first element inside the outer SEQUENCE of `der` (the part that
/// is signed). `der` has already been checked as DER by the time this runs.
pub(crate) fn first_element(der: &[u8], what: &'static str) -> Result<Range<usize>, Error> {
    fn header(input: &[u8], at: usize) -> Option<(usize, usize)> {
        let len_byte = *input.get(at + 1)?;
        if len_byte < 0x80 {
            return Some((2, len_byte as usize));
        }
        let n = (len_byte & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(at + 2 + i)? as usize;
        }
        Some((2 + n, len))
    }
    let bad = || Error::malformed(what, "bad outer structure");
    let (outer_hdr, _) = header(der, 0).ok_or_else(bad)?;
    let (inner_hdr, inner_len) = header(der, outer_hdr).ok_or_else(bad)?;
    let end = outer_hdr.checked_add(inner_hdr).and_then(|x| x.checked_add(inner_len)).ok_or_else(bad)?;
    if end > der.len() {
        return Err(bad());
    }
    Ok(outer_hdr..end)
}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "certificate";
        let cert = x509_cert::Certificate::from_der(der).map_err(Error::der(WHAT))?;
        let tbs = cert.tbs_certificate();
        if sig::alg_id_der(tbs.signature()) != sig::alg_id_der(cert.signature_algorithm()) {
            return Err(Error::malformed(WHAT, "inner and outer signature algorithms differ"));
        }
        let signature = cert
            .signature()
            .as_bytes()
            .ok_or_else(|| Error::malformed(WHAT, "signature BIT STRING has unused bits"))?
            .to_vec();
        let version = tbs.version() as u8 + 1;
        let spki_info = tbs.subject_public_key_info();
        let spki = spki_info.to_der().map_err(Error::der(WHAT))?;
        let mut out = Self {
            der: der.to_vec(),
            tbs: first_element(der, WHAT)?,
            version,
            serial: tbs.serial_number().as_bytes().to_vec(),
            sig_alg_oid: cert.signature_algorithm().oid,
            sig_alg: SignatureAlgorithm::from_alg_id(cert.signature_algorithm()).ok(),
            signature,
            issuer: DistinguishedName::from_x509(tbs.issuer())?,
            subject: DistinguishedName::from_x509(tbs.subject())?,
            not_before: UnixTime::from_x509(&tbs.validity().not_before),
            not_after: UnixTime::from_x509(&tbs.validity().not_after),
            public_key: keys::public_key_from_spki_info(spki_info),
            spki,
            extensions: Vec::new(),
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            subject_key_id: None,
            authority_key_id: None,
            subject_alt_names: Vec::new(),
        };
        if let Some(exts) = tbs.extensions() {
            if version != 3 {
                return Err(Error::malformed(WHAT, "extensions in a certificate that is not v3"));
            }
            for ext in exts {
                if out.extensions.iter().any(|e| e.oid == ext.extn_id) {
                    return Err(Error::malformed(WHAT, "duplicate extension"));
                }
                out.extensions.push(Extension {
                    oid: ext.extn_id,
                    critical: ext.critical,
                    value: ext.extn_value.as_bytes().to_vec(),
                });
                out.decode_extension(ext.extn_id, ext.extn_value.as_bytes())?;
            }
        }
        Ok(out)
    }

    fn decode_extension(&mut self, id: Oid, value: &[u8]) -> Result<(), Error> {
        let bad = |name: &'static str| {
            move |_| Error::decode("certificate", DecodeErrorKind::Malformed(alloc::format!("bad {name} extension")))
        };
        if id == oid::BASIC_CONSTRAINTS {
            let bc = X509BasicConstraints::from_der(value).map_err(bad("basicConstraints"))?;
            self.basic_constraints = Some(BasicConstraints { ca: bc.ca, path_len: bc.path_len_constraint });
        } else if id == oid::KEY_USAGE {
            let ku = X509KeyUsage::from_der(value).map_err(bad("keyUsage"))?;
            self.key_usage = Some(KeyUsage::from_bits(ku.0.bits()));
        } else if id == oid::EXT_KEY_USAGE {
            let eku = ExtendedKeyUsage::from_der(value).map_err(bad("extKeyUsage"))?;
            self.ext_key_usage = Some(eku.0);
        } else if id == oid::SUBJECT_KEY_ID {
            let ski = SubjectKeyIdentifier::from_der(value).map_err(bad("subjectKeyIdentifier"))?;
            self.subject_key_id = Some(ski.0.as_bytes().to_vec());
        } else if id == oid::AUTHORITY_KEY_ID {
            let aki = AuthorityKeyIdentifier::from_der(value).map_err(bad("authorityKeyIdentifier"))?;
            self.authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
        } else if id == oid::SUBJECT_ALT_NAME {
            let san = SubjectAltName::from_der(value).map_err(bad("subjectAltName"))?;
            self.subject_alt_names = san.0.iter().map(general_name).collect();
        }
        Ok(())
    }

    /// Parses a PEM certificate (exactly one `CERTIFICATE` block).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let block = pem::decode_one(pem, &[CERTIFICATE_LABEL], "certificate")?;
        Self::from_der(&block.der)
    }

    /// Parses PEM or DER, whichever `input` is.
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        Self::from_der(&pem::der_or_pem(input, &[CERTIFICATE_LABEL], "certificate")?)
    }

    /// Parses every certificate of a PEM bundle (or one DER certificate).
    pub fn parse_all(input: &[u8]) -> Result<Vec<Self>, Error> {
        if !pem::is_pem(input) {
            return Ok(alloc::vec![Self::from_der(input)?]);
        }
        let mut out = Vec::new();
        for block in pem::decode_all(input)? {
            if block.label != CERTIFICATE_LABEL {
                return Err(Error::decode(
                    "PEM",
                    DecodeErrorKind::UnexpectedLabel { expected: "CERTIFICATE", found: block.label.clone() },
                ));
            }
            out.push(Self::from_der(&block.der)?);
        }
        Ok(out)
    }

    /// The certificate as PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(CERTIFICATE_LABEL, &self.der)
    }

    /// The exact DER.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The signed part (tbsCertificate) as it appears in the DER.
    pub fn tbs_der(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }

    /// The version (1, 2 or 3).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The serial number: the DER INTEGER's content bytes (a leading zero keeps it positive).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The serial number in upper-case hex, without leading zero bytes.
    pub fn serial_hex(&self) -> String {
        serial_hex(&self.serial)
    }

    /// The issuer's name.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }

    /// The subject's name.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// Start of validity.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// The subject's public key, or the error that its algorithm is not supported.
    pub fn public_key(&self) -> Result<&PublicKey, Error> {
        self.public_key.as_ref().map_err(Clone::clone)
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The signature algorithm, if supported.
    pub fn signature_algorithm(&self) -> Result<SignatureAlgorithm, Error> {
        self.sig_alg
            .ok_or_else(|| Error::UnsupportedAlgorithm(alloc::format!("signature algorithm {}", self.sig_alg_oid)))
    }

    /// The signature algorithm's OID.
    pub fn signature_algorithm_oid(&self) -> Oid {
        self.sig_alg_oid
    }

    /// The signature value (DER (r, s) for SM2).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// All extensions in order.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// basicConstraints, if present.
    pub fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.basic_constraints
    }

    /// True if basicConstraints says cA.
    pub fn is_ca(&self) -> bool {
        self.basic_constraints.is_some_and(|b| b.ca)
    }

    /// keyUsage, if present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.key_usage
    }

    /// extKeyUsage purposes, if present.
    pub fn extended_key_usage(&self) -> Option<&[Oid]> {
        self.ext_key_usage.as_deref()
    }

    /// extKeyUsage purposes by name (`serverAuth`) or OID.
    pub fn extended_key_usage_names(&self) -> Vec<String> {
        self.ext_key_usage
            .iter()
            .flatten()
            .map(|o| oid::eku_name(o).map_or_else(|| o.to_string(), String::from))
            .collect()
    }

    /// subjectKeyIdentifier, if present.
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_deref()
    }

    /// The keyIdentifier of authorityKeyIdentifier, if present.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }

    /// subjectAltName entries as text (`DNS:localhost`, `IP:127.0.0.1`, …).
    pub fn subject_alt_names(&self) -> &[String] {
        &self.subject_alt_names
    }

    /// True if subject and issuer are the same name.
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// The critical extensions this crate does not understand.
    pub fn unknown_critical_extensions(&self) -> impl Iterator<Item = &Extension> {
        self.extensions.iter().filter(|e| e.critical && !UNDERSTOOD.contains(&e.oid))
    }

    /// The key identifier of this certificate's key: its SKI if present, else computed
    /// the way this crate computes SKIs.
    pub fn key_id(&self, provider: &CryptoProvider) -> Result<Vec<u8>, Error> {
        match &self.subject_key_id {
            Some(ski) => Ok(ski.clone()),
            None => sig::key_identifier(provider, &self.spki),
        }
    }

    /// Checks that `issuer_key` signed this certificate.
    pub fn verify_signature(
        &self,
        provider: &CryptoProvider,
        issuer_key: &PublicKey,
        what: &Item,
    ) -> Result<(), Error> {
        sig::verify_signature(provider, issuer_key, self.signature_algorithm()?, self.tbs_der(), &self.signature, what)
    }

    /// Checks the validity period at `time`.
    pub fn check_validity(&self, time: UnixTime, what: &Item) -> Result<(), Error> {
        if time < self.not_before {
            return Err(Error::NotYetValid { what: what.clone(), not_before: self.not_before });
        }
        if time > self.not_after {
            return Err(Error::Expired { what: what.clone(), not_after: self.not_after });
        }
        Ok(())
    }

    /// A digest of the whole DER through the provider (`HashAlgorithm::Sm3` or `Sha256`).
    pub fn fingerprint(&self, provider: &CryptoProvider, alg: HashAlgorithm) -> Vec<u8> {
        provider.hash(alg).hash(&self.der).as_ref().to_vec()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &alloc::format!("{}", self.subject))
            .field("issuer", &alloc::format!("{}", self.issuer))
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

/// Upper-case hex of an INTEGER's content, leading zero bytes dropped.
pub(crate) fn serial_hex(serial: &[u8]) -> String {
    let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len().saturating_sub(1));
    let mut s = String::with_capacity(2 * serial.len());
    for b in &serial[start..] {
        s.push_str(&alloc::format!("{b:02X}"));
    }
    s
}

fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(s) => alloc::format!("DNS:{}", s.as_str()),
        GeneralName::Rfc822Name(s) => alloc::format!("email:{}", s.as_str()),
        GeneralName::UniformResourceIdentifier(s) => alloc::format!("URI:{}", s.as_str()),
        GeneralName::IpAddress(ip) => match ip.as_bytes() {
            [a, b, c, d] => alloc::format!("IP:{a}.{b}.{c}.{d}"),
            bytes => {
                let mut s = String::from("IP:");
                for (i, pair) in bytes.chunks(2).enumerate() {
                    if i > 0 {
                        s.push(':');
                    }
                    for b in pair {
                        s.push_str(&alloc::format!("{b:02x}"));
                    }
                }
                s
            }
        },
        GeneralName::DirectoryName(n) => match DistinguishedName::from_x509(n) {
            Ok(dn) => alloc::format!("DirName:{dn}"),
            Err(_) => String::from("DirName:?"),
        },
        GeneralName::OtherName(o) => alloc::format!("othername:{}:{}", o.type_id, any_to_string(&o.value)),
        _ => String::from("<unsupported>"),
    }
}
