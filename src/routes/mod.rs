//! HTTP resources, one file each. Handlers orchestrate: they check the caller, parse the request,
//! call `ingest`/`store`, and shape the answer. Every route is registered through
//! `utoipa_actix_web`, so the OpenAPI document lists exactly the routes that exist.

pub mod adjustments;
pub mod alerts;
pub mod aliases;
pub mod body;
pub mod budget_input;
pub mod budgets;
pub mod check;
pub mod deadline;
pub mod events;
pub mod health;
pub mod integrations;
pub mod keys;
pub mod metrics;
pub mod middleware;
pub mod prices;
pub mod query;
pub mod reprice;
pub mod schema;
pub mod spend;
pub mod traces;
pub mod unpriced;

use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokenledger",
        description = "Usage metering and exact cost accounting for multi-provider AI. \
                       Amounts are decimal strings; prices are per million tokens.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tl_...")
                    .build(),
            ),
        );
    }
}

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::openapi_json)
        .service(metrics::metrics)
        .service(events::post_events)
        .service(events::list_events)
        .service(traces::post_traces)
        .service(integrations::post_litellm)
        .service(spend::spend)
        .service(spend::teams)
        .service(prices::list_prices)
        .service(prices::put_prices)
        .service(prices::import_prices)
        .service(reprice::post_reprice)
        .service(reprice::list_runs)
        .service(reprice::get_run)
        .service(reprice::list_changes)
        .service(adjustments::list_adjustments)
        .service(adjustments::put_adjustments)
        .service(aliases::list_aliases)
        .service(aliases::put_aliases)
        .service(unpriced::list_unpriced)
        .service(keys::create_key)
        .service(keys::list_keys)
        .service(keys::revoke_key)
        .service(budgets::create_budget)
        .service(budgets::list_budgets)
        .service(budgets::get_budget)
        .service(budgets::patch_budget)
        .service(budgets::delete_budget)
        .service(budgets::budget_status)
        .service(alerts::list_alerts)
        .service(check::check);
}

/// The OpenAPI document, collected from the registered routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    api
}

/// JSON and query-string errors from actix's own extractors, in our error shape.
pub fn extractor_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(1024 * 1024)
            .error_handler(|err, req| {
                let error = match &err {
                    actix_web::error::JsonPayloadError::ContentType => {
                        ApiError::UnsupportedMediaType("send Content-Type: application/json".into())
                    }
                    actix_web::error::JsonPayloadError::Payload(payload) if deadline::is_timeout(payload) => {
                        body_timeout(req)
                    }
                    actix_web::error::JsonPayloadError::Overflow { limit }
                    | actix_web::error::JsonPayloadError::OverflowKnownLength { limit, .. } => {
                        ApiError::PayloadTooLarge { limit: *limit }
                    }
                    other => ApiError::bad_request(
                        "malformed_body",
                        format!("the body is not valid JSON for this endpoint: {other}"),
                    ),
                };
                error.into()
            }),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::NotFound(format!("no such resource: {err}")).into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
    }));
}

/// The most a JSON body of the admin API may be.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// Reads and parses a JSON body. Handlers call it after checking the caller, so a refused caller
/// is answered 401/403 without its body being read. 415 unless the Content-Type is JSON, 413 past
/// `JSON_LIMIT`, 400 when it does not parse into `T`.
pub async fn json_body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, ApiError> {
    let mime = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !(mime == "application/json" || mime.ends_with("+json")) {
        return Err(ApiError::UnsupportedMediaType(
            "send Content-Type: application/json".into(),
        ));
    }
    let body = read_body(req, payload, JSON_LIMIT).await?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "malformed_body",
            format!("the body is not valid JSON for this endpoint: {e}"),
        )
    })
}

/// Reads the body within `limit` and the process's body budget (`body::read`).
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<body::Body, ApiError> {
    body::read(req, payload, limit).await
}

/// The 408 of a body that did not arrive within the deadline (`deadline`).
pub(crate) fn body_timeout(req: &HttpRequest) -> ApiError {
    let limit = req
        .app_data::<web::Data<crate::startup::AppState>>()
        .map_or(std::time::Duration::ZERO, |state| state.config.body_timeout);
    ApiError::RequestTimeout { limit }
}

/// Each documented path, split into segments (`{...}` matches any one segment), with its methods.
type RouteTable = Vec<(Vec<String>, Vec<String>)>;

fn route_table() -> &'static RouteTable {
    static TABLE: std::sync::OnceLock<RouteTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = serde_json::to_value(openapi()).unwrap_or_default();
        let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
            return Vec::new();
        };
        paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let methods = item
                    .as_object()
                    .map(|m| m.keys().map(|k| k.to_ascii_uppercase()).collect());
                (segments, methods.unwrap_or_default())
            })
            .collect()
    })
}

/// The methods a path is served with (empty when no route has that path).
fn allowed_methods(path: &str) -> Vec<String> {
    let wanted: Vec<&str> = path.split('/').collect();
    let mut allowed: Vec<String> = route_table()
        .iter()
        .filter(|(segments, _)| {
            segments.len() == wanted.len()
                && segments
                    .iter()
                    .zip(&wanted)
                    .all(|(s, w)| s == w || (s.starts_with('{') && !w.is_empty()))
        })
        .flat_map(|(_, methods)| methods.iter().cloned())
        .collect();
    allowed.sort();
    allowed.dedup();
    allowed
}

/// The answer for requests no route takes: 405 with `Allow` when the path exists with other
/// methods (the route table is the OpenAPI document, so the two cannot disagree), else 404.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = allowed_methods(req.path());
    if allowed.is_empty() {
        Err(ApiError::NotFound("no such endpoint; see /openapi.json".into()))
    } else {
        Err(ApiError::MethodNotAllowed { allowed })
    }
}
