//! The relay as a real BLE central (the `ble` feature), over the platform's Bluetooth
//! stack through `btleplug` (BlueZ over D-Bus on Linux).
//!
//! It scans for a band offering [`SERVICE_UUID`], connects, reads the control point length,
//! subscribes to the notify characteristic, and then relays exactly as the simulated
//! bridge does: notifications are reassembled into messages, the data of each MSG goes to
//! the center; what each read from the center returns is cut into fragments and written
//! (Write Without Response) to the write characteristic. One band at a time; when either
//! side drops, both are closed and the bridge scans again.
//!
//! No test runs this: it needs a Bluetooth adapter and a band.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant as StdInstant;

use btleplug::api::{Central, CentralEvent, Characteristic, Manager as _, Peripheral as _, ScanFilter, WriteType};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wearpay_link::{
    AirProfile, AirStats, CONTROL_POINT_LENGTH_CHARACTERISTIC_UUID, Command, ErrorStatus, Instant, MAX_MESSAGE_LEN,
    NOTIFY_CHARACTERISTIC_UUID, Reassembler, SERVICE_UUID, WRITE_CHARACTERISTIC_UUID, fragment, max_fragment_len,
};

use crate::Error;

/// How the BLE bridge runs.
#[derive(Debug, Clone)]
pub struct BleConfig {
    /// The center's channel address.
    pub center: SocketAddr,
    /// The air model used for the statistics (its ATT_MTU is replaced by the negotiated one).
    pub profile: AirProfile,
    /// Attempts to reach the center per band connection (at least 1).
    pub connect_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each.
    pub connect_backoff: Duration,
    /// The longest one attempt (TCP connect, BLE connect) may take.
    pub connect_timeout: Duration,
    /// How long to scan before looking at what was found.
    pub scan_interval: Duration,
}

impl BleConfig {
    /// Relays to `center`, with the BLE 4.2 profile for statistics, 4 attempts to reach
    /// the center 100, 200 and 400 ms apart, 5 s per attempt, scans of 1 s.
    pub fn new(center: SocketAddr) -> Self {
        Self {
            center,
            profile: AirProfile::ble42(),
            connect_attempts: 4,
            connect_backoff: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(5),
            scan_interval: Duration::from_secs(1),
        }
    }
}

fn uuid(u: wearpay_link::Uuid) -> uuid::Uuid {
    uuid::Uuid::from_u128(u.as_u128())
}

/// Runs the BLE bridge until the process ends (or the adapter fails).
pub fn run(config: BleConfig) -> Result<(), Error> {
    if config.connect_attempts == 0 {
        return Err(Error::Config("connect_attempts must be at least 1"));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(serve(config))
}

async fn serve(config: BleConfig) -> Result<(), Error> {
    let manager = Manager::new().await?;
    let adapter =
        manager.adapters().await?.into_iter().next().ok_or(Error::Band("no Bluetooth adapter on this machine"))?;
    tracing::info!(center = %config.center, "BLE bridge scanning");
    loop {
        let band = find_band(&adapter, &config).await?;
        match relay(&adapter, &band, &config).await {
            Ok(()) => {}
            Err(e) => tracing::info!(error = %e, "band session ended"),
        }
        let _ = band.disconnect().await;
    }
}

/// Scans until a band offering the service shows up.
async fn find_band(adapter: &Adapter, config: &BleConfig) -> Result<Peripheral, Error> {
    adapter.start_scan(ScanFilter { services: alloc::vec![uuid(SERVICE_UUID)] }).await?;
    loop {
        tokio::time::sleep(config.scan_interval).await;
        for p in adapter.peripherals().await? {
            let offers = p.properties().await?.is_some_and(|props| props.services.contains(&uuid(SERVICE_UUID)));
            if offers {
                adapter.stop_scan().await?;
                return Ok(p);
            }
        }
    }
}

struct Gatt {
    write: Characteristic,
    notify: Characteristic,
    max_fragment: usize,
    att_mtu: u16,
}

/// Connects and finds the characteristics and the fragment size.
async fn open(band: &Peripheral, config: &BleConfig) -> Result<Gatt, Error> {
    tokio::time::timeout(config.connect_timeout, band.connect())
        .await
        .map_err(|_| Error::Band("connection timed out"))??;
    band.discover_services().await?;
    let find =
        |u| band.characteristics().into_iter().find(|c| c.uuid == uuid(u) && c.service_uuid == uuid(SERVICE_UUID));
    let write = find(WRITE_CHARACTERISTIC_UUID).ok_or(Error::Band("no write characteristic"))?;
    let notify = find(NOTIFY_CHARACTERISTIC_UUID).ok_or(Error::Band("no notify characteristic"))?;
    let cpl = find(CONTROL_POINT_LENGTH_CHARACTERISTIC_UUID).ok_or(Error::Band("no control point length"))?;
    let value = band.read(&cpl).await?;
    let [hi, lo] = value[..] else { return Err(Error::Band("control point length is not 2 bytes")) };
    // The platform's negotiated MTU; 23, the floor, when it does not tell.
    let att_mtu = band.mtu().clamp(wearpay_link::ATT_MTU_MIN, wearpay_link::ATT_MTU_MAX);
    let max_fragment = max_fragment_len(att_mtu, u16::from_be_bytes([hi, lo]))?;
    band.subscribe(&notify).await?;
    Ok(Gatt { write, notify, max_fragment, att_mtu })
}

async fn connect_center(config: &BleConfig) -> Result<TcpStream, Error> {
    let mut wait = config.connect_backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tried = tokio::time::timeout(config.connect_timeout, TcpStream::connect(config.center)).await;
        let e = match tried {
            Ok(Ok(tcp)) => {
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Ok(Err(e)) => e,
            Err(_) => std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
        };
        if attempt >= config.connect_attempts {
            return Err(Error::CenterUnreachable { addr: config.center, attempts: attempt, source: e });
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
    }
}

/// Writes one message to the band, fragment by fragment.
async fn send(
    band: &Peripheral,
    gatt: &Gatt,
    cmd: Command,
    data: &[u8],
    stats: &mut AirStats,
    profile: &AirProfile,
) -> Result<(), Error> {
    let mut lens = Vec::new();
    for f in fragment(cmd, data, gatt.max_fragment)? {
        band.write(&gatt.write, &f.to_vec(), WriteType::WithoutResponse).await?;
        lens.push(f.len());
    }
    stats.record_message(profile, &lens);
    Ok(())
}

/// Relays one band session to its end.
async fn relay(adapter: &Adapter, band: &Peripheral, config: &BleConfig) -> Result<(), Error> {
    let started = StdInstant::now();
    let gatt = open(band, config).await?;
    let profile = config.profile.with_att_mtu(gatt.att_mtu);
    let (mut to_band_air, mut to_center_air) = (AirStats::default(), AirStats::default());
    tracing::info!(att_mtu = gatt.att_mtu, max_fragment = gatt.max_fragment, "band connected over BLE");
    let mut tcp = match connect_center(config).await {
        Ok(tcp) => tcp,
        Err(e) => {
            tracing::warn!(error = %e, "center unreachable: band told busy");
            let _ = send(band, &gatt, Command::Error, &[ErrorStatus::Busy.as_u8()], &mut to_band_air, &profile).await;
            return Err(e);
        }
    };
    let mut notifications = band.notifications().await?;
    let mut events = adapter.events().await?;
    let epoch = StdInstant::now();
    let now = || Instant::from_millis(u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX));
    let mut rx = Reassembler::new(gatt.max_fragment)?;
    let mut rx_lens = Vec::new();
    let mut buf = alloc::vec![0u8; MAX_MESSAGE_LEN];
    let (mut to_center, mut to_band) = (0u64, 0u64);
    let why = loop {
        tokio::select! {
            n = notifications.next() => {
                let Some(n) = n else { break "band gone" };
                if n.uuid != gatt.notify.uuid {
                    continue;
                }
                rx_lens.push(n.value.len());
                match rx.push(&n.value, now()) {
                    Ok(None) => {}
                    Ok(Some(m)) => {
                        to_center_air.record_message(&profile, &core::mem::take(&mut rx_lens));
                        match m.cmd {
                            Command::Msg => {
                                to_center += m.data.len() as u64;
                                if tcp.write_all(&m.data).await.is_err() {
                                    break "center write failed";
                                }
                            }
                            Command::Ping => send(band, &gatt, Command::Ping, &m.data, &mut to_band_air, &profile).await?,
                            _ => {}
                        }
                    }
                    Err(e) => {
                        to_center_air.record_fragments(&profile, &core::mem::take(&mut rx_lens));
                        if let Some(status) = e.status() {
                            send(band, &gatt, Command::Error, &[status.as_u8()], &mut to_band_air, &profile).await?;
                        }
                    }
                }
            }
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => break "center closed",
                Ok(n) => {
                    to_band += n as u64;
                    send(band, &gatt, Command::Msg, &buf[..n], &mut to_band_air, &profile).await?;
                }
            },
            event = events.next() => match event {
                Some(CentralEvent::DeviceDisconnected(id)) if id == band.id() => break "band disconnected",
                None => break "adapter gone",
                _ => {}
            },
            // A stalled message gets the band an ERROR (timeout), as on the simulated link.
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Err(e) = rx.poll(now()) {
                    to_center_air.record_fragments(&profile, &core::mem::take(&mut rx_lens));
                    if let Some(status) = e.status() {
                        send(band, &gatt, Command::Error, &[status.as_u8()], &mut to_band_air, &profile).await?;
                    }
                }
            }
        }
    };
    let _ = tcp.shutdown().await;
    tracing::info!(
        why,
        duration_ms = started.elapsed().as_millis() as u64,
        to_center_bytes = to_center,
        to_band_bytes = to_band,
        air_to_band_fragments = to_band_air.fragments,
        air_to_band_ms = to_band_air.airtime.as_millis() as u64,
        air_to_center_fragments = to_center_air.fragments,
        air_to_center_ms = to_center_air.airtime.as_millis() as u64,
        "band connection closed"
    );
    Ok(())
}
