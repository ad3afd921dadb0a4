//! The caller of an ingest route, authenticated within the database timeout.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// [`Caller`], except that a key lookup the database does not answer within
/// `TOKENLEDGER_DB_TIMEOUT_MS` is a 503 with Retry-After. A stalled or partitioned database
/// refuses nothing and answers nothing: a lookup already sent to it would otherwise wait as long as
/// the database hangs. The ingest routes take this, so an ingest request ends within three times
/// the timeout (this lookup, then the writer's two).
pub struct BoundedCaller(pub Caller);

impl std::ops::Deref for BoundedCaller {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl FromRequest for BoundedCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let timeout = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.config.db_timeout);
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let Some(timeout) = timeout else {
                return caller.await.map(Self);
            };
            match tokio::time::timeout(timeout, caller).await {
                Ok(caller) => caller.map(Self),
                Err(_) => {
                    tracing::warn!("the API key lookup did not finish within the database timeout");
                    Err(ApiError::Unavailable)
                }
            }
        })
    }
}
