//! Prometheus metrics.

use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

/// The Prometheus text format: service series of this process, and business series (spend,
/// tokens, requests, unpriced events, rollup lag) read from the rollups, cached a few seconds.
/// Needs `Authorization: Bearer $TOKENLEDGER_METRICS_KEY` when set.
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
    // Service series are always answered; business series come from the (cached) database read,
    // or its last good snapshot while the database is away.
    let mut extra = crate::metrics::pool_families(&state.pool);
    let (snapshot, error) = state.business_metrics.get(&state.pool).await;
    if let Some(error) = error {
        state.metrics.business_errors.inc();
        tracing::warn!(%error, "reading the business metrics failed; serving the last snapshot");
    }
    if let Some(snapshot) = snapshot {
        extra.extend(snapshot.families(chrono::Utc::now()));
    }
    let mut text = state
        .metrics
        .render(extra)
        .map_err(|e| ApiError::Internal(e.into()))?;
    // Budget series, from the in-memory check view (see budgets::metrics).
    let budgets = state.budget_metrics.render(&state.budgets.snapshot());
    text.push_str(&budgets.map_err(|e| ApiError::Internal(e.into()))?);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
