//! The crate's one error type.

use crate::ErrorStatus;

/// Why a fragment, a message or the link failed.
///
/// Framing errors caused by the peer map, through [`Error::status`], to the ERROR status
/// the peer should receive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A continuation fragment arrived while no message was in progress.
    #[error("continuation fragment (SEQ {seq:#04x}) without an initial fragment")]
    ContinuationWithoutInit {
        /// Its SEQ byte.
        seq: u8,
    },
    /// An initial fragment too short for its 3-byte header.
    #[error("initial fragment of {len} bytes is shorter than its 3-byte header")]
    InitTooShort {
        /// Its length.
        len: usize,
    },
    /// A fragment with no bytes, or a continuation with a SEQ byte and no data.
    #[error("fragment carries no data")]
    EmptyFragment,
    /// An initial fragment whose command byte is not defined.
    #[error("unknown command {0:#04x}")]
    UnknownCommand(u8),
    /// A continuation with the wrong SEQ (an initial fragment in the middle of a message
    /// shows up here too, with its command byte as `got`).
    #[error("fragment SEQ {got:#04x} where {expected:#04x} was expected")]
    UnexpectedSeq {
        /// The SEQ that should have come.
        expected: u8,
        /// The byte that came.
        got: u8,
    },
    /// More data than the initial fragment declared.
    #[error("{received} bytes received for a message declared as {declared} bytes")]
    DataPastLength {
        /// The declared length.
        declared: u16,
        /// The bytes received so far, the offending fragment included.
        received: usize,
    },
    /// A fragment longer than the negotiated maximum.
    #[error("fragment of {len} bytes is longer than the negotiated maximum of {max}")]
    FragmentTooLong {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A message longer than the receiver accepts or the framing can carry.
    #[error("message of {len} bytes is longer than the limit of {max}")]
    MessageTooLong {
        /// Its (declared) length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The next fragment of a message did not come in time.
    #[error("no fragment for {waited_ms} ms in the middle of a message")]
    FragmentTimeout {
        /// Milliseconds since the last fragment.
        waited_ms: u64,
    },
    /// An ATT_MTU outside 23..=517.
    #[error("ATT_MTU {0} is outside 23..=517")]
    AttMtuOutOfRange(u16),
    /// A control point length outside 20..=512.
    #[error("control point length {0} is outside 20..=512")]
    ControlPointLengthOutOfRange(u16),
    /// A maximum fragment length outside 20..=512.
    #[error("maximum fragment length {0} is outside 20..=512")]
    FragmentLimitOutOfRange(usize),
    /// The peer answered with an ERROR message.
    #[error("peer reported a framing error: {0}")]
    PeerError(ErrorStatus),
    /// The peer cancelled the request in progress.
    #[error("peer cancelled the request")]
    Cancelled,
    /// Nothing arrived within the receive timeout. The link is still usable.
    #[error("no message within the receive timeout")]
    RecvTimeout,
    /// The connection is gone (the peer closed it, or an earlier failure did).
    #[error("link disconnected")]
    Disconnected,
    /// The configured fault dropped the connection.
    #[error("link dropped by fault injection after {bytes} bytes")]
    FaultInjected {
        /// The bytes that went through in the faulty direction before the drop.
        bytes: u64,
    },
    /// The peer broke the link protocol below the framing (handshake, record kinds).
    #[error("link protocol violation: {0}")]
    Protocol(&'static str),
    /// A socket failure.
    #[cfg(feature = "std")]
    #[error("link I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The ERROR status to send the peer whose fragments caused this error, or `None` when
    /// the error is not the peer's framing fault.
    pub fn status(&self) -> Option<ErrorStatus> {
        Some(match self {
            Self::ContinuationWithoutInit { .. } | Self::UnexpectedSeq { .. } => ErrorStatus::InvalidSeq,
            Self::InitTooShort { .. }
            | Self::EmptyFragment
            | Self::DataPastLength { .. }
            | Self::FragmentTooLong { .. }
            | Self::MessageTooLong { .. } => ErrorStatus::InvalidLength,
            Self::UnknownCommand(_) => ErrorStatus::InvalidCommand,
            Self::FragmentTimeout { .. } => ErrorStatus::Timeout,
            _ => return None,
        })
    }
}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    /// Maps link errors to the `io::ErrorKind` a stream user expects: timeouts to
    /// `TimedOut`, a lost connection to `ConnectionReset`, a peer's ERROR or CANCEL to
    /// `ConnectionAborted`, a framing fault to `InvalidData`.
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let e = match e {
            Error::Io(io) => return io,
            other => other,
        };
        let kind = match &e {
            Error::RecvTimeout => ErrorKind::TimedOut,
            Error::Disconnected | Error::FaultInjected { .. } => ErrorKind::ConnectionReset,
            Error::PeerError(_) | Error::Cancelled => ErrorKind::ConnectionAborted,
            Error::AttMtuOutOfRange(_)
            | Error::ControlPointLengthOutOfRange(_)
            | Error::FragmentLimitOutOfRange(_)
            | Error::MessageTooLong { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::InvalidData,
        };
        Self::new(kind, e)
    }
}
