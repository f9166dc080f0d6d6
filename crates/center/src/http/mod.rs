//! The center's operations API: plain HTTP/1.1 with JSON bodies, on its own port
//! (`[http] listen`), for banks, merchants and bands being enrolled.
//!
//! | who | what |
//! | --- | --- |
//! | public | `GET /health`, `GET /crl`, `GET /openapi.json`, `POST /v1/enroll` (a band with an activation code), `POST /v1/lost` (a lost band, with the account's reporting secret) |
//! | merchant token | its orders, refunds, transactions and daily reports, and nothing else |
//! | admin token | accounts, merchants, merchants' webhook endpoints and event queue, deposits, terminals, activation codes, balances, the ledger check, `GET /metrics` (public with `[http] metrics_public = true`) |
//!
//! Every call but the public ones carries `Authorization: Bearer <token>`. The tokens file
//! (`[http] tokens`) holds each token's role and SM3 hash, never the token; a call's token
//! is hashed and compared with every entry in constant time (see [`tokens`]). The file is
//! read again when it changes, so `wearpay center token add` needs no restart.
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}` with the status that fits;
//! they never carry SQL, paths or key material (see [`ApiError`]). The public endpoints
//! that act on a secret are rate-limited per client address (`[http]
//! public_rate_per_minute`); behind a reverse proxy every client has the proxy's address,
//! so the proxy must limit instead.
//!
//! Enrollment by activation code is in [`activation`]; the document `GET /openapi.json`
//! serves is [`openapi::document`], and a test holds it to [`route_table`].
extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{future::Future, net::SocketAddr};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post, put},
};
use tokio::net::TcpListener;
use wearpay_pay::Timestamp;
use wearpay_pki::UnixTime;

use crate::node::{Center, Error};

pub mod activation;
mod admin;
mod error;
mod limit;
mod merchant;
pub mod openapi;
mod public;
mod queries;
pub mod tokens;
mod view;

pub use activation::{ActivationCode, Enrollment, activation_proof};
pub use error::ApiError;
pub use tokens::{ApiRole, NewToken};

/// The largest request body accepted (a CSR is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) center: Arc<Center>,
    pub(crate) tokens: tokens::TokenFile,
    pub(crate) enroll_limit: limit::RateLimiter,
    pub(crate) lost_limit: limit::RateLimiter,
}

type State = Arc<Api>;

/// One route: its method, its path (axum's syntax, which OpenAPI shares) and its handler.
struct Route {
    method: &'static str,
    path: &'static str,
    handler: MethodRouter<State>,
}

fn route(method: &'static str, path: &'static str, handler: MethodRouter<State>) -> Route {
    Route { method, path, handler }
}

/// Every route: the router is built from this list alone, so [`route_table`] is exactly
/// what it serves.
fn routes() -> Vec<Route> {
    vec![
        route("get", "/health", get(public::health)),
        route("get", "/metrics", get(metrics)),
        route("get", "/crl", get(public::crl)),
        route("get", "/openapi.json", get(public::openapi)),
        route("post", "/v1/enroll", post(public::enroll)),
        route("post", "/v1/lost", post(public::lost)),
        route("post", "/v1/orders", post(merchant::create_order)),
        route("get", "/v1/orders/{id}", get(merchant::order)),
        route("post", "/v1/orders/{id}/refunds", post(merchant::refund)),
        route("get", "/v1/transactions", get(merchant::transactions)),
        route("get", "/v1/reports/daily", get(merchant::daily_report)),
        route("post", "/v1/admin/accounts", post(admin::create_account)),
        route("get", "/v1/admin/accounts/{id}", get(admin::account)),
        route("post", "/v1/admin/accounts/{id}/deposits", post(admin::deposit)),
        route("get", "/v1/admin/accounts/{id}/terminals", get(admin::terminals)),
        route("get", "/v1/admin/accounts/{id}/transactions", get(admin::transactions)),
        route("post", "/v1/admin/accounts/{id}/activation-codes", post(admin::create_activation_code)),
        route("post", "/v1/admin/accounts/{id}/lost", post(admin::lost)),
        route("post", "/v1/admin/merchants", post(admin::create_merchant)),
        route("put", "/v1/admin/merchants/{id}/webhook", put(admin::set_webhook)),
        route("get", "/v1/admin/webhooks", get(admin::webhooks)),
        route("get", "/v1/admin/balances", get(admin::balances)),
        route("get", "/v1/admin/terminals/{serial}", get(admin::terminal)),
        route("post", "/v1/admin/terminals/{serial}/suspend", post(admin::suspend)),
        route("post", "/v1/admin/terminals/{serial}/revoke", post(admin::revoke)),
        route("post", "/v1/admin/terminals/{serial}/reactivate", post(admin::reactivate)),
        route("post", "/v1/admin/terminals/{serial}/unlock-pin", post(admin::unlock_pin)),
        route("get", "/v1/admin/ledger/check", get(admin::ledger_check)),
    ]
}

/// Every (method, path) the router serves, methods in lower case as OpenAPI writes them.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes().into_iter().map(|r| (r.method, r.path)).collect()
}

/// The API over `center`. Serve it with connection info (as [`Center::serve_http`] does):
/// the rate limits key on the client's address.
pub fn router(center: Arc<Center>) -> Router {
    let config = &center.config().http;
    let per_minute = config.public_rate_per_minute;
    let api = Arc::new(Api {
        tokens: tokens::TokenFile::new(center.config().path(&config.tokens)),
        enroll_limit: limit::RateLimiter::per_minute(per_minute),
        lost_limit: limit::RateLimiter::per_minute(per_minute),
        center,
    });
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    router
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(no_store))
        .with_state(api)
}

/// `GET /metrics`: the center's metrics as OpenMetrics text (see [`crate::metrics`]), for
/// the admin token unless `[http] metrics_public` opens it.
async fn metrics(
    axum::extract::State(api): axum::extract::State<State>,
    admin: Result<tokens::Admin, ApiError>,
) -> Result<Response, ApiError> {
    if !api.center.config().http.metrics_public {
        admin?;
    }
    let text = api.center.metrics().render().await;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE))], text).into_response())
}

/// Answers about accounts and secrets must not sit in a cache.
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Center {
    /// Binds `[http] listen`, if set.
    pub async fn bind_http(&self) -> Result<Option<TcpListener>, Error> {
        let Some(addr) = self.config().http.listen else { return Ok(None) };
        TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|e| Error::Config { what: "http.listen", why: format!("cannot listen on {addr}: {e}") })
    }

    /// Serves the operations API on `listener` until `shutdown` completes; requests in
    /// flight finish first.
    pub async fn serve_http(
        self: &Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let app = router(self.clone()).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| Error::Config { what: "http", why: e.to_string() })
    }
}

/// The center's clock.
pub(crate) fn now() -> Timestamp {
    Timestamp(UnixTime::now().secs())
}
