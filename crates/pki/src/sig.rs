//! Signature algorithms of certificates, CSRs and CRLs, and their verification through the
//! crypto provider.
use alloc::vec::Vec;
use core::fmt;

use der::{
    Decode, Encode,
    asn1::{Any, Null},
};
use spki::AlgorithmIdentifierOwned;
use wearpay_crypto::{CryptoProvider, DEFAULT_SM2_ID, PublicKey, SignatureScheme};

use crate::{Error, Item, oid};

/// The signature algorithms this crate reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// SM2 with SM3 (1.2.156.10197.1.501), DER (r, s), ID `1234567812345678`.
    Sm2Sm3,
    /// sha256WithRSAEncryption.
    RsaSha256,
    /// sm3WithRSAEncryption (read; written only by a key whose scheme is RSA-SM3).
    RsaSm3,
}

impl SignatureAlgorithm {
    /// Reads an AlgorithmIdentifier; SM2-with-SM3 takes absent or NULL parameters, RSA
    /// NULL or absent.
    pub(crate) fn from_alg_id(alg: &AlgorithmIdentifierOwned) -> Result<Self, Error> {
        let params_ok = match &alg.parameters {
            None => true,
            Some(p) => Null::try_from(p).is_ok(),
        };
        let found = if alg.oid == oid::SM2_WITH_SM3 {
            Self::Sm2Sm3
        } else if alg.oid == oid::SHA256_WITH_RSA {
            Self::RsaSha256
        } else if alg.oid == oid::SM3_WITH_RSA {
            Self::RsaSm3
        } else {
            return Err(Error::UnsupportedAlgorithm(alloc::format!("signature algorithm {}", alg.oid)));
        };
        if !params_ok {
            return Err(Error::malformed("signature algorithm", "unexpected parameters"));
        }
        Ok(found)
    }

    /// The AlgorithmIdentifier as written: SM2 without parameters (as OpenSSL and Tongsuo
    /// write it), RSA with NULL.
    pub(crate) fn to_alg_id(self) -> Result<AlgorithmIdentifierOwned, Error> {
        Ok(match self {
            Self::Sm2Sm3 => AlgorithmIdentifierOwned { oid: oid::SM2_WITH_SM3, parameters: None },
            Self::RsaSha256 | Self::RsaSm3 => AlgorithmIdentifierOwned {
                oid: if self == Self::RsaSha256 { oid::SHA256_WITH_RSA } else { oid::SM3_WITH_RSA },
                parameters: Some(Any::encode_from(&Null).map_err(Error::encode)?),
            },
        })
    }

    /// The provider scheme that verifies it.
    pub fn scheme(self) -> SignatureScheme {
        match self {
            Self::Sm2Sm3 => SignatureScheme::Sm2Sm3,
            Self::RsaSha256 => SignatureScheme::RsaPkcs1Sha256,
            Self::RsaSm3 => SignatureScheme::RsaPkcs1Sm3,
        }
    }

    /// The algorithm a signing key produces.
    pub fn for_scheme(scheme: SignatureScheme) -> Result<Self, Error> {
        match scheme {
            SignatureScheme::Sm2Sm3 => Ok(Self::Sm2Sm3),
            SignatureScheme::RsaPkcs1Sha256 => Ok(Self::RsaSha256),
            SignatureScheme::RsaPkcs1Sm3 => Ok(Self::RsaSm3),
            other => Err(Error::UnsupportedAlgorithm(alloc::format!("{other:?}"))),
        }
    }

    /// The usual name (`SM2-with-SM3`, `sha256WithRSAEncryption`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sm2Sm3 => "SM2-with-SM3",
            Self::RsaSha256 => "sha256WithRSAEncryption",
            Self::RsaSm3 => "sm3WithRSAEncryption",
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Verifies `sig` over `msg` with `key`.
///
/// SM2 signatures are checked with the ID `1234567812345678`; one that fails is tried
/// again with the empty ID, and if that verifies the error is
/// [`Error::SignedWithEmptySm2Id`] rather than [`Error::BadSignature`], so the operator
/// learns how to fix the signer.
pub fn verify_signature(
    provider: &CryptoProvider,
    key: &PublicKey,
    alg: SignatureAlgorithm,
    msg: &[u8],
    sig: &[u8],
    what: &Item,
) -> Result<(), Error> {
    let bad = || Error::BadSignature { what: what.clone() };
    match (key, alg) {
        (PublicKey::Sm2(pk), SignatureAlgorithm::Sm2Sm3) => {
            if provider.sm2.verify(pk, DEFAULT_SM2_ID, msg, sig).is_ok() {
                Ok(())
            } else if provider.sm2.verify(pk, b"", msg, sig).is_ok() {
                Err(Error::SignedWithEmptySm2Id { what: what.clone() })
            } else {
                Err(bad())
            }
        }
        (PublicKey::Rsa(_), SignatureAlgorithm::RsaSha256 | SignatureAlgorithm::RsaSm3) => {
            provider.verify(key, alg.scheme(), msg, sig).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// A key identifier for SKI/AKI: the provider's SM3 (SM2 keys) or SHA-256 (RSA keys) of the
/// subjectPublicKey BIT STRING contents, truncated to 160 bits (RFC 7093 §2, method 1 with
/// a stronger hash than SHA-1).
pub fn key_identifier(provider: &CryptoProvider, spki_der: &[u8]) -> Result<Vec<u8>, Error> {
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(Error::der("public key"))?;
    let bits = spki.subject_public_key.raw_bytes();
    let hash = if spki.algorithm.oid == oid::RSA_ENCRYPTION { provider.sha256 } else { provider.sm3 };
    Ok(hash.hash(bits).as_ref()[..20].to_vec())
}

/// Re-encodes an AlgorithmIdentifier, for comparing the inner and outer ones.
pub(crate) fn alg_id_der(alg: &AlgorithmIdentifierOwned) -> Vec<u8> {
    alg.to_der().unwrap_or_default()
}
