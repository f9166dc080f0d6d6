//! `wearpay bench ...`: quick performance figures in one process (criterion benches in the
//! crates give the careful ones).
extern crate alloc;

use alloc::sync::Arc;
use core::time::Duration;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use wearpay_crypto::{CryptoProvider, KeyAlgorithm, PrivateKey, SigningKey, portable};
use wearpay_pki::{
    AltName, Certificate, CertificateBuilder, MemoryCertificateCache, MemorySignatureCache, Role, UnixTime,
    generate_key,
};
use wearpay_tlcp::msgs::CertificateDer;
use wearpay_tlcp::session::{MemorySessionStore, NoSessionStore, SessionStore};
use wearpay_tlcp::{
    CipherSuite, ClientConfig, ClientConnection, HandshakeSummary, KeyExchange, PkiClientVerifier, PkiServerVerifier,
    Profile, ServerConfig, ServerConnection,
};

/// `wearpay bench ...`
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Full and resumed TLCP handshakes per second, client and server in one thread, in memory
    /// (each side parses a certificate and verifies its signature once, as the center does).
    Handshake(HandshakeArgs),
    /// One payment through the bridge over the simulated BLE link: bytes over the air, round
    /// trips and airtime, full and resumed, at ATT_MTU 23 and 247.
    Payment(crate::bench_payment::PaymentArgs),
    /// SM2, SM3 and SM4 on the shangmi provider and on the portable RustCrypto one, with the
    /// ratio.
    Crypto(crate::bench_crypto::CryptoArgs),
}

#[derive(Debug, Args)]
struct HandshakeArgs {
    /// Measuring time for each suite and each kind of handshake, split into --rounds rounds.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    seconds: f64,
    /// How many rounds; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// Suites to measure (comma separated, GB/T or OpenSSL names). Default: ECC and RSA, GCM and CBC.
    #[arg(long, value_name = "NAME")]
    suite: Option<String>,
    /// Finished order.
    #[arg(long, value_parser = ["seed", "tlcp"], default_value = "seed")]
    profile: String,
    /// The crypto provider of both ends: `shangmi` (what the center runs) or `portable`
    /// (RustCrypto).
    #[arg(long, value_parser = ["shangmi", "portable"], default_value = "shangmi")]
    provider: String,
    /// Measure only full handshakes or only resumed ones (default: both). For profiling one
    /// kind; the other is reported as null.
    #[arg(long, value_parser = ["full", "resumed"])]
    only: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

const DEFAULT_BENCH_SUITES: &[CipherSuite] = &[
    CipherSuite::ECC_SM4_GCM_SM3,
    CipherSuite::ECC_SM4_CBC_SM3,
    CipherSuite::RSA_SM4_GCM_SM3,
    CipherSuite::RSA_SM4_CBC_SM3,
];

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        BenchCommand::Handshake(a) => handshake(&a),
        BenchCommand::Payment(a) => crate::bench_payment::run(&a),
        BenchCommand::Crypto(a) => crate::bench_crypto::run(&a),
    }
}

#[derive(Debug, Serialize)]
struct SuiteResult {
    suite: String,
    full_per_sec: Option<f64>,
    resumed_per_sec: Option<f64>,
    full_rounds: Vec<f64>,
    resumed_rounds: Vec<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    what: &'static str,
    profile: String,
    provider: &'static str,
    rounds: u32,
    seconds_per_round: f64,
    results: Vec<SuiteResult>,
}

fn handshake(args: &HandshakeArgs) -> anyhow::Result<ExitCode> {
    let suites = match &args.suite {
        Some(list) => crate::tlcp::parse_cipher_list(list)?,
        None => DEFAULT_BENCH_SUITES.to_vec(),
    };
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be positive");
    }
    let profile = Profile::from_name(&args.profile).ok_or_else(|| anyhow!("bad --profile"))?;
    let round = Duration::from_secs_f64(args.seconds / f64::from(args.rounds));
    let now = UnixTime::now();
    let needs_rsa = suites.iter().any(|s| s.params().is_some_and(|p| p.key_exchange == KeyExchange::Rsa));
    let provider = if args.provider == "portable" { portable::PROVIDER } else { wearpay_shangmi::PROVIDER };
    let pki = Pki::new(provider, now, needs_rsa).context("issuing the benchmark certificates")?;

    if !args.json {
        println!(
            "TLCP handshakes per second, client authenticated, client and server in one thread in memory, \
             certificates parsed and verified once ({} profile, {} provider, median of {} rounds of {:.2} s)",
            profile,
            provider.name,
            args.rounds,
            round.as_secs_f64()
        );
        println!("{:<22} {:>10} {:>12}", "suite", "full/s", "resumed/s");
    }
    let (want_full, want_resumed) = match args.only.as_deref() {
        Some("full") => (true, false),
        Some("resumed") => (false, true),
        _ => (true, true),
    };
    let mut results = Vec::new();
    for suite in suites {
        let rsa = suite.params().is_some_and(|p| p.key_exchange == KeyExchange::Rsa);
        let server = Arc::new(pki.server_config(suite, rsa, profile));
        let full_rounds = if want_full {
            let fresh = Arc::new(pki.client_config(suite, profile, Arc::new(NoSessionStore)));
            rates(args.rounds, round, || {
                let s = run_handshake(&fresh, &server, now)?;
                if s.resumed { Err(anyhow!("a full handshake resumed")) } else { Ok(()) }
            })?
        } else {
            Vec::new()
        };
        let resumed_rounds = if want_resumed {
            let resuming = Arc::new(pki.client_config(suite, profile, Arc::new(MemorySessionStore::new(1, 86_400))));
            run_handshake(&resuming, &server, now)?;
            rates(args.rounds, round, || {
                let s = run_handshake(&resuming, &server, now)?;
                if s.resumed { Ok(()) } else { Err(anyhow!("the session was not resumed")) }
            })?
        } else {
            Vec::new()
        };
        let r = SuiteResult {
            suite: suite.to_string(),
            full_per_sec: want_full.then(|| median(&full_rounds)),
            resumed_per_sec: want_resumed.then(|| median(&resumed_rounds)),
            full_rounds,
            resumed_rounds,
        };
        if !args.json {
            let cell = |v: Option<f64>| v.map_or_else(|| String::from("-"), |v| format!("{v:.1}"));
            println!("{:<22} {:>10} {:>12}", r.suite, cell(r.full_per_sec), cell(r.resumed_per_sec));
        }
        results.push(r);
    }
    if args.json {
        let report = Report {
            what: "tlcp handshakes per second, one thread, in memory",
            profile: profile.to_string(),
            provider: provider.name,
            rounds: args.rounds,
            seconds_per_round: round.as_secs_f64(),
            results,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `f` for `round` at a time, `rounds` times; the rate of each round.
fn rates(rounds: u32, round: Duration, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut n = 0u64;
        while n == 0 || start.elapsed() < round {
            f()?;
            n += 1;
        }
        out.push(n as f64 / start.elapsed().as_secs_f64());
    }
    Ok(out)
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One handshake, both ends in this thread.
fn run_handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    now: UnixTime,
) -> anyhow::Result<HandshakeSummary> {
    let mut c = ClientConnection::new(client.clone(), now)?;
    let mut s = ServerConnection::new(server.clone());
    for _ in 0..16 {
        let to_server = c.take_output();
        let to_client = s.take_output();
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        if !to_server.is_empty() {
            s.handle_input(&to_server, now).context("server")?;
        }
        if !to_client.is_empty() {
            c.handle_input(&to_client, now).context("client")?;
        }
    }
    c.summary().cloned().ok_or_else(|| anyhow!("the handshake did not complete"))
}

/// A throwaway PKI: an SM2 root, SM2 center and terminal certificates, and RSA center
/// certificates for the RSA suites.
struct Pki {
    provider: CryptoProvider,
    root: Certificate,
    /// Each side remembers the signatures it verified and keeps the certificates it parsed,
    /// as the center does.
    server_cache: Arc<MemorySignatureCache>,
    client_cache: Arc<MemorySignatureCache>,
    server_certs: Arc<MemoryCertificateCache>,
    client_certs: Arc<MemoryCertificateCache>,
    server_sm2: CenterKeys,
    server_rsa: Option<CenterKeys>,
    terminal: (Arc<dyn PrivateKey>, Vec<CertificateDer>),
}

/// A center's signing key, encryption key and [signing, encryption] certificates.
type CenterKeys = (Arc<dyn PrivateKey>, Arc<dyn PrivateKey>, Vec<CertificateDer>);

const CENTER_NAME: &str = "bench.center.example";

impl Pki {
    fn new(provider: CryptoProvider, now: UnixTime, rsa: bool) -> anyhow::Result<Self> {
        let (from, to) = (now.minus_secs(86_400), now.plus_days(30));
        let root_key = generate_key(&provider, KeyAlgorithm::Sm2)?;
        let root = CertificateBuilder::new(
            Role::RootCa,
            "CN=wearpay bench root,O=wearpay".parse()?,
            SigningKey::public_key(root_key.as_ref()),
        )
        .validity(from, to)
        .self_sign(&provider, root_key.as_ref())?;
        let issue =
            |role: Role, cn: &str, alg: KeyAlgorithm| -> anyhow::Result<(Arc<dyn PrivateKey>, CertificateDer)> {
                let key = generate_key(&provider, alg)?;
                let mut b = CertificateBuilder::new(
                    role,
                    format!("CN={cn},O=wearpay").parse()?,
                    SigningKey::public_key(key.as_ref()),
                )
                .validity(from, to);
                if matches!(role, Role::CenterSign | Role::CenterEnc) {
                    b = b.alt_name(AltName::Dns(CENTER_NAME.into()));
                }
                let cert = b.sign(&provider, &root, root_key.as_ref())?;
                Ok((key.into(), CertificateDer(cert.as_der().to_vec())))
            };
        let center = |alg: KeyAlgorithm| -> anyhow::Result<CenterKeys> {
            let (sk, sc) = issue(Role::CenterSign, CENTER_NAME, alg)?;
            let (ek, ec) = issue(Role::CenterEnc, CENTER_NAME, alg)?;
            Ok((sk, ek, vec![sc, ec]))
        };
        let server_sm2 = center(KeyAlgorithm::Sm2)?;
        let server_rsa = if rsa { Some(center(KeyAlgorithm::Rsa(2048))?) } else { None };
        let (tk, tc) = issue(Role::Terminal, "band 1", KeyAlgorithm::Sm2)?;
        let (_, tec) = issue(Role::TerminalEnc, "band 1", KeyAlgorithm::Sm2)?;
        Ok(Self {
            provider,
            root,
            server_cache: Arc::new(MemorySignatureCache::new(64)),
            client_cache: Arc::new(MemorySignatureCache::new(64)),
            server_certs: Arc::new(MemoryCertificateCache::new(64)),
            client_certs: Arc::new(MemoryCertificateCache::new(64)),
            server_sm2,
            server_rsa,
            terminal: (tk, vec![tc, tec]),
        })
    }

    fn server_config(&self, suite: CipherSuite, rsa: bool, profile: Profile) -> ServerConfig {
        let (sign, enc, chain) = match (&self.server_rsa, rsa) {
            (Some(r), true) => r.clone(),
            _ => self.server_sm2.clone(),
        };
        ServerConfig {
            provider: self.provider,
            suites: vec![suite],
            profile: if profile == Profile::Seed { Profile::Auto } else { profile },
            sign_key: sign,
            enc_key: enc,
            cert_chain: chain,
            verifier: Arc::new(
                PkiClientVerifier::new(self.provider, vec![self.root.clone()], vec![], vec![])
                    .with_signature_cache(self.server_cache.clone())
                    .with_certificate_cache(self.server_certs.clone()),
            ),
            session_store: Arc::new(MemorySessionStore::new(1024, 3600)),
            session_lifetime: 3600,
        }
    }

    fn client_config(&self, suite: CipherSuite, profile: Profile, store: Arc<dyn SessionStore>) -> ClientConfig {
        ClientConfig {
            provider: self.provider,
            suites: vec![suite],
            profile,
            sign_key: self.terminal.0.clone(),
            cert_chain: self.terminal.1.clone(),
            verifier: Arc::new(
                PkiServerVerifier::new(self.provider, vec![self.root.clone()], vec![])
                    .with_signature_cache(self.client_cache.clone())
                    .with_certificate_cache(self.client_certs.clone()),
            ),
            server_name: CENTER_NAME.into(),
            session_store: store,
            max_fragment_length: None,
            offer_session_ticket: false,
        }
    }
}
