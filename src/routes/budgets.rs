//! `POST/GET /v1/budgets`, `GET/PATCH/DELETE /v1/budgets/{id}`, `GET /v1/budgets/{id}/status`.
//! Admin writes; read keys view (a team-bound key only its team's budgets: another team's budget is
//! a 404, as if it did not exist).

use super::budget_input::{self, BudgetPatch, NewBudgetBody};
use crate::auth::Caller;
use crate::budgets::status_of;
use crate::domain::money::format_amount;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::budgets::{BudgetRow, TargetRow};
use crate::store::{self};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Acquire;

/// A webhook target as listed (its secret only in the answer that created it).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TargetView {
    id: i64,
    webhook: String,
    /// The signing secret: shown only when the target is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// A budget.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetView {
    id: i64,
    name: String,
    team: String,
    provider: Option<String>,
    model: Option<String>,
    project: Option<String>,
    /// daily, weekly or monthly.
    period: String,
    /// Decimal string.
    amount: String,
    currency: String,
    /// Percents of the amount, ascending.
    thresholds: Vec<i32>,
    forecast: bool,
    tz: String,
    notify: Vec<TargetView>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetList {
    budgets: Vec<BudgetView>,
}

/// Where a budget stands in its current period.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetStatusView {
    budget_id: i64,
    /// Spend in [period_start, now), decimal string.
    spend: String,
    amount: String,
    currency: String,
    /// spend ÷ amount (1 = 100%), decimal string.
    utilization: String,
    /// Projected spend at period_end (see docs/budgets.md), decimal string.
    forecast_spend: String,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    thresholds_crossed: Vec<i32>,
    /// When spend reaches the amount at the recent rate; now when it already has; null when not
    /// within this period.
    projected_exhaustion_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
}

fn view(row: BudgetRow, targets: Vec<TargetView>) -> BudgetView {
    BudgetView {
        id: row.budget_id,
        name: row.name,
        team: row.team,
        provider: row.provider,
        model: row.model,
        project: row.project,
        period: row.period,
        amount: format_amount(row.amount),
        currency: row.currency,
        thresholds: row.thresholds,
        forecast: row.forecast,
        tz: row.tz,
        notify: targets,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn listed(targets: &[TargetRow], budget_id: i64) -> Vec<TargetView> {
    targets
        .iter()
        .filter(|t| t.budget_id == budget_id)
        .map(|t| TargetView {
            id: t.target_id,
            webhook: t.webhook.clone(),
            secret: None,
        })
        .collect()
}

fn created(targets: Vec<TargetRow>, secrets: Vec<String>) -> Vec<TargetView> {
    targets
        .into_iter()
        .zip(secrets)
        .map(|(t, secret)| TargetView {
            id: t.target_id,
            webhook: t.webhook,
            secret: Some(secret),
        })
        .collect()
}

/// The budget with this id, if the caller may see it (else 404).
async fn visible(state: &AppState, caller: &Caller, id: i64) -> Result<BudgetRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("no budget with id {id}"));
    let row = store::budgets::get(&state.pool, id, Utc::now())
        .await?
        .ok_or_else(not_found)?;
    match &caller.team {
        Some(team) if *team != row.team => Err(not_found()),
        _ => Ok(row),
    }
}

/// After a write: this replica's check view and alerts see it at once (others within a refresh).
async fn after_write(state: &AppState, budget_id: Option<i64>) {
    if let Some(id) = budget_id {
        let evaluated =
            crate::jobs::budget_alerts::evaluate(&state.pool, state.config.cost_source, Some(id), Utc::now());
        if let Err(error) = evaluated.await {
            tracing::warn!(%error, budget_id = id, "evaluating the changed budget failed; the job retries");
        }
    }
    if let Err(error) = state.budgets.refresh(&state.pool, state.config.cost_source).await {
        tracing::debug!(%error, "check view refresh after a budget write failed");
    }
}

/// Creates a budget. The answer shows each target's signing secret, once.
#[utoipa::path(
    request_body = NewBudgetBody,
    responses((status = 201, body = BudgetView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, description = "Not Content-Type: application/json", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody))
)]
#[post("/v1/budgets")]
pub async fn create_budget(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body: NewBudgetBody = super::json_body(&req, payload).await?;
    let input = budget_input::validate_new(&state.pool, body).await?;
    let mut conn = state.pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let team_id = *store::teams::ensure(&mut tx, std::slice::from_ref(&input.team))
        .await?
        .get(&input.team)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("team not created")))?;
    let id = store::budgets::insert(&mut tx, team_id, &input.budget).await?;
    let targets = store::budgets::add_targets(&mut tx, team_id, id, &input.targets).await?;
    tx.commit().await?;
    after_write(&state, Some(id)).await;
    let row = visible(&state, &caller, id).await?;
    let secrets = input.targets.into_iter().map(|(_, s)| s).collect();
    Ok(HttpResponse::Created().json(view(row, created(targets, secrets))))
}

/// Lists budgets (a team-bound key: its team's).
#[utoipa::path(
    params(("team" = Option<String>, Query, description = "Only this team's budgets")),
    responses((status = 200, body = BudgetList), (status = 400, description = "A malformed parameter (e.g. text with a NUL character)", body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/budgets")]
pub async fn list_budgets(
    req: actix_web::HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = super::query::QueryParams::parse(req.query_string());
    let rows = match super::spend::team_ids(&state, &caller, &params).await? {
        None => Vec::new(),
        Some(ids) => store::budgets::list(&state.pool, ids.as_deref(), None, Utc::now()).await?,
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.budget_id).collect();
    let targets = store::budgets::targets(&state.pool, &ids).await?;
    let budgets = rows
        .into_iter()
        .map(|r| {
            let t = listed(&targets, r.budget_id);
            view(r, t)
        })
        .collect();
    Ok(HttpResponse::Ok().json(BudgetList { budgets }))
}

/// One budget.
#[utoipa::path(
    params(("id" = i64, Path)),
    responses((status = 200, body = BudgetView), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody))
)]
#[get("/v1/budgets/{id}")]
pub async fn get_budget(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let row = visible(&state, &caller, id.into_inner()).await?;
    let targets = store::budgets::targets(&state.pool, &[row.budget_id]).await?;
    let t = listed(&targets, row.budget_id);
    Ok(HttpResponse::Ok().json(view(row, t)))
}

/// Changes a budget's name, amount, thresholds, forecast or targets. A new amount or thresholds
/// are evaluated at once: what is crossed now fires; what already fired this period does not again.
#[utoipa::path(
    params(("id" = i64, Path)),
    request_body = BudgetPatch,
    responses((status = 200, body = BudgetView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, description = "Not Content-Type: application/json", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
#[patch("/v1/budgets/{id}")]
pub async fn patch_budget(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body: BudgetPatch = super::json_body(&req, payload).await?;
    let row = visible(&state, &caller, id.into_inner()).await?;
    let (change, new_targets) = budget_input::validate_patch(body)?;
    let mut conn = state.pool.acquire().await?;
    let mut tx = conn.begin().await?;
    store::budgets::update(&mut tx, row.team_id, row.budget_id, &change).await?;
    let replaced = match &new_targets {
        Some(targets) => {
            store::budgets::remove_targets(&mut tx, row.team_id, row.budget_id).await?;
            Some(store::budgets::add_targets(&mut tx, row.team_id, row.budget_id, targets).await?)
        }
        None => None,
    };
    tx.commit().await?;
    after_write(&state, Some(row.budget_id)).await;
    let updated = visible(&state, &caller, row.budget_id).await?;
    let targets = match (replaced, new_targets) {
        (Some(rows), Some(given)) => created(rows, given.into_iter().map(|(_, s)| s).collect()),
        _ => listed(
            &store::budgets::targets(&state.pool, &[row.budget_id]).await?,
            row.budget_id,
        ),
    };
    Ok(HttpResponse::Ok().json(view(updated, targets)))
}

/// Deletes a budget with its alerts and their deliveries.
#[utoipa::path(
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody))
)]
#[delete("/v1/budgets/{id}")]
pub async fn delete_budget(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let row = visible(&state, &caller, id.into_inner()).await?;
    store::budgets::delete(&state.pool, row.team_id, row.budget_id).await?;
    after_write(&state, None).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Spend, utilization, thresholds crossed and forecast of the budget's current period, computed
/// from the database at the time of the request.
#[utoipa::path(
    params(("id" = i64, Path)),
    responses((status = 200, body = BudgetStatusView), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody))
)]
#[get("/v1/budgets/{id}/status")]
pub async fn budget_status(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let row = visible(&state, &caller, id.into_inner()).await?;
    let s = status_of(&state.pool, state.config.cost_source, row, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(BudgetStatusView {
        budget_id: s.budget.budget_id,
        spend: format_amount(s.spend),
        amount: format_amount(s.budget.amount),
        currency: s.budget.currency.clone(),
        utilization: format_amount(s.utilization),
        forecast_spend: format_amount(s.forecast_spend),
        period_start: s.budget.period_start,
        period_end: s.budget.period_end,
        thresholds_crossed: s.thresholds_crossed.clone(),
        projected_exhaustion_at: s.projected_exhaustion_at,
        as_of: s.as_of,
    }))
}
