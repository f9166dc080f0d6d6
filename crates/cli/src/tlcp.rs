//! `wearpay tlcp server` and `wearpay tlcp client`: the TLCP (GB/T 38636-2020) counterparts
//! of `openssl s_server` and `s_client`, over the sans-IO connections of `wearpay-tlcp`.
//!
//! The server echoes every application record back and logs each handshake on standard
//! error. The client sends its standard input, prints what comes back, and exits 0 only
//! when every session ended cleanly (close_notify both ways); otherwise it prints one line
//! saying which step failed and which alert was sent or received.
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use core::time::Duration;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use wearpay_crypto::{PrivateKey, SigningKey};
use wearpay_pki::{Certificate, Crl, files};
use wearpay_shangmi::PROVIDER;
use wearpay_tlcp::msgs::{AlertDescription, CertificateDer, MaxFragmentLength};
use wearpay_tlcp::session::MemorySessionStore;
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::{
    CipherSuite, ClientConfig, ClientConnection, DEFAULT_SUITES, Error, Event, HandshakeSummary, NegotiatedOrder,
    PkiClientVerifier, PkiServerVerifier, Profile, ServerConfig, ServerConnection, usable_suites,
};

/// `wearpay tlcp ...`
#[derive(Debug, Args)]
pub struct TlcpArgs {
    #[command(subcommand)]
    command: TlcpCommand,
}

#[derive(Debug, Subcommand)]
enum TlcpCommand {
    /// Serve TLCP (the center's end): echo each application record back, log each handshake.
    Server(ServerArgs),
    /// Connect over TLCP (the terminal's end): send standard input, print what comes back.
    Client(ClientArgs),
}

/// The Finished order (see docs/PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    /// The patent's order: the center's Finished first. Needs a wearpay peer.
    Seed,
    /// GB/T 38636's standard order: any conforming TLCP peer.
    Tlcp,
    /// Ask for the seed order, fall back to the standard one (a server serves both).
    Auto,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Seed => Profile::Seed,
            ProfileArg::Tlcp => Profile::Tlcp,
            ProfileArg::Auto => Profile::Auto,
        }
    }
}

/// What both ends take.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Signing certificate (PEM or DER).
    #[arg(long, value_name = "FILE")]
    sign_cert: PathBuf,
    /// Signing private key (PKCS#8, SEC1 or PKCS#1; PEM or DER; encrypted PKCS#8 with --key-password-file).
    #[arg(long, value_name = "FILE")]
    sign_key: PathBuf,
    /// Trusted root certificates for the peer (a PEM bundle).
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// Intermediate CA certificates, sent after this end's certificates (a PEM bundle).
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,
    /// A CRL to check the peer's certificates against (repeatable).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// A file whose first line is the password of encrypted private keys.
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// Finished order: seed (the patent's), tlcp (GB/T 38636's), or auto (seed when the peer agrees,
    /// else tlcp). auto is the default so that either end meets any TLCP peer.
    #[arg(long, value_enum, default_value_t = ProfileArg::Auto)]
    profile: ProfileArg,
    /// Cipher suites, best first, separated by commas or colons: GB/T names (ECC_SM4_GCM_SM3) or
    /// OpenSSL/Tongsuo ones (ECC-SM2-SM4-GCM-SM3). Default: every suite the provider can run.
    #[arg(long, value_name = "LIST")]
    cipher: Option<String>,
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// Address to listen on, such as 0.0.0.0:4433; port 0 picks a free one. The first line on
    /// standard output is `listening on ADDR`.
    #[arg(long, value_name = "ADDR")]
    listen: String,
    #[command(flatten)]
    common: CommonArgs,
    /// Encryption certificate (receives the pre-master secret).
    #[arg(long, value_name = "FILE")]
    enc_cert: PathBuf,
    /// Encryption private key.
    #[arg(long, value_name = "FILE")]
    enc_key: PathBuf,
    /// Serve one connection, then exit: 0 if its session ended cleanly.
    #[arg(long)]
    once: bool,
    /// How many sessions to keep for resumption (0: none).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    session_cache: usize,
    /// How long a session may be resumed, in seconds (at most 86400).
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    session_lifetime: u64,
    /// Drop a connection idle for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    idle_timeout: u64,
}

#[derive(Debug, Args)]
struct ClientArgs {
    /// The server, as HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    connect: String,
    #[command(flatten)]
    common: CommonArgs,
    /// Encryption certificate, sent after the signing one (Tongsuo's servers insist on it).
    #[arg(long, value_name = "FILE", requires = "enc_key")]
    enc_cert: Option<PathBuf>,
    /// Encryption private key (checked against --enc-cert; TLCP's client never uses it).
    #[arg(long, value_name = "FILE", requires = "enc_cert")]
    enc_key: Option<PathBuf>,
    /// The name the server's certificates must carry (CN or subjectAltName). Default: the host
    /// of --connect. An empty name skips the check.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// After the first session, connect N more times, resuming the session.
    #[arg(long, value_name = "N", default_value_t = 0)]
    reconnect: u32,
    /// Ask for records of at most this many bytes (RFC 6066).
    #[arg(long, value_name = "BYTES", value_parser = ["512", "1024", "2048", "4096"])]
    max_fragment: Option<String>,
    /// Offer the session_ticket extension (some servers expect it).
    #[arg(long)]
    session_ticket: bool,
    /// After standard input ends, wait this long for the echo before closing.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    wait: f64,
    /// Give up on connecting, the handshake or the close after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    timeout: f64,
}

pub fn run(args: TlcpArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        TlcpCommand::Server(a) => server(a),
        TlcpCommand::Client(a) => client(a),
    }
}

// ---- configuration ----

/// Parses a cipher list: names separated by commas, colons or spaces.
pub fn parse_cipher_list(list: &str) -> anyhow::Result<Vec<CipherSuite>> {
    let mut suites = Vec::new();
    for name in list.split([',', ':', ' ']).filter(|n| !n.is_empty()) {
        let suite = CipherSuite::from_name(name).ok_or_else(|| anyhow!("unknown cipher suite {name:?}"))?;
        if suite.params().is_none() {
            bail!("cipher suite {name} is not implemented");
        }
        if !suites.contains(&suite) {
            suites.push(suite);
        }
    }
    if suites.is_empty() {
        bail!("--cipher names no suite");
    }
    let usable = usable_suites(&PROVIDER, &suites);
    if usable.is_empty() {
        bail!("the software crypto provider can run none of {list:?} (SM1 needs a hardware secure element)");
    }
    Ok(usable)
}

fn suites(list: Option<&str>) -> anyhow::Result<Vec<CipherSuite>> {
    match list {
        Some(list) => parse_cipher_list(list),
        None => Ok(usable_suites(&PROVIDER, DEFAULT_SUITES)),
    }
}

fn read_password(path: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(Some(line.strip_suffix(b"\r").unwrap_or(line).to_vec()))
}

/// Loads a key and checks that it belongs to `cert`.
fn load_key(
    path: &Path,
    password: Option<&[u8]>,
    cert: &Certificate,
    what: &str,
) -> anyhow::Result<Arc<dyn PrivateKey>> {
    let key = files::read_private_key(&PROVIDER, path, password)
        .with_context(|| format!("loading the {what} key {}", path.display()))?;
    let cert_key = cert.public_key().with_context(|| format!("the {what} certificate's key"))?;
    if &SigningKey::public_key(key.as_ref()) != cert_key {
        bail!("the {what} key {} does not match the {what} certificate", path.display());
    }
    Ok(key.into())
}

fn load_cert(path: &Path, what: &str) -> anyhow::Result<Certificate> {
    files::read_certificate(path).with_context(|| format!("loading the {what} certificate {}", path.display()))
}

fn der(cert: &Certificate) -> CertificateDer {
    CertificateDer(cert.as_der().to_vec())
}

/// Roots, chain and CRLs.
struct Trust {
    roots: Vec<Certificate>,
    chain: Vec<Certificate>,
    crls: Vec<Crl>,
}

fn load_trust(common: &CommonArgs) -> anyhow::Result<Trust> {
    let roots = files::read_certificates(&common.ca)
        .with_context(|| format!("loading the CA certificates {}", common.ca.display()))?;
    let chain = match &common.chain {
        Some(p) => files::read_certificates(p).with_context(|| format!("loading the chain {}", p.display()))?,
        None => Vec::new(),
    };
    let crls = common
        .crl
        .iter()
        .map(|p| files::read_crl(p).with_context(|| format!("loading the CRL {}", p.display())))
        .collect::<anyhow::Result<_>>()?;
    Ok(Trust { roots, chain, crls })
}

fn order_name(order: NegotiatedOrder) -> &'static str {
    match order {
        NegotiatedOrder::Seed => "seed",
        NegotiatedOrder::Tlcp => "tlcp",
    }
}

fn alert_name(a: AlertDescription) -> String {
    a.as_str().map_or_else(|| format!("{a:?}"), String::from)
}

/// One line: what failed and which alert went which way.
fn describe(step: &str, e: &Error, peer: &str) -> String {
    match e {
        Error::AlertReceived(a) => format!("{step} failed: {peer} sent fatal alert {}", alert_name(*a)),
        e => match e.alert() {
            Some(a) => format!("{step} failed: {e} (alert {} sent)", alert_name(a)),
            None => format!("{step} failed: {e}"),
        },
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

fn secs(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow!("invalid number of seconds {s}"))
}

// ---- server ----

fn server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt().with_writer(io::stderr).with_target(false).with_ansi(false).init();
    let common = &args.common;
    let password = read_password(common.key_password_file.as_deref())?;
    let sign_cert = load_cert(&common.sign_cert, "signing")?;
    let enc_cert = load_cert(&args.enc_cert, "encryption")?;
    let sign_key = load_key(&common.sign_key, password.as_deref(), &sign_cert, "signing")?;
    let enc_key = load_key(&args.enc_key, password.as_deref(), &enc_cert, "encryption")?;
    let trust = load_trust(common)?;
    let mut cert_chain = vec![der(&sign_cert), der(&enc_cert)];
    cert_chain.extend(trust.chain.iter().map(der));
    let profile = Profile::from(common.profile);
    let config = Arc::new(ServerConfig {
        provider: PROVIDER,
        suites: suites(common.cipher.as_deref())?,
        profile,
        sign_key,
        enc_key: enc_key.clone(),
        cert_chain,
        verifier: Arc::new(PkiClientVerifier::new(PROVIDER, trust.roots, trust.chain, trust.crls)),
        session_store: Arc::new(MemorySessionStore::new(args.session_cache, args.session_lifetime)),
        session_lifetime: args.session_lifetime,
    });

    let listener = TcpListener::bind(&args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let local = listener.local_addr()?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {local}")?;
        out.flush()?;
    }
    tracing::info!(
        addr = %local,
        profile = %profile,
        suites = %config.suites.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "serving TLCP"
    );
    let idle = Duration::from_secs(args.idle_timeout.max(1));
    let mut next_id = 0u64;
    for tcp in listener.incoming() {
        let tcp = match tcp {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let config = config.clone();
        if args.once {
            return Ok(if serve(tcp, &config, id, idle) { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        let spawned = std::thread::Builder::new().name(format!("tlcp-{id}")).spawn(move || {
            serve(tcp, &config, id, idle);
        });
        if let Err(e) = spawned {
            tracing::warn!(conn = id, "could not start a thread: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves one connection; true if it ended with close_notify both ways.
fn serve(mut tcp: TcpStream, config: &Arc<ServerConfig>, id: u64, idle: Duration) -> bool {
    let peer = tcp.peer_addr().map_or_else(|_| String::from("?"), |a| a.to_string());
    let _ = tcp.set_read_timeout(Some(idle));
    let _ = tcp.set_nodelay(true);
    let mut conn = ServerConnection::new(config.clone());
    let mut buf = vec![0u8; 32 * 1024];
    let mut echoed = 0usize;
    loop {
        let step = if conn.is_handshaking() { "handshake" } else { "session" };
        let n = match tcp.read(&mut buf) {
            Ok(0) => {
                tracing::warn!(conn = id, %peer, "{step} failed: the client closed the connection without close_notify");
                return false;
            }
            Ok(n) => n,
            Err(e) if is_timeout(&e) => {
                tracing::warn!(conn = id, %peer, "{step} failed: idle for {} s", idle.as_secs());
                return false;
            }
            Err(e) => {
                tracing::warn!(conn = id, %peer, "{step} failed: {e}");
                return false;
            }
        };
        let result = conn.handle_input(&buf[..n], system_time());
        while let Some(ev) = conn.poll_event() {
            if let Event::HandshakeComplete(s) = ev {
                log_handshake(id, &peer, config.profile, &s);
            }
        }
        if result.is_ok() {
            // Echo each record as it came.
            while let Some(record) = conn.read_application_data() {
                echoed += record.len();
                if conn.send_application_data(&record).is_err() {
                    break;
                }
            }
            if conn.peer_closed() {
                conn.send_close_notify();
            }
        }
        let out = conn.take_output();
        let sent = if out.is_empty() { Ok(()) } else { tcp.write_all(&out).and_then(|()| tcp.flush()) };
        if let Err(e) = result {
            tracing::warn!(conn = id, %peer, "{}", describe(step, &e, "client"));
            linger_close(&mut tcp);
            return false;
        }
        if let Err(e) = sent {
            tracing::warn!(conn = id, %peer, "{step} failed: {e}");
            return false;
        }
        if conn.peer_closed() {
            let _ = tcp.shutdown(std::net::Shutdown::Write);
            tracing::info!(conn = id, %peer, echoed, "closed cleanly");
            return true;
        }
    }
}

/// Closes after a failure so that the alert is read, not lost to a reset: stop sending,
/// then take what the peer still sends for a moment.
fn linger_close(tcp: &mut TcpStream) {
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

fn log_handshake(id: u64, peer: &str, profile: Profile, s: &HandshakeSummary) {
    tracing::info!(
        conn = id,
        %peer,
        profile = %profile,
        order = %order_name(s.order),
        suite = %s.suite,
        subject = %s.peer_subject,
        session = %if s.resumed { "resumed" } else { "new" },
        "handshake complete"
    );
}

// ---- client ----

fn client(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    let password = read_password(common.key_password_file.as_deref())?;
    let sign_cert = load_cert(&common.sign_cert, "signing")?;
    let sign_key = load_key(&common.sign_key, password.as_deref(), &sign_cert, "signing")?;
    let mut cert_chain = vec![der(&sign_cert)];
    if let (Some(cert), Some(key)) = (&args.enc_cert, &args.enc_key) {
        let enc_cert = load_cert(cert, "encryption")?;
        load_key(key, password.as_deref(), &enc_cert, "encryption")?;
        cert_chain.push(der(&enc_cert));
    }
    let trust = load_trust(common)?;
    cert_chain.extend(trust.chain.iter().map(der));
    let server_name = match &args.server_name {
        Some(n) => n.clone(),
        None => host_of(&args.connect),
    };
    let max_fragment_length = args
        .max_fragment
        .as_deref()
        .map(|s| s.parse().ok().and_then(MaxFragmentLength::from_max_len).ok_or_else(|| anyhow!("bad --max-fragment")))
        .transpose()?;
    let config = Arc::new(ClientConfig {
        provider: PROVIDER,
        suites: suites(common.cipher.as_deref())?,
        profile: common.profile.into(),
        sign_key,
        cert_chain,
        verifier: Arc::new(PkiServerVerifier::new(PROVIDER, trust.roots, trust.crls)),
        server_name,
        session_store: Arc::new(MemorySessionStore::new(4, 86_400)),
        max_fragment_length,
        offer_session_ticket: args.session_ticket,
    });
    let addrs: Vec<SocketAddr> = args
        .connect
        .to_socket_addrs()
        .with_context(|| format!("connect failed: cannot resolve {}", args.connect))?
        .collect();
    let timeout = secs(args.timeout)?;
    let wait = secs(args.wait)?;

    let stdin = spawn_stdin_reader();
    let mut input = Input { rx: Some(stdin), data: Vec::new() };
    for i in 0..=args.reconnect {
        let tcp = connect(&addrs, timeout).with_context(|| format!("connect failed: {}", args.connect))?;
        let mut session = Session { tcp, conn: ClientConnection::new(config.clone(), system_time())? };
        session.run(i, &mut input, timeout, wait).map_err(anyhow::Error::msg)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The host part of HOST:PORT ([v6]:PORT too).
fn host_of(addr: &str) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']').to_string()
}

fn connect(addrs: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(t) => return Ok(t),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Standard input, read on its own thread so that a terminal can type while data comes back.
fn spawn_stdin_reader() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// What to send: standard input live on the first connection, then all of it again.
struct Input {
    rx: Option<mpsc::Receiver<Vec<u8>>>,
    data: Vec<u8>,
}

struct Session {
    tcp: TcpStream,
    conn: ClientConnection,
}

/// How often the loop looks at standard input while waiting for the server.
const POLL: Duration = Duration::from_millis(20);

impl Session {
    /// One connection, from ClientHello to close_notify both ways. The error is one line.
    fn run(&mut self, index: u32, input: &mut Input, timeout: Duration, wait: Duration) -> Result<(), String> {
        let _ = self.tcp.set_nodelay(true);
        self.tcp.set_read_timeout(Some(POLL)).map_err(|e| format!("connect failed: {e}"))?;
        let start = Instant::now();
        let mut replay = index > 0;
        let mut input_done = index > 0;
        let (mut sent, mut received) = (0usize, 0usize);
        let mut last_activity = Instant::now();
        let mut close_started: Option<Instant> = None;
        let mut buf = vec![0u8; 32 * 1024];
        let mut stdout = io::stdout();
        self.flush("handshake")?;
        loop {
            let step = if self.conn.is_handshaking() {
                "handshake"
            } else if close_started.is_some() {
                "close"
            } else {
                "session"
            };
            // What to send: queued before the handshake ends, it goes right after Finished.
            if close_started.is_none() {
                if replay {
                    replay = false;
                    sent += input.data.len();
                    self.send(&input.data, step)?;
                }
                if let Some(rx) = &input.rx {
                    loop {
                        match rx.try_recv() {
                            Ok(chunk) => {
                                sent += chunk.len();
                                self.send(&chunk, step)?;
                                input.data.extend_from_slice(&chunk);
                                last_activity = Instant::now();
                            }
                            Err(mpsc::TryRecvError::Empty) => break,
                            Err(mpsc::TryRecvError::Disconnected) => {
                                input.rx = None;
                                input_done = true;
                                last_activity = Instant::now();
                                break;
                            }
                        }
                    }
                }
            }
            let n = match self.tcp.read(&mut buf) {
                Ok(0) => {
                    return Err(format!("{step} failed: the server closed the connection without close_notify"));
                }
                Ok(n) => n,
                Err(e) if is_timeout(&e) => 0,
                Err(e) => return Err(format!("{step} failed: {e}")),
            };
            if n > 0 {
                last_activity = Instant::now();
                let result = self.conn.handle_input(&buf[..n], system_time());
                while let Some(ev) = self.conn.poll_event() {
                    if let Event::HandshakeComplete(s) = ev {
                        // A resumed session has no certificates to name.
                        let server = if s.peer_subject.is_empty() {
                            String::new()
                        } else {
                            format!(", server \"{}\"", s.peer_subject)
                        };
                        eprintln!(
                            "wearpay: connection {}: {} session, {}, {} order{server}",
                            index + 1,
                            if s.resumed { "resumed" } else { "new" },
                            s.suite,
                            order_name(s.order),
                        );
                    }
                }
                while let Some(data) = self.conn.read_application_data() {
                    received += data.len();
                    stdout
                        .write_all(&data)
                        .and_then(|()| stdout.flush())
                        .map_err(|e| format!("writing output: {e}"))?;
                }
                // The alert of a failure goes out before the failure is reported.
                let _ = self.flush(step);
                result.map_err(|e| describe(step, &e, "server"))?;
            }
            if self.conn.is_handshaking() {
                if start.elapsed() > timeout {
                    return Err(String::from("handshake failed: timed out waiting for the server"));
                }
                continue;
            }
            if self.conn.peer_closed() && close_started.is_none() {
                // The server ended the session first; answer it.
                close_started = Some(Instant::now());
                self.conn.send_close_notify();
            }
            if close_started.is_none() && input_done && (received >= sent || last_activity.elapsed() >= wait) {
                close_started = Some(Instant::now());
                self.conn.send_close_notify();
            }
            self.flush(step)?;
            if let Some(t) = close_started {
                if self.conn.peer_closed() {
                    let _ = self.tcp.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
                if t.elapsed() > timeout {
                    return Err(String::from("close failed: the server did not answer close_notify"));
                }
            }
        }
    }

    fn send(&mut self, data: &[u8], step: &str) -> Result<(), String> {
        if data.is_empty() {
            return Ok(());
        }
        self.conn.send_application_data(data).map_err(|e| describe(step, &e, "server"))?;
        self.flush(step)
    }

    fn flush(&mut self, step: &str) -> Result<(), String> {
        let out = self.conn.take_output();
        if out.is_empty() {
            return Ok(());
        }
        self.tcp.write_all(&out).and_then(|()| self.tcp.flush()).map_err(|e| format!("{step} failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_lists_take_both_spellings_and_separators() {
        let got = parse_cipher_list("ECC-SM2-SM4-GCM-SM3:ecc_sm4_cbc_sm3,RSA_SM4_GCM_SM3").ok();
        assert_eq!(
            got,
            Some(vec![CipherSuite::ECC_SM4_GCM_SM3, CipherSuite::ECC_SM4_CBC_SM3, CipherSuite::RSA_SM4_GCM_SM3])
        );
        assert!(parse_cipher_list("NOPE").is_err());
        assert!(parse_cipher_list("ECDHE_SM4_GCM_SM3").is_err());
        assert!(parse_cipher_list("ECC_SM1_SM3").is_err());
        assert!(parse_cipher_list(",").is_err());
    }

    #[test]
    fn host_is_cut_from_the_address() {
        assert_eq!(host_of("localhost:4433"), "localhost");
        assert_eq!(host_of("[::1]:4433"), "::1");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
    }
}
