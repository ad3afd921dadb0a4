//! `GET /v1/unpriced`: the models of events stored without a price, so an operator sees what to
//! price or alias.

use super::query::QueryParams;
use super::spend::team_ids;
use crate::auth::Caller;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use crate::store::events::UnpricedModel;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One (provider, model) with unpriced events.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UnpricedView {
    provider: String,
    /// As the events carry it (normalized).
    model: String,
    /// Unpriced events in the range.
    events: i64,
    /// Timestamp of the earliest such event in the range.
    first_seen: DateTime<Utc>,
    /// Timestamp of the latest such event in the range.
    last_seen: DateTime<Utc>,
}

impl From<UnpricedModel> for UnpricedView {
    fn from(m: UnpricedModel) -> Self {
        Self {
            provider: m.provider,
            model: m.model,
            events: m.events,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UnpricedList {
    models: Vec<UnpricedView>,
}

/// Models of events that no price matched, most events first. A team-bound key sees its team's.
#[utoipa::path(
    params(
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive; default: no lower bound"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, exclusive; default: no upper bound"),
        ("team" = Option<String>, Query, description = "Filter; repeatable"),
    ),
    responses(
        (status = 200, body = UnpricedList),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)
    )
)]
#[get("/v1/unpriced")]
pub async fn list_unpriced(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = QueryParams::parse(req.query_string());
    let from = params.time("from")?;
    let to = params.time("to")?;
    if let (Some(from), Some(to)) = (from, to) {
        if from >= to {
            return Err(ApiError::bad_request("invalid_query", "from must be before to"));
        }
    }
    let models = match team_ids(&state, &caller, &params).await? {
        None => Vec::new(),
        Some(teams) => store::events::unpriced_summary(&state.pool, from, to, teams.as_deref()).await?,
    };
    Ok(HttpResponse::Ok().json(UnpricedList {
        models: models.into_iter().map(UnpricedView::from).collect(),
    }))
}
