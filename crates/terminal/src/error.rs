use alloc::{boxed::Box, string::String};

use wearpay_pay::{Mode, OrderId, ReasonCode, Timestamp, TxId};

use crate::ui::Approval;

/// What went wrong on the band.
///
/// The text is for the band's owner and for logs: it never contains a PIN, a key or the
/// sealed state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- the secure element and its sealed state ----
    /// The state file does not start with the secure element's magic: not a sealed state.
    #[error("not a sealed secure-element state file")]
    NotSealedState,
    /// The state file was written by a format version this band does not read.
    #[error("unsupported secure-element state version {0}")]
    UnsupportedStateVersion(u8),
    /// The state file is shorter (or longer) than its header says: cut off or appended to.
    #[error("the secure-element state file is truncated")]
    StateTruncated,
    /// The device secret does not open this state (or the key-derivation header was altered).
    #[error("wrong device secret for the secure-element state")]
    WrongSecret,
    /// The right secret, but the sealed state does not authenticate: it was altered.
    #[error("the secure-element state was tampered with")]
    StateTampered,
    /// The state authenticated but does not parse: written by a faulty implementation.
    #[error("the secure-element state is malformed: {0}")]
    StateMalformed(&'static str),
    /// The secure element has no key pair yet (enrollment generates it).
    #[error("the secure element holds no key yet")]
    NoKey,
    /// The secure element already holds a key pair; replacing it would orphan its
    /// certificate.
    #[error("the secure element already holds a key")]
    KeyExists,
    /// The request counter reached its end.
    #[error("the request counter is exhausted")]
    CounterExhausted,
    /// The secure element saw no press of the band's button for this transaction.
    #[error("the secure element saw no button press")]
    NoPress,
    /// The mode's verification failed on the band (not worn since unlock, no biometric
    /// match): nothing was signed or sent.
    #[error("{0} verification failed on the band")]
    VerificationFailed(Mode),

    // ---- time ----
    /// The phone's clock is behind the time floor (the latest time the center signed) by
    /// more than the tolerance: the band refuses to go on.
    #[error("the phone's clock ({phone}) is behind the band's time floor ({floor})")]
    ClockBehind {
        /// The phone's time, in Unix seconds.
        phone: u64,
        /// The floor, in Unix seconds.
        floor: u64,
    },

    // ---- the payment ----
    /// The center answered the order query with another order.
    #[error("the center answered with another order than {0}")]
    OrderMismatch(OrderId),
    /// The order has expired at the band's effective time.
    #[error("order {order_id} expired at {expires_at:?}")]
    OrderExpired {
        /// The order.
        order_id: OrderId,
        /// When it expired.
        expires_at: Timestamp,
    },
    /// The user did not press the button (declined, or the wait timed out): nothing was
    /// signed or sent.
    #[error("the user did not approve the payment ({0:?})")]
    NotApproved(Approval),
    /// A payment for this order is pending and could not be settled yet; nothing new was
    /// started. [`crate::Terminal::resume_pending`] settles it once the center answers.
    #[error("a payment for this order is pending (transaction {0})")]
    PendingPayment(TxId),
    /// The request was stored and sent (or may have been), but no answer came back: the
    /// payment is pending until [`crate::Terminal::resume_pending`] settles it.
    #[error("no answer to payment {tx_id}; it is pending: {source}")]
    ResponseLost {
        /// The pending transaction.
        tx_id: TxId,
        /// What broke.
        source: Box<Error>,
    },
    /// The center refused the request as a whole.
    #[error("the center refused the request: {0}")]
    Refused(ReasonCode),
    /// The center answered with a message that does not fit the request.
    #[error("unexpected answer from the center: {0}")]
    UnexpectedResponse(&'static str),
    /// A receipt did not verify with the center's receipt key or does not match the request.
    #[error("the center's receipt does not verify: {0}")]
    BadReceipt(wearpay_pay::Error),

    // ---- provisioning ----
    /// The provisioning bundle is malformed.
    #[error("provisioning: {0}")]
    Provisioning(String),
    /// The provisioned band certificate is not for the secure element's key.
    #[error("the band certificate is not for the secure element's key")]
    CertificateMismatch,

    // ---- the user interface ----
    /// The user interface could not do what was asked.
    #[error("user interface: {0}")]
    Ui(&'static str),

    // ---- layers below ----
    /// A payment message could not be built or decoded.
    #[error(transparent)]
    Pay(#[from] wearpay_pay::Error),
    /// A certificate, CSR or key failed.
    #[error(transparent)]
    Pki(#[from] wearpay_pki::Error),
    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] wearpay_crypto::Error),
    /// The secure channel failed (handshake, certificate, record).
    #[error("secure channel: {0}")]
    Channel(#[from] wearpay_tlcp::Error),
    /// The channel closed before the answer came.
    #[error("the channel closed before the center answered")]
    ChannelClosed,
    /// The transport or a file failed.
    #[cfg(feature = "std")]
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
