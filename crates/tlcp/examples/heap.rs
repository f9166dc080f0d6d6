//! The terminal side's peak heap during a TLCP handshake and one full-size exchange.
//!
//! `cargo run --release -p wearpay-tlcp --example heap` prints, for full 16 KiB records
//! and for a negotiated max_fragment_length of 512 (and the other RFC 6066 sizes), the
//! bytes the client connection held at its peak, above what its configuration (keys,
//! certificates, verifier) already held. The server runs in a child process (this same
//! program with `serve`) over pipes, so that nothing it allocates is counted; the client
//! reads the pipe into a 4 KiB buffer on the stack, as a band's driver would.
//!
//! Every allocation of this process is counted by a global allocator (`peak_alloc`).
#![allow(clippy::unwrap_used)]
extern crate alloc;

use alloc::sync::Arc;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use peak_alloc::PeakAlloc;
use wearpay_crypto::{PrivateKey, portable::PROVIDER};
use wearpay_pki::{Certificate, load_private_key};
use wearpay_tlcp::msgs::{CertificateDer, MaxFragmentLength};
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::{
    ClientConfig, ClientConnection, DEFAULT_SUITES, PkiClientVerifier, PkiServerVerifier, Profile, ServerConfig,
    ServerConnection,
};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/tlcp/ecc_sm4_gcm_sm3");

type Result<T> = core::result::Result<T, Box<dyn core::error::Error>>;

fn cert(name: &str) -> Result<Certificate> {
    Ok(Certificate::parse(&std::fs::read(format!("{VECTORS}/certs/{name}.crt"))?)?)
}

fn key(name: &str) -> Result<Arc<dyn PrivateKey>> {
    Ok(load_private_key(&PROVIDER, &std::fs::read(format!("{VECTORS}/keys/{name}.key"))?, None)?.into())
}

fn der(c: &Certificate) -> CertificateDer {
    CertificateDer(c.as_der().to_vec())
}

/// The center: echoes each record, answers close_notify, over standard input and output.
fn serve() -> Result<()> {
    let config = Arc::new(ServerConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile: Profile::Auto,
        sign_key: key("srv_sign")?,
        enc_key: key("srv_enc")?,
        cert_chain: vec![der(&cert("srv_sign")?), der(&cert("srv_enc")?)],
        verifier: Arc::new(PkiClientVerifier::new(PROVIDER, vec![cert("ca")?], vec![], vec![])),
        session_store: Arc::new(MemorySessionStore::new(16, 3600)),
        session_lifetime: 3600,
    });
    let mut conn = ServerConnection::new(config);
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let result = conn.handle_input(&buf[..n], system_time());
        while let Some(data) = conn.read_application_data() {
            conn.send_application_data(&data)?;
        }
        if conn.peer_closed() {
            conn.send_close_notify();
        }
        output.write_all(&conn.take_output())?;
        output.flush()?;
        result?;
        if conn.peer_closed() {
            return Ok(());
        }
    }
}

struct Figures {
    handshake_peak: usize,
    held_after_handshake: usize,
    exchange_peak: usize,
}

/// One terminal session against a fresh child server: handshake, `payload` bytes out and
/// back (in one call, or `chunked` a fragment at a time), close_notify both ways.
fn measure(mfl: Option<MaxFragmentLength>, profile: Profile, payload: usize, chunked: bool) -> Result<Figures> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut to_server = child.stdin.take().ok_or("no stdin")?;
    let mut from_server = child.stdout.take().ok_or("no stdout")?;
    let config = Arc::new(ClientConfig {
        provider: PROVIDER,
        suites: DEFAULT_SUITES.to_vec(),
        profile,
        sign_key: key("cli_sign")?,
        cert_chain: vec![der(&cert("cli_sign")?), der(&cert("cli_enc")?)],
        verifier: Arc::new(PkiServerVerifier::new(PROVIDER, vec![cert("ca")?], vec![])),
        server_name: "localhost".into(),
        session_store: Arc::new(MemorySessionStore::new(1, 3600)),
        max_fragment_length: mfl,
        offer_session_ticket: false,
    });
    let data = vec![0x42u8; payload];
    // Warm lazily built tables (SM2 precomputation) outside the measurement.
    let _ = ClientConnection::new(config.clone(), system_time())?;

    let mut buf = [0u8; 4096];
    let base = HEAP.current_usage();
    HEAP.reset_peak_usage();
    // The configuration outlives the connection (a band keeps it in flash or RAM anyway).
    let mut conn = ClientConnection::new(config.clone(), system_time())?;
    to_server.write_all(&conn.take_output())?;
    while conn.is_handshaking() {
        let n = from_server.read(&mut buf)?;
        if n == 0 {
            return Err("server hung up".into());
        }
        conn.handle_input(&buf[..n], system_time())?;
        to_server.write_all(&conn.take_output())?;
    }
    let handshake_peak = HEAP.peak_usage() - base;
    let held_after_handshake = HEAP.current_usage() - base;
    HEAP.reset_peak_usage();
    // A band with small records hands the channel a record's worth at a time.
    for chunk in data.chunks(if chunked { conn.max_fragment_len() } else { data.len() }) {
        conn.send_application_data(chunk)?;
        to_server.write_all(&conn.take_output())?;
    }
    let mut received = 0;
    while received < data.len() {
        let n = from_server.read(&mut buf)?;
        if n == 0 {
            return Err("server hung up".into());
        }
        conn.handle_input(&buf[..n], system_time())?;
        while let Some(record) = conn.read_application_data() {
            received += record.len();
        }
        to_server.write_all(&conn.take_output())?;
    }
    conn.send_close_notify();
    to_server.write_all(&conn.take_output())?;
    while !conn.peer_closed() {
        let n = from_server.read(&mut buf)?;
        if n == 0 {
            return Err("no close_notify".into());
        }
        conn.handle_input(&buf[..n], system_time())?;
    }
    let exchange_peak = HEAP.peak_usage().max(base) - base;
    drop(conn);
    drop(to_server);
    child.wait()?;
    Ok(Figures { handshake_peak, held_after_handshake, exchange_peak })
}

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        return serve();
    }
    let payload = 16 * 1024;
    println!("terminal-side heap in bytes, client authenticated, the suite negotiated is ECC_SM4_GCM_SM3;");
    println!("after the handshake {payload} bytes go out and come back, written in one call or a fragment at a time");
    println!(
        "{:<8} {:<8} {:>15} {:>11} {:>21} {:>21}",
        "records", "profile", "handshake peak", "held after", "exchange peak (1 call)", "exchange peak (chunks)"
    );
    let sizes = [
        ("16384", None),
        ("4096", Some(MaxFragmentLength::Pow12)),
        ("2048", Some(MaxFragmentLength::Pow11)),
        ("1024", Some(MaxFragmentLength::Pow10)),
        ("512", Some(MaxFragmentLength::Pow9)),
    ];
    for (name, mfl) in sizes {
        for profile in [Profile::Seed, Profile::Tlcp] {
            let whole = measure(mfl, profile, payload, false)?;
            let chunked = measure(mfl, profile, payload, true)?;
            println!(
                "{:<8} {:<8} {:>15} {:>11} {:>21} {:>21}",
                name,
                profile,
                whole.handshake_peak.max(chunked.handshake_peak),
                whole.held_after_handshake,
                whole.exchange_peak,
                chunked.exchange_peak
            );
        }
    }
    println!("(above what the configuration itself holds: keys, certificates, verifier, session store;");
    println!(" exchange peaks include what the connection holds after the handshake)");
    Ok(())
}
