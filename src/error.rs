//! The one JSON error body, and the mapping of every API error to an HTTP status.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

tokio::task_local! {
    /// The id of the request being served, set by the request-logging middleware.
    pub static REQUEST_ID: String;
}

/// Seconds a client is asked to wait after a 429 or 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Everything an API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a parameter is malformed.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no key, or an unknown or revoked one.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key's scope or team does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists, with other methods.
    #[error("this path does not take this method; it takes {}", allowed.join(", "))]
    MethodNotAllowed { allowed: Vec<String> },
    /// 408: the request body did not arrive within `TOKENLEDGER_BODY_TIMEOUT_MS`.
    #[error(
        "the request body did not arrive within {limit:?} (TOKENLEDGER_BODY_TIMEOUT_MS); nothing was stored"
    )]
    RequestTimeout { limit: std::time::Duration },
    /// 409.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413.
    #[error("request body is larger than the limit of {limit} bytes (TOKENLEDGER_MAX_BODY)")]
    PayloadTooLarge { limit: usize },
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but semantically invalid.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 429: too much work queued; retry shortly.
    #[error("the service is overloaded; retry after the Retry-After delay")]
    Overloaded,
    /// 503: the database cannot be reached; nothing was stored; retry shortly.
    #[error("the database is unavailable; nothing was stored; retry after the Retry-After delay")]
    Unavailable,
    /// 500: a bug or an unexpected failure. Its cause is logged, never returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code.
    pub code: String,
    /// A human sentence: what was wrong and how to fix it.
    pub message: String,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Overloaded => "overloaded",
            Self::Unavailable => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default();
        let message = match self {
            Self::Internal(cause) => {
                tracing::error!(request_id = %request_id, error = ?cause, "internal error");
                format!("internal error (request id {request_id})")
            }
            other => {
                // Messages quote what was sent; a huge value must not come back whole.
                let message = tokenledger_events::event::bounded(other.to_string());
                tracing::debug!(request_id = %request_id, code = other.code(), "{message}");
                message
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Overloaded | Self::Unavailable) {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        if let Self::RequestTimeout { .. } = self {
            // The rest of the body may still be on its way: the connection cannot be reused.
            response.force_close();
        }
        if let Self::MethodNotAllowed { allowed } = self {
            response.insert_header((header::ALLOW, allowed.join(", ")));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
            },
        })
    }
}

impl From<tokenledger_events::decode::BodyError> for ApiError {
    /// A body refused whole by `ingest::decode`.
    fn from(error: tokenledger_events::decode::BodyError) -> Self {
        use tokenledger_events::decode::BodyError;
        match error {
            BodyError::UnsupportedMediaType(message) => Self::UnsupportedMediaType(message),
            BodyError::Malformed(message) => Self::bad_request("malformed_body", message),
            BodyError::BatchTooLarge(message) => Self::unprocessable("batch_too_large", message),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// A database that cannot be reached is a 503 the client may retry; anything else is a bug.
    fn from(error: sqlx::Error) -> Self {
        if is_nul_in_text(&error) {
            return Self::bad_request(
                "invalid_text",
                "a text value (a parameter or a field) contains a NUL character (\\u0000), which cannot be \
                 stored or searched for; remove it",
            );
        }
        if is_unavailable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            Self::Unavailable
        } else {
            Self::Internal(anyhow::Error::new(error).context("database query failed"))
        }
    }
}

/// Whether PostgreSQL refused a NUL character: text cannot hold `\0` (22021, "invalid byte
/// sequence for encoding UTF8: 0x00") nor can jsonb (22P05). Rust strings are UTF-8, so that is the
/// only way a client's text reaches these errors; it is the client's mistake, not ours.
fn is_nul_in_text(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")))
}

/// Whether a database error means "cannot reach the database right now" rather than a bad query.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            // Class 08 (connection exception), 57P01..57P03 (admin shutdown, crash shutdown,
            // cannot connect now), 53300 (too many connections), 57014 and 55P03 (a statement or
            // lock timeout: the database did not answer in time).
            db.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("57P") || c == "53300" || c == "57014" || c == "55P03"
            })
        }
        _ => false,
    }
}
