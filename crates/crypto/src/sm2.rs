//! SM2 (GB/T 32918) pieces that do not depend on the provider: the Z value, the
//! distinguishing ID, and the two ciphertext encodings.
use alloc::{boxed::Box, vec::Vec};
use core::fmt::{self, Debug};

use crate::{Error, Hash, HashOutput, PrivateKey, SecureRandom};

/// The distinguishing ID GM/T 0009 recommends and TLCP, X.509 and GmSSL use by default.
pub const DEFAULT_SM2_ID: &[u8] = b"1234567812345678";

/// An SM2 public key as an uncompressed SEC1 point `04 ‖ x ‖ y`.
///
/// Constructing one checks only the shape; the provider checks that the point is on the
/// curve before using it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sm2PublicKey([u8; 65]);

impl Sm2PublicKey {
    /// Takes an uncompressed point.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 65] = bytes.try_into().map_err(|_| Error::InvalidPublicKey)?;
        if arr[0] != 0x04 {
            return Err(Error::InvalidPublicKey);
        }
        Ok(Self(arr))
    }
    /// `04 ‖ x ‖ y`.
    pub fn as_sec1(&self) -> &[u8; 65] {
        &self.0
    }
}

impl Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm2PublicKey(")?;
        for b in &self.0[1..9] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

const A: [u8; 32] = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC");
const B: [u8; 32] = hex32("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");
const GX: [u8; 32] = hex32("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7");
const GY: [u8; 32] = hex32("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0");

const fn hex32(s: &str) -> [u8; 32] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            _ => c - b'a' + 10,
        }
    }
    let s = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nib(s[2 * i]) << 4) | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) (GB/T 32918.2 §5.5).
pub fn z_value(sm3: &dyn Hash, id: &[u8], public: &Sm2PublicKey) -> Result<HashOutput, Error> {
    let bits = u16::try_from(id.len() * 8).map_err(|_| Error::InvalidLength)?;
    let mut h = sm3.start();
    h.update(&bits.to_be_bytes());
    h.update(id);
    for part in [&A[..], &B, &GX, &GY, &public.0[1..]] {
        h.update(part);
    }
    Ok(h.finish())
}

/// e = SM3(Z ‖ M), the value an SM2 signature actually signs.
pub fn message_digest(sm3: &dyn Hash, id: &[u8], public: &Sm2PublicKey, msg: &[u8]) -> Result<HashOutput, Error> {
    let z = z_value(sm3, id, public)?;
    let mut h = sm3.start();
    h.update(z.as_ref());
    h.update(msg);
    Ok(h.finish())
}

/// An SM2 ciphertext split into its parts: C1 (a point), C3 (the SM3 check value), C2.
#[derive(Clone, PartialEq, Eq)]
pub struct Sm2Ciphertext {
    /// x coordinate of C1.
    pub x: [u8; 32],
    /// y coordinate of C1.
    pub y: [u8; 32],
    /// C3 = SM3(x2 ‖ M ‖ y2).
    pub c3: [u8; 32],
    /// C2 = M ⊕ KDF(x2 ‖ y2).
    pub c2: Vec<u8>,
}

impl Debug for Sm2Ciphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm2Ciphertext({} bytes)", self.c2.len())
    }
}

impl Sm2Ciphertext {
    /// Parses GM/T 0009's DER: `SEQUENCE { INTEGER x, INTEGER y, OCTET STRING c3, OCTET STRING c2 }`.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let mut outer = DerReader(der);
        let mut seq = DerReader(outer.take(0x30)?);
        if !outer.0.is_empty() {
            return Err(Error::Encoding);
        }
        let x = seq.uint32()?;
        let y = seq.uint32()?;
        let c3: [u8; 32] = seq.take(0x04)?.try_into().map_err(|_| Error::Encoding)?;
        let c2 = seq.take(0x04)?.to_vec();
        if !seq.0.is_empty() {
            return Err(Error::Encoding);
        }
        Ok(Self { x, y, c3, c2 })
    }

    /// Encodes as GM/T 0009 DER (what TLCP's ClientKeyExchange carries).
    pub fn to_der(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.c2.len() + 112);
        der_uint(&mut body, &self.x);
        der_uint(&mut body, &self.y);
        der_tlv(&mut body, 0x04, &self.c3);
        der_tlv(&mut body, 0x04, &self.c2);
        let mut out = Vec::with_capacity(body.len() + 4);
        der_tlv(&mut out, 0x30, &body);
        out
    }

    /// Parses raw `04 ‖ x ‖ y ‖ C3 ‖ C2` (GB/T 32918.4's order since 2012).
    pub fn from_c1c3c2(raw: &[u8]) -> Result<Self, Error> {
        if raw.len() < 97 || raw[0] != 0x04 {
            return Err(Error::Encoding);
        }
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        let mut c3 = [0u8; 32];
        x.copy_from_slice(&raw[1..33]);
        y.copy_from_slice(&raw[33..65]);
        c3.copy_from_slice(&raw[65..97]);
        Ok(Self { x, y, c3, c2: raw[97..].to_vec() })
    }

    /// Encodes as raw `04 ‖ x ‖ y ‖ C3 ‖ C2`.
    pub fn to_c1c3c2(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(97 + self.c2.len());
        out.push(0x04);
        out.extend_from_slice(&self.x);
        out.extend_from_slice(&self.y);
        out.extend_from_slice(&self.c3);
        out.extend_from_slice(&self.c2);
        out
    }
}

/// Appends a DER tag-length-value.
fn der_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    der_len(out, value.len());
    out.extend_from_slice(value);
}

/// Appends a DER length.
pub(crate) fn der_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u32).to_be_bytes();
        let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends a non-negative DER INTEGER from big-endian bytes.
pub(crate) fn der_uint(out: &mut Vec<u8>, be: &[u8]) {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len().saturating_sub(1));
    let v = &be[start..];
    if v.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut buf = Vec::with_capacity(v.len() + 1);
        buf.push(0);
        buf.extend_from_slice(v);
        der_tlv(out, 0x02, &buf);
    } else {
        der_tlv(out, 0x02, v);
    }
}

/// A strict reader for the little DER these encodings need.
pub(crate) struct DerReader<'a>(pub(crate) &'a [u8]);

impl<'a> DerReader<'a> {
    pub(crate) fn take(&mut self, tag: u8) -> Result<&'a [u8], Error> {
        let (&t, rest) = self.0.split_first().ok_or(Error::Encoding)?;
        if t != tag {
            return Err(Error::Encoding);
        }
        let (&l, mut rest) = rest.split_first().ok_or(Error::Encoding)?;
        let len = if l < 0x80 {
            l as usize
        } else {
            let n = (l & 0x7f) as usize;
            if n == 0 || n > 3 || rest.len() < n {
                return Err(Error::Encoding);
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            // Minimal length encoding only.
            if len < 0x80 || rest[0] == 0 {
                return Err(Error::Encoding);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return Err(Error::Encoding);
        }
        let (v, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(v)
    }

    /// A non-negative INTEGER of at most 32 significant bytes, left-padded.
    pub(crate) fn uint32(&mut self) -> Result<[u8; 32], Error> {
        let v = self.take(0x02)?;
        let v = match v {
            [] => return Err(Error::Encoding),
            [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => rest,
            [0, _, ..] => return Err(Error::Encoding), // non-minimal
            [b, ..] if b & 0x80 != 0 => return Err(Error::Encoding), // negative
            v => v,
        };
        if v.len() > 32 {
            return Err(Error::Encoding);
        }
        let mut out = [0u8; 32];
        out[32 - v.len()..].copy_from_slice(v);
        Ok(out)
    }
}

/// Encodes an SM2 signature (r, s) as DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub fn signature_to_der(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    let mut body = Vec::with_capacity(70);
    der_uint(&mut body, r);
    der_uint(&mut body, s);
    let mut out = Vec::with_capacity(72);
    der_tlv(&mut out, 0x30, &body);
    out
}

/// Parses a DER SM2 signature into (r, s), strictly (no trailing bytes, minimal integers).
pub fn signature_from_der(der: &[u8]) -> Result<([u8; 32], [u8; 32]), Error> {
    let mut outer = DerReader(der);
    let mut seq = DerReader(outer.take(0x30)?);
    if !outer.0.is_empty() {
        return Err(Error::Encoding);
    }
    let r = seq.uint32()?;
    let s = seq.uint32()?;
    if !seq.0.is_empty() {
        return Err(Error::Encoding);
    }
    Ok((r, s))
}

/// SM2 operations of a provider.
pub trait Sm2: Send + Sync + Debug {
    /// Generates a key pair; the signing key uses `DEFAULT_SM2_ID`.
    fn generate(&self, rng: &dyn SecureRandom) -> Result<Box<dyn PrivateKey>, Error>;
    /// Loads a private key from its 32-byte scalar (in [1, n − 2]), for signing with `id`.
    #[allow(clippy::wrong_self_convention, reason = "the provider is a factory; `from` names what it loads")]
    fn from_secret(&self, scalar: &[u8], id: &[u8]) -> Result<Box<dyn PrivateKey>, Error>;
    /// As [`Sm2::from_secret`], with signatures drawing any randomness they use from
    /// `random`: the test hook that makes whole handshake transcripts reproducible.
    #[allow(clippy::wrong_self_convention, reason = "the provider is a factory; `from` names what it loads")]
    fn from_secret_with_random(
        &self,
        scalar: &[u8],
        id: &[u8],
        random: &'static dyn SecureRandom,
    ) -> Result<Box<dyn PrivateKey>, Error> {
        let _ = random;
        self.from_secret(scalar, id)
    }
    /// Checks that a public key is a valid point of the curve (not the identity).
    fn validate(&self, public: &Sm2PublicKey) -> Result<(), Error>;
    /// Verifies a DER signature over `msg`, computing Z from `id`.
    fn verify(&self, public: &Sm2PublicKey, id: &[u8], msg: &[u8], sig_der: &[u8]) -> Result<(), Error>;
    /// Encrypts to `public`; returns the DER ciphertext (C1, C3, C2).
    fn encrypt(&self, public: &Sm2PublicKey, msg: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, Error>;
}
