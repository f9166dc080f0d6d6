//! A software secure element for the simulator and tests: all of its state sealed in one
//! file.
//!
//! # The file
//!
//! ```text
//! magic "WPSE" | version 1 | kdf 1 | iterations u32 | salt [16] | check [16] | nonce [12] | length u32
//! | SM4-GCM ciphertext of the state (length bytes) | tag [16]
//! ```
//!
//! Integers are big-endian. The 58-byte header is the additional authenticated data.
//! `kdf 1` is PBKDF2-HMAC-SM3 over the device secret and the salt, giving a 32-byte master
//! secret `M`; the state key is the first 16 bytes of HMAC-SM3(`M`, "wearpay se state
//! key") and `check` the first 16 of HMAC-SM3(`M`, "wearpay se check"), so a wrong secret
//! is told apart from an altered state. Every write draws a fresh random nonce.
//!
//! The band's other sealed file, its TLCP sessions ([`crate::SealedSessionStore`]), is
//! sealed the same way (SM4-GCM, header as additional data, fresh nonce, atomic write)
//! under its own key, the first 16 bytes of HMAC-SM3(`M`, "wearpay se sessions key").
//!
//! The state inside holds the private key as PKCS#8, the counter, the time floor, the
//! pending requests and the settled payments; the key is never on disk in clear.
//!
//! # Durability
//!
//! Every change is written to a temporary file in the same directory, flushed to disk,
//! renamed over the state file, and the directory is flushed: the file is always either
//! the old state or the new one. A change is made on a copy of the state and kept only once
//! it is on disk, so the counter handed out is always one that was persisted.
use alloc::{sync::Arc, vec::Vec};
use core::fmt;
use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use wearpay_crypto::{
    Capabilities, DecryptingKey, GCM_NONCE_LEN, GCM_TAG_LEN, HashAlgorithm, KeyAlgorithm, PrivateKey, PublicKey,
    SigningKey, Zeroizing, ct_eq, pbkdf2_hmac,
};
use wearpay_pay::{BiometricMatch, Counter, Mode, OrderId, Press, Timestamp, TxId, WornAttestation};
use wearpay_pki::{generate_key, keys::load_pkcs8, private_key_to_pkcs8};

use crate::{Error, PROVIDER, PendingRequest, SecureElement, SettledPayment};

const MAGIC: &[u8; 4] = b"WPSE";
const VERSION: u8 = 1;
const KDF_PBKDF2_HMAC_SM3: u8 = 1;
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const HEADER_LEN: usize = 4 + 1 + 1 + 4 + SALT_LEN + CHECK_LEN + GCM_NONCE_LEN + 4;
/// The header before the nonce: what [`seal_file`] calls the prefix.
const PREFIX_LEN: usize = HEADER_LEN - GCM_NONCE_LEN - 4;
const STATE_VERSION: u8 = 1;

/// PBKDF2 iterations of a new state file.
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// The most iterations a state file may ask for (a forged header must not stall the band).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// How many settled payments are kept; the oldest go first.
pub const MAX_SETTLED: usize = 1_000;

/// What the simulated user does when the band asks: scripted answers for tests and the
/// simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedUser {
    /// Whether the element sees the button pressed when the band asks for the press.
    pub button: bool,
    /// When the band was last unlocked; `None` while it is locked.
    pub unlocked_at: Option<Timestamp>,
    /// Whether the skin sensor saw the band worn the whole time since the unlock.
    pub worn_since_unlock: bool,
    /// What the matcher answers; `None`: no finger on the sensor.
    pub biometric: Option<BiometricMatch>,
}

impl Default for SimulatedUser {
    /// A user who presses the button, with the band locked and no finger on the sensor.
    fn default() -> Self {
        Self { button: true, unlocked_at: None, worn_since_unlock: false, biometric: None }
    }
}

/// The persistent state.
#[derive(Clone, Default)]
struct State {
    key_pkcs8: Zeroizing<Vec<u8>>,
    counter: u64,
    floor: u64,
    pending: Vec<PendingRequest>,
    settled: Vec<SettledPayment>,
}

/// The key-derivation part of the header.
#[derive(Clone, Copy)]
struct Kdf {
    iterations: u32,
    salt: [u8; SALT_LEN],
    check: [u8; CHECK_LEN],
}

/// A software secure element whose state is sealed in one file.
pub struct SoftSe {
    path: PathBuf,
    kdf: Kdf,
    state_key: Zeroizing<[u8; 16]>,
    sessions_key: Zeroizing<[u8; 16]>,
    state: State,
    key: Option<Arc<dyn PrivateKey>>,
    user: SimulatedUser,
    capabilities: Capabilities,
}

impl fmt::Debug for SoftSe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftSe")
            .field("path", &self.path)
            .field("has_key", &self.key.is_some())
            .field("counter", &self.state.counter)
            .field("floor", &self.state.floor)
            .field("pending", &self.state.pending.len())
            .finish_non_exhaustive()
    }
}

/// A 16-byte key from the master secret, separated by its label.
type Key16 = Zeroizing<[u8; 16]>;

/// Derives (state key, sessions key, check value) from the device secret.
fn derive(secret: &[u8], salt: &[u8; SALT_LEN], iterations: u32) -> (Key16, Key16, [u8; CHECK_LEN]) {
    let mut master = Zeroizing::new([0u8; 32]);
    pbkdf2_hmac(PROVIDER.sm3, secret, salt, iterations, master.as_mut());
    let mac = PROVIDER.hmac(HashAlgorithm::Sm3, master.as_ref());
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&mac.sign(&[b"wearpay se state key"]).as_ref()[..16]);
    let mut sessions_key = Zeroizing::new([0u8; 16]);
    sessions_key.copy_from_slice(&mac.sign(&[b"wearpay se sessions key"]).as_ref()[..16]);
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&mac.sign(&[b"wearpay se check"]).as_ref()[..CHECK_LEN]);
    (key, sessions_key, check)
}

impl SoftSe {
    /// Creates a new state file at `path` (which must not exist), sealed under
    /// `device_secret` with [`DEFAULT_ITERATIONS`].
    pub fn create(path: impl AsRef<Path>, device_secret: &[u8]) -> Result<Self, Error> {
        Self::create_with_iterations(path, device_secret, DEFAULT_ITERATIONS)
    }

    /// As [`SoftSe::create`] with a given PBKDF2 iteration count (tests use few).
    pub fn create_with_iterations(
        path: impl AsRef<Path>,
        device_secret: &[u8],
        iterations: u32,
    ) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(Error::StateMalformed("iteration count out of range"));
        }
        if path.exists() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the state file exists").into());
        }
        let mut salt = [0u8; SALT_LEN];
        PROVIDER.fill_random(&mut salt)?;
        let (state_key, sessions_key, check) = derive(device_secret, &salt, iterations);
        let this = Self {
            path,
            kdf: Kdf { iterations, salt, check },
            state_key,
            sessions_key,
            state: State::default(),
            key: None,
            user: SimulatedUser::default(),
            capabilities: PROVIDER.capabilities(),
        };
        this.write(&this.state)?;
        Ok(this)
    }

    /// Opens the state file at `path` with `device_secret`.
    ///
    /// Refused with a typed error: [`Error::NotSealedState`] (no magic),
    /// [`Error::UnsupportedStateVersion`], [`Error::StateTruncated`] (length differs from
    /// the header's), [`Error::WrongSecret`], [`Error::StateTampered`] (does not
    /// authenticate), [`Error::StateMalformed`].
    pub fn open(path: impl AsRef<Path>, device_secret: &[u8]) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let file = Zeroizing::new(fs::read(&path)?);
        let (kdf, state_key, sessions_key, state) = unseal(&file, device_secret)?;
        let key = if state.key_pkcs8.is_empty() {
            None
        } else {
            let key: Arc<dyn PrivateKey> =
                load_pkcs8(&PROVIDER, &state.key_pkcs8).map_err(|_| Error::StateMalformed("the key"))?.into();
            Some(key)
        };
        Ok(Self {
            path,
            kdf,
            state_key,
            sessions_key,
            state,
            key,
            user: SimulatedUser::default(),
            capabilities: PROVIDER.capabilities(),
        })
    }

    /// Sets what the simulated user does from now on.
    pub fn set_user(&mut self, user: SimulatedUser) {
        self.user = user;
    }

    /// What the simulated user does.
    pub fn user(&self) -> &SimulatedUser {
        &self.user
    }

    /// Simulates a chip with other capabilities (an SM1 chip, an SM-only chip).
    pub fn set_capabilities(&mut self, capabilities: Capabilities) {
        self.capabilities = capabilities;
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seals `state` and writes it atomically.
    fn write(&self, state: &State) -> Result<(), Error> {
        let sealed = seal(&self.kdf, &self.state_key, state)?;
        write_atomically(&self.path, &sealed)?;
        Ok(())
    }

    /// Applies `change` to a copy of the state, persists it, and only then keeps it.
    fn commit(&mut self, change: impl FnOnce(&mut State) -> Result<(), Error>) -> Result<(), Error> {
        let mut next = self.state.clone();
        change(&mut next)?;
        self.write(&next)?;
        self.state = next;
        Ok(())
    }

    fn key(&self) -> Result<&Arc<dyn PrivateKey>, Error> {
        self.key.as_ref().ok_or(Error::NoKey)
    }

    /// The key the band's TLCP sessions file is sealed under (derived with the state key).
    pub(crate) fn sessions_key(&self) -> &[u8; 16] {
        &self.sessions_key
    }
}

impl SecureElement for SoftSe {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn generate_key(&mut self, alg: KeyAlgorithm) -> Result<PublicKey, Error> {
        if self.key.is_some() {
            return Err(Error::KeyExists);
        }
        let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, alg)?.into();
        let pkcs8 = private_key_to_pkcs8(&*key)?;
        self.commit(|s| {
            s.key_pkcs8 = pkcs8;
            Ok(())
        })?;
        let public = SigningKey::public_key(&*key);
        self.key = Some(key);
        Ok(public)
    }

    fn public_key(&self) -> Result<PublicKey, Error> {
        Ok(SigningKey::public_key(&**self.key()?))
    }

    fn signing_key(&self) -> Result<Arc<dyn SigningKey>, Error> {
        let key: Arc<dyn SigningKey> = self.key()?.clone();
        Ok(key)
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        Ok(DecryptingKey::decrypt(&**self.key()?, ciphertext)?)
    }

    fn random(&self, dest: &mut [u8]) -> Result<(), Error> {
        Ok(PROVIDER.fill_random(dest)?)
    }

    fn next_counter(&mut self) -> Result<Counter, Error> {
        self.commit(|s| {
            s.counter = s.counter.checked_add(1).ok_or(Error::CounterExhausted)?;
            Ok(())
        })?;
        Ok(Counter(self.state.counter))
    }

    fn counter(&self) -> Counter {
        Counter(self.state.counter)
    }

    fn press(&mut self, tx_id: &TxId, at: Timestamp) -> Result<Press, Error> {
        if !self.user.button {
            return Err(Error::NoPress);
        }
        Ok(Press { tx_id: *tx_id, at })
    }

    fn worn_attestation(&mut self) -> Result<WornAttestation, Error> {
        let unlocked_at = self.user.unlocked_at.ok_or(Error::VerificationFailed(Mode::Quick))?;
        Ok(WornAttestation { unlocked_at, worn_since_unlock: self.user.worn_since_unlock })
    }

    fn biometric_match(&mut self) -> Result<BiometricMatch, Error> {
        self.user.biometric.clone().ok_or(Error::VerificationFailed(Mode::Biometric))
    }

    fn time_floor(&self) -> Timestamp {
        Timestamp(self.state.floor)
    }

    fn store_pending(&mut self, pending: PendingRequest) -> Result<(), Error> {
        self.commit(|s| {
            s.pending.retain(|p| p.tx_id != pending.tx_id);
            s.pending.push(pending);
            Ok(())
        })
    }

    fn pending(&self) -> Vec<PendingRequest> {
        self.state.pending.clone()
    }

    fn settle(&mut self, settled: SettledPayment, center_time: Option<Timestamp>) -> Result<(), Error> {
        self.commit(|s| {
            s.pending.retain(|p| p.tx_id != settled.tx_id);
            s.settled.retain(|p| p.tx_id != settled.tx_id);
            s.settled.push(settled);
            if s.settled.len() > MAX_SETTLED {
                let excess = s.settled.len() - MAX_SETTLED;
                s.settled.drain(..excess);
            }
            if let Some(t) = center_time {
                s.floor = s.floor.max(t.0);
            }
            Ok(())
        })
    }

    fn settled(&self) -> Vec<SettledPayment> {
        self.state.settled.clone()
    }
}

// ---- sealing ----

fn seal(kdf: &Kdf, state_key: &[u8; 16], state: &State) -> Result<Vec<u8>, Error> {
    let mut body = encode_state(state);
    let mut prefix = Vec::with_capacity(PREFIX_LEN);
    prefix.extend_from_slice(MAGIC);
    prefix.push(VERSION);
    prefix.push(KDF_PBKDF2_HMAC_SM3);
    prefix.extend_from_slice(&kdf.iterations.to_be_bytes());
    prefix.extend_from_slice(&kdf.salt);
    prefix.extend_from_slice(&kdf.check);
    seal_file(state_key, &prefix, &mut body)
}

/// The sealing of every file the band keeps: `prefix | nonce [12] | length u32 |
/// ciphertext | tag [16]`, SM4-GCM under `key` with a fresh random nonce, everything before
/// the ciphertext authenticated as additional data. `body` is enciphered in place.
pub(crate) fn seal_file(key: &[u8; 16], prefix: &[u8], body: &mut [u8]) -> Result<Vec<u8>, Error> {
    let len = u32::try_from(body.len()).map_err(|_| Error::StateMalformed("state too large"))?;
    let mut nonce = [0u8; GCM_NONCE_LEN];
    PROVIDER.fill_random(&mut nonce)?;
    let mut out = Vec::with_capacity(prefix.len() + GCM_NONCE_LEN + 4 + body.len() + GCM_TAG_LEN);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&len.to_be_bytes());
    let key = PROVIDER.sm4_gcm.new_key(key)?;
    let tag = key.seal(&nonce, &out, &mut body[..])?;
    out.extend_from_slice(body);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens what [`seal_file`] sealed with a prefix of `prefix_len` bytes (which the caller
/// has checked): [`Error::StateTruncated`] when the length differs from the header's,
/// [`Error::StateTampered`] when it does not authenticate under `key`.
pub(crate) fn open_file(key: &[u8; 16], prefix_len: usize, file: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let header_len = prefix_len + GCM_NONCE_LEN + 4;
    if file.len() < header_len + GCM_TAG_LEN {
        return Err(Error::StateTruncated);
    }
    let (header, rest) = file.split_at(header_len);
    let mut nonce = [0u8; GCM_NONCE_LEN];
    nonce.copy_from_slice(&header[prefix_len..prefix_len + GCM_NONCE_LEN]);
    let len = be_u32(&header[prefix_len + GCM_NONCE_LEN..]) as usize;
    if rest.len() != len.saturating_add(GCM_TAG_LEN) {
        return Err(Error::StateTruncated);
    }
    let (ciphertext, tag) = rest.split_at(len);
    let mut tag_arr = [0u8; GCM_TAG_LEN];
    tag_arr.copy_from_slice(tag);
    let mut body = Zeroizing::new(ciphertext.to_vec());
    let key = PROVIDER.sm4_gcm.new_key(key)?;
    key.open(&nonce, header, &mut body, &tag_arr).map_err(|_| Error::StateTampered)?;
    Ok(body)
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn unseal(file: &[u8], secret: &[u8]) -> Result<(Kdf, Key16, Key16, State), Error> {
    if file.get(..4) != Some(MAGIC.as_slice()) {
        return Err(Error::NotSealedState);
    }
    if file.len() < HEADER_LEN + GCM_TAG_LEN {
        return Err(Error::StateTruncated);
    }
    let (header, rest) = file.split_at(HEADER_LEN);
    if header[4] != VERSION {
        return Err(Error::UnsupportedStateVersion(header[4]));
    }
    if header[5] != KDF_PBKDF2_HMAC_SM3 {
        return Err(Error::StateMalformed("unknown key derivation"));
    }
    let iterations = be_u32(&header[6..10]);
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(Error::StateMalformed("iteration count out of range"));
    }
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&header[10..10 + SALT_LEN]);
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&header[26..26 + CHECK_LEN]);
    let len = be_u32(&header[54..58]) as usize;
    if rest.len() != len.saturating_add(GCM_TAG_LEN) {
        return Err(Error::StateTruncated);
    }

    let (state_key, sessions_key, expected) = derive(secret, &salt, iterations);
    if !ct_eq(&check, &expected) {
        return Err(Error::WrongSecret);
    }
    let body = open_file(&state_key, PREFIX_LEN, file)?;
    let state = decode_state(&body)?;
    Ok((Kdf { iterations, salt, check }, state_key, sessions_key, state))
}

/// Writes `bytes` to `path` through a temporary file in the same directory: write, flush to
/// disk, rename, flush the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    // The rename itself must reach the disk; directories can be opened and synced on Unix.
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

// ---- the state's encoding: big-endian integers, length-prefixed byte strings ----

fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    // Every field is bounded far below 4 GiB (messages are at most 8 KiB).
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn encode_state(s: &State) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(256 + s.key_pkcs8.len()));
    out.push(STATE_VERSION);
    put_bytes32(&mut out, &s.key_pkcs8);
    out.extend_from_slice(&s.counter.to_be_bytes());
    out.extend_from_slice(&s.floor.to_be_bytes());
    out.extend_from_slice(&(s.pending.len() as u32).to_be_bytes());
    for p in &s.pending {
        out.extend_from_slice(&p.tx_id.0);
        put_bytes32(&mut out, p.order_id.as_str().as_bytes());
        put_bytes32(&mut out, &p.request);
    }
    out.extend_from_slice(&(s.settled.len() as u32).to_be_bytes());
    for p in &s.settled {
        out.extend_from_slice(&p.tx_id.0);
        put_bytes32(&mut out, &p.request);
        put_bytes32(&mut out, &p.response);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::StateMalformed("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(be_u32(self.take(4)?))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn tx_id(&mut self) -> Result<TxId, Error> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16)?);
        Ok(TxId(a))
    }
}

fn decode_state(body: &[u8]) -> Result<State, Error> {
    let mut r = Reader(body);
    if r.u8()? != STATE_VERSION {
        return Err(Error::StateMalformed("unknown state version"));
    }
    let key_pkcs8 = Zeroizing::new(r.bytes()?.to_vec());
    let counter = r.u64()?;
    let floor = r.u64()?;
    let n = r.u32()?;
    let mut pending = Vec::new();
    for _ in 0..n {
        let tx_id = r.tx_id()?;
        let order = core::str::from_utf8(r.bytes()?).map_err(|_| Error::StateMalformed("order id"))?;
        let order_id = OrderId::new(order).map_err(|_| Error::StateMalformed("order id"))?;
        let request = r.bytes()?.to_vec();
        pending.push(PendingRequest { tx_id, order_id, request });
    }
    let n = r.u32()?;
    let mut settled = Vec::new();
    for _ in 0..n {
        let tx_id = r.tx_id()?;
        let request = r.bytes()?.to_vec();
        let response = r.bytes()?.to_vec();
        settled.push(SettledPayment { tx_id, request, response });
    }
    if !r.0.is_empty() {
        return Err(Error::StateMalformed("trailing bytes"));
    }
    Ok(State { key_pkcs8, counter, floor, pending, settled })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::vec;

    #[test]
    fn the_state_encoding_round_trips() {
        let state = State {
            key_pkcs8: Zeroizing::new(vec![1, 2, 3]),
            counter: 7,
            floor: 1_750_000_000,
            pending: vec![PendingRequest {
                tx_id: TxId([9; 16]),
                order_id: OrderId::new("ORD-1").unwrap(),
                request: vec![0xa0, 1],
            }],
            settled: vec![SettledPayment { tx_id: TxId([8; 16]), request: vec![1], response: vec![2, 3] }],
        };
        let bytes = encode_state(&state);
        let back = decode_state(&bytes).unwrap();
        assert_eq!(back.key_pkcs8.as_slice(), [1, 2, 3]);
        assert_eq!((back.counter, back.floor), (7, 1_750_000_000));
        assert_eq!(back.pending, state.pending);
        assert_eq!(back.settled, state.settled);
        // Every proper prefix is refused, and so is a trailing byte.
        for cut in 0..bytes.len() {
            assert!(matches!(decode_state(&bytes[..cut]), Err(Error::StateMalformed(_))), "{cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(decode_state(&longer), Err(Error::StateMalformed("trailing bytes"))));
    }

    #[test]
    fn the_check_value_separates_secrets() {
        let salt = [3u8; SALT_LEN];
        let (k1, s1, c1) = derive(b"secret one", &salt, 10);
        let (k2, s2, c2) = derive(b"secret two", &salt, 10);
        assert_ne!(c1, c2);
        assert_ne!(*k1, *k2);
        assert_ne!(*s1, *s2);
        // The check value, the state key and the sessions key are all different.
        assert_ne!(&k1[..], &c1[..]);
        assert_ne!(*k1, *s1);
        assert_ne!(&s1[..], &c1[..]);
    }

    #[test]
    fn pbkdf2_hmac_sm3_matches_an_independent_computation() {
        // PBKDF2 with one iteration is HMAC(P, S || INT(1)); check the derivation against
        // the HMAC-SM3 the crypto crate verifies against published vectors.
        let mut out = [0u8; 32];
        pbkdf2_hmac(PROVIDER.sm3, b"password", b"salt", 1, &mut out);
        let direct = PROVIDER.hmac(HashAlgorithm::Sm3, b"password").sign(&[b"salt", &[0, 0, 0, 1]]);
        assert_eq!(&out[..], direct.as_ref());
    }
}
