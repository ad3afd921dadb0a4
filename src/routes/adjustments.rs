//! `GET /v1/adjustments` and `PUT /v1/adjustments` (admin): negotiated discounts and markups.
//! How one is chosen for a call is told in `pricing::adjustments`.

use crate::auth::Caller;
use crate::domain::money::{decimal_from_json, format_amount};
use crate::domain::{normalize_model, normalize_provider, Scope};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use crate::store::adjustments::{NewAdjustment, Written};
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// An adjustment as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdjustmentView {
    id: i64,
    /// Absent: every team.
    team: Option<String>,
    /// Absent: every provider.
    provider: Option<String>,
    /// Absent: every model.
    model: Option<String>,
    effective_from: DateTime<Utc>,
    /// The factor on list price, a decimal string: "0.8" is 20% off, "1.1" a 10% markup.
    factor: String,
    note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AdjustmentList {
    adjustments: Vec<AdjustmentView>,
}

/// Every adjustment version, by scope, newest version first.
#[utoipa::path(responses(
    (status = 200, body = AdjustmentList), (status = 401, body = crate::error::ErrorBody),
    (status = 403, body = crate::error::ErrorBody)
))]
#[get("/v1/adjustments")]
pub async fn list_adjustments(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let adjustments = store::adjustments::list(&state.pool)
        .await?
        .into_iter()
        .map(|(a, note)| AdjustmentView {
            id: a.adjustment_id,
            team: a.team,
            provider: a.provider,
            model: a.model,
            effective_from: a.effective_from,
            factor: format_amount(a.factor),
            note,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AdjustmentList { adjustments }))
}

/// An adjustment to add.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentInput {
    team: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    /// Default: now. Events already stored keep their cost until re-priced (`POST /v1/reprice`).
    effective_from: Option<DateTime<Utc>>,
    /// A decimal string or number, read exactly: 0 to 100, at most 12 decimals.
    #[schema(value_type = super::schema::DecimalInput)]
    factor: Box<RawValue>,
    note: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutAdjustments {
    adjustments: Vec<AdjustmentInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PutAdjustmentsAnswer {
    inserted: usize,
    unchanged: usize,
    ids: Vec<i64>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_adjustment", message)
}

fn to_new(input: AdjustmentInput, now: DateTime<Utc>) -> Result<NewAdjustment, ApiError> {
    let text = |field: &str, value: Option<String>| -> Result<Option<String>, ApiError> {
        match value.map(|v| v.trim().to_owned()) {
            Some(v) if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) => Err(invalid(
                format!("{field} must be 1 to 256 printable characters, or absent for all"),
            )),
            other => Ok(other),
        }
    };
    let provider = text("provider", input.provider)?.map(|p| normalize_provider(&p));
    let model = text("model", input.model)?.map(|m| normalize_model(provider.as_deref().unwrap_or(""), &m));
    let factor = decimal_from_json(&input.factor)
        .map_err(|e| invalid(format!("factor {e}")))?
        .ok_or_else(|| invalid("factor is required"))?;
    if factor.is_sign_negative() || factor > Decimal::ONE_HUNDRED || factor.normalize().scale() > 12 {
        return Err(invalid("factor must be from 0 to 100 with at most 12 decimals"));
    }
    Ok(NewAdjustment {
        team: text("team", input.team)?,
        provider,
        model,
        effective_from: input.effective_from.unwrap_or(now),
        factor: factor.normalize(),
        note: text("note", input.note)?,
    })
}

/// Adds adjustment versions (admin). A version is never rewritten: the same scope and
/// `effective_from` with another factor is a 409 and nothing is written. End an adjustment with a
/// later version of factor 1.
#[utoipa::path(
    request_body = PutAdjustments,
    responses(
        (status = 200, body = PutAdjustmentsAnswer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, description = "Not Content-Type: application/json", body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)
    )
)]
#[put("/v1/adjustments")]
pub async fn put_adjustments(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body: PutAdjustments = super::json_body(&req, payload).await?;
    let now = Utc::now();
    let rows = body
        .adjustments
        .into_iter()
        .map(|a| to_new(a, now))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tx = state.pool.begin().await?;
    // The teams named must exist, so stored events (known by team id) find their adjustment.
    let mut teams: Vec<String> = rows.iter().filter_map(|r| r.team.clone()).collect();
    teams.sort();
    teams.dedup();
    if !teams.is_empty() {
        store::teams::ensure(&mut tx, &teams).await?;
    }
    let written = store::adjustments::insert(&mut tx, &rows).await?;
    if let Some(id) = written.iter().find_map(|w| {
        if let Written::Conflict(id) = w {
            Some(*id)
        } else {
            None
        }
    }) {
        return Err(ApiError::Conflict {
            code: "adjustment_version_exists",
            message: format!(
                "adjustment {id} already exists for that scope and effective_from with another factor; versions \
                 are never rewritten: add one with a later effective_from. Nothing was written."
            ),
        });
    }
    tx.commit().await?;
    state.reload_catalog().await?;
    let inserted = written
        .iter()
        .filter(|w| matches!(w, Written::Inserted(_)))
        .count();
    let ids = written
        .iter()
        .map(|w| match w {
            Written::Inserted(id) | Written::Unchanged(id) | Written::Conflict(id) => *id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(PutAdjustmentsAnswer {
        inserted,
        unchanged: written.len() - inserted,
        ids,
    }))
}
