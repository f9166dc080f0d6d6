//! `center.toml`: what a center process needs to start. Paths are relative to the file's
//! directory; no secret is ever written here, only where to find it.
//!
//! ```toml
//! [channel]
//! listen = "127.0.0.1:7443"
//! server_name = "center.wearpay.local"
//! profile = "auto"              # seed | tlcp | auto
//! max_concurrent_handshakes = 64
//! handshakes_per_address_per_minute = 1200   # full handshakes; resumptions are free
//! handshake_burst_per_address = 256
//! sessions = "database"        # database (shared by every process) | memory
//!
//! [http]
//! listen = "127.0.0.1:7080"
//! tokens = "secrets/api-tokens.toml"      # roles and SM3 hashes of the API tokens
//! metrics_public = false        # true: GET /metrics without the admin token
//!
//! [database]
//! url = "data"                  # an SQLite data directory, or postgres://…
//! time_zone = "Asia/Shanghai"
//!
//! [keys]
//! dir = "keys"
//! password = "file:secrets/keystore.pass"   # or env:NAME
//!
//! [pki]
//! root = "pki/root/ca.crt"
//! center_ca = "pki/center-ca"
//! terminal_ca = "pki/terminal-ca"
//! ca_password = "file:secrets/ca.pass"
//! certs = "certs"
//! crl = "crl/terminals.crl"
//!
//! [audit]
//! checkpoint_file = "audit/checkpoints.log"
//! every = 1000
//!
//! [webhooks]                    # every key optional
//! max_attempts = 12
//! backoff_base_secs = 10        # doubles per attempt, with jitter
//! backoff_max_secs = 3600
//! timeout_secs = 10
//!
//! [limits]                      # absent: the defaults; present: a mode left out is off
//! currency = "CNY"
//! quick = { per_transaction = "1000.00", daily = "3000.00" }
//! ```
extern crate alloc;

use alloc::{collections::BTreeMap, string::String};
use core::{net::SocketAddr, str::FromStr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wearpay_pay::{Amount, Currency, Limits, Mode, Policy};
use wearpay_tlcp::Profile;

use super::Error;
use crate::{Location, StoreConfig, Tz, keystore::PasswordSource};

/// The environment variable that overrides `[database] url` (a PostgreSQL URL may hold a
/// password, which then need not be in the file).
pub const DATABASE_URL_ENV: &str = "WEARPAY_DATABASE_URL";

/// The center's configuration file, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterConfig {
    /// The TLCP listener.
    pub channel: ChannelSection,
    /// The HTTP listener (operations API).
    #[serde(default)]
    pub http: HttpSection,
    /// Where the ledger lives.
    pub database: DatabaseSection,
    /// The key store.
    pub keys: KeysSection,
    /// Certificates and CAs.
    pub pki: PkiSection,
    /// The audit trail's checkpoints.
    #[serde(default)]
    pub audit: AuditSection,
    /// Merchant webhooks: retries, backoff, timeouts.
    #[serde(default)]
    pub webhooks: WebhooksSection,
    /// Per-mode limits; absent: [`Policy::default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsSection>,
    /// The directory relative paths are resolved against (the file's own).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[channel]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSection {
    /// Where terminals (through their bridges) connect.
    pub listen: SocketAddr,
    /// The name on the center's channel certificates, which bands check.
    pub server_name: String,
    /// `seed`, `tlcp` or `auto` (both orders on one port; the default).
    #[serde(default = "default_profile")]
    pub profile: String,
    /// The longest a handshake may take, in seconds (default 10).
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u64,
    /// A connection idle this long is closed, in seconds (default 60).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// How long a session may be resumed, in seconds (default 3600, at most 86400).
    #[serde(default = "default_session_lifetime")]
    pub session_lifetime_secs: u64,
    /// Handshakes that may run at once (default 64); a connection that finds no slot free
    /// within a second is closed.
    #[serde(default = "default_max_concurrent_handshakes")]
    pub max_concurrent_handshakes: u32,
    /// Full handshakes one client address (IPv6: one /64) may make per minute, sustained
    /// (default 1200); resumed handshakes are not counted.
    #[serde(default = "default_handshakes_per_address")]
    pub handshakes_per_address_per_minute: u32,
    /// Full handshakes one client address may make at once after a quiet spell (default 256).
    #[serde(default = "default_handshake_burst")]
    pub handshake_burst_per_address: u32,
    /// Where resumable sessions are kept: `database` (the default: every center process on
    /// the database resumes them) or `memory` (this process only).
    #[serde(default)]
    pub sessions: SessionStorage,
}

/// `[channel] sessions`: where resumable sessions are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStorage {
    /// In the database, sealed by the key store, shared by every process on it
    /// ([`crate::sessions::DatabaseSessionStore`]).
    #[default]
    Database,
    /// In this process's memory only.
    Memory,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Where the operations API listens, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// The API tokens file: each token's role and SM3 hash, never a token (default
    /// `secrets/api-tokens.toml`).
    #[serde(default = "default_tokens")]
    pub tokens: PathBuf,
    /// Calls per minute one client address may make to each public endpoint that acts on
    /// a secret (`/v1/enroll`, `/v1/lost`); default 10.
    #[serde(default = "default_public_rate")]
    pub public_rate_per_minute: u32,
    /// Whether `GET /metrics` answers without the admin token (default false). Prometheus
    /// can send the token (`authorization: {credentials_file: …}`); open it only where
    /// the port is reachable by the monitoring network alone.
    #[serde(default)]
    pub metrics_public: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: None,
            tokens: default_tokens(),
            public_rate_per_minute: default_public_rate(),
            metrics_public: false,
        }
    }
}

/// `[audit]`: where signed checkpoints of the audit chain's head go, besides the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// The checkpoint file, one line per checkpoint. Keep it off the database's disk (or
    /// ship it elsewhere): it is what shows a database whose tail was cut.
    #[serde(default = "default_checkpoint_file")]
    pub checkpoint_file: PathBuf,
    /// Sign a checkpoint after this many new entries (and at shutdown); default 1000.
    #[serde(default = "default_checkpoint_every")]
    pub every: u64,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self { checkpoint_file: default_checkpoint_file(), every: default_checkpoint_every() }
    }
}

/// `[webhooks]`: how merchants' events are delivered (see `crate::webhook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// Attempts before an event is given up as `failed` (default 12).
    #[serde(default = "default_webhook_attempts")]
    pub max_attempts: u32,
    /// The first retry's backoff, in seconds; it doubles with each attempt (default 10).
    #[serde(default = "default_webhook_backoff_base")]
    pub backoff_base_secs: u64,
    /// The longest backoff, in seconds (default 3600).
    #[serde(default = "default_webhook_backoff_max")]
    pub backoff_max_secs: u64,
    /// The longest one delivery may take, in seconds (default 10).
    #[serde(default = "default_webhook_timeout")]
    pub timeout_secs: u64,
    /// How often the queue is looked at when idle, in milliseconds (default 1000).
    #[serde(default = "default_webhook_poll")]
    pub poll_interval_ms: u64,
    /// Events sent at once (default 16).
    #[serde(default = "default_webhook_batch")]
    pub batch: u32,
    /// Allow `http://` endpoints (a receiver on the same host); default false: `https://` only.
    #[serde(default)]
    pub allow_http: bool,
}

impl Default for WebhooksSection {
    fn default() -> Self {
        Self {
            max_attempts: default_webhook_attempts(),
            backoff_base_secs: default_webhook_backoff_base(),
            backoff_max_secs: default_webhook_backoff_max(),
            timeout_secs: default_webhook_timeout(),
            poll_interval_ms: default_webhook_poll(),
            batch: default_webhook_batch(),
            allow_http: false,
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// An SQLite data directory (relative to the config file) or a `postgres://` URL;
    /// [`DATABASE_URL_ENV`] overrides it.
    pub url: String,
    /// The time zone whose days the daily limits count (IANA name, default Asia/Shanghai).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Connections in the pool (default 8).
    #[serde(default = "default_connections")]
    pub max_connections: u32,
}

/// `[keys]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// The key-store directory.
    pub dir: PathBuf,
    /// Where the key-store password is: `env:NAME` or `file:PATH`.
    pub password: String,
}

/// `[pki]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkiSection {
    /// The root certificate both sides trust (its key stays offline).
    pub root: PathBuf,
    /// The CA directory (`wearpay pki` layout) that issued the center's certificates.
    pub center_ca: PathBuf,
    /// The CA directory that issues terminal certificates and the CRL.
    pub terminal_ca: PathBuf,
    /// Where the CA keys' password is: `env:NAME` or `file:PATH`.
    pub ca_password: String,
    /// The center's certificates: `channel-sign.crt`, `channel-enc.crt`,
    /// `receipt-sign.crt`, `pin-enc.crt`.
    pub certs: PathBuf,
    /// Where the terminal CRL is published.
    pub crl: PathBuf,
    /// How long a terminal certificate lasts, in days (default 365, at most 365).
    #[serde(default = "default_terminal_days")]
    pub terminal_days: u32,
}

/// `[limits]`: a mode not listed is not allowed. (Unknown keys are refused by
/// [`CenterConfig::policy`]: serde cannot deny them next to a flattened map.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsSection {
    /// The currency of every limit.
    pub currency: String,
    /// The modes' limits by mode name.
    #[serde(flatten)]
    pub modes: BTreeMap<String, ModeLimits>,
}

/// One mode's limits, as decimal amounts in the major unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeLimits {
    /// The most one payment may be.
    pub per_transaction: String,
    /// The most one terminal may pay in this mode in a day.
    pub daily: String,
}

fn default_profile() -> String {
    String::from("auto")
}
fn default_handshake_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_session_lifetime() -> u64 {
    3600
}
pub(crate) fn default_max_concurrent_handshakes() -> u32 {
    u32::try_from(crate::channel::DEFAULT_MAX_CONCURRENT_HANDSHAKES).unwrap_or(u32::MAX)
}
pub(crate) fn default_handshakes_per_address() -> u32 {
    crate::channel::AddressRate::default().per_minute
}
pub(crate) fn default_handshake_burst() -> u32 {
    crate::channel::AddressRate::default().burst
}
fn default_time_zone() -> String {
    String::from("Asia/Shanghai")
}
fn default_connections() -> u32 {
    8
}
fn default_terminal_days() -> u32 {
    365
}
fn default_checkpoint_file() -> PathBuf {
    PathBuf::from("audit/checkpoints.log")
}
fn default_checkpoint_every() -> u64 {
    1000
}
fn default_tokens() -> PathBuf {
    PathBuf::from("secrets/api-tokens.toml")
}
fn default_public_rate() -> u32 {
    10
}
fn default_webhook_attempts() -> u32 {
    12
}
fn default_webhook_backoff_base() -> u64 {
    10
}
fn default_webhook_backoff_max() -> u64 {
    3600
}
fn default_webhook_timeout() -> u64 {
    10
}
fn default_webhook_poll() -> u64 {
    1000
}
fn default_webhook_batch() -> u32 {
    16
}

fn invalid(what: &'static str, why: impl Into<String>) -> Error {
    Error::Config { what, why: why.into() }
}

impl CenterConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| invalid("center.toml", e.message().to_owned()))?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.check()?;
        Ok(config)
    }

    /// The file's text.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string_pretty(self).map_err(|e| invalid("center.toml", e.to_string()))
    }

    /// Every value that can be wrong without touching the disk.
    pub fn check(&self) -> Result<(), Error> {
        self.profile()?;
        self.store_config()?;
        self.policy()?;
        self.keystore_password()?;
        self.ca_password()?;
        if self.channel.server_name.is_empty() {
            return Err(invalid("channel.server_name", "is empty"));
        }
        if self.channel.session_lifetime_secs > wearpay_tlcp::MAX_SESSION_LIFETIME {
            return Err(invalid("channel.session_lifetime_secs", "is more than a day"));
        }
        if self.channel.max_concurrent_handshakes == 0 {
            return Err(invalid("channel.max_concurrent_handshakes", "must be at least 1"));
        }
        if self.channel.handshakes_per_address_per_minute == 0 || self.channel.handshake_burst_per_address == 0 {
            return Err(invalid("channel.handshakes_per_address", "the rate and the burst must be at least 1"));
        }
        if self.http.public_rate_per_minute == 0 {
            return Err(invalid("http.public_rate_per_minute", "must be at least 1"));
        }
        let w = &self.webhooks;
        if w.max_attempts == 0 || w.batch == 0 || w.timeout_secs == 0 || w.poll_interval_ms == 0 {
            return Err(invalid(
                "webhooks",
                "max_attempts, batch, timeout_secs and poll_interval_ms must be at least 1",
            ));
        }
        if w.backoff_base_secs == 0 || w.backoff_max_secs < w.backoff_base_secs {
            return Err(invalid("webhooks", "backoff_base_secs must be at least 1 and at most backoff_max_secs"));
        }
        if self.audit.every == 0 {
            return Err(invalid("audit.every", "must be at least 1"));
        }
        if !(1..=365).contains(&self.pki.terminal_days) {
            return Err(invalid("pki.terminal_days", "must be 1 to 365"));
        }
        Ok(())
    }

    /// `path` resolved against the config file's directory.
    pub fn path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.base_dir.join(path) }
    }

    /// The channel's Finished order.
    pub fn profile(&self) -> Result<Profile, Error> {
        match self.channel.profile.as_str() {
            "seed" => Ok(Profile::Seed),
            "tlcp" => Ok(Profile::Tlcp),
            "auto" => Ok(Profile::Auto),
            _ => Err(invalid("channel.profile", "expected seed, tlcp or auto")),
        }
    }

    /// Where the ledger is: the environment's URL if set, else the file's.
    pub fn location(&self) -> Location {
        let url = std::env::var(DATABASE_URL_ENV).ok().filter(|u| !u.is_empty());
        match Location::parse(url.as_deref().unwrap_or(&self.database.url)) {
            Location::Sqlite(dir) => Location::Sqlite(self.path(&dir)),
            pg => pg,
        }
    }

    /// The store's settings.
    pub fn store_config(&self) -> Result<StoreConfig, Error> {
        let time_zone = Tz::from_str(&self.database.time_zone)
            .map_err(|_| invalid("database.time_zone", "not an IANA time zone name"))?;
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        Ok(StoreConfig { time_zone, max_connections: self.database.max_connections, ..StoreConfig::default() })
    }

    /// The key-store password's source, with a relative file resolved.
    pub fn keystore_password(&self) -> Result<PasswordSource, Error> {
        self.password_source("keys.password", &self.keys.password)
    }

    /// The CA keys' password source.
    pub fn ca_password(&self) -> Result<PasswordSource, Error> {
        self.password_source("pki.ca_password", &self.pki.ca_password)
    }

    fn password_source(&self, what: &'static str, s: &str) -> Result<PasswordSource, Error> {
        match PasswordSource::from_str(s).map_err(|e| invalid(what, e.to_string()))? {
            PasswordSource::File(p) => Ok(PasswordSource::File(self.path(&p))),
            env => Ok(env),
        }
    }

    /// The per-mode limits.
    pub fn policy(&self) -> Result<Policy, Error> {
        let Some(limits) = &self.limits else { return Ok(Policy::default()) };
        let currency = Currency::from_code(&limits.currency).map_err(|_| invalid("limits.currency", "unknown"))?;
        let mut policy = Policy { currency, quick: None, pin: None, biometric: None, confirm: None };
        for (name, l) in &limits.modes {
            let mode = Mode::from_str(name).map_err(|_| invalid("limits", format!("unknown mode \"{name}\"")))?;
            let amount = |s: &str| {
                Amount::parse(s, currency).map_err(|_| invalid("limits", format!("{name}: \"{s}\" is not an amount")))
            };
            let parsed = Limits { per_transaction: amount(&l.per_transaction)?, daily: amount(&l.daily)? };
            if parsed.per_transaction > parsed.daily {
                return Err(invalid("limits", format!("{name}: per_transaction is above daily")));
            }
            *match mode {
                Mode::Quick => &mut policy.quick,
                Mode::Pin => &mut policy.pin,
                Mode::Biometric => &mut policy.biometric,
                Mode::Confirm => &mut policy.confirm,
            } = Some(parsed);
        }
        Ok(policy)
    }

    /// A `[limits]` section that spells out `policy`.
    pub fn limits_section(policy: &Policy) -> LimitsSection {
        let c = policy.currency;
        let modes = Mode::ALL
            .into_iter()
            .filter_map(|m| {
                policy.limits(m).map(|l| {
                    let per_transaction = l.per_transaction.display(c).to_string();
                    let daily = l.daily.display(c).to_string();
                    (String::from(m.name()), ModeLimits { per_transaction, daily })
                })
            })
            .collect();
        LimitsSection { currency: String::from(c.code()), modes }
    }
}
