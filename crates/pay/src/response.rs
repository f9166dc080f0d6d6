//! Messages from the center to the band.
use alloc::vec::Vec;

use wearpay_crypto::{CryptoProvider, PublicKey};

use crate::{
    Amount, Currency, Description, Error, HistoryCursor, MAX_HISTORY, MerchantId, MerchantName, Mode, Money, OrderId,
    PayRequest, Policy, ReasonCode, Renewed, SignedMoney, TerminalSerial, Timestamp, TxId,
    cbor::{self, MapReader, Reader, Writer, begin_message, close_message, open_message},
    signed::{ORDER_CONTEXT, RECEIPT_CONTEXT, Signed, SignedPayload, sealed::Payload},
};

/// Wire numbers of the response types (key 1).
mod kind {
    pub const ORDER: u64 = 16;
    pub const PAY: u64 = 17;
    pub const TX_STATUS: u64 = 18;
    pub const BALANCE: u64 = 19;
    pub const HISTORY: u64 = 20;
    pub const POLICY: u64 = 21;
    pub const PIN_CHANGE: u64 = 22;
    pub const ERROR: u64 = 23;
    pub const RENEWED: u64 = 24;
}

/// An order as the center holds it: what the band shows before the user presses.
///
/// The band fetches it from the center ([`crate::OrderQuery`]), so the phone cannot alter
/// the merchant or the amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The merchant's order id.
    pub order_id: OrderId,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The merchant's name, as displayed.
    pub merchant_name: MerchantName,
    /// The price, more than zero.
    pub amount: Amount,
    /// Its currency.
    pub currency: Currency,
    /// What is bought, as displayed (may be empty).
    pub description: Description,
    /// When the order stops accepting payment.
    pub expires_at: Timestamp,
}

impl Order {
    /// The price with its currency.
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }

    fn validate(&self) -> Result<(), Error> {
        if self.amount.is_zero() {
            return Err(Error::invalid("order amount", "must be more than zero"));
        }
        Ok(())
    }

    const FIELDS: u64 = 7;

    fn encode_fields(&self, w: &mut Writer) {
        w.uint(2).text(self.order_id.as_str());
        w.uint(3).text(self.merchant_id.as_str());
        w.uint(4).text(self.merchant_name.as_str());
        w.uint(5).uint(self.amount.minor());
        w.uint(6).text(self.currency.code());
        w.uint(7).text(self.description.as_str());
        w.uint(8).uint(self.expires_at.0);
    }

    fn decode_fields(r: &mut Reader<'_>, m: &mut MapReader) -> Result<Self, Error> {
        m.required(r, 2)?;
        let order_id = OrderId::new(r.text()?)?;
        m.required(r, 3)?;
        let merchant_id = MerchantId::new(r.text()?)?;
        m.required(r, 4)?;
        let merchant_name = MerchantName::new(r.text()?)?;
        m.required(r, 5)?;
        let amount = cbor::amount(r)?;
        m.required(r, 6)?;
        let currency = cbor::currency(r)?;
        m.required(r, 7)?;
        let description = Description::new(r.text()?)?;
        m.required(r, 8)?;
        let expires_at = Timestamp(r.uint()?);
        let order = Self { order_id, merchant_id, merchant_name, amount, currency, description, expires_at };
        order.validate()?;
        Ok(order)
    }
}

/// A signed order carries the order's fields under the same keys as the `Order` message.
impl Payload for Order {
    fn encode_payload(&self, w: &mut Writer) {
        w.map(Self::FIELDS);
        self.encode_fields(w);
    }
    fn decode_payload(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut m = r.map()?;
        let order = Self::decode_fields(r, &mut m)?;
        m.finish(r)?;
        Ok(order)
    }
}

impl SignedPayload for Order {
    const CONTEXT: &'static [u8] = ORDER_CONTEXT;
}

/// What the center decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Approved and booked.
    Approved,
    /// Declined, with the reason; nothing was booked.
    Declined(ReasonCode),
}

impl Outcome {
    /// The wire value: 0 for approved, else the reason code.
    pub const fn code(self) -> u16 {
        match self {
            Self::Approved => 0,
            Self::Declined(r) => r.code(),
        }
    }

    /// The outcome with this wire value.
    pub fn from_code(code: u64) -> Result<Self, Error> {
        if code == 0 {
            return Ok(Self::Approved);
        }
        u16::try_from(code)
            .ok()
            .and_then(ReasonCode::from_code)
            .map(Self::Declined)
            .ok_or(Error::invalid("outcome", "unknown reason code"))
    }

    /// Whether approved.
    pub const fn is_approved(self) -> bool {
        matches!(self, Self::Approved)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Self::from_code(r.uint()?)
    }
}

/// What the center signs with its receipt key for every payment it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction.
    pub tx_id: TxId,
    /// The order paid.
    pub order_id: OrderId,
    /// The amount.
    pub amount: Amount,
    /// Its currency.
    pub currency: Currency,
    /// The mode.
    pub mode: Mode,
    /// The serial of the certificate of the terminal that paid.
    pub terminal: TerminalSerial,
    /// When the center decided, by its clock.
    pub center_time: Timestamp,
    /// What it decided.
    pub outcome: Outcome,
}

impl Payload for Receipt {
    fn encode_payload(&self, w: &mut Writer) {
        w.map(8);
        w.uint(1).bytes(&self.tx_id.0);
        w.uint(2).text(self.order_id.as_str());
        w.uint(3).uint(self.amount.minor());
        w.uint(4).text(self.currency.code());
        w.uint(5).uint(u64::from(self.mode.code()));
        w.uint(6).bytes(self.terminal.as_bytes());
        w.uint(7).uint(self.center_time.0);
        w.uint(8).uint(u64::from(self.outcome.code()));
    }

    fn decode_payload(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut m = r.map()?;
        m.required(r, 1)?;
        let tx_id = cbor::tx_id(r)?;
        m.required(r, 2)?;
        let order_id = OrderId::new(r.text()?)?;
        m.required(r, 3)?;
        let amount = cbor::amount(r)?;
        m.required(r, 4)?;
        let currency = cbor::currency(r)?;
        m.required(r, 5)?;
        let mode = Mode::decode(r)?;
        m.required(r, 6)?;
        let terminal = TerminalSerial::new(r.bytes()?)?;
        m.required(r, 7)?;
        let center_time = Timestamp(r.uint()?);
        m.required(r, 8)?;
        let outcome = Outcome::decode(r)?;
        m.finish(r)?;
        Ok(Self { tx_id, order_id, amount, currency, mode, terminal, center_time, outcome })
    }
}

impl SignedPayload for Receipt {
    const CONTEXT: &'static [u8] = RECEIPT_CONTEXT;
}

fn encode_signed_money(w: &mut Writer, m: &SignedMoney) {
    w.map(2).uint(1).int(m.minor).uint(2).text(m.currency.code());
}

fn decode_signed_money(r: &mut Reader<'_>) -> Result<SignedMoney, Error> {
    let mut m = r.map()?;
    m.required(r, 1)?;
    let minor = r.int()?;
    m.required(r, 2)?;
    let currency = cbor::currency(r)?;
    m.finish(r)?;
    Ok(SignedMoney { minor, currency })
}

/// The answer to a [`PayRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayResponse {
    /// The request's transaction id.
    pub tx_id: TxId,
    /// The decision.
    pub outcome: Outcome,
    /// The payer's balance after the payment, when the center tells it.
    pub balance_after: Option<SignedMoney>,
    /// The signed receipt: always present when approved; its transaction id and outcome are
    /// this response's.
    pub receipt: Option<Signed<Receipt>>,
}

impl PayResponse {
    fn validate(&self) -> Result<(), Error> {
        match &self.receipt {
            None if self.outcome.is_approved() => Err(Error::invalid("pay response", "approved without a receipt")),
            Some(s) if s.payload_unverified().tx_id != self.tx_id || s.payload_unverified().outcome != self.outcome => {
                Err(Error::invalid("pay response", "receipt does not match the response"))
            }
            _ => Ok(()),
        }
    }

    /// The band's check of the answer to `request`: the receipt is signed by the center's
    /// receipt key `receipt_key` and names exactly the request's transaction, order,
    /// amount, currency and mode.
    pub fn verify_receipt(
        &self,
        provider: &CryptoProvider,
        receipt_key: &PublicKey,
        request: &PayRequest,
    ) -> Result<&Receipt, Error> {
        let signed = self.receipt.as_ref().ok_or(Error::invalid("pay response", "no receipt"))?;
        let r = signed.verify(provider, receipt_key)?;
        if r.tx_id != *request.tx_id()
            || r.order_id != *request.order_id()
            || r.amount != request.amount()
            || r.currency != request.currency()
            || r.mode != request.mode()
            || r.outcome != self.outcome
        {
            return Err(Error::invalid("receipt", "does not match the request"));
        }
        Ok(r)
    }

    fn fields(&self) -> u64 {
        2 + u64::from(self.balance_after.is_some()) + u64::from(self.receipt.is_some())
    }

    fn encode_fields(&self, w: &mut Writer) {
        w.uint(2).bytes(&self.tx_id.0);
        w.uint(3).uint(u64::from(self.outcome.code()));
        if let Some(b) = &self.balance_after {
            w.uint(4);
            encode_signed_money(w, b);
        }
        if let Some(s) = &self.receipt {
            w.uint(5);
            s.encode(w);
        }
    }

    fn decode_fields(r: &mut Reader<'_>, m: &mut MapReader) -> Result<Self, Error> {
        m.required(r, 2)?;
        let tx_id = cbor::tx_id(r)?;
        m.required(r, 3)?;
        let outcome = Outcome::decode(r)?;
        let balance_after = if m.optional(r, 4)? { Some(decode_signed_money(r)?) } else { None };
        let receipt = if m.optional(r, 5)? { Some(Signed::decode(r)?) } else { None };
        let this = Self { tx_id, outcome, balance_after, receipt };
        this.validate()?;
        Ok(this)
    }
}

/// What became of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxState {
    /// The center has no record of it: it never arrived, so retrying is safe.
    Unknown,
    /// The center is still deciding.
    Pending,
    /// Decided: the response the center stored, as it sent it.
    Done(PayResponse),
}

/// The answer to a [`crate::TxStatusQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxStatus {
    /// The transaction asked about.
    pub tx_id: TxId,
    /// Its state.
    pub state: TxState,
}

impl TxStatus {
    fn fields(&self) -> u64 {
        if matches!(self.state, TxState::Done(_)) { 3 } else { 2 }
    }

    fn encode_fields(&self, w: &mut Writer) -> Result<(), Error> {
        w.uint(2).bytes(&self.tx_id.0);
        match &self.state {
            TxState::Unknown => {
                w.uint(3).uint(0);
            }
            TxState::Pending => {
                w.uint(3).uint(1);
            }
            TxState::Done(resp) => {
                let inner = Response::Pay(resp.clone()).encode()?;
                w.uint(3).uint(2).uint(4).bytes(&inner);
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), Error> {
        match &self.state {
            TxState::Done(resp) if resp.tx_id != self.tx_id => {
                Err(Error::invalid("transaction status", "stored response is for another transaction"))
            }
            _ => Ok(()),
        }
    }

    fn decode_fields(r: &mut Reader<'_>, m: &mut MapReader) -> Result<Self, Error> {
        m.required(r, 2)?;
        let tx_id = cbor::tx_id(r)?;
        m.required(r, 3)?;
        let state = match r.uint()? {
            0 => TxState::Unknown,
            1 => TxState::Pending,
            2 => {
                m.required(r, 4)?;
                // Only a pay response may be nested (so nesting cannot recurse).
                let (mut inner, mut im, kind) = open_message(r.bytes()?)?;
                if kind != kind::PAY {
                    return Err(Error::invalid("transaction status", "stored response is not a pay response"));
                }
                let resp = PayResponse::decode_fields(&mut inner, &mut im)?;
                close_message(inner, im)?;
                TxState::Done(resp)
            }
            _ => return Err(Error::invalid("transaction status", "unknown state")),
        };
        let this = Self { tx_id, state };
        this.validate()?;
        Ok(this)
    }
}

/// The answer to a [`crate::Request::BalanceQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// The account's balance.
    pub balance: SignedMoney,
    /// When, by the center's clock.
    pub as_of: Timestamp,
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryKind {
    /// A payment (approved or declined).
    Payment = 1,
    /// A refund of a payment.
    Refund = 2,
}

/// One line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The center's id of the entry; pass it as `before` to get older entries.
    pub cursor: HistoryCursor,
    /// Payment or refund.
    pub kind: EntryKind,
    /// The payment's transaction id.
    pub tx_id: TxId,
    /// The order.
    pub order_id: OrderId,
    /// The amount paid or refunded.
    pub amount: Amount,
    /// Its currency.
    pub currency: Currency,
    /// The payment's mode.
    pub mode: Mode,
    /// When, by the center's clock.
    pub at: Timestamp,
    /// What the center decided.
    pub outcome: Outcome,
}

impl HistoryEntry {
    fn encode(&self, w: &mut Writer) {
        w.map(9);
        w.uint(1).uint(self.cursor.0);
        w.uint(2).uint(self.kind as u64);
        w.uint(3).bytes(&self.tx_id.0);
        w.uint(4).text(self.order_id.as_str());
        w.uint(5).uint(self.amount.minor());
        w.uint(6).text(self.currency.code());
        w.uint(7).uint(u64::from(self.mode.code()));
        w.uint(8).uint(self.at.0);
        w.uint(9).uint(u64::from(self.outcome.code()));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut m = r.map()?;
        m.required(r, 1)?;
        let cursor = HistoryCursor(r.uint()?);
        m.required(r, 2)?;
        let kind = match r.uint()? {
            1 => EntryKind::Payment,
            2 => EntryKind::Refund,
            _ => return Err(Error::invalid("history entry", "unknown kind")),
        };
        m.required(r, 3)?;
        let tx_id = cbor::tx_id(r)?;
        m.required(r, 4)?;
        let order_id = OrderId::new(r.text()?)?;
        m.required(r, 5)?;
        let amount = cbor::amount(r)?;
        m.required(r, 6)?;
        let currency = cbor::currency(r)?;
        m.required(r, 7)?;
        let mode = Mode::decode(r)?;
        m.required(r, 8)?;
        let at = Timestamp(r.uint()?);
        m.required(r, 9)?;
        let outcome = Outcome::decode(r)?;
        m.finish(r)?;
        Ok(Self { cursor, kind, tx_id, order_id, amount, currency, mode, at, outcome })
    }
}

/// The answer to a [`crate::HistoryQuery`]: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// At most [`MAX_HISTORY`] entries.
    pub entries: Vec<HistoryEntry>,
    /// Where the next (older) page starts, if there is one.
    pub next: Option<HistoryCursor>,
}

/// The answer to a [`crate::PinChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinChangeResult {
    /// The change request's id.
    pub id: TxId,
    /// Approved (the PIN is changed), or declined (`wrong_pin`, `pin_locked`,
    /// `bad_evidence`…).
    pub outcome: Outcome,
}

/// A message from the center to the band.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// Type 16: the order asked for.
    Order(Order),
    /// Type 17: the answer to a payment.
    Pay(PayResponse),
    /// Type 18: what became of a transaction.
    TxStatus(TxStatus),
    /// Type 19: the account's balance.
    Balance(Balance),
    /// Type 20: a page of history.
    History(History),
    /// Type 21: the limits of each mode.
    Policy(Policy),
    /// Type 22: the outcome of a PIN change.
    PinChange(PinChangeResult),
    /// Type 23: the request was refused as a whole (malformed, unsupported version, unknown
    /// order, revoked terminal…).
    Error {
        /// Why.
        reason: ReasonCode,
    },
    /// Type 24: the band's new certificate.
    Renewed(Renewed),
}

impl Response {
    /// The message's type number (key 1).
    pub fn kind(&self) -> u64 {
        match self {
            Self::Order(_) => kind::ORDER,
            Self::Pay(_) => kind::PAY,
            Self::TxStatus(_) => kind::TX_STATUS,
            Self::Balance(_) => kind::BALANCE,
            Self::History(_) => kind::HISTORY,
            Self::Policy(_) => kind::POLICY,
            Self::PinChange(_) => kind::PIN_CHANGE,
            Self::Error { .. } => kind::ERROR,
            Self::Renewed(_) => kind::RENEWED,
        }
    }

    /// Encodes deterministically; refuses a message over [`crate::MAX_MESSAGE_LEN`] or a
    /// value the decoder would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new();
        let kind = self.kind();
        match self {
            Self::Order(o) => {
                o.validate()?;
                begin_message(&mut w, kind, Order::FIELDS);
                o.encode_fields(&mut w);
            }
            Self::Pay(p) => {
                p.validate()?;
                begin_message(&mut w, kind, p.fields());
                p.encode_fields(&mut w);
            }
            Self::TxStatus(s) => {
                s.validate()?;
                begin_message(&mut w, kind, s.fields());
                s.encode_fields(&mut w)?;
            }
            Self::Balance(b) => {
                begin_message(&mut w, kind, 2);
                w.uint(2);
                encode_signed_money(&mut w, &b.balance);
                w.uint(3).uint(b.as_of.0);
            }
            Self::History(h) => {
                if h.entries.len() > MAX_HISTORY {
                    return Err(Error::invalid("history", "too many entries"));
                }
                begin_message(&mut w, kind, 1 + u64::from(h.next.is_some()));
                w.uint(2).array(h.entries.len() as u64);
                for e in &h.entries {
                    e.encode(&mut w);
                }
                if let Some(c) = h.next {
                    w.uint(3).uint(c.0);
                }
            }
            Self::Policy(p) => {
                begin_message(&mut w, kind, Policy::FIELDS);
                p.encode_fields(&mut w);
            }
            Self::PinChange(p) => {
                begin_message(&mut w, kind, 2);
                w.uint(2).bytes(&p.id.0).uint(3).uint(u64::from(p.outcome.code()));
            }
            Self::Error { reason } => {
                begin_message(&mut w, kind, 1);
                w.uint(2).uint(u64::from(reason.code()));
            }
            Self::Renewed(r) => {
                r.validate()?;
                begin_message(&mut w, kind, Renewed::FIELDS);
                r.encode_fields(&mut w);
            }
        }
        w.finish()
    }

    /// Decodes strictly (see the crate documentation).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let (mut r, mut m, kind) = open_message(bytes)?;
        let r_ = &mut r;
        let msg = match kind {
            kind::ORDER => Self::Order(Order::decode_fields(r_, &mut m)?),
            kind::PAY => Self::Pay(PayResponse::decode_fields(r_, &mut m)?),
            kind::TX_STATUS => Self::TxStatus(TxStatus::decode_fields(r_, &mut m)?),
            kind::BALANCE => {
                m.required(r_, 2)?;
                let balance = decode_signed_money(r_)?;
                m.required(r_, 3)?;
                Self::Balance(Balance { balance, as_of: Timestamp(r_.uint()?) })
            }
            kind::HISTORY => {
                m.required(r_, 2)?;
                let n = r_.array()?;
                if n > MAX_HISTORY as u64 {
                    return Err(Error::invalid("history", "too many entries"));
                }
                let mut entries = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    entries.push(HistoryEntry::decode(r_)?);
                }
                let next = if m.optional(r_, 3)? { Some(HistoryCursor(r_.uint()?)) } else { None };
                Self::History(History { entries, next })
            }
            kind::POLICY => Self::Policy(Policy::decode_fields(r_, &mut m)?),
            kind::PIN_CHANGE => {
                m.required(r_, 2)?;
                let id = cbor::tx_id(r_)?;
                m.required(r_, 3)?;
                Self::PinChange(PinChangeResult { id, outcome: Outcome::decode(r_)? })
            }
            kind::ERROR => {
                m.required(r_, 2)?;
                let code = r_.uint()?;
                let reason = u16::try_from(code)
                    .ok()
                    .and_then(ReasonCode::from_code)
                    .ok_or(Error::invalid("reason code", "unknown"))?;
                Self::Error { reason }
            }
            kind::RENEWED => Self::Renewed(Renewed::decode_fields(r_, &mut m)?),
            other => return Err(Error::UnknownMessageType(other)),
        };
        close_message(r, m)?;
        Ok(msg)
    }
}
