//! Shared fixtures: one of every message, keys, a pinned random source.
#![allow(dead_code, clippy::unwrap_used)]

use wearpay_crypto::{
    CryptoProvider, Error as CryptoError, PrivateKey, PublicKey, SecureRandom, SigningKey, portable::PROVIDER,
};
use wearpay_pay::{
    Amount, Balance, BiometricMatch, ConfirmText, Counter, Currency, Description, EntryKind, Evidence, History,
    HistoryCursor, HistoryEntry, HistoryQuery, MatcherId, MerchantId, MerchantName, Mode, Order, OrderId, OrderQuery,
    Outcome, Pan, PayRequest, PayRequestBuilder, PayResponse, Pin, PinBlock, PinChange, PinChangeResult, Policy, Press,
    ReasonCode, Receipt, Renew, Renewed, Request, Response, Signed, SignedMoney, TerminalSerial, Timestamp, TxId,
    TxState, TxStatus, TxStatusQuery, WornAttestation, confirm_text,
};

pub const NOW: Timestamp = Timestamp(1_750_000_000);

/// A random source that answers by request length, with no state: 8 bytes (the PIN
/// field's fill) are `FF`, 16 bytes (the one-time key) are `0123…3210`, anything else a
/// fixed pattern.
#[derive(Debug)]
pub struct PinnedRandom;

pub const PINNED_FILL: [u8; 8] = [0xff; 8];
pub const PINNED_K: [u8; 16] =
    [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];

impl SecureRandom for PinnedRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        match dest.len() {
            8 => dest.copy_from_slice(&PINNED_FILL),
            16 => dest.copy_from_slice(&PINNED_K),
            _ => {
                for (i, b) in dest.iter_mut().enumerate() {
                    *b = 0x5a ^ (i as u8);
                }
            }
        }
        Ok(())
    }
}

pub static PINNED: PinnedRandom = PinnedRandom;

/// The portable provider with its randomness pinned.
pub fn pinned_provider() -> CryptoProvider {
    CryptoProvider { random: &PINNED, ..PROVIDER }
}

/// A deterministic generator for mutation tests (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A key's public half.
pub fn public(key: &dyn PrivateKey) -> PublicKey {
    SigningKey::public_key(key)
}

pub fn sm2_key() -> Box<dyn PrivateKey> {
    PROVIDER.sm2.generate(PROVIDER.random).unwrap()
}

pub fn rsa_key() -> Box<dyn PrivateKey> {
    PROVIDER.rsa.unwrap().generate(2048, PROVIDER.random).unwrap()
}

pub fn tx(n: u8) -> TxId {
    TxId([n; 16])
}

pub fn order() -> Order {
    Order {
        order_id: OrderId::new("ORD-2025-0001").unwrap(),
        merchant_id: MerchantId::new("M-0001").unwrap(),
        merchant_name: MerchantName::new("茶馆 Tea House").unwrap(),
        amount: Amount::from_minor(12_345).unwrap(),
        currency: Currency::CNY,
        description: Description::new("Two cups of tea").unwrap(),
        expires_at: Timestamp(NOW.0 + 600),
    }
}

pub fn press(tx_id: TxId) -> Press {
    Press { tx_id, at: Timestamp(NOW.0 - 5) }
}

pub fn pan() -> Pan {
    Pan::new("6222021234567890123").unwrap()
}

/// Evidence of each mode for `tx_id` and `order`; the PIN block is enciphered to `pin_key`.
pub fn evidence(mode: Mode, tx_id: TxId, order: &Order, pin_key: &dyn PrivateKey) -> Evidence {
    let p = press(tx_id);
    match mode {
        Mode::Quick => {
            Evidence::quick(p, WornAttestation { unlocked_at: Timestamp(NOW.0 - 3600), worn_since_unlock: true })
        }
        Mode::Pin => {
            let pin = Pin::new("123456").unwrap();
            let e = PinBlock::encipher(&PROVIDER, &pin, &pan(), &tx_id, &public(pin_key)).unwrap();
            Evidence::pin(p, e)
        }
        Mode::Biometric => Evidence::biometric(
            p,
            BiometricMatch { matched: true, matcher: MatcherId::new("fp-se-2").unwrap(), score: 9_731 },
        ),
        Mode::Confirm => Evidence::confirm(p, confirm_text(order)),
    }
}

pub fn builder(mode: Mode, tx_id: TxId, key: &dyn PrivateKey) -> PayRequestBuilder {
    let o = order();
    let e = evidence(mode, tx_id, &o, key);
    PayRequestBuilder::for_order(&o, tx_id, e, Counter(42), NOW)
}

pub fn pay_request(mode: Mode, key: &dyn PrivateKey) -> PayRequest {
    builder(mode, tx(mode as u8), key).sign(key).unwrap()
}

pub fn receipt(req: &PayRequest, outcome: Outcome) -> Receipt {
    Receipt {
        tx_id: *req.tx_id(),
        order_id: req.order_id().clone(),
        amount: req.amount(),
        currency: req.currency(),
        mode: req.mode(),
        terminal: TerminalSerial::new(&[0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]).unwrap(),
        center_time: Timestamp(NOW.0 + 1),
        outcome,
    }
}

pub fn pay_response(req: &PayRequest, receipt_key: &dyn PrivateKey, outcome: Outcome) -> PayResponse {
    PayResponse {
        tx_id: *req.tx_id(),
        outcome,
        balance_after: Some(SignedMoney { minor: -1_050, currency: Currency::CNY }),
        receipt: Some(Signed::sign(receipt(req, outcome), receipt_key).unwrap()),
    }
}

/// One of every request (every payment mode), with a name.
pub fn requests(key: &dyn PrivateKey) -> Vec<(&'static str, Request)> {
    let pin = Pin::new("2468").unwrap();
    let new_pin = Pin::new("13579086").unwrap();
    let id = tx(0x77);
    let pin_change = PinChange {
        id,
        old: PinBlock::encipher(&PROVIDER, &pin, &pan(), &id, &public(key)).unwrap(),
        new: PinBlock::encipher(&PROVIDER, &new_pin, &pan(), &id, &public(key)).unwrap(),
    };
    vec![
        ("order query", Request::OrderQuery(OrderQuery { order_id: OrderId::new("ORD-1").unwrap() })),
        ("pay quick", Request::Pay(pay_request(Mode::Quick, key))),
        ("pay pin", Request::Pay(pay_request(Mode::Pin, key))),
        ("pay biometric", Request::Pay(pay_request(Mode::Biometric, key))),
        ("pay confirm", Request::Pay(pay_request(Mode::Confirm, key))),
        ("pay without press", {
            let mut b = builder(Mode::Quick, tx(9), key);
            b.evidence.press = None;
            Request::Pay(b.sign(key).unwrap())
        }),
        ("tx status", Request::TxStatus(TxStatusQuery { tx_id: tx(3) })),
        ("balance", Request::BalanceQuery),
        ("history", Request::HistoryQuery(HistoryQuery { limit: 20, before: None })),
        ("history page", Request::HistoryQuery(HistoryQuery { limit: 50, before: Some(HistoryCursor(1_000_000)) })),
        ("policy", Request::PolicyQuery),
        ("pin change", Request::PinChange(pin_change)),
        ("renew", Request::Renew(Renew { csr: vec![0x30; 320] })),
    ]
}

/// One of every response, with a name.
pub fn responses(key: &dyn PrivateKey) -> Vec<(&'static str, Response)> {
    let req = pay_request(Mode::Quick, key);
    let approved = pay_response(&req, key, Outcome::Approved);
    let declined = PayResponse {
        tx_id: *req.tx_id(),
        outcome: Outcome::Declined(ReasonCode::InsufficientFunds),
        balance_after: None,
        receipt: None,
    };
    let entry = |n: u64, kind: EntryKind, outcome: Outcome| HistoryEntry {
        cursor: HistoryCursor(n),
        kind,
        tx_id: tx(n as u8),
        order_id: OrderId::new("ORD-9").unwrap(),
        amount: Amount::from_minor(n * 100).unwrap(),
        currency: Currency::CNY,
        mode: Mode::Pin,
        at: Timestamp(NOW.0 - n),
        outcome,
    };
    let partial = Policy { pin: None, confirm: None, ..Policy::default() };
    vec![
        ("order", Response::Order(order())),
        ("order without description", Response::Order(Order { description: Description::new("").unwrap(), ..order() })),
        ("pay approved", Response::Pay(approved.clone())),
        ("pay declined", Response::Pay(declined.clone())),
        (
            "pay declined with receipt",
            Response::Pay(pay_response(&req, key, Outcome::Declined(ReasonCode::LimitDaily))),
        ),
        ("tx unknown", Response::TxStatus(TxStatus { tx_id: tx(5), state: TxState::Unknown })),
        ("tx pending", Response::TxStatus(TxStatus { tx_id: tx(5), state: TxState::Pending })),
        ("tx done", Response::TxStatus(TxStatus { tx_id: *req.tx_id(), state: TxState::Done(approved) })),
        ("tx done declined", Response::TxStatus(TxStatus { tx_id: *req.tx_id(), state: TxState::Done(declined) })),
        (
            "balance",
            Response::Balance(Balance {
                balance: SignedMoney { minor: 123_456_789, currency: Currency::CNY },
                as_of: NOW,
            }),
        ),
        (
            "history",
            Response::History(History {
                entries: vec![
                    entry(3, EntryKind::Refund, Outcome::Approved),
                    entry(2, EntryKind::Payment, Outcome::Approved),
                    entry(1, EntryKind::Payment, Outcome::Declined(ReasonCode::WrongPin)),
                ],
                next: Some(HistoryCursor(1)),
            }),
        ),
        ("history empty", Response::History(History { entries: vec![], next: None })),
        ("policy", Response::Policy(Policy::default())),
        ("policy partial", Response::Policy(partial)),
        ("pin changed", Response::PinChange(PinChangeResult { id: tx(0x77), outcome: Outcome::Approved })),
        (
            "pin change refused",
            Response::PinChange(PinChangeResult { id: tx(0x77), outcome: Outcome::Declined(ReasonCode::PinLocked) }),
        ),
        ("error", Response::Error { reason: ReasonCode::UnsupportedVersion }),
        (
            "renewed",
            Response::Renewed(Renewed {
                certificate: vec![0x30; 600],
                chain: vec![vec![0x31; 500], vec![0x32; 480]],
                receipt_certificate: vec![0x33; 610],
                pin_certificate: vec![0x34; 620],
            }),
        ),
    ]
}

/// Whether decoding `bytes` as a request or as a response succeeds; never panics.
pub fn decodes(bytes: &[u8]) -> bool {
    Request::decode(bytes).is_ok() || Response::decode(bytes).is_ok()
}

pub fn confirm(s: &str) -> ConfirmText {
    ConfirmText::new(s).unwrap()
}
