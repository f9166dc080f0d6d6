//! `wearpay pki`: a small CA for wearpay's PKI — roots, issuing CAs, center and band
//! certificates, CSRs, revocation and CRLs — and the checks a person runs on the files.
//!
//! A CA lives in a directory: `ca.crt`, `ca.key` (PKCS#8, optionally encrypted), the
//! intermediates above it in `chain.pem` (issuing CAs only), and its state: `issued.json`
//! (what it signed), `revoked.json` (what it revoked, for the CRL) and `crlnumber` (the
//! next cRLNumber).
use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wearpay_crypto::{CryptoProvider, HashAlgorithm, KeyAlgorithm, PrivateKey, PublicKey, SigningKey};
use wearpay_pki::{
    AltName, Certificate, CertificateBuilder, CertificateRequest, Crl, CrlBuilder, CsrBuilder, DistinguishedName,
    KeyEncryption, Object, Pbes2Cipher, Pbes2Prf, RevocationPolicy, RevocationReason, Role, UnixTime, Verifier, files,
    keys,
};

/// The ShangMi provider (its portable fallback where the CPU lacks the fast paths).
static P: &CryptoProvider = &wearpay_shangmi::PROVIDER;

/// Clock skew allowed for at issuance: certificates start this many seconds in the past.
const BACKDATE_SECS: u64 = 300;

/// Certificates, keys, CSRs and CRLs (SM2 or RSA).
#[derive(Debug, Args)]
pub struct PkiArgs {
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create a CA in a directory: a self-signed root, or an issuing CA under --parent.
    InitCa(InitCaArgs),
    /// Issue a center or band certificate (with a new key, or for a CSR).
    Issue(IssueArgs),
    /// Make a PKCS#10 certificate request (with an existing key or a new one).
    Csr(CsrArgs),
    /// Revoke a certificate issued by a CA (publish it with `wearpay pki crl`).
    Revoke(RevokeArgs),
    /// Issue the CA's CRL.
    Crl(CrlArgs),
    /// Verify a certificate chain: exit 0 and `CERT: OK`, or one line saying what is wrong.
    Verify(VerifyArgs),
    /// Show a certificate, CSR or CRL (PEM or DER).
    Show(ShowArgs),
}

/// Key algorithms on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Alg {
    Sm2,
    Rsa,
}

/// Leaf roles `issue` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LeafRole {
    CenterSign,
    CenterEnc,
    CenterReceipt,
    CenterPin,
    Terminal,
    TerminalEnc,
}

impl From<LeafRole> for Role {
    fn from(r: LeafRole) -> Role {
        match r {
            LeafRole::CenterSign => Role::CenterSign,
            LeafRole::CenterEnc => Role::CenterEnc,
            LeafRole::CenterReceipt => Role::CenterReceipt,
            LeafRole::CenterPin => Role::CenterPin,
            LeafRole::Terminal => Role::Terminal,
            LeafRole::TerminalEnc => Role::TerminalEnc,
        }
    }
}

/// Every role `verify --role` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AnyRole {
    RootCa,
    IssuingCa,
    CenterSign,
    CenterEnc,
    CenterReceipt,
    CenterPin,
    Terminal,
    TerminalEnc,
}

impl From<AnyRole> for Role {
    fn from(r: AnyRole) -> Role {
        match r {
            AnyRole::RootCa => Role::RootCa,
            AnyRole::IssuingCa => Role::IssuingCa,
            AnyRole::CenterSign => Role::CenterSign,
            AnyRole::CenterEnc => Role::CenterEnc,
            AnyRole::CenterReceipt => Role::CenterReceipt,
            AnyRole::CenterPin => Role::CenterPin,
            AnyRole::Terminal => Role::Terminal,
            AnyRole::TerminalEnc => Role::TerminalEnc,
        }
    }
}

/// Revocation reasons on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
}

impl From<Reason> for RevocationReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::CaCompromise => RevocationReason::CaCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
            Reason::CertificateHold => RevocationReason::CertificateHold,
        }
    }
}

/// How a new private key file is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyCipher {
    /// PBKDF2-HMAC-SHA256 + AES-256-CBC (OpenSSL 3 reads it).
    Aes,
    /// PBKDF2-HMAC-SM3 + SM4-CBC (GmSSL reads it).
    Sm4,
}

/// Options for a key that is written (and read back).
#[derive(Debug, Args)]
struct KeyOut {
    /// Encrypt the new private key with the password in this file (first line).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Encrypt the new private key with the password in this environment variable.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Cipher for an encrypted key file.
    #[arg(long, value_enum, default_value = "aes")]
    key_cipher: KeyCipher,
    /// RSA modulus size for --alg rsa (2048 or 3072).
    #[arg(long, default_value_t = 2048)]
    rsa_bits: usize,
}

/// The password that opens a CA's key.
#[derive(Debug, Args)]
struct CaPassword {
    /// Password of the CA key, from this file (first line).
    #[arg(long, value_name = "FILE")]
    ca_password_file: Option<PathBuf>,
    /// Password of the CA key, from this environment variable.
    #[arg(long, value_name = "VAR", default_value = "WEARPAY_CA_PASSWORD")]
    ca_password_env: String,
}

#[derive(Debug, Args)]
struct InitCaArgs {
    /// Directory of the new CA (created if missing; must not hold a CA yet).
    #[arg(long)]
    dir: PathBuf,
    /// Directory of the CA that signs this one (an issuing CA); without it, a root.
    #[arg(long, value_name = "PARENTDIR")]
    parent: Option<PathBuf>,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "sm2")]
    alg: Alg,
    /// Subject, `CN=...,O=...` or `/CN=.../O=...` (default: `CN=wearpay Root CA` or
    /// `CN=wearpay Issuing CA`).
    #[arg(long)]
    subject: Option<String>,
    /// Validity in days (default 3650 for a root, 1825 for an issuing CA).
    #[arg(long)]
    days: Option<u64>,
    /// pathLenConstraint (default 1 for a root, 0 for an issuing CA).
    #[arg(long)]
    path_len: Option<u8>,
    #[command(flatten)]
    key: KeyOut,
    #[command(flatten)]
    parent_password: CaPassword,
}

#[derive(Debug, Args)]
struct IssueArgs {
    /// The issuing CA's directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// What the certificate is for.
    #[arg(long, value_enum)]
    role: LeafRole,
    /// Subject, `CN=...,O=...` or `/CN=.../O=...` (default with --csr: the CSR's).
    #[arg(long)]
    subject: Option<String>,
    /// Writes PREFIX.crt, and PREFIX.key when no CSR is given.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Certify the key of this CSR (its self-signature is checked) instead of a new key.
    #[arg(long, value_name = "FILE")]
    csr: Option<PathBuf>,
    /// Require the CSR's challengePassword to be exactly this text.
    #[arg(long, value_name = "TEXT", requires = "csr")]
    expect_challenge: Option<String>,
    /// Algorithm of the new key (without --csr).
    #[arg(long, value_enum, default_value = "sm2")]
    alg: Alg,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// subjectAltName dNSName (repeatable).
    #[arg(long = "dns", value_name = "NAME")]
    dns: Vec<String>,
    /// subjectAltName iPAddress (repeatable).
    #[arg(long = "ip", value_name = "ADDRESS")]
    ip: Vec<core::net::IpAddr>,
    #[command(flatten)]
    key: KeyOut,
    #[command(flatten)]
    ca_password: CaPassword,
}

#[derive(Debug, Args)]
struct CsrArgs {
    /// The private key that signs the request (with --new: where to write a new one).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Generate a new key of this algorithm into --key.
    #[arg(long, value_enum, value_name = "ALG")]
    new: Option<Alg>,
    /// Subject, `CN=...,O=...` or `/CN=.../O=...`.
    #[arg(long)]
    subject: String,
    /// Where to write the CSR (PEM).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// A challengePassword attribute (printable text, up to 255 characters; for example the
    /// hex of an activation HMAC).
    #[arg(long, value_name = "TEXT")]
    challenge: Option<String>,
    #[command(flatten)]
    key_opts: KeyOut,
}

#[derive(Debug, Args)]
struct RevokeArgs {
    /// The CA's directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// The certificate to revoke.
    #[arg(long, value_name = "FILE", required_unless_present = "serial", conflicts_with = "serial")]
    cert: Option<PathBuf>,
    /// Or its serial number in hex.
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
    /// Reason code.
    #[arg(long, value_enum, default_value = "unspecified")]
    reason: Reason,
}

#[derive(Debug, Args)]
struct CrlArgs {
    /// The CA's directory.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// Where to write the CRL.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Days until nextUpdate.
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Write DER instead of PEM.
    #[arg(long)]
    der: bool,
    #[command(flatten)]
    ca_password: CaPassword,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Trusted CA certificate(s) (PEM bundle or DER).
    #[arg(long = "ca", value_name = "CA.crt", required = true)]
    ca: Vec<PathBuf>,
    /// Intermediate CA certificates (PEM bundle; repeatable).
    #[arg(long, value_name = "FILE")]
    chain: Vec<PathBuf>,
    /// CRLs to check revocation against (repeatable).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Fail when the certificate's issuer has no CRL among --crl.
    #[arg(long)]
    require_crl: bool,
    /// The role the certificate must fit.
    #[arg(long, value_enum)]
    role: Option<AnyRole>,
    /// Verify at this time (RFC 3339, `2027-01-01T00:00:00Z`, or a date) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// The certificate to verify.
    #[arg(value_name = "CERT")]
    cert: PathBuf,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// A certificate, CSR or CRL, PEM or DER.
    file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `wearpay pki …`.
pub fn run(args: PkiArgs) -> Result<ExitCode> {
    match args.command {
        PkiCommand::InitCa(a) => init_ca(a),
        PkiCommand::Issue(a) => issue(a),
        PkiCommand::Csr(a) => csr(a),
        PkiCommand::Revoke(a) => revoke(a),
        PkiCommand::Crl(a) => crl(a),
        PkiCommand::Verify(a) => verify(a),
        PkiCommand::Show(a) => show(a),
    }
}

// ---- passwords and keys ----

fn read_password_file(path: &Path) -> Result<Vec<u8>> {
    let text = fs::read(path).with_context(|| format!("reading password file {}", path.display()))?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        bail!("password file {} is empty", path.display());
    }
    Ok(line.to_vec())
}

impl KeyOut {
    fn password(&self) -> Result<Option<Vec<u8>>> {
        if let Some(f) = &self.password_file {
            return read_password_file(f).map(Some);
        }
        if let Some(var) = &self.password_env {
            let v = std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?;
            return Ok(Some(v.into_bytes()));
        }
        Ok(None)
    }

    fn encryption(&self) -> KeyEncryption {
        match self.key_cipher {
            KeyCipher::Aes => KeyEncryption::OPENSSL,
            KeyCipher::Sm4 => {
                KeyEncryption { cipher: Pbes2Cipher::Sm4Cbc, prf: Pbes2Prf::HmacSm3, ..KeyEncryption::SHANGMI }
            }
        }
    }

    fn algorithm(&self, alg: Alg) -> KeyAlgorithm {
        match alg {
            Alg::Sm2 => KeyAlgorithm::Sm2,
            Alg::Rsa => KeyAlgorithm::Rsa(self.rsa_bits),
        }
    }

    /// Generates a key and writes it to `path` (a new file, mode 0600).
    fn generate_into(&self, alg: Alg, path: &Path) -> Result<Box<dyn PrivateKey>> {
        if path.exists() {
            bail!("{} already exists; not overwriting a key", path.display());
        }
        let password = self.password()?;
        let key = wearpay_pki::generate_key(P, self.algorithm(alg))?;
        files::write_private_key(P, path, &*key, password.as_deref(), &self.encryption())?;
        Ok(key)
    }
}

impl CaPassword {
    fn password(&self) -> Result<Option<Vec<u8>>> {
        if let Some(f) = &self.ca_password_file {
            return read_password_file(f).map(Some);
        }
        Ok(std::env::var(&self.ca_password_env).ok().map(String::into_bytes))
    }
}

/// Reads a private key, naming the file in errors and saying how to give a password.
fn read_key(path: &Path, password: Option<&[u8]>, hint: &str) -> Result<Box<dyn PrivateKey>> {
    match files::read_private_key(P, path, password) {
        Err(wearpay_pki::Error::PasswordRequired) => {
            bail!("{}: the key is encrypted; give its password with {hint}", path.display())
        }
        other => other.with_context(|| format!("loading key {}", path.display())),
    }
}

fn parse_subject(s: &str) -> Result<DistinguishedName> {
    Ok(DistinguishedName::parse(s)?)
}

// ---- CA directory ----

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IssuedRecord {
    serial: String,
    subject: String,
    role: String,
    not_before: String,
    not_after: String,
    file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RevokedRecord {
    serial: String,
    revoked_at: u64,
    reason: String,
    #[serde(default)]
    subject: String,
}

struct CaDir {
    dir: PathBuf,
    cert: Certificate,
    /// Intermediates above this CA (issuing CAs only).
    chain: Vec<Certificate>,
}

impl CaDir {
    fn open(dir: &Path) -> Result<Self> {
        let crt = dir.join("ca.crt");
        if !crt.exists() {
            bail!("{} is not a CA directory (no ca.crt); create one with `wearpay pki init-ca --dir`", dir.display());
        }
        let cert = files::read_certificate(&crt)?;
        let chain_file = dir.join("chain.pem");
        let chain = if chain_file.exists() { files::read_certificates(&chain_file)? } else { Vec::new() };
        Ok(Self { dir: dir.to_path_buf(), cert, chain })
    }

    fn key(&self, password: &CaPassword) -> Result<Box<dyn PrivateKey>> {
        let key = read_key(
            &self.dir.join("ca.key"),
            password.password()?.as_deref(),
            "--ca-password-file or WEARPAY_CA_PASSWORD",
        )?;
        if SigningKey::public_key(&*key) != *self.cert.public_key()? {
            bail!("{}: ca.key does not match ca.crt", self.dir.display());
        }
        Ok(key)
    }

    fn issued(&self) -> Result<Vec<IssuedRecord>> {
        read_json(&self.dir.join("issued.json"))
    }

    fn record_issued(&self, cert: &Certificate, role: Role, file: &Path) -> Result<()> {
        let mut all = self.issued()?;
        all.push(IssuedRecord {
            serial: cert.serial_hex(),
            subject: cert.subject().to_string(),
            role: role.name().to_string(),
            not_before: cert.not_before().to_string(),
            not_after: cert.not_after().to_string(),
            file: file.display().to_string(),
        });
        write_json(&self.dir.join("issued.json"), &all)
    }

    fn revoked(&self) -> Result<Vec<RevokedRecord>> {
        read_json(&self.dir.join("revoked.json"))
    }

    fn crl_number(&self) -> Result<u64> {
        let path = self.dir.join("crlnumber");
        if !path.exists() {
            return Ok(1);
        }
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        text.trim().parse().with_context(|| format!("{}: not a number", path.display()))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid CA state", path.display()))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    files::write_replace(path, text.as_bytes())?;
    Ok(())
}

/// A certificate cannot outlive its issuer: it ends at the issuer's notAfter at the latest
/// (and the user is told).
fn clip_to_issuer(not_after: UnixTime, issuer: Option<&Certificate>) -> UnixTime {
    match issuer {
        Some(ca) if ca.not_after() < not_after => {
            eprintln!("note: validity shortened to end with the issuing CA's, on {}", ca.not_after());
            ca.not_after()
        }
        _ => not_after,
    }
}

fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn write_cert(path: &Path, cert: &Certificate) -> Result<()> {
    if path.exists() {
        bail!("{} already exists; not overwriting", path.display());
    }
    files::write_new(path, cert.to_pem().as_bytes(), false)?;
    Ok(())
}

// ---- commands ----

fn init_ca(a: InitCaArgs) -> Result<ExitCode> {
    fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let (crt, key_path) = (a.dir.join("ca.crt"), a.dir.join("ca.key"));
    if crt.exists() || key_path.exists() {
        bail!("{} already holds a CA (ca.crt or ca.key exists)", a.dir.display());
    }
    let now = UnixTime::now();
    let (role, default_subject, default_days) = match a.parent {
        None => (Role::RootCa, "CN=wearpay Root CA", 3650),
        Some(_) => (Role::IssuingCa, "CN=wearpay Issuing CA", 1825),
    };
    let subject = parse_subject(a.subject.as_deref().unwrap_or(default_subject))?;
    let days = a.days.unwrap_or(default_days);
    let parent = a.parent.as_deref().map(CaDir::open).transpose()?;
    // Open the parent's key before writing anything.
    let parent_key = parent.as_ref().map(|p| p.key(&a.parent_password)).transpose()?;
    let key = a.key.generate_into(a.alg, &key_path)?;
    let not_after = clip_to_issuer(now.plus_days(days), parent.as_ref().map(|p| &p.cert));
    let mut builder = CertificateBuilder::new(role, subject, SigningKey::public_key(&*key))
        .validity(now.minus_secs(BACKDATE_SECS), not_after);
    if a.path_len.is_some() {
        builder = builder.path_len(a.path_len);
    }
    let result = match (&parent, &parent_key) {
        (Some(p), Some(pk)) => builder.sign(P, &p.cert, &**pk),
        _ => builder.self_sign(P, &*key),
    };
    let cert = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_file(&key_path);
            return Err(e.into());
        }
    };
    write_cert(&crt, &cert)?;
    if let Some(p) = &parent {
        // The intermediates above this CA, for `verify --chain` and for peers.
        let mut chain = cert.to_pem();
        for c in &p.chain {
            chain.push_str(&c.to_pem());
        }
        if p.cert.is_self_issued() {
            // The parent is a root: trust anchors are not part of the chain.
        } else {
            chain.push_str(&p.cert.to_pem());
        }
        files::write_new(a.dir.join("chain.pem"), chain.as_bytes(), false)?;
        p.record_issued(&cert, role, &crt)?;
    }
    write_json(&a.dir.join("issued.json"), &Vec::<IssuedRecord>::new())?;
    write_json(&a.dir.join("revoked.json"), &Vec::<RevokedRecord>::new())?;
    files::write_replace(a.dir.join("crlnumber"), b"1\n")?;
    println!(
        "{}: {} \"{}\" ({}), valid until {}",
        crt.display(),
        if role == Role::RootCa { "root CA" } else { "issuing CA" },
        cert.subject(),
        keys::describe_public_key(cert.public_key()?),
        cert.not_after()
    );
    println!("{}: private key{}", key_path.display(), if a.key.password()?.is_some() { " (encrypted)" } else { "" });
    Ok(ExitCode::SUCCESS)
}

fn issue(a: IssueArgs) -> Result<ExitCode> {
    let ca = CaDir::open(&a.ca)?;
    let ca_key = ca.key(&a.ca_password)?;
    let role: Role = a.role.into();
    let crt_path = with_ext(&a.out, "crt");
    let key_path = with_ext(&a.out, "key");
    if crt_path.exists() {
        bail!("{} already exists; not overwriting", crt_path.display());
    }
    let (public_key, subject, new_key): (PublicKey, DistinguishedName, bool) = match &a.csr {
        Some(csr_path) => {
            let req = files::read_csr(csr_path)?;
            req.verify(P).with_context(|| format!("{}: CSR rejected", csr_path.display()))?;
            if let Some(want) = &a.expect_challenge
                && req.challenge_password() != Some(want.as_str())
            {
                bail!("{}: the challengePassword does not match", csr_path.display());
            }
            let subject = match &a.subject {
                Some(s) => parse_subject(s)?,
                None => req.subject().clone(),
            };
            (req.public_key()?.clone(), subject, false)
        }
        None => {
            let subject = parse_subject(a.subject.as_deref().context("--subject is required without --csr")?)?;
            let key = a.key.generate_into(a.alg, &key_path)?;
            (SigningKey::public_key(&*key), subject, true)
        }
    };
    let now = UnixTime::now();
    let not_after = clip_to_issuer(now.plus_days(a.days), Some(&ca.cert));
    let mut builder =
        CertificateBuilder::new(role, subject, public_key).validity(now.minus_secs(BACKDATE_SECS), not_after);
    for d in &a.dns {
        builder = builder.alt_name(AltName::Dns(d.clone()));
    }
    for ip in &a.ip {
        builder = builder.alt_name(AltName::Ip(*ip));
    }
    let cert = match builder.sign(P, &ca.cert, &*ca_key) {
        Ok(c) => c,
        Err(e) => {
            if new_key {
                let _ = fs::remove_file(&key_path);
            }
            return Err(e.into());
        }
    };
    write_cert(&crt_path, &cert)?;
    ca.record_issued(&cert, role, &crt_path)?;
    println!(
        "{}: {} certificate \"{}\", serial {}, valid until {}",
        crt_path.display(),
        role,
        cert.subject(),
        cert.serial_hex(),
        cert.not_after()
    );
    if new_key {
        println!("{}: private key", key_path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn csr(a: CsrArgs) -> Result<ExitCode> {
    let key = match a.new {
        Some(alg) => a.key_opts.generate_into(alg, &a.key)?,
        None => read_key(&a.key, a.key_opts.password()?.as_deref(), "--password-file or --password-env")?,
    };
    let mut builder = CsrBuilder::new(parse_subject(&a.subject)?);
    if let Some(c) = &a.challenge {
        builder = builder.challenge_password(c)?;
    }
    let req = builder.sign(P, &*key)?;
    if a.out.exists() {
        bail!("{} already exists; not overwriting", a.out.display());
    }
    files::write_new(&a.out, req.to_pem().as_bytes(), false)?;
    println!("{}: request for \"{}\"", a.out.display(), req.subject());
    Ok(ExitCode::SUCCESS)
}

fn parse_serial(hex_text: &str) -> Result<Vec<u8>> {
    let clean: String = hex_text.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
    let clean = clean.trim_start_matches("0x");
    let padded = if clean.len() % 2 == 1 { format!("0{clean}") } else { clean.to_string() };
    let bytes = (0..padded.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&padded[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .with_context(|| format!("serial {hex_text} is not hex"))?;
    if bytes.is_empty() {
        bail!("empty serial");
    }
    Ok(bytes)
}

fn normalize_serial(hex_text: &str) -> Result<String> {
    let bytes = parse_serial(hex_text)?;
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
    Ok(bytes[start..].iter().map(|b| format!("{b:02X}")).collect())
}

fn revoke(a: RevokeArgs) -> Result<ExitCode> {
    let ca = CaDir::open(&a.ca)?;
    let (serial, subject) = match (&a.cert, &a.serial) {
        (Some(path), _) => {
            let cert = files::read_certificate(path)?;
            if cert.issuer() != ca.cert.subject() {
                bail!(
                    "{}: issued by \"{}\", not by this CA (\"{}\")",
                    path.display(),
                    cert.issuer(),
                    ca.cert.subject()
                );
            }
            cert.verify_signature(P, ca.cert.public_key()?, &wearpay_pki::Item::Leaf)
                .with_context(|| format!("{}: not signed by this CA's key", path.display()))?;
            (cert.serial_hex(), cert.subject().to_string())
        }
        (None, Some(s)) => {
            let serial = normalize_serial(s)?;
            let subject = ca.issued()?.into_iter().find(|r| r.serial == serial).map(|r| r.subject).unwrap_or_default();
            (serial, subject)
        }
        (None, None) => bail!("give --cert or --serial"),
    };
    let mut revoked = ca.revoked()?;
    if let Some(r) = revoked.iter().find(|r| r.serial == serial) {
        bail!("serial {serial} is already revoked ({})", r.reason);
    }
    let reason: RevocationReason = a.reason.into();
    revoked.push(RevokedRecord {
        serial: serial.clone(),
        revoked_at: UnixTime::now().secs(),
        reason: reason.cli_name().to_string(),
        subject: subject.clone(),
    });
    write_json(&ca.dir.join("revoked.json"), &revoked)?;
    println!(
        "revoked serial {serial}{} ({reason}); publish it with `wearpay pki crl --ca {}`",
        if subject.is_empty() { String::new() } else { format!(" \"{subject}\"") },
        a.ca.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn crl(a: CrlArgs) -> Result<ExitCode> {
    let ca = CaDir::open(&a.ca)?;
    let key = ca.key(&a.ca_password)?;
    let number = ca.crl_number()?;
    let now = UnixTime::now();
    let mut builder = CrlBuilder::new(now, now.plus_days(a.days), number);
    let revoked = ca.revoked()?;
    for r in &revoked {
        let reason: RevocationReason = r.reason.parse()?;
        let reason = (reason != RevocationReason::Unspecified).then_some(reason);
        builder = builder.revoke(&parse_serial(&r.serial)?, UnixTime(r.revoked_at), reason);
    }
    let list = builder.sign(P, &ca.cert, &*key)?;
    if a.der {
        files::write_replace(&a.out, list.as_der())?;
    } else {
        files::write_replace(&a.out, list.to_pem().as_bytes())?;
    }
    files::write_replace(ca.dir.join("crlnumber"), format!("{}\n", number + 1).as_bytes())?;
    println!(
        "{}: CRL number {number} of \"{}\", {} revoked, next update {}",
        a.out.display(),
        ca.cert.subject(),
        revoked.len(),
        now.plus_days(a.days)
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(a: VerifyArgs) -> Result<ExitCode> {
    let name = a.cert.display().to_string();
    let time = match &a.at {
        Some(t) => UnixTime::parse_rfc3339(t)?,
        None => UnixTime::now(),
    };
    let mut anchors = Vec::new();
    for f in &a.ca {
        anchors.extend(files::read_certificates(f)?);
    }
    let mut chain = Vec::new();
    for f in &a.chain {
        chain.extend(files::read_certificates(f)?);
    }
    let mut crls = Vec::new();
    for f in &a.crl {
        crls.push(files::read_crl(f)?);
    }
    let role = a.role.map(Role::from);
    let outcome = files::read_certificate(&a.cert).and_then(|leaf| {
        let verifier = Verifier::new(P, &anchors).crls(&crls).revocation(if a.require_crl {
            RevocationPolicy::RequireForLeaf
        } else {
            RevocationPolicy::IfCrlGiven
        });
        let path = verifier.verify(&leaf, &chain, time, role)?;
        Ok(path.certificates().iter().map(|c| c.subject().to_string()).collect::<Vec<_>>())
    });
    match outcome {
        Ok(path) => {
            if a.json {
                println!("{}", json!({ "file": name, "ok": true, "at": time.to_string(), "path": path }));
            } else {
                println!("{name}: OK");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                println!("{}", json!({ "file": name, "ok": false, "at": time.to_string(), "error": e.to_string() }));
            } else {
                println!("{name}: {e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

// ---- show ----

fn hex_colon(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn public_key_json(key: Result<&PublicKey, wearpay_pki::Error>) -> serde_json::Value {
    match key {
        Ok(k @ PublicKey::Sm2(p)) => {
            json!({ "algorithm": keys::describe_public_key(k), "point": hex::encode(p.as_sec1()) })
        }
        Ok(k @ PublicKey::Rsa(r)) => {
            json!({ "algorithm": keys::describe_public_key(k), "modulus": hex::encode(&r.n), "exponent": hex::encode(&r.e) })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn cert_json(c: &Certificate) -> serde_json::Value {
    json!({
        "type": "certificate",
        "version": c.version(),
        "serial": c.serial_hex(),
        "signature_algorithm": c.signature_algorithm().map(|a| a.name().to_string()).unwrap_or_else(|_| c.signature_algorithm_oid().to_string()),
        "issuer": c.issuer().to_string(),
        "subject": c.subject().to_string(),
        "not_before": c.not_before().to_string(),
        "not_after": c.not_after().to_string(),
        "public_key": public_key_json(c.public_key()),
        "basic_constraints": c.basic_constraints().map(|b| json!({ "ca": b.ca, "path_len": b.path_len })),
        "key_usage": c.key_usage().map(|k| k.names().collect::<Vec<_>>()),
        "extended_key_usage": c.extended_key_usage().map(|_| c.extended_key_usage_names()),
        "subject_key_id": c.subject_key_id().map(hex_colon),
        "authority_key_id": c.authority_key_id().map(hex_colon),
        "subject_alt_names": c.subject_alt_names(),
        "extensions": c.extensions().iter().map(|e| json!({ "name": e.name(), "oid": e.oid.to_string(), "critical": e.critical })).collect::<Vec<_>>(),
        "fingerprint_sm3": hex_colon(&c.fingerprint(P, HashAlgorithm::Sm3)),
        "fingerprint_sha256": hex_colon(&c.fingerprint(P, HashAlgorithm::Sha256)),
    })
}

fn csr_json(r: &CertificateRequest, verified: &Result<(), wearpay_pki::Error>) -> serde_json::Value {
    json!({
        "type": "certificate request",
        "subject": r.subject().to_string(),
        "signature_algorithm": r.signature_algorithm().map(|a| a.name().to_string()).unwrap_or_else(|e| e.to_string()),
        "public_key": public_key_json(r.public_key()),
        "challenge_password": r.challenge_password(),
        "signature": match verified { Ok(()) => "valid".to_string(), Err(e) => e.to_string() },
    })
}

fn crl_json(c: &Crl) -> serde_json::Value {
    json!({
        "type": "crl",
        "issuer": c.issuer().to_string(),
        "signature_algorithm": c.signature_algorithm().map(|a| a.name().to_string()).unwrap_or_else(|e| e.to_string()),
        "this_update": c.this_update().to_string(),
        "next_update": c.next_update().map(|t| t.to_string()),
        "crl_number": c.crl_number().map(|n| {
            n.iter().fold(0u128, |acc, &b| acc.saturating_mul(256).saturating_add(u128::from(b))).to_string()
        }),
        "authority_key_id": c.authority_key_id().map(hex_colon),
        "revoked": c.entries().iter().map(|e| json!({
            "serial": e.serial_hex(),
            "revoked_at": e.revoked_at.to_string(),
            "reason": e.reason.map(|r| r.name()),
        })).collect::<Vec<_>>(),
    })
}

/// The order `show` prints fields in; others follow in name order.
const FIELD_ORDER: [&str; 27] = [
    "version",
    "subject",
    "issuer",
    "serial",
    "not_before",
    "not_after",
    "this_update",
    "next_update",
    "crl_number",
    "signature_algorithm",
    "signature",
    "public_key",
    "algorithm",
    "point",
    "modulus",
    "exponent",
    "basic_constraints",
    "key_usage",
    "extended_key_usage",
    "subject_alt_names",
    "challenge_password",
    "subject_key_id",
    "authority_key_id",
    "revoked",
    "extensions",
    "fingerprint_sm3",
    "fingerprint_sha256",
];

fn ordered(map: &serde_json::Map<String, serde_json::Value>) -> Vec<(&String, &serde_json::Value)> {
    let rank = |k: &str| FIELD_ORDER.iter().position(|f| *f == k).unwrap_or(FIELD_ORDER.len());
    let mut fields: Vec<_> = map.iter().filter(|(k, _)| k.as_str() != "type").collect();
    fields.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
    fields
}

fn scalar(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), String::from)
}

/// One line for a list item: an extension as `name (oid), critical`, a revoked entry as
/// `serial, revoked at …, reason`, anything else as its value.
fn item_line(item: &serde_json::Value) -> String {
    let Some(map) = item.as_object() else { return scalar(item) };
    if let (Some(name), Some(oid)) = (map.get("name"), map.get("oid")) {
        let critical = map.get("critical").and_then(serde_json::Value::as_bool) == Some(true);
        return format!("{} ({}){}", scalar(name), scalar(oid), if critical { ", critical" } else { "" });
    }
    if let (Some(serial), Some(at)) = (map.get("serial"), map.get("revoked_at")) {
        let reason = map.get("reason").filter(|r| !r.is_null()).map(|r| format!(", {}", scalar(r))).unwrap_or_default();
        return format!("{}, revoked at {}{reason}", scalar(serial), scalar(at));
    }
    ordered(map)
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("{k}={}", scalar(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints a JSON object as aligned `key: value` lines, lists indented below their key.
fn print_readable(v: &serde_json::Value, indent: usize) {
    let Some(map) = v.as_object() else { return };
    let fields = ordered(map);
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, val) in fields {
        let label = format!("{}:", k.replace('_', " "));
        match val {
            serde_json::Value::Null => {}
            serde_json::Value::Array(items) if items.is_empty() => {}
            serde_json::Value::Array(items) => {
                println!("{:indent$}{label}", "");
                for item in items {
                    println!("{:w$}{}", "", item_line(item), w = indent + 4);
                }
            }
            serde_json::Value::Object(_) => {
                println!("{:indent$}{label}", "");
                print_readable(val, indent + 4);
            }
            other => println!("{:indent$}{label:width$} {}", "", scalar(other)),
        }
    }
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let data = files::read(&a.file)?;
    let obj = wearpay_pki::detect(&data).with_context(|| format!("{}", a.file.display()))?;
    let v = match &obj {
        Object::Certificate(c) => cert_json(c),
        Object::Request(r) => csr_json(r, &r.verify(P)),
        Object::Crl(c) => crl_json(c),
        _ => bail!("{}: unsupported object", a.file.display()),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let title = match &obj {
            Object::Certificate(_) => "Certificate",
            Object::Request(_) => "Certificate request",
            _ => "CRL",
        };
        println!("{title}:");
        print_readable(&v, 4);
    }
    Ok(ExitCode::SUCCESS)
}
