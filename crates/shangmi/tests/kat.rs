//! Published known answers: GB/T 32907 (SM4), GB/T 32905 (SM3), RFC 8998 (SM4-GCM) and the
//! SM4-CBC vectors of GM/T 0002 and draft-ribose-cfrg-sm4, on every SM4 back end.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use common::{providers, unhex};
use wearpay_shangmi::{
    PROVIDER,
    sm3::Sm3,
    sm4::{Backend, Sm4Key},
};

const KEY: [u8; 16] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];

#[test]
fn sm4_standard_example_one() {
    for p in providers() {
        let key = p.sm4_cbc.new_key(&KEY).unwrap();
        let mut block = KEY;
        key.encrypt(&[0; 16], &mut block).unwrap();
        assert_eq!(block.to_vec(), unhex("681edf34d206965e86b3e94f536e4246"), "{}", p.name);
        key.decrypt(&[0; 16], &mut block).unwrap();
        assert_eq!(block, KEY, "{}", p.name);
    }
}

#[test]
fn sm4_standard_example_two_million_encryptions() {
    // GB/T 32907 Appendix A.2: the plaintext encrypted 1,000,000 times under the same key.
    // Unoptimised test builds take minutes per back end, so there only the detected one runs
    // it; `cargo test --release` runs it on all of them.
    let backends: Vec<Backend> = if cfg!(debug_assertions) {
        vec![Backend::detected()]
    } else {
        Backend::ALL.into_iter().filter(|b| b.is_supported()).collect()
    };
    for b in backends {
        let key = Sm4Key::with_backend(&KEY, b).unwrap();
        let mut block = KEY;
        for _ in 0..1_000_000 {
            key.encrypt_block(&mut block);
        }
        assert_eq!(block.to_vec(), unhex("595298c7c6fd271f0402f804c33d3f66"), "{b:?}");
        for _ in 0..1_000_000 {
            key.decrypt_block(&mut block);
        }
        assert_eq!(block, KEY, "{b:?}");
    }
}

#[test]
fn sm4_cbc_vectors() {
    let vectors = [
        // GM/T 0002-2012 / OpenSSL's test (key = IV).
        (
            "0123456789abcdeffedcba9876543210",
            "0123456789abcdeffedcba9876543210",
            "0123456789abcdeffedcba98765432100123456789abcdeffedcba9876543210",
            "2677f46b09c122cc975533105bd4a22af6125f7275ce552c3a2bbcf533de8a3b",
        ),
        // draft-ribose-cfrg-sm4 A.2.2.1 and A.2.2.2.
        (
            "0123456789abcdeffedcba9876543210",
            "000102030405060708090a0b0c0d0e0f",
            "aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffffaaaaaaaabbbbbbbb",
            "78ebb11cc40b0a48312aaeb2040244cb4cb7016951909226979b0d15dc6a8f6d",
        ),
        (
            "fedcba98765432100123456789abcdef",
            "000102030405060708090a0b0c0d0e0f",
            "aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffffaaaaaaaabbbbbbbb",
            "0d3a6ddc2d21c698857215587b7bb59a91f2c147911a4144665e1fa1d40bae38",
        ),
    ];
    for p in providers() {
        for (key, iv, pt, ct) in vectors {
            let k = p.sm4_cbc.new_key(&unhex(key)).unwrap();
            let iv: [u8; 16] = unhex(iv).try_into().unwrap();
            let mut buf = unhex(pt);
            k.encrypt(&iv, &mut buf).unwrap();
            assert_eq!(buf, unhex(ct), "{}", p.name);
            k.decrypt(&iv, &mut buf).unwrap();
            assert_eq!(buf, unhex(pt), "{}", p.name);
        }
    }
}

#[test]
fn sm4_gcm_rfc8998() {
    let pt = unhex(
        "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
    );
    let ct = unhex(
        "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d",
    );
    let nonce: [u8; 12] = unhex("00001234567800000000abcd").try_into().unwrap();
    let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let tag = unhex("83de3541e4c2b58177e065a9bf7b62ec");
    for p in providers() {
        let k = p.sm4_gcm.new_key(&KEY).unwrap();
        let mut buf = pt.clone();
        let t = k.seal(&nonce, &aad, &mut buf).unwrap();
        assert_eq!(buf, ct, "{}", p.name);
        assert_eq!(t.to_vec(), tag, "{}", p.name);
        k.open(&nonce, &aad, &mut buf, &t).unwrap();
        assert_eq!(buf, pt, "{}", p.name);
    }
}

#[test]
fn sm3_standard_examples() {
    // GB/T 32905-2016 Appendix A.1 and A.2.
    let abc = unhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    let long = unhex("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    assert_eq!(Sm3::digest(b"abc").to_vec(), abc);
    assert_eq!(Sm3::digest(&b"abcd".repeat(16)).to_vec(), long);
    assert_eq!(PROVIDER.sm3.hash(b"abc").as_ref(), &abc[..]);
    // Byte by byte through the incremental interface.
    let mut ctx = PROVIDER.sm3.start();
    for b in b"abcd".repeat(16) {
        ctx.update(&[b]);
    }
    assert_eq!(ctx.finish().as_ref(), &long[..]);
    // The empty message (cross-checked with `openssl dgst -sm3`).
    assert_eq!(Sm3::digest(b"").to_vec(), unhex("1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"));
}

#[test]
fn provider_shape() {
    assert_eq!(PROVIDER.name, "shangmi");
    assert_eq!(wearpay_shangmi::provider().name, "shangmi");
    assert!(PROVIDER.rsa.is_some(), "RSA comes from the portable provider");
    assert!(PROVIDER.capabilities().sm4);
    // A back end the CPU lacks is refused with a typed error, not a crash.
    for b in Backend::ALL.into_iter().filter(|b| !b.is_supported()) {
        assert!(wearpay_shangmi::provider_with(b).sm4_cbc.new_key(&KEY).is_err());
    }
    assert!(PROVIDER.sm4_cbc.new_key(&[0; 15]).is_err());
    assert!(PROVIDER.sm4_gcm.new_key(&[0; 17]).is_err());
}
