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
extern crate alloc;

use alloc::{format, sync::Arc, vec, vec::Vec};
use core::future::Future;
use core::time::Duration;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
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

/// Serials (big-endian certificate serial bytes) to their non-active registry status.
type DenyList = Arc<RwLock<HashMap<Vec<u8>, TerminalStatus>>>;

/// The center's check of a terminal: the PKI check of [`PkiClientVerifier`], then the
/// registry's deny list (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct RegistryVerifier {
    inner: Arc<PkiClientVerifier>,
    denied: DenyList,
    sessions: Arc<dyn SessionStore>,
}

impl RegistryVerifier {
    /// Wraps `inner`; `sessions` must be the session store of the [`ServerConfig`] this
    /// verifier goes into, so that revocation can drop the terminal's sessions.
    pub fn new(inner: PkiClientVerifier, sessions: Arc<dyn SessionStore>) -> Self {
        Self { inner: Arc::new(inner), denied: DenyList::default(), sessions }
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

/// Timeouts and the clock of [`serve_with`].
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
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    let (tls, authorizer, config, stop) =
                        (tls.clone(), authorizer.clone(), config.clone(), stop_rx.clone());
                    tasks.spawn(async move {
                        if let Err(e) = connection(tcp, tls, authorizer, config, stop).await {
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
) -> std::io::Result<()> {
    let mut tls = TokioStream::new(ServerConnection::new(tls_config), tcp);
    tokio::time::timeout(config.handshake_timeout, tls.handshake())
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timed out"))??;
    let Some(peer) = tls.conn.peer().cloned() else {
        return Err(std::io::Error::other("no terminal identity after the handshake"));
    };
    let serial = peer.serial.clone();
    if !active(&authorizer, &config, &serial).await {
        tracing::info!(terminal = %hex::encode(&serial), "terminal not active: closing");
        let _ = tls.shutdown().await;
        return Ok(());
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
        let request = &buf[..n];
        let is_payment = matches!(Request::decode(request), Ok(Request::Pay(_)));
        let still_active = !is_payment || active(&authorizer, &config, &serial).await;
        // The authorizer checks the registry itself and declines for a terminal that is
        // not active, with a signed receipt the band can show.
        let response = authorizer.handle(&serial, &peer.sign_key, request, (config.clock)()).await;
        tls.write_all(&response).await?;
        tls.flush().await?;
        if !still_active {
            break;
        }
    }
    let _ = tls.shutdown().await;
    Ok(())
}

/// Whether the terminal is active in the store, updating the deny list; a store error
/// counts as active here (the authorizer answers `internal` if the store stays down).
async fn active(authorizer: &Authorizer, config: &ChannelConfig, serial: &[u8]) -> bool {
    let status = match &config.registry {
        Some(registry) => registry.refresh(authorizer.store(), serial).await,
        None => match TerminalSerial::new(serial) {
            Ok(key) => authorizer.store().terminal(&key).await.map(|t| t.map(|t| t.status)),
            Err(_) => Ok(None),
        },
    };
    match status {
        Ok(Some(status)) => status == TerminalStatus::Active,
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "registry read failed");
            true
        }
    }
}
