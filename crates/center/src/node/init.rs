//! `wearpay center init`: a new center directory.
//!
//! ```text
//! DIR/center.toml
//! DIR/secrets/keystore.pass    the key store's password (0600)
//! DIR/secrets/ca.pass          the CA keys' password (0600), unless --ca
//! DIR/secrets/admin.token      the first admin API token (0600)
//! DIR/secrets/api-tokens.toml  the API tokens' roles and SM3 hashes (0600)
//! DIR/pki/root/                the offline root: move ca.key off this machine
//! DIR/pki/center-ca/           issues the center's certificates
//! DIR/pki/terminal-ca/         issues terminal certificates and the CRL
//! DIR/keys/                    the key store, one encrypted file per purpose
//! DIR/certs/                   channel-sign, channel-enc, receipt-sign, pin-enc
//! DIR/crl/terminals.crl
//! DIR/data/                    the SQLite ledger (unless --database postgres://…)
//! ```
extern crate alloc;

use alloc::{boxed::Box, format, string::String, vec::Vec};
use core::net::SocketAddr;
use std::{
    fs,
    path::{Path, PathBuf},
};

use wearpay_crypto::{CryptoProvider, KeyAlgorithm, PrivateKey, SigningKey};
use wearpay_pki::{
    AltName, Certificate, CertificateBuilder, DistinguishedName, KeyEncryption, Role, UnixTime, files, generate_key,
};

use super::{
    CERT_FILES, Center, CenterConfig, ChannelSection, DatabaseSection, Error, HttpSection, KeysSection, PkiSection,
};
use crate::keystore::{FileKeyStore, KeyStore, PBKDF2_ITERATIONS, PasswordSource};

/// How long the center's certificates last: channel certificates are rolled at least
/// every 90 days.
pub const CENTER_CERT_DAYS: u64 = 90;

/// Where `init` writes the first admin API token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "secrets/admin.token";

const ROOT_DAYS: u64 = 3650;
const ISSUING_DAYS: u64 = 1825;
const BACKDATE_SECS: u64 = 300;

/// What `init` makes.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// `[database] url`: `None` for SQLite in `DIR/data`.
    pub database: Option<String>,
    /// The channel's address.
    pub listen: SocketAddr,
    /// The HTTP API's address.
    pub http: Option<SocketAddr>,
    /// The name on the channel certificates.
    pub server_name: String,
    /// The key algorithm of every new key.
    pub alg: KeyAlgorithm,
    /// Existing CAs instead of new ones: a directory holding `root.crt` (or
    /// `root/ca.crt`), `center-ca/` and `terminal-ca/` in the `wearpay pki` layout, and the
    /// password of their keys.
    pub ca: Option<(PathBuf, PasswordSource)>,
    /// PBKDF2 iterations for the new encrypted keys (tests lower it).
    pub iterations: u32,
}

impl InitOptions {
    /// SM2 keys, SQLite, the channel on `listen`.
    pub fn new(listen: SocketAddr, server_name: &str) -> Self {
        Self {
            database: None,
            listen,
            http: None,
            server_name: String::from(server_name),
            alg: KeyAlgorithm::Sm2,
            ca: None,
            iterations: PBKDF2_ITERATIONS,
        }
    }
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The config file.
    pub config: PathBuf,
    /// The files written, relative to the directory, with what each is.
    pub files: Vec<(String, &'static str)>,
    /// The root's subject, which bands are provisioned to trust.
    pub root_subject: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn mkdir(path: &Path, private: bool) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(io(path))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

/// A random password, hex, written to a new 0600 file.
fn new_password(provider: &CryptoProvider, path: &Path) -> Result<String, Error> {
    let mut bytes = [0u8; 24];
    provider.fill_random(&mut bytes).map_err(|e| Error::Config { what: "random", why: e.to_string() })?;
    let text = hex::encode(bytes);
    files::write_new(path, format!("{text}\n").as_bytes(), true)?;
    Ok(text)
}

pub(super) struct NewCa {
    pub(super) cert: Certificate,
    pub(super) key: Box<dyn PrivateKey>,
}

/// A certificate of the center's for `key` in `role`, from the center CA `ca`, valid from
/// `now` for [`CENTER_CERT_DAYS`] (clipped to the CA's end); the channel certificates also
/// name `server_name` (an IP address or a DNS name) as the bands look for it.
pub(super) fn center_certificate(
    provider: &CryptoProvider,
    role: Role,
    subject: DistinguishedName,
    key: wearpay_crypto::PublicKey,
    server_name: &str,
    ca: &NewCa,
    now: UnixTime,
) -> Result<Certificate, Error> {
    let not_after = core::cmp::min(now.plus_days(CENTER_CERT_DAYS), ca.cert.not_after());
    let mut builder = CertificateBuilder::new(role, subject, key).validity(now.minus_secs(BACKDATE_SECS), not_after);
    if matches!(role, Role::CenterSign | Role::CenterEnc) {
        builder = match server_name.parse() {
            Ok(ip) => builder.alt_name(AltName::Ip(ip)),
            Err(_) => builder.alt_name(AltName::Dns(String::from(server_name))),
        };
    }
    Ok(builder.sign(provider, &ca.cert, &*ca.key)?)
}

/// Writes a CA directory in the `wearpay pki` layout.
fn write_ca_dir(
    dir: &Path,
    ca: &NewCa,
    parent: Option<&Certificate>,
    provider: &CryptoProvider,
    password: &[u8],
    iterations: u32,
) -> Result<(), Error> {
    mkdir(dir, true)?;
    let how = KeyEncryption { iterations, ..KeyEncryption::SHANGMI };
    files::write_private_key(provider, dir.join("ca.key"), &*ca.key, Some(password), &how)?;
    files::write_new(dir.join("ca.crt"), ca.cert.to_pem().as_bytes(), false)?;
    if parent.is_some() {
        // The intermediates up to (not including) the root: just this CA.
        files::write_new(dir.join("chain.pem"), ca.cert.to_pem().as_bytes(), false)?;
    }
    files::write_new(dir.join("issued.json"), b"[]\n", false)?;
    files::write_new(dir.join("revoked.json"), b"[]\n", false)?;
    files::write_new(dir.join("crlnumber"), b"1\n", false)?;
    Ok(())
}

fn new_ca(
    provider: &CryptoProvider,
    alg: KeyAlgorithm,
    subject: &str,
    days: u64,
    parent: Option<&NewCa>,
) -> Result<NewCa, Error> {
    let now = UnixTime::now();
    let key = generate_key(provider, alg)?;
    let role = if parent.is_some() { Role::IssuingCa } else { Role::RootCa };
    let builder = CertificateBuilder::new(role, DistinguishedName::parse(subject)?, SigningKey::public_key(&*key))
        .validity(now.minus_secs(BACKDATE_SECS), now.plus_days(days));
    let cert = match parent {
        Some(p) => builder.sign(provider, &p.cert, &*p.key)?,
        None => builder.self_sign(provider, &*key)?,
    };
    Ok(NewCa { cert, key })
}

/// Makes a center directory at `dir` (which must not hold a `center.toml`) and its
/// database. Secrets go to files under `DIR/secrets`, never to the screen.
pub async fn init(dir: &Path, options: &InitOptions, provider: &'static CryptoProvider) -> Result<InitReport, Error> {
    let config_path = dir.join("center.toml");
    if config_path.exists() {
        return Err(Error::Config { what: "init", why: format!("{} exists already", config_path.display()) });
    }
    let (dir, options) = (dir.to_path_buf(), options.clone());
    let (config, report) = tokio::task::spawn_blocking(move || write_files(&dir, &options, provider))
        .await
        .map_err(|e| Error::Config { what: "init", why: e.to_string() })??;
    // Creates the database and its schema, and checks that everything fits together.
    let center = Center::open_with(config, provider).await?;
    center.publish_crl(wearpay_pay::Timestamp(UnixTime::now().secs())).await?;
    center.store().close().await;
    Ok(report)
}

fn write_files(
    dir: &Path,
    o: &InitOptions,
    provider: &'static CryptoProvider,
) -> Result<(CenterConfig, InitReport), Error> {
    let mut written: Vec<(String, &'static str)> = Vec::new();
    mkdir(dir, false)?;
    mkdir(&dir.join("secrets"), true)?;

    let keystore_password = new_password(provider, &dir.join("secrets/keystore.pass"))?;
    written.push((String::from("secrets/keystore.pass"), "the key store's password"));

    let http = HttpSection { listen: o.http, ..HttpSection::default() };
    crate::http::tokens::write_initial(&dir.join(&http.tokens), &dir.join(ADMIN_TOKEN_FILE), provider)?;
    written.push((String::from(ADMIN_TOKEN_FILE), "the first admin API token"));
    written.push((http.tokens.display().to_string(), "the API tokens' roles and SM3 hashes"));

    // The CAs: new ones under DIR/pki, or the operator's.
    let (root, center_ca, pki_paths, ca_password) = match &o.ca {
        None => {
            let password = new_password(provider, &dir.join("secrets/ca.pass"))?;
            written.push((String::from("secrets/ca.pass"), "the CA keys' password"));
            let root = new_ca(provider, o.alg, "CN=wearpay Root CA,O=wearpay", ROOT_DAYS, None)?;
            let center_ca = new_ca(provider, o.alg, "CN=wearpay Center CA,O=wearpay", ISSUING_DAYS, Some(&root))?;
            let terminal_ca = new_ca(provider, o.alg, "CN=wearpay Terminal CA,O=wearpay", ISSUING_DAYS, Some(&root))?;
            let pw = password.as_bytes();
            write_ca_dir(&dir.join("pki/root"), &root, None, provider, pw, o.iterations)?;
            write_ca_dir(&dir.join("pki/center-ca"), &center_ca, Some(&root.cert), provider, pw, o.iterations)?;
            write_ca_dir(&dir.join("pki/terminal-ca"), &terminal_ca, Some(&root.cert), provider, pw, o.iterations)?;
            written.push((String::from("pki/root/"), "the root CA: move ca.key offline"));
            written.push((String::from("pki/center-ca/"), "issues the center's certificates"));
            written.push((String::from("pki/terminal-ca/"), "issues terminal certificates and the CRL"));
            let paths =
                (PathBuf::from("pki/root/ca.crt"), PathBuf::from("pki/center-ca"), PathBuf::from("pki/terminal-ca"));
            (root.cert, center_ca, paths, String::from("file:secrets/ca.pass"))
        }
        Some((ca_dir, source)) => {
            let root_path = [ca_dir.join("root.crt"), ca_dir.join("root/ca.crt")]
                .into_iter()
                .find(|p| p.exists())
                .ok_or_else(|| Error::Config {
                    what: "--ca",
                    why: format!("{} has no root.crt or root/ca.crt", ca_dir.display()),
                })?;
            let root = files::read_certificate(&root_path)?;
            let password = source.read()?;
            let center_dir = ca_dir.join("center-ca");
            let cert = files::read_certificate(center_dir.join("ca.crt"))?;
            let key = files::read_private_key(provider, center_dir.join("ca.key"), Some(password.as_bytes()))?;
            let abs = |p: PathBuf| fs::canonicalize(&p).map_err(io(&p));
            let paths = (abs(root_path)?, abs(center_dir)?, abs(ca_dir.join("terminal-ca"))?);
            let source = match source {
                PasswordSource::File(p) => format!("file:{}", abs(p.clone())?.display()),
                env => env.to_string(),
            };
            (root, NewCa { cert, key }, paths, source)
        }
    };

    // The key store, then a certificate for each of its key pairs.
    let (keys, _) = FileKeyStore::create_with_iterations(
        dir.join("keys"),
        keystore_password.as_bytes(),
        o.alg,
        provider,
        o.iterations,
    )?;
    written.push((String::from("keys/"), "the key store (channel, receipt and PIN keys, PIN secret)"));
    mkdir(&dir.join("certs"), false)?;
    let now = UnixTime::now();
    let subject = DistinguishedName::parse(&format!("CN={},O=wearpay center", o.server_name))?;
    for (purpose, file, role) in CERT_FILES {
        let key = keys.public_key(purpose)?;
        let cert = center_certificate(provider, role, subject.clone(), key, &o.server_name, &center_ca, now)?;
        files::write_new(dir.join("certs").join(file), cert.to_pem().as_bytes(), false)?;
        written.push((format!("certs/{file}"), role.name()));
    }

    let config = CenterConfig {
        channel: ChannelSection {
            listen: o.listen,
            server_name: o.server_name.clone(),
            profile: String::from("auto"),
            handshake_timeout_secs: 10,
            idle_timeout_secs: 60,
            session_lifetime_secs: 3600,
            max_concurrent_handshakes: super::config::default_max_concurrent_handshakes(),
            handshakes_per_address_per_minute: super::config::default_handshakes_per_address(),
            handshake_burst_per_address: super::config::default_handshake_burst(),
            sessions: super::SessionStorage::default(),
        },
        http,
        database: DatabaseSection {
            url: o.database.clone().unwrap_or_else(|| String::from("data")),
            time_zone: String::from("Asia/Shanghai"),
            max_connections: 8,
        },
        keys: KeysSection { dir: PathBuf::from("keys"), password: String::from("file:secrets/keystore.pass") },
        pki: PkiSection {
            root: pki_paths.0,
            center_ca: pki_paths.1,
            terminal_ca: pki_paths.2,
            ca_password,
            certs: PathBuf::from("certs"),
            crl: PathBuf::from("crl/terminals.crl"),
            terminal_days: 365,
        },
        audit: super::AuditSection::default(),
        webhooks: super::WebhooksSection::default(),
        limits: Some(CenterConfig::limits_section(&wearpay_pay::Policy::default())),
        base_dir: dir.to_path_buf(),
    };
    let text = format!("# wearpay processing center\n{}", config.to_toml()?);
    files::write_new(dir.join("center.toml"), text.as_bytes(), false)?;
    written.push((String::from("center.toml"), "the configuration"));
    let report =
        InitReport { config: dir.join("center.toml"), files: written, root_subject: root.subject().to_string() };
    Ok((config, report))
}
