//! The center's operations metrics, served by the HTTP API at `GET /metrics` in the
//! OpenMetrics text format, which Prometheus scrapes.
//!
//! | metric | type | labels | counts |
//! | --- | --- | --- | --- |
//! | `wearpay_handshakes_total` | counter | `kind` = `full`, `resumed`; `outcome` = `ok`, `refused`, `failed` | channel handshakes that ended |
//! | `wearpay_handshake_duration_seconds` | histogram | `kind` | handshakes that succeeded, from the permit to the last Finished |
//! | `wearpay_payments_total` | counter | `mode`; `outcome` = `approved` or the decline's reason code | payment requests answered |
//! | `wearpay_payment_duration_seconds` | histogram | | from the request read to the response written |
//! | `wearpay_channel_connections` | gauge | | terminal connections open now |
//! | `wearpay_handshakes_in_flight` | gauge | | handshakes running now |
//! | `wearpay_handshakes_rejected_total` | counter | `reason` = `cap`, `rate` | connections closed before their handshake (see [`crate::channel`]) |
//! | `wearpay_queue_depth` | gauge | `queue` | work waiting: `handshake_permit` (connections waiting for a handshake slot), `audit_unsealed` (audit entries not yet under a signed checkpoint), `webhooks_pending` (merchant events not yet delivered), and whatever else registers with [`Metrics::set_queue_depth_source`] |
//!
//! A handshake that did not complete counts as `kind="full"`: whether a session would have
//! been resumed is only known at its end. Its outcome is `refused` when the center refused
//! the terminal (its certificate, or its registry status right after the handshake), and
//! `failed` for everything else (time-outs, broken or abandoned connections, protocol
//! errors).
//!
//! A payment retried with the same `tx_id` is answered again and counted again, with the
//! outcome it had the first time.
extern crate alloc;

use alloc::{boxed::Box, string::String, sync::Arc, vec::Vec};
use core::{fmt, future::Future, pin::Pin, time::Duration};
use std::sync::{Mutex, PoisonError};

use prometheus_client::{
    encoding::text,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};
use wearpay_pay::{Mode, Outcome, ReasonCode, Response};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long one queue-depth source may take at a scrape before it is left out of it.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(2);

/// The queue of connections waiting for a handshake slot.
const PERMIT_QUEUE: &str = "handshake_permit";

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type HistogramFamily = Family<Labels1, Histogram, fn() -> Histogram>;
type DepthFuture = Pin<Box<dyn Future<Output = Option<u64>> + Send>>;
type DepthSource = Arc<dyn Fn() -> DepthFuture + Send + Sync>;

/// Whether a handshake made a new session or resumed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Certificates, signatures and a key exchange: the expensive one.
    Full,
    /// A stored session resumed: hashes and symmetric crypto only.
    Resumed,
}

impl HandshakeKind {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Resumed => "resumed",
        }
    }
}

/// How a handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// The channel is up and the terminal is active.
    Ok,
    /// The center refused the terminal: its certificate, or its registry status.
    Refused,
    /// Anything else: a time-out, a broken connection, a protocol error.
    Failed,
}

impl HandshakeOutcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// Why a connection was closed before its handshake started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No handshake slot came free in time (`[channel] max_concurrent_handshakes`).
    Cap,
    /// Its address had used up its handshakes (`[channel] handshakes_per_address_per_minute`).
    Rate,
}

impl Rejection {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cap => "cap",
            Self::Rate => "rate",
        }
    }
}

/// The label value of a payment's outcome: `approved`, or the decline's reason code.
pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Approved => "approved",
        Outcome::Declined(reason) => reason.name(),
    }
}

/// The outcome a payment response carries: its own, or the reason of an error response
/// (`internal` for bytes that are neither).
pub fn response_outcome(response: &[u8]) -> Outcome {
    match Response::decode(response) {
        Ok(Response::Pay(p)) => p.outcome,
        Ok(Response::Error { reason }) => Outcome::Declined(reason),
        _ => Outcome::Declined(ReasonCode::Internal),
    }
}

/// The center's metrics. Cheap to clone: every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    handshakes: Family<Labels2, Counter>,
    handshake_duration: HistogramFamily,
    payments: Family<Labels2, Counter>,
    payment_duration: Histogram,
    connections: Gauge,
    in_flight: Gauge,
    rejected: Family<Labels1, Counter>,
    queue_depth: Family<Labels1, Gauge>,
    sources: Mutex<Vec<(&'static str, DepthSource)>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("connections", &self.inner.connections.get())
            .field("handshakes_in_flight", &self.inner.in_flight.get())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// 0.5 ms to about 8 s, doubling: a resumed handshake takes well under a millisecond, a
/// full one a few, and a payment on PostgreSQL under load some hundreds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 15))
}

impl Metrics {
    /// A new, empty set of metrics with its own registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wearpay");
        let handshakes = Family::<Labels2, Counter>::default();
        let handshake_duration = HistogramFamily::new_with_constructor(latency_histogram);
        let payments = Family::<Labels2, Counter>::default();
        let payment_duration = latency_histogram();
        let connections = Gauge::default();
        let in_flight = Gauge::default();
        let rejected = Family::<Labels1, Counter>::default();
        let queue_depth = Family::<Labels1, Gauge>::default();
        registry.register("handshakes", "Channel handshakes that ended, by kind and outcome", handshakes.clone());
        registry.register_with_unit(
            "handshake_duration",
            "Time of successful handshakes, by kind",
            Unit::Seconds,
            handshake_duration.clone(),
        );
        registry.register("payments", "Payment requests answered, by mode and outcome", payments.clone());
        registry.register_with_unit(
            "payment_duration",
            "Time from a payment request read to its response written",
            Unit::Seconds,
            payment_duration.clone(),
        );
        registry.register("channel_connections", "Terminal connections open", connections.clone());
        registry.register("handshakes_in_flight", "Handshakes running", in_flight.clone());
        registry.register(
            "handshakes_rejected",
            "Connections closed before their handshake, by reason",
            rejected.clone(),
        );
        registry.register("queue_depth", "Work waiting, by queue", queue_depth.clone());
        // Every series that alerts look at exists from the start, at zero.
        for kind in [HandshakeKind::Full, HandshakeKind::Resumed] {
            for outcome in [HandshakeOutcome::Ok, HandshakeOutcome::Refused, HandshakeOutcome::Failed] {
                let _ = handshakes.get_or_create(&[("kind", kind.as_str()), ("outcome", outcome.as_str())]);
            }
        }
        for reason in [Rejection::Cap, Rejection::Rate] {
            let _ = rejected.get_or_create(&[("reason", reason.as_str())]);
        }
        let _ = queue_depth.get_or_create(&[("queue", PERMIT_QUEUE)]);
        let inner = Inner {
            registry,
            handshakes,
            handshake_duration,
            payments,
            payment_duration,
            connections,
            in_flight,
            rejected,
            queue_depth,
            sources: Mutex::new(Vec::new()),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Counts a handshake that ended; `duration` is recorded for successful ones.
    pub fn handshake(&self, kind: HandshakeKind, outcome: HandshakeOutcome, duration: Duration) {
        self.inner.handshakes.get_or_create(&[("kind", kind.as_str()), ("outcome", outcome.as_str())]).inc();
        if outcome == HandshakeOutcome::Ok {
            self.inner.handshake_duration.get_or_create(&[("kind", kind.as_str())]).observe(duration.as_secs_f64());
        }
    }

    /// Counts a connection closed before its handshake.
    pub fn handshake_rejected(&self, reason: Rejection) {
        self.inner.rejected.get_or_create(&[("reason", reason.as_str())]).inc();
    }

    /// Counts a payment request answered with `outcome`, `duration` after it was read.
    pub fn payment(&self, mode: Mode, outcome: Outcome, duration: Duration) {
        self.inner.payments.get_or_create(&[("mode", mode.name()), ("outcome", outcome_label(outcome))]).inc();
        self.inner.payment_duration.observe(duration.as_secs_f64());
    }

    /// A terminal connection opened; it counts until the guard is dropped.
    pub fn connection_opened(&self) -> GaugeGuard {
        GaugeGuard::inc(self.inner.connections.clone())
    }

    /// A handshake started; it counts until the guard is dropped.
    pub fn handshake_started(&self) -> GaugeGuard {
        GaugeGuard::inc(self.inner.in_flight.clone())
    }

    /// A connection waits for a handshake slot until the guard is dropped.
    pub fn waiting_for_handshake_slot(&self) -> GaugeGuard {
        GaugeGuard::inc(self.inner.queue_depth.get_or_create_owned(&[("queue", PERMIT_QUEUE)]))
    }

    /// Makes `source` the depth of `wearpay_queue_depth{queue="<queue>"}`, read at each
    /// scrape (replacing an earlier source of that name). It answers `None` when it cannot
    /// tell (a database down), and the series is then left out of that scrape; a source
    /// that takes longer than two seconds is left out too.
    pub fn set_queue_depth_source<F, Fut>(&self, queue: &'static str, source: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<u64>> + Send + 'static,
    {
        let source: DepthSource = Arc::new(move || Box::pin(source()));
        let mut sources = self.inner.sources.lock().unwrap_or_else(PoisonError::into_inner);
        sources.retain(|(q, _)| *q != queue);
        sources.push((queue, source));
    }

    /// The metrics as OpenMetrics text, after reading every queue-depth source.
    pub async fn render(&self) -> String {
        let sources: Vec<_> = self.inner.sources.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for (queue, source) in sources {
            let labels = [("queue", queue)];
            let depth = tokio::time::timeout(SOURCE_TIMEOUT, source()).await.ok().flatten();
            match depth.and_then(|d| i64::try_from(d).ok()) {
                Some(d) => {
                    self.inner.queue_depth.get_or_create(&labels).set(d);
                }
                None => {
                    self.inner.queue_depth.remove(&labels);
                }
            }
        }
        let mut out = String::new();
        if let Err(e) = text::encode(&mut out, &self.inner.registry) {
            // Writing to a String does not fail; should an encoder ever, say so and serve
            // what was written.
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        out
    }
}

/// Holds a gauge one higher until dropped.
#[derive(Debug)]
#[must_use = "the gauge goes back down when the guard is dropped"]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn inc(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[tokio::test]
    async fn names_labels_and_sources() {
        let m = Metrics::new();
        m.handshake(HandshakeKind::Resumed, HandshakeOutcome::Ok, Duration::from_micros(300));
        m.handshake(HandshakeKind::Full, HandshakeOutcome::Failed, Duration::from_secs(10));
        m.payment(Mode::Pin, Outcome::Declined(ReasonCode::WrongPin), Duration::from_millis(3));
        m.handshake_rejected(Rejection::Cap);
        let guard = m.connection_opened();
        m.set_queue_depth_source("outbox", || async { Some(7) });
        m.set_queue_depth_source("broken", || async { None });
        let text = m.render().await;
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(value(&text, r#"wearpay_handshakes_total{kind="resumed",outcome="ok"}"#), Some(1.0), "{text}");
        assert_eq!(value(&text, r#"wearpay_handshakes_total{kind="full",outcome="failed"}"#), Some(1.0));
        assert_eq!(value(&text, r#"wearpay_handshakes_total{kind="full",outcome="ok"}"#), Some(0.0));
        // Only successful handshakes are timed; 300 µs falls in the 0.5 ms bucket.
        assert_eq!(value(&text, r#"wearpay_handshake_duration_seconds_count{kind="resumed"}"#), Some(1.0));
        assert_eq!(value(&text, r#"wearpay_handshake_duration_seconds_bucket{le="0.0005",kind="resumed"}"#), Some(1.0));
        assert_eq!(value(&text, r#"wearpay_handshake_duration_seconds_count{kind="full"}"#), None);
        assert_eq!(value(&text, r#"wearpay_payments_total{mode="pin",outcome="wrong_pin"}"#), Some(1.0));
        assert_eq!(value(&text, "wearpay_payment_duration_seconds_count"), Some(1.0));
        assert_eq!(value(&text, r#"wearpay_handshakes_rejected_total{reason="cap"}"#), Some(1.0));
        assert_eq!(value(&text, r#"wearpay_handshakes_rejected_total{reason="rate"}"#), Some(0.0));
        assert_eq!(value(&text, "wearpay_channel_connections"), Some(1.0));
        assert_eq!(value(&text, r#"wearpay_queue_depth{queue="outbox"}"#), Some(7.0));
        assert_eq!(value(&text, r#"wearpay_queue_depth{queue="broken"}"#), None, "{text}");
        drop(guard);
        // A source replaced by name; the connection closed.
        m.set_queue_depth_source("outbox", || async { Some(2) });
        let text = m.render().await;
        assert_eq!(value(&text, "wearpay_channel_connections"), Some(0.0));
        assert_eq!(value(&text, r#"wearpay_queue_depth{queue="outbox"}"#), Some(2.0));
    }

    #[test]
    fn outcomes_of_responses() {
        let error = Response::Error { reason: ReasonCode::Malformed }.encode().unwrap();
        assert_eq!(response_outcome(&error), Outcome::Declined(ReasonCode::Malformed));
        assert_eq!(response_outcome(b"\xff junk"), Outcome::Declined(ReasonCode::Internal));
        assert_eq!(outcome_label(Outcome::Approved), "approved");
        assert_eq!(outcome_label(Outcome::Declined(ReasonCode::LimitDaily)), "limit_daily");
    }
}
