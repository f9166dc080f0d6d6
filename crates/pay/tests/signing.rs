//! Request signatures, receipts, and the checks a center runs without state.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wearpay_crypto::{PrivateKey, portable::PROVIDER};
use wearpay_pay::{
    Amount, BiometricMatch, Currency, Error, EvidenceRules, Limits, MatcherId, Mode, Money, ORDER_CONTEXT,
    PAY_REQUEST_CONTEXT, PayRequest, Policy, Press, Proof, RECEIPT_CONTEXT, ReasonCode, Receipt, Request, Response,
    SigAlg, Signed, Timestamp, WornAttestation, confirm_text,
};

/// The bytes of the signature entry (`0b` then the byte string) at the end of a request.
fn signature_entry_len(req: &PayRequest) -> usize {
    let n = req.signature().len();
    1 + if n < 24 {
        1
    } else if n < 256 {
        2
    } else {
        3
    } + n
}

fn assert_signed_bytes_are_the_map_without_signature(req: &PayRequest) {
    let enc = req.encode();
    assert_eq!(enc[0], 0xac, "12 entries");
    let body_end = enc.len() - signature_entry_len(req);
    assert_eq!(enc[body_end], 0x0b, "key 11 is last");
    let mut expected = PAY_REQUEST_CONTEXT.to_vec();
    expected.push(0xab); // 11 entries
    expected.extend_from_slice(&enc[1..body_end]);
    assert_eq!(req.signed_message(), expected);
    assert!(req.signed_message().starts_with(b"wearpay pay-request v1\xab\x00\x01\x01\x02\x02\x50"));
}

fn check_every_byte_flip(key: &dyn PrivateKey, alg: SigAlg) {
    let req = builder(Mode::Confirm, tx(1), key).sign_with(key, alg).unwrap();
    assert_eq!(req.alg(), alg);
    req.verify(&PROVIDER, &public(key)).unwrap();
    assert_signed_bytes_are_the_map_without_signature(&req);
    let enc = req.encode().to_vec();
    let mut still_decoding = 0;
    for i in 0..enc.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = enc.clone();
            b[i] ^= bit;
            if let Ok(r) = PayRequest::decode(&b) {
                still_decoding += 1;
                assert_eq!(r.verify(&PROVIDER, &public(key)), Err(Error::BadSignature), "flip at {i} verified");
            }
        }
    }
    assert!(still_decoding > 20, "{still_decoding}");
}

#[test]
fn sm2_request_signatures_verify_and_any_byte_flip_breaks_them() {
    check_every_byte_flip(&*sm2_key(), SigAlg::Sm2Sm3);
}

#[test]
fn rsa_request_signatures_verify_and_any_byte_flip_breaks_them() {
    let key = rsa_key();
    check_every_byte_flip(&*key, SigAlg::RsaPkcs1Sha256);
    check_every_byte_flip(&*key, SigAlg::RsaPkcs1Sm3);
    // `sign` takes the key's own scheme.
    let req = builder(Mode::Quick, tx(2), &*key).sign(&*key).unwrap();
    assert_eq!(req.alg(), SigAlg::RsaPkcs1Sha256);
    req.verify(&PROVIDER, &public(&*key)).unwrap();
}

#[test]
fn every_mode_signs_and_verifies() {
    let key = sm2_key();
    for mode in Mode::ALL {
        let req = pay_request(mode, &*key);
        assert_eq!(req.mode(), mode);
        req.verify(&PROVIDER, &public(&*key)).unwrap();
        assert_signed_bytes_are_the_map_without_signature(&req);
    }
}

#[test]
fn a_retry_is_the_same_bytes_and_still_verifies() {
    let key = sm2_key();
    let req = pay_request(Mode::Pin, &*key);
    let stored = req.encode().to_vec();
    let again = PayRequest::decode(&stored).unwrap();
    assert_eq!(again, req);
    assert_eq!(again.encode(), &stored[..]);
    assert_eq!(Request::Pay(again.clone()).encode().unwrap(), stored);
    let Request::Pay(via_enum) = Request::decode(&stored).unwrap() else { panic!("not a payment") };
    via_enum.verify(&PROVIDER, &public(&*key)).unwrap();
    assert_eq!(via_enum.signed_message(), req.signed_message());
}

#[test]
fn the_builder_shows_what_is_signed() {
    let key = sm2_key();
    let b = builder(Mode::Biometric, tx(4), &*key);
    let msg = b.signed_message(SigAlg::Sm2Sm3).unwrap();
    let signature = key.sign(&msg).unwrap();
    let req = b.with_signature(SigAlg::Sm2Sm3, signature).unwrap();
    assert_eq!(req.signed_message(), msg);
    req.verify(&PROVIDER, &public(&*key)).unwrap();
}

#[test]
fn wrong_keys_and_algorithms_are_refused() {
    let key = sm2_key();
    let other = sm2_key();
    let rsa = rsa_key();
    let req = pay_request(Mode::Quick, &*key);
    assert_eq!(req.verify(&PROVIDER, &public(&*other)), Err(Error::BadSignature));
    assert_eq!(req.verify(&PROVIDER, &public(&*rsa)), Err(Error::BadSignature));
    assert_eq!(Error::BadSignature.reason_code(), ReasonCode::BadSignature);
    // An SM2 signature relabelled as RSA.
    let b = builder(Mode::Quick, tx(1), &*key);
    let sig = key.sign(&b.signed_message(SigAlg::RsaPkcs1Sha256).unwrap()).unwrap();
    let relabelled = b.clone().with_signature(SigAlg::RsaPkcs1Sha256, sig).unwrap();
    assert_eq!(relabelled.verify(&PROVIDER, &public(&*key)), Err(Error::BadSignature));
    // Signing under an algorithm the key cannot make.
    assert!(b.sign_with(&*key, SigAlg::RsaPkcs1Sm3).is_err());
    // An empty signature cannot even be assembled.
    assert!(builder(Mode::Quick, tx(1), &*key).with_signature(SigAlg::Sm2Sm3, vec![]).is_err());
}

#[test]
fn zero_amounts_cannot_be_requested() {
    let key = sm2_key();
    let mut b = builder(Mode::Quick, tx(1), &*key);
    b.amount = Amount::ZERO;
    assert!(b.sign(&*key).is_err());
}

fn receipt_round_trip(key: &dyn PrivateKey, alg: SigAlg) {
    let req = pay_request(Mode::Quick, key);
    let signed = Signed::sign_with(receipt(&req, wearpay_pay::Outcome::Approved), key, alg).unwrap();
    assert_eq!(signed.alg(), alg);
    assert_eq!(signed.verify(&PROVIDER, &public(key)).unwrap(), &receipt(&req, wearpay_pay::Outcome::Approved));
    assert!(signed.signed_message().starts_with(RECEIPT_CONTEXT));
    assert_eq!(&signed.signed_message()[RECEIPT_CONTEXT.len()..], signed.protected());
    // {0: 1, 1: alg, 2: {…}}
    assert_eq!(&signed.protected()[..5], &[0xa3, 0x00, 0x01, 0x01, alg.code()]);

    let bytes = signed.to_bytes().unwrap();
    let back = Signed::<Receipt>::from_bytes(&bytes).unwrap();
    assert_eq!(back, signed);
    back.verify(&PROVIDER, &public(key)).unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x04;
        if let Ok(s) = Signed::<Receipt>::from_bytes(&b) {
            assert_eq!(s.verify(&PROVIDER, &public(key)), Err(Error::BadSignature), "flip at {i}");
        }
    }
    assert_eq!(signed.verify(&PROVIDER, &public(&*sm2_key())), Err(Error::BadSignature));
}

#[test]
fn receipts_sign_and_verify_with_sm2() {
    receipt_round_trip(&*sm2_key(), SigAlg::Sm2Sm3);
}

#[test]
fn receipts_sign_and_verify_with_rsa() {
    let key = rsa_key();
    receipt_round_trip(&*key, SigAlg::RsaPkcs1Sha256);
    receipt_round_trip(&*key, SigAlg::RsaPkcs1Sm3);
}

#[test]
fn signed_orders_use_their_own_context() {
    let key = sm2_key();
    let signed = Signed::sign(order(), &*key).unwrap();
    assert!(signed.signed_message().starts_with(ORDER_CONTEXT));
    assert_eq!(signed.verify(&PROVIDER, &public(&*key)).unwrap(), &order());
    let back = Signed::<wearpay_pay::Order>::from_bytes(&signed.to_bytes().unwrap()).unwrap();
    back.verify(&PROVIDER, &public(&*key)).unwrap();
    // The same protected bytes and signature read as a receipt do not parse.
    assert!(Signed::<Receipt>::from_bytes(&signed.to_bytes().unwrap()).is_err());
}

#[test]
fn the_band_checks_its_receipt_against_its_request() {
    let terminal = sm2_key();
    let center = sm2_key();
    let req = pay_request(Mode::Pin, &*terminal);
    let resp = pay_response(&req, &*center, wearpay_pay::Outcome::Approved);
    let bytes = Response::Pay(resp).encode().unwrap();
    let Response::Pay(resp) = Response::decode(&bytes).unwrap() else { panic!("not a pay response") };
    let r = resp.verify_receipt(&PROVIDER, &public(&*center), &req).unwrap();
    assert_eq!(r.amount, req.amount());
    // Signed by the wrong key (the channel's, say), or for another request.
    assert_eq!(resp.verify_receipt(&PROVIDER, &public(&*terminal), &req), Err(Error::BadSignature));
    let other = pay_request(Mode::Quick, &*terminal);
    assert!(resp.verify_receipt(&PROVIDER, &public(&*center), &other).is_err());
}

#[test]
fn stateless_order_checks() {
    let key = sm2_key();
    let req = pay_request(Mode::Quick, &*key);
    let o = order();
    assert_eq!(req.check_order(&o, NOW), Ok(()));
    assert_eq!(req.check_order(&o, o.expires_at), Err(ReasonCode::OrderExpired));
    let other_amount = wearpay_pay::Order { amount: Amount::from_minor(1).unwrap(), ..order() };
    assert_eq!(req.check_order(&other_amount, NOW), Err(ReasonCode::AmountMismatch));
    let other_currency = wearpay_pay::Order { currency: Currency::HKD, ..order() };
    assert_eq!(req.check_order(&other_currency, NOW), Err(ReasonCode::CurrencyMismatch));
    let other_order = wearpay_pay::Order { order_id: wearpay_pay::OrderId::new("X").unwrap(), ..order() };
    assert_eq!(req.check_order(&other_order, NOW), Err(ReasonCode::UnknownOrder));
}

#[test]
fn stateless_evidence_checks() {
    let key = sm2_key();
    let rules = EvidenceRules::default();
    let o = order();
    let check = |mode: Mode, edit: &dyn Fn(&mut wearpay_pay::PayRequestBuilder)| {
        let mut b = builder(mode, tx(8), &*key);
        edit(&mut b);
        b.sign(&*key).unwrap().check_evidence(&o, &rules)
    };
    for mode in Mode::ALL {
        assert_eq!(check(mode, &|_| {}), Ok(()), "{mode}");
        assert_eq!(check(mode, &|b| b.evidence.press = None), Err(ReasonCode::PressMissing), "{mode}");
        assert_eq!(
            check(mode, &|b| b.evidence.press = Some(Press { tx_id: tx(9), at: NOW })),
            Err(ReasonCode::PressMissing),
            "{mode}: a press for another transaction"
        );
        assert_eq!(
            check(mode, &|b| b.evidence.press = Some(Press { tx_id: tx(8), at: Timestamp(NOW.0 + 1) })),
            Err(ReasonCode::PressMissing),
            "{mode}: a press after the request"
        );
        assert_eq!(
            check(mode, &|b| b.evidence.press = Some(Press { tx_id: tx(8), at: Timestamp(NOW.0 - 121) })),
            Err(ReasonCode::PressMissing),
            "{mode}: a stale press"
        );
    }
    let worn = |a: WornAttestation| move |b: &mut wearpay_pay::PayRequestBuilder| b.evidence.proof = Proof::Quick(a);
    assert_eq!(
        check(Mode::Quick, &worn(WornAttestation { unlocked_at: Timestamp(NOW.0 - 60), worn_since_unlock: false })),
        Err(ReasonCode::WornAttestationMissing)
    );
    assert_eq!(
        check(Mode::Quick, &worn(WornAttestation { unlocked_at: NOW, worn_since_unlock: true })),
        Err(ReasonCode::WornAttestationMissing),
        "unlocked after the press"
    );
    assert_eq!(
        check(Mode::Quick, &worn(WornAttestation { unlocked_at: Timestamp(NOW.0 - 90_000), worn_since_unlock: true })),
        Err(ReasonCode::WornAttestationMissing),
        "unlocked too long ago"
    );
    let bio = |matched: bool, score: u16| {
        move |b: &mut wearpay_pay::PayRequestBuilder| {
            b.evidence.proof =
                Proof::Biometric(BiometricMatch { matched, matcher: MatcherId::new("fp").unwrap(), score })
        }
    };
    assert_eq!(check(Mode::Biometric, &bio(false, 9_999)), Err(ReasonCode::BiometricFailed));
    assert_eq!(check(Mode::Biometric, &bio(true, 8_999)), Err(ReasonCode::BiometricFailed));
    assert_eq!(check(Mode::Biometric, &bio(true, 9_000)), Ok(()));
    let mut b = builder(Mode::Biometric, tx(8), &*key);
    b.evidence.proof =
        Proof::Biometric(BiometricMatch { matched: true, matcher: MatcherId::new("fp").unwrap(), score: 10_001 });
    assert!(b.sign(&*key).is_err(), "a score above 100 % is malformed");

    let text =
        |s: &'static str| move |b: &mut wearpay_pay::PayRequestBuilder| b.evidence.proof = Proof::Confirm(confirm(s));
    assert_eq!(check(Mode::Confirm, &text("Pay 123.45 CNY")), Err(ReasonCode::ConfirmTextMismatch));
    let shown = confirm_text(&o).as_str().replace("123.45", "123.46");
    let mut b = builder(Mode::Confirm, tx(8), &*key);
    b.evidence.proof = Proof::Confirm(confirm(&shown));
    assert_eq!(b.sign(&*key).unwrap().check_evidence(&o, &rules), Err(ReasonCode::ConfirmTextMismatch));
}

#[test]
fn policy_limits() {
    let p = Policy::default();
    let cny = |s: &str| Money::parse(s).unwrap();
    let a = |s: &str| Money::parse(s).unwrap().amount;
    assert_eq!(p.limits(Mode::Quick), Some(&Limits { per_transaction: a("1000.00 CNY"), daily: a("3000.00 CNY") }));
    assert_eq!(p.limits(Mode::Pin), Some(&Limits { per_transaction: a("50000.00 CNY"), daily: a("200000.00 CNY") }));
    assert_eq!(
        p.limits(Mode::Biometric),
        Some(&Limits { per_transaction: a("5000.00 CNY"), daily: a("20000.00 CNY") })
    );
    assert_eq!(
        p.limits(Mode::Confirm),
        Some(&Limits { per_transaction: a("500000.00 CNY"), daily: a("1000000.00 CNY") })
    );
    assert_eq!(p.check(Mode::Quick, cny("1000.00 CNY"), a("2000.00 CNY")), Ok(()));
    assert_eq!(p.check(Mode::Quick, cny("1000.01 CNY"), Amount::ZERO), Err(ReasonCode::LimitPerTx));
    assert_eq!(p.check(Mode::Quick, cny("1000.00 CNY"), a("2000.01 CNY")), Err(ReasonCode::LimitDaily));
    assert_eq!(p.check(Mode::Quick, cny("1.00 CNY"), Amount::MAX), Err(ReasonCode::LimitDaily));
    assert_eq!(p.check(Mode::Quick, cny("1.00 USD"), Amount::ZERO), Err(ReasonCode::CurrencyMismatch));
    let mut no_quick = p.clone();
    no_quick.quick = None;
    assert_eq!(no_quick.check(Mode::Quick, cny("1.00 CNY"), Amount::ZERO), Err(ReasonCode::ModeNotAllowed));
}
