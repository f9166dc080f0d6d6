//! A dudect-style timing check (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant
//! time?", 2017): the same operation is timed on a fixed secret and on random secrets, in a
//! random interleaving, and Welch's t-test compares the two distributions after cropping the
//! slowest measurements (interrupts, preemption). |t| above 10 is the method's "definitely
//! not constant time"; below 4.5 it finds no evidence of a leak.
//!
//! Timing depends on the machine and its load, so these tests are ignored by default and
//! are evidence, not a gate: `cargo test --release -p wearpay-shangmi --test timing --
//! --ignored --nocapture` prints the t statistics.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::{hint::black_box, time::Instant};

use common::Rng;
use wearpay_crypto::DEFAULT_SM2_ID;
use wearpay_shangmi::{
    PROVIDER,
    sm4::{Backend, Sm4Key},
};

/// The method's threshold for a leak beyond doubt.
const DEFINITE_LEAK: f64 = 10.0;

/// Welch's t statistic of two samples, after dropping the measurements above the
/// `keep` quantile of both together.
fn welch_t(samples: &[(bool, u64)], keep: f64) -> f64 {
    let mut all: Vec<u64> = samples.iter().map(|&(_, t)| t).collect();
    all.sort_unstable();
    let cut = all[((all.len() as f64 * keep) as usize).min(all.len() - 1)];
    let stats = |class: bool| {
        let xs: Vec<f64> = samples.iter().filter(|&&(c, t)| c == class && t <= cut).map(|&(_, t)| t as f64).collect();
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (n, mean, var)
    };
    let (n0, m0, v0) = stats(false);
    let (n1, m1, v1) = stats(true);
    (m0 - m1) / (v0 / n0 + v1 / n1).sqrt()
}

/// Times `op(i)` for every `i` in order; `classes[i]` says which class input `i` is. The
/// inputs of both classes sit interleaved in the same arrays, so that the memory access
/// pattern does not differ between the classes, only the values do.
fn measure(classes: &[bool], mut op: impl FnMut(usize)) -> Vec<(bool, u64)> {
    classes
        .iter()
        .enumerate()
        .map(|(i, &class)| {
            let start = Instant::now();
            op(i);
            (class, start.elapsed().as_nanos() as u64)
        })
        .collect()
}

fn report(name: &str, samples: &[(bool, u64)]) -> f64 {
    let worst = [0.5, 0.9, 0.99].map(|q| welch_t(samples, q)).into_iter().fold(0f64, |a, t| a.max(t.abs()));
    println!("{name}: max |t| over the 50/90/99th-percentile crops = {worst:.2} ({} measurements)", samples.len());
    worst
}

#[test]
#[ignore = "timing evidence, machine dependent: run with --ignored --nocapture"]
fn sm4_timing_does_not_depend_on_key_or_data() {
    const N: usize = 100_000;
    let mut rng = Rng::new(0x7);
    let classes: Vec<bool> = (0..N).map(|_| rng.next_u64() & 1 == 1).collect();
    // Class false: one fixed key and input; class true: fresh random ones.
    let inputs: Vec<([u8; 16], [u8; 64])> =
        classes.iter().map(|&c| if c { (rng.array(), rng.array()) } else { ([0x5a; 16], [0; 64]) }).collect();
    for backend in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
        let samples = measure(&classes, |i| {
            let (key, mut block) = inputs[i];
            // Key expansion and four blocks, both under the secret key.
            let key = Sm4Key::with_backend(black_box(&key), backend).unwrap();
            key.encrypt_blocks(black_box(&mut block)).unwrap();
            black_box(block);
        });
        let t = report(&format!("SM4 {backend:?}, key expansion + 4 blocks"), &samples);
        assert!(t < DEFINITE_LEAK, "SM4 on {backend:?}: |t| = {t:.1}");
        // CBC encryption has its own sequential path on some back ends: the key is expanded
        // outside the measurement, the plaintext is the secret.
        let p = wearpay_shangmi::provider_with(backend);
        let fixed = p.sm4_cbc.new_key(&[0x5a; 16]).unwrap();
        let samples = measure(&classes, |i| {
            let (_, mut data) = inputs[i];
            fixed.encrypt(&[1; 16], black_box(&mut data)).unwrap();
            black_box(data);
        });
        let t = report(&format!("SM4 {backend:?}, CBC encryption of 4 blocks"), &samples);
        assert!(t < DEFINITE_LEAK, "SM4-CBC on {backend:?}: |t| = {t:.1}");
    }
}

#[test]
#[ignore = "timing evidence, machine dependent: run with --ignored --nocapture"]
fn sm2_signing_time_does_not_depend_on_the_key() {
    const KEYS: usize = 2000;
    let mut rng = Rng::new(0x8);
    let classes: Vec<bool> = (0..KEYS).map(|_| rng.next_u64() & 1 == 1).collect();
    // Class false: the same scalar each time; class true: random scalars (all below n − 1 with
    // overwhelming probability).
    let keys: Vec<_> = classes
        .iter()
        .map(|&c| {
            let scalar = if c { rng.bytes(32) } else { vec![0x11; 32] };
            PROVIDER.sm2.from_secret(&scalar, DEFAULT_SM2_ID).unwrap()
        })
        .collect();
    let classes: Vec<bool> = classes.iter().cycle().take(10 * KEYS).copied().collect();
    let samples = measure(&classes, |i| {
        black_box(keys[i % KEYS].sign(black_box(b"pay 12.00 CNY")).unwrap());
    });
    let t = report("SM2 sign", &samples);
    assert!(t < DEFINITE_LEAK, "SM2 signing: |t| = {t:.1}");
}
