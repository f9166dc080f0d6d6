//! Certificate checks on wearpay's PKI: the terminal's check of the center (F5) and the
//! center's check of a terminal (F7).
use alloc::{format, string::String, string::ToString, sync::Arc, vec::Vec};

use wearpay_crypto::CryptoProvider;
use wearpay_pki::{Certificate, Crl, Role, SignatureCache, UnixTime, Verifier};

use crate::msgs::{CertificateDer, DistinguishedName};
use crate::verify::{CertError, ClientCertVerifier, PeerIdentity, ServerCertVerifier, ServerKeys};

fn cert_error(e: &wearpay_pki::Error) -> CertError {
    use wearpay_pki::Error as E;
    let text = e.to_string();
    match e {
        E::Expired { .. } | E::NotYetValid { .. } => CertError::Expired(text),
        E::UnknownIssuer { .. } => CertError::UnknownCa(text),
        E::Revoked { .. } => CertError::Revoked(text),
        E::UnsupportedAlgorithm(_) => CertError::Unsupported(text),
        _ => CertError::BadCertificate(text),
    }
}

fn parse(der: &CertificateDer) -> Result<Certificate, CertError> {
    Certificate::from_der(&der.0).map_err(|e| CertError::BadCertificate(e.to_string()))
}

/// The terminal's check of the center: both certificates chain to the preinstalled root,
/// carry the center's name and the right key usages.
#[derive(Debug)]
pub struct PkiServerVerifier {
    provider: CryptoProvider,
    roots: Vec<Certificate>,
    crls: Vec<Crl>,
    cache: Option<Arc<dyn SignatureCache>>,
}

impl PkiServerVerifier {
    /// Trusts `roots` (the band's preinstalled root certificate), checking `crls` if given.
    pub fn new(provider: CryptoProvider, roots: Vec<Certificate>, crls: Vec<Crl>) -> Self {
        Self { provider, roots, crls, cache: None }
    }

    /// Verifies each certificate signature once (see [`SignatureCache`]).
    pub fn with_signature_cache(mut self, cache: Arc<dyn SignatureCache>) -> Self {
        self.cache = Some(cache);
        self
    }
}

/// A verifier over `roots` and `crls`, with `cache` if there is one.
fn verifier<'a>(
    provider: &'a CryptoProvider,
    roots: &'a [Certificate],
    crls: &'a [Crl],
    cache: Option<&'a Arc<dyn SignatureCache>>,
) -> Verifier<'a> {
    let v = Verifier::new(provider, roots).crls(crls);
    match cache {
        Some(cache) => v.signature_cache(&**cache),
        None => v,
    }
}

fn name_matches(cert: &Certificate, name: &str) -> bool {
    // The parsed alternative names carry their kind, as `DNS:host` or `IP:address`.
    let alt = |n: &String| n.strip_prefix("DNS:").or_else(|| n.strip_prefix("IP:")).is_some_and(|v| v == name);
    cert.subject().common_name() == Some(name) || cert.subject_alt_names().iter().any(alt)
}

impl ServerCertVerifier for PkiServerVerifier {
    fn verify_server(
        &self,
        certs: &[CertificateDer],
        server_name: &str,
        now: UnixTime,
    ) -> Result<ServerKeys, CertError> {
        let [sign, enc, chain @ ..] = certs else {
            return Err(CertError::BadCertificate(String::from(
                "the center must send its signing and encryption certificates",
            )));
        };
        let sign = parse(sign)?;
        let enc = parse(enc)?;
        let chain = chain.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let verifier = verifier(&self.provider, &self.roots, &self.crls, self.cache.as_ref());
        let sign_path = verifier.verify(&sign, &chain, now, Some(Role::CenterSign)).map_err(|e| cert_error(&e))?;
        let enc_path = verifier.verify(&enc, &chain, now, Some(Role::CenterEnc)).map_err(|e| cert_error(&e))?;
        for cert in [&sign, &enc] {
            if !server_name.is_empty() && !name_matches(cert, server_name) {
                return Err(CertError::BadCertificate(format!(
                    "certificate is for \"{}\", not \"{server_name}\"",
                    cert.subject()
                )));
            }
        }
        // Both must be the same center's, from the same CA (deployed stacks vary the OU).
        if sign.issuer() != enc.issuer() {
            return Err(CertError::BadCertificate(String::from(
                "signing and encryption certificates have different issuers",
            )));
        }
        Ok(ServerKeys {
            subject: sign.subject().to_string(),
            sign_key: sign_path.public_key().map_err(|e| cert_error(&e))?.clone(),
            enc_key: enc_path.public_key().map_err(|e| cert_error(&e))?.clone(),
        })
    }
}

/// The center's check of a terminal against the terminal CA, with CRLs.
#[derive(Debug)]
pub struct PkiClientVerifier {
    provider: CryptoProvider,
    roots: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    crls: Vec<Crl>,
    cache: Option<Arc<dyn SignatureCache>>,
}

impl PkiClientVerifier {
    /// Trusts `roots`; `intermediates` may complete a path the terminal sends short.
    pub fn new(
        provider: CryptoProvider,
        roots: Vec<Certificate>,
        intermediates: Vec<Certificate>,
        crls: Vec<Crl>,
    ) -> Self {
        Self { provider, roots, intermediates, crls, cache: None }
    }

    /// Verifies each certificate signature once (see [`SignatureCache`]): a band's chain is
    /// verified at its first full handshake, not at every one.
    pub fn with_signature_cache(mut self, cache: Arc<dyn SignatureCache>) -> Self {
        self.cache = Some(cache);
        self
    }
}

impl ClientCertVerifier for PkiClientVerifier {
    fn verify_client(&self, certs: &[CertificateDer], now: UnixTime) -> Result<PeerIdentity, CertError> {
        let [sign, rest @ ..] = certs else {
            return Err(CertError::Missing);
        };
        let sign_cert = parse(sign)?;
        let mut chain = self.intermediates.clone();
        let mut enc = None;
        for (i, der) in rest.iter().enumerate() {
            let cert = parse(der)?;
            // A terminal may send [sign, enc] (Tongsuo) or [sign] (GmSSL), then CAs.
            if i == 0 && !cert.is_ca() {
                enc = Some(cert);
            } else {
                chain.push(cert);
            }
        }
        let verifier = verifier(&self.provider, &self.roots, &self.crls, self.cache.as_ref());
        let path = verifier.verify(&sign_cert, &chain, now, Some(Role::Terminal)).map_err(|e| cert_error(&e))?;
        if let Some(enc) = &enc {
            verifier.verify(enc, &chain, now, Some(Role::TerminalEnc)).map_err(|e| cert_error(&e))?;
        }
        Ok(PeerIdentity {
            subject: sign_cert.subject().to_string(),
            serial: sign_cert.serial().to_vec(),
            sign_key: path.public_key().map_err(|e| cert_error(&e))?.clone(),
            certs: certs.to_vec(),
        })
    }

    /// A resumed session was fully verified when it began; what can have changed since is
    /// the time and the CRLs, so only those are checked again (a signature check per
    /// resumption would cost more than the resumption itself).
    fn allow_resumption(&self, peer: &PeerIdentity, now: UnixTime) -> Result<(), CertError> {
        let sign = parse(peer.certs.first().ok_or(CertError::Missing)?)?;
        sign.check_validity(now, &wearpay_pki::Item::Leaf).map_err(|e| cert_error(&e))?;
        for crl in self.crls.iter().filter(|crl| crl.issuer() == sign.issuer()) {
            if crl.lookup(sign.serial()).is_some() {
                return Err(CertError::Revoked(format!(
                    "{} (serial {}) is on the CRL",
                    sign.subject(),
                    sign.serial_hex()
                )));
            }
        }
        Ok(())
    }

    fn ca_names(&self) -> Vec<DistinguishedName> {
        self.roots.iter().map(|r| DistinguishedName(r.subject().as_der().to_vec())).collect()
    }
}
