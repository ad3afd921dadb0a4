//! `POST /v1/events` (ingest) and `GET /v1/events` (raw listing).

use super::query::QueryParams;
use crate::auth::Caller;
use crate::domain::money::format_amount;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::ingest::decode::body_format;
use crate::ingest::IngestReport;
use crate::startup::AppState;
use crate::store;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Records usage events: one object, a JSON array, or NDJSON (`application/x-ndjson`).
/// The answer is sent only after the events are committed.
#[utoipa::path(
    request_body(content = super::schema::OneOrMany, description = "A usage event, an array of them, or NDJSON lines \
                 (Content-Type: application/x-ndjson; see docs/api.md). The elements of an array are checked one \
                 by one: a bad element is a rejected entry of a 200 answer, not a 400", content_type = "application/json"),
    responses(
        (status = 200, description = "Per-event outcomes", body = IngestReport),
        (status = 400, description = "Malformed body; nothing stored", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, description = "The single event sent is invalid, or the batch is too large", body = crate::error::ErrorBody),
        (status = 429, description = "Overloaded; retry after Retry-After", body = crate::error::ErrorBody),
        (status = 503, description = "Database unavailable; nothing acknowledged; retry", body = crate::error::ErrorBody),
    )
)]
#[post("/v1/events")]
pub async fn post_events(
    req: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Ingest)?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = body_format(content_type)?;
    let body = super::read_body(&req, payload, state.config.max_body_bytes).await?;
    let (report, single) = state
        .ingestor
        .ingest(&body, format, caller.team.as_deref())
        .await?;
    // A lone event that was rejected is answered as an error, so a plain client sees it; batches
    // always answer 200 with the per-event outcomes.
    if single {
        if let Some(rejected) = report.rejected.first() {
            return Err(rejected.as_api_error());
        }
    }
    Ok(HttpResponse::Ok().json(report))
}

/// One event as listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    id: String,
    timestamp: DateTime<Utc>,
    team: String,
    project: Option<String>,
    user: Option<String>,
    tags: Option<serde_json::Value>,
    provider: String,
    model: String,
    service_tier: String,
    usage: UsageView,
    /// The cost that counts, at the catalog's price after adjustments (null when unpriced).
    #[schema(value_type = Option<String>)]
    cost: Option<String>,
    #[schema(value_type = Option<String>)]
    list_cost: Option<String>,
    currency: Option<String>,
    #[schema(value_type = Option<String>)]
    reported_cost: Option<String>,
    reported_currency: String,
    /// The price row that priced this event.
    price_id: Option<i64>,
    priced: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct UsageView {
    input_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    cache_write_1h_tokens: i64,
    output_tokens: i64,
    reasoning_tokens: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventPage {
    events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

fn encode_cursor(ts: DateTime<Utc>, seq: i64) -> String {
    format!("{}_{}", ts.timestamp_micros(), seq)
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, i64)> {
    let (micros, seq) = cursor.split_once('_')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        seq.parse().ok()?,
    ))
}

/// Raw events, newest first, keyset-paged.
#[utoipa::path(
    params(
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, exclusive"),
        ("team" = Option<String>, Query, description = "Repeatable"),
        ("provider" = Option<String>, Query, description = "Repeatable"),
        ("model" = Option<String>, Query, description = "Repeatable"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 100"),
        ("cursor" = Option<String>, Query, pattern = "^[0-9]{1,18}_[0-9]{1,18}$", description = "next_cursor of the previous page"),
    ),
    responses((status = 200, body = EventPage), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/events")]
pub async fn list_events(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = QueryParams::parse(req.query_string());
    let limit = match params.one("limit")? {
        None => 100,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "limit must be a whole number from 1 to 1000",
                ))
            }
        },
    };
    let before = match params.one("cursor")? {
        None => None,
        Some(c) => Some(
            decode_cursor(&c).ok_or_else(|| ApiError::bad_request("invalid_query", "cursor is not valid"))?,
        ),
    };
    // Parsed before the teams are looked up, so a bad time is a 400 whatever the filters match.
    let (from, to) = (params.time("from")?, params.time("to")?);
    let team_ids = super::spend::team_ids(&state, &caller, &params).await?;
    let Some(team_ids) = team_ids else {
        return Ok(HttpResponse::Ok().json(EventPage {
            events: vec![],
            next_cursor: None,
        }));
    };
    let providers = params
        .all("provider")
        .iter()
        .map(|p| crate::domain::normalize_provider(p))
        .collect();
    let filter = store::events::EventFilter {
        from,
        to,
        team_ids,
        providers,
        models: params
            .all("model")
            .iter()
            .map(|m| m.to_ascii_lowercase())
            .collect(),
        before,
        limit,
    };
    let rows = store::events::list(&state.pool, &filter).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| encode_cursor(r.ts, r.seq)))
        .flatten();
    let events = rows
        .into_iter()
        .map(|r| EventView {
            id: r.event_id,
            timestamp: r.ts,
            team: r.team,
            project: r.project,
            user: r.user_id,
            tags: r.tags,
            provider: r.provider,
            model: r.model,
            service_tier: r.service_tier,
            usage: UsageView {
                input_tokens: r.input_tokens,
                cache_read_tokens: r.cache_read_tokens,
                cache_write_tokens: r.cache_write_tokens,
                cache_write_1h_tokens: r.cache_write_1h_tokens,
                output_tokens: r.output_tokens,
                reasoning_tokens: r.reasoning_tokens,
            },
            cost: r.cost.map(format_amount),
            list_cost: r.list_cost.map(format_amount),
            currency: r.currency,
            reported_cost: r.reported_cost.map(format_amount),
            reported_currency: r.reported_currency,
            priced: r.price_id.is_some(),
            price_id: r.price_id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(EventPage { events, next_cursor }))
}
