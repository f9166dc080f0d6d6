//! The five-byte record header.

use alloc::vec::Vec;

use crate::codec::{Codec, Reader};
use crate::error::InvalidMessage;
use crate::msgs::enums::{ContentType, ProtocolVersion};

/// The largest plaintext fragment a record may carry (2^14).
pub const MAX_PLAINTEXT: usize = 16384;
/// The largest compressed fragment (2^14 + 1024); TLCP never compresses, but the bound is
/// part of the grammar.
pub const MAX_COMPRESSED: usize = MAX_PLAINTEXT + 1024;
/// The largest protected fragment (2^14 + 2048): anything longer is `record_overflow`
/// without trying to decrypt it.
pub const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 2048;

/// `ContentType type; ProtocolVersion version; uint16 length;`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// What the fragment holds.
    pub typ: ContentType,
    /// The record-layer version, TLCP 1.1 on every record a conforming peer sends.
    pub version: ProtocolVersion,
    /// The fragment's length in bytes.
    pub length: u16,
}

impl RecordHeader {
    /// Encoded size of a header.
    pub const LEN: usize = 5;

    /// Checks what can be checked before the fragment arrives, so a hostile length is
    /// refused at once instead of being buffered.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        match self.typ {
            ContentType::ChangeCipherSpec
            | ContentType::Alert
            | ContentType::Handshake
            | ContentType::ApplicationData => {}
            _ => return Err(InvalidMessage::InvalidContentType),
        }
        if self.version.major() != 1 {
            return Err(InvalidMessage::UnknownProtocolVersion);
        }
        if usize::from(self.length) > MAX_CIPHERTEXT {
            return Err(InvalidMessage::RecordOverflow);
        }
        // Empty records of these types could be sent without end and cost nothing to make.
        if self.length == 0 && self.typ != ContentType::ApplicationData {
            return Err(InvalidMessage::InvalidEmptyPayload);
        }
        Ok(())
    }
}

impl Codec for RecordHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.typ.encode(out);
        self.version.encode(out);
        self.length.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self {
            typ: ContentType::read(r)?,
            version: ProtocolVersion::read(r)?,
            length: u16::read(r).map_err(|_| InvalidMessage::MissingData("record length"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(typ: u8, version: u16, length: u16) -> RecordHeader {
        RecordHeader { typ: ContentType::from(typ), version: ProtocolVersion::from(version), length }
    }

    #[test]
    fn header_round_trips() {
        let bytes = [0x16, 0x01, 0x01, 0x00, 0x35];
        let h = RecordHeader::read_bytes(&bytes);
        assert_eq!(h, Ok(header(22, 0x0101, 53)));
        assert_eq!(header(22, 0x0101, 53).get_encoding(), bytes);
    }

    #[test]
    fn header_checks() {
        assert_eq!(header(23, 0x0101, 18432).check(), Ok(()));
        assert_eq!(header(23, 0x0101, 18433).check(), Err(InvalidMessage::RecordOverflow));
        assert_eq!(header(24, 0x0101, 1).check(), Err(InvalidMessage::InvalidContentType));
        assert_eq!(header(22, 0x0303, 1).check(), Err(InvalidMessage::UnknownProtocolVersion));
        // A future TLCP minor version is still framed; the handshake decides on it.
        assert_eq!(header(22, 0x0102, 1).check(), Ok(()));
        assert_eq!(header(22, 0x0101, 0).check(), Err(InvalidMessage::InvalidEmptyPayload));
        assert_eq!(header(23, 0x0101, 0).check(), Ok(()));
    }
}
