//! Signature algorithms and the COSE_Sign1-style envelope for receipts (and orders).
use alloc::vec::Vec;

use wearpay_crypto::{CryptoProvider, PublicKey, SignatureScheme, SigningKey};

use crate::{
    Error, VERSION,
    cbor::{Reader, Writer, check_len},
};

/// The context string a receipt signature starts with.
pub const RECEIPT_CONTEXT: &[u8] = b"wearpay receipt v1";
/// The context string a signed order's signature starts with.
pub const ORDER_CONTEXT: &[u8] = b"wearpay order v1";

/// The longest signature accepted (an RSA-4096 signature is 512 bytes).
pub(crate) const MAX_SIGNATURE_LEN: usize = 600;

/// How a request or receipt is signed. The algorithm is itself covered by the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum SigAlg {
    /// SM2 with SM3 and the default distinguishing ID `1234567812345678`; DER (r, s).
    Sm2Sm3 = 1,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256 = 2,
    /// RSASSA-PKCS1-v1_5 with SM3.
    RsaPkcs1Sm3 = 3,
}

impl SigAlg {
    /// The wire number.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The algorithm with this wire number.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Self::Sm2Sm3),
            2 => Some(Self::RsaPkcs1Sha256),
            3 => Some(Self::RsaPkcs1Sm3),
            _ => None,
        }
    }

    /// The provider's scheme.
    pub const fn scheme(self) -> SignatureScheme {
        match self {
            Self::Sm2Sm3 => SignatureScheme::Sm2Sm3,
            Self::RsaPkcs1Sha256 => SignatureScheme::RsaPkcs1Sha256,
            Self::RsaPkcs1Sm3 => SignatureScheme::RsaPkcs1Sm3,
        }
    }

    /// The algorithm for a provider scheme.
    pub fn from_scheme(scheme: SignatureScheme) -> Result<Self, Error> {
        match scheme {
            SignatureScheme::Sm2Sm3 => Ok(Self::Sm2Sm3),
            SignatureScheme::RsaPkcs1Sha256 => Ok(Self::RsaPkcs1Sha256),
            SignatureScheme::RsaPkcs1Sm3 => Ok(Self::RsaPkcs1Sm3),
            _ => Err(Error::invalid("signature algorithm", "not supported by the payment protocol")),
        }
    }

    /// Whether a key of this kind can make this algorithm's signatures.
    pub fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (Self::Sm2Sm3, PublicKey::Sm2(_)) | (Self::RsaPkcs1Sha256 | Self::RsaPkcs1Sm3, PublicKey::Rsa(_))
        )
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::from_code(r.uint()?).ok_or(Error::invalid("signature algorithm", "unknown"))
    }
}

/// `context ‖ bytes`: what a signature covers.
pub(crate) fn with_context(context: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + bytes.len());
    m.extend_from_slice(context);
    m.extend_from_slice(bytes);
    m
}

/// Signs `msg` with `key` under `alg`, through the key's own interface (the secure element
/// or the key store).
pub(crate) fn sign_message(key: &dyn SigningKey, alg: SigAlg, msg: &[u8]) -> Result<Vec<u8>, Error> {
    if !alg.fits(&key.public_key()) {
        return Err(Error::invalid("signature algorithm", "does not fit the key"));
    }
    let sig = key.sign_with(alg.scheme(), msg)?;
    check_signature_len(&sig)?;
    Ok(sig)
}

/// Verifies `sig` over `msg`; any failure, including an algorithm the key cannot make, is
/// [`Error::BadSignature`].
pub(crate) fn verify_message(
    provider: &CryptoProvider,
    key: &PublicKey,
    alg: SigAlg,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    if !alg.fits(key) {
        return Err(Error::BadSignature);
    }
    provider.verify(key, alg.scheme(), msg, sig).map_err(|_| Error::BadSignature)
}

pub(crate) fn check_signature_len(sig: &[u8]) -> Result<(), Error> {
    if sig.is_empty() || sig.len() > MAX_SIGNATURE_LEN {
        return Err(Error::invalid("signature", "must be 1 to 600 bytes"));
    }
    Ok(())
}

pub(crate) mod sealed {
    use crate::{
        Error,
        cbor::{Reader, Writer},
    };

    /// How a payload is written inside a signed envelope.
    pub trait Payload: Sized {
        fn encode_payload(&self, w: &mut Writer);
        fn decode_payload(r: &mut Reader<'_>) -> Result<Self, Error>;
    }
}

/// What can be carried in a [`Signed`] envelope: a [`crate::Receipt`] or an
/// [`crate::Order`]. Sealed.
pub trait SignedPayload: sealed::Payload {
    /// The context string the signature starts with.
    const CONTEXT: &'static [u8];
}

/// A payload signed COSE_Sign1-style.
///
/// On the wire: `[protected: bstr, signature: bstr]`, where `protected` is the deterministic
/// CBOR map `{0: version, 1: alg, 2: payload}` and the signature covers
/// `T::CONTEXT ‖ protected`. The protected bytes are kept as received, so verifying needs
/// no re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    protected: Vec<u8>,
    alg: SigAlg,
    payload: T,
    signature: Vec<u8>,
}

impl<T: SignedPayload> Signed<T> {
    /// Signs `payload` with `key` in the key's own scheme.
    pub fn sign(payload: T, key: &dyn SigningKey) -> Result<Self, Error> {
        Self::sign_with(payload, key, SigAlg::from_scheme(key.scheme())?)
    }

    /// Signs `payload` with `key` under `alg`.
    pub fn sign_with(payload: T, key: &dyn SigningKey, alg: SigAlg) -> Result<Self, Error> {
        let mut w = Writer::new();
        w.map(3).uint(0).uint(VERSION).uint(1).uint(u64::from(alg.code())).uint(2);
        payload.encode_payload(&mut w);
        let protected = w.into_bytes();
        check_len(protected.len())?;
        let signature = sign_message(key, alg, &with_context(T::CONTEXT, &protected))?;
        Ok(Self { protected, alg, payload, signature })
    }

    /// Checks the signature with the signer's public key (for a receipt: the one in the
    /// center's receipt certificate) and returns the payload.
    pub fn verify(&self, provider: &CryptoProvider, key: &PublicKey) -> Result<&T, Error> {
        verify_message(provider, key, self.alg, &self.signed_message(), &self.signature)?;
        Ok(&self.payload)
    }

    /// The payload, without checking the signature.
    pub fn payload_unverified(&self) -> &T {
        &self.payload
    }

    /// The signature algorithm.
    pub fn alg(&self) -> SigAlg {
        self.alg
    }

    /// The protected bytes, as signed.
    pub fn protected(&self) -> &[u8] {
        &self.protected
    }

    /// The signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// `T::CONTEXT ‖ protected`: what the signature covers.
    pub fn signed_message(&self) -> Vec<u8> {
        with_context(T::CONTEXT, &self.protected)
    }

    /// The envelope on its own, e.g. to store a receipt.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.finish()
    }

    /// Decodes an envelope stored with [`Signed::to_bytes`], strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        check_len(bytes.len())?;
        let mut r = Reader::new(bytes);
        let this = Self::decode(&mut r)?;
        r.finish()?;
        Ok(this)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.array(2).bytes(&self.protected).bytes(&self.signature);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.array_of(2)?;
        let protected = r.bytes()?;
        let signature = r.bytes()?;
        check_signature_len(signature)?;

        let mut p = Reader::new(protected);
        let mut m = p.map()?;
        m.required(&mut p, 0)?;
        let version = p.uint()?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        m.required(&mut p, 1)?;
        let alg = SigAlg::decode(&mut p)?;
        m.required(&mut p, 2)?;
        let payload = T::decode_payload(&mut p)?;
        m.finish(&mut p)?;
        p.finish()?;
        Ok(Self { protected: protected.to_vec(), alg, payload, signature: signature.to_vec() })
    }
}
