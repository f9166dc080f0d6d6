//! Certificate checks on wearpay's PKI: the terminal's check of the center (F5) and the
//! center's check of a terminal (F7).
use alloc::{format, string::String, string::ToString, sync::Arc, vec::Vec};

use wearpay_crypto::CryptoProvider;
use wearpay_pki::{Certificate, CertificateCache, Crl, Role, SignatureCache, UnixTime, VerifiedPath, Verifier};

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

/// The certificate in `der`, from `cache` if it holds it.
fn parse(cache: Option<&Arc<dyn CertificateCache>>, der: &CertificateDer) -> Result<Arc<Certificate>, CertError> {
    wearpay_pki::parse_cached(cache.map(|c| &**c), &der.0).map_err(|e| CertError::BadCertificate(e.to_string()))
}

/// Keeps in `cache`, if there is one, those of the peer's `certs` that are on a verified
/// path: not extra ones a peer sent along.
fn keep<'a>(
    cache: Option<&Arc<dyn CertificateCache>>,
    certs: impl IntoIterator<Item = &'a Arc<Certificate>>,
    paths: &[&VerifiedPath<'_>],
) {
    let Some(cache) = cache else { return };
    for cert in certs {
        if paths.iter().any(|p| p.certificates().iter().any(|c| core::ptr::eq(*c, &**cert))) {
            cache.insert(cert.clone());
        }
    }
}

/// The terminal's check of the center: both certificates chain to the preinstalled root,
/// carry the center's name and the right key usages.
#[derive(Debug)]
pub struct PkiServerVerifier {
    provider: CryptoProvider,
    roots: Vec<Certificate>,
    crls: Vec<Crl>,
    cache: Option<Arc<dyn SignatureCache>>,
    certs: Option<Arc<dyn CertificateCache>>,
}

impl PkiServerVerifier {
    /// Trusts `roots` (the band's preinstalled root certificate), checking `crls` if given.
    pub fn new(provider: CryptoProvider, roots: Vec<Certificate>, crls: Vec<Crl>) -> Self {
        Self { provider, roots, crls, cache: None, certs: None }
    }

    /// Verifies each certificate signature once (see [`SignatureCache`]).
    pub fn with_signature_cache(mut self, cache: Arc<dyn SignatureCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Parses each certificate once (see [`CertificateCache`]).
    pub fn with_certificate_cache(mut self, certs: Arc<dyn CertificateCache>) -> Self {
        self.certs = Some(certs);
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
        let sign = parse(self.certs.as_ref(), sign)?;
        let enc = parse(self.certs.as_ref(), enc)?;
        let chain = chain.iter().map(|der| parse(self.certs.as_ref(), der)).collect::<Result<Vec<_>, _>>()?;
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
        keep(self.certs.as_ref(), [&sign, &enc].into_iter().chain(&chain), &[&sign_path, &enc_path]);
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
    intermediates: Vec<Arc<Certificate>>,
    crls: Vec<Crl>,
    cache: Option<Arc<dyn SignatureCache>>,
    certs: Option<Arc<dyn CertificateCache>>,
}

impl PkiClientVerifier {
    /// Trusts `roots`; `intermediates` may complete a path the terminal sends short.
    pub fn new(
        provider: CryptoProvider,
        roots: Vec<Certificate>,
        intermediates: Vec<Certificate>,
        crls: Vec<Crl>,
    ) -> Self {
        let intermediates = intermediates.into_iter().map(Arc::new).collect();
        Self { provider, roots, intermediates, crls, cache: None, certs: None }
    }

    /// Verifies each certificate signature once (see [`SignatureCache`]): a band's chain is
    /// verified at its first full handshake, not at every one.
    pub fn with_signature_cache(mut self, cache: Arc<dyn SignatureCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Parses each certificate once (see [`CertificateCache`]), which also spares a
    /// resumption parsing the band's certificate again.
    pub fn with_certificate_cache(mut self, certs: Arc<dyn CertificateCache>) -> Self {
        self.certs = Some(certs);
        self
    }
}

impl ClientCertVerifier for PkiClientVerifier {
    fn verify_client(&self, certs: &[CertificateDer], now: UnixTime) -> Result<PeerIdentity, CertError> {
        let [sign, rest @ ..] = certs else {
            return Err(CertError::Missing);
        };
        let sign_cert = parse(self.certs.as_ref(), sign)?;
        let mut chain = self.intermediates.clone();
        let mut enc = None;
        for (i, der) in rest.iter().enumerate() {
            let cert = parse(self.certs.as_ref(), der)?;
            // A terminal may send [sign, enc] (Tongsuo) or [sign] (GmSSL), then CAs.
            if i == 0 && !cert.is_ca() {
                enc = Some(cert);
            } else {
                chain.push(cert);
            }
        }
        let verifier = verifier(&self.provider, &self.roots, &self.crls, self.cache.as_ref());
        let path = verifier.verify(&sign_cert, &chain, now, Some(Role::Terminal)).map_err(|e| cert_error(&e))?;
        let enc_path = enc
            .as_ref()
            .map(|enc| verifier.verify(enc, &chain, now, Some(Role::TerminalEnc)))
            .transpose()
            .map_err(|e| cert_error(&e))?;
        let sent = [&sign_cert].into_iter().chain(&enc).chain(&chain[self.intermediates.len()..]);
        let paths: Vec<_> = core::iter::once(&path).chain(&enc_path).collect();
        keep(self.certs.as_ref(), sent, &paths);
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
        let sign = parse(self.certs.as_ref(), peer.certs.first().ok_or(CertError::Missing)?)?;
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
