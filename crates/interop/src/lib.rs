//! Helpers for the live interoperability tests of `wearpay-tlcp` against Tongsuo 8.5's
//! NTLS (GB/T 38636 TLCP), built from source by `tongsuo-src`: certificates for both
//! sides, configurations of both implementations, and bounded TCP plumbing on 127.0.0.1.
//!
//! Nothing here skips: if Tongsuo does not build, this crate does not build, and the
//! workspace's tests fail. The tests are in `tests/tongsuo.rs`.
//!
//! Notes on the peer:
//! - `tongsuo` 0.10.62 (through `tongsuo-sys` 0.9.98) would build Tongsuo 8.4.0
//!   (`tongsuo-src ^840`); the root Cargo.toml patches `tongsuo-src` with
//!   `tongsuo-src-850/`, a re-export of `tongsuo-src` 850.1.1, so the peer is Tongsuo 8.5.0,
//!   the version that recorded shared/vectors/tlcp. The first build compiles Tongsuo from
//!   source (perl, make, cc): a few minutes.
//! - Tongsuo contexts set `SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS`: see [`tongsuo_context`].
//! - Tongsuo signs with RSA PKCS#1 v1.5 over SHA-256 in every RSA suite, _SM3 ones
//!   included, and its CertificateVerify signs the signature scheme's hash of the
//!   handshake messages (SM3 for SM2 keys, SHA-256 for RSA keys), not the suite's.
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use core::time::Duration;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Instant;

use tongsuo::pkey::{PKey, Private};
use tongsuo::ssl::{SslContext, SslContextBuilder, SslMethod, SslOptions, SslVerifyMode};
use tongsuo::x509::X509;
use wearpay_crypto::{KeyAlgorithm, PrivateKey, SigningKey, portable::PROVIDER};
use wearpay_pki::{
    AltName, Certificate, CertificateBuilder, DistinguishedName, Role, UnixTime, generate_key, load_private_key,
};
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::suites::CipherSuite;
use wearpay_tlcp::{ClientConfig, PkiClientVerifier, PkiServerVerifier, Profile, ServerConfig};

/// Errors of the harness: whatever went wrong, as text for the test's panic message.
pub type Error = Box<dyn core::error::Error + Send + Sync>;
/// The harness's results.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// How long any single socket operation may block, and any accept may wait.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The name the center's certificates carry (CN and dNSName), as the vectors' do.
pub const SERVER_NAME: &str = "localhost";

/// One party's signing and encryption certificates with their keys.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The signing certificate.
    pub sign_cert: Certificate,
    /// Its key.
    pub sign_key: Arc<dyn PrivateKey>,
    /// The encryption certificate.
    pub enc_cert: Certificate,
    /// Its key.
    pub enc_key: Arc<dyn PrivateKey>,
}

impl Credentials {
    /// [sign, enc] as the TLCP Certificate message carries them.
    pub fn chain(&self) -> Vec<CertificateDer> {
        vec![CertificateDer(self.sign_cert.as_der().to_vec()), CertificateDer(self.enc_cert.as_der().to_vec())]
    }
}

/// A CA with a center's and a terminal's credentials under it.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The root both sides trust.
    pub ca: Certificate,
    /// The root's key (to issue more).
    pub ca_key: Arc<dyn PrivateKey>,
    /// The center's channel certificates.
    pub server: Credentials,
    /// The terminal's certificates.
    pub client: Credentials,
}

/// The folder of the Tongsuo-recorded sessions (shared/vectors/tlcp beside the repository).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/tlcp/ecc_sm4_gcm_sm3")
}

fn read_vector(rel: &str) -> Result<Vec<u8>> {
    let path = vectors_dir().join(rel);
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn vector_cert(name: &str) -> Result<Certificate> {
    Ok(Certificate::parse(&read_vector(&format!("certs/{name}.crt"))?)?)
}

fn vector_key(name: &str) -> Result<Arc<dyn PrivateKey>> {
    Ok(load_private_key(&PROVIDER, &read_vector(&format!("keys/{name}.key"))?, None)?.into())
}

impl TestPki {
    /// The SM2 certificates Tongsuo made for the recorded sessions.
    pub fn vectors() -> Result<Self> {
        let creds = |side: &str| -> Result<Credentials> {
            Ok(Credentials {
                sign_cert: vector_cert(&format!("{side}_sign"))?,
                sign_key: vector_key(&format!("{side}_sign"))?,
                enc_cert: vector_cert(&format!("{side}_enc"))?,
                enc_key: vector_key(&format!("{side}_enc"))?,
            })
        };
        Ok(Self { ca: vector_cert("ca")?, ca_key: vector_key("ca")?, server: creds("srv")?, client: creds("cli")? })
    }

    /// A fresh SM2 root named `ca_name`, with center and terminal sign/enc certificates on
    /// keys of `leaf_alg`, issued by `wearpay-pki`, valid from an hour ago for a year.
    pub fn issue(ca_name: &str, leaf_alg: KeyAlgorithm) -> Result<Self> {
        let (from, until) = validity();
        let ca_key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, KeyAlgorithm::Sm2)?.into();
        let subject = DistinguishedName::parse(&format!("C=CN,O=wearpay,CN={ca_name}"))?;
        let ca = CertificateBuilder::new(Role::RootCa, subject, SigningKey::public_key(ca_key.as_ref()))
            .validity(from, until)
            .self_sign(&PROVIDER, ca_key.as_ref())?;
        let server = issue_pair(&ca, ca_key.as_ref(), leaf_alg, CENTER)?;
        let client = issue_pair(&ca, ca_key.as_ref(), leaf_alg, TERMINAL)?;
        Ok(Self { ca, ca_key, server, client })
    }

    /// Terminal sign/enc certificates (CN "Interop Band") on new `alg` keys.
    pub fn issue_terminal(&self, alg: KeyAlgorithm) -> Result<Credentials> {
        issue_pair(&self.ca, self.ca_key.as_ref(), alg, TERMINAL)
    }
}

/// Who a pair of certificates is for: roles (sign, enc), OU prefix, CN.
struct Holder {
    roles: [Role; 2],
    ou: &'static str,
    cn: &'static str,
}

const CENTER: Holder = Holder { roles: [Role::CenterSign, Role::CenterEnc], ou: "center", cn: SERVER_NAME };
const TERMINAL: Holder = Holder { roles: [Role::Terminal, Role::TerminalEnc], ou: "band", cn: "Interop Band" };

fn issue_pair(ca: &Certificate, ca_key: &dyn PrivateKey, alg: KeyAlgorithm, holder: Holder) -> Result<Credentials> {
    let Holder { roles, ou, cn } = holder;
    let (from, until) = validity();
    let mut issued = Vec::new();
    for (role, usage) in roles.into_iter().zip(["sign", "enc"]) {
        let key: Arc<dyn PrivateKey> = generate_key(&PROVIDER, alg)?.into();
        let subject = DistinguishedName::parse(&format!("C=CN,O=wearpay,OU={ou} {usage},CN={cn}"))?;
        let mut builder =
            CertificateBuilder::new(role, subject, SigningKey::public_key(key.as_ref())).validity(from, until);
        if matches!(role, Role::CenterSign | Role::CenterEnc) {
            builder = builder.alt_name(AltName::Dns(SERVER_NAME.into()));
        }
        issued.push((builder.sign(&PROVIDER, ca, ca_key)?, key));
    }
    let (enc_cert, enc_key) = issued.pop().ok_or("no encryption certificate")?;
    let (sign_cert, sign_key) = issued.pop().ok_or("no signing certificate")?;
    Ok(Credentials { sign_cert, sign_key, enc_cert, enc_key })
}

/// From an hour ago (clock skew) for a year.
fn validity() -> (UnixTime, UnixTime) {
    let now = UnixTime::now();
    (UnixTime(now.0.saturating_sub(3600)), UnixTime(now.0 + 365 * 86_400))
}

// ---- our side ----

/// Our terminal: `creds` (sent as [sign, enc]), trusting `ca`, offering `suites`.
pub fn our_client_config(
    ca: &Certificate,
    creds: &Credentials,
    profile: Profile,
    suites: &[CipherSuite],
    offer_session_ticket: bool,
) -> ClientConfig {
    ClientConfig {
        provider: PROVIDER,
        suites: suites.to_vec(),
        profile,
        sign_key: creds.sign_key.clone(),
        cert_chain: creds.chain(),
        verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![ca.clone()], vec![])),
        server_name: SERVER_NAME.into(),
        session_store: Arc::new(MemorySessionStore::new(16, 3600)),
        max_fragment_length: None,
        offer_session_ticket,
    }
}

/// Our center: `creds`, accepting terminals under `ca`, with `suites`.
pub fn our_server_config(
    ca: &Certificate,
    creds: &Credentials,
    profile: Profile,
    suites: &[CipherSuite],
) -> ServerConfig {
    ServerConfig {
        provider: PROVIDER,
        suites: suites.to_vec(),
        profile,
        sign_key: creds.sign_key.clone(),
        enc_key: creds.enc_key.clone(),
        cert_chain: creds.chain(),
        verifier: Arc::new(PkiClientVerifier::new(PROVIDER, vec![ca.clone()], vec![], vec![])),
        session_store: Arc::new(MemorySessionStore::new(16, 3600)),
        session_lifetime: 3600,
    }
}

// ---- Tongsuo's side ----

/// The Tongsuo (OpenSSL-style) name of one of our suites.
pub fn tongsuo_name(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::ECC_SM4_GCM_SM3 => "ECC-SM2-SM4-GCM-SM3",
        CipherSuite::ECC_SM4_CBC_SM3 => "ECC-SM2-SM4-CBC-SM3",
        CipherSuite::RSA_SM4_GCM_SM3 => "RSA-SM4-GCM-SM3",
        CipherSuite::RSA_SM4_CBC_SM3 => "RSA-SM4-CBC-SM3",
        CipherSuite::RSA_SM4_GCM_SHA256 => "RSA-SM4-GCM-SHA256",
        CipherSuite::RSA_SM4_CBC_SHA256 => "RSA-SM4-CBC-SHA256",
        _ => "UNKNOWN",
    }
}

fn x509(cert: &Certificate) -> Result<X509> {
    Ok(X509::from_der(cert.as_der())?)
}

fn pkey(key: &dyn PrivateKey) -> Result<PKey<Private>> {
    let pem = wearpay_pki::private_key_to_pem(&PROVIDER, key, None)?;
    Ok(PKey::private_key_from_pem(pem.as_bytes())?)
}

/// A Tongsuo NTLS context: `creds` as its sign and enc certificates, `ca` trusted, peer
/// verification required (a server also fails a client without certificate), only `cipher`.
pub fn tongsuo_context(server: bool, ca: &Certificate, creds: &Credentials, cipher: &str) -> Result<SslContext> {
    let method = if server { SslMethod::ntls_server() } else { SslMethod::ntls_client() };
    let mut b = SslContextBuilder::new(method)?;
    b.enable_ntls();
    // Tongsuo treats NTLS (0x0101 < TLS 1.0) as needing the TLS 1.0 CBC countermeasure and
    // puts an empty application_data record before each one, in a prefix buffer sized for
    // no explicit IV. Built with `no-comp`, as tongsuo-src builds it, that buffer lacks the
    // room for the 8- or 16-byte explicit IV, and every SSL_write fails with "internal
    // error" (tls_prepare_for_encryption_default) even between two Tongsuo ends. Our side
    // handles the empty records (see the recorded sessions); here Tongsuo must omit them.
    b.set_options(SslOptions::DONT_INSERT_EMPTY_FRAGMENTS);
    b.set_cipher_list(cipher)?;
    let (sign_cert, sign_key) = (x509(&creds.sign_cert)?, pkey(creds.sign_key.as_ref())?);
    let (enc_cert, enc_key) = (x509(&creds.enc_cert)?, pkey(creds.enc_key.as_ref())?);
    b.set_sign_certificate(&sign_cert)?;
    b.set_sign_private_key(&sign_key)?;
    b.set_enc_certificate(&enc_cert)?;
    b.set_enc_private_key(&enc_key)?;
    b.cert_store_mut().add_cert(x509(ca)?)?;
    if server {
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        // Needed for a server to resume sessions of verified clients.
        b.set_session_id_context(b"wearpay-interop")?;
    } else {
        b.set_verify(SslVerifyMode::PEER);
    }
    Ok(b.build())
}

// ---- TCP ----

/// A listener on 127.0.0.1, any free port.
pub fn listen() -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

fn with_timeouts(sock: TcpStream) -> io::Result<TcpStream> {
    sock.set_read_timeout(Some(IO_TIMEOUT))?;
    sock.set_write_timeout(Some(IO_TIMEOUT))?;
    sock.set_nodelay(true)?;
    Ok(sock)
}

/// Accepts one connection within [`IO_TIMEOUT`], with read and write timeouts set.
pub fn accept(listener: &TcpListener) -> Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((sock, _)) => {
                sock.set_nonblocking(false)?;
                return Ok(with_timeouts(sock)?);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}").into()),
        }
    }
}

/// Connects to `addr` with read and write timeouts set.
pub fn connect(addr: SocketAddr) -> Result<TcpStream> {
    Ok(with_timeouts(TcpStream::connect_timeout(&addr, IO_TIMEOUT)?)?)
}

/// Closes a socket gently after a failure: no more writes, then reads whatever the peer
/// still sends (for a short while), so that the kernel does not answer its last flight
/// with a reset that could overtake our fatal alert.
pub fn linger_close(mut sock: TcpStream) {
    let _ = sock.flush();
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
}

/// A message of `len` bytes that is not all one value.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}
