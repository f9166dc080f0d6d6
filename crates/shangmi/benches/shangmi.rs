//! Criterion benchmarks: SM3 and SM4 on a 16 KiB record (the TLCP maximum), for each SM4
//! back end this CPU has and for the portable RustCrypto provider.
//!
//! `cargo bench -p wearpay-shangmi -- --warm-up-time 1 --measurement-time 3` for a quick run.
#![allow(clippy::unwrap_used, missing_docs)]

use core::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wearpay_crypto::{CryptoProvider, portable};
use wearpay_shangmi::{provider_with, sm4::Backend};

const RECORD: usize = 16 * 1024;

fn providers() -> Vec<CryptoProvider> {
    let mut v = vec![portable::PROVIDER];
    v.extend(Backend::ALL.into_iter().filter(|b| b.is_supported()).map(provider_with));
    v
}

fn sm3(c: &mut Criterion) {
    let data = vec![0xa5u8; RECORD];
    let mut g = c.benchmark_group("sm3");
    g.throughput(Throughput::Bytes(RECORD as u64));
    // SM3 does not depend on the SM4 back end: one shangmi entry.
    for p in [portable::PROVIDER, wearpay_shangmi::PROVIDER] {
        g.bench_with_input(BenchmarkId::new(p.name, "16KiB"), &data, |b, d| b.iter(|| p.sm3.hash(black_box(d))));
    }
    g.finish();
}

fn sm4(c: &mut Criterion) {
    let iv = [2u8; 16];
    let nonce = [3u8; 12];
    let aad = [4u8; 13];
    let mut buf = vec![0u8; RECORD];
    let mut g = c.benchmark_group("sm4");
    g.throughput(Throughput::Bytes(RECORD as u64));
    for p in providers() {
        let cbc = p.sm4_cbc.new_key(&[1; 16]).unwrap();
        let gcm = p.sm4_gcm.new_key(&[1; 16]).unwrap();
        g.bench_function(BenchmarkId::new("cbc_encrypt_16KiB", p.name), |b| {
            b.iter(|| cbc.encrypt(&iv, black_box(&mut buf)).unwrap())
        });
        g.bench_function(BenchmarkId::new("cbc_decrypt_16KiB", p.name), |b| {
            b.iter(|| cbc.decrypt(&iv, black_box(&mut buf)).unwrap())
        });
        g.bench_function(BenchmarkId::new("gcm_seal_16KiB", p.name), |b| {
            b.iter(|| gcm.seal(&nonce, &aad, black_box(&mut buf)).unwrap())
        });
        let mut sealed = vec![0u8; RECORD];
        let tag = gcm.seal(&nonce, &aad, &mut sealed).unwrap();
        g.bench_function(BenchmarkId::new("gcm_open_16KiB", p.name), |b| {
            b.iter(|| {
                let mut m = sealed.clone();
                gcm.open(&nonce, &aad, black_box(&mut m), &tag).unwrap();
                m
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sm3, sm4);
criterion_main!(benches);
