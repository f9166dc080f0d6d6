//! Identifiers, counters, times and display texts, each checked once when made.
use alloc::{string::String, vec::Vec};
use core::fmt;

use wearpay_crypto::CryptoProvider;

use crate::Error;

/// A transaction id: 16 random bytes the band draws, and the idempotency key of a payment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub [u8; 16]);

impl TxId {
    /// A fresh random id from the provider's random source.
    pub fn random(provider: &CryptoProvider) -> Result<Self, Error> {
        let mut b = [0u8; 16];
        provider.fill_random(&mut b)?;
        Ok(Self(b))
    }

    /// The 16 bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses 32 hexadecimal digits.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let s = s.as_bytes();
        if s.len() != 32 {
            return Err(Error::invalid("transaction id", "expected 32 hex digits"));
        }
        let mut out = [0u8; 16];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let hi = hex_val(pair[0]).ok_or(Error::invalid("transaction id", "not hexadecimal"))?;
            let lo = hex_val(pair[1]).ok_or(Error::invalid("transaction id", "not hexadecimal"))?;
            *o = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TxId(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// The terminal's request counter: strictly increasing per terminal, so a replayed request
/// is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Counter(pub u64);

/// Seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> u64 {
        self.0
    }

    /// `self + secs`, saturating.
    pub const fn saturating_add(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// `self - earlier` in seconds, or zero when `earlier` is later.
    pub const fn saturating_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Where a history page starts: the center's id of a ledger entry; the next page has the
/// entries before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryCursor(pub u64);

/// The serial number of a terminal's certificate, as the DER INTEGER's content bytes
/// (`wearpay_pki::Certificate::serial`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TerminalSerial(Vec<u8>);

impl TerminalSerial {
    /// The longest serial accepted (RFC 5280 allows 20 octets; one more for a sign byte,
    /// and room for non-conforming CAs).
    pub const MAX_LEN: usize = 32;

    /// A serial from its content bytes (1 to [`Self::MAX_LEN`]).
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(Error::invalid("terminal serial", "must be 1 to 32 bytes"));
        }
        Ok(Self(bytes.to_vec()))
    }

    /// The content bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for TerminalSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TerminalSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TerminalSerial({self})")
    }
}

/// Characters a display text must not contain: every C0/C1 control (bar `\n` where a text
/// has lines), and the invisible format characters that could make the band show
/// something other than what is signed (bidirectional overrides and isolates, zero-width
/// characters, the BOM, interlinear annotation).
pub(crate) fn display_safe(s: &str, allow_newline: bool) -> bool {
    s.chars().all(|c| {
        if c == '\n' {
            return allow_newline;
        }
        !(c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}')
            || matches!(c, '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{061C}' | '\u{00AD}'))
    })
}

/// Printable ASCII without space.
fn ascii_graphic(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:literal ..= $max:literal, $check:expr, $why:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The shortest length, in bytes of UTF-8.
            pub const MIN_LEN: usize = $min;
            /// The longest length, in bytes of UTF-8.
            pub const MAX_LEN: usize = $max;

            /// Checks and wraps `s`.
            pub fn new(s: &str) -> Result<Self, Error> {
                if !($min..=$max).contains(&s.len()) {
                    return Err(Error::invalid($what, concat!("must be ", $min, " to ", $max, " bytes")));
                }
                let check: fn(&str) -> bool = $check;
                if !check(s) {
                    return Err(Error::invalid($what, $why));
                }
                Ok(Self(String::from(s)))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl core::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }
    };
}

text_newtype!(
    /// A merchant's order id: 1 to 64 printable ASCII characters, no spaces.
    OrderId, "order id", 1..=64, ascii_graphic, "must be printable ASCII without spaces"
);
text_newtype!(
    /// A merchant id: 1 to 32 printable ASCII characters, no spaces.
    MerchantId, "merchant id", 1..=32, ascii_graphic, "must be printable ASCII without spaces"
);
text_newtype!(
    /// The merchant's name as the band shows it: 1 to 128 bytes of UTF-8, one line, no
    /// control or invisible formatting characters.
    MerchantName, "merchant name", 1..=128, |s| display_safe(s, false), "contains control or invisible characters"
);
text_newtype!(
    /// What is bought, as the band shows it: up to 256 bytes of UTF-8, one line, no control
    /// or invisible formatting characters.
    Description, "description", 0..=256, |s| display_safe(s, false), "contains control or invisible characters"
);
text_newtype!(
    /// Which biometric matcher ran on the band (e.g. `"fp-se-2"`): 1 to 32 printable ASCII
    /// characters.
    MatcherId, "matcher id", 1..=32, ascii_graphic, "must be printable ASCII without spaces"
);
