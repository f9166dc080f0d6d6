//! Delivering the queue: claim due events, POST them, record what happened.
//!
//! A round ([`WebhookDispatcher::run_once`]) claims up to `batch` due events in one
//! statement that also counts the attempt and moves the event's due time past a lease
//! (the request timeout and a margin). Several center processes on one database therefore
//! never claim the same event at once: on PostgreSQL the claim skips rows another process
//! has locked (`FOR UPDATE SKIP LOCKED`), on SQLite the write lock serializes the claims.
//! If a process dies mid-delivery, the lease runs out and another claims the event again;
//! the receiver may then see it twice, with the same id.
//!
//! The claimed events are sent concurrently, each with the timeout. A 2xx answer marks an
//! event delivered. Anything else (another status, a timeout, a refused connection) sets
//! its next attempt after an exponential backoff with jitter — attempt *n* waits a random
//! time in `[d/2, d)` seconds, `d = min(backoff_max, backoff_base · 2^(n-1))`, so the waits
//! grow while processes that failed together spread out — until `max_attempts`, after
//! which it is `failed`. Redirects are not followed: the endpoint is what was configured.
//!
//! Logs name the event id, the attempt and the status or the kind of error, never the
//! body or the secret.
extern crate alloc;

use alloc::{format, string::String, sync::Arc, vec::Vec};
use core::{future::Future, time::Duration};

use tokio::task::JoinSet;
use wearpay_crypto::CryptoProvider;
use wearpay_pay::{MerchantId, Timestamp};
use wearpay_pki::UnixTime;

use super::{EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, check_webhook_url, seal_label, signature_header};
use crate::{
    Backend, Error, Store,
    db::args,
    keystore::KeyStore,
    node::{self, WebhooksSection},
    store::ts,
};

/// Added to the request timeout to make a claim's lease.
const LEASE_MARGIN_SECS: u64 = 30;

/// How the dispatcher delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Attempts before an event is `failed` (at least 1).
    pub max_attempts: u32,
    /// The first retry's backoff (whole seconds; at least 1 s).
    pub backoff_base: Duration,
    /// The longest backoff (whole seconds).
    pub backoff_max: Duration,
    /// The longest one request may take, connection included.
    pub timeout: Duration,
    /// How often the queue is looked at when it is idle.
    pub poll_interval: Duration,
    /// Events claimed and sent at once.
    pub batch: u32,
    /// Whether `http://` endpoints are allowed (else only `https://`).
    pub allow_http: bool,
}

impl From<&WebhooksSection> for WebhookSettings {
    fn from(s: &WebhooksSection) -> Self {
        Self {
            max_attempts: s.max_attempts,
            backoff_base: Duration::from_secs(s.backoff_base_secs),
            backoff_max: Duration::from_secs(s.backoff_max_secs),
            timeout: Duration::from_secs(s.timeout_secs),
            poll_interval: Duration::from_millis(s.poll_interval_ms),
            batch: s.batch,
            allow_http: s.allow_http,
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self::from(&WebhooksSection::default())
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Events claimed.
    pub claimed: usize,
    /// Delivered (a 2xx answer).
    pub delivered: usize,
    /// Failed this time, to be tried again.
    pub retrying: usize,
    /// Failed for the last time.
    pub failed: usize,
}

/// Sends the queued events (see the module documentation). Cloning is cheap.
#[derive(Clone)]
pub struct WebhookDispatcher {
    store: Store,
    keys: Arc<dyn KeyStore>,
    provider: &'static CryptoProvider,
    settings: WebhookSettings,
    client: reqwest::Client,
    clock: fn() -> Timestamp,
}

impl core::fmt::Debug for WebhookDispatcher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebhookDispatcher").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// A claimed event.
struct Claimed {
    id: String,
    merchant: String,
    kind: String,
    body: String,
    attempt: u32,
}

/// What one attempt came to.
enum Attempt {
    /// A 2xx status.
    Delivered(u16),
    /// Another status.
    Status(u16),
    /// No answer, or nothing to send to.
    Error(String),
}

impl WebhookDispatcher {
    /// A dispatcher over `store`, opening merchants' secrets with `keys`.
    pub fn new(
        store: Store,
        keys: Arc<dyn KeyStore>,
        provider: &'static CryptoProvider,
        settings: WebhookSettings,
    ) -> Result<Self, node::Error> {
        let bad = |why: &str| node::Error::Config { what: "webhooks", why: why.into() };
        if settings.max_attempts == 0 || settings.batch == 0 {
            return Err(bad("max_attempts and batch must be at least 1"));
        }
        if settings.backoff_base.as_secs() == 0 || settings.backoff_max < settings.backoff_base {
            return Err(bad("backoff_base must be at least 1 s and at most backoff_max"));
        }
        if settings.timeout.is_zero() {
            return Err(bad("timeout must be more than zero"));
        }
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wearpay-center/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| node::Error::Config { what: "webhooks", why: format!("HTTP client: {e}") })?;
        Ok(Self { store, keys, provider, settings, client, clock: system_now })
    }

    /// Reads the time from `clock` in [`WebhookDispatcher::run`] (the system's by default).
    #[must_use]
    pub fn with_clock(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }

    /// The settings.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Runs rounds until `shutdown` completes: at once again after a full batch, else
    /// after the poll interval. A round under way finishes first (within the timeout).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let full = match self.run_once((self.clock)()).await {
                Ok(r) => r.claimed >= usize::try_from(self.settings.batch).unwrap_or(usize::MAX),
                Err(e) => {
                    tracing::warn!(error = %e, "webhook round failed");
                    false
                }
            };
            let pause = if full { Duration::ZERO } else { self.settings.poll_interval };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round at `now`: claims the events due, sends them, records each outcome (a
    /// retry is due a backoff after `now`).
    pub async fn run_once(&self, now: Timestamp) -> Result<DispatchReport, Error> {
        let claimed = self.claim(now).await?;
        let mut report = DispatchReport { claimed: claimed.len(), ..DispatchReport::default() };
        let mut sending = JoinSet::new();
        for event in claimed {
            let this = self.clone();
            sending.spawn(async move {
                let attempt = this.deliver(&event, now).await;
                (event, attempt)
            });
        }
        let mut first_error = None;
        while let Some(joined) = sending.join_next().await {
            let (event, attempt) = match joined {
                Ok(done) => done,
                Err(e) => {
                    // A panic in one delivery: its lease runs out and it is claimed again.
                    tracing::error!(error = %e, "webhook delivery task failed");
                    continue;
                }
            };
            match self.record(&event, &attempt, now).await {
                Ok(Recorded::Delivered) => report.delivered += 1,
                Ok(Recorded::Retrying) => report.retrying += 1,
                Ok(Recorded::Failed) => report.failed += 1,
                Err(e) => {
                    tracing::warn!(event = %event.id, error = %e, "could not record a webhook attempt");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Claims up to `batch` due events, counting the attempt and leasing them.
    async fn claim(&self, now: Timestamp) -> Result<Vec<Claimed>, Error> {
        let lease = self.settings.timeout.as_secs().saturating_add(1 + LEASE_MARGIN_SECS);
        let (now_i, until) = (ts(now)?, ts(now.saturating_add(lease))?);
        let sql = match self.store.backend() {
            Backend::Sqlite => {
                "UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = $2 \
                 WHERE state = 'pending' AND next_attempt_at <= $1 AND id IN \
                 (SELECT id FROM webhook_events WHERE state = 'pending' AND next_attempt_at <= $1 \
                  ORDER BY next_attempt_at, id LIMIT $3) \
                 RETURNING id, merchant_id, kind, body, attempts"
            }
            // The outer conditions are checked again on a row another claim changed first.
            Backend::Postgres => {
                "UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = $2 \
                 WHERE state = 'pending' AND next_attempt_at <= $1 AND id IN \
                 (SELECT id FROM webhook_events WHERE state = 'pending' AND next_attempt_at <= $1 \
                  ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, merchant_id, kind, body, attempts"
            }
        };
        let mut tx = self.store.db.begin_write().await?;
        let rows = tx.all(sql, args![now_i, until, i64::from(self.settings.batch)]).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(Claimed {
                    id: r.get(0)?,
                    merchant: r.get(1)?,
                    kind: r.get(2)?,
                    body: r.get(3)?,
                    attempt: u32::try_from(r.get::<i64>(4)?).map_err(|_| Error::Corrupt("webhook attempts"))?,
                })
            })
            .collect()
    }

    /// One attempt to send `event`, signed at `now`.
    async fn deliver(&self, event: &Claimed, now: Timestamp) -> Attempt {
        let Ok(merchant) = MerchantId::new(&event.merchant) else {
            return Attempt::Error(String::from("stored merchant id is invalid"));
        };
        let (url, sealed) = match self.store.merchant_webhook(&merchant).await {
            Ok(Some(endpoint)) => endpoint,
            Ok(None) => return Attempt::Error(String::from("the merchant has no webhook endpoint")),
            Err(e) => return Attempt::Error(format!("reading the endpoint failed: {e}")),
        };
        let url = match check_webhook_url(&url, self.settings.allow_http) {
            Ok(url) => url,
            Err(e) => return Attempt::Error(e.to_string()),
        };
        let secret = match self.keys.open(&seal_label(&merchant), &sealed) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(event = %event.id, merchant = %event.merchant, error = %e, "webhook secret does not open");
                return Attempt::Error(String::from("the endpoint's secret does not open"));
            }
        };
        let Ok(secret_text) = core::str::from_utf8(&secret) else {
            return Attempt::Error(String::from("the endpoint's secret is not text"));
        };
        let signature = signature_header(self.provider, secret_text, now, event.body.as_bytes());
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, &event.id)
            .header(EVENT_TYPE_HEADER, &event.kind)
            .body(event.body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Attempt::Delivered(resp.status().as_u16()),
            Ok(resp) => Attempt::Status(resp.status().as_u16()),
            Err(e) if e.is_timeout() => Attempt::Error(String::from("timed out")),
            Err(e) if e.is_connect() => Attempt::Error(String::from("could not connect")),
            Err(e) => Attempt::Error(format!("request failed: {}", e.without_url())),
        }
    }

    /// Stores the outcome of `event`'s attempt, unless the event has moved on since the
    /// claim (its lease ran out and another claim took it).
    async fn record(&self, event: &Claimed, attempt: &Attempt, now: Timestamp) -> Result<Recorded, Error> {
        let now_i = ts(now)?;
        let n = i64::from(event.attempt);
        let mut tx = self.store.db.begin_write().await?;
        let (status, error) = match attempt {
            Attempt::Delivered(status) => {
                tx.execute(
                    "UPDATE webhook_events SET state = 'delivered', delivered_at = $1, last_status = $2, \
                     last_error = NULL WHERE id = $3 AND state = 'pending' AND attempts = $4",
                    args![now_i, i64::from(*status), event.id.clone(), n],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(event = %event.id, attempt = event.attempt, status, "webhook delivered");
                return Ok(Recorded::Delivered);
            }
            Attempt::Status(status) => (Some(i64::from(*status)), format!("HTTP {status}")),
            Attempt::Error(e) => (None, e.clone()),
        };
        if event.attempt >= self.settings.max_attempts {
            tx.execute(
                "UPDATE webhook_events SET state = 'failed', last_status = $1, last_error = $2 \
                 WHERE id = $3 AND state = 'pending' AND attempts = $4",
                args![status, error.clone(), event.id.clone(), n],
            )
            .await?;
            tx.commit().await?;
            tracing::error!(event = %event.id, attempt = event.attempt, status, error = %error, "webhook failed for good");
            return Ok(Recorded::Failed);
        }
        let wait = backoff_secs(event.attempt, &self.settings, self.random());
        tx.execute(
            "UPDATE webhook_events SET next_attempt_at = $1, last_status = $2, last_error = $3 \
             WHERE id = $4 AND state = 'pending' AND attempts = $5",
            args![ts(now.saturating_add(wait))?, status, error.clone(), event.id.clone(), n],
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(event = %event.id, attempt = event.attempt, status, error = %error, retry_in_secs = wait, "webhook attempt failed");
        Ok(Recorded::Retrying)
    }

    fn random(&self) -> u64 {
        let mut b = [0u8; 8];
        // Without randomness the wait is the shortest of its range, which is still correct.
        if self.provider.fill_random(&mut b).is_err() {
            return 0;
        }
        u64::from_le_bytes(b)
    }
}

enum Recorded {
    Delivered,
    Retrying,
    Failed,
}

/// The wait after failed attempt `attempt` (from 1): `d = min(max, base · 2^(attempt-1))`
/// seconds, then a point in `[d - d/2, d)` picked by `random`.
fn backoff_secs(attempt: u32, s: &WebhookSettings, random: u64) -> u64 {
    let (base, max) = (s.backoff_base.as_secs().max(1), s.backoff_max.as_secs().max(1));
    let d = 1u64.checked_shl(attempt.saturating_sub(1)).and_then(|m| base.checked_mul(m)).map_or(max, |d| d.min(max));
    let half = d / 2;
    if half == 0 { d } else { d - half + random % half }
}

fn system_now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let s = WebhookSettings {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            ..WebhookSettings::default()
        };
        for r in [0, 1, 7, u64::MAX] {
            let waits: Vec<u64> = (1..=10).map(|a| backoff_secs(a, &s, r)).collect();
            assert!((5..10).contains(&waits[0]), "{waits:?}");
            assert!((10..20).contains(&waits[1]), "{waits:?}");
            assert!((20..40).contains(&waits[2]), "{waits:?}");
            assert!(waits.windows(2).take(5).all(|w| w[1] > w[0]), "{waits:?}");
            assert!(waits.iter().all(|w| (150..300).contains(w) || *w < 150), "{waits:?}");
            assert!((150..300).contains(&waits[9]), "{waits:?}");
        }
        assert!((150..300).contains(&backoff_secs(u32::MAX, &s, 3)));
        let tiny = WebhookSettings { backoff_base: Duration::from_secs(1), ..s };
        assert_eq!(backoff_secs(1, &tiny, 99), 1);
        // The jitter spreads: not every random value gives the same wait.
        assert_ne!(backoff_secs(3, &s, 0), backoff_secs(3, &s, 5));
        assert_eq!(backoff_secs(1, &s, 0), 5);
    }
}
