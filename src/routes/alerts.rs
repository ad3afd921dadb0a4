//! `GET /v1/alerts` (read): fired budget alerts, newest first, each with its deliveries.

use super::query::QueryParams;
use crate::auth::Caller;
use crate::domain::money::format_amount;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One delivery of an alert to one webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    target_id: i64,
    webhook: String,
    /// pending, delivered or failed.
    state: String,
    attempts: i32,
    /// When the next attempt is due (pending only).
    next_attempt_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// The HTTP status of the last answer, if one came.
    last_status: Option<i32>,
    delivered_at: Option<DateTime<Utc>>,
}

/// A fired alert.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertView {
    id: i64,
    budget_id: i64,
    budget: String,
    team: String,
    /// threshold or forecast.
    kind: String,
    /// Percent (threshold alerts).
    threshold: Option<i32>,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    /// What the evaluator saw when it fired (decimal strings).
    spend: String,
    amount: String,
    forecast_spend: String,
    utilization: String,
    currency: String,
    created_at: DateTime<Utc>,
    deliveries: Vec<DeliveryView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertPage {
    alerts: Vec<AlertView>,
    /// Pass as `cursor` for older alerts; null on the last page.
    next_cursor: Option<String>,
}

/// Fired alerts, newest first, with the state of each delivery.
#[utoipa::path(
    params(
        ("budget" = Option<i64>, Query, description = "Only this budget's alerts"),
        ("team" = Option<String>, Query, description = "Filter; repeatable"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 100"),
        ("cursor" = Option<i64>, Query, description = "next_cursor of the previous page"),
    ),
    responses((status = 200, body = AlertPage), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/alerts")]
pub async fn list_alerts(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = QueryParams::parse(req.query_string());
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .one(name)?
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request("invalid_query", format!("{name}={v:?} is not a whole number"))
                })
            })
            .transpose()
    };
    let budget = number("budget")?;
    let cursor = number("cursor")?;
    let limit = number("limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be from 1 to 1000",
        ));
    }
    let rows = match super::spend::team_ids(&state, &caller, &params).await? {
        None => Vec::new(),
        Some(teams) => store::alerts::list(&state.pool, teams.as_deref(), budget, cursor, limit + 1).await?,
    };
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let rows: Vec<_> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|r| r.alert_id).collect();
    let deliveries = store::alerts::deliveries(&state.pool, &ids).await?;
    let next_cursor = if more {
        rows.last().map(|r| r.alert_id.to_string())
    } else {
        None
    };
    let alerts = rows
        .into_iter()
        .map(|a| AlertView {
            deliveries: deliveries
                .iter()
                .filter(|d| d.alert_id == a.alert_id)
                .map(|d| DeliveryView {
                    target_id: d.target_id,
                    webhook: d.webhook.clone(),
                    state: d.state.clone(),
                    attempts: d.attempts,
                    next_attempt_at: d.next_attempt_at,
                    last_error: d.last_error.clone(),
                    last_status: d.last_status,
                    delivered_at: d.delivered_at,
                })
                .collect(),
            id: a.alert_id,
            budget_id: a.budget_id,
            budget: a.budget,
            team: a.team,
            threshold: (a.kind == "threshold").then_some(a.threshold),
            kind: a.kind,
            period_start: a.period_start,
            period_end: a.period_end,
            spend: format_amount(a.spend),
            amount: format_amount(a.amount),
            forecast_spend: format_amount(a.forecast_spend),
            utilization: format_amount(a.utilization),
            currency: a.currency,
            created_at: a.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AlertPage { alerts, next_cursor }))
}
