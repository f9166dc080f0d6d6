//! Session resumption by session ID (RFC 5246 §7.3): a reconnecting band skips both
//! public-key operations.
#[cfg(feature = "std")]
use alloc::collections::BTreeMap;
use alloc::{string::String, vec::Vec};
use core::fmt;

use wearpay_crypto::Zeroizing;

#[cfg(feature = "std")]
use crate::config::MAX_SESSION_LIFETIME;
use crate::config::UnixTime;
use crate::prf::MASTER_SECRET_LEN;
use crate::suites::CipherSuite;
use crate::verify::PeerIdentity;

/// What resuming a session needs.
#[derive(Clone)]
pub struct StoredSession {
    /// The session ID the server chose.
    pub id: Vec<u8>,
    /// The suite negotiated in the full handshake.
    pub suite: CipherSuite,
    /// The master secret.
    pub master_secret: Zeroizing<[u8; MASTER_SECRET_LEN]>,
    /// When the full handshake happened.
    pub created: UnixTime,
    /// Server side: the terminal that authenticated. Client side: none.
    pub peer: Option<PeerIdentity>,
    /// The subject of the peer's signing certificate, reported again on resumption.
    pub peer_subject: String,
}

impl fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSession")
            .field("suite", &self.suite)
            .field("created", &self.created)
            .field("peer", &self.peer.as_ref().map(|p| &p.subject))
            .finish_non_exhaustive()
    }
}

/// Where sessions are kept. The key is the session ID on a server and the server name on
/// a client. Implementations must be safe to share between connections.
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// Keeps a session.
    fn put(&self, key: &[u8], session: StoredSession);
    /// Finds a session that has not expired at `now`.
    fn get(&self, key: &[u8], now: UnixTime) -> Option<StoredSession>;
    /// Forgets one session.
    fn remove(&self, key: &[u8]);
    /// Forgets every session of a terminal, by the serial of its signing certificate.
    fn remove_peer(&self, serial: &[u8]);
}

/// A store that keeps nothing: every handshake is a full one.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSessionStore;

impl SessionStore for NoSessionStore {
    fn put(&self, _: &[u8], _: StoredSession) {}
    fn get(&self, _: &[u8], _: UnixTime) -> Option<StoredSession> {
        None
    }
    fn remove(&self, _: &[u8]) {}
    fn remove_peer(&self, _: &[u8]) {}
}

/// An in-memory store with a capacity and an expiry (at most 24 hours).
#[cfg(feature = "std")]
pub struct MemorySessionStore {
    capacity: usize,
    lifetime: u64,
    inner: std::sync::Mutex<BTreeMap<Vec<u8>, StoredSession>>,
}

#[cfg(feature = "std")]
impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("capacity", &self.capacity)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

#[cfg(feature = "std")]
impl MemorySessionStore {
    /// A store of at most `capacity` sessions, each resumable for `lifetime` seconds
    /// (capped at 24 hours).
    pub fn new(capacity: usize, lifetime: u64) -> Self {
        Self { capacity, lifetime: lifetime.min(MAX_SESSION_LIFETIME), inner: std::sync::Mutex::new(BTreeMap::new()) }
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, StoredSession>> {
        // A panic elsewhere cannot leave a map of plain values inconsistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(feature = "std")]
impl SessionStore for MemorySessionStore {
    fn put(&self, key: &[u8], session: StoredSession) {
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(key) {
            // Evict the oldest session.
            let oldest = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        if self.capacity > 0 {
            map.insert(key.to_vec(), session);
        }
    }

    fn get(&self, key: &[u8], now: UnixTime) -> Option<StoredSession> {
        let mut map = self.lock();
        let s = map.get(key)?;
        if now.0 >= s.created.0.saturating_add(self.lifetime) || now.0 < s.created.0 {
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
