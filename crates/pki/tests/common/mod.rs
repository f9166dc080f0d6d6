//! Shared helpers for the pki tests: a provider, fixed times, a three-level PKI, and the
//! rule for external tools.
#![allow(dead_code, clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use wearpay_crypto::{CryptoProvider, KeyAlgorithm, PrivateKey, SigningKey, portable::PROVIDER};
use wearpay_pki::{Certificate, CertificateBuilder, DistinguishedName, Role, UnixTime};

pub static P: &CryptoProvider = &PROVIDER;

/// 2026-12-01T00:00:00Z: inside every test validity period.
pub const NOW: UnixTime = UnixTime(1_796_083_200);

pub fn dn(s: &str) -> DistinguishedName {
    DistinguishedName::parse(s).unwrap()
}

/// The recorded Tongsuo sessions beside the repository.
pub fn vectors() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp"))
}

/// The public half of an in-memory key (both key traits have `public_key`).
pub fn pk(k: &dyn PrivateKey) -> wearpay_crypto::PublicKey {
    SigningKey::public_key(k)
}

pub fn key(alg: KeyAlgorithm) -> Box<dyn PrivateKey> {
    wearpay_pki::generate_key(P, alg).unwrap()
}

/// Cached keys so that RSA generation does not dominate the test time.
pub fn cached_key(alg: KeyAlgorithm, slot: usize) -> Box<dyn PrivateKey> {
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<Vec<(KeyAlgorithm, usize, Vec<u8>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut guard = cache.lock().unwrap();
    if let Some((_, _, der)) = guard.iter().find(|(a, s, _)| *a == alg && *s == slot) {
        return wearpay_pki::keys::load_pkcs8(P, der).unwrap();
    }
    let k = key(alg);
    guard.push((alg, slot, wearpay_pki::private_key_to_pkcs8(&*k).unwrap().to_vec()));
    k
}

/// A root, an issuing CA under it, and the keys.
pub struct Pki {
    pub alg: KeyAlgorithm,
    pub root: Certificate,
    pub root_key: Box<dyn PrivateKey>,
    pub ca: Certificate,
    pub ca_key: Box<dyn PrivateKey>,
}

impl Pki {
    /// With keys shared by every `Pki::new` of the same algorithm (RSA generation is slow).
    pub fn new(alg: KeyAlgorithm) -> Self {
        Self::with_keys(alg, cached_key(alg, 0), cached_key(alg, 1))
    }

    /// With keys of its own.
    pub fn fresh(alg: KeyAlgorithm) -> Self {
        Self::with_keys(alg, key(alg), key(alg))
    }

    fn with_keys(alg: KeyAlgorithm, root_key: Box<dyn PrivateKey>, ca_key: Box<dyn PrivateKey>) -> Self {
        let root = CertificateBuilder::new(Role::RootCa, dn("C=CN,O=wearpay test,CN=Test Root"), pk(&*root_key))
            .validity(NOW.minus_secs(86_400), NOW.plus_days(3650))
            .self_sign(P, &*root_key)
            .unwrap();
        let ca = CertificateBuilder::new(Role::IssuingCa, dn("C=CN,O=wearpay test,CN=Test Issuing CA"), pk(&*ca_key))
            .validity(NOW.minus_secs(86_400), NOW.plus_days(1825))
            .sign(P, &root, &*root_key)
            .unwrap();
        Self { alg, root, root_key, ca, ca_key }
    }

    /// A leaf of `role` issued by the issuing CA, valid from yesterday for a year.
    pub fn leaf(&self, role: Role, cn: &str) -> (Certificate, Box<dyn PrivateKey>) {
        let k = cached_key(self.alg, 2);
        let cert = CertificateBuilder::new(role, dn(&format!("C=CN,O=wearpay test,CN={cn}")), pk(&*k))
            .validity(NOW.minus_secs(86_400), NOW.plus_days(365))
            .sign(P, &self.ca, &*self.ca_key)
            .unwrap();
        (cert, k)
    }

    pub fn roots(&self) -> Vec<Certificate> {
        vec![self.root.clone()]
    }

    pub fn chain(&self) -> Vec<Certificate> {
        vec![self.ca.clone()]
    }
}

pub const RSA: KeyAlgorithm = KeyAlgorithm::Rsa(2048);
pub const SM2: KeyAlgorithm = KeyAlgorithm::Sm2;

/// Whether an external tool can be used. Missing and `WEARPAY_REQUIRE_INTEROP` set: the
/// test fails, saying which tool; missing and unset: a note, and the test returns early.
pub fn have_tool(name: &str, probe: &[&str]) -> bool {
    let ok = Command::new(name).args(probe).output().is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    if std::env::var_os("WEARPAY_REQUIRE_INTEROP").is_some() {
        panic!("`{name}` is required (WEARPAY_REQUIRE_INTEROP is set) but `{name} {}` failed", probe.join(" "));
    }
    eprintln!("note: `{name}` not available; skipping this interoperability check");
    false
}

pub fn have_openssl() -> bool {
    have_tool("openssl", &["version"])
}

pub fn have_gmssl() -> bool {
    have_tool("python3", &["-c", "import gmssl.sm2"])
}

/// Runs a command; returns (success, stdout + stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

pub fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// A deterministic generator for mutation tests (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Changes the seconds of the first UTCTime in `der` (so a signed structure stays
/// well-formed but no longer matches its signature).
pub fn flip_first_utc_time(der: &[u8]) -> Vec<u8> {
    let pos = der.windows(2).position(|w| w == [0x17, 0x0d]).unwrap();
    let mut out = der.to_vec();
    out[pos + 2 + 11] ^= 1;
    out
}
