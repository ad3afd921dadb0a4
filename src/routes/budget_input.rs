//! The bodies of `POST` and `PATCH /v1/budgets`, and their validation into store types. Every
//! problem is a 422 with a code naming the field: `missing_field`, `invalid_name`, `invalid_team`,
//! `invalid_filter`, `invalid_period`, `invalid_amount`, `invalid_currency`, `invalid_thresholds`,
//! `invalid_tz`, `invalid_webhook`, `invalid_secret`, and on PATCH `immutable_field`.

use crate::domain::budget::{parse_thresholds, Period};
use crate::domain::money::decimal_from_json;
use crate::domain::{normalize_model, normalize_provider};
use crate::error::ApiError;
use crate::store::budgets::{BudgetChange, NewBudget};
use rand::RngCore;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::PgPool;

/// Most webhook targets of one budget.
const MAX_TARGETS: usize = 10;

/// A webhook target as given.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyBody {
    /// An http or https URL.
    webhook: String,
    /// The signing secret; generated (and shown once) when absent.
    secret: Option<String>,
}

/// `POST /v1/budgets`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBudgetBody {
    name: Option<String>,
    team: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    project: Option<String>,
    /// daily, weekly or monthly.
    period: Option<String>,
    /// A positive decimal string (or number, read exactly).
    #[schema(value_type = Option<super::schema::DecimalInput>)]
    amount: Option<Box<RawValue>>,
    /// ISO 4217 code; default USD.
    currency: Option<String>,
    /// Whole percents from 1 to 1000; default [50, 80, 100].
    #[schema(value_type = Option<Vec<i32>>)]
    thresholds: Option<Vec<serde_json::Value>>,
    notify: Option<Vec<NotifyBody>>,
    /// Alert when the period is forecast to exceed the amount; default false.
    forecast: Option<bool>,
    /// IANA time zone of the period boundaries; default UTC.
    tz: Option<String>,
}

/// `PATCH /v1/budgets/{id}`: any of these; `notify` replaces every target.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetPatch {
    name: Option<String>,
    #[schema(value_type = Option<super::schema::DecimalInput>)]
    amount: Option<Box<RawValue>>,
    #[schema(value_type = Option<Vec<i32>>)]
    thresholds: Option<Vec<serde_json::Value>>,
    notify: Option<Vec<NotifyBody>>,
    forecast: Option<bool>,
    // What a budget is about cannot change (its alerts and periods rest on it): 422.
    #[schema(ignore)]
    team: Option<serde_json::Value>,
    #[schema(ignore)]
    provider: Option<serde_json::Value>,
    #[schema(ignore)]
    model: Option<serde_json::Value>,
    #[schema(ignore)]
    project: Option<serde_json::Value>,
    #[schema(ignore)]
    period: Option<serde_json::Value>,
    #[schema(ignore)]
    currency: Option<serde_json::Value>,
    #[schema(ignore)]
    tz: Option<serde_json::Value>,
}

/// Webhook targets as (url, secret), secrets generated where not given.
pub type Targets = Vec<(String, String)>;

/// A validated new budget.
pub struct ValidBudget {
    pub team: String,
    pub budget: NewBudget,
    pub targets: Targets,
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, message)
}

/// A name-like field: trimmed, 1 to 256 printable characters.
fn name_field(code: &'static str, field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(invalid(
            code,
            format!("{field} must be 1 to 256 printable characters"),
        ));
    }
    Ok(value.to_owned())
}

fn amount(raw: &RawValue) -> Result<Decimal, ApiError> {
    let bad = || {
        invalid(
            "invalid_amount",
            "amount must be a positive decimal string with at most 12 decimals, like \"1000\"",
        )
    };
    let value = decimal_from_json(raw).map_err(|_| bad())?.ok_or_else(bad)?;
    if value <= Decimal::ZERO || value.scale() > 12 || value > Decimal::from(10_000_000_000_000_000_i64) {
        return Err(bad());
    }
    Ok(value)
}

fn thresholds(values: &[serde_json::Value]) -> Result<Vec<i32>, ApiError> {
    parse_thresholds(values).map_err(|why| invalid("invalid_thresholds", format!("thresholds: {why}")))
}

/// A new random signing secret (`whsec_` and 64 hex digits: 256 bits).
fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

fn targets(notify: Vec<NotifyBody>) -> Result<Targets, ApiError> {
    if notify.len() > MAX_TARGETS {
        return Err(invalid(
            "invalid_webhook",
            format!("at most {MAX_TARGETS} notify targets"),
        ));
    }
    notify
        .into_iter()
        .map(|n| {
            let url = reqwest::Url::parse(n.webhook.trim()).map_err(|e| {
                invalid(
                    "invalid_webhook",
                    format!("webhook {:?} is not a URL: {e}", n.webhook),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
                return Err(invalid(
                    "invalid_webhook",
                    format!("webhook {:?} must be an http or https URL with a host", n.webhook),
                ));
            }
            let secret = match n.secret {
                Some(s) if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) => {
                    return Err(invalid(
                        "invalid_secret",
                        "secret must be 1 to 256 printable characters",
                    ))
                }
                Some(s) => s,
                None => generate_secret(),
            };
            Ok((url.to_string(), secret))
        })
        .collect()
}

/// Validates a new budget (the time zone against PostgreSQL's IANA names).
pub async fn validate_new(pool: &PgPool, body: NewBudgetBody) -> Result<ValidBudget, ApiError> {
    let missing = |field: &str| invalid("missing_field", format!("{field} is required"));
    let name = name_field("invalid_name", "name", &body.name.ok_or_else(|| missing("name"))?)?;
    let team = name_field("invalid_team", "team", &body.team.ok_or_else(|| missing("team"))?)?;
    let provider = body
        .provider
        .map(|p| name_field("invalid_filter", "provider", &p).map(|p| normalize_provider(&p)))
        .transpose()?;
    let model = body
        .model
        .map(|m| name_field("invalid_filter", "model", &m))
        .transpose()?
        .map(|m| normalize_model(provider.as_deref().unwrap_or(""), &m));
    let project = body
        .project
        .map(|p| name_field("invalid_filter", "project", &p))
        .transpose()?;
    let period_name = body.period.ok_or_else(|| missing("period"))?;
    let period = Period::parse(period_name.trim()).ok_or_else(|| {
        invalid(
            "invalid_period",
            format!("period {period_name:?} is not one of daily, weekly, monthly"),
        )
    })?;
    let amount = amount(&body.amount.ok_or_else(|| missing("amount"))?)?;
    let currency = body
        .currency
        .unwrap_or_else(|| "USD".to_owned())
        .trim()
        .to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid(
            "invalid_currency",
            "currency must be a three-letter ISO 4217 code",
        ));
    }
    let thresholds = match body.thresholds {
        Some(values) => thresholds(&values)?,
        None => vec![50, 80, 100],
    };
    let tz = body.tz.unwrap_or_else(|| "UTC".to_owned()).trim().to_owned();
    if tz.is_empty() || !crate::store::budgets::is_time_zone(pool, &tz).await? {
        return Err(invalid(
            "invalid_tz",
            format!("tz {tz:?} is not an IANA time zone name (like UTC, Europe/Berlin, America/New_York)"),
        ));
    }
    Ok(ValidBudget {
        team,
        targets: targets(body.notify.unwrap_or_default())?,
        budget: NewBudget {
            name,
            provider,
            model,
            project,
            period: period.as_str().to_owned(),
            amount,
            currency,
            thresholds,
            forecast: body.forecast.unwrap_or(false),
            tz,
        },
    })
}

/// Validates a change; the targets are `Some` when they are to be replaced.
pub fn validate_patch(body: BudgetPatch) -> Result<(BudgetChange, Option<Targets>), ApiError> {
    let fixed = [
        ("team", &body.team),
        ("provider", &body.provider),
        ("model", &body.model),
        ("project", &body.project),
        ("period", &body.period),
        ("currency", &body.currency),
        ("tz", &body.tz),
    ];
    if let Some((field, _)) = fixed.iter().find(|(_, v)| v.is_some()) {
        return Err(invalid(
            "immutable_field",
            format!("{field} of a budget cannot change; create a new budget (and delete this one)"),
        ));
    }
    let change = BudgetChange {
        name: body
            .name
            .map(|n| name_field("invalid_name", "name", &n))
            .transpose()?,
        amount: body.amount.map(|a| amount(&a)).transpose()?,
        thresholds: body.thresholds.map(|t| thresholds(&t)).transpose()?,
        forecast: body.forecast,
    };
    Ok((change, body.notify.map(targets).transpose()?))
}
