//! Resumable channel sessions shared by every center process on one database, so that a
//! band whose reconnection reaches another process (behind a load balancer) still resumes.
//!
//! The TLCP server asks its [`SessionStore`] synchronously, in the middle of a handshake,
//! and the handshake code does no I/O. [`DatabaseSessionStore`] therefore keeps the
//! sessions this process uses in memory (a [`MemorySessionStore`]) and keeps the database
//! in step around the handshake, never inside it:
//!
//! - **Writing.** A session made by a full handshake goes into the cache at once and is
//!   written to the `tlcp_sessions` table by a background task. The listener waits for that
//!   write ([`DatabaseSessionStore::persisted`]) before it answers the terminal's first
//!   request, so by the time a band has an answer, any process can resume its session.
//! - **Reading.** Before a handshake the listener peeks at the ClientHello
//!   ([`DatabaseSessionStore::prefetch`]); if it offers a session ID, that row is read,
//!   unsealed and put in the cache. If the database no longer has the row (revoked or
//!   suspended on another process, expired, purged), the cached copy is dropped too: that
//!   is how a revocation on one process reaches the others' caches.
//! - **Sealing.** A row holds the session sealed by the key store ([`KeyStore::seal`]:
//!   SM4-GCM under a key derived from the key store's secret) with the label
//!   `tlcp-session:<id>`, so the master secret is never in the database in clear and a row
//!   moved to another ID does not open. A row that does not open, or whose terminal column
//!   disagrees with the sealed identity, is refused: the band gets a full handshake.
//! - **Revocation.** [`crate::Store::set_terminal_status`] deletes a suspended or revoked
//!   terminal's rows in the same transaction; [`SessionStore::remove_peer`] drops the
//!   cached ones and deletes again after any write still queued here.
//! - **Expiry.** Rows expire after the session lifetime and are purged at start and every
//!   [`PURGE_EVERY`].
//!
//! Whatever the database does, the terminal's registry status is still checked at every
//! resumption and before every payment (see [`crate::channel`]): this store only decides
//! whether a handshake can be abbreviated.
extern crate alloc;

use alloc::{string::String, sync::Arc, vec::Vec};
use core::fmt;
use core::time::Duration;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use wearpay_crypto::{PublicKey, Zeroizing};
use wearpay_pki::Certificate;
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::prf::MASTER_SECRET_LEN;
use wearpay_tlcp::session::{MemorySessionStore, OfferedSession, SessionStore, StoredSession, offered_session};
use wearpay_tlcp::verify::PeerIdentity;
use wearpay_tlcp::{CipherSuite, MAX_SESSION_LIFETIME, UnixTime};

use crate::db::args;
use crate::keystore::KeyStore;
use crate::{Error, Store};

/// How often expired rows are deleted.
pub const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Writes waiting for the database; beyond this, new sessions stay local to this process.
const QUEUE: usize = 10_000;

/// The longest the listener waits for a session's row before answering anyway.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// The bytes of a ClientHello up to the end of a 32-byte session ID.
const HELLO_PREFIX: usize = 5 + 4 + 2 + 32 + 1 + 32;

/// The version byte at the start of a sealed session.
const FORMAT: u8 = 1;

/// A session store shared through the database (see the [module documentation](self)).
pub struct DatabaseSessionStore {
    cache: MemorySessionStore,
    store: Store,
    keys: Arc<dyn KeyStore>,
    lifetime: u64,
    queue: mpsc::Sender<Write>,
    progress: Arc<Progress>,
}

impl fmt::Debug for DatabaseSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSessionStore")
            .field("cache", &self.cache)
            .field("backend", &self.store.backend())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// One change for the background writer.
enum Write {
    Insert { id: Vec<u8>, terminal: String, sealed: Vec<u8>, created: i64, expires: i64 },
    Remove(Vec<u8>),
    RemoveTerminal(String),
}

/// What the writer has done: the inserts not yet written (ID to terminal serial) and how
/// many changes it has applied.
struct Progress {
    unwritten: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    queued: Mutex<u64>,
    applied: watch::Sender<u64>,
}

impl Progress {
    fn new() -> Self {
        Self { unwritten: Mutex::default(), queued: Mutex::new(0), applied: watch::Sender::new(0) }
    }

    fn unwritten(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<u8>>> {
        self.unwritten.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, u64> {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DatabaseSessionStore {
    /// Opens the shared store over `store`'s database, sealing with `keys`: purges expired
    /// rows and starts the writer on the current tokio runtime. At most `capacity`
    /// sessions are cached; each is resumable for `lifetime` seconds (at most a day).
    pub async fn open(store: Store, keys: Arc<dyn KeyStore>, capacity: usize, lifetime: u64) -> Result<Self, Error> {
        let lifetime = lifetime.min(MAX_SESSION_LIFETIME);
        let purged = purge(&store, now()).await?;
        if purged > 0 {
            tracing::debug!(purged, "expired channel sessions deleted");
        }
        let (queue, writes) = mpsc::channel(QUEUE);
        let progress = Arc::new(Progress::new());
        tokio::spawn(write_behind(store.clone(), writes, progress.clone()));
        Ok(Self { cache: MemorySessionStore::new(capacity, lifetime), store, keys, lifetime, queue, progress })
    }

    /// Reads the session the connection's ClientHello offers, if any, into the cache (see
    /// [`DatabaseSessionStore::fetch`]), without consuming a byte. Gives up quietly after
    /// `within`, when the peer sends something else, or on a database error: the
    /// handshake then goes on with what the cache holds.
    pub async fn prefetch(&self, tcp: &TcpStream, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = [0u8; HELLO_PREFIX];
        loop {
            let n = match tokio::time::timeout_at(deadline, tcp.peek(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => return,
            };
            match offered_session(&buf[..n]) {
                OfferedSession::Id(id) => {
                    if let Err(e) = self.fetch(id, now()).await {
                        tracing::warn!(error = %e, "reading a channel session failed");
                    }
                    return;
                }
                OfferedSession::None => return,
                // A hello split across segments (a phone relaying small BLE fragments):
                // peek again once more has arrived.
                OfferedSession::Incomplete if n < buf.len() => {
                    if tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(2))).await.is_err() {
                        return;
                    }
                }
                OfferedSession::Incomplete => return,
            }
        }
    }

    /// Brings the cache in step with the database for session `id` at `now`: the row's
    /// session is cached (true), or, when the database has no live row or its row does
    /// not open, any cached copy is dropped (false). A session this process made and has
    /// not written yet stays as it is. On a database error the cache is left as it was.
    pub async fn fetch(&self, id: &[u8], now: UnixTime) -> Result<bool, Error> {
        if self.progress.unwritten().contains_key(id) {
            return Ok(self.cache.get(id, now).is_some());
        }
        let row = self
            .store
            .db
            .optional(
                "SELECT terminal_serial, sealed FROM tlcp_sessions WHERE id = $1 AND expires_at > $2",
                args![id, secs(now)?],
            )
            .await?;
        let Some(row) = row else {
            self.cache.remove(id);
            return Ok(false);
        };
        if self.cache.get(id, now).is_some() {
            return Ok(true);
        }
        let terminal: String = row.get(0)?;
        let sealed: Vec<u8> = row.get(1)?;
        match self.unseal(id, &terminal, &sealed) {
            Ok(session) => {
                self.cache.put(id, session);
                Ok(self.cache.get(id, now).is_some())
            }
            Err(why) => {
                tracing::warn!(session = %hex::encode(id), terminal = %terminal, why, "stored channel session refused");
                self.cache.remove(id);
                Ok(false)
            }
        }
    }

    /// Waits (a few seconds at most) until every session of the terminal with certificate
    /// serial `serial` made here is in the database.
    pub async fn persisted(&self, serial: &[u8]) {
        let mut applied = self.progress.applied.subscribe();
        let wait = async {
            while self.progress.unwritten().values().any(|s| s == serial) {
                if applied.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(WRITE_WAIT, wait).await.is_err() {
            tracing::warn!(terminal = %hex::encode_upper(serial), "a channel session is not in the database yet");
        }
    }

    /// Waits (a few seconds at most) until every change queued so far has reached the
    /// database, or failed there.
    pub async fn flush(&self) {
        let target = *self.progress.queued();
        let mut applied = self.progress.applied.subscribe();
        let _ = tokio::time::timeout(WRITE_WAIT, applied.wait_for(|n| *n >= target)).await;
    }

    /// Deletes every row that expired by `now`; how many.
    pub async fn purge_expired(&self, now: UnixTime) -> Result<u64, Error> {
        purge(&self.store, now).await
    }

    /// How many sessions the cache holds.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    fn send(&self, write: Write) -> bool {
        let mut queued = self.progress.queued();
        match self.queue.try_send(write) {
            Ok(()) => {
                *queued += 1;
                true
            }
            Err(_) => {
                tracing::warn!("the channel session writer is behind: a change stays local to this process");
                false
            }
        }
    }

    fn seal(&self, id: &[u8], session: &StoredSession) -> Result<Write, &'static str> {
        if self.lifetime == 0 {
            return Err("sessions are not resumable");
        }
        let peer = session.peer.as_ref().ok_or("no terminal identity")?;
        // Sized up front: a reallocation would leave a copy of the secret behind.
        let certs: usize = peer.certs.iter().map(|c| 4 + c.0.len()).sum();
        let size = 1 + 2 + 8 + MASTER_SECRET_LEN + 1 + peer.serial.len() + 2 + peer.subject.len() + 1 + certs;
        let mut plain = Zeroizing::new(Vec::with_capacity(size));
        plain.push(FORMAT);
        plain.extend_from_slice(&u16::from(session.suite).to_be_bytes());
        plain.extend_from_slice(&session.created.0.to_be_bytes());
        plain.extend_from_slice(&session.master_secret[..]);
        put_field(&mut plain, &peer.serial, 1)?;
        put_field(&mut plain, peer.subject.as_bytes(), 2)?;
        plain.push(u8::try_from(peer.certs.len()).map_err(|_| "too many certificates")?);
        for cert in &peer.certs {
            put_field(&mut plain, &cert.0, 4)?;
        }
        let sealed = self.keys.seal(&label(id), &plain).map_err(|_| "the key store cannot seal")?;
        let created = i64::try_from(session.created.0).map_err(|_| "time out of range")?;
        let lifetime = i64::try_from(self.lifetime).map_err(|_| "lifetime out of range")?;
        Ok(Write::Insert {
            id: id.to_vec(),
            terminal: hex::encode_upper(&peer.serial),
            sealed,
            created,
            expires: created.checked_add(lifetime).ok_or("time out of range")?,
        })
    }

    fn unseal(&self, id: &[u8], terminal: &str, sealed: &[u8]) -> Result<StoredSession, &'static str> {
        let plain = self.keys.open(&label(id), sealed).map_err(|_| "does not open under the key store")?;
        let mut r = Fields(&plain);
        if r.take(1)? != [FORMAT] {
            return Err("unknown format");
        }
        let suite = CipherSuite::from(u16::from_be_bytes(r.array()?));
        if suite.params().is_none() {
            return Err("unknown suite");
        }
        let created = UnixTime(u64::from_be_bytes(r.array()?));
        let mut master_secret = Zeroizing::new([0u8; MASTER_SECRET_LEN]);
        master_secret.copy_from_slice(r.take(MASTER_SECRET_LEN)?);
        let serial = r.field(1)?.to_vec();
        let subject = String::from_utf8(r.field(2)?.to_vec()).map_err(|_| "subject not UTF-8")?;
        let count = r.take(1)?[0];
        let certs =
            (0..count).map(|_| r.field(4).map(|c| CertificateDer(c.to_vec()))).collect::<Result<Vec<_>, _>>()?;
        if !r.0.is_empty() {
            return Err("trailing bytes");
        }
        if !hex::encode_upper(&serial).eq_ignore_ascii_case(terminal) {
            return Err("the row's terminal is not the sealed one");
        }
        let sign_cert = Certificate::from_der(&certs.first().ok_or("no certificate")?.0)
            .map_err(|_| "the terminal certificate does not parse")?;
        if sign_cert.serial() != serial.as_slice() {
            return Err("the certificate is not the terminal's");
        }
        let sign_key: PublicKey = sign_cert.public_key().map_err(|_| "no usable public key")?.clone();
        Ok(StoredSession {
            id: id.to_vec(),
            suite,
            master_secret,
            created,
            peer: Some(PeerIdentity { subject: subject.clone(), serial, sign_key, certs }),
            peer_subject: subject,
        })
    }
}

impl SessionStore for DatabaseSessionStore {
    fn put(&self, key: &[u8], session: StoredSession) {
        match self.seal(key, &session) {
            Ok(write) => {
                let serial = session.peer.as_ref().map(|p| p.serial.clone()).unwrap_or_default();
                self.progress.unwritten().insert(key.to_vec(), serial);
                if !self.send(write) {
                    self.progress.unwritten().remove(key);
                }
            }
            Err(why) => tracing::warn!(session = %hex::encode(key), why, "channel session kept in this process only"),
        }
        self.cache.put(key, session);
    }

    fn get(&self, key: &[u8], now: UnixTime) -> Option<StoredSession> {
        self.cache.get(key, now)
    }

    fn remove(&self, key: &[u8]) {
        self.cache.remove(key);
        self.send(Write::Remove(key.to_vec()));
    }

    fn remove_peer(&self, serial: &[u8]) {
        self.cache.remove_peer(serial);
        self.send(Write::RemoveTerminal(hex::encode_upper(serial)));
    }
}

/// The sealing label: one key per session ID.
fn label(id: &[u8]) -> String {
    alloc::format!("tlcp-session:{}", hex::encode(id))
}

fn now() -> UnixTime {
    wearpay_tlcp::stream::system_time()
}

fn secs(t: UnixTime) -> Result<i64, Error> {
    i64::try_from(t.0).map_err(|_| Error::invalid("time", "out of range"))
}

/// `field` with a big-endian length prefix of `width` bytes.
fn put_field(out: &mut Vec<u8>, field: &[u8], width: usize) -> Result<(), &'static str> {
    let len = u32::try_from(field.len()).map_err(|_| "field too long")?;
    if width < 4 && len >> (8 * width) != 0 {
        return Err("field too long");
    }
    out.extend_from_slice(&len.to_be_bytes()[4 - width..]);
    out.extend_from_slice(field);
    Ok(())
}

/// Reads what [`put_field`] wrote.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn field(&mut self, width: usize) -> Result<&'a [u8], &'static str> {
        let mut len = [0u8; 4];
        len[4 - width..].copy_from_slice(self.take(width)?);
        self.take(usize::try_from(u32::from_be_bytes(len)).map_err(|_| "field too long")?)
    }
}

async fn purge(store: &Store, now: UnixTime) -> Result<u64, Error> {
    let mut tx = store.db.begin_write().await?;
    let n = tx.execute("DELETE FROM tlcp_sessions WHERE expires_at <= $1", args![secs(now)?]).await?;
    tx.commit().await?;
    Ok(n)
}

async fn apply(store: &Store, write: &Write) -> Result<(), Error> {
    let mut tx = store.db.begin_write().await?;
    match write {
        Write::Insert { id, terminal, sealed, created, expires } => {
            tx.execute(
                "INSERT INTO tlcp_sessions (id, terminal_serial, sealed, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                args![id.clone(), terminal.clone(), sealed.clone(), *created, *expires],
            )
            .await?
        }
        Write::Remove(id) => tx.execute("DELETE FROM tlcp_sessions WHERE id = $1", args![id.clone()]).await?,
        Write::RemoveTerminal(serial) => {
            tx.execute("DELETE FROM tlcp_sessions WHERE terminal_serial = $1", args![serial.clone()]).await?
        }
    };
    tx.commit().await
}

/// The background writer: applies changes in order, and purges expired rows from time to
/// time. Ends when the store is dropped.
async fn write_behind(store: Store, mut writes: mpsc::Receiver<Write>, progress: Arc<Progress>) {
    let mut purge_timer = tokio::time::interval_at(tokio::time::Instant::now() + PURGE_EVERY, PURGE_EVERY);
    purge_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            write = writes.recv() => {
                let Some(write) = write else { break };
                if let Err(e) = apply(&store, &write).await {
                    tracing::warn!(error = %e, "writing a channel session change failed");
                }
                if let Write::Insert { id, .. } = &write {
                    progress.unwritten().remove(id);
                }
                progress.applied.send_modify(|n| *n += 1);
            }
            _ = purge_timer.tick() => match purge(&store, now()).await {
                Ok(n) if n > 0 => tracing::debug!(purged = n, "expired channel sessions deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired channel sessions failed"),
            },
        }
    }
}
