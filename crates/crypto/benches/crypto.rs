//! Criterion benchmarks of the portable provider: what a TLCP handshake and its records cost.
//!
//! `cargo bench -p wearpay-crypto -- --warm-up-time 1 --measurement-time 3` for a quick run.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use core::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wearpay_crypto::{DEFAULT_SM2_ID, PublicKey, SignatureScheme, portable::PROVIDER as P};

const RECORD: usize = 16 * 1024;

fn sm2(c: &mut Criterion) {
    let key = P.sm2.generate(P.random).unwrap();
    let PublicKey::Sm2(public) = common::public_of(&*key) else { panic!() };
    let msg = [0x5au8; 200];
    let sig = key.sign(&msg).unwrap();
    let pms = [0x03u8; 48];
    let ct = P.sm2.encrypt(&public, &pms, P.random).unwrap();

    let mut g = c.benchmark_group("sm2");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(&msg)).unwrap()));
    g.bench_function("verify", |b| {
        b.iter(|| P.sm2.verify(&public, DEFAULT_SM2_ID, black_box(&msg), black_box(&sig)).unwrap())
    });
    g.bench_function("encrypt_48B", |b| b.iter(|| P.sm2.encrypt(&public, black_box(&pms), P.random).unwrap()));
    g.bench_function("decrypt_48B", |b| b.iter(|| key.decrypt(black_box(&ct)).unwrap()));
    g.finish();
}

fn rsa(c: &mut Criterion) {
    let rsa = P.rsa().unwrap();
    let key = rsa.from_pkcs1_der(&common::records("rsa.txt")[0].bytes("key")).unwrap();
    let PublicKey::Rsa(public) = common::public_of(&*key) else { panic!() };
    let msg = [0x5au8; 200];
    let sig = key.sign(&msg).unwrap();
    let pms = [0x03u8; 48];
    let ct = rsa.encrypt(&public, &pms, P.random).unwrap();

    let mut g = c.benchmark_group("rsa2048");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(&msg)).unwrap()));
    g.bench_function("verify", |b| {
        b.iter(|| rsa.verify(&public, SignatureScheme::RsaPkcs1Sha256, black_box(&msg), black_box(&sig)).unwrap())
    });
    g.bench_function("encrypt_48B", |b| b.iter(|| rsa.encrypt(&public, black_box(&pms), P.random).unwrap()));
    g.bench_function("decrypt_48B", |b| b.iter(|| key.decrypt(black_box(&ct)).unwrap()));
    g.finish();
}

fn hashes(c: &mut Criterion) {
    let data = vec![0xa5u8; RECORD];
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(RECORD as u64));
    for (name, h) in [("sm3", P.sm3), ("sha256", P.sha256)] {
        g.bench_with_input(BenchmarkId::new(name, "16KiB"), &data, |b, d| b.iter(|| h.hash(black_box(d))));
    }
    let mac = P.hmac(wearpay_crypto::HashAlgorithm::Sm3, &[7; 32]);
    g.bench_with_input(BenchmarkId::new("hmac_sm3", "16KiB"), &data, |b, d| b.iter(|| mac.sign(&[black_box(d)])));
    g.finish();
}

fn sm4(c: &mut Criterion) {
    let cbc = P.sm4_cbc.new_key(&[1; 16]).unwrap();
    let gcm = P.sm4_gcm.new_key(&[1; 16]).unwrap();
    let iv = [2u8; 16];
    let nonce = [3u8; 12];
    let aad = [4u8; 13];
    let mut buf = vec![0u8; RECORD];

    let mut g = c.benchmark_group("sm4");
    g.throughput(Throughput::Bytes(RECORD as u64));
    g.bench_function("cbc_encrypt_16KiB", |b| b.iter(|| cbc.encrypt(&iv, black_box(&mut buf)).unwrap()));
    g.bench_function("cbc_decrypt_16KiB", |b| b.iter(|| cbc.decrypt(&iv, black_box(&mut buf)).unwrap()));
    g.bench_function("gcm_seal_16KiB", |b| b.iter(|| gcm.seal(&nonce, &aad, black_box(&mut buf)).unwrap()));
    let mut sealed = vec![0u8; RECORD];
    let tag = gcm.seal(&nonce, &aad, &mut sealed).unwrap();
    g.bench_function("gcm_open_16KiB", |b| {
        b.iter(|| {
            // Opening decrypts in place; restore the ciphertext each time (a 16 KiB copy).
            buf.copy_from_slice(&sealed);
            gcm.open(&nonce, &aad, black_box(&mut buf), &tag).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, sm2, rsa, hashes, sm4);
criterion_main!(benches);
