//! Payment modes and the evidence each one carries.
use alloc::{format, string::String};
use core::fmt;

use crate::{
    EncipheredPin, Error, MatcherId, Order, ReasonCode, Timestamp, TxId,
    cbor::{Reader, Writer},
    ids::display_safe,
};

/// How the user authorizes a payment. In every mode the band first shows the merchant and
/// the amount and the user presses its button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Mode {
    /// Small amounts: the press and a worn-since-unlock attestation.
    Quick = 1,
    /// The PIN typed on the band, as an ISO 9564-1 format 4 block under SM4.
    Pin = 2,
    /// The secure element's on-device biometric match.
    Biometric = 3,
    /// "What you see is what you sign": the signature covers the text the band displayed.
    Confirm = 4,
}

impl Mode {
    /// Every mode, in wire order.
    pub const ALL: [Mode; 4] = [Mode::Quick, Mode::Pin, Mode::Biometric, Mode::Confirm];

    /// The wire number.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The mode with this wire number.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Self::Quick),
            2 => Some(Self::Pin),
            3 => Some(Self::Biometric),
            4 => Some(Self::Confirm),
            _ => None,
        }
    }

    /// The lower-case name: `quick`, `pin`, `biometric`, `confirm`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Pin => "pin",
            Self::Biometric => "biometric",
            Self::Confirm => "confirm",
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::from_code(r.uint()?).ok_or(Error::invalid("mode", "unknown mode"))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|m| m.name() == s).ok_or(Error::invalid("mode", "unknown mode"))
    }
}

/// The user's press of the band's button, bound to the transaction it approves. The
/// secure element records it; the request signature covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Press {
    /// The transaction the press approved.
    pub tx_id: TxId,
    /// When, by the band's clock.
    pub at: Timestamp,
}

/// The secure element's statement that the band has been worn without interruption since
/// the user last unlocked it (quick mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WornAttestation {
    /// When the band was last unlocked, by its clock.
    pub unlocked_at: Timestamp,
    /// Whether the skin sensor saw it worn the whole time since.
    pub worn_since_unlock: bool,
}

/// The outcome of the secure element's on-device biometric match. No template or sample
/// ever leaves the band.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BiometricMatch {
    /// Whether the matcher accepted.
    pub matched: bool,
    /// Which matcher ran.
    pub matcher: MatcherId,
    /// Its confidence in basis points, 0 to [`BiometricMatch::MAX_SCORE`].
    pub score: u16,
}

impl BiometricMatch {
    /// The highest score: certainty.
    pub const MAX_SCORE: u16 = 10_000;
}

/// The exact text the band displayed in confirm mode: up to 1024 bytes of UTF-8, lines
/// separated by `\n`, no other control or invisible formatting characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfirmText(String);

impl ConfirmText {
    /// The longest text, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Checks and wraps a displayed text.
    pub fn new(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(Error::invalid("confirm text", "must be 1 to 1024 bytes"));
        }
        if !display_safe(s, true) {
            return Err(Error::invalid("confirm text", "contains control or invisible characters"));
        }
        Ok(Self(String::from(s)))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text the band displays for `order` in confirm mode, which the center rebuilds from
/// its own copy of the order and compares byte for byte.
///
/// Lines joined by `\n`, no trailing newline; the description line only when there is one:
///
/// ```text
/// Pay 1000.00 CNY
/// To Tea House (M-0001)
/// Order ORD-42
/// Two cups of tea
/// ```
pub fn confirm_text(order: &Order) -> ConfirmText {
    let mut s =
        format!("Pay {}\nTo {} ({})\nOrder {}", order.money(), order.merchant_name, order.merchant_id, order.order_id);
    if !order.description.as_str().is_empty() {
        s.push('\n');
        s.push_str(order.description.as_str());
    }
    // Every part is display-safe and bounded (merchant name 128, description 256, ids 96
    // bytes), so the whole is well under the limit.
    ConfirmText(s)
}

/// What proves the user's consent in the request's mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Quick mode.
    Quick(WornAttestation),
    /// PIN mode.
    Pin(EncipheredPin),
    /// Biometric mode.
    Biometric(BiometricMatch),
    /// Confirm mode.
    Confirm(ConfirmText),
}

/// A payment's evidence: the press, and the mode's proof.
///
/// The press is optional on the wire only so that a center can tell a request without one
/// apart (`press_missing`) from a malformed one; a band always sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The button press, bound to the request's `tx_id`.
    pub press: Option<Press>,
    /// The mode's proof.
    pub proof: Proof,
}

/// Tolerances for [`Evidence::check`], the checks that need no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceRules {
    /// How long before `terminal_time` the press may be, in seconds.
    pub max_press_age: u64,
    /// How long before the press the band may have been unlocked (quick mode), in seconds.
    pub max_unlock_age: u64,
    /// The lowest biometric score accepted, in basis points.
    pub min_biometric_score: u16,
}

impl Default for EvidenceRules {
    /// A press at most 2 minutes old, an unlock at most 24 hours old, a biometric score of
    /// at least 90.00 %.
    fn default() -> Self {
        Self { max_press_age: 120, max_unlock_age: 24 * 3600, min_biometric_score: 9_000 }
    }
}

impl Evidence {
    /// Evidence for quick mode.
    pub fn quick(press: Press, worn: WornAttestation) -> Self {
        Self { press: Some(press), proof: Proof::Quick(worn) }
    }

    /// Evidence for PIN mode.
    pub fn pin(press: Press, pin: EncipheredPin) -> Self {
        Self { press: Some(press), proof: Proof::Pin(pin) }
    }

    /// Evidence for biometric mode.
    pub fn biometric(press: Press, result: BiometricMatch) -> Self {
        Self { press: Some(press), proof: Proof::Biometric(result) }
    }

    /// Evidence for confirm mode.
    pub fn confirm(press: Press, text: ConfirmText) -> Self {
        Self { press: Some(press), proof: Proof::Confirm(text) }
    }

    /// The mode the proof belongs to.
    pub fn mode(&self) -> Mode {
        match self.proof {
            Proof::Quick(_) => Mode::Quick,
            Proof::Pin(_) => Mode::Pin,
            Proof::Biometric(_) => Mode::Biometric,
            Proof::Confirm(_) => Mode::Confirm,
        }
    }

    /// The checks that need neither the center's state nor a secret, for a request with
    /// `tx_id` made at `terminal_time` to pay `order`:
    ///
    /// - a press bound to `tx_id`, not after `terminal_time` and at most
    ///   `rules.max_press_age` before it, else `press_missing`;
    /// - quick: worn since an unlock no later than the press and at most
    ///   `rules.max_unlock_age` before it, else `worn_attestation_missing`;
    /// - biometric: matched with at least `rules.min_biometric_score`, else
    ///   `biometric_failed`;
    /// - confirm: the text is [`confirm_text`]`(order)` byte for byte, else
    ///   `confirm_text_mismatch`;
    /// - PIN: nothing here; the key store deciphers and checks the block.
    pub fn check(
        &self,
        tx_id: &TxId,
        terminal_time: Timestamp,
        order: &Order,
        rules: &EvidenceRules,
    ) -> Result<(), ReasonCode> {
        let press = match &self.press {
            Some(p) if p.tx_id == *tx_id && p.at <= terminal_time => p,
            _ => return Err(ReasonCode::PressMissing),
        };
        if terminal_time.saturating_since(press.at) > rules.max_press_age {
            return Err(ReasonCode::PressMissing);
        }
        match &self.proof {
            Proof::Quick(worn) => {
                if !worn.worn_since_unlock
                    || worn.unlocked_at > press.at
                    || press.at.saturating_since(worn.unlocked_at) > rules.max_unlock_age
                {
                    return Err(ReasonCode::WornAttestationMissing);
                }
            }
            Proof::Pin(_) => {}
            Proof::Biometric(m) => {
                if !m.matched || m.score < rules.min_biometric_score {
                    return Err(ReasonCode::BiometricFailed);
                }
            }
            Proof::Confirm(text) => {
                if text.as_str() != confirm_text(order).as_str() {
                    return Err(ReasonCode::ConfirmTextMismatch);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.map(1 + u64::from(self.press.is_some()));
        if let Some(p) = &self.press {
            w.uint(1).map(2).uint(1).bytes(&p.tx_id.0).uint(2).uint(p.at.0);
        }
        match &self.proof {
            Proof::Quick(worn) => {
                w.uint(2).map(2).uint(1).uint(worn.unlocked_at.0).uint(2).bool(worn.worn_since_unlock);
            }
            Proof::Pin(pin) => {
                w.uint(3);
                pin.encode(w);
            }
            Proof::Biometric(m) => {
                w.uint(4)
                    .map(3)
                    .uint(1)
                    .bool(m.matched)
                    .uint(2)
                    .text(m.matcher.as_str())
                    .uint(3)
                    .uint(u64::from(m.score));
            }
            Proof::Confirm(text) => {
                w.uint(5).text(text.as_str());
            }
        }
    }

    /// Checks what the types cannot: the biometric score's range.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Proof::Biometric(m) = &self.proof
            && m.score > BiometricMatch::MAX_SCORE
        {
            return Err(Error::invalid("biometric score", "above 10000 basis points"));
        }
        Ok(())
    }

    /// Decodes the evidence of a request whose mode is `mode`: its proof must be that mode's.
    pub(crate) fn decode(r: &mut Reader<'_>, mode: Mode) -> Result<Self, Error> {
        let mut m = r.map()?;
        let press = if m.optional(r, 1)? {
            let mut p = r.map()?;
            p.required(r, 1)?;
            let tx_id = TxId(r.byte_array("press tx_id")?);
            p.required(r, 2)?;
            let at = Timestamp(r.uint()?);
            p.finish(r)?;
            Some(Press { tx_id, at })
        } else {
            None
        };
        let proof = match mode {
            Mode::Quick => {
                m.required(r, 2)?;
                let mut a = r.map()?;
                a.required(r, 1)?;
                let unlocked_at = Timestamp(r.uint()?);
                a.required(r, 2)?;
                let worn_since_unlock = r.bool()?;
                a.finish(r)?;
                Proof::Quick(WornAttestation { unlocked_at, worn_since_unlock })
            }
            Mode::Pin => {
                m.required(r, 3)?;
                Proof::Pin(EncipheredPin::decode(r)?)
            }
            Mode::Biometric => {
                m.required(r, 4)?;
                let mut b = r.map()?;
                b.required(r, 1)?;
                let matched = r.bool()?;
                b.required(r, 2)?;
                let matcher = MatcherId::new(r.text()?)?;
                b.required(r, 3)?;
                let score = u16::try_from(r.uint()?).map_err(|_| Error::invalid("biometric score", "out of range"))?;
                b.finish(r)?;
                Proof::Biometric(BiometricMatch { matched, matcher, score })
            }
            Mode::Confirm => {
                m.required(r, 5)?;
                Proof::Confirm(ConfirmText::new(r.text()?)?)
            }
        };
        m.finish(r)?;
        let evidence = Self { press, proof };
        evidence.validate()?;
        Ok(evidence)
    }
}
