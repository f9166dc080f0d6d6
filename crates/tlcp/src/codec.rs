//! Reading and writing the TLCP presentation language.
//!
//! Modelled on rustls `msgs/codec.rs`: every wire type implements [`Codec`], reads from a
//! bounds-checked [`Reader`] and appends to a caller-owned `Vec`. Length prefixes are typed
//! ([`LengthPrefix`]) so a field cannot be read with one width and written with another.

use alloc::vec::Vec;

use crate::error::InvalidMessage;

/// A cursor over a borrowed message; every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    cursor: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { buf: bytes, cursor: 0 }
    }

    /// Takes the next `len` bytes, or `None` (consuming nothing) if fewer are left.
    pub fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.cursor.checked_add(len)?;
        let out = self.buf.get(self.cursor..end)?;
        self.cursor = end;
        Some(out)
    }

    /// Takes exactly `N` bytes into an array.
    pub fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], InvalidMessage> {
        let bytes = self.take(N).ok_or(InvalidMessage::MissingData(what))?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Takes everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.cursor..).unwrap_or_default();
        self.cursor = self.buf.len();
        out
    }

    /// Splits off a reader over the next `len` bytes, for a length-prefixed block.
    pub fn sub(&mut self, len: usize, what: &'static str) -> Result<Reader<'a>, InvalidMessage> {
        self.take(len).map(Reader::new).ok_or(InvalidMessage::MissingData(what))
    }

    /// Whether any bytes are left.
    pub fn any_left(&self) -> bool {
        self.cursor < self.buf.len()
    }

    /// How many bytes are left.
    pub fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.cursor)
    }

    /// How many bytes have been read.
    pub fn used(&self) -> usize {
        self.cursor
    }

    /// Fails with `TrailingData(what)` unless everything has been read.
    pub fn expect_empty(&self, what: &'static str) -> Result<(), InvalidMessage> {
        if self.any_left() { Err(InvalidMessage::TrailingData(what)) } else { Ok(()) }
    }
}

/// A type with exactly one wire encoding.
///
/// `read` followed by `encode` must give back the bytes read, except where a type documents
/// a normalisation (an empty extension block is written as none at all).
pub trait Codec: Sized {
    /// Appends the encoding of `self`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from the front of `r`, leaving the rest.
    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage>;

    /// The encoding as a fresh `Vec`.
    fn get_encoding(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Reads one value that must fill `bytes` exactly: a framed message with bytes left
    /// over is malformed, not a message followed by noise.
    fn read_bytes(bytes: &[u8]) -> Result<Self, InvalidMessage> {
        let mut r = Reader::new(bytes);
        let value = Self::read(&mut r)?;
        r.expect_empty(core::any::type_name::<Self>())?;
        Ok(value)
    }
}

impl Codec for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let [b] = r.take_array::<1>("u8")?;
        Ok(b)
    }
}

impl Codec for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self::from_be_bytes(r.take_array("u16")?))
    }
}

impl Codec for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self::from_be_bytes(r.take_array("u32")?))
    }
}

/// A 24-bit big-endian integer (handshake lengths, certificate lengths).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct U24(pub u32);

impl U24 {
    /// The largest value a `U24` can carry.
    pub const MAX: u32 = 0x00ff_ffff;
}

impl From<U24> for usize {
    fn from(v: U24) -> Self {
        Self::try_from(v.0).unwrap_or(Self::MAX)
    }
}

impl Codec for U24 {
    fn encode(&self, out: &mut Vec<u8>) {
        let [_, a, b, c] = self.0.min(Self::MAX).to_be_bytes();
        out.extend_from_slice(&[a, b, c]);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let [a, b, c] = r.take_array("u24")?;
        Ok(Self(u32::from_be_bytes([0, a, b, c])))
    }
}

/// The width of a length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthPrefix {
    /// `<0..2^8-1>`
    U8,
    /// `<0..2^16-1>`
    U16,
    /// `<0..2^24-1>`
    U24,
}

impl LengthPrefix {
    /// Bytes the prefix itself takes.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::U24 => 3,
        }
    }

    /// The largest length the prefix can express.
    pub const fn max(self) -> usize {
        match self {
            Self::U8 => 0xff,
            Self::U16 => 0xffff,
            Self::U24 => 0x00ff_ffff,
        }
    }

    /// Reads a length of this width.
    pub fn read_len(self, r: &mut Reader<'_>, what: &'static str) -> Result<usize, InvalidMessage> {
        let bytes = r.take(self.size()).ok_or(InvalidMessage::MissingData(what))?;
        Ok(bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    }

    /// Reads a length of this width and splits off a reader over that many bytes.
    pub fn read_block<'a>(self, r: &mut Reader<'a>, what: &'static str) -> Result<Reader<'a>, InvalidMessage> {
        let len = self.read_len(r, what)?;
        r.sub(len, what)
    }

    /// Writes `len` in this width at `out[at..]`.
    ///
    /// A length beyond the prefix's range is a bug in the code building the message; it is
    /// clamped rather than panicking, which makes the peer see a malformed message.
    fn write_at(self, out: &mut [u8], at: usize, len: usize) {
        let len = len.min(self.max());
        let size = self.size();
        let be = len.to_be_bytes();
        let src = be.get(be.len().saturating_sub(size)..).unwrap_or_default();
        if let Some(dst) = out.get_mut(at..at.saturating_add(size))
            && dst.len() == src.len()
        {
            dst.copy_from_slice(src);
        }
    }
}

/// Encodes a length-prefixed block: reserves the prefix, lets `body` append, then writes
/// the length it appended. Saves computing nested lengths up front.
pub fn encode_nested(out: &mut Vec<u8>, prefix: LengthPrefix, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.resize(at + prefix.size(), 0);
    let start = out.len();
    body(out);
    let len = out.len() - start;
    prefix.write_at(out, at, len);
}

/// Reads a length-prefixed list of `T` that must end exactly at the block's end.
pub fn read_list<T: Codec>(
    r: &mut Reader<'_>,
    prefix: LengthPrefix,
    what: &'static str,
) -> Result<Vec<T>, InvalidMessage> {
    let mut sub = prefix.read_block(r, what)?;
    let mut out = Vec::new();
    while sub.any_left() {
        out.push(T::read(&mut sub)?);
    }
    Ok(out)
}

/// Like [`read_list`], for lists the grammar gives a lower bound of one element.
pub fn read_non_empty_list<T: Codec>(
    r: &mut Reader<'_>,
    prefix: LengthPrefix,
    what: &'static str,
) -> Result<Vec<T>, InvalidMessage> {
    let out = read_list(r, prefix, what)?;
    if out.is_empty() { Err(InvalidMessage::EmptyValue(what)) } else { Ok(out) }
}

/// Writes a length-prefixed list.
pub fn encode_list<T: Codec>(items: &[T], prefix: LengthPrefix, out: &mut Vec<u8>) {
    encode_nested(out, prefix, |out| {
        for item in items {
            item.encode(out);
        }
    });
}

/// Reads a length-prefixed opaque value.
pub fn read_opaque(r: &mut Reader<'_>, prefix: LengthPrefix, what: &'static str) -> Result<Vec<u8>, InvalidMessage> {
    let mut sub = prefix.read_block(r, what)?;
    Ok(sub.rest().to_vec())
}

/// Writes a length-prefixed opaque value.
pub fn encode_opaque(bytes: &[u8], prefix: LengthPrefix, out: &mut Vec<u8>) {
    encode_nested(out, prefix, |out| out.extend_from_slice(bytes));
}

macro_rules! payload_type {
    ($(#[$meta:meta])* $name:ident, $prefix:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name(pub Vec<u8>);

        impl $name {
            /// Wraps `bytes`.
            pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
                Self(bytes.into())
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl Codec for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                encode_opaque(&self.0, $prefix, out);
            }

            fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
                read_opaque(r, $prefix, stringify!($name)).map(Self)
            }
        }
    };
}

payload_type!(
    /// Opaque bytes with a one-byte length.
    PayloadU8,
    LengthPrefix::U8
);
payload_type!(
    /// Opaque bytes with a two-byte length.
    PayloadU16,
    LengthPrefix::U16
);
payload_type!(
    /// Opaque bytes with a three-byte length.
    PayloadU24,
    LengthPrefix::U24
);

/// Declares a wire enum that keeps values it does not name, so that decoding never loses
/// information and re-encoding is exact.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $uint:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value without a name here, kept as read.
            Unknown($uint),
        }

        impl From<$uint> for $name {
            fn from(v: $uint) -> Self {
                match v {
                    $( $value => Self::$variant, )*
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$name> for $uint {
            fn from(v: $name) -> Self {
                match v {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $name {
            /// The value's name as the standard spells it, `None` if unknown.
            pub const fn as_str(&self) -> Option<&'static str> {
                match self {
                    $( Self::$variant => Some($text), )*
                    Self::Unknown(_) => None,
                }
            }
        }

        impl $crate::codec::Codec for $name {
            fn encode(&self, out: &mut alloc::vec::Vec<u8>) {
                <$uint as $crate::codec::Codec>::encode(&<$uint>::from(*self), out);
            }

            fn read(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::error::InvalidMessage> {
                <$uint as $crate::codec::Codec>::read(r)
                    .map(Self::from)
                    .map_err(|_| $crate::error::InvalidMessage::MissingData(stringify!($name)))
            }
        }
    };
}
pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn reader_is_bounds_checked() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.take(2), Some(&[1u8, 2][..]));
        assert_eq!(r.take(2), None);
        assert_eq!(r.left(), 1);
        assert_eq!(r.used(), 2);
        assert_eq!(r.take(usize::MAX), None);
        assert_eq!(r.rest(), &[3]);
        assert!(!r.any_left());
        assert_eq!(r.rest(), &[] as &[u8]);
    }

    #[test]
    fn integers_round_trip() {
        assert_eq!(u16::read_bytes(&[0x01, 0x02]), Ok(0x0102));
        assert_eq!(U24::read_bytes(&[0x01, 0x02, 0x03]), Ok(U24(0x010203)));
        assert_eq!(U24(0x010203).get_encoding(), vec![1, 2, 3]);
        assert_eq!(u32::read_bytes(&[0, 0, 0x1c, 0x20]), Ok(7200));
        assert_eq!(u16::read_bytes(&[1]), Err(InvalidMessage::MissingData("u16")));
        assert!(matches!(u8::read_bytes(&[1, 2]), Err(InvalidMessage::TrailingData(_))));
    }

    #[test]
    fn nested_blocks_are_backpatched() {
        let mut out = vec![0xaa];
        encode_nested(&mut out, LengthPrefix::U24, |out| {
            encode_nested(out, LengthPrefix::U16, |out| out.extend_from_slice(&[1, 2, 3]));
            encode_nested(out, LengthPrefix::U8, |_| {});
        });
        assert_eq!(out, vec![0xaa, 0, 0, 6, 0, 3, 1, 2, 3, 0]);
    }

    #[test]
    fn payloads_round_trip() {
        for (bytes, value) in [
            (&[2u8, 9, 8][..], PayloadU8::new([9, 8]).get_encoding()),
            (&[0, 2, 9, 8][..], PayloadU16::new([9, 8]).get_encoding()),
            (&[0, 0, 2, 9, 8][..], PayloadU24::new([9, 8]).get_encoding()),
        ] {
            assert_eq!(bytes, &value[..]);
        }
        assert_eq!(PayloadU16::read_bytes(&[0, 3, 1]), Err(InvalidMessage::MissingData("PayloadU16")));
    }

    #[test]
    fn lists_must_fill_their_block() {
        // Three bytes cannot hold u16 elements.
        assert_eq!(
            read_list::<u16>(&mut Reader::new(&[0, 3, 0, 1, 2]), LengthPrefix::U16, "list"),
            Err(InvalidMessage::MissingData("u16"))
        );
        assert_eq!(
            read_non_empty_list::<u16>(&mut Reader::new(&[0, 0]), LengthPrefix::U16, "list"),
            Err(InvalidMessage::EmptyValue("list"))
        );
        let mut out = Vec::new();
        encode_list(&[1u16, 2], LengthPrefix::U8, &mut out);
        assert_eq!(out, vec![4, 0, 1, 0, 2]);
    }

    #[test]
    fn oversize_lengths_clamp_instead_of_panicking() {
        let mut out = Vec::new();
        encode_opaque(&[0u8; 300], LengthPrefix::U8, &mut out);
        assert_eq!(out.first(), Some(&0xff));
        assert_eq!(out.len(), 301);
    }
}
