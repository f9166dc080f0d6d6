//! What the connection targets share: the recorded sessions' keys and certificates, a
//! random source pinned to the recorded randoms so that recorded streams get past the
//! signature checks, and the invariant every failure must keep.
#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::sync::{Arc, OnceLock};

use wearpay_crypto::{CryptoProvider, PrivateKey, SecureRandom, portable::PROVIDER};
use wearpay_pki::{Certificate, UnixTime, load_private_key};
use wearpay_tlcp::msgs::{AlertLevel, CertificateDer};
use wearpay_tlcp::session::NoSessionStore;
use wearpay_tlcp::{
    ClientConfig, DEFAULT_SUITES, Error, PkiClientVerifier, PkiServerVerifier, Profile, ServerConfig, read_record,
};

macro_rules! vector {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../../shared/vectors/tlcp/ecc_sm4_gcm_sm3/", $path))
    };
}

/// A time inside every vector certificate's validity.
pub const NOW: UnixTime = UnixTime(1_830_000_000);

/// Hands out the recorded GCM session's randoms by request size: 32 bytes are the client
/// or server random (per instance), 46 the tail of the recorded pre-master secret. With them
/// our client verifies Tongsuo's ServerKeyExchange and opens its Finished, so a corpus
/// seeded with `raw.s2c.bin` reaches every client state.
#[derive(Debug)]
pub struct Recorded {
    random: [u8; 32],
}

const CLIENT_RANDOM: [u8; 32] = hex32("5c818744865089a91267e5d3c6ae51b90c84155c2b70743d599cbc4c6cb58bd0");
const SERVER_RANDOM: [u8; 32] = hex32("efa41ca52b54cfb29e4c5e922b8b556bd60449e3cc1975e4d60ee62b20f4a9b3");
const PRE_MASTER_TAIL: &str =
    "7420c3099f984d2fe65e6cacf282e89ae765120d548a87d0b388336f719b3d84398719eef440fc926e6c115371e6";

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not hex"),
    }
}

impl SecureRandom for Recorded {
    fn fill(&self, dest: &mut [u8]) -> Result<(), wearpay_crypto::Error> {
        match dest.len() {
            32 => dest.copy_from_slice(&self.random),
            46 => {
                for (i, d) in dest.iter_mut().enumerate() {
                    let hex = &PRE_MASTER_TAIL.as_bytes()[2 * i..2 * i + 2];
                    *d = nibble(hex[0]) << 4 | nibble(hex[1]);
                }
            }
            _ => dest.iter_mut().enumerate().for_each(|(i, d)| *d = (i as u8).wrapping_mul(0x3b) ^ 0x5a),
        }
        Ok(())
    }
}

static CLIENT: Recorded = Recorded { random: CLIENT_RANDOM };
static SERVER: Recorded = Recorded { random: SERVER_RANDOM };

fn provider(random: &'static Recorded) -> CryptoProvider {
    CryptoProvider { random, ..PROVIDER }
}

fn cert(pem: &[u8]) -> Certificate {
    Certificate::parse(pem).unwrap()
}

fn der(pem: &[u8]) -> CertificateDer {
    CertificateDer(cert(pem).as_der().to_vec())
}

/// The center of the recorded sessions, accepting either profile.
pub fn server_config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let sign: Arc<dyn PrivateKey> =
                load_private_key(&PROVIDER, vector!("keys/srv_sign.key"), None).unwrap().into();
            let enc: Arc<dyn PrivateKey> =
                load_private_key(&PROVIDER, vector!("keys/srv_enc.key"), None).unwrap().into();
            Arc::new(ServerConfig {
                provider: provider(&SERVER),
                suites: DEFAULT_SUITES.to_vec(),
                profile: Profile::Auto,
                sign_key: sign,
                enc_key: enc,
                cert_chain: vec![der(vector!("certs/srv_sign.crt")), der(vector!("certs/srv_enc.crt"))],
                verifier: Arc::new(PkiClientVerifier::new(
                    PROVIDER,
                    vec![cert(vector!("certs/ca.crt"))],
                    vec![],
                    vec![],
                )),
                session_store: Arc::new(NoSessionStore),
                session_lifetime: 3600,
            })
        })
        .clone()
}

/// The terminal of the recorded sessions, in the standard order (as Tongsuo's server
/// answers), offering the session ticket extension Tongsuo acknowledges.
pub fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let sign: Arc<dyn PrivateKey> =
                load_private_key(&PROVIDER, vector!("keys/cli_sign.key"), None).unwrap().into();
            Arc::new(ClientConfig {
                provider: provider(&CLIENT),
                suites: DEFAULT_SUITES.to_vec(),
                profile: Profile::Tlcp,
                sign_key: sign,
                cert_chain: vec![der(vector!("certs/cli_sign.crt")), der(vector!("certs/cli_enc.crt"))],
                verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![cert(vector!("certs/ca.crt"))], vec![])),
                server_name: "localhost".into(),
                session_store: Arc::new(NoSessionStore),
                max_fragment_length: None,
                offer_session_ticket: true,
            })
        })
        .clone()
}

/// Splits fuzz input into the pieces a link might deliver: the first byte gives the piece
/// size (0: all at once).
pub fn pieces(data: &[u8]) -> core::slice::Chunks<'_, u8> {
    let (size, body) = match data.split_first() {
        Some((&n, body)) if n != 0 => (usize::from(n), body),
        Some((_, body)) => (body.len().max(1), body),
        None => (1, data),
    };
    body.chunks(size)
}

/// The invariant after a failure: unless the peer's own alert ended the connection, the last
/// record sent is a fatal alert, and in plaintext the one the error names.
pub fn check_failure(err: &Error, out: &[u8]) {
    if matches!(err, Error::AlertReceived(_) | Error::Closed) {
        return;
    }
    let alert = err.alert().unwrap_or_else(|| panic!("{err:?} sends no alert"));
    let mut at = 0;
    let mut last = None;
    while at < out.len() {
        let r = read_record(&out[at..]).expect("own output frames").expect("own output is whole records");
        last = Some((r.typ, r.payload.to_vec()));
        at += r.encoded_len();
    }
    let (typ, payload) = last.unwrap_or_else(|| panic!("{err:?} but nothing sent"));
    assert_eq!(u8::from(typ), 21, "{err:?}: the last record is not an alert");
    if payload.len() == 2 {
        assert_eq!(payload[0], u8::from(AlertLevel::Fatal), "{err:?}");
        assert_eq!(payload[1], u8::from(alert), "{err:?}");
    }
}
