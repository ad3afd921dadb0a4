//! API keys: generation, hashing, and the `Caller` extractor every protected handler takes.

use crate::domain::Scope;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The channel a revocation is announced on (`store::keys::revoke`), so every replica forgets its
/// cached keys when it commits.
pub const REVOCATION_CHANNEL: &str = "tokenledger_key_revoked";

/// A new random secret (`tl_` and 48 hex digits: 192 bits) and the prefix shown in listings.
pub fn generate_secret() -> (String, String) {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("tl_{}", hex::encode(bytes));
    let prefix = secret_prefix(&secret);
    (secret, prefix)
}

/// The first characters of a secret, enough to tell keys apart in a listing, useless to an attacker:
/// 10 characters of a generated key (7 of its 48 random hex digits), and never more than a quarter
/// of an operator's own `TOKENLEDGER_ADMIN_KEY`, however short that is.
pub fn secret_prefix(secret: &str) -> String {
    let shown = (secret.chars().count() / 4).min(10);
    secret.chars().take(shown).collect()
}

/// What is stored: SHA-256 of the secret. Secrets have 192 random bits, so a fast hash is
/// enough (no password-stretching needed), and lookups by hash reveal nothing about the secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: i64,
    pub scope: Scope,
    /// A team-bound key only sees (or writes) this team.
    pub team: Option<String>,
}

impl Caller {
    /// 403 unless the key's scope allows `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.scope.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this key has scope {}; this endpoint needs {}",
                self.scope.as_str(),
                needed.as_str()
            )))
        }
    }

    /// 403 unless the key has one of these scopes (admin always passes).
    pub fn require_any(&self, needed: &[Scope]) -> Result<(), ApiError> {
        if needed.iter().any(|s| self.scope.allows(*s)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this key has scope {}; this endpoint needs another",
                self.scope.as_str()
            )))
        }
    }

    /// The teams a query may see: a team-bound key is silently restricted to its team, and naming
    /// another team is a 403. `None` means all teams.
    pub fn teams(&self, requested: &[String]) -> Result<Option<Vec<String>>, ApiError> {
        match &self.team {
            Some(own) => {
                if let Some(other) = requested.iter().find(|t| *t != own) {
                    return Err(ApiError::Forbidden(format!(
                        "this key may only read team {own:?}, not {other:?}"
                    )));
                }
                Ok(Some(vec![own.clone()]))
            }
            None if requested.is_empty() => Ok(None),
            None => Ok(Some(requested.to_vec())),
        }
    }
}

/// Recently seen keys by secret hash, each trusted for `ttl`. `clear` (a revocation) also bumps a
/// generation, so a lookup that started before the revocation cannot put its stale answer back.
pub struct KeyCache {
    ttl: Duration,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    generation: u64,
    entries: HashMap<[u8; 32], (Caller, Instant)>,
}

impl KeyCache {
    /// A cache trusting each key for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn get(&self, hash: &[u8; 32]) -> Option<Caller> {
        let inner = self.inner.lock().ok()?;
        let (caller, at) = inner.entries.get(hash)?;
        (at.elapsed() < self.ttl).then(|| caller.clone())
    }

    /// The generation to hand back to `put` after a database lookup.
    fn generation(&self) -> Option<u64> {
        self.inner.lock().ok().map(|inner| inner.generation)
    }

    fn put(&self, hash: [u8; 32], caller: Caller, looked_up_in: Option<u64>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut inner) = self.inner.lock() {
            if looked_up_in != Some(inner.generation) {
                return;
            }
            if inner.entries.len() >= 10_000 {
                inner.entries.clear();
            }
            inner.entries.insert(hash, (caller, Instant::now()));
        }
    }

    /// Forgets every cached key (after a revocation here or on another replica).
    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.generation = inner.generation.wrapping_add(1);
            inner.entries.clear();
        }
    }
}

/// Clears `cache` whenever any replica revokes a key (`LISTEN` on `REVOCATION_CHANNEL`, on a
/// connection of `pool` held for the purpose), and whenever the notifications may have been
/// missed: at start and after the connection was lost. If the database is away the cache's TTL
/// bounds how long a revoked key can still be accepted.
pub async fn forget_revoked_keys(pool: PgPool, cache: Arc<KeyCache>) {
    loop {
        match listen_for_revocations(&pool, &cache).await {
            Ok(()) => {}
            Err(error) => tracing::warn!(%error, "listening for key revocations failed; will retry"),
        }
        cache.clear();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_for_revocations(pool: &PgPool, cache: &KeyCache) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(REVOCATION_CHANNEL).await?;
    // A revocation committed before LISTEN took effect was not heard: start afresh.
    cache.clear();
    loop {
        match listener.try_recv().await? {
            Some(notification) => {
                tracing::debug!(
                    key_id = notification.payload(),
                    "a key was revoked; key cache cleared"
                );
                cache.clear();
            }
            // The connection was lost (and is re-made, listening again): anything may have been
            // revoked meanwhile.
            None => cache.clear(),
        }
    }
}

/// Reads `Authorization: Bearer <key>` and resolves the key.
pub async fn authenticate(state: &AppState, header: Option<&str>) -> Result<Caller, ApiError> {
    let secret = header
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("send an API key as Authorization: Bearer <key>".into()))?;
    let hash = hash_secret(secret);
    if let Some(caller) = state.keys.get(&hash) {
        return Ok(caller);
    }
    let unknown = || ApiError::Unauthorized("unknown or revoked API key".into());
    let generation = state.keys.generation();
    let (record, stored) = crate::store::keys::find_active(&state.pool, &hash)
        .await?
        .ok_or_else(unknown)?;
    // The row was found by its hash; compare anyway without early exit, as defense in depth.
    if !bool::from(stored.as_slice().ct_eq(hash.as_slice())) {
        return Err(unknown());
    }
    let scope = Scope::parse(&record.scope).ok_or_else(unknown)?;
    let caller = Caller {
        key_id: record.key_id,
        scope,
        team: record.team,
    };
    state.keys.put(hash, caller.clone(), generation);
    Ok(caller)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
            // A stalled database answers nothing: a lookup it does not answer in time is a 503
            // with Retry-After on every route, not a request that hangs as long as it does.
            match tokio::time::timeout(state.config.db_timeout, authenticate(&state, header.as_deref())).await
            {
                Ok(caller) => caller,
                Err(_) => {
                    tracing::warn!("the API key lookup did not finish within the database timeout");
                    Err(ApiError::Unavailable)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            key_id: 1,
            scope: Scope::Read,
            team: None,
        }
    }

    #[test]
    fn a_lookup_that_raced_a_revocation_does_not_put_its_answer_back() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let hash = hash_secret("tl_k");
        // A request reads the key from the database...
        let looked_up_in = cache.generation();
        // ...the key is revoked meanwhile...
        cache.clear();
        // ...and the stale answer is not cached.
        cache.put(hash, caller(), looked_up_in);
        assert!(cache.get(&hash).is_none());
        cache.put(hash, caller(), cache.generation());
        assert!(cache.get(&hash).is_some());
        cache.clear();
        assert!(cache.get(&hash).is_none());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        let hash = hash_secret("tl_k");
        cache.put(hash, caller(), cache.generation());
        assert!(cache.get(&hash).is_none());
    }
}
