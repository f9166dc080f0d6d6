//! Messages from the band to the center, and the signed payment request.
use alloc::vec::Vec;
use core::ops::Range;

use wearpay_crypto::{CryptoProvider, PublicKey, SigningKey};

use crate::{
    Amount, Counter, Currency, EncipheredPin, Error, Evidence, EvidenceRules, HistoryCursor, Mode, Money, Order,
    OrderId, ReasonCode, Renew, SigAlg, Timestamp, TxId, VERSION,
    cbor::{self, MapReader, Reader, Writer, begin_message, close_message, open_message},
    signed::{check_signature_len, sign_message, verify_message, with_context},
};

/// The context string a payment request's signature starts with.
pub const PAY_REQUEST_CONTEXT: &[u8] = b"wearpay pay-request v1";

/// The most history entries one query asks for and one answer carries.
pub const MAX_HISTORY: usize = 50;

/// Wire numbers of the request types (key 1).
mod kind {
    pub const ORDER_QUERY: u64 = 1;
    pub const PAY: u64 = 2;
    pub const TX_STATUS: u64 = 3;
    pub const BALANCE: u64 = 4;
    pub const HISTORY: u64 = 5;
    pub const POLICY: u64 = 6;
    pub const PIN_CHANGE: u64 = 7;
    pub const RENEW: u64 = 8;
}

/// Key numbers of a payment request.
mod key {
    pub const TX_ID: u64 = 2;
    pub const ORDER_ID: u64 = 3;
    pub const AMOUNT: u64 = 4;
    pub const CURRENCY: u64 = 5;
    pub const MODE: u64 = 6;
    pub const EVIDENCE: u64 = 7;
    pub const COUNTER: u64 = 8;
    pub const TERMINAL_TIME: u64 = 9;
    pub const ALG: u64 = 10;
    pub const SIGNATURE: u64 = 11;
}

/// Asks the center for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    /// The merchant's order id (from the QR code or the phone).
    pub order_id: OrderId,
}

/// Asks what became of a payment whose answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxStatusQuery {
    /// The payment's transaction id.
    pub tx_id: TxId,
}

/// Asks for a page of the account's history, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    /// How many entries, 1 to [`MAX_HISTORY`].
    pub limit: u8,
    /// Only entries older than this cursor (from a previous page); `None` for the newest.
    pub before: Option<HistoryCursor>,
}

impl HistoryQuery {
    fn validate(&self) -> Result<(), Error> {
        if self.limit == 0 || usize::from(self.limit) > MAX_HISTORY {
            return Err(Error::invalid("history limit", "must be 1 to 50"));
        }
        Ok(())
    }
}

/// Changes the account's PIN: the old PIN and the new one, each enciphered as in PIN mode
/// under its own one-time key, both bound to `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinChange {
    /// A fresh random id for this change, bound into both envelopes.
    pub id: TxId,
    /// The current PIN.
    pub old: EncipheredPin,
    /// The new PIN.
    pub new: EncipheredPin,
}

/// A payment request, signed by the terminal.
///
/// Made by [`PayRequestBuilder::sign`] or [`PayRequest::decode`], and immutable: it keeps
/// the exact bytes it was made from, which [`PayRequest::encode`] returns (a retry resends
/// them byte for byte) and [`PayRequest::verify`] checks the signature over.
///
/// # What is signed
///
/// The message is the CBOR map `{0: 1, 1: 2, 2: tx_id, …, 10: alg, 11: signature}`; the
/// signature covers `wearpay pay-request v1` ‖ the deterministic encoding of the same map
/// without key 11: the map header for 11 entries followed by the received bytes of entries
/// 0 to 10, unchanged. (Key 11 is the highest, so those entries are a contiguous run of the
/// message.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    tx_id: TxId,
    order_id: OrderId,
    amount: Amount,
    currency: Currency,
    evidence: Evidence,
    counter: Counter,
    terminal_time: Timestamp,
    alg: SigAlg,
    signature: Vec<u8>,
    /// The message as made or received.
    encoded: Vec<u8>,
    /// Where entries 0 to 10 lie in `encoded`.
    signed_entries: Range<usize>,
}

/// The unsigned fields of a payment request; [`PayRequestBuilder::sign`] makes the
/// [`PayRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequestBuilder {
    /// 16 fresh random bytes ([`TxId::random`]): the idempotency key.
    pub tx_id: TxId,
    /// The order paid.
    pub order_id: OrderId,
    /// The amount, more than zero.
    pub amount: Amount,
    /// Its currency.
    pub currency: Currency,
    /// The press and the mode's proof; the mode is the proof's.
    pub evidence: Evidence,
    /// The terminal's next counter value.
    pub counter: Counter,
    /// The band's clock when it made the request.
    pub terminal_time: Timestamp,
}

/// The length of the deterministic head of a map with `n` entries.
fn head_len(n: u64) -> usize {
    match n {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// The entries of a payment request (keys 0 to 10).
const SIGNED_ENTRIES: u64 = 11;

fn map_head(n: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.map(n);
    w.into_bytes()
}

impl PayRequestBuilder {
    /// A request to pay `order` in full.
    pub fn for_order(
        order: &Order,
        tx_id: TxId,
        evidence: Evidence,
        counter: Counter,
        terminal_time: Timestamp,
    ) -> Self {
        Self {
            tx_id,
            order_id: order.order_id.clone(),
            amount: order.amount,
            currency: order.currency,
            evidence,
            counter,
            terminal_time,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.amount.is_zero() {
            return Err(Error::invalid("payment amount", "must be more than zero"));
        }
        self.evidence.validate()
    }

    /// Entries 0 to 10, without a map head.
    fn entries(&self, alg: SigAlg) -> Vec<u8> {
        let mut w = Writer::new();
        w.uint(0).uint(VERSION).uint(1).uint(kind::PAY);
        w.uint(key::TX_ID).bytes(&self.tx_id.0);
        w.uint(key::ORDER_ID).text(self.order_id.as_str());
        w.uint(key::AMOUNT).uint(self.amount.minor());
        w.uint(key::CURRENCY).text(self.currency.code());
        w.uint(key::MODE).uint(u64::from(self.evidence.mode().code()));
        w.uint(key::EVIDENCE);
        self.evidence.encode(&mut w);
        w.uint(key::COUNTER).uint(self.counter.0);
        w.uint(key::TERMINAL_TIME).uint(self.terminal_time.0);
        w.uint(key::ALG).uint(u64::from(alg.code()));
        w.into_bytes()
    }

    /// What the terminal signs under `alg`: [`PAY_REQUEST_CONTEXT`] ‖ the request's
    /// encoding without the signature.
    pub fn signed_message(&self, alg: SigAlg) -> Result<Vec<u8>, Error> {
        self.validate()?;
        let mut unsigned = map_head(SIGNED_ENTRIES);
        unsigned.extend_from_slice(&self.entries(alg));
        Ok(with_context(PAY_REQUEST_CONTEXT, &unsigned))
    }

    /// Signs with `key` (the secure element) in the key's own scheme.
    pub fn sign(self, key: &dyn SigningKey) -> Result<PayRequest, Error> {
        let alg = SigAlg::from_scheme(key.scheme())?;
        self.sign_with(key, alg)
    }

    /// Signs with `key` under `alg`.
    pub fn sign_with(self, key: &dyn SigningKey, alg: SigAlg) -> Result<PayRequest, Error> {
        let msg = self.signed_message(alg)?;
        let signature = sign_message(key, alg, &msg)?;
        self.with_signature(alg, signature)
    }

    /// Assembles the request around a signature made elsewhere over
    /// [`PayRequestBuilder::signed_message`]. The signature is not checked here.
    pub fn with_signature(self, alg: SigAlg, signature: Vec<u8>) -> Result<PayRequest, Error> {
        self.validate()?;
        check_signature_len(&signature)?;
        let mut w = Writer::new();
        w.map(SIGNED_ENTRIES + 1).raw(&self.entries(alg)).uint(key::SIGNATURE).bytes(&signature);
        let encoded = w.finish()?;
        // Decoding what was just encoded sets up the signed range exactly as a receiver does.
        PayRequest::decode(&encoded)
    }
}

impl PayRequest {
    /// The transaction id.
    pub fn tx_id(&self) -> &TxId {
        &self.tx_id
    }

    /// The order paid.
    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }

    /// The amount.
    pub fn amount(&self) -> Amount {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Amount and currency.
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }

    /// The payment mode.
    pub fn mode(&self) -> Mode {
        self.evidence.mode()
    }

    /// The evidence.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// The terminal's counter.
    pub fn counter(&self) -> Counter {
        self.counter
    }

    /// The band's clock when it made the request.
    pub fn terminal_time(&self) -> Timestamp {
        self.terminal_time
    }

    /// The signature algorithm.
    pub fn alg(&self) -> SigAlg {
        self.alg
    }

    /// The signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The message, exactly as made or received: what a retry resends.
    pub fn encode(&self) -> &[u8] {
        &self.encoded
    }

    /// Decodes a message that must be a payment request.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let (mut r, mut m, kind) = open_message(bytes)?;
        if kind != kind::PAY {
            return Err(Error::Malformed("not a payment request"));
        }
        let req = Self::decode_fields(bytes, &mut r, &mut m)?;
        close_message(r, m)?;
        Ok(req)
    }

    /// What the signature covers: [`PAY_REQUEST_CONTEXT`] ‖ the map head for 11 entries ‖
    /// the received bytes of entries 0 to 10.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut unsigned = map_head(SIGNED_ENTRIES);
        unsigned.extend_from_slice(&self.encoded[self.signed_entries.clone()]);
        with_context(PAY_REQUEST_CONTEXT, &unsigned)
    }

    /// Checks the signature with the terminal's public key (from the certificate the
    /// channel authenticated), over the exact bytes received.
    pub fn verify(&self, provider: &CryptoProvider, key: &PublicKey) -> Result<(), Error> {
        verify_message(provider, key, self.alg, &self.signed_message(), &self.signature)
    }

    /// Checks the request against the order it names, at the center's time `now`:
    /// `unknown_order` (another order), `order_expired` (`now` at or past `expires_at`),
    /// `currency_mismatch`, `amount_mismatch`.
    pub fn check_order(&self, order: &Order, now: Timestamp) -> Result<(), ReasonCode> {
        if order.order_id != self.order_id {
            return Err(ReasonCode::UnknownOrder);
        }
        if now >= order.expires_at {
            return Err(ReasonCode::OrderExpired);
        }
        if order.currency != self.currency {
            return Err(ReasonCode::CurrencyMismatch);
        }
        if order.amount != self.amount {
            return Err(ReasonCode::AmountMismatch);
        }
        Ok(())
    }

    /// The evidence checks that need no secret; see [`Evidence::check`].
    pub fn check_evidence(&self, order: &Order, rules: &EvidenceRules) -> Result<(), ReasonCode> {
        self.evidence.check(&self.tx_id, self.terminal_time, order, rules)
    }

    fn decode_fields(input: &[u8], r: &mut Reader<'_>, m: &mut MapReader) -> Result<Self, Error> {
        m.required(r, key::TX_ID)?;
        let tx_id = cbor::tx_id(r)?;
        m.required(r, key::ORDER_ID)?;
        let order_id = OrderId::new(r.text()?)?;
        m.required(r, key::AMOUNT)?;
        let amount = cbor::amount(r)?;
        m.required(r, key::CURRENCY)?;
        let currency = cbor::currency(r)?;
        m.required(r, key::MODE)?;
        let mode = Mode::decode(r)?;
        m.required(r, key::EVIDENCE)?;
        let evidence = Evidence::decode(r, mode)?;
        m.required(r, key::COUNTER)?;
        let counter = Counter(r.uint()?);
        m.required(r, key::TERMINAL_TIME)?;
        let terminal_time = Timestamp(r.uint()?);
        m.required(r, key::ALG)?;
        let alg = SigAlg::decode(r)?;
        let signature_at = r.position();
        m.required(r, key::SIGNATURE)?;
        let signature = r.bytes()?;
        check_signature_len(signature)?;
        if amount.is_zero() {
            return Err(Error::invalid("payment amount", "must be more than zero"));
        }
        Ok(Self {
            tx_id,
            order_id,
            amount,
            currency,
            evidence,
            counter,
            terminal_time,
            alg,
            signature: signature.to_vec(),
            encoded: input.to_vec(),
            signed_entries: head_len(m.entries())..signature_at,
        })
    }
}

/// A message from the band to the center.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Type 1: fetch an order.
    OrderQuery(OrderQuery),
    /// Type 2: pay.
    Pay(PayRequest),
    /// Type 3: what became of a payment.
    TxStatus(TxStatusQuery),
    /// Type 4: the account's balance.
    BalanceQuery,
    /// Type 5: a page of history.
    HistoryQuery(HistoryQuery),
    /// Type 6: each mode's limits.
    PolicyQuery,
    /// Type 7: change the PIN.
    PinChange(PinChange),
    /// Type 8: a new certificate for the band's key.
    Renew(Renew),
}

impl Request {
    /// The message's type number (key 1).
    pub fn kind(&self) -> u64 {
        match self {
            Self::OrderQuery(_) => kind::ORDER_QUERY,
            Self::Pay(_) => kind::PAY,
            Self::TxStatus(_) => kind::TX_STATUS,
            Self::BalanceQuery => kind::BALANCE,
            Self::HistoryQuery(_) => kind::HISTORY,
            Self::PolicyQuery => kind::POLICY,
            Self::PinChange(_) => kind::PIN_CHANGE,
            Self::Renew(_) => kind::RENEW,
        }
    }

    /// Encodes deterministically (a payment request: its stored bytes).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new();
        let kind = self.kind();
        match self {
            Self::Pay(p) => return Ok(p.encoded.clone()),
            Self::OrderQuery(q) => {
                begin_message(&mut w, kind, 1);
                w.uint(2).text(q.order_id.as_str());
            }
            Self::TxStatus(q) => {
                begin_message(&mut w, kind, 1);
                w.uint(2).bytes(&q.tx_id.0);
            }
            Self::BalanceQuery | Self::PolicyQuery => begin_message(&mut w, kind, 0),
            Self::HistoryQuery(q) => {
                q.validate()?;
                begin_message(&mut w, kind, 1 + u64::from(q.before.is_some()));
                w.uint(2).uint(u64::from(q.limit));
                if let Some(c) = q.before {
                    w.uint(3).uint(c.0);
                }
            }
            Self::PinChange(p) => {
                p.old.validate()?;
                p.new.validate()?;
                begin_message(&mut w, kind, 3);
                w.uint(2).bytes(&p.id.0);
                w.uint(3);
                p.old.encode(&mut w);
                w.uint(4);
                p.new.encode(&mut w);
            }
            Self::Renew(r) => {
                r.validate()?;
                begin_message(&mut w, kind, 1);
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
            kind::ORDER_QUERY => {
                m.required(r_, 2)?;
                Self::OrderQuery(OrderQuery { order_id: OrderId::new(r_.text()?)? })
            }
            kind::PAY => Self::Pay(PayRequest::decode_fields(bytes, r_, &mut m)?),
            kind::TX_STATUS => {
                m.required(r_, 2)?;
                Self::TxStatus(TxStatusQuery { tx_id: cbor::tx_id(r_)? })
            }
            kind::BALANCE => Self::BalanceQuery,
            kind::HISTORY => {
                m.required(r_, 2)?;
                let limit = u8::try_from(r_.uint()?).map_err(|_| Error::invalid("history limit", "must be 1 to 50"))?;
                let before = if m.optional(r_, 3)? { Some(HistoryCursor(r_.uint()?)) } else { None };
                let q = HistoryQuery { limit, before };
                q.validate()?;
                Self::HistoryQuery(q)
            }
            kind::POLICY => Self::PolicyQuery,
            kind::PIN_CHANGE => {
                m.required(r_, 2)?;
                let id = cbor::tx_id(r_)?;
                m.required(r_, 3)?;
                let old = EncipheredPin::decode(r_)?;
                m.required(r_, 4)?;
                let new = EncipheredPin::decode(r_)?;
                Self::PinChange(PinChange { id, old, new })
            }
            kind::RENEW => Self::Renew(Renew::decode_fields(r_, &mut m)?),
            other => return Err(Error::UnknownMessageType(other)),
        };
        close_message(r, m)?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_len_matches_the_writer() {
        for n in [0, 11, 12, 23, 24, 255, 256, 65_535, 65_536, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX] {
            assert_eq!(head_len(n), map_head(n).len(), "{n}");
        }
    }
}
