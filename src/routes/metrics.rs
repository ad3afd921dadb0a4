//! Prometheus metrics.

use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

/// The Prometheus text format. Needs `Authorization: Bearer $TOKENLEDGER_METRICS_KEY` when set.
#[utoipa::path(
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")),
    security((), ("bearer" = []))
)]
#[get("/metrics")]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &state.config.metrics_key {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(ApiError::Unauthorized(
                "send the metrics key as Authorization: Bearer <key>".into(),
            ));
        }
    }
    let mut text = state.metrics.render().map_err(|e| ApiError::Internal(e.into()))?;
    // Budget series, from the in-memory check view (see budgets::metrics).
    let budgets = state.budget_metrics.render(&state.budgets.snapshot());
    text.push_str(&budgets.map_err(|e| ApiError::Internal(e.into()))?);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
