//! The terminal issuing CA as the center runs it: it turns a band's CSR into a certificate
//! whose subject the center chooses (never the CSR's), and publishes the CRL of revoked
//! terminals from the registry, which is the one record of revocation.
//!
//! The CA directory has the `wearpay pki` layout (`ca.crt`, the password-encrypted
//! `ca.key`, `chain.pem`, `crlnumber`), so operators can inspect it with the same commands.
extern crate alloc;

use alloc::{boxed::Box, format, string::String, sync::Arc, vec::Vec};
use std::{
    fs,
    path::{Path, PathBuf},
};

use wearpay_crypto::{CryptoProvider, PrivateKey, PublicKey, SigningKey};
use wearpay_pay::{Renewed, TerminalSerial, Timestamp};
use wearpay_pki::{
    Certificate, CertificateBuilder, CertificateRequest, Crl, CrlBuilder, DistinguishedName, RevocationReason, Role,
    UnixTime, files,
};

use super::Error;
use crate::keystore::PasswordSource;
use crate::renewal::{CertificateIssuer, Issued, RenewRefusal, RevocationCause, RevokedCertificate};

/// How long a CRL is valid: bands and peers fetch a fresh one daily.
pub const CRL_VALIDITY_DAYS: u64 = 7;

/// Certificates start a little in the past so that a band whose clock runs slow accepts
/// them at once.
const BACKDATE_SECS: u64 = 300;

/// The terminal issuing CA, opened with its key.
pub struct TerminalCa {
    dir: PathBuf,
    cert: Certificate,
    chain: Vec<Certificate>,
    key: Box<dyn PrivateKey>,
    provider: &'static CryptoProvider,
}

impl core::fmt::Debug for TerminalCa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TerminalCa").field("dir", &self.dir).field("subject", &self.cert.subject()).finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

impl TerminalCa {
    /// Opens the CA in `dir`, its key decrypted with the password from `password`.
    pub fn open(dir: &Path, password: &PasswordSource, provider: &'static CryptoProvider) -> Result<Self, Error> {
        let cert = files::read_certificate(dir.join("ca.crt"))?;
        let chain_path = dir.join("chain.pem");
        // chain.pem starts with the CA's own certificate, then any intermediates above it.
        let chain = if chain_path.exists() {
            files::read_certificates(&chain_path)?.into_iter().filter(|c| c.as_der() != cert.as_der()).collect()
        } else {
            Vec::new()
        };
        let password = password.read()?;
        let key = files::read_private_key(provider, dir.join("ca.key"), Some(password.as_bytes()))?;
        if SigningKey::public_key(&*key) != *cert.public_key()? {
            return Err(Error::Config { what: "terminal CA", why: String::from("ca.key does not match ca.crt") });
        }
        if !cert.is_ca() {
            return Err(Error::Config { what: "terminal CA", why: String::from("ca.crt is not a CA certificate") });
        }
        Ok(Self { dir: dir.to_path_buf(), cert, chain, key, provider })
    }

    /// The CA's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// Intermediates above the CA (none under a root directly).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The subject the center gives the terminal of `account` (the CSR's is ignored).
    pub fn terminal_subject(account: i64, label: &str) -> Result<DistinguishedName, Error> {
        // Commas and the like would change the name's structure; the label is a display name.
        let clean: String =
            label.chars().filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')).take(48).collect();
        let cn = if clean.trim().is_empty() { format!("band of account {account}") } else { clean };
        DistinguishedName::parse(&format!("CN={cn},OU=account {account},O=wearpay terminals")).map_err(Error::from)
    }

    /// Issues a terminal signing certificate for the key of `csr` (whose self-signature is
    /// checked), with `subject`, valid from now for `days` (clipped to the CA's own end).
    pub fn issue(
        &self,
        csr: &CertificateRequest,
        subject: DistinguishedName,
        days: u32,
        now: Timestamp,
    ) -> Result<Certificate, Error> {
        csr.verify(self.provider)?;
        self.certify(csr.public_key()?.clone(), subject, days, now)
    }

    /// A terminal signing certificate for `key`, whose holder the caller has checked, with
    /// `subject`, valid from now for `days` (clipped to the CA's own end).
    fn certify(
        &self,
        key: PublicKey,
        subject: DistinguishedName,
        days: u32,
        now: Timestamp,
    ) -> Result<Certificate, Error> {
        let now = UnixTime(now.0);
        let not_after = core::cmp::min(now.plus_days(u64::from(days)), self.cert.not_after());
        let cert = CertificateBuilder::new(Role::Terminal, subject, key)
            .validity(now.minus_secs(BACKDATE_SECS), not_after)
            .sign(self.provider, &self.cert, &*self.key)?;
        Ok(cert)
    }

    /// Signs a CRL listing `revoked` at `now`, numbered from the directory's `crlnumber`,
    /// which it advances; writes it (PEM) to `out` atomically.
    pub fn publish_crl(&self, revoked: &[RevokedCertificate], now: Timestamp, out: &Path) -> Result<Crl, Error> {
        let number_path = self.dir.join("crlnumber");
        let number = match fs::read_to_string(&number_path) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| Error::Config {
                what: "terminal CA",
                why: format!("{} is not a number", number_path.display()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(io(&number_path)(e)),
        };
        let now = UnixTime(now.0);
        let mut builder = CrlBuilder::new(now, now.plus_days(CRL_VALIDITY_DAYS), number);
        for r in revoked {
            let reason = match r.cause {
                // A lost band: its key may be in a thief's hands.
                RevocationCause::Revoked => RevocationReason::KeyCompromise,
                RevocationCause::Superseded => RevocationReason::Superseded,
            };
            builder = builder.revoke(r.serial.as_bytes(), UnixTime(r.at.0), Some(reason));
        }
        let crl = builder.sign(self.provider, &self.cert, &*self.key)?;
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        files::write_replace(out, crl.to_pem().as_bytes())?;
        files::write_replace(&number_path, format!("{}\n", number + 1).as_bytes())?;
        Ok(crl)
    }
}

/// Renews band certificates over the channel (see [`crate::renewal`]): the terminal CA,
/// the lifetime of a terminal certificate, and the center's current receipt and PIN
/// certificates, which the band receives with its own.
#[derive(Debug)]
pub struct Renewer {
    ca: Arc<TerminalCa>,
    days: u32,
    receipt_certificate: Vec<u8>,
    pin_certificate: Vec<u8>,
    crl: PathBuf,
}

impl Renewer {
    /// Issues with `ca` for `days`, handing out `receipt` and `pin`; the CRL goes to `crl`.
    pub fn new(ca: Arc<TerminalCa>, days: u32, receipt: &Certificate, pin: &Certificate, crl: PathBuf) -> Self {
        Self { ca, days, receipt_certificate: receipt.as_der().to_vec(), pin_certificate: pin.as_der().to_vec(), crl }
    }
}

impl CertificateIssuer for Renewer {
    fn renew(&self, csr: &[u8], key: &PublicKey, current: &[u8], now: Timestamp) -> Result<Issued, RenewRefusal> {
        let csr = CertificateRequest::from_der(csr).map_err(|_| RenewRefusal::BadCsr("not a PKCS#10 request"))?;
        if csr.public_key().ok() != Some(key) {
            return Err(RenewRefusal::BadCsr("not for the key the channel authenticated"));
        }
        csr.verify(self.ca.provider).map_err(|_| RenewRefusal::BadCsr("its self-signature does not verify"))?;
        let failed = |e: Error| RenewRefusal::Failed(Box::new(e));
        let current = Certificate::from_der(current).map_err(|e| failed(e.into()))?;
        // The request's key and self-signature are checked above: certify, not issue.
        let cert = self.ca.certify(key.clone(), current.subject().clone(), self.days, now).map_err(failed)?;
        let serial = TerminalSerial::new(cert.serial()).map_err(|e| RenewRefusal::Failed(Box::new(e)))?;
        let chain = core::iter::once(self.ca.certificate()).chain(self.ca.chain()).map(|c| c.as_der().to_vec());
        Ok(Issued {
            renewed: Renewed {
                certificate: cert.as_der().to_vec(),
                chain: chain.collect(),
                receipt_certificate: self.receipt_certificate.clone(),
                pin_certificate: self.pin_certificate.clone(),
            },
            serial,
            not_after: cert.not_after().secs(),
        })
    }

    fn publish_crl(&self, revoked: &[RevokedCertificate], now: Timestamp) -> Result<(), crate::BoxError> {
        self.ca.publish_crl(revoked, now, &self.crl).map(drop).map_err(|e| Box::new(e) as crate::BoxError)
    }
}
