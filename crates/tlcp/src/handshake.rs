//! Pieces of F1–F10 both ends compute the same way.
use alloc::vec::Vec;

use wearpay_crypto::{PublicKey, SignatureScheme};

use crate::conn::{Common, Error, ExporterSecret, Input, Transcript};
use crate::deframer::JoinedMessage;
use crate::msgs::VERIFY_DATA_LEN;
use crate::prf::MasterSecret;
use crate::record_layer::{DirectionKeys, RecordOpener, RecordSealer, crypto_hash};
use crate::suites::{KeyExchange, SuiteParams};

/// Length of the pre-master secret: the patent's "shared master key" (F5).
pub(crate) const PRE_MASTER_LEN: usize = 48;

/// The Finished labels.
pub(crate) const CLIENT_FINISHED: &[u8] = b"client finished";
pub(crate) const SERVER_FINISHED: &[u8] = b"server finished";

/// Takes the handshake message out of `input`, or fails with unexpected_message.
pub(crate) fn expect_handshake<'a>(input: &Input<'a>, expected: &'static str) -> Result<&'a JoinedMessage, Error> {
    match input {
        Input::Handshake(m) => Ok(m),
        Input::ChangeCipherSpec => Err(Error::unexpected(expected, input)),
    }
}

/// F10's "same agreed method": cuts the key block and readies both directions; they take
/// effect at each ChangeCipherSpec.
pub(crate) fn install_keys(
    cx: &mut Common,
    params: &SuiteParams,
    master: &MasterSecret,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    is_client: bool,
) -> Result<(), Error> {
    let (m, k, iv) = (params.mac_key_len, params.enc_key_len, params.fixed_iv_len);
    let kb = master.key_block(client_random, server_random, 2 * (m + k + iv));
    let client =
        DirectionKeys { mac_key: &kb[..m], enc_key: &kb[2 * m..2 * m + k], iv: &kb[2 * m + 2 * k..2 * m + 2 * k + iv] };
    let server = DirectionKeys {
        mac_key: &kb[m..2 * m],
        enc_key: &kb[2 * m + k..2 * m + 2 * k],
        iv: &kb[2 * m + 2 * k + iv..2 * (m + k + iv)],
    };
    let (write, read) = if is_client { (&client, &server) } else { (&server, &client) };
    cx.pending_sealer = Some(RecordSealer::new(&cx.provider, params, write)?);
    cx.pending_opener = Some(RecordOpener::new(&cx.provider, params, read)?);
    cx.exporter = Some(ExporterSecret {
        master: wearpay_crypto::Zeroizing::new(*master.bytes()),
        client_random: *client_random,
        server_random: *server_random,
        hash: crypto_hash(params),
    });
    Ok(())
}

/// verify_data over the transcript so far.
pub(crate) fn verify_data(
    cx: &Common,
    params: &SuiteParams,
    master: &MasterSecret,
    label: &[u8],
    transcript: &mut Transcript,
) -> [u8; VERIFY_DATA_LEN] {
    let th = transcript.hash(&cx.provider, crypto_hash(params));
    master.verify_data(label, th.as_ref())
}

/// F8–F10: checks the peer's Finished against the transcript so far (in constant time),
/// then adds it to the transcript.
pub(crate) fn check_finished(
    cx: &Common,
    input: &Input<'_>,
    params: &SuiteParams,
    master: &MasterSecret,
    label: &[u8],
    transcript: &mut Transcript,
) -> Result<(), Error> {
    let msg = expect_handshake(input, "Finished")?;
    let crate::msgs::HandshakePayload::Finished(received) = &msg.message.payload else {
        return Err(Error::unexpected("Finished", input));
    };
    let expected = verify_data(cx, params, master, label, transcript);
    if !wearpay_crypto::ct_eq(&expected, received) {
        return Err(Error::BadFinished);
    }
    transcript.add(&msg.encoded);
    Ok(())
}

/// What the ServerKeyExchange signs (GB/T 38636 §6.4.5.4): both randoms and the
/// encryption certificate, so the certificate the terminal encrypts to is bound to this
/// handshake by the center's signing key.
pub(crate) fn server_key_exchange_content(
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    enc_cert: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + 3 + enc_cert.len());
    out.extend_from_slice(client_random);
    out.extend_from_slice(server_random);
    let len = enc_cert.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(enc_cert);
    out
}

/// The signature scheme a key signs handshake messages (ServerKeyExchange,
/// CertificateVerify) with. It follows the key, not the suite: SM2 keys sign SM2-with-SM3,
/// RSA keys RSASSA-PKCS1-v1_5 with SHA-256, in the RSA_*_SM3 suites too. This is what
/// Tongsuo's NTLS does (ssl/t1_lib.c: `tls_choose_sigalg_ntls` and
/// `tls1_set_peer_legacy_sigalg` pick `ntls_sm2_sigalg` or `ntls_rsa_sigalg`, i.e.
/// rsa_pkcs1_sha256, by key type), checked live by crates/interop.
pub(crate) fn scheme_for(key: &PublicKey, _params: &SuiteParams) -> SignatureScheme {
    match key {
        PublicKey::Sm2(_) => SignatureScheme::Sm2Sm3,
        PublicKey::Rsa(_) => SignatureScheme::RsaPkcs1Sha256,
    }
}

/// The hash of the handshake messages that a CertificateVerify signs: that of the signing
/// key's scheme (SM3 for SM2, SHA-256 for RSA), whatever the suite's. Tongsuo
/// (statem_ntls/ntls_statem_lib.c: `tls_construct_cert_verify_ntls`,
/// `tls_process_cert_verify_ntls`) digests the messages with the sigalg's hash, then signs
/// that digest with the same scheme.
pub(crate) fn cert_verify_hash(key: &PublicKey) -> wearpay_crypto::HashAlgorithm {
    match key {
        PublicKey::Sm2(_) => wearpay_crypto::HashAlgorithm::Sm3,
        PublicKey::Rsa(_) => wearpay_crypto::HashAlgorithm::Sha256,
    }
}

/// Whether a key can receive the pre-master secret under `params`.
pub(crate) fn key_fits_exchange(key: &PublicKey, params: &SuiteParams) -> bool {
    matches!((key, params.key_exchange), (PublicKey::Sm2(_), KeyExchange::Ecc) | (PublicKey::Rsa(_), KeyExchange::Rsa))
}
