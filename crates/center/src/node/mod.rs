//! A whole center process: the configuration file ([`CenterConfig`]), the directory
//! [`init`] makes, and [`Center`], which opens the store, the key store, the certificates
//! and the terminal CA that a config names and runs the channel listener over them.
//!
//! The operator commands (`wearpay center …`) and the load generator go through [`Center`],
//! so that what they do to the registry (enrolling, revoking) also does what must follow:
//! a revocation reaches the listener's registry at once and regenerates the CRL.
extern crate alloc;

use alloc::{string::String, sync::Arc, vec, vec::Vec};
use core::time::Duration;
use std::path::PathBuf;

use tokio::net::TcpListener;
use wearpay_crypto::{CryptoProvider, PublicKey};
use wearpay_pay::{Pin, PinBlock, TerminalSerial, Timestamp, TxId};
use wearpay_pki::{
    Certificate, CertificateRequest, Crl, MemoryCertificateCache, MemorySignatureCache, Role, UnixTime, Verifier, files,
};
use wearpay_tlcp::{
    DEFAULT_SUITES, PkiClientVerifier, ServerConfig,
    msgs::CertificateDer,
    session::{MemorySessionStore, SessionStore},
};

use crate::{
    AccountId, AccountKind, AuditCheckpointer, AuditReport, NewTerminal, Store, Terminal, TerminalStatus,
    authorize::{Authorizer, AuthorizerConfig, account_ref},
    channel::{AddressRate, ChannelConfig, RegistryVerifier, serve_with},
    keystore::{self, FileKeyStore, KeyPurpose, KeyStore},
    metrics::Metrics,
    sessions::DatabaseSessionStore,
};

mod ca;
mod config;
mod init;
mod rotate;

pub use ca::{CRL_VALIDITY_DAYS, Renewer, TerminalCa};
pub use config::{
    AuditSection, CenterConfig, ChannelSection, DATABASE_URL_ENV, DatabaseSection, HttpSection, KeysSection,
    LimitsSection, ModeLimits, PkiSection, SessionStorage, WebhooksSection,
};
pub use init::{ADMIN_TOKEN_FILE, CENTER_CERT_DAYS, InitOptions, InitReport, init};
pub use rotate::{RotatedCertificate, RotationReport, rotate, rotate_with_iterations};

/// The center's certificate files in `[pki] certs`, by key purpose.
pub const CERT_FILES: [(KeyPurpose, &str, Role); 4] = [
    (KeyPurpose::ChannelSign, "channel-sign.crt", Role::CenterSign),
    (KeyPurpose::ChannelEnc, "channel-enc.crt", Role::CenterEnc),
    (KeyPurpose::ReceiptSign, "receipt-sign.crt", Role::CenterReceipt),
    (KeyPurpose::PinEnc, "pin-enc.crt", Role::CenterPin),
];

/// Sessions the listener keeps for resumption.
const SESSION_CACHE: usize = 100_000;

/// Certificate signatures the listener remembers as verified (32 bytes each): a band's
/// chain costs its signature checks at its first full handshake only.
const SIGNATURE_CACHE: usize = 200_000;

/// Parsed band certificates the listener keeps (a few KiB each): a band's full handshakes
/// and resumptions after its first do not parse its certificate again.
const CERTIFICATE_CACHE: usize = 10_000;

/// Why a center could not be set up or an operation on it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is wrong or the files do not fit together.
    #[error("{what}: {why}")]
    Config {
        /// Which setting or file.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A certificate, key, CSR or CRL was refused.
    #[error(transparent)]
    Pki(#[from] wearpay_pki::Error),
    /// The key store refused.
    #[error(transparent)]
    KeyStore(#[from] keystore::Error),
    /// The ledger refused.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// An open center: everything `wearpay center serve` runs on.
#[derive(Debug)]
pub struct Center {
    config: CenterConfig,
    provider: &'static CryptoProvider,
    store: Store,
    keys: Arc<FileKeyStore>,
    root: Certificate,
    certs: Vec<(KeyPurpose, Certificate)>,
    center_ca: Certificate,
    terminal_ca: Arc<TerminalCa>,
    registry: RegistryVerifier,
    tls: Arc<ServerConfig>,
    authorizer: Authorizer,
    metrics: Metrics,
}

impl Center {
    /// Opens what `config` names, with the `shangmi` crypto provider: constant-time SM2,
    /// SM3 and SM4 on the fastest back end this CPU has (a portable one where it has none).
    pub async fn open(config: CenterConfig) -> Result<Self, Error> {
        Self::open_with(config, &wearpay_shangmi::PROVIDER).await
    }

    /// Opens what `config` names: the store (created and migrated if new), the key store,
    /// the certificates (each checked against the root and against its key in the key
    /// store) and the terminal CA.
    pub async fn open_with(config: CenterConfig, provider: &'static CryptoProvider) -> Result<Self, Error> {
        config.check()?;
        let store = Store::open(&config.location(), config.store_config()?).await?;
        let (keys, root, certs, center_ca, terminal_ca) = {
            let config = config.clone();
            // PBKDF2 over every key file: keep it off the async threads.
            tokio::task::spawn_blocking(move || load_files(&config, provider))
                .await
                .map_err(|e| Error::Config { what: "startup", why: e.to_string() })??
        };
        let lifetime = config.channel.session_lifetime_secs;
        let memory: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(SESSION_CACHE, lifetime));
        let mut registry = RegistryVerifier::new(
            PkiClientVerifier::new(
                *provider,
                vec![root.clone()],
                [terminal_ca.chain(), core::slice::from_ref(terminal_ca.certificate())].concat(),
                vec![],
            )
            .with_signature_cache(Arc::new(MemorySignatureCache::new(SIGNATURE_CACHE)))
            .with_certificate_cache(Arc::new(MemoryCertificateCache::new(CERTIFICATE_CACHE))),
            memory.clone(),
        );
        let sessions = match config.channel.sessions {
            SessionStorage::Memory => memory,
            SessionStorage::Database => {
                let keys: Arc<dyn KeyStore> = keys.clone();
                let shared = Arc::new(DatabaseSessionStore::open(store.clone(), keys, SESSION_CACHE, lifetime).await?);
                registry = registry.with_database_sessions(shared.clone());
                shared
            }
        };
        let der = |c: &Certificate| CertificateDer(c.as_der().to_vec());
        let cert = |p: KeyPurpose| certs.iter().find(|(q, _)| *q == p).map(|(_, c)| der(c));
        let tls = Arc::new(ServerConfig {
            provider: *provider,
            suites: DEFAULT_SUITES.to_vec(),
            profile: config.profile()?,
            sign_key: keys.signing_key(KeyPurpose::ChannelSign)?,
            enc_key: keys.decrypting_key(KeyPurpose::ChannelEnc)?,
            cert_chain: [cert(KeyPurpose::ChannelSign), cert(KeyPurpose::ChannelEnc), Some(der(&center_ca))]
                .into_iter()
                .flatten()
                .collect(),
            verifier: Arc::new(registry.clone()),
            session_store: sessions,
            session_lifetime: lifetime,
        });
        let terminal_ca = Arc::new(terminal_ca);
        let center_cert = |p: KeyPurpose| {
            certs
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, c)| c)
                .ok_or(Error::Config { what: "certificates", why: alloc::format!("no {p} certificate") })
        };
        let renewer = Renewer::new(
            terminal_ca.clone(),
            config.pki.terminal_days,
            center_cert(KeyPurpose::ReceiptSign)?,
            center_cert(KeyPurpose::PinEnc)?,
            config.path(&config.pki.crl),
        );
        let authorizer = Authorizer::new(
            store.clone(),
            keys.clone(),
            provider,
            AuthorizerConfig { policy: config.policy()?, ..AuthorizerConfig::default() },
        )
        .with_issuer(Arc::new(renewer));
        let metrics = Metrics::new();
        let audit_store = store.clone();
        metrics.set_queue_depth_source("audit_unsealed", move || {
            let store = audit_store.clone();
            async move { store.audit_status().await.ok().map(|s| s.unsealed()) }
        });
        let webhook_store = store.clone();
        metrics.set_queue_depth_source("webhooks_pending", move || {
            let store = webhook_store.clone();
            async move { store.pending_webhooks().await.ok() }
        });
        Ok(Self {
            config,
            provider,
            store,
            keys,
            root,
            certs,
            center_ca,
            terminal_ca,
            registry,
            tls,
            authorizer,
            metrics,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CenterConfig {
        &self.config
    }

    /// The ledger.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The crypto provider.
    pub fn provider(&self) -> &'static CryptoProvider {
        self.provider
    }

    /// The key store.
    pub fn keys(&self) -> &Arc<FileKeyStore> {
        &self.keys
    }

    /// The root both sides trust.
    pub fn root(&self) -> &Certificate {
        &self.root
    }

    /// The CA that issued the center's certificates.
    pub fn center_ca(&self) -> &Certificate {
        &self.center_ca
    }

    /// The center's certificate for `purpose`.
    pub fn certificate(&self, purpose: KeyPurpose) -> Option<&Certificate> {
        self.certs.iter().find(|(p, _)| *p == purpose).map(|(_, c)| c)
    }

    /// The terminal issuing CA.
    pub fn terminal_ca(&self) -> &TerminalCa {
        &self.terminal_ca
    }

    /// The TLCP server configuration.
    pub fn tls(&self) -> &Arc<ServerConfig> {
        &self.tls
    }

    /// The authorizer.
    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// The metrics the channel records into and `GET /metrics` serves; other parts add
    /// their queues with [`Metrics::set_queue_depth_source`].
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The sessions shared through the database (`[channel] sessions = "database"`).
    pub fn database_sessions(&self) -> Option<&Arc<DatabaseSessionStore>> {
        self.registry.database_sessions()
    }

    /// The channel listener's settings from the config.
    pub fn channel_config(&self) -> ChannelConfig {
        ChannelConfig {
            handshake_timeout: Duration::from_secs(self.config.channel.handshake_timeout_secs),
            idle_timeout: Duration::from_secs(self.config.channel.idle_timeout_secs),
            registry: Some(self.registry.clone()),
            metrics: self.metrics.clone(),
            max_concurrent_handshakes: usize::try_from(self.config.channel.max_concurrent_handshakes)
                .unwrap_or(usize::MAX),
            handshakes_per_address: Some(AddressRate {
                per_minute: self.config.channel.handshakes_per_address_per_minute,
                burst: self.config.channel.handshake_burst_per_address,
            }),
            ..ChannelConfig::default()
        }
    }

    /// Binds the configured channel address.
    pub async fn bind(&self) -> Result<TcpListener, Error> {
        let addr = self.config.channel.listen;
        TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config { what: "channel.listen", why: format!("cannot listen on {addr}: {e}") })
    }

    /// Serves terminals on `listener` until `shutdown` completes; in-flight requests finish.
    /// Meanwhile the audit chain's head is signed every `[audit] every` entries, and once
    /// more after the last payment; and merchants' webhook events are delivered from the
    /// queue (see [`crate::webhook`]) until the channel has stopped.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let checkpointer = self.audit_checkpointer();
        let audit = async {
            let mut stopped = stopped.clone();
            let until = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            match &checkpointer {
                Ok(c) => {
                    if let Err(e) = c.run(until, system_now).await {
                        tracing::error!(error = %e, "the final audit checkpoint failed");
                    }
                }
                Err(e) => tracing::error!(error = %e, "audit checkpoints are off"),
            }
        };
        let webhooks = async {
            let mut stopped = stopped.clone();
            let until = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            match self.webhook_dispatcher() {
                Ok(d) => d.run(until).await,
                Err(e) => tracing::error!(error = %e, "webhook delivery is off"),
            }
        };
        let channel = async {
            serve_with(listener, self.tls.clone(), self.authorizer.clone(), self.channel_config(), shutdown).await;
            // The channel has finished its in-flight payments: seal what they appended.
            let _ = stop.send(true);
        };
        tokio::join!(channel, audit, webhooks);
    }

    /// What signs the audit chain's checkpoints, with the key store's audit key.
    pub fn audit_checkpointer(&self) -> Result<AuditCheckpointer, Error> {
        let signer = self.keys.signing_key(KeyPurpose::AuditSign)?;
        let file = self.audit_file();
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        }
        Ok(AuditCheckpointer::new(self.store.clone(), signer).every(self.config.audit.every).file(self.audit_file()))
    }

    /// The audit checkpoint file.
    pub fn audit_file(&self) -> PathBuf {
        self.config.path(&self.config.audit.checkpoint_file)
    }

    /// Checks the whole audit chain against the key store's audit key, the database's
    /// checkpoints and the checkpoint file.
    pub async fn audit_verify(&self) -> Result<AuditReport, Error> {
        let key = self.keys.public_key(KeyPurpose::AuditSign)?;
        let file = self.audit_file();
        Ok(self.store.audit_verify(&key, file.exists().then_some(file.as_path())).await?)
    }

    /// Enrolls a band: checks the CSR's self-signature, issues its certificate from the
    /// terminal CA with a subject of the center's choosing, and registers it (active) to
    /// the customer account `account`.
    pub async fn enroll_terminal(
        &self,
        csr: &CertificateRequest,
        account: AccountId,
        label: &str,
        now: Timestamp,
    ) -> Result<(Terminal, Certificate), Error> {
        let holder = self.store.account(account).await?.ok_or(crate::Error::NotFound { what: "account" })?;
        if holder.kind != AccountKind::Customer {
            return Err(Error::Config { what: "enroll", why: String::from("terminals pay from customer accounts") });
        }
        let subject = TerminalCa::terminal_subject(account.0, label)?;
        let cert = self.terminal_ca.issue(csr, subject, self.config.pki.terminal_days, now)?;
        let serial = TerminalSerial::new(cert.serial())
            .map_err(|_| Error::Config { what: "enroll", why: String::from("certificate serial unusable") })?;
        let terminal = self
            .store
            .enroll_terminal(NewTerminal { serial, account, certificate: cert.as_der().to_vec() }, now)
            .await?;
        Ok((terminal, cert))
    }

    /// Sets a terminal's status. Takes effect at once in this process's listener (and, by
    /// the store, in every other center process at its next check); a revocation also
    /// regenerates the CRL. A suspension or revocation deletes the terminal's resumable
    /// sessions, in the database for every process (see [`crate::sessions`]) and here.
    pub async fn set_terminal_status(
        &self,
        serial: &TerminalSerial,
        status: TerminalStatus,
        now: Timestamp,
    ) -> Result<Terminal, Error> {
        let terminal = self.store.set_terminal_status(serial, status, now).await?;
        self.registry.set_status(serial.as_bytes(), status);
        if status == TerminalStatus::Revoked {
            self.publish_crl(now).await?;
        }
        Ok(terminal)
    }

    /// Sets (or replaces) the PIN of a customer account with a PAN. The PIN goes through
    /// the same path as a band's: enciphered in a format 4 block to the key store's PIN key,
    /// which alone turns it into the keyed verification value the store keeps.
    pub async fn set_pin(&self, account: AccountId, pin: &Pin) -> Result<(), Error> {
        let holder = self.store.account(account).await?.ok_or(crate::Error::NotFound { what: "account" })?;
        let pan = holder
            .pan
            .clone()
            .ok_or(Error::Config { what: "PIN", why: String::from("the account has no PAN; a PIN needs one") })?;
        let tx_id = TxId::random(self.provider).map_err(|e| Error::Config { what: "random", why: e.to_string() })?;
        let pin_key = self.keys.public_key(KeyPurpose::PinEnc)?;
        let block = PinBlock::encipher(self.provider, pin, &pan, &tx_id, &pin_key)
            .map_err(|e| Error::Config { what: "PIN", why: e.to_string() })?;
        let value = self.keys.pin_verification_value_for_new_pin(&block, &pan, &tx_id, &account_ref(&holder))?;
        self.store.set_pin_verification(account, Some(value.to_vec())).await?;
        Ok(())
    }

    /// Signs and writes the terminal CRL from the registry's revoked terminals.
    pub async fn publish_crl(&self, now: Timestamp) -> Result<Crl, Error> {
        let revoked = self.store.revoked_certificates().await?;
        let out = self.config.path(&self.config.pki.crl);
        self.terminal_ca.publish_crl(&revoked, now, &out)
    }

    /// The published CRL's path.
    pub fn crl_path(&self) -> PathBuf {
        self.config.path(&self.config.pki.crl)
    }
}

fn system_now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

type Files = (Arc<FileKeyStore>, Certificate, Vec<(KeyPurpose, Certificate)>, Certificate, TerminalCa);

fn load_files(config: &CenterConfig, provider: &'static CryptoProvider) -> Result<Files, Error> {
    let keys = FileKeyStore::open_with(config.path(&config.keys.dir), &config.keystore_password()?, provider)?;
    let root = files::read_certificate(config.path(&config.pki.root))?;
    let center_ca = files::read_certificate(config.path(&config.pki.center_ca).join("ca.crt"))?;
    let terminal_ca = TerminalCa::open(&config.path(&config.pki.terminal_ca), &config.ca_password()?, provider)?;
    let verifier_roots = vec![root.clone()];
    let verifier = Verifier::new(provider, &verifier_roots);
    let now = UnixTime::now();
    let certs_dir = config.path(&config.pki.certs);
    let mut certs = Vec::new();
    for (purpose, file, role) in CERT_FILES {
        let cert = files::read_certificate(certs_dir.join(file))?;
        // A certificate for another key (a mix-up in rotation) would make every handshake
        // or receipt fail later; refuse to start instead.
        let key: PublicKey = keys.public_key(purpose)?;
        if cert.public_key()? != &key {
            return Err(Error::Config {
                what: "certificates",
                why: format!("{file} is not for the key store's {purpose} key"),
            });
        }
        verifier.verify(&cert, core::slice::from_ref(&center_ca), now, Some(role))?;
        certs.push((purpose, cert));
    }
    verifier.verify(terminal_ca.certificate(), terminal_ca.chain(), now, Some(Role::IssuingCa))?;
    Ok((Arc::new(keys), root, certs, center_ca, terminal_ca))
}

/// The center's files checked without opening the database (for `wearpay center check`).
pub fn check_files(config: &CenterConfig, provider: &'static CryptoProvider) -> Result<(), Error> {
    load_files(config, provider).map(|_| ())
}
