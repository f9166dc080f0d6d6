//! `wearpay bridge`: the phone relay between bands and the center.
//!
//! With `--sim ADDR` it listens for bands on the simulated BLE link; with `--ble` (a build
//! with the `ble` feature) it is a real BLE central. Either way it relays bytes to the
//! center at `--center ADDR` without reading them, and logs only sizes and timings.
use core::net::SocketAddr;
use std::io;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use wearpay_bridge::{Bridge, BridgeConfig};
use wearpay_link::AirProfile;
use wearpay_link::sim::LinkConfig;

/// `wearpay bridge`
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Where bands connect over the simulated BLE link.
    #[arg(long, required_unless_present = "ble")]
    sim: Option<SocketAddr>,
    /// The center's channel address.
    #[arg(long)]
    center: SocketAddr,
    /// The air model of the link (and the ATT_MTU the bridge proposes).
    #[arg(long, value_enum, default_value = "ble42")]
    profile: ProfileArg,
    /// Be a real BLE central instead (needs a Bluetooth adapter).
    #[arg(long, conflicts_with = "sim")]
    ble: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// Bluetooth 4.2 without extensions: ATT_MTU 23, 27-byte LL payloads.
    Ble42,
    /// Bluetooth 5, LE 1M with data length extension: ATT_MTU 247.
    Ble5,
}

impl From<ProfileArg> for AirProfile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Ble42 => Self::ble42(),
            ProfileArg::Ble5 => Self::ble5_1m(),
        }
    }
}

pub fn run(args: BridgeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt().with_writer(io::stderr).with_target(false).with_ansi(false).init();
    if args.ble {
        return run_ble(&args);
    }
    let Some(listen) = args.sim else { bail!("--sim ADDR is needed without --ble") };
    let mut config = BridgeConfig::new(listen, args.center);
    config.link = LinkConfig::new(args.profile.into());
    let bridge = Bridge::bind(config).with_context(|| format!("listening on {listen}"))?;
    eprintln!("bridge: bands on {}, center at {}", bridge.local_addr()?, args.center);
    bridge.serve()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "ble")]
fn run_ble(args: &BridgeArgs) -> anyhow::Result<ExitCode> {
    let mut config = wearpay_bridge::ble::BleConfig::new(args.center);
    config.profile = args.profile.into();
    wearpay_bridge::ble::run(config)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "ble"))]
fn run_ble(_: &BridgeArgs) -> anyhow::Result<ExitCode> {
    bail!("this wearpay was built without BLE support (build with `--features ble`)")
}
