//! A tokio stream: [`TokioStream`] is `AsyncRead + AsyncWrite` over any
//! `AsyncRead + AsyncWrite + Unpin` transport, driving a [`crate::ClientConnection`] or a
//! [`crate::ServerConnection`] (feature `tokio`).
//!
//! ```no_run
//! # async fn f(config: std::sync::Arc<wearpay_tlcp::ClientConfig>) -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use wearpay_tlcp::{ClientConnection, stream::system_time, tokio_stream::TokioStream};
//!
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:4433").await?;
//! let conn = ClientConnection::new(config, system_time()).map_err(std::io::Error::other)?;
//! let mut tls = TokioStream::new(conn, tcp);
//! tls.handshake().await?;
//! tls.write_all(b"OrderQuery").await?;
//! let mut reply = [0u8; 64];
//! let n = tls.read(&mut reply).await?;
//! tls.shutdown().await?; // close_notify, then the transport's shutdown
//! # Ok(()) }
//! ```
use alloc::vec::Vec;
use core::future::poll_fn;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::conn::{Error, Event};
use crate::stream::{Endpoint, system_time};

/// How much is read from the transport at a time: a whole maximal record.
const READ_CHUNK: usize = 16 * 1024 + 512;

fn io_error(e: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A TLCP connection over an asynchronous byte stream such as a `tokio::net::TcpStream`.
///
/// Reading or writing first completes the handshake; [`TokioStream::handshake`] does it
/// explicitly. Shutting down sends close_notify. A protocol failure comes out as an
/// [`io::Error`] of kind `InvalidData` wrapping the [`Error`] (after the fatal alert has
/// been sent to the peer), which [`TokioStream::protocol_error`] also returns.
#[derive(Debug)]
pub struct TokioStream<C, T> {
    /// The protocol state.
    pub conn: C,
    /// The transport.
    pub io: T,
    /// Bytes the connection produced that the transport has not taken yet.
    out: Vec<u8>,
    out_pos: usize,
    /// The application record being read out.
    plain: Vec<u8>,
    plain_pos: usize,
    events: Vec<Event>,
    /// A failure waiting for its alert to be flushed before it is reported.
    failed: Option<Error>,
    /// The error reported, kept so later calls answer the same.
    error: Option<Error>,
    eof: bool,
    shutdown_sent: bool,
}

impl<C: Endpoint + Unpin, T: AsyncRead + AsyncWrite + Unpin> TokioStream<C, T> {
    /// Wraps a connection and its transport.
    pub fn new(conn: C, io: T) -> Self {
        Self {
            conn,
            io,
            out: Vec::new(),
            out_pos: 0,
            plain: Vec::new(),
            plain_pos: 0,
            events: Vec::new(),
            failed: None,
            error: None,
            eof: false,
            shutdown_sent: false,
        }
    }

    /// Drives the handshake to completion.
    pub async fn handshake(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_handshake(cx)).await
    }

    /// Takes the events seen so far (handshake completion, peer closed).
    pub fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }

    /// The protocol failure that ended the connection, if one did.
    pub fn protocol_error(&self) -> Option<&Error> {
        self.error.as_ref().or(self.failed.as_ref())
    }

    /// Whether the transport has ended.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Splits into the connection and the transport.
    pub fn into_inner(self) -> (C, T) {
        (self.conn, self.io)
    }

    /// Writes out everything the connection has queued, then flushes the transport.
    fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                let more = self.conn.take_output();
                if more.is_empty() {
                    break;
                }
                self.out = more;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Flushes the alert of a failure, then reports the failure.
    fn poll_report(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = &self.error {
            return Poll::Ready(Err(io_error(e.clone())));
        }
        if self.failed.is_some() {
            // The peer should hear why; a transport error here changes nothing.
            let _ = ready!(self.poll_flush_out(cx));
            let e = self.failed.take().unwrap_or(Error::Closed);
            self.error = Some(e.clone());
            return Poll::Ready(Err(io_error(e)));
        }
        Poll::Ready(Ok(()))
    }

    /// Reads once from the transport and processes it. `false` at end of stream.
    fn poll_read_once(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut buf = [0u8; READ_CHUNK];
        let mut rb = ReadBuf::new(&mut buf);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
        let data = rb.filled();
        if data.is_empty() {
            self.eof = true;
            return Poll::Ready(Ok(false));
        }
        if let Err(e) = self.conn.handle_input(data, system_time()) {
            self.failed = Some(e);
        }
        while let Some(ev) = self.conn.poll_event() {
            self.events.push(ev);
        }
        Poll::Ready(Ok(true))
    }

    /// Polls the handshake to completion.
    pub fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_report(cx))?;
            ready!(self.poll_flush_out(cx))?;
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if self.eof || !ready!(self.poll_read_once(cx))? {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the handshake",
                )));
            }
        }
    }

    fn poll_read_plain(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_handshake(cx))?;
        loop {
            if self.plain_pos < self.plain.len() {
                let n = buf.remaining().min(self.plain.len() - self.plain_pos);
                buf.put_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
                self.plain_pos += n;
                return Poll::Ready(Ok(()));
            }
            if let Some(data) = self.conn.read_application_data() {
                self.plain = data;
                self.plain_pos = 0;
                continue;
            }
            ready!(self.poll_report(cx))?;
            // Anything the connection answered (a warning alert) goes out.
            ready!(self.poll_flush_out(cx))?;
            if self.conn.peer_closed() || self.eof {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_read_once(cx))?;
        }
    }
}

impl<C: Endpoint + Unpin, T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TokioStream<C, T> {
    /// Reads application data; 0 bytes at close_notify or at the end of the transport
    /// (tell them apart with `conn.peer_closed()`).
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_plain(cx, buf)
    }
}

impl<C: Endpoint + Unpin, T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TokioStream<C, T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_handshake(cx))?;
        // Back-pressure: what was written before must be on its way first.
        ready!(this.poll_flush_out(cx))?;
        this.conn.send_application_data(buf).map_err(io_error)?;
        // The data is taken; sending it may wait for the next poll.
        if let Poll::Ready(Err(e)) = this.poll_flush_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_out(cx)
    }

    /// Sends close_notify, then shuts the transport's write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shutdown_sent {
            this.shutdown_sent = true;
            this.conn.send_close_notify();
        }
        ready!(this.poll_flush_out(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
