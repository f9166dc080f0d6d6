//! PEM (RFC 7468), strictly: text may precede a block (as `openssl x509 -text` writes
//! it), but nothing but whitespace may follow the last one.
use alloc::{string::String, vec::Vec};

use base64ct::{Base64, Encoding};
use zeroize::Zeroizing;

use crate::{DecodeErrorKind, Error};

/// One decoded PEM block.
#[derive(Debug, Clone)]
pub struct PemBlock {
    /// The label between `BEGIN ` and `-----`.
    pub label: String,
    /// The decoded contents (wiped on drop: it may be a private key).
    pub der: Zeroizing<Vec<u8>>,
}

/// True if `input` is to be read as PEM rather than DER (DER starts with a SEQUENCE tag).
pub fn is_pem(input: &[u8]) -> bool {
    input.first() != Some(&0x30)
}

/// Decodes every PEM block in `input`.
pub fn decode_all(input: &[u8]) -> Result<Vec<PemBlock>, Error> {
    let pem_err = || Error::decode("PEM", DecodeErrorKind::Pem);
    let text = core::str::from_utf8(input).map_err(|_| pem_err())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut blocks = Vec::new();
    let mut current: Option<(String, Zeroizing<String>)> = None;
    let mut trailing_text = false;
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r').trim()).collect();
    for (i, &line) in lines.iter().enumerate() {
        let at_end = lines[i + 1..].iter().all(|l| l.is_empty());
        match &mut current {
            None => {
                if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
                    current = Some((String::from(label), Zeroizing::new(String::new())));
                    trailing_text = false;
                } else if !line.is_empty() {
                    // Explanatory text: fine before a block, garbage after the last one.
                    trailing_text = true;
                }
            }
            Some((label, body)) => {
                if let Some(end) = line.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) {
                    if end != label.as_str() {
                        return Err(pem_err());
                    }
                    let der = Base64::decode_vec(body).map_err(|_| pem_err())?;
                    blocks.push(PemBlock { label: core::mem::take(label), der: Zeroizing::new(der) });
                    current = None;
                } else if line.contains(':') {
                    // RFC 1421 headers: only the legacy OpenSSL key encryption uses them.
                    if line.starts_with("Proc-Type") || line.starts_with("DEK-Info") {
                        return Err(Error::UnsupportedAlgorithm(String::from(
                            "legacy PEM encryption (Proc-Type/DEK-Info); convert with `openssl pkcs8 -topk8`",
                        )));
                    }
                    return Err(pem_err());
                } else if line.starts_with("-----") {
                    // A boundary cut off by the end of the input is a truncated file.
                    if at_end && "-----END ".starts_with(&line[..line.len().min(9)]) {
                        return Err(Error::decode("PEM", DecodeErrorKind::Truncated));
                    }
                    return Err(pem_err());
                } else {
                    body.push_str(line);
                }
            }
        }
    }
    if current.is_some() {
        return Err(Error::decode("PEM", DecodeErrorKind::Truncated));
    }
    if blocks.is_empty() {
        return Err(pem_err());
    }
    if trailing_text {
        return Err(Error::decode("PEM", DecodeErrorKind::TrailingData));
    }
    Ok(blocks)
}

/// Decodes exactly one block whose label is one of `labels`.
pub fn decode_one(input: &[u8], labels: &[&'static str], expected: &'static str) -> Result<PemBlock, Error> {
    let mut blocks = decode_all(input)?;
    if blocks.len() != 1 {
        return Err(Error::decode(expected, DecodeErrorKind::TrailingData));
    }
    let block = blocks.remove(0);
    if !labels.contains(&block.label.as_str()) {
        return Err(Error::decode("PEM", DecodeErrorKind::UnexpectedLabel { expected, found: block.label.clone() }));
    }
    Ok(block)
}

/// Encodes `der` as a PEM block with 64-character lines and LF line ends.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(Base64::encode_string(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The DER of a certificate, CSR or CRL given as PEM (one block of one of `labels`) or DER.
pub(crate) fn der_or_pem(input: &[u8], labels: &[&'static str], what: &'static str) -> Result<Vec<u8>, Error> {
    if is_pem(input) { Ok(decode_one(input, labels, what)?.der.to_vec()) } else { Ok(input.to_vec()) }
}
