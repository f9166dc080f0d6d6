//! Frame commands and the status bytes carried by ERROR and KEEPALIVE.

use crate::Error;

/// The command of a framed message, carried in the first byte of its initial fragment.
///
/// The high bit is always set, which is what tells an initial fragment from a continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// Echo request or answer: the peer sends the same data back.
    Ping = 0x81,
    /// The band is still working on a request; data is one [`KeepaliveStatus`] byte.
    Keepalive = 0x82,
    /// A message of the channel above (TLCP records, opaque here).
    Msg = 0x83,
    /// The central withdraws the request in progress.
    Cancel = 0xBE,
    /// Framing failure; data is one [`ErrorStatus`] byte.
    Error = 0xBF,
}

impl Command {
    /// The byte on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for Command {
    type Error = Error;

    fn try_from(byte: u8) -> Result<Self, Error> {
        Ok(match byte {
            0x81 => Self::Ping,
            0x82 => Self::Keepalive,
            0x83 => Self::Msg,
            0xBE => Self::Cancel,
            0xBF => Self::Error,
            other => return Err(Error::UnknownCommand(other)),
        })
    }
}

/// The status byte of an ERROR message: why the peer's frames were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorStatus {
    /// The command byte is not one this side knows.
    InvalidCommand = 0x01,
    /// A parameter in the command was invalid.
    InvalidParameter = 0x02,
    /// A fragment or message length was invalid.
    InvalidLength = 0x03,
    /// A continuation came out of order, or without an initial fragment.
    InvalidSeq = 0x04,
    /// The next fragment did not come in time.
    Timeout = 0x05,
    /// The receiver is busy with another request.
    Busy = 0x06,
    /// Any other failure.
    Other = 0x7F,
}

impl ErrorStatus {
    /// The byte on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Reads a status byte, taking an unknown value as [`ErrorStatus::Other`] (a peer's
    /// error is an error whatever its code).
    pub const fn from_u8_lossy(byte: u8) -> Self {
        match byte {
            0x01 => Self::InvalidCommand,
            0x02 => Self::InvalidParameter,
            0x03 => Self::InvalidLength,
            0x04 => Self::InvalidSeq,
            0x05 => Self::Timeout,
            0x06 => Self::Busy,
            _ => Self::Other,
        }
    }
}

impl core::fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            Self::InvalidCommand => "invalid command",
            Self::InvalidParameter => "invalid parameter",
            Self::InvalidLength => "invalid length",
            Self::InvalidSeq => "invalid sequence",
            Self::Timeout => "timeout",
            Self::Busy => "busy",
            Self::Other => "other error",
        };
        write!(f, "{text} ({:#04x})", self.as_u8())
    }
}

/// The status byte of a KEEPALIVE message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum KeepaliveStatus {
    /// The band is processing the request.
    Processing = 0x01,
    /// The band waits for the user's press.
    UserPresenceNeeded = 0x02,
}

impl KeepaliveStatus {
    /// The byte on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Reads a status byte; `None` for a value not defined here.
    pub const fn from_u8(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Processing),
            0x02 => Some(Self::UserPresenceNeeded),
            _ => None,
        }
    }
}
