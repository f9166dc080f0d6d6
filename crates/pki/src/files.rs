//! Reading and writing PKI files (the `std` feature).
use alloc::{boxed::Box, string::String, vec::Vec};
use std::{fs, io::Write, path::Path};

use wearpay_crypto::{CryptoProvider, PrivateKey, Zeroizing};

use crate::{Certificate, CertificateRequest, Crl, Error, KeyEncryption, keys};

fn io_err(path: &Path, e: &std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), reason: e.to_string() }
}

use alloc::string::ToString;

/// Reads a whole file.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>, Error> {
    let path = path.as_ref();
    fs::read(path).map_err(|e| io_err(path, &e))
}

/// Reads one certificate (PEM or DER).
pub fn read_certificate(path: impl AsRef<Path>) -> Result<Certificate, Error> {
    Certificate::parse(&read(path)?)
}

/// Reads every certificate of a PEM bundle (or one DER certificate).
pub fn read_certificates(path: impl AsRef<Path>) -> Result<Vec<Certificate>, Error> {
    Certificate::parse_all(&read(path)?)
}

/// Reads a CRL (PEM or DER).
pub fn read_crl(path: impl AsRef<Path>) -> Result<Crl, Error> {
    Crl::parse(&read(path)?)
}

/// Reads a CSR (PEM or DER).
pub fn read_csr(path: impl AsRef<Path>) -> Result<CertificateRequest, Error> {
    CertificateRequest::parse(&read(path)?)
}

/// Reads a private key (see [`keys::load_private_key`] for the formats).
pub fn read_private_key(
    provider: &CryptoProvider,
    path: impl AsRef<Path>,
    password: Option<&[u8]>,
) -> Result<Box<dyn PrivateKey>, Error> {
    let path = path.as_ref();
    let data = Zeroizing::new(fs::read(path).map_err(|e| io_err(path, &e))?);
    keys::load_private_key(provider, &data, password)
}

/// Writes `contents` to a new file; fails if it exists. `secret` files get mode 0600 on Unix.
pub fn write_new(path: impl AsRef<Path>, contents: &[u8], secret: bool) -> Result<(), Error> {
    let path = path.as_ref();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(path).map_err(|e| io_err(path, &e))?;
    f.write_all(contents).and_then(|()| f.sync_all()).map_err(|e| io_err(path, &e))
}

/// Writes `contents` to `path`, replacing it if it exists (through a temporary file and a
/// rename, so a reader never sees half a file).
pub fn write_replace(path: impl AsRef<Path>, contents: &[u8]) -> Result<(), Error> {
    let path = path.as_ref();
    let mut tmp = std::ffi::OsString::from(path.as_os_str());
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, contents, false)?;
    fs::rename(&tmp, path).map_err(|e| io_err(path, &e))
}

/// Writes a private key as PKCS#8 PEM to a new file (mode 0600), encrypted when a password
/// is given.
pub fn write_private_key(
    provider: &CryptoProvider,
    path: impl AsRef<Path>,
    key: &dyn PrivateKey,
    password: Option<&[u8]>,
    how: &KeyEncryption,
) -> Result<(), Error> {
    let pem: Zeroizing<String> = keys::private_key_to_pem(provider, key, password.map(|p| (p, how)))?;
    write_new(path, pem.as_bytes(), true)
}
