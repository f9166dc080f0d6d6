//! Certificate renewal over the secure channel: the band asks for a new certificate for the
//! key the channel has just authenticated, and the center answers with it, its issuing chain
//! and the center's current receipt and PIN certificates.
//!
//! The certificates travel as DER; the band checks them against its trust anchors before it
//! keeps them (this crate does not parse X.509).
use alloc::vec::Vec;

use crate::{
    Error,
    cbor::{MapReader, Reader, Writer},
};

/// The largest certificate or certificate request carried, in bytes (an RSA-4096
/// certificate is about 1.5 KB).
pub const MAX_CERTIFICATE_LEN: usize = 2048;

/// The most CA certificates a [`Renewed`] chain carries.
pub const MAX_CHAIN: usize = 3;

fn check_der(what: &'static str, der: &[u8]) -> Result<(), Error> {
    if der.is_empty() || der.len() > MAX_CERTIFICATE_LEN {
        return Err(Error::invalid(what, "must be 1 to 2048 bytes"));
    }
    Ok(())
}

/// Asks for a new certificate: a PKCS#10 request signed by the band's current key (the
/// one the channel authenticated). The center sets the subject itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renew {
    /// The certificate request, DER.
    pub csr: Vec<u8>,
}

impl Renew {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_der("certificate request", &self.csr)
    }

    pub(crate) fn encode_fields(&self, w: &mut Writer) {
        w.uint(2).bytes(&self.csr);
    }

    pub(crate) fn decode_fields(r: &mut Reader<'_>, m: &mut MapReader) -> Result<Self, Error> {
        m.required(r, 2)?;
        let renew = Self { csr: r.bytes()?.to_vec() };
        renew.validate()?;
        Ok(renew)
    }
}

/// The answer to [`Renew`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewed {
    /// The band's new certificate, DER: same key, same subject, a new serial and validity.
    pub certificate: Vec<u8>,
    /// The CA certificates above it, issuer first, DER.
    pub chain: Vec<Vec<u8>>,
    /// The center's current receipt-signing certificate, DER.
    pub receipt_certificate: Vec<u8>,
    /// The center's current PIN-encipherment certificate, DER.
    pub pin_certificate: Vec<u8>,
}

impl Renewed {
    /// Keys after the version and type.
    pub(crate) const FIELDS: u64 = 4;

    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_der("certificate", &self.certificate)?;
        if self.chain.is_empty() || self.chain.len() > MAX_CHAIN {
            return Err(Error::invalid("certificate chain", "must hold 1 to 3 certificates"));
        }
        for c in &self.chain {
            check_der("chain certificate", c)?;
        }
        check_der("receipt certificate", &self.receipt_certificate)?;
        check_der("PIN certificate", &self.pin_certificate)
    }

    pub(crate) fn encode_fields(&self, w: &mut Writer) {
        w.uint(2).bytes(&self.certificate);
        w.uint(3).array(self.chain.len() as u64);
        for c in &self.chain {
            w.bytes(c);
        }
        w.uint(4).bytes(&self.receipt_certificate);
        w.uint(5).bytes(&self.pin_certificate);
    }

    pub(crate) fn decode_fields(r: &mut Reader<'_>, m: &mut MapReader) -> Result<Self, Error> {
        m.required(r, 2)?;
        let certificate = r.bytes()?.to_vec();
        m.required(r, 3)?;
        let n = r.array()?;
        if n == 0 || n > MAX_CHAIN as u64 {
            return Err(Error::invalid("certificate chain", "must hold 1 to 3 certificates"));
        }
        let mut chain = Vec::with_capacity(n as usize);
        for _ in 0..n {
            chain.push(r.bytes()?.to_vec());
        }
        m.required(r, 4)?;
        let receipt_certificate = r.bytes()?.to_vec();
        m.required(r, 5)?;
        let pin_certificate = r.bytes()?.to_vec();
        let renewed = Self { certificate, chain, receipt_certificate, pin_certificate };
        renewed.validate()?;
        Ok(renewed)
    }
}
