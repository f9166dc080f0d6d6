//! Helpers shared by the integration tests: hex, the known-answer data files, and random
//! sources that tests can pin.
#![allow(dead_code, clippy::unwrap_used)]

use std::{path::PathBuf, sync::Mutex};

use wearpay_crypto::{Error, SecureRandom};

/// Decodes hex, ignoring spaces (the data files group bytes for reading).
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd-length hex: {s}");
    digits
        .chunks(2)
        .map(|pair| {
            u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap_or_else(|_| panic!("bad hex: {s}"))
        })
        .collect()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s
}

/// Fixed-size array from hex.
pub fn unhex_array<const N: usize>(s: &str) -> [u8; N] {
    unhex(s).try_into().unwrap_or_else(|v: Vec<u8>| panic!("expected {N} bytes, got {}", v.len()))
}

/// One record of a data file: `name = value` lines, in order.
#[derive(Debug, Clone)]
pub struct Record {
    /// Line number of the record's first field, for failure messages.
    pub line: usize,
    fields: Vec<(String, String)>,
}

impl Record {
    fn raw(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether the record has `name`.
    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// A field as text (quotes removed).
    pub fn text(&self, name: &str) -> &str {
        let v = self.raw(name).unwrap_or_else(|| panic!("line {}: no field {name}", self.line));
        v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
    }

    /// A field as bytes: `"quoted ASCII"` or hex.
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        let v = self.raw(name).unwrap_or_else(|| panic!("line {}: no field {name}", self.line));
        match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(text) => text.as_bytes().to_vec(),
            None => unhex(v),
        }
    }

    /// A field as a decimal number.
    pub fn num(&self, name: &str) -> u64 {
        self.text(name).parse().unwrap_or_else(|_| panic!("line {}: {name} is not a number", self.line))
    }
}

/// Reads `tests/data/NAME`: records separated by blank lines, `#` starts a comment line.
pub fn records(name: &str) -> Vec<Record> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", name].iter().collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut current: Option<Record> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            out.extend(current.take());
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{name}:{}: expected `name = value`", i + 1));
        current
            .get_or_insert_with(|| Record { line: i + 1, fields: Vec::new() })
            .fields
            .push((k.trim().to_owned(), v.trim().to_owned()));
    }
    out.extend(current);
    assert!(!out.is_empty(), "{name} has no records");
    out
}

/// A deterministic generator for test inputs (SplitMix64): the same seed gives the same run.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias does not matter for tests).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.fill(&mut v);
        v
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        self.fill(&mut a);
        a
    }
}

/// A [`SecureRandom`] that is not: seeded, so tests reproduce. Never outside tests.
#[derive(Debug)]
pub struct SeededRandom(Mutex<TestRng>);

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(TestRng::new(seed)))
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        self.0.lock().unwrap().fill(dest);
        Ok(())
    }
}

/// A [`SecureRandom`] that hands out the same bytes on every call (to inject a published k).
#[derive(Debug)]
pub struct FixedRandom(pub Vec<u8>);

impl SecureRandom for FixedRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
        Ok(())
    }
}

/// A [`SecureRandom`] that always fails.
#[derive(Debug)]
pub struct FailingRandom;

impl SecureRandom for FailingRandom {
    fn fill(&self, _dest: &mut [u8]) -> Result<(), Error> {
        Err(Error::Random)
    }
}

/// The public half of an in-memory key (`public_key` is on both supertraits).
pub fn public_of(key: &dyn wearpay_crypto::PrivateKey) -> wearpay_crypto::PublicKey {
    wearpay_crypto::SigningKey::public_key(key)
}
