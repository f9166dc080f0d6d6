//! ISO 9564-1 format 4 PIN blocks: known answers with AES (published) and SM4 (openssl),
//! the byte layout, the envelope, and refusals.
#![allow(clippy::unwrap_used)]

mod common;

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use common::*;
use wearpay_crypto::portable::PROVIDER;
use wearpay_pay::{
    EncipheredPin, Error, Pan, Pin, PinBlock, ReasonCode,
    pin::{check_pin_verification_value, format4, pin_verification_value},
};

/// One block-cipher operation.
type Op = Box<dyn FnMut(&mut [u8; 16]) -> Result<(), Error>>;

fn h<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn aes_ops(key: [u8; 16]) -> (Op, Op) {
    let c = aes::Aes128::new_from_slice(&key).unwrap();
    let d = c.clone();
    (
        Box::new(move |b: &mut [u8; 16]| {
            c.encrypt_block(b.into());
            Ok(())
        }),
        Box::new(move |b: &mut [u8; 16]| {
            d.decrypt_block(b.into());
            Ok(())
        }),
    )
}

fn sm4_ops(key: [u8; 16]) -> (Op, Op) {
    let k1 = PROVIDER.sm4_cbc.new_key(&key).unwrap();
    let k2 = PROVIDER.sm4_cbc.new_key(&key).unwrap();
    (
        Box::new(move |b: &mut [u8; 16]| k1.encrypt(&[0; 16], b).map_err(Error::from)),
        Box::new(move |b: &mut [u8; 16]| k2.decrypt(&[0; 16], b).map_err(Error::from)),
    )
}

/// ANSI X9.24-3:2017 supplement, "Calculation of AES PIN Block Format 4" (as quoted by Leon
/// Lynch's pinblock tests): PIN 1234 and PAN 4111111111111111.
#[test]
fn x9_24_3_fields() {
    let pin = Pin::new("1234").unwrap();
    let field = format4::pin_field(&pin, &[0x11; 8]);
    assert_eq!(field[..8], h::<8>("441234AAAAAAAAAA"));
    assert_eq!(field[8..], [0x11; 8], "the random fill is the second half, as drawn");
    let pan = Pan::new("4111111111111111").unwrap();
    assert_eq!(format4::pan_field(&pan), h::<16>("44111111111111111000000000000000"));
}

/// More field layouts: an odd PIN length, a 15-digit PAN, a PAN shorter than 12 digits
/// (left-padded to 12, M = 0), the longest PIN and PAN.
#[test]
fn field_layouts() {
    let f = format4::pin_field(&Pin::new("12345").unwrap(), &[0; 8]);
    assert_eq!(f[..8], h::<8>("4512345AAAAAAAAA"));
    let f = format4::pin_field(&Pin::new("987654321012").unwrap(), &[0; 8]);
    assert_eq!(f[..8], h::<8>("4C987654321012AA"));
    assert_eq!(format4::pan_field(&Pan::new("411111111111111").unwrap()), h::<16>("34111111111111110000000000000000"));
    assert_eq!(format4::pan_field(&Pan::new("123456789").unwrap()), h::<16>("00001234567890000000000000000000"));
    assert_eq!(
        format4::pan_field(&Pan::new("1234567890123456789").unwrap()),
        h::<16>("71234567890123456789000000000000")
    );
    assert_eq!(format4::pan_field(&Pan::new("123456789012").unwrap()), h::<16>("01234567890120000000000000000000"));
}

/// The AES known answer of the `psec` library (key 00112233…EEFF, PIN 1234, PAN
/// 1234567890123456789, random fill FF…FF), reproduced independently with
/// `openssl enc -aes-128-ecb`: the same construction code that runs with SM4.
#[test]
fn aes_known_answer() {
    let (mut enc, mut dec) = aes_ops(h("00112233445566778899AABBCCDDEEFF"));
    let pin = Pin::new("1234").unwrap();
    let pan = Pan::new("1234567890123456789").unwrap();
    let field = format4::pin_field(&pin, &[0xff; 8]);
    let block = format4::encipher(&mut enc, &field, &format4::pan_field(&pan)).unwrap();
    assert_eq!(block, h::<16>("28B41FDDD29B743E93124BD8E32D921E"));
    let back = format4::decipher(&mut dec, &block, &format4::pan_field(&pan)).unwrap();
    assert_eq!(*back, *field);
    assert_eq!(format4::parse_pin_field(&back).unwrap().expose(), b"1234");
}

/// `psec`'s decipher vectors (same key; random fills unknown to us).
#[test]
fn aes_decipher_vectors() {
    let (_, mut dec) = aes_ops(h("00112233445566778899AABBCCDDEEFF"));
    for (pin, pan, block) in [
        ("1234", "1234567890123456", "52DB178C6EDCE52E3A70F7FBC8E9C758"),
        ("123456", "123456789012345678", "847A0209C659E4C4A79CA6A2A2217D31"),
        ("12345678", "1234567890123456789", "018BFEC8B5EF60181A327AD8325A2BA4"),
    ] {
        let pan = Pan::new(pan).unwrap();
        let field = format4::decipher(&mut dec, &h(block), &format4::pan_field(&pan)).unwrap();
        assert_eq!(format4::parse_pin_field(&field).unwrap().expose(), pin.as_bytes());
    }
}

/// SM4 known answers, computed with `openssl enc -sm4-ecb` from the fields above:
/// A = SM4_K(PIN field); B = A ⊕ PAN field; block = SM4_K(B).
#[test]
fn sm4_known_answers() {
    for (key, pin, fill, pan, expected) in [
        (
            "0123456789abcdeffedcba9876543210",
            "1234",
            "ffffffffffffffff",
            "1234567890123456789",
            "8d0aefc5e739ef06cd8529e3c0372630",
        ),
        (
            "00112233445566778899aabbccddeeff",
            "987654321012",
            "0011223344556677",
            "4111111111111111",
            "63a39155267705ac7a306c1b8ed7ca22",
        ),
    ] {
        let (mut enc, mut dec) = sm4_ops(h(key));
        let pin = Pin::new(pin).unwrap();
        let pan = Pan::new(pan).unwrap();
        let field = format4::pin_field(&pin, &h(fill));
        let block = format4::encipher(&mut enc, &field, &format4::pan_field(&pan)).unwrap();
        assert_eq!(block, h::<16>(expected));
        let back = format4::decipher(&mut dec, &block, &format4::pan_field(&pan)).unwrap();
        assert_eq!(format4::parse_pin_field(&back).unwrap().expose(), pin.expose());
    }
}

/// With the provider's randomness pinned, `PinBlock::encipher` draws the fill, then K,
/// and produces exactly the SM4 known answer; the envelope is K ‖ tx_id.
#[test]
fn encipher_with_pinned_randomness_is_byte_exact() {
    let provider = pinned_provider();
    let center = sm2_key();
    let pin = Pin::new("1234").unwrap();
    let pan = Pan::new("1234567890123456789").unwrap();
    let e = PinBlock::encipher(&provider, &pin, &pan, &tx(0x42), &public(&*center)).unwrap();
    assert_eq!(e.block, h::<16>("8d0aefc5e739ef06cd8529e3c0372630"));
    let envelope = center.decrypt(&e.key).unwrap();
    assert_eq!(envelope[..16], PINNED_K);
    assert_eq!(envelope[16..], [0x42; 16]);
    // Step by step with K: the PIN field is 44 12 34 AA… then the fill.
    let (_, mut dec) = sm4_ops(PINNED_K);
    let field = format4::decipher(&mut dec, &e.block, &format4::pan_field(&pan)).unwrap();
    assert_eq!(*field, h::<16>("441234AAAAAAAAAAFFFFFFFFFFFFFFFF"));
    assert_eq!(PinBlock::decipher(&provider, &*center, &e, &pan, &tx(0x42)).unwrap().expose(), b"1234");
}

#[test]
fn round_trips_under_sm2_and_rsa_envelopes() {
    let pan = pan();
    for center in [sm2_key(), rsa_key()] {
        for digits in ["0000", "1234", "98765", "123456789012"] {
            let pin = Pin::new(digits).unwrap();
            let e = PinBlock::encipher(&PROVIDER, &pin, &pan, &tx(1), &public(&*center)).unwrap();
            let back = e.decipher(&PROVIDER, &*center, &pan, &tx(1)).unwrap();
            assert!(back.ct_eq(&pin));
            assert_eq!(back.expose(), digits.as_bytes());
        }
    }
    // Fresh randomness every time: the same PIN never gives the same block.
    let center = sm2_key();
    let pin = Pin::new("1234").unwrap();
    let a = PinBlock::encipher(&PROVIDER, &pin, &pan, &tx(1), &public(&*center)).unwrap();
    let b = PinBlock::encipher(&PROVIDER, &pin, &pan, &tx(1), &public(&*center)).unwrap();
    assert_ne!(a.block, b.block);
}

#[test]
fn wrong_transaction_pan_key_or_bytes_are_refused() {
    let provider = pinned_provider();
    let center = sm2_key();
    let pin = Pin::new("246810").unwrap();
    let e = PinBlock::encipher(&provider, &pin, &pan(), &tx(7), &public(&*center)).unwrap();
    let refused = |e: &EncipheredPin, pan: &Pan, id| {
        let err = PinBlock::decipher(&provider, &*center, e, pan, &tx(id)).unwrap_err();
        assert!(matches!(err, Error::BadPinBlock(_)), "{err:?}");
        assert_eq!(err.reason_code(), ReasonCode::BadEvidence);
    };
    refused(&e, &pan(), 8);
    refused(&e, &Pan::new("6222021234567890124").unwrap(), 7);
    refused(&e, &Pan::new("4111111111111111").unwrap(), 7);
    for i in 0..16 {
        for bit in 0..8 {
            let mut t = e.clone();
            t.block[i] ^= 1 << bit;
            refused(&t, &pan(), 7);
        }
    }
    for i in [0, 10, 40, 100, e.key.len() - 1] {
        let mut t = e.clone();
        t.key[i] ^= 0x20;
        refused(&t, &pan(), 7);
    }
    let other = sm2_key();
    assert!(matches!(PinBlock::decipher(&provider, &*other, &e, &pan(), &tx(7)), Err(Error::BadPinBlock(_))));
    // An envelope of the wrong length.
    let short = EncipheredPin { block: e.block, key: PROVIDER.encrypt(&public(&*center), &[1; 31]).unwrap() };
    refused(&short, &pan(), 7);
}

#[test]
fn pin_fields_are_checked_nibble_by_nibble() {
    let good = h::<16>("441234AAAAAAAAAA0123456789ABCDEF");
    assert_eq!(format4::parse_pin_field(&good).unwrap().expose(), b"1234");
    for bad in [
        "341234AAAAAAAAAA0123456789ABCDEF", // control field 3
        "431234AAAAAAAAAA0123456789ABCDEF", // length 3
        "4D1234AAAAAAAAAA0123456789ABCDEF", // length 13
        "4412A4AAAAAAAAAA0123456789ABCDEF", // a non-digit in the PIN
        "441234AAAAAAAAAB0123456789ABCDEF", // fill B
        "441234FFFFFFFFFF0123456789ABCDEF", // format 0's fill
        "4412345AAAAAAAAA0123456789ABCDEF", // a fifth digit where the fill should be
    ] {
        assert!(matches!(format4::parse_pin_field(&h(bad)), Err(Error::BadPinBlock(_))), "{bad}");
    }
    let twelve = h::<16>("4C123456789012AA0000000000000000");
    assert_eq!(format4::parse_pin_field(&twelve).unwrap().expose(), b"123456789012");
}

#[test]
fn pins_and_pans_are_validated() {
    for bad in ["", "123", "1234567890123", "12a4", "12 34", "١٢٣٤", "+1234"] {
        assert!(Pin::new(bad).is_err(), "{bad:?}");
    }
    for bad in ["", "1234567", "12345678901234567890", "4111 1111 1111 1111", "411111111111111x"] {
        assert!(Pan::new(bad).is_err(), "{bad:?}");
    }
    assert!(Pan::new("12345678").is_ok());
    let pin = Pin::new("135790").unwrap();
    assert_eq!(pin.digit_count(), 6);
    let shown = format!("{pin:?}");
    assert!(!shown.contains("135790") && !shown.contains('1') && !shown.contains('3'), "{shown}");
    let pan = Pan::new("6222021234567890123").unwrap();
    assert_eq!(format!("{pan:?}"), "Pan(…0123)");
    assert!(!format!("{:?}", EncipheredPin { block: [0; 16], key: vec![1] }).is_empty());
    // The error text never carries the PIN.
    let e = Pin::new("12345678901234").unwrap_err();
    assert!(!e.to_string().contains("1234567"));
}

/// HMAC-SM3 over len(account) (8 bytes, big-endian) ‖ account ‖ PIN, checked against
/// `openssl mac -digest SM3 -macopt hexkey:000102…1f HMAC`.
#[test]
fn pin_verification_value_known_answer() {
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let pin = Pin::new("123456").unwrap();
    let pvv = pin_verification_value(&PROVIDER, &key, b"ACCT-00001", &pin);
    assert_eq!(pvv, h::<32>("6693b29698a7132abd1e253b21aa3ccd48588ceae923d53ad9f0d3101bb60673"));
    assert!(check_pin_verification_value(&PROVIDER, &key, b"ACCT-00001", &pin, &pvv));
    assert!(!check_pin_verification_value(&PROVIDER, &key, b"ACCT-00001", &Pin::new("123457").unwrap(), &pvv));
    assert!(!check_pin_verification_value(&PROVIDER, &key, b"ACCT-00002", &pin, &pvv));
    assert!(!check_pin_verification_value(&PROVIDER, &[0; 32], b"ACCT-00001", &pin, &pvv));
    assert!(!check_pin_verification_value(&PROVIDER, &key, b"ACCT-00001", &pin, &pvv[..31]));
    // The length prefix keeps the account/PIN boundary: "A1" ‖ "2345" ≠ "A" ‖ "12345".
    assert_ne!(
        pin_verification_value(&PROVIDER, &key, b"A1", &Pin::new("2345").unwrap()),
        pin_verification_value(&PROVIDER, &key, b"A", &Pin::new("12345").unwrap())
    );
}
