//! `POST /v1/integrations/litellm`: LiteLLM's generic API logger. Each StandardLoggingPayload
//! becomes a usage event through the same path as `POST /v1/events` (see `ingest::litellm`).

use crate::auth::Caller;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::ingest::decode::{body_format, frame};
use crate::ingest::litellm::{map_payload, payload_id, Mapped};
use crate::ingest::IngestReport;
use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};

/// Records LiteLLM StandardLoggingPayloads: one object, a JSON array (the logger's default
/// `json_array`), or NDJSON (`log_format: ndjson`); gzip accepted. The answer is the same as
/// `POST /v1/events`, plus `ignored` (failed calls without usage, skipped) when non-zero.
#[utoipa::path(
    request_body(content = super::schema::OneOrMany, description = "A LiteLLM StandardLoggingPayload, an array of them, \
                 or NDJSON lines (Content-Type: application/x-ndjson)", content_type = "application/json"),
    responses(
        (status = 200, description = "Per-payload outcomes", body = IngestReport),
        (status = 400, description = "Malformed body; nothing stored", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, description = "The single payload sent is invalid, or the batch is too large", body = crate::error::ErrorBody),
        (status = 429, description = "Overloaded; retry after Retry-After", body = crate::error::ErrorBody),
        (status = 503, description = "Database unavailable; nothing acknowledged; retry", body = crate::error::ErrorBody),
    )
)]
#[post("/v1/integrations/litellm")]
pub async fn post_litellm(
    req: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Ingest)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = body_format(content_type)?;
    let body = super::body::read_decoded(&req, payload, state.config.max_body_bytes).await?;
    let framed = frame(&body, format, state.ingestor.max_batch)?;
    let key_team = caller.team.as_deref();
    let mut events = Vec::with_capacity(framed.items.len());
    let mut positions = Vec::with_capacity(framed.items.len());
    let mut ignored = 0;
    for (index, item) in framed.items.iter().enumerate() {
        match item.clone().and_then(|raw| map_payload(raw.get(), key_team)) {
            Ok(Mapped::SkippedFailure) => ignored += 1,
            Ok(Mapped::Event(event)) => {
                events.push(Ok(*event));
                positions.push(index);
            }
            Err(error) => {
                events.push(Err(error));
                positions.push(index);
            }
        }
    }
    state.ingestor.count_ignored("litellm_failure", ignored);
    let mut report: IngestReport = state.ingestor.ingest_raw(events, key_team).await?;
    // Report positions in the request, not among the payloads that were not skipped, and the id of
    // a payload rejected before it became an event.
    for rejected in &mut report.rejected {
        rejected.index = positions.get(rejected.index).copied().unwrap_or(rejected.index);
        if rejected.id.is_none() {
            rejected.id = framed
                .items
                .get(rejected.index)
                .and_then(|item| item.as_ref().ok())
                .and_then(|raw| payload_id(raw.get()));
        }
    }

    report.ignored = ignored;
    // As for /v1/events: a lone payload that was rejected is answered as an error.
    if framed.single {
        if let Some(rejected) = report.rejected.first() {
            return Err(rejected.as_api_error());
        }
    }
    Ok(HttpResponse::Ok().json(report))
}
