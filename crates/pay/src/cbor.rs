//! The deterministic CBOR subset the messages use, over `minicbor`.
//!
//! Writing: shortest-form heads, definite lengths, map keys written by the callers in
//! ascending order (RFC 8949 §4.2.1, core deterministic encoding).
//!
//! Reading: every item's head is checked before `minicbor` reads it, so a non-shortest
//! argument, an indefinite length or a reserved value is refused; maps are read through a
//! [`MapReader`] that takes the schema's keys in ascending order, so an unknown, repeated or
//! misplaced key is refused. Together these make decoding injective: an accepted input is
//! exactly what the writer produces for the decoded value.
use alloc::vec::Vec;

use minicbor::{Decoder, Encoder};

use crate::{Error, MAX_MESSAGE_LEN};

const MAJOR_UINT: u8 = 0;
const MAJOR_NINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_SIMPLE: u8 = 7;

/// Appends deterministic CBOR to a buffer. (`pub` only so that the sealed payload trait may
/// name it; the module is private.)
///
/// `minicbor`'s encoder into a `Vec` cannot fail (its write error is `Infallible`), so the
/// results are dropped.
#[derive(Debug)]
pub struct Writer(Encoder<Vec<u8>>);

impl Writer {
    pub(crate) fn new() -> Self {
        Self(Encoder::new(Vec::with_capacity(256)))
    }

    pub(crate) fn uint(&mut self, v: u64) -> &mut Self {
        let _ = self.0.u64(v);
        self
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        let _ = self.0.i64(v);
        self
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let _ = self.0.bytes(v);
        self
    }

    pub(crate) fn text(&mut self, v: &str) -> &mut Self {
        let _ = self.0.str(v);
        self
    }

    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        let _ = self.0.bool(v);
        self
    }

    pub(crate) fn map(&mut self, entries: u64) -> &mut Self {
        let _ = self.0.map(entries);
        self
    }

    pub(crate) fn array(&mut self, len: u64) -> &mut Self {
        let _ = self.0.array(len);
        self
    }

    /// Appends bytes that are already deterministic CBOR.
    pub(crate) fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.0.writer_mut().extend_from_slice(v);
        self
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0.into_writer()
    }

    /// The bytes, refused when longer than a message may be.
    pub(crate) fn finish(self) -> Result<Vec<u8>, Error> {
        let out = self.into_bytes();
        check_len(out.len())?;
        Ok(out)
    }
}

/// Refuses a message longer than [`MAX_MESSAGE_LEN`].
pub(crate) fn check_len(len: usize) -> Result<(), Error> {
    if len > MAX_MESSAGE_LEN { Err(Error::TooLarge { len, max: MAX_MESSAGE_LEN }) } else { Ok(()) }
}

fn cbor_error(e: &minicbor::decode::Error) -> Error {
    if e.is_end_of_input() { Error::Truncated } else { Error::Malformed("invalid CBOR") }
}

/// A strict reader over one input.
#[derive(Debug)]
pub struct Reader<'b> {
    d: Decoder<'b>,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(input: &'b [u8]) -> Self {
        Self { d: Decoder::new(input) }
    }

    pub(crate) fn position(&self) -> usize {
        self.d.position()
    }

    /// Checks the head of the next item and returns its major type and argument.
    fn head(&self) -> Result<(u8, u64), Error> {
        let rest = self.d.input().get(self.d.position()..).ok_or(Error::Truncated)?;
        let (&first, rest) = rest.split_first().ok_or(Error::Truncated)?;
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = |n: usize| -> Result<u64, Error> {
            let b = rest.get(..n).ok_or(Error::Truncated)?;
            Ok(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        };
        let (value, min) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (arg(1)?, 24),
            25 => (arg(2)?, 0x100),
            26 => (arg(4)?, 0x1_0000),
            27 => (arg(8)?, 0x1_0000_0000),
            28..=30 => return Err(Error::Malformed("reserved additional information")),
            _ => return Err(Error::NonCanonical), // indefinite length or break
        };
        if value < min {
            return Err(Error::NonCanonical);
        }
        Ok((major, value))
    }

    fn expect(&self, major: u8, what: &'static str) -> Result<u64, Error> {
        let (m, v) = self.head()?;
        if m == major { Ok(v) } else { Err(Error::Malformed(what)) }
    }

    pub(crate) fn uint(&mut self) -> Result<u64, Error> {
        self.expect(MAJOR_UINT, "expected an unsigned integer")?;
        self.d.u64().map_err(|e| cbor_error(&e))
    }

    pub(crate) fn int(&mut self) -> Result<i64, Error> {
        let (m, _) = self.head()?;
        if m != MAJOR_UINT && m != MAJOR_NINT {
            return Err(Error::Malformed("expected an integer"));
        }
        self.d.i64().map_err(|e| if e.is_end_of_input() { Error::Truncated } else { Error::Malformed("integer range") })
    }

    pub(crate) fn bytes(&mut self) -> Result<&'b [u8], Error> {
        self.expect(MAJOR_BYTES, "expected a byte string")?;
        self.d.bytes().map_err(|e| cbor_error(&e))
    }

    /// A byte string of exactly `N` bytes.
    pub(crate) fn byte_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        self.bytes()?.try_into().map_err(|_| Error::invalid(what, "wrong length"))
    }

    pub(crate) fn text(&mut self) -> Result<&'b str, Error> {
        self.expect(MAJOR_TEXT, "expected a text string")?;
        self.d.str().map_err(|e| if e.is_end_of_input() { Error::Truncated } else { Error::Malformed("invalid UTF-8") })
    }

    pub(crate) fn bool(&mut self) -> Result<bool, Error> {
        let (m, v) = self.head()?;
        if m != MAJOR_SIMPLE || !(v == 20 || v == 21) {
            return Err(Error::Malformed("expected a boolean"));
        }
        self.d.bool().map_err(|e| cbor_error(&e))
    }

    /// An array's length; the caller reads that many items.
    pub(crate) fn array(&mut self) -> Result<u64, Error> {
        self.expect(MAJOR_ARRAY, "expected an array")?;
        self.d.array().map_err(|e| cbor_error(&e))?.ok_or(Error::NonCanonical)
    }

    /// An array of exactly `len` items.
    pub(crate) fn array_of(&mut self, len: u64) -> Result<(), Error> {
        if self.array()? == len { Ok(()) } else { Err(Error::Malformed("wrong array length")) }
    }

    /// Starts a map; take its entries through the returned [`MapReader`].
    pub(crate) fn map(&mut self) -> Result<MapReader, Error> {
        self.expect(MAJOR_MAP, "expected a map")?;
        let n = self.d.map().map_err(|e| cbor_error(&e))?.ok_or(Error::NonCanonical)?;
        Ok(MapReader { entries: n, remaining: n })
    }

    /// Reads the next map key without consuming it.
    fn peek_key(&mut self) -> Result<u64, Error> {
        let at = self.d.position();
        let key = self.uint().map_err(|e| match e {
            Error::Malformed(_) => Error::Malformed("map keys must be unsigned integers"),
            e => e,
        });
        self.d.set_position(at);
        key
    }

    /// Refuses anything after the item just read.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.d.position() == self.d.input().len() { Ok(()) } else { Err(Error::TrailingBytes) }
    }
}

/// Takes a map's entries in the schema's key order.
#[derive(Debug)]
pub(crate) struct MapReader {
    entries: u64,
    remaining: u64,
}

impl MapReader {
    /// How many entries the map header announced.
    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    /// Consumes `key`, which must come next; the reader is then at its value.
    pub(crate) fn required(&mut self, r: &mut Reader<'_>, key: u64) -> Result<(), Error> {
        if self.optional(r, key)? { Ok(()) } else { Err(Error::MissingKey(key)) }
    }

    /// Consumes `key` if it comes next. A smaller key next is unknown, repeated or out of
    /// order, and refused.
    pub(crate) fn optional(&mut self, r: &mut Reader<'_>, key: u64) -> Result<bool, Error> {
        if self.remaining == 0 {
            return Ok(false);
        }
        let next = r.peek_key()?;
        if next < key {
            return Err(Error::UnexpectedKey(next));
        }
        if next > key {
            return Ok(false);
        }
        r.uint()?;
        self.remaining -= 1;
        Ok(true)
    }

    /// Refuses entries the schema does not know.
    pub(crate) fn finish(self, r: &mut Reader<'_>) -> Result<(), Error> {
        if self.remaining == 0 { Ok(()) } else { Err(Error::UnexpectedKey(r.peek_key()?)) }
    }
}

/// Starts a message: the map header for `fields` entries after the version and the type,
/// then `0: VERSION, 1: kind`.
pub(crate) fn begin_message(w: &mut Writer, kind: u64, fields: u64) {
    w.map(2 + fields).uint(0).uint(crate::VERSION).uint(1).uint(kind);
}

/// Opens a message: checks the size, reads the version (refusing any but
/// [`crate::VERSION`]) and returns the reader positioned after the type, with the type.
pub(crate) fn open_message(bytes: &[u8]) -> Result<(Reader<'_>, MapReader, u64), Error> {
    check_len(bytes.len())?;
    let mut r = Reader::new(bytes);
    let mut m = r.map()?;
    m.required(&mut r, 0)?;
    let version = r.uint()?;
    if version != crate::VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    m.required(&mut r, 1)?;
    let kind = r.uint()?;
    Ok((r, m, kind))
}

/// Ends a message: no unknown keys, no trailing bytes.
pub(crate) fn close_message(mut r: Reader<'_>, m: MapReader) -> Result<(), Error> {
    m.finish(&mut r)?;
    r.finish()
}

/// Reads a currency code.
pub(crate) fn currency(r: &mut Reader<'_>) -> Result<crate::Currency, Error> {
    crate::Currency::from_code(r.text()?)
}

/// Reads an amount.
pub(crate) fn amount(r: &mut Reader<'_>) -> Result<crate::Amount, Error> {
    crate::Amount::from_minor(r.uint()?)
}

/// Reads a transaction id.
pub(crate) fn tx_id(r: &mut Reader<'_>) -> Result<crate::TxId, Error> {
    Ok(crate::TxId(r.byte_array("transaction id")?))
}
