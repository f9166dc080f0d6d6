//! Certificates, CSRs, CRLs and keys for wearpay, with SM2 (SM2-with-SM3, ID
//! `1234567812345678`) and RSA (sha256WithRSAEncryption).
//!
//! - Parsing and verification are `no_std` + `alloc`; the time is always passed in as a
//!   [`UnixTime`] and never read from a clock.
//! - Every cryptographic operation goes through a [`wearpay_crypto::CryptoProvider`];
//!   signing takes a `&dyn` [`wearpay_crypto::SigningKey`], so an issuing key can live in
//!   an HSM and a band's key in its secure element.
//! - [`verify_chain`] (or a [`Verifier`]) checks a path for a [`Role`] and answers with a
//!   typed [`Error`] whose text is one line for a person.
//! - The `std` feature (default) adds [`UnixTime::now`] and the file helpers in [`files`].
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cert;
mod cert_cache;
mod crl;
mod csr;
mod error;
#[cfg(feature = "std")]
pub mod files;
mod issue;
pub mod keys;
mod name;
pub mod oid;
pub mod pem;
mod profile;
mod sig;
mod time;
mod verify;

pub use cert::{BasicConstraints, CERTIFICATE_LABEL, Certificate, Extension};
#[cfg(feature = "std")]
pub use cert_cache::MemoryCertificateCache;
pub use cert_cache::{CertificateCache, parse_cached};
pub use crl::{CRL_LABEL, Crl, CrlBuilder, RevocationReason, RevokedEntry};
pub use csr::{CSR_LABEL, CertificateRequest, CsrBuilder, MAX_CHALLENGE_LEN};
pub use error::{DecodeError, DecodeErrorKind, Error, Item};
pub use issue::{AltName, CertificateBuilder, random_serial};
pub use keys::{
    KeyEncryption, Pbes2Cipher, Pbes2Prf, generate_key, load_private_key, private_key_to_pem, private_key_to_pkcs8,
    public_key_from_spki, public_key_to_spki,
};
pub use name::DistinguishedName;
pub use profile::{EkuRule, KeyUsage, Role};
pub use sig::{SignatureAlgorithm, key_identifier, verify_signature};
pub use time::{DAY, UnixTime};
#[cfg(feature = "std")]
pub use verify::MemorySignatureCache;
pub use verify::{RevocationPolicy, SignatureCache, VerifiedPath, Verifier, check_role, signature_id, verify_chain};

/// What a file holds, as [`detect`] tells it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Object {
    /// An X.509 certificate.
    Certificate(Certificate),
    /// A PKCS#10 request.
    Request(CertificateRequest),
    /// A CRL.
    Crl(Crl),
}

/// Parses a certificate, CSR or CRL, PEM or DER, telling which it is.
///
/// PEM goes by its label; DER is tried as a certificate, then a CRL, then a CSR, and the
/// certificate's error is returned when none fits.
pub fn detect(input: &[u8]) -> Result<Object, Error> {
    if pem::is_pem(input) {
        let blocks = pem::decode_all(input)?;
        let [block] = blocks.as_slice() else {
            return Err(Error::decode("PEM", DecodeErrorKind::TrailingData));
        };
        return match block.label.as_str() {
            CERTIFICATE_LABEL => Certificate::from_der(&block.der).map(Object::Certificate),
            CRL_LABEL => Crl::from_der(&block.der).map(Object::Crl),
            CSR_LABEL | csr::CSR_LABEL_OLD => CertificateRequest::from_der(&block.der).map(Object::Request),
            other => Err(Error::decode(
                "PEM",
                DecodeErrorKind::UnexpectedLabel {
                    expected: "CERTIFICATE, X509 CRL or CERTIFICATE REQUEST",
                    found: alloc::string::String::from(other),
                },
            )),
        };
    }
    match Certificate::from_der(input) {
        Ok(c) => Ok(Object::Certificate(c)),
        Err(cert_err) => Crl::from_der(input)
            .map(Object::Crl)
            .or_else(|_| CertificateRequest::from_der(input).map(Object::Request))
            .map_err(|_| cert_err),
    }
}
