//! `wearpay`: the command-line front end over the wearpay crates.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc_count;
mod bench;
mod bench_crypto;
mod bench_payment;
mod bridge;
mod center;
mod demo;
mod fixture;
mod load;
mod pki;
mod terminal;
mod tlcp;

/// Bank-grade payment from a wearable, over a TLCP channel relayed by an untrusted phone.
#[derive(Debug, Parser)]
#[command(name = "wearpay", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole system in one process: pay in four modes, then what protects the user.
    Demo(demo::DemoArgs),
    /// Certificates, keys, CSRs and CRLs (SM2 or RSA).
    Pki(pki::PkiArgs),
    /// TLCP (GB/T 38636) server and client, like `openssl s_server` and `s_client`.
    Tlcp(tlcp::TlcpArgs),
    /// The processing center: init, serve, and the registry and ledger commands.
    Center(center::CenterArgs),
    /// Many simulated bands paying a center over real channels, then a ledger check.
    Load(load::LoadArgs),
    /// A simulated band: enroll with an activation code, pay, settle, receipts.
    Terminal(terminal::TerminalArgs),
    /// Performance figures measured in this process.
    Bench(bench::BenchArgs),
    /// The phone relay: bands on the (simulated or real) BLE link to the center over TCP.
    Bridge(bridge::BridgeArgs),
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Pki(args) => pki::run(args),
        Command::Tlcp(args) => tlcp::run(args),
        Command::Center(args) => center::run(args),
        Command::Load(args) => load::run(args),
        Command::Terminal(args) => terminal::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Bridge(args) => bridge::run(args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("wearpay: {err:#}");
            ExitCode::FAILURE
        }
    }
}
