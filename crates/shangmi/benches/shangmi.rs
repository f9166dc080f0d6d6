//! Criterion benchmarks: SM3 and SM4 on a 16 KiB record (the TLCP maximum), for each SM4
//! back end this CPU has and for the portable RustCrypto provider; SM2 signing, verification,
//! encryption and decryption of 48 bytes (a TLCP pre-master secret) and key generation,
//! shangmi against portable.
//!
//! `cargo bench -p wearpay-shangmi -- --warm-up-time 1 --measurement-time 3` for a quick run.
#![allow(clippy::unwrap_used, missing_docs)]

use core::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wearpay_crypto::{CryptoProvider, DEFAULT_SM2_ID, PublicKey, SigningKey, portable};
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

fn sm2(c: &mut Criterion) {
    let msg = [0x5au8; 100];
    let secret = [0x48u8; 48];
    let mut g = c.benchmark_group("sm2");
    for p in [portable::PROVIDER, wearpay_shangmi::PROVIDER] {
        let key = p.sm2.from_secret(&[0x17; 32], DEFAULT_SM2_ID).unwrap();
        let PublicKey::Sm2(public) = SigningKey::public_key(&*key) else { unreachable!() };
        let sig = key.sign(&msg).unwrap();
        let ct = p.sm2.encrypt(&public, &secret, p.random).unwrap();
        g.bench_function(BenchmarkId::new("sign", p.name), |b| b.iter(|| key.sign(black_box(&msg)).unwrap()));
        g.bench_function(BenchmarkId::new("verify", p.name), |b| {
            b.iter(|| p.sm2.verify(&public, DEFAULT_SM2_ID, black_box(&msg), &sig).unwrap())
        });
        g.bench_function(BenchmarkId::new("encrypt_48B", p.name), |b| {
            b.iter(|| p.sm2.encrypt(&public, black_box(&secret), p.random).unwrap())
        });
        g.bench_function(BenchmarkId::new("decrypt_48B", p.name), |b| b.iter(|| key.decrypt(black_box(&ct)).unwrap()));
        g.bench_function(BenchmarkId::new("keygen", p.name), |b| b.iter(|| p.sm2.generate(p.random).unwrap()));
    }
    // Each verification under a key not seen before: more keys than shangmi keeps prepared,
    // taken in turn, so each is gone (dropped as not asked for again) when its turn comes.
    let keys: Vec<_> = (0..5000u32)
        .map(|i| {
            let mut secret = [0x17; 32];
            secret[..4].copy_from_slice(&i.to_be_bytes());
            let key = portable::PROVIDER.sm2.from_secret(&secret, DEFAULT_SM2_ID).unwrap();
            let PublicKey::Sm2(public) = SigningKey::public_key(&*key) else { unreachable!() };
            (public, key.sign(&msg).unwrap())
        })
        .collect();
    let mut next = keys.iter().cycle();
    g.bench_function("verify_new_key/shangmi", |b| {
        b.iter(|| {
            let (public, sig) = next.next().unwrap();
            wearpay_shangmi::PROVIDER.sm2.verify(public, DEFAULT_SM2_ID, black_box(&msg), sig).unwrap()
        })
    });
    g.finish();
}

/// The pieces under SM2: field multiplication and inversion, and the scalar multiplications.
fn sm2_arithmetic(c: &mut Criterion) {
    use wearpay_shangmi::sm2::{
        field::{FieldElement, Scalar},
        point,
    };
    let x = FieldElement::from_be_bytes_reduced(&[0x35; 32]);
    let y = FieldElement::from_be_bytes_reduced(&[0x7b; 32]);
    let k = Scalar::from_be_bytes_reduced(&[0x6e; 32]);
    let mut g = c.benchmark_group("sm2_arithmetic");
    g.bench_function("field_mul", |b| b.iter(|| black_box(x).mul(&black_box(y))));
    g.bench_function("field_square", |b| b.iter(|| black_box(x).square()));
    g.bench_function("field_invert", |b| b.iter(|| black_box(x).invert()));
    g.bench_function("field_invert_vartime", |b| b.iter(|| black_box(x).invert_vartime()));
    g.bench_function("field_invert_fermat", |b| b.iter(|| black_box(x).invert_fermat()));
    g.bench_function("mul_base", |b| b.iter(|| point::mul_base(black_box(&k))));
    g.bench_function("mul_point", |b| b.iter(|| point::mul_point(black_box(&k), &point::GENERATOR)));
    g.bench_function("mul_double_vartime", |b| {
        b.iter(|| point::mul_double_vartime(black_box(&k), &k, &point::GENERATOR))
    });
    let split = point::SplitOddMultiples::new(&point::GENERATOR);
    g.bench_function("mul_double_vartime_split", |b| b.iter(|| split.mul_double_vartime(black_box(&k), &k)));
    g.bench_function("split_tables", |b| b.iter(|| point::SplitOddMultiples::new(black_box(&point::GENERATOR))));
    g.bench_function("comb_table", |b| b.iter(|| point::CombTable::new(black_box(&point::GENERATOR))));
    g.finish();
}

criterion_group!(benches, sm3, sm4, sm2, sm2_arithmetic);
criterion_main!(benches);
