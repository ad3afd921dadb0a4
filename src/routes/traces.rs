//! `POST /v1/traces`: an OTLP/HTTP traces receiver. GenAI spans become usage events through the
//! same path as `POST /v1/events` (see `ingest::otlp` for the mapping).

use crate::auth::Caller;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::ingest::otlp::{self, Encoding, TeamSource};
use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};

/// Receives an OTLP `ExportTraceServiceRequest` (protobuf or JSON, optionally gzip), and stores one
/// usage event per span that carries `gen_ai.usage.*` attributes; other spans are ignored. Answers
/// `ExportTraceServiceResponse` in the request's encoding, with `partialSuccess` naming rejected
/// spans. Sent only after the events are committed; a re-sent export is counted once.
#[utoipa::path(
    request_body(description = "OTLP ExportTraceServiceRequest: application/x-protobuf or application/json (OTLP/JSON); Content-Encoding: gzip accepted",
                 content((Object = "application/json"), (super::schema::ProtobufBody = "application/x-protobuf"))),
    responses(
        (status = 200, description = "ExportTraceServiceResponse, in the request's encoding; partialSuccess.rejectedSpans counts spans with usage that could not be stored", content_type = "application/json"),
        (status = 400, description = "Undecodable body; nothing stored", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, description = "Body, or decompressed body, over TOKENLEDGER_MAX_BODY", body = crate::error::ErrorBody),
        (status = 415, description = "Not protobuf or JSON, or an encoding other than gzip", body = crate::error::ErrorBody),
        (status = 422, description = "More GenAI spans than TOKENLEDGER_MAX_BATCH, or more than 10 times that many spans in all", body = crate::error::ErrorBody),
        (status = 429, description = "Overloaded; retry after Retry-After", body = crate::error::ErrorBody),
        (status = 503, description = "Database unavailable; nothing acknowledged; retry", body = crate::error::ErrorBody),
    )
)]
#[post("/v1/traces")]
pub async fn post_traces(
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
    let encoding = Encoding::from_content_type(content_type)?;
    let body = super::body::read_decoded(&req, payload, state.config.max_body_bytes).await?;
    // Counted before decoding: a decoded span costs ~100 bytes however few it took on the wire.
    let max_spans = state.ingestor.max_batch.saturating_mul(10);
    if otlp::limit::exceeds(&body, encoding, max_spans) {
        return Err(ApiError::unprocessable(
            "batch_too_large",
            format!(
                "more than {max_spans} spans in one export (10 x TOKENLEDGER_MAX_BATCH, GenAI or not); nothing was stored"
            ),
        ));
    }
    let request = otlp::decode(&body, encoding)?;
    let team = TeamSource {
        attribute: &state.config.otlp_team_attribute,
        key_team: caller.team.as_deref(),
    };
    let mapped = otlp::map_request(&request, &team);
    let max_batch = state.ingestor.max_batch;
    if mapped.events.len() > max_batch {
        return Err(ApiError::unprocessable(
            "batch_too_large",
            format!(
                "{} GenAI spans in one export; the limit is {max_batch} (TOKENLEDGER_MAX_BATCH); nothing was stored",
                mapped.events.len()
            ),
        ));
    }
    state
        .ingestor
        .count_ignored("otlp_no_genai_usage", mapped.ignored);
    let report = state
        .ingestor
        .ingest_raw(mapped.events, caller.team.as_deref())
        .await?;
    let answer = otlp::response(&report, &mapped.labels);
    Ok(match encoding {
        Encoding::Protobuf => HttpResponse::Ok()
            .content_type(encoding.content_type())
            .body(prost::Message::encode_to_vec(&answer)),
        Encoding::Json => HttpResponse::Ok().json(answer.to_json()),
    })
}
