//! Enrollment by activation code: a band enrolls itself, through the untrusted phone,
//! with a one-time code the bank gave its holder.
//!
//! 1. An administrator creates a code for a customer account that has a PAN
//!    ([`Center::create_activation_code`]). The holder gets `<id>-<secret>`: the id (8
//!    random bytes, hex) finds the record; the secret (20 random bytes, hex) never leaves
//!    the center except in that string. The center keeps the secret sealed by the key
//!    store (SM4-GCM under a key derived from its PIN-verification secret, see
//!    [`crate::keystore::KeyStore::seal`]), so the database alone does not reveal it.
//! 2. The band makes its key pair in its secure element and a CSR whose challengePassword
//!    is [`activation_proof`]: the lowercase hex of HMAC-SM3, keyed with the secret's 20
//!    bytes, over the CSR's own SubjectPublicKeyInfo (DER). The proof binds the code to
//!    that key: a phone that swaps in a CSR for a key of its own cannot make the proof
//!    without the secret, and the band never sends the secret.
//! 3. `POST /v1/enroll {activation_id, csr_pem}` ([`Center::enroll_with_code`]) checks the
//!    CSR's signature and the proof (in constant time), claims the code (unused and
//!    unexpired; of two racing calls one wins), issues the certificate with a subject
//!    from the registry (never the CSR's) and registers the terminal. If enrolling fails,
//!    the code is given back; once it succeeds, the code is spent.
//!
//! An unknown id and a wrong proof get the same answer; only the holder of the secret
//! learns that a code is spent or expired.
extern crate alloc;

use alloc::{format, string::String, vec::Vec};
use core::{fmt, time::Duration};

use serde::Serialize;
use wearpay_crypto::{CryptoProvider, HashAlgorithm, Zeroizing, ct_eq};
use wearpay_pay::Timestamp;
use wearpay_pki::CertificateRequest;

use super::queries::NewCode;
use crate::{
    AccountId, AccountKind,
    keystore::{KeyPurpose, KeyStore},
    node::{Center, Error},
};

/// Bytes of a code's id.
const ID_LEN: usize = 8;
/// Bytes of a code's secret (160 bits).
const SECRET_LEN: usize = 20;
/// How long a code lasts unless told otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(7 * 86_400);
/// The longest a code may last.
pub const MAX_VALIDITY: Duration = Duration::from_secs(90 * 86_400);

/// An activation code: `<id>-<secret>`, both lowercase hex. `Debug` hides the secret;
/// `Display` writes the whole code, to hand to the holder once.
#[derive(Clone)]
pub struct ActivationCode {
    id: String,
    secret: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivationCode").field("id", &self.id).field("secret", &"<secret>").finish()
    }
}

impl fmt::Display for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.id, hex::encode(self.secret.as_slice()))
    }
}

/// Why a code's text does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an activation code: expected 16 hex digits, '-', 40 hex digits")]
pub struct BadActivationCode;

impl ActivationCode {
    /// Parses `<id>-<secret>` (surrounding spaces and upper-case hex accepted).
    pub fn parse(text: &str) -> Result<Self, BadActivationCode> {
        let (id, secret) = text.trim().split_once('-').ok_or(BadActivationCode)?;
        let id = id.to_ascii_lowercase();
        if id.len() != 2 * ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadActivationCode);
        }
        let secret = Zeroizing::new(hex::decode(secret).map_err(|_| BadActivationCode)?);
        if secret.len() != SECRET_LEN {
            return Err(BadActivationCode);
        }
        Ok(Self { id, secret })
    }

    /// The id, which `POST /v1/enroll` names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The challengePassword for a CSR of the key whose SubjectPublicKeyInfo is `spki_der`.
    pub fn proof(&self, provider: &CryptoProvider, spki_der: &[u8]) -> String {
        activation_proof(provider, &self.secret, spki_der)
    }

    fn random(provider: &CryptoProvider) -> Result<Self, Error> {
        let random = |e: wearpay_crypto::Error| Error::Config { what: "random", why: e.to_string() };
        let mut id = [0u8; ID_LEN];
        provider.fill_random(&mut id).map_err(random)?;
        let mut secret = Zeroizing::new(vec![0u8; SECRET_LEN]);
        provider.fill_random(secret.as_mut_slice()).map_err(random)?;
        Ok(Self { id: hex::encode(id), secret })
    }
}

/// The CSR challengePassword that proves the code: lowercase hex of HMAC-SM3 keyed with
/// the code's secret (its bytes) over the CSR's SubjectPublicKeyInfo, DER.
pub fn activation_proof(provider: &CryptoProvider, secret: &[u8], spki_der: &[u8]) -> String {
    hex::encode(provider.hmac(HashAlgorithm::Sm3, secret).sign(&[spki_der]).as_ref())
}

/// The label under which a code's secret is sealed: the id, so that a sealed secret
/// copied to another row does not open.
fn seal_label(id: &str) -> String {
    format!("activation-code:{id}")
}

/// A code just made.
#[derive(Debug, Clone)]
pub struct NewActivationCode {
    /// The code, for the holder.
    pub code: ActivationCode,
    /// The account it enrolls a band to.
    pub account: AccountId,
    /// Until when it may be used.
    pub expires_at: Timestamp,
}

/// Why an enrollment by code was refused. Nothing was issued or registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollRefusal {
    /// The CSR does not parse or its signature does not verify.
    #[error("the CSR does not parse or its signature does not verify")]
    BadCsr,
    /// No code with this id, or the CSR's proof is not the code's.
    #[error("activation refused")]
    Refused,
    /// The code was used already.
    #[error("the activation code was used already")]
    Used,
    /// The code has expired.
    #[error("the activation code has expired")]
    Expired,
    /// The center failed.
    #[error(transparent)]
    Center(#[from] Error),
}

impl From<crate::Error> for EnrollRefusal {
    fn from(e: crate::Error) -> Self {
        Self::Center(e.into())
    }
}

/// What a band needs after enrolling: its certificate and everything to check the center.
#[derive(Debug, Clone, Serialize)]
pub struct Enrollment {
    /// The customer account it pays from.
    pub account: i64,
    /// The account's PAN, to which PIN blocks are bound.
    pub pan: String,
    /// The certificate's serial, upper-case hex.
    pub terminal_serial: String,
    /// The band's certificate (PEM).
    pub certificate_pem: String,
    /// The terminal CA's certificate, then any intermediates above it (PEM), to send in
    /// the handshake after the band's own.
    pub terminal_ca_chain_pem: Vec<String>,
    /// The root the band trusts (PEM).
    pub root_pem: String,
    /// The CA that issued the center's certificates (PEM).
    pub center_ca_pem: String,
    /// The center's receipt-signing certificate (PEM).
    pub receipt_sign_pem: String,
    /// The center's PIN-encipherment certificate (PEM).
    pub pin_enc_pem: String,
    /// The name on the center's channel certificates, which the band checks.
    pub server_name: String,
    /// When the certificate expires (Unix seconds).
    pub certificate_not_after: u64,
}

impl Center {
    /// Creates a one-time activation code that enrolls a band to `account` (a customer
    /// account with a PAN), valid for `validity` from `now` (at most [`MAX_VALIDITY`]).
    /// `label` names the band in its certificate's subject.
    pub async fn create_activation_code(
        &self,
        account: AccountId,
        label: &str,
        validity: Duration,
        now: Timestamp,
    ) -> Result<NewActivationCode, Error> {
        let invalid = |why: &'static str| Error::Store(crate::Error::invalid("activation code", why));
        if validity.is_zero() || validity > MAX_VALIDITY {
            return Err(invalid("validity must be 1 second to 90 days"));
        }
        if label.len() > 128 || label.chars().any(char::is_control) {
            return Err(invalid("label must be at most 128 bytes without control characters"));
        }
        let holder = self.store().account(account).await?.ok_or(crate::Error::NotFound { what: "account" })?;
        if holder.kind != AccountKind::Customer || holder.pan.is_none() {
            return Err(invalid("bands enroll to customer accounts with a PAN"));
        }
        let code = ActivationCode::random(self.provider())?;
        let sealed = KeyStore::seal(&**self.keys(), &seal_label(&code.id), &code.secret)?;
        let expires_at = now.saturating_add(validity.as_secs());
        self.store()
            .insert_activation_code(NewCode { id: &code.id, account, label, sealed_secret: sealed, expires_at }, now)
            .await?;
        tracing::info!(account = account.0, code = %code.id, "activation code created");
        Ok(NewActivationCode { code, account, expires_at })
    }

    /// Enrolls the band whose CSR proves activation code `activation_id` (see the module
    /// documentation) and spends the code.
    pub async fn enroll_with_code(
        &self,
        activation_id: &str,
        csr_pem: &str,
        now: Timestamp,
    ) -> Result<Enrollment, EnrollRefusal> {
        let csr = CertificateRequest::parse(csr_pem.as_bytes()).map_err(|_| EnrollRefusal::BadCsr)?;
        csr.verify(self.provider()).map_err(|_| EnrollRefusal::BadCsr)?;
        let id = activation_id.trim().to_ascii_lowercase();
        if id.len() != 2 * ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EnrollRefusal::Refused);
        }
        let Some(record) = self.store().activation_code(&id).await? else {
            return Err(EnrollRefusal::Refused);
        };
        let secret = KeyStore::open(&**self.keys(), &seal_label(&id), &record.sealed_secret).map_err(Error::from)?;
        let expected = activation_proof(self.provider(), &secret, csr.spki_der());
        let offered = csr.challenge_password().unwrap_or("");
        // Refusals of a code that exists go to the audit trail (an unknown id names nothing
        // the center holds, and the per-address rate limit deals with guessing).
        let (code, account) = (id.as_str(), record.account);
        let refuse = |refusal: EnrollRefusal, reason: &'static str| async move {
            self.store().record_activation_refusal(code, account, reason, now).await?;
            Err::<Enrollment, _>(refusal)
        };
        if !ct_eq(expected.as_bytes(), offered.as_bytes()) {
            tracing::warn!(code = %id, "activation refused: the CSR's proof is not the code's");
            return refuse(EnrollRefusal::Refused, "wrong_proof").await;
        }
        if record.used_at.is_some() {
            return refuse(EnrollRefusal::Used, "used").await;
        }
        if record.expires_at <= now {
            return refuse(EnrollRefusal::Expired, "expired").await;
        }
        if !self.store().claim_activation_code(&id, now).await? {
            // Another call got it first, or it expired in between.
            return refuse(EnrollRefusal::Used, "used").await;
        }
        let (terminal, cert) = match self.enroll_terminal(&csr, record.account, &record.label, now).await {
            Ok(done) => done,
            Err(e) => {
                if let Err(release) = self.store().release_activation_code(&id, now).await {
                    tracing::error!(code = %id, error = %release, "could not give back an activation code");
                }
                return Err(e.into());
            }
        };
        self.store().bind_activation_code(&id, record.account, &terminal.serial, now).await?;
        let account = self.store().account(record.account).await?.ok_or(crate::Error::NotFound { what: "account" })?;
        let pem = |purpose| {
            self.certificate(purpose)
                .map(wearpay_pki::Certificate::to_pem)
                .ok_or(Error::Config { what: "certificates", why: format!("no {purpose} certificate") })
        };
        let ca = self.terminal_ca();
        tracing::info!(account = account.id.0, terminal = %terminal.serial, code = %id, "band enrolled by activation code");
        Ok(Enrollment {
            account: account.id.0,
            pan: account.pan.map(|p| String::from(p.as_str())).unwrap_or_default(),
            terminal_serial: terminal.serial.to_string(),
            certificate_pem: cert.to_pem(),
            terminal_ca_chain_pem: core::iter::once(ca.certificate()).chain(ca.chain()).map(|c| c.to_pem()).collect(),
            root_pem: self.root().to_pem(),
            center_ca_pem: self.center_ca().to_pem(),
            receipt_sign_pem: pem(KeyPurpose::ReceiptSign)?,
            pin_enc_pem: pem(KeyPurpose::PinEnc)?,
            server_name: self.config().channel.server_name.clone(),
            certificate_not_after: cert.not_after().secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_parse_and_print() {
        let code = ActivationCode::random(&wearpay_crypto::portable::PROVIDER).unwrap();
        let text = code.to_string();
        assert_eq!(text.len(), 16 + 1 + 40);
        let back = ActivationCode::parse(&format!("  {}\n", text.to_uppercase())).unwrap();
        assert_eq!(back.id(), code.id());
        assert_eq!(back.secret.as_slice(), code.secret.as_slice());
        assert!(!format!("{code:?}").contains(&hex::encode(code.secret.as_slice())));
        for bad in [
            "",
            "abc",
            "0011223344556677",
            "0011223344556677-00",
            "00112233445566-00112233445566778899aabbccddeeff0011223344",
        ] {
            assert_eq!(ActivationCode::parse(bad).unwrap_err(), BadActivationCode, "{bad}");
        }
    }

    #[test]
    fn the_proof_is_hmac_sm3() {
        // HMAC-SM3 known answer (key "key", the quick brown fox), as in the crypto crate's docs.
        let proof = activation_proof(
            &wearpay_crypto::portable::PROVIDER,
            b"key",
            b"The quick brown fox jumps over the lazy dog",
        );
        assert_eq!(proof, "bd4a34077888162b210645b8ebf74b9af357303789357a27c7fc457244ebd398");
    }
}
