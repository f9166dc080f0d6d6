//! The center's side of F1–F10.
use alloc::{boxed::Box, sync::Arc, vec, vec::Vec};

use wearpay_crypto::{Zeroizing, ct_eq};

use crate::client::Traffic;
use crate::config::{MAX_SESSION_LIFETIME, Profile, ServerConfig, UnixTime, usable_suites};
use crate::conn::{
    Common, Connection, Error, Event, HandshakeSummary, Input, NegotiatedOrder, State, Transcript, connection_api,
};
use crate::handshake::{
    CLIENT_FINISHED, PRE_MASTER_LEN, SERVER_FINISHED, cert_verify_hash, check_finished, expect_handshake, install_keys,
    key_fits_exchange, scheme_for, server_key_exchange_content, verify_data,
};
use crate::msgs::{
    CertificateRequestPayload, ClientCertificateType, ClientExtension, Compression, HandshakeMessage, HandshakePayload,
    ProtocolVersion, ServerExtension, ServerHelloPayload, SessionId,
};
use crate::prf::MasterSecret;
use crate::record_layer::crypto_hash;
use crate::session::StoredSession;
use crate::suites::{CipherSuite, SuiteParams};
use crate::verify::{CertError, PeerIdentity};

/// The center's end of one terminal's connection.
#[derive(Debug)]
pub struct ServerConnection {
    conn: Connection,
}

connection_api!(ServerConnection);

impl ServerConnection {
    /// A connection waiting for a ClientHello.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        let common = Common::new(config.provider);
        Self { conn: Connection::new(common, Box::new(ExpectClientHello { config })) }
    }

    /// The verified terminal, once the handshake is complete.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        self.conn.common.peer.as_ref()
    }
}

struct Hs {
    config: Arc<ServerConfig>,
    transcript: Transcript,
    client_random: [u8; 32],
    server_random: [u8; 32],
    params: SuiteParams,
    order: NegotiatedOrder,
    session_id: SessionId,
}

/// F2 awaited.
struct ExpectClientHello {
    config: Arc<ServerConfig>,
}

impl State for ExpectClientHello {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "ClientHello")?;
        let HandshakePayload::ClientHello(ch) = &msg.message.payload else {
            return Err(Error::unexpected("ClientHello", &input));
        };
        let config = self.config;
        if ch.client_version != ProtocolVersion::Tlcp1_1 {
            return Err(Error::ProtocolVersion);
        }
        if !ch.compression_methods.contains(&Compression::Null) {
            return Err(Error::IllegalParameter("compression"));
        }

        // F3: the center's preference among what the terminal offered and its own keys fit.
        let enc_public = config.enc_key.public_key();
        let suite = usable_suites(&config.provider, &config.suites)
            .into_iter()
            .find(|s| ch.cipher_suites.contains(s) && s.params().is_some_and(|p| key_fits_exchange(&enc_public, p)))
            .ok_or(Error::NoCommonSuite)?;
        let params = *suite.params().ok_or(Error::NoCommonSuite)?;

        let mut extensions = Vec::new();
        let mut wants_seed = false;
        let mut secure_renegotiation = ch.cipher_suites.contains(&CipherSuite::EMPTY_RENEGOTIATION_INFO_SCSV);
        for ext in &ch.extensions {
            match ext {
                ClientExtension::SeedOrder => wants_seed = true,
                ClientExtension::MaxFragmentLength(m) => {
                    cx.max_fragment = m.max_len();
                    extensions.push(ServerExtension::MaxFragmentLength(*m));
                }
                ClientExtension::RenegotiationInfo(v) if v.is_empty() => secure_renegotiation = true,
                ClientExtension::RenegotiationInfo(_) => return Err(Error::IllegalParameter("renegotiation_info")),
                // Tickets are not issued and names are not used: ignore, as unknown ones.
                _ => {}
            }
        }
        if secure_renegotiation {
            extensions.push(ServerExtension::RenegotiationInfo(Vec::new()));
        }
        let seed = match config.profile {
            Profile::Seed if !wants_seed => return Err(Error::SeedOrderRequired),
            Profile::Seed | Profile::Auto => wants_seed,
            Profile::Tlcp => false,
        };
        if seed {
            extensions.push(ServerExtension::SeedOrder);
        }
        let order = if seed { NegotiatedOrder::Seed } else { NegotiatedOrder::Tlcp };

        let mut server_random = [0u8; 32];
        config.provider.fill_random(&mut server_random)?;
        let mut transcript = Transcript::default();
        transcript.add(&msg.encoded);

        // Resumption, if the session is known, young enough for this center (whatever the
        // store keeps), fits this hello, and its terminal still may.
        let lifetime = config.session_lifetime.min(MAX_SESSION_LIFETIME);
        let resumable = (!ch.session_id.is_empty())
            .then(|| config.session_store.get(ch.session_id.as_slice(), now))
            .flatten()
            .filter(|s| now >= s.created && now.0 < s.created.0.saturating_add(lifetime))
            .filter(|s| ch.cipher_suites.contains(&s.suite) && s.suite.params().is_some());
        if let Some(stored) = resumable {
            let allowed = match &stored.peer {
                Some(peer) => config.verifier.allow_resumption(peer, now).is_ok(),
                None => false,
            };
            if allowed {
                return resume(
                    cx,
                    config,
                    transcript,
                    ch.random,
                    server_random,
                    ch.session_id,
                    order,
                    extensions,
                    stored,
                );
            }
            // A revoked terminal's sessions are gone for good; it must pass a full handshake.
            config.session_store.remove(ch.session_id.as_slice());
        }

        let mut id = [0u8; 32];
        config.provider.fill_random(&mut id)?;
        let session_id = SessionId::new(&id).unwrap_or_default();
        let mut hs = Hs { config, transcript, client_random: ch.random, server_random, params, order, session_id };

        // F3–F4: hello, both certificates, the signature binding the encryption one, and
        // the request for the terminal's certificate (always: client authentication is
        // mandatory).
        let hello = ServerHelloPayload {
            server_version: ProtocolVersion::Tlcp1_1,
            random: server_random,
            session_id,
            cipher_suite: suite,
            compression_method: Compression::Null,
            extensions,
        };
        cx.send_handshake(&HandshakeMessage::new(HandshakePayload::ServerHello(hello)), &mut hs.transcript)?;
        let chain = hs.config.cert_chain.clone();
        let enc_cert = chain.get(1).map(|c| c.0.clone()).unwrap_or_default();
        cx.send_handshake(&HandshakeMessage::new(HandshakePayload::Certificate(chain)), &mut hs.transcript)?;
        let content = server_key_exchange_content(&hs.client_random, &hs.server_random, &enc_cert);
        let scheme = scheme_for(&hs.config.sign_key.public_key(), &params);
        let sig = hs.config.sign_key.sign_with(scheme, &content)?;
        cx.send_handshake(&HandshakeMessage::new(HandshakePayload::ServerKeyExchange(sig)), &mut hs.transcript)?;
        let request = CertificateRequestPayload {
            certificate_types: vec![ClientCertificateType::EcdsaSign, ClientCertificateType::RsaSign],
            certificate_authorities: hs.config.verifier.ca_names(),
        };
        cx.send_handshake(&HandshakeMessage::new(HandshakePayload::CertificateRequest(request)), &mut hs.transcript)?;
        cx.send_handshake(&HandshakeMessage::new(HandshakePayload::ServerHelloDone), &mut hs.transcript)?;
        Ok(Box::new(ExpectCertificate { hs }))
    }
}

/// An abbreviated handshake: ServerHello, then the center's ChangeCipherSpec and Finished.
#[allow(clippy::too_many_arguments)]
fn resume(
    cx: &mut Common,
    config: Arc<ServerConfig>,
    transcript: Transcript,
    client_random: [u8; 32],
    server_random: [u8; 32],
    session_id: SessionId,
    order: NegotiatedOrder,
    extensions: Vec<ServerExtension>,
    stored: StoredSession,
) -> Result<Box<dyn State>, Error> {
    let params = *stored.suite.params().ok_or(Error::NoCommonSuite)?;
    let mut hs = Hs { config, transcript, client_random, server_random, params, order, session_id };
    let hello = ServerHelloPayload {
        server_version: ProtocolVersion::Tlcp1_1,
        random: server_random,
        session_id,
        cipher_suite: stored.suite,
        compression_method: Compression::Null,
        extensions,
    };
    cx.send_handshake(&HandshakeMessage::new(HandshakePayload::ServerHello(hello)), &mut hs.transcript)?;
    let master = MasterSecret::new(&cx.provider, crypto_hash(&params), stored.master_secret);
    install_keys(cx, &params, &master, &client_random, &server_random, false)?;
    send_finished(cx, &mut hs, &master)?;
    let peer = stored.peer.ok_or(Error::HandshakeNotComplete)?;
    Ok(Box::new(ExpectCcs { hs, master, peer, resumed: true }))
}

fn send_finished(cx: &mut Common, hs: &mut Hs, master: &MasterSecret) -> Result<(), Error> {
    cx.send_ccs()?;
    let vd = verify_data(cx, &hs.params, master, SERVER_FINISHED, &mut hs.transcript);
    cx.send_handshake(&HandshakeMessage::new(HandshakePayload::Finished(vd)), &mut hs.transcript)
}

/// F6 awaited: the terminal's certificates.
struct ExpectCertificate {
    hs: Hs,
}

impl State for ExpectCertificate {
    fn handle(self: Box<Self>, _cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "Certificate")?;
        let HandshakePayload::Certificate(certs) = &msg.message.payload else {
            // A ClientKeyExchange here means the terminal skipped authentication; anything
            // else (a second ClientHello, an unknown type) is out of order.
            if matches!(msg.message.payload, HandshakePayload::ClientKeyExchange(_)) {
                return Err(CertError::Missing.into());
            }
            return Err(Error::unexpected("Certificate", &input));
        };
        let mut hs = self.hs;
        if certs.is_empty() {
            return Err(CertError::Missing.into());
        }
        // F7: the terminal certificate against the CA root (and the registry).
        let peer = hs.config.verifier.verify_client(certs, now)?;
        hs.transcript.add(&msg.encoded);
        Ok(Box::new(ExpectClientKeyExchange { hs, peer }))
    }
}

/// F5 awaited: the encrypted master key.
struct ExpectClientKeyExchange {
    hs: Hs,
    peer: PeerIdentity,
}

impl State for ExpectClientKeyExchange {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, _now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "ClientKeyExchange")?;
        let HandshakePayload::ClientKeyExchange(ciphertext) = &msg.message.payload else {
            return Err(Error::unexpected("ClientKeyExchange", &input));
        };
        let Self { mut hs, peer } = *self;
        // F7: decrypt. A ciphertext that does not decrypt, or a wrong length or version,
        // silently becomes a random secret and fails at Finished (RFC 5246 §7.4.7.1), so
        // the center is no decryption oracle.
        let mut pre_master = Zeroizing::new([0u8; PRE_MASTER_LEN]);
        cx.provider.fill_random(pre_master.as_mut())?;
        if let Ok(plain) = hs.config.enc_key.decrypt(ciphertext) {
            let version = u16::from(ProtocolVersion::Tlcp1_1).to_be_bytes();
            let good = plain.len() == PRE_MASTER_LEN && ct_eq(&plain[..2], &version);
            if good {
                pre_master.copy_from_slice(&plain);
            }
        }
        hs.transcript.add(&msg.encoded);
        let master = MasterSecret::derive(
            &cx.provider,
            crypto_hash(&hs.params),
            pre_master.as_ref(),
            &hs.client_random,
            &hs.server_random,
        );
        install_keys(cx, &hs.params, &master, &hs.client_random, &hs.server_random, false)?;
        Ok(Box::new(ExpectCertificateVerify { hs, peer, master }))
    }
}

/// F6 awaited: the terminal's signature over the transcript.
struct ExpectCertificateVerify {
    hs: Hs,
    peer: PeerIdentity,
    master: MasterSecret,
}

impl State for ExpectCertificateVerify {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, _now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "CertificateVerify")?;
        let HandshakePayload::CertificateVerify(sig) = &msg.message.payload else {
            return Err(Error::unexpected("CertificateVerify", &input));
        };
        let Self { mut hs, peer, master } = *self;
        let th = hs.transcript.hash(&cx.provider, cert_verify_hash(&peer.sign_key));
        let scheme = scheme_for(&peer.sign_key, &hs.params);
        cx.provider
            .verify(&peer.sign_key, scheme, th.as_ref(), sig)
            .map_err(|_| Error::BadSignature("CertificateVerify"))?;
        hs.transcript.add(&msg.encoded);
        // F8–F9 in the patent's order: the center's Finished goes first.
        if hs.order == NegotiatedOrder::Seed {
            send_finished(cx, &mut hs, &master)?;
        }
        Ok(Box::new(ExpectCcs { hs, master, peer, resumed: false }))
    }
}

/// The terminal's ChangeCipherSpec awaited.
struct ExpectCcs {
    hs: Hs,
    master: MasterSecret,
    peer: PeerIdentity,
    resumed: bool,
}

impl State for ExpectCcs {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, _now: UnixTime) -> Result<Box<dyn State>, Error> {
        match input {
            Input::ChangeCipherSpec => {
                cx.activate_read()?;
                Ok(Box::new(ExpectFinished(*self)))
            }
            _ => Err(Error::unexpected("ChangeCipherSpec", &input)),
        }
    }
}

/// F9–F10 awaited: the terminal's Finished.
struct ExpectFinished(ExpectCcs);

impl State for ExpectFinished {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error> {
        let ExpectCcs { mut hs, master, peer, resumed } = self.0;
        check_finished(cx, &input, &hs.params, &master, CLIENT_FINISHED, &mut hs.transcript)?;
        if hs.order == NegotiatedOrder::Tlcp && !resumed {
            send_finished(cx, &mut hs, &master)?;
        }
        if !resumed {
            hs.config.session_store.put(
                hs.session_id.as_slice(),
                StoredSession {
                    id: hs.session_id.as_slice().to_vec(),
                    suite: hs.params.suite,
                    master_secret: master.into_bytes(),
                    created: now,
                    peer_subject: peer.subject.clone(),
                    peer: Some(peer.clone()),
                },
            );
        }
        cx.peer = Some(peer.clone());
        cx.complete(HandshakeSummary {
            suite: hs.params.suite,
            order: hs.order,
            resumed,
            session_id: hs.session_id.as_slice().to_vec(),
            peer_subject: peer.subject,
        })?;
        Ok(Box::new(Traffic))
    }
}
