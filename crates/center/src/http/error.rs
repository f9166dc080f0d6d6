//! The API's one error shape, and the extractors whose rejections take it.
extern crate alloc;

use alloc::{borrow::Cow, string::ToString};

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, Query, Request,
        rejection::{JsonRejection, QueryRejection},
    },
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{RefundRefusal, keystore, node};

/// An error as the API answers it: `{"error": {"code": "...", "message": "..."}}`.
///
/// The code is stable and for programs; the message is for people and never holds SQL,
/// file paths, key material or a secret the caller sent. Internal failures are logged
/// here with their detail and answered as `internal`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code: `unauthorized`, `not_found`, `refund_exceeds_paid`…
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: Cow<'static, str>,
    /// Seconds to wait, for `429`.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub(crate) fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn unauthorized(message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub(crate) fn too_many(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests from this address")
        }
    }

    /// A failure the caller cannot act on: logged with its detail, answered without it.
    pub(crate) fn internal(detail: &dyn core::fmt::Display) -> Self {
        tracing::error!(error = %detail, "API call failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    pub(crate) fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no_route", "no such endpoint")
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this endpoint")
    }
}

impl core::fmt::Display for ApiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: Inner { code: self.code, message: &self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(v) = self.retry_after.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        match e {
            E::NotFound { what } => Self::not_found(what),
            E::AlreadyExists { what } => Self::conflict("already_exists", format!("{what} already exists")),
            E::Invalid { what, why } => Self::bad_request("invalid_input", format!("invalid {what}: {why}")),
            E::Overflow => Self::bad_request("invalid_input", "amount out of range"),
            E::TerminalRevoked => Self::conflict("terminal_revoked", "the terminal is revoked, which is final"),
            E::StaleCounter { .. } => Self::conflict("stale_counter", "stale counter"),
            E::Refund(r) => refund_refusal(r),
            e if e.is_transient() => {
                tracing::warn!(error = %e, "API call hit a transient database failure");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "busy; try again")
            }
            other => Self::internal(&other),
        }
    }
}

fn refund_refusal(r: RefundRefusal) -> ApiError {
    match r {
        RefundRefusal::UnknownTransaction => ApiError::not_found("payment"),
        RefundRefusal::NotApproved => ApiError::conflict("payment_not_approved", "the payment was not approved"),
        RefundRefusal::ExceedsPaid { remaining } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refund_exceeds_paid",
            format!("more than was paid: {} minor units remain refundable", remaining.minor()),
        ),
        RefundRefusal::IdConflict => {
            ApiError::conflict("refund_id_conflict", "the refund id was used for another payment or amount")
        }
        RefundRefusal::MerchantInsufficientFunds => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "merchant_insufficient_funds",
            "the merchant account does not cover the refund",
        ),
    }
}

impl From<node::Error> for ApiError {
    fn from(e: node::Error) -> Self {
        match e {
            node::Error::Store(e) => e.into(),
            other => Self::internal(&other),
        }
    }
}

impl From<keystore::Error> for ApiError {
    fn from(e: keystore::Error) -> Self {
        Self::internal(&e)
    }
}

/// A JSON body whose rejection is an [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        // serde's text names the field and the position, never more than the caller sent.
        JsonRejection::JsonDataError(e) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.body_text())
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", "the body is not valid JSON"),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the body is too large")
        }
        _ => ApiError::bad_request("malformed_body", "the body could not be read"),
    }
}

/// Query parameters whose rejection is an [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request("invalid_query", e.body_text()))
            }
            Err(_) => Err(ApiError::bad_request("invalid_query", "the query string could not be read")),
        }
    }
}
