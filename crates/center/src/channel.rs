//! The center's TLCP channel: terminals connect over TCP, authenticate with their
//! certificates, and send requests, one application-data record each; every request is
//! answered by the [`Authorizer`] with one record.
//!
//! # Registry checks
//!
//! The certificate check of the handshake ([`ClientCertVerifier`]) is synchronous, the
//! registry (the [`Store`]) is not. [`RegistryVerifier`] therefore keeps an in-memory
//! **deny list**: the serials whose registry status is not active. The design is:
//!
//! - The center calls [`RegistryVerifier::set_status`] whenever it suspends, reactivates
//!   or revokes a terminal (after [`Store::set_terminal_status`] succeeded). From that
//!   moment new handshakes and resumptions of that terminal are refused
//!   (`certificate_revoked` for both suspended and revoked terminals, see below), and on
//!   suspension or revocation all its stored sessions are dropped with
//!   [`SessionStore::remove_peer`].
//! - The channel also re-reads the terminal's status from the store right after each
//!   handshake and before every payment request, and feeds what it reads into the same
//!   deny list ([`RegistryVerifier::refresh`]). So a status changed behind the channel's
//!   back (another process, a restart with an empty list) is enforced at the next
//!   request: the connection of a terminal that is not active is closed after the
//!   handshake, and a payment on a live session of a terminal revoked meanwhile gets the
//!   authorizer's signed decline (`terminal_revoked` / `terminal_suspended`), after which
//!   the connection is closed.
//! - A serial not in the list passes (unknown terminals are refused by the authorizer,
//!   which answers `terminal_revoked` for a serial that is not enrolled).
//!
//! A suspended terminal is refused with [`CertError::Revoked`] (alert
//! `certificate_revoked`), as the [`CertError::Revoked`] documentation says ("revoked by
//! its issuer or suspended by the registry"); the message text says which.
//!
//! # Handshake limits
//!
//! A full handshake costs the center an SM2 signature, a decryption and a chain check, so
//! a flood of them could take all its CPU. Two limits stand in the way, both before any
//! byte of the handshake is read:
//!
//! - **A cap on concurrent handshakes** ([`ChannelConfig::max_concurrent_handshakes`]): a
//!   connection waits at most [`ChannelConfig::handshake_slot_wait`] for a slot, else it
//!   is closed. A slot is held until the handshake ends (at most the handshake timeout),
//!   not for the session after it.
//! - **A token bucket per client address** ([`ChannelConfig::handshakes_per_address`];
//!   IPv6 addresses count per /64). Only full handshakes are charged: each connection
//!   takes a token when it is accepted (refused at once if there is none), and gets it
//!   back when its handshake turns out to be a resumption. So a bridge whose bands resume
//!   their sessions, as bands do for every purchase, is never limited, however fast it
//!   pays (a resumption holds a token only while its handshake runs), while one address
//!   cannot run more full handshakes than its bucket allows. Idle buckets (refilled to
//!   the brim, the same as a new one) are dropped, so the table stays small.
//!
//! Both refusals are counted in `wearpay_handshakes_rejected_total` (see [`Metrics`]).
extern crate alloc;

use alloc::{format, sync::Arc, vec, vec::Vec};
use core::future::Future;
use core::net::IpAddr;
use core::time::Duration;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wearpay_pay::{Request, TerminalSerial, Timestamp};
use wearpay_tlcp::msgs::{CertificateDer, DistinguishedName};
use wearpay_tlcp::session::SessionStore;
use wearpay_tlcp::tokio_stream::TokioStream;
use wearpay_tlcp::verify::{CertError, ClientCertVerifier, PeerIdentity};
use wearpay_tlcp::{PkiClientVerifier, ServerConfig, ServerConnection, UnixTime};

use crate::Store;
use crate::TerminalStatus;
use crate::authorize::Authorizer;
use crate::metrics::{HandshakeKind, HandshakeOutcome, Metrics, Rejection, response_outcome};
use crate::sessions::DatabaseSessionStore;

/// Serials (big-endian certificate serial bytes) to their non-active registry status.
type DenyList = Arc<RwLock<HashMap<Vec<u8>, TerminalStatus>>>;

/// The center's check of a terminal: the PKI check of [`PkiClientVerifier`], then the
/// registry's deny list (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct RegistryVerifier {
    inner: Arc<PkiClientVerifier>,
    denied: DenyList,
    sessions: Arc<dyn SessionStore>,
    shared: Option<Arc<DatabaseSessionStore>>,
}

impl RegistryVerifier {
    /// Wraps `inner`; `sessions` must be the session store of the [`ServerConfig`] this
    /// verifier goes into, so that revocation can drop the terminal's sessions.
    pub fn new(inner: PkiClientVerifier, sessions: Arc<dyn SessionStore>) -> Self {
        Self { inner: Arc::new(inner), denied: DenyList::default(), sessions, shared: None }
    }

    /// With sessions shared through the database: `sessions` becomes the store revocation
    /// drops sessions from (it must be the [`ServerConfig`]'s), and the listener reads the
    /// session a ClientHello offers from the database before each handshake.
    pub fn with_database_sessions(mut self, sessions: Arc<DatabaseSessionStore>) -> Self {
        self.sessions = sessions.clone();
        self.shared = Some(sessions);
        self
    }

    /// The database session store, if sessions are shared.
    pub fn database_sessions(&self) -> Option<&Arc<DatabaseSessionStore>> {
        self.shared.as_ref()
    }

    /// Records the registry status of the terminal with certificate serial `serial`.
    /// Takes effect at once for new handshakes and resumptions; a suspension or
    /// revocation also forgets the terminal's stored sessions.
    pub fn set_status(&self, serial: &[u8], status: TerminalStatus) {
        let mut denied = self.denied.write().unwrap_or_else(PoisonError::into_inner);
        if status == TerminalStatus::Active {
            // A revocation is final; the store refuses to undo it, and so does this list.
            if denied.get(serial) != Some(&TerminalStatus::Revoked) {
                denied.remove(serial);
            }
        } else {
            let previous = denied.insert(serial.to_vec(), status);
            if previous == Some(TerminalStatus::Revoked) {
                denied.insert(serial.to_vec(), TerminalStatus::Revoked);
            }
            drop(denied);
            self.sessions.remove_peer(serial);
        }
    }

    /// The status the deny list holds for `serial` (`Active` when not listed).
    pub fn status(&self, serial: &[u8]) -> TerminalStatus {
        self.denied
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(serial)
            .copied()
            .unwrap_or(TerminalStatus::Active)
    }

    /// Reads the terminal's status from `store` into the deny list and returns it; `None`
    /// when the serial is not enrolled (or not a valid serial). A store error leaves the
    /// list as it is and is returned.
    pub async fn refresh(&self, store: &Store, serial: &[u8]) -> Result<Option<TerminalStatus>, crate::Error> {
        let Ok(key) = TerminalSerial::new(serial) else { return Ok(None) };
        let status = store.terminal(&key).await?.map(|t| t.status);
        if let Some(status) = status {
            self.set_status(serial, status);
        }
        Ok(status)
    }

    fn check(&self, serial: &[u8], subject: &str) -> Result<(), CertError> {
        match self.status(serial) {
            TerminalStatus::Active => Ok(()),
            TerminalStatus::Suspended => {
                Err(CertError::Revoked(format!("{subject}: the terminal is suspended by the registry")))
            }
            TerminalStatus::Revoked => {
                Err(CertError::Revoked(format!("{subject}: the terminal is revoked by the registry")))
            }
        }
    }
}

impl ClientCertVerifier for RegistryVerifier {
    fn verify_client(&self, certs: &[CertificateDer], now: UnixTime) -> Result<PeerIdentity, CertError> {
        let peer = self.inner.verify_client(certs, now)?;
        self.check(&peer.serial, &peer.subject)?;
        Ok(peer)
    }

    fn allow_resumption(&self, peer: &PeerIdentity, now: UnixTime) -> Result<(), CertError> {
        self.check(&peer.serial, &peer.subject)?;
        self.inner.allow_resumption(peer, now)
    }

    fn ca_names(&self) -> Vec<DistinguishedName> {
        self.inner.ca_names()
    }
}

/// Timeouts, limits, metrics and the clock of [`serve_with`].
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// The longest a handshake may take.
    pub handshake_timeout: Duration,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// The center's time given to the authorizer.
    pub clock: fn() -> Timestamp,
    /// If set, the registry deny list fed by the channel's store reads.
    pub registry: Option<RegistryVerifier>,
    /// Where the channel counts handshakes, payments and connections.
    pub metrics: Metrics,
    /// Handshakes that may run at once (see the [module documentation](self)).
    pub max_concurrent_handshakes: usize,
    /// How long a new connection may wait for a handshake slot before it is closed.
    pub handshake_slot_wait: Duration,
    /// Full handshakes one client address may make; `None`: no limit.
    pub handshakes_per_address: Option<AddressRate>,
}

fn system_clock() -> Timestamp {
    Timestamp(wearpay_tlcp::stream::system_time().0)
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            clock: system_clock,
            registry: None,
            metrics: Metrics::default(),
            max_concurrent_handshakes: DEFAULT_MAX_CONCURRENT_HANDSHAKES,
            handshake_slot_wait: Duration::from_secs(1),
            handshakes_per_address: Some(AddressRate::default()),
        }
    }
}

/// The largest request read: one whole record.
const MAX_RECORD: usize = 16 * 1024 + 512;

/// [`serve_with`] with the default [`ChannelConfig`].
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    authorizer: Authorizer,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, tls, authorizer, ChannelConfig::default(), shutdown).await;
}

/// Accepts terminals on `listener` until `shutdown` completes, then stops accepting,
/// lets every connection finish the request it is working on (connections waiting for a
/// request are closed with close_notify) and returns when all have ended.
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    authorizer: Authorizer,
    config: ChannelConfig,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let slots = Arc::new(Semaphore::new(config.max_concurrent_handshakes.max(1)));
    let buckets = config.handshakes_per_address.map(|rate| Arc::new(AddressBuckets::new(rate)));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    let charge = match &buckets {
                        Some(b) => match b.take(addr.ip(), Instant::now()) {
                            Some(charge) => charge,
                            None => {
                                config.metrics.handshake_rejected(Rejection::Rate);
                                tracing::debug!(peer = %addr, "handshake rate of the address reached: closing");
                                continue;
                            }
                        },
                        None => None,
                    };
                    let (tls, authorizer, config, stop, slots) =
                        (tls.clone(), authorizer.clone(), config.clone(), stop_rx.clone(), slots.clone());
                    tasks.spawn(async move {
                        if let Err(e) = connection(tcp, tls, authorizer, config, stop, slots, charge).await {
                            tracing::info!(peer = %addr, error = %e, "terminal connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
}

async fn connection(
    tcp: TcpStream,
    tls_config: Arc<ServerConfig>,
    authorizer: Authorizer,
    config: ChannelConfig,
    mut stop: watch::Receiver<bool>,
    slots: Arc<Semaphore>,
    charge: Option<Charge>,
) -> std::io::Result<()> {
    let metrics = &config.metrics;
    let _open = metrics.connection_opened();
    let slot = {
        let _waiting = metrics.waiting_for_handshake_slot();
        tokio::time::timeout(config.handshake_slot_wait, slots.acquire_owned()).await
    };
    let Ok(Ok(slot)) = slot else {
        metrics.handshake_rejected(Rejection::Cap);
        // The connection cost nothing: its address keeps its token.
        if let Some(charge) = charge {
            charge.give_back();
        }
        tracing::debug!("no handshake slot free in time: closing");
        return Ok(());
    };
    let started = Instant::now();
    let in_flight = metrics.handshake_started();
    let shared = config.registry.as_ref().and_then(RegistryVerifier::database_sessions);
    if let Some(sessions) = shared {
        // Another process may have made the session this hello offers (or dropped it).
        sessions.prefetch(&tcp, config.handshake_timeout).await;
    }
    let mut tls = TokioStream::new(ServerConnection::new(tls_config), tcp);
    let handshake = tokio::time::timeout(config.handshake_timeout, tls.handshake()).await;
    let took = started.elapsed();
    drop((in_flight, slot));
    let kind = match tls.conn.summary() {
        Some(s) if s.resumed => HandshakeKind::Resumed,
        _ => HandshakeKind::Full,
    };
    if kind == HandshakeKind::Resumed
        && let Some(charge) = charge
    {
        charge.give_back();
    }
    let ended = |outcome| metrics.handshake(kind, outcome, took);
    match handshake {
        Err(_) => {
            ended(HandshakeOutcome::Failed);
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timed out"));
        }
        Ok(Err(e)) => {
            let refused = matches!(tls.protocol_error(), Some(wearpay_tlcp::Error::Certificate(_)));
            ended(if refused { HandshakeOutcome::Refused } else { HandshakeOutcome::Failed });
            return Err(e);
        }
        Ok(Ok(())) => {}
    }
    let Some(peer) = tls.conn.peer().cloned() else {
        ended(HandshakeOutcome::Failed);
        return Err(std::io::Error::other("no terminal identity after the handshake"));
    };
    let serial = peer.serial.clone();
    if !active(&authorizer, &config, &serial).await {
        ended(HandshakeOutcome::Refused);
        tracing::info!(terminal = %hex::encode(&serial), "terminal not active: closing");
        let _ = tls.shutdown().await;
        return Ok(());
    }
    metrics.handshake(kind, HandshakeOutcome::Ok, took);
    if let Some(sessions) = shared {
        // Once the band has an answer, any process must be able to resume its session.
        sessions.persisted(&serial).await;
    }
    let mut buf = vec![0u8; MAX_RECORD];
    loop {
        let n = tokio::select! {
            read = tokio::time::timeout(config.idle_timeout, tls.read(&mut buf)) => match read {
                Ok(r) => r?,
                Err(_) => {
                    tracing::debug!(terminal = %hex::encode(&serial), "idle timeout");
                    break;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        if n == 0 {
            break;
        }
        let received = Instant::now();
        let request = &buf[..n];
        let payment_mode = match Request::decode(request) {
            Ok(Request::Pay(p)) => Some(p.mode()),
            _ => None,
        };
        let still_active = payment_mode.is_none() || active(&authorizer, &config, &serial).await;
        // The authorizer checks the registry itself and declines for a terminal that is
        // not active, with a signed receipt the band can show.
        let response = authorizer.handle(&serial, &peer.sign_key, request, (config.clock)()).await;
        let written = async {
            tls.write_all(&response).await?;
            tls.flush().await
        }
        .await;
        if let Some(mode) = payment_mode {
            // Decided whether or not the band hears it: counted either way.
            metrics.payment(mode, response_outcome(&response), received.elapsed());
        }
        written?;
        if !still_active {
            break;
        }
    }
    let _ = tls.shutdown().await;
    Ok(())
}

/// Whether the terminal is active in the store, updating the deny list; a store error
/// counts as active here (the authorizer answers `internal` if the store stays down).
///
/// A certificate the registry does not know may be a band's renewed one on its first
/// handshake: it is promoted then (see [`crate::renewal`]), and the certificate it
/// supersedes is refused from here on.
async fn active(authorizer: &Authorizer, config: &ChannelConfig, serial: &[u8]) -> bool {
    let mut status = registry_status(authorizer, config, serial).await;
    if matches!(status, Ok(None))
        && let Ok(key) = TerminalSerial::new(serial)
    {
        status = match authorizer.promote_renewal(&key, (config.clock)()).await {
            Ok(Some(promotion)) => {
                if let Some(registry) = &config.registry {
                    registry.set_status(promotion.replaced.as_bytes(), TerminalStatus::Revoked);
                    registry.set_status(serial, promotion.terminal.status);
                }
                Ok(Some(promotion.terminal.status))
            }
            // Not a renewal, or another process promoted it first: the registry has the answer.
            Ok(None) => registry_status(authorizer, config, serial).await,
            Err(e) => Err(e),
        };
    }
    match status {
        Ok(Some(status)) => status == TerminalStatus::Active,
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "registry read failed");
            true
        }
    }
}

async fn registry_status(
    authorizer: &Authorizer,
    config: &ChannelConfig,
    serial: &[u8],
) -> Result<Option<TerminalStatus>, crate::Error> {
    match &config.registry {
        Some(registry) => registry.refresh(authorizer.store(), serial).await,
        None => match TerminalSerial::new(serial) {
            Ok(key) => authorizer.store().terminal(&key).await.map(|t| t.map(|t| t.status)),
            Err(_) => Ok(None),
        },
    }
}

// ---- handshake rate per address ---------------------------------------------------------

/// Handshakes that may run at once by default: on two cores a full handshake takes a few
/// milliseconds of CPU, so 64 at once is already a queue of a few hundred milliseconds.
pub const DEFAULT_MAX_CONCURRENT_HANDSHAKES: usize = 64;

/// Addresses tracked before idle buckets are dropped.
const PRUNE_AT: usize = 10_000;

/// The least time between two sweeps for idle buckets, so that a crowd of busy addresses
/// does not make every accept walk the whole table.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Addresses tracked at most. Past this many busy addresses (a botnet), new ones pass
/// untracked: the cap on concurrent handshakes still bounds the CPU, and refusing every
/// new address would shut out the legitimate ones with the attack.
const MAX_ADDRESSES: usize = 100_000;

/// A token bucket for full handshakes, per client address: `burst` tokens at most,
/// refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRate {
    /// Full handshakes one address may sustain, per minute.
    pub per_minute: u32,
    /// Full handshakes one address may make at once, after being quiet.
    pub burst: u32,
}

impl Default for AddressRate {
    /// 1200 a minute (20 a second) with bursts of 256: a busy bridge, or many bands
    /// behind one carrier NAT, enrolling or reconnecting together, while one address
    /// still gets at most a few percent of what two cores can do.
    fn default() -> Self {
        Self { per_minute: 1200, burst: 256 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every address seen lately.
#[derive(Debug)]
struct AddressBuckets {
    rate: AddressRate,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    swept_at: Option<Instant>,
}

/// A token a connection took; given back if it costs no full handshake.
#[derive(Debug)]
struct Charge {
    buckets: Arc<AddressBuckets>,
    key: IpAddr,
}

impl Charge {
    fn give_back(self) {
        self.buckets.give_back(self.key, Instant::now());
    }
}

/// One client: an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl AddressBuckets {
    fn new(rate: AddressRate) -> Self {
        let rate = AddressRate { per_minute: rate.per_minute.max(1), burst: rate.burst.max(1) };
        Self { rate, table: Mutex::new(Table::default()) }
    }

    fn burst(&self) -> f64 {
        f64::from(self.rate.burst)
    }

    /// `bucket` refilled up to `now`.
    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * f64::from(self.rate.per_minute) / 60.0).min(self.burst());
        bucket.at = now;
    }

    /// Takes a token for a connection from `ip`: `None` when its bucket is empty,
    /// `Some(None)` when the address passes untracked (the table is full).
    fn take(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Option<Option<Charge>> {
        let key = client_key(ip);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.buckets.len() >= PRUNE_AT && !table.buckets.contains_key(&key) {
            if table.swept_at.is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_EVERY) {
                let burst = self.burst();
                table.buckets.retain(|_, b| {
                    self.refill(b, now);
                    b.tokens < burst
                });
                table.swept_at = Some(now);
            }
            if table.buckets.len() >= MAX_ADDRESSES {
                return Some(None);
            }
        }
        let bucket = table.buckets.entry(key).or_insert(Bucket { tokens: self.burst(), at: now });
        self.refill(bucket, now);
        if bucket.tokens < 1.0 {
            return None;
        }
        bucket.tokens -= 1.0;
        Some(Some(Charge { buckets: self.clone(), key }))
    }

    fn give_back(&self, key: IpAddr, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = table.buckets.get_mut(&key) {
            self.refill(bucket, now);
            bucket.tokens = (bucket.tokens + 1.0).min(self.burst());
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().unwrap_or_else(PoisonError::into_inner).buckets.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn buckets_refill_refund_and_group_ipv6() {
        let buckets = Arc::new(AddressBuckets::new(AddressRate { per_minute: 60, burst: 2 }));
        let t = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = buckets.take(a, t).unwrap().unwrap();
        let _second = buckets.take(a, t).unwrap().unwrap();
        assert!(buckets.take(a, t).is_none(), "a third at once is over the burst");
        // A resumption gives its token back.
        first.give_back();
        assert!(buckets.take(a, Instant::now()).is_some());
        // One a second comes back.
        let later = Instant::now() + Duration::from_millis(1100);
        assert!(buckets.take(a, later).is_some());
        assert!(buckets.take(a, later).is_none());
        // Another address has its own bucket; one /64 is one client.
        assert!(buckets.take("192.0.2.2".parse().unwrap(), t).is_some());
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(buckets.take(v6("2001:db8::1"), t).is_some());
        assert!(buckets.take(v6("2001:db8::2"), t).is_some());
        assert!(buckets.take(v6("2001:db8::ffff:3"), t).is_none());
        assert!(buckets.take(v6("2001:db8:0:1::1"), t).is_some());
    }

    #[test]
    fn idle_buckets_are_dropped() {
        let buckets = Arc::new(AddressBuckets::new(AddressRate { per_minute: 600, burst: 1 }));
        let t = Instant::now();
        for i in 0..PRUNE_AT {
            let ip = IpAddr::V4(core::net::Ipv4Addr::from(0x0a00_0000 + u32::try_from(i).unwrap()));
            let _ = buckets.take(ip, t).unwrap();
        }
        assert_eq!(buckets.tracked(), PRUNE_AT);
        // A second later every bucket is full again: the next new address clears them.
        let _ = buckets.take("192.0.2.9".parse().unwrap(), t + Duration::from_secs(1)).unwrap();
        assert_eq!(buckets.tracked(), 1);
        // Busy buckets stay, and the table is swept at most once a second.
        let t = t + Duration::from_secs(2);
        for i in 0..PRUNE_AT {
            let ip = IpAddr::V4(core::net::Ipv4Addr::from(0x0b00_0000 + u32::try_from(i).unwrap()));
            let _ = buckets.take(ip, t).unwrap();
        }
        let _ = buckets.take("192.0.2.10".parse().unwrap(), t).unwrap();
        // Half a second on, those buckets are full again, but the last sweep was just now.
        let _ = buckets.take("192.0.2.11".parse().unwrap(), t + Duration::from_millis(500)).unwrap();
        assert_eq!(buckets.tracked(), PRUNE_AT + 2, "swept twice within a second");
    }
}
