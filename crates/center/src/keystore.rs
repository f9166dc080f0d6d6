//! The center's private keys, one per purpose, behind [`KeyStore`], so that an HSM can
//! hold them (DESIGN.md, "Parties and trust").
//!
//! | purpose | what it is | handed out as |
//! | --- | --- | --- |
//! | [`KeyPurpose::ChannelSign`] | the channel's signing key (TLCP signing certificate) | [`SigningKey`] |
//! | [`KeyPurpose::ChannelEnc`] | the channel's encryption key (TLCP encryption certificate) | [`DecryptingKey`] |
//! | [`KeyPurpose::ReceiptSign`] | signs receipts (never the channel key) | [`SigningKey`] |
//! | [`KeyPurpose::AuditSign`] | signs the audit log's checkpoints (see [`crate::audit`]) | [`SigningKey`] |
//! | [`KeyPurpose::PinEnc`] | decrypts the one-time key of a PIN block | never: used inside the store |
//! | [`KeyPurpose::PinVerification`] | the secret of the keyed PIN verification value | never: used inside the store |
//!
//! The PIN is checked inside the store: [`KeyStore::verify_pin`] deciphers the ISO 9564-1
//! format 4 block with the PIN-encipherment key, computes the keyed verification value
//! (HMAC-SM3 under the PIN-verification secret over the account and the PIN, see
//! [`wearpay_pay::pin::pin_verification_value`]) and compares it with the stored one in
//! constant time. The clear PIN exists only inside that call and is wiped when it returns;
//! the caller learns one bit. [`KeyStore::pin_verification_value_for_new_pin`] makes the
//! value to store for a PIN chosen at enrollment or by `PinChange`.
//!
//! [`FileKeyStore`] keeps the keys in a directory, each in a password-encrypted file (see
//! there). The password comes from a [`PasswordSource`]: an environment variable or a file,
//! never the center's config file.
//!
//! Calls may block (an HSM round trip, or the public-key operation itself): async callers
//! should run them on a blocking thread.
//!
//! The channel keys rotate ([`FileKeyStore::rotate_key`], `wearpay center rotate`); the
//! receipt and PIN keys are held by every band, so their certificates are renewed instead.
extern crate alloc;

use alloc::{boxed::Box, string::String, sync::Arc, vec::Vec};
use core::{fmt, str::FromStr};
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use wearpay_crypto::{
    CryptoProvider, DecryptingKey, GCM_NONCE_LEN, GCM_TAG_LEN, KeyAlgorithm, PrivateKey, PublicKey, SignatureScheme,
    SigningKey, Zeroize, Zeroizing, pbkdf2_hmac,
};
use wearpay_pay::{
    EncipheredPin, Pan, PinBlock, TxId,
    pin::{check_pin_verification_value, pin_verification_value},
};
use wearpay_pki::{KeyEncryption, keys, pem};

/// The environment variable [`PasswordSource::default`] reads.
pub const DEFAULT_PASSWORD_ENV: &str = "WEARPAY_KEYSTORE_PASSWORD";

/// The shortest password [`FileKeyStore::create`] accepts, in bytes.
pub const MIN_PASSWORD_LEN: usize = 8;

/// PBKDF2 iterations for the files [`FileKeyStore::create`] writes.
pub const PBKDF2_ITERATIONS: u32 = 100_000;

/// The fewest PBKDF2 iterations [`FileKeyStore::create_with_iterations`] accepts.
pub const MIN_PBKDF2_ITERATIONS: u32 = 1_000;

/// How the private keys are encrypted: PBES2 with PBKDF2-HMAC-SM3 and SM4-CBC (GmSSL and
/// Tongsuo read these files; OpenSSL 3.0 does not know HMAC-SM3).
const fn key_encryption(iterations: u32) -> KeyEncryption {
    KeyEncryption { iterations, ..KeyEncryption::SHANGMI }
}

/// Why the key store failed. The text names files and purposes, never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The password does not open the key store.
    #[error("wrong key-store password")]
    WrongPassword,
    /// The password is unusable (empty, or too short for a new key store).
    #[error("unusable key-store password: {0}")]
    BadPassword(&'static str),
    /// A PBKDF2 iteration count outside what a new key store may use.
    #[error("{0} PBKDF2 iterations: a new key store uses 1,000 to 10,000,000")]
    InvalidIterations(u32),
    /// The password could not be read from its source.
    #[error("cannot read the key-store password from {source_name}: {why}")]
    PasswordUnavailable {
        /// The source, as `env:NAME` or `file:PATH`.
        source_name: String,
        /// Why.
        why: String,
    },
    /// A key-store file is missing.
    #[error("key-store file {} ({purpose}) is missing", path.display())]
    MissingFile {
        /// The file.
        path: PathBuf,
        /// What it holds.
        purpose: KeyPurpose,
    },
    /// [`FileKeyStore::create`] found a file it would have written.
    #[error("key-store file {} exists already; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("key-store file {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// A file does not parse, fails its integrity check, or does not fit the rest of the
    /// store.
    #[error("key-store file {} is corrupt or was altered: {why}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the contents).
        why: String,
    },
    /// The key store does not hand out this purpose's key in this role.
    #[error("the key store does not hand out the {purpose} key as a {role} key")]
    WrongPurpose {
        /// The purpose asked for.
        purpose: KeyPurpose,
        /// The role asked for: `signing`, `decrypting`, `public` or `rotated`.
        role: &'static str,
    },
    /// An enciphered PIN was refused: its envelope did not decrypt with the PIN key (the
    /// block was enciphered to another key, or altered), named another transaction, or the
    /// deciphered field was not a format 4 PIN field (for example a wrong PAN).
    #[error("PIN block refused: {0}")]
    BadPinBlock(&'static str),
    /// Another failure of the payment crate's PIN code.
    #[error("PIN processing failed: {0}")]
    Pin(wearpay_pay::Error),
    /// The crypto provider failed (random source, key generation).
    #[error("crypto provider: {0}")]
    Crypto(#[from] wearpay_crypto::Error),
    /// Generating or encoding a key failed.
    #[error("key handling failed: {0}")]
    Key(wearpay_pki::Error),
}

impl From<wearpay_pay::Error> for Error {
    fn from(e: wearpay_pay::Error) -> Self {
        match e {
            wearpay_pay::Error::BadPinBlock(why) => Self::BadPinBlock(why),
            wearpay_pay::Error::Crypto(e) => Self::Crypto(e),
            other => Self::Pin(other),
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, why: impl Into<String>) -> Error {
    Error::Corrupt { path: path.to_path_buf(), why: why.into() }
}

/// What a key of the center is for: one key per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// Signs the channel handshake (the TLCP signing certificate's key).
    ChannelSign,
    /// Decrypts the channel's pre-master secret (the TLCP encryption certificate's key).
    ChannelEnc,
    /// Signs receipts.
    ReceiptSign,
    /// Decrypts the one-time key of a PIN block; never leaves the store.
    PinEnc,
    /// The secret key of the PIN verification value (32 random bytes); never leaves the
    /// store.
    PinVerification,
    /// Signs the audit log's checkpoints.
    AuditSign,
}

impl KeyPurpose {
    /// Every purpose.
    pub const ALL: [KeyPurpose; 6] =
        [Self::ChannelSign, Self::ChannelEnc, Self::ReceiptSign, Self::PinEnc, Self::PinVerification, Self::AuditSign];

    /// The purposes that are public-key pairs.
    pub const KEY_PAIRS: [KeyPurpose; 5] =
        [Self::ChannelSign, Self::ChannelEnc, Self::ReceiptSign, Self::PinEnc, Self::AuditSign];

    /// The purpose's name: `channel-sign`, `channel-enc`, `receipt-sign`, `pin-enc`,
    /// `pin-verification`, `audit-sign`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ChannelSign => "channel-sign",
            Self::ChannelEnc => "channel-enc",
            Self::ReceiptSign => "receipt-sign",
            Self::PinEnc => "pin-enc",
            Self::PinVerification => "pin-verification",
            Self::AuditSign => "audit-sign",
        }
    }

    /// The file that holds it in a [`FileKeyStore`].
    pub const fn file_name(self) -> &'static str {
        match self {
            Self::ChannelSign => "channel-sign.key",
            Self::ChannelEnc => "channel-enc.key",
            Self::ReceiptSign => "receipt-sign.key",
            Self::PinEnc => "pin-enc.key",
            Self::PinVerification => "pin-verification.secret",
            Self::AuditSign => "audit-sign.key",
        }
    }
}

impl fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The center's private keys, one per purpose. An implementation may keep them in memory
/// ([`FileKeyStore`]) or in an HSM; no caller ever sees key material.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// The public half of a key pair: what a certificate is issued for, and what the band
    /// is provisioned with for [`KeyPurpose::PinEnc`]. [`KeyPurpose::PinVerification`] has
    /// none ([`Error::WrongPurpose`]).
    fn public_key(&self, purpose: KeyPurpose) -> Result<PublicKey, Error>;

    /// A signing key: [`KeyPurpose::ChannelSign`], [`KeyPurpose::ReceiptSign`] or
    /// [`KeyPurpose::AuditSign`]; any other purpose is [`Error::WrongPurpose`].
    fn signing_key(&self, purpose: KeyPurpose) -> Result<Arc<dyn SigningKey>, Error>;

    /// A decrypting key: only [`KeyPurpose::ChannelEnc`]. The PIN-encipherment key is not
    /// handed out ([`Error::WrongPurpose`]): PINs are checked with
    /// [`KeyStore::verify_pin`].
    fn decrypting_key(&self, purpose: KeyPurpose) -> Result<Arc<dyn DecryptingKey>, Error>;

    /// Whether the PIN enciphered in `enciphered` (for `pan`, bound to `tx_id`) is the one
    /// whose verification value for `account` is `stored_pvv`.
    ///
    /// Deciphers with the PIN-encipherment key, computes HMAC-SM3 under the
    /// PIN-verification secret over `account` and the PIN, and compares in constant time.
    /// `account` is the account's stable identifier, the same string as at enrollment.
    ///
    /// `Ok(false)` is a wrong PIN. A block that cannot be deciphered (enciphered to another
    /// key, for another `tx_id`, for another PAN, or altered) is [`Error::BadPinBlock`];
    /// whether that counts as a wrong try is the caller's policy.
    fn verify_pin(
        &self,
        enciphered: &EncipheredPin,
        pan: &Pan,
        tx_id: &TxId,
        account: &str,
        stored_pvv: &[u8; 32],
    ) -> Result<bool, Error>;

    /// The verification value to store for a new PIN delivered enciphered (enrollment, or
    /// the new PIN of a `PinChange` once the old one has passed [`KeyStore::verify_pin`]).
    /// Errors as for [`KeyStore::verify_pin`].
    fn pin_verification_value_for_new_pin(
        &self,
        enciphered: &EncipheredPin,
        pan: &Pan,
        tx_id: &TxId,
        account: &str,
    ) -> Result<[u8; 32], Error>;

    /// Seals a secret the center must keep in its database but must not be readable from
    /// the database alone (an activation code's secret): SM4-GCM under a key derived for
    /// `label` from the PIN-verification secret, so that a value sealed under one label
    /// opens under no other. A store that cannot seal refuses ([`Error::WrongPurpose`]).
    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let _ = (label, plaintext);
        Err(Error::WrongPurpose { purpose: KeyPurpose::PinVerification, role: "sealing" })
    }

    /// Opens what [`KeyStore::seal`] sealed under `label`. A value altered, or sealed under
    /// another label or by another key store, is [`Error::Crypto`].
    fn open(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let _ = (label, sealed);
        Err(Error::WrongPurpose { purpose: KeyPurpose::PinVerification, role: "sealing" })
    }
}

// ---- passwords ----

/// A key-store password. Wiped when dropped; its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// A password from its bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where the key-store password comes from: never the config file, which names only the
/// source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// An environment variable (by default [`DEFAULT_PASSWORD_ENV`]). The variable stays
    /// in the process's environment (and its children's) after it is read: prefer a file
    /// where that matters.
    Env(String),
    /// A file holding the password; one trailing newline (`\n` or `\r\n`) is not part of
    /// it. Keep it readable by the center's user only.
    File(PathBuf),
}

impl Default for PasswordSource {
    fn default() -> Self {
        Self::Env(String::from(DEFAULT_PASSWORD_ENV))
    }
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl FromStr for PasswordSource {
    type Err = Error;

    /// Parses `env:NAME` or `file:PATH`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let unavailable =
            |why: &str| Error::PasswordUnavailable { source_name: String::from(s), why: String::from(why) };
        if let Some(name) = s.strip_prefix("env:") {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(unavailable("not a valid environment variable name"));
            }
            Ok(Self::Env(String::from(name)))
        } else if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(unavailable("empty file name"));
            }
            Ok(Self::File(PathBuf::from(path)))
        } else {
            Err(unavailable("expected env:NAME or file:PATH"))
        }
    }
}

impl PasswordSource {
    /// Reads the password. An unset variable, a missing file or an empty password is an
    /// error naming the source.
    pub fn read(&self) -> Result<Password, Error> {
        let unavailable = |why: String| Error::PasswordUnavailable { source_name: self.to_string(), why };
        let mut bytes = match self {
            Self::Env(name) => {
                let value = std::env::var_os(name).ok_or_else(|| unavailable(String::from("it is not set")))?;
                Zeroizing::new(value.into_encoded_bytes())
            }
            Self::File(path) => Zeroizing::new(fs::read(path).map_err(|e| unavailable(e.to_string()))?),
        };
        if matches!(self, Self::File(_)) && bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(unavailable(String::from("the password is empty")));
        }
        Ok(Password(bytes))
    }
}

// ---- keys as handed out ----

/// A key of the store seen as a signing key only.
struct StoreSigningKey {
    purpose: KeyPurpose,
    key: Box<dyn PrivateKey>,
}

impl fmt::Debug for StoreSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreSigningKey({}, {})", self.purpose, describe(&self.public_key()))
    }
}

impl SigningKey for StoreSigningKey {
    fn public_key(&self) -> PublicKey {
        SigningKey::public_key(&*self.key)
    }
    fn scheme(&self) -> SignatureScheme {
        self.key.scheme()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, wearpay_crypto::Error> {
        self.key.sign(msg)
    }
    fn sign_with(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, wearpay_crypto::Error> {
        self.key.sign_with(scheme, msg)
    }
}

/// A key of the store seen as a decrypting key only.
struct StoreDecryptingKey {
    purpose: KeyPurpose,
    key: Box<dyn PrivateKey>,
}

impl fmt::Debug for StoreDecryptingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreDecryptingKey({}, {})", self.purpose, describe(&self.public_key()))
    }
}

impl DecryptingKey for StoreDecryptingKey {
    fn public_key(&self) -> PublicKey {
        DecryptingKey::public_key(&*self.key)
    }
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, wearpay_crypto::Error> {
        self.key.decrypt(ciphertext)
    }
}

fn describe(key: &PublicKey) -> String {
    keys::describe_public_key(key)
}

/// The public keys of a new key store, for the certificates to be issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeys {
    /// [`KeyPurpose::ChannelSign`].
    pub channel_sign: PublicKey,
    /// [`KeyPurpose::ChannelEnc`].
    pub channel_enc: PublicKey,
    /// [`KeyPurpose::ReceiptSign`].
    pub receipt_sign: PublicKey,
    /// [`KeyPurpose::PinEnc`] (provisioned to bands).
    pub pin_enc: PublicKey,
    /// [`KeyPurpose::AuditSign`] (what checks the audit log's checkpoints).
    pub audit_sign: PublicKey,
}

impl PublicKeys {
    /// The public key for `purpose`; `None` for [`KeyPurpose::PinVerification`].
    pub fn get(&self, purpose: KeyPurpose) -> Option<&PublicKey> {
        match purpose {
            KeyPurpose::ChannelSign => Some(&self.channel_sign),
            KeyPurpose::ChannelEnc => Some(&self.channel_enc),
            KeyPurpose::ReceiptSign => Some(&self.receipt_sign),
            KeyPurpose::PinEnc => Some(&self.pin_enc),
            KeyPurpose::AuditSign => Some(&self.audit_sign),
            KeyPurpose::PinVerification => None,
        }
    }
}

// ---- the file-based store ----

/// A key store in a directory, one password-protected file per purpose:
///
/// - `channel-sign.key`, `channel-enc.key`, `receipt-sign.key`, `pin-enc.key`,
///   `audit-sign.key`: encrypted PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`; PBES2 with
///   PBKDF2-HMAC-SM3 and SM4-CBC);
/// - `pin-verification.secret`: the 32-byte PIN-verification secret, sealed with SM4-GCM
///   under a key derived from the password with PBKDF2-HMAC-SM3 and a random salt. The
///   89-byte file is `"WPAY-PVS"` ‖ version `01` ‖ salt (16) ‖ iterations (4, big-endian)
///   ‖ nonce (12) ‖ ciphertext (32) ‖ tag (16); everything before the ciphertext is
///   authenticated as associated data.
///
/// Every file holds key material under the same password, is written with mode 0600 on
/// Unix (the directory, when created here, 0700), and is never overwritten. A wrong
/// password is [`Error::WrongPassword`]; once `channel-sign.key` has opened, a file the
/// password does not open, or whose tag fails, is [`Error::Corrupt`] naming it.
///
/// Keys and the secret live in memory, wiped when the store is dropped; `Debug` shows the
/// directory and the algorithms only.
pub struct FileKeyStore {
    dir: PathBuf,
    provider: CryptoProvider,
    channel_sign: Arc<StoreSigningKey>,
    channel_enc: Arc<StoreDecryptingKey>,
    receipt_sign: Arc<StoreSigningKey>,
    pin_enc: StoreDecryptingKey,
    audit_sign: Arc<StoreSigningKey>,
    pin_secret: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for FileKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeyStore")
            .field("dir", &self.dir)
            .field("provider", &self.provider.name)
            .field("channel_sign", &describe(&self.channel_sign.public_key()))
            .field("channel_enc", &describe(&self.channel_enc.public_key()))
            .field("receipt_sign", &describe(&self.receipt_sign.public_key()))
            .field("pin_enc", &describe(&self.pin_enc.public_key()))
            .field("audit_sign", &describe(&self.audit_sign.public_key()))
            .field("pin_verification", &"<secret>")
            .finish()
    }
}

impl FileKeyStore {
    /// Makes a new key store in `dir` (created, mode 0700, if missing): generates the five
    /// key pairs with `alg` ([`KeyAlgorithm::Sm2`], or [`KeyAlgorithm::Rsa`] of 2048 to
    /// 4096 bits) and the PIN-verification secret, and writes them encrypted under
    /// `password` (at least [`MIN_PASSWORD_LEN`] bytes).
    ///
    /// Refuses to overwrite any existing key-store file ([`Error::AlreadyExists`]); if
    /// writing fails part way, the files written so far are removed.
    ///
    /// Returns the open store and the public keys, for the certificates to be issued.
    pub fn create(
        dir: impl AsRef<Path>,
        password: &[u8],
        alg: KeyAlgorithm,
        provider: &CryptoProvider,
    ) -> Result<(Self, PublicKeys), Error> {
        Self::create_with_iterations(dir, password, alg, provider, PBKDF2_ITERATIONS)
    }

    /// [`FileKeyStore::create`] with another PBKDF2 iteration count for every file
    /// ([`MIN_PBKDF2_ITERATIONS`] up to the 10,000,000 that [`FileKeyStore::open`] accepts;
    /// the count is stored in each file).
    pub fn create_with_iterations(
        dir: impl AsRef<Path>,
        password: &[u8],
        alg: KeyAlgorithm,
        provider: &CryptoProvider,
        iterations: u32,
    ) -> Result<(Self, PublicKeys), Error> {
        let dir = dir.as_ref();
        if !(MIN_PBKDF2_ITERATIONS..=keys::MAX_PBKDF2_ITERATIONS).contains(&iterations) {
            return Err(Error::InvalidIterations(iterations));
        }
        if password.is_empty() {
            return Err(Error::BadPassword("it is empty"));
        }
        if password.len() < MIN_PASSWORD_LEN {
            return Err(Error::BadPassword("a new key store needs at least 8 bytes"));
        }
        create_dir(dir)?;
        for purpose in KeyPurpose::ALL {
            let path = dir.join(purpose.file_name());
            match fs::symlink_metadata(&path) {
                Ok(_) => return Err(Error::AlreadyExists { path }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }

        let generated = for_each_key_pair(|_| keys::generate_key(provider, alg).map_err(Error::Key))?;
        let mut secret = Zeroizing::new([0u8; 32]);
        provider.fill_random(secret.as_mut())?;

        let mut files = Vec::with_capacity(KeyPurpose::ALL.len());
        for (purpose, key) in KeyPurpose::KEY_PAIRS.iter().zip(&generated) {
            let pem = keys::private_key_to_pem(provider, &**key, Some((password, &key_encryption(iterations))))
                .map_err(Error::Key)?;
            files.push((dir.join(purpose.file_name()), Zeroizing::new(pem.as_bytes().to_vec())));
        }
        files.push((
            dir.join(KeyPurpose::PinVerification.file_name()),
            Zeroizing::new(seal_secret(provider, password, &secret, iterations)?),
        ));

        let mut written = Vec::with_capacity(files.len());
        for (path, contents) in &files {
            if let Err(e) = write_secret_file(path, contents) {
                if !matches!(e, Error::AlreadyExists { .. }) {
                    let _ = fs::remove_file(path);
                }
                for done in &written {
                    let _ = fs::remove_file(done);
                }
                return Err(e);
            }
            written.push(path.clone());
        }
        sync_dir(dir);

        let store = Self::assemble(dir, provider, generated, secret);
        let public = store.public_keys();
        Ok((store, public))
    }

    /// Opens the key store in `dir` with `password`.
    ///
    /// A missing file is [`Error::MissingFile`] naming it, a wrong password
    /// [`Error::WrongPassword`], an altered file [`Error::Corrupt`] naming it.
    ///
    /// A key store made before the audit key existed has no `audit-sign.key`: opening it
    /// fails with [`Error::MissingFile`] for [`KeyPurpose::AuditSign`] rather than making a
    /// key behind the operator's back (whose public half must be recorded wherever the audit
    /// log is checked). [`FileKeyStore::add_audit_key`] adds it.
    pub fn open(dir: impl AsRef<Path>, password: &[u8], provider: &CryptoProvider) -> Result<Self, Error> {
        let dir = dir.as_ref();
        // Every file must be there before any PBKDF2 work, so that a missing one is named
        // rather than reported as some other failure.
        for purpose in KeyPurpose::ALL {
            let path = dir.join(purpose.file_name());
            match fs::metadata(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::MissingFile { path, purpose }),
                Err(e) => return Err(io_error(&path, e)),
            }
        }

        let mut seen: Vec<(KeyPurpose, PublicKey)> = Vec::with_capacity(KeyPurpose::KEY_PAIRS.len());
        let loaded = for_each_key_pair(|purpose| {
            let path = dir.join(purpose.file_name());
            // The first file tells a wrong password; after it has opened, the password is
            // right and a file it does not open was altered (or written under another one).
            let key = match load_key_file(provider, &path, purpose, password) {
                Err(Error::WrongPassword) if !seen.is_empty() => {
                    return Err(corrupt(
                        &path,
                        alloc::format!(
                            "it does not decrypt with the password that opens {}",
                            KeyPurpose::ChannelSign.file_name()
                        ),
                    ));
                }
                other => other?,
            };
            let public = SigningKey::public_key(&*key);
            if let Some((other, _)) = seen.iter().find(|(_, k)| *k == public) {
                return Err(corrupt(&path, alloc::format!("it holds the same key as {}", other.file_name())));
            }
            seen.push((purpose, public));
            Ok(key)
        })?;

        let path = dir.join(KeyPurpose::PinVerification.file_name());
        let sealed = Zeroizing::new(fs::read(&path).map_err(|e| read_error(&path, KeyPurpose::PinVerification, e))?);
        let secret = open_secret(provider, password, &sealed).map_err(|e| match e {
            SecretError::Format(why) => corrupt(&path, why),
            SecretError::Tag => corrupt(
                &path,
                "its authentication tag does not verify with the password that opens the key files \
                 (altered, or sealed under another password)",
            ),
        })?;

        Ok(Self::assemble(dir, provider, loaded, secret))
    }

    /// Opens the key store in `dir` with the password from `source`.
    pub fn open_with(dir: impl AsRef<Path>, source: &PasswordSource, provider: &CryptoProvider) -> Result<Self, Error> {
        let password = source.read()?;
        Self::open(dir, password.as_bytes(), provider)
    }

    /// Adds the [`KeyPurpose::AuditSign`] key to a key store made before it existed: a new
    /// key pair of the channel-signing key's algorithm, under the same password (checked
    /// against `channel-sign.key` first), with [`PBKDF2_ITERATIONS`]. Refuses to replace an
    /// existing `audit-sign.key` ([`Error::AlreadyExists`]). Returns its public half, to be
    /// kept wherever the audit log is checked.
    pub fn add_audit_key(
        dir: impl AsRef<Path>,
        password: &[u8],
        provider: &CryptoProvider,
    ) -> Result<PublicKey, Error> {
        let dir = dir.as_ref();
        let path = dir.join(KeyPurpose::AuditSign.file_name());
        if path.exists() {
            return Err(Error::AlreadyExists { path });
        }
        let channel = dir.join(KeyPurpose::ChannelSign.file_name());
        let alg =
            SigningKey::public_key(&*load_key_file(provider, &channel, KeyPurpose::ChannelSign, password)?).algorithm();
        let key = keys::generate_key(provider, alg).map_err(Error::Key)?;
        let pem = keys::private_key_to_pem(provider, &*key, Some((password, &key_encryption(PBKDF2_ITERATIONS))))
            .map_err(Error::Key)?;
        if let Err(e) = write_secret_file(&path, &Zeroizing::new(pem.as_bytes().to_vec())) {
            if !matches!(e, Error::AlreadyExists { .. }) {
                let _ = fs::remove_file(&path);
            }
            return Err(e);
        }
        sync_dir(dir);
        Ok(SigningKey::public_key(&*key))
    }

    /// Replaces the key pair of `purpose` with a new one of the same algorithm, under the
    /// same password (checked first) and `iterations`: the rotation of the channel keys.
    /// The previous file moves to `retired/` beside the others, named with `stamp`, and is
    /// kept: processes still running hold that key until they restart. Returns the new
    /// public key, for its certificate, and where the old file went.
    ///
    /// Only the channel keys rotate this way: a receipt or PIN key is held by every band
    /// ([`Error::WrongPurpose`] for any other purpose).
    pub fn rotate_key(
        dir: impl AsRef<Path>,
        password: &[u8],
        purpose: KeyPurpose,
        provider: &CryptoProvider,
        iterations: u32,
        stamp: u64,
    ) -> Result<(PublicKey, PathBuf), Error> {
        if !matches!(purpose, KeyPurpose::ChannelSign | KeyPurpose::ChannelEnc) {
            return Err(Error::WrongPurpose { purpose, role: "rotated" });
        }
        if !(MIN_PBKDF2_ITERATIONS..=keys::MAX_PBKDF2_ITERATIONS).contains(&iterations) {
            return Err(Error::InvalidIterations(iterations));
        }
        let dir = dir.as_ref();
        let path = dir.join(purpose.file_name());
        let current = load_key_file(provider, &path, purpose, password)?;
        let key = keys::generate_key(provider, SigningKey::public_key(&*current).algorithm()).map_err(Error::Key)?;
        let pem = keys::private_key_to_pem(provider, &*key, Some((password, &key_encryption(iterations))))
            .map_err(Error::Key)?;
        // The new key is durable under a temporary name before the old one moves, so that a
        // crash leaves either key in place, never neither.
        let fresh = dir.join(alloc::format!("{}.new", purpose.file_name()));
        let _ = fs::remove_file(&fresh);
        write_secret_file(&fresh, &Zeroizing::new(pem.as_bytes().to_vec()))?;
        let retired_dir = dir.join("retired");
        create_dir(&retired_dir)?;
        let retired = retired_dir.join(alloc::format!("{}.{stamp}", purpose.file_name()));
        if retired.exists() {
            let _ = fs::remove_file(&fresh);
            return Err(Error::AlreadyExists { path: retired });
        }
        fs::rename(&path, &retired).map_err(|e| io_error(&path, e))?;
        fs::rename(&fresh, &path).map_err(|e| io_error(&fresh, e))?;
        sync_dir(&retired_dir);
        sync_dir(dir);
        Ok((SigningKey::public_key(&*key), retired))
    }

    fn assemble(
        dir: &Path,
        provider: &CryptoProvider,
        [channel_sign, channel_enc, receipt_sign, pin_enc, audit_sign]: [Box<dyn PrivateKey>; 5],
        pin_secret: Zeroizing<[u8; 32]>,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            provider: *provider,
            channel_sign: Arc::new(StoreSigningKey { purpose: KeyPurpose::ChannelSign, key: channel_sign }),
            channel_enc: Arc::new(StoreDecryptingKey { purpose: KeyPurpose::ChannelEnc, key: channel_enc }),
            receipt_sign: Arc::new(StoreSigningKey { purpose: KeyPurpose::ReceiptSign, key: receipt_sign }),
            pin_enc: StoreDecryptingKey { purpose: KeyPurpose::PinEnc, key: pin_enc },
            audit_sign: Arc::new(StoreSigningKey { purpose: KeyPurpose::AuditSign, key: audit_sign }),
            pin_secret,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public keys of the five key pairs.
    pub fn public_keys(&self) -> PublicKeys {
        PublicKeys {
            channel_sign: self.channel_sign.public_key(),
            channel_enc: self.channel_enc.public_key(),
            receipt_sign: self.receipt_sign.public_key(),
            pin_enc: self.pin_enc.public_key(),
            audit_sign: self.audit_sign.public_key(),
        }
    }

    /// The file of `purpose` in `dir`.
    pub fn file_path(dir: impl AsRef<Path>, purpose: KeyPurpose) -> PathBuf {
        dir.as_ref().join(purpose.file_name())
    }
}

impl KeyStore for FileKeyStore {
    fn public_key(&self, purpose: KeyPurpose) -> Result<PublicKey, Error> {
        self.public_keys().get(purpose).cloned().ok_or(Error::WrongPurpose { purpose, role: "public" })
    }

    fn signing_key(&self, purpose: KeyPurpose) -> Result<Arc<dyn SigningKey>, Error> {
        match purpose {
            KeyPurpose::ChannelSign => Ok(self.channel_sign.clone()),
            KeyPurpose::ReceiptSign => Ok(self.receipt_sign.clone()),
            KeyPurpose::AuditSign => Ok(self.audit_sign.clone()),
            _ => Err(Error::WrongPurpose { purpose, role: "signing" }),
        }
    }

    fn decrypting_key(&self, purpose: KeyPurpose) -> Result<Arc<dyn DecryptingKey>, Error> {
        match purpose {
            KeyPurpose::ChannelEnc => Ok(self.channel_enc.clone()),
            _ => Err(Error::WrongPurpose { purpose, role: "decrypting" }),
        }
    }

    fn verify_pin(
        &self,
        enciphered: &EncipheredPin,
        pan: &Pan,
        tx_id: &TxId,
        account: &str,
        stored_pvv: &[u8; 32],
    ) -> Result<bool, Error> {
        let pin = PinBlock::decipher(&self.provider, &self.pin_enc, enciphered, pan, tx_id)?;
        Ok(check_pin_verification_value(&self.provider, self.pin_secret.as_ref(), account.as_bytes(), &pin, stored_pvv))
    }

    fn pin_verification_value_for_new_pin(
        &self,
        enciphered: &EncipheredPin,
        pan: &Pan,
        tx_id: &TxId,
        account: &str,
    ) -> Result<[u8; 32], Error> {
        let pin = PinBlock::decipher(&self.provider, &self.pin_enc, enciphered, pan, tx_id)?;
        Ok(pin_verification_value(&self.provider, self.pin_secret.as_ref(), account.as_bytes(), &pin))
    }

    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        seal_value(&self.provider, self.pin_secret.as_ref(), label, plaintext)
    }

    fn open(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        open_value(&self.provider, self.pin_secret.as_ref(), label, sealed)
    }
}

// ---- files ----

/// Runs `f` for each key pair's purpose, in the order of [`KeyPurpose::KEY_PAIRS`].
fn for_each_key_pair<T>(mut f: impl FnMut(KeyPurpose) -> Result<T, Error>) -> Result<[T; 5], Error> {
    let [a, b, c, d, e] = KeyPurpose::KEY_PAIRS;
    Ok([f(a)?, f(b)?, f(c)?, f(d)?, f(e)?])
}

fn read_error(path: &Path, purpose: KeyPurpose, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::MissingFile { path: path.to_path_buf(), purpose }
    } else {
        io_error(path, e)
    }
}

fn load_key_file(
    provider: &CryptoProvider,
    path: &Path,
    purpose: KeyPurpose,
    password: &[u8],
) -> Result<Box<dyn PrivateKey>, Error> {
    let data = Zeroizing::new(fs::read(path).map_err(|e| read_error(path, purpose, e))?);
    let block = pem::decode_one(&data, &[keys::ENCRYPTED_PKCS8_LABEL], "encrypted private key")
        .map_err(|e| corrupt(path, alloc::format!("not one encrypted PKCS#8 private key: {e}")))?;
    keys::load_encrypted_pkcs8(provider, &block.der, password).map_err(|e| match e {
        wearpay_pki::Error::WrongPassword => Error::WrongPassword,
        other => corrupt(path, other.to_string()),
    })
}

/// Creates `dir` (and its parents) if missing; a directory made here gets mode 0700.
fn create_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| io_error(dir, e))
}

/// Writes a new file (never replacing one), mode 0600 on Unix, and syncs it.
fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            Error::AlreadyExists { path: path.to_path_buf() }
        } else {
            io_error(path, e)
        }
    })?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(|e| io_error(path, e))
}

/// Makes the new directory entries durable (best effort: not every platform can sync a
/// directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

// ---- the sealed PIN-verification secret ----

const SECRET_MAGIC: &[u8; 8] = b"WPAY-PVS";
const SECRET_VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = SECRET_MAGIC.len() + 1 + SALT_LEN + 4 + GCM_NONCE_LEN;
const SECRET_FILE_LEN: usize = HEADER_LEN + 32 + GCM_TAG_LEN;

enum SecretError {
    /// The file is not a sealed secret of a version this code reads.
    Format(&'static str),
    /// The tag does not verify: wrong password or altered.
    Tag,
}

fn secret_key(provider: &CryptoProvider, password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 16]> {
    let mut key = Zeroizing::new([0u8; 16]);
    pbkdf2_hmac(provider.sm3, password, salt, iterations, key.as_mut());
    key
}

fn seal_secret(
    provider: &CryptoProvider,
    password: &[u8],
    secret: &[u8; 32],
    iterations: u32,
) -> Result<Vec<u8>, Error> {
    let mut salt = [0u8; SALT_LEN];
    provider.fill_random(&mut salt)?;
    let mut nonce = [0u8; GCM_NONCE_LEN];
    provider.fill_random(&mut nonce)?;
    let mut out = Vec::with_capacity(SECRET_FILE_LEN);
    out.extend_from_slice(SECRET_MAGIC);
    out.push(SECRET_VERSION);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&iterations.to_be_bytes());
    out.extend_from_slice(&nonce);
    let key = secret_key(provider, password, &salt, iterations);
    let aead = provider.sm4_gcm.new_key(key.as_ref())?;
    let mut body = Zeroizing::new(*secret);
    let tag = aead.seal(&nonce, &out, body.as_mut())?;
    out.extend_from_slice(body.as_ref());
    out.extend_from_slice(&tag);
    Ok(out)
}

fn open_secret(provider: &CryptoProvider, password: &[u8], file: &[u8]) -> Result<Zeroizing<[u8; 32]>, SecretError> {
    if file.len() < HEADER_LEN || !file.starts_with(SECRET_MAGIC) {
        return Err(SecretError::Format("not a wearpay PIN-verification secret file"));
    }
    if file[SECRET_MAGIC.len()] != SECRET_VERSION {
        return Err(SecretError::Format("unknown version"));
    }
    if file.len() != SECRET_FILE_LEN {
        return Err(SecretError::Format("wrong length"));
    }
    let (header, rest) = file.split_at(HEADER_LEN);
    let (body, tag) = rest.split_at(32);
    let salt = &header[SECRET_MAGIC.len() + 1..][..SALT_LEN];
    let mut iterations = [0u8; 4];
    iterations.copy_from_slice(&header[SECRET_MAGIC.len() + 1 + SALT_LEN..][..4]);
    let iterations = u32::from_be_bytes(iterations);
    if iterations == 0 || iterations > keys::MAX_PBKDF2_ITERATIONS {
        return Err(SecretError::Format("PBKDF2 iteration count out of range"));
    }
    let mut nonce = [0u8; GCM_NONCE_LEN];
    nonce.copy_from_slice(&header[HEADER_LEN - GCM_NONCE_LEN..]);
    let mut tag_bytes = [0u8; GCM_TAG_LEN];
    tag_bytes.copy_from_slice(tag);

    let key = secret_key(provider, password, salt, iterations);
    let aead = provider.sm4_gcm.new_key(key.as_ref()).map_err(|_| SecretError::Format("cannot use SM4-GCM"))?;
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(body);
    if aead.open(&nonce, header, secret.as_mut(), &tag_bytes).is_err() {
        secret.zeroize();
        return Err(SecretError::Tag);
    }
    Ok(secret)
}

// ---- values sealed for the database ----

/// The first bytes of a sealed value: what it is and its version (authenticated).
const SEALED_HEADER: &[u8; 10] = b"WPAY-SEAL\x01";

/// The SM4 key for `label`: HMAC-SM3 under the PIN-verification secret over a fixed context
/// and the label, cut to 16 bytes. One key per label, and none is the PIN secret itself.
fn sealing_key(provider: &CryptoProvider, secret: &[u8], label: &str) -> Zeroizing<[u8; 16]> {
    let tag =
        provider.hmac(wearpay_crypto::HashAlgorithm::Sm3, secret).sign(&[b"wearpay sealing key\0", label.as_bytes()]);
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&tag.as_ref()[..16]);
    key
}

/// `SEALED_HEADER` ‖ nonce (12) ‖ ciphertext ‖ tag (16).
fn seal_value(provider: &CryptoProvider, secret: &[u8], label: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let key = sealing_key(provider, secret, label);
    let aead = provider.sm4_gcm.new_key(key.as_ref())?;
    let mut nonce = [0u8; GCM_NONCE_LEN];
    provider.fill_random(&mut nonce)?;
    let mut body = Zeroizing::new(plaintext.to_vec());
    let tag = aead.seal(&nonce, SEALED_HEADER, body.as_mut())?;
    let mut out = Vec::with_capacity(SEALED_HEADER.len() + GCM_NONCE_LEN + body.len() + GCM_TAG_LEN);
    out.extend_from_slice(SEALED_HEADER);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    Ok(out)
}

fn open_value(
    provider: &CryptoProvider,
    secret: &[u8],
    label: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let Some(rest) = sealed.strip_prefix(SEALED_HEADER.as_slice()) else {
        return Err(Error::Crypto(wearpay_crypto::Error::Encoding));
    };
    if rest.len() < GCM_NONCE_LEN + GCM_TAG_LEN {
        return Err(Error::Crypto(wearpay_crypto::Error::InvalidLength));
    }
    let (nonce, rest) = rest.split_at(GCM_NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - GCM_TAG_LEN);
    let mut nonce_bytes = [0u8; GCM_NONCE_LEN];
    nonce_bytes.copy_from_slice(nonce);
    let mut tag_bytes = [0u8; GCM_TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    let key = sealing_key(provider, secret, label);
    let aead = provider.sm4_gcm.new_key(key.as_ref())?;
    let mut out = Zeroizing::new(body.to_vec());
    if let Err(e) = aead.open(&nonce_bytes, SEALED_HEADER, out.as_mut(), &tag_bytes) {
        out.zeroize();
        return Err(Error::Crypto(e));
    }
    Ok(out)
}
