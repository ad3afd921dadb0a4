//! `GET /v1/aliases` and `PUT /v1/aliases`: the operator's model aliases. How an event's model id
//! is matched to a catalog model (exact, alias, built-in rules) is told in `pricing::aliases`.

use super::query::QueryParams;
use crate::auth::Caller;
use crate::domain::{normalize_model, normalize_provider, Scope};
use crate::error::ApiError;
use crate::pricing::{Alias, Catalog};
use crate::startup::AppState;
use crate::store;
use crate::store::aliases::StoredAlias;
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An alias as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AliasView {
    provider: String,
    /// The model id events carry.
    alias: String,
    /// The catalog model that prices it.
    model: String,
    updated_at: DateTime<Utc>,
}

impl From<StoredAlias> for AliasView {
    fn from(stored: StoredAlias) -> Self {
        Self {
            provider: stored.alias.provider,
            alias: stored.alias.alias,
            model: stored.alias.model,
            updated_at: stored.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AliasList {
    aliases: Vec<AliasView>,
}

/// The model aliases, optionally of one provider, by provider and alias.
#[utoipa::path(
    params(("provider" = Option<String>, Query)),
    responses((status = 200, body = AliasList), (status = 400, description = "A malformed parameter (e.g. text with a NUL character)", body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/aliases")]
pub async fn list_aliases(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = QueryParams::parse(req.query_string());
    let provider = params.one("provider")?.map(|p| normalize_provider(&p));
    let aliases = store::aliases::list(&state.pool, provider.as_deref()).await?;
    Ok(HttpResponse::Ok().json(AliasList {
        aliases: aliases.into_iter().map(AliasView::from).collect(),
    }))
}

/// An alias to write: events of `provider` whose model is `alias` are priced as `model`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AliasInput {
    provider: String,
    alias: String,
    model: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PutAliases {
    aliases: Vec<AliasInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PutAliasesAnswer {
    /// Aliases added or pointed at another model.
    written: usize,
    /// Aliases that already pointed at the same model.
    unchanged: usize,
    /// Stored unpriced events that the new aliases priced.
    priced_events: u64,
}

/// Normalizes one alias as events' names are normalized, and checks it against the catalog.
fn to_alias(input: AliasInput, catalog: &Catalog) -> Result<Alias, ApiError> {
    let provider = normalize_provider(&input.provider);
    let alias = normalize_model(&provider, &input.alias);
    let model = normalize_model(&provider, &input.model);
    let invalid = |message: String| ApiError::unprocessable("invalid_alias", message);
    if provider.is_empty() || alias.is_empty() || model.is_empty() {
        return Err(invalid("provider, alias and model must not be empty".into()));
    }
    if alias == model {
        return Err(invalid(format!("{provider}/{alias} would be an alias of itself")));
    }
    if catalog.knows(&provider, &alias) {
        return Err(invalid(format!(
            "{provider}/{alias} has prices of its own, and an exact match always wins over an alias; \
             to price it differently, add a price version for it"
        )));
    }
    if !catalog.knows(&provider, &model) {
        return Err(ApiError::unprocessable(
            "unknown_model",
            format!("{provider}/{model} has no price in the catalog; add its price first (PUT /v1/prices)"),
        ));
    }
    Ok(Alias {
        provider,
        alias,
        model,
    })
}

/// Adds aliases or points them at another model (admin). Every alias is checked first; one
/// invalid alias is a 422 and nothing is written. Stored unpriced events that an alias now covers
/// are priced before the answer.
#[utoipa::path(
    request_body = PutAliases,
    responses(
        (status = 200, body = PutAliasesAnswer),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, description = "Not Content-Type: application/json", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)
    )
)]
#[put("/v1/aliases")]
pub async fn put_aliases(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body: PutAliases = super::json_body(&req, payload).await?;
    // Checked against the latest prices, also those added on another replica a moment ago.
    state.reload_catalog().await?;
    let catalog = state.catalog.snapshot();
    let aliases = body
        .aliases
        .into_iter()
        .map(|a| to_alias(a, &catalog))
        .collect::<Result<Vec<_>, _>>()?;
    let mut targets: HashMap<(&str, &str), &str> = HashMap::new();
    for a in &aliases {
        let target = targets.entry((&a.provider, &a.alias)).or_insert(&a.model);
        if *target != a.model {
            return Err(ApiError::unprocessable(
                "invalid_alias",
                format!("{}/{} is given twice with different models", a.provider, a.alias),
            ));
        }
    }
    let mut tx = state.pool.begin().await?;
    let written = store::aliases::upsert(&mut tx, &aliases).await?;
    tx.commit().await?;
    state.reload_catalog().await?;
    let mut models: Vec<(String, String)> = aliases
        .iter()
        .map(|a| (a.provider.clone(), a.model.clone()))
        .collect();
    models.sort();
    models.dedup();
    let priced_events =
        crate::catalog::price_unpriced(&state.pool, &state.catalog.snapshot(), &models).await?;
    let written = written.iter().filter(|w| **w).count();
    Ok(HttpResponse::Ok().json(PutAliasesAnswer {
        written,
        unchanged: aliases.len() - written,
        priced_events,
    }))
}
