//! The wire format: round trips, strictness, and hostile input.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wearpay_pay::{
    Amount, Description, Error, MAX_CERTIFICATE_LEN, MAX_CHAIN, MAX_MESSAGE_LEN, MerchantName, Mode, Order, OrderId,
    OrderQuery, Outcome, PayRequest, PayResponse, ReasonCode, Renew, Renewed, Request, Response, TxState, TxStatus,
};

fn encoded_requests() -> Vec<(&'static str, Vec<u8>)> {
    let key = sm2_key();
    requests(&*key).into_iter().map(|(n, r)| (n, r.encode().unwrap())).collect()
}

fn encoded_responses() -> Vec<(&'static str, Vec<u8>)> {
    let key = sm2_key();
    responses(&*key).into_iter().map(|(n, r)| (n, r.encode().unwrap())).collect()
}

#[test]
fn every_request_round_trips() {
    let key = sm2_key();
    for (name, req) in requests(&*key) {
        let bytes = req.encode().unwrap();
        assert!(bytes.len() <= MAX_MESSAGE_LEN, "{name}");
        let back = Request::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, req, "{name}");
        assert_eq!(back.encode().unwrap(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn every_response_round_trips() {
    let key = sm2_key();
    for (name, resp) in responses(&*key) {
        let bytes = resp.encode().unwrap();
        let back = Response::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, resp, "{name}");
        assert_eq!(back.encode().unwrap(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn requests_and_responses_do_not_mix() {
    for (name, bytes) in encoded_requests() {
        assert!(matches!(Response::decode(&bytes), Err(Error::UnknownMessageType(1..=8))), "{name}");
    }
    for (name, bytes) in encoded_responses() {
        assert!(matches!(Request::decode(&bytes), Err(Error::UnknownMessageType(16..=24))), "{name}");
    }
}

/// The exact bytes of small messages, as `docs/PROTOCOL.md` shows them.
#[test]
fn golden_bytes() {
    assert_eq!(Request::BalanceQuery.encode().unwrap(), [0xa2, 0x00, 0x01, 0x01, 0x04]);
    assert_eq!(Request::PolicyQuery.encode().unwrap(), [0xa2, 0x00, 0x01, 0x01, 0x06]);
    let q = Request::OrderQuery(OrderQuery { order_id: OrderId::new("A1").unwrap() });
    assert_eq!(q.encode().unwrap(), [0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x62, b'A', b'1']);
    let e = Response::Error { reason: ReasonCode::TooLarge };
    assert_eq!(e.encode().unwrap(), [0xa3, 0x00, 0x01, 0x01, 0x17, 0x02, 0x18, 102]);
    let r = Request::Renew(Renew { csr: vec![0x30, 0x00] });
    assert_eq!(r.encode().unwrap(), [0xa3, 0x00, 0x01, 0x01, 0x08, 0x02, 0x42, 0x30, 0x00]);
}

#[test]
fn renewal_sizes_are_bounded_both_ways() {
    let renewed = |chain: Vec<Vec<u8>>, cert: Vec<u8>| {
        Response::Renewed(Renewed {
            certificate: cert,
            chain,
            receipt_certificate: vec![1; 10],
            pin_certificate: vec![2; 10],
        })
    };
    // Empty or oversize requests and certificates, and chains of 0 or 4, are refused.
    for csr in [vec![], vec![0x30; MAX_CERTIFICATE_LEN + 1]] {
        assert!(Request::Renew(Renew { csr }).encode().is_err());
    }
    assert!(renewed(vec![], vec![1; 10]).encode().is_err());
    assert!(renewed(vec![vec![3; 10]; MAX_CHAIN + 1], vec![1; 10]).encode().is_err());
    assert!(renewed(vec![vec![3; 10]], vec![]).encode().is_err());
    assert!(renewed(vec![vec![3; 10]], vec![1; MAX_CERTIFICATE_LEN + 1]).encode().is_err());
    // The decoder refuses them too: an empty CSR and an empty chain, made by hand.
    let empty_csr = [0xa3, 0x00, 0x01, 0x01, 0x08, 0x02, 0x40];
    assert!(matches!(Request::decode(&empty_csr), Err(Error::Invalid { .. })));
    let ok = renewed(vec![vec![3; 10]], vec![1; 10]).encode().unwrap();
    let at = ok.windows(3).position(|w| w == [0x03, 0x81, 0x4a]).unwrap();
    let mut no_chain = ok[..at].to_vec();
    no_chain.extend_from_slice(&[0x03, 0x80]);
    no_chain.extend_from_slice(&ok[at + 3 + 10..]);
    assert!(matches!(Response::decode(&no_chain), Err(Error::Invalid { .. })));
    // A renewal is a request, its answer a response: never the other way.
    assert!(Response::decode(&Request::Renew(Renew { csr: vec![0x30; 4] }).encode().unwrap()).is_err());
    assert!(Request::decode(&ok).is_err());
}

#[test]
fn unknown_versions_are_refused() {
    for (name, bytes) in encoded_requests().into_iter().chain(encoded_responses()) {
        // Every message starts `map-head 00 01`: key 0, version 1.
        assert_eq!(&bytes[1..3], [0x00, 0x01], "{name}");
        for v in [0u8, 2, 23] {
            let mut b = bytes.clone();
            b[2] = v;
            assert_eq!(Request::decode(&b), Err(Error::UnsupportedVersion(u64::from(v))), "{name}");
            assert_eq!(Response::decode(&b), Err(Error::UnsupportedVersion(u64::from(v))), "{name}");
            assert_eq!(Error::UnsupportedVersion(u64::from(v)).reason_code(), ReasonCode::UnsupportedVersion);
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for (name, bytes) in encoded_requests() {
        for tail in [&[0x00][..], &[0xa0], &bytes[..1]] {
            let mut b = bytes.clone();
            b.extend_from_slice(tail);
            assert_eq!(Request::decode(&b), Err(Error::TrailingBytes), "{name}");
        }
    }
    for (name, bytes) in encoded_responses() {
        let mut b = bytes.clone();
        b.push(0xf6);
        assert_eq!(Response::decode(&b), Err(Error::TrailingBytes), "{name}");
    }
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    let mut b = Request::BalanceQuery.encode().unwrap();
    b.resize(MAX_MESSAGE_LEN + 1, 0);
    let e = Request::decode(&b).unwrap_err();
    assert_eq!(e, Error::TooLarge { len: MAX_MESSAGE_LEN + 1, max: MAX_MESSAGE_LEN });
    assert_eq!(e.reason_code(), ReasonCode::TooLarge);
    assert!(matches!(Response::decode(&b), Err(Error::TooLarge { .. })));
    assert!(matches!(PayRequest::decode(&vec![0xa0; 100_000]), Err(Error::TooLarge { .. })));
    // A message exactly at the limit is parsed (and here refused for its trailing bytes).
    b.truncate(MAX_MESSAGE_LEN);
    assert_eq!(Request::decode(&b), Err(Error::TrailingBytes));
}

#[test]
fn every_truncation_is_refused() {
    let mut checked = 0;
    for (name, bytes) in encoded_requests().into_iter().chain(encoded_responses()) {
        for len in 0..bytes.len() {
            assert!(!decodes(&bytes[..len]), "{name} truncated to {len} bytes decoded");
            checked += 1;
        }
    }
    assert!(checked > 2_000, "{checked}");
}

/// Random edits never panic, and whatever still decodes re-encodes to the same bytes
/// (decoding is injective: one value, one encoding).
#[test]
fn random_mutations_never_panic_and_stay_canonical() {
    let mut rng = Rng::new(0x5eed_2025);
    let mut accepted = 0;
    let mut total = 0;
    let samples: Vec<_> = encoded_requests().into_iter().chain(encoded_responses()).collect();
    for (_, bytes) in &samples {
        for _ in 0..600 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len().max(1));
                match rng.below(5) {
                    0 if !b.is_empty() => b[at] ^= 1 << rng.below(8),
                    1 if !b.is_empty() => b[at] = rng.next() as u8,
                    2 => b.insert(at.min(b.len()), rng.next() as u8),
                    3 if !b.is_empty() => {
                        b.remove(at);
                    }
                    _ if !b.is_empty() => {
                        b[at] = [0x00, 0x17, 0x18, 0x1f, 0x40, 0x60, 0x80, 0xa0, 0xbf, 0xf4, 0xff][rng.below(11)]
                    }
                    _ => {}
                }
            }
            total += 1;
            if let Ok(req) = Request::decode(&b) {
                accepted += 1;
                assert_eq!(req.encode().unwrap(), b, "a mutated request decoded but does not re-encode to itself");
            }
            if let Ok(resp) = Response::decode(&b) {
                accepted += 1;
                assert_eq!(resp.encode().unwrap(), b, "a mutated response decoded but does not re-encode to itself");
            }
        }
    }
    assert!(total >= 15_000, "{total}");
    // Some edits (a flipped amount bit, another counter) leave a valid message.
    assert!(accepted > 0);
}

/// Arbitrary bytes of every short length never panic.
#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng::new(7);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        decodes(&b);
    }
}

#[test]
fn non_deterministic_encodings_are_refused() {
    // Version as a one-byte argument (18 01) instead of the direct value.
    assert_eq!(Request::decode(&[0xa2, 0x00, 0x18, 0x01, 0x01, 0x04]), Err(Error::NonCanonical));
    // The type as a two-byte argument.
    assert_eq!(Request::decode(&[0xa2, 0x00, 0x01, 0x01, 0x19, 0x00, 0x04]), Err(Error::NonCanonical));
    // A key as a one-byte argument.
    assert_eq!(Request::decode(&[0xa2, 0x18, 0x00, 0x01, 0x01, 0x04]), Err(Error::NonCanonical));
    // An indefinite-length map.
    assert_eq!(Request::decode(&[0xbf, 0x00, 0x01, 0x01, 0x04, 0xff]), Err(Error::NonCanonical));
    // A map head with a non-shortest length.
    assert_eq!(Request::decode(&[0xb8, 0x02, 0x00, 0x01, 0x01, 0x04]), Err(Error::NonCanonical));
    // An indefinite-length text string for the order id.
    assert_eq!(
        Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x7f, 0x61, b'A', 0xff]),
        Err(Error::NonCanonical)
    );
    // A non-shortest text length.
    assert_eq!(Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x78, 0x01, b'A']), Err(Error::NonCanonical));
    // Reserved additional information.
    assert!(matches!(Request::decode(&[0xa2, 0x00, 0x1c]), Err(Error::Malformed(_))));
}

#[test]
fn map_keys_must_be_known_unique_and_ascending() {
    // {0: 1, 1: 4, 99: 0}: an unknown key.
    assert_eq!(Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x04, 0x18, 99, 0x00]), Err(Error::UnexpectedKey(99)));
    // {0: 1, 1: 1, 2: "A", 2: "B"}: a repeated key.
    assert_eq!(
        Request::decode(&[0xa4, 0x00, 0x01, 0x01, 0x01, 0x02, 0x61, b'A', 0x02, 0x61, b'B']),
        Err(Error::UnexpectedKey(2))
    );
    // {1: 4, 0: 1}: out of order.
    assert_eq!(Request::decode(&[0xa2, 0x01, 0x04, 0x00, 0x01]), Err(Error::MissingKey(0)));
    // {0: 1, 1: 1}: an order query without its order id.
    assert_eq!(Request::decode(&[0xa2, 0x00, 0x01, 0x01, 0x01]), Err(Error::MissingKey(2)));
    // {0: 1}: no type.
    assert_eq!(Request::decode(&[0xa1, 0x00, 0x01]), Err(Error::MissingKey(1)));
    // A text key.
    assert!(matches!(Request::decode(&[0xa1, 0x61, b'v', 0x01]), Err(Error::Malformed(_))));
    // Not a map at all.
    assert!(matches!(Request::decode(&[0x82, 0x00, 0x01]), Err(Error::Malformed(_))));
    assert_eq!(Request::decode(&[]), Err(Error::Truncated));
    // An unknown type.
    assert_eq!(Request::decode(&[0xa2, 0x00, 0x01, 0x01, 0x10]), Err(Error::UnknownMessageType(16)));
    // A map head announcing more entries than there are.
    assert_eq!(Request::decode(&[0xa5, 0x00, 0x01, 0x01, 0x04]), Err(Error::Truncated));
    assert_eq!(
        Request::decode(&[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01]),
        Err(Error::Truncated)
    );
}

#[test]
fn wrong_types_and_bad_values_are_refused() {
    // Version as a negative integer, as text, as a float, as a tag.
    assert!(matches!(Request::decode(&[0xa2, 0x00, 0x20, 0x01, 0x04]), Err(Error::Malformed(_))));
    assert!(matches!(Request::decode(&[0xa2, 0x00, 0x61, b'1', 0x01, 0x04]), Err(Error::Malformed(_))));
    assert!(matches!(Request::decode(&[0xa2, 0x00, 0xf9, 0x3c, 0x00, 0x01, 0x04]), Err(Error::Malformed(_))));
    assert!(matches!(Request::decode(&[0xa2, 0x00, 0xc1, 0x01, 0x01, 0x04]), Err(Error::Malformed(_))));
    // An order id as bytes, as invalid UTF-8, empty, with a space.
    assert!(matches!(Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x41, b'A']), Err(Error::Malformed(_))));
    assert!(matches!(Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x61, 0xff]), Err(Error::Malformed(_))));
    assert!(matches!(Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x60]), Err(Error::Invalid { .. })));
    assert!(matches!(
        Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x63, b'A', b' ', b'B']),
        Err(Error::Invalid { .. })
    ));
    // A tx status query with a 15-byte id.
    let mut b = vec![0xa3, 0x00, 0x01, 0x01, 0x03, 0x02, 0x4f];
    b.extend_from_slice(&[0; 15]);
    assert!(matches!(Request::decode(&b), Err(Error::Invalid { .. })));
    // History limits 0 and 51.
    assert!(matches!(Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x05, 0x02, 0x00]), Err(Error::Invalid { .. })));
    assert!(matches!(Request::decode(&[0xa3, 0x00, 0x01, 0x01, 0x05, 0x02, 0x18, 51]), Err(Error::Invalid { .. })));
    // An error response with an unknown reason code, and with code 0 (approval is not a reason).
    assert!(matches!(Response::decode(&[0xa3, 0x00, 0x01, 0x01, 0x17, 0x02, 0x18, 99]), Err(Error::Invalid { .. })));
    assert!(matches!(Response::decode(&[0xa3, 0x00, 0x01, 0x01, 0x17, 0x02, 0x00]), Err(Error::Invalid { .. })));
    for e in [Error::Truncated, Error::TrailingBytes, Error::NonCanonical, Error::MissingKey(2)] {
        assert_eq!(e.reason_code(), ReasonCode::Malformed);
    }
}

#[test]
fn display_texts_are_checked() {
    assert!(OrderId::new(&"X".repeat(64)).is_ok());
    assert!(OrderId::new(&"X".repeat(65)).is_err());
    assert!(MerchantName::new("Tea\u{202E}esuoH").is_err(), "a bidi override could make the band lie");
    assert!(MerchantName::new("Tea\nHouse").is_err());
    assert!(MerchantName::new("Tea\u{200B}House").is_err());
    assert!(MerchantName::new("").is_err());
    assert!(MerchantName::new(&"茶".repeat(42)).is_ok(), "126 bytes");
    assert!(MerchantName::new(&"茶".repeat(43)).is_err(), "129 bytes");
    assert!(Description::new("").is_ok());
    assert!(Description::new(&"d".repeat(257)).is_err());
    assert!(Description::new("tab\there").is_err());
}

#[test]
fn structural_invariants_hold_both_ways() {
    let key = sm2_key();
    let req = pay_request(Mode::Quick, &*key);
    // Approved without a receipt: refused on encode, and on decode of hand-made bytes.
    let bad = PayResponse { tx_id: *req.tx_id(), outcome: Outcome::Approved, balance_after: None, receipt: None };
    assert!(Response::Pay(bad).encode().is_err());
    let declined = PayResponse {
        tx_id: *req.tx_id(),
        outcome: Outcome::Declined(ReasonCode::WrongPin),
        balance_after: None,
        receipt: None,
    };
    let mut b = Response::Pay(declined).encode().unwrap();
    let last = b.len() - 1;
    assert_eq!(b[last], 15, "outcome wrong_pin is the last byte");
    b[last] = 0; // approved
    assert!(matches!(Response::decode(&b), Err(Error::Invalid { .. })));
    // A receipt for another transaction.
    let mut resp = pay_response(&req, &*key, Outcome::Approved);
    resp.tx_id = tx(0xee);
    assert!(Response::Pay(resp.clone()).encode().is_err());
    // A stored response for another transaction.
    resp.tx_id = *req.tx_id();
    let status = TxStatus { tx_id: tx(0xee), state: TxState::Done(resp) };
    assert!(Response::TxStatus(status).encode().is_err());
    // An order of zero.
    let zero = Order { amount: Amount::ZERO, ..order() };
    assert!(Response::Order(zero).encode().is_err());
}

#[test]
fn a_nested_response_must_be_a_pay_response() {
    // {0:1, 1:18, 2: tx, 3: 2, 4: <an Error response>}
    let inner = Response::Error { reason: ReasonCode::Internal }.encode().unwrap();
    let mut b = vec![0xa5, 0x00, 0x01, 0x01, 0x12, 0x02, 0x50];
    b.extend_from_slice(&[5; 16]);
    b.extend_from_slice(&[0x03, 0x02, 0x04, 0x40 + inner.len() as u8]);
    b.extend_from_slice(&inner);
    assert!(matches!(Response::decode(&b), Err(Error::Invalid { .. })));
}

#[test]
fn reason_codes_are_stable() {
    let expected: &[(u16, &str)] = &[
        (1, "duplicate_conflict"),
        (2, "terminal_suspended"),
        (3, "terminal_revoked"),
        (4, "bad_signature"),
        (5, "stale_counter"),
        (6, "unknown_order"),
        (7, "order_paid"),
        (8, "order_expired"),
        (9, "amount_mismatch"),
        (10, "currency_mismatch"),
        (11, "mode_not_allowed"),
        (12, "press_missing"),
        (13, "bad_evidence"),
        (14, "worn_attestation_missing"),
        (15, "wrong_pin"),
        (16, "pin_locked"),
        (17, "biometric_failed"),
        (18, "confirm_text_mismatch"),
        (19, "limit_per_tx"),
        (20, "limit_daily"),
        (21, "insufficient_funds"),
        (40, "bad_csr"),
        (100, "malformed"),
        (101, "unsupported_version"),
        (102, "too_large"),
        (103, "internal"),
        (104, "not_supported"),
    ];
    assert_eq!(ReasonCode::ALL.len(), expected.len());
    for (r, &(code, name)) in ReasonCode::ALL.iter().zip(expected) {
        assert_eq!(r.code(), code);
        assert_eq!(r.name(), name);
        assert_eq!(r.to_string(), name);
        assert_eq!(ReasonCode::from_code(code), Some(*r));
        assert_eq!(ReasonCode::from_name(name), Some(*r));
        assert_eq!(name.parse::<ReasonCode>().unwrap(), *r);
        assert!(!r.meaning().is_empty());
        // Round trip through an error response.
        let bytes = Response::Error { reason: *r }.encode().unwrap();
        assert_eq!(Response::decode(&bytes).unwrap(), Response::Error { reason: *r });
    }
    assert_eq!(ReasonCode::from_code(0), None);
    assert_eq!(ReasonCode::from_code(22), None);
    assert_eq!(ReasonCode::from_name("Malformed"), None);
}

#[test]
fn modes_have_stable_numbers_and_names() {
    for (m, (code, name)) in Mode::ALL.into_iter().zip([(1, "quick"), (2, "pin"), (3, "biometric"), (4, "confirm")]) {
        assert_eq!(m.code(), code);
        assert_eq!(m.name(), name);
        assert_eq!(name.parse::<Mode>().unwrap(), m);
        assert_eq!(Mode::from_code(u64::from(code)), Some(m));
    }
    assert_eq!(Mode::from_code(0), None);
    assert_eq!(Mode::from_code(5), None);
}

#[test]
fn confirm_text_is_deterministic() {
    let o = order();
    assert_eq!(
        confirm_text_str(&o),
        "Pay 123.45 CNY\nTo 茶馆 Tea House (M-0001)\nOrder ORD-2025-0001\nTwo cups of tea"
    );
    let bare = Order { description: Description::new("").unwrap(), ..o };
    assert_eq!(confirm_text_str(&bare), "Pay 123.45 CNY\nTo 茶馆 Tea House (M-0001)\nOrder ORD-2025-0001");
    // The longest order still fits a confirm text.
    let long = Order {
        order_id: OrderId::new(&"o".repeat(64)).unwrap(),
        merchant_id: wearpay_pay::MerchantId::new(&"m".repeat(32)).unwrap(),
        merchant_name: MerchantName::new(&"n".repeat(128)).unwrap(),
        amount: Amount::MAX,
        description: Description::new(&"d".repeat(256)).unwrap(),
        ..order()
    };
    let text = wearpay_pay::confirm_text(&long);
    assert_eq!(wearpay_pay::ConfirmText::new(text.as_str()).unwrap(), text);
}

fn confirm_text_str(o: &Order) -> String {
    wearpay_pay::confirm_text(o).as_str().to_owned()
}

#[test]
fn a_payment_request_is_exactly_its_twelve_keys() {
    let key = sm2_key();
    let req = pay_request(Mode::Quick, &*key);
    let enc = req.encode().to_vec();
    assert_eq!(enc[0], 0xac);
    // The mode (key 6) must agree with the evidence's proof: quick's worn attestation is
    // key 2 of the evidence, which PIN mode (key 3) does not know.
    let at = enc.windows(3).position(|w| w == [0x06, 0x01, 0x07]).unwrap();
    let mut b = enc.clone();
    b[at + 1] = 0x02;
    assert_eq!(PayRequest::decode(&b), Err(Error::UnexpectedKey(2)));
    b[at + 1] = 0x05;
    assert!(matches!(PayRequest::decode(&b), Err(Error::Invalid { what: "mode", .. })));
    // A thirteenth key after the signature.
    let mut b = enc.clone();
    b[0] = 0xad;
    b.extend_from_slice(&[0x0c, 0x00]);
    assert_eq!(PayRequest::decode(&b), Err(Error::UnexpectedKey(12)));
    assert_eq!(Request::decode(&b), Err(Error::UnexpectedKey(12)));
    // Without its signature.
    let sig_entry = 1 + 2 + req.signature().len();
    let mut b = enc[..enc.len() - sig_entry].to_vec();
    b[0] = 0xab;
    assert_eq!(PayRequest::decode(&b), Err(Error::MissingKey(11)));
    // Other messages are not payment requests.
    assert!(PayRequest::decode(&Request::BalanceQuery.encode().unwrap()).is_err());
}
