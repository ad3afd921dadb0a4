//! `POST/GET/DELETE /v1/keys` (admin).

use crate::auth::{generate_secret, hash_secret, Caller};
use crate::domain::Scope;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    name: String,
    scope: Scope,
    /// Restrict the key to one team (ingest and read keys).
    team: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    id: i64,
    /// The secret. Shown this once; only its hash is stored.
    key: String,
    name: String,
    scope: Scope,
    team: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    id: i64,
    name: String,
    scope: String,
    team: Option<String>,
    /// The first characters of the secret.
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

/// Creates a key and shows its secret once.
#[utoipa::path(
    request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within TOKENLEDGER_BODY_TIMEOUT_MS", body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, description = "Not Content-Type: application/json", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody))
)]
#[post("/v1/keys")]
pub async fn create_key(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body: NewKey = super::json_body(&req, payload).await?;
    let NewKey { name, scope, team } = body;
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_key",
            "name must be 1 to 128 printable characters",
        ));
    }
    let team = team.map(|t| t.trim().to_owned());
    if scope == Scope::Admin && team.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_key",
            "admin keys cannot be restricted to a team",
        ));
    }
    if team
        .as_ref()
        .is_some_and(|t| t.is_empty() || t.len() > 256 || t.chars().any(char::is_control))
    {
        return Err(ApiError::unprocessable(
            "invalid_key",
            "team must be 1 to 256 printable characters",
        ));
    }
    let (secret, prefix) = generate_secret();
    let record = store::keys::insert(
        &state.pool,
        &name,
        scope.as_str(),
        team.as_deref(),
        &hash_secret(&secret),
        &prefix,
    )
    .await?;
    Ok(HttpResponse::Created().json(CreatedKey {
        id: record.key_id,
        key: secret,
        name,
        scope,
        team,
    }))
}

/// Lists keys (never their secrets).
#[utoipa::path(responses((status = 200, body = KeyList), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
#[get("/v1/keys")]
pub async fn list_keys(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let keys = store::keys::list(&state.pool)
        .await?
        .into_iter()
        .map(|k| KeyView {
            id: k.key_id,
            name: k.name,
            scope: k.scope,
            team: k.team,
            prefix: k.prefix,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(KeyList { keys }))
}

/// Revokes a key; it fails at once.
#[utoipa::path(
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody))
)]
#[delete("/v1/keys/{id}")]
pub async fn revoke_key(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let found = store::keys::revoke(&state.pool, id.into_inner()).await?;
    state.keys.clear();
    if found {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no key with that id".into()))
    }
}
