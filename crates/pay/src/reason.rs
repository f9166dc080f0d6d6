use core::fmt;

macro_rules! reason_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $meaning:literal;)*) => {
        /// Why the center declined a payment or refused a request.
        ///
        /// The numbers are the wire values and never change; 1–99 are authorization
        /// outcomes, listed in the order the center checks them, 100 and up are protocol
        /// failures. Zero is not a reason: it is the wire value of an approval.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u16)]
        pub enum ReasonCode {
            $($(#[$doc])* $variant = $code,)*
        }

        impl ReasonCode {
            /// Every reason code, in numeric order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            /// The stable wire number.
            pub const fn code(self) -> u16 {
                self as u16
            }

            /// The stable snake_case name (for logs, the CLI and the HTTP API).
            pub const fn name(self) -> &'static str {
                match self {
                    $(ReasonCode::$variant => $name,)*
                }
            }

            /// A one-line explanation for a person.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ReasonCode::$variant => $meaning,)*
                }
            }

            /// The reason code with this wire number.
            pub const fn from_code(code: u16) -> Option<Self> {
                match code {
                    $($code => Some(ReasonCode::$variant),)*
                    _ => None,
                }
            }

            /// The reason code with this name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(ReasonCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

reason_codes! {
    /// The `tx_id` is known, but the request bytes differ from the stored ones.
    DuplicateConflict = 1, "duplicate_conflict", "this transaction id was already used for a different request";
    /// The terminal is suspended.
    TerminalSuspended = 2, "terminal_suspended", "the terminal is suspended";
    /// The terminal is revoked (a lost band).
    TerminalRevoked = 3, "terminal_revoked", "the terminal is revoked";
    /// The request signature does not verify with the terminal's certificate.
    BadSignature = 4, "bad_signature", "the request signature does not verify";
    /// The counter is not above the last one the center accepted from this terminal.
    StaleCounter = 5, "stale_counter", "the request counter is not fresh";
    /// No such order.
    UnknownOrder = 6, "unknown_order", "no such order";
    /// The order already has an approved payment.
    OrderPaid = 7, "order_paid", "the order is already paid";
    /// The order's `expires_at` has passed.
    OrderExpired = 8, "order_expired", "the order has expired";
    /// The request's amount is not the order's.
    AmountMismatch = 9, "amount_mismatch", "the amount differs from the order's";
    /// The request's currency is not the order's.
    CurrencyMismatch = 10, "currency_mismatch", "the currency differs from the order's";
    /// The mode is disabled for this account or terminal.
    ModeNotAllowed = 11, "mode_not_allowed", "this payment mode is not allowed";
    /// No button press bound to this `tx_id`, or a stale one.
    PressMissing = 12, "press_missing", "no button press for this transaction";
    /// The mode's evidence is malformed or does not check (a PIN block that does not decipher…).
    BadEvidence = 13, "bad_evidence", "the payment evidence is invalid";
    /// Quick mode without a valid worn-since-unlock attestation.
    WornAttestationMissing = 14, "worn_attestation_missing", "the band was not worn continuously since unlock";
    /// The PIN is wrong.
    WrongPin = 15, "wrong_pin", "wrong PIN";
    /// Too many wrong PINs: PIN mode is locked until an administrator unlocks it.
    PinLocked = 16, "pin_locked", "PIN mode is locked";
    /// The on-device biometric match failed or scored too low.
    BiometricFailed = 17, "biometric_failed", "biometric verification failed";
    /// The text the band displayed is not the one the center builds from the order.
    ConfirmTextMismatch = 18, "confirm_text_mismatch", "the confirmed text differs from the order";
    /// Above the mode's per-transaction limit.
    LimitPerTx = 19, "limit_per_tx", "above the per-transaction limit of this mode";
    /// Above the mode's daily cumulative limit.
    LimitDaily = 20, "limit_daily", "above the daily limit of this mode";
    /// The payer's balance (and overdraft) does not cover the amount.
    InsufficientFunds = 21, "insufficient_funds", "insufficient funds";
    /// A renewal's certificate request is invalid or not for the key the channel
    /// authenticated.
    BadCsr = 40, "bad_csr", "the certificate request is invalid or not for this terminal's key";
    /// The message could not be decoded.
    Malformed = 100, "malformed", "the message is malformed";
    /// The message's protocol version is not supported.
    UnsupportedVersion = 101, "unsupported_version", "unsupported protocol version";
    /// The message is larger than the limit.
    TooLarge = 102, "too_large", "the message is too large";
    /// The center failed; nothing was changed.
    Internal = 103, "internal", "internal error";
    /// The center does not offer this request (a center without a terminal CA cannot renew).
    NotSupported = 104, "not_supported", "the center does not offer this request";
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for ReasonCode {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or(crate::Error::invalid("reason code", "unknown name"))
    }
}
