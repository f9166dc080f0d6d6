//! Record protection (GB/T 38636 §6.3): SM4-CBC with HMAC, MAC-then-encrypt and an explicit
//! IV per record, or SM4-GCM with an explicit nonce.
use alloc::{boxed::Box, vec::Vec};

use wearpay_crypto::{AeadKey, CbcKey, CryptoProvider, GCM_TAG_LEN, HashAlgorithm, HmacKey, ct_eq};

use crate::msgs::enums::{ContentType, ProtocolVersion};
use crate::suites::{BulkCipher, SuiteParams};

/// Record protection failed. Every cause looks the same to the peer: `bad_record_mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRecordMac;

/// One direction's keys, cut from the key block.
pub(crate) struct DirectionKeys<'a> {
    pub mac_key: &'a [u8],
    pub enc_key: &'a [u8],
    pub iv: &'a [u8],
}

enum Protection {
    Cbc { cipher: Box<dyn CbcKey>, mac: HmacKey, mac_len: usize },
    Gcm { aead: Box<dyn AeadKey>, salt: [u8; 4] },
}

/// Seals outgoing records.
pub(crate) struct RecordSealer {
    protection: Protection,
    seq: u64,
}

/// Opens incoming records.
pub(crate) struct RecordOpener {
    protection: Protection,
    seq: u64,
}

fn protection(
    provider: &CryptoProvider,
    params: &SuiteParams,
    keys: &DirectionKeys<'_>,
) -> Result<Protection, wearpay_crypto::Error> {
    let hash = crypto_hash(params);
    Ok(match params.bulk {
        BulkCipher::Sm4Cbc | BulkCipher::Sm1Cbc => {
            let cipher = match params.bulk {
                BulkCipher::Sm1Cbc => provider.cbc(wearpay_crypto::BlockCipher::Sm1)?,
                _ => provider.sm4_cbc,
            };
            Protection::Cbc {
                cipher: cipher.new_key(keys.enc_key)?,
                mac: provider.hmac(hash, keys.mac_key),
                mac_len: hash.output_len(),
            }
        }
        BulkCipher::Sm4Gcm => {
            let mut salt = [0u8; 4];
            salt.copy_from_slice(keys.iv.get(..4).ok_or(wearpay_crypto::Error::InvalidLength)?);
            Protection::Gcm { aead: provider.sm4_gcm.new_key(keys.enc_key)?, salt }
        }
    })
}

/// The crypto hash behind a suite.
pub(crate) fn crypto_hash(params: &SuiteParams) -> HashAlgorithm {
    match params.hash {
        crate::suites::HashAlgorithm::Sm3 => HashAlgorithm::Sm3,
        crate::suites::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
    }
}

fn mac_header(seq: u64, typ: ContentType, len: usize) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[..8].copy_from_slice(&seq.to_be_bytes());
    h[8] = u8::from(typ);
    h[9..11].copy_from_slice(&u16::from(ProtocolVersion::Tlcp1_1).to_be_bytes());
    h[11..].copy_from_slice(&(len as u16).to_be_bytes());
    h
}

impl RecordSealer {
    pub(crate) fn new(
        provider: &CryptoProvider,
        params: &SuiteParams,
        keys: &DirectionKeys<'_>,
    ) -> Result<Self, wearpay_crypto::Error> {
        Ok(Self { protection: protection(provider, params, keys)?, seq: 0 })
    }

    /// Appends the protected fragment of `plaintext` to `out` (without the record header).
    pub(crate) fn seal(
        &mut self,
        provider: &CryptoProvider,
        typ: ContentType,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), wearpay_crypto::Error> {
        let seq = self.seq;
        // Sequence numbers must not wrap (RFC 5246 §6.1): renegotiation is refused, so stop.
        self.seq = seq.checked_add(1).ok_or(wearpay_crypto::Error::InvalidLength)?;
        match &self.protection {
            Protection::Cbc { cipher, mac, .. } => {
                let mut iv = [0u8; 16];
                provider.fill_random(&mut iv)?;
                let tag = mac.sign(&[&mac_header(seq, typ, plaintext.len()), plaintext]);
                let start = out.len();
                out.extend_from_slice(&iv);
                out.extend_from_slice(plaintext);
                out.extend_from_slice(tag.as_ref());
                let body = out.len() - start - 16;
                let pad = 15 - body % 16;
                out.resize(out.len() + pad + 1, pad as u8);
                cipher.encrypt(&iv, &mut out[start + 16..])
            }
            Protection::Gcm { aead, salt } => {
                // The sequence number is a unique explicit nonce for this key.
                let explicit = seq.to_be_bytes();
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(&explicit);
                let aad = mac_header(seq, typ, plaintext.len());
                out.extend_from_slice(&explicit);
                let start = out.len();
                out.extend_from_slice(plaintext);
                let tag = aead.seal(&nonce, &aad, &mut out[start..])?;
                out.extend_from_slice(&tag);
                Ok(())
            }
        }
    }
}

impl RecordOpener {
    pub(crate) fn new(
        provider: &CryptoProvider,
        params: &SuiteParams,
        keys: &DirectionKeys<'_>,
    ) -> Result<Self, wearpay_crypto::Error> {
        Ok(Self { protection: protection(provider, params, keys)?, seq: 0 })
    }

    /// Opens a protected fragment in place; on success `fragment` holds the plaintext.
    pub(crate) fn open(&mut self, typ: ContentType, fragment: &mut Vec<u8>) -> Result<(), BadRecordMac> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(BadRecordMac)?;
        match &self.protection {
            Protection::Cbc { cipher, mac, mac_len } => open_cbc(cipher.as_ref(), mac, *mac_len, seq, typ, fragment),
            Protection::Gcm { aead, salt } => {
                if fragment.len() < 8 + GCM_TAG_LEN {
                    return Err(BadRecordMac);
                }
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(&fragment[..8]);
                let plain_len = fragment.len() - 8 - GCM_TAG_LEN;
                let mut tag = [0u8; GCM_TAG_LEN];
                tag.copy_from_slice(&fragment[8 + plain_len..]);
                let aad = mac_header(seq, typ, plain_len);
                aead.open(&nonce, &aad, &mut fragment[8..8 + plain_len], &tag).map_err(|_| BadRecordMac)?;
                fragment.truncate(8 + plain_len);
                fragment.drain(..8);
                Ok(())
            }
        }
    }
}

/// Returns 0xff when `a < b`, else 0, without a branch on the values.
fn ct_lt(a: usize, b: usize) -> u8 {
    (((a.wrapping_sub(b)) >> (usize::BITS - 1)) as u8).wrapping_neg()
}

/// Returns 0xff when `a == b`, else 0, without a branch on the values.
fn ct_eq_byte(a: u8, b: u8) -> u8 {
    let x = u16::from(a ^ b);
    (x.wrapping_sub(1) >> 8) as u8
}

/// Decrypts and checks a CBC record so that bad padding and a bad MAC take the same time
/// and look the same (Lucky Thirteen, CVE-2013-0169): the padding is checked with masks
/// over the longest possible padding, the MAC is read out by a scan of every possible
/// position, and the HMAC is made to cost the same number of hash blocks whatever the
/// padding length was.
fn open_cbc(
    cipher: &dyn CbcKey,
    mac: &HmacKey,
    mac_len: usize,
    seq: u64,
    typ: ContentType,
    fragment: &mut Vec<u8>,
) -> Result<(), BadRecordMac> {
    let total = fragment.len();
    // IV, then at least MAC + one padding byte rounded up to whole blocks.
    let min = 16 + (mac_len + 1).div_ceil(16) * 16;
    if total < min || !total.is_multiple_of(16) {
        return Err(BadRecordMac);
    }
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&fragment[..16]);
    cipher.decrypt(&iv, &mut fragment[16..]).map_err(|_| BadRecordMac)?;
    let body = &fragment[16..];
    let len = body.len();

    // Padding: the last byte says how many bytes before it repeat it.
    let pad = body[len - 1];
    // good = 0xff while pad + 1 + mac_len <= len.
    let mut good = !ct_lt(len, usize::from(pad) + 1 + mac_len);
    let scan = core::cmp::min(256, len);
    for i in 1..scan {
        let b = body[len - 1 - i];
        // For positions inside the padding, the byte must equal `pad`.
        let inside = ct_lt(i, usize::from(pad) + 1);
        good &= !inside | ct_eq_byte(b, pad);
    }
    // With bad padding, pretend there was none so the MAC check fails the same way.
    let keep = usize::from(good & 1).wrapping_neg();
    let pad_len = ((usize::from(pad) + 1) & keep) | (1 & !keep);
    let content_len = len.saturating_sub(pad_len + mac_len);

    // The MAC sits at content_len..content_len + mac_len; copy it out by touching every
    // candidate offset.
    let mut received = [0u8; 32];
    let lowest = len.saturating_sub(mac_len + 256);
    for offset in lowest..=len - mac_len {
        let hit = ct_eq_usize(offset, content_len);
        for (j, r) in received.iter_mut().enumerate().take(mac_len) {
            *r |= body[offset + j] & hit;
        }
    }

    let mut ctx = mac.start();
    ctx.update(&mac_header(seq, typ, content_len));
    ctx.update(&body[..content_len]);
    let expected = mac.finish(ctx);
    // Hash as many bytes again as the padding hid, so the work does not depend on it.
    let mut dummy = mac.start();
    dummy.update(&body[content_len..len - mac_len]);
    core::hint::black_box(dummy.finish());

    let mac_ok = ct_eq(expected.as_ref(), &received[..mac_len]);
    if !(mac_ok & (good == 0xff)) {
        return Err(BadRecordMac);
    }
    fragment.truncate(16 + content_len);
    fragment.drain(..16);
    Ok(())
}

fn ct_eq_usize(a: usize, b: usize) -> u8 {
    let x = a ^ b;
    // 0xff if x == 0.
    (((x | x.wrapping_neg()) >> (usize::BITS - 1)) as u8).wrapping_sub(1)
}
