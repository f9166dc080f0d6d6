//! Amounts and currencies: strict parsing, no floating point, no overflow.
#![allow(clippy::unwrap_used)]

use wearpay_pay::{Amount, Currency, Error, Money, SignedMoney, TxId};

fn minor(s: &str) -> u64 {
    Money::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}")).amount.minor()
}

#[test]
fn currencies_carry_their_exponent() {
    for (code, exp) in [("CNY", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)] {
        let c = Currency::from_code(code).unwrap();
        assert_eq!(c.code(), code);
        assert_eq!(c.exponent(), exp, "{code}");
        assert_eq!(c.to_string(), code);
    }
    assert_eq!(Currency::from_code("CNY").unwrap(), Currency::CNY);
    for bad in ["cny", "XXX", "CN", "CNYY", "", " CNY", "RMB"] {
        assert_eq!(Currency::from_code(bad), Err(Error::UnknownCurrency), "{bad:?}");
    }
}

#[test]
fn well_formed_amounts_parse() {
    assert_eq!(minor("1000.00 CNY"), 100_000);
    assert_eq!(minor("1000 CNY"), 100_000);
    assert_eq!(minor("0.01 CNY"), 1);
    assert_eq!(minor("0.00 CNY"), 0);
    assert_eq!(minor("0 CNY"), 0);
    assert_eq!(minor("12.30 CNY"), 1_230);
    assert_eq!(minor("500 JPY"), 500);
    assert_eq!(minor("1.234 KWD"), 1_234);
    assert_eq!(minor("1.0001 CLF"), 10_001);
    assert_eq!(minor("92233720368547758.07 CNY"), i64::MAX as u64);
    assert_eq!(minor("9223372036854775807 JPY"), i64::MAX as u64);
}

#[test]
fn malformed_amounts_are_refused() {
    for bad in [
        "1000.0 CNY",    // too few decimals
        "1000.000 CNY",  // too many decimals
        "1000. CNY",     // a bare point
        ".50 CNY",       // no integer part
        "-1.00 CNY",     // a sign
        "+1.00 CNY",     // a sign
        "1,000.00 CNY",  // grouping
        "1e3 CNY",       // an exponent
        "1E3 CNY",       // an exponent
        "01.00 CNY",     // a leading zero
        "00 CNY",        // a leading zero
        " 1.00 CNY",     // leading space
        "1.00  CNY",     // two spaces
        "1.00 CNY ",     // trailing space
        "1.00CNY",       // no space
        "1.00",          // no currency
        "CNY",           // no amount
        "1.00 cny",      // lower case
        "1.00 XXX",      // unknown currency
        "100.0 JPY",     // JPY has no minor unit
        "100. JPY",      // nor a point
        "1.5 CNY",       // a float-looking half
        "NaN CNY",       // floats do not exist here
        "inf CNY",       // nor do infinities
        "１２.００ CNY", // full-width digits
        "1.0O CNY",      // a letter O
        "1..00 CNY",     // two points
        "1.00.00 CNY",   // two points
        "0x10 CNY",      // hexadecimal
        "",              // nothing
    ] {
        assert!(Money::parse(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn overflow_is_refused_not_wrapped() {
    for bad in [
        "92233720368547758.08 CNY",          // i64::MAX + 1 minor units
        "92233720368547759 CNY",             // its major units overflow the minor count
        "184467440737095516.16 CNY",         // u64::MAX + 1
        "18446744073709551616 JPY",          // u64::MAX + 1
        "9223372036854775808 JPY",           // i64::MAX + 1
        "99999999999999999999999999999 CNY", // far beyond
        "922337203685477.5808 CLF",          // i64::MAX + 1 with four decimals
    ] {
        let e = Money::parse(bad).unwrap_err();
        assert!(matches!(e, Error::Invalid { what: "amount", .. }), "{bad:?}: {e:?}");
    }
    assert!(Amount::from_minor(i64::MAX as u64).is_ok());
    assert!(Amount::from_minor(i64::MAX as u64 + 1).is_err());
    assert!(Amount::from_minor(u64::MAX).is_err());
    assert_eq!(Amount::MAX.checked_add(Amount::from_minor(1).unwrap()), None);
    assert_eq!(Amount::ZERO.checked_sub(Amount::from_minor(1).unwrap()), None);
    let one = Amount::from_minor(1).unwrap();
    assert_eq!(one.checked_add(one).unwrap().minor(), 2);
    assert_eq!(Amount::MAX.minor_i64(), i64::MAX);
}

#[test]
fn display_round_trips() {
    for s in ["1000.00 CNY", "0.01 CNY", "0.00 CNY", "500 JPY", "1.234 KWD", "92233720368547758.07 CNY", "0.0001 CLF"] {
        let m = Money::parse(s).unwrap();
        assert_eq!(m.to_string(), s);
        assert_eq!(s.parse::<Money>().unwrap(), m);
    }
    assert_eq!(Money::parse("7 CNY").unwrap().to_string(), "7.00 CNY");
    assert_eq!(Amount::from_minor(5).unwrap().display(Currency::CNY).to_string(), "0.05");
    assert_eq!(SignedMoney { minor: -5, currency: Currency::CNY }.to_string(), "-0.05 CNY");
    assert_eq!(SignedMoney { minor: -123_456, currency: Currency::CNY }.to_string(), "-1234.56 CNY");
    assert_eq!(SignedMoney { minor: i64::MIN, currency: Currency::JPY }.to_string(), "-9223372036854775808 JPY");
    assert_eq!(SignedMoney { minor: 0, currency: Currency::USD }.to_string(), "0.00 USD");
}

#[test]
fn transaction_ids() {
    let id = TxId([0xab; 16]);
    assert_eq!(id.to_string(), "abababababababababababababababab");
    assert_eq!(TxId::from_hex(&id.to_string()).unwrap(), id);
    assert_eq!(TxId::from_hex("ABABABABABABABABABABABABABABABAB").unwrap(), id);
    assert!(TxId::from_hex("abab").is_err());
    assert!(TxId::from_hex("zzababababababababababababababab").is_err());
    let a = TxId::random(&wearpay_crypto::portable::PROVIDER).unwrap();
    let b = TxId::random(&wearpay_crypto::portable::PROVIDER).unwrap();
    assert_ne!(a, b);
}
