//! `POST /v1/reprice` and the audit trail of runs: `GET /v1/reprice`, `GET /v1/reprice/{id}`,
//! `GET /v1/reprice/{id}/changes`. Admin only: runs span every team.

use super::query::QueryParams;
use crate::auth::Caller;
use crate::domain::money::format_amount;
use crate::domain::{normalize_model, normalize_provider, Scope};
use crate::error::ApiError;
use crate::pricing::reprice::Pricing;
use crate::reprice::{RepriceError, Request, RunReport, PAGE_SIZE};
use crate::startup::AppState;
use crate::store;
use crate::store::reprice::{EventKey, RunScope};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The longest range one request re-prices. Work is paged, so this is not about memory: it keeps
/// one request (and one mistake, such as a `from` of 1970) to a year of events. Re-price longer
/// periods in several requests.
pub const MAX_RANGE_DAYS: i64 = 366;

/// What to re-price. Unknown fields are refused, so a misspelt `dry_run` cannot start a real run.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepriceBody {
    /// RFC 3339, inclusive.
    from: String,
    /// RFC 3339, exclusive; after `from`, at most 366 days later.
    to: String,
    /// Only events of this provider.
    provider: Option<String>,
    /// Only events of this model (normalized like event models).
    model: Option<String>,
    /// Report what would change and change nothing. Default false.
    dry_run: Option<bool>,
}

fn time(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.to_utc())
        .map_err(|e| {
            ApiError::unprocessable(
                "invalid_field",
                format!("{field}={text:?} is not an RFC 3339 time: {e}"),
            )
        })
}

fn scope(body: RepriceBody) -> Result<(RunScope, bool), ApiError> {
    let from = time("from", &body.from)?;
    let to = time("to", &body.to)?;
    if from >= to {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "from must be before to (the range is [from, to))",
        ));
    }
    if to - from > TimeDelta::days(MAX_RANGE_DAYS) {
        return Err(ApiError::unprocessable(
            "range_too_large",
            format!("one request re-prices at most {MAX_RANGE_DAYS} days; split the range"),
        ));
    }
    let provider = body.provider.map(|p| normalize_provider(&p));
    let model = body
        .model
        .map(|m| normalize_model(provider.as_deref().unwrap_or(""), &m));
    if provider.as_deref() == Some("") || model.as_deref() == Some("") {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "provider and model must not be empty (leave them out to re-price every model)",
        ));
    }
    let scope = RunScope {
        from,
        to,
        provider,
        model,
    };
    Ok((scope, body.dry_run.unwrap_or(false)))
}

fn run_error(error: RepriceError) -> ApiError {
    match error {
        RepriceError::Database(e) => e.into(),
        other @ (RepriceError::Raced { .. } | RepriceError::Missing(_)) => {
            ApiError::Internal(anyhow::Error::new(other).context("re-pricing"))
        }
    }
}

/// Re-prices the catalog-priced and unpriced events of `[from, to)` with the prices in effect at
/// their timestamps, recording the run and every change (admin). The answer is sent when the run
/// has finished; a dry run changes no event.
#[utoipa::path(
    request_body = RepriceBody,
    responses(
        (status = 200, body = RunReport),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, description = "Not Content-Type: application/json", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)
    )
)]
#[post("/v1/reprice")]
pub async fn post_reprice(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body: RepriceBody = super::json_body(&req, payload).await?;
    let (scope, dry_run) = scope(body)?;
    let request = Request {
        scope,
        dry_run,
        requested_by: caller.key_id,
    };
    // In a task of its own, so a client that hangs up does not stop the run between pages.
    let pool = state.pool.clone();
    let report = tokio::spawn(async move { crate::reprice::run(&pool, &request, PAGE_SIZE).await })
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("the re-pricing task ended")))?
        .map_err(run_error)?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunList {
    runs: Vec<RunReport>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

fn limit(params: &QueryParams, default: i64, max: i64) -> Result<i64, ApiError> {
    match params.one("limit")? {
        None => Ok(default),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be a whole number from 1 to {max}"),
            )),
        },
    }
}

/// Re-pricing runs, newest first (admin).
#[utoipa::path(
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<i64>, Query, description = "next_cursor of the previous page"),
    ),
    responses((status = 200, body = RunList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/reprice")]
pub async fn list_runs(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let params = QueryParams::parse(req.query_string());
    let limit = limit(&params, 20, 100)?;
    let before = match params.one("cursor")? {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid_query", "cursor is not valid"))?,
        ),
    };
    let runs = crate::reprice::list(&state.pool, before, limit).await?;
    let next_cursor = (runs.len() as i64 == limit)
        .then(|| runs.last().map(|r| r.run_id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(RunList { runs, next_cursor }))
}

/// One re-pricing run (admin): while it runs, how far it got; after, what it found.
#[utoipa::path(
    params(("id" = i64, Path, description = "run_id")),
    responses((status = 200, body = RunReport), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody))
)]
#[get("/v1/reprice/{id}")]
pub async fn get_run(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let run_id = path.into_inner();
    let report = crate::reprice::load(&state.pool, run_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no re-pricing run {run_id}")))?;
    Ok(HttpResponse::Ok().json(report))
}

/// An event's catalog columns on one side of a change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PricingView {
    /// The price row that priced it; null when unpriced.
    price_id: Option<i64>,
    cost: Option<String>,
    list_cost: Option<String>,
    currency: Option<String>,
}

impl From<Pricing> for PricingView {
    fn from(p: Pricing) -> Self {
        Self {
            price_id: p.price_id,
            cost: p.cost.map(format_amount),
            list_cost: p.list_cost.map(format_amount),
            currency: p.currency,
        }
    }
}

/// One event a run changed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangeView {
    team: String,
    /// The event's id; null if the event no longer exists.
    id: Option<String>,
    timestamp: DateTime<Utc>,
    provider: Option<String>,
    model: Option<String>,
    before: PricingView,
    after: PricingView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangePage {
    run_id: i64,
    changes: Vec<ChangeView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

fn encode_cursor((team_id, ts, seq): EventKey) -> String {
    format!("{team_id}_{}_{seq}", ts.timestamp_micros())
}

fn decode_cursor(cursor: &str) -> Option<EventKey> {
    let mut parts = cursor.split('_');
    let team_id = parts.next()?.parse().ok()?;
    let ts = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((team_id, ts, seq))
}

/// The events a run changed, each with its price id, cost, list cost and currency before and after
/// (admin). Keyset-paged in the order the run changed them.
#[utoipa::path(
    params(
        ("id" = i64, Path, description = "run_id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1..=1000, default 100"),
        ("cursor" = Option<String>, Query, pattern = "^[0-9]{1,18}_-?[0-9]{1,15}_[0-9]{1,18}$", description = "next_cursor of the previous page"),
    ),
    responses((status = 200, body = ChangePage), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody))
)]
#[get("/v1/reprice/{id}/changes")]
pub async fn list_changes(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let run_id = path.into_inner();
    let params = QueryParams::parse(req.query_string());
    let limit = limit(&params, 100, 1000)?;
    let after = match params.one("cursor")? {
        None => None,
        Some(c) => Some(
            decode_cursor(&c).ok_or_else(|| ApiError::bad_request("invalid_query", "cursor is not valid"))?,
        ),
    };
    if store::reprice::get_run(&state.pool, run_id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no re-pricing run {run_id}")));
    }
    let rows = store::reprice::changes(&state.pool, run_id, after, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| encode_cursor(r.key)))
        .flatten();
    let changes = rows
        .into_iter()
        .map(|r| ChangeView {
            team: r.team,
            id: r.event_id,
            timestamp: r.key.1,
            provider: r.provider,
            model: r.model,
            before: r.before.into(),
            after: r.after.into(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ChangePage {
        run_id,
        changes,
        next_cursor,
    }))
}
