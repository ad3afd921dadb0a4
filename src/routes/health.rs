//! Liveness, readiness and the OpenAPI document.

use crate::startup::AppState;
use actix_web::{get, web, HttpResponse};

/// The process is up.
#[utoipa::path(responses((status = 200, description = "The process is up")), security(()))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
#[utoipa::path(
    responses((status = 200, description = "Ready"), (status = 503, description = "Database unreachable or not migrated")),
    security(())
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::store::is_ready(&state.pool),
    )
    .await
    .unwrap_or(false);
    if ready {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(serde_json::json!({"error": {"code": "not_ready", "message": "the database is unreachable or not migrated"}}))
    }
}

/// This document.
#[utoipa::path(responses((status = 200, description = "The OpenAPI 3 document")), security(()))]
#[get("/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}
