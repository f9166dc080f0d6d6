//! Alert and ChangeCipherSpec: the two one-purpose record types.

use alloc::vec::Vec;

use crate::codec::{Codec, Reader};
use crate::error::InvalidMessage;
use crate::msgs::enums::{AlertDescription, AlertLevel};

/// An alert: the "error message, end the connection" of F5, F7, F9 and F10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertMessage {
    /// Warning or fatal.
    pub level: AlertLevel,
    /// What went wrong.
    pub description: AlertDescription,
}

impl AlertMessage {
    /// A fatal alert; everything wearpay sends except close_notify is fatal.
    pub const fn fatal(description: AlertDescription) -> Self {
        Self { level: AlertLevel::Fatal, description }
    }

    /// The warning-level close_notify that ends a connection cleanly.
    pub const fn close_notify() -> Self {
        Self { level: AlertLevel::Warning, description: AlertDescription::CloseNotify }
    }
}

impl Codec for AlertMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.level.encode(out);
        self.description.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Self { level: AlertLevel::read(r)?, description: AlertDescription::read(r)? })
    }
}

/// The ChangeCipherSpec message: a single byte 1. It is not a handshake message, so it is
/// not in the transcript hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeCipherSpec;

impl Codec for ChangeCipherSpec {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(1);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        match u8::read(r) {
            Ok(1) => Ok(Self),
            Ok(_) => Err(InvalidMessage::InvalidCcs),
            Err(_) => Err(InvalidMessage::MissingData("ChangeCipherSpec")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_round_trips() {
        assert_eq!(AlertMessage::read_bytes(&[1, 0]), Ok(AlertMessage::close_notify()));
        let a = AlertMessage::fatal(AlertDescription::UnsupportedSite2site);
        assert_eq!(a.get_encoding(), [2, 200]);
        assert_eq!(AlertMessage::read_bytes(&[2]), Err(InvalidMessage::MissingData("AlertDescription")));
        assert!(matches!(AlertMessage::read_bytes(&[2, 40, 0]), Err(InvalidMessage::TrailingData(_))));
    }

    #[test]
    fn ccs_is_one_byte_one() {
        assert_eq!(ChangeCipherSpec::read_bytes(&[1]), Ok(ChangeCipherSpec));
        assert_eq!(ChangeCipherSpec::read_bytes(&[2]), Err(InvalidMessage::InvalidCcs));
        assert!(ChangeCipherSpec::read_bytes(&[1, 1]).is_err());
        assert_eq!(ChangeCipherSpec.get_encoding(), [1]);
    }
}
