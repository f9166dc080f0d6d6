//! Why bytes from the peer were not a valid message.

use crate::msgs::enums::ExtensionType;

/// A decoding failure. Each variant maps to one TLCP alert (see
/// [`InvalidMessage::alert`]), so the state machine never has to guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// The input ended inside the named field.
    #[error("message truncated while reading {0}")]
    MissingData(&'static str),
    /// Bytes were left after the named structure ended.
    #[error("trailing bytes after {0}")]
    TrailingData(&'static str),
    /// A record had a content type TLCP does not define.
    #[error("unknown record content type")]
    InvalidContentType,
    /// A record's version was not in the TLCP family (major version 1).
    #[error("unknown protocol version")]
    UnknownProtocolVersion,
    /// A record was longer than any TLCP ciphertext may be (2^14 + 2048).
    #[error("record too long")]
    RecordOverflow,
    /// A handshake message was longer than this endpoint accepts.
    #[error("handshake message too large")]
    MessageTooLarge,
    /// A handshake, alert or change_cipher_spec record had no content.
    #[error("empty record of a type that must carry content")]
    InvalidEmptyPayload,
    /// A value whose grammar has a lower bound of one element or byte was empty.
    #[error("{0} must not be empty")]
    EmptyValue(&'static str),
    /// A field had a length its grammar forbids.
    #[error("{0} has an invalid length")]
    InvalidLength(&'static str),
    /// The same extension appeared twice in one hello.
    #[error("duplicate extension {0:?}")]
    DuplicateExtension(ExtensionType),
    /// An extension's body did not match its grammar.
    #[error("malformed {0} extension")]
    InvalidExtension(&'static str),
    /// A max_fragment_length code outside RFC 6066's 1..=4.
    #[error("invalid max_fragment_length code {0}")]
    InvalidMaxFragmentLength(u8),
    /// A change_cipher_spec message other than the single byte 1.
    #[error("invalid change_cipher_spec message")]
    InvalidCcs,
}

impl InvalidMessage {
    /// The alert to send for this failure.
    pub const fn alert(&self) -> crate::msgs::enums::AlertDescription {
        use crate::msgs::enums::AlertDescription;
        match self {
            Self::RecordOverflow => AlertDescription::RecordOverflow,
            Self::UnknownProtocolVersion => AlertDescription::ProtocolVersion,
            Self::InvalidContentType | Self::InvalidEmptyPayload | Self::InvalidCcs => {
                AlertDescription::UnexpectedMessage
            }
            Self::InvalidMaxFragmentLength(_) | Self::DuplicateExtension(_) => AlertDescription::IllegalParameter,
            Self::MessageTooLarge
            | Self::MissingData(_)
            | Self::TrailingData(_)
            | Self::EmptyValue(_)
            | Self::InvalidLength(_)
            | Self::InvalidExtension(_) => AlertDescription::DecodeError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::enums::AlertDescription;

    #[test]
    fn each_failure_names_its_alert() {
        assert_eq!(InvalidMessage::RecordOverflow.alert(), AlertDescription::RecordOverflow);
        assert_eq!(InvalidMessage::UnknownProtocolVersion.alert(), AlertDescription::ProtocolVersion);
        assert_eq!(InvalidMessage::MissingData("x").alert(), AlertDescription::DecodeError);
        assert_eq!(
            InvalidMessage::DuplicateExtension(ExtensionType::SeedOrder).alert(),
            AlertDescription::IllegalParameter
        );
        assert_eq!(InvalidMessage::InvalidCcs.alert(), AlertDescription::UnexpectedMessage);
    }
}
