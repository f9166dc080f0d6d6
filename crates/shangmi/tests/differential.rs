//! Differential tests against the portable RustCrypto provider: random keys and inputs at the
//! edge lengths (0, 1, 15, 16, 17, 63, 64, 65, 255, 4096, 16384) and random ones, on every SM4
//! back end (the fast ones and the forced portable fallback), plus the GCM refusals. CBC
//! encryption runs on each back end's own path (GFNI's single-block rounds included).
//!
//! Iterations per length: 2,000 (200 for 4 KiB and 16 KiB) with `--release`; fewer in the
//! unoptimised default test build, where this crate's own code runs at opt-level 0.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use common::{Rng, providers};
use wearpay_crypto::{Error, portable::PROVIDER as ORACLE};
use wearpay_shangmi::PROVIDER;

const EDGES: [usize; 11] = [0, 1, 15, 16, 17, 63, 64, 65, 255, 4096, 16384];

fn iterations(len: usize) -> usize {
    match (cfg!(debug_assertions), len >= 4096) {
        (false, false) => 2000,
        (false, true) => 200,
        (true, false) => 200,
        (true, true) => 4,
    }
}

/// The edge lengths, then as many random lengths below 1,000.
fn lengths(rng: &mut Rng) -> Vec<usize> {
    let mut v = EDGES.to_vec();
    v.extend((0..EDGES.len()).map(|_| rng.below(1000)));
    v
}

#[test]
fn sm3_matches_the_oracle() {
    let mut rng = Rng::new(0x5333);
    for len in lengths(&mut rng) {
        for _ in 0..iterations(len) {
            let data = rng.bytes(len);
            let want = ORACLE.sm3.hash(&data);
            assert_eq!(PROVIDER.sm3.hash(&data), want, "len {len}");
            // Incremental, split at two random points, with a fork in the middle.
            let (a, b) = (rng.below(len + 1), rng.below(len + 1));
            let (a, b) = (a.min(b), a.max(b));
            let mut ctx = PROVIDER.sm3.start();
            ctx.update(&data[..a]);
            let mut fork = ctx.fork();
            // finish_with reads the state without changing it, for both providers.
            for p in [&PROVIDER, &ORACLE] {
                let mut c = p.sm3.start();
                c.update(&data[..a]);
                assert_eq!(c.finish_with(&[&data[a..b], &data[b..]]), want, "{} len {len} at {a}/{b}", p.name);
                assert_eq!(c.finish_with(&[]), ORACLE.sm3.hash(&data[..a]), "{} len {len} at {a}", p.name);
            }
            assert_eq!(ctx.finish_with(&[&data[a..]]), want, "len {len} finish_with at {a}");
            ctx.update(&data[a..b]);
            ctx.update(&data[b..]);
            fork.update(&data[a..]);
            assert_eq!(ctx.finish(), want, "len {len} split {a}/{b}");
            assert_eq!(fork.finish(), want, "len {len} fork at {a}");
        }
    }
}

#[test]
fn sm4_cbc_matches_the_oracle() {
    let mut rng = Rng::new(0xcbc);
    for p in providers() {
        for len in lengths(&mut rng) {
            for _ in 0..iterations(len) {
                let key: [u8; 16] = rng.array();
                let iv: [u8; 16] = rng.array();
                let ours = p.sm4_cbc.new_key(&key).unwrap();
                let oracle = ORACLE.sm4_cbc.new_key(&key).unwrap();
                let mut data = rng.bytes(len);
                if len % 16 != 0 {
                    assert_eq!(ours.encrypt(&iv, &mut data), Err(Error::InvalidLength));
                    assert_eq!(ours.decrypt(&iv, &mut data), Err(Error::InvalidLength));
                    data.truncate(len - len % 16);
                }
                let plain = data.clone();
                let mut want = data.clone();
                oracle.encrypt(&iv, &mut want).unwrap();
                ours.encrypt(&iv, &mut data).unwrap();
                assert_eq!(data, want, "{} encrypt len {len}", p.name);
                ours.decrypt(&iv, &mut data).unwrap();
                assert_eq!(data, plain, "{} decrypt len {len}", p.name);
                // Decrypting random data agrees too (not only our own ciphertexts).
                let mut junk = rng.bytes(data.len());
                let mut want = junk.clone();
                oracle.decrypt(&iv, &mut want).unwrap();
                ours.decrypt(&iv, &mut junk).unwrap();
                assert_eq!(junk, want, "{} decrypt random len {len}", p.name);
            }
        }
    }
}

#[test]
fn sm4_gcm_matches_the_oracle() {
    let mut rng = Rng::new(0x6c3);
    for p in providers() {
        for len in lengths(&mut rng) {
            for _ in 0..iterations(len) {
                let key: [u8; 16] = rng.array();
                let nonce: [u8; 12] = rng.array();
                let aad_len = rng.below(70);
                let aad = rng.bytes(aad_len);
                let ours = p.sm4_gcm.new_key(&key).unwrap();
                let oracle = ORACLE.sm4_gcm.new_key(&key).unwrap();
                let plain = rng.bytes(len);
                let mut want = plain.clone();
                let want_tag = oracle.seal(&nonce, &aad, &mut want).unwrap();
                let mut data = plain.clone();
                let tag = ours.seal(&nonce, &aad, &mut data).unwrap();
                assert_eq!(data, want, "{} seal len {len} aad {aad_len}", p.name);
                assert_eq!(tag, want_tag, "{} tag len {len} aad {aad_len}", p.name);
                let mut opened = data.clone();
                ours.open(&nonce, &aad, &mut opened, &tag).unwrap();
                assert_eq!(opened, plain, "{} open len {len}", p.name);
            }
        }
    }
}

/// Nonce, AAD, tag, and what was changed.
type Tampered<'a> = (&'a [u8; 12], &'a [u8], &'a [u8; 16], &'static str);

#[test]
fn sm4_gcm_refuses_any_change() {
    let mut rng = Rng::new(0xbad);
    for p in providers() {
        for len in [0usize, 1, 16, 17, 255, 4096] {
            let key = p.sm4_gcm.new_key(&rng.array::<16>()).unwrap();
            let nonce: [u8; 12] = rng.array();
            let aad = rng.bytes(13);
            let mut data = rng.bytes(len);
            let tag = key.seal(&nonce, &aad, &mut data).unwrap();

            let mut bad_tag = tag;
            bad_tag[rng.below(16)] ^= 1 << rng.below(8);
            let mut bad_aad = aad.clone();
            bad_aad[rng.below(13)] ^= 0x80;
            let mut bad_nonce = nonce;
            bad_nonce[rng.below(12)] ^= 1;
            let cases: [Tampered<'_>; 4] = [
                (&nonce, &aad, &bad_tag, "tag"),
                (&nonce, &bad_aad, &tag, "aad"),
                (&bad_nonce, &aad, &tag, "nonce"),
                (&nonce, &aad[..12], &tag, "truncated aad"),
            ];
            for (n, a, t, what) in cases {
                let mut c = data.clone();
                assert_eq!(key.open(n, a, &mut c, t), Err(Error::DecryptionFailed), "{} {what} len {len}", p.name);
                assert_eq!(c, data, "{}: nothing is decrypted when the tag fails", p.name);
            }
            if len > 0 {
                let mut c = data.clone();
                c[rng.below(len)] ^= 4;
                assert_eq!(key.open(&nonce, &aad, &mut c, &tag), Err(Error::DecryptionFailed), "{} ciphertext", p.name);
            }
            let other = p.sm4_gcm.new_key(&rng.array::<16>()).unwrap();
            let mut c = data.clone();
            assert_eq!(other.open(&nonce, &aad, &mut c, &tag), Err(Error::DecryptionFailed), "{} key", p.name);
            let mut c = data.clone();
            key.open(&nonce, &aad, &mut c, &tag).unwrap();
        }
    }
}

#[test]
fn ecb_blocks_agree_across_backends() {
    use wearpay_shangmi::sm4::{Backend, Sm4Key};
    let mut rng = Rng::new(0xecb);
    let backends: Vec<Backend> = Backend::ALL.into_iter().filter(|b| b.is_supported()).collect();
    for blocks in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100] {
        let key: [u8; 16] = rng.array();
        let data = rng.bytes(16 * blocks);
        let mut want = data.clone();
        let oracle = ORACLE.sm4_cbc.new_key(&key).unwrap();
        for b in want.chunks_exact_mut(16) {
            oracle.encrypt(&[0; 16], b).unwrap();
        }
        for &b in &backends {
            let k = Sm4Key::with_backend(&key, b).unwrap();
            let mut got = data.clone();
            k.encrypt_blocks(&mut got).unwrap();
            assert_eq!(got, want, "{b:?} {blocks} blocks");
            k.decrypt_blocks(&mut got).unwrap();
            assert_eq!(got, data, "{b:?} {blocks} blocks");
        }
    }
    let k = Sm4Key::new(&[0; 16]);
    assert_eq!(k.encrypt_blocks(&mut [0u8; 17]), Err(Error::InvalidLength));
}
