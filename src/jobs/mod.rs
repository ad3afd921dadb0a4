//! Background jobs of the serve process. Each exposes `run_once(&PgPool)`, which tests call
//! directly, and a loop that `startup` runs beside the HTTP server until shutdown.

pub mod budget_alerts;
pub mod rollup;
pub mod webhooks;
