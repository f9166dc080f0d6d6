//! Certificate renewal: a band asks over the channel for a new certificate for its key
//! ([`wearpay_pay::Renew`]); its first handshake with that certificate moves the terminal to
//! it.
//!
//! The registry is keyed by certificate serial, and a renewal gives a new serial. Issuing
//! the certificate changes nothing yet ([`Store::record_renewal`] keeps it aside): the old
//! certificate stays the band's, so an answer the phone drops costs nothing, and a band
//! that never uses the new certificate keeps paying with the old one. The first handshake
//! with the new certificate promotes it ([`Store::promote_renewal`]), in one transaction:
//! a new terminal row takes over the old one's account, status and counter, the day's
//! spending moves with it (a renewal must not reset the daily limits), and the old
//! certificate is revoked as superseded. A terminal revoked in the meantime (a lost band)
//! is never promoted, and its waiting certificates go into the CRL with it.
extern crate alloc;

use alloc::{string::ToString, vec::Vec};

use wearpay_pay::{TerminalSerial, Timestamp};

use crate::{
    Error, Store, Terminal, TerminalStatus,
    audit::{self, Event},
    db::args,
    store::{serial, terminal_in, to_ts, ts},
};

/// How many renewals [`Store::same_band`] follows: far more than a band makes in its life.
const MAX_RENEWALS: usize = 64;

/// A terminal moved to its renewed certificate by [`Store::promote_renewal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The terminal under its new certificate.
    pub terminal: Terminal,
    /// The certificate it replaced, now revoked as superseded.
    pub replaced: TerminalSerial,
}

/// Why a certificate is in the terminal CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationCause {
    /// The terminal was revoked (a lost band): its key may be in other hands.
    Revoked,
    /// A renewed certificate replaced it.
    Superseded,
}

/// A certificate the terminal CRL lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// Its serial.
    pub serial: TerminalSerial,
    /// When it was revoked.
    pub at: Timestamp,
    /// Why.
    pub cause: RevocationCause,
}

impl Store {
    /// Keeps `certificate` (serial `new`), just issued to the band of terminal `current` for
    /// the same key, until its first use. Refused for a revoked terminal
    /// ([`Error::TerminalRevoked`]) or an unknown one.
    pub async fn record_renewal(
        &self,
        current: &TerminalSerial,
        new: &TerminalSerial,
        certificate: Vec<u8>,
        not_after: u64,
        now: Timestamp,
    ) -> Result<(), Error> {
        let now_i = ts(now)?;
        let mut tx = self.db.begin_write().await?;
        let terminal = terminal_in(&mut tx, &current.to_string()).await?.ok_or(Error::NotFound { what: "terminal" })?;
        if terminal.status == TerminalStatus::Revoked {
            return Err(Error::TerminalRevoked);
        }
        tx.execute(
            "INSERT INTO terminal_renewals (serial, terminal_serial, certificate, issued_at) VALUES ($1, $2, $3, $4)",
            args![new.to_string(), current.to_string(), certificate, now_i],
        )
        .await
        .map_err(|e| crate::store::unique(e, "certificate serial"))?;
        audit::append(&mut tx, now, Event::terminal_renewal_issued(current, new, not_after)).await?;
        tx.commit().await
    }

    /// Moves the terminal to its renewed certificate `new` on that certificate's first
    /// handshake (see the [module documentation](self)). `None` when `new` is no waiting
    /// renewal, when the terminal it renews has been revoked, or when another center
    /// process promoted it first (the registry then has it).
    pub async fn promote_renewal(&self, new: &TerminalSerial, now: Timestamp) -> Result<Option<Promotion>, Error> {
        let now_i = ts(now)?;
        let key = new.to_string();
        let mut tx = self.db.begin_write().await?;
        let Some(row) = tx
            .optional(
                "SELECT terminal_serial, certificate FROM terminal_renewals WHERE serial = $1",
                args![key.clone()],
            )
            .await?
        else {
            return Ok(None);
        };
        let old_key: String = row.get(0)?;
        let certificate: Vec<u8> = row.get(1)?;
        let old = terminal_in(&mut tx, &old_key).await?.ok_or(Error::NotFound { what: "terminal" })?;
        if old.status == TerminalStatus::Revoked {
            // Kept: the CRL lists the waiting certificates of a revoked terminal.
            return Ok(None);
        }
        let last_counter = old
            .last_counter
            .map_or(Ok(-1), |c| i64::try_from(c.0))
            .map_err(|_| Error::invalid("counter", "out of range"))?;
        let inserted = tx
            .execute(
                "INSERT INTO terminals (serial, account_id, status, last_counter, certificate, enrolled_at, \
                 status_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                args![
                    key.clone(),
                    old.account.0,
                    old.status.as_str(),
                    last_counter,
                    certificate,
                    ts(old.enrolled_at)?,
                    now_i
                ],
            )
            .await;
        match inserted {
            Ok(_) => {}
            // Another process promoted it between our read and this insert.
            Err(e) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e),
        }
        tx.execute(
            "UPDATE daily_spend SET terminal_serial = $1 WHERE terminal_serial = $2",
            args![key.clone(), old_key.clone()],
        )
        .await?;
        tx.execute(
            "UPDATE terminals SET status = 'revoked', status_changed_at = $1, replaced_by = $2 WHERE serial = $3",
            args![now_i, key.clone(), old_key.clone()],
        )
        .await?;
        tx.execute("DELETE FROM terminal_renewals WHERE terminal_serial = $1", args![old_key.clone()]).await?;
        // The old certificate's sessions must not resume anywhere.
        tx.execute("DELETE FROM tlcp_sessions WHERE terminal_serial = $1", args![old_key]).await?;
        audit::append(&mut tx, now, Event::terminal_renewed(&old.serial, new)).await?;
        let terminal = terminal_in(&mut tx, &key).await?.ok_or(Error::NotFound { what: "terminal" })?;
        tx.commit().await?;
        tracing::info!(terminal = %new, replaces = %old.serial, "band moved to its renewed certificate");
        Ok(Some(Promotion { terminal, replaced: old.serial }))
    }

    /// Whether `later` is `earlier` or a certificate that replaced it through renewals: the
    /// same band, whose payments made before a renewal stay its own.
    pub async fn same_band(&self, earlier: &TerminalSerial, later: &TerminalSerial) -> Result<bool, Error> {
        let mut at = earlier.to_string();
        let target = later.to_string();
        for _ in 0..MAX_RENEWALS {
            if at == target {
                return Ok(true);
            }
            let next = self
                .db
                .optional("SELECT replaced_by FROM terminals WHERE serial = $1", args![at])
                .await?
                .map(|r| r.get::<Option<String>>(0))
                .transpose()?
                .flatten();
            match next {
                Some(n) => at = n,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Records in the audit trail that `wearpay center rotate` replaced the center's
    /// certificates: (file name, new serial) for each.
    pub async fn record_key_rotation(
        &self,
        certificates: &[(&'static str, String)],
        now: Timestamp,
    ) -> Result<(), Error> {
        let mut tx = self.db.begin_write().await?;
        audit::append(&mut tx, now, Event::keys_rotated(certificates)).await?;
        tx.commit().await
    }

    /// Every certificate the terminal CA's CRL lists, oldest first: revoked terminals,
    /// certificates superseded by a renewal, and the waiting renewals of revoked terminals.
    pub async fn revoked_certificates(&self) -> Result<Vec<RevokedCertificate>, Error> {
        self.db
            .all(
                "SELECT serial, status_changed_at, replaced_by IS NOT NULL FROM terminals WHERE status = 'revoked' \
                 UNION ALL \
                 SELECT r.serial, t.status_changed_at, 1 = 0 FROM terminal_renewals r \
                 JOIN terminals t ON t.serial = r.terminal_serial WHERE t.status = 'revoked' \
                 ORDER BY 2, 1",
                args![],
            )
            .await?
            .iter()
            .map(|r| {
                let cause = if r.get::<bool>(2)? { RevocationCause::Superseded } else { RevocationCause::Revoked };
                Ok(RevokedCertificate { serial: serial(&r.get::<String>(0)?)?, at: to_ts(r.get(1)?)?, cause })
            })
            .collect()
    }
}

/// A band's renewed certificate, as [`CertificateIssuer::renew`] made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// What the band receives.
    pub renewed: wearpay_pay::Renewed,
    /// The new certificate's serial.
    pub serial: TerminalSerial,
    /// Its last second of validity.
    pub not_after: u64,
}

/// Why a renewal was not issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenewRefusal {
    /// The request is malformed, its self-signature does not verify, or it is for another
    /// key than the one the channel authenticated.
    #[error("bad certificate request: {0}")]
    BadCsr(&'static str),
    /// The issuer failed.
    #[error("renewal failed: {0}")]
    Failed(crate::BoxError),
}

/// Issues renewed band certificates: the terminal CA as the center runs it
/// ([`crate::node::Center`] provides one).
pub trait CertificateIssuer: Send + Sync + core::fmt::Debug {
    /// A certificate for the key of `csr` (DER), which must verify and be `key`, the key
    /// the channel authenticated; with the subject of `current`, the terminal's certificate
    /// as the registry holds it (never the CSR's subject).
    fn renew(
        &self,
        csr: &[u8],
        key: &wearpay_crypto::PublicKey,
        current: &[u8],
        now: Timestamp,
    ) -> Result<Issued, RenewRefusal>;

    /// Signs and publishes the terminal CRL listing `revoked` (after a renewal is first used,
    /// the certificate it superseded).
    fn publish_crl(&self, revoked: &[RevokedCertificate], now: Timestamp) -> Result<(), crate::BoxError>;
}
