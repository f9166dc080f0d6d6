//! `wearpay center …`: make, run and operate a processing center.
//!
//! Every command but `init` takes `--config DIR/center.toml` and works on the ledger,
//! key store and CAs it names. Registry changes go through [`Center`], so a revocation
//! also regenerates the CRL; a running `center serve` sees it at its next check of the
//! store (every handshake and every payment).
extern crate alloc;

use alloc::sync::Arc;
use core::net::SocketAddr;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use wearpay_center::http::{ApiRole, tokens};
use wearpay_center::node::{Center, CenterConfig, InitOptions, init};
use wearpay_center::{
    Account, AccountId, AccountKind, NewAccount, NewMerchant, NewOrder, Store, Terminal, TerminalStatus,
    keystore::PasswordSource,
};
use wearpay_crypto::{KeyAlgorithm, Zeroizing};
use wearpay_pay::{
    Amount, Currency, Description, MerchantId, MerchantName, Money, OrderId, Pan, Pin, TerminalSerial, Timestamp,
};
use wearpay_pki::{UnixTime, files};
use wearpay_shangmi::PROVIDER;

/// `wearpay center …`
#[derive(Debug, Args)]
pub struct CenterArgs {
    #[command(subcommand)]
    command: CenterCommand,
}

#[derive(Debug, Subcommand)]
enum CenterCommand {
    /// Make a center directory: config, PKI, keys, certificates, database.
    Init(InitArgs),
    /// Run the center: the TLCP channel listener (and the HTTP API if `[http] listen` is
    /// set), until Ctrl-C or SIGTERM.
    Serve(ConfigArg),
    /// Check that the config and every file it names fit together, without serving.
    Check(ConfigArg),
    /// Sign and publish the terminal CRL from the registry.
    Crl(ConfigArg),
    /// Roll the channel keys (new keys and certificates from the center CA) and renew the
    /// receipt and PIN certificates; the previous ones are kept and stay valid until they
    /// expire. Restart every center process afterwards.
    Rotate(ConfigArg),
    /// The terminal registry.
    #[command(subcommand)]
    Terminal(TerminalCommand),
    /// Customer and merchant accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Orders (what a merchant's till would create).
    #[command(subcommand)]
    Order(OrderCommand),
    /// Prove the ledger: postings sum to zero, balances match them.
    LedgerCheck(ConfigArg),
    /// The audit trail: verify the hash chain and its signed checkpoints, or sign one now.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// One-time activation codes that let a band enroll itself.
    #[command(subcommand)]
    Activation(ActivationCommand),
    /// Tokens of the HTTP operations API.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a new random API token and add its SM3 hash and role to the tokens file.
    Add(TokenAddArgs),
}

#[derive(Debug, Args)]
struct TokenAddArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// A merchant token, seeing this merchant's data only.
    #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
    merchant: Option<String>,
    /// An administrator's token.
    #[arg(long)]
    admin: bool,
    /// Write the token to this new file (mode 0600) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ActivationCommand {
    /// Make a code bound to a customer account (with a PAN); it is printed once.
    Create(ActivationArgs),
}

#[derive(Debug, Args)]
struct ActivationArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The customer account the band will pay from.
    #[arg(long)]
    account: i64,
    /// A display name for the band's certificate.
    #[arg(long, default_value = "")]
    label: String,
    /// Days until the code expires.
    #[arg(long, default_value_t = 7)]
    days: u64,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the chain from its start; check every checkpoint (database and file).
    /// Exits 1 on any modified, inserted or deleted entry, including a cut tail.
    Verify(ConfigArg),
    /// Sign a checkpoint of the chain's head now.
    Checkpoint(ConfigArg),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The center's config file.
    #[arg(long, default_value = "center.toml")]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Alg {
    Sm2,
    Rsa,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The directory to make (must not hold a center.toml).
    #[arg(long)]
    dir: PathBuf,
    /// `postgres://…` for PostgreSQL; default SQLite in DIR/data.
    #[arg(long)]
    database: Option<String>,
    /// The channel's address.
    #[arg(long, default_value = "127.0.0.1:7443")]
    listen: SocketAddr,
    /// The HTTP API's address.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// The name on the channel certificates (bands check it).
    #[arg(long, default_value = "center.wearpay.local")]
    server_name: String,
    /// The algorithm of every new key.
    #[arg(long, value_enum, default_value = "sm2")]
    alg: Alg,
    /// Use existing CAs: a directory with root.crt (or root/ca.crt), center-ca/ and
    /// terminal-ca/ made by `wearpay pki init-ca`.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Where the existing CAs' key password is (`--ca`): env:NAME or file:PATH.
    #[arg(long, default_value = "env:WEARPAY_CA_PASSWORD", requires = "ca")]
    ca_password: String,
}

#[derive(Debug, Subcommand)]
enum TerminalCommand {
    /// Issue a band's certificate from its CSR and register it to an account.
    Enroll(EnrollArgs),
    /// Stop a terminal paying until reactivated.
    Suspend(SerialArgs),
    /// Revoke a terminal for good (a lost band): refused at once, CRL regenerated.
    Revoke(SerialArgs),
    /// Let a suspended terminal pay again.
    Reactivate(SerialArgs),
    /// Unlock PIN mode on the terminal's account after too many wrong PINs.
    UnlockPin(SerialArgs),
    /// Show one terminal.
    Show(SerialArgs),
    /// List an account's terminals.
    List(AccountArg),
}

#[derive(Debug, Args)]
struct EnrollArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The band's CSR (PEM or DER).
    #[arg(long)]
    csr: PathBuf,
    /// The customer account it pays from.
    #[arg(long)]
    account: i64,
    /// A display name for the certificate subject.
    #[arg(long, default_value = "")]
    label: String,
    /// Where to write the certificate (PEM); default: standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SerialArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The terminal's certificate serial, hex (colons allowed).
    #[arg(long)]
    serial: String,
}

#[derive(Debug, Args)]
struct AccountArg {
    #[command(flatten)]
    config: ConfigArg,
    /// The account number.
    #[arg(long)]
    account: i64,
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Open an account.
    Create(AccountCreateArgs),
    /// Credit an account from outside the ledger (cash in).
    Deposit(DepositArgs),
    /// Show an account: balance, PAN, PIN state, terminals.
    Show(AccountArg),
    /// Set or replace a customer account's PIN (read from --pin-file or standard input).
    SetPin(SetPinArgs),
}

#[derive(Debug, Args)]
struct AccountCreateArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The holder's name.
    #[arg(long)]
    name: String,
    /// ISO 4217 currency.
    #[arg(long, default_value = "CNY")]
    currency: String,
    /// A merchant's account instead of a customer's.
    #[arg(long)]
    merchant: bool,
    /// The PAN provisioned to the account's bands (PIN blocks are bound to it).
    #[arg(long)]
    pan: Option<String>,
    /// How far below zero it may go, e.g. 100.00.
    #[arg(long)]
    overdraft: Option<String>,
}

#[derive(Debug, Args)]
struct DepositArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The account number.
    #[arg(long)]
    account: i64,
    /// The amount with its currency, e.g. "500.00 CNY".
    #[arg(long)]
    amount: String,
}

#[derive(Debug, Args)]
struct SetPinArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The account number.
    #[arg(long)]
    account: i64,
    /// A file holding the PIN (4 to 12 digits); default: read standard input.
    #[arg(long)]
    pin_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum MerchantCommand {
    /// Register a merchant, paid into a merchant account (made if --account is not given).
    Create(MerchantCreateArgs),
    /// Set the merchant's webhook endpoint and make it a new signing secret, shown once.
    Webhook(MerchantWebhookArgs),
}

#[derive(Debug, Args)]
struct MerchantWebhookArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The merchant id.
    #[arg(long)]
    merchant: String,
    /// Where its events go: https://… (http:// only with [webhooks] allow_http).
    #[arg(long)]
    url: String,
    /// Write the secret to this new file (mode 0600) instead of standard output.
    #[arg(long)]
    secret_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MerchantCreateArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The merchant id orders name, e.g. M-0001.
    #[arg(long)]
    id: String,
    /// The name bands show.
    #[arg(long)]
    name: String,
    /// An existing merchant account.
    #[arg(long)]
    account: Option<i64>,
    /// The currency of a new merchant account.
    #[arg(long, default_value = "CNY")]
    currency: String,
}

#[derive(Debug, Subcommand)]
enum OrderCommand {
    /// Create an order for a band to pay.
    Create(OrderCreateArgs),
    /// Show an order and its status.
    Show(OrderShowArgs),
}

#[derive(Debug, Args)]
struct OrderCreateArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The order id (unique).
    #[arg(long)]
    id: String,
    /// The merchant.
    #[arg(long)]
    merchant: String,
    /// The price with its currency, e.g. "25.00 CNY".
    #[arg(long)]
    amount: String,
    /// What is bought (shown on the band).
    #[arg(long, default_value = "")]
    description: String,
    /// Seconds until it stops accepting payment.
    #[arg(long, default_value_t = 900)]
    expires_in: u64,
}

#[derive(Debug, Args)]
struct OrderShowArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The order id.
    #[arg(long)]
    id: String,
}

fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

pub fn run(args: CenterArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_async(args))
}

async fn rotate_cmd(a: &ConfigArg) -> Result<ExitCode> {
    let config = CenterConfig::load(&a.config).with_context(|| format!("loading {}", a.config.display()))?;
    let rotating = config.clone();
    let report =
        tokio::task::spawn_blocking(move || wearpay_center::node::rotate(&rotating, &PROVIDER, UnixTime::now()))
            .await??;
    // Opening checks the new files as `serve` will, and the audit trail records the rotation.
    let center = Center::open(config).await?;
    let rotated: Vec<_> = report.certificates.iter().map(|c| (c.file, c.certificate.serial_hex())).collect();
    center.store().record_key_rotation(&rotated, now()).await?;
    center.store().close().await;
    if a.json {
        let certificates: Vec<_> = report
            .certificates
            .iter()
            .map(|c| {
                json!({
                    "purpose": c.purpose.to_string(),
                    "file": c.file,
                    "new_key": c.new_key,
                    "serial": c.certificate.serial_hex(),
                    "not_after": c.certificate.not_after().to_string(),
                    "replaces": c.replaces,
                    "replaced_valid_until": c.replaced_until.to_string(),
                })
            })
            .collect();
        let retired: Vec<_> = report.retired.iter().map(|p| p.display().to_string()).collect();
        println!("{}", json!({"certificates": certificates, "retired": retired}));
    } else {
        for c in &report.certificates {
            let what = if c.new_key { "new key" } else { "same key" };
            println!(
                "{}: {what}, serial {} until {} (replaces {}, valid until {})",
                c.file,
                c.certificate.serial_hex(),
                c.certificate.not_after(),
                c.replaces,
                c.replaced_until
            );
        }
        println!(
            "the previous keys and certificates are under retired/; restart every center process to use the new ones"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(arg: &ConfigArg) -> Result<Center> {
    let config = CenterConfig::load(&arg.config).with_context(|| format!("loading {}", arg.config.display()))?;
    Center::open(config).await.with_context(|| format!("opening the center of {}", arg.config.display()))
}

async fn run_async(args: CenterArgs) -> Result<ExitCode> {
    match args.command {
        CenterCommand::Init(a) => init_cmd(a).await,
        CenterCommand::Serve(a) => serve(&a).await,
        CenterCommand::Check(a) => {
            let center = open(&a).await?;
            let report = center.store().ledger_check().await?;
            println!(
                "{}: config, keys, certificates and CAs fit together; ledger {}",
                a.config.display(),
                if report.ok { "balanced" } else { "NOT balanced" }
            );
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        CenterCommand::Rotate(a) => rotate_cmd(&a).await,
        CenterCommand::Crl(a) => {
            let center = open(&a).await?;
            let crl = center.publish_crl(now()).await?;
            println!("{}: {} revoked terminal(s)", center.crl_path().display(), crl.entries().len());
            Ok(ExitCode::SUCCESS)
        }
        CenterCommand::Terminal(c) => terminal(c).await,
        CenterCommand::Account(c) => account(c).await,
        CenterCommand::Merchant(MerchantCommand::Create(a)) => {
            let center = open(&a.config).await?;
            let store = center.store();
            let account = match a.account {
                Some(id) => AccountId(id),
                None => {
                    let currency = Currency::from_code(&a.currency)?;
                    store.create_account(NewAccount::merchant(&a.name, currency), now()).await?.id
                }
            };
            let merchant = store
                .create_merchant(
                    NewMerchant { id: MerchantId::new(&a.id)?, name: MerchantName::new(&a.name)?, account },
                    now(),
                )
                .await?;
            emit(a.config.json, json!({"merchant": merchant.id.as_str(), "account": account.0}), || {
                format!("merchant {} \"{}\" paid into account {}", merchant.id, a.name, account.0)
            });
            Ok(ExitCode::SUCCESS)
        }
        CenterCommand::Merchant(MerchantCommand::Webhook(a)) => {
            let center = open(&a.config).await?;
            let merchant = MerchantId::new(&a.merchant)?;
            // Checked before the secret is made, so that it is not lost to an existing file.
            if let Some(path) = a.secret_out.as_ref().filter(|p| p.exists()) {
                bail!("{} exists already", path.display());
            }
            let secret = center.configure_webhook(&merchant, &a.url, now()).await?;
            let url = center.store().webhook_url(&merchant).await?.unwrap_or_default();
            match &a.secret_out {
                Some(path) => {
                    files::write_new(path, format!("{}\n", secret.as_str()).as_bytes(), true)?;
                    emit(a.config.json, json!({"merchant": a.merchant, "url": url, "secret_file": path}), || {
                        format!("merchant {}: events go to {url}; secret written to {}", a.merchant, path.display())
                    });
                }
                None => {
                    emit(a.config.json, json!({"merchant": a.merchant, "url": url, "secret": secret.as_str()}), || {
                        format!("{}\n(merchant {}: events go to {url}; shown once)", secret.as_str(), a.merchant)
                    })
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CenterCommand::Order(OrderCommand::Create(a)) => {
            let center = open(&a.config).await?;
            let new = NewOrder {
                order_id: OrderId::new(&a.id)?,
                merchant: MerchantId::new(&a.merchant)?,
                money: Money::parse(&a.amount)?,
                description: Description::new(&a.description)?,
                expires_at: Timestamp(now().0 + a.expires_in),
            };
            let order = center.store().create_order(new, now()).await?;
            emit(a.config.json, json!({"order": a.id, "expires_at": order.order.expires_at.0}), || {
                format!("order {} for {} at {}", a.id, order.order.money(), order.order.merchant_name)
            });
            Ok(ExitCode::SUCCESS)
        }
        CenterCommand::Order(OrderCommand::Show(a)) => {
            let center = open(&a.config).await?;
            let Some(o) = center.store().get_order(&OrderId::new(&a.id)?).await? else { bail!("no order {}", a.id) };
            let status = o.status_at(now());
            emit(
                a.config.json,
                json!({
                    "order": a.id, "merchant": o.order.merchant_id.as_str(), "amount": o.order.money().to_string(),
                    "status": status.to_string(), "paid_tx": o.paid_tx.map(|t| t.to_string()),
                }),
                || format!("order {}: {} to {}, {}", a.id, o.order.money(), o.order.merchant_id, status),
            );
            Ok(ExitCode::SUCCESS)
        }
        CenterCommand::Token(TokenCommand::Add(a)) => token_add(a).await,
        CenterCommand::Activation(ActivationCommand::Create(a)) => {
            let center = open(&a.config).await?;
            let validity = core::time::Duration::from_secs(a.days * 86_400);
            let made = center.create_activation_code(AccountId(a.account), &a.label, validity, now()).await?;
            emit(
                a.config.json,
                json!({"code": made.code.to_string(), "account": made.account.0, "expires_at": made.expires_at.0}),
                || format!("{}\n(account {}; one use; expires at {})", made.code, made.account.0, made.expires_at.0),
            );
            Ok(ExitCode::SUCCESS)
        }
        CenterCommand::Audit(AuditCommand::Verify(a)) => {
            let center = open(&a).await?;
            let report = center.audit_verify().await?;
            let findings: Vec<String> = report.findings.iter().map(|f| format!("{f:?}")).collect();
            if a.json {
                println!(
                    "{}",
                    json!({
                        "ok": report.ok, "entries": report.entries, "sealed_through": report.sealed_seq,
                        "unsealed": report.unsealed, "findings": findings,
                    })
                );
            } else if report.ok {
                println!(
                    "audit trail intact: {} entries, signed through entry {}, {} after the last checkpoint",
                    report.entries, report.sealed_seq, report.unsealed
                );
            } else {
                println!("AUDIT TRAIL BROKEN:");
                findings.iter().for_each(|f| println!("  {f}"));
            }
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        CenterCommand::Audit(AuditCommand::Checkpoint(a)) => {
            let center = open(&a).await?;
            match center.audit_checkpointer()?.checkpoint_now(now()).await? {
                Some(c) => println!("checkpoint signed at entry {}", c.seq),
                None => println!("nothing new to sign"),
            }
            Ok(ExitCode::SUCCESS)
        }
        CenterCommand::LedgerCheck(a) => {
            let center = open(&a).await?;
            let report = center.store().ledger_check().await?;
            emit(a.json, json!({"ok": report.ok, "report": report.to_string()}), || format!("{report}"));
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn emit(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

async fn init_cmd(a: InitArgs) -> Result<ExitCode> {
    let mut options = InitOptions::new(a.listen, &a.server_name);
    options.database = a.database;
    options.http = a.http;
    options.alg = match a.alg {
        Alg::Sm2 => KeyAlgorithm::Sm2,
        Alg::Rsa => KeyAlgorithm::Rsa(2048),
    };
    if let Some(dir) = a.ca {
        options.ca = Some((dir, a.ca_password.parse::<PasswordSource>()?));
    }
    let report = init(&a.dir, &options, &PROVIDER).await.with_context(|| format!("making {}", a.dir.display()))?;
    println!("{}: a new center (root \"{}\")", a.dir.display(), report.root_subject);
    for (file, what) in &report.files {
        println!("  {file:<24} {what}");
    }
    println!("start it with: wearpay center serve --config {}", report.config.display());
    Ok(ExitCode::SUCCESS)
}

async fn serve(a: &ConfigArg) -> Result<ExitCode> {
    let center = Arc::new(open(a).await?);
    let listener = center.bind().await?;
    let addr = listener.local_addr()?;
    let http = center.bind_http().await?;
    tracing::info!(%addr, profile = %center.config().channel.profile, "channel listening");
    println!("wearpay center: channel on {addr} ({} profile)", center.config().channel.profile);
    // One signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let signal = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let api = match http {
        Some(listener) => {
            let http_addr = listener.local_addr()?;
            tracing::info!(addr = %http_addr, "operations API listening");
            println!("wearpay center: operations API on http://{http_addr}");
            let (c, s) = (center.clone(), signal());
            Some(tokio::spawn(async move { c.serve_http(listener, s).await }))
        }
        None => None,
    };
    center.serve(listener, signal()).await;
    if let Some(api) = api {
        api.await??;
    }
    center.store().close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return core::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: finishing in-flight payments");
}

async fn token_add(a: TokenAddArgs) -> Result<ExitCode> {
    let config =
        CenterConfig::load(&a.config.config).with_context(|| format!("loading {}", a.config.config.display()))?;
    let role = match &a.merchant {
        Some(id) => {
            let id = MerchantId::new(id)?;
            let store = Store::open(&config.location(), config.store_config()?).await?;
            let known = store.merchant(&id).await?.is_some();
            store.close().await;
            if !known {
                bail!("no merchant {}", id.as_str());
            }
            ApiRole::Merchant(id)
        }
        None => ApiRole::Admin,
    };
    let token = tokens::new_token(&PROVIDER, role)?;
    // The token is written before its hash is added: a failure leaves no usable token
    // nobody has.
    match &a.out {
        Some(path) => files::write_new(path, format!("{}\n", token.token.as_str()).as_bytes(), true)?,
        None => println!("{}", token.token.as_str()),
    }
    let path = config.path(&config.http.tokens);
    tokens::append_token(&path, &token, now())?;
    eprintln!("added a {} token to {}", token.role, path.display());
    Ok(ExitCode::SUCCESS)
}

fn parse_serial(s: &str) -> Result<TerminalSerial> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&clean).with_context(|| format!("\"{s}\" is not a hex serial"))?;
    Ok(TerminalSerial::new(&bytes)?)
}

fn terminal_json(t: &Terminal) -> serde_json::Value {
    json!({
        "serial": hex::encode_upper(t.serial.as_bytes()),
        "account": t.account.0,
        "status": t.status.to_string(),
        "last_counter": t.last_counter.map(|c| c.0),
        "replaced_by": t.replaced_by.as_ref().map(|s| hex::encode_upper(s.as_bytes())),
    })
}

async fn terminal(c: TerminalCommand) -> Result<ExitCode> {
    match c {
        TerminalCommand::Enroll(a) => {
            let center = open(&a.config).await?;
            let csr = files::read_csr(&a.csr)?;
            let (terminal, cert) = center.enroll_terminal(&csr, AccountId(a.account), &a.label, now()).await?;
            match &a.out {
                Some(path) => files::write_new(path, cert.to_pem().as_bytes(), false)?,
                None => print!("{}", cert.to_pem()),
            }
            eprintln!(
                "enrolled terminal {} to account {} (\"{}\", until {})",
                hex::encode_upper(terminal.serial.as_bytes()),
                terminal.account.0,
                cert.subject(),
                cert.not_after()
            );
            Ok(ExitCode::SUCCESS)
        }
        TerminalCommand::Suspend(a) => set_status(a, TerminalStatus::Suspended).await,
        TerminalCommand::Revoke(a) => set_status(a, TerminalStatus::Revoked).await,
        TerminalCommand::Reactivate(a) => set_status(a, TerminalStatus::Active).await,
        TerminalCommand::UnlockPin(a) => {
            let center = open(&a.config).await?;
            let serial = parse_serial(&a.serial)?;
            let Some(t) = center.store().terminal(&serial).await? else { bail!("no terminal {}", a.serial) };
            let state = center.store().unlock_pin(t.account, now()).await?;
            emit(a.config.json, json!({"account": t.account.0, "locked": state.locked}), || {
                format!("PIN mode unlocked on account {}", t.account.0)
            });
            Ok(ExitCode::SUCCESS)
        }
        TerminalCommand::Show(a) => {
            let center = open(&a.config).await?;
            let serial = parse_serial(&a.serial)?;
            let Some(t) = center.store().terminal(&serial).await? else { bail!("no terminal {}", a.serial) };
            emit(a.config.json, terminal_json(&t), || terminal_line(&t));
            Ok(ExitCode::SUCCESS)
        }
        TerminalCommand::List(a) => {
            let center = open(&a.config).await?;
            let list = center.store().terminals_of(AccountId(a.account)).await?;
            if a.config.json {
                println!("{}", serde_json::Value::Array(list.iter().map(terminal_json).collect()));
            } else {
                list.iter().for_each(|t| println!("{}", terminal_line(t)));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn terminal_line(t: &Terminal) -> String {
    let renewed = t.replaced_by.as_ref().map(|s| format!(", renewed as {}", hex::encode_upper(s.as_bytes())));
    format!(
        "terminal {}: account {}, {}{}",
        hex::encode_upper(t.serial.as_bytes()),
        t.account.0,
        t.status,
        renewed.unwrap_or_default()
    )
}

async fn set_status(a: SerialArgs, status: TerminalStatus) -> Result<ExitCode> {
    let center = open(&a.config).await?;
    let serial = parse_serial(&a.serial)?;
    let t = center.set_terminal_status(&serial, status, now()).await?;
    emit(a.config.json, terminal_json(&t), || {
        let crl = if status == TerminalStatus::Revoked {
            format!("; CRL published to {}", center.crl_path().display())
        } else {
            String::new()
        };
        format!("{}{crl}", terminal_line(&t))
    });
    Ok(ExitCode::SUCCESS)
}

fn account_json(a: &Account) -> serde_json::Value {
    json!({
        "account": a.id.0,
        "name": a.name,
        "kind": a.kind.to_string(),
        "balance": a.balance.to_string(),
        "pan": a.pan.as_ref().map(masked),
        "pin_set": a.pin_verification.is_some(),
        "pin_locked": a.pin.locked,
    })
}

async fn account(c: AccountCommand) -> Result<ExitCode> {
    match c {
        AccountCommand::Create(a) => {
            let center = open(&a.config).await?;
            let currency = Currency::from_code(&a.currency)?;
            let kind = if a.merchant { AccountKind::Merchant } else { AccountKind::Customer };
            let mut new = NewAccount::new(&a.name, currency, kind);
            if let Some(pan) = &a.pan {
                new = new.with_pan(Pan::new(pan)?);
            }
            if let Some(o) = &a.overdraft {
                new = new.with_overdraft(Amount::parse(o, currency)?);
            }
            let account = center.store().create_account(new, now()).await?;
            emit(a.config.json, account_json(&account), || format!("account {} \"{}\"", account.id.0, account.name));
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::Deposit(a) => {
            let center = open(&a.config).await?;
            let money = Money::parse(&a.amount)?;
            center.store().deposit(AccountId(a.account), money, now()).await?;
            let balance = center.store().balance(AccountId(a.account)).await?;
            emit(a.config.json, json!({"account": a.account, "balance": balance.to_string()}), || {
                format!("deposited {money} to account {}; balance {balance}", a.account)
            });
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::Show(a) => {
            let center = open(&a.config).await?;
            let store = center.store();
            let Some(account) = store.account(AccountId(a.account)).await? else { bail!("no account {}", a.account) };
            let terminals = store.terminals_of(account.id).await?;
            if a.config.json {
                let mut v = account_json(&account);
                v["terminals"] = serde_json::Value::Array(terminals.iter().map(terminal_json).collect());
                println!("{v}");
            } else {
                println!("account {} \"{}\": balance {}", account.id.0, account.name, account.balance);
                if let Some(pan) = &account.pan {
                    println!("  PAN {}", masked(pan));
                }
                let pin = match (account.pin_verification.is_some(), account.pin.locked) {
                    (false, _) => "not set",
                    (true, true) => "locked",
                    (true, false) => "set",
                };
                println!("  PIN {pin} ({} wrong since the last right one)", account.pin.failures);
                terminals.iter().for_each(|t| println!("  {}", terminal_line(t)));
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::SetPin(a) => {
            let center = open(&a.config).await?;
            let mut text = Zeroizing::new(String::new());
            match &a.pin_file {
                Some(path) => {
                    *text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
                }
                None => {
                    io::stdin().read_to_string(&mut text)?;
                }
            }
            let pin = Pin::new(text.trim_end_matches(['\n', '\r']))?;
            center.set_pin(AccountId(a.account), &pin).await?;
            println!("PIN set on account {}", a.account);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The PAN as receipts print it: the last four digits.
fn masked(pan: &Pan) -> String {
    let s = pan.as_str();
    format!("{}{}", "*".repeat(s.len().saturating_sub(4)), &s[s.len().saturating_sub(4)..])
}
