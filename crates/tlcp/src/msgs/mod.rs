//! TLCP messages: records, alerts, ChangeCipherSpec and the handshake.

pub mod alert;
pub mod enums;
pub mod extensions;
pub mod handshake;
pub mod record;

pub use alert::{AlertMessage, ChangeCipherSpec};
pub use enums::{
    AlertDescription, AlertLevel, ClientCertificateType, Compression, ContentType, ExtensionType, HandshakeType,
    ProtocolVersion, ServerNameType,
};
pub use extensions::{ClientExtension, Extension, MaxFragmentLength, ServerExtension, ServerNameEntry};
pub use handshake::{
    CertificateDer, CertificateRequestPayload, ClientHelloPayload, DistinguishedName, HandshakeMessage,
    HandshakePayload, NewSessionTicketPayload, RANDOM_LEN, ServerHelloPayload, SessionId, VERIFY_DATA_LEN,
};
pub use record::{MAX_CIPHERTEXT, MAX_COMPRESSED, MAX_PLAINTEXT, RecordHeader};
