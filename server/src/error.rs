//! One error type for every handler. Client mistakes are explained in the JSON body;
//! internal failures get a generic message and a log line (never with request data).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use shared::api::{Change, ErrorBody, PushConflict};

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{1}")]
    Rejected(StatusCode, String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("your session has expired; log in again")]
    SessionExpired,
    /// The account has 2FA on and the log-in carried no code.
    #[error("enter the code from your authenticator app")]
    TotpRequired,
    #[error("that code is not valid (or was already used)")]
    TotpInvalid,
    /// The team requires 2FA and this member has not set it up.
    #[error("this team requires two-factor authentication: set it up on the Team page first")]
    TwoFactorRequired,
    /// The session was revoked: the device gets the signed order (JSON), and erases
    /// its local copy only if the order checks out.
    #[error("this device was signed out remotely")]
    DeviceWiped(Option<String>),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("some records changed on the server; merge and push again")]
    PushConflict(Vec<Change>),
    /// A record sealed under an epoch older than the team's current one (after a
    /// removal or a rotation): the client must fetch the new keys and seal again.
    #[error("record {record}: sealed under key epoch {got}, but the team is on epoch {current}; fetch the new keys")]
    StaleEpoch { record: String, got: u32, current: u32 },
    /// A push would delete more records than may be deleted unapproved.
    #[error("deleting {0} more records needs an admin's approval (more than {1} within an hour)")]
    ApprovalRequired(u64, u64),
    /// A push would take the team (`team`) or the pusher past their quota of stored
    /// bytes: what they would hold, and the quota. Nothing was stored.
    #[error(
        "this push would take {} to {would_hold} stored bytes, past the quota of {quota}; nothing was stored",
        if *team { "the team" } else { "your share of the team" }
    )]
    QuotaExceeded { team: bool, would_hold: u64, quota: u64 },
    /// Too many requests from one session: try again after this many seconds.
    #[error("too many requests; try again in {0} s")]
    RateLimited(u64),
    /// Too many wrong guesses at a secret for this account or from this address: the
    /// guess was not checked; try again after this many seconds.
    #[error("too many failed attempts; try again in {0} s")]
    TooManyAttempts(u64),
    /// The database is locked, full or failing to write: nothing was stored; try again.
    #[error("the server cannot store anything right now; nothing was saved, try again shortly")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A guess at a secret that was wrong (a passphrase, a 2FA code, a recovery key),
    /// as the checks [`crate::limits::Limits::guarded`] runs report it: counted towards
    /// the back-off. A missing 2FA code is not a guess (only a right passphrase gets
    /// that answer), so honest two-step log-ins cost nothing.
    pub fn is_wrong_secret(&self) -> bool {
        matches!(self, ApiError::Unauthorized(_) | ApiError::TotpInvalid | ApiError::Forbidden(_))
    }

    /// The stable code a client decides by (`unauthorized`, `forbidden`, …): the JSON
    /// body's `code`, and the reason a refused websocket is closed with.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Rejected(s, _) if *s == StatusCode::PAYLOAD_TOO_LARGE => (*s, "payload_too_large"),
            ApiError::Rejected(s, _) if *s == StatusCode::UNSUPPORTED_MEDIA_TYPE => (*s, "unsupported_media_type"),
            ApiError::Rejected(s, _) if s.is_client_error() => (*s, "bad_request"),
            ApiError::Rejected(_, _) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::SessionExpired => (StatusCode::UNAUTHORIZED, "session_expired"),
            ApiError::DeviceWiped(_) => (StatusCode::UNAUTHORIZED, "device_wiped"),
            ApiError::TotpRequired => (StatusCode::UNAUTHORIZED, "totp_required"),
            ApiError::TotpInvalid => (StatusCode::UNAUTHORIZED, "totp_invalid"),
            ApiError::TwoFactorRequired => (StatusCode::FORBIDDEN, "2fa_required"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::ApprovalRequired(..) => (StatusCode::FORBIDDEN, "approval_required"),
            ApiError::QuotaExceeded { team: true, .. } => (StatusCode::FORBIDDEN, "team_quota_exceeded"),
            ApiError::QuotaExceeded { team: false, .. } => (StatusCode::FORBIDDEN, "member_quota_exceeded"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PushConflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::StaleEpoch { .. } => (StatusCode::CONFLICT, "stale_epoch"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        if let ApiError::Unavailable(detail) = &self {
            tracing::warn!(%detail, "storage unavailable");
        }
        let message = self.to_string();
        match self {
            ApiError::RateLimited(secs) | ApiError::TooManyAttempts(secs) => {
                let retry = [(axum::http::header::RETRY_AFTER, secs.to_string())];
                (status, retry, Json(ErrorBody { code: code.into(), message })).into_response()
            }
            ApiError::Unavailable(_) => {
                let retry = [(axum::http::header::RETRY_AFTER, "5".to_owned())];
                (status, retry, Json(ErrorBody { code: code.into(), message })).into_response()
            }
            ApiError::DeviceWiped(order) => {
                let order = order.and_then(|o| serde_json::from_str(&o).ok());
                (status, Json(shared::api::DeviceWipedBody { code: code.into(), message, order })).into_response()
            }
            ApiError::PushConflict(conflicts) => {
                (status, Json(PushConflict { code: code.into(), message, conflicts })).into_response()
            }
            _ => (status, Json(ErrorBody { code: code.into(), message })).into_response(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_transient() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::Rejected(r.status(), r.body_text())
    }
}
impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::Rejected(StatusCode::BAD_REQUEST, r.body_text())
    }
}
impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::Rejected(StatusCode::BAD_REQUEST, r.body_text())
    }
}

/// `Json` whose rejections are [`ApiError`]s (so they carry our JSON body).
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;
