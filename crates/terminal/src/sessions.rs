//! The band's TLCP sessions, kept sealed between runs so that the next connection resumes
//! (two messages each way and no public-key operation, instead of a full F1–F10).
//!
//! # The file
//!
//! ```text
//! magic "WPSS" | version 1 | nonce [12] | length u32 | SM4-GCM ciphertext (length bytes) | tag [16]
//! ```
//!
//! sealed as the secure element's own state is (see [`crate::soft_se`]): SM4-GCM under a
//! key derived from the device secret with the state key, the header as additional data, a
//! fresh nonce on every write, written atomically with mode 0600. The master secrets are
//! never on disk in clear. Inside, big-endian:
//!
//! ```text
//! version 1 | count u8 | count × ( server name u8-prefixed | session id u8-prefixed
//!   | suite u16 | master secret [48] | created u64 | peer subject u16-prefixed )
//! ```
//!
//! # Failure
//!
//! The file is a cache: losing it costs one full handshake and nothing else. So
//! [`SealedSessionStore::load`] never fails: a file that is missing starts empty, and one
//! that is truncated, altered, sealed under another device's key or malformed is set
//! aside with the reason ([`SessionsDiscarded`]) for the caller to warn about, and the
//! next connection makes a full handshake. Sessions past their lifetime, or created
//! "after" the time given (a clock that went back), are dropped on load and never offered.
use alloc::{collections::BTreeMap, string::String, vec::Vec};
use core::fmt;
use std::{
    io,
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard, PoisonError},
};

use wearpay_crypto::Zeroizing;
use wearpay_tlcp::{
    CipherSuite, MAX_SESSION_LIFETIME, UnixTime,
    prf::MASTER_SECRET_LEN,
    session::{SessionStore, StoredSession},
};

use crate::{
    Error, SoftSe,
    soft_se::{open_file, seal_file, write_atomically},
};

const MAGIC: &[u8; 4] = b"WPSS";
const VERSION: u8 = 1;
const BODY_VERSION: u8 = 1;

/// How many sessions a band keeps (one per center it talks to; the oldest goes first).
pub const SESSIONS_CAPACITY: usize = 4;

/// Why a sessions file was set aside. The band goes on with a full handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionsDiscarded {
    /// The file could not be read.
    Unreadable(io::ErrorKind),
    /// The file does not start with the sessions magic.
    NotSessionsFile,
    /// A format version this band does not read.
    UnsupportedVersion(u8),
    /// Shorter or longer than its header says: cut off or appended to.
    Truncated,
    /// It does not authenticate: altered, or sealed under another device's key.
    Tampered,
    /// It authenticated but does not parse.
    Malformed(&'static str),
}

impl fmt::Display for SessionsDiscarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(kind) => write!(f, "the sessions file could not be read ({kind})"),
            Self::NotSessionsFile => f.write_str("not a sealed sessions file"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported sessions file version {v}"),
            Self::Truncated => f.write_str("the sessions file is truncated"),
            Self::Tampered => f.write_str("the sessions file does not authenticate (altered, or another band's)"),
            Self::Malformed(what) => write!(f, "the sessions file is malformed: {what}"),
        }
    }
}

/// The band's TLCP sessions: in memory while it runs (it is the [`SessionStore`] the
/// handshake uses), sealed in one file between runs ([`SealedSessionStore::save`]).
///
/// Keys are server names, as a client's store is keyed. Only the band's own sessions are
/// kept: a session carrying a peer identity is a server's and is ignored.
pub struct SealedSessionStore {
    path: PathBuf,
    key: Zeroizing<[u8; 16]>,
    lifetime: u64,
    inner: Mutex<BTreeMap<Vec<u8>, StoredSession>>,
}

impl fmt::Debug for SealedSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSessionStore")
            .field("path", &self.path)
            .field("lifetime", &self.lifetime)
            .field("sessions", &self.len())
            .finish_non_exhaustive()
    }
}

impl SealedSessionStore {
    /// The store kept in `path`, sealed under `se`'s sessions key; sessions are offered for
    /// `lifetime` seconds after their full handshake (at most a day, as a center keeps
    /// them). Loads what is there at `now`; the second value says why a file present was
    /// set aside.
    pub fn load(
        path: impl AsRef<Path>,
        se: &SoftSe,
        lifetime: u64,
        now: UnixTime,
    ) -> (Self, Option<SessionsDiscarded>) {
        let store = Self {
            path: path.as_ref().to_path_buf(),
            key: Zeroizing::new(*se.sessions_key()),
            lifetime: lifetime.min(MAX_SESSION_LIFETIME),
            inner: Mutex::new(BTreeMap::new()),
        };
        let file = match std::fs::read(&store.path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (store, None),
            Err(e) => return (store, Some(SessionsDiscarded::Unreadable(e.kind()))),
        };
        match unseal(&store.key, &file) {
            Ok(sessions) => {
                let mut map = store.lock();
                for (name, s) in sessions {
                    if store.live(&s, now) {
                        map.insert(name, s);
                    }
                }
                drop(map);
                (store, None)
            }
            Err(why) => (store, Some(why)),
        }
    }

    /// Seals the sessions still live at `now` and writes them atomically.
    pub fn save(&self, now: UnixTime) -> Result<(), Error> {
        let mut body = {
            let mut map = self.lock();
            map.retain(|_, s| self.live(s, now));
            encode(&map)
        };
        let mut prefix = Vec::with_capacity(MAGIC.len() + 1);
        prefix.extend_from_slice(MAGIC);
        prefix.push(VERSION);
        let sealed = seal_file(&self.key, &prefix, &mut body)?;
        write_atomically(&self.path, &sealed)?;
        Ok(())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a session for `server_name` would be offered at `now`.
    pub fn has_session(&self, server_name: &str, now: UnixTime) -> bool {
        self.lock().get(server_name.as_bytes()).is_some_and(|s| self.live(s, now))
    }

    fn live(&self, s: &StoredSession, now: UnixTime) -> bool {
        now >= s.created && now.0 < s.created.0.saturating_add(self.lifetime)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Vec<u8>, StoredSession>> {
        // A panic elsewhere cannot leave a map of plain values inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionStore for SealedSessionStore {
    fn put(&self, key: &[u8], session: StoredSession) {
        // A band's sessions name no peer; what cannot be encoded is not kept.
        if session.peer.is_some() || key.len() > usize::from(u8::MAX) || session.id.len() > usize::from(u8::MAX) {
            return;
        }
        let mut map = self.lock();
        if map.len() >= SESSIONS_CAPACITY && !map.contains_key(key) {
            let oldest = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(key.to_vec(), session);
    }

    fn get(&self, key: &[u8], now: UnixTime) -> Option<StoredSession> {
        let mut map = self.lock();
        let s = map.get(key)?;
        if !self.live(s, now) {
            map.remove(key);
            return None;
        }
        Some(s.clone())
    }

    fn remove(&self, key: &[u8]) {
        self.lock().remove(key);
    }

    fn remove_peer(&self, serial: &[u8]) {
        self.lock().retain(|_, s| s.peer.as_ref().is_none_or(|p| p.serial != serial));
    }
}

// ---- the file ----

fn unseal(key: &[u8; 16], file: &[u8]) -> Result<Vec<(Vec<u8>, StoredSession)>, SessionsDiscarded> {
    if file.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err(SessionsDiscarded::NotSessionsFile);
    }
    match file.get(MAGIC.len()) {
        None => return Err(SessionsDiscarded::Truncated),
        Some(&v) if v != VERSION => return Err(SessionsDiscarded::UnsupportedVersion(v)),
        Some(_) => {}
    }
    let body = open_file(key, MAGIC.len() + 1, file).map_err(|e| match e {
        Error::StateTruncated => SessionsDiscarded::Truncated,
        _ => SessionsDiscarded::Tampered,
    })?;
    decode(&body).map_err(SessionsDiscarded::Malformed)
}

fn encode(map: &BTreeMap<Vec<u8>, StoredSession>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(2 + map.len() * 160));
    out.push(BODY_VERSION);
    // `put` keeps at most SESSIONS_CAPACITY, and names and ids of at most 255 bytes.
    out.push(map.len().min(usize::from(u8::MAX)) as u8);
    for (name, s) in map.iter().take(usize::from(u8::MAX)) {
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.push(s.id.len() as u8);
        out.extend_from_slice(&s.id);
        out.extend_from_slice(&u16::from(s.suite).to_be_bytes());
        out.extend_from_slice(s.master_secret.as_ref());
        out.extend_from_slice(&s.created.0.to_be_bytes());
        let subject = s.peer_subject.as_bytes();
        let subject = &subject[..subject.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(subject.len() as u16).to_be_bytes());
        out.extend_from_slice(subject);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("cut short");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn bytes8(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn bytes16(&mut self) -> Result<&'a [u8], &'static str> {
        let n = u16::from_be_bytes(self.array()?);
        self.take(usize::from(n))
    }
}

fn decode(body: &[u8]) -> Result<Vec<(Vec<u8>, StoredSession)>, &'static str> {
    let mut r = Reader(body);
    if r.u8()? != BODY_VERSION {
        return Err("unknown body version");
    }
    let count = r.u8()?;
    let mut out = Vec::new();
    for _ in 0..count {
        let name = r.bytes8()?.to_vec();
        let id = r.bytes8()?.to_vec();
        if id.is_empty() || id.len() > 32 {
            return Err("session id length");
        }
        let suite = CipherSuite::from(u16::from_be_bytes(r.array()?));
        if suite.params().is_none() {
            return Err("unknown cipher suite");
        }
        let master_secret = Zeroizing::new(r.array::<MASTER_SECRET_LEN>()?);
        let created = UnixTime(u64::from_be_bytes(r.array()?));
        let peer_subject = String::from(core::str::from_utf8(r.bytes16()?).map_err(|_| "peer subject")?);
        out.push((name, StoredSession { id, suite, master_secret, created, peer: None, peer_subject }));
    }
    if !r.0.is_empty() {
        return Err("trailing bytes");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::vec;

    fn session(created: u64) -> StoredSession {
        StoredSession {
            id: vec![0x5a; 32],
            suite: CipherSuite::ECC_SM4_GCM_SM3,
            master_secret: Zeroizing::new([0x42; MASTER_SECRET_LEN]),
            created: UnixTime(created),
            peer: None,
            peer_subject: String::from("CN=center.example"),
        }
    }

    #[test]
    fn the_body_encoding_round_trips_and_refuses_every_cut() {
        let mut map = BTreeMap::new();
        map.insert(b"center.example".to_vec(), session(1_000));
        map.insert(b"other.example".to_vec(), session(2_000));
        let bytes = encode(&map);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        for ((name, s), (k, v)) in back.iter().zip(map.iter()) {
            assert_eq!(name, k);
            assert_eq!((&s.id, s.suite, *s.master_secret, s.created), (&v.id, v.suite, *v.master_secret, v.created));
            assert_eq!(s.peer_subject, v.peer_subject);
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), "trailing bytes");
    }
}
