//! The connection core shared by both ends: records in and out, alerts, application data,
//! and the slot the typed handshake state lives in. No I/O: bytes and the time go in,
//! bytes and events come out.
use alloc::{boxed::Box, collections::VecDeque, string::String, vec::Vec};
use core::fmt;

use wearpay_crypto::{CryptoProvider, HashAlgorithm, HashContext, Zeroizing};

use crate::codec::Codec;
use crate::config::UnixTime;
use crate::deframer::{HandshakeJoiner, JoinedMessage, MessageDeframer};
use crate::error::InvalidMessage;
use crate::msgs::{
    AlertDescription, AlertLevel, AlertMessage, ContentType, ExtensionType, HandshakeMessage, MAX_PLAINTEXT,
    ProtocolVersion, RecordHeader,
};
use crate::prf::{self, MASTER_SECRET_LEN};
use crate::record_layer::{RecordOpener, RecordSealer};
use crate::suites::CipherSuite;
use crate::verify::CertError;

/// The most a sealed record adds to its plaintext: a CBC IV, a 32-byte MAC and a block of
/// padding (GCM adds 24).
const MAX_RECORD_OVERHEAD: usize = 16 + 32 + 16;

/// Why a connection failed. Each maps to the fatal alert sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer's bytes did not parse.
    #[error("malformed message: {0}")]
    InvalidMessage(#[from] InvalidMessage),
    /// A message arrived in a state that does not expect it.
    #[error("unexpected message: got {got} while expecting {expected}")]
    UnexpectedMessage {
        /// What the state machine waited for.
        expected: &'static str,
        /// What came.
        got: String,
    },
    /// F3: the center supports none of the algorithms the terminal offered.
    #[error("no cipher suite in common")]
    NoCommonSuite,
    /// The provider can run none of the configured suites.
    #[error("the crypto provider supports none of the configured cipher suites")]
    NoUsableSuite,
    /// The peer's certificates were refused.
    #[error("peer certificate refused: {0}")]
    Certificate(#[from] CertError),
    /// A ServerKeyExchange or CertificateVerify signature did not verify.
    #[error("{0} signature did not verify")]
    BadSignature(&'static str),
    /// A Finished message did not verify.
    #[error("Finished did not verify")]
    BadFinished,
    /// A protected record did not authenticate.
    #[error("record failed authentication")]
    BadRecordMac,
    /// A plaintext longer than the negotiated limit.
    #[error("record longer than the negotiated limit")]
    RecordOverflow,
    /// A field the peer chose is not allowed here.
    #[error("illegal parameter: {0}")]
    IllegalParameter(&'static str),
    /// The peer answered with an extension that was not asked for.
    #[error("unsolicited extension {0:?}")]
    UnsupportedExtension(ExtensionType),
    /// A terminal set to the seed profile met a center that did not confirm it.
    #[error("the center did not confirm the seed order")]
    SeedOrderRefused,
    /// A center set to the seed profile met a terminal that did not ask for it.
    #[error("the terminal did not ask for the seed order")]
    SeedOrderRequired,
    /// The peer does not speak TLCP 1.1.
    #[error("peer does not speak TLCP 1.1")]
    ProtocolVersion,
    /// The peer ended the connection with a fatal alert.
    #[error("peer sent fatal alert {0:?}")]
    AlertReceived(AlertDescription),
    /// A local cryptographic failure (randomness, a secure element that refused).
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] wearpay_crypto::Error),
    /// The connection has already ended.
    #[error("connection closed")]
    Closed,
    /// Application data was sent after close_notify, or before keys exist.
    #[error("the handshake is not complete")]
    HandshakeNotComplete,
}

impl Error {
    /// The fatal alert this failure sends, if any.
    pub fn alert(&self) -> Option<AlertDescription> {
        Some(match self {
            Self::InvalidMessage(m) => m.alert(),
            Self::UnexpectedMessage { .. } => AlertDescription::UnexpectedMessage,
            Self::NoCommonSuite | Self::SeedOrderRefused | Self::SeedOrderRequired => {
                AlertDescription::HandshakeFailure
            }
            Self::NoUsableSuite | Self::Crypto(_) => AlertDescription::InternalError,
            Self::Certificate(c) => c.alert(),
            Self::BadSignature(_) | Self::BadFinished => AlertDescription::DecryptError,
            Self::BadRecordMac => AlertDescription::BadRecordMac,
            Self::RecordOverflow => AlertDescription::RecordOverflow,
            Self::IllegalParameter(_) => AlertDescription::IllegalParameter,
            Self::UnsupportedExtension(_) => AlertDescription::UnsupportedExtension,
            Self::ProtocolVersion => AlertDescription::ProtocolVersion,
            Self::AlertReceived(_) | Self::Closed | Self::HandshakeNotComplete => return None,
        })
    }

    pub(crate) fn unexpected(expected: &'static str, got: &Input<'_>) -> Self {
        let got = match got {
            Input::Handshake(m) => alloc::format!("{:?}", m.message.typ),
            Input::ChangeCipherSpec => String::from("ChangeCipherSpec"),
        };
        Self::UnexpectedMessage { expected, got }
    }
}

/// The Finished order a handshake used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiatedOrder {
    /// The patent's: the center's Finished first.
    Seed,
    /// GB/T 38636's: the terminal's Finished first.
    Tlcp,
}

/// What a finished handshake agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeSummary {
    /// The suite.
    pub suite: CipherSuite,
    /// The order of the Finished messages.
    pub order: NegotiatedOrder,
    /// Whether a stored session was resumed.
    pub resumed: bool,
    /// The session ID.
    pub session_id: Vec<u8>,
    /// The peer's certificate subject (the center's signing certificate, or the terminal's).
    pub peer_subject: String,
}

/// Something the connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// F10: the channel is up; application data flows.
    HandshakeComplete(HandshakeSummary),
    /// The peer sent close_notify: it will send nothing more.
    PeerClosed,
}

/// What the state machine is fed.
pub(crate) enum Input<'a> {
    Handshake(&'a JoinedMessage),
    ChangeCipherSpec,
}

/// One typed handshake state. Each consumes itself and returns the next, so a state that
/// has not happened cannot be acted on.
pub(crate) trait State: Send + Sync {
    fn handle(self: Box<Self>, cx: &mut Common, input: Input<'_>, now: UnixTime) -> Result<Box<dyn State>, Error>;
}

/// The running hash input of a handshake: every handshake message as sent.
///
/// The bytes are kept because the hash is not known until ServerHello (and a CertificateVerify
/// may use another than the PRF's); a handshake is a few KiB. Once a hash has been asked for,
/// its running context absorbs each later message as it is added, so each Finished and
/// CertificateVerify costs a copy of that context rather than a hash of the whole
/// handshake again: a full handshake reads its transcript six times.
#[derive(Default)]
pub(crate) struct Transcript {
    bytes: Vec<u8>,
    running: Vec<(HashAlgorithm, Box<dyn HashContext>)>,
}

impl Transcript {
    pub(crate) fn add(&mut self, encoded: &[u8]) {
        self.bytes.extend_from_slice(encoded);
        for (_, ctx) in &mut self.running {
            ctx.update(encoded);
        }
    }

    /// The hash of everything added so far.
    pub(crate) fn hash(&mut self, provider: &CryptoProvider, alg: HashAlgorithm) -> wearpay_crypto::HashOutput {
        let ctx = match self.running.iter().position(|(a, _)| *a == alg) {
            Some(i) => &self.running[i].1,
            None => {
                let mut ctx = provider.hash(alg).start();
                ctx.update(&self.bytes);
                self.running.push((alg, ctx));
                &self.running[self.running.len() - 1].1
            }
        };
        ctx.finish_with(&[])
    }
}

/// What RFC 5705 exporters need from a finished handshake.
pub(crate) struct ExporterSecret {
    pub master: Zeroizing<[u8; MASTER_SECRET_LEN]>,
    pub client_random: [u8; 32],
    pub server_random: [u8; 32],
    pub hash: HashAlgorithm,
}

/// Record-level state both ends share.
pub(crate) struct Common {
    pub provider: CryptoProvider,
    pub deframer: MessageDeframer,
    pub joiner: HandshakeJoiner,
    pub opener: Option<RecordOpener>,
    pub sealer: Option<RecordSealer>,
    pub pending_opener: Option<RecordOpener>,
    pub pending_sealer: Option<RecordSealer>,
    pub outgoing: Vec<u8>,
    pub events: VecDeque<Event>,
    pub received: VecDeque<Vec<u8>>,
    pub queued: Vec<Vec<u8>>,
    /// The largest plaintext fragment each way (2^14, or less by max_fragment_length).
    pub max_fragment: usize,
    pub traffic: bool,
    pub sent_close: bool,
    pub received_close: bool,
    pub error: Option<Error>,
    pub exporter: Option<ExporterSecret>,
    pub summary: Option<HandshakeSummary>,
    /// The verified terminal (server side).
    pub peer: Option<crate::verify::PeerIdentity>,
}

impl Common {
    pub(crate) fn new(provider: CryptoProvider) -> Self {
        Self {
            provider,
            deframer: MessageDeframer::new(),
            joiner: HandshakeJoiner::new(),
            opener: None,
            sealer: None,
            pending_opener: None,
            pending_sealer: None,
            outgoing: Vec::new(),
            events: VecDeque::new(),
            received: VecDeque::new(),
            queued: Vec::new(),
            max_fragment: MAX_PLAINTEXT,
            traffic: false,
            sent_close: false,
            received_close: false,
            error: None,
            exporter: None,
            summary: None,
            peer: None,
        }
    }

    /// Sends `payload` as records of `typ`, split to the fragment limit and sealed once keys
    /// are active.
    pub(crate) fn send(&mut self, typ: ContentType, payload: &[u8]) -> Result<(), Error> {
        let mut chunks = payload.chunks(self.max_fragment);
        // An empty payload still makes one (empty) record.
        let first = chunks.next().unwrap_or(&[]);
        for chunk in core::iter::once(first).chain(chunks) {
            // Reserve the whole record at once: growth by doubling would briefly hold a
            // 16 KiB record twice over, which a band's heap notices.
            self.outgoing.reserve(RecordHeader::LEN + chunk.len() + MAX_RECORD_OVERHEAD);
            let start = self.outgoing.len();
            RecordHeader { typ, version: ProtocolVersion::Tlcp1_1, length: 0 }.encode(&mut self.outgoing);
            match &mut self.sealer {
                Some(sealer) => sealer.seal(&self.provider, typ, chunk, &mut self.outgoing)?,
                None => self.outgoing.extend_from_slice(chunk),
            }
            let len = self.outgoing.len() - start - RecordHeader::LEN;
            let len = u16::try_from(len).map_err(|_| Error::RecordOverflow)?;
            self.outgoing[start + 3..start + 5].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Sends a handshake message and adds it to the transcript.
    pub(crate) fn send_handshake(&mut self, msg: &HandshakeMessage, transcript: &mut Transcript) -> Result<(), Error> {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        transcript.add(&buf);
        self.send(ContentType::Handshake, &buf)
    }

    /// Sends ChangeCipherSpec and switches to the pending write keys.
    pub(crate) fn send_ccs(&mut self) -> Result<(), Error> {
        self.send(ContentType::ChangeCipherSpec, &[1])?;
        self.sealer = Some(self.pending_sealer.take().ok_or(Error::HandshakeNotComplete)?);
        Ok(())
    }

    /// Switches to the pending read keys on the peer's ChangeCipherSpec.
    pub(crate) fn activate_read(&mut self) -> Result<(), Error> {
        if !self.joiner.is_empty() {
            // A handshake message may not straddle the key change.
            return Err(Error::UnexpectedMessage {
                expected: "whole handshake message",
                got: String::from("ChangeCipherSpec"),
            });
        }
        self.opener = Some(self.pending_opener.take().ok_or(Error::UnexpectedMessage {
            expected: "handshake message",
            got: String::from("ChangeCipherSpec"),
        })?);
        Ok(())
    }

    /// F10 done: report it. What the application queued goes out once the input that
    /// completed the handshake has been processed without error (see `handle_input`).
    pub(crate) fn complete(&mut self, summary: HandshakeSummary) -> Result<(), Error> {
        self.traffic = true;
        self.summary = Some(summary.clone());
        self.events.push_back(Event::HandshakeComplete(summary));
        Ok(())
    }

    /// Sends the application data queued during the handshake.
    fn flush_queued(&mut self) -> Result<(), Error> {
        for data in core::mem::take(&mut self.queued) {
            self.send(ContentType::ApplicationData, &data)?;
        }
        Ok(())
    }

    fn send_alert(&mut self, level: AlertLevel, description: AlertDescription) {
        let mut buf = Vec::new();
        AlertMessage { level, description }.encode(&mut buf);
        // Failing to seal an alert leaves nothing better to send.
        let _ = self.send(ContentType::Alert, &buf);
    }

    pub(crate) fn send_warning(&mut self, description: AlertDescription) {
        self.send_alert(AlertLevel::Warning, description);
    }
}

/// A connection of either side: the common record layer plus the current state.
pub(crate) struct Connection {
    pub common: Common,
    state: Option<Box<dyn State>>,
}

impl Connection {
    pub(crate) fn new(common: Common, state: Box<dyn State>) -> Self {
        Self { common, state: Some(state) }
    }

    pub(crate) fn handle_input(&mut self, mut data: &[u8], now: UnixTime) -> Result<(), Error> {
        if let Some(e) = &self.common.error {
            return Err(e.clone());
        }
        while !data.is_empty() {
            let n = self.common.deframer.push(data);
            data = &data[n..];
            if let Err(e) = self.process(now) {
                return Err(self.fail(e));
            }
            if n == 0 {
                break;
            }
        }
        // Data queued before the handshake leaves only after the whole flight that completed
        // it checked out: a tampered record behind the last Finished fails the connection
        // before any of it is released.
        if self.common.traffic
            && !self.common.queued.is_empty()
            && let Err(e) = self.common.flush_queued()
        {
            return Err(self.fail(e));
        }
        Ok(())
    }

    /// Records the failure, sends its fatal alert, and hands the error back.
    fn fail(&mut self, e: Error) -> Error {
        if let Some(alert) = e.alert() {
            self.common.send_alert(AlertLevel::Fatal, alert);
        }
        self.common.error = Some(e.clone());
        self.state = None;
        self.common.queued.clear();
        e
    }

    fn process(&mut self, now: UnixTime) -> Result<(), Error> {
        while let Some(record) = self.common.deframer.pop()? {
            if self.common.received_close {
                return Err(Error::UnexpectedMessage {
                    expected: "nothing after close_notify",
                    got: String::from("record"),
                });
            }
            // TLCP 1.1 is the only version either end speaks, and the record MAC and GCM AAD
            // are computed over 0x0101 rather than the header's bytes, so another minor
            // version would otherwise pass unnoticed (as OpenSSL does, refuse it).
            if record.version != ProtocolVersion::Tlcp1_1 {
                return Err(Error::ProtocolVersion);
            }
            let typ = record.typ;
            let mut payload = record.payload;
            if let Some(opener) = &mut self.common.opener {
                opener.open(typ, &mut payload).map_err(|_| Error::BadRecordMac)?;
            }
            if payload.len() > self.common.max_fragment {
                return Err(Error::RecordOverflow);
            }
            match typ {
                ContentType::Alert => self.handle_alert(&payload)?,
                ContentType::ChangeCipherSpec => {
                    crate::msgs::ChangeCipherSpec::read_bytes(&payload)?;
                    self.step(Input::ChangeCipherSpec, now)?;
                }
                ContentType::Handshake => {
                    if payload.is_empty() {
                        return Err(InvalidMessage::InvalidEmptyPayload.into());
                    }
                    self.common.joiner.push(&payload)?;
                    while let Some(msg) = self.common.joiner.pop()? {
                        self.step(Input::Handshake(&msg), now)?;
                    }
                }
                ContentType::ApplicationData => {
                    if !self.common.traffic || self.common.opener.is_none() {
                        return Err(Error::UnexpectedMessage {
                            expected: "handshake message",
                            got: String::from("application data"),
                        });
                    }
                    // Some stacks send an empty record before each data record.
                    if !payload.is_empty() {
                        self.common.received.push_back(payload);
                    }
                }
                _ => return Err(InvalidMessage::InvalidContentType.into()),
            }
        }
        Ok(())
    }

    fn step(&mut self, input: Input<'_>, now: UnixTime) -> Result<(), Error> {
        let state = self.state.take().ok_or(Error::Closed)?;
        self.state = Some(state.handle(&mut self.common, input, now)?);
        Ok(())
    }

    fn handle_alert(&mut self, payload: &[u8]) -> Result<(), Error> {
        let alert = AlertMessage::read_bytes(payload)?;
        if alert.description == AlertDescription::CloseNotify {
            self.common.received_close = true;
            self.common.events.push_back(Event::PeerClosed);
            return Ok(());
        }
        match alert.level {
            AlertLevel::Warning if alert.description == AlertDescription::NoRenegotiation => Ok(()),
            // Every other alert ends the connection (RFC 5246 lets us treat warnings as fatal).
            _ => {
                let e = Error::AlertReceived(alert.description);
                self.common.error = Some(e.clone());
                self.state = None;
                Err(e)
            }
        }
    }

    pub(crate) fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.common.error {
            return Err(e.clone());
        }
        if self.common.sent_close {
            return Err(Error::Closed);
        }
        if self.common.traffic {
            self.common.send(ContentType::ApplicationData, data)
        } else {
            self.common.queued.push(data.to_vec());
            Ok(())
        }
    }

    pub(crate) fn send_close_notify(&mut self) {
        if !self.common.sent_close && self.common.error.is_none() {
            self.common.sent_close = true;
            let mut buf = Vec::new();
            AlertMessage::close_notify().encode(&mut buf);
            let _ = self.common.send(ContentType::Alert, &buf);
        }
    }
}

/// The operations both connection types offer.
macro_rules! connection_api {
    ($t:ty) => {
        impl $t {
            /// Feeds bytes received from the peer; `now` is the caller's clock. Processes
            /// every whole record they complete. On error the connection is dead and a fatal
            /// alert waits in the output.
            pub fn handle_input(&mut self, data: &[u8], now: UnixTime) -> Result<(), Error> {
                self.conn.handle_input(data, now)
            }

            /// Whether bytes wait to be sent.
            pub fn has_output(&self) -> bool {
                !self.conn.common.outgoing.is_empty()
            }

            /// Takes the bytes to send to the peer.
            pub fn take_output(&mut self) -> Vec<u8> {
                core::mem::take(&mut self.conn.common.outgoing)
            }

            /// Appends the bytes to send to `out`.
            pub fn write_output(&mut self, out: &mut Vec<u8>) {
                out.append(&mut self.conn.common.outgoing);
            }

            /// The next event, if any.
            pub fn poll_event(&mut self) -> Option<Event> {
                self.conn.common.events.pop_front()
            }

            /// The next application data record received, if any.
            pub fn read_application_data(&mut self) -> Option<Vec<u8>> {
                self.conn.common.received.pop_front()
            }

            /// Sends application data; before the handshake completes it is queued and sent
            /// right after this side's Finished.
            pub fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
                self.conn.send_application_data(data)
            }

            /// Ends the connection cleanly.
            pub fn send_close_notify(&mut self) {
                self.conn.send_close_notify();
            }

            /// Whether the handshake is still running.
            pub fn is_handshaking(&self) -> bool {
                !self.conn.common.traffic && self.conn.common.error.is_none()
            }

            /// Whether the peer has sent close_notify.
            pub fn peer_closed(&self) -> bool {
                self.conn.common.received_close
            }

            /// The error that ended the connection, if one did.
            pub fn error(&self) -> Option<&Error> {
                self.conn.common.error.as_ref()
            }

            /// What the handshake agreed, once it is complete.
            pub fn summary(&self) -> Option<&HandshakeSummary> {
                self.conn.common.summary.as_ref()
            }

            /// The largest plaintext per record in force.
            pub fn max_fragment_len(&self) -> usize {
                self.conn.common.max_fragment
            }

            /// Keying material for the application layer (RFC 5705): the suite's PRF over
            /// the master secret, `label` and both randoms, then the context if given.
            pub fn export_keying_material(
                &self,
                label: &[u8],
                context: Option<&[u8]>,
                out: &mut [u8],
            ) -> Result<(), Error> {
                self.conn.common.export(label, context, out)
            }
        }

        #[cfg(feature = "std")]
        impl crate::stream::Endpoint for $t {
            fn handle_input(&mut self, data: &[u8], now: UnixTime) -> Result<(), Error> {
                <$t>::handle_input(self, data, now)
            }
            fn take_output(&mut self) -> Vec<u8> {
                <$t>::take_output(self)
            }
            fn read_application_data(&mut self) -> Option<Vec<u8>> {
                <$t>::read_application_data(self)
            }
            fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
                <$t>::send_application_data(self, data)
            }
            fn is_handshaking(&self) -> bool {
                <$t>::is_handshaking(self)
            }
            fn poll_event(&mut self) -> Option<Event> {
                <$t>::poll_event(self)
            }
            fn send_close_notify(&mut self) {
                <$t>::send_close_notify(self)
            }
            fn peer_closed(&self) -> bool {
                <$t>::peer_closed(self)
            }
        }
    };
}
pub(crate) use connection_api;

impl Common {
    pub(crate) fn export(&self, label: &[u8], context: Option<&[u8]>, out: &mut [u8]) -> Result<(), Error> {
        let ex = self.exporter.as_ref().filter(|_| self.traffic).ok_or(Error::HandshakeNotComplete)?;
        let mut seed: Vec<&[u8]> = alloc::vec![&ex.client_random[..], &ex.server_random[..]];
        let len_bytes;
        if let Some(ctx) = context {
            len_bytes =
                u16::try_from(ctx.len()).map_err(|_| Error::IllegalParameter("exporter context"))?.to_be_bytes();
            seed.push(&len_bytes);
            seed.push(ctx);
        }
        prf::prf(&self.provider, ex.hash, ex.master.as_ref(), label, &seed, out);
        Ok(())
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("traffic", &self.common.traffic)
            .field("error", &self.common.error)
            .finish_non_exhaustive()
    }
}
