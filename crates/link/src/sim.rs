//! A simulated BLE link: the band's and the bridge's processes exchange GATT operations
//! over a local TCP socket.
//!
//! The bridge (central) listens with [`SimCentral`]; the band (peripheral) connects with
//! [`SimPeripheral`]. Every GATT operation is one socket record, so fragment boundaries
//! survive the byte stream:
//!
//! ```text
//! +------+------+------+----------------+
//! | KIND | HLEN | LLEN | BODY (≤ 65535) |   KIND: 0x01 peripheral hello, 0x02 central hello,
//! +------+------+------+----------------+         0x10 write (central → band),
//!                                                 0x11 notification (band → central)
//! ```
//!
//! On connect the band sends its hello (link version 1, its ATT_MTU proposal, its control
//! point length, each 16-bit big endian), the bridge answers with its hello (version, its
//! proposal). Both then use the smaller proposal clamped to 23..=517 ([`negotiate_att_mtu`]).
//!
//! Each side models its sending direction with its [`AirProfile`] and keeps [`AirStats`] for
//! both directions; it can sleep for the airtime of what it sends, and can drop the
//! connection after a number of bytes in one direction, to test a link lost mid-payment.
//!
//! A relay receives and sends at once: [`SimLink::split`] gives a [`SimLinkReader`] and a
//! [`SimLinkWriter`] for two threads. Closing either half, or the link failing on either,
//! ends both, as a BLE disconnect does.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant as StdInstant;

use crate::{
    AirProfile, AirStats, Command, Error, ErrorStatus, Instant, Message, Reassembler, fragment, max_fragment_len,
    negotiate_att_mtu,
};

const LINK_VERSION: u8 = 1;
const RECORD_HEADER_LEN: usize = 3;
const KIND_HELLO_PERIPHERAL: u8 = 0x01;
const KIND_HELLO_CENTRAL: u8 = 0x02;
const KIND_WRITE: u8 = 0x10;
const KIND_NOTIFY: u8 = 0x11;

/// Which end of the link this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The bridge: GATT client, writes requests.
    Central,
    /// The band: GATT server, sends notifications.
    Peripheral,
}

/// A direction of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Central → band (GATT writes).
    ToPeripheral,
    /// Band → central (notifications).
    ToCentral,
}

/// A fault: drop the connection once more than `bytes` fragment bytes would have passed in
/// `direction`. The fragment that would cross the limit is not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropAfter {
    /// The direction counted.
    pub direction: Direction,
    /// Fragment bytes (GATT values) let through.
    pub bytes: u64,
}

/// How one end runs the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// The air model of this end's sending direction; its `att_mtu` is this end's proposal.
    pub profile: AirProfile,
    /// The control point length the band announces (20..=512; ignored on the central).
    pub control_point_length: u16,
    /// How long `recv` (and the connection hello) waits.
    pub recv_timeout: Duration,
    /// The longest gap between two fragments of one message.
    pub fragment_timeout: Duration,
    /// Whether `send` sleeps for the simulated airtime (off: tests run at full speed).
    pub pace: bool,
    /// An injected fault, if any.
    pub drop_after: Option<DropAfter>,
}

impl LinkConfig {
    /// A configuration with `profile`, a 512-byte control point, a 30 s receive timeout,
    /// the 3 s fragment timeout, no pacing and no fault.
    pub fn new(profile: AirProfile) -> Self {
        Self {
            profile,
            control_point_length: 512,
            recv_timeout: Duration::from_secs(30),
            fragment_timeout: crate::DEFAULT_FRAGMENT_TIMEOUT,
            pace: false,
            drop_after: None,
        }
    }
}

impl Default for LinkConfig {
    /// [`LinkConfig::new`] with the BLE 4.2 profile, the slowest the band must cope with.
    fn default() -> Self {
        Self::new(AirProfile::ble42())
    }
}

/// The traffic of both directions, as one end saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Central → band.
    pub to_peripheral: AirStats,
    /// Band → central.
    pub to_central: AirStats,
}

impl LinkStats {
    fn direction_mut(&mut self, d: Direction) -> &mut AirStats {
        match d {
            Direction::ToPeripheral => &mut self.to_peripheral,
            Direction::ToCentral => &mut self.to_central,
        }
    }
}

/// A shared view of a link's statistics, readable from any thread while the link is used.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Mutex<LinkStats>>);

impl StatsHandle {
    /// The statistics so far.
    pub fn get(&self) -> LinkStats {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut LinkStats)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// The bridge's listening side.
#[derive(Debug)]
pub struct SimCentral {
    listener: TcpListener,
    config: LinkConfig,
}

impl SimCentral {
    /// Listens on `addr` (port 0 picks a free port; see [`SimCentral::local_addr`]).
    pub fn bind(addr: impl ToSocketAddrs, config: LinkConfig) -> Result<Self, Error> {
        Ok(Self { listener: TcpListener::bind(addr)?, config })
    }

    /// The address the band connects to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Waits for a band, then runs the connection hello.
    pub fn accept(&self) -> Result<SimLink, Error> {
        let (stream, _) = self.listener.accept()?;
        let mut link = SimLink::new(Role::Central, stream, self.config)?;
        let deadline = StdInstant::now() + self.config.recv_timeout;
        let body = link.read_record_of(KIND_HELLO_PERIPHERAL, deadline)?;
        let [version, m0, m1, c0, c1] = body[..] else {
            return Err(link.fail(Error::Protocol("malformed peripheral hello")));
        };
        if version != LINK_VERSION {
            return Err(link.fail(Error::Protocol("unsupported link version")));
        }
        let cpl = u16::from_be_bytes([c0, c1]);
        let [ours0, ours1] = self.config.profile.att_mtu.to_be_bytes();
        link.write_record(KIND_HELLO_CENTRAL, &[LINK_VERSION, ours0, ours1])?;
        link.establish(u16::from_be_bytes([m0, m1]), cpl)?;
        Ok(link)
    }
}

/// The band's side: connects to the bridge.
#[derive(Debug, Clone, Copy)]
pub struct SimPeripheral;

impl SimPeripheral {
    /// Connects to the bridge at `addr` and runs the connection hello.
    pub fn connect(addr: impl ToSocketAddrs, config: LinkConfig) -> Result<SimLink, Error> {
        // Refuse a bad announcement before telling anyone.
        max_fragment_len(crate::ATT_MTU_MIN, config.control_point_length)?;
        let stream = TcpStream::connect(addr)?;
        let mut link = SimLink::new(Role::Peripheral, stream, config)?;
        let [m0, m1] = config.profile.att_mtu.to_be_bytes();
        let [c0, c1] = config.control_point_length.to_be_bytes();
        link.write_record(KIND_HELLO_PERIPHERAL, &[LINK_VERSION, m0, m1, c0, c1])?;
        let deadline = StdInstant::now() + config.recv_timeout;
        let body = link.read_record_of(KIND_HELLO_CENTRAL, deadline)?;
        let [version, t0, t1] = body[..] else {
            return Err(link.fail(Error::Protocol("malformed central hello")));
        };
        if version != LINK_VERSION {
            return Err(link.fail(Error::Protocol("unsupported link version")));
        }
        link.establish(u16::from_be_bytes([t0, t1]), config.control_point_length)?;
        Ok(link)
    }
}

/// One end of an established simulated link, with a message-level API.
#[derive(Debug)]
pub struct SimLink {
    role: Role,
    /// The receiving side of the socket; `None` once this end dropped the connection.
    stream: Option<TcpStream>,
    state: Arc<LinkState>,
    /// The sending side, shared with a [`SimLinkWriter`] after a split.
    tx: Arc<Mutex<Tx>>,
    config: LinkConfig,
    profile: AirProfile,
    control_point_length: u16,
    max_fragment_len: usize,
    reassembler: Reassembler,
    rx_buf: Vec<u8>,
    /// Lengths of the fragments of the message being received.
    rx_fragments: Vec<usize>,
    epoch: StdInstant,
    stats: StatsHandle,
    /// Fragment bytes received in the faulty direction.
    fault_received: u64,
}

/// What the receiving and the sending side of one link both need to know.
#[derive(Debug, Default)]
struct LinkState {
    /// This end dropped the connection (on either side).
    closed: AtomicBool,
    /// The peer closed (or reset) the connection.
    peer_gone: AtomicBool,
}

impl LinkState {
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn peer_gone(&self) -> bool {
        self.peer_gone.load(Ordering::Acquire)
    }

    fn set_peer_gone(&self) {
        self.peer_gone.store(true, Ordering::Release);
    }
}

/// The sending side of a link: its own handle on the socket, so that sending never waits
/// for a receive in progress on another thread.
#[derive(Debug)]
struct Tx {
    stream: TcpStream,
    state: Arc<LinkState>,
    direction: Direction,
    kind: u8,
    config: LinkConfig,
    profile: AirProfile,
    max_fragment_len: usize,
    buf: Vec<u8>,
    stats: StatsHandle,
    /// Fragment bytes sent in the faulty direction.
    fault_sent: u64,
}

impl Tx {
    /// Closes the socket (both directions) and returns `e`.
    fn fail(&mut self, e: Error) -> Error {
        self.state.closed.store(true, Ordering::Release);
        let _ = self.stream.shutdown(Shutdown::Both);
        e
    }

    fn io_failure(&mut self, e: io::Error) -> Error {
        if is_disconnect(&e) {
            self.state.set_peer_gone();
            Error::Disconnected
        } else {
            Error::Io(e)
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.state.closed() || self.state.peer_gone() { Err(Error::Disconnected) } else { Ok(()) }
    }

    fn write_record(&mut self, kind: u8, body: &[u8]) -> Result<(), Error> {
        if self.state.closed() {
            return Err(Error::Disconnected);
        }
        let len = u16::try_from(body.len()).map_err(|_| Error::MessageTooLong { len: body.len(), max: 65535 })?;
        let mut rec = Vec::with_capacity(RECORD_HEADER_LEN + body.len());
        rec.push(kind);
        rec.extend_from_slice(&len.to_be_bytes());
        rec.extend_from_slice(body);
        let result = self.stream.write_all(&rec);
        result.map_err(|e| self.io_failure(e))
    }

    fn send(&mut self, cmd: Command, data: &[u8]) -> Result<(), Error> {
        self.check()?;
        let fragments = fragment(cmd, data, self.max_fragment_len)?;
        let (direction, kind) = (self.direction, self.kind);
        let limit = self.config.drop_after.filter(|d| d.direction == direction).map(|d| d.bytes);
        let mut lens = Vec::with_capacity(fragments.len());
        let mut tx = core::mem::take(&mut self.buf);
        tx.clear();
        let mut dropped = false;
        for f in fragments {
            if let Some(limit) = limit {
                if self.fault_sent + f.len() as u64 > limit {
                    dropped = true;
                    break;
                }
                self.fault_sent += f.len() as u64;
            }
            tx.push(kind);
            // A fragment is at most 512 bytes.
            tx.extend_from_slice(&(f.len() as u16).to_be_bytes());
            f.write_to(&mut tx);
            lens.push(f.len());
        }
        let written = self.stream.write_all(&tx);
        self.buf = tx;
        written.map_err(|e| self.io_failure(e))?;
        let profile = self.profile;
        if dropped {
            self.stats.update(|s| s.direction_mut(direction).record_fragments(&profile, &lens));
            return Err(self.fail(Error::FaultInjected { bytes: self.fault_sent }));
        }
        self.stats.update(|s| s.direction_mut(direction).record_message(&profile, &lens));
        if self.config.pace {
            std::thread::sleep(profile.airtime(&lens));
        }
        Ok(())
    }

    fn send_raw(&mut self, value: &[u8]) -> Result<(), Error> {
        let direction = self.direction;
        if let Some(d) = self.config.drop_after.filter(|d| d.direction == direction) {
            if self.fault_sent + value.len() as u64 > d.bytes {
                return Err(self.fail(Error::FaultInjected { bytes: self.fault_sent }));
            }
            self.fault_sent += value.len() as u64;
        }
        self.write_record(self.kind, value)?;
        let profile = self.profile;
        self.stats.update(|s| s.direction_mut(direction).record_fragments(&profile, &[value.len()]));
        Ok(())
    }
}

fn lock(tx: &Mutex<Tx>) -> MutexGuard<'_, Tx> {
    // A panic while sending leaves nothing half-updated that matters more than the link.
    tx.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_disconnect(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected)
}

impl SimLink {
    fn new(role: Role, stream: TcpStream, config: LinkConfig) -> Result<Self, Error> {
        // Each record is one GATT operation: send it at once.
        stream.set_nodelay(true)?;
        let max = max_fragment_len(crate::ATT_MTU_MIN, crate::CONTROL_POINT_LENGTH_MIN)?;
        let state = Arc::new(LinkState::default());
        let stats = StatsHandle::default();
        let (direction, kind) = match role {
            Role::Central => (Direction::ToPeripheral, KIND_WRITE),
            Role::Peripheral => (Direction::ToCentral, KIND_NOTIFY),
        };
        let tx = Tx {
            stream: stream.try_clone()?,
            state: state.clone(),
            direction,
            kind,
            config,
            profile: config.profile,
            max_fragment_len: max,
            buf: Vec::new(),
            stats: stats.clone(),
            fault_sent: 0,
        };
        Ok(Self {
            role,
            stream: Some(stream),
            state,
            tx: Arc::new(Mutex::new(tx)),
            config,
            profile: config.profile,
            control_point_length: crate::CONTROL_POINT_LENGTH_MIN,
            max_fragment_len: max,
            reassembler: Reassembler::new(max)?,
            rx_buf: Vec::new(),
            rx_fragments: Vec::new(),
            epoch: StdInstant::now(),
            stats,
            fault_received: 0,
        })
    }

    fn establish(&mut self, their_mtu: u16, control_point_length: u16) -> Result<(), Error> {
        let att_mtu = negotiate_att_mtu(self.config.profile.att_mtu, their_mtu);
        let max = match max_fragment_len(att_mtu, control_point_length) {
            Ok(max) => max,
            Err(e) => return Err(self.fail(e)),
        };
        self.profile = self.config.profile.with_att_mtu(att_mtu);
        self.control_point_length = control_point_length;
        self.max_fragment_len = max;
        self.reassembler = Reassembler::new(max)?.with_timeout(self.config.fragment_timeout);
        let mut tx = lock(&self.tx);
        tx.profile = self.profile;
        tx.max_fragment_len = max;
        Ok(())
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The negotiated ATT_MTU.
    pub fn att_mtu(&self) -> u16 {
        self.profile.att_mtu
    }

    /// The band's control point length.
    pub fn control_point_length(&self) -> u16 {
        self.control_point_length
    }

    /// The longest fragment either way: `min(ATT_MTU − 3, 512, control point length)`.
    pub fn max_fragment_len(&self) -> usize {
        self.max_fragment_len
    }

    /// The air model of this end's sending direction, with the negotiated ATT_MTU.
    pub fn profile(&self) -> &AirProfile {
        &self.profile
    }

    /// The statistics so far.
    pub fn stats(&self) -> LinkStats {
        self.stats.get()
    }

    /// A handle to read the statistics from another thread.
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    fn incoming(&self) -> (Direction, u8) {
        match self.role {
            Role::Central => (Direction::ToCentral, KIND_NOTIFY),
            Role::Peripheral => (Direction::ToPeripheral, KIND_WRITE),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Closes the socket (both directions, for both halves) and returns `e`.
    fn fail(&mut self, e: Error) -> Error {
        self.state.closed.store(true, Ordering::Release);
        if let Some(s) = self.stream.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        e
    }

    fn stream(&self) -> Result<&TcpStream, Error> {
        self.stream.as_ref().filter(|_| !self.state.closed()).ok_or(Error::Disconnected)
    }

    fn io_failure(&mut self, e: io::Error) -> Error {
        if is_disconnect(&e) {
            self.state.set_peer_gone();
            Error::Disconnected
        } else {
            Error::Io(e)
        }
    }

    fn tx(&self) -> MutexGuard<'_, Tx> {
        lock(&self.tx)
    }

    fn write_record(&mut self, kind: u8, body: &[u8]) -> Result<(), Error> {
        self.stream()?;
        self.tx().write_record(kind, body)
    }

    /// Takes one complete record from the receive buffer.
    fn take_record(&mut self) -> Option<(u8, Vec<u8>)> {
        let [kind, h, l, ..] = self.rx_buf[..] else { return None };
        let end = RECORD_HEADER_LEN + usize::from(u16::from_be_bytes([h, l]));
        if self.rx_buf.len() < end {
            return None;
        }
        let body = self.rx_buf[RECORD_HEADER_LEN..end].to_vec();
        self.rx_buf.drain(..end);
        Some((kind, body))
    }

    /// Reads what the socket has within `wait`; a read that times out is not an error.
    fn fill(&mut self, wait: Duration) -> Result<(), Error> {
        if self.state.peer_gone() {
            return Err(Error::Disconnected);
        }
        let mut buf = [0u8; 4096];
        let stream = self.stream()?;
        stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let result = (&*stream).read(&mut buf);
        match result {
            Ok(0) => {
                self.state.set_peer_gone();
                Err(Error::Disconnected)
            }
            Ok(n) => {
                self.rx_buf.extend_from_slice(&buf[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(self.io_failure(e)),
        }
    }

    /// Reads, without blocking, whatever has arrived, so that a peer that has gone is
    /// noticed before sending into the void (a BLE disconnect ends both directions).
    fn notice_peer_gone(&mut self) -> Result<(), Error> {
        // The field, not `self.stream()`, so that `rx_buf` can be borrowed alongside.
        let Some(stream) = self.stream.as_ref().filter(|_| !self.state.peer_gone() && !self.state.closed()) else {
            return Err(Error::Disconnected);
        };
        stream.set_nonblocking(true)?;
        let mut buf = [0u8; 4096];
        let mut outcome = Ok(());
        loop {
            match (&*stream).read(&mut buf) {
                Ok(0) => {
                    outcome = Err(None);
                    break;
                }
                Ok(n) => self.rx_buf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    outcome = Err(Some(e));
                    break;
                }
            }
        }
        stream.set_nonblocking(false)?;
        match outcome {
            Ok(()) => Ok(()),
            Err(None) => {
                self.state.set_peer_gone();
                Err(Error::Disconnected)
            }
            Err(Some(e)) => Err(self.io_failure(e)),
        }
    }

    fn read_record_of(&mut self, want: u8, deadline: StdInstant) -> Result<Vec<u8>, Error> {
        loop {
            if let Some((kind, body)) = self.take_record() {
                if kind != want {
                    return Err(self.fail(Error::Protocol("unexpected record kind")));
                }
                return Ok(body);
            }
            let now = StdInstant::now();
            if now >= deadline {
                return Err(self.fail(Error::RecvTimeout));
            }
            self.fill(deadline - now)?;
        }
    }

    /// Drops the connection for the configured fault.
    fn inject_drop(&mut self, bytes: u64) -> Error {
        self.fail(Error::FaultInjected { bytes })
    }

    /// Sends one message of `cmd` with `data` (at most 65535 bytes).
    pub fn send(&mut self, cmd: Command, data: &[u8]) -> Result<(), Error> {
        self.stream()?;
        self.notice_peer_gone()?;
        self.tx().send(cmd, data)
    }

    /// Sends one raw GATT value (up to 65535 bytes) with no framing checks: lets a test
    /// play a hostile or broken peer.
    pub fn send_raw(&mut self, value: &[u8]) -> Result<(), Error> {
        self.stream()?;
        self.tx().send_raw(value)
    }

    /// Receives the next message within the configured receive timeout.
    pub fn recv(&mut self) -> Result<Message, Error> {
        self.recv_timeout(self.config.recv_timeout)
    }

    /// Receives the next message within `timeout`.
    ///
    /// A framing fault of the peer is answered with an ERROR message and returned; the
    /// link stays usable and the next call receives the next message. Fails with
    /// [`Error::RecvTimeout`] if no message completed in time (a message in progress
    /// carries on at the next call), [`Error::Disconnected`] once the connection is gone.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message, Error> {
        let deadline = StdInstant::now() + timeout;
        let (direction, want) = self.incoming();
        loop {
            self.stream()?;
            if let Err(e) = self.reassembler.poll(self.now()) {
                return Err(self.refuse(e, direction));
            }
            if let Some((kind, body)) = self.take_record() {
                if kind != want {
                    return Err(self.fail(Error::Protocol("unexpected record kind")));
                }
                if let Some(d) = self.config.drop_after.filter(|d| d.direction == direction) {
                    if self.fault_received + body.len() as u64 > d.bytes {
                        self.abandon_rx(direction);
                        return Err(self.inject_drop(self.fault_received));
                    }
                    self.fault_received += body.len() as u64;
                }
                self.rx_fragments.push(body.len());
                match self.reassembler.push(&body, self.now()) {
                    Ok(None) => continue,
                    Ok(Some(message)) => {
                        let lens = core::mem::take(&mut self.rx_fragments);
                        let profile = self.profile;
                        self.stats.update(|s| s.direction_mut(direction).record_message(&profile, &lens));
                        return Ok(message);
                    }
                    Err(e) => return Err(self.refuse(e, direction)),
                }
            }
            let now = StdInstant::now();
            if now >= deadline {
                return Err(Error::RecvTimeout);
            }
            let mut wait = deadline - now;
            if let Some(d) = self.reassembler.deadline() {
                wait = wait.min(Duration::from_millis(d.millis_since(self.now()) + 1));
            }
            if let Err(e) = self.fill(wait) {
                self.abandon_rx(direction);
                return Err(e);
            }
        }
    }

    /// Counts the fragments of a message that will never complete, and forgets it.
    fn abandon_rx(&mut self, direction: Direction) {
        let lens = core::mem::take(&mut self.rx_fragments);
        let profile = self.profile;
        self.stats.update(|s| s.direction_mut(direction).record_fragments(&profile, &lens));
        self.reassembler.reset();
    }

    /// Answers the peer's framing fault with ERROR and hands the error back.
    fn refuse(&mut self, e: Error, direction: Direction) -> Error {
        self.abandon_rx(direction);
        if let Some(status) = e.status() {
            // Best effort: if the peer is gone, the error is what matters. Straight to the
            // sending side: after a split, another thread may be sending too.
            let _ = self.tx().send(Command::Error, &[status.as_u8()]);
        }
        e
    }

    /// Sends ERROR with `status`.
    pub fn send_error(&mut self, status: ErrorStatus) -> Result<(), Error> {
        self.send(Command::Error, &[status.as_u8()])
    }

    /// Disconnects.
    pub fn close(&mut self) {
        let _ = self.fail(Error::Disconnected);
    }

    /// A byte stream over this link, for TLCP.
    pub fn into_stream(self) -> LinkStream {
        LinkStream { link: self, rx: Vec::new(), pos: 0 }
    }

    /// Splits the link into a receiving and a sending half, for a thread each (a relay
    /// pumps both directions at once). Closing either half, or a failure on either, ends
    /// the link for both.
    pub fn split(self) -> (SimLinkReader, SimLinkWriter) {
        let writer = SimLinkWriter { tx: self.tx.clone(), role: self.role };
        (SimLinkReader { link: self }, writer)
    }
}

/// The receiving half of a split [`SimLink`].
///
/// A framing fault of the peer is still answered with an ERROR message, sent through the
/// link's sending side.
#[derive(Debug)]
pub struct SimLinkReader {
    link: SimLink,
}

impl SimLinkReader {
    /// Receives the next message within the configured receive timeout; see
    /// [`SimLink::recv_timeout`].
    pub fn recv(&mut self) -> Result<Message, Error> {
        self.link.recv()
    }

    /// Receives the next message within `timeout`; see [`SimLink::recv_timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message, Error> {
        self.link.recv_timeout(timeout)
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.link.role
    }

    /// The negotiated ATT_MTU.
    pub fn att_mtu(&self) -> u16 {
        self.link.att_mtu()
    }

    /// The band's control point length.
    pub fn control_point_length(&self) -> u16 {
        self.link.control_point_length
    }

    /// The longest fragment either way.
    pub fn max_fragment_len(&self) -> usize {
        self.link.max_fragment_len
    }

    /// The statistics of both directions so far.
    pub fn stats(&self) -> LinkStats {
        self.link.stats()
    }

    /// A handle to read the statistics from another thread.
    pub fn stats_handle(&self) -> StatsHandle {
        self.link.stats_handle()
    }

    /// Disconnects (both halves).
    pub fn close(&mut self) {
        self.link.close();
    }
}

/// The sending half of a split [`SimLink`]. Clones send on the same link, one whole
/// message at a time.
#[derive(Debug, Clone)]
pub struct SimLinkWriter {
    tx: Arc<Mutex<Tx>>,
    role: Role,
}

impl SimLinkWriter {
    /// Sends one message of `cmd` with `data` (at most 65535 bytes). Fails with
    /// [`Error::Disconnected`] once either half has seen the connection end.
    pub fn send(&self, cmd: Command, data: &[u8]) -> Result<(), Error> {
        lock(&self.tx).send(cmd, data)
    }

    /// Sends ERROR with `status`.
    pub fn send_error(&self, status: ErrorStatus) -> Result<(), Error> {
        self.send(Command::Error, &[status.as_u8()])
    }

    /// Sends one raw GATT value with no framing checks; see [`SimLink::send_raw`].
    pub fn send_raw(&self, value: &[u8]) -> Result<(), Error> {
        lock(&self.tx).send_raw(value)
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The statistics of both directions so far.
    pub fn stats(&self) -> LinkStats {
        lock(&self.tx).stats.get()
    }

    /// Disconnects (both halves); a receive in progress on the other half ends at once.
    pub fn close(&self) {
        let _ = lock(&self.tx).fail(Error::Disconnected);
    }
}

/// A byte stream carried as MSG messages: `Read + Write` for the channel above.
///
/// Each `write` sends one MSG of up to 65535 bytes; `flush` has nothing to do. `read`
/// returns the data of received MSG messages, answers PING with PING and skips KEEPALIVE;
/// a peer's ERROR or CANCEL fails with `ConnectionAborted` (the inner error is
/// [`Error::PeerError`] or [`Error::Cancelled`]); a lost connection reads as end of stream.
#[derive(Debug)]
pub struct LinkStream {
    link: SimLink,
    rx: Vec<u8>,
    pos: usize,
}

impl LinkStream {
    /// The link.
    pub fn link(&self) -> &SimLink {
        &self.link
    }

    /// The link, to send KEEPALIVE or CANCEL between stream operations.
    pub fn link_mut(&mut self) -> &mut SimLink {
        &mut self.link
    }

    /// The link back (bytes received but not yet read are dropped).
    pub fn into_inner(self) -> SimLink {
        self.link
    }
}

impl Read for LinkStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.rx.len() {
            let message = match self.link.recv() {
                Ok(m) => m,
                Err(Error::Disconnected) => return Ok(0),
                Err(e) => return Err(e.into()),
            };
            match message.cmd {
                Command::Msg => {
                    self.rx = message.data;
                    self.pos = 0;
                }
                Command::Ping => self.link.send(Command::Ping, &message.data)?,
                Command::Keepalive => {}
                Command::Error => {
                    let status = message.error_status().unwrap_or(ErrorStatus::Other);
                    return Err(Error::PeerError(status).into());
                }
                Command::Cancel => return Err(Error::Cancelled.into()),
            }
        }
        let n = buf.len().min(self.rx.len() - self.pos);
        buf[..n].copy_from_slice(&self.rx[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for LinkStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(crate::MAX_MESSAGE_LEN);
        self.link.send(Command::Msg, &buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
