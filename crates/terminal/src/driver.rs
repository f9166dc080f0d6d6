//! The blocking driver: the payment flow over a TLCP stream on any `Read + Write`
//! transport (a TCP socket, the BLE link to the phone).
use alloc::{sync::Arc, vec::Vec};
use std::io::{self, Read, Write};

use wearpay_pay::{Balance, History, Mode, OrderId, Outcome, Pin, Timestamp};
use wearpay_tlcp::{ClientConfig, ClientConnection, Event, HandshakeSummary, UnixTime, stream::Stream};

use crate::{Clock, Error, Exchange, PaymentOutcome, Recovery, SecureElement, Terminal, UserInterface};

/// An established secure channel to the center over `T`.
#[derive(Debug)]
pub struct Channel<T: Read + Write> {
    stream: Stream<ClientConnection, T>,
    summary: HandshakeSummary,
}

impl<T: Read + Write> Channel<T> {
    /// Connects: F1–F10 over `transport`, resuming a stored session when it can. `at` is
    /// the band's effective time.
    pub fn open(config: Arc<ClientConfig>, transport: T, at: Timestamp) -> Result<Self, Error> {
        let conn = ClientConnection::new(config, UnixTime(at.0))?;
        let mut stream = Stream::new(conn, transport);
        if let Err(e) = stream.complete_handshake() {
            return Err(channel_error(e, &stream.conn));
        }
        let summary = stream
            .take_events()
            .into_iter()
            .find_map(|e| match e {
                Event::HandshakeComplete(s) => Some(s),
                Event::PeerClosed => None,
            })
            .or_else(|| stream.conn.summary().cloned())
            .ok_or(Error::ChannelClosed)?;
        Ok(Self { stream, summary })
    }

    /// What the handshake agreed.
    pub fn summary(&self) -> &HandshakeSummary {
        &self.summary
    }

    /// Ends the channel with close_notify (errors are of no consequence here).
    pub fn close(mut self) {
        let _ = self.stream.close();
    }
}

/// The TLCP error behind an I/O error, when there is one.
fn channel_error(e: io::Error, conn: &ClientConnection) -> Error {
    if let Some(tlcp) = conn.error() {
        return Error::Channel(tlcp.clone());
    }
    if let Some(tlcp) = e.get_ref().and_then(|inner| inner.downcast_ref::<wearpay_tlcp::Error>()) {
        return Error::Channel(tlcp.clone());
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            Error::ChannelClosed
        }
        _ => Error::Io(e),
    }
}

impl<T: Read + Write> Exchange for Channel<T> {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, Error> {
        // One write is one record: the center reads one request per record.
        if let Err(e) = self.stream.write_all(request).and_then(|()| self.stream.flush()) {
            return Err(channel_error(e, &self.stream.conn));
        }
        // The answer is one record: taken whole, not copied into a buffer of the largest
        // record's size (the band's heap is small).
        match self.stream.read_record() {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err(Error::ChannelClosed),
            Err(e) => Err(channel_error(e, &self.stream.conn)),
        }
    }
}

impl<S: SecureElement, U: UserInterface, C: Clock> Terminal<S, U, C> {
    /// Connects over `transport` at the effective time (refused before any byte is sent
    /// when the phone's clock is behind the floor).
    pub fn connect<T: Read + Write>(&mut self, transport: T) -> Result<Channel<T>, Error> {
        let at = self.effective_time()?;
        let config = Arc::new(self.client_config(at)?);
        let channel = Channel::open(config, transport, at)?;
        self.record_handshake(channel.summary().clone());
        Ok(channel)
    }

    /// Pays `order_id` in `mode` through `transport`: connect, handshake (resuming when it
    /// can), then the steps of [`Terminal::pay_over`].
    pub fn pay<T: Read + Write>(
        &mut self,
        order_id: &OrderId,
        mode: Mode,
        transport: T,
    ) -> Result<PaymentOutcome, Error> {
        let mut channel = self.connect(transport)?;
        let result = self.pay_over(&mut channel, order_id, mode);
        channel.close();
        result
    }

    /// Settles the pending payments through `transport` (see [`Terminal::resume_over`]).
    pub fn resume_pending<T: Read + Write>(&mut self, transport: T) -> Result<Recovery, Error> {
        let mut channel = self.connect(transport)?;
        let result = self.resume_over(&mut channel);
        channel.close();
        result
    }

    /// The account's balance.
    pub fn balance<T: Read + Write>(&mut self, transport: T) -> Result<Balance, Error> {
        let mut channel = self.connect(transport)?;
        let result = self.balance_over(&mut channel);
        channel.close();
        result
    }

    /// The newest `limit` entries of the account's history.
    pub fn history<T: Read + Write>(&mut self, transport: T, limit: u8) -> Result<History, Error> {
        let mut channel = self.connect(transport)?;
        let result = self.history_over(&mut channel, limit);
        channel.close();
        result
    }

    /// Renews the band's certificate (see [`Terminal::renew_over`]); returns the new
    /// provisioning for the caller to persist.
    pub fn renew<T: Read + Write>(&mut self, transport: T) -> Result<crate::Provisioning, Error> {
        let mut channel = self.connect(transport)?;
        let result = self.renew_over(&mut channel).cloned();
        channel.close();
        result
    }

    /// Changes the account's PIN from `old` to `new`.
    pub fn change_pin<T: Read + Write>(&mut self, old: &Pin, new: &Pin, transport: T) -> Result<Outcome, Error> {
        let mut channel = self.connect(transport)?;
        let result = self.change_pin_over(&mut channel, old, new);
        channel.close();
        result
    }
}
