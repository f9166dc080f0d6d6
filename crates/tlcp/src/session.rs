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

/// An in-memory store with a capacity and an expiry (at most 24 hours). When full, a new
/// session evicts the oldest one. A store of more than [`UNINDEXED_UP_TO`] sessions finds it
/// through an index by age: a center's store holds many thousands, and a scan at each new
/// one would cost more than the handshake. A smaller one (a band's) scans, and spares its
/// heap the index.
#[cfg(feature = "std")]
pub struct MemorySessionStore {
    capacity: usize,
    lifetime: u64,
    inner: std::sync::Mutex<Sessions>,
}

/// The largest store that finds its oldest session by a scan rather than an index.
#[cfg(feature = "std")]
pub const UNINDEXED_UP_TO: usize = 64;

/// The sessions by key, each with its place in the order of age: (created, a counter that
/// orders sessions created in the same second). `by_age`, if kept, indexes that order.
#[cfg(feature = "std")]
#[derive(Default)]
struct Sessions {
    by_key: BTreeMap<Vec<u8>, (StoredSession, u64)>,
    by_age: Option<BTreeMap<(UnixTime, u64), Vec<u8>>>,
    next: u64,
}

#[cfg(feature = "std")]
impl Sessions {
    fn remove(&mut self, key: &[u8]) {
        if let Some((session, n)) = self.by_key.remove(key)
            && let Some(by_age) = &mut self.by_age
        {
            by_age.remove(&(session.created, n));
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = match &mut self.by_age {
            Some(by_age) => by_age.pop_first().map(|(_, key)| key),
            None => self.by_key.iter().min_by_key(|(_, (s, n))| (s.created, *n)).map(|(key, _)| key.clone()),
        };
        if let Some(key) = oldest {
            self.by_key.remove(&key);
        }
    }

    fn insert(&mut self, key: &[u8], session: StoredSession) {
        let n = self.next;
        self.next += 1;
        if let Some(by_age) = &mut self.by_age {
            by_age.insert((session.created, n), key.to_vec());
        }
        self.by_key.insert(key.to_vec(), (session, n));
    }
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
        Self::with_index(capacity, lifetime, capacity > UNINDEXED_UP_TO)
    }

    fn with_index(capacity: usize, lifetime: u64, indexed: bool) -> Self {
        let sessions = Sessions { by_age: indexed.then(BTreeMap::new), ..Sessions::default() };
        Self { capacity, lifetime: lifetime.min(MAX_SESSION_LIFETIME), inner: std::sync::Mutex::new(sessions) }
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // A panic elsewhere cannot leave the maps inconsistent: each change to both is made
        // under one lock, with nothing in between that can panic.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(feature = "std")]
impl SessionStore for MemorySessionStore {
    fn put(&self, key: &[u8], session: StoredSession) {
        if self.capacity == 0 {
            return;
        }
        let mut sessions = self.lock();
        if sessions.by_key.contains_key(key) {
            sessions.remove(key);
        } else if sessions.by_key.len() >= self.capacity {
            sessions.evict_oldest();
        }
        sessions.insert(key, session);
    }

    fn get(&self, key: &[u8], now: UnixTime) -> Option<StoredSession> {
        let mut sessions = self.lock();
        let (s, _) = sessions.by_key.get(key)?;
        if now.0 >= s.created.0.saturating_add(self.lifetime) || now.0 < s.created.0 {
            sessions.remove(key);
            return None;
        }
        Some(s.clone())
    }

    fn remove(&self, key: &[u8]) {
        self.lock().remove(key);
    }

    fn remove_peer(&self, serial: &[u8]) {
        let mut sessions = self.lock();
        let of_peer: Vec<Vec<u8>> = sessions
            .by_key
            .iter()
            .filter(|(_, (s, _))| s.peer.as_ref().is_some_and(|p| p.serial == serial))
            .map(|(k, _)| k.clone())
            .collect();
        for key in of_peer {
            sessions.remove(&key);
        }
    }
}

/// What the first bytes a client sends say about the session it asks to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferedSession<'a> {
    /// More bytes are needed to tell.
    Incomplete,
    /// No session is offered: an empty session ID, or not a ClientHello record at all (the
    /// handshake then says what is wrong).
    None,
    /// The session ID the ClientHello offers (1 to 32 bytes).
    Id(&'a [u8]),
}

/// The session ID offered by the ClientHello record at the start of `prefix`, read
/// without parsing the rest of the hello, so that a server can fetch that session from
/// storage shared with other servers before its handshake (sans-IO) looks for it.
pub fn offered_session(prefix: &[u8]) -> OfferedSession<'_> {
    use crate::msgs::{ContentType, HandshakeType};
    // Record header: type (1), version (2), length (2). Handshake header: type (1), length
    // (3). ClientHello: client_version (2), random (32), session_id <0..32>.
    const RECORD_HEADER: usize = 5;
    const ID_LEN_AT: usize = RECORD_HEADER + 4 + 2 + 32;
    let Some(&content_type) = prefix.first() else { return OfferedSession::Incomplete };
    if content_type != u8::from(ContentType::Handshake) {
        return OfferedSession::None;
    }
    let Some(&message_type) = prefix.get(RECORD_HEADER) else { return OfferedSession::Incomplete };
    if message_type != u8::from(HandshakeType::ClientHello) {
        return OfferedSession::None;
    }
    let record_end = RECORD_HEADER + usize::from(u16::from_be_bytes([prefix[3], prefix[4]]));
    let Some(&id_len) = prefix.get(ID_LEN_AT) else { return OfferedSession::Incomplete };
    let id_end = ID_LEN_AT + 1 + usize::from(id_len);
    // An ID too long, or one that runs past its record, is for the handshake to refuse.
    if id_len == 0 || usize::from(id_len) > crate::msgs::SessionId::MAX_LEN || id_end > record_end {
        return OfferedSession::None;
    }
    prefix.get(ID_LEN_AT + 1..id_end).map_or(OfferedSession::Incomplete, OfferedSession::Id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use alloc::{vec, vec::Vec};

    use super::{OfferedSession, offered_session};
    use crate::codec::Codec;
    use crate::deframer::read_record;
    use crate::msgs::{
        ClientExtension, ClientHelloPayload, Compression, HandshakeMessage, HandshakePayload, ProtocolVersion,
        SessionId,
    };
    use crate::suites::CipherSuite;

    fn hello_record(session_id: &[u8]) -> Vec<u8> {
        let hello = ClientHelloPayload {
            client_version: ProtocolVersion::Tlcp1_1,
            random: [7; 32],
            session_id: SessionId::new(session_id).unwrap(),
            cipher_suites: vec![CipherSuite::ECC_SM4_GCM_SM3],
            compression_methods: vec![Compression::Null],
            extensions: vec![ClientExtension::SeedOrder],
        };
        let body = HandshakeMessage::new(HandshakePayload::ClientHello(hello)).get_encoding();
        let mut record = vec![22, 1, 1];
        record.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        record.extend_from_slice(&body);
        record
    }

    #[test]
    fn the_offered_id_is_read_from_a_prefix() {
        let id: Vec<u8> = (1..=32).collect();
        let record = hello_record(&id);
        assert_eq!(offered_session(&record), OfferedSession::Id(&id));
        // Every shorter prefix that still ends before the ID's last byte needs more.
        let end = 5 + 4 + 2 + 32 + 1 + 32;
        for n in 0..end {
            assert_eq!(offered_session(&record[..n]), OfferedSession::Incomplete, "{n} bytes");
        }
        assert_eq!(offered_session(&record[..end]), OfferedSession::Id(&id));
        // Shorter IDs too.
        let short = hello_record(&[9; 8]);
        assert_eq!(offered_session(&short), OfferedSession::Id(&[9; 8]));
    }

    #[test]
    fn no_id_offered_or_no_hello() {
        assert_eq!(offered_session(&hello_record(&[])), OfferedSession::None);
        // An alert, application data, another handshake message.
        assert_eq!(offered_session(&[21, 1, 1, 0, 2, 2, 40]), OfferedSession::None);
        assert_eq!(offered_session(&[23, 1, 1, 0, 1]), OfferedSession::None);
        let mut finished = hello_record(&[1; 32]);
        finished[5] = 20;
        assert_eq!(offered_session(&finished), OfferedSession::None);
        // A length over 32, or an ID past the end of its record.
        let mut long = hello_record(&[1; 32]);
        long[43] = 33;
        assert_eq!(offered_session(&long), OfferedSession::None);
        let mut cut = hello_record(&[1; 32]);
        cut[3] = 0;
        cut[4] = 60;
        assert_eq!(offered_session(&cut), OfferedSession::None);
    }

    /// The ClientHello Tongsuo 8.5 sent in a recorded session: the quick read agrees with
    /// the full parse.
    #[test]
    fn agrees_with_the_full_parse_on_a_recorded_hello() {
        for name in ["ecc_sm4_cbc_sm3", "ecc_sm4_gcm_sm3"] {
            let path = alloc::format!("{}/../../../shared/vectors/tlcp/{name}/raw.c2s.bin", env!("CARGO_MANIFEST_DIR"));
            let wire = std::fs::read(&path).unwrap();
            let record = read_record(&wire).unwrap().unwrap();
            let HandshakePayload::ClientHello(hello) = HandshakeMessage::read_bytes(record.payload).unwrap().payload
            else {
                panic!("not a ClientHello")
            };
            let full = hello.session_id.as_slice();
            let quick = offered_session(&wire);
            if full.is_empty() {
                assert_eq!(quick, OfferedSession::None);
            } else {
                assert_eq!(quick, OfferedSession::Id(full));
            }
            // The same hello offering a session, as a client resuming would send it.
            let mut resumed = wire[..record.payload.len() + 5].to_vec();
            let at = 5 + 4 + 2 + 32;
            assert_eq!(resumed[at], 0, "the recorded hello offers no session");
            let id = [0xa5; 32];
            resumed.splice(at..=at, core::iter::once(32).chain(id));
            let len = u16::from_be_bytes([resumed[3], resumed[4]]) + 32;
            resumed[3..5].copy_from_slice(&len.to_be_bytes());
            assert_eq!(offered_session(&resumed), OfferedSession::Id(&id));
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod store_tests {
    #![allow(clippy::unwrap_used)]
    use alloc::{string::String, vec::Vec};

    use wearpay_crypto::{PublicKey, Sm2PublicKey, Zeroizing};

    use super::{MemorySessionStore, SessionStore, StoredSession, UNINDEXED_UP_TO};
    use crate::config::UnixTime;
    use crate::suites::CipherSuite;
    use crate::verify::PeerIdentity;

    fn session(created: u64, peer: Option<&[u8]>) -> StoredSession {
        StoredSession {
            id: Vec::new(),
            suite: CipherSuite::ECC_SM4_GCM_SM3,
            master_secret: Zeroizing::new([0; 48]),
            created: UnixTime(created),
            peer: peer.map(|serial| PeerIdentity {
                subject: String::new(),
                serial: serial.to_vec(),
                sign_key: PublicKey::Sm2(Sm2PublicKey::from_sec1(&[4; 65]).unwrap()),
                certs: Vec::new(),
            }),
            peer_subject: String::new(),
        }
    }

    /// The keys held, and a check that the index by age, if kept, has one entry for each.
    fn held(store: &MemorySessionStore) -> Vec<&'static str> {
        let sessions = store.lock();
        if let Some(by_age) = &sessions.by_age {
            assert_eq!(by_age.len(), sessions.by_key.len(), "the index by age is out of step");
        }
        let mut keys: Vec<&'static str> = ["a", "b", "c", "d", "e", "f", "g"]
            .into_iter()
            .filter(|k| sessions.by_key.contains_key(k.as_bytes()))
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Runs `test` on a store that scans and on one that keeps the index.
    fn both(capacity: usize, lifetime: u64, test: impl Fn(MemorySessionStore)) {
        test(MemorySessionStore::with_index(capacity, lifetime, false));
        test(MemorySessionStore::with_index(capacity, lifetime, true));
    }

    #[test]
    fn a_full_store_evicts_the_earliest_created_not_the_first_put() {
        both(3, 3600, evicts_the_earliest_created);
    }

    fn evicts_the_earliest_created(store: MemorySessionStore) {
        store.put(b"a", session(10, None));
        store.put(b"b", session(5, None));
        store.put(b"c", session(20, None));
        store.put(b"d", session(30, None));
        assert_eq!(held(&store), ["a", "c", "d"]);
        // Putting a held key again replaces it and evicts nothing; it is then the newest.
        store.put(b"a", session(40, None));
        assert_eq!(held(&store), ["a", "c", "d"]);
        store.put(b"e", session(50, None));
        assert_eq!(held(&store), ["a", "d", "e"]);
        // Sessions of the same second leave in the order they came.
        store.put(b"f", session(50, None));
        assert_eq!(held(&store), ["a", "e", "f"]);
        store.put(b"g", session(50, None));
        assert_eq!(held(&store), ["e", "f", "g"]);
    }

    #[test]
    fn removals_keep_the_index_in_step() {
        both(3, 100, removals);
        // Only a large store keeps the index.
        assert!(MemorySessionStore::new(UNINDEXED_UP_TO, 100).lock().by_age.is_none());
        assert!(MemorySessionStore::new(UNINDEXED_UP_TO + 1, 100).lock().by_age.is_some());
    }

    fn removals(store: MemorySessionStore) {
        store.put(b"a", session(10, Some(b"band 1")));
        store.put(b"b", session(20, Some(b"band 2")));
        store.put(b"c", session(30, Some(b"band 1")));
        store.remove_peer(b"band 1");
        assert_eq!(held(&store), ["b"]);
        // Expired at `get`: gone from both maps.
        assert!(store.get(b"b", UnixTime(120)).is_none());
        assert_eq!(held(&store), Vec::<&str>::new());
        store.put(b"d", session(200, None));
        store.put(b"e", session(210, None));
        store.remove(b"d");
        assert_eq!(held(&store), ["e"]);
        assert_eq!(store.get(b"e", UnixTime(250)).unwrap().created, UnixTime(210));
        // A store of no sessions keeps none.
        let none = MemorySessionStore::new(0, 100);
        none.put(b"a", session(10, None));
        assert!(none.is_empty());
    }
}
