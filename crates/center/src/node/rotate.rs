//! `wearpay center rotate`: the center rolls its channel keys, and renews its other
//! certificates, before the 90 days of a center certificate run out.
//!
//! - The channel signing and encryption keys are replaced by new ones of the same algorithm
//!   ([`FileKeyStore::rotate_key`]), each with a new certificate from the center CA.
//! - The receipt and PIN keys stay (every band holds them), with new certificates: bands
//!   fetch those when they renew their own.
//! - Nothing is deleted. The previous key files go to `keys/retired/` and the previous
//!   certificates to `certs/retired/`, and the previous certificates stay valid until they
//!   expire. That is the overlap: center processes still running on the old keys serve on
//!   until they restart, and bands accept either, because they trust the root, not a leaf.
extern crate alloc;

use alloc::{format, string::String, vec::Vec};
use std::{fs, path::PathBuf};

use wearpay_crypto::CryptoProvider;
use wearpay_pki::{Certificate, UnixTime, files};

use super::{CERT_FILES, CenterConfig, Error, init::NewCa, init::center_certificate};
use crate::keystore::{FileKeyStore, KeyPurpose, PBKDF2_ITERATIONS};

/// One certificate `rotate` replaced.
#[derive(Debug, Clone)]
pub struct RotatedCertificate {
    /// The key it is for.
    pub purpose: KeyPurpose,
    /// Its file in `[pki] certs`.
    pub file: &'static str,
    /// Whether the key is new (the channel keys) or the same (receipt and PIN).
    pub new_key: bool,
    /// The new certificate.
    pub certificate: Certificate,
    /// The serial of the certificate it replaces, which stays valid until it expires.
    pub replaces: String,
    /// When the replaced certificate expires: the end of the overlap.
    pub replaced_until: UnixTime,
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Default)]
pub struct RotationReport {
    /// The new certificates, in [`CERT_FILES`] order.
    pub certificates: Vec<RotatedCertificate>,
    /// Where the previous key files and certificates went.
    pub retired: Vec<PathBuf>,
}

/// Rotates the channel keys and renews every center certificate of the center `config`
/// describes, at `now` (see the [module documentation](self)). Needs the center CA's key.
/// Running processes keep their keys until they restart.
pub fn rotate(
    config: &CenterConfig,
    provider: &'static CryptoProvider,
    now: UnixTime,
) -> Result<RotationReport, Error> {
    rotate_with_iterations(config, provider, now, PBKDF2_ITERATIONS)
}

/// [`rotate`], the new key files encrypted with `iterations` of PBKDF2 (tests lower it).
pub fn rotate_with_iterations(
    config: &CenterConfig,
    provider: &'static CryptoProvider,
    now: UnixTime,
    iterations: u32,
) -> Result<RotationReport, Error> {
    config.check()?;
    let ca_dir = config.path(&config.pki.center_ca);
    let ca = NewCa {
        cert: files::read_certificate(ca_dir.join("ca.crt"))?,
        key: files::read_private_key(provider, ca_dir.join("ca.key"), Some(config.ca_password()?.read()?.as_bytes()))?,
    };
    let keys_dir = config.path(&config.keys.dir);
    let password = config.keystore_password()?.read()?;
    let certs_dir = config.path(&config.pki.certs);
    let retired_certs = certs_dir.join("retired");
    fs::create_dir_all(&retired_certs).map_err(|source| Error::Io { path: retired_certs.clone(), source })?;

    let mut report = RotationReport::default();
    for (purpose, file, role) in CERT_FILES {
        let path = certs_dir.join(file);
        let current = files::read_certificate(&path)?;
        let new_key = matches!(purpose, KeyPurpose::ChannelSign | KeyPurpose::ChannelEnc);
        let key = if new_key {
            let (key, retired) =
                FileKeyStore::rotate_key(&keys_dir, password.as_bytes(), purpose, provider, iterations, now.secs())?;
            report.retired.push(retired);
            key
        } else {
            current.public_key()?.clone()
        };
        let server_name = &config.channel.server_name;
        let cert = center_certificate(provider, role, current.subject().clone(), key, server_name, &ca, now)?;
        let stem = file.trim_end_matches(".crt");
        let retired = retired_certs.join(format!("{stem}-{}.crt", current.serial_hex()));
        files::write_replace(&retired, current.to_pem().as_bytes())?;
        files::write_replace(&path, cert.to_pem().as_bytes())?;
        report.retired.push(retired);
        report.certificates.push(RotatedCertificate {
            purpose,
            file,
            new_key,
            certificate: cert,
            replaces: current.serial_hex(),
            replaced_until: current.not_after(),
        });
    }
    // What was written must open as a center does (keys match certificates, chains verify).
    super::check_files(config, provider)?;
    Ok(report)
}
