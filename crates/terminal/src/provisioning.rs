//! What enrollment gives the band, and its file.
//!
//! # Encoding
//!
//! UTF-8 text: a first line `wearpay-provisioning 1`, then `name value` lines, then named
//! sections of PEM certificates, each section name alone on its line:
//!
//! ```text
//! wearpay-provisioning 1
//! server-name center.wearpay.example
//! account Alice, current account
//! pan 6222021234567890123
//!
//! band-certificate
//! -----BEGIN CERTIFICATE-----
//! …
//! band-chain            (optional: the CAs between a terminal root and the band)
//! trust-anchor          (one or more roots for the center's certificates)
//! center-chain          (optional: the CAs between those roots and the center)
//! center-receipt
//! center-pin
//! ```
//!
//! Every PEM tool reads the certificates; the order of lines and sections is fixed, so the
//! encoding of a bundle is unique.
use alloc::{format, string::String, sync::Arc, vec, vec::Vec};

use wearpay_crypto::{CryptoProvider, PublicKey};

use crate::PROVIDER;
use wearpay_pay::{Pan, Renewed, Timestamp};
use wearpay_pki::{CERTIFICATE_LABEL, Certificate, Role, UnixTime, Verifier, pem};
use wearpay_tlcp::{
    ClientConfig, PkiServerVerifier, Profile,
    msgs::CertificateDer,
    session::SessionStore,
    verify::{CertError, ServerCertVerifier, ServerKeys},
};

use crate::{Error, SecureElement, suites_for};

const FIRST_LINE: &str = "wearpay-provisioning 1";

/// What enrollment gives the band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    /// The band's signing certificate (for the secure element's key; role `terminal`).
    pub band_certificate: Certificate,
    /// The CA certificates between the terminal root and the band's certificate, sent in
    /// the handshake after it.
    pub band_chain: Vec<Certificate>,
    /// The roots the band trusts for the center's certificates (F5's preinstalled root).
    pub trust_anchors: Vec<Certificate>,
    /// The CA certificates between those roots and the center's certificates.
    pub center_chain: Vec<Certificate>,
    /// The name the center's channel certificates carry.
    pub server_name: String,
    /// The center's receipt-signing certificate (role `center-receipt`).
    pub receipt_certificate: Certificate,
    /// The center's PIN-encipherment certificate (role `center-pin`).
    pub pin_certificate: Certificate,
    /// The account's primary account number (bound into PIN blocks).
    pub pan: Pan,
    /// A label for the account, as the band shows it.
    pub account_label: String,
}

/// The center's keys above the channel, from verified certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CenterKeys {
    /// Verifies receipts.
    pub receipt: PublicKey,
    /// PIN blocks are enciphered to this key.
    pub pin: PublicKey,
}

fn single_line(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) || value.trim() != value {
        return Err(Error::Provisioning(format!("{what} must be one line of 1 to 256 bytes")));
    }
    Ok(())
}

impl Provisioning {
    /// Verifies the center's receipt and PIN certificates against the trust anchors (through
    /// the center chain) for their roles at time `at`, and returns their keys.
    pub fn verify(&self, provider: &CryptoProvider, at: Timestamp) -> Result<CenterKeys, Error> {
        let verifier = Verifier::new(provider, &self.trust_anchors);
        let at = UnixTime(at.0);
        let receipt = verifier.verify(&self.receipt_certificate, &self.center_chain, at, Some(Role::CenterReceipt))?;
        let pin = verifier.verify(&self.pin_certificate, &self.center_chain, at, Some(Role::CenterPin))?;
        Ok(CenterKeys { receipt: receipt.public_key()?.clone(), pin: pin.public_key()?.clone() })
    }

    /// The earliest end of the certificates the band relies on: its own, and the center's
    /// receipt and PIN certificates (seconds since the epoch).
    pub fn earliest_expiry(&self) -> u64 {
        [&self.band_certificate, &self.receipt_certificate, &self.pin_certificate]
            .into_iter()
            .map(|c| c.not_after().secs())
            .min()
            .unwrap_or(0)
    }

    /// This provisioning with what a renewal returned, once every certificate checks out at
    /// `at`: the band's new certificate must be for `key` (the secure element's) with the
    /// subject the band had, and verify for the terminal role through the new chain to the
    /// trust anchors, to the chain the band presents now, or to the CA that issued its
    /// current certificate; the receipt and PIN certificates must verify for their roles
    /// (see [`Provisioning::verify`]).
    pub fn renewed(
        &self,
        renewed: &Renewed,
        key: &PublicKey,
        provider: &CryptoProvider,
        at: Timestamp,
    ) -> Result<Self, Error> {
        let parse = |der: &[u8]| Certificate::from_der(der).map_err(Error::from);
        let band_certificate = parse(&renewed.certificate)?;
        let band_chain = renewed.chain.iter().map(|c| parse(c)).collect::<Result<Vec<_>, _>>()?;
        if band_certificate.public_key()? != key {
            return Err(Error::CertificateMismatch);
        }
        if band_certificate.subject() != self.band_certificate.subject() {
            return Err(Error::Provisioning(String::from("the renewed certificate names another subject")));
        }
        // Trusted to issue the band's next certificate: its trust anchors, the chain it
        // presents now, and the CA that issued its current certificate.
        let at_time = UnixTime(at.0);
        let issued_current = |ca: &&Certificate| {
            Verifier::new(provider, core::slice::from_ref(*ca))
                .verify(&self.band_certificate, &[] as &[Certificate], at_time, Some(Role::Terminal))
                .is_ok()
        };
        let anchors: Vec<Certificate> = self
            .trust_anchors
            .iter()
            .chain(&self.band_chain)
            .chain(band_chain.iter().filter(issued_current))
            .cloned()
            .collect();
        Verifier::new(provider, &anchors).verify(&band_certificate, &band_chain, at_time, Some(Role::Terminal))?;
        let next = Self {
            band_certificate,
            band_chain,
            receipt_certificate: parse(&renewed.receipt_certificate)?,
            pin_certificate: parse(&renewed.pin_certificate)?,
            ..self.clone()
        };
        next.verify(provider, at)?;
        Ok(next)
    }

    /// The TLCP client configuration for the band: its certificate and chain, the secure
    /// element's key, the suites its capabilities allow (F1), the center's name and roots,
    /// with the center's certificates judged at `at` (the band's effective time, never the
    /// phone's alone).
    pub fn client_config(
        &self,
        se: &dyn SecureElement,
        session_store: Arc<dyn SessionStore>,
        profile: Profile,
        at: Timestamp,
    ) -> Result<ClientConfig, Error> {
        let sign_key = se.signing_key()?;
        if sign_key.public_key() != *self.band_certificate.public_key()? {
            return Err(Error::CertificateMismatch);
        }
        let mut cert_chain = vec![CertificateDer(self.band_certificate.as_der().to_vec())];
        cert_chain.extend(self.band_chain.iter().map(|c| CertificateDer(c.as_der().to_vec())));
        let verifier = AtTime { inner: PkiServerVerifier::new(PROVIDER, self.trust_anchors.clone(), vec![]), at };
        Ok(ClientConfig {
            provider: PROVIDER,
            suites: suites_for(&se.capabilities()),
            profile,
            sign_key,
            cert_chain,
            verifier: Arc::new(verifier),
            server_name: self.server_name.clone(),
            session_store,
            max_fragment_length: None,
            offer_session_ticket: false,
        })
    }

    /// The bundle as text (see the module documentation).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(FIRST_LINE);
        out.push('\n');
        out.push_str(&format!("server-name {}\n", self.server_name));
        out.push_str(&format!("account {}\n", self.account_label));
        out.push_str(&format!("pan {}\n", self.pan.as_str()));
        let sections: [(&str, &[Certificate]); 6] = [
            ("band-certificate", core::slice::from_ref(&self.band_certificate)),
            ("band-chain", &self.band_chain),
            ("trust-anchor", &self.trust_anchors),
            ("center-chain", &self.center_chain),
            ("center-receipt", core::slice::from_ref(&self.receipt_certificate)),
            ("center-pin", core::slice::from_ref(&self.pin_certificate)),
        ];
        for (name, certs) in sections {
            if certs.is_empty() {
                continue;
            }
            out.push('\n');
            out.push_str(name);
            out.push('\n');
            for c in certs {
                out.push_str(&pem::encode(CERTIFICATE_LABEL, c.as_der()));
            }
        }
        out
    }

    /// Parses a bundle written by [`Provisioning::to_text`]. The center's certificates are
    /// not verified here: [`Provisioning::verify`] does that at a given time.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Provisioning(String::from(why));
        let mut lines = text.lines();
        if lines.next().map(str::trim_end) != Some(FIRST_LINE) {
            return Err(bad("not a wearpay provisioning bundle (version 1)"));
        }
        const SECTIONS: [&str; 6] =
            ["band-certificate", "band-chain", "trust-anchor", "center-chain", "center-receipt", "center-pin"];
        let (mut server_name, mut account, mut pan) = (None, None, None);
        let mut sections: Vec<(&str, String)> = Vec::new();
        for line in lines {
            let line = line.trim_end_matches('\r');
            if let Some(name) = SECTIONS.iter().find(|s| **s == line.trim()) {
                let order = |n: &str| SECTIONS.iter().position(|s| *s == n);
                if sections.last().is_some_and(|(last, _)| order(last) >= order(name)) {
                    return Err(Error::Provisioning(format!("section {name} is repeated or out of order")));
                }
                sections.push((name, String::new()));
                continue;
            }
            if let Some((_, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once(' ').ok_or_else(|| bad("a header line without a value"))?;
            let slot = match key {
                "server-name" => &mut server_name,
                "account" => &mut account,
                "pan" => &mut pan,
                other => return Err(Error::Provisioning(format!("unknown header {other}"))),
            };
            if slot.replace(String::from(value)).is_some() {
                return Err(Error::Provisioning(format!("header {key} is repeated")));
            }
        }
        let mut certs = |name: &str| -> Result<Vec<Certificate>, Error> {
            let Some(i) = sections.iter().position(|(n, _)| *n == name) else { return Ok(Vec::new()) };
            let (_, body) = sections.remove(i);
            let blocks = pem::decode_all(body.as_bytes())?;
            blocks
                .iter()
                .map(|b| {
                    if b.label != CERTIFICATE_LABEL {
                        return Err(Error::Provisioning(format!("section {name} holds a {} block", b.label)));
                    }
                    Ok(Certificate::from_der(&b.der)?)
                })
                .collect()
        };
        let one = |mut v: Vec<Certificate>, name: &str| -> Result<Certificate, Error> {
            if v.len() != 1 {
                return Err(Error::Provisioning(format!("section {name} must hold exactly one certificate")));
            }
            Ok(v.remove(0))
        };
        let band_certificate = one(certs("band-certificate")?, "band-certificate")?;
        let band_chain = certs("band-chain")?;
        let trust_anchors = certs("trust-anchor")?;
        let center_chain = certs("center-chain")?;
        let receipt_certificate = one(certs("center-receipt")?, "center-receipt")?;
        let pin_certificate = one(certs("center-pin")?, "center-pin")?;
        if trust_anchors.is_empty() {
            return Err(bad("no trust anchor"));
        }
        let server_name = server_name.ok_or_else(|| bad("no server-name"))?;
        single_line("server-name", &server_name)?;
        let account_label = account.ok_or_else(|| bad("no account"))?;
        single_line("account", &account_label)?;
        let pan = Pan::new(&pan.ok_or_else(|| bad("no pan"))?)?;
        Ok(Self {
            band_certificate,
            band_chain,
            trust_anchors,
            center_chain,
            server_name,
            receipt_certificate,
            pin_certificate,
            pan,
            account_label,
        })
    }

    /// Reads a bundle from `path` and verifies the center's certificates at `at`.
    #[cfg(feature = "std")]
    pub fn load(path: impl AsRef<std::path::Path>, at: Timestamp) -> Result<Self, Error> {
        let bytes = std::fs::read(path)?;
        let text = core::str::from_utf8(&bytes).map_err(|_| Error::Provisioning(String::from("not UTF-8 text")))?;
        let this = Self::from_text(text)?;
        this.verify(&PROVIDER, at)?;
        Ok(this)
    }

    /// Writes the bundle to `path`, replacing it atomically.
    #[cfg(feature = "std")]
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        wearpay_pki::files::write_replace(path, self.to_text().as_bytes())?;
        Ok(())
    }
}

/// The band's check of the center (F5), judged at the band's effective time rather than
/// the time the transport passes in.
#[derive(Debug)]
struct AtTime {
    inner: PkiServerVerifier,
    at: Timestamp,
}

impl ServerCertVerifier for AtTime {
    fn verify_server(
        &self,
        certs: &[CertificateDer],
        server_name: &str,
        _now: UnixTime,
    ) -> Result<ServerKeys, CertError> {
        self.inner.verify_server(certs, server_name, UnixTime(self.at.0))
    }
}
