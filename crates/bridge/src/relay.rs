//! The relay over the simulated BLE link: bands in, TCP to the center out.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use wearpay_link::sim::{LinkConfig, LinkStats, SimCentral, SimLink, SimLinkReader, SimLinkWriter};
use wearpay_link::{Command, ErrorStatus, MAX_MESSAGE_LEN};

use crate::Error;
use crate::hostile::{FaultCounts, FaultPlan, Hostile, Sink, Tamper, Way, replay_session};

/// How often a pump looks up from a blocking read (shutdown, held chunks).
const POLL: Duration = Duration::from_millis(50);
/// Reports kept for [`BridgeHandle::reports`].
const REPORTS_KEPT: usize = 4096;
/// The longest a replayed session may run.
const REPLAY_LIMIT: Duration = Duration::from_secs(2);

/// How the bridge runs.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Where bands connect (the simulated link's listening address).
    pub listen: SocketAddr,
    /// The center's channel address.
    pub center: SocketAddr,
    /// The link settings (air profile, timeouts).
    pub link: LinkConfig,
    /// Attempts to reach the center for one band connection (at least 1).
    pub connect_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each.
    pub connect_backoff: Duration,
    /// The longest one connection attempt may take.
    pub connect_timeout: Duration,
    /// Bands relayed at once; more are told busy.
    pub max_bands: usize,
    /// A hostile bridge's plan (tests only); `None` relays honestly.
    pub faults: Option<FaultPlan>,
}

impl BridgeConfig {
    /// Listens on `listen`, relays to `center`: the BLE 4.2 profile, 4 attempts to reach
    /// the center 100, 200 and 400 ms apart, 2 s each, 64 bands at once, honest.
    pub fn new(listen: SocketAddr, center: SocketAddr) -> Self {
        Self {
            listen,
            center,
            link: LinkConfig::default(),
            connect_attempts: 4,
            connect_backoff: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(2),
            max_bands: 64,
            faults: None,
        }
    }
}

/// Which side ended a relayed connection first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The band (the link closed or failed).
    Band,
    /// The center (the TCP connection closed or failed).
    Center,
    /// The center could not be reached; the band was told busy.
    CenterUnreachable,
    /// Too many bands at once; the band was told busy.
    Busy,
    /// The bridge shut down.
    Shutdown,
}

/// Traffic of one direction of a relayed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flow {
    /// Bytes received from the sending side.
    pub bytes: u64,
    /// Chunks received: MSG messages from the band, socket reads from the center.
    pub chunks: u64,
}

/// What one band connection did: sizes and timings only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    /// The connection's number, from 0 in accepting order.
    pub id: u64,
    /// From the band's link hello to the end.
    pub duration: Duration,
    /// The negotiated ATT_MTU.
    pub att_mtu: u16,
    /// Band → center.
    pub to_center: Flow,
    /// Center → band.
    pub to_band: Flow,
    /// The link's air statistics, both directions.
    pub link: LinkStats,
    /// Who ended it.
    pub ended_by: EndedBy,
}

/// State shared by the accept loop, the connections and the handles.
#[derive(Debug)]
struct Shared {
    config: BridgeConfig,
    stop: AtomicBool,
    /// An address that reaches the listener, to wake a blocked accept.
    wake: SocketAddr,
    next_id: AtomicU64,
    active: Mutex<BTreeMap<u64, Closer>>,
    reports: Mutex<Vec<ConnectionReport>>,
    hostile: Option<Arc<Hostile>>,
}

/// What closes one live connection from outside.
#[derive(Debug)]
struct Closer {
    band: SimLinkWriter,
    center: Option<TcpStream>,
}

impl Closer {
    fn close(&self) {
        self.band.close();
        if let Some(c) = &self.center {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The phone relay: accepts bands on the simulated BLE link and gives each its own TCP
/// connection to the center, copying bytes both ways without reading them.
///
/// ```no_run
/// use wearpay_bridge::{Bridge, BridgeConfig};
/// let config = BridgeConfig::new("127.0.0.1:7000".parse()?, "127.0.0.1:4433".parse()?);
/// Bridge::run(config)?; // until the process ends
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Bridge {
    central: SimCentral,
    shared: Arc<Shared>,
}

impl Bridge {
    /// Listens for bands as `config` says; [`Bridge::serve`] then relays.
    pub fn bind(config: BridgeConfig) -> Result<Self, Error> {
        if config.connect_attempts == 0 {
            return Err(Error::Config("connect_attempts must be at least 1"));
        }
        if config.max_bands == 0 {
            return Err(Error::Config("max_bands must be at least 1"));
        }
        let central = SimCentral::bind(config.listen, config.link)?;
        let mut wake = central.local_addr()?;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let hostile = config.faults.clone().map(|plan| Arc::new(Hostile::new(plan)));
        let shared = Arc::new(Shared {
            config,
            stop: AtomicBool::new(false),
            wake,
            next_id: AtomicU64::new(0),
            active: Mutex::new(BTreeMap::new()),
            reports: Mutex::new(Vec::new()),
            hostile,
        });
        Ok(Self { central, shared })
    }

    /// Binds and serves until the process ends.
    pub fn run(config: BridgeConfig) -> Result<(), Error> {
        Self::bind(config)?.serve()
    }

    /// The address bands connect to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.central.local_addr()?)
    }

    /// A handle to stop the bridge and read its reports from another thread.
    pub fn handle(&self) -> BridgeHandle {
        BridgeHandle { shared: self.shared.clone() }
    }

    /// Serves in a new thread.
    pub fn spawn(self) -> Result<RunningBridge, Error> {
        let handle = self.handle();
        let addr = self.local_addr()?;
        let thread = thread::Builder::new().name("bridge-accept".into()).spawn(move || self.serve())?;
        Ok(RunningBridge { handle, addr, thread })
    }

    /// Accepts bands and relays each in its own threads until [`BridgeHandle::shutdown`];
    /// then closes every connection and returns once all have ended.
    pub fn serve(self) -> Result<(), Error> {
        let shared = &self.shared;
        tracing::info!(
            listen = %self.central.local_addr()?,
            center = %shared.config.center,
            hostile = shared.hostile.is_some(),
            "bridge listening"
        );
        let mut connections: Vec<JoinHandle<()>> = Vec::new();
        while !shared.stop.load(Ordering::Acquire) {
            let accepted = self.central.accept();
            if shared.stop.load(Ordering::Acquire) {
                if let Ok(mut link) = accepted {
                    link.close();
                }
                break;
            }
            match accepted {
                Ok(link) => {
                    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                    let s = shared.clone();
                    match thread::Builder::new().name(alloc::format!("bridge-{id}")).spawn(move || relay(link, id, &s))
                    {
                        Ok(t) => connections.push(t),
                        Err(e) => tracing::warn!(error = %e, "cannot start a relay thread"),
                    }
                }
                // A band that fails its link hello is its own problem; keep accepting.
                Err(wearpay_link::Error::Io(e)) => {
                    tracing::warn!(error = %e, "accept failed");
                    thread::sleep(POLL);
                }
                Err(e) => tracing::info!(error = %e, "band link hello failed"),
            }
            connections.retain(|t| !t.is_finished());
        }
        for t in connections {
            let _ = t.join();
        }
        tracing::info!("bridge stopped");
        Ok(())
    }
}

/// Stops a bridge and reads its reports.
#[derive(Debug, Clone)]
pub struct BridgeHandle {
    shared: Arc<Shared>,
}

impl BridgeHandle {
    /// Stops accepting and closes every relayed connection (both sides).
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Release);
        for closer in lock(&self.shared.active).values() {
            closer.close();
        }
        // Wake the accept: a connection that closes at once fails its link hello.
        drop(TcpStream::connect_timeout(&self.shared.wake, Duration::from_secs(1)));
    }

    /// The reports of the connections that have ended (the last 4096).
    pub fn reports(&self) -> Vec<ConnectionReport> {
        lock(&self.shared.reports).clone()
    }

    /// Connections being relayed now.
    pub fn active(&self) -> usize {
        lock(&self.shared.active).len()
    }

    /// A hostile bridge's plan.
    pub fn fault_plan(&self) -> Option<&FaultPlan> {
        self.shared.hostile.as_ref().map(|h| h.plan())
    }

    /// The faults a hostile bridge committed so far (zero for an honest one).
    pub fn fault_counts(&self) -> FaultCounts {
        self.shared.hostile.as_ref().map(|h| h.counts()).unwrap_or_default()
    }
}

/// A bridge serving in its own thread.
#[derive(Debug)]
pub struct RunningBridge {
    handle: BridgeHandle,
    addr: SocketAddr,
    thread: JoinHandle<Result<(), Error>>,
}

impl RunningBridge {
    /// The address bands connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The handle.
    pub fn handle(&self) -> &BridgeHandle {
        &self.handle
    }

    /// Shuts down and waits for every connection to end.
    pub fn stop(self) -> Result<(), Error> {
        self.handle.shutdown();
        self.thread.join().unwrap_or(Err(Error::Config("the bridge thread panicked")))
    }
}

/// Connects to the center, retrying with doubling backoff.
fn connect_center(shared: &Shared) -> Result<TcpStream, Error> {
    let config = &shared.config;
    let mut wait = config.connect_backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match TcpStream::connect_timeout(&config.center, config.connect_timeout) {
            Ok(tcp) => {
                // Each chunk is a record or a flight: send it at once.
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(source) if attempt >= config.connect_attempts || shared.stop.load(Ordering::Acquire) => {
                return Err(Error::CenterUnreachable { addr: config.center, attempts: attempt, source });
            }
            Err(e) => {
                tracing::debug!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "center not reached; retrying");
                thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
        }
    }
}

/// Sends to the center.
struct CenterSink<'a>(&'a TcpStream);

impl Sink for CenterSink<'_> {
    fn put(&mut self, chunk: &[u8]) -> Result<(), Error> {
        Ok(self.0.write_all(chunk)?)
    }
}

/// Sends to the band, one MSG per chunk (split at the 65535-byte limit).
struct BandSink<'a>(&'a SimLinkWriter);

impl Sink for BandSink<'_> {
    fn put(&mut self, chunk: &[u8]) -> Result<(), Error> {
        for part in chunk.chunks(MAX_MESSAGE_LEN) {
            self.0.send(Command::Msg, part)?;
        }
        Ok(())
    }
}

/// Relays one band connection to its end.
fn relay(mut link: SimLink, id: u64, shared: &Arc<Shared>) {
    let started = Instant::now();
    let att_mtu = link.att_mtu();
    let stats = link.stats_handle();
    tracing::info!(conn = id, att_mtu, max_fragment = link.max_fragment_len(), "band connected");
    let report = |ended_by, to_center, to_band| {
        let r = ConnectionReport {
            id,
            duration: started.elapsed(),
            att_mtu,
            to_center,
            to_band,
            link: stats.get(),
            ended_by,
        };
        let air = r.link;
        tracing::info!(
            conn = id,
            ?ended_by,
            duration_ms = r.duration.as_millis() as u64,
            to_center_bytes = to_center.bytes,
            to_center_chunks = to_center.chunks,
            to_band_bytes = to_band.bytes,
            to_band_chunks = to_band.chunks,
            air_to_band_fragments = air.to_peripheral.fragments,
            air_to_band_bytes = air.to_peripheral.bytes_over_air,
            air_to_band_ms = air.to_peripheral.airtime.as_millis() as u64,
            air_to_center_fragments = air.to_central.fragments,
            air_to_center_bytes = air.to_central.bytes_over_air,
            air_to_center_ms = air.to_central.airtime.as_millis() as u64,
            "band connection closed"
        );
        let mut reports = lock(&shared.reports);
        if reports.len() == REPORTS_KEPT {
            reports.remove(0);
        }
        reports.push(r);
    };

    if lock(&shared.active).len() >= shared.config.max_bands {
        tracing::warn!(conn = id, "too many bands: busy");
        let _ = link.send_error(ErrorStatus::Busy);
        link.close();
        return report(EndedBy::Busy, Flow::default(), Flow::default());
    }
    let center = match connect_center(shared) {
        Ok(tcp) => tcp,
        Err(e) => {
            tracing::warn!(conn = id, error = %e, "center unreachable: band told busy");
            let _ = link.send_error(ErrorStatus::Busy);
            link.close();
            return report(EndedBy::CenterUnreachable, Flow::default(), Flow::default());
        }
    };
    let (reader, writer) = link.split();
    lock(&shared.active).insert(id, Closer { band: writer.clone(), center: center.try_clone().ok() });
    // A shutdown that went through the list before this connection was in it.
    if shared.stop.load(Ordering::Acquire) {
        writer.close();
        let _ = center.shutdown(Shutdown::Both);
    }

    let replayer = shared.hostile.as_ref().and_then(|h| h.session_to_replay(id)).map(|chunks| {
        let addr = shared.config.center;
        thread::spawn(move || match replay_session(addr, &chunks, REPLAY_LIMIT) {
            Ok((written, read)) => tracing::info!(conn = id, written, read, "recorded session replayed to the center"),
            Err(e) => tracing::info!(conn = id, error = %e, "recorded session replay failed"),
        })
    });
    let tampers = shared.hostile.as_ref().map(|h| (h.tamper(id, Way::ToCenter), h.tamper(id, Way::ToBand)));
    let (up_tamper, down_tamper) = match tampers {
        Some((u, d)) => (Some(u), Some(d)),
        None => (None, None),
    };

    let ended = Arc::new(OnceLock::new());
    let down = {
        let (writer, ended, shared) = (writer.clone(), ended.clone(), shared.clone());
        let tcp = center.try_clone();
        thread::spawn(move || match tcp {
            Ok(tcp) => pump_to_band(&tcp, &writer, down_tamper, &ended, &shared.stop),
            Err(e) => {
                tracing::warn!(error = %e, "cannot share the center socket");
                let _ = ended.set(EndedBy::Center);
                writer.close();
                (Flow::default(), None)
            }
        })
    };
    let (to_center, up_seen) = pump_to_center(reader, &writer, &center, up_tamper, &ended, &shared.stop);
    let (to_band, down_seen) = down.join().unwrap_or_default();
    if let Some(t) = replayer {
        let _ = t.join();
    }
    lock(&shared.active).remove(&id);
    if let Some(h) = &shared.hostile {
        h.record(up_seen.unwrap_or_default(), down_seen.unwrap_or_default());
    }
    report(ended.get().copied().unwrap_or(EndedBy::Band), to_center, to_band);
}

/// Ends the connection on both sides, remembering who ended it first.
fn end_both(ended: &OnceLock<EndedBy>, by: EndedBy, writer: &SimLinkWriter, center: &TcpStream) {
    let _ = ended.set(by);
    writer.close();
    let _ = center.shutdown(Shutdown::Both);
}

/// Band → center: the data of each MSG goes to the center as it is.
fn pump_to_center(
    mut reader: SimLinkReader,
    writer: &SimLinkWriter,
    center: &TcpStream,
    mut tamper: Option<Tamper>,
    ended: &OnceLock<EndedBy>,
    stop: &AtomicBool,
) -> (Flow, Option<Vec<Vec<u8>>>) {
    let mut flow = Flow::default();
    let mut sink = CenterSink(center);
    let by = loop {
        if stop.load(Ordering::Acquire) {
            break EndedBy::Shutdown;
        }
        let sent = match reader.recv_timeout(POLL) {
            Ok(m) => match m.cmd {
                Command::Msg => {
                    flow.bytes += m.data.len() as u64;
                    flow.chunks += 1;
                    match &mut tamper {
                        Some(t) => t.relay(m.data, &mut sink),
                        None => sink.put(&m.data),
                    }
                }
                // The link's own liveness check: answered here, not relayed.
                Command::Ping => {
                    let _ = writer.send(Command::Ping, &m.data);
                    Ok(())
                }
                Command::Keepalive => Ok(()),
                Command::Error => {
                    tracing::debug!(status = ?m.error_status(), "the band refused a message");
                    Ok(())
                }
                Command::Cancel => Ok(()),
            },
            Err(wearpay_link::Error::RecvTimeout) => match &mut tamper {
                Some(t) => t.tick(&mut sink),
                None => Ok(()),
            },
            // A framing fault: the link answered it with ERROR and is ready for the next.
            Err(e) if e.status().is_some() => {
                tracing::debug!(error = %e, "framing fault from the band");
                Ok(())
            }
            Err(wearpay_link::Error::Disconnected) => break EndedBy::Band,
            Err(e) => {
                tracing::debug!(error = %e, "band link failed");
                break EndedBy::Band;
            }
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "center write failed");
            break EndedBy::Center;
        }
    };
    end_both(ended, by, writer, center);
    (flow, tamper.map(Tamper::into_seen))
}

/// Center → band: what each socket read returns goes to the band as one MSG.
fn pump_to_band(
    center: &TcpStream,
    writer: &SimLinkWriter,
    mut tamper: Option<Tamper>,
    ended: &OnceLock<EndedBy>,
    stop: &AtomicBool,
) -> (Flow, Option<Vec<Vec<u8>>>) {
    let mut flow = Flow::default();
    let mut sink = BandSink(writer);
    let mut buf = alloc::vec![0u8; MAX_MESSAGE_LEN];
    let by = match center.set_read_timeout(Some(POLL)) {
        Err(_) => EndedBy::Center,
        Ok(()) => loop {
            if stop.load(Ordering::Acquire) {
                break EndedBy::Shutdown;
            }
            let sent = match (&*center).read(&mut buf) {
                Ok(0) => break EndedBy::Center,
                Ok(n) => {
                    flow.bytes += n as u64;
                    flow.chunks += 1;
                    match &mut tamper {
                        Some(t) => t.relay(buf[..n].to_vec(), &mut sink),
                        None => sink.put(&buf[..n]),
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => match &mut tamper {
                    Some(t) => t.tick(&mut sink),
                    None => Ok(()),
                },
                Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "center read failed");
                    break EndedBy::Center;
                }
            };
            if sent.is_err() {
                break EndedBy::Band;
            }
        },
    };
    end_both(ended, by, writer, center);
    (flow, tamper.map(Tamper::into_seen))
}
