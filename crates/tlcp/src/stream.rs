//! A blocking stream over any `Read + Write`, so no other crate writes protocol loops.
use alloc::vec::Vec;
use std::io::{self, Read, Write};

use crate::config::UnixTime;
use crate::conn::{Error, Event};

/// What a stream needs of a connection; both connection types have it.
pub trait Endpoint {
    /// See [`crate::ClientConnection::handle_input`].
    fn handle_input(&mut self, data: &[u8], now: UnixTime) -> Result<(), Error>;
    /// Takes the bytes to send.
    fn take_output(&mut self) -> Vec<u8>;
    /// The next application data record.
    fn read_application_data(&mut self) -> Option<Vec<u8>>;
    /// Sends application data.
    fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error>;
    /// Whether the handshake still runs.
    fn is_handshaking(&self) -> bool;
    /// The next event.
    fn poll_event(&mut self) -> Option<Event>;
    /// Sends close_notify.
    fn send_close_notify(&mut self);
    /// Whether the peer sent close_notify.
    fn peer_closed(&self) -> bool;
}

fn io_error(e: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The system clock, for the blocking adapter only: the protocol takes time as input.
pub fn system_time() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// A TLCP connection over a byte stream such as a `TcpStream`.
#[derive(Debug)]
pub struct Stream<C, S> {
    /// The protocol state.
    pub conn: C,
    /// The transport.
    pub sock: S,
    plain: Vec<u8>,
    events: Vec<Event>,
}

impl<C: Endpoint, S: Read + Write> Stream<C, S> {
    /// Wraps a connection and its transport.
    pub fn new(conn: C, sock: S) -> Self {
        Self { conn, sock, plain: Vec::new(), events: Vec::new() }
    }

    /// Sends what the connection has queued.
    pub fn flush_output(&mut self) -> io::Result<()> {
        let out = self.conn.take_output();
        if !out.is_empty() {
            self.sock.write_all(&out)?;
            self.sock.flush()?;
        }
        Ok(())
    }

    /// Reads once from the transport and processes it. Returns false at end of stream.
    fn read_once(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 8192];
        let n = self.sock.read(&mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        let result = self.conn.handle_input(&buf[..n], system_time());
        // Whatever happened, the peer should hear it (a fatal alert on failure).
        self.flush_output()?;
        result.map_err(io_error)?;
        while let Some(ev) = self.conn.poll_event() {
            self.events.push(ev);
        }
        Ok(true)
    }

    /// Drives the handshake to completion.
    pub fn complete_handshake(&mut self) -> io::Result<()> {
        self.flush_output()?;
        while self.conn.is_handshaking() {
            if !self.read_once()? {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed during the handshake"));
            }
        }
        self.flush_output()
    }

    /// Takes the events seen so far (handshake completion, peer closed).
    pub fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }

    /// Sends close_notify.
    pub fn close(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush_output()
    }
}

impl<C: Endpoint, S: Read + Write> Stream<C, S> {
    /// The next application-data record, whole and without a copy (a request or an answer
    /// is one record); `None` at the end of the stream. Empty records are skipped.
    pub fn read_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.complete_handshake()?;
        if !self.plain.is_empty() {
            return Ok(Some(core::mem::take(&mut self.plain)));
        }
        loop {
            match self.conn.read_application_data() {
                Some(data) if data.is_empty() => {}
                Some(data) => return Ok(Some(data)),
                None if self.conn.peer_closed() || !self.read_once()? => return Ok(None),
                None => {}
            }
        }
    }
}

impl<C: Endpoint, S: Read + Write> Read for Stream<C, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.complete_handshake()?;
        while self.plain.is_empty() {
            if let Some(data) = self.conn.read_application_data() {
                self.plain = data;
                break;
            }
            if self.conn.peer_closed() || !self.read_once()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.plain.len());
        buf[..n].copy_from_slice(&self.plain[..n]);
        self.plain.drain(..n);
        Ok(n)
    }
}

impl<C: Endpoint, S: Read + Write> Write for Stream<C, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn.send_application_data(buf).map_err(io_error)?;
        self.flush_output()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_output()
    }
}
