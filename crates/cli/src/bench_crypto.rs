//! `wearpay bench crypto`: the ShangMi operations on the `shangmi` provider and on the
//! portable RustCrypto one, side by side in one run, with the ratio.
//!
//! Each operation runs for `--rounds` rounds on each provider, the providers taking turns
//! round by round so that a burst of load on a shared machine hits both alike; the median
//! round is reported. SM2 is measured on a 100-byte message and a 48-byte plaintext (a TLCP
//! pre-master secret); SM3 and SM4 on a 16 KiB record, the largest TLCP carries.
//!
//! `sm2_verify` and `sm2_encrypt` use one key, as a center verifies a band's requests and a
//! TLCP client encrypts to its center: shangmi keeps what it prepares for a key it sees
//! again. `sm2_verify_new_key` and `sm2_encrypt_new_key` take a different key each time,
//! from more keys than it keeps.
extern crate alloc;

use alloc::rc::Rc;
use core::cell::Cell;
use core::hint::black_box;
use core::time::Duration;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use wearpay_crypto::{
    AeadKey, CbcKey, CryptoProvider, DEFAULT_SM2_ID, PrivateKey, PublicKey, SigningKey, Sm2PublicKey, portable,
};

use crate::bench::median;

#[derive(Debug, Args)]
pub struct CryptoArgs {
    /// Measuring time for each operation on each provider, split into --rounds rounds.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    seconds: f64,
    /// How many rounds; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// Print JSON: a list of {"op", "unit", "shangmi", "rustcrypto"}.
    #[arg(long)]
    json: bool,
}

/// One operation's rates.
#[derive(Debug, Serialize)]
struct Figure {
    op: &'static str,
    unit: &'static str,
    shangmi: f64,
    rustcrypto: f64,
}

/// The size of a record: what SM3 and SM4 are measured on.
const RECORD: usize = 16 * 1024;

/// One provider's keys and inputs.
struct Bench {
    provider: CryptoProvider,
    key: Box<dyn PrivateKey>,
    public: Sm2PublicKey,
    signature: Vec<u8>,
    ciphertext: Vec<u8>,
    gcm: Box<dyn AeadKey>,
    cbc: Box<dyn CbcKey>,
    /// Keys each used once in turn, with a signature by each: shared by both providers.
    fresh: Rc<Vec<(Sm2PublicKey, Vec<u8>)>>,
    next: Cell<usize>,
}

/// How many keys the `_new_key` operations take in turn: more than shangmi keeps.
const FRESH_KEYS: usize = 5000;

/// A new SM2 key made with `provider`, its public key, and its signature of [`MESSAGE`].
fn signed_key(provider: &CryptoProvider) -> anyhow::Result<(Box<dyn PrivateKey>, Sm2PublicKey, Vec<u8>)> {
    let key = provider.sm2.generate(provider.random)?;
    let PublicKey::Sm2(public) = SigningKey::public_key(&*key) else { bail!("not an SM2 key") };
    let signature = key.sign(&MESSAGE)?;
    Ok((key, public, signature))
}

/// [`FRESH_KEYS`] keys and a signature by each, made with `provider`.
fn fresh_keys(provider: &CryptoProvider) -> anyhow::Result<Vec<(Sm2PublicKey, Vec<u8>)>> {
    (0..FRESH_KEYS).map(|_| signed_key(provider).map(|(_, public, signature)| (public, signature))).collect()
}

const MESSAGE: [u8; 100] = [0x5a; 100];
const PREMASTER: [u8; 48] = [0x48; 48];

impl Bench {
    fn new(provider: CryptoProvider, fresh: Rc<Vec<(Sm2PublicKey, Vec<u8>)>>) -> anyhow::Result<Self> {
        let (key, public, signature) = signed_key(&provider).context("SM2 key")?;
        let ciphertext = provider.sm2.encrypt(&public, &PREMASTER, provider.random)?;
        let gcm = provider.sm4_gcm.new_key(&[1; 16])?;
        let cbc = provider.sm4_cbc.new_key(&[1; 16])?;
        Ok(Self { provider, key, public, signature, ciphertext, gcm, cbc, fresh, next: Cell::new(0) })
    }

    /// The next of the keys taken in turn.
    fn fresh(&self) -> &(Sm2PublicKey, Vec<u8>) {
        let i = self.next.get();
        self.next.set((i + 1) % self.fresh.len());
        &self.fresh[i]
    }

    /// Runs operation `op` once (SM3 and SM4 on `buf`).
    fn run(&self, op: &str, buf: &mut [u8]) -> anyhow::Result<()> {
        let p = &self.provider;
        match op {
            "sm2_sign" => drop(black_box(self.key.sign(black_box(&MESSAGE))?)),
            "sm2_verify" => p.sm2.verify(&self.public, DEFAULT_SM2_ID, black_box(&MESSAGE), &self.signature)?,
            "sm2_encrypt" => drop(black_box(p.sm2.encrypt(&self.public, black_box(&PREMASTER), p.random)?)),
            "sm2_verify_new_key" => {
                let (public, signature) = self.fresh();
                p.sm2.verify(public, DEFAULT_SM2_ID, black_box(&MESSAGE), signature)?;
            }
            "sm2_encrypt_new_key" => {
                drop(black_box(p.sm2.encrypt(&self.fresh().0, black_box(&PREMASTER), p.random)?));
            }
            "sm2_decrypt" => drop(black_box(self.key.decrypt(black_box(&self.ciphertext))?)),
            "sm3" => drop(black_box(p.sm3.hash(black_box(buf)))),
            "sm4_gcm" => drop(black_box(self.gcm.seal(&[3; 12], &[4; 13], buf)?)),
            "sm4_cbc_encrypt" => self.cbc.encrypt(&[2; 16], buf)?,
            "sm4_cbc_decrypt" => self.cbc.decrypt(&[2; 16], buf)?,
            other => bail!("no operation {other}"),
        }
        Ok(())
    }
}

/// The operations, with their unit: SM2 per second, the rest in MB/s (10^6 bytes).
const OPS: [(&str, &str); 10] = [
    ("sm2_sign", "ops/s"),
    ("sm2_verify", "ops/s"),
    ("sm2_encrypt", "ops/s"),
    ("sm2_decrypt", "ops/s"),
    ("sm3", "MB/s"),
    ("sm4_gcm", "MB/s"),
    ("sm4_cbc_encrypt", "MB/s"),
    ("sm4_cbc_decrypt", "MB/s"),
    ("sm2_verify_new_key", "ops/s"),
    ("sm2_encrypt_new_key", "ops/s"),
];

/// Calls of `op` per second over one round of `round`.
fn rate(bench: &Bench, op: &str, buf: &mut [u8], round: Duration) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut n = 0u64;
    while n == 0 || start.elapsed() < round {
        bench.run(op, buf)?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

pub fn run(args: &CryptoArgs) -> anyhow::Result<ExitCode> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be positive");
    }
    let round = Duration::from_secs_f64(args.seconds / f64::from(args.rounds));
    let fresh = Rc::new(fresh_keys(&wearpay_shangmi::PROVIDER).context("SM2 keys")?);
    let fast = Bench::new(wearpay_shangmi::PROVIDER, fresh.clone())?;
    let portable = Bench::new(portable::PROVIDER, fresh)?;
    let mut buf = vec![0xa5u8; RECORD];
    if !args.json {
        println!(
            "ShangMi operations, one thread (median of {} rounds of {:.2} s; shangmi's SM4 back end: {:?})",
            args.rounds,
            round.as_secs_f64(),
            wearpay_shangmi::sm4::Backend::detected()
        );
        println!("{:<20} {:>6} {:>12} {:>12} {:>7}", "op", "unit", "shangmi", "rustcrypto", "ratio");
    }
    let mut figures = Vec::new();
    for (op, unit) in OPS {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            a.push(rate(&fast, op, &mut buf, round)?);
            b.push(rate(&portable, op, &mut buf, round)?);
        }
        let scale = if unit == "MB/s" { RECORD as f64 / 1e6 } else { 1.0 };
        let f = Figure { op, unit, shangmi: median(&a) * scale, rustcrypto: median(&b) * scale };
        if !args.json {
            let ratio = f.shangmi / f.rustcrypto;
            println!("{:<20} {:>6} {:>12.1} {:>12.1} {:>6.1}x", f.op, f.unit, f.shangmi, f.rustcrypto, ratio);
        }
        figures.push(f);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!("(sm2_verify and sm2_encrypt use one key throughout; the _new_key rows a new key each time)");
    }
    Ok(ExitCode::SUCCESS)
}
