//! PINs: ISO 9564-1:2017 format 4 PIN blocks with SM4 in place of AES, the one-time key's
//! envelope, and the keyed PIN verification value.
//!
//! # The block (ISO 9564-1:2017 §9.4.2, "format 4")
//!
//! The 16-byte **plain text PIN field** is 32 nibbles:
//!
//! | nibbles | content |
//! | --- | --- |
//! | 1 | control field `4` |
//! | 2 | PIN length N, `4` to `C` (4–12 digits) |
//! | 3 … 2+N | the PIN digits, `0`–`9` |
//! | 3+N … 16 | fill `A` |
//! | 17 … 32 | random fill, each nibble `0`–`F` (8 random bytes) |
//!
//! The 16-byte **plain text PAN field** is 32 nibbles: `M` = PAN length − 12 (`0`–`7`), the
//! PAN's digits (all of them, check digit included), then `0` to the end. A PAN shorter than
//! 12 digits is left-padded with zeros to 12 and `M` is `0`.
//!
//! Encipherment under a key K: A = E_K(PIN field); B = A ⊕ PAN field; block = E_K(B).
//! Decipherment reverses it and checks the control field, the length, the digits and the
//! `A` fill; the random fill is not checked.
//!
//! Sources: the structure above is what ISO 9564-1:2017 defines as summarised by the
//! ANSI X9.24-3:2017 supplement's test vectors (PIN field `441234AAAAAAAAAA…`, PAN field
//! `44111111111111111000…` for PAN 4111111111111111) and by two independent open
//! implementations (Leon Lynch's `pinblock` C library, `psec` in Python); the AES
//! known-answer test of `psec` (key `00112233…EEFF`, PIN 1234, PAN 1234567890123456789,
//! fill `FF…FF` → `28B41FDDD29B743E93124BD8E32D921E`) was reproduced with `openssl enc
//! -aes-128-ecb` and runs in this crate's tests through [`format4`] with AES-128. The
//! standard's own text was not available to check against; in particular whether it
//! restricts the random fill's nibbles (we draw 8 uniformly random bytes, as both open
//! implementations do) and the lower bound on PAN length (we accept 8 to 19 digits, the
//! ISO/IEC 7812-1 range, and apply the left-padding rule below 12).
//!
//! # The one-time key's envelope
//!
//! wearpay draws a fresh 16-byte K for every block and uses SM4 as E. K and the
//! transaction id travel encrypted to the center's PIN-encipherment public key
//! (`CryptoProvider::encrypt`: SM2, or RSAES-PKCS1-v1_5 for an RSA key) as the 32 bytes
//! `K ‖ tx_id`, so a block cannot be replayed under another transaction.
//!
//! Randomness is drawn from the provider in this order: the 8 fill bytes, then K, then
//! whatever the public-key encryption draws. A test pins it by replacing the provider's
//! `random` field.
use alloc::vec::Vec;
use core::fmt;

use wearpay_crypto::{CryptoProvider, DecryptingKey, HashAlgorithm, PublicKey, Zeroize, Zeroizing, ct_eq};

use crate::{
    Error, TxId,
    cbor::{Reader, Writer},
};

/// A PIN of 4 to 12 decimal digits. Wiped when dropped; its `Debug` shows nothing of it.
pub struct Pin {
    digits: [u8; 12],
    len: u8,
}

impl Pin {
    /// The fewest digits.
    pub const MIN_DIGITS: usize = 4;
    /// The most digits.
    pub const MAX_DIGITS: usize = 12;

    /// A PIN from its digits as text.
    pub fn new(digits: &str) -> Result<Self, Error> {
        Self::from_ascii(digits.as_bytes())
    }

    /// A PIN from ASCII digits.
    pub fn from_ascii(digits: &[u8]) -> Result<Self, Error> {
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(Error::invalid("PIN", "must be 4 to 12 digits"));
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(Error::invalid("PIN", "must be decimal digits"));
        }
        let mut out = [0u8; 12];
        out[..digits.len()].copy_from_slice(digits);
        Ok(Self { digits: out, len: digits.len() as u8 })
    }

    /// How many digits.
    pub fn digit_count(&self) -> usize {
        usize::from(self.len)
    }

    /// The digits as ASCII. Only the key store should ever call this.
    pub fn expose(&self) -> &[u8] {
        &self.digits[..self.digit_count()]
    }

    /// Compares two PINs in constant time (only the lengths may leak).
    pub fn ct_eq(&self, other: &Pin) -> bool {
        ct_eq(self.expose(), other.expose())
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.digits.zeroize();
        self.len.zeroize();
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// A primary account number: 8 to 19 decimal digits, provisioned to the band at
/// enrollment. Its `Debug` shows only the last four digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pan {
    digits: [u8; 19],
    len: u8,
}

impl Pan {
    /// The fewest digits (ISO/IEC 7812-1).
    pub const MIN_DIGITS: usize = 8;
    /// The most digits.
    pub const MAX_DIGITS: usize = 19;

    /// A PAN from its digits.
    pub fn new(digits: &str) -> Result<Self, Error> {
        let d = digits.as_bytes();
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&d.len()) {
            return Err(Error::invalid("PAN", "must be 8 to 19 digits"));
        }
        if !d.iter().all(u8::is_ascii_digit) {
            return Err(Error::invalid("PAN", "must be decimal digits"));
        }
        let mut out = [0u8; 19];
        out[..d.len()].copy_from_slice(d);
        Ok(Self { digits: out, len: d.len() as u8 })
    }

    /// The digits as ASCII.
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.as_str();
        write!(f, "Pan(…{})", &d[d.len().saturating_sub(4)..])
    }
}

/// The ISO 9564-1 format 4 construction over any 128-bit block cipher.
///
/// wearpay uses it with SM4 ([`PinBlock`]); the tests also run it with AES-128 against
/// published vectors.
pub mod format4 {
    use wearpay_crypto::Zeroizing;

    use super::{Pan, Pin};
    use crate::Error;

    /// A block-cipher operation on one 16-byte block in place (encryption or decryption
    /// under the one-time key).
    pub type BlockOp<'a> = &'a mut dyn FnMut(&mut [u8; 16]) -> Result<(), Error>;

    const CONTROL: u8 = 0x4;
    const FILL: u8 = 0xA;

    fn pack(nibbles: &[u8; 32]) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (o, pair) in out.iter_mut().zip(nibbles.chunks_exact(2)) {
            *o = (pair[0] << 4) | pair[1];
        }
        out
    }

    /// The plain text PIN field: `4`, N, the digits, `A` fill to nibble 16, then the 8
    /// random bytes `random_fill`.
    pub fn pin_field(pin: &Pin, random_fill: &[u8; 8]) -> Zeroizing<[u8; 16]> {
        let mut nibbles = Zeroizing::new([FILL; 32]);
        nibbles[0] = CONTROL;
        nibbles[1] = pin.digit_count() as u8;
        for (n, d) in nibbles[2..].iter_mut().zip(pin.expose()) {
            *n = d - b'0';
        }
        let mut field = Zeroizing::new(pack(&nibbles));
        field[8..].copy_from_slice(random_fill);
        field
    }

    /// The plain text PAN field: M = length − 12, the digits, `0` fill; a PAN shorter than
    /// 12 digits is left-padded with zeros to 12 and M is 0.
    pub fn pan_field(pan: &Pan) -> [u8; 16] {
        let digits = pan.as_bytes();
        let mut nibbles = [0u8; 32];
        let pad = 12usize.saturating_sub(digits.len());
        nibbles[0] = digits.len().saturating_sub(12) as u8;
        for (n, d) in nibbles[1 + pad..].iter_mut().zip(digits) {
            *n = d - b'0';
        }
        pack(&nibbles)
    }

    /// block = E(E(PIN field) ⊕ PAN field).
    pub fn encipher(encrypt: BlockOp<'_>, pin_field: &[u8; 16], pan_field: &[u8; 16]) -> Result<[u8; 16], Error> {
        let mut block = *pin_field;
        encrypt(&mut block)?;
        for (b, p) in block.iter_mut().zip(pan_field) {
            *b ^= p;
        }
        encrypt(&mut block)?;
        Ok(block)
    }

    /// PIN field = D(D(block) ⊕ PAN field), not yet checked.
    pub fn decipher(
        decrypt: BlockOp<'_>,
        block: &[u8; 16],
        pan_field: &[u8; 16],
    ) -> Result<Zeroizing<[u8; 16]>, Error> {
        let mut field = Zeroizing::new(*block);
        decrypt(&mut field)?;
        for (b, p) in field.iter_mut().zip(pan_field) {
            *b ^= p;
        }
        decrypt(&mut field)?;
        Ok(field)
    }

    /// Checks a plain text PIN field (control `4`, length 4–12, decimal digits, `A` fill)
    /// and extracts the PIN. Every nibble is examined whatever the outcome.
    pub fn parse_pin_field(field: &[u8; 16]) -> Result<Pin, Error> {
        let mut nibbles = Zeroizing::new([0u8; 16]);
        for (i, b) in field[..8].iter().enumerate() {
            nibbles[2 * i] = b >> 4;
            nibbles[2 * i + 1] = b & 0x0f;
        }
        let len = usize::from(nibbles[1]);
        let mut bad = u8::from(nibbles[0] != CONTROL) | u8::from(!(Pin::MIN_DIGITS..=Pin::MAX_DIGITS).contains(&len));
        let mut digits = Zeroizing::new([0u8; 12]);
        for (i, &n) in nibbles[2..].iter().enumerate() {
            if i < len {
                bad |= u8::from(n > 9);
                if let Some(d) = digits.get_mut(i) {
                    *d = b'0' + (n & 0x0f);
                }
            } else {
                bad |= u8::from(n != FILL);
            }
        }
        if bad != 0 {
            return Err(Error::BadPinBlock("not a format 4 PIN field"));
        }
        Pin::from_ascii(&digits[..len]).map_err(|_| Error::BadPinBlock("not a format 4 PIN field"))
    }
}

/// A PIN block as it travels: the format 4 block under the one-time key K, and K with the
/// transaction id encrypted to the center's PIN-encipherment key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncipheredPin {
    /// The enciphered PIN block.
    pub block: [u8; 16],
    /// `K ‖ tx_id` encrypted to the PIN-encipherment public key (SM2 DER ciphertext, or an
    /// RSA block).
    pub key: Vec<u8>,
}

impl EncipheredPin {
    /// The longest envelope accepted (an RSA-4096 block is 512 bytes).
    pub const MAX_KEY_LEN: usize = 600;

    /// Deciphers with the center's PIN-encipherment key; see [`PinBlock::decipher`].
    pub fn decipher(
        &self,
        provider: &CryptoProvider,
        key: &dyn DecryptingKey,
        pan: &Pan,
        tx_id: &TxId,
    ) -> Result<Pin, Error> {
        PinBlock::decipher(provider, key, self, pan, tx_id)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.map(2).uint(1).bytes(&self.block).uint(2).bytes(&self.key);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut m = r.map()?;
        m.required(r, 1)?;
        let block = r.byte_array("PIN block")?;
        m.required(r, 2)?;
        let key = r.bytes()?;
        m.finish(r)?;
        let this = Self { block, key: key.to_vec() };
        this.validate()?;
        Ok(this)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.key.is_empty() || self.key.len() > Self::MAX_KEY_LEN {
            return Err(Error::invalid("PIN key envelope", "must be 1 to 600 bytes"));
        }
        Ok(())
    }
}

/// ISO 9564-1 format 4 PIN blocks under SM4 with a one-time key.
#[derive(Debug, Clone, Copy)]
pub struct PinBlock;

/// Runs SM4 on one block under `key`: CBC with a zero IV over a single block is ECB.
fn sm4_block(
    provider: &CryptoProvider,
    key: &[u8; 16],
    encrypt: bool,
) -> Result<impl FnMut(&mut [u8; 16]) -> Result<(), Error>, Error> {
    let k = provider.sm4_cbc.new_key(key)?;
    Ok(move |block: &mut [u8; 16]| {
        let iv = [0u8; 16];
        let done = if encrypt { k.encrypt(&iv, block) } else { k.decrypt(&iv, block) };
        done.map_err(Error::from)
    })
}

impl PinBlock {
    /// The band's side: enciphers `pin` for the account `pan` under a fresh one-time key K,
    /// and encrypts `K ‖ tx_id` to the center's PIN-encipherment key `pin_enc_key`.
    pub fn encipher(
        provider: &CryptoProvider,
        pin: &Pin,
        pan: &Pan,
        tx_id: &TxId,
        pin_enc_key: &PublicKey,
    ) -> Result<EncipheredPin, Error> {
        let mut fill = Zeroizing::new([0u8; 8]);
        provider.fill_random(fill.as_mut())?;
        let mut k = Zeroizing::new([0u8; 16]);
        provider.fill_random(k.as_mut())?;

        let pin_field = format4::pin_field(pin, &fill);
        let pan_field = format4::pan_field(pan);
        let mut encrypt = sm4_block(provider, &k, true)?;
        let block = format4::encipher(&mut encrypt, &pin_field, &pan_field)?;

        let mut envelope = Zeroizing::new([0u8; 32]);
        envelope[..16].copy_from_slice(k.as_ref());
        envelope[16..].copy_from_slice(&tx_id.0);
        let key = provider.encrypt(pin_enc_key, envelope.as_ref())?;
        let out = EncipheredPin { block, key };
        out.validate()?;
        Ok(out)
    }

    /// The center's side, inside its key store: decrypts the envelope with the
    /// PIN-encipherment key, checks that it names `tx_id`, deciphers the block for `pan`
    /// and checks the PIN field's format.
    ///
    /// Every failure is [`Error::BadPinBlock`] (a wrong PAN shows up as a format failure).
    pub fn decipher(
        provider: &CryptoProvider,
        key: &dyn DecryptingKey,
        enciphered: &EncipheredPin,
        pan: &Pan,
        tx_id: &TxId,
    ) -> Result<Pin, Error> {
        let envelope = key.decrypt(&enciphered.key).map_err(|_| Error::BadPinBlock("envelope does not decrypt"))?;
        if envelope.len() != 32 {
            return Err(Error::BadPinBlock("envelope has the wrong length"));
        }
        if !ct_eq(&envelope[16..], &tx_id.0) {
            return Err(Error::BadPinBlock("envelope is for another transaction"));
        }
        let mut k = Zeroizing::new([0u8; 16]);
        k.copy_from_slice(&envelope[..16]);
        let mut decrypt = sm4_block(provider, &k, false)?;
        let field = format4::decipher(&mut decrypt, &enciphered.block, &format4::pan_field(pan))?;
        format4::parse_pin_field(&field)
    }
}

/// The keyed PIN verification value the center stores instead of the PIN:
/// HMAC-SM3(`secret_key`, `len(account_id)` as 8 bytes big-endian ‖ `account_id` ‖ the PIN's
/// ASCII digits).
///
/// The length prefix makes the account/PIN boundary unambiguous. `secret_key` is the key
/// store's PIN-verification secret; the value is useless without it.
pub fn pin_verification_value(provider: &CryptoProvider, secret_key: &[u8], account_id: &[u8], pin: &Pin) -> [u8; 32] {
    let len = u64::try_from(account_id.len()).unwrap_or(u64::MAX).to_be_bytes();
    let tag = provider.hmac(HashAlgorithm::Sm3, secret_key).sign(&[&len[..], account_id, pin.expose()]);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `pin` matches the stored verification value `expected`, compared in constant
/// time.
pub fn check_pin_verification_value(
    provider: &CryptoProvider,
    secret_key: &[u8],
    account_id: &[u8],
    pin: &Pin,
    expected: &[u8],
) -> bool {
    let mut actual = pin_verification_value(provider, secret_key, account_id, pin);
    let ok = ct_eq(&actual, expected);
    actual.zeroize();
    ok
}
