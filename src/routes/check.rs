//! `GET /v1/check` (ingest or read): may this team spend more? Answered from the in-memory view
//! (`budgets::check`), with no database access, so a gateway can ask before every call.

use super::query::QueryParams;
use crate::auth::Caller;
use crate::domain::money::format_amount;
use crate::domain::{normalize_model, normalize_provider, Scope};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One budget the call would count against.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckedBudget {
    id: i64,
    name: String,
    /// Decimal strings, in `currency`.
    amount: String,
    spend: String,
    /// amount − spend, never below 0.
    remaining: String,
    utilization: String,
    currency: String,
    period_end: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckAnswer {
    /// False when any matching budget's spend has reached its amount.
    allowed: bool,
    budgets: Vec<CheckedBudget>,
    /// When the view was built from the database (null before the first build).
    as_of: Option<DateTime<Utc>>,
}

/// Whether a call of this team (provider, model, project) is within its budgets.
#[utoipa::path(
    params(
        ("team" = Option<String>, Query, description = "Required unless the key is bound to a team"),
        ("provider" = Option<String>, Query), ("model" = Option<String>, Query),
        ("project" = Option<String>, Query),
    ),
    responses((status = 200, body = CheckAnswer), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/check")]
pub async fn check(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Ingest, Scope::Read])?;
    let params = QueryParams::parse(req.query_string());
    let requested: Vec<String> = params
        .one("team")?
        .map(|t| t.trim().to_owned())
        .into_iter()
        .collect();
    let team = match caller.teams(&requested)? {
        Some(mut teams) if !teams.is_empty() => teams.swap_remove(0),
        _ => return Err(ApiError::bad_request("invalid_query", "team is required")),
    };
    let provider = params.one("provider")?.map(|p| normalize_provider(&p));
    let model = params
        .one("model")?
        .map(|m| normalize_model(provider.as_deref().unwrap_or(""), &m));
    let project = params.one("project")?;
    let snapshot = state.budgets.snapshot();
    let mut allowed = true;
    let budgets = snapshot
        .matching(&team, provider.as_deref(), model.as_deref(), project.as_deref())
        .map(|s| {
            allowed &= !s.exhausted();
            CheckedBudget {
                id: s.budget.budget_id,
                name: s.budget.name.clone(),
                amount: format_amount(s.budget.amount),
                spend: format_amount(s.spend),
                remaining: format_amount(s.remaining()),
                utilization: format_amount(s.utilization),
                currency: s.budget.currency.clone(),
                period_end: s.budget.period_end,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(CheckAnswer {
        allowed,
        budgets,
        as_of: snapshot.taken_at,
    }))
}
