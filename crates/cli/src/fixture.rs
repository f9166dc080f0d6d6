//! Set-up shared by the commands that run a whole system in one process: a center made in
//! a directory and served on loopback, the simulated wearer, and a band enrolled by
//! activation code in the directory layout `wearpay terminal` reads.
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wearpay_center::http::ActivationCode;
use wearpay_center::node::{Center, CenterConfig, InitOptions, init};
use wearpay_crypto::{KeyAlgorithm, Zeroizing};
use wearpay_pay::{BiometricMatch, MatcherId, Pan, Timestamp};
use wearpay_pki::{Certificate, DistinguishedName, UnixTime, files};
use wearpay_shangmi::PROVIDER;
use wearpay_terminal::{Provisioning, SecureElement, SimulatedUser, SoftSe};

/// The band directory's sealed secure-element state.
pub const BAND_STATE_FILE: &str = "se.state";
/// The band directory's device secret (hex, 0600): what a real band's hardware keeps.
pub const BAND_SECRET_FILE: &str = "device.secret";
/// The band directory's provisioning bundle.
pub const BAND_PROVISIONING_FILE: &str = "provisioning.txt";

/// The system clock as a payment timestamp.
pub fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

/// Makes a center directory at `dir` with `options` (see [`init`]) and opens it.
pub async fn make_center(dir: &Path, options: &InitOptions) -> Result<Arc<Center>> {
    init(dir, options, &PROVIDER).await.with_context(|| format!("making a center in {}", dir.display()))?;
    let config = CenterConfig::load(&dir.join("center.toml"))?;
    Ok(Arc::new(Center::open(config).await?))
}

/// A center serving its channel, and its HTTP API when `[http] listen` is set, on a
/// runtime, until [`ServedCenter::stop`].
#[derive(Debug)]
pub struct ServedCenter {
    /// The center.
    pub center: Arc<Center>,
    /// The channel's address (bands, through their bridges).
    pub channel: SocketAddr,
    /// The operations API's address.
    pub http: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<()>>>,
}

impl ServedCenter {
    /// Binds the configured addresses and serves on `runtime`.
    pub fn start(runtime: &Runtime, center: Arc<Center>) -> Result<Self> {
        let (listener, http) =
            runtime.block_on(async { anyhow::Ok((center.bind().await?, center.bind_http().await?)) })?;
        let channel = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let signal = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let mut tasks = Vec::new();
        let http_addr = match http {
            Some(listener) => {
                let addr = listener.local_addr()?;
                let (c, s) = (center.clone(), signal());
                tasks.push(runtime.spawn(async move { Ok(c.serve_http(listener, s).await?) }));
                Some(addr)
            }
            None => None,
        };
        let (c, s) = (center.clone(), signal());
        tasks.push(runtime.spawn(async move {
            c.serve(listener, s).await;
            Ok(())
        }));
        Ok(Self { center, channel, http: http_addr, stop, tasks })
    }

    /// Stops both listeners, lets in-flight requests finish and the final audit checkpoint
    /// be signed, and returns the center.
    pub fn stop(self, runtime: &Runtime) -> Result<Arc<Center>> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            runtime.block_on(task).context("a center task panicked")??;
        }
        Ok(self.center)
    }
}

/// The simulated wearer: unlocked a minute ago, worn since unless `worn` is false, with a
/// finger the matcher accepts unless `finger_matches` is false.
pub fn wearer(worn: bool, finger_matches: bool) -> Result<SimulatedUser> {
    let t = now();
    Ok(SimulatedUser {
        button: true,
        unlocked_at: Some(Timestamp(t.0.saturating_sub(60))),
        worn_since_unlock: worn,
        biometric: Some(BiometricMatch {
            matched: finger_matches,
            matcher: MatcherId::new("sim-fingerprint")?,
            score: if finger_matches { 9_800 } else { 1_200 },
        }),
    })
}

/// The JSON `POST /v1/enroll` returns (the fields a band keeps).
#[derive(Debug, Deserialize)]
struct EnrollAnswer {
    account: i64,
    pan: String,
    terminal_serial: String,
    certificate_pem: String,
    terminal_ca_chain_pem: Vec<String>,
    root_pem: String,
    center_ca_pem: String,
    receipt_sign_pem: String,
    pin_enc_pem: String,
    server_name: String,
}

/// A band just enrolled: its open secure element and what enrollment gave it.
#[derive(Debug)]
pub struct EnrolledBand {
    /// The secure element (its state in the band directory).
    pub se: SoftSe,
    /// The provisioning bundle (also saved in the band directory).
    pub provisioning: Provisioning,
    /// The certificate's serial, upper-case hex.
    pub serial: String,
    /// The customer account it pays from.
    pub account: i64,
}

fn cert(pem_text: &str) -> Result<Certificate> {
    Ok(Certificate::from_pem(pem_text.as_bytes())?)
}

/// Makes a band in `dir` (what `wearpay terminal init` does): a random device secret, the
/// secure element and its `alg` key, a CSR whose challengePassword proves activation code
/// `code` for that key, `POST /v1/enroll` to the API at `center_url`, and the provisioning
/// bundle, checked and saved.
pub fn enroll_band(dir: &Path, code: &str, center_url: &str, alg: KeyAlgorithm) -> Result<EnrolledBand> {
    let code = ActivationCode::parse(code)?;
    if dir.join(BAND_STATE_FILE).exists() {
        bail!("{} holds a band already", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    // The device secret stands for the one a real band's hardware keeps.
    let mut secret = Zeroizing::new([0u8; 32]);
    PROVIDER.fill_random(secret.as_mut())?;
    let secret_hex = Zeroizing::new(hex::encode(secret.as_ref()));
    files::write_new(dir.join(BAND_SECRET_FILE), secret_hex.as_bytes(), true)?;
    let mut se = SoftSe::create(dir.join(BAND_STATE_FILE), secret_hex.as_bytes())?;
    let public = se.generate_key(alg)?;
    let spki = wearpay_pki::keys::public_key_to_spki(&public)?;
    // The proof binds the code to this key: a phone that swaps in its own CSR cannot make it.
    let proof = code.proof(&PROVIDER, &spki);
    let csr = se.csr(DistinguishedName::parse("CN=wearpay band")?, Some(&proof))?;

    let url = format!("{}/v1/enroll", center_url.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(&url)
        .send_json(json!({"activation_id": code.id(), "csr_pem": csr.to_pem()}))
        .with_context(|| format!("reaching {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.body_mut().read_json().context("the center's answer is not JSON")?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("refused");
        bail!("enrollment refused ({status}): {message}");
    }
    let e: EnrollAnswer = serde_json::from_value(body).context("the enrollment answer is incomplete")?;
    let provisioning = Provisioning {
        band_certificate: cert(&e.certificate_pem)?,
        band_chain: e.terminal_ca_chain_pem.iter().map(|p| cert(p)).collect::<Result<_>>()?,
        // The bank's root is the trust anchor; enrollment over plain HTTP gives it to the
        // band, which in production comes preinstalled (see THREAT_MODEL.md).
        trust_anchors: vec![cert(&e.root_pem)?],
        center_chain: vec![cert(&e.center_ca_pem)?],
        server_name: e.server_name,
        receipt_certificate: cert(&e.receipt_sign_pem)?,
        pin_certificate: cert(&e.pin_enc_pem)?,
        pan: Pan::new(&e.pan)?,
        account_label: format!("account {}", e.account),
    };
    provisioning.verify(&PROVIDER, now()).context("the center's certificates do not verify")?;
    provisioning.save(dir.join(BAND_PROVISIONING_FILE))?;
    Ok(EnrolledBand { se, provisioning, serial: e.terminal_serial, account: e.account })
}
