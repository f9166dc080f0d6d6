//! Hello extensions.
//!
//! Each known extension has a typed body; any other is kept as `Unknown` so a server can
//! ignore it as RFC 5246 requires and the transcript stays exact.

use alloc::vec::Vec;

use crate::codec::{Codec, LengthPrefix, Reader, encode_list, encode_nested, encode_opaque, read_opaque};
use crate::error::InvalidMessage;
use crate::msgs::enums::{ExtensionType, ServerNameType};

/// RFC 6066 max_fragment_length: a band with little RAM asks for smaller records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaxFragmentLength {
    /// 2^9 = 512 bytes (code 1).
    Pow9,
    /// 2^10 = 1024 bytes (code 2).
    Pow10,
    /// 2^11 = 2048 bytes (code 3).
    Pow11,
    /// 2^12 = 4096 bytes (code 4).
    Pow12,
}

impl MaxFragmentLength {
    /// The RFC 6066 code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Pow9 => 1,
            Self::Pow10 => 2,
            Self::Pow11 => 3,
            Self::Pow12 => 4,
        }
    }

    /// The value for an RFC 6066 code; other codes are an illegal_parameter.
    pub const fn from_code(code: u8) -> Result<Self, InvalidMessage> {
        match code {
            1 => Ok(Self::Pow9),
            2 => Ok(Self::Pow10),
            3 => Ok(Self::Pow11),
            4 => Ok(Self::Pow12),
            other => Err(InvalidMessage::InvalidMaxFragmentLength(other)),
        }
    }

    /// The plaintext fragment limit in bytes.
    pub const fn max_len(self) -> usize {
        1 << (8 + self.code() as usize)
    }

    /// The code for a limit of exactly `len` bytes, if RFC 6066 has one.
    pub const fn from_max_len(len: usize) -> Option<Self> {
        match len {
            512 => Some(Self::Pow9),
            1024 => Some(Self::Pow10),
            2048 => Some(Self::Pow11),
            4096 => Some(Self::Pow12),
            _ => None,
        }
    }
}

impl Codec for MaxFragmentLength {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let code = u8::read(r).map_err(|_| InvalidMessage::MissingData("MaxFragmentLength"))?;
        Self::from_code(code)
    }
}

/// One entry of RFC 6066's ServerNameList.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerNameEntry {
    /// Host name, or an unknown type kept as read.
    pub name_type: ServerNameType,
    /// The name's bytes (`opaque HostName<1..2^16-1>`).
    pub name: Vec<u8>,
}

impl ServerNameEntry {
    /// A host_name entry.
    pub fn host_name(name: impl Into<Vec<u8>>) -> Self {
        Self { name_type: ServerNameType::HostName, name: name.into() }
    }
}

impl Codec for ServerNameEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        self.name_type.encode(out);
        encode_opaque(&self.name, LengthPrefix::U16, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let name_type = ServerNameType::read(r)?;
        let name = read_opaque(r, LengthPrefix::U16, "HostName")?;
        if name.is_empty() {
            return Err(InvalidMessage::EmptyValue("HostName"));
        }
        Ok(Self { name_type, name })
    }
}

/// An extension the client sends in its ClientHello (F2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientExtension {
    /// The center's host name, for a center behind a shared address.
    ServerName(Vec<ServerNameEntry>),
    /// Smaller records for a memory-poor band.
    MaxFragmentLength(MaxFragmentLength),
    /// Empty to ask for a ticket, or a ticket to resume with.
    SessionTicket(Vec<u8>),
    /// RFC 5746 `renegotiated_connection`; empty on an initial handshake.
    RenegotiationInfo(Vec<u8>),
    /// Asks for the patent's order of Finished messages (see [`ExtensionType::SeedOrder`]).
    SeedOrder,
    /// Any other extension, kept so it can be ignored.
    Unknown {
        /// Its type.
        typ: ExtensionType,
        /// Its body.
        data: Vec<u8>,
    },
}

/// An extension the server answers with in its ServerHello (F3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerExtension {
    /// The server used the client's server_name (empty body).
    ServerNameAck,
    /// The server accepted the client's max_fragment_length; RFC 6066 has it echo the code.
    MaxFragmentLength(MaxFragmentLength),
    /// The server will send a NewSessionTicket (empty body).
    SessionTicketAck,
    /// RFC 5746 `renegotiated_connection`; empty on an initial handshake.
    RenegotiationInfo(Vec<u8>),
    /// The server agreed to the patent's Finished order.
    SeedOrder,
    /// Any other extension; the client decides whether it was solicited.
    Unknown {
        /// Its type.
        typ: ExtensionType,
        /// Its body.
        data: Vec<u8>,
    },
}

/// Implemented by both extension enums, for the shared list handling.
pub trait Extension: Codec {
    /// The extension's type code.
    fn ext_type(&self) -> ExtensionType;
}

impl Extension for ClientExtension {
    fn ext_type(&self) -> ExtensionType {
        match self {
            Self::ServerName(_) => ExtensionType::ServerName,
            Self::MaxFragmentLength(_) => ExtensionType::MaxFragmentLength,
            Self::SessionTicket(_) => ExtensionType::SessionTicket,
            Self::RenegotiationInfo(_) => ExtensionType::RenegotiationInfo,
            Self::SeedOrder => ExtensionType::SeedOrder,
            Self::Unknown { typ, .. } => *typ,
        }
    }
}

impl Extension for ServerExtension {
    fn ext_type(&self) -> ExtensionType {
        match self {
            Self::ServerNameAck => ExtensionType::ServerName,
            Self::MaxFragmentLength(_) => ExtensionType::MaxFragmentLength,
            Self::SessionTicketAck => ExtensionType::SessionTicket,
            Self::RenegotiationInfo(_) => ExtensionType::RenegotiationInfo,
            Self::SeedOrder => ExtensionType::SeedOrder,
            Self::Unknown { typ, .. } => *typ,
        }
    }
}

fn empty_body(body: &Reader<'_>, name: &'static str) -> Result<(), InvalidMessage> {
    if body.any_left() { Err(InvalidMessage::InvalidExtension(name)) } else { Ok(()) }
}

fn read_renegotiation_info(body: &mut Reader<'_>) -> Result<Vec<u8>, InvalidMessage> {
    let value = read_opaque(body, LengthPrefix::U8, "renegotiation_info")
        .map_err(|_| InvalidMessage::InvalidExtension("renegotiation_info"))?;
    empty_body(body, "renegotiation_info")?;
    Ok(value)
}

impl Codec for ClientExtension {
    fn encode(&self, out: &mut Vec<u8>) {
        self.ext_type().encode(out);
        encode_nested(out, LengthPrefix::U16, |out| match self {
            Self::ServerName(names) => encode_list(names, LengthPrefix::U16, out),
            Self::MaxFragmentLength(mfl) => mfl.encode(out),
            Self::SessionTicket(data) | Self::Unknown { data, .. } => out.extend_from_slice(data),
            Self::RenegotiationInfo(value) => encode_opaque(value, LengthPrefix::U8, out),
            Self::SeedOrder => {}
        });
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let typ = ExtensionType::read(r)?;
        let mut body = LengthPrefix::U16.read_block(r, "extension")?;
        let ext = match typ {
            ExtensionType::ServerName => {
                let names = crate::codec::read_non_empty_list(&mut body, LengthPrefix::U16, "ServerNameList")?;
                empty_body(&body, "server_name")?;
                Self::ServerName(names)
            }
            ExtensionType::MaxFragmentLength => {
                let mfl = MaxFragmentLength::read(&mut body)?;
                empty_body(&body, "max_fragment_length")?;
                Self::MaxFragmentLength(mfl)
            }
            ExtensionType::SessionTicket => Self::SessionTicket(body.rest().to_vec()),
            ExtensionType::RenegotiationInfo => Self::RenegotiationInfo(read_renegotiation_info(&mut body)?),
            ExtensionType::SeedOrder => {
                empty_body(&body, "seed_order")?;
                Self::SeedOrder
            }
            _ => Self::Unknown { typ, data: body.rest().to_vec() },
        };
        Ok(ext)
    }
}

impl Codec for ServerExtension {
    fn encode(&self, out: &mut Vec<u8>) {
        self.ext_type().encode(out);
        encode_nested(out, LengthPrefix::U16, |out| match self {
            Self::ServerNameAck | Self::SessionTicketAck | Self::SeedOrder => {}
            Self::MaxFragmentLength(mfl) => mfl.encode(out),
            Self::RenegotiationInfo(value) => encode_opaque(value, LengthPrefix::U8, out),
            Self::Unknown { data, .. } => out.extend_from_slice(data),
        });
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let typ = ExtensionType::read(r)?;
        let mut body = LengthPrefix::U16.read_block(r, "extension")?;
        let ext = match typ {
            ExtensionType::ServerName => {
                empty_body(&body, "server_name")?;
                Self::ServerNameAck
            }
            ExtensionType::MaxFragmentLength => {
                let mfl = MaxFragmentLength::read(&mut body)?;
                empty_body(&body, "max_fragment_length")?;
                Self::MaxFragmentLength(mfl)
            }
            ExtensionType::SessionTicket => {
                empty_body(&body, "session_ticket")?;
                Self::SessionTicketAck
            }
            ExtensionType::RenegotiationInfo => Self::RenegotiationInfo(read_renegotiation_info(&mut body)?),
            ExtensionType::SeedOrder => {
                empty_body(&body, "seed_order")?;
                Self::SeedOrder
            }
            _ => Self::Unknown { typ, data: body.rest().to_vec() },
        };
        Ok(ext)
    }
}

/// Reads a hello's extension block, refusing a type seen twice: two different answers to
/// one question would let the two ends act on different ones.
pub fn read_extensions<T: Extension>(r: &mut Reader<'_>) -> Result<Vec<T>, InvalidMessage> {
    let mut block = LengthPrefix::U16.read_block(r, "extensions")?;
    let mut out: Vec<T> = Vec::new();
    while block.any_left() {
        let ext = T::read(&mut block)?;
        let typ = ext.ext_type();
        if out.iter().any(|seen| seen.ext_type() == typ) {
            return Err(InvalidMessage::DuplicateExtension(typ));
        }
        out.push(ext);
    }
    Ok(out)
}

/// Writes a hello's extension block, or nothing when there are no extensions.
pub fn encode_extensions<T: Extension>(exts: &[T], out: &mut Vec<u8>) {
    if !exts.is_empty() {
        encode_list(exts, LengthPrefix::U16, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn max_fragment_length_codes() {
        for (code, len, mfl) in [
            (1, 512, MaxFragmentLength::Pow9),
            (2, 1024, MaxFragmentLength::Pow10),
            (3, 2048, MaxFragmentLength::Pow11),
            (4, 4096, MaxFragmentLength::Pow12),
        ] {
            assert_eq!(mfl.max_len(), len);
            assert_eq!(MaxFragmentLength::from_max_len(len), Some(mfl));
            let ext = ClientExtension::MaxFragmentLength(mfl);
            let bytes = ext.get_encoding();
            assert_eq!(bytes, vec![0, 1, 0, 1, code]);
            assert_eq!(ClientExtension::read_bytes(&bytes), Ok(ext));
            let ext = ServerExtension::MaxFragmentLength(mfl);
            assert_eq!(ServerExtension::read_bytes(&bytes), Ok(ext));
        }
        assert_eq!(MaxFragmentLength::from_max_len(16384), None);
        for bad in [0u8, 5, 255] {
            assert_eq!(
                ClientExtension::read_bytes(&[0, 1, 0, 1, bad]),
                Err(InvalidMessage::InvalidMaxFragmentLength(bad))
            );
        }
        assert_eq!(
            ClientExtension::read_bytes(&[0, 1, 0, 2, 1, 1]),
            Err(InvalidMessage::InvalidExtension("max_fragment_length"))
        );
        assert_eq!(ClientExtension::read_bytes(&[0, 1, 0, 0]), Err(InvalidMessage::MissingData("MaxFragmentLength")));
    }

    #[test]
    fn known_extensions_round_trip() {
        let exts = vec![
            ClientExtension::ServerName(vec![ServerNameEntry::host_name(*b"center")]),
            ClientExtension::SessionTicket(vec![]),
            ClientExtension::SessionTicket(vec![1, 2, 3]),
            ClientExtension::RenegotiationInfo(vec![]),
            ClientExtension::SeedOrder,
            ClientExtension::Unknown { typ: ExtensionType::Unknown(0x1234), data: vec![9] },
        ];
        for ext in exts {
            assert_eq!(ClientExtension::read_bytes(&ext.get_encoding()), Ok(ext));
        }
        assert_eq!(ClientExtension::SeedOrder.get_encoding(), [0xfe, 0x53, 0, 0]);
        assert_eq!(ServerExtension::SessionTicketAck.get_encoding(), [0, 0x23, 0, 0]);
        assert_eq!(ServerExtension::read_bytes(&[0xff, 0x01, 0, 1, 0]), Ok(ServerExtension::RenegotiationInfo(vec![])));
        assert_eq!(
            ServerExtension::read_bytes(&[0, 0x23, 0, 1, 0]),
            Err(InvalidMessage::InvalidExtension("session_ticket"))
        );
        assert_eq!(
            ServerExtension::read_bytes(&[0xfe, 0x53, 0, 1, 0]),
            Err(InvalidMessage::InvalidExtension("seed_order"))
        );
    }

    #[test]
    fn duplicate_extension_is_rejected() {
        let mut block = Vec::new();
        encode_extensions(&[ClientExtension::SeedOrder, ClientExtension::SeedOrder], &mut block);
        assert_eq!(
            read_extensions::<ClientExtension>(&mut Reader::new(&block)),
            Err(InvalidMessage::DuplicateExtension(ExtensionType::SeedOrder))
        );
        // Two unknown extensions of the same type are just as ambiguous.
        let unknown = ServerExtension::Unknown { typ: ExtensionType::Unknown(7), data: vec![] };
        let mut block = Vec::new();
        encode_extensions(&[unknown.clone(), ServerExtension::SeedOrder, unknown], &mut block);
        assert_eq!(
            read_extensions::<ServerExtension>(&mut Reader::new(&block)),
            Err(InvalidMessage::DuplicateExtension(ExtensionType::Unknown(7)))
        );
    }
}
