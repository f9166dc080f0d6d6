//! The terminal's side of F1–F10.
use alloc::{boxed::Box, string::String, sync::Arc, vec, vec::Vec};

use wearpay_crypto::Zeroizing;

use crate::config::{ClientConfig, Profile, UnixTime, usable_suites};
use crate::conn::{
    Common, Connection, Error, Event, HandshakeSummary, Input, NegotiatedOrder, State, Transcript, connection_api,
};
use crate::handshake::{
    CLIENT_FINISHED, PRE_MASTER_LEN, SERVER_FINISHED, cert_verify_hash, check_finished, expect_handshake, install_keys,
    key_fits_exchange, scheme_for, server_key_exchange_content, verify_data,
};
use crate::msgs::{
    ClientExtension, ClientHelloPayload, Compression, Extension, HandshakeMessage, HandshakePayload, ProtocolVersion,
    ServerExtension, ServerNameEntry, SessionId,
};
use crate::prf::MasterSecret;
use crate::record_layer::crypto_hash;
use crate::session::StoredSession;
use crate::suites::{CipherSuite, SuiteParams};
use crate::verify::ServerKeys;

/// A terminal's connection to the center.
#[derive(Debug)]
pub struct ClientConnection {
    conn: Connection,
}

connection_api!(ClientConnection);

/// What every client state carries.
struct Hs {
    config: Arc<ClientConfig>,
    transcript: Transcript,
    client_random: [u8; 32],
}

impl ClientConnection {
    /// F1–F2: picks the offer from what the provider can do and queues the ClientHello.
    pub fn new(config: Arc<ClientConfig>, now: UnixTime) -> Result<Self, Error> {
        let mut common = Common::new(config.provider);
        let offered = usable_suites(&config.provider, &config.suites);
        if offered.is_empty() {
            return Err(Error::NoUsableSuite);
        }
        let mut client_random = [0u8; 32];
        config.provider.fill_random(&mut client_random)?;

        let resume = config
            .session_store
            .get(config.server_name.as_bytes(), now)
            .filter(|s| offered.contains(&s.suite) && !s.id.is_empty());
        let session_id = match &resume {
            Some(s) => SessionId::new(&s.id).unwrap_or_default(),
            None => SessionId::empty(),
        };

        let mut extensions = Vec::new();
        if is_dns_name(&config.server_name) {
            extensions
                .push(ClientExtension::ServerName(vec![ServerNameEntry::host_name(config.server_name.as_bytes())]));
        }
        if let Some(mfl) = config.max_fragment_length {
            extensions.push(ClientExtension::MaxFragmentLength(mfl));
        }
        if config.offer_session_ticket {
            extensions.push(ClientExtension::SessionTicket(Vec::new()));
        }
        if config.profile != Profile::Tlcp {
            extensions.push(ClientExtension::SeedOrder);
        }
        let mut cipher_suites = offered.clone();
        // We never renegotiate; the SCSV says so (RFC 5746).
        cipher_suites.push(CipherSuite::EMPTY_RENEGOTIATION_INFO_SCSV);

        let hello = HandshakeMessage::new(HandshakePayload::ClientHello(ClientHelloPayload {
            client_version: ProtocolVersion::Tlcp1_1,
            random: client_random,
            session_id,
            cipher_suites,
            compression_methods: vec![Compression::Null],
            extensions,
        }));
        let mut hs = Hs { config, transcript: Transcript::default(), client_random };
        common.send_handshake(&hello, &mut hs.transcript)?;
        let state = ExpectServerHello { hs, offered, resume, session_id };
        Ok(Self { conn: Connection::new(common, Box::new(state)) })
    }
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty() && name.parse::<core::net::IpAddr>().is_err() && name.bytes().all(|b| b.is_ascii_graphic())
}

/// F3 awaited.
struct ExpectServerHello {
    hs: Hs,
    offered: Vec<CipherSuite>,
    resume: Option<StoredSession>,
    session_id: SessionId,
}

impl State for ExpectServerHello {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "ServerHello")?;
        let HandshakePayload::ServerHello(sh) = &msg.message.payload else {
            return Err(Error::unexpected("ServerHello", &input));
        };
        let Self { mut hs, offered, resume, session_id } = *self;
        if sh.server_version != ProtocolVersion::Tlcp1_1 {
            return Err(Error::ProtocolVersion);
        }
        if !offered.contains(&sh.cipher_suite) {
            return Err(Error::IllegalParameter("cipher suite not offered"));
        }
        if sh.compression_method != Compression::Null {
            return Err(Error::IllegalParameter("compression"));
        }
        let params = *sh.cipher_suite.params().ok_or(Error::IllegalParameter("cipher suite not offered"))?;
        let mut seed = false;
        let mut ticket = false;
        for ext in &sh.extensions {
            match ext {
                ServerExtension::SeedOrder if hs.config.profile != Profile::Tlcp => seed = true,
                ServerExtension::MaxFragmentLength(m) if Some(*m) == hs.config.max_fragment_length => {
                    cx.max_fragment = m.max_len();
                }
                ServerExtension::MaxFragmentLength(_) => return Err(Error::IllegalParameter("max_fragment_length")),
                ServerExtension::SessionTicketAck if hs.config.offer_session_ticket => ticket = true,
                ServerExtension::RenegotiationInfo(v) if v.is_empty() => {}
                ServerExtension::RenegotiationInfo(_) => return Err(Error::IllegalParameter("renegotiation_info")),
                ServerExtension::ServerNameAck if is_dns_name(&hs.config.server_name) => {}
                other => return Err(Error::UnsupportedExtension(other.ext_type())),
            }
        }
        if hs.config.profile == Profile::Seed && !seed {
            return Err(Error::SeedOrderRefused);
        }
        let order = if seed { NegotiatedOrder::Seed } else { NegotiatedOrder::Tlcp };
        hs.transcript.add(&msg.encoded);
        let server_random = sh.random;

        if let Some(stored) = resume.filter(|_| !sh.session_id.is_empty() && sh.session_id == session_id) {
            if stored.suite != sh.cipher_suite {
                return Err(Error::IllegalParameter("resumed session with another suite"));
            }
            let master = MasterSecret::new(&cx.provider, crypto_hash(&params), stored.master_secret.clone());
            install_keys(cx, &params, &master, &hs.client_random, &server_random, true)?;
            return Ok(Box::new(ExpectCcs {
                hs,
                params,
                master,
                order,
                session_id: sh.session_id,
                resumed: true,
                // RFC 5077 §3.1: a server that acknowledged the ticket extension sends a
                // NewSessionTicket before its ChangeCipherSpec on resumption too.
                ticket,
                peer_subject: stored.peer_subject.clone(),
            }));
        }
        let _ = now;
        Ok(Box::new(ExpectCertificate { hs, params, server_random, order, session_id: sh.session_id, ticket }))
    }
}

/// F4 awaited: the center's [sign, enc] certificates.
struct ExpectCertificate {
    hs: Hs,
    params: SuiteParams,
    server_random: [u8; 32],
    order: NegotiatedOrder,
    session_id: SessionId,
    ticket: bool,
}

impl State for ExpectCertificate {
    fn handle(self: Box<Self>, _cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "Certificate")?;
        let HandshakePayload::Certificate(certs) = &msg.message.payload else {
            return Err(Error::unexpected("Certificate", &input));
        };
        let mut s = *self;
        // F5: the preinstalled root, the center's name and its key usages.
        let keys = s.hs.config.verifier.verify_server(certs, &s.hs.config.server_name, now)?;
        if !key_fits_exchange(&keys.enc_key, &s.params) {
            return Err(
                crate::verify::CertError::Unsupported(String::from("encryption key does not fit the suite")).into()
            );
        }
        let enc_cert = certs.get(1).ok_or(crate::verify::CertError::Missing)?.0.clone();
        s.hs.transcript.add(&msg.encoded);
        Ok(Box::new(ExpectServerKeyExchange { s, keys, enc_cert }))
    }
}

/// F4 awaited: the center's signature binding its encryption certificate.
struct ExpectServerKeyExchange {
    s: ExpectCertificate,
    keys: ServerKeys,
    enc_cert: Vec<u8>,
}

impl State for ExpectServerKeyExchange {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, _now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "ServerKeyExchange")?;
        let HandshakePayload::ServerKeyExchange(sig) = &msg.message.payload else {
            return Err(Error::unexpected("ServerKeyExchange", &input));
        };
        let mut this = *self;
        let content = server_key_exchange_content(&this.s.hs.client_random, &this.s.server_random, &this.enc_cert);
        let scheme = scheme_for(&this.keys.sign_key, &this.s.params);
        cx.provider
            .verify(&this.keys.sign_key, scheme, &content, sig)
            .map_err(|_| Error::BadSignature("ServerKeyExchange"))?;
        this.s.hs.transcript.add(&msg.encoded);
        Ok(Box::new(ExpectCertificateRequest { inner: this, requested: false }))
    }
}

/// The CertificateRequest, or ServerHelloDone if the center asks for none.
struct ExpectCertificateRequest {
    inner: ExpectServerKeyExchange,
    requested: bool,
}

impl State for ExpectCertificateRequest {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error> {
        let msg = expect_handshake(&input, "CertificateRequest or ServerHelloDone")?;
        let mut this = *self;
        match &msg.message.payload {
            HandshakePayload::CertificateRequest(_) if !this.requested => {
                this.inner.s.hs.transcript.add(&msg.encoded);
                this.requested = true;
                Ok(Box::new(this))
            }
            HandshakePayload::ServerHelloDone => {
                this.inner.s.hs.transcript.add(&msg.encoded);
                this.send_second_flight(cx, now)
            }
            _ => Err(Error::unexpected("CertificateRequest or ServerHelloDone", &input)),
        }
    }
}

impl ExpectCertificateRequest {
    /// F5–F6: the certificate, the encrypted master key, the signature over the whole
    /// transcript; then, in the standard order, the terminal's Finished.
    fn send_second_flight(self, cx: &mut Common, _now: UnixTime) -> Result<Box<dyn State>, Error> {
        let Self { inner, requested } = self;
        let ExpectServerKeyExchange { s, keys, .. } = inner;
        let ExpectCertificate { mut hs, params, server_random, order, session_id, ticket } = s;
        let config = Arc::clone(&hs.config);

        if requested {
            let cert = HandshakeMessage::new(HandshakePayload::Certificate(config.cert_chain.clone()));
            cx.send_handshake(&cert, &mut hs.transcript)?;
        }

        // F5: the patent's shared master key is TLCP's pre-master secret.
        let mut pre_master = Zeroizing::new([0u8; PRE_MASTER_LEN]);
        pre_master[..2].copy_from_slice(&u16::from(ProtocolVersion::Tlcp1_1).to_be_bytes());
        cx.provider.fill_random(&mut pre_master[2..])?;
        let encrypted = cx.provider.encrypt(&keys.enc_key, pre_master.as_ref())?;
        let cke = HandshakeMessage::new(HandshakePayload::ClientKeyExchange(encrypted));
        cx.send_handshake(&cke, &mut hs.transcript)?;

        // F6, fixed: the signature covers the whole transcript, ciphertext included.
        if requested {
            let th = hs.transcript.hash(&cx.provider, cert_verify_hash(&config.sign_key.public_key()));
            let scheme = scheme_for(&config.sign_key.public_key(), &params);
            let sig = config.sign_key.sign_with(scheme, th.as_ref())?;
            let cv = HandshakeMessage::new(HandshakePayload::CertificateVerify(sig));
            cx.send_handshake(&cv, &mut hs.transcript)?;
        }

        let master = MasterSecret::derive(
            &cx.provider,
            crypto_hash(&params),
            pre_master.as_ref(),
            &hs.client_random,
            &server_random,
        );
        install_keys(cx, &params, &master, &hs.client_random, &server_random, true)?;

        if order == NegotiatedOrder::Tlcp {
            send_finished(cx, &mut hs, &params, &master)?;
        }
        Ok(Box::new(ExpectCcs {
            hs,
            params,
            master,
            order,
            session_id,
            resumed: false,
            ticket,
            peer_subject: keys.subject,
        }))
    }
}

fn send_finished(cx: &mut Common, hs: &mut Hs, params: &SuiteParams, master: &MasterSecret) -> Result<(), Error> {
    cx.send_ccs()?;
    let vd = verify_data(cx, params, master, CLIENT_FINISHED, &mut hs.transcript);
    cx.send_handshake(&HandshakeMessage::new(HandshakePayload::Finished(vd)), &mut hs.transcript)
}

/// The center's ChangeCipherSpec awaited (after a NewSessionTicket, if one was promised).
struct ExpectCcs {
    hs: Hs,
    params: SuiteParams,
    master: MasterSecret,
    order: NegotiatedOrder,
    session_id: SessionId,
    resumed: bool,
    ticket: bool,
    peer_subject: String,
}

impl State for ExpectCcs {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, _now: UnixTime) -> Result<Box<dyn State>, Error> {
        let mut this = *self;
        match &input {
            Input::ChangeCipherSpec => {
                cx.activate_read()?;
                Ok(Box::new(ExpectFinished(this)))
            }
            Input::Handshake(m)
                if this.ticket && matches!(m.message.payload, HandshakePayload::NewSessionTicket(_)) =>
            {
                // Resumption here is by session ID; the ticket is only hashed.
                this.hs.transcript.add(&m.encoded);
                this.ticket = false;
                Ok(Box::new(this))
            }
            _ => Err(Error::unexpected("ChangeCipherSpec", &input)),
        }
    }
}

/// F8–F9 awaited: the center's Finished.
struct ExpectFinished(ExpectCcs);

impl State for ExpectFinished {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error> {
        let ExpectCcs { mut hs, params, master, order, session_id, resumed, peer_subject, .. } = self.0;
        check_finished(cx, &input, &params, &master, SERVER_FINISHED, &mut hs.transcript)?;
        // F9–F10: in the seed order and on resumption the terminal's Finished follows.
        if order == NegotiatedOrder::Seed || resumed {
            send_finished(cx, &mut hs, &params, &master)?;
        }
        if !resumed && !session_id.is_empty() {
            hs.config.session_store.put(
                hs.config.server_name.as_bytes(),
                StoredSession {
                    id: session_id.as_slice().to_vec(),
                    suite: params.suite,
                    master_secret: master.into_bytes(),
                    created: now,
                    peer: None,
                    peer_subject: peer_subject.clone(),
                },
            );
        }
        cx.complete(HandshakeSummary {
            suite: params.suite,
            order,
            resumed,
            session_id: session_id.as_slice().to_vec(),
            peer_subject,
        })?;
        Ok(Box::new(Traffic))
    }
}

/// The channel is up. Renegotiation is refused.
pub(crate) struct Traffic;

impl State for Traffic {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, _now: UnixTime) -> Result<Box<dyn State>, Error> {
        match &input {
            Input::Handshake(m)
                if matches!(m.message.payload, HandshakePayload::HelloRequest | HandshakePayload::ClientHello(_)) =>
            {
                cx.send_warning(crate::msgs::AlertDescription::NoRenegotiation);
                Ok(self)
            }
            _ => Err(Error::unexpected("application data", &input)),
        }
    }
}
