//! `GET /v1/prices` and `PUT /v1/prices`. The API speaks per million tokens.

use super::query::QueryParams;
use crate::auth::Caller;
use crate::domain::money::{decimal_from_json, format_amount};
use crate::domain::{normalize_model, normalize_provider, Scope, ServiceTier};
use crate::error::ApiError;
use crate::pricing::{beginning_of_time, PriceRates, PriceRow, StoredPrice, PRICE_SCALE};
use crate::startup::AppState;
use crate::store;
use crate::store::prices::Written;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A price row as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PriceView {
    price_id: i64,
    provider: String,
    model: String,
    effective_from: DateTime<Utc>,
    service_tier: ServiceTier,
    /// The row applies to requests with more input tokens than this (0: all).
    above_input_tokens: u64,
    currency: String,
    /// Per million tokens, as decimal strings. Absent cache/reasoning rates fall back
    /// (cache kinds to input, cache_write_1h to cache_write, reasoning to output).
    input: String,
    cache_read: Option<String>,
    cache_write: Option<String>,
    cache_write_1h: Option<String>,
    output: String,
    reasoning: Option<String>,
    /// Per request.
    per_request: String,
}

impl From<StoredPrice> for PriceView {
    fn from(p: StoredPrice) -> Self {
        let r = p.row.rates;
        Self {
            price_id: p.price_id,
            provider: p.row.provider,
            model: p.row.model,
            effective_from: p.row.effective_from,
            service_tier: p.row.service_tier,
            above_input_tokens: p.row.above_input_tokens,
            currency: p.row.currency,
            input: format_amount(r.input),
            cache_read: r.cache_read.map(format_amount),
            cache_write: r.cache_write.map(format_amount),
            cache_write_1h: r.cache_write_1h.map(format_amount),
            output: format_amount(r.output),
            reasoning: r.reasoning.map(format_amount),
            per_request: format_amount(r.per_request),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PriceList {
    prices: Vec<PriceView>,
}

/// Price rows, optionally of one provider and model, newest version first.
#[utoipa::path(
    params(("provider" = Option<String>, Query), ("model" = Option<String>, Query)),
    responses((status = 200, body = PriceList), (status = 400, description = "A malformed parameter (e.g. text with a NUL character)", body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/prices")]
pub async fn list_prices(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = QueryParams::parse(req.query_string());
    let provider = params.one("provider")?.map(|p| normalize_provider(&p));
    let model = params
        .one("model")?
        .map(|m| normalize_model(provider.as_deref().unwrap_or(""), &m));
    let rows = store::prices::list(&state.pool, provider.as_deref(), model.as_deref()).await?;
    Ok(HttpResponse::Ok().json(PriceList {
        prices: rows.into_iter().map(PriceView::from).collect(),
    }))
}

/// A price row to write. Amounts are decimal strings (or JSON numbers, read exactly).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PriceInput {
    provider: String,
    model: String,
    /// Default: now. `1970-01-01T00:00:00Z` prices all history.
    effective_from: Option<DateTime<Utc>>,
    service_tier: Option<String>,
    above_input_tokens: Option<u64>,
    currency: Option<String>,
    #[schema(value_type = super::schema::DecimalInput)]
    input: Box<RawValue>,
    #[schema(value_type = Option<super::schema::DecimalInput>)]
    cache_read: Option<Box<RawValue>>,
    #[schema(value_type = Option<super::schema::DecimalInput>)]
    cache_write: Option<Box<RawValue>>,
    #[schema(value_type = Option<super::schema::DecimalInput>)]
    cache_write_1h: Option<Box<RawValue>>,
    #[schema(value_type = super::schema::DecimalInput)]
    output: Box<RawValue>,
    #[schema(value_type = Option<super::schema::DecimalInput>)]
    reasoning: Option<Box<RawValue>>,
    #[schema(value_type = Option<super::schema::DecimalInput>)]
    per_request: Option<Box<RawValue>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PutPrices {
    prices: Vec<PriceInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PutPricesAnswer {
    /// Rows added.
    inserted: usize,
    /// Rows that already existed exactly as given.
    unchanged: usize,
    price_ids: Vec<i64>,
}

fn rate(field: &str, raw: Option<&RawValue>) -> Result<Option<Decimal>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let invalid = |why: String| ApiError::unprocessable("invalid_price", format!("{field}: {why}"));
    let Some(value) = decimal_from_json(raw).map_err(|e| invalid(e.to_string()))? else {
        return Ok(None);
    };
    if value.is_sign_negative() && !value.is_zero() {
        return Err(invalid("must not be negative".into()));
    }
    if value.normalize().scale() > PRICE_SCALE {
        return Err(invalid(format!(
            "at most {PRICE_SCALE} decimals per million tokens"
        )));
    }
    Ok(Some(value.normalize()))
}

fn to_row(input: PriceInput, now: DateTime<Utc>) -> Result<PriceRow, ApiError> {
    let provider = normalize_provider(&input.provider);
    let model = normalize_model(&provider, &input.model);
    if provider.is_empty() || model.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_price",
            "provider and model must not be empty",
        ));
    }
    let service_tier = match input.service_tier.as_deref() {
        None => ServiceTier::Standard,
        Some(t) => ServiceTier::parse(t).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_price",
                format!("service_tier {t:?} is not standard, batch, priority or flex"),
            )
        })?,
    };
    let currency = input
        .currency
        .unwrap_or_else(|| "USD".into())
        .to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(ApiError::unprocessable(
            "invalid_price",
            format!("currency {currency:?} is not an ISO 4217 code"),
        ));
    }
    let effective_from = input.effective_from.unwrap_or(now);
    if effective_from < beginning_of_time() {
        return Err(ApiError::unprocessable(
            "invalid_price",
            "effective_from must not be before 1970-01-01",
        ));
    }
    let required = |field: &str, raw: &RawValue| {
        rate(field, Some(raw))?
            .ok_or_else(|| ApiError::unprocessable("invalid_price", format!("{field} is required")))
    };
    Ok(PriceRow {
        provider,
        model,
        effective_from,
        service_tier,
        above_input_tokens: input.above_input_tokens.unwrap_or(0),
        currency,
        rates: PriceRates {
            input: required("input", &input.input)?,
            cache_read: rate("cache_read", input.cache_read.as_deref())?,
            cache_write: rate("cache_write", input.cache_write.as_deref())?,
            cache_write_1h: rate("cache_write_1h", input.cache_write_1h.as_deref())?,
            output: required("output", &input.output)?,
            reasoning: rate("reasoning", input.reasoning.as_deref())?,
            per_request: rate("per_request", input.per_request.as_deref())?.unwrap_or(Decimal::ZERO),
        },
    })
}

/// Adds price rows (admin). Rows are never rewritten: a row that exists with other rates is a 409
/// and nothing is written; correct a price by adding a version with a later `effective_from`.
#[utoipa::path(
    request_body = PutPrices,
    responses(
        (status = 200, body = PutPricesAnswer),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, description = "Not Content-Type: application/json", body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)
    )
)]
#[put("/v1/prices")]
pub async fn put_prices(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body: PutPrices = super::json_body(&req, payload).await?;
    let now = Utc::now();
    let rows = body
        .prices
        .into_iter()
        .map(|p| to_row(p, now))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tx = state.pool.begin().await?;
    let written = store::prices::insert_rows(&mut tx, &rows, "api").await?;
    if let Some(conflict) = written.iter().find_map(|w| {
        if let Written::Conflict(id) = w {
            Some(*id)
        } else {
            None
        }
    }) {
        return Err(ApiError::Conflict {
            code: "price_version_exists",
            message: format!(
                "price row {conflict} already exists for that provider, model, effective_from, tier and context \
                 size with other rates; rows are never rewritten (events point at them): add a new version with \
                 a later effective_from. Nothing was written."
            ),
        });
    }
    tx.commit().await?;
    state.reload_catalog().await?;
    let mut models: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.provider.clone(), r.model.clone()))
        .collect();
    models.sort();
    models.dedup();
    crate::catalog::price_unpriced(&state.pool, &state.catalog.snapshot(), &models).await?;
    let inserted = written
        .iter()
        .filter(|w| matches!(w, Written::Inserted(_)))
        .count();
    let price_ids = written
        .iter()
        .map(|w| match w {
            Written::Inserted(id) | Written::Unchanged(id) | Written::Conflict(id) => *id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(PutPricesAnswer {
        inserted,
        unchanged: written.len() - inserted,
        price_ids,
    }))
}

/// Imports LiteLLM's `model_prices_and_context_window.json` (admin). Without `effective_from`, a
/// model that has a price gets the new one from now on and a model with none gets it from the
/// beginning of time; unchanged models get no version. See docs/api.md.
#[utoipa::path(
    params(("effective_from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, not before 1970; default: see above")),
    request_body(content = Object, description = "LiteLLM's price map", content_type = "application/json"),
    responses(
        (status = 200, body = crate::catalog::ImportReport),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody)
    )
)]
#[post("/v1/prices/import")]
pub async fn import_prices(
    req: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let params = QueryParams::parse(req.query_string());
    let effective_from = params.time("effective_from")?;
    if effective_from.is_some_and(|t| t < beginning_of_time()) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "effective_from must not be before 1970-01-01",
        ));
    }
    let body = super::read_body(&req, payload, state.config.max_body_bytes).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("malformed_body", "the body is not UTF-8 text"))?;
    let report = crate::catalog::import_litellm(&state.pool, text, effective_from, "litellm-import")
        .await
        .map_err(|e| match e {
            crate::catalog::ImportError::Parse(e) => ApiError::bad_request("malformed_body", e.to_string()),
            conflict @ crate::catalog::ImportError::Conflict(_) => ApiError::Conflict {
                code: "price_version_exists",
                message: conflict.to_string(),
            },
            crate::catalog::ImportError::Database(e) => e.into(),
        })?;
    state.reload_catalog().await?;
    let models: Vec<(String, String)> = report
        .imported
        .iter()
        .map(|v| (v.provider.clone(), v.model.clone()))
        .collect();
    crate::catalog::price_unpriced(&state.pool, &state.catalog.snapshot(), &models).await?;
    Ok(HttpResponse::Ok().json(report))
}
