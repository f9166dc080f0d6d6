//! Handshake messages: the wire form of the patent's steps F2 to F10.
//!
//! TLCP's ECC and RSA key exchanges share one layout: ServerKeyExchange and
//! ClientKeyExchange are each a single `opaque<0..2^16-1>` (a signature and a public-key
//! ciphertext). Which algorithm produced the bytes changes what they mean, never how they
//! are framed, so decoding needs no knowledge of the negotiated suite. The ECDHE and IBC
//! suites use other layouts; wearpay does not negotiate them, and their messages would be
//! read with the ECC framing and rejected.

use alloc::vec::Vec;

use crate::codec::{
    Codec, LengthPrefix, Reader, U24, encode_list, encode_nested, encode_opaque, read_list, read_non_empty_list,
    read_opaque,
};
use crate::error::InvalidMessage;
use crate::msgs::enums::{ClientCertificateType, Compression, ExtensionType, HandshakeType, ProtocolVersion};
use crate::msgs::extensions::{ClientExtension, Extension, ServerExtension, encode_extensions, read_extensions};
use crate::suites::CipherSuite;

/// Length of a hello random.
pub const RANDOM_LEN: usize = 32;
/// Length of Finished `verify_data` in TLCP.
pub const VERIFY_DATA_LEN: usize = 12;

/// A session ID of 0 to 32 bytes; the bound is enforced when one is made, so every value
/// encodes.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SessionId {
    len: u8,
    bytes: [u8; 32],
}

impl SessionId {
    /// The longest session ID the grammar allows.
    pub const MAX_LEN: usize = 32;

    /// The empty session ID: no resumption offered or granted.
    pub const fn empty() -> Self {
        Self { len: 0, bytes: [0; 32] }
    }

    /// A session ID with these bytes, or `None` if longer than 32.
    pub fn new(id: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; 32];
        bytes.get_mut(..id.len())?.copy_from_slice(id);
        Some(Self { len: u8::try_from(id.len()).ok()?, bytes })
    }

    /// The ID's bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Whether the ID is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsRef<[u8]> for SessionId {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl core::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionId(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl Codec for SessionId {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_opaque(self.as_slice(), LengthPrefix::U8, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let mut sub = LengthPrefix::U8.read_block(r, "SessionId")?;
        Self::new(sub.rest()).ok_or(InvalidMessage::InvalidLength("SessionId"))
    }
}

/// One DER certificate (`opaque ASN.1Cert<1..2^24-1>`); parsing it is the `pki` crate's job.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertificateDer(pub Vec<u8>);

impl core::fmt::Debug for CertificateDer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CertificateDer({} bytes)", self.0.len())
    }
}

impl AsRef<[u8]> for CertificateDer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Codec for CertificateDer {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_opaque(&self.0, LengthPrefix::U24, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let der = read_opaque(r, LengthPrefix::U24, "ASN.1Cert")?;
        if der.is_empty() {
            return Err(InvalidMessage::EmptyValue("ASN.1Cert"));
        }
        Ok(Self(der))
    }
}

/// A DER-encoded X.501 Name of a CA the server trusts (`opaque DistinguishedName<1..2^16-1>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DistinguishedName(pub Vec<u8>);

impl AsRef<[u8]> for DistinguishedName {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Codec for DistinguishedName {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_opaque(&self.0, LengthPrefix::U16, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let der = read_opaque(r, LengthPrefix::U16, "DistinguishedName")?;
        if der.is_empty() {
            return Err(InvalidMessage::EmptyValue("DistinguishedName"));
        }
        Ok(Self(der))
    }
}

/// ClientHello, step F2: the terminal's random and its algorithm offer, both chosen in F1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHelloPayload {
    /// The highest version the client speaks; TLCP 1.1.
    pub client_version: ProtocolVersion,
    /// The client random.
    pub random: [u8; RANDOM_LEN],
    /// Non-empty to ask for resumption.
    pub session_id: SessionId,
    /// The offer, in preference order (`<2..2^16-2>`, so never empty).
    pub cipher_suites: Vec<CipherSuite>,
    /// Always `[Null]` from a TLCP client, but kept as read (`<1..2^8-1>`).
    pub compression_methods: Vec<Compression>,
    /// Each type at most once. An absent block and an empty one both read as empty, and
    /// empty is written as absent.
    pub extensions: Vec<ClientExtension>,
}

impl ClientHelloPayload {
    /// The extension of this type, if sent.
    pub fn find_extension(&self, typ: ExtensionType) -> Option<&ClientExtension> {
        self.extensions.iter().find(|e| e.ext_type() == typ)
    }
}

impl Codec for ClientHelloPayload {
    fn encode(&self, out: &mut Vec<u8>) {
        self.client_version.encode(out);
        out.extend_from_slice(&self.random);
        self.session_id.encode(out);
        encode_list(&self.cipher_suites, LengthPrefix::U16, out);
        encode_list(&self.compression_methods, LengthPrefix::U8, out);
        encode_extensions(&self.extensions, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self {
            client_version: ProtocolVersion::read(r)?,
            random: r.take_array("Random")?,
            session_id: SessionId::read(r)?,
            cipher_suites: read_non_empty_list(r, LengthPrefix::U16, "CipherSuites")?,
            compression_methods: read_non_empty_list(r, LengthPrefix::U8, "CompressionMethods")?,
            extensions: if r.any_left() { read_extensions(r)? } else { Vec::new() },
        })
    }
}

/// ServerHello, step F3: the center's random and its choice from the terminal's offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHelloPayload {
    /// The version chosen; TLCP 1.1.
    pub server_version: ProtocolVersion,
    /// The server random.
    pub random: [u8; RANDOM_LEN],
    /// Equal to the client's to resume, otherwise a new ID or empty.
    pub session_id: SessionId,
    /// The suite chosen.
    pub cipher_suite: CipherSuite,
    /// Always `Null`.
    pub compression_method: Compression,
    /// Answers to the client's extensions; the same absent-or-empty rule as the ClientHello.
    pub extensions: Vec<ServerExtension>,
}

impl ServerHelloPayload {
    /// The extension of this type, if sent.
    pub fn find_extension(&self, typ: ExtensionType) -> Option<&ServerExtension> {
        self.extensions.iter().find(|e| e.ext_type() == typ)
    }
}

impl Codec for ServerHelloPayload {
    fn encode(&self, out: &mut Vec<u8>) {
        self.server_version.encode(out);
        out.extend_from_slice(&self.random);
        self.session_id.encode(out);
        self.cipher_suite.encode(out);
        self.compression_method.encode(out);
        encode_extensions(&self.extensions, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self {
            server_version: ProtocolVersion::read(r)?,
            random: r.take_array("Random")?,
            session_id: SessionId::read(r)?,
            cipher_suite: CipherSuite::read(r)?,
            compression_method: Compression::read(r)?,
            extensions: if r.any_left() { read_extensions(r)? } else { Vec::new() },
        })
    }
}

/// CertificateRequest: the center asks for the terminal's certificates (answered in F6).
///
/// TLCP keeps the TLS 1.0/1.1 shape: no `supported_signature_algorithms` between the two
/// lists, unlike TLS 1.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRequestPayload {
    /// Acceptable certificate types (`<1..2^8-1>`).
    pub certificate_types: Vec<ClientCertificateType>,
    /// Names of acceptable CAs (`<0..2^16-1>`); empty means any.
    pub certificate_authorities: Vec<DistinguishedName>,
}

impl Codec for CertificateRequestPayload {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_list(&self.certificate_types, LengthPrefix::U8, out);
        encode_list(&self.certificate_authorities, LengthPrefix::U16, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self {
            certificate_types: read_non_empty_list(r, LengthPrefix::U8, "ClientCertificateTypes")?,
            certificate_authorities: read_list(r, LengthPrefix::U16, "DistinguishedNames")?,
        })
    }
}

/// NewSessionTicket (RFC 5077): sent after the client's Finished and before the server's
/// ChangeCipherSpec, so it is covered by the server's Finished (F9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSessionTicketPayload {
    /// Seconds the ticket may be used for; 0 means unspecified.
    pub lifetime_hint: u32,
    /// The ticket, opaque to the client (`<0..2^16-1>`).
    pub ticket: Vec<u8>,
}

impl Codec for NewSessionTicketPayload {
    fn encode(&self, out: &mut Vec<u8>) {
        self.lifetime_hint.encode(out);
        encode_opaque(&self.ticket, LengthPrefix::U16, out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self {
            lifetime_hint: u32::read(r).map_err(|_| InvalidMessage::MissingData("ticket_lifetime_hint"))?,
            ticket: read_opaque(r, LengthPrefix::U16, "ticket")?,
        })
    }
}

/// The body of a handshake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakePayload {
    /// Server asks for a new handshake; wearpay refuses renegotiation.
    HelloRequest,
    /// F2 (from F1): the terminal's random and algorithm offer.
    ClientHello(ClientHelloPayload),
    /// F3: the center's random and chosen suite.
    ServerHello(ServerHelloPayload),
    /// F4 from the center, F6 from the terminal: `ASN.1Cert certificate_list<0..2^24-1>`.
    /// TLCP puts the signing certificate first and the encryption certificate second.
    Certificate(Vec<CertificateDer>),
    /// F4: the center's signature (SM2 DER, or RSA) over both randoms and its encryption
    /// certificate, which binds that certificate to this handshake. A bare
    /// `opaque<0..2^16-1>`: TLCP has no signature-algorithm field.
    ServerKeyExchange(Vec<u8>),
    /// Asks for the terminal's certificates.
    CertificateRequest(CertificateRequestPayload),
    /// Ends the center's first flight.
    ServerHelloDone,
    /// F6: the terminal's signature over the transcript so far, `opaque<0..2^16-1>`.
    CertificateVerify(Vec<u8>),
    /// F5: the pre-master secret (the patent's master key) encrypted to the center's
    /// encryption certificate: SM2 ciphertext in DER, or RSA, as `opaque<0..2^16-1>`.
    ClientKeyExchange(Vec<u8>),
    /// F8 to F10: the PRF over the whole transcript, 12 bytes.
    Finished([u8; VERIFY_DATA_LEN]),
    /// A session ticket for the terminal to resume with.
    NewSessionTicket(NewSessionTicketPayload),
    /// A message type without a decoder here, kept as read.
    Unknown {
        /// Its type.
        typ: HandshakeType,
        /// Its body.
        body: Vec<u8>,
    },
}

impl HandshakePayload {
    /// The type byte that frames this payload.
    pub fn handshake_type(&self) -> HandshakeType {
        match self {
            Self::HelloRequest => HandshakeType::HelloRequest,
            Self::ClientHello(_) => HandshakeType::ClientHello,
            Self::ServerHello(_) => HandshakeType::ServerHello,
            Self::Certificate(_) => HandshakeType::Certificate,
            Self::ServerKeyExchange(_) => HandshakeType::ServerKeyExchange,
            Self::CertificateRequest(_) => HandshakeType::CertificateRequest,
            Self::ServerHelloDone => HandshakeType::ServerHelloDone,
            Self::CertificateVerify(_) => HandshakeType::CertificateVerify,
            Self::ClientKeyExchange(_) => HandshakeType::ClientKeyExchange,
            Self::Finished(_) => HandshakeType::Finished,
            Self::NewSessionTicket(_) => HandshakeType::NewSessionTicket,
            Self::Unknown { typ, .. } => *typ,
        }
    }

    /// Writes the body, without the four-byte header.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::HelloRequest | Self::ServerHelloDone => {}
            Self::ClientHello(p) => p.encode(out),
            Self::ServerHello(p) => p.encode(out),
            Self::Certificate(certs) => encode_list(certs, LengthPrefix::U24, out),
            Self::ServerKeyExchange(v) | Self::CertificateVerify(v) | Self::ClientKeyExchange(v) => {
                encode_opaque(v, LengthPrefix::U16, out);
            }
            Self::CertificateRequest(p) => p.encode(out),
            Self::Finished(v) => out.extend_from_slice(v),
            Self::NewSessionTicket(p) => p.encode(out),
            Self::Unknown { body, .. } => out.extend_from_slice(body),
        }
    }

    /// Reads a body that must fill `body` exactly. The type alone decides the layout.
    pub fn read_body(typ: HandshakeType, body: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let (payload, name) = match typ {
            HandshakeType::HelloRequest => (Self::HelloRequest, "HelloRequest"),
            HandshakeType::ClientHello => (Self::ClientHello(ClientHelloPayload::read(body)?), "ClientHello"),
            HandshakeType::ServerHello => (Self::ServerHello(ServerHelloPayload::read(body)?), "ServerHello"),
            HandshakeType::Certificate => {
                (Self::Certificate(read_list(body, LengthPrefix::U24, "certificate_list")?), "Certificate")
            }
            HandshakeType::ServerKeyExchange => (
                Self::ServerKeyExchange(read_opaque(body, LengthPrefix::U16, "ServerKeyExchange")?),
                "ServerKeyExchange",
            ),
            HandshakeType::CertificateRequest => {
                (Self::CertificateRequest(CertificateRequestPayload::read(body)?), "CertificateRequest")
            }
            HandshakeType::ServerHelloDone => (Self::ServerHelloDone, "ServerHelloDone"),
            HandshakeType::CertificateVerify => (
                Self::CertificateVerify(read_opaque(body, LengthPrefix::U16, "CertificateVerify")?),
                "CertificateVerify",
            ),
            HandshakeType::ClientKeyExchange => (
                Self::ClientKeyExchange(read_opaque(body, LengthPrefix::U16, "ClientKeyExchange")?),
                "ClientKeyExchange",
            ),
            HandshakeType::Finished => {
                if body.left() != VERIFY_DATA_LEN {
                    return Err(InvalidMessage::InvalidLength("Finished"));
                }
                (Self::Finished(body.take_array("Finished")?), "Finished")
            }
            HandshakeType::NewSessionTicket => {
                (Self::NewSessionTicket(NewSessionTicketPayload::read(body)?), "NewSessionTicket")
            }
            _ => (Self::Unknown { typ, body: body.rest().to_vec() }, "handshake message"),
        };
        body.expect_empty(name)?;
        Ok(payload)
    }
}

/// A handshake message: `HandshakeType msg_type; uint24 length; body`.
///
/// `typ` is what gets encoded; [`HandshakeMessage::new`] keeps it equal to the payload's
/// type, and reading always does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeMessage {
    /// The type byte.
    pub typ: HandshakeType,
    /// The decoded body.
    pub payload: HandshakePayload,
}

impl HandshakeMessage {
    /// Size of the type-and-length header.
    pub const HEADER_LEN: usize = 4;

    /// Frames `payload` with its own type.
    pub fn new(payload: HandshakePayload) -> Self {
        Self { typ: payload.handshake_type(), payload }
    }
}

impl From<HandshakePayload> for HandshakeMessage {
    fn from(payload: HandshakePayload) -> Self {
        Self::new(payload)
    }
}

impl Codec for HandshakeMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.typ.encode(out);
        encode_nested(out, LengthPrefix::U24, |out| self.payload.encode_body(out));
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let typ = HandshakeType::read(r)?;
        let len = U24::read(r).map_err(|_| InvalidMessage::MissingData("handshake length"))?;
        let mut body = r.sub(usize::from(len), "handshake body")?;
        let payload = HandshakePayload::read_body(typ, &mut body)?;
        Ok(Self { typ, payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn client_hello() -> ClientHelloPayload {
        ClientHelloPayload {
            client_version: ProtocolVersion::Tlcp1_1,
            random: [7; 32],
            session_id: SessionId::empty(),
            cipher_suites: vec![CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::EMPTY_RENEGOTIATION_INFO_SCSV],
            compression_methods: vec![Compression::Null],
            extensions: vec![ClientExtension::SessionTicket(vec![]), ClientExtension::SeedOrder],
        }
    }

    #[test]
    fn every_payload_round_trips() {
        let payloads = vec![
            HandshakePayload::HelloRequest,
            HandshakePayload::ClientHello(client_hello()),
            HandshakePayload::ClientHello(ClientHelloPayload { extensions: vec![], ..client_hello() }),
            HandshakePayload::ServerHello(ServerHelloPayload {
                server_version: ProtocolVersion::Tlcp1_1,
                random: [9; 32],
                session_id: SessionId::new(&[1; 32]).unwrap_or_default(),
                cipher_suite: CipherSuite::ECC_SM4_CBC_SM3,
                compression_method: Compression::Null,
                extensions: vec![ServerExtension::SeedOrder],
            }),
            HandshakePayload::Certificate(vec![]),
            HandshakePayload::Certificate(vec![CertificateDer(vec![0x30, 0]), CertificateDer(vec![1])]),
            HandshakePayload::ServerKeyExchange(vec![0x30, 1, 2]),
            HandshakePayload::CertificateRequest(CertificateRequestPayload {
                certificate_types: vec![ClientCertificateType::RsaSign, ClientCertificateType::EcdsaSign],
                certificate_authorities: vec![DistinguishedName(vec![0x30, 0])],
            }),
            HandshakePayload::ServerHelloDone,
            HandshakePayload::CertificateVerify(vec![]),
            HandshakePayload::ClientKeyExchange(vec![1; 300]),
            HandshakePayload::Finished([3; 12]),
            HandshakePayload::NewSessionTicket(NewSessionTicketPayload { lifetime_hint: 7200, ticket: vec![5; 10] }),
            HandshakePayload::Unknown { typ: HandshakeType::Unknown(99), body: vec![1, 2] },
        ];
        for payload in payloads {
            let msg = HandshakeMessage::new(payload);
            let bytes = msg.get_encoding();
            assert_eq!(HandshakeMessage::read_bytes(&bytes), Ok(msg));
        }
    }

    #[test]
    fn empty_extension_block_reads_as_absent() {
        let mut bytes = HandshakeMessage::new(HandshakePayload::ClientHello(ClientHelloPayload {
            extensions: vec![],
            ..client_hello()
        }))
        .get_encoding();
        bytes.extend_from_slice(&[0, 0]);
        if let Some(len) = bytes.get_mut(3) {
            *len += 2;
        }
        let msg = HandshakeMessage::read_bytes(&bytes);
        assert!(
            matches!(msg, Ok(HandshakeMessage { payload: HandshakePayload::ClientHello(ref ch), .. }) if ch.extensions.is_empty())
        );
    }

    #[test]
    fn grammar_bounds_are_enforced() {
        // Session ID of 33 bytes.
        let mut ch = HandshakeMessage::new(HandshakePayload::ClientHello(client_hello())).get_encoding();
        if let Some(b) = ch.get_mut(4 + 2 + 32) {
            *b = 33;
        }
        assert!(HandshakeMessage::read_bytes(&ch).is_err());
        assert_eq!(SessionId::new(&[0; 33]), None);
        assert_eq!(SessionId::read_bytes(&[33; 34]), Err(InvalidMessage::InvalidLength("SessionId")));

        assert_eq!(
            HandshakeMessage::read_bytes(&[20, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(InvalidMessage::InvalidLength("Finished"))
        );
        assert_eq!(
            HandshakeMessage::read_bytes(&[14, 0, 0, 1, 0]),
            Err(InvalidMessage::TrailingData("ServerHelloDone"))
        );
        assert_eq!(
            HandshakeMessage::read_bytes(&[13, 0, 0, 3, 0, 0, 0]),
            Err(InvalidMessage::EmptyValue("ClientCertificateTypes"))
        );
        assert_eq!(
            HandshakeMessage::read_bytes(&[11, 0, 0, 6, 0, 0, 3, 0, 0, 0]),
            Err(InvalidMessage::EmptyValue("ASN.1Cert"))
        );
        assert_eq!(
            HandshakeMessage::read_bytes(&[12, 0, 0, 3, 0, 2, 0]),
            Err(InvalidMessage::MissingData("ServerKeyExchange"))
        );
        assert_eq!(
            HandshakeMessage::read_bytes(&[16, 0, 0, 3, 0, 0, 0]),
            Err(InvalidMessage::TrailingData("ClientKeyExchange"))
        );
        assert_eq!(HandshakeMessage::read_bytes(&[16, 0, 0, 9]), Err(InvalidMessage::MissingData("handshake body")));
    }

    #[test]
    fn duplicate_extension_in_hello_is_rejected() {
        let ch = ClientHelloPayload {
            extensions: vec![ClientExtension::SessionTicket(vec![]), ClientExtension::SessionTicket(vec![1])],
            ..client_hello()
        };
        let bytes = HandshakeMessage::new(HandshakePayload::ClientHello(ch)).get_encoding();
        assert_eq!(
            HandshakeMessage::read_bytes(&bytes),
            Err(InvalidMessage::DuplicateExtension(ExtensionType::SessionTicket))
        );
    }
}
