//! Webhook delivery of budget alerts, from the outbox (`alert_deliveries`).
//!
//! A pass claims due deliveries, one team at a time (`FOR UPDATE SKIP LOCKED`, committed at once
//! with a lease), POSTs each alert's JSON with its HMAC signature outside any transaction, and
//! records the outcome under the claim's attempt number: 2xx is `delivered`; anything else is retried after an
//! exponential backoff (base × 2^(attempt−1), capped) until `max_attempts`, then `failed`. A worker
//! that dies mid-attempt leaves its claim to expire after the lease; another replica retries it.
//! So an alert is sent once, except after such a crash between the POST and its record: receivers
//! should drop repeats by `alert_id` (also in the `X-Tokenledger-Alert-Id` header).

use crate::domain::money::format_amount;
use crate::store::alerts::{self, AlertRow, Claimed};
use chrono::SecondsFormat;
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::Sha256;
use sqlx::PgPool;
use std::time::Duration;

/// How deliveries are attempted.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Time limit of one POST.
    pub timeout: Duration,
    /// Wait after the first failed attempt; doubled after each further one.
    pub backoff: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: i32,
    /// Most deliveries claimed by one pass.
    pub batch: i64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            max_attempts: 10,
            batch: 100,
        }
    }
}

impl DeliverySettings {
    /// How long a claim is held: well past the timeout, so a live worker always records its
    /// outcome before another could take the delivery.
    fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(1)
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff_after(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(30);
        self.backoff
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }
}

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// The JSON body of an alert: Slack's `text`, plus the alert's fields.
#[derive(Debug, Serialize)]
pub struct AlertPayload {
    pub text: String,
    pub alert_id: i64,
    /// `threshold` or `forecast`.
    pub kind: String,
    /// Percent, for a threshold alert.
    pub threshold: Option<i32>,
    pub budget_id: i64,
    pub budget: String,
    pub team: String,
    pub period_start: String,
    pub period_end: String,
    pub spend: String,
    pub amount: String,
    pub forecast_spend: String,
    pub utilization: String,
    pub currency: String,
    pub fired_at: String,
}

/// Builds the body of an alert (the same bytes on every attempt).
pub fn payload(alert: &AlertRow) -> AlertPayload {
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let text = if alert.kind == "forecast" {
        format!(
            "Budget \"{}\" of team {} is forecast to spend {} {} this period, over its {} {} (spent {} so far, {}%; period {} to {}).",
            alert.budget,
            alert.team,
            format_amount(alert.forecast_spend.round_dp(2)),
            alert.currency,
            format_amount(alert.amount),
            alert.currency,
            format_amount(alert.spend.round_dp(2)),
            format_amount((alert.utilization * Decimal::ONE_HUNDRED).round_dp(1)),
            time(alert.period_start),
            time(alert.period_end),
        )
    } else {
        format!(
            "Budget \"{}\" of team {} crossed {}%: spent {} of {} {} ({}%) in the period {} to {}.",
            alert.budget,
            alert.team,
            alert.threshold,
            format_amount(alert.spend.round_dp(2)),
            format_amount(alert.amount),
            alert.currency,
            format_amount((alert.utilization * Decimal::ONE_HUNDRED).round_dp(1)),
            time(alert.period_start),
            time(alert.period_end),
        )
    };
    AlertPayload {
        text,
        alert_id: alert.alert_id,
        kind: alert.kind.clone(),
        threshold: (alert.kind == "threshold").then_some(alert.threshold),
        budget_id: alert.budget_id,
        budget: alert.budget.clone(),
        team: alert.team.clone(),
        period_start: time(alert.period_start),
        period_end: time(alert.period_end),
        spend: format_amount(alert.spend),
        amount: format_amount(alert.amount),
        forecast_spend: format_amount(alert.forecast_spend),
        utilization: format_amount(alert.utilization),
        currency: alert.currency.clone(),
        fired_at: time(alert.created_at),
    }
}

/// `sha256=<hex HMAC-SHA256 of body with secret>`, the `X-Tokenledger-Signature` header.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The HTTP client of deliveries.
pub fn client(settings: &DeliverySettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .user_agent(concat!("tokenledger/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One attempt: `Ok(status)` on 2xx, else the status (if any) and why.
async fn attempt(client: &reqwest::Client, claimed: &Claimed) -> Result<i32, (Option<i32>, String)> {
    let body = serde_json::to_vec(&payload(&claimed.alert)).map_err(|e| (None, e.to_string()))?;
    let response = client
        .post(&claimed.webhook)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Tokenledger-Signature", signature(&claimed.secret, &body))
        .header("X-Tokenledger-Alert-Id", claimed.alert.alert_id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| (None, format!("request failed: {e}")))?;
    let status = i32::from(response.status().as_u16());
    if response.status().is_success() {
        Ok(status)
    } else {
        Err((Some(status), format!("the webhook answered HTTP {status}")))
    }
}

/// Runs one pass with the default settings.
pub async fn run_once(pool: &PgPool) -> Result<DeliveryReport, DeliveryError> {
    let settings = DeliverySettings::default();
    run_once_with(pool, &client(&settings)?, &settings).await
}

/// Runs one pass: claims due deliveries, attempts them concurrently, records the outcomes.
pub async fn run_once_with(
    pool: &PgPool,
    client: &reqwest::Client,
    settings: &DeliverySettings,
) -> Result<DeliveryReport, DeliveryError> {
    let lease = i64::try_from(settings.lease().as_millis()).unwrap_or(i64::MAX);
    let mut claimed = Vec::new();
    for team in alerts::due_teams(pool, settings.batch).await? {
        let room = settings.batch - i64::try_from(claimed.len()).unwrap_or(i64::MAX);
        if room <= 0 {
            break;
        }
        claimed.extend(alerts::claim_due(pool, team, room, lease).await?);
    }
    let outcomes = join_all(claimed.iter().map(|c| async move {
        if c.target_removed {
            return Err((None, "the target was removed from the budget".to_owned()));
        }
        attempt(client, c).await
    }))
    .await;
    let mut report = DeliveryReport {
        claimed: claimed.len(),
        ..Default::default()
    };
    for (c, outcome) in claimed.iter().zip(outcomes) {
        match outcome {
            Ok(status) => {
                alerts::delivered(pool, c, status).await?;
                report.delivered += 1;
            }
            Err((status, error)) => {
                let give_up = c.target_removed || c.attempts >= settings.max_attempts;
                let wait = settings.backoff_after(c.attempts);
                let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                alerts::attempt_failed(pool, c, status, &error, wait, give_up).await?;
                if give_up {
                    report.failed += 1;
                } else {
                    report.retrying += 1;
                }
            }
        }
    }
    Ok(report)
}

/// Runs a pass every `every` until dropped. A failed pass is logged and retried.
pub async fn run_every(pool: PgPool, every: Duration, settings: DeliverySettings) {
    let client = match client(&settings) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhook delivery is off: the HTTP client could not be built");
            return;
        }
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = run_once_with(&pool, &client, &settings).await {
            tracing::warn!(%error, "webhook delivery pass failed; will retry");
        }
    }
}
