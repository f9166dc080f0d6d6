//! The endpoints without a token: health, the CRL, the API document, enrollment by
//! activation code, and the report of a lost band.
extern crate alloc;

use alloc::{string::String, vec::Vec};
use core::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, State as AxumState},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use wearpay_crypto::{Zeroize, ct_eq};

use super::{
    ApiError, State,
    activation::{EnrollRefusal, Enrollment},
    error::ApiJson,
    now,
};
use crate::{AccountId, TerminalStatus};

#[derive(Serialize)]
pub(crate) struct Health {
    status: &'static str,
}

/// `GET /health`: the process answers and its database does.
pub(crate) async fn health(AxumState(api): AxumState<State>) -> Result<Json<Health>, ApiError> {
    api.center.store().balances(0, 1).await?;
    Ok(Json(Health { status: "ok" }))
}

/// `GET /crl`: the published terminal CRL, DER when the client accepts
/// `application/pkix-crl`, else PEM.
pub(crate) async fn crl(AxumState(api): AxumState<State>, headers: HeaderMap) -> Result<Response, ApiError> {
    let path = api.center.crl_path();
    let crl = tokio::task::spawn_blocking(move || wearpay_pki::files::read_crl(path))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    let wants_der = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|m| m.trim().starts_with("application/pkix-crl")));
    Ok(if wants_der {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/pkix-crl"))], crl.as_der().to_vec())
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-pem-file"))], crl.to_pem()).into_response()
    })
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollBody {
    activation_id: String,
    csr_pem: String,
}

/// `POST /v1/enroll`.
pub(crate) async fn enroll(
    AxumState(api): AxumState<State>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<EnrollBody>,
) -> Result<(StatusCode, Json<Enrollment>), ApiError> {
    api.enroll_limit.check(client.ip())?;
    match api.center.enroll_with_code(&body.activation_id, &body.csr_pem, now()).await {
        Ok(enrollment) => Ok((StatusCode::CREATED, Json(enrollment))),
        Err(EnrollRefusal::BadCsr) => {
            Err(ApiError::bad_request("invalid_csr", "the CSR does not parse or its signature does not verify"))
        }
        Err(EnrollRefusal::Refused) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "activation_refused",
            "no such activation code, or the CSR does not prove it",
        )),
        Err(EnrollRefusal::Used) => {
            Err(ApiError::new(StatusCode::GONE, "activation_used", "the activation code was used already"))
        }
        Err(EnrollRefusal::Expired) => {
            Err(ApiError::new(StatusCode::GONE, "activation_expired", "the activation code has expired"))
        }
        Err(EnrollRefusal::Center(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LostBody {
    account: i64,
    reporting_secret: String,
}

/// What a lost-band report revoked.
#[derive(Serialize)]
pub(crate) struct Revoked {
    pub(crate) account: i64,
    /// The serials revoked now (upper-case hex).
    pub(crate) revoked: Vec<String>,
}

/// The SM3 hash the store keeps of a reporting secret.
pub(crate) fn report_secret_hash(secret: &str) -> [u8; 32] {
    crate::sm3(&[secret.trim().as_bytes()])
}

/// `POST /v1/lost`: the holder's report of a lost band, with the account's reporting
/// secret: every terminal of the account not yet revoked is revoked at once.
pub(crate) async fn lost(
    AxumState(api): AxumState<State>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LostBody>,
) -> Result<Json<Revoked>, ApiError> {
    api.lost_limit.check(client.ip())?;
    let refused = || ApiError::forbidden("no such account, or the reporting secret is not its");
    let mut body = body;
    let offered = report_secret_hash(&body.reporting_secret);
    body.reporting_secret.zeroize();
    let account = match AccountId(body.account) {
        id if id.0 > 0 => api.center.store().account(id).await?,
        _ => None,
    };
    let Some(account) = account else { return Err(refused()) };
    let stored = account.report_secret_hash.as_deref().unwrap_or(&[]);
    if !ct_eq(stored, &offered) {
        tracing::warn!(account = account.id.0, "lost-band report refused: wrong reporting secret");
        return Err(refused());
    }
    Ok(Json(revoke_all(&api, account.id).await?))
}

/// Revokes every terminal of `account` that is not revoked yet.
pub(crate) async fn revoke_all(api: &State, account: AccountId) -> Result<Revoked, ApiError> {
    let at = now();
    let mut revoked = Vec::new();
    for t in api.center.store().terminals_of(account).await? {
        if t.status != TerminalStatus::Revoked {
            api.center.set_terminal_status(&t.serial, TerminalStatus::Revoked, at).await?;
            revoked.push(t.serial.to_string());
        }
    }
    tracing::info!(account = account.0, count = revoked.len(), "lost band: terminals revoked");
    Ok(Revoked { account: account.0, revoked })
}
